"""Train page, custom settings: start from an uploaded pretrained checkpoint (a base model), or upload one.

The upload is read by the backend with ultralytics' restricted (weights-only) loader only; a file that needs more is
refused there in plain words, and this page shows that message.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from backend.core.access import Permission
from backend.training.pretrained import pretrained_starting_points, register_pretrained
from ui.widgets.calls import call
from ui.widgets.shell import current_actor

BASE_KEY = "train_model_base"
_PENDING_KEY = "train_model_base_pending"  # a fresh upload to select on the next run (the widget exists by then)


def base_model_ui(column: DeltaGenerator) -> str | None:
    """Pick an uploaded base model in `column`, with an upload form under it; returns `pretrained:<id>` or None."""
    if _PENDING_KEY in st.session_state:
        st.session_state[BASE_KEY] = st.session_state.pop(_PENDING_KEY)
    bases = call(pretrained_starting_points, action="Reading base models") or {}
    if bases:
        chosen = column.selectbox("Base model", list(bases), format_func=bases.get, key=BASE_KEY)
    else:
        chosen = None
        column.caption("No base model yet: upload a pretrained .pt below.")
    _upload_form()
    return chosen


def _upload_form() -> None:
    may = current_actor().may(Permission.TRAIN)
    with st.expander("Upload a pretrained checkpoint (.pt)", expanded=False, icon=":material/upload_file:"):
        st.caption(
            "An ultralytics detection checkpoint trained elsewhere (a COCO-pretrained yolov8n.pt, last year's model). "
            "It is read with the restricted loader, which accepts model weights only: a file carrying anything else "
            "is refused and nothing in it runs."
        )
        with st.form("train_base_upload_form", border=False):
            upload = st.file_uploader("Checkpoint", type=["pt"], key="train_base_file", disabled=not may)
            source = st.text_input(
                "Where it comes from",
                key="train_base_source",
                placeholder="ultralytics release v8.1 yolov8n.pt, COCO-pretrained",
                disabled=not may,
            )
            submitted = st.form_submit_button(
                "Upload base model",
                key="train_base_submit",
                icon=":material/upload:",
                disabled=not may,
                help=None if may else "Your role may not train, so it may not upload base models either.",
            )
    if not submitted:
        return
    if upload is None:
        st.error("Choose a .pt file to upload first.")
        return
    base = call(
        register_pretrained, upload, upload.name, source=source, actor=current_actor(), action="Uploading the model"
    )
    if base is None:
        return
    st.session_state[_PENDING_KEY] = f"pretrained:{base.id}"
    st.toast(f"Base model {base.name} is ready to train from.", icon=":material/check_circle:")
    st.rerun()
