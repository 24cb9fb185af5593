"""Training-time estimates: the model fitted on synthetic timing rows, the time left from a run's own epochs, the
estimate on a workspace (timed step, then finished runs) and the real timed step at a tiny size."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest

from backend.core.clock import utcnow
from backend.core.settings import Settings
from backend.store import jobs as job_store
from backend.store import runs as run_store
from backend.store.engine import init_db, session_scope
from backend.training import speed as speed_module
from backend.training.estimate import (
    DEFAULT_FIT,
    DEFAULT_SPREAD,
    EPOCHS_SPREAD_FLOOR,
    FINAL_VAL_PASSES,
    FIRST_EPOCH_SPREAD,
    RUNS_SPREAD_FLOOR,
    FinishedRun,
    RunShape,
    SpeedFit,
    TimeRange,
    fit_speed,
    predict_total_s,
    rough_duration,
    rough_range,
    step_epoch_s,
    time_left_s,
    time_left_spread,
    val_share,
)
from backend.training.metrics import EpochMetrics
from backend.training.run_watch import time_left
from backend.training.service import build_config, estimate_training
from backend.training.service import time_left as job_time_left
from backend.training.speed import SPEED_FILE, StepSpeed, fit_two_sizes, load_changed, time_steps

# A made-up computer: 20 ms + 60 ms × (imgsz/320)² per training image, a third of that per validation image.
SPEED = StepSpeed("yolov8n.yaml", 0.02, 0.06, 0.02 / 3, 0.02, cpus=2, load=None, measured_at="2026-12-01T00:00:00")
TRUTH = SpeedFit(factor=1.8, setup_s=20.0, runs=0)  # what that computer's runs really add to the timed steps


def _synthetic_run(shape: RunShape, fit: SpeedFit = TRUTH) -> FinishedRun:
    """A run exactly as the model says `fit` makes it, with ±10 % noise per epoch that cancels in the median."""
    epoch = fit.factor * step_epoch_s(shape, SPEED)
    seconds = tuple(epoch * (1 + 0.1 * ((-1) ** i) * (i % 3 != 0)) for i in range(shape.epochs))
    total = fit.setup_s + sum(seconds) + FINAL_VAL_PASSES * val_share(shape, SPEED) * epoch
    return FinishedRun(shape=shape, epoch_seconds=seconds, total_s=total)


def test_the_fit_recovers_what_finished_runs_add_and_predicts_other_settings() -> None:
    quick = RunShape("yolov8n.yaml", imgsz=256, epochs=10, train_images=320, val_images=80)
    custom = RunShape("yolov8n.yaml", imgsz=160, epochs=3, train_images=320, val_images=80)
    fit = fit_speed([_synthetic_run(quick)], lambda model: SPEED)
    assert fit.runs == 1
    assert fit.factor == pytest.approx(TRUTH.factor, rel=1e-9) and fit.setup_s == pytest.approx(TRUTH.setup_s)
    # the fitted constants carry over to another image size and epoch count through the timed costs
    truth = _synthetic_run(custom).total_s
    assert truth is not None
    assert predict_total_s(custom, SPEED, fit) == pytest.approx(truth, rel=1e-9)
    # a pixels²-only scaling (the old estimate) would have missed the fixed part of each image's cost
    pixels_only = truth * (160 / 256) ** 2
    assert abs(pixels_only / truth - 1) > 0.35


def test_the_fit_takes_medians_and_falls_back_to_the_defaults() -> None:
    shape = RunShape("yolov8n.yaml", imgsz=256, epochs=5, train_images=100, val_images=25)
    runs = [_synthetic_run(shape, SpeedFit(factor, 10.0, 0)) for factor in (1.0, 2.0, 9.0)]  # one outlier
    assert fit_speed(runs, lambda model: SPEED).factor == pytest.approx(2.0)
    assert fit_speed([], lambda model: SPEED) == DEFAULT_FIT
    assert fit_speed(runs, lambda model: None) == DEFAULT_FIT, "a run of an architecture never timed says nothing"
    resumed = FinishedRun(shape, runs[0].epoch_seconds, total_s=5.0)  # its epochs predate its last job
    assert fit_speed([resumed], lambda model: SPEED).setup_s == DEFAULT_FIT.setup_s


def test_time_left_is_the_recent_epoch_times_the_epochs_left_plus_the_final_evaluation() -> None:
    assert time_left_s([], 10, share=0.2) is None
    # median of the last three epochs (40, 30, 32 -> 32), 7 epochs left, two validation passes of 20 % of an epoch
    assert time_left_s([90.0, 40.0, 30.0, 32.0], 11, share=0.2) == pytest.approx(32 * 7 + 2 * 0.2 * 32)
    assert time_left_s([30.0], 10, share=0.0, done=4) == pytest.approx(30 * 6), "untimed resumed epochs count"
    assert time_left_s([30.0, 30.0], 2, share=0.25) == pytest.approx(15.0), "after the last: the evaluation"


def test_the_trainer_hook_estimates_from_the_runs_own_epochs_and_says_so() -> None:
    trainer = SimpleNamespace(
        args=SimpleNamespace(model="never-timed.yaml", imgsz=256),
        epochs=10,
        train_loader=SimpleNamespace(dataset=[0] * 300),
        test_loader=SimpleNamespace(dataset=[0] * 100),
    )
    history = [EpochMetrics(e, 10, 1.0, 1.0, 1.0, None, None, None, None, None, 60.0) for e in (1, 2, 3)]
    left = time_left(trainer, history)
    share = 100 / 3 / (300 + 100 / 3)  # no timed steps: a validation image costs a third of a training one
    assert left == pytest.approx(60 * 7 + 2 * share * 60)
    assert left is not None
    record = EpochMetrics(3, 10, 1.23, 1.0, 1.0, None, None, 0.41, None, None, 60.0, remaining_s=left)
    message = replace(record, remaining_margin_s=0.15 * left).message()
    assert message == "Epoch 3/10 — box loss 1.23, mAP50 0.41 · about 7 min left (6–9 min)"


def test_rough_durations_claim_no_more_than_an_estimate_knows() -> None:
    said = [rough_duration(s) for s in (14, 54, 90, 432, 2000, 3500, 4200)]
    assert said == [
        "about 10 s",
        "about 50 s",
        "about 2 min",
        "about 7 min",
        "about 35 min",
        "about 1 h",
        "about 1 h 10 min",
    ]


def test_two_sizes_split_a_cost_into_its_fixed_and_pixel_parts() -> None:
    fixed, per_pixel = fit_two_sizes((128, 0.02 + 0.06 * 0.16), (256, 0.02 + 0.06 * 0.64))
    assert (fixed, per_pixel) == (pytest.approx(0.02), pytest.approx(0.06))
    assert fit_two_sizes((128, 0.05), (256, 0.04)) == (0.05, 0.0), "noise never makes a part negative"
    assert fit_two_sizes((128, 0.001), (256, 0.064))[0] == 0.0
    assert load_changed(0.2, 5.0) and load_changed(5.0, 0.2) and not load_changed(1.0, 1.5)
    assert not load_changed(None, 9.0)


@pytest.fixture
def timed(workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The made-up SPEED instead of a real timing; returns the architectures timed."""
    init_db()
    calls: list[str] = []

    def fake_time_steps(model: str) -> StepSpeed:
        calls.append(model)
        return StepSpeed(**{**SPEED.__dict__, "model": model})

    monkeypatch.setattr(speed_module, "time_steps", fake_time_steps)
    speed_module._timed_now.cache_clear()
    return calls


def test_before_any_run_the_estimate_rests_on_the_timed_step_and_keeps_it(
    workspace: Settings, timed: list[str]
) -> None:
    cfg = build_config("quick_cpu")
    estimate = estimate_training(cfg, 320, 80)
    shape = RunShape(cfg.model, cfg.imgsz, cfg.epochs, 320, 80)
    assert estimate.seconds == pytest.approx(predict_total_s(shape, SPEED, DEFAULT_FIT))
    assert "training step timed on this machine" in estimate.basis and "no run has finished here" in estimate.basis
    assert estimate.time is not None, "before any run the range is the widest"
    assert estimate.time.low == pytest.approx(estimate.time.seconds * (1 - DEFAULT_SPREAD))
    assert estimate.time.high == pytest.approx(estimate.time.seconds * (1 + DEFAULT_SPREAD))
    assert estimate.text().startswith(f"{estimate.time.text()}, from a training step timed on this machine")
    kept = json.loads((workspace.home / SPEED_FILE).read_text())
    assert any(key.startswith(f"{cfg.model}|") for key in kept), "the timing is kept for the next console"
    estimate_training(cfg.model_copy(update={"epochs": 20}), 320, 80)
    assert timed == [cfg.model], "timed once, then read from the workspace"


def test_a_finished_run_corrects_the_estimate(workspace: Settings, timed: list[str]) -> None:
    cfg = build_config("quick_cpu")
    shape = RunShape(cfg.model, cfg.imgsz, cfg.epochs, 320, 80)
    done = _synthetic_run(shape)
    assert done.total_s is not None
    start = utcnow() - timedelta(hours=1)
    with session_scope() as session:
        job = job_store.create_job(session=session, kind="train", params={}, title="t")
        finished = job_store.JobUpdate(
            status="succeeded", started_at=start, finished_at=start + timedelta(seconds=done.total_s)
        )
        job_store.update_job(session=session, job_id=job.id, changes=finished)
        run = run_store.create_run(
            session=session, name="r", job_id=job.id, model=cfg.model, params={"model": cfg.model, "imgsz": cfg.imgsz}
        )
        history = [{"epoch": i + 1, "epochs": cfg.epochs, "seconds": s} for i, s in enumerate(done.epoch_seconds)]
        changes = run_store.RunUpdate(
            status="succeeded",
            history=history,
            metrics={"train_images": 320, "val_images": 80, "device": "cpu"},
            duration_s=done.total_s - 5,
        )
        run_store.update_run(session=session, run_id=run.id, changes=changes)
    again = estimate_training(cfg, 320, 80)
    assert again.seconds == pytest.approx(done.total_s, rel=1e-6), "the same settings take what that run took"
    assert again.basis.startswith(f"measured on this machine from {cfg.epochs} timed epochs of 1 finished run")
    assert again.time is not None and again.time.high / again.time.seconds == pytest.approx(1 + RUNS_SPREAD_FLOOR)
    smaller = estimate_training(cfg.model_copy(update={"imgsz": 160, "epochs": 3}), 320, 80)
    assert smaller.seconds == pytest.approx(_synthetic_run(RunShape(cfg.model, 160, 3, 320, 80)).total_s)


def test_gpu_without_history_has_no_estimate_but_says_why(workspace: Settings) -> None:
    init_db()
    estimate = estimate_training(build_config("quick_cpu"), 320, 80, on_gpu=True)
    assert estimate.seconds is None and "GPU run" in estimate.basis


def test_a_running_job_counts_down_to_the_end_its_latest_epoch_estimated(workspace: Settings) -> None:
    init_db()
    now = utcnow()
    epochs = [{"epoch": e, "epochs": 10, "seconds": 30.0} for e in (1, 2, 3)]
    with session_scope() as session:
        job = job_store.create_job(session=session, kind="train", params={}, title="t")
        assert job_time_left(job, now) is None, "before the first epoch there is nothing measured"
        live = {"run_id": 1, "epochs": epochs, "finish_at": (now + timedelta(seconds=215)).isoformat()}
        job_store.update_job(session=session, job_id=job.id, changes=job_store.JobUpdate(live=live))
        job = job_store.get_job(session=session, job_id=job.id)
    left = job_time_left(job, now + timedelta(seconds=15))
    assert left is not None and (left.seconds, left.epoch, left.epochs) == (pytest.approx(200.0), 3, 10)
    assert left.basis == "from the latest 3 epochs of this run (epoch 3 done)"
    margin = 200 * FIRST_EPOCH_SPREAD  # published without a margin: the first epoch's share of what is left
    assert (left.time.low, left.time.high) == (pytest.approx(200 - margin), pytest.approx(200 + margin))
    late = job_time_left(job, now + timedelta(hours=1))
    assert late is not None and late.seconds == 0.0 and late.time.low == 0.0


def test_after_the_first_epoch_the_time_left_keeps_that_epochs_margin_and_says_so(workspace: Settings) -> None:
    init_db()
    now = utcnow()
    live = {
        "run_id": 1,
        "epochs": [{"epoch": 1, "epochs": 10, "seconds": 40.0}],
        "finish_at": (now + timedelta(seconds=400)).isoformat(),
        "finish_margin_s": 120.0,
    }
    with session_scope() as session:
        job = job_store.create_job(session=session, kind="train", params={}, title="t")
        job_store.update_job(session=session, job_id=job.id, changes=job_store.JobUpdate(live=live))
        job = job_store.get_job(session=session, job_id=job.id)
    left = job_time_left(job, now + timedelta(seconds=100))
    assert left is not None and left.basis == "from the first epoch of this run"
    # counted down, while the end stays as uncertain as the first epoch made it
    assert (left.seconds, left.time.low, left.time.high) == (pytest.approx(300), pytest.approx(180), pytest.approx(420))
    assert left.time.text() == "about 5 min (3–7 min)"


def test_the_time_lefts_margin_is_the_spread_of_the_recent_epochs() -> None:
    assert time_left_spread([]) == FIRST_EPOCH_SPREAD and time_left_spread([50.0]) == FIRST_EPOCH_SPREAD
    assert time_left_spread([60.0, 61.0]) == EPOCHS_SPREAD_FLOOR, "never narrower than the floor"
    # the latest three (100, 50, 60): median 60, the slowest 67 % above it; the first epoch no longer counts
    assert time_left_spread([500.0, 100.0, 50.0, 60.0]) == pytest.approx(100 / 60 - 1)


def test_finished_runs_set_the_estimates_range_by_their_own_spread() -> None:
    shape = RunShape("yolov8n.yaml", imgsz=256, epochs=5, train_images=100, val_images=25)
    same = [_synthetic_run(shape), _synthetic_run(shape)]
    fit = fit_speed(same, lambda model: SPEED)
    assert (fit.runs, fit.epochs, fit.spread) == (2, 10, RUNS_SPREAD_FLOOR), "agreeing runs: the floor"
    apart = [_synthetic_run(shape, SpeedFit(f, 10.0, 0)) for f in (1.0, 2.0, 3.0)]
    assert fit_speed(apart, lambda model: SPEED).spread == pytest.approx(0.5), "runs that disagree widen it"
    assert DEFAULT_FIT.spread == DEFAULT_SPREAD > RUNS_SPREAD_FLOOR


def test_ranges_are_said_as_people_say_them_and_hold_both_ends() -> None:
    assert rough_range(5.4 * 60, 8.6 * 60) == "5–9 min"
    assert rough_range(344, 640) == "5–11 min", "minutes up to 20: no jump to 15 at 10 min"
    assert rough_range(40, 110) == "40 s–2 min"
    assert rough_range(50 * 60, 85 * 60) == "50–90 min"
    assert TimeRange.around(432, 0.3).text() == "about 7 min (5–10 min)"
    assert TimeRange.around(100, 2.0).low == 0.0


def test_a_real_training_step_is_timed_at_two_sizes() -> None:
    timing = time_steps("yolov8n.yaml", sizes=(64, 96), batch=2)
    assert timing.train_s(96) > 0 and timing.val_s(96) > 0
    # never less: on a busy machine the two timings may come out equal, and the cost is then held flat (never negative)
    assert timing.train_s(640) >= timing.train_s(96), "a larger picture never costs less"
    assert timing.cpus >= 1 and timing.when is not None
