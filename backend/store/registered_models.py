"""Repository: the model registry's rows: registered models (candidate, production, archived) and the model history
(`model_events`: promoted, overridden, blocked, rolled back, exported). Functions take a keyword-only `session` and
return frozen records.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.core.enums import ModelStage
from backend.core.limits import TextKind, cap_text, require_within
from backend.store.engine import get_row
from backend.store.records import (
    ModelEvent,
    RegisteredModel,
    from_row,
)
from backend.store.rows import (
    ModelEventRow,
    ModelRow,
    utcnow,
)

MODEL_STAGES: tuple[ModelStage, ...] = tuple(ModelStage)


def register_model(
    *,
    session: Session,
    name: str,
    weights_path: str,
    run_id: int | None = None,
    metrics: dict[str, Any] | None = None,
    stage: str = ModelStage.CANDIDATE,
    notes: str = "",
    weights_sha256: str = "",
    class_thresholds: dict[str, float] | None = None,
) -> RegisteredModel:
    """Add a model to the registry (a candidate unless told otherwise), with the sha256 of its weights file."""
    if stage not in MODEL_STAGES:
        raise ValueError(f"stage must be one of {', '.join(MODEL_STAGES)}")
    row = ModelRow(
        name=require_within(TextKind.MODEL_NAME, name),
        weights_path=weights_path,
        run_id=run_id,
        metrics=metrics or {},
        stage=stage,
        notes=require_within(TextKind.MODEL_NOTES, notes),
        weights_sha256=weights_sha256,
        class_thresholds=dict(class_thresholds or {}),
    )
    if stage == ModelStage.PRODUCTION:
        _demote_production(session)
        row.promoted_at = utcnow()
    session.add(row)
    session.flush()
    return from_row(RegisteredModel, row)


def _demote_production(session: Session) -> None:
    session.execute(update(ModelRow).where(ModelRow.stage == ModelStage.PRODUCTION).values(stage=ModelStage.ARCHIVED))


def set_model_stage(*, session: Session, model_id: int, stage: str) -> RegisteredModel:
    """Move a model to a stage; promoting to production archives the previous production model."""
    if stage not in MODEL_STAGES:
        raise ValueError(f"stage must be one of {', '.join(MODEL_STAGES)}")
    row = get_row(session, ModelRow, model_id, "Model")
    if stage == ModelStage.PRODUCTION:
        _demote_production(session)
        row.promoted_at = utcnow()
    row.stage = stage
    session.flush()
    return from_row(RegisteredModel, row)


def update_model(*, session: Session, model_id: int, **fields: Any) -> RegisteredModel:
    """Set fields of a registered model (ONNX path, thresholds, notes)."""
    row = get_row(session, ModelRow, model_id, "Model")
    for key, kind in (("name", TextKind.MODEL_NAME), ("notes", TextKind.MODEL_NOTES)):
        if key in fields:
            require_within(kind, fields[key])
    for key, value in fields.items():
        setattr(row, key, value)
    session.flush()
    return from_row(RegisteredModel, row)


def delete_model(*, session: Session, model_id: int) -> None:
    """Remove a registry entry (a registration the gate made and then failed to use); its events keep a null id."""
    session.delete(get_row(session, ModelRow, model_id, "Model"))
    session.flush()


def get_model(*, session: Session, model_id: int) -> RegisteredModel:
    """Return one registered model or raise NotFoundError."""
    return from_row(RegisteredModel, get_row(session, ModelRow, model_id, "Model"))


def list_models(*, session: Session, stage: str | None = None) -> list[RegisteredModel]:
    """Registered models, newest first."""
    stmt = select(ModelRow).order_by(ModelRow.id.desc())
    if stage:
        stmt = stmt.where(ModelRow.stage == stage)
    return [from_row(RegisteredModel, r) for r in session.scalars(stmt)]


def get_production_model(*, session: Session) -> RegisteredModel | None:
    """The model in production, if one was promoted."""
    row = session.scalar(select(ModelRow).where(ModelRow.stage == ModelStage.PRODUCTION).order_by(ModelRow.id.desc()))
    return from_row(RegisteredModel, row) if row else None


def find_model_for_run(*, session: Session, run_id: int) -> RegisteredModel | None:
    """The newest model registered from a training run, or None."""
    row = session.scalar(select(ModelRow).where(ModelRow.run_id == run_id).order_by(ModelRow.id.desc()))
    return from_row(RegisteredModel, row) if row else None


def add_event(
    *,
    session: Session,
    action: str,
    model_id: int | None,
    previous_model_id: int | None = None,
    actor: str = "",
    reason: str = "",
    figures: dict[str, Any] | None = None,
) -> ModelEvent:
    """Append one entry to the model history (promoted, overridden, blocked, rolled_back, exported)."""
    row = ModelEventRow(
        action=action,
        model_id=model_id,
        previous_model_id=previous_model_id,
        actor=cap_text(TextKind.ACTOR_NAME, actor),
        reason=require_within(TextKind.PROMOTION_REASON, reason),
        figures=figures or {},
    )
    session.add(row)
    session.flush()
    return from_row(ModelEvent, row)


def list_events(
    *, session: Session, limit: int | None = 200, actions: tuple[str, ...] = (), oldest_first: bool = False
) -> list[ModelEvent]:
    """The model history, newest first (or oldest first), optionally only some actions; `limit=None` for all."""
    order = ModelEventRow.id.asc() if oldest_first else ModelEventRow.id.desc()
    stmt = select(ModelEventRow).order_by(order)
    if actions:
        stmt = stmt.where(ModelEventRow.action.in_(actions))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [from_row(ModelEvent, r) for r in session.scalars(stmt)]
