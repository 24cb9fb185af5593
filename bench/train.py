"""Training benchmark: the Quick CPU preset through the console's job runner over plain `yolo train` with the
same parameters and data (goal ≤ 1.05), and the Quick preset's mAP50 on the demo validation split.

Run: python -m bench.train [--images 400]   (about 2 × 5 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backend.core.access import SHELL_ADMIN
from bench.report import table, write_section


def _fresh_settings(home: Path) -> None:
    os.environ["PLATEOPS_HOME"] = str(home)
    os.environ["PLATEOPS_CLEARML_MODE"] = "offline"
    from backend.core.settings import get_settings
    from backend.store.engine import dispose_all

    get_settings.cache_clear()
    dispose_all()


def plain_yolo_train(data_yaml: Path, out: Path, args: dict, config_dir: Path) -> float:
    """Wall time of the `yolo train` command line with the same arguments (ultralytics' own loggers off)."""
    cli = Path(sys.executable).parent / "yolo"
    argv = [
        str(cli),
        "detect",
        "train",
        f"data={data_yaml}",
        f"project={out.parent}",
        f"name={out.name}",
        "exist_ok=True",
        "device=cpu",
        "verbose=False",
    ]
    argv += [f"{k}={v}" for k, v in args.items()]
    env = {**os.environ, "YOLO_CONFIG_DIR": str(config_dir), "YOLO_AUTOINSTALL": "false"}
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=400)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="plateops-bench-train-"))
    try:
        _fresh_settings(tmp / "workspace")
        from backend.core.settings import init_workspace
        from backend.data.datasets import create_demo_dataset
        from backend.runtime import runner
        from backend.training import service as runs
        from backend.training.tasks import start_training
        from backend.training.trainer import init_ultralytics

        settings = init_workspace()
        version = create_demo_dataset(images=args.images, seed=0)
        cfg = runs.build_config("quick_cpu")
        cfg_args = cfg.ultralytics_args()
        cfg_args["model"] = cfg.model
        config_dir = init_ultralytics(settings)

        # Through the console: job row, worker subprocess, store progress, ClearML offline session, evaluation.
        t0 = time.perf_counter()
        job_id = start_training(
            version.id, cfg, preset="quick_cpu", allow_errors=True, name="bench-quick", actor=SHELL_ADMIN
        )
        job = runner.wait_for(job_id, timeout_s=7200, poll_s=1.0)
        worker_total = time.perf_counter() - t0
        if job.status != "succeeded":
            raise SystemExit(f"training job {job.status}: {job.error}")
        run = runs.run_for_job(job_id)
        evaluation_s = float(run.evaluation.get("seconds") or 0.0)
        worker_train = worker_total - evaluation_s

        plain = plain_yolo_train(Path(version.path) / "data.yaml", tmp / "plain" / "run", cfg_args, config_dir)
        map50 = run.evaluation.get("map50")
        rows = [
            ("plain `yolo train`", f"{plain:.0f} s", "1.00"),
            ("PlateOps job (worker, store, ClearML offline)", f"{worker_train:.0f} s", f"{worker_train / plain:.2f}"),
        ]
        per_class = run.evaluation.get("per_class", {})
        best = sorted(per_class.items(), key=lambda kv: -kv[1].get("ap50", 0))
        best_text = ", ".join(f"{name} {vals.get('ap50', 0):.2f}" for name, vals in best[:3])
        body = (
            "## Training (`bench/train.py`)\n\n"
            f"Quick CPU preset ({cfg.model}, {cfg.epochs} epochs, imgsz {cfg.imgsz}, batch {cfg.batch}) on the "
            f"{args.images}-image demo set, once through the console's job runner and once as plain `yolo train` "
            "with the same arguments and data. The job's time excludes its evaluation step, which plain training "
            "does not do. Goal: job / plain ≤ 1.05. Load average at the end: "
            f"{os.getloadavg()[0]:.1f}.\n\n"
            + table(rows, ("how", "time", "ratio"))
            + f"\n\nQuick preset mAP50 on the demo validation split: **{map50:.3f}** "
            f"(mAP50-95 {run.evaluation.get('map50_95', 0):.3f}); "
            f"best classes: {best_text}; "
            f"CPU latency {run.evaluation.get('latency_ms') or 0:.0f} ms per image at {cfg.imgsz} px."
        )
        write_section("train", body)
        print(f"Training benchmark: job/plain {worker_train / plain:.2f}, Quick mAP50 {map50:.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
