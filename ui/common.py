"""Start-up and small widgets every page uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

import streamlit as st

from backend.core.errors import PlateOpsError

T = TypeVar("T")

ROLES = {
    "scientist": "Data scientist",
    "reviewer": "Drift reviewer",
    "user": "End user (detect only)",
}


@st.cache_resource(show_spinner=False)
def _bootstrap_once(home: str, db_url: str) -> dict[str, str]:
    """Create the workspace and migrate the store once per console process and store URL."""
    del home, db_url  # cache keys only
    from backend.console.bootstrap import start_console

    return start_console()


def bootstrap() -> dict[str, str]:
    """Make sure the workspace and store exist; first start on an empty workspace queues the demo dataset."""
    from backend.core.settings import get_settings

    settings = get_settings()
    return _bootstrap_once(str(settings.home.resolve()), settings.db_url)


ROLE_KEY = "plateops_role"  # plain state, not a widget key: Streamlit may drop widget state between pages


def current_role() -> str:
    """The visitor's role: their sidebar choice, else the `?role=` link, else data scientist."""
    if ROLE_KEY not in st.session_state:
        wanted = st.query_params.get("role", "scientist")
        st.session_state[ROLE_KEY] = wanted if wanted in ROLES else "scientist"
    return st.session_state[ROLE_KEY]


def _remember_role() -> None:
    st.session_state[ROLE_KEY] = st.session_state["role_picker"]


def role_selector() -> str:
    """Sidebar control to switch role; returns the role key."""
    role = current_role()
    options = list(ROLES)
    st.sidebar.selectbox(
        "I am a…",
        options=options,
        index=options.index(role),
        format_func=ROLES.get,
        key="role_picker",
        on_change=_remember_role,
        help="Shows the pages for your job. End users only see Detect.",
    )
    return current_role()


@contextmanager
def friendly_errors(action: str = "That") -> Iterator[None]:
    """Show a PlateOpsError as a plain message instead of a traceback."""
    try:
        yield
    except PlateOpsError as exc:
        st.error(f"{action} did not work: {exc}")


def call(fn: Callable[..., T], *args: object, action: str = "That", **kwargs: object) -> T | None:
    """Run a backend call; on a user-facing error show it and return None."""
    try:
        return fn(*args, **kwargs)
    except PlateOpsError as exc:
        st.error(f"{action} did not work: {exc}")
        return None


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """'3 min ago' style text for a naive-UTC timestamp."""
    if when is None:
        return "—"
    from backend.core.clock import utcnow

    seconds = max(0, int(((now or utcnow()) - when).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def duration(seconds: float | None) -> str:
    """Seconds as '1 h 02 min', '3 min 05 s' or '12 s'."""
    if seconds is None:
        return "—"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"
