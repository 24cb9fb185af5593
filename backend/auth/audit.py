"""The audit trail as the console shows it: who did, or was refused, what. Only admins may read it."""

from __future__ import annotations

from backend.core.access import Actor, Permission
from backend.core.errors import BadInputError
from backend.store import audit as audit_store
from backend.store.audit import authorize_read
from backend.store.engine import session_scope
from backend.store.records import AuditEvent

MAX_ROWS = 5000  # one page of the trail; older rows stay in the store


def recent_actions(
    *, actor: Actor, user: str | None = None, refused_only: bool = False, limit: int = 200
) -> list[AuditEvent]:
    """The newest audit rows first.

    Reading is checked with `store.audit.authorize_read`, not `authorize`: a page that shows the trail on every
    rerun must not add a row to it each time; only a refused read is recorded.

    Args:
        actor: The acting user; must be an admin.
        user: Only this user's rows (their login name as the trail shows it).
        refused_only: Only the actions that were refused.
        limit: Most rows returned (1 to `MAX_ROWS`).

    Returns:
        The matching audit events, newest first.

    Raises:
        AccessDeniedError: The actor is not an admin.
        BadInputError: `limit` is below 1 or above `MAX_ROWS`.
    """
    authorize_read(actor, Permission.MANAGE_USERS, "read the audit trail")
    if not 1 <= limit <= MAX_ROWS:
        raise BadInputError(f"Show between 1 and {MAX_ROWS} audit rows.")
    with session_scope() as session:
        return audit_store.list_events(session=session, limit=limit, actor=user, refused_only=refused_only)
