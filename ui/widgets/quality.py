"""How data-quality states look everywhere: severity icons and colours, a version's validation badge."""

from __future__ import annotations

import streamlit as st

from backend.core.enums import ValidationStatus
from backend.store.records import DatasetVersion

# Emoji, not Material icon names: those can make the browser fetch from an outside font server.
SEVERITY_ICONS = {
    "error": ":red[⛔]",
    "warning": ":orange[⚠️]",
    "info": ":blue[ℹ️]",
}
SEVERITY_COLORS = {"error": "#c0392b", "warning": "#e6a23c", "info": "#5b8def"}
STATUS_BADGES = {
    ValidationStatus.PASSED: ("Passed all checks", "✅", "green"),
    ValidationStatus.WARNINGS: ("Warnings", "⚠️", "orange"),
    ValidationStatus.ERRORS: ("Errors — fix before training", "⛔", "red"),
    ValidationStatus.NOT_CHECKED: ("Not validated yet", "❔", "gray"),
}


def status_badge(version: DatasetVersion) -> None:
    """A coloured badge for the version's validation status."""
    label, icon, color = STATUS_BADGES.get(version.validation_status, (version.validation_status, None, "gray"))
    st.badge(label, icon=icon, color=color)
