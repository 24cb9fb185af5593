"""Console users from `.streamlit/secrets.toml`: password hashes (argon2id), OIDC (`st.login`) settings, roles.

The file, as Streamlit reads it too::

    [plateops.users.ana]                  # a user who logs in with a password
    role = "scientist"                    # admin | scientist | reviewer | viewer
    password_hash = "$argon2id$v=19$..."  # python -m jobs.hash_password

    [auth]                                # OIDC through st.login (Streamlit's own settings)
    redirect_uri = "https://plateops.example.org/oauth2callback"
    cookie_secret = "..."
    client_id = "..."
    client_secret = "..."
    server_metadata_url = "https://accounts.example.org/.well-known/openid-configuration"

    [plateops.oidc_roles]                 # e-mail -> role for OIDC users; anyone else is a viewer
    "ana@example.org" = "admin"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from backend.core.access import Actor, Role
from backend.core.errors import BadInputError, cap_message

OIDC_KEYS = ("redirect_uri", "cookie_secret")  # st.login needs these beside a provider's client settings
_HASHER = PasswordHasher()
_NAME_LIMIT = 80


@dataclass(frozen=True)
class User:
    """A user who logs in with a password."""

    name: str
    role: Role
    password_hash: str


@dataclass(frozen=True)
class AuthConfig:
    """The console's login settings.

    Attributes:
        users: Password users by name.
        oidc: True when an `[auth]` section configures `st.login`.
        oidc_roles: Role of each OIDC user by e-mail (lower case); anyone else is a viewer.
    """

    users: dict[str, User] = field(default_factory=dict)
    oidc: bool = False
    oidc_roles: dict[str, Role] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        """True when visitors must log in (users or OIDC are set up)."""
        return bool(self.users) or self.oidc


def _role(value: object, where: str) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        roles = ", ".join(Role)
        raise BadInputError(cap_message(f"{where}: role {value!r} is not one of {roles}.")) from None


def parse_auth_config(data: dict[str, Any]) -> AuthConfig:
    """Read login settings from a parsed secrets file (see the module docstring for the layout).

    Raises:
        BadInputError: A user without a role or hash, or an unknown role.
    """
    section = data.get("plateops", {})
    if not isinstance(section, dict):
        raise BadInputError("secrets.toml: [plateops] must be a table.")
    users: dict[str, User] = {}
    raw_users = section.get("users", {})
    if not isinstance(raw_users, dict):
        raise BadInputError("secrets.toml: [plateops.users] must hold one table per user.")
    for name, entry in raw_users.items():
        where = f"secrets.toml user {cap_message(name, _NAME_LIMIT)!r}"
        if not isinstance(entry, dict) or not isinstance(entry.get("password_hash"), str):
            raise BadInputError(f"{where} needs a password_hash (make one with python -m jobs.hash_password).")
        if not str(entry["password_hash"]).startswith("$argon2"):
            raise BadInputError(f"{where}: password_hash is not an argon2 hash (python -m jobs.hash_password).")
        users[str(name)] = User(str(name), _role(entry.get("role", ""), where), str(entry["password_hash"]))
    auth = data.get("auth")
    oidc = isinstance(auth, dict) and all(key in auth for key in OIDC_KEYS)
    raw_roles = section.get("oidc_roles", {})
    if not isinstance(raw_roles, dict):
        raise BadInputError("secrets.toml: [plateops.oidc_roles] must map e-mail addresses to roles.")
    oidc_roles = {str(k).lower(): _role(v, f"secrets.toml OIDC user {str(k)[:80]!r}") for k, v in raw_roles.items()}
    return AuthConfig(users=users, oidc=oidc, oidc_roles=oidc_roles)


def load_auth_config(path: Path | None = None) -> AuthConfig:
    """The login settings in `path` (default the `secrets_file` setting, `.streamlit/secrets.toml`); none configured
    when the file is absent.

    Raises:
        BadInputError: The file is not valid TOML or holds a bad user entry.
    """
    if path is None:
        from backend.core.settings import get_settings

        path = get_settings().secrets_file
    if not path.is_file():
        return AuthConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(cap_message(f"{path} is not valid TOML: {exc}")) from None
    return parse_auth_config(data)


def hash_password(password: str) -> str:
    """An argon2id hash of `password` for the secrets file.

    Raises:
        BadInputError: The password is shorter than 8 characters.
    """
    if len(password) < 8:
        raise BadInputError("Use a password of at least 8 characters.")
    return _HASHER.hash(password)


@cache
def _dummy_hash() -> str:
    """A hash to check an unknown name against, so it costs as much time as a wrong password."""
    return _HASHER.hash("not-a-user-password")


def verify_login(config: AuthConfig, name: str, password: str) -> Actor | None:
    """The actor for a correct name and password, else None (the same for an unknown name and a wrong password)."""
    user = config.users.get(name)
    try:
        _HASHER.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    return Actor(name=user.name, role=user.role) if user else None


def oidc_actor(config: AuthConfig, email: str | None, name: str | None = None) -> Actor:
    """The actor for a user logged in through OIDC: their mapped role, else viewer."""
    key = (email or "").strip().lower()
    role = config.oidc_roles.get(key, Role.VIEWER)
    return Actor(name=cap_message(email or name or "oidc user", 120), role=role)
