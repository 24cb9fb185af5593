"""The dataset version the user last worked on, shared by the Datasets and Train pages.

Streamlit forgets a widget's value when its page is left, so each page's version picker used to fall back to the
newest version on every return. This plain session key (not a widget key) survives page switches: a picker starts
on it and records every choice in it.
"""

from __future__ import annotations

import streamlit as st

WORKING_VERSION_KEY = "plateops_working_version"


def working_version() -> int | None:
    """The id of the dataset version last picked on any page this session, if any."""
    value = st.session_state.get(WORKING_VERSION_KEY)
    return value if isinstance(value, int) else None


def remember_version(version_id: int) -> None:
    """Record `version_id` as the one the user works on."""
    st.session_state[WORKING_VERSION_KEY] = version_id
