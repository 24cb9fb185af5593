"""Start-up, login and the visitor's role: the console shell every page runs inside.

With no login configured (`.streamlit/secrets.toml` holds no users and no `[auth]`), the console is open: it binds
to 127.0.0.1, every page says so, the visitor acts as a local admin, and a sidebar switch picks which pages show.
With users or OIDC configured, visitors log in and their role comes from the login; there is no switch.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
from pathlib import Path

import streamlit as st

from backend.auth.signin import SignInThrottledError, sign_in
from backend.auth.users import AuthConfig, load_auth_config, oidc_actor
from backend.core.access import LOCAL_ADMIN, Actor, Role
from backend.core.errors import PlateOpsError
from ui.widgets.text import plain

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


def _keep_role_in_address(role: str) -> None:
    """Keep `?role=` in the address bar, so a page address typed or shared from here opens in the same role."""
    if role == "scientist":
        if "role" in st.query_params:
            del st.query_params["role"]
    elif st.query_params.get("role") != role:
        st.query_params["role"] = role


def role_selector() -> str:
    """Sidebar control to switch role (none for end users: Detect is all they see); returns the role key."""
    role = current_role()
    _keep_role_in_address(role)
    if role == "user":
        return role
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


ACTOR_KEY = "plateops_actor"
PUBLIC = Actor(name="public", role=Role.VIEWER)  # a Detect-only visitor: may detect and send feedback
REMOTE_REFUSAL = (
    "No login is configured, so this console serves only visitors on its own machine. Ask its owner to add users "
    "to .streamlit/secrets.toml (see the README's security section)."
)
OPEN_NOTICE = (
    "Open console, local use only: no login is configured, so anyone who reaches this port acts as an admin. "
    "Add users to .streamlit/secrets.toml (see the README's security section)."
)


@st.cache_data(show_spinner=False)
def _auth_config(path: str, stamp: float) -> AuthConfig:
    """The login settings, read again when the secrets file changes."""
    del stamp  # cache key only
    return load_auth_config(Path(path))


def auth_config() -> AuthConfig:
    """The console's login settings (`.streamlit/secrets.toml`)."""
    from backend.core.settings import get_settings

    path = get_settings().secrets_file
    stamp = path.stat().st_mtime if path.is_file() else 0.0
    return _auth_config(str(path), stamp)


def person_name(actor: Actor) -> str:
    """Who a record (a changelog, a dismissal) names: the signed-in user, or on the open console the account that
    runs it (the open console's actor is a stand-in called "local")."""
    if actor != LOCAL_ADMIN:
        return actor.name
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the user database
        return actor.name


def current_actor() -> Actor:
    """The acting user every changing backend call is made for: the logged-in user, the open console's local admin,
    or the public Detect visitor.

    A page that runs before the shell decided who the visitor is (`streamlit run Home.py` serves `pages/` files on
    their own on a fresh server) goes through the same gate here: the sign-in screen when a login is configured,
    never a local admin by default.
    """
    actor = st.session_state.get(ACTOR_KEY)
    if isinstance(actor, Actor):
        return actor
    bootstrap()
    console_role()  # signs the visitor in (or stops at the sign-in screen) and stores the actor
    actor = st.session_state.get(ACTOR_KEY)
    if not isinstance(actor, Actor):  # only in bare script runs, where st.stop() returns
        raise AssertionError("the console's gate stored no acting user")
    return actor


def _from_this_machine() -> bool:
    """True when the visitor's connection comes from this machine: Streamlit gives the connection's peer address,
    none for loopback (nor in an AppTest run, which has no connection); an address it cannot read counts as away."""
    address = st.context.ip_address
    if not isinstance(address, str):
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _open_console_allowed() -> bool:
    """The open console (no login) serves only visitors on this machine, unless an open console is meant
    (`--allow-open` / `PLATEOPS_ALLOW_OPEN=1`), whichever way the app was started."""
    return _from_this_machine() or os.environ.get("PLATEOPS_ALLOW_OPEN", "") in {"1", "true", "yes"}


def _password_login(config: AuthConfig) -> Actor | None:
    """The sign-in form; the actor once the name and password are right."""
    with st.form("plateops-login"):
        st.subheader("Sign in to PlateOps")
        name = st.text_input("User name", max_chars=80)
        password = st.text_input("Password", type="password", max_chars=200)
        go = st.form_submit_button("Sign in", type="primary")
    if not go:
        return None
    address = st.context.ip_address
    try:
        actor = sign_in(config, name, password, address=address if isinstance(address, str) else None)
    except SignInThrottledError as exc:
        st.error(plain(exc))
        return None
    if actor is None:
        st.error("Wrong user name or password.")
    return actor


def _login(config: AuthConfig) -> Actor:
    """The logged-in user, or the login screen and a stop."""
    if config.oidc and st.user.is_logged_in:
        email = st.user.get("email")
        return oidc_actor(config, str(email) if email else None, str(st.user.get("name") or ""))
    actor = st.session_state.get(ACTOR_KEY)
    user = config.users.get(actor.name) if isinstance(actor, Actor) else None
    # a password user must still exist with the same role; a single-sign-on user is not in the users list
    if isinstance(actor, Actor) and (
        (user is not None and user.role == actor.role) or (config.oidc and actor.name not in config.users)
    ):
        return actor
    # Anyone else signs in again: the open console's "local" admin of a tab opened before users were added, a
    # user removed from secrets.toml since, or one whose role changed there.
    st.session_state.pop(ACTOR_KEY, None)
    st.title("PlateOps")
    if config.oidc:
        st.button("Sign in with your organisation's account", on_click=st.login, type="primary")
    if config.users:
        actor = _password_login(config)
        if actor is not None:
            st.session_state[ACTOR_KEY] = actor
            st.rerun()
    st.stop()
    # pylint: disable-next=unreachable  # st.stop() is typed NoReturn, yet it returns in bare script runs
    raise AssertionError("st.stop() returns only in bare script runs")


def _logout(config: AuthConfig) -> None:
    st.session_state.pop(ACTOR_KEY, None)
    st.session_state.pop(ROLE_KEY, None)
    if config.oidc and st.user.is_logged_in:
        st.logout()


def console_role() -> str:
    """Who the visitor is and which pages they see: the login's role when users are configured (a login screen
    first), else the open console's sidebar switch with its local-use notice. Returns the page-set key.

    The end-user link (`?role=user`) is the exception: it opens the public Detect page as the public user, with or
    without logins, and shows nothing about how the console is run (no sign-in, no notice, no switch).
    """
    if current_role() == "user":
        use_public_actor()
        _keep_role_in_address("user")
        return "user"
    try:
        config = auth_config()
    except PlateOpsError as exc:
        st.error(f"The login settings cannot be read: {plain(exc)}")
        st.stop()
    if not config.configured:
        if not _open_console_allowed():
            st.session_state.pop(ACTOR_KEY, None)
            st.error(REMOTE_REFUSAL)
            st.stop()
        st.session_state[ACTOR_KEY] = LOCAL_ADMIN
        st.sidebar.caption(f"🔓 {OPEN_NOTICE}")
        return role_selector()
    actor = _login(config)
    st.session_state[ACTOR_KEY] = actor
    st.session_state[ROLE_KEY] = "reviewer" if actor.role == Role.REVIEWER else "scientist"
    st.sidebar.caption(f"👤 Signed in as **{plain(actor.name)}** ({actor.role})")
    st.sidebar.button("Sign out", on_click=_logout, args=(config,), key="plateops-logout")
    return current_role()


def use_public_actor() -> None:
    """Make the visitor the public Detect user (the Detect-only app)."""
    st.session_state[ACTOR_KEY] = PUBLIC
    st.session_state[ROLE_KEY] = "user"
