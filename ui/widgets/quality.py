"""How data-quality states look everywhere: severity icons and colours, a version's validation badge."""

from __future__ import annotations

import streamlit as st

from backend.store.records import DatasetVersion

# Material icons render everywhere (they ship with Streamlit); emoji need an emoji font on the viewer's machine.
SEVERITY_ICONS = {
    "error": ":red[:material/error:]",
    "warning": ":orange[:material/warning:]",
    "info": ":blue[:material/info:]",
}
SEVERITY_COLORS = {"error": "#c0392b", "warning": "#e6a23c", "info": "#5b8def"}
STATUS_BADGES = {
    "passed": ("Passed all checks", ":material/check_circle:", "green"),
    "warnings": ("Warnings", ":material/warning:", "orange"),
    "errors": ("Errors — fix before training", ":material/error:", "red"),
    "not_checked": ("Not validated yet", ":material/help:", "gray"),
}


def status_badge(version: DatasetVersion) -> None:
    """A coloured badge for the version's validation status."""
    label, icon, color = STATUS_BADGES.get(version.validation_status, (version.validation_status, None, "gray"))
    st.badge(label, icon=icon, color=color)
