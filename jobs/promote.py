"""The Models page's promotion gate on the command line.

    python -m jobs.promote --run RUN_ID [--reason TEXT] [--actor NAME] [--no-export] [--confirm-classes]
    python -m jobs.promote --rollback [--reason TEXT]

Promote: scores the run's model and the current production model on the task's evaluation set (the frozen set the
team chose on the Models page; by default the production model's validation split) and prints the gate's figures as
one JSON line: {"candidate_model_id", "production_model_id", "dataset", "passed", "promoted", "overridden",
"reasons", "classes": [{"name", "candidate_ap50", "production_ap50", "delta", "blocked", ...}], "candidate",
"production", "max_ap50_drop", "latency_budget_ms", "eval_set": {"name", "images", "instances", ...}, "own_split",
"paired": {"map50_delta", "map50_delta_low", "map50_delta_high", ...}, "class_mapping", "refused", ...};
`candidate` and `production` hold map50 with map50_low and map50_high (its 95 % bootstrap interval), and the same
for map50_95. A blocked promotion (or a refusal to decide on too small a set) goes through only with --reason (an
override, kept in the model history); when the candidate's classes differ from the set's, --confirm-classes must
confirm the mapping the JSON shows before anything is promoted.
Rollback: puts the previous production model back and prints {"production_model_id", "name", "stage"}.

Exit status: 0 promoted (or rolled back), 1 blocked by the gate, 2 bad input (unknown run, changed weights file,
nothing to roll back to).
"""

from __future__ import annotations

import argparse
import json
import sys

from jobs._cli import EXIT_DONE, EXIT_FINDINGS, Outcome, cli_actor, cli_parser, run_cli


def run(args: argparse.Namespace) -> Outcome:
    """Do the work; the JSON line is the summary, exit 1 when the gate blocked the promotion."""
    from backend.registry.service import promote_run, rollback

    if args.rollback:
        model = rollback(actor=cli_actor(args.actor), reason=args.reason or "")
        return Outcome(json.dumps({"production_model_id": model.id, "name": model.name, "stage": model.stage}))
    figures = promote_run(
        args.run,
        reason=args.reason or "",
        actor=cli_actor(args.actor),
        export=False if args.no_export else None,
        confirm_classes=args.confirm_classes,
    )
    return Outcome(json.dumps(figures.to_dict(), default=str), EXIT_DONE if figures.promoted else EXIT_FINDINGS)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = cli_parser(
        "jobs.promote",
        "Promote a run's model to production through the gate (both models scored on the evaluation set: paired "
        "bootstrap mAP50, per-class AP50 drop and CPU latency budget from params.yaml), or roll back one step. "
        "Prints the gate's figures as JSON.",
        findings="the gate blocked the promotion (give --reason to override)",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--run", type=int, metavar="RUN_ID", help="training run whose model to promote")
    action.add_argument("--rollback", action="store_true", help="put the previous production model back")
    parser.add_argument("--reason", metavar="TEXT", help="why; required to override a blocked gate")
    parser.add_argument("--actor", metavar="NAME", help="who promotes (default cli:<login name>)")
    parser.add_argument("--no-export", action="store_true", help="do not export the ONNX model on promotion")
    parser.add_argument(
        "--confirm-classes",
        action="store_true",
        help="confirm the class mapping when the candidate's classes differ from the evaluation set's",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_cli(lambda: run(args), quiet_stdout=True)  # ultralytics logs to stdout


if __name__ == "__main__":
    sys.exit(main())
