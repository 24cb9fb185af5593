"""Repository: shadow answers (a candidate model's answers on live traffic, kept apart from the prediction log) and
which model is in shadow. Functions take a keyword-only `session` and return frozen records.

Which model is in shadow is not a column anywhere: it is the newest `shadow_on` / `shadow_off` entry of the
registry's audit trail (`model_events`), so the trail that says who put it there is also the one source of truth.
A `shadow_on` entry names a registered model in `model_id`, or a run's weights in `figures["run_id"]`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.store.records import ModelEvent, ShadowPair, ShadowPrediction, from_row
from backend.store.rows import ModelEventRow, PredictionRow, ShadowPredictionRow

SHADOW_ON = "shadow_on"
SHADOW_OFF = "shadow_off"


def current_shadow(*, session: Session) -> ModelEvent | None:
    """The `shadow_on` event of the model in shadow now, or None when none is (never put in, or taken out)."""
    row = session.scalar(
        select(ModelEventRow)
        .where(ModelEventRow.action.in_((SHADOW_ON, SHADOW_OFF)))
        .order_by(ModelEventRow.id.desc())
        .limit(1)
    )
    return from_row(ModelEvent, row) if row is not None and row.action == SHADOW_ON else None


def add_shadow_prediction(
    *,
    session: Session,
    prediction_id: int,
    model_label: str,
    detections: list[dict[str, Any]],
    latency_ms: float,
    model_id: int | None = None,
    run_id: int | None = None,
) -> ShadowPrediction:
    """Log one shadow answer; a second answer of the same model on the same prediction violates a unique index."""
    row = ShadowPredictionRow(
        prediction_id=prediction_id,
        model_id=model_id,
        run_id=run_id,
        model_label=model_label[:300],
        detections=detections,
        n_detections=len(detections),
        latency_ms=latency_ms,
    )
    session.add(row)
    session.flush()
    return from_row(ShadowPrediction, row)


def list_shadow_predictions(*, session: Session, prediction_id: int) -> list[ShadowPrediction]:
    """Every shadow answer logged for one prediction, oldest first."""
    stmt = select(ShadowPredictionRow).where(ShadowPredictionRow.prediction_id == prediction_id)
    return [from_row(ShadowPrediction, r) for r in session.scalars(stmt.order_by(ShadowPredictionRow.id))]


def count_shadow_predictions(*, session: Session, model_label: str | None = None) -> int:
    """Number of shadow answers, all models' or one model's."""
    stmt = select(func.count()).select_from(ShadowPredictionRow)
    if model_label is not None:
        stmt = stmt.where(ShadowPredictionRow.model_label == model_label)
    return session.scalar(stmt) or 0


def shadow_pairs(*, session: Session, model_label: str, limit: int = 1000) -> list[ShadowPair]:
    """The newest pictures one shadow model answered, each with production's logged answer beside its own."""
    stmt = (
        select(ShadowPredictionRow, PredictionRow)
        .join(PredictionRow, PredictionRow.id == ShadowPredictionRow.prediction_id)
        .where(ShadowPredictionRow.model_label == model_label)
        .order_by(ShadowPredictionRow.id.desc())
        .limit(limit)
    )
    return [
        ShadowPair(
            prediction_id=prediction.id,
            image_name=prediction.image_name,
            thumb_path=prediction.thumb_path,
            production=list(prediction.detections or []),
            shadow=list(shadow.detections or []),
            production_latency_ms=prediction.latency_ms,
            shadow_latency_ms=shadow.latency_ms,
            created_at=shadow.created_at,
        )
        for shadow, prediction in session.execute(stmt)
    ]
