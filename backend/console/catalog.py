"""The catalog of job kinds: importing it registers every kind the worker can run.

The runner imports this module by name (`backend.runtime.kinds.CATALOG_MODULE`), so runtime never imports a
domain package. Each domain registers its own kinds, with their crash recovery, in its `tasks` module; this module
only imports them, plus `noop`, the health-check job that belongs to no domain.
"""

from __future__ import annotations

from typing import Any

from backend.annotation import tasks as annotation_tasks
from backend.core.enums import JobKind
from backend.data import tasks as data_tasks
from backend.monitoring import tasks as monitoring_tasks
from backend.runtime.kinds import JobContext, NoParams, nothing_to_recover, register_task
from backend.training import tasks as training_tasks

# Importing a domain's tasks module registers its kinds (with their crash recovery).
DOMAIN_TASKS = (
    annotation_tasks,  # label_errors, validate_retrain
    data_tasks,  # demo_dataset, import_dataset, validate
    monitoring_tasks,  # drift_report, simulate_traffic
    training_tasks,  # train
)


@register_task(JobKind.NOOP, params=NoParams, recover=nothing_to_recover)
def noop_task(ctx: JobContext[NoParams]) -> dict[str, Any]:
    """A job that does nothing: a quick check that workers start (`runner.submit(JobKind.NOOP, NoParams())`)."""
    ctx.progress(1.0, "Nothing to do")
    return {"ok": True}
