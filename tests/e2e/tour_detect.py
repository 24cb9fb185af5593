"""Detect-page steps of the whole-loop browser tour (`tests/e2e/test_tour.py` calls them in order).

Each step takes the tour's Playwright page, its console and its screenshot camera (`shot(name)` saves
`tour_NN_<name>.png` and fails the step when the page shows an error).
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image
from playwright.sync_api import Page

from tests.e2e.conftest import Console, wait_idle

NOT_FOOD = "does not look like a food photo"


def cat_photo(console: Console) -> str:
    """A real photo that is clearly not food: the cat of `skimage.data.chelsea()`, cropped to its face, as a JPEG next
    to the console's workspace; returns its path."""
    from skimage import data

    path = console.home.parent / "chelsea-crop.jpg"
    Image.fromarray(data.chelsea()).crop((40, 0, 400, 300)).save(path, format="JPEG", quality=90)
    return str(path)


def step_detect_refuses_non_food_photo(page: Page, console: Console, shot: Callable[[str], None]) -> None:
    """The Detect page refusing a picture that is not a food photo.

    Uploads a photo of a cat (a crop of `skimage.data.chelsea()`) on a fresh Detect page (reloaded, so no earlier
    upload is still listed) and expects the plain refusal, "This does not look like a food photo", with no boxes
    ("Detected: …" caption), no items table and no recipe section ("What can I cook?"): nothing the serving model might
    have reported on a cat reaches the user. Needs the familiarity decision of the serving answer
    (`DetectOutcome.familiar`); the tour calls it last, with a model in production.

    Args:
        page: The tour's browser page, on any page of the console.
        console: The running console (its workspace holds the picture this step writes).
        shot: The tour's camera; takes the screenshot `detect_not_food`.
    """
    page.reload()
    page.locator("[data-testid='stSidebarNav'] a", has_text="Detect").first.click()
    page.locator("h1", has_text="Detect").first.wait_for()
    wait_idle(page)
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(cat_photo(console))
    page.get_by_text(NOT_FOOD).first.wait_for(timeout=120_000)
    wait_idle(page)
    assert page.get_by_text("Detected:").count() == 0, "no boxes on a picture that is not food"
    assert page.locator("[data-testid='stDataFrame']").count() == 0, "no items"
    assert page.get_by_text("What can I cook?").count() == 0, "no recipes"
    shot("detect_not_food")
