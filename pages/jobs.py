"""Jobs: every background job with live progress, log and cancel."""

from __future__ import annotations

import streamlit as st

from backend.core.enums import JobKind
from ui.widgets.jobs import jobs_panel
from ui.widgets.shell import current_actor

current_actor()  # first: the sign-in screen and a stop for anyone not signed in, however the page is served

st.title("Jobs")
st.caption(
    "Imports, validation, training and exports run in the background, one process each. "
    "You can leave this page; they keep going. Cancel stops the job and everything it started."
)
kinds: dict[str, JobKind | None] = {
    "All": None,
    "Training": JobKind.TRAIN,
    "Validation": JobKind.VALIDATE,
    "Import": JobKind.IMPORT_DATASET,
    "Demo": JobKind.DEMO_DATASET,
}
choice = st.segmented_control("Show", list(kinds), default="All")
limit = st.slider("How many", 5, 100, 20, step=5)
jobs_panel(kind=kinds.get(choice or "All"), limit=limit, key="jobs-page")
