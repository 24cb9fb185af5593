"""Browser test: Detect scaled out — `ui.launch --detect-only --workers 2` runs two replicas behind nginx with sticky
sessions, sharing the store (PostgreSQL when the suite has one, as a team would run it; else the SQLite file).

Six browsers upload a photo each at the same time through nginx: every one gets its answer, both replicas answer
someone, and the prediction log holds exactly one row per photo (no lost answer, no double log).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from backend.console.replicas import nginx_binary, nginx_config, port_is_free
from backend.core.settings import get_settings
from backend.store import predictions as prediction_store
from backend.store.engine import dispose_all, session_scope
from tests.e2e.conftest import PROJECT_ROOT, wait_idle
from tests.utils import images as imgs
from tests.utils.serving_models import add_finished_run
from tests.utils.tiny_data import save_grid_detector

pytestmark = pytest.mark.e2e

SESSIONS = int(os.environ.get("PLATEOPS_TEST_SESSIONS", "6"))
SHOTS = Path(tempfile.gettempdir()) / "plateops-replica-shots"


def _free_block(size: int) -> int:
    """A port p with p..p+size-1 all free on loopback."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = sock.getsockname()[1]
        if base + size < 65535 and all(port_is_free("127.0.0.1", base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports")


@pytest.fixture(name="store_env", scope="module")
def fixture_store_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """PLATEOPS_HOME (and PLATEOPS_DATABASE_URL: a fresh PostgreSQL schema when the suite has a server)."""
    home = tmp_path_factory.mktemp("e2e_replicas") / "workspace"
    env = {"PLATEOPS_HOME": str(home), "PLATEOPS_AUTO_DEMO": "false"}
    base_url = os.environ.get("PLATEOPS_TEST_POSTGRES_URL")
    admin = None
    schema = f"replicas{os.getpid()}"
    if base_url:
        import sqlalchemy as sa

        admin = sa.create_engine(base_url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base_url else "?"
        env["PLATEOPS_DATABASE_URL"] = f"{base_url}{sep}options=-csearch_path%3D{schema}"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        if "PLATEOPS_DATABASE_URL" not in env:
            mp.delenv("PLATEOPS_DATABASE_URL", raising=False)
        get_settings.cache_clear()
        dispose_all()
        from backend.console.bootstrap import start_console

        start_console()
        add_finished_run(save_grid_detector(home.parent / "grid.pt", imgsz=32), name="demo-grid")
        dispose_all()
        yield env
        dispose_all()
        get_settings.cache_clear()
    if admin is not None:
        import sqlalchemy as sa

        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def logged(env: dict[str, str]) -> list[tuple[str, str]]:
    """(image name, model label) of every prediction row in the shared store."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        dispose_all()
        try:
            with session_scope() as session:
                return [(r.image_name, r.model_label) for r in prediction_store.list_predictions(session=session)]
        finally:
            dispose_all()
            get_settings.cache_clear()


@pytest.fixture(name="balanced", scope="module")
def fixture_balanced(store_env: dict[str, str]) -> Iterator[str]:
    """`ui.launch --detect-only --workers 2` on a free block of ports; yields nginx's URL."""
    port = _free_block(3)
    env = {**os.environ, **store_env, "PYTHONPATH": str(PROJECT_ROOT)}
    if "PLATEOPS_DATABASE_URL" not in store_env:
        env.pop("PLATEOPS_DATABASE_URL", None)
    log = Path(store_env["PLATEOPS_HOME"]).parent / "replicas.log"
    with open(log, "wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui.launch", "--detect-only", "--workers", "2", "--server.port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            raise RuntimeError(f"the replicas did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    try:
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == 0, log.read_text()[-3000:]


def test_nginx_is_installed_for_the_replicas() -> None:
    assert nginx_binary() is not None, "./plateops installs nginx-light with the other Debian packages"


def test_the_nginx_config_is_sticky_by_a_cookie_it_sets(tmp_path: Path) -> None:
    conf = nginx_config(run_dir=tmp_path, address="127.0.0.1", port=9000, replica_ports=[9001, 9002], upload_mb=25)
    assert "hash $replica_key consistent;" in conf
    assert "server 127.0.0.1:9001" in conf and "server 127.0.0.1:9002" in conf
    assert 'Set-Cookie "plateops_replica=$replica_key' in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf  # the websocket passes
    assert "proxy_request_buffering off;" in conf  # uploads never need a folder nginx's workers may write
    assert '"127.0.0.1:9002" "2";' in conf  # the replica is named by number, its address stays inside
    check = subprocess.run(
        [str(nginx_binary()), "-t", "-q", "-c", str(_write(tmp_path, conf)), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr


def _write(folder: Path, conf: str) -> Path:
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / kind).mkdir(exist_ok=True)
    path = folder / "nginx.conf"
    path.write_text(conf, encoding="utf-8")
    return path


def test_concurrent_sessions_through_nginx_each_get_one_answer_logged_once(
    balanced: str, browser: Browser, store_env: dict[str, str], tmp_path: Path
) -> None:
    photos = []
    for index in range(SESSIONS):
        photo = tmp_path / f"plate-{index}.jpg"
        photo.write_bytes(imgs.encode(imgs.noise_image((160, 120), seed=40 + index), "JPEG", quality=90))
        photos.append(photo)
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in photos]
    pages = [context.new_page() for context in contexts]
    failures: list[str] = []  # what the browsers saw go wrong, shown when a session gets no answer
    for number, each in enumerate(pages):
        each.on(
            "response",
            lambda r, n=number: (
                failures.append(f"{n}: {r.status} {r.request.method} {r.url}") if r.status >= 400 else None
            ),
        )
        each.on("requestfailed", lambda r, n=number: failures.append(f"{n}: failed {r.method} {r.url} {r.failure}"))
    try:
        for page in pages:  # page loads one after another (the browser is driven from this thread) ...
            page.set_default_timeout(120_000)
            page.goto(balanced)
            wait_idle(page)
            page.locator("h1", has_text="Detect").first.wait_for()
        for page, photo in zip(pages, photos, strict=True):  # ... uploads all sent before any answer is awaited
            page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(photo))
        for index, page in enumerate(pages):
            try:
                page.get_by_text("Detected:").first.wait_for(timeout=180_000)
            except PlaywrightTimeoutError:
                SHOTS.mkdir(exist_ok=True)
                for number, each in enumerate(pages):
                    each.screenshot(path=str(SHOTS / f"replica-session-{number}.png"), full_page=True)
                raise AssertionError(
                    f"session {index} got no answer; screenshots in {SHOTS}; {failures[-8:]}"
                ) from None
            assert "Traceback" not in page.inner_text("body")
        routes = [
            cookie["value"] for c in contexts for cookie in c.cookies(balanced) if cookie["name"] == "plateops_replica"
        ]
        assert len(set(routes)) == SESSIONS, "each browser got its own routing cookie"
        answered_by = {_replica_of(balanced, route) for route in routes}
    finally:
        for context in contexts:
            context.close()
    rows = logged(store_env)
    assert sorted(name for name, _ in rows) == sorted(p.name for p in photos), "each photo logged exactly once"
    assert answered_by <= {"1", "2"} and "" not in answered_by
    # stickiness and spread, on 64 more routing cookies (all landing on one replica: chance 2 in 2**64)
    more = [f"route-{i}" for i in range(64)]
    first = [_replica_of(balanced, route) for route in more]
    assert first == [_replica_of(balanced, route) for route in more], "a browser always reaches the same replica"
    assert set(first) == {"1", "2"}, "new browsers spread over both replicas"


def _replica_of(url: str, route: str) -> str:
    """Which replica nginx sends a browser holding routing cookie `route` to (its X-PlateOps-Replica header)."""
    request = urllib.request.Request(f"{url}/_stcore/health", headers={"Cookie": f"plateops_replica={route}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(answer.headers.get("X-PlateOps-Replica", ""))
