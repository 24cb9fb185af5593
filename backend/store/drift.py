"""Repository: drift reports, and the reads of the prediction log that monitoring needs.

Functions take a keyword-only `session` and return frozen records.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.store.records import (
    DriftReport,
    Prediction,
    from_row,
)
from backend.store.rows import (
    DriftReportRow,
    PredictionRow,
)


def add_drift_report(*, session: Session, **fields: Any) -> DriftReport:
    """Store a drift report summary (the HTML and snapshot live in the workspace)."""
    row = DriftReportRow(**fields)
    session.add(row)
    session.flush()
    return from_row(DriftReport, row)


def latest_drift_report(*, session: Session) -> DriftReport | None:
    """The newest drift report, if any."""
    row = session.scalar(select(DriftReportRow).order_by(DriftReportRow.id.desc()))
    return from_row(DriftReport, row) if row else None


def list_drift_reports(*, session: Session, limit: int = 50) -> list[DriftReport]:
    """Drift reports, newest first."""
    rows = session.scalars(select(DriftReportRow).order_by(DriftReportRow.id.desc()).limit(limit))
    return [from_row(DriftReport, r) for r in rows]


def last_covered_prediction_id(*, session: Session) -> int:
    """The newest prediction id any stored report covered (0 when none did)."""
    return int(session.scalar(select(func.max(DriftReportRow.last_prediction_id))) or 0)


def count_predictions_after(*, session: Session, prediction_id: int) -> int:
    """How many predictions were logged after `prediction_id`."""
    stmt = select(func.count()).select_from(PredictionRow).where(PredictionRow.id > prediction_id)
    return int(session.scalar(stmt) or 0)


def latest_predictions(
    *,
    session: Session,
    limit: int,
    model_label: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Prediction]:
    """The newest `limit` predictions (optionally of one model label, within [since, until)), oldest first."""
    stmt = select(PredictionRow).order_by(PredictionRow.id.desc()).limit(limit)
    if model_label is not None:
        stmt = stmt.where(PredictionRow.model_label == model_label)
    if since is not None:
        stmt = stmt.where(PredictionRow.created_at >= since)
    if until is not None:
        stmt = stmt.where(PredictionRow.created_at < until)
    return [from_row(Prediction, r) for r in reversed(list(session.scalars(stmt)))]


def predictions_by_ids(*, session: Session, prediction_ids: Sequence[int]) -> list[Prediction]:
    """The predictions with these ids, in id order (missing ids are left out)."""
    if not prediction_ids:
        return []
    stmt = select(PredictionRow).where(PredictionRow.id.in_(list(prediction_ids))).order_by(PredictionRow.id)
    return [from_row(Prediction, r) for r in session.scalars(stmt)]


def prediction_class_log(*, session: Session, limit: int = 20_000) -> list[tuple[Any, list[Any]]]:
    """(created_at, detections) of the newest `limit` predictions, oldest first (class share over time)."""
    stmt = select(PredictionRow.created_at, PredictionRow.detections).order_by(PredictionRow.id.desc()).limit(limit)
    return [(created, detections or []) for created, detections in reversed(list(session.execute(stmt)))]
