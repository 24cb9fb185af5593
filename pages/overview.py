"""Home: where things stand — data, jobs, the production model, drift — and what to do next."""

from __future__ import annotations

import streamlit as st

from backend.console.overview import get_overview
from ui.home.cards import dataset_card_ui
from ui.widgets.jobs import jobs_panel
from ui.widgets.text import ago

st.title("PlateOps")
st.caption("Your food detector, from data to drift: import and check data, train, compare, serve and monitor.")

ov = get_overview()

c1, c2, c3, c4 = st.columns(4)
c1.metric("Datasets", len(ov.datasets))
c2.metric("Jobs running", sum(j.status == "running" for j in ov.active_jobs), help="Queued jobs wait for a free slot")
c3.metric("Production model", ov.production_model.name if ov.production_model else "none")
drift = ov.latest_drift
c4.metric(
    "Drift",
    ("Drift found" if drift.drifted else "No drift") if drift else "not checked",
    help=f"Drifted: {', '.join(ov.drifted_features)}" if ov.drifted_features else "Details on the Monitor page",
)

left, right = st.columns(2)

with left:
    st.subheader("Data")
    if not ov.datasets:
        demo_running = any(j.kind == "demo_dataset" for j in ov.active_jobs)
        if demo_running:
            st.info("The demo food dataset is being created. It appears here in a minute; progress is below.")
        else:
            st.info("No dataset yet. Import a COCO or YOLO dataset, or create the demo food set.")
        st.page_link("pages/datasets.py", label="Go to Datasets", icon="🖼️")
    for status in ov.datasets:
        dataset_card_ui(status)
    st.page_link("pages/datasets.py", label="Browse datasets", icon="🖼️")

with right:
    st.subheader("Models")
    if ov.production_model:
        m = ov.production_model
        map50 = m.scores.map50
        score = f" · mAP50 {map50:.2f}" if map50 is not None else ""
        st.success(f"**{m.name}** serves the Detect page{score} (promoted {ago(m.promoted_at)}).")
    elif ov.latest_run:
        st.info(f"No model promoted yet; the Detect page uses the newest run, **{ov.latest_run.name}**.")
        st.page_link("pages/models.py", label="Compare and promote", icon="🏆")
    else:
        st.info("No model yet. Train one on your dataset — the Quick CPU preset takes about 5 minutes.")
        st.page_link("pages/train.py", label="Train a model", icon="🏋️")
    st.subheader("Monitoring")
    if drift:
        share = f"{drift.drift_share:.0%} of features drifted"
        (st.warning if drift.drifted else st.success)(
            f"Last check {ago(drift.created_at)}: {share} over {drift.n_current} recent predictions."
            + (f" Drifted: {', '.join(ov.drifted_features)}." if ov.drifted_features else "")
        )
    elif ov.predictions:
        st.info(f"{ov.predictions} predictions logged, no drift check yet.")
    else:
        st.info("No predictions yet. Drift is checked once people use the Detect page.")
    st.page_link("pages/monitor.py", label="Open Monitor", icon="📈")
    if ov.open_reviews:
        st.caption(f"{ov.open_reviews} image(s) wait in the review queue.")
        st.page_link("pages/annotate.py", label="Review them", icon="✏️")

st.subheader("Jobs")
jobs_panel(limit=6, key="home-jobs")
st.page_link("pages/jobs.py", label="All jobs", icon="📋")
