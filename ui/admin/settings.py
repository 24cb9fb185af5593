"""The Admin page's Settings tab: every setting in force, read-only, and how to change one."""

from __future__ import annotations

import streamlit as st

from backend.auth.admin import EVERY_ADDRESS, console_settings
from backend.core.access import Actor
from ui.widgets.calls import call

HOW_TO_CHANGE = """PLATEOPS_UPLOAD_MAX_MB=50 PLATEOPS_IMPORT_ROOTS=/data/photos:/mnt/share ./plateops start
PLATEOPS_JOB_CONCURRENCY='{"train": 2}' ./plateops start   # settings with one value per job kind take JSON"""


def settings_ui(actor: Actor) -> None:
    """The Settings tab: the table, then how to change a setting."""
    # Streamlit listens on every address when no --server.address is given (./plateops start always gives one).
    address = str(st.get_option("server.address") or EVERY_ADDRESS)
    rows = call(console_settings, actor=actor, bind_address=address, action="Reading the settings")
    if rows is None:
        return
    st.dataframe(
        [
            {
                "group": r.group,
                "setting": r.name,
                "value": r.value,
                "environment variable": r.env_var or "—",
                "what it does": r.description,
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
    )
    st.subheader("Change a setting")
    st.markdown(
        "This page only shows the settings. Each one is read from its `PLATEOPS_*` environment variable when the "
        "console starts: set it in the shell, the service file or `docker run -e`, then restart the console "
        "(background jobs started after the restart use the new value too)."
    )
    st.code(HOW_TO_CHANGE, language="bash")
    st.caption(
        "Users and OIDC are not settings: they live in the secrets file (Users tab). The address the console "
        "listens on comes from --server.address; without a login only 127.0.0.1, unless --allow-open."
    )
