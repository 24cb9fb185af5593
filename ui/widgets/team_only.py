"""What an end user sees at the address of a console page: a plain note and the way to Detect, not "Page not found"."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st


def team_only_page(title: str) -> Callable[[], None]:
    """A page body for `title` that says the page is for the team and links to Detect."""

    def page() -> None:
        st.title(title)
        st.info("This page is for the PlateOps team. You can find the food in your photos on the Detect page.")
        st.page_link("pages/detect.py", label="Go to Detect", icon=":material/photo_camera:")

    page.__name__ = f"team_only_{title.lower()}"
    return page


def redirect_page(target: st.Page) -> Callable[[], None]:
    """A start page that opens `target` at its own address (a default page answers only at /, not at its name)."""

    def page() -> None:
        st.switch_page(target)

    page.__name__ = f"open_{target.url_path}"
    return page
