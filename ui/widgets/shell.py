"""Start-up and the visitor's role: the console shell every page runs inside."""

from __future__ import annotations

import streamlit as st

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
