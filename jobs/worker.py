"""Run one stored job: `python -m jobs.worker JOB_ID` (started by the console's job runner)."""

from __future__ import annotations

import argparse
import signal
import sys


def _early_sigterm(signum: int, _frame: object) -> None:
    """A cancel that lands while the worker is still importing ends it as cancelled, not crashed."""
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _early_sigterm)

from backend.core.errors import PlateOpsError  # noqa: E402 - the handler above must be in place first
from backend.runtime.runner import run_job  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.worker", description=__doc__)
    parser.add_argument("job_id", type=int, help="id of the job row to run")
    args = parser.parse_args(argv)
    try:
        status = run_job(args.job_id)
    except PlateOpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Job {args.job_id} {status}.")
    return 0 if status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
