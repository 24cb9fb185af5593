"""Build a console workspace outside any test's own settings: the store migrated, then whatever `fill` adds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from backend.core.settings import get_settings
from backend.store.engine import dispose_all


@contextmanager
def workspace_at(home: Path) -> Iterator[Path]:
    """Point the settings and the store at `home` for the block (console start-up done), then restore them."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLATEOPS_HOME", str(home))
        mp.delenv("PLATEOPS_DATABASE_URL", raising=False)
        mp.setenv("PLATEOPS_AUTO_DEMO", "false")
        get_settings.cache_clear()
        dispose_all()
        from backend.console.bootstrap import start_console

        start_console()
        try:
            yield home
        finally:
            dispose_all()
            get_settings.cache_clear()


def build_home(home: Path, fill: Callable[[], object] | None = None) -> Path:
    """A migrated workspace at `home`, with `fill()` run against it (e.g. a demo dataset version)."""
    with workspace_at(home):
        if fill is not None:
            fill()
    return home


def build_demo_home(home: Path, *, images: int, seed: int, defects: bool = False) -> Path:
    """A workspace holding one validated demo dataset version."""
    from backend.data.datasets import create_demo_dataset

    return build_home(home, lambda: create_demo_dataset(images=images, seed=seed, defects=defects))
