"""Immutable, DVC-backed dataset versions inside the workspace.

The workspace is a DVC repository without git (`dvc init --no-scm`). Each version is a folder
`datasets/<dataset>/v<N>/` tracked by `dvc add`: its files move into the content-addressed cache and come back as
read-only hard links, and `v<N>.dvc` records the folder's md5. `dvc push` copies the cache to a remote (a local
folder, `workspace/dvc-remote`, unless configured otherwise); `restore_version` brings back byte-identical files
from the cache, or from the remote when the cache lost them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import yaml

from backend.core.errors import PlateOpsError
from backend.core.settings import Settings, get_settings

log = logging.getLogger(__name__)


class VersioningError(PlateOpsError):
    """DVC could not record or restore a version."""


def _dvc(args: list[str], *, cwd: Path) -> str:
    """Run the DVC command line inside the workspace; raise VersioningError with DVC's own words on failure.

    `--wait-for-lock`: DVC holds one lock per repository and, by default, gives up after a few seconds when another
    DVC process has it; two jobs freezing versions at once, or the DVC child a killed worker left running until the
    runner ends its group, would then fail a healthy job (seen in bench/crash.py: "dvc push failed"). Commands run
    without `-q`, which would also silence DVC's error lines.
    """
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "--wait-for-lock", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise VersioningError(f"dvc {' '.join(args[:2])} failed: {dvc_error_line(proc.stderr or proc.stdout)}")
    return proc.stdout


_DVC_FOOTER = ("having any troubles?", "hit us up at", "dvc.org/support")


def dvc_error_line(output: str) -> str:
    """DVC's own error line from its output: the last `ERROR:` line (without the prefix), never the support
    footer ("Having any troubles? Hit us up at https://dvc.org/support ...") it prints after every failure."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    lines = [line for line in lines if not any(mark in line.lower() for mark in _DVC_FOOTER)]
    errors = [line for line in lines if line.startswith("ERROR:")]
    if errors:
        return errors[-1].removeprefix("ERROR:").strip()[:500]
    return lines[-1][:500] if lines else "no output"


def init_repo(settings: Settings | None = None) -> Path:
    """Make the workspace a DVC repository (idempotent) with hard-link cache and a local default remote."""
    settings = settings or get_settings()
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / ".dvc" / "config").exists():
        _dvc(["init", "--no-scm", "--force", "-q"], cwd=home)
        _dvc(["config", "core.analytics", "false"], cwd=home)
        _dvc(["config", "core.autostage", "false"], cwd=home)
        # Hard links: a version costs no extra disk, and its files are read-only in the workspace.
        _dvc(["config", "cache.type", "hardlink,copy"], cwd=home)
        remote = settings.dvc_remote or str(home / "dvc-remote")
        _dvc(["remote", "add", "-d", "-f", "workspace", remote], cwd=home)
    return home


def dvc_file_for(version_dir: Path) -> Path:
    """The .dvc file that pins a version folder."""
    return version_dir.with_name(version_dir.name + ".dvc")


def track_version(version_dir: Path, *, push: bool = True, settings: Settings | None = None) -> str:
    """Freeze a version folder under DVC and return its content hash (DVC's directory md5)."""
    settings = settings or get_settings()
    home = init_repo(settings)
    rel = Path(os.path.relpath(version_dir.resolve(), home))
    _dvc(["add", str(rel)], cwd=home)
    if push:
        _dvc(["push", str(rel) + ".dvc"], cwd=home)
    return read_hash(version_dir)


def read_hash(version_dir: Path) -> str:
    """The directory md5 recorded in a version's .dvc file."""
    meta = yaml.safe_load(dvc_file_for(version_dir).read_text(encoding="utf-8"))
    return str(meta["outs"][0]["md5"])


def restore_version(version_dir: Path, *, settings: Settings | None = None) -> Path:
    """Bring a version folder back to exactly its recorded content (from the cache, else the remote)."""
    settings = settings or get_settings()
    home = init_repo(settings)
    dvc_file = dvc_file_for(version_dir)
    if not dvc_file.exists():
        raise VersioningError(f"{version_dir.name} has no .dvc file, so it cannot be restored.")
    rel = os.path.relpath(dvc_file.resolve(), home)
    try:
        _dvc(["checkout", "--force", "--relink", rel], cwd=home)
    except VersioningError:
        log.info("cache miss for %s; pulling from the remote", rel)
        _dvc(["pull", "--force", rel], cwd=home)
    return version_dir


def manifest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path (to prove a restore is byte-identical)."""
    out: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(partial(handle.read, 1 << 20), b""):
                digest.update(chunk)
        out[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return out
