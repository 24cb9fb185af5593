"""Browser test: an end user uploads a demo photo on the Detect page and sees boxes, the items table and recipes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from backend.core.settings import get_settings
from backend.store import predictions as prediction_store
from backend.store.engine import dispose_all, session_scope
from tests.e2e.conftest import Console, error_texts, start_console, stop_console, wait_idle
from tests.utils.homes import build_home
from tests.utils.serving_models import add_finished_run
from tests.utils.tiny_data import save_grid_detector

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One picture of the procedural demo food set."""
    from backend.data.demo import generate_demo_dataset

    out = tmp_path_factory.mktemp("e2e_detect_demo")
    generate_demo_dataset(out, images=4, seed=5, workers=1)
    return sorted((out / "images").glob("*.jpg"))[0]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """`streamlit run Home.py` over a workspace whose newest run is a detector that always reports boxes.

    The "grid" detector (tests/utils/tiny_data.py) reports "banana" boxes on any picture at confidence ≈ 1, so the
    page has boxes, a table and banana recipes to show without training a model in the test.
    """
    root = tmp_path_factory.mktemp("e2e_detect")
    home = root / "workspace"
    build_home(home, lambda: add_finished_run(save_grid_detector(root / "grid.pt", imgsz=32), name="demo-grid"))
    proc, info = start_console(home, {"PLATEOPS_AUTO_DEMO": "false"})
    try:
        yield info
    finally:
        stop_console(proc)


def _prediction_rows(home: Path) -> list:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLATEOPS_HOME", str(home))
        get_settings.cache_clear()
        dispose_all()
        try:
            with session_scope() as session:
                return prediction_store.list_predictions(session=session)
        finally:
            dispose_all()
            get_settings.cache_clear()


def test_upload_shows_boxes_items_and_recipes(
    console: Console, page: Page, demo_photo: Path, screenshots: Path
) -> None:
    page.goto(f"{console.url}/detect")  # the team's view: model, timing and the box table (end users: test_tour)
    wait_idle(page)
    page.get_by_role("heading", name="Detect").first.wait_for()
    page.get_by_text("Answering: newest run demo-grid").first.wait_for()

    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(demo_photo))
    page.get_by_text("Detection took").first.wait_for(timeout=120_000)
    wait_idle(page)

    pictures = page.locator("[data-testid='stImage'] img")
    pictures.nth(1).wait_for()
    assert pictures.count() == 2, "the photo and the annotated photo side by side"
    page.get_by_text("Detected:").first.wait_for()
    table = page.locator("[data-testid='stDataFrame']").first
    table.wait_for()
    page.get_by_role("heading", name="What can I cook?").wait_for()
    cards = page.locator("[data-testid='stVerticalBlockBorderWrapper'] h4, [data-testid='stVerticalBlock'] h4")
    cards.first.wait_for()
    assert cards.count() >= 1, "at least one recipe card"
    assert page.get_by_text("Ingredients and steps").count() >= 1
    assert not error_texts(page), error_texts(page)

    rows = _prediction_rows(console.home)
    assert len(rows) == 1 and rows[0].image_name == demo_photo.name and rows[0].n_detections > 0
    assert rows[0].image_path and Path(rows[0].image_path).is_file()

    page.wait_for_function(  # every picture has loaded before the screenshot
        "() => [...document.querySelectorAll(\"[data-testid='stImage'] img\")].every(i => i.complete && i.naturalWidth)"
    )
    shot = screenshots / "detect.png"
    page.set_viewport_size({"width": 1400, "height": 2300})  # the app scrolls inside its own container
    wait_idle(page)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # Feedback: open "Is this right?" and confirm the first item; a toast thanks the user, no new prediction row.
    page.get_by_text("Is this right? Tell us").first.click()
    page.locator("[class*='st-key-fb_ok_'] button").first.click()
    page.get_by_text("Thanks! Your feedback helps").first.wait_for()
    wait_idle(page)
    assert len(_prediction_rows(console.home)) == 1
    assert "Traceback" not in page.inner_text("body")
