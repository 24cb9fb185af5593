"""The Admin page's Audit trail tab: who did, or was refused, what, newest first."""

from __future__ import annotations

import streamlit as st

from backend.auth.audit import MAX_ROWS, recent_actions
from backend.core.access import Actor
from backend.store.records import AuditEvent
from ui.widgets.calls import call

EVERYONE = "Everyone"


def audit_rows(events: list[AuditEvent]) -> list[dict[str, str]]:
    """The table's rows: plain text, times in UTC."""
    return [
        {
            "when (UTC)": e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "who": e.actor,
            "role": e.role,
            "action": e.action.replace("_", " "),
            "target": e.target,
            "allowed": "yes" if e.allowed else "no (refused)",
        }
        for e in events
    ]


def audit_ui(actor: Actor) -> None:
    """The Audit trail tab: filters by user and refusals, then the table."""
    st.caption(
        "Every call that changes something (or tries to) leaves a row: allowed or refused, by whom, on what. "
        "Reading this page leaves none."
    )
    recent = call(recent_actions, actor=actor, limit=MAX_ROWS, action="Reading the audit trail")
    if recent is None:
        return
    names = sorted({e.actor for e in recent})
    left, middle, right = st.columns([2, 1, 1])
    who = left.selectbox("User", [EVERYONE, *names], key="admin-audit-user")
    refused_only = middle.toggle("Refused only", key="admin-audit-refused")
    limit = int(right.number_input("Rows", 10, MAX_ROWS, 200, step=50, key="admin-audit-limit"))
    events = call(
        recent_actions,
        actor=actor,
        user=None if who == EVERYONE else who,
        refused_only=refused_only,
        limit=limit,
        action="Reading the audit trail",
    )
    if events is None:
        return
    if not events:
        st.info("No matching actions yet." if recent else "No actions yet: the trail fills as people use the console.")
        return
    st.dataframe(audit_rows(events), hide_index=True, width="stretch")
