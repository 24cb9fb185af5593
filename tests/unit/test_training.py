"""Real ultralytics training, cancellation, resume and evaluation on a tiny generated dataset, and the CLIs.

One module-scoped training run (2 epochs at 64 px) is shared by the evaluation and CLI tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.core.params import TrainConfig
from backend.core.settings import Settings, get_settings
from backend.training.confidence import load_calibration
from backend.training.evaluation import evaluate, write_eval_json
from backend.training.held_out import score_split, split_images
from backend.training.trainer import (
    AlreadyFinishedError,
    BadDataError,
    EpochMetrics,
    MissingWeightsError,
    NothingToResumeError,
    TrainingCancelledError,
    TrainResult,
    resolve_device,
    resolve_model,
    train,
)
from tests.utils.tiny_yolo import TINY_CLASSES, isolate_ml_env, make_tiny_yolo_dataset

pytestmark = pytest.mark.training  # real (tiny) training runs, built once per module

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TINY = {"imgsz": 64, "batch": 8, "nbs": 8, "workers": 0, "cache": "none", "close_mosaic": 0, "warmup_epochs": 0}


@dataclass
class TrainedRun:
    settings: Settings
    data_yaml: Path
    result: TrainResult
    epochs_seen: list[EpochMetrics]
    progress: list[tuple[float | None, str]]
    root: Path


@pytest.fixture(scope="module")
def env_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("training")
    with pytest.MonkeyPatch.context() as patch:
        isolate_ml_env(patch, root)
        yield root
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def data_yaml(env_root: Path) -> Path:
    return make_tiny_yolo_dataset(env_root / "data")


@pytest.fixture(scope="module")
def trained(env_root: Path, data_yaml: Path) -> TrainedRun:
    settings = get_settings()
    epochs_seen: list[EpochMetrics] = []
    progress: list[tuple[float | None, str]] = []
    cfg = TrainConfig(model="yolov8n.yaml", epochs=2, device="cpu", **TINY)
    result = train(
        cfg,
        data_yaml=data_yaml,
        out_dir=settings.runs_dir / "first",
        run_name="first",
        tags=["preset:test"],
        dataset_version="v1",
        progress=lambda fraction, message="": progress.append((fraction, message)),
        on_epoch=epochs_seen.append,
    )
    return TrainedRun(settings, data_yaml, result, epochs_seen, progress, env_root)


def test_train_writes_weights_and_metrics(trained: TrainedRun) -> None:
    result = trained.result
    run_dir = trained.settings.runs_dir.resolve() / "first"
    assert result.run_dir == run_dir
    assert (run_dir / "weights" / "best.pt").is_file() and (run_dir / "weights" / "last.pt").is_file()
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["status"] == "completed" and metrics["epochs_completed"] == 2
    assert [row["epoch"] for row in metrics["history"]] == [1, 2]
    for row in metrics["history"]:
        assert row["box_loss"] > 0 and row["cls_loss"] > 0 and row["seconds"] > 0
        assert 0 <= row["map50"] <= 1 and 0 <= row["map50_95"] <= row["map50"] + 1e-9
    assert set(metrics["final"]) == {"map50", "map50_95", "precision", "recall"}
    assert set(metrics["per_class"]) == set(TINY_CLASSES)
    assert metrics["config"]["epochs"] == 2 and metrics["dataset_version"] == "v1"
    assert metrics["durations"]["total_s"] > 0
    assert result.summary_line().startswith("Trained yolov8n.yaml for 2 epochs in ")
    assert "mAP50" in result.summary_line() and str(run_dir / "weights" / "best.pt") in result.summary_line()


def test_train_fits_the_familiarity_reference_beside_best_pt(trained: TrainedRun) -> None:
    from backend.training.familiarity import FamiliarityModel, reference_path

    best = trained.result.best
    reference = FamiliarityModel.load(reference_path(best))  # best.familiarity.npz + .json beside best.pt
    figures = json.loads(reference_path(best).with_suffix(".json").read_text(encoding="utf-8"))
    # fitted on the training split, thresholded on the validation split of the run's own dataset, at its imgsz
    assert (figures["train_images"], figures["val_images"], figures["imgsz"]) == (24, 8, TINY["imgsz"])
    assert figures["data"] == str(trained.data_yaml.resolve())
    assert 0 <= figures["val_false_refusals"] <= figures["target_false_refusals"]
    assert trained.result.familiarity["threshold"] == reference.threshold == figures["threshold"]
    assert any("familiarity" in message for _, message in trained.progress)


def test_on_epoch_and_progress_are_called(trained: TrainedRun) -> None:
    assert [m.epoch for m in trained.epochs_seen] == [1, 2]
    assert all(m.epochs == 2 for m in trained.epochs_seen)
    assert trained.epochs_seen == trained.result.history
    fractions = [f for f, _ in trained.progress if f is not None]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    messages = [m for _, m in trained.progress]
    assert any(m.startswith("Epoch 1/2 — box loss") and "mAP50" in m for m in messages)
    # every epoch says how long the run has left and give or take how much, from the run's own epochs
    assert all(m.remaining_s is not None and m.remaining_margin_s is not None for m in trained.epochs_seen)
    assert any(m.startswith("Epoch 1/2 — box loss") and " left (" in m for m in messages)
    assert any("batch" in m for m in messages)


def test_clearml_offline_session_holds_the_epoch_scalars(trained: TrainedRun) -> None:
    tracking = trained.result.tracking
    assert tracking.mode == "offline" and tracking.note == ""
    offline = trained.settings.clearml_dir.resolve() / "offline"
    assert tracking.session_zip == offline / f"{tracking.task_id}.zip"
    with zipfile.ZipFile(tracking.session_zip) as archive:
        events = [e for line in archive.read("metrics.jsonl").decode().splitlines() if line for e in json.loads(line)]
        task = json.loads(archive.read("task.json"))
        assert "models/best.pt" in archive.namelist()
    scalars = {
        (e["metric"], e["variant"], e["iter"]): e["value"] for e in events if e["type"] == "training_stats_scalar"
    }
    for m in trained.result.history:
        assert scalars[("metrics", "mAP50", m.epoch)] == pytest.approx(m.map50, abs=1e-6)
        assert scalars[("train", "box_loss", m.epoch)] == pytest.approx(m.box_loss, abs=1e-4)
        assert ("lr", "pg0", m.epoch) in scalars
    assert {"preset:test", "dataset:v1"} <= set(task["tags"])
    assert task["hyperparams"]["train"]["imgsz"]["value"] == "64"
    assert any(e["type"] == "plot" and e["metric"] == "Per-class AP" for e in events)
    metrics = json.loads(trained.result.metrics_path.read_text(encoding="utf-8"))
    assert metrics["tracking"]["task_id"] == tracking.task_id


def test_plot_font_is_placed_so_nothing_downloads(trained: TrainedRun) -> None:
    import ultralytics.utils

    font = Path(ultralytics.utils.USER_CONFIG_DIR) / "Arial.ttf"
    assert font.is_file() and font.stat().st_size > 100_000  # matplotlib's DejaVuSans under ultralytics' name
    assert not (trained.root / "home" / ".config" / "Ultralytics").exists()


def test_evaluation_json_schema_and_ranges(trained: TrainedRun, tmp_path: Path) -> None:
    seen: list[float | None] = []
    result = evaluate(
        trained.result.best, trained.data_yaml, imgsz=64, device="cpu", progress=lambda f, m="": seen.append(f)
    )
    path = write_eval_json(result, tmp_path / "m.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert {"map50", "map50_95", "precision", "recall", "per_class", "latency_ms"} <= set(data)
    assert {"confusion_matrix", "pr_curve", "model_size_mb", "images", "imgsz"} <= set(data)
    for key in ("map50", "map50_95", "precision", "recall"):
        assert 0.0 <= data[key] <= 1.0
    assert set(data["per_class"]) == set(TINY_CLASSES)
    for values in data["per_class"].values():
        assert set(values) == {"ap50", "ap50_95"} and 0 <= values["ap50_95"] <= values["ap50"] <= 1
    assert data["latency_ms"] > 0 and data["images"] == 8 and data["imgsz"] == 64
    assert 1 < data["model_size_mb"] < 20
    matrix = data["confusion_matrix"]
    assert matrix["names"] == [*TINY_CLASSES, "background"]
    assert len(matrix["matrix"]) == 4 and all(len(row) == 4 for row in matrix["matrix"])
    assert sum(map(sum, matrix["matrix"])) >= 19  # every labelled box lands in some cell (19 in the val split)
    for curve in data["pr_curve"].values():
        assert len(curve["recall"]) == len(curve["precision"]) <= 101
        assert all(0 <= v <= 1 for v in curve["precision"])
    assert seen[-1] == 1.0


def test_held_out_scores_name_each_detections_picture(trained: TrainedRun, data_yaml: Path) -> None:
    """`HeldOutScores.image_of` numbers pictures across batches (24 train + 8 val pictures, batches of 16), so the
    calibration benchmark's bootstrap can resample whole pictures."""
    weights = trained.result.run_dir / "weights" / "best.pt"
    both, _ = score_split(weights, data_yaml, splits=("train", "val"), min_score=0.001, imgsz=64, device="cpu")
    val, _ = score_split(weights, data_yaml, splits=("val",), min_score=0.001, imgsz=64, device="cpu")
    train_pictures = len(split_images(data_yaml, ("train",)))
    assert train_pictures == 24 and both.images == 32
    assert len(both.image_of) == len(both.scores) > 0 and len(val.image_of) == len(val.scores) > 0
    assert np.all(np.diff(both.image_of) >= 0) and both.image_of.min() >= 0 and both.image_of.max() < 32
    tail = both.image_of >= train_pictures  # the val pictures come last, numbered on from the train ones
    assert np.array_equal(both.image_of[tail] - train_pictures, val.image_of)
    assert np.allclose(both.scores[tail], val.scores) and list(np.asarray(both.names)[tail]) == list(val.names)


def test_cancel_keeps_last_pt_and_resume_finishes(env_root: Path, data_yaml: Path) -> None:
    settings = get_settings()
    out = settings.runs_dir / "cancel-resume"
    cfg = TrainConfig(model="yolov8n.yaml", epochs=2, device="cpu", **TINY)

    def stop_after_first(m: EpochMetrics) -> None:
        if m.epoch == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # what the job worker sends to cancel

    previous_handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingCancelledError, match=r"last\.pt keeps epoch 1"):
        train(cfg, data_yaml=data_yaml, out_dir=out, run_name="cr", on_epoch=stop_after_first)
    assert signal.getsignal(signal.SIGTERM) == previous_handler
    stopped = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert stopped["status"] == "cancelled" and [r["epoch"] for r in stopped["history"]] == [1]
    ckpt = torch.load(out / "weights" / "last.pt", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 0 and ckpt["optimizer"] is not None  # a resumable mid-run checkpoint

    seen: list[int] = []
    resumed = train(
        cfg.model_copy(update={"resume": True}),
        data_yaml=data_yaml,
        out_dir=out,
        run_name="cr",
        on_epoch=lambda m: seen.append(m.epoch),
    )
    assert seen == [2]
    assert resumed.resumed and [m.epoch for m in resumed.history] == [1, 2]
    assert resumed.summary_line().startswith("Resumed ")
    done = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert done["status"] == "completed" and done["resumed_from_epoch"] == 1
    assert [r["epoch"] for r in done["history"]] == [1, 2]

    with pytest.raises(AlreadyFinishedError, match="already finished"):
        train(cfg.model_copy(update={"resume": True}), data_yaml=data_yaml, out_dir=out, run_name="cr")


def test_resume_without_checkpoint_is_refused(env_root: Path, data_yaml: Path) -> None:
    with pytest.raises(NothingToResumeError, match="Nothing to resume"):
        train(TrainConfig(resume=True), data_yaml=data_yaml, out_dir=env_root / "empty-run", run_name="x")


def test_bad_data_yaml_is_refused_plainly(env_root: Path, data_yaml: Path) -> None:
    with pytest.raises(BadDataError, match="does not exist"):
        train(TrainConfig(), data_yaml=env_root / "missing.yaml", out_dir=env_root / "r", run_name="x")
    no_names = env_root / "no_names.yaml"
    no_names.write_text(f"path: {data_yaml.parent}\ntrain: images/train\nval: images/val\n")
    with pytest.raises(BadDataError, match="names"):
        train(TrainConfig(), data_yaml=no_names, out_dir=env_root / "r", run_name="x")
    no_val = env_root / "no_val.yaml"
    no_val.write_text(f"path: {data_yaml.parent}\ntrain: images/train\nval: images/nope\nnames: {{0: a}}\n")
    with pytest.raises(BadDataError, match="missing"):
        train(TrainConfig(), data_yaml=no_val, out_dir=env_root / "r", run_name="x")


def test_model_resolution_never_downloads(env_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ultralytics.utils

    assert resolve_model("yolov8n.yaml") == "yolov8n.yaml"
    assert resolve_model("yolo11s.yaml") == "yolo11s.yaml"
    monkeypatch.setattr(ultralytics.utils, "is_online", lambda: False)
    with pytest.raises(MissingWeightsError, match=r"yolov8x\.yaml"):
        resolve_model("yolov8x.pt")
    local = env_root / "local.pt"
    local.write_bytes(b"x")
    assert resolve_model(str(local)) == str(local)
    with pytest.raises(Exception, match="Unknown model architecture"):
        resolve_model("yolo99z.yaml")


def test_device_auto_follows_cuda() -> None:
    assert resolve_device("auto") == ("0" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu" and resolve_device(1) == "1"


def _cli(*args: str, env_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_help(env_root: Path) -> None:
    for job in ("jobs.train", "jobs.evaluate"):
        done = _cli(job, "--help", env_root=env_root)
        assert done.returncode == 0 and "--data" in done.stdout and "--out" in done.stdout


def test_cli_bad_data_path_is_a_clear_one_line_error(env_root: Path) -> None:
    done = _cli("jobs.train", "--data", str(env_root / "nope" / "data.yaml"), "--out", "x", env_root=env_root)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.strip().startswith("error: Dataset file") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = _cli("jobs.evaluate", "--weights", "nope.pt", "--data", "x.yaml", "--out", "m.json", env_root=env_root)
    assert done.returncode != 0 and "error:" in done.stderr and "Traceback" not in done.stderr


def test_cli_train_and_evaluate_print_one_summary_line(trained: TrainedRun, tmp_path: Path) -> None:
    run_dir = tmp_path / "cli-run"
    settings_args = [f"--set={k}={v}" for k, v in TINY.items() if k not in {"imgsz", "batch"}]
    done = _cli(
        "jobs.train",
        "--data",
        str(trained.data_yaml),
        "--out",
        str(run_dir),
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "8",
        "--device",
        "cpu",
        *settings_args,
        env_root=trained.root,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Trained yolov8n.yaml for 1 epoch in ")
    assert (run_dir / "weights" / "best.pt").is_file() and (run_dir / "metrics.json").is_file()
    # The confidence calibration, fitted on the val split, beside the weights.
    calibration = load_calibration(run_dir / "weights" / "calibration.json")
    assert calibration.images == 8 and "val split" in calibration.source and calibration.imgsz == 64
    assert "confidence calibration: ECE" in done.stderr

    out = tmp_path / "m.json"
    done = _cli(
        "jobs.evaluate",
        "--weights",
        str(run_dir / "weights" / "best.pt"),
        "--data",
        str(trained.data_yaml),
        "--out",
        str(out),
        "--imgsz",
        "64",
        "--device",
        "cpu",
        env_root=trained.root,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Evaluated best.pt on 8 val images: mAP50 ")
    assert set(json.loads(out.read_text(encoding="utf-8"))) >= {"map50", "per_class", "latency_ms"}
