"""PlateOps console entry: page config, start-up, and role-based navigation. Run: ./plateops start"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from backend.core.access import Role
from ui.widgets.shell import bootstrap, console_role, current_actor
from ui.widgets.team_only import redirect_page, team_only_page

# A file in the repo: an icon name would make the browser fetch the tab icon from an outside font server.
FAVICON = str(Path(__file__).resolve().parent / "ui" / "assets" / "favicon.png")


def sections_for(role: str, *, admin: bool = False) -> dict[str, list[st.Page]]:
    """The pages each audience sees, in sections (end users see Detect only; admins also see Admin)."""
    home = st.Page("pages/overview.py", title="Home", icon=":material/home:", default=role != "user")
    datasets = st.Page("pages/datasets.py", title="Datasets", icon=":material/photo_library:")
    annotate = st.Page("pages/annotate.py", title="Annotate", icon=":material/edit:")
    train = st.Page("pages/train.py", title="Train", icon=":material/model_training:")
    jobs = st.Page("pages/jobs.py", title="Jobs", icon=":material/list_alt:")
    models = st.Page("pages/models.py", title="Models", icon=":material/emoji_events:")
    detect = st.Page("pages/detect.py", title="Detect", icon=":material/photo_camera:")
    monitor = st.Page("pages/monitor.py", title="Monitor", icon=":material/monitoring:")
    # Others get the address too, hidden from the menu: opened directly, it shows the backend's "admins only" refusal.
    admin_page = st.Page(
        "pages/admin.py",
        title="Admin",
        icon=":material/admin_panel_settings:",
        visibility="visible" if admin else "hidden",
    )
    if role == "user":  # the console's addresses still open, with a plain "this page is for the team" note
        # Home's address is /, which opens Detect.
        hidden = [datasets, annotate, train, jobs, models, monitor, admin_page]
        notes = [st.Page(team_only_page(p.title), title=p.title, url_path=p.url_path) for p in hidden]
        start = st.Page(redirect_page(detect), title="Detect", default=True)  # / opens /detect, which then works
        return {"Serving": [detect], "": [start, *notes]}
    top = [home] if admin else [home, admin_page]  # hidden: no empty "Admin" heading in the menu
    admin_section = {"Admin": [admin_page]} if admin else {}
    if role == "reviewer":
        # Training pages stay off the reviewer's menu but keep their addresses, so links to them (Home's "All
        # jobs", Monitor's "Go to Train") open; what a reviewer may not do there the backend refuses.
        off_menu = [
            st.Page("pages/train.py", title="Train", icon=":material/model_training:", visibility="hidden"),
            st.Page("pages/jobs.py", title="Jobs", icon=":material/list_alt:", visibility="hidden"),
            st.Page("pages/models.py", title="Models", icon=":material/emoji_events:", visibility="hidden"),
        ]
        return {
            "": [*top, *off_menu],
            "Monitoring": [monitor],
            "Data": [annotate, datasets],
            "Serving": [detect],
            **admin_section,
        }
    return {
        "": top,
        "Data": [datasets, annotate],
        "Training": [train, jobs],
        "Models": [models],
        "Serving": [detect],
        "Monitoring": [monitor],
        **admin_section,
    }


def main() -> None:
    st.set_page_config(page_title="PlateOps", page_icon=FAVICON, layout="wide")
    bootstrap()
    role = console_role()
    # End users get no page menu: Detect is theirs, the other addresses only say the page is for the team.
    admin = current_actor().role == Role.ADMIN  # a signed-in admin, or the open console's local admin
    st.navigation(sections_for(role, admin=admin), position="hidden" if role == "user" else "sidebar").run()


# Streamlit runs this file as __main__. The guard keeps it inert when a spawned worker process re-imports the
# main module (multiprocessing's "spawn" start method does that with whatever __main__ was).
if __name__ == "__main__":
    main()
