"""Safe inputs in the console: runs start only from bundled architectures or registered models (by recorded hash),
server-folder imports stay inside the configured import roots, and refusals say nothing about other paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backend.core.errors import BadInputError
from backend.core.hashing import file_sha256
from backend.core.settings import Settings, init_workspace
from backend.data.import_request import ImportRequest
from backend.store import registered_models as model_store
from backend.store.engine import init_db, session_scope
from backend.training.service import console_model, registered_starting_points


@pytest.fixture(name="store")
def _store(workspace: Settings) -> Settings:
    init_workspace(workspace)
    init_db()
    return workspace


def test_console_runs_start_from_bundled_architectures_or_registered_weights_only(store: Settings, tmp_path: Path):
    assert console_model("yolov8n.yaml") == "yolov8n.yaml"
    outside = tmp_path / "evil.pt"
    outside.write_bytes(b"not a pickle you want")
    for bad in (str(outside), "/etc/passwd", "../../model.yaml", "/tmp/x.yaml", "yolov8n.pt", "registered:999", ""):
        with pytest.raises(BadInputError, match="bundled architecture") as caught:
            console_model(bad)
        assert bad not in str(caught.value) or not bad  # the refusal names no path
    weights = store.runs_dir / "run-1" / "weights" / "best.pt"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"weights v1")
    with session_scope() as session:
        model = model_store.register_model(
            session=session, name="run-1", weights_path=str(weights), weights_sha256=file_sha256(weights)
        )
        # a registered file outside the runs folder is not loaded either
        stray = model_store.register_model(
            session=session, name="stray", weights_path=str(outside), weights_sha256=file_sha256(outside)
        )
    assert f"registered:{model.id}" in registered_starting_points()
    assert console_model(f"registered:{model.id}") == str(weights.resolve())
    assert console_model(str(weights)) == str(weights.resolve())  # a retrain names the recorded path
    with pytest.raises(BadInputError):
        console_model(f"registered:{stray.id}")
    weights.write_bytes(b"weights changed after registration")
    with pytest.raises(BadInputError):
        console_model(f"registered:{model.id}")


def test_console_imports_stay_inside_the_import_roots_with_one_message(
    store: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.core.settings import get_settings
    from backend.data.tasks import IMPORT_REFUSAL, check_import_path, start_import
    from tests.utils.actors import ADMIN

    allowed = tmp_path / "shared"
    (allowed / "lunch").mkdir(parents=True)
    secret = tmp_path / "private" / "keys.json"
    secret.parent.mkdir()
    secret.write_text("{}", encoding="utf-8")
    # no roots configured: only the uploads folder
    messages = set()
    for path in (secret, secret.parent, tmp_path / "missing.zip", Path("/etc/passwd"), allowed / "lunch"):
        with pytest.raises(BadInputError) as caught:
            start_import(ImportRequest(source=path, name="lunch"), actor=ADMIN)
        messages.add(str(caught.value))
    assert messages == {IMPORT_REFUSAL}  # the same words whether the path exists, is a file or a folder
    uploads = store.home / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    assert check_import_path(uploads / "x.zip") == (uploads / "x.zip").resolve()
    monkeypatch.setenv("PLATEOPS_IMPORT_ROOTS", str(allowed))
    get_settings.cache_clear()
    assert check_import_path(allowed / "lunch") == (allowed / "lunch").resolve()
    for escape in (allowed / ".." / "private" / "keys.json", allowed / "lunch" / ".." / ".."):
        with pytest.raises(BadInputError, match="cannot be imported"):
            check_import_path(escape)
    link = allowed / "link"
    link.symlink_to(secret.parent)
    with pytest.raises(BadInputError, match="cannot be imported"):
        check_import_path(link / "keys.json")  # a link out of a root is followed before the check


@pytest.mark.parametrize("entry", ["/etc", "relative:/etc", "../../outside/images"])
def test_a_folder_import_never_reads_outside_the_folder_its_data_yaml_sits_in(
    store: Settings, tmp_path: Path, entry: str
) -> None:
    """A folder inside an allowed root may still name other folders in its data.yaml: those are refused."""
    from backend.data.datasets import import_dataset
    from backend.store import datasets as dataset_store

    outside = tmp_path / "outside" / "images"
    outside.mkdir(parents=True)
    (outside / "stolen.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    folder = tmp_path / "shared" / "lunch"
    (folder / "images" / "val").mkdir(parents=True)
    if entry.startswith("relative:"):  # climbs out with as many ../ as it takes from this folder
        entry = os.path.relpath(entry.removeprefix("relative:"), folder)
    (folder / "data.yaml").write_text(f"names: [apple]\ntrain: {entry}\nval: images/val\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="outside the imported folder or archive"):
        import_dataset(ImportRequest(source=folder, name="lunch"))
    with session_scope() as session:
        assert dataset_store.find_dataset(session=session, name="lunch") is None
