"""What every `python -m jobs.X` shares: turn user-facing errors into one `error:` line and an exit status."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import nullcontext, redirect_stdout

from backend.core.errors import PlateOpsError

EXIT_BAD_INPUT = 2


def os_error_line(exc: OSError) -> str:
    """A one-line message for a file-system error (what failed, on which path)."""
    return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")


def run_cli(run: Callable[[], str], *, quiet_stdout: bool = False) -> int:
    """Call `run`, print its summary line on stdout and return 0; on a user-facing error print `error: …` and 2.

    Args:
        run: Does the work and returns the one-line human summary.
        quiet_stdout: Send everything printed during `run` to stderr (ultralytics logs to stdout), so stdout
            carries only the summary line.
    """
    try:
        with redirect_stdout(sys.stderr) if quiet_stdout else nullcontext():
            line = run()
    except PlateOpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(line)
    return 0
