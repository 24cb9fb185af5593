"""Detect on several processes behind nginx: `./plateops start --detect-only --workers N`.

Streamlit keeps each browser's session in one server process, over one websocket, so the replicas sit behind a
load balancer with sticky sessions: nginx (Debian's `nginx-light`) hashes a routing cookie it sets itself on the
first answer (`plateops_replica`, a random id), so every later request of that browser — the websocket, photo
uploads, media — reaches the same replica, while new browsers spread over all of them. Open-source nginx has no
`sticky` directive; `hash $cookie consistent` with a cookie it sets itself gives the same effect.

The replicas share the store (PostgreSQL for a team: `PLATEOPS_DATABASE_URL`; the SQLite file works on one
machine) and read the model files; they share one cookie secret, so Streamlit's upload protection accepts a
browser whichever replica it reaches. The store is migrated once here, before any replica starts, so replicas never
race to migrate. `deploy/k8s/detect.yaml` is the same layout on Kubernetes (a Service with session affinity).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_WORKERS = 16
READY_TIMEOUT_S = 180.0


def port_is_free(address: str, port: int) -> bool:
    """True when nothing listens on `address:port` (binding it briefly, as the server would)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def nginx_binary() -> str | None:
    """The nginx executable (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def nginx_config(*, run_dir: Path, address: str, port: int, replica_ports: list[int], upload_mb: int) -> str:
    """The nginx configuration: one server on `address:port`, sticky by cookie over the replicas."""
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=0;" for p in replica_ports)
    temp = "\n".join(
        f"  {kind}_temp_path {run_dir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    listen = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    numbers = "\n".join(f'    "127.0.0.1:{p}" "{i}";' for i, p in enumerate(replica_ports, start=1))
    return f"""# written by ui/replicas.py for this run; edits are lost at the next start
worker_processes 1;
pid {run_dir / "nginx.pid"};
error_log {run_dir / "nginx-error.log"} warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log off;
{temp}
  client_max_body_size {upload_mb + 1}m;
  map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
  # the routing key: the browser's cookie, or a fresh random id on its first request (then set as the cookie)
  map $cookie_plateops_replica $replica_key {{ "" $request_id; default $cookie_plateops_replica; }}
  # which replica answered, as a number (never the internal address): for health checks and the replicas test
  map $upstream_addr $replica_number {{
{numbers}
    default "";
  }}
  upstream detect {{
    hash $replica_key consistent;
{servers}
  }}
  server {{
    listen {listen};
    location / {{
      proxy_pass http://detect;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 1d;
      proxy_buffering off;
      # uploads stream through to the replica instead of into nginx's temp folder: when nginx starts as root its
      # workers run as another user (www-data) that may not write into the workspace
      proxy_request_buffering off;
      add_header Set-Cookie "plateops_replica=$replica_key; Path=/; HttpOnly; SameSite=Lax" always;
      add_header X-PlateOps-Replica $replica_number always;
    }}
  }}
}}
"""


def _free_ports_after(port: int, count: int) -> list[int]:
    """The first `count` free loopback ports after `port` (within 100 of it)."""
    return [p for p in range(port + 1, min(port + 100, 65536)) if port_is_free("127.0.0.1", p)][:count]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 10
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


def serve_replicas(workers: int, *, address: str, port: int, streamlit_options: list[str]) -> int:
    """Start `workers` Detect-only replicas and nginx in front of them; return when any of them stops.

    Returns:
        The exit status: 0 after Ctrl+C / SIGTERM, 2 when nginx is missing or a replica never became healthy.
    """
    from backend.core.settings import get_settings
    from backend.store.engine import migrate

    nginx = nginx_binary()
    if nginx is None:
        print(
            "PlateOps: --workers needs nginx as the load balancer; install it (Debian: apt-get install nginx-light).",
            file=sys.stderr,
        )
        return 2
    if not 1 <= workers <= MAX_WORKERS:
        print(f"PlateOps: --workers must be 1 to {MAX_WORKERS} (got {workers}).", file=sys.stderr)
        return 2
    settings = get_settings()
    migrate()
    run_dir = settings.home / "run" / f"detect-{port}"
    run_dir.mkdir(parents=True, exist_ok=True)
    replica_ports = _free_ports_after(port, workers)
    if len(replica_ports) < workers:
        print(f"PlateOps: no {workers} free ports after {port} for the Detect replicas.", file=sys.stderr)
        return 2
    # one cookie secret for all replicas (streamlit takes it from the environment only, never the command line)
    env = {**os.environ, "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32)}
    processes: list[subprocess.Popen[bytes]] = []
    stopping = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        for replica_port in replica_ports:
            command = [
                sys.executable,
                "-m",
                "ui.launch",
                "--detect-only",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(replica_port),
                "--server.headless",
                "true",
                *streamlit_options,
            ]
            # the children live until this function stops them (`_stop`), not for a `with` block
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env))  # pylint: disable=consider-using-with
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(_healthy(p) for p in replica_ports):
            if stopping or time.monotonic() > deadline or any(proc.poll() is not None for proc in processes):
                print("PlateOps: a Detect replica did not start; see its messages above.", file=sys.stderr)
                return 0 if stopping else 2
            time.sleep(0.5)
        conf = run_dir / "nginx.conf"
        conf.write_text(
            nginx_config(
                run_dir=run_dir,
                address=address,
                port=port,
                replica_ports=replica_ports,
                upload_mb=settings.upload_max_mb,
            ),
            encoding="utf-8",
        )
        processes.append(subprocess.Popen([nginx, "-c", str(conf), "-p", str(run_dir)]))  # pylint: disable=consider-using-with
        print(
            f"PlateOps Detect: {workers} replicas (ports {replica_ports[0]}-{replica_ports[-1]}) behind nginx on "
            f"http://{address}:{port}",
            file=sys.stderr,
        )
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.5)
        return 0 if stopping else 2
    finally:
        _stop(processes)
