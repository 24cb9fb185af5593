"""Annotate: work through the review queue (or any image), fix boxes on the canvas, save a new immutable version."""

from __future__ import annotations

import streamlit as st

from backend.annotation.service import load_editor_image, version_images
from backend.core.vocab import color_for
from backend.data.datasets import list_versions_with_datasets
from ui.annotate.editor import box_table_ui, canvas_ui, save_ui, saved_banner_ui
from ui.annotate.inbox import inbox_ui
from ui.annotate.picker import VERSION_KEY, reasons_ui, selection_ui, version_ui
from ui.annotate.tools import batch_ui, history_ui, prelabels_ui
from ui.widgets.calls import call
from ui.widgets.shell import current_actor, person_name
from ui.widgets.text import plain

LAST_CLASS_KEY = "plateops_annot_last_class"

current_actor()  # first: the sign-in screen and a stop for anyone not signed in, however the page is served

st.title("Annotate")
st.caption(
    "Fix the boxes of images the review queue found (validation issues, suspected label errors), label production "
    "pictures from the traffic inbox (feedback, Monitor drill-downs, picks worth labelling), or edit any image. "
    "Each save makes a new immutable dataset version with a box-level changelog."
)
saved_banner_ui()

entries = call(list_versions_with_datasets, action="Reading datasets")
if entries is None:
    st.stop()
if not entries:
    st.info("**No dataset yet.** Import one or create the demo food set on the Datasets page, then come back.")
    st.page_link("pages/datasets.py", label="Go to Datasets", icon=":material/photo_library:")
    st.stop()

dataset, version = version_ui(entries)
images = call(version_images, version.id, action="Reading the version")
if images is None:
    st.stop()
tools_col, history_col = st.columns(2)
with tools_col.expander("Find suspected label errors · validate and retrain", icon="☑️"):
    batch_ui(version)
with history_col.expander("Version history and diff", icon="🕘"):
    history_ui([v for name, v in entries if name == dataset])
selection = selection_ui(dataset, version, images.files, images.names)
if selection.inbox:
    inbox_ui(dataset, version, images.names, by=current_actor().name)
    st.stop()
if selection.file is None:
    st.stop()
image = call(load_editor_image, version.id, selection.file, action="Opening the image")
if image is None:
    st.stop()

author = person_name(current_actor())  # the changelog names the person, not the role
reasons_col, class_col = st.columns([3, 2])
with reasons_col:
    reasons_ui(selection, by=author)
with class_col:
    # Streamlit forgets the picker on leaving the page: a plain key keeps the class last drawn with.
    if st.session_state.get("annot_new_class") not in images.names:
        last = st.session_state.get(LAST_CLASS_KEY)
        st.session_state["annot_new_class"] = last if last in images.names else images.names[0]
    new_class = st.selectbox(
        "Class of new boxes",
        images.names,
        key="annot_new_class",
        help="Draw a box on the picture and it gets this class. Change a box's class in the table below.",
    )
    st.session_state[LAST_CLASS_KEY] = new_class
st.markdown(
    f"<span style='color:{color_for(new_class)}'>■</span> Drag on the picture to draw a **{plain(new_class)}** box. "
    "Turn on the canvas's edit toggle (pencil) to move, resize or delete boxes · Alt+← / Alt+→ previous / next · "
    "Ctrl+Enter saves.",
    unsafe_allow_html=True,
)
boxes = canvas_ui(image, images.names, new_class)
table_col, save_col = st.columns([3, 2])
with table_col:
    box_table_ui(image, images.names, boxes)
with save_col:
    saved = save_ui(image, boxes, author=author)
    prelabels_ui(image)
if saved is not None:
    st.session_state[VERSION_KEY] = saved.version.id
    st.rerun()
