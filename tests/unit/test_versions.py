"""DVC-backed dataset versions with real DVC: freeze, push, restore byte-identical from cache and from remote."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backend.core.settings import Settings
from backend.data import versions


def _make_folder(root: Path) -> Path:
    folder = root / "datasets" / "food" / "v1"
    (folder / "images" / "train").mkdir(parents=True)
    (folder / "labels" / "train").mkdir(parents=True)
    for i in range(3):
        (folder / "images" / "train" / f"{i}.jpg").write_bytes(bytes([i]) * (1000 + i))
        (folder / "labels" / "train" / f"{i}.txt").write_text(f"{i} 0.5 0.5 0.2 0.2\n")
    (folder / "data.yaml").write_text("names: {0: a, 1: b, 2: c}\n")
    return folder


def test_restore_is_byte_identical_from_cache_and_remote(workspace: Settings) -> None:
    folder = _make_folder(workspace.home)
    before = versions.manifest(folder)
    content_hash = versions.track_version(folder)
    assert content_hash.endswith(".dir")
    assert versions.read_hash(folder) == content_hash
    # Files are now read-only links into the content-addressed cache: a version cannot be edited in place.
    sample = folder / "images" / "train" / "0.jpg"
    assert not sample.stat().st_mode & 0o222

    # Lost folder: restored from the local cache.
    shutil.rmtree(folder)
    versions.restore_version(folder)
    assert versions.manifest(folder) == before

    # Lost folder and cache: restored from the remote `dvc push` wrote.
    shutil.rmtree(folder)
    shutil.rmtree(workspace.home / ".dvc" / "cache")
    versions.restore_version(folder)
    assert versions.manifest(folder) == before


def test_restore_without_dvc_file_says_so(workspace: Settings) -> None:
    folder = workspace.home / "datasets" / "x" / "v9"
    folder.mkdir(parents=True)
    with pytest.raises(versions.VersioningError, match=r"no \.dvc file"):
        versions.restore_version(folder)


def test_same_content_same_hash(workspace: Settings, tmp_path: Path) -> None:
    a = _make_folder(workspace.home)
    b = workspace.home / "datasets" / "food" / "v2"
    shutil.copytree(a, b)
    assert versions.track_version(a, push=False) == versions.track_version(b, push=False)


def test_a_version_waits_for_another_dvc_process_holding_the_lock(workspace: Settings) -> None:
    """DVC gives up after a few seconds when another DVC process holds the repository lock (two jobs freezing at
    once, or a killed worker's DVC child still running); a version freeze waits for it instead of failing."""
    import subprocess
    import sys
    import time

    versions.init_repo(workspace)
    folder = _make_folder(workspace.home)
    marker = workspace.home / "holder-has-lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import pathlib, sys, time\n"
            "from dvc.repo import Repo\n"
            "repo = Repo(sys.argv[1])\n"
            "repo.lock.lock()\n"
            "pathlib.Path(sys.argv[2]).touch()\n"
            "time.sleep(8)\n"
            "repo.lock.unlock()\n",
            str(workspace.home),
            str(marker),
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert holder.poll() is None and time.monotonic() < deadline, "the lock holder did not start"
            time.sleep(0.1)
        content_hash = versions.track_version(folder)  # DVC's own retry gives up after about 3 s
    finally:
        holder.wait(timeout=60)
    assert holder.returncode == 0
    assert versions.read_hash(folder) == content_hash
