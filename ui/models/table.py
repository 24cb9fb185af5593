"""The runs table: every finished run with its figures and registry stage, filterable and sortable."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from backend.core.enums import ModelStage
from backend.registry.compare import ModelEntry
from ui.widgets.charts import table_height

STAGES = (ModelStage.PRODUCTION, ModelStage.CANDIDATE, ModelStage.ARCHIVED, "—")  # "—": not registered


def runs_table_ui(entries: list[ModelEntry]) -> list[int]:
    """Filters and the table (click a column to sort); returns the run ids of the rows the user selected."""
    left, mid, right = st.columns([2, 2, 3])
    datasets = sorted({e.dataset for e in entries})
    chosen_sets = left.multiselect("Dataset version", datasets, key="models_filter_dataset", placeholder="All")
    chosen_stages = mid.multiselect("Stage", STAGES, key="models_filter_stage", placeholder="All")
    text = right.text_input("Name contains", key="models_filter_text", placeholder="e.g. food-v2")
    shown = [
        e
        for e in entries
        if (not chosen_sets or e.dataset in chosen_sets)
        and (not chosen_stages or e.stage in chosen_stages)
        and text.strip().lower() in e.name.lower()
    ]
    if not shown:
        st.info("No run matches these filters.")
        return []
    frame = pd.DataFrame([e.as_row() for e in shown])
    event = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        height=table_height(len(frame), 12),
        key="models_table",
        on_select="rerun",
        selection_mode="multi-row",
        column_config={
            "mAP50": st.column_config.ProgressColumn("mAP50", min_value=0.0, max_value=1.0, format="%.3f"),
            "mAP50-95": st.column_config.NumberColumn(format="%.3f"),
            "precision": st.column_config.NumberColumn(format="%.3f"),
            "recall": st.column_config.NumberColumn(format="%.3f"),
            "CPU latency ms": st.column_config.NumberColumn(format="%.1f"),
            "size MB": st.column_config.NumberColumn(format="%.1f"),
            "date": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "tracking": st.column_config.TextColumn(
                "ClearML", help="The ClearML task's page, or the offline session to import (see the Train page)."
            ),
        },
    )
    rows = event.selection.rows if event is not None else []
    return [int(frame.iloc[i]["run"]) for i in rows]
