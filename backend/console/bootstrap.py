"""What happens when the console starts: workspace, store, and the demo data on an empty workspace."""

from __future__ import annotations

import logging

from backend.core.settings import get_settings, init_workspace
from backend.runtime import runner
from backend.store import datasets as dataset_store
from backend.store import jobs as job_store
from backend.store.engine import init_db, session_scope

log = logging.getLogger(__name__)
DEMO_JOB_KIND = "demo_dataset"


def start_console() -> dict[str, str]:
    """Create folders, migrate the store, and queue the demo dataset on first start. Returns what it did."""
    settings = init_workspace()
    init_db()
    done = {"workspace": str(settings.home.resolve())}
    if settings.auto_demo and ensure_demo_dataset():
        done["demo"] = "queued"
    return done


def ensure_demo_dataset() -> bool:
    """Queue the demo dataset job when the workspace has no dataset and no demo job ever ran. True if queued."""
    settings = get_settings()
    with session_scope() as session:
        if dataset_store.list_datasets(session=session) or job_store.list_jobs(
            session=session, kind=DEMO_JOB_KIND, limit=1
        ):
            return False
    runner.submit(
        DEMO_JOB_KIND,
        {"images": settings.demo_images, "seed": 0, "name": "demo-food"},
        title=f"Create the demo food dataset ({settings.demo_images} images)",
    )
    return True
