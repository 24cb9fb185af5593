"""Kill-anywhere, the full set: every job kind started on tiny data and its worker SIGKILLed at several seeded
progress points; after each kill the invariants hold and the page's action (retry, resume) succeeds with the same
result as an uninterrupted run. The fast subset (one point per kind) is tests/unit/test_crash_recovery.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.core.enums import JobStatus, RunStatus
from backend.core.settings import Settings
from backend.data.datasets import import_dataset
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
from tests.utils.crash import assert_settled, kill_at, kill_points
from tests.utils.tiny_yolo import make_tiny_yolo_dataset

pytestmark = pytest.mark.slow
SEEDS = [11, 12, 13]
# The shared crash fixtures, bound here so that pytest finds them for this module.
crash_ws = crash.crash_ws
demo_source = crash.demo_source
TINY_TRAIN = {"imgsz": 64, "batch": 8, "workers": 0, "cache": "none", "model": "yolov8n.yaml", "device": "cpu"}
EPOCHS = 3


def _latest(name: str) -> DatasetVersion:
    with session_scope() as session:
        dataset = dataset_store.find_dataset(session=session, name=name)
        assert dataset is not None
        return dataset_store.list_versions(session=session, dataset_id=dataset.id)[0]


def _labels(version: DatasetVersion) -> dict[str, str]:
    root = Path(version.path) / "labels"
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.txt"))}


@pytest.mark.parametrize("seed", SEEDS)
def test_import_killed_anywhere(crash_ws: Settings, demo_source: Path, seed: int) -> None:
    def start(name: str) -> int:
        source = demo_source / "annotations.json"
        return start_import(
            ImportRequest(source=source, name=name, images_dir=demo_source / "images", seed=1), actor=ADMIN
        )

    reference = runner.wait_for(start("reference"), timeout_s=300)
    assert reference.status == JobStatus.SUCCEEDED, reference.error
    kill = kill_at(start("lunch"), kill_points(seed, 1, low=0.02, high=0.98)[0])
    assert_settled(kill, crash_ws)
    retry = runner.wait_for(start("lunch"), timeout_s=300)
    assert retry.status == JobStatus.SUCCEEDED, retry.error
    assert _latest("lunch").stats == _latest("reference").stats
    assert _labels(_latest("lunch")) == _labels(_latest("reference"))


@pytest.mark.parametrize("seed", SEEDS)
def test_demo_killed_anywhere(crash_ws: Settings, seed: int) -> None:
    kill = kill_at(
        start_demo_dataset(name="demo", images=16, seed=seed, actor=ADMIN), kill_points(seed, 1, high=0.98)[0]
    )
    assert_settled(kill, crash_ws)
    retry = runner.wait_for(start_demo_dataset(name="demo", images=16, seed=seed, actor=ADMIN), timeout_s=300)
    assert retry.status == JobStatus.SUCCEEDED, retry.error
    reference = runner.wait_for(start_demo_dataset(name="reference", images=16, seed=seed, actor=ADMIN), timeout_s=300)
    assert reference.status == JobStatus.SUCCEEDED, reference.error
    assert _labels(_latest("demo")) == _labels(_latest("reference"))


@pytest.mark.parametrize("seed", SEEDS)
def test_validation_killed_anywhere(crash_ws: Settings, demo_source: Path, seed: int) -> None:
    version = import_dataset(
        ImportRequest(source=demo_source / "annotations.json", name="kept", images_dir=demo_source / "images")
    )
    before = (version.validation_status, version.validation_summary["issues_by_severity"])
    kill = kill_at(start_validation(version.id, actor=ADMIN), kill_points(seed, 1, high=0.98)[0])
    assert_settled(kill, crash_ws)
    after = _latest("kept")
    assert (after.validation_status, after.validation_summary["issues_by_severity"]) == before
    retry = runner.wait_for(start_validation(version.id, actor=ADMIN), timeout_s=300)
    assert retry.status == JobStatus.SUCCEEDED, retry.error
    assert _latest("kept").validation_summary["issues_by_severity"] == before[1]


@pytest.mark.parametrize("seed", SEEDS)
def test_training_killed_anywhere(crash_ws: Settings, tmp_path: Path, seed: int) -> None:
    """Kill points span the epochs before the last (progress 0–0.9 is training, one third per epoch); a run killed
    before its first epoch ended has no last.pt and is started again instead of resumed. (A kill while scoring after
    the last epoch leaves a run with nothing to resume: the page says to start again; see `trained_all_epochs`.)"""
    version = import_dataset(ImportRequest(source=make_tiny_yolo_dataset(tmp_path / "tiny").parent, name="tiny"))
    config = training.build_config(None, {**TINY_TRAIN, "epochs": EPOCHS})
    job_id = training_tasks.start_training(version.id, config, name=f"killed-{seed}", actor=ADMIN)
    kill = kill_at(job_id, kill_points(seed, 1, low=0.02, high=0.9 * (EPOCHS - 1) / EPOCHS)[0])
    assert_settled(kill, crash_ws)
    run = training.run_for_job(job_id)
    assert run is not None and run.status == RunStatus.FAILED
    if training.can_resume(run):
        again = training_tasks.resume_training(run.id, actor=ADMIN)
    else:
        again = training_tasks.start_training(version.id, config, name=f"again-{seed}", actor=ADMIN)
    done = runner.wait_for(again, timeout_s=900)
    assert done.status == JobStatus.SUCCEEDED, f"{done.error}\n{runner.tail_log(done, 40)}"
    finished = training.run_for_job(again)
    assert finished is not None and finished.status == RunStatus.SUCCEEDED
    assert [h["epoch"] for h in finished.history] == list(range(1, EPOCHS + 1))
