"""Admin: the console's users, the audit trail and the settings in force. Admins only; it changes nothing."""

from __future__ import annotations

import streamlit as st

from ui.admin.audit import audit_ui
from ui.admin.settings import settings_ui
from ui.admin.users import admin_gate, users_ui
from ui.widgets.shell import current_actor

actor = current_actor()  # first: the sign-in screen and a stop for anyone not signed in

st.title("Admin")
directory = admin_gate(actor)  # the backend refuses anyone but an admin; the page then says so plainly
if directory is not None:
    st.caption("Who may sign in, what everyone did or was refused, and the settings in force. This page only reads.")
    users_tab, audit_tab, settings_tab = st.tabs(["👥 Users", "📜 Audit trail", "⚙️ Settings"])
    with users_tab:
        users_ui(directory)
    with audit_tab:
        audit_ui(actor)
    with settings_tab:
        settings_ui(actor)
