"""Put a tiny detector into a workspace's store as a finished run (and, optionally, the production model).

Used by the serving unit tests, the Detect page AppTest and the Detect browser test. The weights are copied into
the workspace runs folder, the only place `backend.serving.load_detector` loads `.pt` files from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from backend import store
from backend.db import session_scope
from backend.schemas import RegisteredModel, Run
from backend.settings import get_settings


def add_finished_run(weights: Path, *, name: str = "tiny-run", status: str = "succeeded") -> Run:
    """Copy `weights` to `runs_dir/<name>/weights/best.pt` and record a run with that status and weights path."""
    run_dir = (get_settings().runs_dir / name).resolve()
    target = run_dir / "weights" / "best.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(weights, target)
    with session_scope() as session:
        run = store.create_run(session=session, name=name, model="yolov8n.yaml", run_dir=str(run_dir))
        return store.update_run(session=session, run_id=run.id, status=status, weights_path=str(target))


def promote(run: Run, *, name: str = "food-v1", class_thresholds: dict[str, float] | None = None) -> RegisteredModel:
    """Register a run's weights as the production model (with optional per-class thresholds)."""
    with session_scope() as session:
        model = store.register_model(
            session=session, name=name, weights_path=str(run.weights_path), run_id=run.id, stage="production"
        )
        if class_thresholds:
            model = store.update_model(session=session, model_id=model.id, class_thresholds=class_thresholds)
        return model
