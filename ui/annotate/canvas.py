"""The box canvas: streamlit-drawable-canvas behind a guarded import, and the conversion between our boxes (image
pixels, class names) and the canvas's Fabric.js drawing (canvas pixels, `LabeledRect` objects in class colours).

streamlit-drawable-canvas 0.13 registers a components-v2 component when imported, which needs a running Streamlit;
older releases called Streamlit's private `image_to_url`, which moved between Streamlit versions. `canvas_module()`
imports it only when a page draws, and says plainly what is wrong when it cannot be used.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from backend.core.vocab import color_for

PixelBox = tuple[float, float, float, float]
_ORIGIN = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}
MIN_SIDE_PX = 2.0  # a click without a drag makes a zero-size box; it is not a box anyone meant


class CanvasUnavailableError(RuntimeError):
    """The drawing canvas cannot run with this Streamlit."""


def canvas_module() -> ModuleType:
    """streamlit_drawable_canvas, imported on first use, with a compatibility shim for older releases."""
    try:
        import streamlit_drawable_canvas as sdc
    except ImportError as exc:
        raise CanvasUnavailableError(f"The box editor needs streamlit-drawable-canvas ({exc}).") from exc
    if not hasattr(sdc, "st_canvas"):
        raise CanvasUnavailableError("streamlit-drawable-canvas has no st_canvas; install the pinned version.")
    _shim_image_to_url()
    return sdc


def _shim_image_to_url() -> None:
    """Releases before 0.10 call `streamlit.elements.image.image_to_url`, which newer Streamlit moved."""
    import streamlit.elements.image as st_image

    if hasattr(st_image, "image_to_url"):
        return
    try:
        from streamlit.elements.lib.image_utils import image_to_url
    except ImportError:
        return  # 0.13 (pinned) builds data URLs itself and needs nothing here
    st_image.image_to_url = image_to_url  # type: ignore[attr-defined]


def fit_scale(width: int, height: int, *, max_width: int = 820, max_height: int = 640) -> float:
    """The display scale that fits an image into the editor (never enlarged past 2×)."""
    return min(max_width / width, max_height / height, 2.0)


def to_drawing(boxes: list[tuple[str, PixelBox]], scale: float, *, stroke_width: int = 3) -> dict[str, Any]:
    """A canvas `initial_drawing` with one labelled rectangle per box, in its class colour."""
    objects = []
    for name, (x1, y1, x2, y2) in boxes:
        colour = color_for(name)
        objects.append(
            {
                "type": "LabeledRect",
                "label": name,
                "left": x1 * scale,
                "top": y1 * scale,
                "width": (x2 - x1) * scale,
                "height": (y2 - y1) * scale,
                "originX": "left",
                "originY": "top",
                "scaleX": 1,
                "scaleY": 1,
                "angle": 0,
                "stroke": colour,
                "strokeWidth": stroke_width,
                "fill": "rgba(0, 0, 0, 0)",
                "lockRotation": True,
                "strokeUniform": True,
            }
        )
    return {"objects": objects}


def from_drawing(
    drawing: dict[str, Any] | None, scale: float, *, width: int, height: int, default_class: str, names: list[str]
) -> list[tuple[str, PixelBox]] | None:
    """Boxes in image pixels from a canvas drawing (None when the canvas sent nothing yet).

    Unlabelled or unknown-label boxes take `default_class`; boxes are clipped to the image and dropped when
    smaller than MIN_SIDE_PX on a side.
    """
    if not drawing or "objects" not in drawing:
        return None
    boxes: list[tuple[str, PixelBox]] = []
    for obj in drawing["objects"]:
        if obj.get("type") not in ("LabeledRect", "rect"):
            continue
        w = float(obj.get("width", 0)) * float(obj.get("scaleX", 1))
        h = float(obj.get("height", 0)) * float(obj.get("scaleY", 1))
        left = float(obj.get("left", 0)) - _ORIGIN.get(obj.get("originX", "left"), 0.0) * w
        top = float(obj.get("top", 0)) - _ORIGIN.get(obj.get("originY", "top"), 0.0) * h
        x1, y1 = max(0.0, left / scale), max(0.0, top / scale)
        x2, y2 = min(float(width), (left + w) / scale), min(float(height), (top + h) / scale)
        if x2 - x1 < MIN_SIDE_PX or y2 - y1 < MIN_SIDE_PX:
            continue
        label = str(obj.get("label") or "")
        boxes.append((label if label in names else default_class, (x1, y1, x2, y2)))
    return boxes


def same_boxes(a: list[tuple[str, PixelBox]], b: list[tuple[str, PixelBox]], *, tol: float = 0.5) -> bool:
    """Equal class lists and corners within `tol` pixels (canvas round trips are not exact)."""
    return len(a) == len(b) and all(
        na == nb and all(abs(p - q) <= tol for p, q in zip(ba, bb, strict=True))
        for (na, ba), (nb, bb) in zip(a, b, strict=True)
    )
