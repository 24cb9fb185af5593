"""Browser test: the Monitor page shows the embedded Evidently report and sends a drilled-down picture to review."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from backend.core.enums import ReviewSource
from backend.core.settings import get_settings
from backend.store import review as review_store
from backend.store.engine import dispose_all, session_scope
from backend.store.records import ReviewItem
from tests.e2e.conftest import Console, error_texts, start_console, stop_console, wait_idle
from tests.utils.homes import build_home
from tests.utils.monitoring import add_monitored_model, send_shifted

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """`streamlit run Home.py` over a workspace whose latest drift report found dark traffic."""
    from backend.monitoring.service import build_drift_report

    root = tmp_path_factory.mktemp("e2e_monitor")
    home = root / "workspace"

    def fill() -> None:
        add_monitored_model(root / "scratch")
        send_shifted(root / "scratch", [("dark", 40, 2)])
        build_drift_report(window=40)

    build_home(home, fill)
    proc, info = start_console(home, {"PLATEOPS_AUTO_DEMO": "false"})
    try:
        yield info
    finally:
        stop_console(proc)


def _review_items(home: Path) -> list[ReviewItem]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLATEOPS_HOME", str(home))
        get_settings.cache_clear()
        dispose_all()
        try:
            with session_scope() as session:
                return review_store.list_review_items(session=session, status="open")
        finally:
            dispose_all()
            get_settings.cache_clear()


def test_embedded_report_and_drill_down_to_review(console: Console, page: Page, screenshots: Path) -> None:
    page.goto(f"{console.url}/monitor")
    wait_idle(page)
    page.get_by_role("heading", name="Monitor").first.wait_for()
    page.get_by_text("Drift alarm").first.wait_for()

    # Evidently's own report, rendered by its bundled scripts in a sandboxed frame inside the page's frame
    report = page.frame_locator("iframe").first.frame_locator("iframe")
    report.get_by_text("Dataset Drift").first.wait_for(timeout=60_000)
    report.get_by_text("brightness").first.wait_for()
    assert not error_texts(page), error_texts(page)
    page.screenshot(path=str(screenshots / "monitor.png"), full_page=True)

    page.get_by_role("tab", name="Drill-down").click()
    page.get_by_text("where brightness below").first.wait_for()
    page.locator("[data-testid='stImage'] img").first.wait_for()
    send = page.get_by_role("button", name="to the review queue")
    send.wait_for()
    label = send.inner_text()
    sent = int(label.split()[1])
    assert sent >= 30, label
    send.click()
    page.get_by_text(f"Sent {sent} pictures to the review queue").first.wait_for()
    wait_idle(page)
    assert not error_texts(page), error_texts(page)

    items = _review_items(console.home)
    assert len(items) == sent
    assert all(i.source == ReviewSource.DRIFT and "brightness below" in i.reason for i in items)
