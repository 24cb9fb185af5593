"""History charts: drifted share and each feature's drift strength per report, class share over time, error rates."""

from __future__ import annotations

import streamlit as st

from backend.monitoring.views import class_share_over_time, error_rates, history_frame, report_history


def history_ui() -> None:
    """Drifted share and per-feature drift strength over the stored reports."""
    frame = history_frame(report_history())
    if frame.empty:
        st.caption("History appears after the first report.")
        return
    st.markdown("**Drifted share of features per report**")
    st.line_chart(frame.set_index("time")[["drifted share"]], height=220)
    features = [c for c in frame.columns if c not in ("report", "time", "drifted share", "alarm", "trigger")]
    chosen = st.multiselect(
        "Features to chart",
        features,
        default=features[:4],
        key="monitor-history-features",
        help="Drift strength: -log10 of the test's p-value (3 means p = 0.001, the default alarm threshold).",
    )
    if chosen:
        st.markdown("**Drift strength per feature** (higher is stronger drift)")
        st.line_chart(frame.set_index("time")[chosen], height=260)
    with st.expander("All reports", expanded=False):
        st.dataframe(frame, hide_index=True, width="stretch")


def class_share_ui() -> None:
    """Share of each detected class among all boxes, per hour or day."""
    freq = st.segmented_control("Bucket", ["hour", "day"], default="hour", key="monitor-class-bucket")
    shares = class_share_over_time(freq="D" if freq == "day" else "h")
    if shares.empty:
        st.caption("No detections logged yet.")
        return
    st.area_chart(shares, height=260)


def error_rate_ui() -> None:
    """Per-class error rate from end-user feedback on the Detect page."""
    rates = error_rates()
    if rates.empty:
        st.caption("No end-user feedback yet. People mark detections right or wrong on the Detect page.")
        return
    st.bar_chart(rates.set_index("class")[["error rate"]], height=240)
    st.dataframe(rates, hide_index=True, width="stretch")
