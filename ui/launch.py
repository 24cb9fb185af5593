"""Serve the console: `python -m ui.launch [streamlit options]` (what `./plateops start` and Docker run).

`pages/` holds the page scripts that Home.py routes with `st.navigation`. Streamlit treats a `pages/` folder
beside the entry script as an old-style (v1) multipage app until the entry script first runs, so on a fresh
server a direct link such as /train would run that page alone — without Home.py's start-up, roles and sections.
Marking the app as navigation-routed before the server starts closes that gap.
"""

from __future__ import annotations

import sys
from pathlib import Path

HOME = Path(__file__).resolve().parent.parent / "Home.py"


def main() -> int:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    if hasattr(PagesManager, "uses_pages_directory"):  # guarded: a private switch of streamlit's
        PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", str(HOME), *sys.argv[1:]]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
