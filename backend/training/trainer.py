"""Train a YOLO detector with ultralytics in this process (the job worker is already a subprocess).

`train(cfg, data_yaml=..., out_dir=RUN, run_name=...)` writes `RUN/weights/best.pt`, `RUN/weights/last.pt` and
`RUN/metrics.json`, reports progress per batch and per epoch, and logs the run to ClearML (offline by default,
see `backend.training.tracking`).

Nothing downloads: models are built from an architecture `.yaml` (or a local `.pt`); the font ultralytics
wants for its plots is a copy of matplotlib's DejaVuSans; the AMP check that would download yolo26n.pt is
replaced by ultralytics' GPU blocklist when those weights are not on disk; ultralytics' run-time pip installs are
turned off; its own logger integrations (ClearML, Comet, DVC, MLflow, platform, analytics) are removed from the
trainer so that only PlateOps' tracking runs (see `backend.training.environment`).

Cancelling: while `train` runs in the main thread, the first SIGTERM (or SIGINT) sets a stop flag and training
raises `TrainingCancelledError` at the next batch boundary, so `last.pt` (written after each completed epoch) is
never cut in half; a second signal more than 2 s later stops at once. The previous signal handlers (ClearML installs
its own while a task is open) are restored when `train` returns (see `backend.training.run_watch`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from backend.core.errors import BadInputError, PlateOpsError
from backend.core.params import TrainConfig
from backend.core.progress import ProgressFn, null_progress
from backend.core.settings import Settings, get_settings
from backend.data.quality.reader import refuse_alias_bomb
from backend.training.environment import init_ultralytics, resolve_device, trainer_class
from backend.training.errors import (
    AlreadyFinishedError,
    BadDataError,
    MissingWeightsError,
    NothingToResumeError,
    OutOfMemoryError,
    TrainingCancelledError,
    TrainingError,
)
from backend.training.metrics import PR_POINTS, EpochMetrics, summarize_det_metrics
from backend.training.pretrained import read_detection_checkpoint
from backend.training.reference import fit_weights_reference
from backend.training.run_watch import RunWatch, stop_on_signals
from backend.training.tracking import ClearMLRun, TrackingInfo
from backend.training.yolo import ultralytics_yolo

# Errors, epoch records and the metrics summary live in errors.py / metrics.py; named here too for callers of `train`.
__all__ = [
    "PR_POINTS",
    "AlreadyFinishedError",
    "BadDataError",
    "EpochMetrics",
    "MissingWeightsError",
    "NothingToResumeError",
    "OutOfMemoryError",
    "TrainResult",
    "TrainingCancelledError",
    "TrainingError",
    "check_data_yaml",
    "init_ultralytics",
    "resolve_device",
    "resolve_model",
    "summarize_det_metrics",
    "train",
]

_HEADLINE = ("map50", "map50_95", "precision", "recall")
logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run produced."""

    run_dir: Path
    best: Path
    last: Path
    metrics_path: Path
    model: str
    epochs: int
    epochs_completed: int
    final: dict[str, Any]
    history: list[EpochMetrics]
    seconds: float
    device: str
    resumed: bool
    tracking: TrackingInfo
    dataset_version: str | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    familiarity: dict[str, Any] = field(default_factory=dict)

    @property
    def map50(self) -> float | None:
        """Final mAP50 (of best.pt on the val split)."""
        return self.final.get("map50")

    def summary_line(self) -> str:
        """e.g. "Trained yolov8n.yaml for 2 epochs in 41 s: mAP50 0.12 → RUN/weights/best.pt"."""
        verb = "Resumed" if self.resumed else "Trained"
        score = f"mAP50 {self.map50:.2f}" if self.map50 is not None else "no mAP50"
        weights = self.best if self.best.is_file() else self.last
        return (
            f"{verb} {self.model} for {self.epochs_completed} epoch{'s' * (self.epochs_completed != 1)} "
            f"in {self.seconds:.0f} s: {score} → {weights}"
        )


def check_data_yaml(path: Path) -> dict[str, Any]:
    """Check that a data.yaml is readable and names its classes and splits; return its content.

    Raises:
        BadDataError: Missing file, invalid YAML, missing keys, or split folders that do not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise BadDataError(f"Dataset file {path} does not exist. Run `python -m jobs.prepare` to create it.")
    try:
        text = path.read_text(encoding="utf-8")
        refuse_alias_bomb(text, path.name)  # ultralytics would expand it while naming the classes
        data = yaml.safe_load(text)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadDataError(f"Dataset file {path} is not valid YAML: {exc}") from exc
    except BadInputError as exc:
        raise BadDataError(f"Dataset file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise BadDataError(f"Dataset file {path} must be a YAML mapping with train, val and names.")
    missing = [key for key in ("train", "val", "names") if not data.get(key)]
    if missing:
        raise BadDataError(f"Dataset file {path} lacks {', '.join(missing)}.")
    base = Path(str(data.get("path") or path.parent))
    if not base.is_absolute() and data.get("path"):
        base = path.parent / base
    for split in ("train", "val"):
        entries = data[split] if isinstance(data[split], list) else [data[split]]
        for entry in entries:
            target = Path(str(entry))
            target = target if target.is_absolute() else base / target
            if base.exists() and not target.exists():
                raise BadDataError(f"The {split} images listed in {path} are missing: {target} does not exist.")
    return data


def resolve_model(model: str) -> str:
    """Check that `model` can be built or loaded without a download.

    Args:
        model: An architecture .yaml (bundled with ultralytics or a local file), a local .pt, or a weights name.

    Returns:
        What to pass to `YOLO(...)`.

    Raises:
        MissingWeightsError: A weights name that is not on disk while offline.
        BadInputError: An unknown architecture or file type.
    """
    text = str(model).strip()
    path = Path(text).expanduser()
    suffix = path.suffix.lower()
    if suffix in {".yaml", ".yml"}:
        if path.is_file():
            return str(path)
        from ultralytics.nn.tasks import yaml_model_load

        try:
            yaml_model_load(text)  # resolves scaled names: yolov8n.yaml -> cfg/models/v8/yolov8.yaml, scale n
            return text
        except FileNotFoundError as exc:
            raise BadInputError(
                f"Unknown model architecture '{text}'. Use one bundled with ultralytics such as yolov8n.yaml or "
                "yolo11n.yaml, or the path of a model .yaml file."
            ) from exc
    if suffix == ".pt":
        if path.is_file():
            return str(path)
        from ultralytics.utils import SETTINGS, is_online

        if (Path(SETTINGS["weights_dir"]) / path.name).is_file():
            return str(Path(SETTINGS["weights_dir"]) / path.name)
        if path.parent == Path(".") and is_online():
            return text  # ultralytics downloads the named weights
        raise MissingWeightsError(
            f"Weights '{text}' are not on this machine and it is offline, so they cannot be downloaded. "
            f"Train from scratch with an architecture such as {path.stem}.yaml, or give the path of a local .pt file."
        )
    raise BadInputError(f"Model '{text}' must be an architecture .yaml or a weights .pt file.")


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """The metadata of an ultralytics checkpoint (epoch, optimizer present, train args)."""
    import pickle

    from ultralytics.nn.tasks import torch_safe_load

    try:  # restricted (weights_only) loading: a checkpoint is data, never code
        ckpt, _ = torch_safe_load(str(path), safe_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, TypeError, pickle.UnpicklingError) as exc:
        raise BadInputError(f"Checkpoint {path} cannot be read ({exc}); start a new run.") from exc
    if not isinstance(ckpt, dict):
        raise BadInputError(f"Checkpoint {path} is not an ultralytics training checkpoint.")
    args = ckpt.get("train_args") or {}
    return {"epoch": ckpt.get("epoch", -1), "resumable": ckpt.get("optimizer") is not None, "train_args": args}


def _previous_history(metrics_path: Path, upto_epoch: int) -> list[EpochMetrics]:
    """Epoch records 1..upto_epoch from an earlier metrics.json of the same run (for resumed runs)."""
    try:
        data = json.loads(metrics_path.read_text(encoding="utf-8"))
        return [EpochMetrics(**row) for row in data.get("history", []) if row.get("epoch", 0) <= upto_epoch]
    except (OSError, ValueError, TypeError):
        return []


def _translate_error(exc: BaseException, cfg: TrainConfig, device: str) -> BaseException | None:
    """A plain-language PlateOpsError for a known ultralytics/torch failure, or None."""
    text = str(exc)
    lowered = text.lower()
    if "out of memory" in lowered or type(exc).__name__ == "OutOfMemoryError":
        where = "GPU" if device not in {"cpu", "mps"} else "computer"
        smaller = max(cfg.batch // 2, 1)
        return OutOfMemoryError(
            f"The {where} ran out of memory at batch size {cfg.batch} and image size {cfg.imgsz}. "
            f"Lower the batch size (e.g. --batch {smaller}) or the image size, then start again "
            "(or resume: last.pt keeps the completed epochs)."
        )
    if isinstance(exc, RuntimeError) and "dataset" in lowered and "error" in lowered:
        return BadDataError(f"The dataset cannot be used for training: {text}")
    if isinstance(exc, FileNotFoundError):
        return BadDataError(f"A file training needs is missing: {text}")
    if isinstance(exc, AssertionError) and "nothing to resume" in lowered:
        return AlreadyFinishedError(f"This run already finished all its epochs; start a new run instead. ({text})")
    if isinstance(exc, SyntaxError):
        return TrainingError(f"Ultralytics rejected a training setting: {text}")
    return None


def _write_metrics(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


@dataclass
class _Run:
    """One run's inputs and what it learns as it goes: the source of metrics.json and of the result."""

    cfg: TrainConfig
    data_yaml: Path
    out_dir: Path
    run_name: str
    tags: list[str]
    dataset_version: str | None
    device: str
    resume_from: int = 0
    history: list[EpochMetrics] = field(default_factory=list)
    status: str = "failed"
    error: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    trainer: Any = None

    @property
    def weights_dir(self) -> Path:
        """RUN/weights."""
        return self.out_dir / "weights"

    @property
    def metrics_path(self) -> Path:
        """RUN/metrics.json."""
        return self.out_dir / "metrics.json"

    @property
    def epochs(self) -> int:
        """The epochs the run trains to (the trainer's, once it ran)."""
        return int(self.trainer.epochs) if self.trainer is not None else self.cfg.epochs

    @property
    def epochs_completed(self) -> int:
        """The last completed epoch (1-based; 0 before the first)."""
        return self.history[-1].epoch if self.history else 0

    def resume_point(self) -> str:
        """Check that the run can be resumed, load the earlier epochs' history; return the checkpoint to resume."""
        last = self.weights_dir / "last.pt"
        if not last.is_file():
            raise NothingToResumeError(f"Nothing to resume: {last} does not exist. Start a new run instead.")
        info = _read_checkpoint(last)
        if info["epoch"] < 0 or not info["resumable"]:
            raise AlreadyFinishedError(
                f"The run in {self.out_dir} already finished training (its last.pt is a final model), so there is "
                "nothing to resume. Start a new run to train more."
            )
        self.resume_from = int(info["epoch"]) + 1
        self.history = _previous_history(self.metrics_path, self.resume_from)
        return str(last)

    def train_kwargs(self) -> dict[str, Any]:
        """The arguments of ultralytics' `model.train` (a resume takes its settings from the checkpoint)."""
        cfg = self.cfg
        if cfg.resume:
            kwargs: dict[str, Any] = {"resume": True, "data": str(self.data_yaml), "device": self.device}
            kwargs.update(save_dir=str(self.out_dir), workers=cfg.workers, plots=cfg.plots)
            return kwargs
        return {
            **cfg.ultralytics_args(),
            "data": str(self.data_yaml),
            "device": self.device,
            "save_dir": str(self.out_dir),
            "exist_ok": True,
            "val": True,
            "save": True,
            "verbose": False,
        }

    def final(self) -> dict[str, Any]:
        """The headline metrics: of best.pt's final validation, else of the last completed epoch."""
        final: dict[str, Any] = {k: self.summary[k] for k in _HEADLINE if k in self.summary}
        if not final and self.history:
            h = self.history[-1]
            final = {"map50": h.map50, "map50_95": h.map50_95, "precision": h.precision, "recall": h.recall}
        return final

    def metrics_payload(self, *, tracking: TrackingInfo, seconds: float, train_started: float | None) -> dict[str, Any]:
        """The content of metrics.json."""
        history = self.history
        best_epoch = max(history, key=lambda h: h.map50 or 0.0).epoch if history else None
        return {
            "status": self.status,
            "error": self.error,
            "run_name": self.run_name,
            "model": self.cfg.model,
            "data": str(self.data_yaml),
            "dataset_version": self.dataset_version,
            "tags": list(self.tags),
            "device": self.device,
            "epochs": self.epochs,
            "epochs_completed": self.epochs_completed,
            "resumed_from_epoch": self.resume_from if self.cfg.resume else None,
            "best_epoch": best_epoch,
            "final": self.final(),
            "per_class": self.summary.get("per_class", {}),
            "history": [asdict(h) for h in history],
            "config": self.cfg.model_dump(),
            "durations": {
                "total_s": seconds,
                "train_s": round(time.monotonic() - train_started, 2) if train_started else None,
                "epoch_s": [h.seconds for h in history],
            },
            "weights": {"best": str(self.weights_dir / "best.pt"), "last": str(self.weights_dir / "last.pt")},
            "tracking": tracking.to_dict(),
        }


def _fit(run: _Run, model: Any, watch: RunWatch, tracker: ClearMLRun) -> None:
    """Train `model` with the run's callbacks, then summarise and log best.pt's final validation."""
    for event, callback in watch.callbacks().items():
        model.add_callback(event, callback)
    try:
        model.train(trainer=trainer_class(), **run.train_kwargs())
    except (RuntimeError, FileNotFoundError, AssertionError, SyntaxError) as exc:
        translated = _translate_error(exc, run.cfg, run.device)
        if translated is None:
            raise
        raise translated from exc
    run.trainer = model.trainer
    run.status = "completed"
    validator = getattr(run.trainer, "validator", None)
    if validator is not None and getattr(validator, "metrics", None) is not None:
        run.summary = summarize_det_metrics(validator.metrics, run.trainer.data["names"])
    tracker.log_evaluation(run.summary, iteration=run.epochs_completed)
    tracker.log_values({k: run.summary.get(k) for k in _HEADLINE})
    tracker.log_model(run.weights_dir / "best.pt", name=f"{run.run_name} best.pt")


def _fit_familiarity(run: _Run, progress: ProgressFn) -> dict[str, Any]:
    """Fit the familiarity reference beside best.pt (`backend.training.reference`); its figures, or its error.

    A failure never fails the run: serving fits the reference on first use, or answers without the check.
    """
    best = run.weights_dir / "best.pt"
    if not best.is_file():
        return {}
    progress(1.0, "Fitting the familiarity reference (is a photo like the training photos?)")
    size = getattr(getattr(run.trainer, "args", None), "imgsz", None) or run.cfg.imgsz
    imgsz = int(max(size) if isinstance(size, (list, tuple)) else size)
    try:
        return fit_weights_reference(best, run.data_yaml, imgsz=imgsz, device=run.device)
    except (PlateOpsError, OSError, ValueError, RuntimeError) as exc:
        logger.warning("The familiarity reference of %s was not fitted: %s", best, exc)
        return {"error": str(exc)}


def train(
    cfg: TrainConfig,
    *,
    data_yaml: Path,
    out_dir: Path,
    run_name: str,
    tags: Sequence[str] = (),
    dataset_version: str | None = None,
    progress: ProgressFn = null_progress,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    settings: Settings | None = None,
) -> TrainResult:
    """Train (or resume) a YOLO detector and write weights and metrics into `out_dir`.

    Args:
        cfg: Training configuration (`cfg.resume=True` continues the run in `out_dir` from weights/last.pt).
        data_yaml: The dataset's data.yaml (from `jobs.prepare`).
        out_dir: Run folder; receives weights/best.pt, weights/last.pt, metrics.json and ultralytics' files.
        run_name: Human name of the run (ClearML task name).
        tags: Extra ClearML tags (e.g. "preset:quick_cpu").
        dataset_version: Dataset version id, recorded as a ClearML tag and parameter and in metrics.json.
        progress: Progress callback; called per batch (throttled) and per epoch.
        on_epoch: Called with each completed epoch's metrics.
        settings: The settings; None uses `get_settings()`.

    Returns:
        The run's result (paths, final metrics, per-epoch history, tracking info).

    Raises:
        BadDataError: The data.yaml or dataset is unusable.
        MissingWeightsError: Named weights are not on disk while offline.
        NothingToResumeError / AlreadyFinishedError: Resume without a resumable last.pt.
        OutOfMemoryError: The GPU ran out of memory.
        TrainingCancelledError: SIGTERM/SIGINT arrived; last.pt keeps the completed epochs.
    """
    settings = settings or get_settings()
    started = time.monotonic()
    data_yaml = Path(data_yaml).resolve()
    out_dir = Path(out_dir).resolve()
    check_data_yaml(data_yaml)
    device = resolve_device(cfg.device)
    init_ultralytics(settings)
    progress(0.0, "Preparing data and model")
    run = _Run(cfg, data_yaml, out_dir, run_name, list(tags), dataset_version, device)
    model_source = run.resume_point() if cfg.resume else resolve_model(cfg.model)
    if not cfg.resume and Path(model_source).suffix.lower() == ".pt" and Path(model_source).is_file():
        read_detection_checkpoint(Path(model_source))  # restricted loading: a crafted file is refused in plain words
    YOLO = ultralytics_yolo()  # noqa: N806 - the class, under ultralytics' own name

    stop = threading.Event()
    tracker = ClearMLRun(
        settings,
        name=run_name,
        tags=list(tags),
        hyperparams={**cfg.model_dump(), "data": str(data_yaml), "device": device, "run_dir": str(out_dir)},
        dataset_version=dataset_version,
    )
    watch = RunWatch(progress=progress, on_epoch=on_epoch, tracker=tracker, stop=stop, history=run.history)
    with stop_on_signals(stop):
        try:
            tracker.start()
            _fit(run, YOLO(model_source, task="detect"), watch, tracker)
        except TrainingCancelledError as exc:
            run.status, run.error = "cancelled", str(exc)
            raise
        except KeyboardInterrupt:
            run.status, run.error = "cancelled", "Interrupted."
            raise
        except BaseException as exc:
            run.error = str(exc)
            raise
        finally:
            tracking = tracker.close()
            seconds = round(time.monotonic() - started, 2)
            payload = run.metrics_payload(tracking=tracking, seconds=seconds, train_started=watch.train_started)
            _write_metrics(run.metrics_path, payload)
    familiarity = _fit_familiarity(run, progress)
    result = TrainResult(
        run_dir=out_dir,
        best=run.weights_dir / "best.pt",
        last=run.weights_dir / "last.pt",
        metrics_path=run.metrics_path,
        model=cfg.model,
        epochs=run.epochs,
        epochs_completed=run.epochs_completed,
        final=run.final(),
        history=list(run.history),
        seconds=seconds,
        device=device,
        resumed=cfg.resume,
        tracking=tracking,
        dataset_version=dataset_version,
        evaluation=run.summary,
        familiarity=familiarity,
    )
    progress(1.0, result.summary_line())
    return result
