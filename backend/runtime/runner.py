"""The job runner: a job is a store row plus a detached subprocess (`python -m jobs.worker JOB_ID`).

The console calls `submit()` and returns at once; the worker process calls `run_job()`, which runs the registered
task function, writes progress and a heartbeat to the store and records how the job ended (with a failure code when
it failed). `cancel()` signals the worker's process group. `reap()` fails jobs whose worker died — its process on
this machine is gone (seen at once) or its heartbeat went stale (a frozen worker, or one on another machine) — and
jobs whose worker is alive but made no progress for longer than its kind allows (the watchdog), runs the kind's
recovery (`backend.runtime.kinds`) to settle what the worker left half-done, and starts queued jobs when a slot
frees.

A pid alone is not a process: after a restart the kernel may hand a dead worker's pid to anything. Each job row
keeps its worker's start-time token (`pid_started`, the kernel's start time of that pid) and the runner signals a
pid only while the token still matches; a changed token means our worker is gone.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
import traceback
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from backend.core.access import Actor, Permission
from backend.core.clock import utcnow
from backend.core.enums import FailureCode, JobKind, JobStatus
from backend.core.errors import PlateOpsError, failure_code_for
from backend.core.settings import Settings, get_settings
from backend.runtime.kinds import JobCancelled, JobContext, JobParams, OutdatedParamsError, get_task
from backend.store import jobs as job_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.jobs import JobUpdate
from backend.store.records import Job

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOST_MESSAGE = "The worker stopped unexpectedly ({how}). It may have run out of memory or been killed."
STALE_MESSAGE = LOST_MESSAGE.format(how="no heartbeat")
DEAD_MESSAGE = LOST_MESSAGE.format(how="its process ended")
STALL_MESSAGE = (
    "Stopped by the watchdog: no progress for {idle} (a {kind} job may go {limit} without progress). "
    "Its slot is free again; the log shows the last step it reached."
)
CANCEL_GRACE_S = 15.0
HOST = socket.gethostname()
WRITE_RETRIES = 5  # a progress write that finds the store locked waits and tries again this often


def process_start_token(pid: int) -> str | None:
    """The kernel's start time of process `pid` (field 22 of /proc/<pid>/stat), or None when no such process runs.

    Two processes that reuse one pid have different tokens, so (pid, token) names one process for good. Where
    /proc does not exist the token is "" for a live pid: the pid check then works as before, without the guard.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return ""
        return ""
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the name in (...) may hold spaces; fields after it start at #3
    if len(fields) < 20 or fields[0] == "Z":  # a zombie has ended: only its exit status is left
        return None
    return fields[19]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def stall_limit_s(kind: str, settings: Settings) -> float:
    """How long a job of `kind` may go without reporting progress before the watchdog stops it."""
    return settings.job_stall_timeout_s.get(kind, settings.default_job_stall_timeout_s)


def _retry_locked(write: Any, *, what: str) -> None:
    """Run a store write, retrying when SQLite says the database is locked (a busy store is not a failed job)."""
    delay = 0.2
    for attempt in range(WRITE_RETRIES + 1):
        try:
            write()
            return
        except OperationalError as exc:
            if "locked" not in str(exc).lower() or attempt == WRITE_RETRIES:
                raise
            log.warning("%s: the store is locked; trying again in %.1f s", what, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


# --- console side ---------------------------------------------------------------------------------------------


def _limit_for(kind: str, settings: Settings) -> int:
    return settings.job_concurrency.get(kind, settings.default_job_concurrency)


def submit(kind: JobKind | str, params: JobParams, *, title: str = "", settings: Settings | None = None) -> int:
    """Queue a job and start its worker if a slot is free. Returns the job id at once.

    Pages do not call this: each domain wraps its kinds in a typed `start_<kind>()` that builds `params`.

    Args:
        kind: A registered job kind.
        params: An instance of the model the kind registered; its JSON is what the row stores.
        title: What the jobs panel calls the job (default: the kind).
        settings: The workspace's settings (default: `get_settings()`).

    Raises:
        NotFoundError: No job kind of that name is registered (nothing is stored).
        TypeError: `params` is not the kind's parameters model (nothing is stored).
    """
    settings = settings or get_settings()
    spec = get_task(kind)  # fail fast on an unknown kind, before anything is stored
    if not isinstance(params, spec.params):
        raise TypeError(f"A {kind} job takes {spec.params.__name__}, not {type(params).__name__}.")
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    with session_scope() as session:
        job = job_store.create_job(session=session, kind=str(kind), params=params.model_dump(mode="json"), title=title)
        log_path = settings.logs_dir / f"job-{job.id}.log"
        job_store.update_job(session=session, job_id=job.id, changes=JobUpdate(log_path=str(log_path)))
    dispatch(settings=settings)
    return job.id


def _spawn_worker(job: Job, settings: Settings) -> int:
    log_path = Path(job.log_path or settings.logs_dir / f"job-{job.id}.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PLATEOPS_HOME"] = str(settings.home.resolve())
    env["PLATEOPS_DATABASE_URL"] = settings.db_url
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    with open(log_path, "ab") as log_file:  # the child keeps its own handle
        proc = subprocess.Popen(  # pylint: disable=consider-using-with  # a detached worker outlives this call
            [settings.python_executable, "-m", "jobs.worker", str(job.id)],
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group: cancel signals the whole tree, the console survives
        )
    _children.append(proc)
    return proc.pid


_children: list[subprocess.Popen[bytes]] = []


def _reap_children() -> None:
    """Collect exited worker processes so they neither linger as zombies nor look alive to the pid check."""
    for proc in list(_children):
        if proc.poll() is not None:
            _children.remove(proc)


def dispatch(*, settings: Settings | None = None) -> list[int]:
    """Start queued jobs, oldest first, while their kind has free slots. Returns the ids started."""
    settings = settings or get_settings()
    _reap_children()
    started: list[int] = []
    with session_scope() as session:
        queued = job_store.list_jobs(session=session, statuses=[JobStatus.QUEUED], oldest_first=True, limit=1000)
    for job in queued:
        with session_scope() as session:
            claimed = job_store.claim_job(
                session=session, job_id=job.id, kind=job.kind, limit=_limit_for(job.kind, settings)
            )
        if not claimed:
            continue
        try:
            pid = _spawn_worker(job, settings)
        except OSError as exc:
            with session_scope() as session:
                job_store.finish_job(
                    session=session,
                    job_id=job.id,
                    status=JobStatus.FAILED,
                    error=f"Could not start: {exc}",
                    failure_code=FailureCode.CRASH,
                )
            continue
        with session_scope() as session:
            job_store.update_job(
                session=session,
                job_id=job.id,
                changes=JobUpdate(pid=pid, host=HOST, pid_started=process_start_token(pid)),
            )
        started.append(job.id)
    return started


def worker_alive(job: Job) -> bool | None:
    """Whether the job's worker process still runs: None when this machine cannot tell (no pid yet, or a worker
    on another machine: only its heartbeat tells). False as soon as its pid is gone or runs another process."""
    if not job.pid or job.host != HOST:
        return None
    token = process_start_token(job.pid)
    if token is None:
        return False
    # a changed token: the pid was reused (a restart or reboot since), so that process is not ours
    return not (job.pid_started and token and token != job.pid_started)


def _signal_worker(job: Job, sig: int) -> bool:
    """Signal the job's worker process group, only after checking the pid still is the process it started.

    A worker that is gone may have left children in its group (orphans that must die with it): with no process
    of that pid left the group is still signalled, since the kernel never hands out a pid that names a living
    process group. A pid that now runs another process (its token changed) is never signalled.
    """
    if not job.pid or job.host != HOST:
        return False
    alive = worker_alive(job)
    if alive is False and process_start_token(job.pid) is not None:
        return False  # reused by another process: not ours, nor is any group it leads
    try:
        os.killpg(job.pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def cancel(job_id: int, *, actor: Actor) -> Job:
    """Cancel a job: a queued one at once, a running one by SIGTERM to its process group.

    Raises:
        AccessDeniedError: The actor may not cancel jobs.
    """
    authorize(actor, Permission.CANCEL_JOB, f"job {job_id}")
    with session_scope() as session:
        job = job_store.get_job(session=session, job_id=job_id)
        if job.status == JobStatus.QUEUED:
            job_store.finish_job(
                session=session, job_id=job_id, status=JobStatus.CANCELLED, error="Cancelled before it started."
            )
            return job_store.get_job(session=session, job_id=job_id)
        if not job.active:
            return job
        job_store.update_job(
            session=session, job_id=job_id, changes=JobUpdate(cancel_requested_at=utcnow(), message="Cancelling…")
        )
    _signal_worker(job, signal.SIGTERM)
    with session_scope() as session:
        return job_store.get_job(session=session, job_id=job_id)


def _settle(job: Job, status: JobStatus, error: str, code: FailureCode | None = None) -> bool:
    """Finish a job whose worker is gone, then run its kind's recovery. False when it had already finished."""
    with session_scope() as session:
        if not job_store.finish_job(session=session, job_id=job.id, status=status, error=error, failure_code=code):
            return False
        finished = job_store.get_job(session=session, job_id=job.id)
    recover_job(finished)
    return True


def recover_job(job: Job) -> None:
    """Run the recovery its kind registered for a job whose worker died, with the job's typed params (see
    `backend.runtime.kinds`). A job whose params no longer validate (queued by an older version) is logged and
    left: its recovery cannot know what to settle."""
    try:
        spec = get_task(job.kind)
    except PlateOpsError:
        log.warning("job %s: no kind '%s' registered any more; nothing to recover", job.id, job.kind)
        return
    try:
        params = spec.parse_params(job.params)
    except OutdatedParamsError as exc:
        log.warning("job %s (%s): not recovered: %s", job.id, job.kind, exc)
        return
    try:
        spec.recover(job, params)
    except Exception:  # noqa: BLE001 - one kind's failing recovery must not stop the runner settling the others
        log.error("job %s (%s): recovery failed\n%s", job.id, job.kind, traceback.format_exc())
        return
    log.info("job %s (%s): recovered after %s", job.id, job.kind, job.status)


def reap(*, settings: Settings | None = None) -> list[int]:
    """Fail jobs whose worker died, force-kill cancels that overran, run each kind's recovery, then dispatch.

    A worker is dead when its process on this machine has ended or its pid now runs another process (seen at
    once), or its heartbeat is older than `heartbeat_timeout_s` (a frozen worker, or one on another machine). A
    running worker that reported no progress for longer than its kind's `stall_limit_s` is stopped and failed
    (code `stalled`). Returns the ids failed.
    """
    settings = settings or get_settings()
    now = utcnow()
    stale_before = now - timedelta(seconds=settings.heartbeat_timeout_s)
    failed: list[int] = []
    _reap_children()
    with session_scope() as session:
        active = job_store.list_jobs(session=session, statuses=[JobStatus.STARTING, JobStatus.RUNNING], limit=1000)
    for job in active:
        gone = worker_alive(job) is False
        if job.cancel_requested_at and (gone or (job.pid and not _signal_worker(job, 0))):
            _settle(job, JobStatus.CANCELLED, "Cancelled by the user.")  # it ended before it could say so
            continue
        if job.cancel_requested_at and (now - job.cancel_requested_at).total_seconds() > CANCEL_GRACE_S:
            _signal_worker(job, signal.SIGKILL)
            _settle(job, JobStatus.CANCELLED, "Cancelled (forced).")
            continue
        beat = job.heartbeat_at or job.started_at or job.created_at
        if gone or beat < stale_before:
            _signal_worker(job, signal.SIGKILL)  # a hung worker must not finish later and overwrite this
            if _settle(job, JobStatus.FAILED, DEAD_MESSAGE if gone else STALE_MESSAGE, FailureCode.WORKER_LOST):
                failed.append(job.id)
            continue
        if job.status == JobStatus.RUNNING and _stalled(job, now, settings):
            failed.append(job.id)
    dispatch(settings=settings)
    return failed


def _stalled(job: Job, now: datetime, settings: Settings) -> bool:
    """The watchdog: stop and fail a running job that made no progress for longer than its kind allows."""
    last = job.progress_at or job.started_at or job.created_at
    idle_s = (now - last).total_seconds()
    limit_s = stall_limit_s(job.kind, settings)
    if idle_s <= limit_s:
        return False
    _signal_worker(job, signal.SIGKILL)  # the slot is freed below; the stuck worker must not finish later
    message = STALL_MESSAGE.format(idle=_duration(idle_s), kind=job.kind, limit=_duration(limit_s))
    log.warning("job %s (%s): %s", job.id, job.kind, message)
    return _settle(job, JobStatus.FAILED, message, FailureCode.STALLED)


def tail_log(job: Job, lines: int = 40, max_bytes: int = 64_000) -> str:
    """The last `lines` lines of a job's log (reads at most `max_bytes` from the end)."""
    path = Path(job.log_path)
    if not job.log_path or not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - max_bytes))
        text = handle.read().decode("utf-8", errors="replace")
    # Progress bars rewrite one line with \r: keep the last state of each line.
    cleaned = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join(cleaned[-lines:])


def wait_for(job_id: int, *, timeout_s: float = 600.0, poll_s: float = 0.2) -> Job:
    """Block until a job finishes (CLI and tests; the console polls instead)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with session_scope() as session:
            job = job_store.get_job(session=session, job_id=job_id)
        if not job.active:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"Job {job_id} still {job.status} after {timeout_s:.0f} s")
        reap()
        time.sleep(poll_s)


# --- worker side ----------------------------------------------------------------------------------------------


class _Heartbeat(threading.Thread):
    """Writes the job's heartbeat every interval from a side thread while the task runs."""

    def __init__(self, job_id: int, interval_s: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.job_id = job_id
        self.interval_s = interval_s
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            try:
                _retry_locked(self._beat, what="heartbeat")
            except Exception:  # a missed beat must not end the worker; the next one may get through
                log.warning("heartbeat write failed", exc_info=True)

    def _beat(self) -> None:
        with session_scope() as session:
            job_store.update_job(session=session, job_id=self.job_id, changes=JobUpdate(heartbeat_at=utcnow()))


class _ProgressWriter:
    """Turns progress calls into throttled store writes."""

    def __init__(self, job_id: int, min_interval_s: float = 0.5) -> None:
        self.job_id = job_id
        self.min_interval_s = min_interval_s
        self._last = 0.0
        self._last_message = ""

    def __call__(self, fraction: float | None, message: str = "") -> None:
        now = time.monotonic()
        final = fraction is not None and fraction >= 1.0
        if not final and message == self._last_message and now - self._last < self.min_interval_s:
            return
        self._last, self._last_message = now, message
        stamp = utcnow()
        if fraction is None:
            changes = JobUpdate(message=message[:2000], heartbeat_at=stamp, progress_at=stamp)
        else:
            progress = max(0.0, min(1.0, float(fraction)))
            changes = JobUpdate(message=message[:2000], heartbeat_at=stamp, progress_at=stamp, progress=progress)
        self._write(changes, what="progress")

    def publish(self, live: dict[str, Any]) -> None:
        now = utcnow()
        self._write(JobUpdate(live=live, heartbeat_at=now, progress_at=now), what="live metrics")

    def _write(self, changes: JobUpdate, *, what: str) -> None:
        """One store write, retried while the database is locked: a busy store must not fail the job."""

        def write() -> None:
            with session_scope() as session:
                job_store.update_job(session=session, job_id=self.job_id, changes=changes)

        _retry_locked(write, what=what)


def _on_sigterm(signum: int, _frame: object) -> None:
    raise JobCancelled(f"signal {signum}")


def _claim_for_worker(job_id: int) -> Job | None:
    """Mark the job running in this process; None when there is nothing to run (finished or cancelled)."""
    with session_scope() as session:
        job = job_store.get_job(session=session, job_id=job_id)
        if job.status not in (JobStatus.STARTING, JobStatus.QUEUED):
            log.info("job %s is %s; nothing to do", job_id, job.status)
            return None
        if job.cancel_requested_at:
            job_store.finish_job(
                session=session, job_id=job_id, status=JobStatus.CANCELLED, error="Cancelled by the user."
            )
            return None
        now = utcnow()
        job_store.update_job(
            session=session,
            job_id=job_id,
            changes=JobUpdate(
                status=JobStatus.RUNNING,
                pid=os.getpid(),
                host=HOST,
                pid_started=process_start_token(os.getpid()),
                started_at=job.started_at or now,
                heartbeat_at=now,
                progress_at=now,
            ),
        )
    return job


def run_job(job_id: int) -> str:
    """Run one stored job in this process (the body of `python -m jobs.worker`). Returns the final status.

    The row's params are validated into its kind's model before anything runs: a row an older version queued, whose
    params no longer fit, fails with a plain message (code `bad_input`) and its task never starts.
    """
    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    job = _claim_for_worker(job_id)
    if job is None:
        with session_scope() as session:
            return job_store.get_job(session=session, job_id=job_id).status
    try:
        task = get_task(job.kind)
        params = task.parse_params(job.params)
    except PlateOpsError as exc:  # an unknown kind, or params an older version stored: nothing runs
        log.error("job %s (%s) not started: %s", job_id, job.kind, exc)
        return _end_job(job_id, JobStatus.FAILED, error=str(exc), code=failure_code_for(exc), ran=False)
    signal.signal(signal.SIGTERM, _on_sigterm)
    heartbeat = _Heartbeat(job_id, settings.heartbeat_interval_s)
    heartbeat.start()
    writer = _ProgressWriter(job_id)
    ctx = JobContext(job_id=job_id, params=params, settings=settings, progress=writer, publish=writer.publish)
    log.info("job %s (%s) started: %s", job_id, job.kind, params)
    status, result, error, code = JobStatus.FAILED, None, None, None
    try:
        result = task.run(ctx) or {}
        status = JobStatus.SUCCEEDED
    except JobCancelled:
        status, error = JobStatus.CANCELLED, "Cancelled by the user."
        log.info("job %s cancelled", job_id)
    except PlateOpsError as exc:
        error, code = str(exc), failure_code_for(exc)
        log.error("job %s failed: %s\n%s", job_id, exc, traceback.format_exc())
    except Exception as exc:  # noqa: BLE001 - any crash must end as a failed job with the traceback in the log
        error, code = f"Unexpected error: {type(exc).__name__}: {exc}. The log has the details.", FailureCode.CRASH
        log.error("job %s crashed\n%s", job_id, traceback.format_exc())
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        heartbeat.stop_event.set()
    return _end_job(job_id, status, result=result, error=error, code=code, ran=True)


def _end_job(
    job_id: int,
    status: JobStatus,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    code: FailureCode | None = None,
    ran: bool,
) -> str:
    """Record how the worker's job ended, settle a task that `ran` and did not succeed, hand the slot on."""
    with session_scope() as session:
        job_store.finish_job(
            session=session, job_id=job_id, status=status, result=result, error=error, failure_code=code
        )
        if status == JobStatus.SUCCEEDED:
            job_store.update_job(session=session, job_id=job_id, changes=JobUpdate(message="Done"))
        finished = job_store.get_job(session=session, job_id=job_id)
    if ran and status != JobStatus.SUCCEEDED:
        recover_job(finished)  # a task that failed half-way leaves what a crash would: settle it the same way
    log.info("job %s %s", job_id, status)
    dispatch(settings=get_settings())  # hand our slot to the next queued job
    return str(status)
