"""The layering rules of ARCHITECTURE.md, checked on the source: backend/ and jobs/ never import streamlit,
pages do no SQL, no YOLO and no subprocess, and importing backend modules has no side effects."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _py_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]


@pytest.mark.parametrize("path", _py_files("backend", "jobs"), ids=lambda p: str(p.relative_to(ROOT)))
def test_backend_and_jobs_never_import_streamlit(path: Path) -> None:
    bad = {name for name in _imports(path) if name == "streamlit" or name.startswith("streamlit.")}
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


# The backend's layers, lowest first (ARCHITECTURE.md). A package may import its own layer and any lower one, never a
# higher one. Packages on one row are peers that must not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("core",),
    ("store",),
    ("runtime",),
    ("imaging",),
    ("data",),
    ("training",),
    ("serving",),
    ("registry", "monitoring", "annotation"),
    ("auth",),
    ("console",),
]
RANK = {package: rank for rank, row in enumerate(LAYERS) for package in row}


def _package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "backend" else None


def _backend_imports(path: Path) -> set[str]:
    """Every backend module a file imports, at module level or inside functions (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("backend"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("backend"):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree)), (
        f"{path.relative_to(ROOT)}: use absolute imports, so the layering test sees every edge"
    )
    return names


BACKEND_FILES = [p for p in _py_files("backend") if "migrations" not in p.parts and p.parent != ROOT / "backend"]


def test_every_backend_package_has_a_layer_and_a_docstring() -> None:
    packages = sorted(p.name for p in (ROOT / "backend").iterdir() if (p / "__init__.py").is_file())
    unknown = [name for name in packages if name not in RANK]
    assert not unknown, f"backend packages {unknown} are not in the LAYERS table of this test: add them"
    flat = sorted(p.name for p in (ROOT / "backend").glob("*.py") if p.name != "__init__.py")
    assert not flat, f"modules {flat} sit directly in backend/: put each in its domain package"
    for name in packages:
        doc = ast.get_docstring(ast.parse((ROOT / "backend" / name / "__init__.py").read_text(encoding="utf-8")))
        assert doc, f"backend/{name}/__init__.py needs a docstring saying what the package owns"


@pytest.mark.parametrize("path", BACKEND_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_backend_imports_flow_down_the_layers(path: Path) -> None:
    own = path.relative_to(ROOT / "backend").parts[0]
    if own not in RANK:
        pytest.fail(f"{path.relative_to(ROOT)} is outside every layer of the LAYERS table")
    wrong = []
    for module in sorted(_backend_imports(path)):
        target = _package_of(module)
        if target is None or target == own or target not in RANK:
            continue
        if RANK[target] > RANK[own]:
            wrong.append(f"{module} (layer '{target}' is above '{own}': lower layers never import higher ones)")
        elif RANK[target] == RANK[own]:
            wrong.append(f"{module} ('{target}' and '{own}' are peers: move the shared part down a layer)")
    assert not wrong, f"{path.relative_to(ROOT)} imports " + "; ".join(wrong)


def test_layering_rule_catches_a_wrong_way_import(tmp_path: Path) -> None:
    """The rule itself works: a core module importing the store is reported with the rule's words."""
    fake = ROOT / "backend" / "core" / "_layering_probe.py"
    fake.write_text("from backend.store.engine import session_scope\n", encoding="utf-8")
    try:
        with pytest.raises(AssertionError, match="lower layers never import higher ones"):
            test_backend_imports_flow_down_the_layers(fake)
    finally:
        fake.unlink()


UI_FILES = [ROOT / "Home.py", *_py_files("pages", "ui")]
FORBIDDEN_IN_UI = (
    "sqlalchemy",
    "ultralytics",
    "subprocess",
    "torch",
    "clearml",
    "backend.store.rows",
    "backend.store.engine",
)


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_are_ui_only(path: Path) -> None:
    bad = {n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN_IN_UI)}
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: pages call backend/ functions instead"
    assert "time.sleep" not in path.read_text(encoding="utf-8"), "pages poll with st.fragment, they never sleep"


# ui/ holds one package per page plus ui/widgets (shared by all); a page's package never imports another page's.
UI_SHARED = "widgets"
UI_PACKAGE_FILES = [p for p in _py_files("ui") if len(p.relative_to(ROOT / "ui").parts) > 1]


def _foreign_ui_imports(path: Path, own: str) -> set[str]:
    """The `ui.<package>` modules a file of ui package `own` imports that are neither its own nor the shared widgets."""
    allowed = {own} if own == UI_SHARED else {own, UI_SHARED}
    return {n for n in _imports(path) if n.startswith("ui.") and n.split(".")[1] not in allowed}


@pytest.mark.parametrize("path", UI_PACKAGE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_ui_packages_do_not_import_each_other(path: Path) -> None:
    own = path.relative_to(ROOT / "ui").parts[0]
    bad = _foreign_ui_imports(path, own)
    rule = "widgets import no page package" if own == UI_SHARED else "share it through ui/widgets instead"
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: {rule}"


def test_ui_package_rule_catches_a_cross_page_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from ui.datasets.versions import TABS\nfrom ui.widgets.calls import call\n", encoding="utf-8")
    assert _foreign_ui_imports(probe, "train") == {"ui.datasets.versions"}
    assert _foreign_ui_imports(probe, "datasets") == set()
    assert _foreign_ui_imports(probe, UI_SHARED) == {"ui.datasets.versions"}


def test_tests_never_write_the_readme_pictures() -> None:
    """A test run changes no tracked file: screenshots go to the `screenshots` fixture's temporary folder, and the
    README pictures in docs/ come from `python -m bench.screenshots`."""
    uses_docs = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("*.py")
        if p != Path(__file__).resolve()
        and any(quoted in p.read_text(encoding="utf-8") for quoted in ('"docs"', "'docs'", '"docs/', "'docs/"))
    ]
    assert not uses_docs, f"{uses_docs} point at docs/: save screenshots under the `screenshots` fixture instead"


def test_importing_backend_has_no_side_effects(tmp_path: Path) -> None:
    modules = sorted(
        "backend." + p.relative_to(ROOT / "backend").with_suffix("").as_posix().replace("/", ".")
        for p in (ROOT / "backend").rglob("*.py")
        if "migrations" not in p.parts and p.name != "__init__.py"
    )
    code = f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
    home = tmp_path / "home"
    env = {"PATH": "/usr/bin:/bin", "PLATEOPS_HOME": str(home), "HOME": str(tmp_path), "YOLO_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not home.exists(), "importing backend modules created the workspace"
    created = sorted(p.name for p in tmp_path.iterdir())
    assert created == [] or all(name.startswith(".") for name in created), created
