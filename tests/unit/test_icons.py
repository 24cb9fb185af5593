"""Page icons are Material icons, not emoji: on a machine without an emoji font (common on servers and minimal
desktops) emoji render as empty boxes, while Streamlit ships its Material icon font with the app."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    ROOT / "Home.py",
    ROOT / "detect_app.py",
    *sorted((ROOT / "pages").glob("*.py")),
    *sorted((ROOT / "ui").rglob("*.py")),
]


def _page_icons(path: Path) -> list[tuple[int, str]]:
    """(line, icon) of every `st.Page(...)` and `page_link(...)` call with a literal icon."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"Page", "page_link"}
        ):
            for kw in node.keywords:
                if kw.arg == "icon" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    found.append((node.lineno, kw.value.value))
    return found


def test_the_navigation_has_icons_to_check() -> None:
    assert len(_page_icons(ROOT / "Home.py")) >= 9, "every page of the navigation has an icon"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_and_page_link_icons_are_material_icons(path: Path) -> None:
    emoji = [(line, icon) for line, icon in _page_icons(path) if not icon.startswith(":material/")]
    assert not emoji, f"{path.relative_to(ROOT)}: emoji page icons {emoji}"
