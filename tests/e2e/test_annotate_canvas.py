"""Browser test: draw a new box on the Annotate canvas in Chromium, save, and check the versions on disk.

The new version holds the drawn box (class and place), the parent version is byte-identical, and the changelog
counts exactly one added box.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.e2e.canvas import draw_lemon_box, save_new_version
from tests.e2e.conftest import Console, error_texts, start_console, stop_console, wait_idle
from tests.utils.actors import ADMIN
from tests.utils.homes import build_demo_home, workspace_at

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", name="console")
def fixture_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """`streamlit run Home.py` over a fresh workspace with one demo version (6 images)."""
    home = build_demo_home(tmp_path_factory.mktemp("e2e_annotate") / "workspace", images=6, seed=2)
    with workspace_at(home):  # the first image waits on the review queue, where the page opens
        from backend.annotation.service import flag_for_review, version_images

        (version,) = _versions_here()
        flag_for_review(version.id, version_images(version.id).files[0], "check the corner", actor=ADMIN)
    proc, info = start_console(home, {"PLATEOPS_AUTO_DEMO": "false"})
    try:
        yield info
    finally:
        stop_console(proc)


def _versions_here() -> list[Any]:
    from backend.store import datasets as dataset_store
    from backend.store.engine import session_scope

    with session_scope() as session:
        return sorted(dataset_store.list_versions(session=session), key=lambda v: v.number)


def _versions(home: Path) -> list[Any]:
    with workspace_at(home):
        return _versions_here()


def test_draw_a_box_and_save_a_new_version(console: Console, page: Page, screenshots: Path) -> None:
    from backend.annotation.labels import index_version, read_label_file
    from backend.data.versions import manifest
    from backend.imaging.drawing import image_size

    (parent,) = _versions(console.home)
    parent_files = manifest(Path(parent.path))
    page.goto(console.url)
    wait_idle(page)
    page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="Annotate").click()
    page.wait_for_url("**/annotate")
    wait_idle(page)
    page.get_by_text("1 of 1").first.wait_for()

    box = draw_lemon_box(page, start=(20, 20), end=(120, 90))
    save_new_version(page, "Added a lemon in the corner")
    page.get_by_text("Saved as v2").first.wait_for(timeout=180_000)
    page.get_by_text("The review queue is empty").first.wait_for()  # the saved image left the queue
    assert not error_texts(page), error_texts(page)
    page.screenshot(path=str(screenshots / "annotate.png"))

    parent_v, child = _versions(console.home)
    assert child.number == 2 and child.parent_id == parent_v.id and child.message == "Added a lemon in the corner"
    assert child.changelog[0]["totals"] == {"added": 1, "removed": 0, "moved": 0, "resized": 0, "reclassified": 0}
    assert child.changelog[0]["per_class"]["lemon"]["added"] == 1
    assert manifest(Path(parent.path)) == parent_files  # the parent is byte-identical
    index = index_version(Path(child.path))
    file = sorted(index.images)[0]
    width, height = image_size(index.image(file).path)
    lemons = [b for b in read_label_file(index.image(file).label_path, index.names) if b.class_name == "lemon"]
    parent_index = index_version(Path(parent.path))
    parent_lemons = [
        b for b in read_label_file(parent_index.image(file).label_path, parent_index.names) if b.class_name == "lemon"
    ]
    assert len(lemons) == len(parent_lemons) + 1
    drawn = next(b for b in lemons if b not in parent_lemons)
    scale = box["width"] / width  # canvas pixels per image pixel
    x1, y1, x2, y2 = drawn.to_pixels(width, height)
    assert abs(x1 - 20 / scale) < 6 and abs(y1 - 20 / scale) < 6
    assert abs(x2 - 120 / scale) < 6 and abs(y2 - 90 / scale) < 6
