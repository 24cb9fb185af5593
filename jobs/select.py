"""Pick which logged traffic pictures to label next for a dataset (active learning).

    python -m jobs.select --dataset NAME --k N [--strategy uncertainty|novelty|diverse|random] --out PICKS.json

Candidates are the predictions in the workspace's store whose picture was kept and that are not yet labelled or
dismissed. PICKS.json: `[{"prediction_id", "image", "score", "reason"}]`, k distinct picks (fewer only when fewer
distinct pictures exist), best first. Nothing is put on the review queue (Annotate's "Label the next" does that).

Exit status: 0 picks written; 2 bad input (unknown dataset, k < 1, no logged traffic), with a one-line message.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jobs._cli import bad_arguments, cli_parser, run_cli

STRATEGIES = ("uncertainty", "novelty", "diverse", "random")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = cli_parser(
        "jobs.select",
        "Pick k logged traffic pictures (not yet labelled or dismissed) worth labelling next for a dataset, and "
        'write them as [{"prediction_id", "image", "score", "reason"}].',
    )
    parser.add_argument("--dataset", metavar="NAME", required=True, help="dataset the labels are for")
    parser.add_argument("--k", metavar="N", type=int, required=True, help="how many pictures to pick (1 or more)")
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="diverse",
        help="uncertainty (low or ambiguous confidence, user feedback), novelty (far from the training pictures), "
        "diverse (greedy k-center on embeddings; default) or random",
    )
    parser.add_argument("--out", metavar="PICKS.json", type=Path, required=True, help="where to write the picks")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.k < 1:
        return bad_arguments(f"--k must be 1 or more (got {args.k}).")

    def run() -> str:
        from backend.annotation.picking import select_traffic
        from backend.core.settings import init_workspace
        from backend.store.engine import init_db

        init_workspace()
        init_db()
        selection = select_traffic(args.dataset, args.k, strategy=args.strategy)
        out = Path(args.out)
        if out.parent and not out.parent.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([p.as_dict() for p in selection.picks], indent=2) + "\n", encoding="utf-8")
        return (
            f"Picked {len(selection.picks)} of {selection.candidates} logged pictures for {args.dataset} "
            f"({selection.strategy}, on {selection.space}); wrote {out}"
        )

    return run_cli(run, quiet_stdout=True)


if __name__ == "__main__":
    sys.exit(main())
