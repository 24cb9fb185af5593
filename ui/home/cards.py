"""Cards of the Home page: live status tiles, one card per dataset with its next step, and the models card."""

from __future__ import annotations

import streamlit as st

from backend.console.overview import DatasetStatus, Overview, get_overview
from backend.core.enums import JobStatus, ValidationStatus
from backend.monitoring.views import accuracy_estimate
from backend.store.records import DatasetVersion
from ui.widgets.text import ago, count_text, plain, plural


def verdict_text(version: DatasetVersion) -> str:
    """The version's validation verdict in a few words, with its issue count."""
    counts = version.validation.by_severity
    return {
        ValidationStatus.PASSED: ":green[✅] passed all checks",
        ValidationStatus.WARNINGS: f":orange[⚠️] {plural(counts.warning, 'warning')}",
        ValidationStatus.ERRORS: f":red[⛔] {plural(counts.error, 'error')} — fix before training",
        ValidationStatus.NOT_CHECKED: "not validated yet",
    }.get(version.validation_status, version.validation_status)


@st.fragment(run_every="2s")
def status_tiles_ui() -> None:
    """Datasets, jobs running now, the production model and drift, re-read from the store every 2 s."""
    ov = get_overview()
    running = sum(j.status in (JobStatus.STARTING, JobStatus.RUNNING) for j in ov.active_jobs)
    queued = sum(j.status == JobStatus.QUEUED for j in ov.active_jobs)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Datasets", len(ov.datasets))
    c2.metric(
        "Jobs running",
        running,
        help=f"{plural(queued, 'job')} waiting for a free slot." if queued else "No job is waiting for a slot.",
    )
    c3.metric("Production model", plain(ov.production_model.name) if ov.production_model else "none")
    drift = ov.latest_drift
    c4.metric(
        "Drift",
        ("Drift found" if drift.drifted else "No drift") if drift else "not checked",
        help=f"Drifted: {', '.join(ov.drifted_features)}" if ov.drifted_features else "Details on the Monitor page",
    )
    estimate = accuracy_estimate(drift) if drift else None
    if estimate is not None:
        st.caption(f"Accuracy of the production model without labels (mAP50): {estimate.sentence()}.")


def dataset_card_ui(status: DatasetStatus, *, has_runs: bool = False) -> None:
    """One dataset: its name, versions and source, its latest version's size, verdict and age, and the next step."""
    latest = status.latest
    with st.container(border=True):
        st.markdown(
            f"**{plain(status.dataset.name)}** · {plural(status.versions, 'version')} · "
            f"from {plain(status.dataset.source)}"
        )
        if latest is None:
            st.caption("No version yet.")
            return
        images = count_text(latest.counts.images)
        st.caption(f"Latest {latest.label}: {images} images, {verdict_text(latest)}, created {ago(latest.created_at)}")
        if latest.validation_status == ValidationStatus.NOT_CHECKED:
            st.page_link(
                "pages/datasets.py", label="Next: validate it on Datasets", icon=":material/health_and_safety:"
            )
        elif _offers_training(latest, has_runs=has_runs):
            st.page_link("pages/train.py", label="Next: train a model on it", icon=":material/model_training:")


def _offers_training(version: DatasetVersion | None, *, has_runs: bool) -> bool:
    """Whether a dataset card links to training as the next step (validated without errors, nothing trained)."""
    return (
        version is not None
        and version.validation_status in (ValidationStatus.PASSED, ValidationStatus.WARNINGS)
        and not has_runs
    )


def models_ui(ov: Overview) -> None:
    """The model that answers on Detect, and the next step: train, try it, compare and promote."""
    st.subheader("Models")
    if ov.production_model:
        m = ov.production_model
        map50 = m.scores.map50
        score = f" · mAP50 {map50:.2f}" if map50 is not None else ""
        st.success(f"**{plain(m.name)}** serves the Detect page{score} (promoted {ago(m.promoted_at)}).")
        st.page_link("pages/detect.py", label=f"Try {plain(m.name)} on Detect", icon=":material/photo_camera:")
    elif ov.latest_run:
        st.info(f"No model promoted yet; the Detect page uses the newest run, **{plain(ov.latest_run.name)}**.")
        st.page_link("pages/detect.py", label="Try it on Detect", icon=":material/photo_camera:")
        st.page_link("pages/models.py", label="Compare on Models", icon=":material/emoji_events:")
    else:
        st.info("No model yet. Train one on your dataset; the Quick CPU preset is the fastest start.")
        if ov.datasets and not any(_offers_training(s.latest, has_runs=False) for s in ov.datasets):
            # no dataset card links there
            st.page_link("pages/train.py", label="Train a model", icon=":material/model_training:")
