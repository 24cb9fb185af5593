"""Annotate's helpers beside the editor: model pre-labels to accept box by box, the batch jobs (find suspected
label errors, validate and retrain), and the version history with a box-level diff of any two versions."""

from __future__ import annotations

import streamlit as st

from backend.annotation.service import (
    EditorImage,
    PreLabel,
    diff_versions,
    load_prelabel_detector,
    prelabel_image,
    prelabel_model,
    scan_models,
)
from backend.annotation.tasks import start_label_error_scan, start_validate_retrain
from backend.serving.inference import Detector
from backend.serving.service import ServingModel
from backend.store.records import DatasetVersion
from ui.annotate.editor import add_boxes
from ui.widgets.calls import call
from ui.widgets.shell import current_actor
from ui.widgets.text import plain, plural

PRE_KEY = "annot_prelabels"  # {"<version>:<file>": [PreLabel, ...]}


@st.cache_resource(show_spinner="Loading the model for suggestions…", max_entries=2)
def _detector(weights: str, mtime_ns: int, _model: ServingModel) -> Detector:
    """Load once per weights file and modification time (the underscore argument is not part of the key)."""
    del weights, mtime_ns  # cache keys only
    return load_prelabel_detector(_model)


def prelabels_ui(image: EditorImage) -> None:
    """Ask the serving model for boxes, then accept or reject each suggestion before adding it."""
    key = f"{image.version_id}:{image.file}"
    suggestions: dict[str, list[PreLabel]] = st.session_state.setdefault(PRE_KEY, {})
    if key not in suggestions:
        help_text = "The model that serves suggests boxes; you accept or reject each one before it is added."
        if st.button("Suggest boxes from the model", icon="✨", help=help_text):
            model = call(prelabel_model, action="Finding a model")
            if model is None:
                st.info("No trained model yet: train one on the Train page to get suggestions.")
                return
            detector = call(_detector, str(model.weights), model.mtime_ns, model, action="Loading the model")
            found = call(prelabel_image, detector, image.version_id, image.file, action="Predicting")
            if detector is None or found is None:
                return
            suggestions[key] = found
            st.rerun()
        return
    found = suggestions[key]
    if not found:
        st.caption("The model found nothing on this image.")
    accepted = [
        pre
        for n, pre in enumerate(found)
        if st.checkbox(
            f"{plain(pre.class_name)} {pre.confidence:.0%} at ({pre.box[0]:.0f}, {pre.box[1]:.0f})",
            value=pre.confidence >= 0.5,
            key=f"annot-pre-{key}-{n}",
        )
    ]
    cols = st.columns(2)
    if cols[0].button(f"Add {plural(len(accepted), 'box')}", disabled=not accepted, key=f"annot-pre-add-{key}"):
        add_boxes(image, [(pre.class_name, pre.box) for pre in accepted])
        suggestions.pop(key, None)
        st.rerun()
    if cols[1].button("Reject all", key=f"annot-pre-reject-{key}"):
        suggestions.pop(key, None)
        st.rerun()


def batch_ui(version: DatasetVersion) -> None:
    """Queue the batch jobs: find suspected label errors in this version; validate and retrain on it."""
    cols = st.columns(2)
    with cols[0]:
        top_k = st.number_input("Images to queue", min_value=1, max_value=500, value=20, key="annot_topk")
        models = {m.id: f"{m.name} (#{m.id}, {m.stage})" for m in scan_models()}
        model_id = st.selectbox(
            "Model to predict with",
            [None, *models],
            format_func=lambda i: "The model that serves now" if i is None else models[i],
            key="annot_scan_model",
            help="Only registered models are offered; their files are checked against the hash recorded when they "
            "were registered.",
        )
        if st.button("Find suspected label errors", icon="🩺", key="annot-scan"):
            job = call(
                start_label_error_scan,
                version.id,
                actor=current_actor(),
                top_k=int(top_k),
                model_id=model_id,
                action="Starting the scan",
            )
            if job is not None:
                st.success(f"Job #{job} scores {version.label}'s labels against the model; see the Jobs page.")
    with cols[1]:
        st.caption("After a batch of fixes: check the newest version, then train on it like the last run.")
        if st.button("Validate and retrain", icon="🏋️", key="annot-retrain"):
            job = call(
                start_validate_retrain, version.id, actor=current_actor(), action="Starting validate and retrain"
            )
            if job is not None:
                st.success(f"Job #{job} validates {version.label}, then queues training; see the Jobs page.")


def history_ui(versions: list[DatasetVersion]) -> None:
    """Each version's changelog, and the box-level diff of any two versions."""
    ordered = sorted(versions, key=lambda v: v.number)
    rows = []
    for v in reversed(ordered):
        entry = v.changelog[0] if v.changelog and isinstance(v.changelog[0], dict) else {}
        totals = entry.get("totals", {})
        changes = ", ".join(f"{n} {k}" for k, n in totals.items() if n) or entry.get("action", "")
        rows.append({"version": v.label, "author": v.author, "message": v.message, "changes": changes})
    st.dataframe(rows, hide_index=True, width="stretch")
    if len(ordered) < 2:
        return
    labels = {v.id: v.label for v in ordered}
    ids = [v.id for v in ordered]
    cols = st.columns(2)
    old = cols[0].selectbox("From", ids, index=len(ordered) - 2, format_func=lambda i: labels[i], key="annot_from")
    new = cols[1].selectbox("To", ids, index=len(ordered) - 1, format_func=lambda i: labels[i], key="annot_to")
    if old == new:
        return
    diff = call(diff_versions, old, new, action="Comparing the versions")
    if diff is None:
        return
    totals = diff.boxes.totals
    st.markdown(
        f"**{labels[old]} → {labels[new]}:** "
        + (", ".join(f"{n} {k}" for k, n in totals.items() if n) or "no box changes")
        + f" · {plural(len(diff.images), 'image')} changed"
        + (f" · {len(diff.images_added)} added" if diff.images_added else "")
        + (f" · {len(diff.images_removed)} removed" if diff.images_removed else "")
    )
    per_class = diff.boxes.as_dict()["per_class"]
    if per_class:
        st.dataframe([{"class": c, **counts} for c, counts in per_class.items()], hide_index=True, width="stretch")
