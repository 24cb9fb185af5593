"""Serve the console: `python -m ui.launch [--detect-only [--workers N]] [--allow-open] [streamlit options]` (what
`./plateops start` and Docker run).

Exposure: with no login configured (no users and no `[auth]` in `.streamlit/secrets.toml`) the console binds to
127.0.0.1 and refuses any other `--server.address` unless `--allow-open` (or `PLATEOPS_ALLOW_OPEN=1`) says that an
open console on the network is meant. `--detect-only` serves the public Detect page alone (`detect_app.py`), which
may listen anywhere: it changes nothing but the prediction log and feedback. With `--workers N` it runs N Detect
processes behind nginx with sticky sessions (`backend.console.replicas`).

`pages/` holds the page scripts that Home.py routes with `st.navigation`. Streamlit treats a `pages/` folder
beside the entry script as an old-style (v1) multipage app until the entry script first runs, so on a fresh
server a direct link such as /train would run that page alone — without Home.py's start-up, roles and sections.
Marking the app as navigation-routed before the server starts closes that gap.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from backend.console.replicas import port_is_free

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "Home.py"
DETECT_APP = ROOT / "detect_app.py"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
HOW_TO_CONFIGURE = (
    "No login is configured: the console is open to anyone who reaches its port, so it listens on 127.0.0.1 only.\n"
    "To let others in, add users to .streamlit/secrets.toml ([plateops.users.NAME] with role and password_hash from\n"
    "`python -m jobs.hash_password`) or an [auth] OIDC section for st.login; see the README's security section."
)


def split_options(argv: list[str]) -> tuple[dict[str, bool], str | None, list[str]]:
    """Our own flags, the `--server.address` value if given, and the remaining streamlit options."""
    flags = {"detect_only": False, "allow_open": os.environ.get("PLATEOPS_ALLOW_OPEN", "") in {"1", "true", "yes"}}
    address: str | None = None
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in ("--detect-only", "--allow-open"):
            flags[arg[2:].replace("-", "_")] = True
        elif arg == "--workers" or arg.startswith("--workers="):
            rest += [arg] if "=" in arg else [arg, next(args, "")]  # read by `workers_option`
        elif arg == "--server.address":
            address = next(args, "")
        elif arg.startswith("--server.address="):
            address = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return flags, address, rest


def workers_option(rest: list[str]) -> tuple[int, list[str]]:
    """`--workers N` taken out of the streamlit options: (N, the other options); N is 1 when not given.

    Raises:
        ValueError: N is not a whole number.
    """
    workers, others = 1, []
    args = iter(rest)
    for arg in args:
        if arg == "--workers" or arg.startswith("--workers="):
            value = arg.split("=", 1)[1] if "=" in arg else next(args, "")
            workers = int(value)
        else:
            others.append(arg)
    return workers, others


def check_exposure(address: str, *, allow_open: bool, detect_only: bool, login_configured: bool) -> str | None:
    """Why serving on `address` is refused, or None when it is fine."""
    if detect_only or login_configured or allow_open or address in LOOPBACK:
        return None
    return (
        f"Refusing to serve the open console on {address}: no login is configured, so anyone who reaches it could "
        "change everything.\nConfigure users (see below), serve only the public Detect page with --detect-only, or "
        "pass --allow-open (PLATEOPS_ALLOW_OPEN=1) if an open console on this address is really meant.\n\n"
        + HOW_TO_CONFIGURE
    )


def upload_limit_options(rest: list[str], *, detect_only: bool) -> list[str]:
    """`--server.maxUploadSize` for the public Detect app: the Detect page's own per-image limit
    (`PLATEOPS_UPLOAD_MAX_MB`), so Streamlit refuses anything bigger before it reaches memory. The console keeps
    the config file's limit (its Datasets page uploads dataset archives); an explicit option wins."""
    if not detect_only or any(arg.startswith("--server.maxUploadSize") for arg in rest):
        return []
    from backend.core.settings import get_settings

    return ["--server.maxUploadSize", str(get_settings().upload_max_mb)]


DEFAULT_PORT = 8501
_PORT_TRIES = 20  # 8501..8520: the next free one when the default is taken


def pop_port(rest: list[str]) -> tuple[int | None, list[str]]:
    """The `--server.port` value in `rest` (None when absent) and `rest` without it."""
    port: str | None = None
    kept: list[str] = []
    args = iter(rest)
    for arg in args:
        if arg == "--server.port":
            port = next(args, "")
        elif arg.startswith("--server.port="):
            port = arg.split("=", 1)[1]
        else:
            kept.append(arg)
    if port is None:
        return None, kept
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"The port {port!r} is not a port number (1 to 65535, or 0 for any free one).")
    return int(port), kept


def choose_port(address: str, requested: int | None, *, explicit: bool) -> tuple[int | None, str]:
    """The port to serve on and a line to say about it.

    A port asked for explicitly (`PORT=8502 ./plateops start` or `--server.port`) is used or refused; the default
    moves on to the next free one, so a second console (or anything else on 8501) does not stop a newcomer.

    Returns:
        (port, note): port None with the refusal as the note, or the port with what happened (empty when the
        requested one was free).
    """
    port = requested or DEFAULT_PORT
    if port_is_free(address, port):
        return port, ""
    if explicit:
        return None, (
            f"Port {port} on {address} is in use (another PlateOps or another server). Choose another port: "
            f"PORT={port + 1} ./plateops start (or --server.port {port + 1})."
        )
    for candidate in range(port + 1, port + _PORT_TRIES):
        if port_is_free(address, candidate):
            return candidate, f"Port {port} is in use, so PlateOps serves on port {candidate} instead (PORT sets one)."
    return (
        None,
        f"Ports {port} to {port + _PORT_TRIES - 1} are all in use. Choose a free one: PORT=9000 ./plateops start.",
    )


def main() -> int:
    from backend.auth.users import load_auth_config
    from backend.core.errors import PlateOpsError

    flags, address, rest = split_options(sys.argv[1:])
    try:
        configured = load_auth_config().configured
    except PlateOpsError as exc:
        print(f"PlateOps: {exc}", file=sys.stderr)
        return 2
    address = address or "127.0.0.1"
    refusal = check_exposure(
        address, allow_open=flags["allow_open"], detect_only=flags["detect_only"], login_configured=configured
    )
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    if not configured and not flags["detect_only"]:
        print(HOW_TO_CONFIGURE, file=sys.stderr)
    if flags["allow_open"]:  # the pages' own gate serves visitors from elsewhere only when this is said
        os.environ["PLATEOPS_ALLOW_OPEN"] = "1"
    try:
        requested, rest = pop_port(rest)
    except ValueError as exc:
        print(f"PlateOps: {exc}", file=sys.stderr)
        return 2
    # `./plateops start` always passes the port; PORT in the environment says whether the user chose it.
    explicit = requested is not None and (requested != DEFAULT_PORT or bool(os.environ.get("PORT")))
    # port 0: the server binds any free port itself and prints its address (the tests start consoles so)
    port, note = (0, "") if requested == 0 else choose_port(address, requested, explicit=explicit)
    if note:
        print(f"PlateOps: {note}", file=sys.stderr)
    if port is None:
        return 2
    if port:
        print(f"PlateOps: open http://{address}:{port}", file=sys.stderr)

    try:
        workers, rest = workers_option(rest)
    except ValueError:
        print("PlateOps: --workers takes a whole number, e.g. --workers 2.", file=sys.stderr)
        return 2
    if workers > 1:
        if not flags["detect_only"]:
            print("PlateOps: --workers runs several Detect processes; use it with --detect-only.", file=sys.stderr)
            return 2
        from backend.console.replicas import serve_replicas

        return serve_replicas(workers, address=address, port=port, streamlit_options=rest)

    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    if hasattr(PagesManager, "uses_pages_directory"):  # guarded: a private switch of streamlit's
        PagesManager.uses_pages_directory = False
    script = DETECT_APP if flags["detect_only"] else HOME
    limits = upload_limit_options(rest, detect_only=flags["detect_only"])
    sys.argv = [
        "streamlit",
        "run",
        str(script),
        "--server.address",
        address,
        "--server.port",
        str(port),
        *limits,
        *rest,
    ]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
