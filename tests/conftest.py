"""Shared fixtures: an isolated workspace and store per test, the data-quality dataset, store URLs, the markers by
cost, and the expensive artefacts built once per run (tiny models, workspace templates)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from backend.core.settings import Settings, get_settings
from backend.store.engine import dispose_all
from tests.utils.shared import SHARED_ROOT_ENV, TinyModels, WorkspaceTemplates, run_root, settings_at

PROJECT_ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")

# Markers by cost, applied in `pytest_collection_modifyitems` (registered in pyproject.toml). A test is `e2e` in
# tests/e2e, `page` in tests/pages, `training` or `slow` when marked so (a module or test that trains or exports a
# model marks itself `training`); `unit` is every other test: `pytest -m unit` is the fast inner loop.
FOLDER_MARKS = {"e2e": "e2e", "pages": "page"}
COST_MARKS = ("e2e", "page", "training", "slow")


TOOL_DIRS = (
    ("YOLO_CONFIG_DIR", "ultralytics"),
    ("MPLCONFIGDIR", "matplotlib"),
    ("CLEARML_CACHE_DIR", "clearml"),
    # DVC keeps its per-repository state (file hashes by inode) under a site cache; keep it inside the test run.
    ("DVC_SITE_CACHE_DIR", "dvc-site"),
)
TOOL_BASE_ENV = "PLATEOPS_TEST_TOOL_BASE"  # the folder this run made for them (xdist workers inherit it)


def pytest_configure(config: pytest.Config) -> None:
    """Keep ultralytics, matplotlib, ClearML and DVC files of the whole run (workers included) out of the user's home.

    Each xdist worker gets its own folders (ultralytics writes its settings file on first import, not atomically),
    except where the user set a variable before the run.
    """
    import tempfile

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    inherited = os.environ.get(TOOL_BASE_ENV)
    base = Path(tempfile.mkdtemp(prefix=f"plateops-tests-{worker or 'main'}-"))
    for var, sub in TOOL_DIRS:
        if worker and inherited and os.environ.get(var, "").startswith(inherited):
            os.environ[var] = str(base / sub)  # the controller's folder: this worker takes its own
        os.environ.setdefault(var, str(base / sub))
    os.environ.setdefault(TOOL_BASE_ENV, str(base))
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    del config


# The longest modules, measured (BENCHMARKS.md "Test suite"), longest first. `./plateops test` runs `--dist
# loadfile`: each module's tests on one xdist worker (its fixtures, a console or a trained run, built once), and
# xdist hands modules out in collection order (`--no-loadscope-reorder`; its default order is by test count, which
# put the one-test tour and DVC modules last), so these go first: one collected last would run alone at the end.
LONG_MODULES = (
    "tests/slow/test_kill_anywhere.py",
    "tests/e2e/test_tour.py",
    "tests/slow/test_dvc_repro.py",
    "tests/unit/test_monitoring.py",
    "tests/unit/test_train_job.py",
    "tests/unit/test_monitoring_service.py",
    "tests/unit/test_crash_recovery.py",
    "tests/unit/test_training.py",
    "tests/unit/test_runtimes.py",
    "tests/unit/test_traffic_inbox.py",
    "tests/unit/test_pretrained.py",
    "tests/unit/test_safe_loading.py",
    "tests/unit/test_annotation_edits.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by cost (see COST_MARKS) and put the LONG_MODULES first (the order within a module kept)."""
    del config
    rank = {module: index for index, module in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(Path(str(item.path)).relative_to(PROJECT_ROOT).as_posix(), len(rank)))
    for item in items:
        parts = Path(str(item.path)).relative_to(PROJECT_ROOT).parts
        folder = parts[1] if len(parts) > 2 else ""
        if folder in FOLDER_MARKS:
            item.add_marker(FOLDER_MARKS[folder])
        if not any(item.get_closest_marker(name) for name in COST_MARKS):
            item.add_marker("unit")


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


@pytest.fixture(scope="session", autouse=True)
def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Tell helpers without fixtures (tests/utils) where this run's shared artefacts live; see `build_once`."""
    root = run_root(tmp_path_factory)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SHARED_ROOT_ENV, str(root))
        yield root


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """Tiny YOLO checkpoints built once per test run (all workers) and shared read-only; see TinyModels."""
    return TinyModels(run_root(tmp_path_factory))


@pytest.fixture(scope="session")
def workspace_templates(tmp_path_factory: pytest.TempPathFactory) -> WorkspaceTemplates:
    """This worker's workspace templates (a copy must lie where its template was built, so one set per worker)."""
    return WorkspaceTemplates(tmp_path_factory.getbasetemp() / "templates")


@pytest.fixture
def from_template(
    workspace_templates: WorkspaceTemplates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, Callable[[], T]], T]]:
    """A private workspace copied from a template: `from_template(key, fill)` returns what `fill()` returned when
    the template was built (the first time, in this test's workspace). Instead of `workspace`, not beside it.

    The settings point at the worker's live workspace path (the same for every copy), DVC's site cache at this
    test's own folder (its inode-keyed hashes must not outlive the copy they describe).
    """
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site"))
    with settings_at(workspace_templates.live, monkeypatch):

        def checkout(key: str, fill: Callable[[], Any]) -> Any:
            return workspace_templates.checkout(key, fill)

        yield checkout


@pytest.fixture
def demo_version(from_template: Callable[[str, Callable[[], Any]], Any]) -> Callable[..., Any]:
    """`demo_version(images=, seed=, defects=, name=)`: a private workspace holding one imported, validated demo
    version (`create_demo_dataset` on a migrated workspace), copied from a template built once per worker."""
    from backend.core.settings import init_workspace
    from backend.data.datasets import create_demo_dataset
    from backend.store.engine import init_db

    def make(*, images: int, seed: int, defects: bool = False, name: str = "food") -> Any:
        def fill() -> Any:
            init_workspace()
            init_db()
            return create_demo_dataset(name=name, images=images, seed=seed, defects=defects)

        return from_template(f"demo-{name}-{images}-{seed}-{int(defects)}", fill)

    return make
