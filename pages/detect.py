"""Detect page (being built)."""

import streamlit as st

st.title("📷 Detect")
st.info("This page is being built.")
