"""Cards of the Home page."""

from __future__ import annotations

import streamlit as st

from backend.console.overview import DatasetStatus
from backend.store.records import DatasetVersion
from ui.widgets.text import ago, count_text


def verdict_text(version: DatasetVersion) -> str:
    """The version's validation verdict in a few words, with its issue count."""
    counts = version.validation.by_severity
    return {
        "passed": ":green[✅] passed all checks",
        "warnings": f":orange[⚠️] {counts.warning} warning(s)",
        "errors": f":red[⛔] {counts.error} error(s) — fix before training",
        "not_checked": "not validated yet",
    }.get(version.validation_status, version.validation_status)


def dataset_card_ui(status: DatasetStatus) -> None:
    """One dataset: its name, versions and source, and its latest version's size, verdict and age."""
    latest = status.latest
    with st.container(border=True):
        st.markdown(f"**{status.dataset.name}** · {status.versions} version(s) · from {status.dataset.source}")
        if latest is None:
            st.caption("No version yet.")
            return
        images = count_text(latest.counts.images)
        st.caption(f"Latest {latest.label}: {images} images, {verdict_text(latest)}, created {ago(latest.created_at)}")
