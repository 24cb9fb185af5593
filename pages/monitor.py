"""Monitor: drift of image properties and predictions against the training set (Evidently), with drill-down."""

from __future__ import annotations

import streamlit as st

from backend.core.errors import PlateOpsError
from backend.monitoring.service import evidently_dir
from backend.monitoring.tasks import maybe_start_auto_report
from backend.monitoring.views import latest_report
from backend.serving.service import ServingModel, serving_model
from ui.monitor.actions import monitor_jobs_ui, report_action_ui, traffic_ui
from ui.monitor.drilldown import gallery_ui, segment_ui
from ui.monitor.history import class_share_ui, error_rate_ui, history_ui
from ui.monitor.report import alarm_ui, badges_ui, details_ui, embedded_report_ui, estimate_ui
from ui.widgets.shell import current_actor
from ui.widgets.text import plain

current_actor()  # first: the sign-in screen and a stop for anyone not signed in, however the page is served

st.title("📈 Monitor")
st.caption(
    "Are the pictures people send like the ones the model was trained on? Evidently compares image properties "
    "(brightness, contrast, sharpness, saturation, size, file size) and the model's answers (class share, "
    "confidence, boxes per picture, box area) of recent predictions with the training set."
)


def _serving_model() -> ServingModel | None:
    """The model being monitored, or None (with the reason shown) when none can serve."""
    try:
        return serving_model()
    except PlateOpsError as exc:
        st.error(f"The serving model is unavailable: {plain(exc)}", icon="⛔")
        return None


model = _serving_model()
if model is None:
    st.info("No model serves yet, so there is nothing to monitor. Train one first.", icon="ℹ️")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
else:
    st.caption(f"Monitoring {plain(model.label)}.")
    try:
        maybe_start_auto_report()
    except PlateOpsError as exc:
        st.warning(f"The automatic report could not start: {plain(exc)}")

report = latest_report()
actions, jobs = st.columns([1, 1])
with actions:
    if model is not None:
        report_action_ui()
        traffic_ui()
with jobs:
    monitor_jobs_ui()

tab_report, tab_history, tab_classes, tab_drill = st.tabs(
    ["Latest report", "History", "Classes and feedback", "Drill-down"]
)
with tab_report:
    if report is None:
        st.info("No drift report yet. Build one above once predictions are logged (or simulate traffic).")
    else:
        alarm_ui(report)
        estimate_ui(report)
        badges_ui(report)
        details_ui(report)
        embedded_report_ui(report)
        st.caption(f"The same history in Evidently's own UI: `evidently ui --workspace {evidently_dir()}`")
with tab_history:
    history_ui()
with tab_classes:
    st.markdown("**Share of each detected class over time**")
    class_share_ui()
    st.markdown("**Error rate per class from end-user feedback**")
    error_rate_ui()
with tab_drill:
    if report is None:
        st.info("Drill-down works on a report's window; build a report first.")
    else:
        st.caption(f"Pictures of report {report.id}'s window ({report.n_current} predictions).")
        segment = segment_ui(report)
        if segment is not None:
            gallery_ui(report, segment)
