"""Edits saved as new DVC versions on real files: changelog, parent byte-identical, conflicts, the jobs.edit CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from backend.annotation.edits import EditConflictError, EditedBox, ImageEdit, find_version, save_edits
from backend.annotation.labels import index_version, read_label_file
from backend.core.errors import BadInputError
from backend.core.settings import get_settings
from backend.data.versions import manifest, read_hash, restore_version
from backend.imaging.drawing import image_size
from backend.store import review as review_store
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion
from tests.utils.actors import ADMIN

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(demo_version: Callable[..., DatasetVersion]) -> DatasetVersion:
    return demo_version(images=8, seed=1)


def _first_images(version: DatasetVersion, n: int) -> list[str]:
    return sorted(index_version(Path(version.path)).images)[:n]


def _pixel_boxes(version: DatasetVersion, file: str) -> list[tuple[str, tuple[float, float, float, float]]]:
    index = index_version(Path(version.path))
    image = index.image(file)
    width, height = image_size(image.path)
    return [(b.class_name, b.to_pixels(width, height)) for b in read_label_file(image.label_path, index.names)]


def _edit(file: str, boxes: list[tuple[str, tuple[float, float, float, float]]]) -> ImageEdit:
    return ImageEdit(file, tuple(EditedBox(name, box) for name, box in boxes))


def test_save_makes_a_new_version_with_a_changelog_and_leaves_the_parent_byte_identical(
    demo: DatasetVersion,
) -> None:
    file = _first_images(demo, 1)[0]
    before = manifest(Path(demo.path))
    boxes = _pixel_boxes(demo, file)
    (name0, (x1, y1, x2, y2)) = boxes[0]
    new_class = "tomato" if name0 != "tomato" else "apple"
    edited = [(new_class, (x1, y1, x2, y2)), *boxes[2:], ("egg", (1.0, 2.0, 21.0, 30.0))]  # reclass, drop 1, add 1
    with session_scope() as session:
        item = review_store.add_review_item(
            session=session, source="user", reason="check", file=file, dataset_version_id=demo.id
        )
    saved = save_edits("food", 1, [_edit(file, edited)], message="fix one image", author="ana", actor=ADMIN)

    assert saved.version.number == 2 and saved.version.parent_id == demo.id
    assert saved.version.author == "ana" and saved.version.message == "fix one image"
    assert saved.version.changelog == [saved.changelog]
    assert saved.changelog["totals"] == {"added": 1, "removed": 1, "moved": 0, "resized": 0, "reclassified": 1}
    assert saved.changelog["per_class"]["egg"]["added"] == 1
    assert saved.changelog["images"] == {file: {"added": 1, "removed": 1, "reclassified": 1}}
    assert saved.version.stats["boxes"] == demo.stats["boxes"]
    assert read_hash(Path(saved.version.path)) == saved.version.content_hash != demo.content_hash
    # the new version holds the edit, the parent is byte-identical and still restorable from DVC
    got = _pixel_boxes(saved.version, file)
    assert [n for n, _ in got] == [n for n, _ in edited]
    assert all(abs(a - b) < 0.01 for (_, pa), (_, pb) in zip(got, edited, strict=True) for a, b in zip(pa, pb))
    assert manifest(Path(demo.path)) == before
    restore_version(Path(demo.path))
    assert manifest(Path(demo.path)) == before
    other = sorted(set(before) - {f"labels/{p}" for p in ("train/" + Path(file).stem + ".txt",)})
    assert {k: v for k, v in manifest(Path(saved.version.path)).items() if k in other and k != "data.yaml"} == {
        k: before[k] for k in other if k != "data.yaml"
    }
    with session_scope() as session:
        resolved = review_store.get_review_item(session=session, item_id=item.id)
    assert resolved.status == "done" and resolved.resolution == "saved as v2" and resolved.resolved_by == "ana"


def test_conflict_refuses_and_writes_nothing_but_other_images_still_save(demo: DatasetVersion) -> None:
    first, second = _first_images(demo, 2)
    save_edits("food", 1, [_edit(first, _pixel_boxes(demo, first)[1:])], message="drop a box", actor=ADMIN)
    _, v2 = find_version("food", 2)
    folders = sorted(p.name for p in Path(demo.path).parent.iterdir())
    with pytest.raises(EditConflictError) as caught:
        save_edits("food", 1, [_edit(first, []), _edit(second, [])], message="stale", actor=ADMIN)
    assert caught.value.files == [first] and caught.value.versions == [2]
    assert "v2" in str(caught.value)
    assert sorted(p.name for p in Path(demo.path).parent.iterdir()) == folders  # nothing written
    # an image nobody touched since v1 saves on top of the latest version, keeping v2's edit
    saved = save_edits("food", 1, [_edit(second, [])], message="clear the second image", actor=ADMIN)
    assert saved.version.number == 3 and saved.version.parent_id == v2.id
    assert saved.changelog["parent_version"] == 2 and saved.changelog["base_version"] == 1
    assert _pixel_boxes(saved.version, first) == _pixel_boxes(v2, first) and _pixel_boxes(saved.version, second) == []


def test_a_save_dvc_cannot_freeze_records_no_version_and_leaves_no_folder(
    demo: DatasetVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version row is written only after DVC froze the folder: a failing freeze leaves v1 as the latest."""
    from backend.annotation import edits
    from backend.core.errors import PlateOpsError
    from backend.store import datasets as dataset_store

    def broken(_folder: Path) -> str:
        raise PlateOpsError("dvc add failed: no space left on device")

    monkeypatch.setattr(edits, "track_version", broken)
    (first,) = _first_images(demo, 1)

    def versions_on_disk() -> list[str]:  # the save lock file (.edit.lock) stays by design
        return sorted(p.name for p in Path(demo.path).parent.iterdir() if not p.name.startswith("."))

    before = versions_on_disk()
    with pytest.raises(PlateOpsError, match="dvc add failed"):
        save_edits("food", 1, [_edit(first, [])], message="lost", actor=ADMIN)
    with session_scope() as session:
        versions = dataset_store.list_versions(session=session, dataset_id=demo.dataset_id)
    assert [v.number for v in versions] == [1]
    assert versions_on_disk() == before  # no v2 folder, no v2.dvc
    monkeypatch.undo()
    saved = save_edits("food", 1, [_edit(first, [])], message="kept", actor=ADMIN)
    assert saved.version.number == 2  # the number the failed save would have taken is free again


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (ImageEdit("missing.jpg", ()), "not an image"),
        (ImageEdit("{first}", (EditedBox("spaceship", (1, 1, 5, 5)),)), "not a class"),
        (ImageEdit("{first}", (EditedBox("apple", (1, 1, 5000, 5)),)), "not inside"),
        (ImageEdit("{first}", (EditedBox("apple", (9, 1, 5, 5)),)), "not inside"),
    ],
)
def test_bad_edits_are_refused_as_bad_input(demo: DatasetVersion, edit: ImageEdit, says: str) -> None:
    edit = ImageEdit(edit.image.format(first=_first_images(demo, 1)[0]), edit.boxes)
    with pytest.raises(BadInputError, match=says):
        save_edits("food", 1, [edit], message="bad", actor=ADMIN)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PLATEOPS_HOME=str(home), PLATEOPS_AUTO_DEMO="false")
    env.pop("PLATEOPS_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "jobs.edit", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )


def test_jobs_edit_exit_codes(demo: DatasetVersion, tmp_path: Path) -> None:
    home = get_settings().home
    first = _first_images(demo, 1)[0]
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps([{"image": first, "boxes": [{"class": "apple", "box": [4, 5, 40, 50]}]}]))
    common = ["--dataset", "food", "--base-version", "1", "--edits", str(edits), "--message", "one apple"]

    done = _cli(home, *common, "--author", "bo")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["version"] == 2 and out["changelog"]["per_class"]["apple"]["added"] >= 0
    assert out["changelog"]["author"] == "bo" and out["changelog"]["images"][first]

    refused = _cli(home, *common)
    assert refused.returncode == 1 and "v2" in refused.stderr and refused.stdout == ""
    assert not (Path(demo.path).parent / "v3").exists()

    for bad in (
        "not json",
        json.dumps({"image": first}),
        json.dumps([{"image": "nope.jpg", "boxes": []}]),
        json.dumps([{"image": first, "boxes": [{"class": "unicorn", "box": [1, 1, 4, 4]}]}]),
        json.dumps([{"image": first, "boxes": [{"class": "apple", "box": [1, 1, 4, 99999]}]}]),
    ):
        edits.write_text(bad)
        result = _cli(home, *common[:3], "2", *common[4:])
        assert result.returncode == 2, (bad, result.stderr)
        assert result.stderr.startswith("error: ")
    assert _cli(home, "--help").returncode == 0
