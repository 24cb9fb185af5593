"""Kill-anywhere harness: start a job, SIGKILL its worker at a seeded point, reap, and check that every row and file
is left in a state the user can act on.

The kill hits the worker process only (as the out-of-memory killer does); anything it started is orphaned and must
be cleaned up by the runner. A kill point is a progress fraction: the worker is killed as soon as the job's stored
progress reaches it (progress is written around the job's own writes, so points land during writes too).
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from backend.core.enums import ACTIVE_JOB_STATUSES, FailureCode, JobStatus, RunStatus
from backend.core.settings import Settings, get_settings
from backend.data.demo import generate_demo_dataset
from backend.runtime import runner
from backend.store import datasets as dataset_store
from backend.store import jobs as job_store
from backend.store import runs as run_store
from backend.store.engine import get_engine, session_scope
from backend.store.records import Job


@pytest.fixture
def crash_ws(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A workspace whose workers beat often; the heartbeat timeout is long, so only the pid check sees a kill.

    A test module binds it (and `demo_source`) at module level, `crash_ws = crash.crash_ws`, so pytest finds it.
    """
    monkeypatch.setenv("PLATEOPS_HEARTBEAT_INTERVAL_S", "0.5")
    monkeypatch.setenv("PLATEOPS_HEARTBEAT_TIMEOUT_S", "60")
    monkeypatch.setenv("PLATEOPS_IMPORT_ROOTS", str(tmp_path_factory.getbasetemp()))  # the demo source's folder
    get_settings.cache_clear()
    yield get_settings()


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small COCO demo set (annotations.json + images/) to import."""
    raw = tmp_path_factory.mktemp("demo-source")
    generate_demo_dataset(raw, images=24, seed=3, workers=1)
    return raw


@dataclass(frozen=True)
class Kill:
    """One kill: the job, whether the worker was killed before it finished, and how long detection took."""

    job_id: int
    killed: bool
    at_progress: float
    detect_s: float | None


def kill_points(seed: int, count: int, *, low: float = 0.02, high: float = 0.95) -> list[float]:
    """`count` seeded progress fractions in [low, high]."""
    rng = random.Random(seed)
    return [round(rng.uniform(low, high), 3) for _ in range(count)]


def _job(job_id: int) -> Job:
    with session_scope() as session:
        return job_store.get_job(session=session, job_id=job_id)


def kill_at(job_id: int, fraction: float, *, timeout_s: float = 600.0) -> Kill:
    """SIGKILL the job's worker once its progress reaches `fraction`, then reap until the runner has failed it.

    Returns whether it was killed (a job that finished first is not) and the seconds from the kill until `reap()`
    reported the job failed (reap polled every 50 ms, as a tight console poll would).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        job = _job(job_id)
        if not job.active:
            return Kill(job_id, killed=False, at_progress=job.progress or 0.0, detect_s=None)
        if job.status == JobStatus.RUNNING and job.pid and (job.progress or 0.0) >= fraction:
            break
        assert time.monotonic() < deadline, f"job {job_id} never reached progress {fraction}"
        time.sleep(0.02)
    os.kill(job.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    while job_id not in runner.reap():
        if not _job(job_id).active:  # it ended on its own between our read and the kill
            return Kill(job_id, killed=True, at_progress=job.progress or 0.0, detect_s=None)
        assert time.monotonic() - killed_at < 120, f"killed worker of job {job_id} was never reaped"
        time.sleep(0.05)
    return Kill(job_id, killed=True, at_progress=job.progress or 0.0, detect_s=time.monotonic() - killed_at)


def leftovers(settings: Settings) -> list[str]:
    """Staging, unpacking and drawing folders a job left behind, and version folders no row points to."""
    found = [str(p) for p in settings.datasets_dir.glob("*/.staging-*")]
    found += [str(p) for p in (settings.home / "imports").glob("*")]
    found += [str(p) for p in (settings.home / "raw").glob("job-*")]
    with session_scope() as session:
        paths = {Path(v.path).resolve() for v in dataset_store.list_versions(session=session) if v.path}
    found += [str(p) for p in settings.datasets_dir.glob("*/v*") if p.is_dir() and p.resolve() not in paths]
    return found


def assert_settled(kill: Kill, settings: Settings) -> None:
    """The invariants after a kill: the job failed plainly as worker_lost, no domain row left running or
    half-made, no staging or temporary folder left, and the store passes its integrity check."""
    job = _job(kill.job_id)
    if kill.killed and kill.detect_s is not None:
        assert job.status == JobStatus.FAILED, (job.status, job.error)
        assert job.failure_code == FailureCode.WORKER_LOST
        assert job.error in (runner.DEAD_MESSAGE, runner.STALE_MESSAGE)
    with session_scope() as session:
        active = job_store.list_jobs(session=session, statuses=ACTIVE_JOB_STATUSES)
        runs = run_store.list_runs(session=session, status=RunStatus.RUNNING)
        versions = dataset_store.list_versions(session=session)
    assert not active, f"jobs still active: {[(j.id, j.status) for j in active]}"
    assert not runs, f"runs left running: {[r.name for r in runs]}"
    half_made = [v.label for v in versions if v.validation_status == "not_checked" or not v.path]
    assert not half_made, f"half-made versions: {half_made}"
    assert not leftovers(settings), leftovers(settings)
    with get_engine().connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    if job.pid:  # nothing the dead worker started lives on (zombies waiting for their parent do not count)
        deadline = time.monotonic() + 10
        while _live_group_members(job.pid):
            assert time.monotonic() < deadline, f"processes of job {job.id}'s worker still run"
            time.sleep(0.1)


def _live_group_members(pgid: int) -> list[int]:
    """Processes of process group `pgid` that are not zombies (read from /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def kill_leftover_workers() -> None:
    """Kill the process groups of jobs a test left starting or running (only while each is still our worker)."""
    import contextlib

    with session_scope() as session:
        active = job_store.list_jobs(session=session, statuses=[JobStatus.STARTING, JobStatus.RUNNING])
    for job in active:
        if job.pid and runner.worker_alive(job):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.pid, signal.SIGKILL)
