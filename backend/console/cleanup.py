"""Startup sweep: remove what killed workers left behind in the workspace, and say what went.

A job's work folders carry its id (`.staging-job-<id>`, `imports/job-<id>`, `raw/job-<id>`): they go once that
job is no longer active (the runner has already failed a dead worker's job and run its kind's recovery, which
usually removed them; this catches what a recovery could not reach). Other half-written things (a staging folder
of a console edit, `.<name>.partial-<pid>` folders and zips, `*.part` / `*.tmp` files of atomic writes) have no
owner to ask, so they go only when untouched for `LEFTOVER_AGE_S`: a write in progress keeps touching its file.
Finished versions, models and reports are never touched: the sweep matches these work names only.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from backend.core.enums import ACTIVE_JOB_STATUSES
from backend.core.settings import Settings
from backend.store import jobs as job_store
from backend.store.engine import session_scope

log = logging.getLogger(__name__)

LEFTOVER_AGE_S = 600.0
_JOB_NAME = re.compile(r"^(?:\.staging-)?job-(\d+)$")
_WORK_NAME = re.compile(r"^(?:\.staging-.+|\..+\.partial-\d+|.+\.part|.+\.tmp)$")
_DEPTH = 4  # home/datasets/<name>/<folder>: deep enough for every work folder, shallow enough to stay cheap


def _candidates(root: Path, depth: int) -> Iterator[Path]:
    """Entries under `root` down to `depth` levels; does not descend into a matched work folder."""
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for entry in entries:
        if _JOB_NAME.match(entry.name) or _WORK_NAME.match(entry.name):
            yield entry
        elif depth > 1 and entry.is_dir() and not entry.is_symlink():
            yield from _candidates(entry, depth - 1)


def _remove(path: Path) -> bool:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return not path.exists()


def sweep_leftovers(settings: Settings, *, now: float | None = None) -> list[str]:
    """Remove killed workers' leftovers from the workspace. Returns the paths removed (relative to home).

    Args:
        settings: Settings naming the workspace.
        now: The current time (seconds since the epoch); tests pass it to age files.
    """
    now = time.time() if now is None else now
    with session_scope() as session:
        jobs = job_store.list_jobs(session=session, statuses=list(ACTIVE_JOB_STATUSES), limit=10_000)
    active = {job.id for job in jobs}
    home = settings.home
    removed: list[str] = []
    for path in _candidates(home, _DEPTH):
        job_match = _JOB_NAME.match(path.name)
        if job_match:
            if int(job_match.group(1)) in active:
                continue
        else:
            try:
                age = now - path.stat().st_mtime
            except OSError:
                continue
            if age < LEFTOVER_AGE_S:
                continue
        if _remove(path):
            removed.append(str(path.relative_to(home)))
    for item in removed:
        log.info("startup clean-up removed %s (left by a worker that was killed)", item)
    return sorted(removed)
