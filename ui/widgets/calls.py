"""Backend calls from a page: a user-facing error becomes a plain message instead of a traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st

from backend.core.errors import PlateOpsError
from ui.widgets.text import plain

T = TypeVar("T")


@contextmanager
def friendly_errors(action: str = "That") -> Iterator[None]:
    """Show a PlateOpsError as a plain message instead of a traceback."""
    try:
        yield
    except PlateOpsError as exc:
        st.error(f"{action} did not work: {plain(exc)}")


def call(fn: Callable[..., T], *args: object, action: str = "That", **kwargs: object) -> T | None:
    """Run a backend call; on a user-facing error show it and return None."""
    try:
        return fn(*args, **kwargs)
    except PlateOpsError as exc:
        st.error(f"{action} did not work: {plain(exc)}")
        return None
