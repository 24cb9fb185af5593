"""What happens when the console starts: workspace, store, and the demo data on an empty workspace."""

from __future__ import annotations

import logging

from backend.console.cleanup import sweep_leftovers
from backend.core.access import SYSTEM
from backend.core.enums import JobKind, JobStatus
from backend.core.settings import get_settings, init_workspace
from backend.data.tasks import start_demo_dataset
from backend.runtime import runner
from backend.store import datasets as dataset_store
from backend.store import jobs as job_store
from backend.store.engine import init_db, session_scope

log = logging.getLogger(__name__)


def start_console() -> dict[str, str]:
    """Create folders, migrate the store, settle jobs whose workers died while the console was down (running ones
    are found again, queued ones start), remove what killed workers left behind, and queue the demo dataset on
    first start. Returns what it did: `recovered` (jobs failed), `running` (found again), `cleaned` (paths
    removed), `demo`."""
    settings = init_workspace()
    init_db()
    done = {"workspace": str(settings.home.resolve())}
    lost = runner.reap()  # a worker killed with the console (or a reboot) is failed and its kind's recovery runs
    if lost:  # (queued jobs start here too: reap dispatches into the freed slots)
        done["recovered"] = ", ".join(str(job_id) for job_id in lost)
    with session_scope() as session:  # workers that outlived the console keep running: found again by pid + token
        running = job_store.list_jobs(session=session, statuses=[JobStatus.STARTING, JobStatus.RUNNING], limit=1000)
    if running:
        done["running"] = ", ".join(str(job.id) for job in sorted(running, key=lambda job: job.id))
    removed = sweep_leftovers(settings)
    if removed:
        done["cleaned"] = ", ".join(removed)
    if settings.auto_demo and ensure_demo_dataset():
        done["demo"] = "queued"
    return done


def ensure_demo_dataset() -> bool:
    """Queue the demo dataset job when the workspace has no dataset and no demo job ever ran. True if queued."""
    settings = get_settings()
    with session_scope() as session:
        if dataset_store.list_datasets(session=session) or job_store.list_jobs(
            session=session, kind=JobKind.DEMO_DATASET, limit=1
        ):
            return False
    start_demo_dataset(actor=SYSTEM, name="demo-food", images=settings.demo_images)
    return True
