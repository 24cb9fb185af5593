"""The one entry helper every `python -m jobs.X` shares: its parser's exit-status epilog, and the run wrapper that
turns the outcome into one summary line and an exit status.

Exit statuses are the same everywhere: 0 done, 1 findings or some items failed (each command says what),
2 bad input or arguments. A command looks like this::

    from jobs._cli import EXIT_FINDINGS, Outcome, cli_parser, run_cli

    def build_parser() -> argparse.ArgumentParser:
        parser = cli_parser("jobs.validate", "Run every data-quality check.", findings="an issue at or above --fail-on")
        parser.add_argument(...)
        return parser

    def main(argv: list[str] | None = None) -> int:
        args = build_parser().parse_args(argv)          # bad arguments: argparse prints usage and exits 2

        def run() -> str | Outcome:
            report = ...                                 # raise PlateOpsError (or OSError) for bad input: exit 2
            return Outcome(report.summary_line(), EXIT_FINDINGS if report.bad else EXIT_DONE)

        return run_cli(run, quiet_stdout=True)          # returning a plain str means done: exit 0

    if __name__ == "__main__":
        sys.exit(main())

Import backend modules inside `run` (or `main`) so that `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import nullcontext, redirect_stdout
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from backend.core.access import Actor, Role
from backend.core.errors import PlateOpsError, cap_message

EXIT_DONE = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2


@dataclass(frozen=True)
class Outcome:
    """What a command's `run` returns when the exit status is not simply 0: its summary line and status."""

    summary: str
    exit_code: int = EXIT_DONE
    to_stderr: bool = False  # when stdout carries data (e.g. JSON lines), the summary goes to stderr


def exit_epilog(findings: str | None = None) -> str:
    """The `--help` text on exit statuses; `findings` says when this command exits 1 (None: it never does)."""
    middle = f"1 {findings}; " if findings else ""
    return f"Exit status: 0 done; {middle}2 bad input or arguments."


def cli_parser(prog: str, description: str, *, findings: str | None = None) -> argparse.ArgumentParser:
    """An argument parser named `python -m <prog>` whose `--help` ends with the exit statuses.

    Args:
        prog: The module, e.g. "jobs.validate".
        description: One or two sentences on what the command does.
        findings: When the command exits 1, e.g. "an issue at or above --fail-on exists"; None if it never does.
    """
    name = prog if prog.startswith("python -m ") else f"python -m {prog}"
    return argparse.ArgumentParser(prog=name, description=description, epilog=exit_epilog(findings))


def os_error_line(exc: OSError) -> str:
    """A one-line message for a file-system error (what failed, on which path)."""
    return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")


def error_line(message: object) -> str:
    """`error: …` on one line, capped: a multi-line message (ultralytics writes some) is joined with spaces."""
    return f"error: {cap_message(' '.join(str(message).split()))}"


def bad_arguments(message: str) -> int:
    """Print `error: message` for arguments argparse cannot check itself, and return the bad-input status."""
    print(error_line(message), file=sys.stderr)
    return EXIT_BAD_INPUT


def run_cli(run: Callable[[], str | Outcome], *, quiet_stdout: bool = False) -> int:
    """Call `run`, print its summary line on stdout and return its exit status; on bad input print `error: …`, 2.

    Args:
        run: Does the work and returns the one-line human summary (exit 0), or an `Outcome` with another status.
            A `PlateOpsError` or `OSError` it raises is bad input: one `error:` line on stderr, exit 2.
        quiet_stdout: Send everything printed during `run` to stderr (ultralytics logs to stdout), so stdout
            carries only the summary line.
    """
    try:
        with redirect_stdout(sys.stderr) if quiet_stdout else nullcontext():
            result = run()
    except PlateOpsError as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(error_line(os_error_line(exc)), file=sys.stderr)
        return EXIT_BAD_INPUT
    except UnicodeDecodeError as exc:  # a file given as text (json, yaml, labels) is binary: bad input, not a crash
        print(f"error: a file is not readable text ({exc.reason} at byte {exc.start})", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RecursionError:  # a json or yaml file nested thousands of levels deep: bad input, not a crash
        print(error_line("a file is nested too deeply to read (a hostile or broken json/yaml file)"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except (OperationalError, InterfaceError) as exc:  # the store is down or the URL is wrong: the setting is bad
        print(error_line(store_error_line(exc)), file=sys.stderr)
        return EXIT_BAD_INPUT
    outcome = result if isinstance(result, Outcome) else Outcome(result)
    print(outcome.summary, file=sys.stderr if outcome.to_stderr else sys.stdout)
    return outcome.exit_code


def store_error_line(exc: DBAPIError) -> str:
    """One line saying the store cannot be reached and why (the driver's first line; never the URL's password)."""
    first = (str(exc.orig) if exc.orig is not None else str(exc)).strip().splitlines() or ["no reason given"]
    return (
        f"the store cannot be reached ({first[0]}); check that the database is running and PLATEOPS_DATABASE_URL "
        "names it"
    )


def cli_actor(name: str | None = None) -> Actor:
    """Who acts for a command: the shell user, as an admin (a command already has every right the user's files give
    them, so the console's roles do not limit it); `name` overrides the name the audit trail shows."""
    import getpass

    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return Actor(name=(name or "").strip()[:120] or f"cli:{login}", role=Role.ADMIN)
