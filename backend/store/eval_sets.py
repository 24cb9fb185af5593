"""Repository: the evaluation sets of the promotion gate, one versioned set per task. Functions take a keyword-only
`session` and return frozen records.

A set's versions are rows that are only ever added: the newest number of a task is the set the gate uses, the
earlier ones are its history (who chose or adopted which dataset version's split, when and why). Who may add one is
checked above the store, through `backend.store.audit.authorize`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.core.enums import DetectionTask, EvalSetAction, EvalSplit
from backend.store.engine import get_row
from backend.store.records import EvalSet, from_row
from backend.store.rows import DatasetVersionRow, EvalSetRow


def add_eval_set_version(
    *,
    session: Session,
    task: DetectionTask,
    name: str,
    dataset_version_id: int,
    split: EvalSplit,
    images: int,
    instances: int,
    class_names: Sequence[str],
    class_instances: Mapping[str, int],
    action: EvalSetAction,
    actor: str,
    reason: str,
) -> EvalSet:
    """Record a new version of a task's evaluation set (one number above its newest); returns it.

    Raises:
        NotFoundError: No such dataset version.
        ValueError: An unknown task, split or action.
    """
    task, split, action = DetectionTask(task), EvalSplit(split), EvalSetAction(action)
    get_row(session, DatasetVersionRow, dataset_version_id, "Dataset version")
    latest = session.scalar(select(func.max(EvalSetRow.number)).where(EvalSetRow.task == task))
    row = EvalSetRow(
        task=task,
        number=(latest or 0) + 1,
        name=name[:300],
        dataset_version_id=dataset_version_id,
        split=split,
        images=int(images),
        instances=int(instances),
        class_names=list(class_names),
        class_instances={str(k): int(v) for k, v in class_instances.items()},
        action=action,
        actor=actor[:120],
        reason=reason,
    )
    session.add(row)
    session.flush()
    return from_row(EvalSet, row)


def current_eval_set(*, session: Session, task: DetectionTask) -> EvalSet | None:
    """The evaluation set a task's gate uses now (its newest version), or None before one was chosen."""
    row = session.scalar(
        select(EvalSetRow).where(EvalSetRow.task == DetectionTask(task)).order_by(EvalSetRow.number.desc()).limit(1)
    )
    return from_row(EvalSet, row) if row else None


def eval_set_history(*, session: Session, task: DetectionTask) -> list[EvalSet]:
    """Every version of a task's evaluation set, newest first."""
    rows = session.scalars(
        select(EvalSetRow).where(EvalSetRow.task == DetectionTask(task)).order_by(EvalSetRow.number.desc())
    )
    return [from_row(EvalSet, r) for r in rows]
