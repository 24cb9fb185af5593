"""Expensive test artefacts built once per test run, and workspaces copied from templates instead of rebuilt.

`run_root`: the folder one test run shares between its pytest-xdist workers (a plain run's own base folder).
`build_once`: a folder under it built by exactly one worker, under a file lock; the others wait, then reuse it.
`TinyModels`: the tiny YOLO checkpoints of `tests.utils.tiny_data` and their ONNX exports, shared that way.
`WorkspaceTemplates`: per worker, a workspace built once per template (e.g. one imported demo version) and copied
into place for each test that asks for it. Store rows, `data.yaml` files and DVC's config hold absolute paths, so a
copy must lie where its template was built: every copy goes to the same live path (one per worker), and the test
that used the previous copy is over by then.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from backend.core.settings import get_settings
from backend.store.engine import dispose_all
from tests.utils.tiny_data import TINY_CLASSES, save_grid_detector, save_untrained_detector

SHARED_ROOT_ENV = "PLATEOPS_TEST_SHARED_ROOT"  # set by tests/conftest.py for helpers that have no fixture at hand


def shared_root() -> Path:
    """The run-wide folder `run_root` gave the session (for `build_once` in helpers called from fixtures)."""
    root = os.environ.get(SHARED_ROOT_ENV)
    if not root:
        raise RuntimeError(f"{SHARED_ROOT_ENV} is unset: tests/conftest.py sets it for every test session")
    return Path(root)


def run_root(factory: pytest.TempPathFactory) -> Path:
    """The temporary folder this test run's workers share (xdist: the parent of each worker's own base folder).

    A plain run's base folder's parent holds every earlier run too, so a plain run keeps to its own base folder.
    """
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(root: Path, key: str, build: Callable[[Path], object]) -> Path:
    """`root/shared/key`, filled by `build(folder)` once per test run whichever worker asks first."""
    from filelock import FileLock

    shared = root / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    target = shared / key
    with FileLock(str(shared / f"{key}.lock")):
        if not (target / ".built").is_file():
            partial = shared / f"{key}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            build(partial)
            (partial / ".built").touch()
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
    return target


class TinyModels:
    """Tiny detection checkpoints (and ONNX exports), each built once per test run and shared by every test.

    `grid` is `save_grid_detector`'s known-geometry model, `untrained` is `save_untrained_detector`'s random one;
    the same arguments give the same file. A test never changes, moves or writes beside a shared file: it copies
    it first (as `add_finished_run` does).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def grid(self, *, names: tuple[str, ...] = TINY_CLASSES, imgsz: int = 64, class_id: int = 1, seed: int = 0) -> Path:
        key = f"grid-{'-'.join(names)}-{imgsz}-{class_id}-{seed}"
        folder = build_once(
            self.root,
            key,
            lambda out: save_grid_detector(out / "grid.pt", names=names, imgsz=imgsz, class_id=class_id, seed=seed),
        )
        return folder / "grid.pt"

    def untrained(self, *, names: tuple[str, ...] = TINY_CLASSES, imgsz: int = 64, seed: int = 0) -> Path:
        key = f"untrained-{'-'.join(names)}-{imgsz}-{seed}"
        folder = build_once(
            self.root,
            key,
            lambda out: save_untrained_detector(out / "untrained.pt", names=names, imgsz=imgsz, seed=seed),
        )
        return folder / "untrained.pt"

    def onnx(self, weights: Path, *, imgsz: int) -> Path:
        """The ONNX export (at `imgsz`) of a checkpoint this object made."""
        from backend.training.export import export_onnx

        key = f"onnx-{weights.parent.name}-{imgsz}"
        folder = build_once(self.root, key, lambda out: export_onnx(weights, imgsz=imgsz, out=out / "model.onnx"))
        return folder / "model.onnx"


@contextmanager
def settings_at(home: Path, patch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the settings and the store at the workspace `home` (SQLite, no demo, offline ClearML) for the block."""
    patch.setenv("PLATEOPS_HOME", str(home))
    patch.delenv("PLATEOPS_DATABASE_URL", raising=False)
    patch.setenv("PLATEOPS_AUTO_DEMO", "false")
    patch.setenv("PLATEOPS_CLEARML_MODE", "offline")
    get_settings.cache_clear()
    dispose_all()
    try:
        yield home
    finally:
        dispose_all()
        get_settings.cache_clear()


def _copy_tree(src: Path, dst: Path) -> None:
    """`cp -a`: hard links between the version files and DVC's cache stay hard links, times and modes stay."""
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)


class WorkspaceTemplates:
    """Per-worker workspace templates: `checkout(key, fill)` leaves a fresh copy of template `key` at `self.live`.

    The first checkout of a key builds it at `self.live` with `fill()` (the settings already point there) and keeps
    a pristine copy; later checkouts copy that back. `fill`'s return value (e.g. the imported version's record,
    an immutable dataclass) is kept and returned each time.
    """

    def __init__(self, root: Path) -> None:
        self.live = root / "live" / "workspace"
        self.kept = root / "kept"
        self.retired = root / "retired"
        self.values: dict[str, Any] = {}

    def _retire_live(self) -> None:
        """Move the previous copy away whole (never delete it under a job worker that is still exiting)."""
        if self.live.exists():
            self.retired.mkdir(parents=True, exist_ok=True)
            self.live.rename(self.retired / f"{len(list(self.retired.iterdir())) + 1}")

    def checkout(self, key: str, fill: Callable[[], Any]) -> Any:
        dispose_all()
        self._retire_live()
        self.live.parent.mkdir(parents=True, exist_ok=True)
        pristine = self.kept / key
        if key in self.values:
            _copy_tree(pristine, self.live)
            return self.values[key]
        value = fill()
        dispose_all()
        self.kept.mkdir(parents=True, exist_ok=True)
        _copy_tree(self.live, pristine)
        self.values[key] = value
        return value
