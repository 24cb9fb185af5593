"""Browser steps on the Annotate page's drawing canvas (streamlit-drawable-canvas), shared by the e2e tests."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page

from tests.e2e.conftest import wait_idle, wait_settled

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

# Resolves after the browser drew two more frames: React has committed the last rerun and run its effects, so a
# component on the page (the canvas) has taken the properties that rerun sent (its class and colour).
FRAMES_DRAWN = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"

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
    page: Page,
    start: tuple[float, float] = (20, 20),
    end: tuple[float, float] = (120, 90),
    *,
    inbox: bool = False,
) -> dict[str, Any]:
    """Pick the lemon class on the open Annotate page, drag a box from `start` to `end` (canvas pixels) once, and
    wait until the page offers to save it (in the traffic inbox, `inbox`: until the page counts one box more).

    Every step waits for the page's own state before acting, and no action is repeated: a drag made twice would
    draw two boxes. Waits after an action have no short limit, so a loaded machine makes this slower, never red.

    Returns:
        The canvas's bounding box in page pixels (its width gives the canvas-to-image scale).
    """
    wait_settled(page)
    before = _inbox_boxes(page) if inbox else 0
    page.locator("[class*='st-key-annot_inbox_class']" if inbox else "[class*='st-key-annot_new_class']").click()
    page.get_by_role("option", name="lemon").click()
    # the rerun that hands the canvas its new class
    page.get_by_text("draw missing lemon boxes" if inbox else "to draw a lemon box").first.wait_for()
    wait_idle(page)  # ...has ended: the canvas's new properties (lemon, its colour) reached the browser
    canvas = page.locator("canvas.upper-canvas").first  # Fabric.js listens on the top layer
    canvas.wait_for()
    page.evaluate(FRAMES_DRAWN)  # ...and the canvas took them: its tool now draws lemon boxes
    box = canvas.bounding_box()
    assert box is not None
    _drag(page, (box["x"] + start[0], box["y"] + start[1]), (box["x"] + end[0], box["y"] + end[1]))
    # the lemon-coloured edge shows the box exists on the canvas; then its round trip through a rerun
    page.wait_for_function(LEMON_EDGE, arg=[(start[0] + end[0]) / 2, start[1]], timeout=180_000)
    wait_idle(page)
    if inbox:
        page.get_by_text(re.compile(rf"^{before + 1} box(es)? on this picture")).first.wait_for(timeout=180_000)
    else:
        page.wait_for_function(SAVE_ENABLED, timeout=180_000)
    return dict(box)


def _inbox_boxes(page: Page) -> int:
    """How many boxes the traffic inbox counts on its open picture."""
    caption = page.get_by_text(re.compile(r"^\d+ box(es)? on this picture")).first
    caption.wait_for()
    return int(caption.inner_text().split()[0])


def save_new_version(page: Page, message: str) -> None:
    """Describe the change and press "Save as a new version" (the caller waits for its "Saved as vN")."""
    page.get_by_label("What did you change?").fill(message)
    page.keyboard.press("Tab")
    wait_idle(page)
    page.get_by_role("button", name="Save as a new version").click()
    wait_idle(page)
