"""Apply box edits to a dataset version as a new immutable version with a box-level changelog.

    python -m jobs.edit --dataset NAME --base-version N --edits EDITS.json --message M [--author A]

EDITS.json: `[{"image": "<file name in the version>", "boxes": [{"class": "<name>", "box": [x1, y1, x2, y2]}]}]`
(pixels; the full new box list of each listed image). Prints `{"version": N2, "changelog": {...}}`.

Exit status: 0 saved; 1 refused because a listed image changed in a version saved after N (nothing written);
2 bad input (unknown dataset, version, image or class, a box outside its image, a malformed file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jobs._cli import cli_actor, run_cli

EXIT_CONFLICT = 1


class _RefusedError(Exception):
    """Carries a conflict past `run_cli`, which treats every PlateOpsError as bad input."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.edit",
        description="Apply box edits made on a dataset version as a new immutable version (DVC-backed) and print "
        '{"version": N2, "changelog": {...}}.',
        epilog="Exit status: 0 saved; 1 refused because a listed image changed in a version saved after the base "
        "version (nothing written); 2 bad input (unknown image or class, box outside the image, malformed file).",
    )
    parser.add_argument("--dataset", metavar="NAME", required=True, help="dataset name")
    parser.add_argument("--base-version", metavar="N", type=int, required=True, help="version the edits were made on")
    parser.add_argument(
        "--edits",
        metavar="EDITS.json",
        required=True,
        help='[{"image": FILE, "boxes": [{"class": NAME, "box": [x1, y1, x2, y2]}]}] in pixels, the full new box '
        "list of each listed image",
    )
    parser.add_argument("--message", metavar="M", required=True, help="what the edit does (version history)")
    parser.add_argument("--author", metavar="A", default="", help="who made the edit (default: empty)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    from backend.annotation.edits import EditConflictError, load_edits_file, save_edits
    from backend.core.settings import init_workspace
    from backend.store.engine import init_db

    def run() -> str:
        init_workspace()
        init_db()
        edits = load_edits_file(Path(args.edits))
        try:
            saved = save_edits(
                args.dataset, args.base_version, edits, actor=cli_actor(), message=args.message, author=args.author
            )
        except EditConflictError as exc:
            raise _RefusedError(str(exc)) from None
        return json.dumps({"version": saved.version.number, "changelog": saved.changelog})

    try:
        return run_cli(run)
    except _RefusedError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_CONFLICT


if __name__ == "__main__":
    sys.exit(main())
