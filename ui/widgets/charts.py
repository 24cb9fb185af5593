"""Charts and tables at the size they ask for."""

from __future__ import annotations

import altair as alt
import streamlit as st


def show_chart(chart: alt.Chart) -> None:
    """Draw an altair chart full width at the height it asks for (Streamlit would otherwise pick its own)."""
    height = getattr(chart, "height", None)
    st.altair_chart(chart, width="stretch", height=height if isinstance(height, int) else "content")


def table_height(rows: int, limit: int = 16) -> int:
    """Pixel height that shows up to `limit` rows of a st.dataframe without scrolling."""
    return 38 + 35 * min(rows, limit)
