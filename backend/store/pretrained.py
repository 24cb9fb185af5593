"""Repository: pretrained checkpoints uploaded as base models for training (`pretrained_models`). Functions take a
keyword-only `session` and return frozen records."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.store.engine import get_row
from backend.store.records import PretrainedModel, from_row
from backend.store.rows import PretrainedModelRow


def add_pretrained_model(
    *,
    session: Session,
    name: str,
    weights_path: str,
    weights_sha256: str,
    source: str = "",
    original_filename: str = "",
    class_names: list[str] | None = None,
    uploaded_by: str = "",
) -> PretrainedModel:
    """Record an uploaded checkpoint as a base model (its file already in place, its sha256 computed)."""
    row = PretrainedModelRow(
        name=name[:200],
        weights_path=weights_path,
        weights_sha256=weights_sha256,
        source=source,
        original_filename=original_filename[:255],
        class_names=list(class_names or []),
        uploaded_by=uploaded_by[:120],
    )
    session.add(row)
    session.flush()
    return from_row(PretrainedModel, row)


def get_pretrained_model(*, session: Session, model_id: int) -> PretrainedModel:
    """One base model, or NotFoundError."""
    return from_row(PretrainedModel, get_row(session, PretrainedModelRow, model_id, "Base model"))


def repoint_pretrained_model(*, session: Session, model_id: int, weights_path: str) -> PretrainedModel:
    """Point a base model at a fresh copy of its file (the same bytes, uploaded again after the old copy went)."""
    row = get_row(session, PretrainedModelRow, model_id, "Base model")
    row.weights_path = weights_path
    session.flush()
    return from_row(PretrainedModel, row)


def find_pretrained_by_sha256(*, session: Session, weights_sha256: str) -> PretrainedModel | None:
    """The base model whose file has this sha256, if one was uploaded before."""
    row = session.scalar(select(PretrainedModelRow).where(PretrainedModelRow.weights_sha256 == weights_sha256))
    return from_row(PretrainedModel, row) if row else None


def list_pretrained_models(*, session: Session) -> list[PretrainedModel]:
    """Every base model, newest first."""
    stmt = select(PretrainedModelRow).order_by(PretrainedModelRow.id.desc())
    return [from_row(PretrainedModel, r) for r in session.scalars(stmt)]
