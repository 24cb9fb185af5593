"""Export the shown version as a COCO, YOLO or Pascal VOC zip, for other tools (Roboflow, CVAT, Label Studio, ...)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from backend.data.datasets import export_to_workspace
from backend.store.records import DatasetVersion
from ui.widgets.calls import call
from ui.widgets.shell import current_actor
from ui.widgets.text import plain

FORMATS = {
    "coco": "COCO (json + images)",
    "yolo": "YOLO (ultralytics data.yaml)",
    "voc": "Pascal VOC (xml)",
}


def export_ui(version: DatasetVersion, dataset: str = "") -> None:
    """A format choice, an Export button, and a download of the zip once written (kept for this session)."""
    with st.expander("Export this version", icon="📥"):
        fmt = st.radio(
            "Format",
            list(FORMATS),
            format_func=FORMATS.get,
            horizontal=True,
            key=f"ds_export_fmt_{version.id}",
            help="Splits, class names and boxes are kept; importing the zip again gives the same dataset.",
        )
        made: dict[tuple[int, str], str] = st.session_state.setdefault("ds_exports", {})
        if st.button("Export", key=f"ds_export_go_{version.id}", icon="🗄️"):
            with st.spinner("Writing the zip..."):
                result = call(export_to_workspace, version.id, fmt, actor=current_actor(), action="Exporting")
            if result is not None:
                made[(version.id, fmt)] = str(result.path)
                st.success(plain(result.summary_line()))
        path = made.get((version.id, fmt))
        if path and Path(path).is_file():
            with Path(path).open("rb") as handle:
                st.download_button(
                    f"Download {Path(path).name}",
                    handle,
                    file_name=Path(path).name,
                    mime="application/zip",
                    key=f"ds_export_dl_{version.id}_{fmt}",
                    icon="📥",
                )
        name = dataset or "NAME"
        st.caption(
            "From a terminal: `python -m jobs.export_dataset "
            f"--dataset {name} --version {version.number} --format {fmt} --out export.zip`"
        )
