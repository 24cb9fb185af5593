"""Rates with their basis: the Wilson interval against known values, and "too few to tell" under the minimum."""

from __future__ import annotations

import pytest

from backend.core.stats import MIN_RATE_TRIALS, count_rate, wilson_interval


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),  # textbook values (Agresti & Coull 1998; Newcombe 1998)
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (1, 1, 0.2065, 1.0),
        (81, 263, 0.2553, 0.3662),
    ],
)
def test_wilson_interval_matches_known_values(successes: int, n: int, low: float, high: float) -> None:
    got_low, got_high = wilson_interval(successes, n)
    assert got_low == pytest.approx(low, abs=5e-4) and got_high == pytest.approx(high, abs=5e-4)


def test_wilson_interval_narrows_with_more_trials_and_refuses_impossible_counts() -> None:
    widths = [hi - lo for lo, hi in (wilson_interval(n // 4, n) for n in (4, 40, 400))]
    assert widths[0] > widths[1] > widths[2]
    assert wilson_interval(0, 0) == (0.0, 1.0)
    for successes, n in ((3, 2), (-1, 4), (0, -1)):
        with pytest.raises(ValueError, match="successes <= n"):
            wilson_interval(successes, n)


def test_a_rate_under_the_minimum_is_too_few_to_tell_and_always_shows_its_count() -> None:
    one = count_rate(1, 1)
    assert one.value is None and not one.enough
    assert one.text() == "too few to tell (1 of 1; 95 % interval 0.21–1.00)"
    assert "1.0 " not in one.text() and not one.text().startswith("1")
    enough = count_rate(3, MIN_RATE_TRIALS + 2)
    assert enough.enough and enough.value == pytest.approx(0.25)
    assert enough.text() == "0.25 (3 of 12; 95 % interval 0.09–0.53)"
    assert count_rate(0, 0).text() == "no data"
    assert count_rate(1, 2, minimum=2).value == 0.5
