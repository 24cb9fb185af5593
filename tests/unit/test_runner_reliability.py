"""Runner reliability with real workers: a reused pid is never signalled, the watchdog stops a stalled worker and
frees its slot, progress writes wait out a locked store, and a console restart finds running jobs, starts queued
ones and sweeps what killed workers left behind."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.console import bootstrap
from backend.console.cleanup import LEFTOVER_AGE_S, sweep_leftovers
from backend.core.enums import FailureCode, JobStatus
from backend.core.settings import Settings, get_settings
from backend.runtime import runner
from backend.store import jobs as job_store
from backend.store.engine import init_db, session_scope
from backend.store.jobs import JobUpdate
from tests.utils.actors import ADMIN
from tests.utils.crash import kill_leftover_workers
from tests.utils.jobtasks import AddParams, SleepParams


@pytest.fixture
def jobs_ws(workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A workspace whose workers know the test-only kinds; test.hang runs one at a time."""
    monkeypatch.setenv("PLATEOPS_TASK_MODULES", "tests.utils.jobtasks")
    monkeypatch.setenv("PLATEOPS_HEARTBEAT_INTERVAL_S", "0.5")
    monkeypatch.setenv("PLATEOPS_HEARTBEAT_TIMEOUT_S", "60")
    monkeypatch.setenv("PLATEOPS_JOB_CONCURRENCY", '{"test.hang": 1, "test.sleep": 1}')
    get_settings.cache_clear()
    init_db()
    yield get_settings()
    kill_leftover_workers()


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not a worker (a pid the kernel handed on after a restart)."""
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def _wait_file(path: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _job(job_id: int) -> job_store.Job:
    with session_scope() as session:
        return job_store.get_job(session=session, job_id=job_id)


def _running_row(pid: int, token: str | None, kind: str = "test.hang") -> int:
    with session_scope() as session:
        job = job_store.create_job(session=session, kind=kind, params={})
        running = JobUpdate(status=JobStatus.RUNNING, pid=pid, host=runner.HOST, pid_started=token)
        job_store.update_job(session=session, job_id=job.id, changes=running)
    return job.id


def test_start_token_names_one_process(bystander: subprocess.Popen[bytes]) -> None:
    token = runner.process_start_token(bystander.pid)
    assert token and token == runner.process_start_token(bystander.pid)
    assert token != runner.process_start_token(os.getpid())
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert runner.process_start_token(gone.pid) is None


def test_a_reused_pid_is_never_signalled(jobs_ws: Settings, bystander: subprocess.Popen[bytes]) -> None:
    """The row's pid now runs another process (its start token differs): the job fails, the process lives."""
    cancelled = _running_row(bystander.pid, "1")
    runner.cancel(cancelled, actor=ADMIN)  # would SIGTERM the bystander's group without the token check
    lost = _running_row(bystander.pid, "2")
    assert set(runner.reap()) == {lost}
    assert bystander.poll() is None, "a process that reused the worker's pid was signalled"
    assert (_job(lost).status, _job(lost).failure_code) == (JobStatus.FAILED, FailureCode.WORKER_LOST)
    assert _job(lost).error == runner.DEAD_MESSAGE
    assert _job(cancelled).status == JobStatus.CANCELLED
    token = runner.process_start_token(bystander.pid)
    ours = _running_row(bystander.pid, token)  # the same pid with its own token is the worker: left running
    assert runner.reap() == [] and _job(ours).status == JobStatus.RUNNING


def test_watchdog_stops_a_worker_that_makes_no_progress_and_frees_its_slot(
    jobs_ws: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "started"
    stuck = runner.submit("test.hang", SleepParams(seconds=120, marker=str(marker), recovered=str(tmp_path / "rec")))
    _wait_file(marker)
    waiting = runner.submit("test.add", AddParams(a=1, b=1))  # another kind is unaffected
    queued = runner.submit("test.hang", SleepParams(seconds=1))  # waits for the stuck one's slot
    assert _job(queued).status == JobStatus.QUEUED
    assert runner.reap() == []  # alive, heartbeat fresh, within its kind's limit: left alone
    monkeypatch.setenv("PLATEOPS_JOB_STALL_TIMEOUT_S", '{"test.hang": 1}')
    get_settings.cache_clear()
    time.sleep(1.2)
    pid = _job(stuck).pid
    assert pid is not None
    assert stuck in runner.reap()
    job = _job(stuck)
    assert (job.status, job.failure_code) == (JobStatus.FAILED, FailureCode.STALLED)
    assert "no progress" in (job.error or "") and "test.hang" in (job.error or "")
    assert (tmp_path / "rec").read_text().startswith("failed")  # its kind's recovery ran
    with pytest.raises(ProcessLookupError):  # the stuck worker was killed: it cannot finish later
        for _ in range(100):
            runner.reap()
            os.killpg(pid, 0)
            time.sleep(0.1)
    monkeypatch.setenv("PLATEOPS_JOB_STALL_TIMEOUT_S", "{}")
    get_settings.cache_clear()
    assert runner.wait_for(queued, timeout_s=120).status == JobStatus.SUCCEEDED  # the freed slot was used
    assert runner.wait_for(waiting, timeout_s=120).status == JobStatus.SUCCEEDED


def test_progress_write_waits_for_a_locked_store(jobs_ws: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATEOPS_STORE_BUSY_TIMEOUT_S", "0.1")  # the lock outlasts the busy wait: retries decide
    get_settings.cache_clear()
    from backend.store.engine import dispose_all

    dispose_all()
    job_id = _running_row(os.getpid(), runner.process_start_token(os.getpid()))
    locker = sqlite3.connect(get_settings().home / "plateops.db", timeout=5, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(1.5, locker.rollback)
    release.start()
    try:
        runner._ProgressWriter(job_id)(0.5, "half way")  # the worker's own writer, as it runs
    finally:
        release.join()
        locker.close()
    job = _job(job_id)
    assert (job.progress, job.message, job.status) == (0.5, "half way", JobStatus.RUNNING)
    assert job.progress_at is not None


def test_console_restart_finds_running_jobs_starts_queued_and_sweeps_leftovers(
    jobs_ws: Settings, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    alive = runner.submit("test.sleep", SleepParams(seconds=60, marker=str(marker)))
    _wait_file(marker)
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = _running_row(gone.pid, "1", kind="test.add")  # killed with the console
    with session_scope() as session:
        queued = job_store.create_job(session=session, kind="test.add", params={"a": 2, "b": 3}).id
    home = jobs_ws.home
    dead_staging = home / "datasets" / "food" / f".staging-job-{dead}"
    live_staging = home / "datasets" / "food" / f".staging-job-{alive}"
    old_partial = home / "exports" / ".food.zip.partial-99999"
    fresh_part = home / "cache" / "features.part"
    kept = home / "datasets" / "food" / "v1" / "data.yaml"
    for path in (dead_staging / "a.jpg", live_staging / "b.jpg", old_partial, fresh_part, kept):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    old = time.time() - LEFTOVER_AGE_S - 60
    os.utime(old_partial, (old, old))

    done = bootstrap.start_console()

    assert done["recovered"] == str(dead)
    assert str(alive) in done["running"].split(", ")
    assert _job(alive).status == JobStatus.RUNNING  # found again by its pid and start token, not failed
    assert runner.wait_for(queued, timeout_s=120).result == {"sum": 5}  # the queued job started
    cleaned = done["cleaned"].split(", ")
    assert f"datasets/food/.staging-job-{dead}" in cleaned and "exports/.food.zip.partial-99999" in cleaned
    assert not dead_staging.exists() and not old_partial.exists()
    assert live_staging.exists() and fresh_part.exists() and kept.exists()  # a running job's and fresh work stay
    assert sweep_leftovers(jobs_ws) == []  # nothing left to say on the next start
