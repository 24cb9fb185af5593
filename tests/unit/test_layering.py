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


UI_FILES = [ROOT / "Home.py", *_py_files("pages", "ui")]
FORBIDDEN_IN_UI = ("sqlalchemy", "ultralytics", "subprocess", "torch", "clearml", "backend.models", "backend.db")


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_are_ui_only(path: Path) -> None:
    bad = {n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN_IN_UI)}
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: pages call backend/ functions instead"
    assert "time.sleep" not in path.read_text(encoding="utf-8"), "pages poll with st.fragment, they never sleep"


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
