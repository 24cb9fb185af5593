"""Training runs as the console sees them: the settings a run starts from, estimates, and reads for the Train page.
Starting a run (`start_training`, `resume_training`) and the job body that trains live in `backend.training.tasks`;
the body runs in a worker process, never in the console.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.core.clock import utcnow
from backend.core.enums import RESUMABLE_RUN_STATUSES, RunStatus
from backend.core.errors import BadInputError, NotFoundError
from backend.core.hashing import file_sha256
from backend.core.params import TrainConfig, get_params
from backend.core.settings import get_settings
from backend.store import jobs as job_store
from backend.store import registered_models as model_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.records import Job, Run
from backend.training.estimate import (
    FIRST_EPOCH_SPREAD,
    RECENT_EPOCHS,
    FinishedRun,
    RunShape,
    SpeedFit,
    TimeRange,
    fit_speed,
    pixel_speed,
    predict_total_s,
)
from backend.training.pretrained import verified_pretrained_path
from backend.training.speed import current_load, known_speed, step_speed

if TYPE_CHECKING:
    from backend.training.tracking import OfflineSession

log = logging.getLogger(__name__)


def build_config(preset: str | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """params.yaml's train section, then the preset, then the user's overrides."""
    return get_params().train_config(preset or None, overrides or {})


@dataclass(frozen=True)
class Estimate:
    """An estimated training time, how sure it is, and what it rests on, in plain words.

    Attributes:
        time: The estimate and its range (None when there is nothing to estimate from).
        basis: What it rests on, e.g. "measured on this machine from 30 timed epochs".
    """

    time: TimeRange | None
    basis: str

    @property
    def seconds(self) -> float | None:
        """The estimate in seconds (None without one)."""
        return self.time.seconds if self.time else None

    def text(self) -> str:
        """E.g. "about 7 min (5–9 min), measured on this machine from 30 timed epochs"."""
        return f"{self.time.text()}, {self.basis}" if self.time else self.basis


def _finished_runs(*, on_gpu: bool, limit: int = 50) -> list[FinishedRun]:
    """The timings of finished runs on this machine's CPU (or GPU), newest first."""
    rows = []
    with session_scope() as session:
        runs = run_store.list_runs(session=session, limit=limit, status=RunStatus.SUCCEEDED)
        for run in runs:
            seconds = tuple(e.seconds for e in run.epochs if e.seconds)
            p, m = run.params, run.metrics
            train = m.get("train_images")
            if not seconds or not p.get("imgsz") or not isinstance(train, int) or train <= 0:
                continue
            if ("cuda" in str(m.get("device", ""))) != on_gpu:
                continue
            val = m.get("val_images")
            if not isinstance(val, int):  # runs recorded before val_images was: the usual split
                fraction = get_params().prepare.val_fraction
                val = round(train * fraction / (1 - fraction))
            total = run.duration_s
            if run.job_id is not None:
                with contextlib.suppress(NotFoundError):  # the job row was pruned: the run's own time
                    total = job_store.get_job(session=session, job_id=run.job_id).elapsed_s(utcnow()) or total
            shape = RunShape(str(p.get("model", "")), int(p["imgsz"]), len(seconds), train, val)
            rows.append(FinishedRun(shape=shape, epoch_seconds=seconds, total_s=total))
    return rows


def _busy_note() -> str:
    """A clause when the machine is busy now: a run's time then follows what else runs (BENCHMARKS.md)."""
    load, cpus = current_load(), os.cpu_count() or 1
    if load is None or load <= cpus:
        return ""
    return (
        f"; the machine is busy now (load {load:.1f} on {cpus} cores), so the time depends on what else runs "
        "meanwhile (runs here took up to 1.5× the estimate under such load); the time left after the first "
        "epoch is measured from the run itself"
    )


def estimate_training(cfg: TrainConfig, train_images: int, val_images: int, *, on_gpu: bool = False) -> Estimate:
    """Estimated training time, from start to the scored model, with its range and what it rests on.

    On a CPU: this computer's timed training step and validation pass of `cfg.model` at `cfg.imgsz` (timed once,
    see `backend.training.speed`), turned into epochs by what finished runs here taught (`backend.training.estimate`;
    before the first one, constants measured on this project's machine, with a wider range). On a GPU: finished GPU
    runs only (timing a GPU step here would need the GPU); none gives no estimate.

    Args:
        cfg: The run's settings.
        train_images: Training images of the dataset version (before `cfg.fraction`).
        val_images: Validation images of the dataset version.
        on_gpu: Whether the run trains on a CUDA GPU.
    """
    shape = RunShape(
        model=cfg.model,
        imgsz=cfg.imgsz,
        epochs=cfg.epochs,
        train_images=max(round(train_images * cfg.fraction), 0),
        val_images=max(val_images, 0),
    )
    runs = _finished_runs(on_gpu=on_gpu)
    if on_gpu:
        fit = fit_speed(runs, pixel_speed)
        if not fit.runs:
            return Estimate(None, "unknown until one GPU run has finished here")
        seconds = predict_total_s(shape, pixel_speed(cfg.model), fit)
        basis = f"measured on this machine's GPU from {timed_epochs(fit)}, scaled to these settings"
        return Estimate(TimeRange.around(seconds, fit.spread), basis)
    # A `registered:`/`pretrained:` name is timed on its verified weights file (ultralytics takes paths only).
    speed = step_speed(console_model(cfg.model))
    fit = fit_speed(runs, lambda model: speed if model == cfg.model else known_speed(model))
    seconds = predict_total_s(shape, speed, fit)
    if fit.runs:
        basis = f"measured on this machine from {timed_epochs(fit)}, scaled to these settings"
    else:
        basis = (
            "from a training step timed on this machine and what an epoch adds to it on this project's own "
            "machine (no run has finished here yet; the first one narrows the range)"
        )
    return Estimate(TimeRange.around(seconds, fit.spread), basis + _busy_note())


def timed_epochs(fit: SpeedFit) -> str:
    """E.g. "30 timed epochs of 3 finished runs"."""
    epochs = f"{fit.epochs} timed epoch{'s' * (fit.epochs != 1)}"
    return f"{epochs} of {fit.runs} finished run{'s' * (fit.runs != 1)}"


@dataclass(frozen=True)
class TimeLeft:
    """A running training job's estimated time left, from its own epochs so far.

    Attributes:
        time: Seconds left now and their range (0 once the estimated end has passed).
        epoch: The latest finished epoch the estimate rests on.
        epochs: The epochs the run trains.
        basis: What it rests on, e.g. "from the first epoch of this run".
    """

    time: TimeRange
    epoch: int
    epochs: int
    basis: str

    @property
    def seconds(self) -> float:
        """Seconds left now."""
        return self.time.seconds


def time_left(job: Job, now: datetime) -> TimeLeft | None:
    """How long a running training job has left, counted down from what its latest epoch estimated.

    The range keeps the margin that epoch gave the end (the end is as uncertain as it was then). None before its
    first epoch has ended (or for a job that published no estimate).
    """
    live = job.live or {}
    finish_at, margin = live.get("finish_at"), live.get("finish_margin_s")
    epochs = job.live_epochs
    if not isinstance(finish_at, str) or not epochs:
        return None
    try:
        end = datetime.fromisoformat(finish_at)
    except ValueError:
        return None
    last = epochs[-1]
    done = last.epoch or len(epochs)
    left = max((end - now).total_seconds(), 0.0)
    margin = float(margin) if isinstance(margin, int | float) else left * FIRST_EPOCH_SPREAD
    time = TimeRange(left, max(left - margin, 0.0), left + margin)
    return TimeLeft(time=time, epoch=done, epochs=last.epochs or 0, basis=own_epochs_basis(done))


def own_epochs_basis(done: int) -> str:
    """What a time left from a run's own epochs rests on: "from the first epoch of this run", ..."""
    if done <= 1:
        return "from the first epoch of this run"
    used = min(done, RECENT_EPOCHS)
    return f"from the latest {used} epochs of this run (epoch {done} done)"


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
