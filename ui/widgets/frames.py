"""Third-party HTML (Evidently's drift report, anything like it) shown so that no script in it reaches the console.

`st.iframe` runs HTML with `allow-scripts allow-same-origin`: a script in it acts with the console's own origin
(reads the page, changes the tab, talks to the server as the visitor). Evidently writes its data, class names
included, into a `<script>` block without escaping, so data can become script. The report therefore goes one frame
deeper: a frame sandboxed with `allow-scripts` only (no `allow-same-origin`, no `allow-modals`, no popups, no top
navigation) gets an opaque origin, so its own scripts still draw the report while reaching nothing outside it.
"""

from __future__ import annotations

import html

import streamlit as st

# What the inner frame may do: run its own scripts (the report's charts need them), nothing else.
SANDBOX = "allow-scripts"


def sandboxed_document(document: str, *, height: int, title: str) -> str:
    """A page holding `document` in a frame sandboxed with `SANDBOX` (see the module docstring)."""
    # Escaped as an attribute value, the document cannot end the attribute or the tag, whatever it holds.
    return (
        '<!doctype html><html><head><meta charset="utf-8"><style>html,body{margin:0;padding:0}</style></head><body>'
        f'<iframe sandbox="{SANDBOX}" referrerpolicy="no-referrer" title="{html.escape(title, quote=True)}" '
        f'style="border:0;width:100%;height:{int(height)}px;display:block" '
        f'srcdoc="{html.escape(document, quote=True)}"></iframe></body></html>'
    )


def third_party_html(document: str, *, height: int, title: str) -> None:
    """Show an HTML document made by another tool inside the page, its scripts kept away from the console."""
    st.iframe(sandboxed_document(document, height=height, title=title), height=height + 8, alt=title)
