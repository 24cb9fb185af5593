"""The audit trail as the console shows it: who did, or was refused, what."""

from __future__ import annotations

from backend.store import audit as audit_store
from backend.store.engine import session_scope
from backend.store.records import AuditEvent


def recent_actions(*, limit: int = 200, actor: str | None = None) -> list[AuditEvent]:
    """The newest audit rows first (optionally one user's)."""
    with session_scope() as session:
        return audit_store.list_events(session=session, limit=limit, actor=actor)
