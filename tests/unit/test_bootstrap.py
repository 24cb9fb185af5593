"""First start on an empty workspace queues the demo dataset once; later starts leave data alone."""

from __future__ import annotations

import pytest

from backend.console import bootstrap
from backend.core.settings import Settings, get_settings
from backend.store import datasets as dataset_store
from backend.store import jobs as job_store
from backend.store.engine import session_scope


def test_first_start_queues_demo_once(workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATEOPS_AUTO_DEMO", "true")
    monkeypatch.setenv("PLATEOPS_JOB_CONCURRENCY", '{"demo_dataset": 0}')  # keep it queued: no worker here
    get_settings.cache_clear()
    done = bootstrap.start_console()
    assert done["demo"] == "queued"
    assert (workspace.home / "plateops.db").exists()
    assert bootstrap.start_console().get("demo") is None  # a second start does not queue another
    with session_scope() as session:
        jobs = job_store.list_jobs(session=session, kind="demo_dataset")
    assert len(jobs) == 1
    assert jobs[0].params["images"] == get_settings().demo_images


def test_workspace_with_data_gets_no_demo(workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATEOPS_AUTO_DEMO", "true")
    get_settings.cache_clear()
    with session_scope() as session:
        dataset_store.create_dataset(session=session, name="mine", source="coco")
    assert "demo" not in bootstrap.start_console()


def test_start_settles_jobs_whose_workers_died_while_the_console_was_down(workspace: Settings) -> None:
    import subprocess

    from backend.core.enums import FailureCode, JobKind, JobStatus
    from backend.runtime import runner
    from backend.store.engine import init_db

    init_db()
    gone = subprocess.Popen(["true"])
    gone.wait()  # the worker's pid no longer runs (a reboot, or killed with the console)
    with session_scope() as session:
        job = job_store.create_job(session=session, kind=JobKind.VALIDATE, params={"version_id": 1})
        job_store.update_job(
            session=session,
            job_id=job.id,
            changes=job_store.JobUpdate(status=JobStatus.RUNNING, pid=gone.pid, host=runner.HOST),
        )
    done = bootstrap.start_console()
    assert done["recovered"] == str(job.id)
    with session_scope() as session:
        settled = job_store.get_job(session=session, job_id=job.id)
    assert (settled.status, settled.failure_code) == (JobStatus.FAILED, FailureCode.WORKER_LOST)
