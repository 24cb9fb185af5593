"""Make a console user's password hash for `.streamlit/secrets.toml`.

    python -m jobs.hash_password --user NAME --role ROLE   (reads the password from the terminal, or stdin)

Prints the TOML lines to paste: [plateops.users.NAME] with role and password_hash (argon2id).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from jobs._cli import cli_parser, run_cli


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = cli_parser("jobs.hash_password", "Print a console user's secrets.toml entry with an argon2 hash.")
    parser.add_argument("--user", required=True, help="login name (letters, digits, . _ -)")
    parser.add_argument("--role", required=True, choices=["admin", "scientist", "reviewer", "viewer"])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)

    def run() -> str:
        import re

        from backend.auth.users import hash_password
        from backend.core.errors import BadInputError

        if not re.fullmatch(r"[A-Za-z0-9._-]{1,80}", args.user):
            raise BadInputError("Use 1-80 letters, digits, dots, dashes or underscores for the user name.")
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        digest = hash_password(password)
        return f'[plateops.users.{args.user}]\nrole = "{args.role}"\npassword_hash = "{digest}"'

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
