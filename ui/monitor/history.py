"""History charts: drifted share and each feature's drift strength per report, class share over time, error rates."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from backend.monitoring.views import (
    ClassErrorRate,
    class_share_over_time,
    error_rates,
    history_frame,
    report_history,
)
from ui.widgets.charts import show_chart
from ui.widgets.text import plural


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
    basis = (
        f"Share of {plural(int(shares.attrs.get('boxes', 0)), 'detected box', 'detected boxes')} in the last "
        f"{plural(int(shares.attrs.get('pictures', 0)), 'logged picture')}."
    )
    if len(shares.index) < 2:  # one bucket: an area over time would draw nothing, so the shares as bars
        first = pd.Timestamp(shares.index[0])
        latest = shares.iloc[0].sort_values(ascending=False).rename("share")
        st.bar_chart(latest, horizontal=True, height=40 + 28 * len(latest))
        st.caption(
            f"{basis} All of them fall in the {freq} from {first:%Y-%m-%d %H:%M} (UTC); the chart over time starts "
            f"when a second {freq} has detections."
        )
        return
    st.area_chart(shares, height=260)
    st.caption(f"{basis} Per {freq} (UTC).")


def error_rate_frame(rates: list[ClassErrorRate]) -> pd.DataFrame:
    """One row per class: its feedback counts and its error rate in words (count and 95 % interval always shown)."""
    rows = [
        {
            "class": r.name,
            "feedback": r.feedback,
            "correct": r.correct,
            "wrong": r.wrong,
            "missed": r.missed,
            "error rate": r.rate.text(),
        }
        for r in rates
    ]
    return pd.DataFrame(rows, columns=["class", "feedback", "correct", "wrong", "missed", "error rate"])


def error_rate_chart(rates: list[ClassErrorRate]) -> alt.LayerChart:
    """The stated rates as points with their 95 % interval as a bar (classes with enough feedback only)."""
    frame = pd.DataFrame(
        [
            {"class": r.name, "rate": r.rate.value, "low": r.rate.low, "high": r.rate.high, "of": r.rate.count_text}
            for r in rates
        ]
    )
    base = alt.Chart(frame).encode(y=alt.Y("class:N", title=None, sort="-x"))
    interval = base.mark_rule(strokeWidth=3, opacity=0.5).encode(
        x=alt.X("low:Q", title="error rate (95 % interval)", scale=alt.Scale(domain=[0, 1])), x2="high:Q"
    )
    point = base.mark_point(filled=True, size=80).encode(
        x="rate:Q",
        tooltip=[
            "class",
            alt.Tooltip("rate:Q", format=".2f"),
            alt.Tooltip("low:Q", format=".2f"),
            alt.Tooltip("high:Q", format=".2f"),
            alt.Tooltip("of:N", title="wrong or missed"),
        ],
    )
    return (interval + point).properties(height=max(120, 30 * len(frame)))


def error_rate_ui() -> None:
    """Per-class error rate from end-user feedback on the Detect page, each with its count and 95 % interval."""
    rates = error_rates()
    if not rates:
        st.caption("No end-user feedback yet. People mark detections right or wrong on the Detect page.")
        return
    st.caption(
        "Error rate: feedback that says wrong or missed, of all feedback on the class, with its 95 % (Wilson) "
        f'interval. A class with fewer than {rates[0].rate.minimum} feedback reads "too few to tell".'
    )
    stated = [r for r in rates if r.rate.enough]
    if stated:
        show_chart(error_rate_chart(stated))
    st.dataframe(error_rate_frame(rates), hide_index=True, width="stretch")
