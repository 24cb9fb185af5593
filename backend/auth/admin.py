"""What the Admin page reads: the configured users (never their hashes) and a read-only summary of the settings.

Both are admin-only and checked with `store.audit.authorize_read`, not `authorize`: a page reads them on every rerun
and reading changes nothing, so an allowed read writes no audit row; a refused one does (a probe worth seeing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr

from backend.auth.users import load_auth_config
from backend.core.access import Actor, Permission, Role
from backend.core.errors import BadInputError, cap_message
from backend.core.settings import Settings, get_settings
from backend.store.audit import authorize_read

# The addresses only this machine reaches (the same set ui.launch serves an open console on).
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 - shown, never bound: what "no --server.address" means to Streamlit
ENV_PREFIX = "PLATEOPS_"


class LoginKind(StrEnum):
    """How a configured user signs in."""

    PASSWORD = "password"  # noqa: S105 - a login kind: [plateops.users.NAME] with an argon2 hash
    OIDC = "OIDC"  # an e-mail in [plateops.oidc_roles], signing in through st.login


@dataclass(frozen=True)
class ConfiguredUser:
    """One user of the secrets file, as an admin may see it (no password hash).

    Attributes:
        name: Login name, or e-mail address for an OIDC user.
        role: What the user may do.
        login: How the user signs in.
    """

    name: str
    role: Role
    login: LoginKind


@dataclass(frozen=True)
class UserDirectory:
    """The console's logins.

    Attributes:
        users: Password users by name, then OIDC users by e-mail.
        oidc: True when an `[auth]` section turns on `st.login` (anyone else who signs in that way is a viewer).
        secrets_file: The file they come from.
    """

    users: tuple[ConfiguredUser, ...]
    oidc: bool
    secrets_file: Path

    @property
    def open_console(self) -> bool:
        """True when no login is configured: the console is open and its visitor acts as an admin."""
        return not self.oidc and not any(u.login == LoginKind.PASSWORD for u in self.users)


@dataclass(frozen=True)
class SettingView:
    """One setting as the Admin page shows it.

    Attributes:
        group: The kind of setting ("Access", "Workspace", "Uploads and imports", "Jobs and watchdog", ...).
        name: The setting's name.
        value: Its value in force, as text (passwords in URLs hidden).
        env_var: The `PLATEOPS_*` variable that sets it; empty for a state worked out from other settings.
        description: What it does.
    """

    group: str
    name: str
    value: str
    env_var: str
    description: str


def configured_users(*, actor: Actor) -> UserDirectory:
    """The users of the secrets file with their roles and login kind, never their password hashes.

    Args:
        actor: The acting user; must be an admin.

    Raises:
        AccessDeniedError: The actor is not an admin.
        BadInputError: The secrets file is not valid TOML or holds a bad user entry.
    """
    authorize_read(actor, Permission.MANAGE_USERS, "read the configured users")
    path = get_settings().secrets_file
    config = load_auth_config(path)
    users = [
        ConfiguredUser(u.name, u.role, LoginKind.PASSWORD) for u in sorted(config.users.values(), key=lambda u: u.name)
    ]
    users += [ConfiguredUser(email, role, LoginKind.OIDC) for email, role in sorted(config.oidc_roles.items())]
    return UserDirectory(users=tuple(users), oidc=config.oidc, secrets_file=path.expanduser().resolve())


_GROUPS: dict[str, tuple[str, ...]] = {
    "Access": ("secrets_file",),
    "Workspace": ("home", "database_url", "params_file", "dvc_remote", "store_prediction_images"),
    "Uploads and imports": (
        "upload_max_mb",
        "max_image_pixels",
        "archive_max_bytes",
        "archive_max_members",
        "import_roots",
        "demo_images",
        "auto_demo",
    ),
    "Jobs and watchdog": (
        "job_concurrency",
        "default_job_concurrency",
        "job_stall_timeout_s",
        "default_job_stall_timeout_s",
        "heartbeat_interval_s",
        "heartbeat_timeout_s",
        "store_busy_timeout_s",
        "python_executable",
    ),
    "Training": ("executor", "clearml_mode", "clearml_project", "clearml_queue"),
}
_GROUP_OF = {name: group for group, names in _GROUPS.items() for name in names}
_ORDER = {name: i for i, name in enumerate(_GROUP_OF)}
_SECRET_WORDS = ("password", "token", "secret", "credential", "api_key")
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*):[^/\s]*@")  # greedy: a stray "@" in the password is hidden too


def hide_url_password(url: str) -> str:
    """`url` with the password of its `user:password@` part replaced by `***`."""
    return _URL_PASSWORD.sub(r"\1:***@", url)


def _text(value: object) -> str:
    """A setting's value as plain text."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Path):
        return str(value.expanduser().resolve())
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in sorted(value.items())) or "none"
    return str(value)


def _value(settings: Settings, name: str) -> str:
    """The value in force of field `name`, with anything secret hidden and sizes in units."""
    value = getattr(settings, name)
    if name == "database_url":
        return hide_url_password(settings.db_url) + ("" if value else " (default: SQLite in the workspace)")
    if name == "dvc_remote":
        return hide_url_password(value) if value else "not set (a folder in the workspace)"
    if name == "import_roots":
        return ", ".join(str(p) for p in settings.import_root_paths)
    if name == "upload_max_mb":
        return f"{value} MB"
    if name == "archive_max_bytes":
        return f"{value / 1024**3:.1f} GiB"
    if isinstance(value, SecretStr) or (
        isinstance(value, str) and any(word in name for word in _SECRET_WORDS) and value
    ):
        return "(hidden)"
    return cap_message(_text(value))


def _access_rows(settings: Settings, bind_address: str | None) -> list[SettingView]:
    """The login and exposure state, worked out from the secrets file and the address the console listens on."""
    try:
        config = load_auth_config(settings.secrets_file)
        configured = config.configured
        login = (
            f"required: {len(config.users)} password user(s), OIDC {'on' if config.oidc else 'off'}"
            if configured
            else "none: an open console, whose visitor acts as an admin"
        )
    except BadInputError as exc:
        configured, login = True, f"the secrets file cannot be read: {exc}"
    if bind_address is None:
        address, exposure = "not known here", "not known here"
    else:
        address = bind_address or EVERY_ADDRESS
        if configured:
            exposure = "no: visitors sign in"
        elif address in LOOPBACK:
            exposure = "no: local use only (this machine)"
        else:
            exposure = f"yes: anyone who reaches {address} acts as an admin (started with --allow-open)"
    return [
        SettingView("Access", "login", login, "", "Users and OIDC come from the secrets file."),
        SettingView("Access", "listening on", address, "", "Set with --server.address when the console starts."),
        SettingView(
            "Access",
            "open on the network",
            exposure,
            "",
            "Without a login the console listens on 127.0.0.1 unless --allow-open (PLATEOPS_ALLOW_OPEN=1).",
        ),
    ]


def console_settings(*, actor: Actor, bind_address: str | None = None) -> list[SettingView]:
    """Every setting in force, read-only, grouped, with the `PLATEOPS_*` variable that changes it (no secrets).

    Args:
        actor: The acting user; must be an admin.
        bind_address: The address the console listens on, as the caller knows it ("" or "0.0.0.0": every address);
            None when not known.

    Returns:
        The login and exposure state first, then each setting of `backend.core.settings.Settings`.

    Raises:
        AccessDeniedError: The actor is not an admin.
    """
    authorize_read(actor, Permission.MANAGE_USERS, "read the console settings")
    settings = get_settings()
    fields = sorted(Settings.model_fields.items(), key=lambda item: _ORDER.get(item[0], len(_ORDER)))
    rows = _access_rows(settings, bind_address)
    for name, info in fields:
        rows.append(
            SettingView(
                group=_GROUP_OF.get(name, "Other"),
                name=name,
                value=_value(settings, name),
                env_var=ENV_PREFIX + name.upper(),
                description=info.description or "",
            )
        )
    return rows
