"""Actions: build a report now, and simulate traffic with a shift (both background jobs)."""

from __future__ import annotations

import streamlit as st

from backend.core.enums import JobKind
from backend.core.params import get_params
from backend.monitoring.tasks import start_drift_report, start_simulated_traffic
from backend.monitoring.traffic import TrafficShift
from backend.monitoring.views import window_progress
from ui.widgets.calls import call
from ui.widgets.jobs import jobs_panel
from ui.widgets.shell import current_actor

SHIFT_HELP = {
    TrafficShift.NONE: "as drawn: the no-drift control",
    TrafficShift.DARK: "a dim room",
    TrafficShift.BLUR: "camera shake or a dirty lens",
    TrafficShift.BACKGROUND: "another table: a checked cloth",
    TrafficShift.CLASS_MIX: "mostly bread, pizza and cheese",
}


def report_action_ui() -> None:
    """Window size and a button that queues a report."""
    params = get_params().monitor
    new, total = window_progress()
    every = params.auto_report_every
    auto = f"automatic report every {every} new predictions" if every else "automatic reports are off"
    st.caption(f"{total} predictions logged; {new} since the last report ({auto}).")
    window = st.number_input(
        "Latest predictions to compare",
        min_value=params.min_window,
        max_value=1_000_000,
        value=params.window,
        step=50,
        key="monitor-window",
    )
    if st.button("Build a drift report now", type="primary", key="monitor-build"):
        job_id = call(start_drift_report, actor=current_actor(), window=int(window), action="Starting the report")
        if job_id is not None:
            st.toast(f"Drift report queued (job {job_id})")


def traffic_ui() -> None:
    """Generated pictures with a shift sent through the serving model, so drift appears on purpose."""
    with st.form("monitor-traffic", border=True):
        st.markdown("**Simulate traffic**: send generated food pictures with a shift through the serving model.")
        shift = st.selectbox(
            "Shift",
            list(TrafficShift),
            format_func=lambda s: f"{s.value}: {SHIFT_HELP[s]}",
            key="monitor-shift",
        )
        left, right = st.columns(2)
        images = left.number_input("Pictures", min_value=1, max_value=2000, value=200, step=50, key="monitor-images")
        seed = right.number_input("Seed", min_value=0, value=0, step=1, key="monitor-seed")
        if st.form_submit_button("Send traffic"):
            job_id = call(
                start_simulated_traffic,
                actor=current_actor(),
                shift=str(shift),
                images=int(images),
                seed=int(seed),
                action="Simulating",
            )
            if job_id is not None:
                st.toast(f"Traffic job {job_id} queued")


def monitor_jobs_ui() -> None:
    """Live progress of the latest report and traffic jobs."""
    jobs_panel(kind=JobKind.DRIFT_REPORT, limit=2, key="monitor-report-jobs", empty="No report job yet.")
    jobs_panel(kind=JobKind.SIMULATE_TRAFFIC, limit=2, key="monitor-traffic-jobs", empty="No traffic job yet.")
