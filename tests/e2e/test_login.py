"""Browser: a console with users configured. A viewer signs in and cannot change anything (the backend refuses,
whatever the page offers); the public Detect app answers without any login."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.auth.users import hash_password
from tests.e2e.conftest import Console, start_console, stop_console, wait_idle
from tests.utils.homes import build_demo_home

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A console on a demo workspace whose secrets file holds one viewer, vic."""
    root = tmp_path_factory.mktemp("secured")
    home = build_demo_home(root / "workspace", images=12, seed=5)
    secrets = root / "secrets.toml"
    digest = hash_password("vic-password")
    secrets.write_text(f'[plateops.users.vic]\nrole = "viewer"\npassword_hash = "{digest}"\n', encoding="utf-8")
    proc, info = start_console(home, {"PLATEOPS_AUTO_DEMO": "false", "PLATEOPS_SECRETS_FILE": str(secrets)})
    yield info
    stop_console(proc)


def test_viewer_signs_in_and_cannot_change_anything(secured: Console, page) -> None:
    page.goto(secured.url)
    wait_idle(page)
    page.get_by_text("Sign in to PlateOps").wait_for()
    assert "demo-food" not in page.inner_text("body"), "nothing shows before the login"
    page.get_by_role("textbox", name="User name").fill("vic")
    page.get_by_role("textbox", name="Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Wrong user name or password.").wait_for()
    page.get_by_role("textbox", name="Password").fill("vic-password")
    page.get_by_role("button", name="Sign in").click()
    wait_idle(page)
    page.get_by_text("Signed in as").wait_for()
    body = page.inner_text("body")
    assert "vic" in body and "viewer" in body
    assert "I am a" not in body and "Open console" not in body, "no role switch and no open-console notice"
    assert "Admin" not in page.locator("[data-testid='stSidebarNav']").inner_text(), "the Admin page is for admins"
    # Try to change something: create a dataset from the Datasets page's import tab.
    page.locator("[data-testid='stSidebarNav']").get_by_text("Datasets").click()
    wait_idle(page)
    page.get_by_text("📤 Import").click()
    wait_idle(page)
    page.get_by_text("Where is the data?").wait_for()
    page.get_by_text("Demo food dataset", exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Create demo dataset").or_(page.get_by_text("Create demo dataset")).first.click()
    wait_idle(page)
    page.get_by_text("A viewer may not import data").wait_for()


def test_public_detect_app_needs_no_login(tmp_path_factory: pytest.TempPathFactory, page) -> None:
    import subprocess
    import sys

    from tests.e2e.conftest import PROJECT_ROOT

    home = tmp_path_factory.mktemp("detect-only") / "workspace"
    proc, info = start_console(home, {"PLATEOPS_AUTO_DEMO": "false", "PLATEOPS_ALLOW_OPEN": "0"}, ["--detect-only"])
    try:
        page.goto(info.url)
        wait_idle(page)
        page.get_by_text("Detect").first.wait_for()
        body = page.inner_text("body")
        assert "Sign in" not in body and "Traceback" not in body
        assert "Datasets" not in body and "Train" not in body, "no console page in the Detect-only app"
    finally:
        stop_console(proc)
    refused = subprocess.run(
        [sys.executable, "-m", "ui.launch", "--server.address", "0.0.0.0"],
        cwd=PROJECT_ROOT,
        env={**info.env, "PLATEOPS_ALLOW_OPEN": "0", "PLATEOPS_SECRETS_FILE": str(home / "none.toml")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2 and "Refusing to serve the open console" in refused.stderr
