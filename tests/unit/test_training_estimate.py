"""The training-time estimate rests on this machine: a timed training step before any run, finished runs after."""

from __future__ import annotations

import json

from backend.core.settings import Settings
from backend.training import calibration
from backend.training.service import build_config, estimate_training


def test_before_any_run_the_estimate_times_a_training_step_and_says_so(workspace: Settings) -> None:
    calibration.seconds_per_image_epoch.cache_clear()
    cfg = build_config("quick_cpu")
    estimate = estimate_training(cfg, 400)
    assert estimate.seconds is not None and estimate.seconds > 0
    assert "timed training step on this computer" in estimate.basis
    kept = json.loads((workspace.home / "calibration.json").read_text())
    assert any(key.startswith(f"{cfg.model}|") for key in kept), "the measurement is kept for the next console"
    # The estimate scales with the work asked: twice the epochs, twice the time (same measured rate).
    longer = estimate_training(cfg.model_copy(update={"epochs": cfg.epochs * 2}), 400)
    assert longer.seconds is not None
    assert abs(longer.seconds / estimate.seconds - 2) < 1e-6


def test_gpu_without_history_has_no_estimate_but_says_why(workspace: Settings) -> None:
    estimate = estimate_training(build_config("quick_cpu"), 400, on_gpu=True)
    assert estimate.seconds is None and "GPU run" in estimate.basis
