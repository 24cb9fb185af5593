"""Datasets page (being built)."""

import streamlit as st

st.title("🗂️ Datasets")
st.info("This page is being built.")
