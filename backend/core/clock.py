"""The store's one time convention: naive UTC (SQLite keeps no time zone)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Naive UTC now."""
    return datetime.now(UTC).replace(tzinfo=None)
