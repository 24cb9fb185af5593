"""Real training through the job runner: run row, weights, metrics, ClearML offline session, model candidate;
cancel mid-training and resume from last.pt."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest

from backend.core.errors import BadInputError
from backend.core.settings import Settings
from backend.data.datasets import import_dataset
from backend.data.import_request import ImportRequest
from backend.runtime import runner
from backend.store import datasets as dataset_store
from backend.store import jobs as job_store
from backend.store import registered_models as model_store
from backend.store.engine import session_scope
from backend.training import service as runs
from backend.training.confidence import load_calibration
from backend.training.tasks import TrainParams, resume_training, start_training
from tests.utils.actors import ADMIN
from tests.utils.tiny_yolo import make_tiny_yolo_dataset

pytestmark = pytest.mark.training  # training jobs run end to end

TINY = {"imgsz": 64, "batch": 8, "workers": 0, "cache": "none", "model": "yolov8n.yaml", "device": "cpu"}


@pytest.fixture
def tiny_version(workspace: Settings, tmp_path: Path) -> int:
    data_yaml = make_tiny_yolo_dataset(tmp_path / "tiny")
    return import_dataset(ImportRequest(source=data_yaml.parent, name="tiny", author="test")).id


def _wait(predicate, timeout_s: float = 300, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        runner.reap()
        time.sleep(0.5)


def test_training_job_records_run_model_and_clearml_session(workspace: Settings, tiny_version: int) -> None:
    job_id = start_training(tiny_version, runs.build_config(None, {**TINY, "epochs": 2}), name="tiny run", actor=ADMIN)
    job = runner.wait_for(job_id, timeout_s=600)
    assert job.status == "succeeded", f"{job.error}\n{runner.tail_log(job, 60)}"
    run = runs.run_for_job(job_id)
    assert run is not None and run.status == "succeeded"
    assert Path(run.weights_path).name == "best.pt" and Path(run.weights_path).is_file()
    assert (Path(run.run_dir) / "weights" / "last.pt").is_file()
    metrics = json.loads((Path(run.run_dir) / "metrics.json").read_text())
    assert len(metrics["history"]) == 2
    assert [h["epoch"] for h in run.history] == [1, 2]
    assert set(run.evaluation) >= {"map50", "map50_95", "precision", "recall", "per_class", "latency_ms"}
    assert 0.0 <= run.evaluation["map50"] <= 1.0
    # The confidence calibration, fitted on the val split at the end of the job, beside the weights.
    calibration = load_calibration(Path(run.weights_path).parent / "calibration.json")
    assert calibration.images == 8 and calibration.detections == run.evaluation["calibration"]["detections"]
    # The live view saw both epochs while it ran.
    assert [e["epoch"] for e in job.live["epochs"]] == [1, 2]
    # ClearML offline session in the workspace, holding the per-epoch scalars.
    assert run.tracking["mode"] == "offline"
    session_zip = Path(run.tracking["session_zip"])
    assert session_zip.is_file() and workspace.clearml_dir.resolve() in session_zip.resolve().parents
    with zipfile.ZipFile(session_zip) as zf:
        text = "\n".join(
            zf.read(n).decode("utf-8", "replace")
            for n in zf.namelist()
            if n.endswith((".json", ".jsonl")) or "metrics" in n
        )
    assert "mAP50" in text or "map50" in text
    # Registered as a candidate model.
    with session_scope() as session:
        models = model_store.list_models(session=session)
    assert [(m.name, m.stage, m.run_id) for m in models] == [("tiny-run", "candidate", run.id)]


def test_cancel_mid_training_then_resume_from_last_pt(workspace: Settings, tiny_version: int) -> None:
    # Ten epochs: a tiny epoch takes well under a second on a quiet machine, so with three the run could end before
    # the cancel landed (seen once: all three done). The cancel stops at the end of the epoch in progress.
    epochs = 10
    config = runs.build_config(None, {**TINY, "epochs": epochs})
    job_id = start_training(tiny_version, config, name="stop-and-go", actor=ADMIN)

    def one_epoch_done() -> bool:
        with session_scope() as session:
            return len(job_store.get_job(session=session, job_id=job_id).live.get("epochs", [])) >= 1

    _wait(one_epoch_done, what="the first epoch")
    runner.cancel(job_id, actor=ADMIN)
    job = runner.wait_for(job_id, timeout_s=300)
    assert job.status == "cancelled", job.error
    run = runs.run_for_job(job_id)
    assert run.status == "cancelled"
    assert (Path(run.run_dir) / "weights" / "last.pt").is_file()
    done_epochs = len(run.history)
    assert 1 <= done_epochs < epochs

    resume_job = resume_training(run.id, actor=ADMIN)
    resumed = runner.wait_for(resume_job, timeout_s=600)
    assert resumed.status == "succeeded", f"{resumed.error}\n{runner.tail_log(resumed, 60)}"
    run = runs.get_run(run.id)
    assert run.status == "succeeded"
    assert [h["epoch"] for h in run.history] == list(range(1, epochs + 1))
    with pytest.raises(BadInputError, match="only a failed or cancelled run"):
        resume_training(run.id, actor=ADMIN)


def test_error_level_issues_block_launch_unless_confirmed(workspace: Settings, tiny_version: int) -> None:
    with session_scope() as session:
        dataset_store.set_validation(
            session=session,
            version_id=tiny_version,
            status="errors",
            summary={"issues_by_severity": {"error": 3}},
            issues=[],
        )
    with pytest.raises(BadInputError, match="3 error-level data issue"):
        start_training(tiny_version, runs.build_config("quick_cpu"), preset="quick_cpu", actor=ADMIN)
    config = runs.build_config("quick_cpu", {**TINY, "epochs": 1})
    job_id = start_training(tiny_version, config, preset="quick_cpu", allow_errors=True, actor=ADMIN)
    runner.cancel(job_id, actor=ADMIN)
    with session_scope() as session:
        stored = job_store.get_job(session=session, job_id=job_id).params
    # The job carries the settings as the page validated them (model_dump as JSON), read back into the same model.
    assert TrainParams.model_validate(stored) == TrainParams(
        version_id=tiny_version, config=config, run_name=stored["run_name"], preset="quick_cpu"
    )
    with pytest.raises(BadInputError, match="Unknown training setting"):
        runs.build_config(None, {"epochz": 3})


def test_clearml_queue_executor_without_a_server_fails_in_plain_words(
    workspace: Settings, tiny_version: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.core.settings import get_settings

    monkeypatch.setenv("PLATEOPS_EXECUTOR", "clearml-queue")
    for var in ("CLEARML_API_HOST", "CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLEARML_CONFIG_FILE", str(workspace.home / "no-clearml.conf"))
    get_settings.cache_clear()
    job_id = start_training(tiny_version, runs.build_config(None, {**TINY, "epochs": 1}), name="remote", actor=ADMIN)
    job = runner.wait_for(job_id, timeout_s=300)
    assert job.status == "failed"
    assert "ClearML server" in job.error and "clearml-init" in job.error
    run = runs.run_for_job(job_id)
    assert run.status == "failed"
    assert not (Path(run.run_dir) / "weights").exists()  # nothing trained locally
