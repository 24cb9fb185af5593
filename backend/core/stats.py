"""Rates people act on, with their basis: a count, a Wilson 95 % interval, and "too few to tell" under a minimum.

Every rate a page shows from feedback or counts goes through `count_rate` (or `wilson_interval` where only the
interval is wanted), so a class with one wrong answer reads "too few to tell (1 of 1)", never "1.0".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.96  # the normal quantile of a two-sided 95 % interval

# Fewest trials a rate is stated on. Below it the Wilson interval of a middling rate spans more than half the scale
# (4 of 9: 0.19-0.73), so the figure would say less than its interval; it is shown as "too few to tell" instead.
MIN_RATE_TRIALS = 10


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a rate `successes / n` (95 % with the default `z`).

    Unlike the normal approximation it stays inside [0, 1] and is honest at 0 of n and n of n.

    Args:
        successes: How many trials counted (0 <= successes <= n).
        n: How many trials there were.
        z: The normal quantile of the interval (1.96: 95 %).

    Returns:
        (low, high); (0.0, 1.0) when there are no trials.

    Raises:
        ValueError: A negative count, or more successes than trials.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"A rate needs 0 <= successes <= n (got {successes} of {n}).")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class CountRate:
    """A rate with its basis: `successes` of `n`, its Wilson interval, and whether `n` is enough to state it.

    Attributes:
        successes: How many trials counted (e.g. feedback that says wrong or missed).
        n: How many trials there were.
        low: Lower end of the 95 % Wilson interval.
        high: Upper end of the 95 % Wilson interval.
        minimum: Fewest trials the rate is stated on.
    """

    successes: int
    n: int
    low: float
    high: float
    minimum: int = MIN_RATE_TRIALS

    @property
    def enough(self) -> bool:
        """Whether there are trials enough to state the rate."""
        return self.n >= max(self.minimum, 1)

    @property
    def value(self) -> float | None:
        """The rate, or None when there are too few trials to tell."""
        return self.successes / self.n if self.enough else None

    @property
    def count_text(self) -> str:
        """E.g. "3 of 12"."""
        return f"{self.successes} of {self.n}"

    @property
    def interval_text(self) -> str:
        """E.g. "95 % interval 0.09–0.53"."""
        return f"95 % interval {self.low:.2f}–{self.high:.2f}"

    def text(self) -> str:
        """The rate in words with its basis, e.g. "0.25 (3 of 12; 95 % interval 0.09–0.53)", or
        "too few to tell (1 of 1; 95 % interval 0.21–1.00)" under the minimum; "no data" without trials."""
        if self.n == 0:
            return "no data"
        if self.value is None:
            return f"too few to tell ({self.count_text}; {self.interval_text})"
        return f"{self.value:.2f} ({self.count_text}; {self.interval_text})"


def count_rate(successes: int, n: int, *, minimum: int = MIN_RATE_TRIALS, z: float = Z_95) -> CountRate:
    """`successes` of `n` as a CountRate (Wilson interval at `z`; stated only from `minimum` trials on).

    Raises:
        ValueError: A negative count, or more successes than trials.
    """
    low, high = wilson_interval(successes, n, z)
    return CountRate(successes=successes, n=n, low=low, high=high, minimum=minimum)
