"""Datasets: pick a version, see what it holds, check its quality, browse its images, import new data."""

from __future__ import annotations

import streamlit as st

from backend.data.datasets import list_versions_with_datasets
from backend.runtime.views import list_jobs
from ui.datasets.export import export_ui
from ui.datasets.gallery import gallery_ui
from ui.datasets.import_forms import import_ui
from ui.datasets.overview import overview_ui
from ui.datasets.quality import quality_ui
from ui.datasets.versions import TABS, load_index, version_header, version_picker_ui, watch_job
from ui.widgets.calls import call
from ui.widgets.shell import current_actor

current_actor()  # first: the sign-in screen and a stop for anyone not signed in, however the page is served

st.title("Datasets")
st.caption(
    "Every import or edit makes an immutable version, frozen with DVC and checked for data-quality problems. "
    "Pick one to see what it holds, fix what the checks found, and browse its images with their boxes."
)

entries = call(list_versions_with_datasets, action="Reading datasets")
if entries is None:
    st.stop()

if not entries:
    st.info(
        "**No dataset yet.** A dataset is a set of food photos with a box around each food item. "
        "Import your own (a COCO, YOLO or Pascal VOC export from Roboflow, CVAT, Label Studio or FiftyOne), "
        "or create the demo food set to try PlateOps out."
    )
    demo_jobs = call(list_jobs, kind="demo_dataset", active_only=True, action="Reading jobs") or []
    if demo_jobs:
        st.markdown("The demo food dataset is being made right now; it appears here when the job finishes.")
        for job in demo_jobs:
            watch_job(job.id, key=f"ds-demo-{job.id}")
    st.subheader("Import a dataset")
    import_ui()
    st.stop()

version = version_picker_ui(entries)
parent = next((v for _, v in entries if v.id == version.parent_id), None)
version_header(version, parent)

overview_tab, quality_tab, gallery_tab, import_tab = st.tabs(list(TABS), key="ds_tab", on_change="rerun")
if overview_tab.open or quality_tab.open or gallery_tab.open:
    index = load_index(version)  # the version's index in the store; built in the background when missing
    if index is not None:
        if overview_tab.open:
            with overview_tab:
                overview_ui(version, index)
                export_ui(version, st.session_state.get("ds_pick_dataset", ""))
        if quality_tab.open:
            with quality_tab:
                quality_ui(version)
        if gallery_tab.open:
            with gallery_tab:
                gallery_ui(version, index)
if import_tab.open:
    with import_tab:
        import_ui()
