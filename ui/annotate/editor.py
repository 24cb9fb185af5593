"""The editor: the image with its boxes on the canvas, the box table (class per box, delete), and the save panel.

Edits live in `st.session_state` per (version, image) until saved, so a refused save (someone changed the image
first) or a page switch loses nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import streamlit as st

from backend.annotation.edits import EditConflictError, SavedEdit
from backend.annotation.service import EditorImage, save_image_boxes
from backend.core.errors import PlateOpsError
from backend.core.vocab import color_for
from backend.data.tasks import start_validation
from ui.annotate.canvas import (
    CanvasUnavailableError,
    PixelBox,
    canvas_module,
    fit_scale,
    from_drawing,
    same_boxes,
    to_drawing,
)
from ui.widgets.shell import current_actor
from ui.widgets.text import plain

EDITS_KEY = "annot_edits"  # {"<version>:<file>": [[class, [x1, y1, x2, y2]], ...]}
GEN_KEY = "annot_gen"  # bumped to remount the canvas after the table changed the boxes
VERSION_KEY = "annot_version_id"  # plain state: survives page switches and follows a save to its new version
BANNER_S = 120.0  # how long the "Saved as vN" banner stays
SAVED_KEY = "annot_saved"  # the last save's outcome, shown after the rerun
REFUSED_KEY = "annot_refused"
INITIAL_KEY = "annot_initial"  # {canvas key: the drawing it was mounted with}


def _edit_key(image: EditorImage) -> str:
    return f"{image.version_id}:{image.file}"


def current_boxes(image: EditorImage) -> list[tuple[str, PixelBox]]:
    """The boxes on screen: the unsaved edits of this image, else its saved boxes."""
    stored = st.session_state.get(EDITS_KEY, {}).get(_edit_key(image))
    if stored is None:
        return list(image.boxes)
    return [(str(name), (float(b[0]), float(b[1]), float(b[2]), float(b[3]))) for name, b in stored]


def _store(image: EditorImage, boxes: list[tuple[str, PixelBox]]) -> None:
    edits = st.session_state.setdefault(EDITS_KEY, {})
    if same_boxes(boxes, list(image.boxes), tol=0.01):
        edits.pop(_edit_key(image), None)
    else:
        edits[_edit_key(image)] = [[name, list(box)] for name, box in boxes]


def has_unsaved(image: EditorImage) -> bool:
    """True when this image has edits not saved yet."""
    return _edit_key(image) in st.session_state.get(EDITS_KEY, {})


def add_boxes(image: EditorImage, boxes: list[tuple[str, PixelBox]]) -> None:
    """Add boxes (accepted suggestions) to the image's edits and redraw the canvas with them."""
    _store(image, current_boxes(image) + list(boxes))
    _bump(image)


def unsaved_files(version_id: int) -> set[str]:
    """Files of a version with edits not saved yet."""
    prefix = f"{version_id}:"
    return {key[len(prefix) :] for key in st.session_state.get(EDITS_KEY, {}) if key.startswith(prefix)}


def _bump(image: EditorImage) -> None:
    gens = st.session_state.setdefault(GEN_KEY, {})
    gens[_edit_key(image)] = gens.get(_edit_key(image), 0) + 1


def canvas_ui(image: EditorImage, names: list[str], new_class: str) -> list[tuple[str, PixelBox]]:
    """Draw the image and its boxes on the canvas; returns the boxes as they are now (image pixels)."""
    boxes = current_boxes(image)
    try:
        sdc = canvas_module()
    except CanvasUnavailableError as exc:
        st.error(f"The box editor cannot start: {plain(exc)}")
        return boxes
    scale = fit_scale(image.width, image.height)
    gen = st.session_state.get(GEN_KEY, {}).get(_edit_key(image), 0)
    key = f"annot-canvas-{image.version_id}-{image.file}-{gen}"
    # The drawing a canvas starts from stays the same for its whole life: a changed initial_drawing would make
    # the browser redraw and send the drawing back, a rerun that can swallow a click made meanwhile.
    initial = st.session_state.setdefault(INITIAL_KEY, {})
    if key not in initial:
        initial.clear()
        initial[key] = to_drawing(boxes, scale)
    result = sdc.st_canvas(
        background_image=Path(image.path).read_bytes(),
        initial_drawing=initial[key],
        drawing_mode="labeled_rect",
        label=new_class,
        stroke_color=color_for(new_class),
        stroke_width=3,
        fill_color="rgba(0, 0, 0, 0)",
        width=round(image.width * scale),
        height=round(image.height * scale),
        font_size=13,
        key=key,
    )
    drawn = from_drawing(
        result.json_data, scale, width=image.width, height=image.height, default_class=new_class, names=names
    )
    if drawn is not None and not same_boxes(drawn, boxes):
        boxes = drawn
        _store(image, boxes)
    return boxes


def box_table_ui(image: EditorImage, names: list[str], boxes: list[tuple[str, PixelBox]]) -> None:
    """One row per box: change its class or delete it (the canvas redraws with the change)."""
    if not boxes:
        st.caption("No boxes on this image. Draw one on the picture.")
        return
    import pandas as pd

    gen = st.session_state.get(GEN_KEY, {}).get(_edit_key(image), 0)
    frame = pd.DataFrame(
        [
            {"class": name, "x1": round(b[0]), "y1": round(b[1]), "x2": round(b[2]), "y2": round(b[3]), "delete": False}
            for name, b in boxes
        ]
    )
    edited = st.data_editor(
        frame,
        key=f"annot-table-{image.version_id}-{image.file}-{gen}",
        hide_index=True,
        width="stretch",
        disabled=["x1", "y1", "x2", "y2"],
        column_config={
            "class": st.column_config.SelectboxColumn("Class", options=names, required=True),
            "delete": st.column_config.CheckboxColumn("Delete"),
        },
    )
    cols = st.columns([3, 1], vertical_alignment="bottom")
    doomed = cols[0].selectbox(  # a plain way to delete: the table's checkbox wants a selected cell and Space
        "Delete a box",
        list(range(len(boxes))),
        index=None,
        placeholder="Choose the box to delete",
        format_func=lambda i: f"{boxes[i][0]} at x1 {round(boxes[i][1][0])}, y1 {round(boxes[i][1][1])}",
        key=f"annot-doomed-{image.version_id}-{image.file}-{gen}",
    )
    deleting = cols[1].button(
        "Delete box",
        icon=":material/delete:",
        disabled=doomed is None,
        key=f"annot-delete-{image.version_id}-{image.file}-{gen}",
        width="stretch",
    )
    new_boxes = [
        (str(row["class"]), box)
        for index, (row, (_, box)) in enumerate(zip(edited.to_dict("records"), boxes, strict=True))
        if not row["delete"] and not (deleting and index == doomed)
    ]
    if new_boxes != boxes:
        _store(image, new_boxes)
        _bump(image)
        st.rerun()


def save_ui(image: EditorImage, boxes: list[tuple[str, PixelBox]], *, author: str) -> SavedEdit | None:
    """Message, save and reset; returns what a save made (the caller moves to the new version)."""
    unsaved = has_unsaved(image)
    message = st.text_input(
        "What did you change?", value=f"Fixed boxes on {image.file}", key=f"annot-msg-{image.version_id}-{image.file}"
    )
    # One button a row, full width: beside another in a narrow column the label was cut to "Save a…".
    save = st.button(
        "Save as a new version",
        type="primary",
        icon=":material/save:",
        disabled=not unsaved,
        shortcut="ctrl+enter",
        help="Ctrl+Enter. Saves this image's boxes as a new immutable version of the dataset.",
        key="annot-save",
        width="stretch",
    )
    if st.button("Undo my edits", icon=":material/undo:", disabled=not unsaved, key="annot-reset", width="stretch"):
        st.session_state.get(EDITS_KEY, {}).pop(_edit_key(image), None)
        st.session_state.pop(REFUSED_KEY, None)
        _bump(image)
        st.rerun()
    refused = st.session_state.get(REFUSED_KEY)
    if refused and refused[0] == _edit_key(image):
        st.error(plain(refused[1]) + " Your edits are still on screen.", icon="🚫")
    if not save:
        return None
    try:
        saved = save_image_boxes(
            image.version_id, image.file, boxes, actor=current_actor(), message=message, author=author
        )
    except EditConflictError as exc:
        st.session_state[REFUSED_KEY] = (_edit_key(image), str(exc))
        st.error(plain(exc) + " Your edits are still on screen.", icon="🚫")
        return None
    except PlateOpsError as exc:
        st.error(f"Not saved: {plain(exc)}")
        return None
    st.session_state.get(EDITS_KEY, {}).pop(_edit_key(image), None)
    st.session_state.pop(REFUSED_KEY, None)
    try:
        title = f"Validate dataset version {saved.version.id} (saved on Annotate)"
        job_id: int | None = start_validation(saved.version.id, actor=current_actor(), title=title)
    except PlateOpsError:
        job_id = None
    st.session_state[SAVED_KEY] = {
        "at": time.monotonic(),
        "version_id": saved.version.id,
        "version": saved.version.number,
        "changelog": saved.changelog,
        "job": job_id,
    }
    return saved


def saved_banner_ui() -> None:
    """What the last save made (the new version and its changelog totals), for `BANNER_S` seconds.

    It also moves the page to the new version. Both live in session state rather than in the save's own run: a
    rerun that arrives while a save runs (the jobs panel starts one when a job ends; the canvas sends its value)
    stops that run at its next Streamlit call, and the rerun after it must still show what the save made.
    """
    saved: dict[str, Any] | None = st.session_state.get(SAVED_KEY)
    if not saved:
        return
    if not saved.get("moved"):
        st.session_state[VERSION_KEY] = saved["version_id"]
        saved["moved"] = True
    if time.monotonic() - saved.get("at", 0.0) > BANNER_S:
        st.session_state.pop(SAVED_KEY, None)
        return
    totals = saved["changelog"].get("totals", {})
    changed = ", ".join(f"{n} {kind}" for kind, n in totals.items() if n) or "no box changes"
    job = f" Validation job #{saved['job']} checks it now." if saved.get("job") else ""
    st.success(f"Saved as v{saved['version']}: {changed}.{job}", icon="✅")
