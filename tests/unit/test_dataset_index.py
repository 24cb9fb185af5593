"""The per-version index in the store matches the version's files exactly: after an import, after an annotation
edit (a new version), and after a version's folder is restored from DVC; the SQL filters and pagination agree with
the same filters applied to the files; an older version gets its index from the `index_version` job."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backend.annotation.edits import EditedBox, ImageEdit, save_edits
from backend.data.index import build_version_index, gallery_page, index_state, issue_page
from backend.data.versions import restore_version
from backend.imaging.drawing import image_size
from backend.store import dataset_index as index_store
from backend.store.dataset_index import ImageQuery, IssueQuery
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion
from tests.utils.actors import ADMIN


@pytest.fixture
def demo(demo_version: Callable[..., DatasetVersion]) -> DatasetVersion:
    return demo_version(images=12, seed=3, defects=True)


def files_view(folder: Path) -> dict[str, dict[str, Any]]:
    """What the version folder holds, read independently of the index code: per image path its split, stamp,
    header size and boxes (class, cx, cy, w, h) from its label file."""
    out: dict[str, dict[str, Any]] = {}
    for split_dir in sorted((folder / "images").iterdir()):
        for image in sorted(p for p in split_dir.rglob("*") if p.is_file()):
            rel = image.relative_to(folder)
            label = folder / "labels" / rel.relative_to("images").with_suffix(".txt")
            boxes = []
            if label.exists():
                for line in label.read_text(encoding="utf-8").splitlines():
                    parts = line.split()
                    if len(parts) == 5:
                        boxes.append((int(parts[0]), *(round(float(x), 6) for x in parts[1:])))
            info = image.stat()
            out[str(rel)] = {
                "split": split_dir.name,
                "bytes": info.st_size,
                "mtime_ns": info.st_mtime_ns,
                "size": image_size(image),
                "boxes": boxes,
            }
    return out


def index_view(version_id: int) -> dict[str, dict[str, Any]]:
    """The same view, read from the store's index only."""
    with session_scope() as session:
        count = index_store.count_images(
            session=session, version_id=version_id, query=ImageQuery(splits=("train", "val", "test"))
        )
        images = index_store.page_images(
            session=session, version_id=version_id, query=ImageQuery(splits=("train", "val", "test")), limit=count
        )
    return {
        img.rel_path: {
            "split": img.split,
            "bytes": img.bytes,
            "mtime_ns": img.mtime_ns,
            "size": (img.width, img.height),
            "boxes": [(b.class_id, *(round(v, 6) for v in (b.cx, b.cy, b.w, b.h))) for b in img.boxes],
        }
        for img in images
    }


def assert_index_matches(version: DatasetVersion) -> None:
    state = index_state(version.id)
    assert state is not None and state.ready
    expected = files_view(Path(version.path))
    assert index_view(version.id) == expected
    assert state.images == len(expected)
    assert state.boxes == sum(len(v["boxes"]) for v in expected.values())


def test_index_matches_the_files_after_import(demo: DatasetVersion) -> None:
    assert_index_matches(demo)
    state = index_state(demo.id)
    assert state is not None
    assert sum(state.summary["splits"].values()) == state.images
    assert sum(n for _, _, n in state.summary["class_split"]) == state.boxes
    assert sum(state.summary["area_bins"].values()) == state.boxes
    assert state.summary["preflight"]["format"]


def test_index_matches_the_files_after_an_edit(demo: DatasetVersion) -> None:
    file = next(iter(sorted(files_view(Path(demo.path)))))
    saved = save_edits(
        "food",
        1,
        [ImageEdit(Path(file).name, (EditedBox("egg", (1.0, 2.0, 41.0, 50.0)),))],
        message="one egg",
        actor=ADMIN,
    )
    assert_index_matches(saved.version)
    edited = index_view(saved.version.id)[file]
    assert len(edited["boxes"]) == 1
    assert_index_matches(demo)  # the parent's index is untouched


def _writable(folder: Path) -> None:
    for root, dirs, _ in os.walk(folder):
        for name in [".", *dirs]:
            path = Path(root, name)
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_index_matches_the_files_after_a_dvc_restore(demo: DatasetVersion) -> None:
    folder = Path(demo.path)
    before = index_view(demo.id)
    _writable(folder)
    victim = next(iter(sorted(before)))
    (folder / victim).unlink()
    label = folder / "labels" / Path(victim).relative_to("images").with_suffix(".txt")
    label.unlink(missing_ok=True)
    restore_version(folder)
    assert_index_matches(demo)
    assert index_view(demo.id) == before


def test_sql_filters_and_pages_agree_with_the_files(demo: DatasetVersion) -> None:
    expected = files_view(Path(demo.path))
    state = index_state(demo.id)
    assert state is not None
    egg = state.names.index("egg") if "egg" in state.names else 0
    with_egg = {p for p, v in expected.items() if any(b[0] == egg for b in v["boxes"])}
    crowded = {p for p, v in expected.items() if len(v["boxes"]) >= 4}
    val = {p for p, v in expected.items() if v["split"] == "val"}
    query = ImageQuery(classes=(egg,), splits=("train", "val"), min_boxes=4)
    page = gallery_page(demo.id, query, offset=0, limit=500)
    assert {i.rel_path for i in page.images} == with_egg & crowded
    assert page.total == len(with_egg & crowded)
    val_page = gallery_page(demo.id, ImageQuery(splits=("val",)), offset=0, limit=500)
    assert {i.rel_path for i in val_page.images} == val
    # pages cover every image once, in order
    everything = gallery_page(demo.id, ImageQuery(splits=("train", "val", "test")), offset=0, limit=1000).images
    paged = [
        i
        for start in range(0, len(everything), 5)
        for i in gallery_page(demo.id, ImageQuery(splits=("train", "val", "test")), offset=start, limit=5).images
    ]
    assert [i.rel_path for i in paged] == [i.rel_path for i in everything]
    tiny = {p for p, v in expected.items() if any(b[3] * b[4] < 0.01 for b in v["boxes"])}
    assert {i.rel_path for i in gallery_page(demo.id, ImageQuery(max_box_area=0.01), limit=500).images} == tiny
    # issues: the planted defects are found through the index, with their checks
    issues = issue_page(demo.id, IssueQuery(), limit=1000)
    assert issues.total == len(issues.lines) > 0
    check = issues.lines[0].check
    by_check = gallery_page(demo.id, ImageQuery(checks=(check,)), limit=500)
    assert {i.file for i in by_check.images} == {line.file for line in issues.lines if line.check == check}


@pytest.mark.usefixtures("demo")
def test_an_older_version_is_indexed_by_its_job(demo: DatasetVersion) -> None:
    from backend.data.tasks import start_index_version
    from backend.runtime import runner

    with session_scope() as session:
        index_store.clear_index(session=session, version_id=demo.id)
    assert index_state(demo.id) is None
    job_id = start_index_version(demo.id, actor=ADMIN)
    assert start_index_version(demo.id, actor=ADMIN) == job_id, "a second opening does not start a second build"
    job = runner.wait_for(job_id, timeout_s=120)
    assert job.status == "succeeded", job.error
    assert_index_matches(demo)


def test_build_replaces_an_earlier_index(demo: DatasetVersion) -> None:
    first = index_state(demo.id)
    again = build_version_index(demo.id)
    assert first is not None and again.images == first.images and again.boxes == first.boxes
    assert_index_matches(demo)


def test_models_page_version_diff_from_the_index_equals_the_one_from_label_files(demo: DatasetVersion) -> None:
    from backend.registry.compare import diff_versions

    file = Path(next(iter(sorted(files_view(Path(demo.path)))))).name
    saved = save_edits("food", 1, [ImageEdit(file, ())], message="clear one image", actor=ADMIN)
    from_index = diff_versions(demo.id, saved.version.id)
    assert from_index.images_changed == 1 and from_index.per_class
    with session_scope() as session:
        for version_id in (demo.id, saved.version.id):
            index_store.clear_index(session=session, version_id=version_id)
    from_files = diff_versions(demo.id, saved.version.id)
    assert (from_index.images_compared, from_index.images_changed, from_index.rows()) == (
        from_files.images_compared,
        from_files.images_changed,
        from_files.rows(),
    )
