"""The import pipeline end to end on real files: zip → prepare → DVC version → validation in the store."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from backend.core.errors import BadInputError
from backend.core.settings import Settings
from backend.data import datasets
from backend.data.demo import generate_demo_dataset
from backend.data.import_request import ImportRequest
from backend.store import datasets as dataset_store
from backend.store.engine import session_scope


@pytest.fixture(scope="module")
def demo_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    generate_demo_dataset(raw, images=24, seed=3, defects=True)
    return raw


def _zip_folder(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, Path("export") / path.relative_to(folder))
    return out


def test_zip_import_makes_a_validated_dvc_version(workspace: Settings, demo_raw: Path, tmp_path: Path) -> None:
    archive = _zip_folder(demo_raw, tmp_path / "food.zip")
    seen: list[float] = []
    version = datasets.import_dataset(
        ImportRequest(source=archive, name="lunch", author="ana"), progress=lambda f, m="": seen.append(f)
    )
    assert version.label == "v1" and version.author == "ana"
    assert version.content_hash and version.content_hash.endswith(".dir")
    assert (Path(version.path) / "data.yaml").exists()
    assert version.validation_status == "errors"  # the demo defects include error-level ones
    assert seen and max(f for f in seen if f is not None) == pytest.approx(1.0)
    with session_scope() as session:
        issues = dataset_store.list_issues(session=session, version_id=version.id)
    planted = {(d["file"], d["kind"]) for d in __import__("json").loads((demo_raw / "defects.json").read_text())}
    assert planted <= {(i.file, i.check) for i in issues}
    # The extracted archive is cleaned up; only the version stays.
    assert not any((workspace.home / "imports").glob("*"))
    names, images = datasets.gallery(version.id)
    assert "apple" in names
    assert any(img.split == "excluded" for img in images)  # corrupt files are shown with their issue
    assert sum(len(img.boxes) for img in images) > 24


def test_second_import_is_a_new_version(workspace: Settings, demo_raw: Path) -> None:
    request = ImportRequest(source=demo_raw / "annotations.json", name="lunch", images_dir=demo_raw / "images")
    v1 = datasets.import_dataset(request)
    v2 = datasets.import_dataset(request)
    assert (v1.number, v2.number) == (1, 2)
    assert v1.dataset_id == v2.dataset_id
    assert Path(v1.path).exists() and Path(v2.path).exists()
    from backend.data.versions import manifest

    # Same source, same split: identical images and labels (data.yaml differs only in its own path).
    for sub in ("images", "labels"):
        assert manifest(Path(v1.path) / sub) == manifest(Path(v2.path) / sub)


@pytest.mark.parametrize("name", ["", "../etc", "a b", "x" * 100])
def test_bad_dataset_names_are_refused(workspace: Settings, demo_raw: Path, name: str) -> None:
    with pytest.raises(BadInputError, match="cannot name a dataset"):
        datasets.import_dataset(ImportRequest(source=demo_raw, name=name))


def test_hostile_zip_is_refused_and_nothing_is_recorded(workspace: Settings, tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../outside.txt", "gotcha")
    with pytest.raises(BadInputError):
        datasets.import_dataset(ImportRequest(source=evil, name="evil"))
    assert not (tmp_path / "outside.txt").exists()
    with session_scope() as session:
        assert dataset_store.list_datasets(session=session) == []


def test_folder_that_is_no_dataset_says_what_was_expected(workspace: Settings, tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("hello")
    with pytest.raises(BadInputError) as err:
        datasets.import_dataset(ImportRequest(source=tmp_path / "stuff", name="stuff"))
    assert "data.yaml" in str(err.value) or "COCO" in str(err.value)
