"""What watches a training run from inside ultralytics: the per-run callbacks (`RunWatch`: throttled per-batch and
per-epoch progress, the epoch history, ClearML scalars, cancellation at batch boundaries) and the signal handling
that turns SIGTERM/SIGINT into a stop request (`stop_on_signals`)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from backend.core.progress import ProgressFn
from backend.training.errors import TrainingCancelledError
from backend.training.estimate import RunShape, time_left_s, time_left_spread, val_share
from backend.training.metrics import EpochMetrics, num
from backend.training.speed import known_speed
from backend.training.tracking import ClearMLRun

BATCH_PROGRESS_INTERVAL_S = 1.0
HARD_STOP_AFTER_S = 2.0


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
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
        if first_at and now - first_at[0] > HARD_STOP_AFTER_S:
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


def _images(loader: Any) -> int:
    """How many pictures a dataloader serves per pass (0 when it does not say)."""
    try:
        return len(loader.dataset)
    except (AttributeError, TypeError):
        return 0


def time_left(trainer: Any, history: list[EpochMetrics]) -> float | None:
    """The run's estimated seconds left after the epochs in `history` (None before the first one ended).

    The typical recent epoch times the epochs left, plus the final evaluation; the validation share of an epoch
    comes from this computer's timed steps when they were taken, else from the split's sizes. Its margin is
    `time_left_spread` of the same epochs.
    """
    args = getattr(trainer, "args", None)
    shape = RunShape(
        model=str(getattr(args, "model", "")),
        imgsz=int(getattr(args, "imgsz", 0) or 0),
        epochs=int(trainer.epochs),
        train_images=_images(getattr(trainer, "train_loader", None)),
        val_images=_images(getattr(trainer, "test_loader", None)),
    )
    seconds = [h.seconds for h in history if h.seconds]
    done = history[-1].epoch if history else 0
    return time_left_s(seconds, shape.epochs, share=val_share(shape, known_speed(shape.model)), done=done)


class RunWatch:
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
        if now - self.last_batch_report < BATCH_PROGRESS_INTERVAL_S:
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
            box_loss=num(losses.get("box_loss")),
            cls_loss=num(losses.get("cls_loss")),
            dfl_loss=num(losses.get("dfl_loss")),
            precision=num(metrics.get("metrics/precision(B)")),
            recall=num(metrics.get("metrics/recall(B)")),
            map50=num(metrics.get("metrics/mAP50(B)")),
            map50_95=num(metrics.get("metrics/mAP50-95(B)")),
            lr=num(lrs[0]) if lrs else None,
            seconds=num(getattr(trainer, "epoch_time", None)),
        )
        self.history[:] = [h for h in self.history if h.epoch < record.epoch]
        left = num(time_left(trainer, [*self.history, record]))
        spread = time_left_spread([h.seconds for h in [*self.history, record] if h.seconds])
        record = replace(record, remaining_s=left, remaining_margin_s=None if left is None else left * spread)
        self.history.append(record)
        self.tracker.log_scalars(
            record.epoch,
            {
                "train": {k: num(v) for k, v in losses.items()},
                "metrics": {
                    "precision": record.precision,
                    "recall": record.recall,
                    "mAP50": record.map50,
                    "mAP50-95": record.map50_95,
                },
                "val": {k.split("/", 1)[-1]: num(v) for k, v in metrics.items() if k.startswith("val/")},
                "lr": {k.split("/", 1)[-1]: num(v) for k, v in (getattr(trainer, "lr", None) or {}).items()},
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
