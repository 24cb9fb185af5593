"""Drill-down: pick a drifted feature or a segment of the latest window, see those pictures, send them to review."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from backend.monitoring.tables import NUMERIC_COLUMNS
from backend.monitoring.views import Segment, drifted_features, segment_images, send_to_review, suggest_segment
from backend.store.records import DriftReport
from ui.widgets.calls import call
from ui.widgets.shell import current_actor
from ui.widgets.text import plain, plural

GALLERY_COLUMNS = 6


def segment_ui(report: DriftReport) -> Segment | None:
    """The user's cut: a feature (drifted ones first), a side and a value (suggested from the report)."""
    drifted = drifted_features(report)
    others = [f for f in (*NUMERIC_COLUMNS, "pred_class") if f not in drifted]
    options = [*drifted, *others]
    feature = st.selectbox(
        "Feature",
        options,
        format_func=lambda f: f"{f} (drifted)" if f in drifted else f,
        key=f"drill-feature-{report.id}",
    )
    if feature is None:
        return None
    suggestion = call(suggest_segment, report, feature, action="Suggesting a segment")
    if feature == "pred_class":
        shares = report.details.get("class_share", {}).get("current", {})
        classes = sorted(shares) or ["(none)"]
        default = str(suggestion.value) if suggestion and suggestion.value in classes else classes[0]
        label = st.selectbox(
            "Predicted class is", classes, index=classes.index(default), key=f"drill-class-{report.id}"
        )
        return Segment("pred_class", "is", label)
    left, right = st.columns(2)
    sides = ["below", "above"]
    side = left.radio(
        "Side",
        sides,
        index=sides.index(suggestion.side) if suggestion and suggestion.side in sides else 0,
        horizontal=True,
        key=f"drill-side-{report.id}-{feature}",
    )
    value = right.number_input(
        f"{feature} {side}",
        value=float(suggestion.value) if suggestion else 0.0,
        key=f"drill-value-{report.id}-{feature}",
    )
    return Segment(feature, side, float(value))


def gallery_ui(report: DriftReport, segment: Segment) -> None:
    """The window's pictures in the segment, with a checkbox each and a button that sends them to review."""
    images = call(segment_images, report, segment, action="Finding the pictures") or []
    shown = plural(len(images), "picture")
    st.caption(f"{shown} of the report's window where {plain(segment.describe())} (most extreme first).")
    if not images:
        return
    chosen: list[int] = []
    cols = st.columns(GALLERY_COLUMNS)
    for index, image in enumerate(images):
        with cols[index % GALLERY_COLUMNS]:
            path = image.thumb_path or image.image_path
            if path and Path(path).is_file():
                st.image(path, width="stretch")
            else:
                st.caption("(picture not kept)")
            label = f"{plain(image.image_name, 24)} · {image.value}"
            if st.checkbox(label, value=True, key=f"drill-pick-{report.id}-{image.prediction_id}"):
                chosen.append(image.prediction_id)
    reason = f"Drift report {report.id}: {segment.describe()}"
    if st.button(
        f"Send {plural(len(chosen), 'picture')} to the review queue",
        type="primary",
        disabled=not chosen,
        key=f"drill-send-{report.id}",
    ):
        added = call(send_to_review, chosen, reason=reason, actor=current_actor(), action="Sending to review")
        if added is not None:
            skipped = len(chosen) - added
            note = f" ({skipped} already waiting)" if skipped else ""
            st.success(f"Sent {plural(added, 'picture')} to the review queue{note}. Annotate shows them.")
            st.page_link("pages/annotate.py", label="Open Annotate", icon=":material/edit:")
