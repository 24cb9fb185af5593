"""Training-time estimates against the actual time, on this machine: the Quick CPU preset and a custom run.

On a fresh workspace with a small demo set, each run is estimated the way the Train page estimates it (timed
training step, then finished runs), trained through the console's job runner, and timed from the job's start to
its scored model. The time left shown after the first epoch is checked against the time the run really had left.
Goal: every estimate / actual ratio within 0.65–1.35 (±35 %), and the actual time inside the range shown.

Run: python -m bench.estimate_time [--images 100] [--note "why the machine was loaded"]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.core.access import SHELL_ADMIN
from bench.report import table, write_section

CUSTOM = {"model": "yolov8n.yaml", "epochs": 4, "imgsz": 192, "batch": 8, "nbs": 8, "close_mosaic": 1}


def _fresh_settings(home: Path) -> None:
    os.environ["PLATEOPS_HOME"] = str(home)
    os.environ["PLATEOPS_CLEARML_MODE"] = "offline"
    from backend.core.settings import get_settings
    from backend.store.engine import dispose_all

    get_settings.cache_clear()
    dispose_all()


@dataclass
class Timed:
    """One run's estimates and actual times, in seconds."""

    name: str
    estimate: Any  # backend.training.service.Estimate
    total_s: float = 0.0
    left_after_first: Any = None  # backend.training.service.TimeLeft, when an epoch was seen before the end
    actual_left_s: float | None = None
    epochs: int = 0
    load_end: float = 0.0


def _train(version_id: int, cfg: Any, *, preset: str | None, name: str, estimate: Any) -> Timed:
    """Train through the job runner; note the time left it shows once the first epoch has ended."""
    from backend.core.clock import utcnow
    from backend.runtime import runner
    from backend.runtime.views import get_job
    from backend.training.service import time_left
    from backend.training.tasks import start_training

    timed = Timed(name=name, estimate=estimate)
    job_id = start_training(version_id, cfg, preset=preset, allow_errors=True, name=name, actor=SHELL_ADMIN)
    seen_at = None
    while True:
        job = get_job(job_id)
        if not job.active:
            break
        if seen_at is None and job.live_epochs:
            now = utcnow()
            left = time_left(job, now)
            if left is not None:
                timed.left_after_first, seen_at = left, now
        time.sleep(0.5)
    job = runner.wait_for(job_id, timeout_s=60)
    if job.status != "succeeded" or job.started_at is None or job.finished_at is None:
        raise SystemExit(f"training job {job.status}: {job.error}")
    timed.total_s = (job.finished_at - job.started_at).total_seconds()
    if seen_at is not None:
        timed.actual_left_s = (job.finished_at - seen_at).total_seconds()
    timed.epochs = len(job.live_epochs) or cfg.epochs
    timed.load_end = os.getloadavg()[0]
    return timed


def _row(label: str, estimated: Any, actual: float, basis: str) -> tuple[str, ...]:
    """estimate (range) | actual | ratio | inside the range | basis."""
    inside = "yes" if estimated.low <= actual <= estimated.high else "no"
    return (label, estimated.text(), f"{actual:.0f} s", f"{estimated.seconds / actual:.2f}", inside, basis)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--note", default="", help="a sentence on the machine's state (e.g. other jobs running)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="plateops-bench-estimate-"))
    load_start = os.getloadavg()[0]
    try:
        _fresh_settings(tmp / "workspace")
        from backend.core.settings import init_workspace
        from backend.data.datasets import create_demo_dataset
        from backend.training.service import build_config, estimate_training

        init_workspace()
        version = create_demo_dataset(images=args.images, seed=0)
        train, val = version.counts.train or 0, version.counts.val or 0
        quick_cfg = build_config("quick_cpu")
        custom_cfg = build_config(None, CUSTOM)
        # Before any run: the timed step and the defaults (what a new user sees first), for both settings.
        quick_first = estimate_training(quick_cfg, train, val)
        custom_first = estimate_training(custom_cfg, train, val)
        quick = _train(version.id, quick_cfg, preset="quick_cpu", name="bench-quick", estimate=quick_first)
        # After it: the custom run estimated as the Train page would then (one finished run here).
        custom_after = estimate_training(custom_cfg, train, val)
        custom = _train(version.id, custom_cfg, preset=None, name="bench-custom", estimate=custom_after)

        rows = [
            _row("Quick preset, before any run here", quick_first.time, quick.total_s, quick_first.basis),
            _row("custom run, before any run here", custom_first.time, custom.total_s, custom_first.basis),
            _row("custom run, after the Quick run", custom_after.time, custom.total_s, custom_after.basis),
        ]
        for run in (quick, custom):
            left = run.left_after_first
            if left is not None and run.actual_left_s:
                label = f"{run.name}: time left after epoch {left.epoch} of {left.epochs}"
                rows.append(_row(label, left.time, run.actual_left_s, left.basis))
        raw = {
            "images": args.images,
            "train": train,
            "val": val,
            "rows": rows,
            "load_start": load_start,
            "load_end": [quick.load_end, custom.load_end],
        }
        print(json.dumps(raw, indent=1))
        note = f" {args.note.strip()}" if args.note.strip() else ""
        body = (
            "## Training-time estimates (`bench/estimate_time.py`)\n\n"
            f"Estimate against actual time on this machine, on a {args.images}-image demo set ({train} training, "
            f"{val} validation images): the Quick CPU preset ({quick_cfg.epochs} epochs at {quick_cfg.imgsz} px) "
            f"and a custom run ({custom_cfg.epochs} epochs at {custom_cfg.imgsz} px, batch {custom_cfg.batch}), "
            "each through the console's job runner, timed from the job's start to its scored model. The time left "
            "is the one the Train page and Home show once the first epoch has ended, against the time the run "
            "really had left. Goal: ratio within 0.65–1.35 (±35 %). Load average (1 min) at the start "
            f"{load_start:.1f}, after each run {quick.load_end:.1f} and {custom.load_end:.1f}.{note}\n\n"
            + table(rows, ("estimate", "shown", "actual", "estimate / actual", "actual in range", "basis"))
        )
        write_section("estimate_time", body)
        ratios = ", ".join(f"{r[0]}: {r[3]}" for r in rows)
        print(f"Estimate benchmark: {ratios}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
