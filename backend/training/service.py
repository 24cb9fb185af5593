"""Training runs as the console sees them: the settings a run starts from, estimates, and reads for the Train page.
Starting a run (`start_training`, `resume_training`) and the job body that trains live in `backend.training.tasks`;
the body runs in a worker process, never in the console.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.core.enums import RESUMABLE_RUN_STATUSES, RunStatus
from backend.core.errors import BadInputError
from backend.core.hashing import file_sha256
from backend.core.params import TrainConfig, get_params
from backend.core.settings import get_settings
from backend.store import registered_models as model_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.records import Run
from backend.training.pretrained import verified_pretrained_path

if TYPE_CHECKING:
    from backend.training.tracking import OfflineSession

log = logging.getLogger(__name__)


def build_config(preset: str | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """params.yaml's train section, then the preset, then the user's overrides."""
    return get_params().train_config(preset or None, overrides or {})


@dataclass(frozen=True)
class Estimate:
    """An estimated training time and what it rests on, in plain words."""

    seconds: float | None
    basis: str


def estimate_training(cfg: TrainConfig, images: int, *, on_gpu: bool = False) -> Estimate:
    """Estimated training time from finished runs on this machine, else from a short timed training step.

    Past runs in the store are scaled by images, epochs and pixels (their median rate). Before the first CPU run,
    one timed training step of `cfg.model` (measured once, see `backend.training.calibration`) gives the rate.
    GPU runs without history have no estimate (timing a GPU step here would need the GPU).
    """
    with session_scope() as session:
        runs = run_store.list_runs(session=session, limit=50, status=RunStatus.SUCCEEDED)
    rates = []
    for run in runs:
        if not run.duration_s:
            continue
        p = run.params
        n = (run.metrics.get("train_images") or 0) * (run.metrics.get("epochs_completed") or p.get("epochs") or 0)
        if n and p.get("imgsz") and ("cuda" in str(run.metrics.get("device", ""))) == on_gpu:
            rates.append(run.duration_s / (n * (p["imgsz"] / 320) ** 2))
    if rates:
        rate = sorted(rates)[len(rates) // 2]
        basis = f"From {len(rates)} finished run{'s' * (len(rates) != 1)} on this machine, scaled to these settings."
    elif on_gpu:
        return Estimate(None, "Unknown until one GPU run has finished here.")
    else:
        from backend.training.calibration import seconds_per_image_epoch

        # A `registered:`/`pretrained:` name is timed on its verified weights file (ultralytics takes paths only).
        rate = seconds_per_image_epoch(console_model(cfg.model))
        basis = (
            "From one timed training step on this computer (no run has finished here yet), scaled to these "
            "settings; the first finished run replaces it."
        )
    train_images = images * (1 - get_params().prepare.val_fraction) * cfg.fraction
    return Estimate(rate * train_images * cfg.epochs * (cfg.imgsz / 320) ** 2, basis)


REGISTERED_PREFIX = "registered:"
_ARCHITECTURE_RE = re.compile(r"[A-Za-z0-9_-]{1,60}\.ya?ml")


def registered_starting_points() -> dict[str, str]:
    """The registered models a console run may start from: `registered:<id>` -> a label for the Train page."""
    with session_scope() as session:
        models = model_store.list_models(session=session)
    return {f"{REGISTERED_PREFIX}{m.id}": f"{m.name} ({m.stage}, #{m.id})" for m in models if m.weights_sha256}


def console_model(model: str) -> str:
    """What a run started from the console may build on: a bundled architecture by name (`yolov8n.yaml`), a
    registered model (`registered:<id>`, or its recorded weights path) or an uploaded base model (`pretrained:<id>`)
    whose file is inside the workspace's runs and still has the sha256 recorded at registration or upload. Never
    any other file on the server: a .pt is a pickle and a model .yaml is code to ultralytics. (`python -m jobs.train
    --model` runs with the shell user's rights and takes any file, read with the same restricted loader.)

    Returns:
        The architecture name, or the verified weights file's path.

    Raises:
        BadInputError: Anything else.
    """
    text = str(model).strip()
    if _ARCHITECTURE_RE.fullmatch(text):
        return text
    base = verified_pretrained_path(text)  # an uploaded base model (`pretrained:<id>`), checked the same way
    if base is not None:
        return base
    with session_scope() as session:
        models = model_store.list_models(session=session)
    runs_root = get_settings().runs_dir.resolve()
    for registered in models:
        if text not in (f"{REGISTERED_PREFIX}{registered.id}", registered.weights_path):
            continue
        path = Path(registered.weights_path).resolve()
        if path.is_relative_to(runs_root) and path.is_file() and registered.weights_sha256 == file_sha256(path):
            return str(path)
        break
    raise BadInputError(
        "In the console a run starts from a bundled architecture (such as yolov8n.yaml), a registered model or an "
        "uploaded base model whose weights are unchanged; other files are not loaded."
    )


def get_run(run_id: int) -> Run:
    """One run."""
    with session_scope() as session:
        return run_store.get_run(session=session, run_id=run_id)


def list_runs(limit: int = 100) -> list[Run]:
    """Runs, newest first."""
    with session_scope() as session:
        return run_store.list_runs(session=session, limit=limit)


def run_for_job(job_id: int) -> Run | None:
    """The run a training job created (None until the worker has created it)."""
    with session_scope() as session:
        return run_store.find_run_by_job(session=session, job_id=job_id)


# --- read helpers for the Train page ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def gpu_available() -> bool:
    """True when torch sees a CUDA GPU, i.e. what device "auto" picks (torch is imported on first call only)."""
    import torch

    return bool(torch.cuda.is_available())


def device_runs_on_gpu(device: str) -> bool:
    """True when a TrainConfig `device` value ("auto", "cpu", "mps", "0", "0,1") trains on a CUDA GPU."""
    text = str(device).strip().lower()
    if text == "auto":
        return gpu_available()
    return text not in {"cpu", "mps"}


def can_resume(run: Run) -> bool:
    """True when a failed or cancelled run has a last.pt to continue from and epochs left to train."""
    return (
        run.status in RESUMABLE_RUN_STATUSES
        and bool(run.run_dir)
        and (Path(run.run_dir) / "weights" / "last.pt").is_file()
        and not trained_all_epochs(run)
    )


def trained_all_epochs(run: Run) -> bool:
    """True when every planned epoch finished (a run stopped after that, while scoring, has nothing to resume)."""
    planned = run.params.get("epochs")
    return isinstance(planned, int) and len(run.history or []) >= planned


def offline_session_for(run: Run) -> OfflineSession | None:
    """The ClearML offline session a run logged to (matched by task id or zip path), or None."""
    from backend.training.tracking import list_offline_sessions

    task_id = run.tracking.get("task_id")
    zip_path = run.tracking.get("session_zip")
    for session in list_offline_sessions(get_settings()):
        if (task_id and session.task_id == task_id) or (
            zip_path and session.zip_path and str(session.zip_path) == str(zip_path)
        ):
            return session
    return None
