"""Browser: the real console in Chromium — Home renders (and is screenshot), every page opens with no error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Console, error_texts, start_console, stop_console, wait_idle
from tests.utils.homes import build_demo_home

pytestmark = pytest.mark.e2e
PAGES = ["datasets", "annotate", "train", "jobs", "models", "detect", "monitor", "admin"]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A console on a workspace that already holds a small demo dataset version."""
    home = build_demo_home(tmp_path_factory.mktemp("console") / "workspace", images=24, seed=5)
    proc, info = start_console(home, {"PLATEOPS_AUTO_DEMO": "false"})
    yield info
    stop_console(proc)


def test_direct_link_on_a_fresh_console_goes_through_home(console: Console, page) -> None:
    # Runs first in this module: the server has not run Home.py yet when /train is asked for.
    page.goto(f"{console.url}/train")
    wait_idle(page)
    nav = page.locator("[data-testid='stSidebarNav']")
    nav.wait_for()
    text = nav.inner_text()
    assert "Training" in text and "Serving" in text, "the sections come from Home.py's st.navigation"
    assert "Admin" in text, "the open console's visitor is a local admin"
    assert "overview" not in text, "no raw file names from the pages/ folder"


def test_home_renders_and_screenshot(console: Console, page, screenshots: Path) -> None:
    page.goto(console.url)
    wait_idle(page)
    page.get_by_text("Your food detector, from data to drift").wait_for()
    page.get_by_text("demo-food").first.wait_for(timeout=20_000)
    page.get_by_text("No jobs yet").wait_for(timeout=20_000)  # the live jobs panel has rendered
    assert error_texts(page) == []
    shot = screenshots / "home.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("slug", PAGES)
def test_each_page_opens_without_error(console: Console, page, slug: str) -> None:
    page.goto(f"{console.url}/{slug}")
    wait_idle(page)
    page.locator("h1").first.wait_for()
    assert error_texts(page) == [], f"/{slug} shows an error"
    assert "Traceback" not in page.inner_text("body")


def test_end_user_link_shows_detect_only(console: Console, page) -> None:
    page.goto(f"{console.url}/?role=user")
    wait_idle(page)
    page.locator("h1").first.wait_for()
    nav = page.locator("[data-testid='stSidebarNav']")
    links = nav.locator("a").all_inner_texts() if nav.count() else []
    assert all("Train" not in text for text in links)
    assert "Detect" in page.locator("h1").first.inner_text()


def test_switching_role_to_end_user_lands_on_detect(console: Console, page) -> None:
    page.goto(console.url)
    wait_idle(page)
    page.get_by_text("Your food detector, from data to drift").wait_for()
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").click()
    page.get_by_role("option", name="End user (detect only)").click()
    page.locator("h1", has_text="Detect").first.wait_for()
    nav = page.locator("[data-testid='stSidebarNav']")
    assert "Train" not in (nav.inner_text() if nav.count() else "")
    links = nav.locator("a").all_inner_texts() if nav.count() else []  # one page only: no menu at all
    assert all("Detect" in text for text in links), links
