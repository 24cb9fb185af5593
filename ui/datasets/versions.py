"""The version picker and header, the version's index (built in the background when missing), and the live card of
a job that makes, checks or indexes a version."""

from __future__ import annotations

import streamlit as st

from backend.core.enums import JobStatus
from backend.data.index import index_state
from backend.data.tasks import start_index_version
from backend.runtime.views import get_job, keep_runner_healthy
from backend.store.dataset_index import IndexState, IndexStatus
from backend.store.records import DatasetVersion
from ui.widgets.calls import call
from ui.widgets.jobs import render_job
from ui.widgets.quality import status_badge
from ui.widgets.shell import current_actor
from ui.widgets.text import ago, count_text, plain
from ui.widgets.working import remember_version, working_version

TABS = (
    "💡 Overview",
    "🛡️ Quality",
    "🖼️ Gallery",
    "📤 Import",
)


# --- picking a version ----------------------------------------------------------------------------------------


def _select_version(dataset: str, version_id: int) -> None:
    """Button callback: show this version in the pickers (on its Overview tab) on the next run."""
    st.session_state["ds_pick_dataset"] = dataset
    st.session_state["ds_pick_version"] = version_id
    st.session_state["ds_tab"] = TABS[0]


def version_picker_ui(entries: list[tuple[str, DatasetVersion]]) -> DatasetVersion:
    """Dataset and version selectboxes (newest first); returns the chosen version."""
    by_dataset: dict[str, list[DatasetVersion]] = {}
    for name, version in entries:  # entries come newest first, so datasets are ordered by their newest version
        by_dataset.setdefault(name, []).append(version)
    worked_on = working_version()  # kept across pages: Streamlit forgets the pickers' values on leaving the page
    worked_in = next((name for name, v in entries if v.id == worked_on), None)
    if st.session_state.get("ds_pick_dataset") not in by_dataset:
        st.session_state["ds_pick_dataset"] = worked_in or next(iter(by_dataset))
    left, right = st.columns([2, 3])
    dataset = left.selectbox("Dataset", list(by_dataset), key="ds_pick_dataset")
    versions = {v.id: v for v in by_dataset[dataset]}
    if st.session_state.get("ds_pick_version") not in versions:
        st.session_state["ds_pick_version"] = worked_on if worked_on in versions else next(iter(versions))
    chosen = right.selectbox(
        "Version",
        list(versions),
        key="ds_pick_version",
        format_func=lambda vid: _version_option(versions[vid]),
        help="Versions never change; editing or re-importing makes a new one.",
    )
    remember_version(chosen)
    return versions[chosen]


def _version_option(version: DatasetVersion) -> str:
    images = count_text(version.counts.images)
    note = f" — {version.message}" if version.message else ""
    # No "3 min ago" here: an option's text must not change between reruns, or the widget forgets the choice.
    return f"{version.label} · {images} images · {version.created_at:%Y-%m-%d %H:%M}{note}"[:110]


def version_header(version: DatasetVersion, parent: DatasetVersion | None) -> None:
    """Who made the version, when, from what, and its DVC content hash."""
    with st.container(border=True):
        top, badge = st.columns([5, 2], vertical_alignment="center")
        top.markdown(f"**{version.label}** · {plain(version.message) or 'no message'}")
        with badge:
            status_badge(version)
        parent_text = parent.label if parent else "none (imported)"
        content = f"`{version.content_hash[:12]}`" if version.content_hash else "not frozen"
        st.caption(
            f"By {plain(version.author) or 'unknown'} · created {ago(version.created_at)} "
            f"({version.created_at:%Y-%m-%d %H:%M} UTC) · parent: {parent_text} · DVC content hash: {content}"
        )


# --- the version's index -------------------------------------------------------------------------------------


def load_index(version: DatasetVersion) -> IndexState | None:
    """The version's index when ready; otherwise start building it in the background (once) and show its progress.

    Pages read a version only through its index (built when the version was made); a version made before indexes
    existed gets one the first time it is opened.
    """
    state = call(index_state, version.id, action="Reading the version's index")
    if state is not None and state.ready:
        return state
    if state is None or state.status == IndexStatus.FAILED or state.job_id is None:
        if state is not None and state.status == IndexStatus.FAILED:
            st.warning(f"The last index build failed: {plain(state.message, 300)}", icon="⚠️")
        job_id = call(start_index_version, version.id, actor=current_actor(), action="Starting the index build")
    else:
        job_id = state.job_id
    st.info(
        "**Indexing this version.** PlateOps reads its images and labels once into the store, so browsing and "
        "filtering stay fast; this page fills in when it is done.",
        icon="🔎",
    )
    if job_id is not None:
        watch_job(job_id, key=f"ds-index-{version.id}")
    return None


# --- jobs -----------------------------------------------------------------------------------------------------


@st.fragment(run_every="2s")
def watch_job(job_id: int, key: str) -> None:
    """Live progress of one job (the shared job card); refreshes the whole page once when it finishes.

    When the job made a dataset version, a success message names it with a button to show it.
    """
    keep_runner_healthy()
    job = call(get_job, job_id, action="Reading the job")
    if job is None:
        return
    render_job(job, key=key, show_log=not job.active)
    seen = st.session_state.setdefault("ds_finished_jobs", set())
    if job.active:
        return
    if job_id not in seen:
        seen.add(job_id)
        if st.session_state.get("ds_rerun_on_finish", True):
            st.rerun()  # the new version or fresh validation must show outside this fragment too
    made = job.outcome.version_id
    if job.status == JobStatus.SUCCEEDED and made is not None:
        _version_ready(made, key)


def _version_ready(version_id: int, key: str) -> None:
    from backend.data.datasets import list_versions_with_datasets

    entries = call(list_versions_with_datasets, action="Reading datasets") or []
    found = next(((name, v) for name, v in entries if v.id == version_id), None)
    if found is None:
        return
    name, version = found
    images = count_text(version.counts.images)
    st.success(f"Done: **{plain(name)} {version.label}** is ready with {images} images.", icon="✅")
    if st.button(
        f"Show {plain(name)} {version.label}",
        key=f"{key}-show-{version_id}",
        on_click=_select_version,
        args=(name, version_id),
    ):
        # The button lives in the job's fragment, whose click reruns only the fragment: the pickers and tabs
        # outside it show the version only after a run of the whole page.
        st.rerun(scope="app")


def remember_job(slot: str, job_id: int) -> None:
    """Keep the job a form started, so its progress shows after the rerun."""
    st.session_state.setdefault("ds_jobs", {})[slot] = job_id


def remembered_job(slot: str) -> int | None:
    """The job a form in this session started last, if any."""
    return st.session_state.get("ds_jobs", {}).get(slot)
