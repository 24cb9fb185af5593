"""Browser steps on the Annotate page's drawing canvas (streamlit-drawable-canvas), shared by the e2e tests."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.conftest import wait_idle

# True when the canvas's drawing layer shows the lemon class colour (#bcbd22) near canvas point [x, y].
LEMON_EDGE = """([x, y]) => {
  for (const host of document.querySelectorAll('*')) {
    const layer = host.shadowRoot && host.shadowRoot.querySelector('canvas.dc-canvas.lower-canvas');
    if (!layer) continue;
    const scale = layer.width / layer.clientWidth;
    const pixels = layer.getContext('2d').getImageData((x - 3) * scale, (y - 3) * scale, 7 * scale, 7 * scale).data;
    for (let i = 0; i < pixels.length; i += 4) {
      if (Math.abs(pixels[i] - 188) < 30 && Math.abs(pixels[i + 1] - 189) < 30 && pixels[i + 2] < 90) return true;
    }
  }
  return false;
}"""

SAVE_ENABLED = (
    "() => [...document.querySelectorAll('button')].some(b => b.innerText.includes('Save as a new version') "
    "&& !b.disabled)"
)


def _drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Press, move in ten steps and release: Fabric.js sees a real drag."""
    page.mouse.move(*start)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(start[0] + (end[0] - start[0]) * step / 10, start[1] + (end[1] - start[1]) * step / 10)
    page.mouse.up()


def draw_lemon_box(
    page: Page, start: tuple[float, float] = (20, 20), end: tuple[float, float] = (120, 90)
) -> dict[str, Any]:
    """Pick the lemon class on the open Annotate page, drag a box from `start` to `end` (canvas pixels) and wait
    until the page offers to save it.

    Returns:
        The canvas's bounding box in page pixels (its width gives the canvas-to-image scale).
    """
    page.locator("[class*='st-key-annot_new_class']").click()
    page.get_by_role("option", name="lemon").click()
    page.get_by_text("to draw a lemon box").first.wait_for()  # the rerun that hands the canvas its new class
    wait_idle(page)
    canvas = page.locator("canvas.upper-canvas").first  # Fabric.js listens on the top layer
    canvas.wait_for()
    box = canvas.bounding_box()
    assert box is not None
    top_edge = [(start[0] + end[0]) / 2, start[1]]
    for _attempt in range(3):
        # A drag that lands while the canvas is still taking the new class (a loaded machine) draws nothing;
        # the lemon-coloured edge on the canvas shows the box exists, and then it always reaches the server.
        _drag(page, (box["x"] + start[0], box["y"] + start[1]), (box["x"] + end[0], box["y"] + end[1]))
        try:
            page.wait_for_function(LEMON_EDGE, arg=top_edge, timeout=15_000)
            break
        except PlaywrightTimeoutError:
            continue
    else:
        pytest.fail("the drawn box never appeared on the canvas")
    wait_idle(page)
    # the drawing's round trip through a rerun; generous for loaded 2-core machines
    page.wait_for_function(SAVE_ENABLED, timeout=180_000)
    return dict(box)


def save_new_version(page: Page, message: str) -> None:
    """Describe the change and press "Save as a new version" (the caller waits for its "Saved as vN")."""
    page.get_by_label("What did you change?").fill(message)
    page.keyboard.press("Tab")
    wait_idle(page)
    page.get_by_role("button", name="Save as a new version").click()
    wait_idle(page)
