"""Models: every run with its figures, comparisons, and the registry (promotion gate, rollback, model history)."""

from __future__ import annotations

import streamlit as st

from backend.registry.compare import model_table
from ui.models.compare import choose_runs_ui, comparison_ui
from ui.models.registry import history_ui, notice_ui, production_ui, promote_ui
from ui.models.shadow import shadow_ui
from ui.models.table import runs_table_ui
from ui.widgets.shell import current_actor

actor = current_actor()  # first: the sign-in screen and a stop for anyone not signed in

st.title("🏆 Models")
st.caption(
    "Every finished training run with its validation figures. Select rows to compare them, promote the best one "
    "through the gate, and roll back in one click: the Detect page answers with the production model at its next "
    "request."
)
notice_ui()
entries = model_table()
if not entries:
    st.info("No finished training run yet. Train a model first; it appears here when it finishes.")
    st.page_link("pages/train.py", label="Train a model", icon=":material/model_training:")
    st.stop()

st.subheader("Production")
production_ui(actor)

st.subheader("Runs")
selected = runs_table_ui(entries)

st.subheader("Compare")
run_ids = choose_runs_ui(entries, selected)
if len(run_ids) >= 2:
    comparison_ui(run_ids)
else:
    st.caption("Choose two or more runs (select rows in the table) to compare them.")

st.subheader("Shadow")
shadow_ui(entries, actor)

st.subheader("Promote")
promote_ui(entries, selected, actor)

st.subheader("Model history")
history_ui()
