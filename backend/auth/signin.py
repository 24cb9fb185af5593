"""Password sign-in with a backoff per user name and per address, each checked try on the audit trail.

Every try whose password is checked goes on the audit trail (the name tried, from where, allowed or not) and each
failure counts against both the name tried and the visitor's address. After `FREE_TRIES` failures in a row a name
or an address must wait before its next try, the wait doubling with each further failure up to `MAX_WAIT_S`. While
it waits, a try is refused before any password work (one argon2 check costs about 0.1 s and 64 MiB) and without an
audit row (a flood of refusals must not flood the trail). A correct sign-in clears the name's and the address's
count. The counts live in the console process: one console serves the team (Detect replicas have no sign-in).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from backend.auth.users import AuthConfig, verify_login
from backend.core.access import Actor
from backend.core.enums import FailureCode
from backend.core.errors import PlateOpsError
from backend.store import audit as audit_store
from backend.store.engine import session_scope

FREE_TRIES = 5  # failures in a row before any wait: typos cost nothing
FIRST_WAIT_S = 2.0  # the wait after the first failure past FREE_TRIES; it doubles with each further one
MAX_WAIT_S = 900.0
MAX_KEYS = 10_000  # names and addresses tracked at once; the oldest quiet ones are dropped beyond this


class SignInThrottledError(PlateOpsError):
    """Too many failed sign-ins in a row for this name or address: the next try must wait."""

    code: ClassVar[FailureCode] = FailureCode.FORBIDDEN


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


class SignInGuard:
    """Failed sign-ins in a row per key (a user name, an address), and how long each key must wait.

    Args:
        clock: Seconds from a monotonic clock (tests pass their own).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, _Failures] = {}

    def wait_s(self, keys: tuple[str, ...]) -> float:
        """Seconds the longest-waiting of `keys` must still wait before its next try (0 when none must)."""
        now = self._clock()
        with self._lock:
            waits = [self._wait(self._failures.get(key), now) for key in keys]
        return max(waits, default=0.0)

    def failed(self, keys: tuple[str, ...]) -> None:
        """Count one more failure against each of `keys`."""
        now = self._clock()
        with self._lock:
            for key in keys:
                entry = self._failures.setdefault(key, _Failures())
                entry.count += 1
                entry.last = now
            if len(self._failures) > MAX_KEYS:
                self._forget_quiet(now)

    def succeeded(self, keys: tuple[str, ...]) -> None:
        """Clear the count of each of `keys`."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    @staticmethod
    def _wait(entry: _Failures | None, now: float) -> float:
        if entry is None or entry.count < FREE_TRIES:
            return 0.0
        wait = min(MAX_WAIT_S, FIRST_WAIT_S * 2 ** (entry.count - FREE_TRIES))
        return max(0.0, entry.last + wait - now)

    def _forget_quiet(self, now: float) -> None:
        """Drop keys whose wait is over, then the oldest, until at most `MAX_KEYS` remain (lock held)."""
        for key in [k for k, e in self._failures.items() if self._wait(e, now) == 0.0]:
            del self._failures[key]
        for key in sorted(self._failures, key=lambda k: self._failures[k].last)[: len(self._failures) - MAX_KEYS]:
            del self._failures[key]


GUARD = SignInGuard()


def _keys(name: str, address: str | None) -> tuple[str, ...]:
    return (f"user:{name.strip().casefold()[:120]}", f"address:{address or 'this machine'}")


def sign_in(
    config: AuthConfig, name: str, password: str, *, address: str | None, guard: SignInGuard | None = None
) -> Actor | None:
    """The actor for a correct name and password, else None; refused outright while the name or address waits.

    Args:
        config: The console's login settings.
        name: The user name typed.
        password: The password typed.
        address: The visitor's address (None for this machine), counted and written to the audit trail.
        guard: The failure counts; default the console's own (`GUARD`).

    Raises:
        SignInThrottledError: Too many failures in a row for this name or this address; says how long to wait.
    """
    guard = guard or GUARD
    keys = _keys(name, address)
    wait = guard.wait_s(keys)
    if wait > 0:
        raise SignInThrottledError(f"Too many failed sign-ins. Try again in {math.ceil(wait)} s.")
    actor = verify_login(config, name, password)
    user = config.users.get(name)
    with session_scope() as session:
        audit_store.record_sign_in(
            session=session,
            name=name,
            role=str(user.role) if user else "",
            address=address or "this machine",
            allowed=actor is not None,
        )
    if actor is None:
        guard.failed(keys)
    else:
        guard.succeeded(keys)
    return actor
