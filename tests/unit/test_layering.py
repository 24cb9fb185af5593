"""The layering rules of docs/ARCHITECTURE.md, checked on the source: backend/ and jobs/ never import streamlit,
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


# The backend's layers, lowest first (docs/ARCHITECTURE.md, whose table a test below compares with this one). A
# package may import its own layer and any lower one, never a higher one. Packages on one row are peers that must
# not import each other.
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


def _layer_violations(path: Path, own: str) -> list[str]:
    """The imports of a file of backend package `own` that go up the layers or sideways to a peer, in the rule's words.

    `path` may lie anywhere (the probe lives under tmp_path): `own` says which package it stands for.
    """
    if own not in RANK:
        return [f"its package '{own}' is outside every layer of the LAYERS table"]
    wrong = []
    for module in sorted(_backend_imports(path)):
        target = _package_of(module)
        if target is None or target == own or target not in RANK:
            continue
        if RANK[target] > RANK[own]:
            wrong.append(f"{module} (layer '{target}' is above '{own}': lower layers never import higher ones)")
        elif RANK[target] == RANK[own]:
            wrong.append(f"{module} ('{target}' and '{own}' are peers: move the shared part down a layer)")
    return wrong


def _own_package(path: Path) -> str:
    return path.relative_to(ROOT / "backend").parts[0]


@pytest.mark.parametrize("path", BACKEND_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_backend_imports_flow_down_the_layers(path: Path) -> None:
    wrong = _layer_violations(path, _own_package(path))
    assert not wrong, f"{path.relative_to(ROOT)} imports " + "; ".join(wrong)


def test_layering_rule_catches_a_wrong_way_import(tmp_path: Path) -> None:
    """The rule itself works: a core module importing the store, or a peer importing a peer, is reported with the
    rule's words (the probe lives under tmp_path, never in the source tree)."""
    probe = tmp_path / "probe.py"
    probe.write_text("from backend.store.engine import session_scope\nimport backend.registry.gate\n", encoding="utf-8")
    wrong = _layer_violations(probe, "core")
    assert [w.split()[0] for w in wrong] == [
        "backend.registry.gate",
        "backend.store.engine",
        "backend.store.engine.session_scope",
    ]
    assert all("lower layers never import higher ones" in w for w in wrong), wrong
    assert _layer_violations(probe, "store") == [
        "backend.registry.gate (layer 'registry' is above 'store': lower layers never import higher ones)"
    ]
    assert _layer_violations(probe, "monitoring") == [
        "backend.registry.gate ('registry' and 'monitoring' are peers: move the shared part down a layer)"
    ]
    assert _layer_violations(probe, "console") == []


def _is_backend_module(dotted: str) -> bool:
    """Whether `backend.x.y` names a module or package of the source tree (not a class or function in one)."""
    where = ROOT.joinpath(*dotted.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def _private_imports(path: Path, module: str) -> list[str]:
    """Private names (leading underscore) that the file of backend module `module` takes from another module.

    Caught: `from backend.x.y import _z`, `import backend.x.y._z` / `from backend.x import _y` (a private module), and
    `_z` read as an attribute of a backend module the file imported (`import backend.x.y as m; m._z`,
    `from backend.x import y; y._z`). Dunder names (`__version__`) are not private, and neither is an attribute of
    a class (`Record._replace` is a NamedTuple's public API). `module` says which module the file is, so a module
    may use its own private names and the probe can live under tmp_path.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    bound: dict[str, str] = {}  # local name -> the backend module it is bound to

    def private(name: str) -> bool:
        return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith("backend."):
                    continue
                parts = alias.name.split(".")
                if any(private(part) for part in parts):
                    found.append(f"import {alias.name}")
                bound[alias.asname or parts[0]] = alias.name if alias.asname else parts[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("backend."):
            if any(private(part) for part in node.module.split(".")):
                found.append(f"from {node.module} import ...")
            for alias in node.names:
                if private(alias.name) and node.module != module:
                    found.append(f"from {node.module} import {alias.name}")
                elif _is_backend_module(f"{node.module}.{alias.name}"):
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and private(node.attr)):
            continue
        chain: list[str] = []
        base: ast.expr = node.value
        while isinstance(base, ast.Attribute):
            chain.append(base.attr)
            base = base.value
        if isinstance(base, ast.Name) and base.id in bound:
            owner = ".".join([bound[base.id], *reversed(chain)])
            if owner != module:
                found.append(f"{owner}.{node.attr}")
    return sorted(set(found))


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


@pytest.mark.parametrize("path", BACKEND_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_backend_takes_no_private_name_from_another_module(path: Path) -> None:
    found = _private_imports(path, _module_name(path))
    assert not found, (
        f"{path.relative_to(ROOT)} uses {found}: a name with a leading underscore belongs to its module; make it "
        "public (with a docstring) where it is shared, or move the code"
    )


def test_private_name_rule_catches_every_form(tmp_path: Path) -> None:
    """The rule itself works, on a probe under tmp_path (never in the source tree)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from backend.data.formats.prepared import PrepareResult, _link_or_copy\n"
        "import backend.data.split as split\n"
        "from backend.data import archive\n"
        "import backend.core.settings\n"
        "from backend.core import __version__\n"
        "split._half_up(0.5)\n"
        "archive._check_member_name('a')\n"
        "backend.core.settings._private\n"
        "archive.__name__\n"
        "PrepareResult._fields\n"
        "self_thing._x\n",
        encoding="utf-8",
    )
    assert _private_imports(probe, "backend.core.probe") == [
        "backend.core.settings._private",
        "backend.data.archive._check_member_name",
        "backend.data.split._half_up",
        "from backend.data.formats.prepared import _link_or_copy",
    ]
    # A module may use its own private names however it reaches them.
    assert _private_imports(probe, "backend.data.split") == [
        "backend.core.settings._private",
        "backend.data.archive._check_member_name",
        "from backend.data.formats.prepared import _link_or_copy",
    ]
    probe.write_text("import backend.data._hidden\nfrom backend.data._hidden import thing\n", encoding="utf-8")
    assert _private_imports(probe, "backend.core.probe") == [
        "from backend.data._hidden import ...",
        "import backend.data._hidden",
    ]


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


def _documented_layers() -> list[tuple[str, ...]]:
    """The backend layer table of docs/ARCHITECTURE.md ("| rank | packages | owns |"), lowest first."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            rows.append((int(cells[0]), tuple(name.strip() for name in cells[1].split(","))))
    assert rows, "docs/ARCHITECTURE.md has no backend layer table"
    assert [rank for rank, _ in rows] == list(range(len(rows))), "the table's ranks must run 0, 1, 2, …"
    return [packages for _, packages in rows]


def test_the_architecture_page_shows_this_tests_layer_table() -> None:
    """docs/ARCHITECTURE.md and LAYERS name the same packages in the same order, so the page cannot drift."""
    assert _documented_layers() == LAYERS
