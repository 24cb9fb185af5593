"""AppTest: the Annotate page on an empty workspace and on a real demo version: the queue, the box table, save
(a new version with a changelog) and the refusal when the image changed after the version being edited."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from backend.annotation.edits import EditedBox, ImageEdit, save_edits
from backend.annotation.labels import index_version, read_label_file
from backend.core.enums import ReviewSource
from backend.core.settings import Settings
from backend.data.versions import manifest
from backend.store import datasets as dataset_store
from backend.store import review as review_store
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion
from tests.pages.apptest_utils import all_text, open_page
from tests.utils.actors import ADMIN

PAGE = "pages/annotate.py"


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def demo(demo_version: Callable[..., DatasetVersion]) -> DatasetVersion:
    version = demo_version(images=6, seed=2)
    first = sorted(index_version(Path(version.path)).images)[0]
    with session_scope() as session:
        review_store.add_review_item(
            session=session,
            source=ReviewSource.LABEL_ERROR,
            reason="label quality 0.12: a box may be missing",
            file=first,
            dataset_version_id=version.id,
            class_name="apple",
            score=0.12,
        )
    return version


def _versions() -> list[DatasetVersion]:
    with session_scope() as session:
        return sorted(dataset_store.list_versions(session=session), key=lambda v: v.number)


def test_empty_workspace_points_to_datasets(workspace: Settings) -> None:
    at = open_page(PAGE)
    assert "No dataset yet" in all_text(at)


def test_queue_item_edit_in_the_table_and_save_makes_a_new_version(demo: DatasetVersion) -> None:
    at = open_page(PAGE)
    text = all_text(at)
    first = sorted(index_version(Path(demo.path)).images)[0]
    assert first in text and "label quality 0.12" in text and "1 of 1" in text
    before = manifest(Path(demo.path))
    table = at.get("arrow_data_frame") or at.get("data_editor")
    assert table, "the box table is shown"
    save = at.button(key="annot-save")
    assert save.disabled  # nothing to save before an edit

    # delete the first box through the table's state, then save
    editor_key = f"annot-table-{demo.id}-{first}-0"
    at.session_state[editor_key] = {"edited_rows": {0: {"delete": True}}, "added_rows": [], "deleted_rows": []}
    run(at)
    assert not at.button(key="annot-save").disabled
    at.button(key="annot-save").click()
    run(at)
    assert "Saved as v2" in all_text(at), all_text(at)
    versions = _versions()
    assert [v.number for v in versions] == [1, 2]
    assert versions[1].changelog[0]["totals"]["removed"] == 1
    assert versions[1].author == getpass.getuser(), "the changelog names the person, not the role"
    assert manifest(Path(demo.path)) == before
    with session_scope() as session:
        assert review_store.list_review_items(session=session) == []  # the queue item is done
    text = all_text(at)
    assert "review queue is empty" in text
    assert "**v1 → v2:** 1 removed · 1 image changed" in text  # the history's diff of the two versions
    assert at.button(key="annot-scan") and at.button(key="annot-retrain")


def test_a_box_is_deleted_by_choosing_it_and_one_click(demo: DatasetVersion) -> None:
    """Deleting once needed a table cell selected and Space; now: choose the box, press "Delete box"."""
    at = open_page(PAGE)
    first = sorted(index_version(Path(demo.path)).images)[0]
    chooser = at.selectbox(key=f"annot-doomed-{demo.id}-{first}-0")
    assert at.button(key=f"annot-delete-{demo.id}-{first}-0").disabled, "nothing chosen: nothing to delete"
    count = len(chooser.options)
    assert count >= 1 and all(" at x1 " in option for option in chooser.options)
    chooser.set_value(0)
    run(at)
    at.button(key=f"annot-delete-{demo.id}-{first}-0").click()
    run(at)
    assert not at.button(key="annot-save").disabled, "the deletion is an unsaved edit"
    assert len(at.selectbox(key=f"annot-doomed-{demo.id}-{first}-1").options) == count - 1
    at.button(key="annot-save").click()
    run(at)
    assert _versions()[1].changelog[0]["totals"]["removed"] == 1


def test_refused_save_keeps_the_edits_on_screen(demo: DatasetVersion) -> None:
    at = open_page(PAGE)
    first = sorted(index_version(Path(demo.path)).images)[0]
    editor_key = f"annot-table-{demo.id}-{first}-0"
    at.session_state[editor_key] = {"edited_rows": {0: {"delete": True}}, "added_rows": [], "deleted_rows": []}
    run(at)
    # meanwhile someone else saves a change to the same image
    save_edits(
        "food", 1, [ImageEdit(first, (EditedBox("egg", (1, 1, 30, 30)),))], message="other", author="bo", actor=ADMIN
    )
    at.button(key="annot-save").click()
    run(at)
    assert at.error and "Not saved" in at.error[0].value and "still on screen" in at.error[0].value
    assert [v.number for v in _versions()] == [1, 2]
    index = index_version(Path(demo.path))
    n_boxes = len(read_label_file(index.image(first).label_path, index.names))
    edits = at.session_state["annot_edits"]
    assert len(next(iter(edits.values()))) == n_boxes - 1  # the edit is kept
    run(at)
    assert "still on screen" in all_text(at)


def test_new_boxes_keep_the_class_last_drawn_with_after_leaving_the_page(demo: DatasetVersion) -> None:
    at = open_page(PAGE)
    names = at.selectbox(key="annot_new_class").options
    assert len(names) > 1
    at.selectbox(key="annot_new_class").set_value(names[-1])
    run(at)
    at.switch_page("pages/datasets.py")
    run(at)
    at.switch_page(PAGE)
    run(at)
    assert at.selectbox(key="annot_new_class").value == names[-1], "not back to the first class"
