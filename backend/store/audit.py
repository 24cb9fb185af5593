"""The audit trail: who did, or was refused, what. `authorize` is the one gate every changing function passes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.access import AccessDeniedError, Actor, Permission, require
from backend.core.errors import cap_message
from backend.store.engine import session_scope
from backend.store.records import AuditEvent, from_row
from backend.store.rows import AuditRow


def record_event(*, session: Session, actor: Actor, action: Permission, target: str, allowed: bool) -> AuditEvent:
    """Add one audit row and return it."""
    row = AuditRow(
        actor=cap_message(actor.name, 120),
        role=str(actor.role),
        action=str(action),
        target=cap_message(target),
        allowed=allowed,
    )
    session.add(row)
    session.flush()
    return from_row(AuditEvent, row)


SIGN_IN_ACTION = "sign_in"  # the audit action of a password sign-in (not a Permission: every visitor may try)


def record_sign_in(*, session: Session, name: str, role: str, address: str, allowed: bool) -> AuditEvent:
    """Add the audit row of one checked password sign-in: the name tried, its role if it is a user, from where."""
    row = AuditRow(
        actor=cap_message(name, 120),
        role=role[:20],
        action=SIGN_IN_ACTION,
        target=cap_message(f"from {address}"),
        allowed=allowed,
    )
    session.add(row)
    session.flush()
    return from_row(AuditEvent, row)


def list_events(
    *, session: Session, limit: int = 200, actor: str | None = None, refused_only: bool = False
) -> list[AuditEvent]:
    """The newest audit rows first, optionally only one user's, optionally only refusals."""
    query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
    if actor is not None:
        query = query.where(AuditRow.actor == actor)
    if refused_only:
        query = query.where(AuditRow.allowed.is_(False))
    return [from_row(AuditEvent, row) for row in session.scalars(query)]


def _require_or_record_refusal(actor: Actor, permission: Permission, target: object) -> None:
    """`require`, with a refusal recorded in the audit trail before it is raised."""
    try:
        require(actor, permission)
    except AccessDeniedError:
        if isinstance(actor, Actor):
            with session_scope() as session:
                record_event(session=session, actor=actor, action=permission, target=str(target), allowed=False)
        raise


def authorize(actor: Actor, permission: Permission, target: object = "") -> None:
    """Check that `actor` may do `permission`, and record the attempt (allowed or refused) in the audit trail.

    Args:
        actor: The acting user.
        permission: The action asked for.
        target: What the action is about (a dataset, run, job), as the audit trail shows it.

    Raises:
        AccessDeniedError: The role does not allow the action (the refusal is recorded first).
    """
    _require_or_record_refusal(actor, permission, target)
    with session_scope() as session:
        record_event(session=session, actor=actor, action=permission, target=str(target), allowed=True)


def authorize_read(actor: Actor, permission: Permission, target: object = "") -> None:
    """Check that `actor` may read what `permission` guards; record only a refusal in the audit trail.

    A read changes nothing, so an allowed one leaves no row (every admin page view would flood the trail); a refused
    one is a probe worth seeing, as a refused write is.

    Raises:
        AccessDeniedError: The role does not allow the read (the refusal is recorded first).
    """
    _require_or_record_refusal(actor, permission, target)
