"""Monitor: drift of image properties and predictions against the training set."""

from __future__ import annotations

import streamlit as st

st.title("Monitor")
st.info(
    "Coming next: Evidently drift dashboards comparing the images people send to the Detect page with the "
    "training set (brightness, contrast, sharpness, size, detected classes and confidences), with drifted "
    "images sent to the review queue. The Detect page already logs every prediction with these features."
)
st.page_link("pages/detect.py", label="Go to Detect", icon=":material/photo_camera:")
