"""Browser test: a real console over a workspace holding a demo version; browse the Datasets gallery in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import Console, error_texts, start_console, stop_console, wait_idle
from tests.utils.homes import build_demo_home

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", name="console")
def fixture_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """`streamlit run Home.py` over a fresh workspace with one demo version (24 images, planted defects)."""
    home = build_demo_home(tmp_path_factory.mktemp("e2e_datasets") / "workspace", images=24, seed=3, defects=True)
    proc, info = start_console(home, {"PLATEOPS_AUTO_DEMO": "false"})
    try:
        yield info
    finally:
        stop_console(proc)


def test_gallery_thumbnails_and_detail(console: Console, page: Page, screenshots: Path) -> None:
    # Start at Home, as people do: the router runs there first (a cold deep link skips it while pages/ exists).
    page.goto(console.url)
    wait_idle(page)
    page.get_by_text("I am a…").first.wait_for()
    page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="Datasets").click()
    page.wait_for_url("**/datasets")
    wait_idle(page)
    page.get_by_role("heading", name="Datasets").first.wait_for()
    page.get_by_text("DVC content hash").first.wait_for()

    page.get_by_role("tab", name="Gallery").click()
    wait_idle(page)
    thumbnails = page.locator("[data-testid='stImage'] img")
    thumbnails.nth(11).wait_for()
    assert thumbnails.count() == 12
    assert page.get_by_text("Showing 1–12 of").count() == 1

    page.locator("[class*='st-key-ds_open_'] button").first.click()  # the tiles' Open buttons, by widget key
    wait_idle(page)
    detail = page.get_by_role("heading", name="demo_")
    detail.first.wait_for()
    page.get_by_text("Boxes (").first.wait_for()
    page.locator("[data-testid='stDataFrame']").first.wait_for()
    page.locator("[data-testid='stImage'] img").nth(12).wait_for()  # the large picture above the 12 tiles
    assert not error_texts(page), error_texts(page)

    # Streamlit scrolls inside its own container, so a tall window (not full_page) captures detail and grid.
    page.set_viewport_size({"width": 1400, "height": 2300})
    page.wait_for_function(  # every picture has loaded before the screenshot
        "() => [...document.querySelectorAll(\"[data-testid='stImage'] img\")].every(i => i.complete && i.naturalWidth)"
    )
    wait_idle(page)
    shot = screenshots / "datasets.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    assert "Traceback" not in page.inner_text("body")


def _lunch_zip(folder: Path) -> Path:
    """A small COCO export (8 demo pictures) zipped as someone would upload it."""
    import zipfile

    from backend.data.demo import generate_demo_dataset

    raw = folder / "lunch"
    generate_demo_dataset(raw, images=8, seed=11)
    archive = folder / "lunch.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(raw.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(raw).as_posix())
    return archive


def test_after_an_import_show_opens_the_new_version(console: Console, page: Page, tmp_path: Path) -> None:
    """The finished import's "Show lunch v1" button sits in the job's live fragment; one click must move the
    whole page (dataset and version pickers, Overview tab) to the new version, not only the fragment."""
    archive = _lunch_zip(tmp_path)
    page.goto(console.url)
    wait_idle(page)
    page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="Datasets").click()
    page.wait_for_url("**/datasets")
    wait_idle(page)
    page.get_by_role("tab", name="Import").click()
    wait_idle(page)
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(archive))
    page.get_by_role("textbox", name="Dataset name").fill("lunch")
    page.keyboard.press("Tab")
    page.get_by_role("button", name="Import").last.click()
    show = page.get_by_role("button", name="Show lunch v1")
    show.wait_for(timeout=240_000)  # the worker imports and validates 8 pictures
    wait_idle(page)
    show.click()
    wait_idle(page)
    # The Overview of lunch v1: 8 pictures (the demo version has 24).
    page.wait_for_function(
        "() => (document.querySelector(\"[data-testid='stMetricValue']\") || {}).innerText === '8'", timeout=30_000
    )
    page.get_by_text("lunch.zip").first.wait_for()  # the version header names the upload it was made from
    assert page.get_by_role("tab", name="Overview").get_attribute("aria-selected") == "true"
    assert not error_texts(page), error_texts(page)
