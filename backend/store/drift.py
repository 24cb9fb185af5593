"""Repository: Drift reports. Functions take a keyword-only `session` and return frozen records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.store.records import (
    DriftReport,
    from_row,
)
from backend.store.rows import (
    DriftReportRow,
)


def add_drift_report(*, session: Session, **fields: Any) -> DriftReport:
    """Store a drift report summary (the HTML lives in the workspace)."""
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
