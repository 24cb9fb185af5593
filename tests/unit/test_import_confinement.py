"""Console imports never read a file from outside the import roots through a link, checked when the worker reads
the files, not only when the job is queued: a COCO folder inside a root whose image is a link out, whose `images/`
is a link out, or that is swapped for a link out after the job was queued. Each is refused, with no version made
and no private picture copied; the same folder without links imports."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from backend.core.errors import BadInputError
from backend.core.settings import Settings, get_settings, init_workspace
from backend.data.import_request import ImportRequest
from backend.data.tasks import ImportParams, check_import_path, import_dataset_task
from backend.runtime.kinds import JobContext
from backend.store import datasets as dataset_store
from backend.store.engine import init_db, session_scope
from tests.utils.images import noise_image

PRIVATE_SEED = 7  # the private picture's noise: its bytes must not turn up in the workspace


def _jpeg(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise_image((32, 32), seed=seed).save(path, format="JPEG")


def _coco(folder: Path) -> Path:
    _jpeg(folder / "images" / "a.jpg", seed=1)
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 32, "height": 32}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10]}],
        "categories": [{"id": 1, "name": "apple"}],
    }
    (folder / "annotations.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder


@pytest.fixture
def roots(workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An import root, and a private folder outside it holding `a.jpg` (a picture nobody may import)."""
    allowed = tmp_path / "shared"
    allowed.mkdir()
    private = tmp_path / "private"
    _jpeg(private / "a.jpg", seed=PRIVATE_SEED)
    monkeypatch.setenv("PLATEOPS_IMPORT_ROOTS", str(allowed))
    get_settings.cache_clear()
    init_workspace()
    init_db()
    return allowed, private


def _run_import(folder: Path, before_run: Callable[[], None] = lambda: None) -> None:
    """Queue-time check as `start_import` makes it, then (after `before_run`) the worker's task body."""
    params = ImportParams(**ImportRequest(source=check_import_path(folder), name="lunch").model_dump())
    before_run()
    settings = get_settings()
    ctx = JobContext(job_id=1, params=params, settings=settings, progress=lambda *_: None, publish=lambda _: None)
    import_dataset_task(ctx)


def _nothing_imported(private: Path) -> None:
    with session_scope() as session:
        assert dataset_store.find_dataset(session=session, name="lunch") is None
    secret = (private / "a.jpg").read_bytes()
    home = get_settings().home
    leaked = [p for p in home.rglob("*.jpg") if p.is_file() and p.read_bytes() == secret]
    assert not leaked, f"the private picture was copied into the workspace: {leaked}"


def test_an_image_that_links_out_of_the_roots_is_refused(roots: tuple[Path, Path]) -> None:
    allowed, private = roots
    folder = _coco(allowed / "lunch")
    (folder / "images" / "a.jpg").unlink()
    (folder / "images" / "a.jpg").symlink_to(private / "a.jpg")
    with pytest.raises(BadInputError, match="points outside the folders that may be imported") as refused:
        _run_import(folder)
    assert str(private) not in str(refused.value), "the refusal says nothing about where the link points"
    _nothing_imported(private)


def test_an_images_folder_that_links_out_of_the_roots_is_refused(roots: tuple[Path, Path]) -> None:
    allowed, private = roots
    folder = _coco(allowed / "lunch")
    shutil.rmtree(folder / "images")
    (folder / "images").symlink_to(private, target_is_directory=True)
    with pytest.raises(BadInputError, match="points outside the folders that may be imported"):
        _run_import(folder)
    _nothing_imported(private)


def test_a_folder_swapped_for_a_link_after_queueing_is_refused(roots: tuple[Path, Path]) -> None:
    allowed, private = roots
    folder = _coco(allowed / "lunch")
    decoy = _coco(private / "decoy")  # a dataset outside the roots, its image the private picture
    shutil.copyfile(private / "a.jpg", decoy / "images" / "a.jpg")

    def swap() -> None:
        shutil.rmtree(folder)
        folder.symlink_to(decoy, target_is_directory=True)

    with pytest.raises(BadInputError, match="cannot be imported"):
        _run_import(folder, before_run=swap)
    _nothing_imported(private)


def test_the_same_folder_without_links_imports(roots: tuple[Path, Path]) -> None:
    allowed, _ = roots
    _run_import(_coco(allowed / "lunch"))
    with session_scope() as session:
        assert dataset_store.find_dataset(session=session, name="lunch") is not None
