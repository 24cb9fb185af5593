"""Jobs: every background job with live progress, log and cancel."""

from __future__ import annotations

import streamlit as st

from ui.widgets.jobs import jobs_panel

st.title("Jobs")
st.caption(
    "Imports, validation, training and exports run in the background, one process each. "
    "You can leave this page; they keep going. Cancel stops the job and everything it started."
)
kinds = {"All": None, "Training": "train", "Validation": "validate", "Import": "import_dataset", "Demo": "demo_dataset"}
choice = st.segmented_control("Show", list(kinds), default="All")
limit = st.slider("How many", 5, 100, 20, step=5)
jobs_panel(kind=kinds.get(choice or "All"), limit=limit, key="jobs-page")
