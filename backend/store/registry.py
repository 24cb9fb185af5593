"""Repository: The model registry: candidate, production and archived models. Functions take a keyword-only `session`
and return frozen records.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.store.engine import get_row
from backend.store.records import (
    RegisteredModel,
    from_row,
)
from backend.store.rows import (
    ModelRow,
    utcnow,
)

MODEL_STAGES = ("candidate", "production", "archived")


def register_model(
    *,
    session: Session,
    name: str,
    weights_path: str,
    run_id: int | None = None,
    metrics: dict[str, Any] | None = None,
    stage: str = "candidate",
    notes: str = "",
) -> RegisteredModel:
    """Add a model to the registry (a candidate unless told otherwise)."""
    if stage not in MODEL_STAGES:
        raise ValueError(f"stage must be one of {MODEL_STAGES}")
    row = ModelRow(name=name, weights_path=weights_path, run_id=run_id, metrics=metrics or {}, stage=stage, notes=notes)
    if stage == "production":
        _demote_production(session)
        row.promoted_at = utcnow()
    session.add(row)
    session.flush()
    return from_row(RegisteredModel, row)


def _demote_production(session: Session) -> None:
    session.execute(update(ModelRow).where(ModelRow.stage == "production").values(stage="archived"))


def set_model_stage(*, session: Session, model_id: int, stage: str) -> RegisteredModel:
    """Move a model to a stage; promoting to production archives the previous production model."""
    if stage not in MODEL_STAGES:
        raise ValueError(f"stage must be one of {MODEL_STAGES}")
    row = get_row(session, ModelRow, model_id, "Model")
    if stage == "production":
        _demote_production(session)
        row.promoted_at = utcnow()
    row.stage = stage
    session.flush()
    return from_row(RegisteredModel, row)


def update_model(*, session: Session, model_id: int, **fields: Any) -> RegisteredModel:
    """Set fields of a registered model (ONNX path, thresholds, notes)."""
    row = get_row(session, ModelRow, model_id, "Model")
    for key, value in fields.items():
        setattr(row, key, value)
    session.flush()
    return from_row(RegisteredModel, row)


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
    row = session.scalar(select(ModelRow).where(ModelRow.stage == "production").order_by(ModelRow.id.desc()))
    return from_row(RegisteredModel, row) if row else None
