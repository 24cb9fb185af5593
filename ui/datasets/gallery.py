"""The Gallery tab: filters, a paginated grid of images drawn with their boxes, and one image in detail."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from backend.core.errors import PlateOpsError
from backend.core.vocab import color_for
from backend.data.datasets import Box
from backend.data.index import GalleryFacets, gallery_facets, gallery_image, gallery_page
from backend.imaging.drawing import draw_boxes, image_size, letterbox, to_pixels
from backend.store.dataset_index import ImageQuery, IndexedImage, IndexState
from backend.store.records import DatasetVersion
from ui.widgets.calls import call
from ui.widgets.quality import SEVERITY_ICONS
from ui.widgets.text import plain, plural

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


def render_image(version: DatasetVersion, img: IndexedImage, max_side: int) -> tuple[bytes, int, int] | str:
    """The image drawn with its boxes (cached by path and the file stamp the index holds), or why it cannot be
    shown."""
    if not img.rel_path:
        return "Left out at import, so there is no picture."
    path = str(Path(version.path) / img.rel_path)
    boxes = tuple((b.class_id, b.name, b.cx, b.cy, b.w, b.h) for b in img.boxes)
    return _rendered(path, img.mtime_ns, img.bytes, boxes, max_side)


# --- gallery --------------------------------------------------------------------------------------------------

BOX_COUNT_CHOICES = {
    "Any": (None, None),
    "None (background)": (None, 0),
    "1–3": (1, 3),
    "4–8": (4, 8),
    "9 or more": (9, None),
}
BOX_SIZE_CHOICES = {
    "Any": (None, None),
    "Tiny (< 1 % of the image)": (None, 0.01),
    "Small (1–5 %)": (0.01, 0.05),
    "Medium (5–20 %)": (0.05, 0.20),
    "Large (> 20 %)": (0.20, None),
}
IMAGE_SIZE_CHOICES = {
    "Any": (None, None),
    "Under 0.3 MP": (None, 0.3),
    "0.3–1 MP": (0.3, 1.0),
    "1–4 MP": (1.0, 4.0),
    "Over 4 MP": (4.0, None),
}


def gallery_filters_ui(facets: GalleryFacets) -> ImageQuery:
    """Class, split, check, box count, box size and image size filters; returns the query (run in SQL)."""
    names = dict(facets.classes)
    c1, c2, c3 = st.columns([3, 1, 2])
    classes = c1.multiselect(
        "Food",
        list(names),
        format_func=lambda cid: names.get(cid, f"class {cid}"),
        key="ds_gallery_classes",
        placeholder="Any food",
        help="Images with at least one box of these classes",
    )
    split_choice = c2.multiselect("Split", facets.splits, key="ds_gallery_splits", placeholder="Any")
    check_choice = c3.multiselect(
        "Issue",
        facets.checks,
        key="ds_gallery_checks",
        placeholder="Any or none",
        help="Images with any of these data-quality issues",
    )
    c4, c5, c6 = st.columns(3)
    box_count = c4.selectbox("Boxes in the image", list(BOX_COUNT_CHOICES), key="ds_gallery_box_count")
    box_size = c5.selectbox(
        "Box size", list(BOX_SIZE_CHOICES), key="ds_gallery_box_size", help="Images with a box of this size"
    )
    size_choice = c6.selectbox("Image size", list(IMAGE_SIZE_CHOICES), key="ds_gallery_image_size")
    min_boxes, max_boxes = BOX_COUNT_CHOICES.get(box_count, (None, None))
    min_area, max_area = BOX_SIZE_CHOICES.get(box_size, (None, None))
    min_mp, max_mp = IMAGE_SIZE_CHOICES.get(size_choice, (None, None))
    return ImageQuery(
        classes=tuple(int(c) for c in classes),
        splits=tuple(split_choice),
        checks=tuple(check_choice),
        min_boxes=min_boxes,
        max_boxes=max_boxes,
        min_box_area=min_area,
        max_box_area=max_area,
        min_megapixels=min_mp,
        max_megapixels=max_mp,
    )


def _open_image(file: str) -> None:
    st.session_state["ds_open"] = file


def _close_image() -> None:
    st.session_state.pop("ds_open", None)


def gallery_ui(version: DatasetVersion, index: IndexState) -> None:
    """Filters, the detail view of an opened image, and a paginated thumbnail grid (one SQL page at a time)."""
    facets = call(gallery_facets, version.id, action="Reading the filters")
    if facets is None:
        return
    query = gallery_filters_ui(facets)
    opened = st.session_state.get("ds_open")
    if opened:
        detail = call(gallery_image, version.id, str(opened), action="Reading the image")
        if detail is not None:
            detail_ui(version, detail)
    wanted = max(1, int(st.session_state.get("ds_gallery_page", 1)))
    page = call(
        gallery_page, version.id, query, offset=(wanted - 1) * PAGE_SIZE, limit=PAGE_SIZE, action="Reading images"
    )
    if page is None:
        return
    if not page.total:
        st.info("No image matches these filters.")
        return
    pages = math.ceil(page.total / PAGE_SIZE)
    if wanted > pages:  # the filters shrank the list: show its last page
        st.session_state["ds_gallery_page"] = wanted = pages
        page = call(
            gallery_page, version.id, query, offset=(pages - 1) * PAGE_SIZE, limit=PAGE_SIZE, action="Reading images"
        )
        if page is None:
            return
    info, pager = st.columns([4, 1], vertical_alignment="bottom")
    pager.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key="ds_gallery_page")
    first = (wanted - 1) * PAGE_SIZE
    chunk = page.images
    of_all = f" (of {index.images} in the version)" if page.total < index.images else ""
    info.caption(f"Showing {first + 1}–{first + len(chunk)} of {page.total} images{of_all}.")
    for row_start in range(0, len(chunk), GRID_COLUMNS):
        columns = st.columns(GRID_COLUMNS)
        for column, img in zip(columns, chunk[row_start : row_start + GRID_COLUMNS], strict=False):
            with column:
                thumbnail_ui(version, img)


def thumbnail_ui(version: DatasetVersion, img: IndexedImage) -> None:
    """One tile: picture with boxes, file name, split, box and issue counts, and an Open button."""
    with st.container(border=True):
        rendered = render_image(version, img, THUMB_SIDE)
        if isinstance(rendered, str):
            st.warning(plain(rendered), icon="🙈")
        else:
            st.image(rendered[0], width="stretch")
        st.markdown(f"**{plain(img.file)}**")
        issues = _issue_summary(img)
        st.caption(f"{plain(img.split)} · {plural(len(img.boxes), 'box')}{issues}")
        st.button(
            "Open", key=f"ds_open_{img.split}_{img.file}", on_click=_open_image, args=(img.file,), width="stretch"
        )


def _issue_summary(img: IndexedImage) -> str:
    if not img.issues:
        return ""
    worst = max(img.issues, key=lambda i: ("info", "warning", "error").index(i[1]) if i[1] in SEVERITY_ICONS else 0)
    return f" · {SEVERITY_ICONS.get(worst[1], '')} {', '.join(sorted({c for c, _, _ in img.issues}))}"


def detail_ui(version: DatasetVersion, img: IndexedImage) -> None:
    """A larger picture with its boxes, the box table in pixels and the image's issues."""
    with st.container(border=True):
        head, close = st.columns([6, 1], vertical_alignment="center")
        head.subheader(f"🔍 {plain(img.file)}")
        close.button("Close", key="ds_close", on_click=_close_image, icon="❌", width="stretch")
        picture, side = st.columns([1, 1])
        rendered = render_image(version, img, DETAIL_SIDE)
        with picture:
            if isinstance(rendered, str):
                st.warning(plain(rendered), icon="🙈")
            else:
                st.image(rendered[0], width="stretch")
        with side:
            size = f" · {rendered[1]} × {rendered[2]} px" if not isinstance(rendered, str) else ""
            st.caption(f"Split: {plain(img.split)}{size}")
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
                st.markdown(f"{SEVERITY_ICONS.get(severity, '•')} **{check}** — {plain(message)}")
