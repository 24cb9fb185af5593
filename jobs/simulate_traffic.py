"""Simulated production traffic: demo food pictures with a chosen shift, optionally logged through the serving model.

python -m jobs.simulate_traffic --shift none|dark|blur|background|class_mix --images N --out DIR [--seed S] [--send]

Writes N pictures to DIR (traffic_<shift>_<seed>_<n>.jpg). With --send each is also detected by the serving model of
the workspace (PLATEOPS_HOME) and logged, exactly like an upload on the Detect page, so the Monitor page sees it.

Exit status: 0 done, 2 bad input (an unknown shift, a bad count, no model to send through).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.core.progress import TerminalProgress
from jobs._cli import run_cli

SHIFTS = ("none", "dark", "blur", "background", "class_mix")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.simulate_traffic",
        description="Generate demo food pictures with a shift (and optionally log them through the serving model).",
        epilog="Exit status: 0 done, 2 bad input.",
    )
    parser.add_argument("--shift", choices=SHIFTS, required=True, help="how the pictures differ from training")
    parser.add_argument("--images", type=int, required=True, help="number of pictures (1 to 20,000)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the pictures to")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same pictures (default 0)")
    parser.add_argument("--send", action="store_true", help="also detect and log each picture with the serving model")
    parser.add_argument("--workers", type=int, default=None, help="drawing processes (default: CPU count)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    args = build_parser().parse_args(argv)

    def run() -> str:
        from backend.monitoring.traffic import generate_traffic, send_traffic

        batch = generate_traffic(
            args.shift,
            images=args.images,
            out_dir=args.out,
            seed=args.seed,
            workers=args.workers,
            progress=TerminalProgress("simulate_traffic"),
        )
        line = f"Wrote {len(batch.files)} {batch.shift.value} pictures to {args.out}"
        if args.send:
            ids = send_traffic(batch.files, progress=TerminalProgress("send"))
            line += f"; logged {len(ids)} predictions (ids {ids[0]}-{ids[-1]})"
        return line

    return run_cli(run, quiet_stdout=True)


if __name__ == "__main__":
    sys.exit(main())
