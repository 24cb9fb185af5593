"""Crash consistency: a worker SIGKILLed mid-job is failed at once and its kind's recovery settles every row and file,
so the action the page offers (retry, resume) succeeds. One kill point per job kind here; several seeded points per
kind run under the `slow` marker (tests/slow/test_kill_anywhere.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from backend.core.enums import JobStatus, RunStatus
from backend.core.settings import Settings
from backend.data.datasets import discard_job_leftovers, import_dataset
from backend.data.import_request import ImportRequest
from backend.data.tasks import start_demo_dataset, start_import, start_validation
from backend.runtime import runner
from backend.store import datasets as dataset_store
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion
from backend.training import service as training
from backend.training import tasks as training_tasks
from tests.utils import crash
from tests.utils.actors import ADMIN
from tests.utils.crash import assert_settled, kill_at, leftovers
from tests.utils.tiny_yolo import make_tiny_yolo_dataset

# The shared crash fixtures, bound here so that pytest finds them for this module.
crash_ws = crash.crash_ws
demo_source = crash.demo_source
TINY_TRAIN = {"imgsz": 64, "batch": 8, "workers": 0, "cache": "none", "model": "yolov8n.yaml", "device": "cpu"}


def _version(name: str) -> DatasetVersion | None:
    with session_scope() as session:
        dataset = dataset_store.find_dataset(session=session, name=name)
        versions = dataset_store.list_versions(session=session, dataset_id=dataset.id) if dataset else []
    return versions[0] if versions else None


def test_killed_import_leaves_no_half_made_version_and_retry_succeeds(crash_ws: Settings, demo_source: Path) -> None:
    def start() -> int:
        request = ImportRequest(
            source=demo_source / "annotations.json", name="lunch", images_dir=demo_source / "images"
        )
        return start_import(request, actor=ADMIN)

    kill = kill_at(start(), 0.6)  # while converting and recording the version
    assert kill.killed
    assert_settled(kill, crash_ws)
    assert _version("lunch") is None or _version("lunch").validation_status != "not_checked"
    retry = runner.wait_for(start(), timeout_s=300)
    assert retry.status == JobStatus.SUCCEEDED, retry.error
    version = _version("lunch")
    assert version is not None and version.validation_status != "not_checked"
    assert version.stats["images"] == 24
    assert not leftovers(crash_ws)


def test_killed_demo_job_leaves_nothing_and_retry_succeeds(crash_ws: Settings) -> None:
    kill = kill_at(start_demo_dataset(name="demo", images=16, seed=2, actor=ADMIN), 0.2)  # while drawing
    assert kill.killed
    assert_settled(kill, crash_ws)
    retry = runner.wait_for(start_demo_dataset(name="demo", images=16, seed=2, actor=ADMIN), timeout_s=300)
    assert retry.status == JobStatus.SUCCEEDED, retry.error
    assert _version("demo").stats["images"] == 16


def test_killed_validation_keeps_the_previous_result(crash_ws: Settings, demo_source: Path) -> None:
    version = import_dataset(
        ImportRequest(source=demo_source / "annotations.json", name="kept", images_dir=demo_source / "images")
    )
    before = (version.validation_status, version.validation_summary["issues_by_severity"])
    kill = kill_at(start_validation(version.id, actor=ADMIN), 0.3)
    assert_settled(kill, crash_ws)
    after = _version("kept")
    assert (after.validation_status, after.validation_summary["issues_by_severity"]) == before
    retry = runner.wait_for(start_validation(version.id, actor=ADMIN), timeout_s=300)
    assert retry.status == JobStatus.SUCCEEDED, retry.error
    assert _version("kept").validation_summary["issues_by_severity"] == before[1]


@pytest.mark.training
def test_killed_training_run_is_failed_and_resumes_to_the_last_epoch(crash_ws: Settings, tmp_path: Path) -> None:
    data_yaml = make_tiny_yolo_dataset(tmp_path / "tiny")
    version = import_dataset(ImportRequest(source=data_yaml.parent, name="tiny"))
    config = training.build_config(None, {**TINY_TRAIN, "epochs": 3})
    job_id = training_tasks.start_training(version.id, config, name="killed", actor=ADMIN)
    kill = kill_at(job_id, 0.45)  # during the second of three epochs
    assert kill.killed
    assert_settled(kill, crash_ws)
    run = training.run_for_job(job_id)
    assert run is not None and run.status == RunStatus.FAILED and run.finished_at is not None
    assert training.can_resume(run), "a killed run with last.pt must offer Resume"
    resumed = runner.wait_for(training_tasks.resume_training(run.id, actor=ADMIN), timeout_s=600)
    assert resumed.status == JobStatus.SUCCEEDED, f"{resumed.error}\n{runner.tail_log(resumed, 40)}"
    run = training.get_run(run.id)
    assert run.status == RunStatus.SUCCEEDED
    assert [h["epoch"] for h in run.history] == [1, 2, 3]
    metrics = json.loads((Path(run.run_dir) / "metrics.json").read_text())
    assert len(metrics["history"]) == 3


def test_import_recovery_removes_exactly_its_own_leftovers(crash_ws: Settings, demo_source: Path) -> None:
    """The recovery on its own, for each moment of an import: staging, unpacked archive, a folder moved into place
    whose row never committed, and a committed but unvalidated version. Another job's staging stays."""
    kept = import_dataset(
        ImportRequest(source=demo_source / "annotations.json", name="meals", images_dir=demo_source / "images")
    )
    base = crash_ws.datasets_dir / "meals"
    (base / ".staging-job-7").mkdir()
    (base / ".staging-job-8").mkdir()  # another job's: must stay
    (crash_ws.home / "imports" / "job-7").mkdir(parents=True)
    orphan = base / "v9"
    orphan.mkdir()
    (orphan / ".plateops-job").write_text("7")
    with session_scope() as session:
        half = dataset_store.create_version(
            session=session,
            dataset_id=kept.dataset_id,
            path=str(base / "v2"),
            changelog=[{"action": "import", "job": 7}],
        )
    shutil.copytree(Path(kept.path), base / "v2", symlinks=True)
    removed = discard_job_leftovers(7, name="meals")
    assert "version v2" in removed
    assert not (base / ".staging-job-7").exists() and (base / ".staging-job-8").exists()
    assert not orphan.exists() and not (base / "v2").exists() and Path(kept.path).is_dir()
    with session_scope() as session:
        assert [v.id for v in dataset_store.list_versions(session=session, dataset_id=kept.dataset_id)] == [kept.id]
    assert half.id != kept.id


def test_training_recovery_fails_the_run_and_drops_a_half_written_checkpoint(
    crash_ws: Settings, tmp_path: Path
) -> None:
    """The recovery on its own: the run left `running` ends failed; a last.pt cut off mid-write is removed (a resume
    would crash on it), a whole one is kept."""
    import zipfile

    from backend.core.enums import JobKind
    from backend.core.params import TrainConfig
    from backend.store import jobs as job_store
    from backend.store import runs as run_store
    from backend.training.tasks import TrainParams

    params = TrainParams(version_id=1, config=TrainConfig(), run_name="r").model_dump(mode="json")
    runs = {}
    for name, whole in (("whole", True), ("cut", False)):
        weights = tmp_path / name / "weights"
        weights.mkdir(parents=True)
        with zipfile.ZipFile(weights / "last.pt", "w") as checkpoint:
            checkpoint.writestr("archive/data.pkl", b"x" * 4096)
        if not whole:
            data = (weights / "last.pt").read_bytes()
            (weights / "last.pt").write_bytes(data[: len(data) // 2])
        with session_scope() as session:
            job = job_store.create_job(session=session, kind=JobKind.TRAIN, params=params)
            job_store.finish_job(session=session, job_id=job.id, status=JobStatus.FAILED, error=runner.DEAD_MESSAGE)
            run = run_store.create_run(
                session=session, name=name, job_id=job.id, dataset_version_id=None, model="m", preset="p", params={}
            )
            run_store.update_run(
                session=session, run_id=run.id, changes=run_store.RunUpdate(run_dir=str(weights.parent))
            )
            runs[name] = (job_store.get_job(session=session, job_id=job.id), run.id)
        runner.recover_job(runs[name][0])  # as the runner settles it: the kind's recovery, with its typed params
    for name, (_job, run_id) in runs.items():
        settled = training.get_run(run_id)
        assert settled.status == RunStatus.FAILED and settled.finished_at is not None
        assert (Path(settled.run_dir) / "weights" / "last.pt").is_file() == (name == "whole")


def test_resume_history_takes_an_epoch_the_store_missed_from_results_csv(tmp_path: Path) -> None:
    """Killed between ultralytics' checkpoint and the epoch-end callback: epoch 2 is in results.csv (and last.pt)
    but not in the run row; the resumed run's history still starts at 1 without gaps or duplicates."""
    from backend.training.tasks import _keep_earlier_epochs

    (tmp_path / "results.csv").write_text(
        "                  epoch,                   time,         train/box_loss,         train/cls_loss,"
        "         train/dfl_loss,   metrics/precision(B),      metrics/recall(B),       metrics/mAP50(B),"
        "    metrics/mAP50-95(B),                 lr/pg0\n"
        "1,3.1,1.5,2.5,1.2,0.1,0.2,0.05,0.02,0.001\n"
        "2,6.0,1.4,2.4,1.1,0.2,0.3,0.08,0.03,0.002\n"
    )
    history = [{"epoch": 1, "epochs": 3, "box_loss": 1.5, "map50": 0.05}]
    _keep_earlier_epochs(tmp_path / "metrics.json", history, 3)
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[0]["box_loss"] == 1.5 and history[1]["map50"] == 0.08 and history[1]["epochs"] == 3
    written = json.loads((tmp_path / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in written] == [1, 2]
