"""The progress callback every long-running backend function accepts.

Backend functions report with `progress(fraction, message)`; the job worker turns the calls into store updates,
the CLI into a terminal progress line, and tests into a list. `fraction` is 0..1, or None when unknown.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol


class ProgressFn(Protocol):
    """Callable that receives progress: `fraction` in 0..1 (None when unknown) and a plain-language message."""

    def __call__(self, fraction: float | None, message: str = "") -> None: ...


def null_progress(fraction: float | None, message: str = "") -> None:
    """Progress sink that ignores everything."""
    del fraction, message


class TerminalProgress:
    """Progress printed as one rewritten line on stderr, throttled so it costs nothing in tight loops."""

    def __init__(self, label: str, min_interval_s: float = 0.2) -> None:
        self.label = label
        self.min_interval_s = min_interval_s
        self._last = 0.0

    def __call__(self, fraction: float | None, message: str = "") -> None:
        now = time.monotonic()
        if fraction is not None and fraction < 1.0 and now - self._last < self.min_interval_s:
            return
        self._last = now
        if fraction is None:
            line = f"{self.label}: {message}"
        else:
            filled = round(max(0.0, min(1.0, fraction)) * 30)
            line = f"{self.label} [{'#' * filled}{'.' * (30 - filled)}] {fraction:6.1%} {message}"
        end = "\n" if fraction is not None and fraction >= 1.0 else "\r"
        if sys.stderr.isatty():
            sys.stderr.write(line[:160].ljust(100) + end)
        elif end == "\n" or fraction is None:
            sys.stderr.write(line[:160] + "\n")
        sys.stderr.flush()


def sub_progress(progress: ProgressFn, start: float, end: float, prefix: str = "") -> ProgressFn:
    """A progress callback that maps 0..1 onto start..end of `progress` (for one stage of a longer job)."""

    def report(fraction: float | None, message: str = "") -> None:
        text = f"{prefix}{message}" if prefix else message
        progress(None if fraction is None else start + (end - start) * max(0.0, min(1.0, fraction)), text)

    return report
