"""Re-validating a version reflects the fixes saved in it: a box flagged `bbox_out_of_bounds` at import, fixed
through the Annotate canvas's edit path and saved as v2, is no longer reported on v2, while v1 keeps its finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.annotation.edits import EditedBox, ImageEdit, save_edits
from backend.core.settings import Settings, init_workspace
from backend.data.datasets import import_dataset, validate_version
from backend.data.import_request import ImportRequest
from backend.store import datasets as dataset_store
from backend.store.engine import init_db, session_scope
from tests.utils.actors import ADMIN
from tests.utils.images import noise_png

WIDTH, HEIGHT = 64, 48
OUT_FILE = "past_border.png"
UNFIXED = "also_past_border.png"


def _coco_source(folder: Path) -> Path:
    """Four noise pictures, one box each; those of OUT_FILE and UNFIXED reach 20 px past the right border."""
    images_dir = folder / "images"
    images_dir.mkdir(parents=True)
    files = [OUT_FILE, UNFIXED, "ok_1.png", "ok_2.png"]
    images, annotations = [], []
    for index, name in enumerate(files, start=1):
        (images_dir / name).write_bytes(noise_png((WIDTH, HEIGHT), seed=index))
        images.append({"id": index, "file_name": name, "width": WIDTH, "height": HEIGHT})
        x = 40.0 if name in (OUT_FILE, UNFIXED) else 10.0  # 40 + 44 = 84 > 64
        annotations.append({"id": index, "image_id": index, "category_id": 1, "bbox": [x, 8.0, 44.0, 30.0]})
    coco = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "apple"}]}
    path = folder / "annotations.json"
    path.write_text(json.dumps(coco), encoding="utf-8")
    return path


def _issues(version_id: int) -> set[tuple[str, str]]:
    with session_scope() as session:
        issues = dataset_store.list_issues(session=session, version_id=version_id)
    return {(issue.file, issue.check) for issue in issues}


@pytest.fixture
def imported(workspace: Settings, tmp_path: Path) -> int:
    init_workspace()
    init_db()
    source = _coco_source(tmp_path / "source")
    return import_dataset(ImportRequest(source=source, name="food", images_dir=source.parent / "images")).id


def test_a_box_fixed_on_the_canvas_is_not_reported_again_on_the_new_version(imported: int) -> None:
    assert (OUT_FILE, "bbox_out_of_bounds") in _issues(imported), "the import reports the box past the border"

    fixed = ImageEdit(OUT_FILE, (EditedBox("apple", (20.0, 8.0, 60.0, 38.0)),))  # redrawn inside the picture
    saved = save_edits("food", 1, [fixed], message="box inside the picture", author="ana", actor=ADMIN)
    validate_version(saved.version.id)

    found = _issues(saved.version.id)
    assert (OUT_FILE, "bbox_out_of_bounds") not in found, "the fixed box is not reported on v2"
    assert (UNFIXED, "bbox_out_of_bounds") in found, "a box nobody touched was still clipped at import"
    validate_version(imported)
    assert (OUT_FILE, "bbox_out_of_bounds") in _issues(imported), "v1 keeps its own finding"
