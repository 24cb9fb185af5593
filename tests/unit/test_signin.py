"""Password guessing, as an attacker tries it: many wrong passwords in a row for one user from one address, many
user names from one address, one user from many addresses. Each is slowed by a growing wait that refuses a try
before any password work, even a right password; every checked try is on the audit trail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.auth import signin
from backend.auth.audit import recent_actions
from backend.auth.signin import FIRST_WAIT_S, FREE_TRIES, MAX_WAIT_S, SignInGuard, SignInThrottledError, sign_in
from backend.auth.users import AuthConfig, User, hash_password
from backend.core.access import SHELL_ADMIN, Actor, Role
from backend.core.settings import Settings, init_workspace
from backend.store.engine import init_db

ATTACKER = "203.0.113.9"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def config() -> AuthConfig:
    return AuthConfig(users={"ana": User("ana", Role.ADMIN, hash_password("correct horse"))})


@pytest.fixture
def checks(workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A fresh store, and the names whose password was really checked (argon2 work), in order."""
    init_workspace()
    init_db()
    seen: list[str] = []
    real = signin.verify_login

    def counting(config: AuthConfig, name: str, password: str) -> Actor | None:
        seen.append(name)
        return real(config, name, password)

    monkeypatch.setattr(signin, "verify_login", counting)
    yield seen


def _try(config: AuthConfig, guard: SignInGuard, name: str, password: str, address: str | None) -> str:
    try:
        return "in" if sign_in(config, name, password, address=address, guard=guard) else "wrong"
    except SignInThrottledError as exc:
        assert "Try again in" in str(exc)
        return "wait"


def test_forty_wrong_passwords_in_a_row_are_slowed_and_audited(config: AuthConfig, checks: list[str]) -> None:
    clock = Clock()
    guard = SignInGuard(clock=clock)
    results = [_try(config, guard, "ana", f"guess {i}", ATTACKER) for i in range(40)]
    assert results == ["wrong"] * FREE_TRIES + ["wait"] * (40 - FREE_TRIES)
    assert len(checks) == FREE_TRIES, "a waiting try costs no password work"
    assert _try(config, guard, "ana", "correct horse", ATTACKER) == "wait", "not even the right password gets in"

    trail = recent_actions(actor=SHELL_ADMIN, user="ana")
    assert [(e.action, e.role, e.target, e.allowed) for e in trail] == [
        ("sign_in", "admin", f"from {ATTACKER}", False)
    ] * FREE_TRIES

    clock.now += FIRST_WAIT_S  # the wait is over: one more try, whose failure doubles the next wait
    assert _try(config, guard, "ana", "guess 41", ATTACKER) == "wrong"
    clock.now += FIRST_WAIT_S
    assert _try(config, guard, "ana", "guess 42", ATTACKER) == "wait"
    clock.now += FIRST_WAIT_S
    assert _try(config, guard, "ana", "correct horse", ATTACKER) == "in"
    assert recent_actions(actor=SHELL_ADMIN, user="ana")[0].allowed
    assert _try(config, guard, "ana", "guess 43", ATTACKER) == "wrong", "a right password clears the count"


def test_spraying_user_names_from_one_address_is_slowed(config: AuthConfig, checks: list[str]) -> None:
    guard = SignInGuard(clock=Clock())
    results = [_try(config, guard, f"user{i}", "password1", ATTACKER) for i in range(12)]
    assert results == ["wrong"] * FREE_TRIES + ["wait"] * (12 - FREE_TRIES)
    assert _try(config, guard, "ana", "guess", ATTACKER) == "wait"
    assert _try(config, guard, "ana", "correct horse", None) == "in", "the real user elsewhere still signs in"
    trail = recent_actions(actor=SHELL_ADMIN, user="user0")
    assert [(e.role, e.allowed) for e in trail] == [("", False)], "an unknown name is recorded, with no role"


def test_one_user_from_many_addresses_is_slowed(config: AuthConfig, checks: list[str]) -> None:
    guard = SignInGuard(clock=Clock())
    results = [_try(config, guard, "ana", "guess", f"198.51.100.{i}") for i in range(12)]
    assert results == ["wrong"] * FREE_TRIES + ["wait"] * (12 - FREE_TRIES)
    assert _try(config, guard, " ANA ", "guess", "198.51.100.99") == "wait", "the name is counted as typed loosely"
    assert len(checks) == FREE_TRIES


def test_the_wait_doubles_up_to_its_cap() -> None:
    clock = Clock()
    guard = SignInGuard(clock=clock)
    keys = ("user:ana",)
    for _ in range(FREE_TRIES):
        guard.failed(keys)
    assert guard.wait_s(keys) == FIRST_WAIT_S
    guard.failed(keys)
    assert guard.wait_s(keys) == 2 * FIRST_WAIT_S
    for _ in range(40):
        guard.failed(keys)
    assert guard.wait_s(keys) == MAX_WAIT_S
    clock.now += MAX_WAIT_S
    assert guard.wait_s(keys) == 0.0
