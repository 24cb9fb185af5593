"""The console makes no request outside this machine, in the browser too: no tab icon Streamlit would fetch.

Streamlit turns a `:material/name:` page icon into a tab icon fetched from fonts.gstatic.com unless the app sets its
own `page_icon`; both entry scripts set the favicon file from the repo, so the Material page icons (whose font
Streamlit ships) are drawn locally and never fetched. The browser test tests/e2e/test_tour.py watches the real
requests.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ui_sources() -> list[Path]:
    files = [ROOT / "Home.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").rglob("*.py"))]
    return files + ([ROOT / "detect_app.py"] if (ROOT / "detect_app.py").is_file() else [])


def test_no_tab_icon_is_a_material_icon_name() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _ui_sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "page_icon" in line and ":material/" in line
    ]
    assert found == [], f"a Material tab icon is fetched from an outside font server: {found}"


def test_the_tab_icon_is_a_file_in_the_repo() -> None:
    favicon = ROOT / "ui" / "assets" / "favicon.png"
    assert favicon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for entry in ("Home.py", "detect_app.py"):  # the app's own tab icon: a page's Material icon is never fetched
        assert "page_icon=str(FAVICON)" in (ROOT / entry).read_text(encoding="utf-8").replace(
            "page_icon=FAVICON", "page_icon=str(FAVICON)"
        ), entry
