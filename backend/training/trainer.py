"""Train a YOLO detector with ultralytics in this process (the job worker is already a subprocess).

`train(cfg, data_yaml=..., out_dir=RUN, run_name=...)` writes `RUN/weights/best.pt`, `RUN/weights/last.pt` and
`RUN/metrics.json`, reports progress per batch and per epoch, and logs the run to ClearML (offline by default,
see `backend.training.tracking`).

Nothing downloads: models are built from an architecture `.yaml` (or a local `.pt`); the font ultralytics
wants for its plots is a copy of matplotlib's DejaVuSans; the AMP check that would download yolo26n.pt is
replaced by ultralytics' GPU blocklist when those weights are not on disk; ultralytics' run-time pip installs are
turned off; its own logger integrations (ClearML, Comet, DVC, MLflow, platform, analytics) are removed from the
trainer so that only PlateOps' tracking runs.

Cancelling: while `train` runs in the main thread, the first SIGTERM (or SIGINT) sets a stop flag and training
raises `TrainingCancelledError` at the next batch boundary, so `last.pt` (written after each completed epoch) is
never cut in half; a second signal more than 2 s later stops at once. The previous signal handlers (ClearML installs
its own while a task is open) are restored when `train` returns.
"""

# Over the 600-line and 80-statement limits in pyproject.toml; splitting off the ultralytics environment section
# and part of `train` is follow-up work to the package split.
# pylint: disable=too-many-lines

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import yaml

from backend.core.enums import FailureCode
from backend.core.errors import BadInputError, DatasetError, PlateOpsError
from backend.core.params import TrainConfig
from backend.core.progress import ProgressFn, null_progress
from backend.core.settings import Settings, get_settings
from backend.training.tracking import ClearMLRun, TrackingInfo

_BATCH_PROGRESS_INTERVAL_S = 1.0
PR_POINTS = 101
_HARD_STOP_AFTER_S = 2.0
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
# ultralytics callback modules that log to outside services; PlateOps tracks runs itself.
_FOREIGN_CALLBACK_PREFIXES = ("ultralytics.utils.callbacks.", "ultralytics.utils.events", "ultralytics.hub")
_OWN_CALLBACK_MODULES = {"ultralytics.utils.callbacks.base"}


class TrainingError(PlateOpsError):
    """Training failed for a reason the user can act on."""


class OutOfMemoryError(TrainingError):
    """The GPU (or RAM) ran out of memory."""

    code: ClassVar[FailureCode] = FailureCode.OUT_OF_MEMORY


class TrainingCancelledError(TrainingError):
    """Training was stopped on request; `last.pt` holds the last completed epoch."""


class MissingWeightsError(BadInputError):
    """The requested model weights are not on this machine and cannot be downloaded."""

    code: ClassVar[FailureCode] = FailureCode.WEIGHTS_UNAVAILABLE


class BadDataError(DatasetError):
    """The data.yaml or the dataset it points to cannot be used."""


class NothingToResumeError(BadInputError):
    """Resume was asked for but the run folder holds no checkpoint."""


class AlreadyFinishedError(BadInputError):
    """Resume was asked for but the run already trained all its epochs."""


@dataclass(frozen=True)
class EpochMetrics:
    """Metrics of one completed epoch (epoch is 1-based)."""

    epoch: int
    epochs: int
    box_loss: float | None
    cls_loss: float | None
    dfl_loss: float | None
    precision: float | None
    recall: float | None
    map50: float | None
    map50_95: float | None
    lr: float | None
    seconds: float | None

    def message(self) -> str:
        """Plain-language one-liner, e.g. "Epoch 3/10 — box loss 1.23, mAP50 0.41"."""
        parts = []
        if self.box_loss is not None:
            parts.append(f"box loss {self.box_loss:.2f}")
        if self.map50 is not None:
            parts.append(f"mAP50 {self.map50:.2f}")
        return (
            f"Epoch {self.epoch}/{self.epochs} — " + ", ".join(parts) if parts else f"Epoch {self.epoch}/{self.epochs}"
        )


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


# --------------------------------------------------------------------------------------------------- environment


def resolve_device(device: str | int | None) -> str:
    """'auto' → '0' when CUDA is available, else 'cpu'; anything else is passed through as text."""
    text = "auto" if device is None else str(device).strip().lower()
    if text != "auto":
        return text
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def _place_fonts(config_dir: Path) -> None:
    """Put a font where ultralytics looks for Arial, so its plots never download one."""
    missing = [name for name in _FONT_NAMES if not (config_dir / name).is_file()]
    if not missing:
        return
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not source.is_file():
        return
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in missing:
        shutil.copyfile(source, config_dir / name)


def init_ultralytics(settings: Settings | None = None) -> Path:
    """Prepare ultralytics for offline use in this process and return its config folder.

    Before ultralytics is first imported, points `YOLO_CONFIG_DIR` into the workspace cache (unless already set),
    so its settings.json never lands in the user's ~/.config; turns off run-time pip installs; places the plot
    font; and, in a config folder of our own, turns off ultralytics' analytics and logger integrations.

    Args:
        settings: The settings; None uses `get_settings()`.

    Returns:
        The ultralytics config folder in use.
    """
    settings = settings or get_settings()
    own_dir = False
    if "ultralytics" not in sys.modules and not os.environ.get("YOLO_CONFIG_DIR"):
        os.environ["YOLO_CONFIG_DIR"] = str((Path(settings.cache_dir) / "ultralytics").resolve())
        own_dir = True
    os.environ["YOLO_AUTOINSTALL"] = "false"

    import ultralytics.utils as ul_utils
    import ultralytics.utils.checks as ul_checks

    ul_checks.AUTOINSTALL = False  # the env var is read at import; this covers an earlier import
    config_dir = Path(ul_utils.USER_CONFIG_DIR)
    _place_fonts(config_dir)
    home = Path(settings.home).resolve()
    if own_dir or home in config_dir.resolve().parents:
        wanted = dict.fromkeys(("sync", "clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb"), False)
        changes = {k: v for k, v in wanted.items() if k in ul_utils.SETTINGS and ul_utils.SETTINGS[k] != v}
        if changes:
            ul_utils.SETTINGS.update(changes)
    return config_dir


def check_data_yaml(path: Path) -> dict[str, Any]:
    """Check that a data.yaml is readable and names its classes and splits; return its content.

    Raises:
        BadDataError: Missing file, invalid YAML, missing keys, or split folders that do not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise BadDataError(f"Dataset file {path} does not exist. Run `python -m jobs.prepare` to create it.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadDataError(f"Dataset file {path} is not valid YAML: {exc}") from exc
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


def _is_foreign(callback: Callable[..., Any]) -> bool:
    module = getattr(callback, "__module__", "") or ""
    return module.startswith(_FOREIGN_CALLBACK_PREFIXES) and module not in _OWN_CALLBACK_MODULES


def _strip_integrations(callbacks: dict[str, list[Callable[..., Any]]]) -> None:
    """Remove ultralytics' logger integrations (ClearML, Comet, DVC, MLflow, platform, analytics) in place."""
    for event, functions in callbacks.items():
        if any(_is_foreign(f) for f in functions):
            callbacks[event][:] = [f for f in functions if not _is_foreign(f)]


def _check_amp_without_download(model: Any) -> bool:
    """ultralytics' AMP check, but never downloading yolo26n.pt: without it, trust the GPU blocklist only."""
    from ultralytics.utils import LOGGER, WEIGHTS_DIR
    from ultralytics.utils import checks as ul_checks

    device = next(model.parameters()).device
    if device.type != "cuda" or (Path(WEIGHTS_DIR) / "yolo26n.pt").is_file():
        return ul_checks.check_amp(model)
    import re

    import torch

    name = torch.cuda.get_device_name(device)
    blocked = re.search(
        r"(nvidia|geforce|quadro|tesla).*?(1660|1650|1630|t400|t550|t600|t1000|t1200|t2000|k40m)", name, re.I
    )
    if blocked:
        LOGGER.warning("AMP disabled on %s: this GPU is known to give NaN losses with mixed precision.", name)
        return False
    LOGGER.info("AMP: numerical check skipped (it would download yolo26n.pt); mixed precision stays on.")
    return True


@lru_cache(maxsize=1)
def _trainer_class() -> type:
    """A DetectionTrainer that runs only PlateOps' callbacks and never downloads for the AMP check."""
    import ultralytics.engine.trainer as trainer_module
    from ultralytics.models.yolo.detect import DetectionTrainer

    class PlateOpsTrainer(DetectionTrainer):
        """DetectionTrainer without third-party logger callbacks or downloads."""

        plateops_final_eval = False

        def run_callbacks(self, event: str) -> None:
            # integrations are appended in __init__ right before the first event runs; drop them before any runs
            _strip_integrations(self.callbacks)
            super().run_callbacks(event)

        def _setup_train(self) -> None:
            original = trainer_module.check_amp
            trainer_module.check_amp = _check_amp_without_download
            try:
                super()._setup_train()
            finally:
                trainer_module.check_amp = original

        def final_eval(self) -> None:
            self.plateops_final_eval = True
            try:
                super().final_eval()
            finally:
                self.plateops_final_eval = False

    return PlateOpsTrainer


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """First SIGTERM/SIGINT sets `stop`; a second raises at once. Restores the previous handlers on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [signal.SIGTERM, signal.SIGINT]
    previous = {sig: signal.getsignal(sig) for sig in signals}

    first_at: list[float] = []

    def handler(signum: int, frame: Any) -> None:
        del frame
        now = time.monotonic()
        # ClearML's own signal hook calls the handler it wrapped twice for one signal; only a signal that comes
        # well after the first one means "stop now"
        if first_at and now - first_at[0] > _HARD_STOP_AFTER_S:
            raise TrainingCancelledError(f"Training stopped by a second {signal.Signals(signum).name}.")
        if not first_at:
            first_at.append(now)
        stop.set()

    for sig in signals:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def _round(value: Any, digits: int = 5) -> float:
    return round(float(value), digits)


def summarize_det_metrics(metrics: Any, names: dict[int, str] | list[str]) -> dict[str, Any]:
    """Turn ultralytics `DetMetrics` (from `model.val()` or a trainer's validator) into plain JSON values.

    Args:
        metrics: An ultralytics DetMetrics.
        names: Class names by index.

    Returns:
        Dict with map50, map50_95, precision, recall, per_class ({name: {"ap50", "ap50_95"}}; 0 for classes
        absent from the val split), pr_curve ({name: {"recall", "precision"}}, PR_POINTS points), confusion_matrix
        ({"names", "matrix"}, rows predicted, columns true; empty unless validated with plots=True),
        class_thresholds ({name: F1-optimal confidence}) and classes_without_labels.
    """
    import numpy as np

    names = dict(enumerate(names)) if isinstance(names, (list, tuple)) else dict(names)
    box = metrics.box
    mp, mr, map50, map50_95 = (float(x) for x in box.mean_results())
    present = [int(i) for i in box.ap_class_index]
    per_class: dict[str, dict[str, float]] = {names[i]: {"ap50": 0.0, "ap50_95": 0.0} for i in sorted(names)}
    for row, cls in enumerate(present):
        per_class[names[cls]] = {"ap50": _round(box.ap50[row]), "ap50_95": _round(box.ap[row])}

    pr_curve: dict[str, dict[str, list[float]]] = {}
    px = np.asarray(getattr(box, "px", []), dtype=float)
    prec_values = np.asarray(getattr(box, "prec_values", []), dtype=float)
    if px.size and prec_values.ndim == 2 and prec_values.shape[0] == len(present):
        idx = np.unique(np.linspace(0, px.size - 1, PR_POINTS).round().astype(int))
        for row, cls in enumerate(present):
            pr_curve[names[cls]] = {
                "recall": [_round(v, 4) for v in px[idx]],
                "precision": [_round(v, 4) for v in prec_values[row, idx]],
            }

    # F1-optimal confidence per class: ultralytics' f1_curve is F1 over 1000 confidences from 0 to 1
    class_thresholds: dict[str, float] = {}
    f1 = np.asarray(getattr(box, "f1_curve", []), dtype=float)
    if px.size and f1.ndim == 2 and f1.shape == (len(present), px.size):
        for row, cls in enumerate(present):
            if f1[row].max() > 0:
                class_thresholds[names[cls]] = _round(px[int(f1[row].argmax())], 3)

    confusion: dict[str, Any] = {}
    cm = getattr(metrics, "confusion_matrix", None)
    # ultralytics fills the matrix only when validating with plots=True; an empty one is left out
    if cm is not None and getattr(cm, "matrix", None) is not None and np.asarray(cm.matrix).sum() > 0:
        matrix = np.asarray(cm.matrix)
        labels = [names[i] for i in sorted(names)]
        if matrix.shape[0] == len(labels) + 1:
            labels.append("background")
        confusion = {"names": labels, "matrix": [[round(v) for v in row] for row in matrix.tolist()]}

    return {
        "map50": _round(map50),
        "map50_95": _round(map50_95),
        "precision": _round(mp),
        "recall": _round(mr),
        "per_class": per_class,
        "pr_curve": pr_curve,
        "confusion_matrix": confusion,
        "class_thresholds": class_thresholds,
        "classes_without_labels": [names[i] for i in sorted(names) if i not in present],
    }


# ------------------------------------------------------------------------------------------------------ training


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else round(number, 5)


class _Monitor:
    """The ultralytics callbacks of one run: progress, history, tracking, cancellation."""

    def __init__(
        self,
        *,
        progress: ProgressFn,
        on_epoch: Callable[[EpochMetrics], None] | None,
        tracker: ClearMLRun,
        stop: threading.Event,
        history: list[EpochMetrics],
    ) -> None:
        self.progress = progress
        self.on_epoch = on_epoch
        self.tracker = tracker
        self.stop = stop
        self.history = history
        self.final_metrics: dict[str, Any] = {}
        self.batch = 0
        self.last_batch_report = 0.0
        self.train_started: float | None = None

    def _check_stop(self, trainer: Any) -> None:
        if self.stop.is_set():
            done = self.history[-1].epoch if self.history else 0
            raise TrainingCancelledError(
                f"Training cancelled during epoch {trainer.epoch + 1}/{trainer.epochs}; "
                f"last.pt keeps epoch {done}. Resume to continue."
            )

    def on_train_start(self, trainer: Any) -> None:
        self.train_started = time.monotonic()
        start = getattr(trainer, "start_epoch", 0)
        self.progress(start / trainer.epochs, f"Training started ({trainer.epochs} epochs)")

    def on_train_epoch_start(self, trainer: Any) -> None:
        self._check_stop(trainer)
        self.batch = 0

    def on_train_batch_end(self, trainer: Any) -> None:
        self._check_stop(trainer)
        self.batch += 1
        now = time.monotonic()
        if now - self.last_batch_report < _BATCH_PROGRESS_INTERVAL_S:
            return
        self.last_batch_report = now
        batches = max(len(trainer.train_loader), 1)
        fraction = (trainer.epoch + min(self.batch / batches, 1.0)) / trainer.epochs
        self.progress(min(fraction, 0.99), f"Epoch {trainer.epoch + 1}/{trainer.epochs} — batch {self.batch}/{batches}")

    def on_fit_epoch_end(self, trainer: Any) -> None:
        metrics = dict(trainer.metrics or {})
        if getattr(trainer, "plateops_final_eval", False):
            self.final_metrics = metrics
            return
        tloss = trainer.label_loss_items(trainer.tloss, prefix="train") if trainer.tloss is not None else {}
        losses = {k.split("/", 1)[-1]: v for k, v in tloss.items()}
        lrs = list((getattr(trainer, "lr", None) or {}).values())
        record = EpochMetrics(
            epoch=trainer.epoch + 1,
            epochs=trainer.epochs,
            box_loss=_num(losses.get("box_loss")),
            cls_loss=_num(losses.get("cls_loss")),
            dfl_loss=_num(losses.get("dfl_loss")),
            precision=_num(metrics.get("metrics/precision(B)")),
            recall=_num(metrics.get("metrics/recall(B)")),
            map50=_num(metrics.get("metrics/mAP50(B)")),
            map50_95=_num(metrics.get("metrics/mAP50-95(B)")),
            lr=_num(lrs[0]) if lrs else None,
            seconds=_num(getattr(trainer, "epoch_time", None)),
        )
        self.history[:] = [h for h in self.history if h.epoch < record.epoch]
        self.history.append(record)
        self.tracker.log_scalars(
            record.epoch,
            {
                "train": {k: _num(v) for k, v in losses.items()},
                "metrics": {
                    "precision": record.precision,
                    "recall": record.recall,
                    "mAP50": record.map50,
                    "mAP50-95": record.map50_95,
                },
                "val": {k.split("/", 1)[-1]: _num(v) for k, v in metrics.items() if k.startswith("val/")},
                "lr": {k.split("/", 1)[-1]: _num(v) for k, v in (getattr(trainer, "lr", None) or {}).items()},
                "epoch_time": {"seconds": record.seconds},
            },
        )
        self.progress(min(record.epoch / record.epochs, 0.99), record.message())
        if self.on_epoch is not None:
            self.on_epoch(record)
        self._check_stop(trainer)

    def callbacks(self) -> dict[str, Callable[[Any], None]]:
        return {
            "on_train_start": self.on_train_start,
            "on_train_epoch_start": self.on_train_epoch_start,
            "on_train_batch_end": self.on_train_batch_end,
            "on_fit_epoch_end": self.on_fit_epoch_end,
        }


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """The metadata of an ultralytics checkpoint (epoch, optimizer present, train args)."""
    import torch

    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
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


def train(  # pylint: disable=too-many-statements  # see the note at the top
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
    weights_dir = out_dir / "weights"
    metrics_path = out_dir / "metrics.json"
    check_data_yaml(data_yaml)
    device = resolve_device(cfg.device)
    init_ultralytics(settings)
    progress(0.0, "Preparing data and model")

    resume_from = 0
    history: list[EpochMetrics] = []
    if cfg.resume:
        last = weights_dir / "last.pt"
        if not last.is_file():
            raise NothingToResumeError(f"Nothing to resume: {last} does not exist. Start a new run instead.")
        info = _read_checkpoint(last)
        if info["epoch"] < 0 or not info["resumable"]:
            raise AlreadyFinishedError(
                f"The run in {out_dir} already finished training (its last.pt is a final model), so there is "
                "nothing to resume. Start a new run to train more."
            )
        resume_from = int(info["epoch"]) + 1
        history = _previous_history(metrics_path, resume_from)
        model_source = str(last)
    else:
        model_source = resolve_model(cfg.model)

    from ultralytics import YOLO

    stop = threading.Event()
    tracker = ClearMLRun(
        settings,
        name=run_name,
        tags=list(tags),
        hyperparams={**cfg.model_dump(), "data": str(data_yaml), "device": device, "run_dir": str(out_dir)},
        dataset_version=dataset_version,
    )
    monitor = _Monitor(progress=progress, on_epoch=on_epoch, tracker=tracker, stop=stop, history=history)
    status = "failed"
    error_text = ""
    summary: dict[str, Any] = {}
    trainer: Any = None
    with _stop_on_signals(stop):
        try:
            tracker.start()
            model = YOLO(model_source, task="detect")
            for event, callback in monitor.callbacks().items():
                model.add_callback(event, callback)
            if cfg.resume:
                kwargs: dict[str, Any] = {"resume": True, "data": str(data_yaml), "device": device}
                kwargs.update(save_dir=str(out_dir), workers=cfg.workers, plots=cfg.plots)
            else:
                kwargs = {
                    **cfg.ultralytics_args(),
                    "data": str(data_yaml),
                    "device": device,
                    "save_dir": str(out_dir),
                    "exist_ok": True,
                    "val": True,
                    "save": True,
                    "verbose": False,
                }
            try:
                model.train(trainer=_trainer_class(), **kwargs)
            except (RuntimeError, FileNotFoundError, AssertionError, SyntaxError) as exc:
                translated = _translate_error(exc, cfg, device)
                if translated is None:
                    raise
                raise translated from exc
            trainer = model.trainer
            status = "completed"
            validator = getattr(trainer, "validator", None)
            if validator is not None and getattr(validator, "metrics", None) is not None:
                summary = summarize_det_metrics(validator.metrics, trainer.data["names"])
            last_epoch = history[-1].epoch if history else 0
            tracker.log_evaluation(summary, iteration=last_epoch)
            tracker.log_values({k: summary.get(k) for k in ("map50", "map50_95", "precision", "recall")})
            tracker.log_model(weights_dir / "best.pt", name=f"{run_name} best.pt")
        except TrainingCancelledError as exc:
            status, error_text = "cancelled", str(exc)
            raise
        except KeyboardInterrupt:
            status, error_text = "cancelled", "Interrupted."
            raise
        except BaseException as exc:
            error_text = str(exc)
            raise
        finally:
            tracking = tracker.close()
            seconds = round(time.monotonic() - started, 2)
            final: dict[str, Any] = {
                k: summary[k] for k in ("map50", "map50_95", "precision", "recall") if k in summary
            }
            if not final and history:
                h = history[-1]
                final = {"map50": h.map50, "map50_95": h.map50_95, "precision": h.precision, "recall": h.recall}
            best_epoch = max(history, key=lambda h: h.map50 or 0.0).epoch if history else None
            _write_metrics(
                metrics_path,
                {
                    "status": status,
                    "error": error_text,
                    "run_name": run_name,
                    "model": cfg.model,
                    "data": str(data_yaml),
                    "dataset_version": dataset_version,
                    "tags": list(tags),
                    "device": device,
                    "epochs": trainer.epochs if trainer is not None else cfg.epochs,
                    "epochs_completed": history[-1].epoch if history else 0,
                    "resumed_from_epoch": resume_from if cfg.resume else None,
                    "best_epoch": best_epoch,
                    "final": final,
                    "per_class": summary.get("per_class", {}),
                    "history": [asdict(h) for h in history],
                    "config": cfg.model_dump(),
                    "durations": {
                        "total_s": seconds,
                        "train_s": round(time.monotonic() - monitor.train_started, 2)
                        if monitor.train_started
                        else None,
                        "epoch_s": [h.seconds for h in history],
                    },
                    "weights": {"best": str(weights_dir / "best.pt"), "last": str(weights_dir / "last.pt")},
                    "tracking": tracking.to_dict(),
                },
            )
    epochs_total = trainer.epochs if trainer is not None else cfg.epochs
    result = TrainResult(
        run_dir=out_dir,
        best=weights_dir / "best.pt",
        last=weights_dir / "last.pt",
        metrics_path=metrics_path,
        model=cfg.model,
        epochs=epochs_total,
        epochs_completed=history[-1].epoch if history else 0,
        final=final,
        history=list(history),
        seconds=seconds,
        device=device,
        resumed=cfg.resume,
        tracking=tracking,
        dataset_version=dataset_version,
        evaluation=summary,
    )
    progress(1.0, result.summary_line())
    return result
