"""AppTest: the Monitor page without a model, with a model and no report, and with reports: alarm, badges, embedded
Evidently report, history, drill-down to the review queue, and the report and traffic buttons queueing jobs."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from backend.core.enums import JobKind, ReviewSource
from backend.core.settings import Settings, get_settings
from backend.monitoring.service import build_drift_report
from backend.store import jobs as job_store
from backend.store import review as review_store
from backend.store.engine import dispose_all, session_scope
from tests.pages.apptest_utils import all_text, open_page
from tests.utils.monitoring import add_monitored_model, send_shifted

PAGE = "pages/monitor.py"
SLOW_RUN_S = 180  # a run embeds a 4 MB report and draws a gallery; the shared CI machine can be very busy


@pytest.fixture(scope="module", name="monitored_home")
def fixture_monitored_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with a calm report and then a dark-traffic report, built once for this file."""
    from tests.utils.homes import workspace_at

    home = tmp_path_factory.mktemp("monitor_page") / "workspace"
    with workspace_at(home):
        scratch = home.parent / "scratch"
        add_monitored_model(scratch)
        send_shifted(scratch, [("none", 40, 1)])
        build_drift_report(window=40)
        send_shifted(scratch, [("dark", 40, 2)])
        build_drift_report(window=40)
    return home


@pytest.fixture(name="with_reports")
def fixture_with_reports(workspace: Settings, monitored_home: Path) -> Settings:
    """A copy of the monitored workspace as this test's own."""
    dispose_all()
    shutil.rmtree(workspace.home, ignore_errors=True)
    shutil.copytree(monitored_home, workspace.home)
    get_settings.cache_clear()
    return get_settings()


def test_without_a_model_the_page_explains(workspace: Settings) -> None:
    at = open_page(PAGE, timeout=SLOW_RUN_S)
    text = all_text(at)
    assert "No model serves yet" in text and "No drift report yet" in text


def test_latest_report_with_alarm_badges_and_embedded_report(with_reports: Settings) -> None:
    with session_scope() as session:  # other jobs ran: the report and traffic panels must not say "no jobs"
        for _ in range(3):
            job_store.create_job(session=session, kind=JobKind.TRAIN, params={}, title="Train lunch v1")
    at = open_page(PAGE, timeout=SLOW_RUN_S)
    text = all_text(at)
    assert "No jobs yet" not in text
    assert "No report job yet." in text and "No traffic job yet." in text
    assert "Drift alarm" in text and "brightness" in text
    assert ":red-badge[📈 brightness: drift]" in text
    assert ":green-badge[width: ok]" in text
    assert "evidently ui --workspace" in text
    # the label-free figures of the dark window: the reference version has no labelled held-out split, so the
    # estimate is shown as uncalibrated with its 0-1 interval, beside the embedding test's verdict and the map
    assert "Accuracy (mAP50) without labels" in text and "on the last 40 pictures" in text
    assert "(0.00–1.00)" in text and "uncalibrated" in text
    assert "MMD test on its image embeddings" in text
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"), "the 2-D embedding map is drawn"
    frames = at.get("iframe")
    assert frames, "the Evidently report is embedded"
    assert "Dataset Drift" in str(frames[0].proto)  # Evidently's own HTML report
    # ... inside a frame of its own that may run its scripts and nothing else (no same origin, no dialogs)
    assert frames[0].proto.srcdoc.count("<iframe ") == 1
    assert '<iframe sandbox="allow-scripts" ' in frames[0].proto.srcdoc


def test_drill_down_sends_the_dark_pictures_to_review(with_reports: Settings) -> None:
    at = open_page(PAGE, timeout=SLOW_RUN_S)
    assert at.selectbox(key=next(s.key for s in at.selectbox if s.key.startswith("drill-feature-"))).value in (
        "brightness",
        "contrast",
        "sharpness",
    )
    feature_box = at.selectbox(key=next(s.key for s in at.selectbox if s.key.startswith("drill-feature-")))
    feature_box.set_value("brightness").run()
    assert not at.exception
    assert "where brightness below" in all_text(at)
    send = next(b for b in at.button if b.key and b.key.startswith("drill-send-"))
    assert send.label.startswith("Send ") and "pictures to the review queue" in send.label
    send.click().run()
    assert not at.exception
    assert "to the review queue" in all_text(at)
    with session_scope() as session:
        items = review_store.list_review_items(session=session, status="open")
    assert items and all(i.source == ReviewSource.DRIFT and "brightness below" in i.reason for i in items)


def test_buttons_queue_a_report_and_simulated_traffic(with_reports: Settings) -> None:
    at = open_page(PAGE, timeout=SLOW_RUN_S)
    at.button(key="monitor-build").click().run()
    assert not at.exception
    at.selectbox(key="monitor-shift").select_index(2)  # blur
    at.number_input(key="monitor-images").set_value(5)
    next(b for b in at.button if b.label == "Send traffic").click().run()
    assert not at.exception
    with session_scope() as session:
        kinds = {j.kind: j for j in job_store.list_jobs(session=session, limit=10)}
    assert JobKind.DRIFT_REPORT in kinds and JobKind.SIMULATE_TRAFFIC in kinds
    assert kinds[JobKind.SIMULATE_TRAFFIC].params == {"shift": "blur", "images": 5, "seed": 0}


def test_home_shows_the_drift_status_and_links_to_monitor(with_reports: Settings) -> None:
    at = open_page(timeout=SLOW_RUN_S)
    text = all_text(at)
    assert "Drift Drift found" in text and "Drifted: brightness" in text
    drifted = re.search(r"(\d+) of (\d+) features drifted over 40 recent predictions", text)
    assert drifted and 1 <= int(drifted[1]) <= int(drifted[2]), "the drifted share is shown as counts"
    assert "Accuracy of the production model without labels (mAP50): estimated" in text
    assert any("monitor" in el.proto.page for el in at.get("page_link"))


def test_error_rates_from_one_feedback_per_class_show_the_count_and_interval(
    workspace: Settings, tmp_path: Path
) -> None:
    from backend.serving.service import record_feedback
    from tests.utils.actors import ADMIN

    add_monitored_model(tmp_path, reference_images=8)
    ids = send_shifted(tmp_path, [("none", 2, 1)])
    record_feedback(ids[0], "missed", class_name="apple", actor=ADMIN)
    record_feedback(ids[1], "missed", class_name="banana", actor=ADMIN)
    at = open_page(PAGE, timeout=SLOW_RUN_S)
    table = next(df.value for df in at.dataframe if "error rate" in df.value.columns)
    rows = table.set_index("class")
    for name in ("apple", "banana"):
        assert rows.loc[name, "feedback"] == 1 and rows.loc[name, "missed"] == 1
        assert rows.loc[name, "error rate"] == "too few to tell (1 of 1; 95 % interval 0.21–1.00)"
    numeric = set(table.select_dtypes("number").columns)
    assert numeric == {"feedback", "correct", "wrong", "missed"}, "the rate is never a bare number such as 1.0"
    assert "95 % (Wilson) interval" in all_text(at) and not at.get("arrow_vega_lite_chart"), "no rate to chart yet"


def test_stated_error_rates_are_charted_with_their_interval() -> None:
    from backend.core.stats import count_rate
    from backend.monitoring.views import ClassErrorRate
    from ui.monitor.history import error_rate_chart

    rates = [ClassErrorRate("apple", correct=9, wrong=2, missed=1, rate=count_rate(3, 12))]
    spec = error_rate_chart(rates).to_dict()
    row = spec["datasets"][next(iter(spec["datasets"]))][0]
    assert row["rate"] == 0.25 and row["of"] == "3 of 12"
    assert (round(row["low"], 2), round(row["high"], 2)) == (0.09, 0.53)
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["rule", "point"]


def _log_boxes(when: datetime, classes: list[str]) -> None:
    from backend.store import predictions as prediction_store

    with session_scope() as session:
        prediction_store.add_prediction(
            session=session,
            image_name="lunch.jpg",
            detections=[{"class": name, "confidence": 0.9, "box": [0, 0, 10, 10]} for name in classes],
            conf=0.25,
            iou=0.7,
            created_at=when,
        )


def test_class_share_with_one_hour_of_detections_is_drawn_with_its_basis(workspace: Settings, tmp_path: Path) -> None:
    """Detections all in one hour once left the class-share area chart blank (an area needs two points)."""
    add_monitored_model(tmp_path, reference_images=8)
    hour = datetime(2026, 12, 8, 9, 0)
    _log_boxes(hour + timedelta(minutes=5), ["apple", "apple", "banana"])
    _log_boxes(hour + timedelta(minutes=20), ["apple"])
    at = open_page(PAGE, timeout=SLOW_RUN_S)
    text = all_text(at)
    assert "Share of 4 detected boxes in the last 2 logged pictures." in text
    assert "All of them fall in the hour from 2026-12-08 09:00" in text
    bars = [c for c in at.get("vega_lite_chart") + at.get("arrow_vega_lite_chart") if '"bar"' in c.proto.spec]
    assert bars, "the shares are drawn as bars, not as a blank area chart"

    _log_boxes(hour + timedelta(hours=2), ["banana"])  # a second hour: the chart over time
    at.run(timeout=SLOW_RUN_S)
    text = all_text(at)
    assert "Share of 5 detected boxes in the last 3 logged pictures. Per hour (UTC)." in text
    assert "All of them fall" not in text
