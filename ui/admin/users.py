"""The Admin page's gate and its Users tab: who may sign in, with which role, and how to add someone."""

from __future__ import annotations

import streamlit as st

from backend.auth.admin import UserDirectory, configured_users
from backend.core.access import AccessDeniedError, Actor, Role
from backend.core.errors import PlateOpsError
from ui.widgets.text import plain, plural

ADMINS_ONLY = "This page is for admins only."
ROLE_TEXT = {
    Role.ADMIN: "everything, and this page",
    Role.SCIENTIST: "data, training, promotion",
    Role.REVIEWER: "monitoring, the review queue, label edits",
    Role.VIEWER: "look only",
}
HASH_COMMAND = "python -m jobs.hash_password --user ana --role scientist"
USER_SNIPPET = """[plateops.users.ana]
role = "scientist"                    # admin | scientist | reviewer | viewer
password_hash = "$argon2id$v=19$..."  # the line jobs.hash_password printed"""
OIDC_SNIPPET = """[auth]                                # Streamlit's st.login settings
redirect_uri = "https://plateops.example.org/oauth2callback"
cookie_secret = "a long random string"
client_id = "..."
client_secret = "..."
server_metadata_url = "https://accounts.example.org/.well-known/openid-configuration"

[plateops.oidc_roles]                 # e-mail -> role; anyone else who signs in is a viewer
"ana@example.org" = "admin\""""


def admin_gate(actor: Actor) -> UserDirectory | None:
    """The configured users when `actor` is an admin; else the backend's refusal as a plain note, and None."""
    try:
        return configured_users(actor=actor)
    except AccessDeniedError as exc:  # the page's normal answer to a non-admin, not a failure
        st.info(f"{ADMINS_ONLY} {exc}")
    except PlateOpsError as exc:
        st.error(f"Reading the users did not work: {exc}")
    return None


def users_ui(directory: UserDirectory) -> None:
    """The Users tab: the table of users and how to add one."""
    where = f"`{plain(directory.secrets_file)}`"
    if directory.open_console:
        st.warning(
            f"No login is configured ({where} holds no users and no `[auth]` section): the console is open, listens "
            "on 127.0.0.1 only, and its visitor acts as an admin. Add a user below to require a login."
        )
    else:
        st.caption(
            f"{plural(len(directory.users), 'user')} in {where}"
            + (" · OIDC sign-in is on: anyone else who signs in that way is a viewer." if directory.oidc else ".")
        )
    if directory.users:
        st.dataframe(
            [{"user": u.name, "role": str(u.role), "signs in with": str(u.login)} for u in directory.users],
            hide_index=True,
            width="stretch",
        )
    st.markdown("**Roles:** " + " · ".join(f"{role}: {text}" for role, text in ROLE_TEXT.items()))
    st.subheader("Add a user")
    st.markdown(
        f"Users live in {where}, never in the database; the page only reads it. Make a password user's entry "
        "(the command asks for the password and prints an argon2id hash, never the password):"
    )
    st.code(HASH_COMMAND, language="bash")
    st.markdown(f"and paste the lines it prints into {where}:")
    st.code(USER_SNIPPET, language="toml")
    st.markdown("Or let people sign in with your organisation's accounts (OIDC, through Streamlit's `st.login`):")
    st.code(OIDC_SNIPPET, language="toml")
    st.caption(
        "The console reads the file again when it changes. To change a role or remove someone, edit or delete "
        "their entry; a user who is signed in keeps their role until they sign out. Removing every user makes the "
        "console open: restart it (./plateops start) so it listens on 127.0.0.1 again."
    )
