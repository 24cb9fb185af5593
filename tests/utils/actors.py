"""Acting users for tests: every changing backend function takes `actor` (see backend.core.access)."""

from __future__ import annotations

from backend.core.access import Actor, Role

ADMIN = Actor(name="tester", role=Role.ADMIN)


def actor_named(name: str, role: Role = Role.ADMIN) -> Actor:
    """An actor with the given name (the audit trails show it)."""
    return Actor(name=name, role=role)
