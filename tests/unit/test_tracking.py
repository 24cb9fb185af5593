"""backend.training.tracking: mode detection, real ClearML offline sessions, session listing, queue arguments."""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.core.params import TrainConfig, load_params
from backend.core.settings import Settings, get_settings
from backend.training.tracking import (
    ClearMLRun,
    TrackingMode,
    TrackingUnavailableError,
    build_train_argv,
    detect_tracking_mode,
    enqueue_training,
    import_command,
    init_tracking,
    list_offline_sessions,
)
from tests.utils.tiny_yolo import isolate_ml_env

PARAMS_FILE = Path(__file__).resolve().parents[2] / "params.yaml"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    isolate_ml_env(monkeypatch, tmp_path, clearml_mode="auto")
    yield get_settings()
    get_settings.cache_clear()


def _events(session_dir: Path) -> list[dict]:
    lines = (session_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [event for line in lines if line.strip() for event in json.loads(line)]


def test_auto_mode_is_offline_without_a_server(settings: Settings) -> None:
    assert detect_tracking_mode(settings) is TrackingMode.OFFLINE


def test_auto_mode_is_online_with_a_config_file_or_api_variables(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "home" / "clearml.conf").write_text("api {}\n")
    assert detect_tracking_mode(settings) is TrackingMode.ONLINE
    (tmp_path / "home" / "clearml.conf").unlink()
    monkeypatch.setenv("CLEARML_API_HOST", "http://clearml.invalid:8008")
    assert detect_tracking_mode(settings) is TrackingMode.ONLINE
    monkeypatch.delenv("CLEARML_API_HOST")
    monkeypatch.setenv("CLEARML_CONFIG_FILE", str(tmp_path / "missing.conf"))
    assert detect_tracking_mode(settings) is TrackingMode.OFFLINE


def test_settings_mode_overrides_detection(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARML_API_HOST", "http://clearml.invalid:8008")
    monkeypatch.setenv("PLATEOPS_CLEARML_MODE", "off")
    get_settings.cache_clear()
    assert detect_tracking_mode(get_settings()) is TrackingMode.OFF
    monkeypatch.setenv("PLATEOPS_CLEARML_MODE", "offline")
    get_settings.cache_clear()
    assert detect_tracking_mode(get_settings()) is TrackingMode.OFFLINE


def test_init_tracking_puts_clearml_cache_in_the_workspace(settings: Settings) -> None:
    import os

    assert init_tracking(settings) is TrackingMode.OFFLINE
    assert Path(os.environ["CLEARML_CACHE_DIR"]) == settings.clearml_dir.resolve()


def test_offline_run_writes_an_importable_session(settings: Settings, tmp_path: Path) -> None:
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"not really a model")
    run = ClearMLRun(
        settings,
        name="unit-run",
        tags=["preset:quick_cpu"],
        hyperparams={"epochs": 2, "lr0": 0.01, "data": tmp_path / "data.yaml"},
        dataset_version="v7",
    ).start()
    assert run.active and run.info.mode == "offline" and run.info.task_id
    for epoch, value in ((1, 0.25), (2, 0.5)):
        run.log_scalars(epoch, {"metrics": {"mAP50": value, "recall": None}, "train": {"box_loss": 3 - value}})
    run.log_values({"map50": 0.5})
    run.log_evaluation(
        {
            "per_class": {"a": {"ap50": 0.4, "ap50_95": 0.2}, "b": {"ap50": 0.6, "ap50_95": 0.3}},
            "pr_curve": {"a": {"recall": [0.0, 1.0], "precision": [1.0, 0.5]}},
            "confusion_matrix": {"names": ["a", "b", "background"], "matrix": [[1, 0, 0], [0, 2, 1], [1, 0, 0]]},
        },
        iteration=2,
    )
    run.log_model(weights)
    info = run.close()
    assert info.note == ""
    assert info.session_dir is not None and info.session_zip is not None and info.session_zip.is_file()
    # layout: <clearml_dir>/offline/<task_id>/ and <task_id>.zip
    assert info.session_dir == settings.clearml_dir.resolve() / "offline" / info.task_id
    assert info.session_zip == info.session_dir.with_name(f"{info.task_id}.zip")

    events = _events(info.session_dir)
    scalars = {
        (e["metric"], e["variant"], e["iter"]): e["value"] for e in events if e["type"] == "training_stats_scalar"
    }
    assert scalars[("metrics", "mAP50", 1)] == pytest.approx(0.25)
    assert scalars[("metrics", "mAP50", 2)] == pytest.approx(0.5)
    assert scalars[("train", "box_loss", 2)] == pytest.approx(2.5)
    assert not any(key[1] == "recall" for key in scalars)
    plots = {(e["metric"], e["variant"]) for e in events if e["type"] == "plot"}
    assert {("Per-class AP", "AP50"), ("Precision-recall curve", "a"), ("Confusion matrix", "val")} <= plots

    task = json.loads((info.session_dir / "task.json").read_text(encoding="utf-8"))
    assert task["name"] == "unit-run" and task["project_name"] == settings.clearml_project
    assert {"preset:quick_cpu", "dataset:v7"} <= set(task["tags"])
    assert task["hyperparams"]["train"]["epochs"]["value"] == "2"
    assert task["hyperparams"]["dataset"]["version"]["value"] == "v7"
    model_file = Path(task["offline_output_models"][0]["weights"]["weights_filename"])
    assert model_file.read_bytes() == weights.read_bytes()

    with zipfile.ZipFile(info.session_zip) as archive:
        names = set(archive.namelist())
    assert {"task.json", "metrics.jsonl", "models/best.pt"} <= names

    sessions = list_offline_sessions(settings)
    assert [s.task_id for s in sessions] == [info.task_id]
    assert sessions[0].name == "unit-run" and sessions[0].zip_path == info.session_zip
    assert import_command(sessions[0]) == f"clearml-task --import-offline-session {info.session_zip}"
    assert (settings.clearml_dir / ".session.json").is_file()
    assert not (tmp_path / "home" / ".clearml").exists()


def test_off_mode_is_a_no_op(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATEOPS_CLEARML_MODE", "off")
    get_settings.cache_clear()
    run = ClearMLRun(get_settings(), name="quiet").start()
    run.log_scalars(1, {"metrics": {"mAP50": 0.1}})
    run.log_model(Path("missing.pt"))
    info = run.close()
    assert info.mode == "off" and "off" in info.note
    assert list_offline_sessions(get_settings()) == []


def test_missing_clearml_turns_tracking_off_with_a_reason(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "clearml", None)  # import clearml -> ImportError
    run = ClearMLRun(settings, name="no-clearml").start()
    assert not run.active
    assert run.info.mode == "off" and "not installed" in run.info.note


def test_train_argv_round_trips_through_the_cli_parser(tmp_path: Path) -> None:
    from jobs.train import _parse_sets, build_parser

    cfg = load_params(PARAMS_FILE).train_config(preset="full_gpu", overrides={"cos_lr": True, "cache": "none"})
    argv = build_train_argv(
        cfg, data_yaml=tmp_path / "data.yaml", out_dir="runs/r1", run_name="r1", tags=["x"], dataset_version="v2"
    )
    args = build_parser().parse_args(argv)
    assert args.data == str(tmp_path / "data.yaml") and args.out == "runs/r1" and args.name == "r1"
    assert args.dataset_version == "v2" and args.tag == ["x"] and not args.resume
    rebuilt = TrainConfig().model_copy(
        update={
            **_parse_sets(args.set),
            "model": args.model,
            "epochs": args.epochs,
            "imgsz": args.imgsz,
            "batch": args.batch,
            "device": args.device,
        }
    )
    assert TrainConfig.model_validate(rebuilt.model_dump()) == cfg


def test_enqueue_without_a_server_says_what_to_do(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(TrackingUnavailableError, match="clearml-init"):
        enqueue_training(TrainConfig(), data_yaml=tmp_path / "data.yaml", run_name="r", queue="gpu", settings=settings)
