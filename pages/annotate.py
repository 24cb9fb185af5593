"""Annotate: fix boxes in the browser; every save makes a new immutable dataset version."""

from __future__ import annotations

import streamlit as st

st.title("Annotate")
st.info(
    "Coming next: pick an image from a dataset version or the review queue, drag, add or delete boxes on a "
    "canvas, and save — every save creates a new immutable version with a box-level changelog. "
    "Until then, fix labels in your own tool and import them on the Datasets page."
)
st.page_link("pages/datasets.py", label="Go to Datasets", icon=":material/photo_library:")
