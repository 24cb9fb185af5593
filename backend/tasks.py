"""Job kinds the worker can run. Each task adapts a backend function to the job context (params in, result out).

Imported by the worker through `backend.runner.get_task`; backend modules are imported inside each task so that
loading the registry stays cheap.
"""

from __future__ import annotations

from typing import Any

from backend.runner import JobContext, register_task


@register_task("noop")
def noop_task(ctx: JobContext) -> dict[str, Any]:
    """A job that does nothing: checks that workers start (used by the health check on Home)."""
    ctx.progress(1.0, "Nothing to do")
    return {"ok": True}
