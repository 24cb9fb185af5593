"""PlateOps Detect alone, for end users: `./plateops start --detect-only` (or `python -m ui.launch --detect-only`).

Only the public Detect page is served; none of the console's pages exists in this app, so end users never reach
them whatever link they try. Visitors act as the public user (they may detect and send feedback).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.widgets.shell import bootstrap, use_public_actor

DETECT_PAGE = Path(__file__).resolve().parent / "pages" / "detect.py"
FAVICON = Path(__file__).resolve().parent / "ui" / "assets" / "favicon.png"  # a file: no outside fetch for the tab icon


def main() -> None:
    st.set_page_config(page_title="PlateOps Detect", page_icon=str(FAVICON), layout="wide")
    bootstrap()
    use_public_actor()
    st.navigation([st.Page(DETECT_PAGE, title="Detect", icon=":material/photo_camera:", default=True)]).run()


if __name__ == "__main__":
    main()
