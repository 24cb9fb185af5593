"""AppTest: the Train page — no data, presets and estimate, launch, live progress, cancel, blocked data, failed
run with Resume, and a finished run with its results and ClearML offline session.

Training jobs never start a worker here: `PLATEOPS_JOB_CONCURRENCY={"train": 0}` keeps them queued, and the
live and finished views are fed by writing job and run rows directly, as the worker would.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from backend.core.settings import Settings, get_settings
from backend.store import datasets as dataset_store
from backend.store import jobs as job_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.records import Job
from backend.store.rows import utcnow
from backend.training import speed as speed_module
from backend.training.speed import StepSpeed
from tests.pages.apptest_utils import all_text, open_page
from tests.utils.tiny_yolo import make_tiny_yolo_dataset

PAGE = "pages/train.py"


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def epoch_row(epoch: int, epochs: int = 10) -> dict[str, float | int]:
    return {
        "epoch": epoch,
        "epochs": epochs,
        "box_loss": 2.0 - 0.2 * epoch,
        "cls_loss": 3.0 - 0.3 * epoch,
        "dfl_loss": 1.5 - 0.05 * epoch,
        "precision": 0.1 * epoch,
        "recall": 0.08 * epoch,
        "map50": 0.09 * epoch,
        "map50_95": 0.05 * epoch,
        "lr": 0.002,
        "seconds": 20.0,
    }


def charts(at: AppTest) -> int:
    return len(at.get("vega_lite_chart")) + len(at.get("arrow_vega_lite_chart"))


def train_jobs() -> list[Job]:
    with session_scope() as session:
        return job_store.list_jobs(session=session, kind="train", limit=50)


@pytest.fixture(name="queued_only")
def fixture_queued_only(workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """No training slot: launched jobs stay queued and no worker process ever starts.

    The training step counts as timed already (a real timing, tested in test_training_estimate, takes minutes on a
    busy machine and would time the page out): its kept timing is the one the Train page reads.
    """
    monkeypatch.setenv("PLATEOPS_JOB_CONCURRENCY", '{"train": 0}')
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.job_concurrency == {"train": 0}
    timed = StepSpeed("yolov8n.yaml", 0.02, 0.06, 0.007, 0.02, cpus=os.cpu_count() or 1, load=None, measured_at="")
    for model in ("yolov8n.yaml", "yolo11n.yaml", "yolo11s.yaml"):
        speed_module._keep(replace(timed, model=model))
    return settings


def add_version(tmp_path: Path, status: str = "passed", errors: int = 0) -> int:
    """A dataset version row pointing at a real tiny YOLO dataset, with the given validation result."""
    data_yaml = make_tiny_yolo_dataset(tmp_path / "tiny", train=6, val=2, size=64)
    with session_scope() as session:
        ds = dataset_store.create_dataset(session=session, name="lunch", source="yolo")
        version = dataset_store.create_version(
            session=session,
            dataset_id=ds.id,
            path=str(data_yaml.parent),
            stats={"images": 8, "train": 6, "val": 2},
            message="first import",
        )
        issues = [
            {"file": f"train_00{i}.png", "check": "corrupt_image", "severity": "error", "message": "broken"}
            for i in range(errors)
        ]
        summary = {"issues_by_severity": {"error": errors}} if errors else {"issues_by_severity": {}}
        dataset_store.set_validation(
            session=session, version_id=version.id, status=status, summary=summary, issues=issues
        )
    return version.id


def add_job(status: str, *, epochs_live: int = 0, progress: float | None = None, **fields: object) -> int:
    with session_scope() as session:
        job = job_store.create_job(
            session=session,
            kind="train",
            params={"version_id": 1, "preset": "quick_cpu", "config": {"epochs": 10}, "run_name": "lunch-v1"},
            title="Train lunch-v1 (yolov8n.yaml, 10 epochs)",
        )
        values: dict[str, object] = {"status": status, **fields}
        if status in ("running", "succeeded", "failed", "cancelled"):
            values.setdefault("started_at", utcnow())
            values.setdefault("heartbeat_at", utcnow())
        if status in ("succeeded", "failed", "cancelled"):
            values.setdefault("finished_at", utcnow())
        if epochs_live:
            values["live"] = {"run_id": None, "epochs": [epoch_row(e) for e in range(1, epochs_live + 1)]}
        if progress is not None:
            values["progress"] = progress
        job_store.update_job(session=session, job_id=job.id, changes=job_store.JobUpdate(**values))
    return job.id


def add_run(job_id: int, version_id: int, run_dir: Path, status: str, **fields: object) -> int:
    with session_scope() as session:
        run = run_store.create_run(
            session=session,
            name="lunch-v1-quick",
            job_id=job_id,
            dataset_version_id=version_id,
            model="yolov8n.yaml",
            preset="quick_cpu",
            params={"model": "yolov8n.yaml", "epochs": 10, "imgsz": 256, "batch": 16},
            run_dir=str(run_dir),
        )
        run_store.update_run(session=session, run_id=run.id, changes=run_store.RunUpdate(status=status, **fields))
    return run.id


# --- no data ----------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("workspace")
def test_empty_workspace_explains_and_links_to_datasets() -> None:
    at = open_page(PAGE)
    assert "Train" in at.title[0].value
    assert "No dataset yet" in all_text(at)
    assert any("datasets" in link.proto.page for link in at.get("page_link"))
    assert not [b for b in at.button if b.label == "Start training"]


# --- settings and launch ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("queued_only")
def test_presets_are_explained_with_an_estimate(tmp_path: Path) -> None:
    add_version(tmp_path)
    at = open_page(PAGE)
    preset = at.radio(key="train_preset")
    assert preset.options == ["Quick CPU check", "Standard", "Full GPU", "Custom"]
    captions = list(preset.proto.captions)
    assert any("fastest start on a CPU" in c for c in captions) and any("yolo11s" in c for c in captions)
    no_fixed_time = "preset texts state no fixed time (estimates come from this machine)"
    assert not any("minute" in c for c in captions), no_fixed_time
    text = all_text(at)
    # 6 training and 2 validation images, 10 epochs at 256 px, on the timing kept above and the default factors
    assert "Estimated time: about 20 s (10–30 s)" in text, "the estimate and its range"
    assert "Basis: from a training step timed on this machine" in text and "no run has finished here" in text
    assert "yolov8n.yaml" in text and "10 epochs" in text and "256 px" in text
    assert "auto (here: " in text, "device auto says what it resolves to"
    assert "Passed all checks" in text, "the version's validation badge"
    assert "No training yet" in text

    preset.set_value("full_gpu")
    run(at)
    text = all_text(at)
    assert "yolo11s.yaml" in text and "100 epochs" in text and "640 px" in text


@pytest.mark.usefixtures("queued_only")
def test_the_start_button_and_the_page_render_before_the_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first estimate times a training step (seconds): the Start button and the rest of the page are drawn
    first and the estimate fills its place last (a newcomer once watched a blank Start section for about 5 s)."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    from ui.train import setup as train_setup

    drawn_before: list[bool] = []
    real = train_setup.estimate_training

    def watched(*args: object, **kwargs: object) -> object:
        ctx = get_script_run_ctx()
        assert ctx is not None
        drawn_before.append("train_start" in ctx.shared.widget_user_keys_this_run)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train_setup, "estimate_training", watched)
    add_version(tmp_path)
    at = open_page(PAGE)
    assert drawn_before and all(drawn_before), "the Start button is drawn before the estimate is computed"
    assert at.button(key="train_start").label == "Start training"
    assert "Estimated time: about 20 s (10–30 s)" in all_text(at), "the estimate still shows, in the Start section"


@pytest.mark.usefixtures("queued_only")
def test_launch_queues_a_training_job_and_shows_it(tmp_path: Path) -> None:
    version_id = add_version(tmp_path)
    at = open_page(PAGE)
    at.button(key="train_start").click()
    run(at)
    jobs = train_jobs()
    assert len(jobs) == 1
    job = jobs[0]
    assert job.status == "queued" and job.pid is None
    assert job.params["version_id"] == version_id and job.params["preset"] == "quick_cpu"
    assert job.params["config"]["epochs"] == 10
    assert at.selectbox(key="train_job").value == job.id
    assert "Waiting for a free training slot" in all_text(at)


@pytest.mark.usefixtures("queued_only")
def test_custom_settings_launch_with_the_users_values(tmp_path: Path) -> None:
    add_version(tmp_path)
    at = open_page(PAGE)
    at.radio(key="train_preset").set_value("custom")
    run(at)
    at.selectbox(key="train_model").set_value("yolo11n.yaml")
    at.number_input(key="train_epochs").set_value(3)
    at.number_input(key="train_batch").set_value(4)
    at.selectbox(key="train_device").set_value("cpu")
    at.text_input(key="train_name").set_value("my custom run")
    run(at)
    assert "yolo11n.yaml" in all_text(at) and "3 epochs" in all_text(at)
    at.button(key="train_start").click()
    run(at)
    (job,) = train_jobs()
    cfg = job.params["config"]
    assert job.params["preset"] is None and job.params["run_name"] == "my-custom-run"
    assert (cfg["model"], cfg["epochs"], cfg["batch"], cfg["device"]) == ("yolo11n.yaml", 3, 4, "cpu")


@pytest.mark.usefixtures("queued_only")
def test_no_free_weights_path_only_registered_models(tmp_path: Path) -> None:
    add_version(tmp_path)
    at = open_page(PAGE)
    at.radio(key="train_preset").set_value("custom")
    run(at)
    at.selectbox(key="train_model").set_value("other")
    run(at)
    assert "train_model_other" not in [t.key for t in at.text_input], "no free path to a file on the server"
    assert "No registered model yet" in all_text(at)
    assert at.selectbox(key="train_model_reg").options == []


@pytest.mark.usefixtures("queued_only")
def test_error_level_version_blocks_launch_until_confirmed(tmp_path: Path) -> None:
    add_version(tmp_path, status="errors", errors=3)
    at = open_page(PAGE)
    assert "3 error-level data issues" in all_text(at)
    assert at.button(key="train_start").disabled
    at.checkbox(key="train_confirm_errors").check()
    run(at)
    assert not at.button(key="train_start").disabled
    at.button(key="train_start").click()
    run(at)
    assert len(train_jobs()) == 1
    assert not [e.value for e in at.error if "did not work" in e.value]


# --- a job --------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("queued_only")
def test_running_job_shows_epoch_progress_charts_and_log(tmp_path: Path, queued_only: Settings) -> None:
    add_version(tmp_path)
    log = queued_only.logs_dir / "job-train.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("Epoch 3/10 batch 2/4\nstill learning\n")
    job_id = add_job(
        "running", epochs_live=2, progress=0.25, message="Epoch 3/10 — batch 2/4", log_path=str(log), pid=None
    )
    at = open_page(PAGE)
    assert at.selectbox(key="train_job").value == job_id
    text = all_text(at)
    assert "Epoch 3 of 10" in text and "2 finished" in text
    assert [p.proto.value for p in at.get("progress")] == [25]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["mAP50 (last epoch)"] == "0.180"
    assert charts(at) >= 2, "losses and scores per epoch"
    assert "still learning" in "\n".join(str(c.value) for c in at.code)


@pytest.mark.usefixtures("queued_only")
def test_a_running_job_shows_the_time_left_with_its_range_and_basis(tmp_path: Path) -> None:
    add_version(tmp_path)
    job_id = add_job("running", progress=0.05, message="Epoch 1/10 — batch 3/4")
    at = open_page(PAGE)
    assert "The time left shows once the first epoch has ended" in all_text(at), "nothing measured yet"
    live = {
        "run_id": None,
        "epochs": [epoch_row(1)],
        "finish_at": (utcnow() + timedelta(seconds=35 * 60)).isoformat(),
        "finish_margin_s": 9 * 60.0,  # the text below holds while the page takes under a minute to render
    }
    with session_scope() as session:
        job_store.update_job(session=session, job_id=job_id, changes=job_store.JobUpdate(live=live))
    run(at)
    text = all_text(at)
    assert "About 35 min left (25–45 min), from the first epoch of this run." in text


@pytest.mark.usefixtures("queued_only")
def test_cancel_button_cancels_a_queued_job(tmp_path: Path) -> None:
    add_version(tmp_path)
    job_id = add_job("queued")
    at = open_page(PAGE)
    at.button(key=f"train-cancel-{job_id}").click()
    run(at)
    with session_scope() as session:
        assert job_store.get_job(session=session, job_id=job_id).status == "cancelled"
    assert "Cancelled before it started" in all_text(at)


@pytest.mark.usefixtures("queued_only")
def test_failed_run_explains_and_resumes_from_last_pt(tmp_path: Path) -> None:
    version_id = add_version(tmp_path)
    error = (
        "The GPU ran out of memory at batch size 16 and image size 256. Lower the batch size (e.g. --batch 8) "
        "or the image size, then start again (or resume: last.pt keeps the completed epochs)."
    )
    job_id = add_job("failed", error=error, epochs_live=2, failure_code="out_of_memory")
    run_dir = tmp_path / "runs" / "run-1"
    (run_dir / "weights").mkdir(parents=True)
    (run_dir / "weights" / "last.pt").write_bytes(b"checkpoint")
    run_id = add_run(job_id, version_id, run_dir, "failed", history=[epoch_row(1), epoch_row(2)])

    at = open_page(PAGE)
    text = all_text(at)
    assert "ran out of memory" in text and "Lower the batch size" in text
    assert "2 epochs finished" in text
    assert charts(at) >= 2
    at.button(key=f"train-resume-{run_id}").click()
    run(at)
    newest = train_jobs()[0]
    assert newest.id != job_id and newest.status == "queued"
    assert newest.params["resume_run_id"] == run_id and newest.params["config"]["resume"] is True
    assert at.selectbox(key="train_job").value == newest.id, "the page follows the resumed job"


@pytest.mark.usefixtures("queued_only")
def test_crashed_run_shows_failed_with_the_reason_and_resumes(tmp_path: Path) -> None:
    """A worker killed mid-run (dead pid): the runner fails the job, the train recovery fails the run, the page
    offers Resume from last.pt."""
    import subprocess

    from backend.runtime import runner

    version_id = add_version(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer runs, as a SIGKILLed worker's
    job_id = add_job("running", epochs_live=3, pid=gone.pid, host=runner.HOST)
    run_dir = tmp_path / "runs" / "run-1"
    (run_dir / "weights").mkdir(parents=True)
    with zipfile.ZipFile(run_dir / "weights" / "last.pt", "w") as checkpoint:  # torch saves a zip; a whole one
        checkpoint.writestr("archive/data.pkl", b"epoch 3")
    run_id = add_run(job_id, version_id, run_dir, "running", history=[epoch_row(e) for e in (1, 2, 3)])

    at = open_page(PAGE)  # the page's poll reaps: the dead worker is found and its run settled
    with session_scope() as session:
        job = job_store.get_job(session=session, job_id=job_id)
        settled = run_store.get_run(session=session, run_id=run_id)
    assert (job.status, job.failure_code, settled.status) == ("failed", "worker_lost", "failed")
    assert settled.finished_at is not None
    text = all_text(at)
    assert "The worker stopped unexpectedly" in text and "Out of memory" in text
    assert "3 epochs finished" in text
    at.button(key=f"train-resume-{run_id}").click()
    run(at)
    newest = train_jobs()[0]
    assert newest.id != job_id and newest.params["resume_run_id"] == run_id


@pytest.mark.usefixtures("queued_only")
def test_failed_before_first_epoch_offers_no_resume_and_links_data(tmp_path: Path) -> None:
    version_id = add_version(tmp_path)
    job_id = add_job("failed", error="The dataset cannot be used for training: labels missing", failure_code="dataset")
    add_run(job_id, version_id, tmp_path / "runs" / "empty", "failed")
    at = open_page(PAGE)
    text = all_text(at)
    assert "The data could not be used" in text and "nothing to resume" in text
    assert not [b for b in at.button if b.label == "Resume from last epoch"]


@pytest.mark.usefixtures("queued_only")
def test_finished_run_shows_metrics_per_class_ap_and_clearml_import(tmp_path: Path, queued_only: Settings) -> None:
    version_id = add_version(tmp_path)
    session_dir = queued_only.clearml_dir / "offline" / "offline-abc123"
    session_dir.mkdir(parents=True)
    (session_dir / "task.json").write_text(json.dumps({"id": "offline-abc123", "name": "lunch-v1-quick"}))
    session_zip = session_dir.with_name("offline-abc123.zip")
    with zipfile.ZipFile(session_zip, "w") as zf:
        zf.writestr("task.json", "{}")
    job_id = add_job("succeeded", result={"map50": 0.52})
    evaluation = {
        "map50": 0.52,
        "map50_95": 0.31,
        "precision": 0.61,
        "recall": 0.47,
        "latency_ms": 38.0,
        "per_class": {"rice": {"ap50": 0.7, "ap50_95": 0.4}, "egg": {"ap50": 0.3, "ap50_95": 0.2}},
    }
    add_run(
        job_id,
        version_id,
        tmp_path / "runs" / "done",
        "succeeded",
        evaluation=evaluation,
        metrics={"epochs_completed": 10, "device": "cpu"},
        history=[epoch_row(e) for e in range(1, 11)],
        tracking={"mode": "offline", "task_id": "offline-abc123", "session_zip": str(session_zip), "note": ""},
        duration_s=300.0,
        finished_at=utcnow(),
    )
    at = open_page(PAGE)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["mAP50"] == "0.520" and metrics["Recall"] == "0.470" and metrics["Latency"] == "38 ms"
    assert charts(at) >= 3, "losses, scores and per-class AP"
    codes = "\n".join(str(c.value) for c in at.code)
    assert f"clearml-task --import-offline-session {session_zip}" in codes
    assert "offline session" in all_text(at)
    table = next(d.value for d in at.dataframe if "mAP50" in d.value.columns)
    row = table.iloc[0]
    assert (row["run"], row["dataset version"], row["preset"], row["status"]) == (
        "lunch-v1-quick",
        "lunch v1",
        "Quick CPU check",
        "succeeded",
    )
    assert row["mAP50"] == pytest.approx(0.52) and row["duration"] == "5 min 00 s"
