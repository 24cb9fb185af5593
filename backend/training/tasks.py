"""The training job: its typed params, how to start it (`start_training`, or `resume_training` for a stopped run),
what its worker runs (train, evaluate, record the run, register the candidate) and how a crash of it is settled.
"""

from __future__ import annotations

import csv
import json
import re
import zipfile
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from backend.core.access import Actor, Permission
from backend.core.clock import utcnow
from backend.core.enums import RESUMABLE_RUN_STATUSES, JobKind, RunStatus, ValidationStatus
from backend.core.errors import BadInputError, PlateOpsError
from backend.core.hashing import file_sha256
from backend.core.params import TrainConfig, get_params, merge_overrides
from backend.core.progress import sub_progress
from backend.runtime import runner
from backend.runtime.kinds import JobCancelled, JobContext, JobParams, register_task
from backend.store import datasets as dataset_store
from backend.store import registered_models as model_store
from backend.store import runs as run_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion, Job, Run
from backend.store.runs import RunUpdate
from backend.training.pretrained import find_pretrained
from backend.training.service import console_model, trained_all_epochs


class TrainParams(JobParams):
    """A `train` job.

    Attributes:
        version_id: The dataset version it trains on.
        config: The run's settings, validated where they were put together (the Train page, `build_config`) and
            not again.
        run_name: The run's name (also its folder's).
        preset: The preset the settings started from; None for custom settings.
        resume_run_id: The stopped run this job continues from its last.pt; None for a new run.
        pretrained_model_id: The uploaded base model `config.model` is (recorded with the run); None otherwise.
    """

    version_id: int
    config: TrainConfig
    run_name: str
    preset: str | None = None
    resume_run_id: int | None = None
    pretrained_model_id: int | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


def start_training(
    version_id: int,
    config: TrainConfig,
    *,
    actor: Actor,
    preset: str | None = None,
    name: str = "",
    allow_errors: bool = False,
) -> int:
    """Queue a training job on a dataset version; returns the job id at once.

    Args:
        version_id: The dataset version to train on.
        config: The run's settings, validated where they were put together (`build_config` on the Train page):
            the job carries them as they are, without validating them again.
        actor: Who asks (needs the train permission).
        preset: The preset `config` started from (recorded with the run and in its default name); None: custom.
        name: The run's name; default "<dataset>-<version>-<preset>-<time>".
        allow_errors: Train even when the version has error-level data issues.

    Raises:
        AccessDeniedError: The actor may not train.
        BadInputError: `config.model` is neither a bundled architecture nor an unchanged registered model, or the
            version has error-level issues and `allow_errors` is off.
    """
    authorize(actor, Permission.TRAIN, f"train on dataset version {version_id}")
    base = find_pretrained(config.model)
    config = config.model_copy(update={"model": console_model(config.model)})
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
        dataset = dataset_store.get_dataset(session=session, dataset_id=version.dataset_id)
    if version.validation_status == ValidationStatus.ERRORS and not allow_errors:
        errors = version.validation_summary.get("issues_by_severity", {}).get("error", "some")
        raise BadInputError(
            f"{dataset.name} {version.label} has {errors} error-level data issue(s). Fix them on the Datasets page, "
            "or confirm that you want to train anyway."
        )
    run_name = _slug(name.strip() or f"{dataset.name}-{version.label}-{preset or 'custom'}-{utcnow():%m%d-%H%M%S}")
    params = TrainParams(
        version_id=version_id,
        config=config,
        run_name=run_name,
        preset=preset,
        pretrained_model_id=base.id if base is not None else None,
    )
    start = f"from base model {base.name}" if base is not None else config.model
    return runner.submit(JobKind.TRAIN, params, title=f"Train {run_name} ({start}, {config.epochs} epochs)")


def resume_training(run_id: int, *, actor: Actor) -> int:
    """Queue a job that continues a cancelled or failed run from its last.pt; returns the job id.

    Raises:
        AccessDeniedError: The actor may not train.
        BadInputError: The run is not resumable (not stopped, no last.pt, every epoch done, its data is gone).
    """
    authorize(actor, Permission.TRAIN, f"resume run {run_id}")
    with session_scope() as session:
        run = run_store.get_run(session=session, run_id=run_id)
    last = Path(run.run_dir) / "weights" / "last.pt"
    if run.status not in RESUMABLE_RUN_STATUSES:
        raise BadInputError(f"Run {run.name} is {run.status}; only a failed or cancelled run can be resumed.")
    if not last.is_file():
        raise BadInputError(f"Run {run.name} has no last.pt (it stopped before its first epoch ended). Start anew.")
    if trained_all_epochs(run):
        raise BadInputError(f"Run {run.name} finished all its epochs before it stopped; start a new run instead.")
    if run.dataset_version_id is None:
        raise BadInputError(f"The dataset version run {run.name} trained on is gone; start a new run instead.")
    cfg = merge_overrides(TrainConfig(), {**run.params, "resume": True})  # the run's own settings
    params = TrainParams(
        version_id=run.dataset_version_id, config=cfg, run_name=run.name, preset=run.preset, resume_run_id=run.id
    )
    return runner.submit(JobKind.TRAIN, params, title=f"Resume {run.name}")


def planned_epochs(job: Job) -> int | None:
    """How many epochs a training job was asked to train (None when its parameters do not say)."""
    try:
        return TrainParams.model_validate(job.params).config.epochs
    except ValidationError:
        return None


def recover_training(job: Job, params: TrainParams) -> None:
    """After a killed training worker: its run, left `running`, ends as the job ended (failed or cancelled).

    The reason is the job's error (the run's job). The run keeps its per-epoch history and its `last.pt`, so the
    Train page offers Resume. A run that already ended, or one handed to a ClearML queue, is left as it is.
    """
    del params  # the run is found by its job
    with session_scope() as session:
        run = run_store.find_run_by_job(session=session, job_id=job.id)
        if run is None or run.status != RunStatus.RUNNING:
            return
        status = RunStatus.CANCELLED if job.status == RunStatus.CANCELLED else RunStatus.FAILED
        changes = RunUpdate(status=status, finished_at=job.finished_at or utcnow())
        run_store.update_run(session=session, run_id=run.id, changes=changes)
    last = Path(run.run_dir) / "weights" / "last.pt" if run.run_dir else None
    if last is not None and last.is_file() and not _complete_checkpoint(last):
        last.unlink()  # killed while writing it: a resume would crash on it, so the page offers none


def _keep_earlier_epochs(metrics_path: Path, history: list[dict[str, Any]], planned: int) -> None:
    """Before a resume, make metrics.json hold every epoch trained so far, so the resumed run's history starts at 1.

    A killed worker never wrote metrics.json (it is written when training ends). The run row kept each epoch it
    saw; ultralytics' results.csv also holds an epoch checkpointed just before the kill, before its scores reached
    the store. `history` is completed in place from there.
    """
    seen = {int(h["epoch"]) for h in history}
    from_csv = {row["epoch"]: row for row in _results_csv_epochs(metrics_path.parent / "results.csv", planned)}
    history.extend(row for epoch, row in from_csv.items() if epoch not in seen)
    history.sort(key=lambda h: int(h["epoch"]))
    try:
        written = json.loads(metrics_path.read_text(encoding="utf-8")).get("history", [])
    except (OSError, ValueError, AttributeError):
        written = []
    if len(written) < len(history):
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text(json.dumps({"history": history}, default=str), encoding="utf-8")


def _results_csv_epochs(path: Path, planned: int) -> list[dict[str, Any]]:
    """Epoch rows (as the trainer records them) from ultralytics' results.csv; empty when it is missing or odd."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, skipinitialspace=True))
    except (OSError, csv.Error):
        return []

    def number(row: dict[str, str], key: str) -> float | None:
        try:
            return float(row[key])
        except (KeyError, TypeError, ValueError):
            return None

    epochs = []
    for row in rows:
        epoch = number(row, "epoch")
        if epoch is None:
            continue
        epochs.append(
            {
                "epoch": int(epoch),
                "epochs": planned,
                "box_loss": number(row, "train/box_loss"),
                "cls_loss": number(row, "train/cls_loss"),
                "dfl_loss": number(row, "train/dfl_loss"),
                "precision": number(row, "metrics/precision(B)"),
                "recall": number(row, "metrics/recall(B)"),
                "map50": number(row, "metrics/mAP50(B)"),
                "map50_95": number(row, "metrics/mAP50-95(B)"),
                "lr": number(row, "lr/pg0"),
                "seconds": None,
            }
        )
    return epochs


def _complete_checkpoint(path: Path) -> bool:
    """True when a checkpoint file is whole (torch saves a zip: a kill mid-write leaves it without its index)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False


def _history_dicts(history: list[Any]) -> list[dict[str, Any]]:
    return [asdict(h) if not isinstance(h, dict) else h for h in history]


@register_task(JobKind.TRAIN, params=TrainParams, recover=recover_training)
def train_task(ctx: JobContext[TrainParams]) -> dict[str, Any]:
    """Job body: train, evaluate on the val split, calibrate its confidence there (`weights/calibration.json`),
    record the run and register the model as a candidate."""
    from backend.training.evaluation import evaluate
    from backend.training.held_out import calibrate_weights
    from backend.training.trainer import TrainingCancelledError, train

    p = ctx.params
    settings = ctx.settings
    cfg = p.config
    with session_scope() as session:
        version: DatasetVersion = dataset_store.get_version(session=session, version_id=p.version_id)
        if p.resume_run_id is not None:
            run = run_store.update_run(
                session=session, run_id=p.resume_run_id, changes=RunUpdate(status=RunStatus.RUNNING, job_id=ctx.job_id)
            )
        else:
            run = run_store.create_run(
                session=session,
                name=p.run_name,
                job_id=ctx.job_id,
                dataset_version_id=version.id,
                model=cfg.model,
                preset=p.preset or "custom",
                params=cfg.model_dump(exclude={"resume"}),
                pretrained_model_id=p.pretrained_model_id,
            )
            run_dir = settings.runs_dir / f"run-{run.id}-{p.run_name}"
            run = run_store.update_run(
                session=session, run_id=run.id, changes=RunUpdate(run_dir=str(run_dir.resolve()))
            )
    history: list[dict[str, Any]] = list(run.history if p.resume_run_id is not None else [])
    if p.resume_run_id is not None:
        _keep_earlier_epochs(Path(run.run_dir) / "metrics.json", history, cfg.epochs)
    if settings.executor == "clearml-queue":
        try:
            return _enqueue_remote(ctx, version, run)
        except PlateOpsError:
            with session_scope() as session:
                changes = RunUpdate(status=RunStatus.FAILED, finished_at=utcnow())
                run_store.update_run(session=session, run_id=run.id, changes=changes)
            raise

    def on_epoch(metrics: Any) -> None:
        row = asdict(metrics)
        history[:] = [h for h in history if h["epoch"] < row["epoch"]] + [row]
        left = row.get("remaining_s")  # from this run's own epochs: the Train page counts down to it
        finish_at = (utcnow() + timedelta(seconds=left)).isoformat() if left is not None else None
        margin = row.get("remaining_margin_s")
        ctx.publish({"run_id": run.id, "epochs": history, "finish_at": finish_at, "finish_margin_s": margin})
        with session_scope() as session:
            run_store.update_run(session=session, run_id=run.id, changes=RunUpdate(history=list(history)))

    ctx.publish({"run_id": run.id, "epochs": history})
    status = RunStatus.FAILED
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
        params = get_params()
        evaluation = evaluate(
            result.best,
            Path(version.path) / "data.yaml",
            imgsz=cfg.imgsz,
            device=cfg.device,
            conf=params.evaluate.conf,
            iou=params.evaluate.iou,
            progress=sub_progress(ctx.progress, 0.9, 0.97, "Evaluating: "),
        ).to_dict()
        ctx.progress(0.97, "Calibrating the confidence on the validation images")
        calibration = calibrate_weights(
            result.best,
            Path(version.path) / "data.yaml",
            imgsz=cfg.imgsz,
            device=cfg.device,
            progress=sub_progress(ctx.progress, 0.97, 1.0, "Calibrating: "),
        )
        evaluation["calibration"] = {
            "ece_before": round(calibration.ece_before, 5),
            "ece_after": round(calibration.ece_after, 5),
            "detections": calibration.detections,
        }
        status = RunStatus.SUCCEEDED
    except JobCancelled:
        status = RunStatus.CANCELLED
        raise
    except TrainingCancelledError as exc:  # training stops at a clean point on SIGTERM; last.pt is kept
        status = RunStatus.CANCELLED
        raise JobCancelled(str(exc)) from exc
    except PlateOpsError:
        status = RunStatus.FAILED
        raise
    finally:
        if status != RunStatus.SUCCEEDED:
            with session_scope() as session:
                changes = RunUpdate(status=status, finished_at=utcnow())
                run_store.update_run(session=session, run_id=run.id, changes=changes)
    final = {
        **result.final,
        "epochs_completed": result.epochs_completed,
        "device": result.device,
        "train_images": version.stats.get("train"),
        "val_images": version.stats.get("val"),
    }
    with session_scope() as session:
        previous = run.duration_s if p.resume_run_id is not None and run.duration_s else 0.0
        finished = RunUpdate(
            status=RunStatus.SUCCEEDED,
            weights_path=str(result.best),
            metrics=final,
            evaluation=evaluation,
            history=_history_dicts(result.history),
            tracking=result.tracking.to_dict(),
            finished_at=utcnow(),
            duration_s=previous + result.seconds,
        )
        run_store.update_run(session=session, run_id=run.id, changes=finished)
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
        "familiarity": _familiarity_figures(result.familiarity),
    }


def _familiarity_figures(figures: dict[str, Any]) -> dict[str, Any]:
    """What the job result says about the familiarity reference fitted beside best.pt (or why there is none)."""
    keys = ("threshold", "val_false_refusals", "train_images", "val_images", "signals", "error")
    return {key: figures[key] for key in keys if key in figures}


def _enqueue_remote(ctx: JobContext[TrainParams], version: DatasetVersion, run: Run) -> dict[str, Any]:
    """The `clearml-queue` executor: hand the run to a ClearML queue served by `clearml-agent` on GPU hosts.

    `jobs/train.py` runs there unchanged; the run row keeps the task id and its web link.
    """
    from backend.training.tracking import enqueue_training

    ctx.progress(0.5, f"Sending {run.name} to the ClearML queue '{ctx.settings.clearml_queue}'")
    task_id = enqueue_training(
        ctx.params.config,
        data_yaml=Path(version.path) / "data.yaml",
        run_name=run.name,
        queue=ctx.settings.clearml_queue,
        tags=[f"dataset:{version.id}", f"preset:{run.preset}"],
        dataset_version=str(version.id),
        settings=ctx.settings,
    )
    with session_scope() as session:
        queued = RunUpdate(
            status=RunStatus.QUEUED_REMOTE,
            tracking={"mode": "online", "task_id": task_id, "queue": ctx.settings.clearml_queue},
        )
        run_store.update_run(session=session, run_id=run.id, changes=queued)
    return {"run_id": run.id, "clearml_task_id": task_id, "queue": ctx.settings.clearml_queue}
