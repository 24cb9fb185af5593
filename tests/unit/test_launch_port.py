"""`./plateops start` with the port taken: the default moves on to the next free port and says so; a port the user
chose (PORT or --server.port) is refused in one plain line that says how to pick another."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ui.launch import DEFAULT_PORT, choose_port, pop_port, port_is_free

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(name="taken")
def fixture_taken() -> Iterator[int]:
    """A loopback port something already listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_a_taken_default_port_moves_on_to_the_next_free_one(taken: int) -> None:
    assert not port_is_free("127.0.0.1", taken)
    port, note = choose_port("127.0.0.1", taken, explicit=False)
    assert port is not None and port > taken and port_is_free("127.0.0.1", port)
    assert note == f"Port {taken} is in use, so PlateOps serves on port {port} instead (PORT sets one)."


def test_a_chosen_port_that_is_taken_is_refused_with_how_to_choose_another(taken: int) -> None:
    port, note = choose_port("127.0.0.1", taken, explicit=True)
    assert port is None
    assert f"Port {taken} on 127.0.0.1 is in use" in note and f"PORT={taken + 1} ./plateops start" in note


def test_a_free_port_is_used_as_asked() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert choose_port("127.0.0.1", free, explicit=True) == (free, "")


def test_the_port_option_is_read_and_checked() -> None:
    assert pop_port(["--server.port", "8502", "--x"]) == (8502, ["--x"])
    assert pop_port(["--server.port=9000"]) == (9000, [])
    assert pop_port(["--x"]) == (None, ["--x"])
    assert pop_port(["--server.port", "0"]) == (0, []), "0: the server picks a free port (the tests do so)"
    with pytest.raises(ValueError, match="not a port number"):
        pop_port(["--server.port", "http"])
    assert DEFAULT_PORT == 8501


def test_launch_with_a_chosen_taken_port_stops_with_one_plain_line(taken: int, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ui.launch", "--server.port", str(taken)],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PORT": str(taken),
            "PLATEOPS_HOME": str(tmp_path / "ws"),
            "PLATEOPS_SECRETS_FILE": str(tmp_path / "none.toml"),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"PlateOps: Port {taken} on 127.0.0.1 is in use")
    assert "Traceback" not in done.stderr
