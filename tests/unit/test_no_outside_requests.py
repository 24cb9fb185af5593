"""The console makes no request outside this machine, in the browser too: no icon names Streamlit would fetch.

Streamlit turns a `:material/name:` page icon into a tab icon fetched from fonts.gstatic.com, so the UI uses emoji
and a favicon file from the repo instead. The browser test tests/e2e/test_tour.py watches the real requests.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ui_sources() -> list[Path]:
    files = [ROOT / "Home.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").rglob("*.py"))]
    return files + ([ROOT / "detect_app.py"] if (ROOT / "detect_app.py").is_file() else [])


def test_no_material_icon_names_in_the_ui() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _ui_sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ":material/" in line
    ]
    assert found == [], f"Material icon names make the browser fetch from an outside font server: {found}"


def test_the_tab_icon_is_a_file_in_the_repo() -> None:
    favicon = ROOT / "ui" / "assets" / "favicon.png"
    assert favicon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "page_icon=FAVICON" in (ROOT / "Home.py").read_text(encoding="utf-8")
