"""Every `python -m jobs.X` sits on the shared entry helper (jobs/_cli.py): same exit statuses, documented in
`--help`; and the helper itself maps outcomes and errors to those statuses."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from backend.core.errors import BadInputError
from backend.core.settings import Settings, get_settings
from backend.store.engine import dispose_all
from jobs._cli import EXIT_BAD_INPUT, EXIT_DONE, EXIT_FINDINGS, Outcome, exit_epilog, run_cli

JOBS = Path(__file__).resolve().parents[2] / "jobs"
COMMANDS = sorted(p.stem for p in JOBS.glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_uses_the_shared_helper_and_documents_exit_statuses(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = ast.parse((JOBS / f"{name}.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "jobs._cli" in imported, f"jobs/{name}.py does not use jobs/_cli.py"
    module = importlib.import_module(f"jobs.{name}")
    with pytest.raises(SystemExit) as exited:
        module.main(["--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit status: 0" in text and "2 bad input" in text, f"jobs.{name} --help does not say its exit statuses"


def test_run_cli_maps_outcomes_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(lambda: "all done") == EXIT_DONE
    assert capsys.readouterr().out == "all done\n"
    assert run_cli(lambda: Outcome("2 issues", EXIT_FINDINGS)) == EXIT_FINDINGS
    assert capsys.readouterr().out == "2 issues\n"

    def bad() -> str:
        raise BadInputError("That file is not a dataset.")

    assert run_cli(bad) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.err == "error: That file is not a dataset.\n" and captured.out == ""

    def missing() -> str:
        return Path("/nonexistent/plateops/file").read_text()

    assert run_cli(missing) == EXIT_BAD_INPUT
    assert "No such file or directory: /nonexistent/plateops/file" in capsys.readouterr().err
    assert run_cli(lambda: Outcome("3 lines", to_stderr=True)) == EXIT_DONE
    assert capsys.readouterr().err == "3 lines\n"
    assert exit_epilog("a check failed") == "Exit status: 0 done; 1 a check failed; 2 bad input or arguments."


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("promote", ["--run", "1"]),
        ("export_dataset", ["--dataset", "food", "--version", "1", "--format", "coco", "--out", "x.zip"]),
    ],
)
def test_an_unreachable_store_is_one_error_line_and_exit_2(
    command: str, argv: list[str], workspace: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The attack: point a command at a store nobody listens on (here a loopback port no server has, with a password
    in the URL); it used to end in a SQLAlchemy traceback."""
    monkeypatch.setenv("PLATEOPS_DATABASE_URL", "postgresql+psycopg://plateops:s3cret-pw@127.0.0.1:1/none")
    get_settings.cache_clear()
    dispose_all()
    try:
        status = importlib.import_module(f"jobs.{command}").main(argv)
    finally:
        dispose_all()
        get_settings.cache_clear()
    err = capsys.readouterr().err.strip()
    assert status == EXIT_BAD_INPUT
    assert len(err.splitlines()) == 1 and err.startswith("error: the store cannot be reached"), err
    assert "Traceback" not in err and "s3cret-pw" not in err
