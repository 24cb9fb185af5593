"""The latest drift report: alarm, per-feature badges, Evidently's tests and the embedded HTML report."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from backend.monitoring.views import accuracy_estimate, feature_table
from backend.store.records import DriftReport
from ui.widgets.frames import third_party_html
from ui.widgets.text import ago, plain

REPORT_HEIGHT = 900


def alarm_ui(report: DriftReport) -> None:
    """The headline: drift or not, over which window, when."""
    features = report.details.get("features", [])
    drifted = [f["name"] for f in features if f.get("drifted")]
    tested = [f for f in features if f.get("method") != "not tested"]
    when = f"{ago(report.created_at)} ({report.trigger})"
    window = f"{report.n_current} recent predictions vs {report.n_reference} training images"
    if report.drifted:
        st.warning(
            f"**Drift alarm**: {len(drifted)} of {len(tested)} features drifted ({', '.join(drifted)}). "
            f"{window}; report {when}.",
            icon="⚠️",
        )
    else:
        extra = f" Drifted below the alarm share: {', '.join(drifted)}." if drifted else ""
        st.success(f"**No drift alarm.** {window}; report {when}.{extra}", icon="✅")


def estimate_ui(report: DriftReport) -> None:
    """The window's mAP50 estimated without labels, its interval, the figure at promotion, and embedding drift."""
    found = accuracy_estimate(report)
    if found is None:
        st.caption("This report predates the accuracy estimate; build a new one to see it.")
        return
    line = f"**Accuracy (mAP50) without labels**: {found.sentence()}."
    if found.alert:
        # an alert about the model, like the drift alarm: a warning, not an error of the page
        st.warning(line + " Below the alert threshold (`monitor.estimate_alert` in params.yaml).", icon="🔻")
    else:
        st.info(line, icon="🎯")
    if found.embedding_drift is None:
        st.caption("Embedding drift: not tested (this model file carries no embeddings; export it again).")
    else:
        verdict = ":red-badge[drift]" if found.embedding_drift else ":green-badge[ok]"
        st.markdown(
            f"**What the model sees** (MMD test on its image embeddings): {verdict} p = {found.embedding_p:.3f}"
        )
    points = report.details.get("embedding_map") or {}
    if points.get("reference") and points.get("current"):
        import pandas as pd

        frame = pd.concat(
            [
                pd.DataFrame(points["reference"], columns=["pc1", "pc2"]).assign(side="training"),
                pd.DataFrame(points["current"], columns=["pc1", "pc2"]).assign(side="this window"),
            ]
        )
        st.scatter_chart(frame, x="pc1", y="pc2", color="side", height=280)


def badges_ui(report: DriftReport) -> None:
    """One badge per feature: red when it drifted, green when not, grey when it could not be tested."""
    features = report.details.get("features", [])
    for title, kind in (("Image properties", "image"), ("Predictions", "prediction")):
        group = [f for f in features if f.get("kind") == kind]
        if not group:
            continue
        parts = []
        for f in group:
            if f.get("method") == "not tested":
                parts.append(f":gray-badge[{f['name']}: not tested]")
            elif f.get("drifted"):
                parts.append(f":red-badge[📈 {f['name']}: drift]")
            else:
                parts.append(f":green-badge[{f['name']}: ok]")
        st.markdown(f"**{title}** " + " ".join(parts))


def details_ui(report: DriftReport) -> None:
    """The feature table and Evidently's tests, folded."""
    with st.expander("Feature tests and figures", expanded=False):
        st.dataframe(feature_table(report), hide_index=True, width="stretch")
        tests = report.details.get("tests", [])
        if tests:
            failed = [t for t in tests if t.get("status") != "SUCCESS"]
            st.caption(f"Evidently tests: {len(tests) - len(failed)} passed, {len(failed)} failed.")
            for t in failed:
                st.markdown(f":red-badge[FAIL] {plain(t.get('name'))}: {plain(t.get('description'))}")


def embedded_report_ui(report: DriftReport) -> None:
    """Evidently's own HTML report inside the page (self-contained: it loads nothing), in a sandboxed frame."""
    path = Path(report.html_path) if report.html_path else None
    if path is None or not path.is_file():
        st.warning("This report's HTML file is gone from the workspace; its figures above are still kept.")
        return
    st.markdown("**Evidently report**")
    # Evidently writes the data (class names from a model or dataset included) into its scripts unescaped: the
    # report runs in a sandboxed frame of its own, so nothing in it can reach the console.
    third_party_html(_read_html(str(path), path.stat().st_mtime_ns), height=REPORT_HEIGHT, title="Evidently report")
    st.download_button(
        "Download the report (HTML)",
        data=_read_html(str(path), path.stat().st_mtime_ns),
        file_name=f"drift-report-{report.id}.html",
        mime="text/html",
        key=f"download-report-{report.id}",
    )


@st.cache_data(max_entries=4, show_spinner=False)
def _read_html(path: str, mtime_ns: int) -> str:
    """The report file's text, cached by path and modification time."""
    del mtime_ns
    return Path(path).read_text(encoding="utf-8")
