"""Streamlit helpers shared by the pages: bootstrapping, cached resources, the jobs panel, common widgets."""
