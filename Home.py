"""PlateOps console entry: page config, start-up, and role-based navigation. Run: streamlit run Home.py"""

from __future__ import annotations

import streamlit as st

from ui.common import bootstrap, role_selector

st.set_page_config(page_title="PlateOps", page_icon=":material/restaurant:", layout="wide")
bootstrap()
role = role_selector()

home = st.Page("pages/overview.py", title="Home", icon=":material/home:", default=role != "user")
datasets = st.Page("pages/datasets.py", title="Datasets", icon=":material/photo_library:")
annotate = st.Page("pages/annotate.py", title="Annotate", icon=":material/edit_square:")
train = st.Page("pages/train.py", title="Train", icon=":material/model_training:")
jobs = st.Page("pages/jobs.py", title="Jobs", icon=":material/pending_actions:")
models = st.Page("pages/models.py", title="Models", icon=":material/leaderboard:")
detect = st.Page("pages/detect.py", title="Detect", icon=":material/photo_camera:", default=role == "user")
monitor = st.Page("pages/monitor.py", title="Monitor", icon=":material/monitoring:")

if role == "user":
    sections = {"Serving": [detect]}
elif role == "reviewer":
    sections = {"": [home], "Monitoring": [monitor], "Data": [annotate, datasets], "Serving": [detect]}
else:
    sections = {
        "": [home],
        "Data": [datasets, annotate],
        "Training": [train, jobs],
        "Models": [models],
        "Serving": [detect],
        "Monitoring": [monitor],
    }

current = st.navigation(sections)
allowed = [page for pages in sections.values() for page in pages]
if current.url_path not in {page.url_path for page in allowed}:
    # The visitor just switched role away from a page the new role does not show: go to that role's start.
    st.switch_page(next(page for page in allowed if page._default) if any(p._default for p in allowed) else allowed[0])
current.run()
