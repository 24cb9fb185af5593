"""Run one stored job: `python -m jobs.worker JOB_ID` (started by the console's job runner)."""

from __future__ import annotations

import signal
import sys


def _early_sigterm(signum: int, _frame: object) -> None:
    """A cancel that lands while the worker is still importing ends it as cancelled, not crashed."""
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _early_sigterm)

# pylint: disable=wrong-import-position
from backend.core.enums import JobStatus  # noqa: E402 - the handler above must be in place first
from backend.runtime.runner import run_job  # noqa: E402
from jobs._cli import EXIT_DONE, EXIT_FINDINGS, Outcome, cli_parser, run_cli  # noqa: E402

# pylint: enable=wrong-import-position


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = cli_parser(
        "jobs.worker",
        "Run one stored job: progress, heartbeat and how it ended go to the store (the console starts this).",
        findings="the job failed or was cancelled",
    )
    parser.add_argument("job_id", type=int, help="id of the job row to run")
    args = parser.parse_args(argv)

    def run() -> Outcome:
        status = run_job(args.job_id)
        return Outcome(f"Job {args.job_id} {status}.", EXIT_DONE if status == JobStatus.SUCCEEDED else EXIT_FINDINGS)

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
