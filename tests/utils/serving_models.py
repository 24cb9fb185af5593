"""Put a tiny detector into a workspace's store as a finished run (and, optionally, the production model).

Used by the serving unit tests, the Detect page AppTest and the Detect browser test. The weights are copied into
the workspace runs folder, the only place `backend.serving.service.load_detector` loads `.pt` files from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from backend.core.settings import get_settings
from backend.store import registered_models as model_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.records import RegisteredModel, Run


def add_finished_run(weights: Path, *, name: str = "tiny-run", status: str = "succeeded") -> Run:
    """Copy `weights` to `runs_dir/<name>/weights/best.pt` and record a run with that status and weights path."""
    run_dir = (get_settings().runs_dir / name).resolve()
    target = run_dir / "weights" / "best.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(weights, target)
    with session_scope() as session:
        run = run_store.create_run(session=session, name=name, model="yolov8n.yaml", run_dir=str(run_dir))
        return run_store.update_run(
            session=session, run_id=run.id, changes=run_store.RunUpdate(status=status, weights_path=str(target))
        )


def promote(run: Run, *, name: str = "food-v1", class_thresholds: dict[str, float] | None = None) -> RegisteredModel:
    """Register a run's weights as the production model (with optional per-class thresholds)."""
    with session_scope() as session:
        model = model_store.register_model(
            session=session, name=name, weights_path=str(run.weights_path), run_id=run.id, stage="production"
        )
        if class_thresholds:
            model = model_store.update_model(session=session, model_id=model.id, class_thresholds=class_thresholds)
        return model
