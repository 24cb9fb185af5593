"""Who may do what: roles, permissions, the acting user, and the one check every changing function makes.

The types live in `core` so every domain package can check access where the change happens (the domain packages
sit below `auth`, which loads users and logins). A function that changes something takes `actor` as a keyword and
calls `backend.store.audit.authorize(actor, Permission.X, ...)`, which checks here and writes the audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from backend.core.enums import FailureCode
from backend.core.errors import PlateOpsError, cap_message


class Role(StrEnum):
    """What a console user is for."""

    ADMIN = "admin"  # users and settings, and everything a scientist may do
    SCIENTIST = "scientist"  # data, training, promotion
    REVIEWER = "reviewer"  # monitoring and the review queue
    VIEWER = "viewer"  # look only


class Permission(StrEnum):
    """Actions that change something; each changing backend function checks one."""

    IMPORT_DATA = "import_data"
    EXPORT_DATA = "export_data"
    VALIDATE_DATA = "validate_data"
    EDIT_LABELS = "edit_labels"
    TRAIN = "train"
    PROMOTE = "promote"
    CHOOSE_EVAL_SET = "choose_eval_set"  # choose the promotion gate's evaluation set, or adopt a newer version of it
    EXPORT_MODEL = "export_model"
    MONITOR = "monitor"
    REVIEW = "review"
    CANCEL_JOB = "cancel_job"
    DETECT = "detect"  # public: end users on the Detect page
    FEEDBACK = "feedback"  # public: end users on the Detect page
    MANAGE_USERS = "manage_users"


_PUBLIC = frozenset({Permission.DETECT, Permission.FEEDBACK})
_SCIENTIST = _PUBLIC | {
    Permission.IMPORT_DATA,
    Permission.EXPORT_DATA,
    Permission.VALIDATE_DATA,
    Permission.EDIT_LABELS,
    Permission.TRAIN,
    Permission.PROMOTE,
    Permission.CHOOSE_EVAL_SET,
    Permission.EXPORT_MODEL,
    Permission.MONITOR,
    Permission.REVIEW,
    Permission.CANCEL_JOB,
}
_REVIEWER = _PUBLIC | {Permission.MONITOR, Permission.REVIEW, Permission.EDIT_LABELS, Permission.VALIDATE_DATA}

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.SCIENTIST: frozenset(_SCIENTIST),
    Role.REVIEWER: frozenset(_REVIEWER),
    Role.VIEWER: _PUBLIC,
}


@dataclass(frozen=True)
class Actor:
    """The user on whose behalf a function acts.

    Attributes:
        name: Login name (or e-mail) as the audit trail shows it.
        role: What the user may do.
    """

    name: str
    role: Role

    def may(self, permission: Permission) -> bool:
        """True when this actor's role grants `permission`."""
        return permission in PERMISSIONS[self.role]


# The open console's visitor (no login configured: local use only), and the shell user behind a `jobs.*` command
# (who already has every right the files give them). Both act as admins.
LOCAL_ADMIN = Actor(name="local", role=Role.ADMIN)
SHELL_ADMIN = Actor(name="shell", role=Role.ADMIN)
# Work a job started on its own (an automatic drift report, a retrain after validation): the job was authorised
# when it was queued.
SYSTEM = Actor(name="system", role=Role.ADMIN)


class AccessDeniedError(PlateOpsError):
    """The acting user's role does not allow the action."""

    code: ClassVar[FailureCode] = FailureCode.FORBIDDEN


def require(actor: Actor, permission: Permission) -> None:
    """Raise `AccessDeniedError` unless `actor` may do `permission`.

    Args:
        actor: The acting user.
        permission: The action asked for.

    Raises:
        AccessDeniedError: The role does not grant the permission.
    """
    if not isinstance(actor, Actor):
        raise AccessDeniedError("No acting user was given, so nothing was changed.")
    if not actor.may(permission):
        raise AccessDeniedError(
            cap_message(f"A {actor.role} may not {permission.replace('_', ' ')}; ask an admin for a role that may.")
        )
