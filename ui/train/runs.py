"""The table of recent training runs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from backend.store.records import Run
from ui.widgets.text import duration


def runs_frame(runs: list[Run], version_names: dict[int, str], preset_labels: dict[str, str]) -> pd.DataFrame:
    """The recent runs as a table: name, dataset version, preset, status, mAP50, duration, started."""
    rows = []
    for run in runs:
        map50 = run.scores.map50 if run.scores.map50 is not None else run.facts.map50
        rows.append(
            {
                "run": run.name,
                "dataset version": version_names.get(run.dataset_version_id or -1, "—"),
                "preset": preset_labels.get(run.preset, run.preset),
                "status": run.status,
                "mAP50": map50,
                "duration": duration(run.duration_s) if run.duration_s else "—",
                "started": f"{run.created_at:%Y-%m-%d %H:%M}",
            }
        )
    return pd.DataFrame(rows, columns=["run", "dataset version", "preset", "status", "mAP50", "duration", "started"])


def runs_table_ui(runs: list[Run], version_names: dict[int, str], preset_labels: dict[str, str]) -> None:
    """The table of recent runs."""
    if not runs:
        st.caption("No runs yet.")
        return
    st.dataframe(
        runs_frame(runs, version_names, preset_labels),
        hide_index=True,
        width="stretch",
        column_config={"mAP50": st.column_config.NumberColumn(format="%.3f")},
    )
