"""The catalog of job kinds: importing it registers every kind the worker can run.

The runner imports this module by name (`backend.runtime.registry.CATALOG_MODULE`), so runtime never imports a
domain package. Each domain registers its own kinds, with their crash recovery, in its `tasks` module; this module
only imports them, plus `noop`, the health-check job that belongs to no domain.
"""

from __future__ import annotations

from typing import Any

import backend.annotation.tasks  # registers label_errors, validate_retrain
import backend.data.tasks  # registers demo_dataset, import_dataset, validate
import backend.monitoring.tasks  # registers drift_report, simulate_traffic
import backend.training.tasks  # registers train
from backend.core.enums import JobKind
from backend.runtime.registry import JobContext, nothing_to_recover, register_task


@register_task(JobKind.NOOP, recover=nothing_to_recover)
def noop_task(ctx: JobContext) -> dict[str, Any]:
    """A job that does nothing: a quick check that workers start (`runner.submit(JobKind.NOOP, {})`)."""
    ctx.progress(1.0, "Nothing to do")
    return {"ok": True}
