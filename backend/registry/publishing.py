"""ClearML side of the registry: with a server configured, a promotion or rollback tags the run's task and publishes
its output model; offline (or with ClearML missing) the stage lives in the store alone and nothing is sent.

ClearML is an optional integration: any failure here is logged and never blocks a promotion or a rollback.
"""

from __future__ import annotations

import logging

from backend.core.enums import ModelStage
from backend.store.records import Run
from backend.training.tracking import TrackingMode, detect_tracking_mode

log = logging.getLogger(__name__)


def publish_stage(run: Run | None, stage: ModelStage, *, previous: Run | None = None) -> str:
    """Tag the run's ClearML task with the stage and publish its model (online only).

    Args:
        run: The run whose model changed stage; None when it has no run.
        stage: The new stage.
        previous: The run whose model left production, to retag it "archived".

    Returns:
        A plain note of what happened ("offline: stage kept in the store" when no server is configured).
    """
    if detect_tracking_mode() != TrackingMode.ONLINE:
        return "offline: stage kept in the store"
    notes = [_tag(run, stage, publish=stage == ModelStage.PRODUCTION)]
    if previous is not None:
        notes.append(_tag(previous, ModelStage.ARCHIVED, publish=False))
    return "; ".join(n for n in notes if n)


def _tag(run: Run | None, stage: ModelStage, *, publish: bool) -> str:
    task_id = (run.tracking or {}).get("task_id") if run else None
    if not task_id:
        return ""
    try:
        from clearml import Task

        task: Task = Task.get_task(task_id=str(task_id))
        stale = [t for t in task.get_tags() if t.startswith("stage:")]
        task.set_tags([t for t in task.get_tags() if t not in stale] + [f"stage:{stage}"])
        if publish:
            for model in task.get_models().get("output", []):
                model.publish()
        return f"ClearML task {task_id} tagged stage:{stage}"
    except Exception as exc:  # noqa: BLE001 - optional integration; the store keeps the stage
        log.warning("ClearML tag/publish of task %s failed: %s", task_id, exc)
        return f"ClearML not updated ({exc})"
