"""Training runs as the console sees them: launch, estimate, resume, and the job body that trains, evaluates,
records the run and registers the model as a candidate.

The job body runs inside a worker process (`jobs.worker`), never in the console.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.core.clock import utcnow
from backend.core.errors import BadInputError, PlateOpsError
from backend.core.hashing import file_sha256
from backend.core.params import Params, TrainConfig, load_params
from backend.core.progress import sub_progress
from backend.core.settings import get_settings
from backend.runtime import runner
from backend.store import datasets as dataset_store
from backend.store import registry as model_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion, Run

if TYPE_CHECKING:
    from backend.training.tracking import OfflineSession

log = logging.getLogger(__name__)
TRAIN_KIND = "train"
# Used when no run finished yet: seconds per image-epoch at 320 px on one CPU core (measured on the demo set).
_DEFAULT_S_PER_IMAGE_EPOCH_320 = 0.19


def load_project_params() -> Params:
    """The project's params.yaml (its path from the settings)."""
    return load_params(get_settings().params_file)


def build_config(preset: str | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """params.yaml's train section, then the preset, then the user's overrides."""
    return load_project_params().train_config(preset or None, overrides or {})


def estimate_seconds(cfg: TrainConfig, images: int, *, on_gpu: bool = False) -> float | None:
    """Estimated training time from past runs in the store (scaled by images, epochs and pixels), else a default.

    Returns None for GPU runs without history (no honest default exists across GPUs).
    """
    with session_scope() as session:
        runs = [r for r in run_store.list_runs(session=session, limit=50, status="succeeded") if r.duration_s]
    rates = []
    for run in runs:
        p = run.params
        n = (run.metrics.get("train_images") or 0) * (run.metrics.get("epochs_completed") or p.get("epochs") or 0)
        if n and p.get("imgsz") and ("cuda" in str(run.metrics.get("device", ""))) == on_gpu:
            rates.append(run.duration_s / (n * (p["imgsz"] / 320) ** 2))
    if rates:
        rate = sorted(rates)[len(rates) // 2]
    elif on_gpu:
        return None
    else:
        import os

        rate = _DEFAULT_S_PER_IMAGE_EPOCH_320 * 2 / max(1, os.cpu_count() or 1)
    train_images = images * (1 - 0.2) * cfg.fraction
    return rate * train_images * cfg.epochs * (cfg.imgsz / 320) ** 2


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


def start_training(
    version_id: int,
    *,
    preset: str | None = "quick_cpu",
    overrides: dict[str, Any] | None = None,
    name: str = "",
    allow_errors: bool = False,
) -> int:
    """Queue a training job on a dataset version; returns the job id at once.

    Raises:
        BadInputError: The settings are invalid, or the version has error-level issues and `allow_errors` is off.
    """
    cfg = build_config(preset, overrides)  # validate now, so a typo fails here and not in the worker
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
        dataset = dataset_store.get_dataset(session=session, dataset_id=version.dataset_id)
    if version.validation_status == "errors" and not allow_errors:
        errors = version.validation_summary.get("by_severity", {}).get("error", "some")
        raise BadInputError(
            f"{dataset.name} {version.label} has {errors} error-level data issue(s). Fix them on the Datasets page, "
            "or confirm that you want to train anyway."
        )
    run_name = name.strip() or f"{dataset.name}-{version.label}-{preset or 'custom'}-{utcnow():%m%d-%H%M%S}"
    params = {
        "version_id": version_id,
        "preset": preset,
        "config": cfg.model_dump(),
        "run_name": _slug(run_name),
    }
    return runner.submit(TRAIN_KIND, params, title=f"Train {_slug(run_name)} ({cfg.model}, {cfg.epochs} epochs)")


def resume_training(run_id: int) -> int:
    """Queue a job that continues a cancelled or failed run from its last.pt; returns the job id."""
    with session_scope() as session:
        run = run_store.get_run(session=session, run_id=run_id)
    last = Path(run.run_dir) / "weights" / "last.pt"
    if run.status not in ("failed", "cancelled"):
        raise BadInputError(f"Run {run.name} is {run.status}; only a failed or cancelled run can be resumed.")
    if not last.is_file():
        raise BadInputError(f"Run {run.name} has no last.pt (it stopped before its first epoch ended). Start anew.")
    params = {
        "version_id": run.dataset_version_id,
        "preset": run.preset,
        "config": {**run.params, "resume": True},
        "run_name": run.name,
        "resume_run_id": run.id,
    }
    return runner.submit(TRAIN_KIND, params, title=f"Resume {run.name}")


def _history_dicts(history: list[Any]) -> list[dict[str, Any]]:
    return [asdict(h) if not isinstance(h, dict) else h for h in history]


@runner.register_task(TRAIN_KIND)
def train_task(ctx: runner.JobContext) -> dict[str, Any]:
    """Job body: train, evaluate on the val split, record the run and register the model as a candidate."""
    from backend.training.evaluation import evaluate
    from backend.training.trainer import TrainingCancelledError, train

    p = ctx.params
    settings = ctx.settings
    cfg = TrainConfig.model_validate(p["config"])
    with session_scope() as session:
        version: DatasetVersion = dataset_store.get_version(session=session, version_id=int(p["version_id"]))
        if p.get("resume_run_id"):
            run = run_store.update_run(
                session=session, run_id=int(p["resume_run_id"]), status="running", job_id=ctx.job_id
            )
        else:
            run = run_store.create_run(
                session=session,
                name=p["run_name"],
                job_id=ctx.job_id,
                dataset_version_id=version.id,
                model=cfg.model,
                preset=p.get("preset") or "custom",
                params=cfg.model_dump(exclude={"resume"}),
            )
            run_dir = settings.runs_dir / f"run-{run.id}-{p['run_name']}"
            run = run_store.update_run(session=session, run_id=run.id, run_dir=str(run_dir.resolve()))
    history: list[dict[str, Any]] = list(run.history if p.get("resume_run_id") else [])
    if settings.executor == "clearml-queue":
        try:
            return _enqueue_remote(ctx, cfg, version, run)
        except PlateOpsError:
            with session_scope() as session:
                run_store.update_run(session=session, run_id=run.id, status="failed", finished_at=utcnow())
            raise

    def on_epoch(metrics: Any) -> None:
        row = asdict(metrics)
        history[:] = [h for h in history if h["epoch"] < row["epoch"]] + [row]
        ctx.publish({"run_id": run.id, "epochs": history})
        with session_scope() as session:
            run_store.update_run(session=session, run_id=run.id, history=list(history))

    ctx.publish({"run_id": run.id, "epochs": history})
    status = "failed"
    try:
        result = train(
            cfg,
            data_yaml=Path(version.path) / "data.yaml",
            out_dir=Path(run.run_dir),
            run_name=run.name,
            tags=[f"dataset:{version.id}", f"preset:{run.preset}"],
            dataset_version=str(version.id),
            progress=sub_progress(ctx.progress, 0.0, 0.9),
            on_epoch=on_epoch,
            settings=settings,
        )
        ctx.progress(0.9, "Evaluating the best model on the validation images")
        params = load_project_params()
        evaluation = evaluate(
            result.best,
            Path(version.path) / "data.yaml",
            imgsz=cfg.imgsz,
            device=cfg.device,
            conf=params.evaluate.conf,
            iou=params.evaluate.iou,
            progress=sub_progress(ctx.progress, 0.9, 1.0, "Evaluating: "),
        ).to_dict()
        status = "succeeded"
    except runner.JobCancelled:
        status = "cancelled"
        raise
    except TrainingCancelledError as exc:  # training stops at a clean point on SIGTERM; last.pt is kept
        status = "cancelled"
        raise runner.JobCancelled(str(exc)) from exc
    except PlateOpsError:
        status = "failed"
        raise
    finally:
        if status != "succeeded":
            with session_scope() as session:
                run_store.update_run(session=session, run_id=run.id, status=status, finished_at=utcnow())
    final = {
        **result.final,
        "epochs_completed": result.epochs_completed,
        "device": result.device,
        "train_images": version.stats.get("train"),
    }
    with session_scope() as session:
        previous = run.duration_s if p.get("resume_run_id") and run.duration_s else 0.0
        run_store.update_run(
            session=session,
            run_id=run.id,
            status="succeeded",
            weights_path=str(result.best),
            metrics=final,
            evaluation=evaluation,
            history=_history_dicts(result.history),
            tracking=result.tracking.to_dict(),
            finished_at=utcnow(),
            duration_s=previous + result.seconds,
        )
        model = model_store.register_model(
            session=session,
            name=run.name,
            weights_path=str(result.best),
            run_id=run.id,
            metrics={k: evaluation.get(k) for k in ("map50", "map50_95", "precision", "recall", "latency_ms")},
            weights_sha256=file_sha256(Path(result.best)),  # the registry refuses the file if it changes later
            class_thresholds=evaluation.get("class_thresholds") or {},
        )
    return {
        "run_id": run.id,
        "model_id": model.id,
        "map50": evaluation.get("map50"),
        "summary": result.summary_line(),
        "tracking": result.tracking.to_dict(),
    }


def _enqueue_remote(ctx: runner.JobContext, cfg: TrainConfig, version: DatasetVersion, run: Run) -> dict[str, Any]:
    """The `clearml-queue` executor: hand the run to a ClearML queue served by `clearml-agent` on GPU hosts.

    `jobs/train.py` runs there unchanged; the run row keeps the task id and its web link.
    """
    from backend.training.tracking import enqueue_training

    ctx.progress(0.5, f"Sending {run.name} to the ClearML queue '{ctx.settings.clearml_queue}'")
    task_id = enqueue_training(
        cfg,
        data_yaml=Path(version.path) / "data.yaml",
        run_name=run.name,
        queue=ctx.settings.clearml_queue,
        tags=[f"dataset:{version.id}", f"preset:{run.preset}"],
        dataset_version=str(version.id),
        settings=ctx.settings,
    )
    with session_scope() as session:
        run_store.update_run(
            session=session,
            run_id=run.id,
            status="queued-remote",
            tracking={"mode": "online", "task_id": task_id, "queue": ctx.settings.clearml_queue},
        )
    return {"run_id": run.id, "clearml_task_id": task_id, "queue": ctx.settings.clearml_queue}


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
    """True when a failed or cancelled run has a last.pt to continue from."""
    return (
        run.status in ("failed", "cancelled")
        and bool(run.run_dir)
        and (Path(run.run_dir) / "weights" / "last.pt").is_file()
    )


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
