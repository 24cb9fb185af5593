"""Job runner with real worker subprocesses: success, failure, cancel, SIGKILL + stale heartbeat, queueing."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.core.enums import FailureCode, JobKind, JobStatus
from backend.core.settings import Settings, get_settings
from backend.runtime import runner
from backend.runtime.kinds import NoParams
from backend.store import jobs as job_store
from backend.store.engine import session_scope
from tests.utils.actors import ADMIN
from tests.utils.crash import kill_leftover_workers
from tests.utils.jobtasks import AddParams, FailParams, SleepParams


@pytest.fixture
def jobs_ws(workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A workspace whose workers also know the test-only task kinds, with fast heartbeats."""
    monkeypatch.setenv("PLATEOPS_TASK_MODULES", "tests.utils.jobtasks")
    monkeypatch.setenv("PLATEOPS_HEARTBEAT_INTERVAL_S", "0.5")
    monkeypatch.setenv("PLATEOPS_HEARTBEAT_TIMEOUT_S", "60")  # generous: a loaded CI box starts workers slowly
    monkeypatch.setenv("PLATEOPS_JOB_CONCURRENCY", '{"test.sleep": 1}')
    get_settings.cache_clear()
    settings = get_settings()
    yield settings
    kill_leftover_workers()


def _wait_file(path: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_job_succeeds_with_its_result(jobs_ws: Settings) -> None:
    job_id = runner.submit("test.add", AddParams(a=2, b=40), title="add numbers")
    job = runner.wait_for(job_id, timeout_s=60)
    assert job.status == "succeeded", job.error
    assert job.result == {"sum": 42}
    assert job.progress == 1.0
    assert job.pid is not None and job.pid != os.getpid()
    assert f"job {job_id} (test.add) started" in runner.tail_log(job)


def test_plain_failure_keeps_message_and_traceback_in_log(jobs_ws: Settings) -> None:
    job_id = runner.submit("test.fail", FailParams(message="No images in this dataset. Import one first."))
    job = runner.wait_for(job_id, timeout_s=60)
    assert job.status == "failed"
    assert job.error == "No images in this dataset. Import one first."
    crash_id = runner.submit("test.crash", NoParams())
    crash = runner.wait_for(crash_id, timeout_s=60)
    assert crash.status == "failed"
    assert "ZeroDivisionError" in crash.error and "log" in crash.error
    assert "Traceback" in Path(crash.log_path).read_text()


def test_cancel_mid_run(jobs_ws: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    job_id = runner.submit("test.sleep", SleepParams(seconds=60, marker=str(marker)))
    _wait_file(marker)
    runner.cancel(job_id, actor=ADMIN)
    job = runner.wait_for(job_id, timeout_s=30)
    assert job.status == "cancelled"
    assert job.finished_at is not None
    with pytest.raises(ProcessLookupError):  # the whole process group is gone
        for _ in range(50):
            runner.reap()  # also collects exited worker processes, as the console's poll does
            os.killpg(job.pid, 0)
            time.sleep(0.1)


def test_killed_worker_is_failed_as_soon_as_its_process_is_gone(jobs_ws: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    job_id = runner.submit("test.hang", SleepParams(seconds=120, marker=str(marker)))
    _wait_file(marker)
    with session_scope() as session:
        job = job_store.get_job(session=session, job_id=job_id)
    assert job.host == runner.HOST
    os.killpg(job.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    failed: list[int] = []
    while job_id not in failed:  # the heartbeat is fresh (timeout 60 s): only the pid check can see it
        assert time.monotonic() < deadline, "dead worker was never reaped"
        time.sleep(0.1)
        failed = runner.reap()
    with session_scope() as session:
        job = job_store.get_job(session=session, job_id=job_id)
    assert job.status == JobStatus.FAILED
    assert job.error == runner.DEAD_MESSAGE
    assert job.failure_code == FailureCode.WORKER_LOST


def test_frozen_worker_is_failed_once_heartbeat_is_stale(
    jobs_ws: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "started"
    job_id = runner.submit("test.hang", SleepParams(seconds=120, marker=str(marker)))
    _wait_file(marker)
    monkeypatch.setenv("PLATEOPS_HEARTBEAT_TIMEOUT_S", "3")  # the console's view: silent for 3 s = dead
    monkeypatch.setenv("PLATEOPS_STORE_BUSY_TIMEOUT_S", "1")  # (the timeout must outlast a busy wait)
    get_settings.cache_clear()
    with session_scope() as session:
        job = job_store.get_job(session=session, job_id=job_id)
    os.killpg(job.pid, signal.SIGSTOP)  # alive but silent, as a worker on another machine that died looks
    assert runner.reap() == []  # the heartbeat is still fresh right after it froze
    deadline = time.monotonic() + 30
    failed: list[int] = []
    while job_id not in failed:
        assert time.monotonic() < deadline, "stale worker was never reaped"
        time.sleep(0.5)
        failed = runner.reap()
    with session_scope() as session:
        job = job_store.get_job(session=session, job_id=job_id)
    assert job.status == JobStatus.FAILED
    assert job.error == runner.STALE_MESSAGE
    assert job.failure_code == FailureCode.WORKER_LOST
    with pytest.raises(ProcessLookupError):  # the frozen worker was killed, so it can never finish later
        for _ in range(50):
            runner.reap()
            os.killpg(job.pid, 0)
            time.sleep(0.1)


def test_failure_codes_follow_the_error_type(jobs_ws: Settings) -> None:
    plain = runner.wait_for(runner.submit("test.fail", FailParams(message="The dataset has no images.")), timeout_s=60)
    crash = runner.wait_for(runner.submit("test.crash", NoParams()), timeout_s=60)
    bad = runner.wait_for(runner.submit("test.fail", FailParams(message="Bad name.", code="bad_input")), timeout_s=60)
    done = runner.wait_for(runner.submit(JobKind.NOOP, NoParams()), timeout_s=60)
    assert (plain.failure_code, crash.failure_code) == (FailureCode.ERROR, FailureCode.CRASH)
    assert bad.failure_code == FailureCode.BAD_INPUT
    assert done.status == JobStatus.SUCCEEDED and done.failure_code is None


def test_recovery_runs_in_the_runner_after_a_kill_and_in_the_worker_after_a_failure(
    jobs_ws: Settings, tmp_path: Path
) -> None:
    marker, killed_note, failed_note = tmp_path / "started", tmp_path / "killed", tmp_path / "failed"
    job_id = runner.submit("test.hang", SleepParams(seconds=120, marker=str(marker), recovered=str(killed_note)))
    _wait_file(marker)
    with session_scope() as session:
        os.kill(job_store.get_job(session=session, job_id=job_id).pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while job_id not in runner.reap():
        assert time.monotonic() < deadline, "dead worker was never reaped"
        time.sleep(0.1)
    assert killed_note.read_text() == f"failed {os.getpid()}"  # settled here, by the process that reaped
    failed = runner.wait_for(runner.submit("test.fail", FailParams(recovered=str(failed_note))), timeout_s=60)
    status, pid = failed_note.read_text().split()
    assert status == "failed" and int(pid) == failed.pid  # settled by the worker itself


def test_every_job_kind_is_registered_with_a_recovery() -> None:
    from backend.runtime import kinds

    known = kinds.known_kinds()
    assert set(JobKind) <= set(known), f"job kinds without a task: {set(JobKind) - set(known)}"
    with pytest.raises(TypeError, match="must declare how a crash is settled"):
        kinds.register_task("test.undeclared", params=NoParams, recover=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must declare its parameters as a JobParams model"):
        kinds.register_task("test.untyped", params=dict, recover=kinds.nothing_to_recover)  # type: ignore[type-var]
    assert "test.undeclared" not in kinds.known_kinds() and "test.untyped" not in kinds.known_kinds()


def test_submit_stores_the_kinds_own_params_model_as_json(jobs_ws: Settings) -> None:
    with pytest.raises(TypeError, match=r"A test\.add job takes AddParams, not SleepParams"):
        runner.submit("test.add", SleepParams(seconds=1))
    with pytest.raises(TypeError, match="takes AddParams, not dict"):
        runner.submit("test.add", {"a": 1, "b": 2})  # type: ignore[arg-type]
    with session_scope() as session:
        assert job_store.list_jobs(session=session) == []  # a refused submit stores nothing
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        AddParams(a=1, b=2, c=3)  # type: ignore[call-arg]
    job = runner.wait_for(runner.submit("test.sleep", SleepParams(seconds=0.1, marker="")), timeout_s=60)
    assert job.params == {"seconds": 0.1, "marker": "", "recovered": ""}
    assert job.status == JobStatus.SUCCEEDED


def test_a_row_an_older_version_queued_fails_in_plain_words_without_running(jobs_ws: Settings, tmp_path: Path) -> None:
    """Params that no longer fit the kind's model (renamed, retyped): the job fails with a clear message and code
    `bad_input`, its task never starts, its recovery does not run, and the runner goes on to the next job."""
    note = tmp_path / "recovered"
    with session_scope() as session:
        old = job_store.create_job(
            session=session, kind="test.fail", params={"msg": "old key", "recovered": str(note)}
        ).id
        retyped = job_store.create_job(session=session, kind="test.add", params={"a": "two", "b": 2}).id
        fine = job_store.create_job(session=session, kind="test.add", params={"a": 2, "b": 2}).id
    runner.dispatch()
    for job_id, problem in ((old, "msg: Extra inputs are not permitted"), (retyped, "a: Input should be a valid")):
        job = runner.wait_for(job_id, timeout_s=60)
        assert (job.status, job.failure_code) == (JobStatus.FAILED, FailureCode.BAD_INPUT)
        assert job.error.startswith(f"This {job.kind} job was queued by an older version of PlateOps")
        assert problem in job.error and job.error.endswith("start it again.")
        assert "Traceback" not in job.error and f"job {job_id} ({job.kind}) started" not in runner.tail_log(job)
    assert not note.exists(), "the recovery of a job that never ran must not run"
    assert runner.wait_for(fine, timeout_s=60).result == {"sum": 4}
    runner.recover_job(runner.wait_for(old, timeout_s=1))  # the runner's own recovery: logged and left, no raise
    assert not note.exists()


def test_concurrency_limit_queues_in_order(jobs_ws: Settings, tmp_path: Path) -> None:
    first = runner.submit("test.sleep", SleepParams(seconds=1.5))
    second = runner.submit("test.sleep", SleepParams(seconds=0.2))
    other = runner.submit("test.add", AddParams(a=1, b=1))  # another kind is not held back
    with session_scope() as session:
        assert job_store.get_job(session=session, job_id=second).status == "queued"
    assert runner.wait_for(other, timeout_s=60).status == "succeeded"
    done_first = runner.wait_for(first, timeout_s=60)
    done_second = runner.wait_for(second, timeout_s=60)
    assert done_first.status == done_second.status == "succeeded"
    assert done_second.started_at >= done_first.finished_at  # it waited for the slot


def test_unknown_kind_is_refused_before_storing(jobs_ws: Settings) -> None:
    from backend.core.errors import NotFoundError

    with pytest.raises(NotFoundError, match="No job type called 'nope'"):
        runner.submit("nope", NoParams())
    with session_scope() as session:
        assert job_store.list_jobs(session=session) == []


def test_cancel_queued_job(jobs_ws: Settings) -> None:
    first = runner.submit("test.sleep", SleepParams(seconds=2))
    queued = runner.submit("test.sleep", SleepParams(seconds=2))
    job = runner.cancel(queued, actor=ADMIN)
    assert job.status == "cancelled"
    runner.cancel(first, actor=ADMIN)
    assert runner.wait_for(first, timeout_s=30).status == "cancelled"
