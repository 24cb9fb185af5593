"""A crafted checkpoint for tests of restricted loading: a `.pt` whose unpickling would create a marker file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def write_crafted_checkpoint(path: Path, marker: Path) -> Path:
    """Write a `.pt` at `path` whose unpickling would create `marker` (what an attacker's file would do with a shell
    command); made in a fresh interpreter so the payload class exists nowhere in the test process. Returns `path`."""
    code = f"""
import pathlib, torch
class Payload:
    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path({str(marker)!r}),))
torch.save({{"model": Payload(), "train_args": {{}}}}, {str(path)!r})
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
    return path
