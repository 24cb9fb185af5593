"""Finished runs on a frozen dataset version, ready for the registry's gate: tiny detectors, a tiny YOLO split.

`add_version_run` records a dataset version (the tiny shapes set, made once per test module and shared), copies a
detector into the workspace runs folder and registers a succeeded run on that version, as training would (the
model row with the sha256 of its weights).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from backend.core.hashing import file_sha256
from backend.core.settings import get_settings
from backend.store import datasets as dataset_store
from backend.store import registered_models as model_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion, RegisteredModel, Run


def add_dataset_version(dataset_dir: Path, *, name: str = "tiny-shapes") -> DatasetVersion:
    """Record a prepared YOLO folder (holding data.yaml) as a new version of dataset `name`."""
    with session_scope() as session:
        dataset = dataset_store.find_dataset(session=session, name=name) or dataset_store.create_dataset(
            session=session, name=name, source="yolo"
        )
        return dataset_store.create_version(session=session, dataset_id=dataset.id, path=str(dataset_dir.resolve()))


def add_version_run(
    weights: Path,
    version: DatasetVersion,
    *,
    name: str,
    imgsz: int = 64,
    evaluation: dict | None = None,
    register: bool = True,
) -> tuple[Run, RegisteredModel | None]:
    """A succeeded run on `version` with `weights` copied into the runs folder; registered as a candidate."""
    run_dir = (get_settings().runs_dir / name).resolve()
    target = run_dir / "weights" / "best.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(weights, target)
    with session_scope() as session:
        run = run_store.create_run(
            session=session,
            name=name,
            dataset_version_id=version.id,
            model="yolov8n.yaml",
            preset="custom",
            params={"imgsz": imgsz, "epochs": 1, "batch": 8},
            run_dir=str(run_dir),
        )
        run = run_store.update_run(
            session=session,
            run_id=run.id,
            changes=run_store.RunUpdate(status="succeeded", weights_path=str(target), evaluation=evaluation or {}),
        )
        model = None
        if register:
            model = model_store.register_model(
                session=session, name=name, weights_path=str(target), run_id=run.id, weights_sha256=file_sha256(target)
            )
    return run, model
