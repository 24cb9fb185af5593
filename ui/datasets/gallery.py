"""The Gallery tab: filters, a paginated grid of images drawn with their boxes, and one image in detail."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from backend.core.errors import PlateOpsError
from backend.core.vocab import color_for
from backend.data.datasets import (
    Box,
    GalleryImage,
)
from backend.imaging.drawing import draw_boxes, image_size, letterbox, to_pixels
from ui.widgets.quality import SEVERITY_ICONS

PAGE_SIZE = 12
GRID_COLUMNS = 4
THUMB_SIDE = 400
DETAIL_SIDE = 900


@st.cache_data(show_spinner=False, max_entries=2000)
def _rendered(
    path: str, mtime_ns: int, size: int, boxes: tuple[tuple[Any, ...], ...], max_side: int
) -> tuple[bytes, int, int] | str:
    """JPEG bytes of the image with its boxes and the full-size width and height, or why it cannot be shown.

    Keyed by (path, mtime, size): a changed file draws again; boxes are part of the key too.
    """
    del mtime_ns, size  # cache key only
    try:
        picture = draw_boxes(path, [Box(*b) for b in boxes], max_side=max_side, labels=True)
        width, height = image_size(path)
    except PlateOpsError as exc:
        return str(exc)
    if max_side <= THUMB_SIDE:  # tiles share one shape so the grid lines up
        picture = letterbox(picture, max_side, max_side * 3 // 4)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue(), width, height


def render_image(img: GalleryImage, max_side: int) -> tuple[bytes, int, int] | str:
    """The image drawn with its boxes (cached by path, mtime and size), or a plain reason it cannot be shown."""
    if not img.path:
        return "Left out at import, so there is no picture."
    try:
        stat = Path(img.path).stat()
    except OSError:
        return "The file is missing from the version folder."
    boxes = tuple((b.class_id, b.name, b.cx, b.cy, b.w, b.h) for b in img.boxes)
    return _rendered(img.path, stat.st_mtime_ns, stat.st_size, boxes, max_side)


# --- gallery --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GalleryFilters:
    classes: list[str]
    splits: list[str]
    checks: list[str]


def gallery_filters_ui(names: list[str], images: list[GalleryImage]) -> GalleryFilters:
    """Class, split and check filters; returns the choices."""
    present = sorted({b.name for img in images for b in img.boxes}, key=lambda n: (n not in names, n))
    splits = [s for s in ("train", "val", "test", "excluded") if any(img.split == s for img in images)]
    checks = sorted({c for img in images for c, _, _ in img.issues})
    c1, c2, c3 = st.columns([3, 1, 2])
    classes = c1.multiselect(
        "Food",
        present,
        key="ds_gallery_classes",
        placeholder="Any food",
        help="Images with at least one box of these classes",
    )
    split_choice = c2.multiselect("Split", splits, key="ds_gallery_splits", placeholder="Any")
    check_choice = c3.multiselect(
        "Issue",
        checks,
        key="ds_gallery_checks",
        placeholder="Any or none",
        help="Images with any of these data-quality issues",
    )
    return GalleryFilters(classes, split_choice, check_choice)


def filter_images(images: list[GalleryImage], filters: GalleryFilters) -> list[GalleryImage]:
    """The images that match every chosen filter."""
    wanted = set(filters.classes)
    checks = set(filters.checks)
    return [
        img
        for img in images
        if (not wanted or wanted & img.classes)
        and (not filters.splits or img.split in filters.splits)
        and (not checks or checks & {c for c, _, _ in img.issues})
    ]


def _open_image(file: str) -> None:
    st.session_state["ds_open"] = file


def _close_image() -> None:
    st.session_state.pop("ds_open", None)


def gallery_ui(names: list[str], images: list[GalleryImage]) -> None:
    """Filters, the detail view of an opened image, and a paginated thumbnail grid."""
    filters = gallery_filters_ui(names, images)
    shown = filter_images(images, filters)
    opened = st.session_state.get("ds_open")
    detail = next((img for img in images if img.file == opened), None)
    if detail is not None:
        detail_ui(detail)
    if not shown:
        st.info("No image matches these filters.")
        return
    pages = math.ceil(len(shown) / PAGE_SIZE)
    if st.session_state.get("ds_gallery_page", 1) > pages:
        st.session_state["ds_gallery_page"] = pages
    info, pager = st.columns([4, 1], vertical_alignment="bottom")
    page = pager.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key="ds_gallery_page")
    first = (int(page) - 1) * PAGE_SIZE
    chunk = shown[first : first + PAGE_SIZE]
    of_all = f" (of {len(images)} in the version)" if len(shown) < len(images) else ""
    info.caption(f"Showing {first + 1}–{first + len(chunk)} of {len(shown)} images{of_all}.")
    for row_start in range(0, len(chunk), GRID_COLUMNS):
        columns = st.columns(GRID_COLUMNS)
        for column, img in zip(columns, chunk[row_start : row_start + GRID_COLUMNS], strict=False):
            with column:
                thumbnail_ui(img)


def thumbnail_ui(img: GalleryImage) -> None:
    """One tile: picture with boxes, file name, split, box and issue counts, and an Open button."""
    with st.container(border=True):
        rendered = render_image(img, THUMB_SIDE)
        if isinstance(rendered, str):
            st.warning(rendered, icon=":material/hide_image:")
        else:
            st.image(rendered[0], width="stretch")
        st.markdown(f"**{img.file}**")
        issues = _issue_summary(img)
        st.caption(f"{img.split} · {len(img.boxes)} box(es){issues}")
        st.button(
            "Open", key=f"ds_open_{img.split}_{img.file}", on_click=_open_image, args=(img.file,), width="stretch"
        )


def _issue_summary(img: GalleryImage) -> str:
    if not img.issues:
        return ""
    worst = max(img.issues, key=lambda i: ("info", "warning", "error").index(i[1]) if i[1] in SEVERITY_ICONS else 0)
    return f" · {SEVERITY_ICONS.get(worst[1], '')} {', '.join(sorted({c for c, _, _ in img.issues}))}"


def detail_ui(img: GalleryImage) -> None:
    """A larger picture with its boxes, the box table in pixels and the image's issues."""
    with st.container(border=True):
        head, close = st.columns([6, 1], vertical_alignment="center")
        head.subheader(f":material/zoom_in: {img.file}")
        close.button("Close", key="ds_close", on_click=_close_image, icon=":material/close:", width="stretch")
        picture, side = st.columns([1, 1])
        rendered = render_image(img, DETAIL_SIDE)
        with picture:
            if isinstance(rendered, str):
                st.warning(rendered, icon=":material/hide_image:")
            else:
                st.image(rendered[0], width="stretch")
        with side:
            size = f" · {rendered[1]} × {rendered[2]} px" if not isinstance(rendered, str) else ""
            st.caption(f"Split: {img.split}{size}")
            st.markdown(f"**Boxes ({len(img.boxes)})**")
            if img.boxes and not isinstance(rendered, str):
                rows = [
                    {
                        "": "■",
                        "class": p.name,
                        "x1": p.x1,
                        "y1": p.y1,
                        "x2": p.x2,
                        "y2": p.y2,
                        "size": f"{p.width} × {p.height}",
                    }
                    for p in to_pixels(img.boxes, rendered[1], rendered[2])
                ]
                frame = pd.DataFrame(rows)
                st.dataframe(
                    frame.style.apply(lambda _col: [f"color: {color_for(n)}" for n in frame["class"]], subset=[""]),
                    hide_index=True,
                    width="stretch",
                )
            elif img.boxes:
                st.dataframe(
                    pd.DataFrame([{"class": b.name, "cx": b.cx, "cy": b.cy, "w": b.w, "h": b.h} for b in img.boxes]),
                    hide_index=True,
                )
            else:
                st.caption("No boxes: a background image.")
            st.markdown(f"**Issues ({len(img.issues)})**")
            if not img.issues:
                st.caption("None — this image passed every check.")
            for check, severity, message in img.issues:
                st.markdown(f"{SEVERITY_ICONS.get(severity, '•')} **{check}** — {message}")
