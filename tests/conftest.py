"""Shared fixtures: an isolated workspace and store per test, the data-quality dataset, store URLs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.core.settings import Settings, get_settings
from backend.store.engine import dispose_all

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Keep ultralytics, matplotlib and ClearML files of the whole run (workers included) out of the user's home."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="plateops-tests-"))
    for var, sub in (
        ("YOLO_CONFIG_DIR", "ultralytics"),
        ("MPLCONFIGDIR", "matplotlib"),
        ("CLEARML_CACHE_DIR", "clearml"),
    ):
        os.environ.setdefault(var, str(base / sub))
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    del config


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--dataset",
        action="store",
        default=None,
        help="prepared YOLO dataset folder (holds data.yaml) for tests/data_quality; default: a fresh demo set",
    )


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A fresh PLATEOPS_HOME with its own SQLite store; settings reset before and after."""
    home = tmp_path / "workspace"
    monkeypatch.setenv("PLATEOPS_HOME", str(home))
    monkeypatch.delenv("PLATEOPS_DATABASE_URL", raising=False)
    monkeypatch.setenv("PLATEOPS_AUTO_DEMO", "false")
    monkeypatch.setenv("PLATEOPS_CLEARML_MODE", "offline")
    get_settings.cache_clear()
    dispose_all()
    settings = get_settings()
    yield settings
    dispose_all()
    get_settings.cache_clear()


def _store_urls() -> list[str]:
    urls = ["sqlite"]
    if os.environ.get("PLATEOPS_TEST_POSTGRES_URL"):
        urls.append("postgresql")
    return urls


@pytest.fixture(params=_store_urls())
def store_url(request: pytest.FixtureRequest, workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The store under test: a real SQLite file, and PostgreSQL when PLATEOPS_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        yield workspace.db_url
        return
    import sqlalchemy as sa

    base_url = os.environ["PLATEOPS_TEST_POSTGRES_URL"]
    schema = f"t{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    admin = sa.create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    url = f"{base_url}{sep}options=-csearch_path%3D{schema}"
    monkeypatch.setenv("PLATEOPS_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    dispose_all()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def dataset_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset the data-quality suite checks: `--dataset PATH`, else a small clean demo set, prepared."""
    given = request.config.getoption("--dataset")
    if given:
        path = Path(given)
        if not (path / "data.yaml").exists():
            raise pytest.UsageError(f"--dataset {given}: no data.yaml there; pass a prepared dataset folder")
        return path
    from backend.data.demo import generate_demo_dataset
    from backend.data.formats.convert import prepare_coco

    raw = tmp_path_factory.mktemp("demo_raw")
    generate_demo_dataset(raw, images=60, seed=7)
    out = tmp_path_factory.mktemp("demo_prepared")
    shutil.rmtree(out)
    prepare_coco(raw / "annotations.json", raw / "images", out, val_fraction=0.25, seed=0)
    return out
