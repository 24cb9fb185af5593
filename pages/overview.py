"""Home: where things stand — data, jobs, the production model, drift — and what to do next."""

from __future__ import annotations

import streamlit as st

from backend.console.overview import get_overview
from backend.core.enums import JobKind
from ui.home.cards import dataset_card_ui, models_ui, status_tiles_ui
from ui.widgets.jobs import jobs_panel
from ui.widgets.shell import current_actor
from ui.widgets.text import ago, plural

current_actor()  # first: the sign-in screen and a stop for anyone not signed in, however the page is served

st.title("PlateOps")
st.caption("Your food detector, from data to drift: import and check data, train, compare, serve and monitor.")

ov = get_overview()
status_tiles_ui()  # refreshes itself: the tiles count what runs now, not what ran when the page opened

left, right = st.columns(2)

with left:
    st.subheader("Data")
    if not ov.datasets:
        demo_running = any(j.kind == JobKind.DEMO_DATASET for j in ov.active_jobs)
        if demo_running:
            st.info("The demo food dataset is being created. It appears here when the job below finishes.")
        else:
            st.info("No dataset yet. Import a COCO or YOLO dataset, or create the demo food set.")
    for status in ov.datasets:
        dataset_card_ui(status, has_runs=ov.latest_run is not None)
    st.page_link("pages/datasets.py", label="Go to Datasets", icon=":material/photo_library:")

with right:
    models_ui(ov)
    st.subheader("Monitoring")
    drift = ov.latest_drift
    if drift:
        # counts, not a percentage: 1 of 12 features says what a share of 8 % hides
        share = f"{len(ov.drifted_features)} of {plural(ov.tested_features, 'feature')} drifted"
        (st.warning if drift.drifted else st.success)(
            f"Last check {ago(drift.created_at)}: {share} over {plural(drift.n_current, 'recent prediction')}."
            + (f" Drifted: {', '.join(ov.drifted_features)}." if ov.drifted_features else "")
        )
    elif ov.predictions:
        st.info(f"{plural(ov.predictions, 'prediction')} logged, no drift check yet.")
    else:
        st.info("No predictions yet. Drift is checked once people use the Detect page.")
    st.page_link("pages/monitor.py", label="Open Monitor", icon=":material/monitoring:")
    if ov.open_reviews:
        waiting = "1 image waits" if ov.open_reviews == 1 else f"{ov.open_reviews} images wait"
        st.caption(f"{waiting} in the review queue.")
        st.page_link("pages/annotate.py", label="Review them", icon=":material/edit:")

st.subheader("Jobs")
jobs_panel(limit=6, key="home-jobs")  # reruns this page when a job finishes, so the cards above follow
st.page_link("pages/jobs.py", label="All jobs", icon=":material/list_alt:")
