"""Browser-test fixtures: a real `streamlit run Home.py` on a port the system picks, and Playwright driving
Debian's Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PLATEOPS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Console:
    url: str
    home: Path
    log: Path
    env: dict[str, str]


# The address Streamlit prints once it listens: with `--server.port 0` the system picks a free port when the server
# binds, so parallel test workers (and other runs on the machine) never race for one.
LISTENING = re.compile(r"URL: (http://127\.0\.0\.1:\d+)")


def _listening_url(log: Path) -> str | None:
    found = LISTENING.search(log.read_text(errors="replace"))
    return found.group(1) if found else None


def start_console(
    home: Path, extra_env: dict[str, str] | None = None, extra_args: list[str] | None = None
) -> tuple[subprocess.Popen[bytes], Console]:
    """Start the console on a loopback port the system picks and wait until it answers its health check
    (`extra_args` go to `ui.launch`, e.g. `--detect-only`)."""
    env = dict(os.environ)
    env.update({"PLATEOPS_HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT), **(extra_env or {})})
    env["PYTHONUNBUFFERED"] = "1"  # the listening address reaches the log at once
    env.pop("PLATEOPS_DATABASE_URL", None)
    home.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="streamlit-", suffix=".log", dir=home.parent)
    os.close(fd)
    log = Path(name)
    with open(log, "wb") as handle:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ui.launch",
                "--server.port",
                "0",
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                *(extra_args or []),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    url = None
    while True:
        url = url or _listening_url(log)
        if url:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"streamlit did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return proc, Console(url=url, home=home, log=log, env=env)


def stop_console(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium under Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it with `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests save screenshots: a temporary folder, so a test run changes no tracked file.

    The README pictures are made on purpose by `python -m bench.screenshots`.
    """
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


# True when Streamlit's own run state says no script run is going on (the app sets it once a run's last element has
# arrived) and no 'Running…' status widget shows. The widget alone appears only after a run lasted a moment, so a
# short run would look idle while its elements are still arriving.
IDLE = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  return app !== null && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector("[data-testid='stStatusWidget']");
}"""


def wait_idle(page) -> None:
    """Wait until Streamlit finished the current run (its run state, see IDLE)."""
    page.wait_for_selector("[data-testid='stApp']")
    page.wait_for_function(IDLE, timeout=120_000)


# True when nothing on the page moved since the previous check (polled once a frame): the main area's and the
# expanders' scroll positions, sizes and places, and no CSS animation running. A select's menu closes on any scroll,
# so a click that opens one waits for this first (an expander that just opened still animates its height).
SETTLED = """() => {
  const boxes = [...document.querySelectorAll("[data-testid='stMain'], details, [data-testid='stExpanderDetails']")];
  const key = boxes.map(e => {
    const r = e.getBoundingClientRect();
    return [e.scrollTop, e.scrollHeight, r.top, r.height].join(':');
  }).join('|');
  const same = window.__plateopsSettled === key;
  window.__plateopsSettled = key;
  return same && document.getAnimations().every(a => a.playState !== 'running');
}"""


def wait_settled(page) -> None:
    """Wait until the page stopped moving (see SETTLED) and Streamlit is idle, before a click that opens a menu."""
    wait_idle(page)
    page.wait_for_function(SETTLED, polling="raf", timeout=120_000)


def error_texts(page) -> list[str]:
    """Visible exception or error boxes on the page."""
    return [
        el.inner_text()
        for el in page.query_selector_all("[data-testid='stException'], [data-testid='stAlertContentError']")
    ]


def copy_workspace(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture
def watched(browser) -> Iterator[tuple[object, list[str]]]:
    """A page whose every request is recorded; the list holds the ones that left this machine (they are blocked)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []

    def check(route) -> None:
        url = route.request.url
        parsed = urlparse(url)
        if parsed.scheme in {"data", "blob", "about"} or parsed.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", check)
    context.on("websocket", lambda ws: None if urlparse(ws.url).hostname in LOCAL_HOSTS else outside.append(ws.url))
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page, outside
    context.close()
