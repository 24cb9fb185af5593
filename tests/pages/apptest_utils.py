"""Helpers for AppTest page tests."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def open_page(page: str | None = None, *, role: str | None = None, timeout: float = 60) -> AppTest:
    """Run Home.py (the router) and switch to `page` (e.g. "pages/train.py"); asserts no exception each run."""
    at = AppTest.from_file(str(PROJECT_ROOT / "Home.py"), default_timeout=timeout)
    if role:
        at.session_state["plateops_role"] = role
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if page:
        at.switch_page(page)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def all_text(at: AppTest) -> str:
    """Every markdown, caption, title, header, alert and metric text of the page, joined."""
    parts: list[str] = []
    for group in (
        at.title,
        at.header,
        at.subheader,
        at.markdown,
        at.caption,
        at.info,
        at.warning,
        at.error,
        at.success,
    ):
        parts.extend(str(el.value) for el in group)
    parts.extend(f"{m.label} {m.value}" for m in at.metric)
    return "\n".join(parts)
