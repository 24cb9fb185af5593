"""How long a training run takes: before it starts, and from its own epochs once the first one has ended.

Before a run the time is modelled as

    set-up + epochs × factor × (train images × train step(imgsz) + val images × val pass(imgsz)) + final evaluation

where the step and pass costs are this computer's timed ones (`backend.training.speed`: per image, growing with
the pixels, per architecture) and `factor` is what a timed step does not see: reading, decoding and augmenting
pictures (mosaic) on the same cores, NMS and scoring in each epoch's validation, saving checkpoints. The final
evaluation is two validation passes (ultralytics validates best.pt, then the job scores it). `factor` and the set-up
come from finished runs on this computer when there are any (their medians), else from `DEFAULT_FACTOR` and
`DEFAULT_SETUP_S` (see there; `bench/estimate_time.py` checks the result).

Once an epoch has ended, the run's own epochs say more than any model: the time left is the typical recent epoch
× the epochs left, plus the final evaluation (its validation share of an epoch, twice).

Every figure comes with a range that says how sure it is: before a run, the spread of what finished runs taught
(never narrower than `RUNS_SPREAD_FLOOR`; `DEFAULT_SPREAD` before the first run); during one, the spread of its own
recent epochs (`FIRST_EPOCH_SPREAD` while a single epoch is all there is). Everything here is arithmetic on timings;
it reads no store and times nothing, so tests fit it on synthetic rows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from backend.training.speed import StepSpeed

# Real epoch seconds over the timed-step prediction (dataloading and mosaic, validation's NMS and scoring, saving;
# less the second thread training uses on a quiet machine), and seconds outside the epochs beyond the final
# evaluation (building the model, caching pictures, tracking). The factor: a one-thread step timed on this project's
# 2-core machine (0.59 s per training image at 256 px) against the epochs of a Quick run there (about 0.5 s per
# image), both at load 12-15; not yet measured on a quiet machine. The set-up is not re-measured. Finished runs
# replace both.
DEFAULT_FACTOR = 1.0
DEFAULT_SETUP_S = 15.0
# How far a run's time may stray from the estimate, as a share of it. Before the first run here the factor is
# someone else's machine's: the widest. Finished runs narrow it to their own spread, but never below the floor (the
# load of a shared machine changes between runs). During a run, one epoch says little about the next (the first
# pays for warm-up, the last few drop mosaic); from two on, the spread of the recent epochs, above its floor.
DEFAULT_SPREAD = 0.35
RUNS_SPREAD_FLOOR = 0.25
FIRST_EPOCH_SPREAD = 0.30
EPOCHS_SPREAD_FLOOR = 0.15
FINAL_VAL_PASSES = 2  # ultralytics validates best.pt after the last epoch; the job then scores it once more
RECENT_EPOCHS = 3  # the time left follows the median of this many latest epochs (the machine's load changes)
# Before a step was ever timed, a validation pass is taken to cost a third of a training step per image (no
# backward pass, no optimizer).
VAL_TO_TRAIN_COST = 1 / 3


@dataclass(frozen=True)
class RunShape:
    """What a run does, as far as its time goes.

    Attributes:
        model: The architecture (or weights) trained.
        imgsz: Training image size in pixels.
        epochs: Epochs trained.
        train_images: Training images per epoch.
        val_images: Validation images scored each epoch.
    """

    model: str
    imgsz: int
    epochs: int
    train_images: int
    val_images: int


@dataclass(frozen=True)
class FinishedRun:
    """A finished run's timing: its shape, the seconds of each epoch, and its whole time (None when unknown)."""

    shape: RunShape
    epoch_seconds: tuple[float, ...]
    total_s: float | None


@dataclass(frozen=True)
class SpeedFit:
    """What turns timed steps into a run's time on this computer.

    Attributes:
        factor: Real epoch seconds over the timed steps' prediction.
        setup_s: Seconds outside the epochs, beyond the final evaluation.
        runs: How many finished runs it rests on (0: the defaults).
        epochs: How many timed epochs of those runs it rests on.
        spread: How far a run's time may stray from what this fit predicts, as a share of it.
    """

    factor: float
    setup_s: float
    runs: int
    epochs: int = 0
    spread: float = DEFAULT_SPREAD


DEFAULT_FIT = SpeedFit(factor=DEFAULT_FACTOR, setup_s=DEFAULT_SETUP_S, runs=0)


@dataclass(frozen=True)
class TimeRange:
    """An estimated duration and the range it is sure of, in seconds (low <= seconds <= high)."""

    seconds: float
    low: float
    high: float

    @classmethod
    def around(cls, seconds: float, spread: float) -> TimeRange:
        """`seconds` give or take `spread` of it (never below zero)."""
        return cls(seconds, max(seconds * (1 - spread), 0.0), seconds * (1 + spread))

    def text(self) -> str:
        """E.g. "about 7 min (5–9 min)"."""
        return f"{rough_duration(self.seconds)} ({rough_range(self.low, self.high)})"


def pixel_speed(model: str) -> StepSpeed:
    """A stand-in speed where only pixels count (1 s per image at 320 px; for a GPU, which is never timed here).

    `factor` then carries the whole per-image cost, so it is fitted from finished GPU runs only.
    """
    return StepSpeed(
        model=model,
        train_fixed=0.0,
        train_per_pixel=1.0,
        val_fixed=0.0,
        val_per_pixel=VAL_TO_TRAIN_COST,
        cpus=0,
        load=None,
        measured_at="",
    )


def step_epoch_s(shape: RunShape, speed: StepSpeed) -> float:
    """Seconds one epoch's timed steps take: every training image once, every validation image once."""
    return shape.train_images * speed.train_s(shape.imgsz) + shape.val_images * speed.val_s(shape.imgsz)


def val_share(shape: RunShape, speed: StepSpeed | None = None) -> float:
    """The share of an epoch spent validating (from the timed steps, else from VAL_TO_TRAIN_COST)."""
    if speed is not None:
        train = shape.train_images * speed.train_s(shape.imgsz)
        val = shape.val_images * speed.val_s(shape.imgsz)
    else:
        train, val = float(shape.train_images), shape.val_images * VAL_TO_TRAIN_COST
    return val / (train + val) if train + val > 0 else 0.0


def final_evaluation_s(epoch_s: float, share: float) -> float:
    """Seconds of the final evaluation: FINAL_VAL_PASSES validation passes of an epoch of `epoch_s` seconds."""
    return FINAL_VAL_PASSES * share * epoch_s


def predict_total_s(shape: RunShape, speed: StepSpeed, fit: SpeedFit) -> float:
    """Seconds a whole run takes, from its start to its scored model (see the module docstring)."""
    epoch = fit.factor * step_epoch_s(shape, speed)
    return fit.setup_s + shape.epochs * epoch + final_evaluation_s(epoch, val_share(shape, speed))


def fit_speed(runs: Sequence[FinishedRun], speed_of: Callable[[str], StepSpeed | None]) -> SpeedFit:
    """The factor and set-up that explain finished runs, their medians; the defaults where no run says.

    Args:
        runs: Finished runs on this computer (same kind of device as the estimate's).
        speed_of: The timed speed of an architecture, or None when it was never timed (its runs are left out).
    """
    factors: list[float] = []
    setups: list[float] = []
    epochs = 0
    for run in runs:
        speed = speed_of(run.shape.model)
        seconds = [s for s in run.epoch_seconds if s > 0]
        if speed is None or not seconds:
            continue
        predicted = step_epoch_s(run.shape, speed)
        if predicted <= 0:
            continue
        epoch = statistics.median(seconds)
        factors.append(epoch / predicted)
        epochs += len(seconds)
        if run.total_s is not None:
            outside = run.total_s - sum(seconds) - final_evaluation_s(epoch, val_share(run.shape, speed))
            if 0 <= outside <= run.total_s:  # a resumed run's epochs may predate its last job
                setups.append(outside)
    if not factors:
        return DEFAULT_FIT
    setup = statistics.median(setups) if setups else DEFAULT_SETUP_S
    factor = statistics.median(factors)
    spread = max(RUNS_SPREAD_FLOOR, *(abs(f / factor - 1) for f in factors))
    return SpeedFit(factor=factor, setup_s=setup, runs=len(factors), epochs=epochs, spread=spread)


def typical_epoch_s(epoch_seconds: Sequence[float]) -> float | None:
    """The median of the latest RECENT_EPOCHS epochs (None before the first one ended)."""
    recent = [s for s in epoch_seconds if s > 0][-RECENT_EPOCHS:]
    return statistics.median(recent) if recent else None


def time_left_s(epoch_seconds: Sequence[float], planned: int, *, share: float, done: int | None = None) -> float | None:
    """Seconds left of a run after its finished epochs: typical epoch × epochs left + the final evaluation.

    Args:
        epoch_seconds: The seconds of each finished epoch that was timed, in order.
        planned: The epochs the run trains.
        share: The share of an epoch spent validating (`val_share`).
        done: Epochs finished (default: as many as `epoch_seconds`; more when a resumed run's earlier epochs
            were not timed).

    Returns:
        The seconds left, or None before the first epoch ended.
    """
    epoch = typical_epoch_s(epoch_seconds)
    if epoch is None:
        return None
    left = max(planned - (len(epoch_seconds) if done is None else done), 0)
    return epoch * left + final_evaluation_s(epoch, share)


def time_left_spread(epoch_seconds: Sequence[float]) -> float:
    """How far the time left may stray, as a share of it: the recent epochs' spread around their median."""
    recent = [s for s in epoch_seconds if s > 0][-RECENT_EPOCHS:]
    if len(recent) < 2:
        return FIRST_EPOCH_SPREAD
    typical = statistics.median(recent)
    return max(EPOCHS_SPREAD_FLOOR, *(abs(s / typical - 1) for s in recent))


def rough_duration(seconds: float) -> str:
    """An estimated duration as people say it: "about 40 s", "about 4 min", "about 25 min", "about 1 h 10 min".

    Tens of seconds under a minute, then minutes up to 10, then 5 minutes, then 10 minutes: an estimate shown to
    the second claims more than it knows.
    """
    minutes = seconds / 60
    if seconds < 55:
        return f"about {max(10, 10 * round(seconds / 10))} s"
    shown = round(minutes) if minutes < 10 else 5 * round(minutes / 5) if minutes < 57.5 else 10 * round(minutes / 10)
    if shown < 60:
        return f"about {shown} min"
    hours, rest = divmod(shown, 60)
    return f"about {hours} h" + (f" {rest:02d} min" if rest else "")


def _rounded(seconds: float, up: bool) -> tuple[int, str]:
    """`seconds` rounded down (or up) to the step `rough_duration` shows at that size, as (amount, unit)."""
    # minutes up to 20 (a 5-minute step at 10 min turned 5.7–10.7 min into "5–15 min"), then 5, then 10 minutes
    step = 10 if seconds < 55 else 60 if seconds < 1200 else 300 if seconds < 3450 else 600
    steps = math.ceil(seconds / step) if up else math.floor(seconds / step)
    amount = steps * step
    if step == 10:
        return max(amount, 0 if not up else 10), "s"
    return amount // 60, "min"


def rough_range(low: float, high: float) -> str:
    """A range as people say it, wide enough to hold both ends: "5–9 min", "40 s–2 min", "50–90 min"."""
    (lo, lo_unit), (hi, hi_unit) = _rounded(low, up=False), _rounded(high, up=True)
    if lo_unit == hi_unit:
        return f"{lo}–{hi} {hi_unit}"
    return f"{lo} {lo_unit}–{hi} {hi_unit}"
