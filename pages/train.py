"""Train: pick a dataset version and a preset, launch a background training job, watch it, read its results."""

from __future__ import annotations

import streamlit as st

from backend.core.access import Permission
from backend.core.enums import JobKind, ValidationStatus
from backend.core.params import get_params
from backend.data.datasets import list_versions_with_datasets
from backend.runtime.views import list_jobs
from backend.training.service import list_runs
from backend.training.tasks import start_training
from ui.train.progress import job_picker_ui, job_view, show_job
from ui.train.runs import runs_table_ui
from ui.train.setup import data_check_ui, estimate_ui, settings_ui, version_choice_ui
from ui.widgets.calls import call
from ui.widgets.shell import current_actor

current_actor()  # first: the sign-in screen and a stop for anyone not signed in, however the page is served

st.title("Train")
st.caption(
    "Teach a food detector on one dataset version. Training runs in the background: you can leave this page "
    "and come back; every run is scored on the validation images, tracked in ClearML and listed on Models."
)

entries = call(list_versions_with_datasets, action="Reading datasets")
params = call(get_params, action="Reading params.yaml")
if entries is None or params is None:
    st.stop()

if not entries:
    st.info(
        "**No dataset yet.** Training needs a dataset version: food photos with a box around each item. "
        "Import one (or create the demo food set) on the Datasets page, then come back here.",
        icon="ℹ️",
    )
    st.page_link("pages/datasets.py", label="Go to Datasets", icon=":material/photo_library:")
    st.stop()

st.subheader("1. Data")
_, version = version_choice_ui(entries)
data_ok = data_check_ui(version)

st.subheader("2. Settings")
preset, cfg = settings_ui(params)
run_name = st.text_input("Run name (optional)", key="train_name", placeholder="made from dataset, preset and time")

st.subheader("3. Start")
# Filled last: the first estimate times a training step (seconds), which must not hold up the button and the rest.
estimate_slot = st.container()
actor = current_actor()
may_train = actor.may(Permission.TRAIN)
if not may_train:  # said before the click, not only refused after it
    st.caption(f"Signed in as {actor.name} ({actor.role}): a {actor.role} may look at training but not start it.")
if (
    st.button(
        "Start training",
        type="primary",
        icon=":material/play_arrow:",
        disabled=cfg is None or not data_ok or not may_train,
        key="train_start",
        help="Runs in the background; this page shows its progress below." if data_ok else "Confirm the data first.",
    )
    and cfg is not None
):
    job_id = call(
        start_training,
        version.id,
        cfg,
        actor=actor,
        preset=preset,
        name=run_name,
        allow_errors=version.validation_status == ValidationStatus.ERRORS and data_ok,
        action="Starting training",
    )
    if job_id is not None:
        show_job(job_id)
        st.toast(f"Training job {job_id} queued", icon="🚀")

st.subheader("Progress and results")
jobs = call(list_jobs, limit=20, kind=JobKind.TRAIN, action="Reading jobs") or []
picked = job_picker_ui(jobs)
if picked is not None:
    job_view(picked)

st.subheader("Recent runs")
runs = call(list_runs, 50, action="Reading runs") or []
version_names = {v.id: f"{dataset} {v.label}" for dataset, v in entries}
preset_labels = {key: p.label for key, p in params.presets.items()} | {"custom": "Custom"}
runs_table_ui(runs, version_names, preset_labels)

if cfg is not None:
    with estimate_slot:
        estimate_ui(cfg, version)
