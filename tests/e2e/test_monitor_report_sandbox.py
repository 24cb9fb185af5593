"""Browser: the Monitor page's Evidently report cannot run script in the console. Evidently writes the predicted
classes into a `<script>` block unescaped, so a class named `</script><img onerror=…>` (a model or dataset from before
imports refused such names) becomes script. The report runs in a sandboxed frame: no dialog, no change to the tab,
while a clean report still draws."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import Console, error_texts, start_console, stop_console, wait_idle
from tests.utils.homes import build_home, workspace_at

pytestmark = pytest.mark.e2e

# Runs in whichever frame it lands: a dialog, then the console tab's title (only reachable from the console's origin).
PAYLOAD = "</script><img src=x onerror=alert(1);top.document.title=1337>"


def _add_report(folder: Path, classes: list[str]) -> None:
    """A drift report whose predicted classes are `classes`, stored as the latest (what `build_drift_report` makes
    from the prediction log, with the pictures' properties drawn at random)."""
    from backend.core.params import get_params
    from backend.monitoring.reports import build_report, write_report
    from backend.monitoring.tables import ALL_COLUMNS, NUMERIC_COLUMNS
    from backend.store import drift as drift_store
    from backend.store.engine import session_scope

    rng = np.random.default_rng(0)

    def frame(shift: float) -> pd.DataFrame:
        data: dict[str, object] = {c: rng.normal(100 + shift, 10, 40) for c in NUMERIC_COLUMNS}
        data["pred_class"] = rng.choice(classes, 40)
        return pd.DataFrame(data)[list(ALL_COLUMNS)]

    built = build_report(frame(0), frame(30), get_params().monitor)
    paths = write_report(built, folder)
    with session_scope() as session:
        drift_store.add_drift_report(
            session=session,
            n_reference=40,
            n_current=40,
            drift_share=built.result.share,
            drifted=built.result.drift_detected,
            details=built.result.details(),
            html_path=str(paths["html"]),
        )


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A console whose latest drift report is a clean one (classes apple and banana)."""
    root = tmp_path_factory.mktemp("e2e_report_sandbox")
    home = build_home(root / "workspace", lambda: _add_report(root / "clean", ["apple", "banana"]))
    proc, info = start_console(home, {"PLATEOPS_AUTO_DEMO": "false"})
    try:
        yield info
    finally:
        stop_console(proc)


def test_report_draws_in_its_sandbox_and_script_in_class_names_runs_nowhere(console: Console, page: Page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{console.url}/monitor")
    wait_idle(page)
    report = page.frame_locator("iframe").first.frame_locator("iframe")  # the sandboxed frame inside the page's
    report.get_by_text("Dataset Drift").first.wait_for(timeout=60_000)  # Evidently's scripts still draw the report
    report.get_by_text("pred_class").first.wait_for()
    title = page.title()

    with workspace_at(console.home):
        _add_report(console.home.parent / "hostile", [PAYLOAD, "apple"])
    page.reload()
    wait_idle(page)
    page.get_by_text("Evidently report").first.wait_for()
    frame = page.frame_locator("iframe").first.frame_locator("iframe")
    frame.locator("body").wait_for(state="attached")
    frame.locator("img[src='x']").first.wait_for(state="attached")  # the payload did land in the report as HTML
    page.wait_for_timeout(2000)  # its onerror fires as soon as the image fails; give it time to try
    assert dialogs == [], f"script from a class name opened dialogs: {dialogs}"
    assert page.title() == title != "1337", "script from a class name changed the console's tab"
    assert not error_texts(page), error_texts(page)
