"""The detector: load YOLO weights (.pt or .onnx), detect objects on images, draw the boxes.

Security: a `.pt` file is a Python pickle, and `torch.load` of a pickle runs whatever code the file carries.
Only load `.pt` weights that PlateOps' own training produced on this machine; never load a `.pt` a user uploads.
Pass `allowed_root` (e.g. the workspace runs folder) so a path outside it is refused. `.onnx` files hold no code
and are the format to accept from elsewhere.

Offline: ultralytics would otherwise pip-install missing export/runtime packages and probe the network;
`ultralytics_yolo()` sets `YOLO_AUTOINSTALL=false` and `YOLO_OFFLINE=true` (unless already set) before ultralytics
is first imported, and turns auto-install off if it was imported earlier. It also undoes ultralytics' global
replacement of `PIL.Image.open` (which would try to install a HEIF plugin on every unreadable upload).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from PIL import Image, ImageDraw, ImageFont

from backend.errors import BadInputError, NotFoundError
from backend.vocab import color_for

if TYPE_CHECKING:
    from ultralytics import YOLO

logger = logging.getLogger(__name__)

WEIGHT_KINDS: dict[str, Literal["pt", "onnx"]] = {".pt": "pt", ".onnx": "onnx"}

# Errors ultralytics, torch and onnxruntime raise for a file that is not a usable model.
_LOAD_ERRORS: tuple[type[BaseException], ...] = (
    RuntimeError,
    ValueError,
    TypeError,
    OSError,
    KeyError,
    AttributeError,
    EOFError,
    AssertionError,
    ImportError,
)


def ultralytics_yolo() -> type[YOLO]:
    """Import and return ultralytics' `YOLO` class with network access and auto-install switched off.

    Returns:
        The `ultralytics.YOLO` class.
    """
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    # Heavy imports, only when a model is used.
    from ultralytics import YOLO
    from ultralytics.utils import checks, patches

    # Imported earlier by someone who did not set the variable: never pip-install at run time.
    checks.AUTOINSTALL = False
    # ultralytics replaces PIL's Image.open process-wide with a wrapper that, on any file Pillow cannot identify,
    # tries to pip-install a HEIF plugin and then raises ImportError instead of UnidentifiedImageError. We accept
    # no HEIF, so put Pillow's own function back (guarded: the private name may change between versions).
    original_open = getattr(patches, "_image_open", None)
    if original_open is not None and Image.open is getattr(patches, "image_open", None):
        Image.open = original_open
    return YOLO


def ultralytics_logs_to_stderr() -> None:
    """Send ultralytics' log lines to stderr (it logs to stdout), keeping a CLI's stdout for its own output."""
    ultralytics_yolo()
    for handler in logging.getLogger("ultralytics").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)


@dataclass(frozen=True)
class Detection:
    """One detected object.

    Attributes:
        class_name: Class name from the model's metadata.
        class_id: Class index in the model.
        confidence: Score 0–1 (rounded to 4 decimals).
        box: (x1, y1, x2, y2) in pixels of the original (upright) image, rounded to 0.1.
    """

    class_name: str
    class_id: int
    confidence: float
    box: tuple[float, float, float, float]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by `jobs.detect` and the prediction log: `{"class", "confidence", "box"}`."""
        return {"class": self.class_name, "confidence": self.confidence, "box": list(self.box)}


@dataclass
class DetectionResult:
    """Detections on one image.

    Attributes:
        detections: Objects found, highest confidence first.
        latency_ms: Wall time of the predict call for this image, pre- and post-processing included.
        width: Width of the image the boxes refer to.
        height: Height of the image the boxes refer to.
    """

    detections: list[Detection] = field(default_factory=list)
    latency_ms: float = 0.0
    width: int = 0
    height: int = 0


class Detector:
    """A loaded YOLO detection model. Create with `Detector.load`; thread-safe (predictions run one at a time)."""

    def __init__(self, model: YOLO, *, source: Path, kind: Literal["pt", "onnx"], device: str) -> None:
        self._model = model
        self._source = source
        self._kind = kind
        self._device = device
        self._lock = threading.Lock()
        self._fixed_imgsz: int | None = None
        self._names: list[str] = []
        self._imgsz = 640

    @classmethod
    def load(
        cls,
        weights: Path,
        *,
        device: str = "cpu",
        allowed_root: Path | None = None,
    ) -> Detector:
        """Load `.pt` or `.onnx` weights and run one warm-up prediction.

        Args:
            weights: Model file. `.pt` files must come from our own training (loading runs pickled code).
            device: Torch device ("cpu", "0", "cuda:0"...).
            allowed_root: When given, refuse weights outside this folder (resolved, symlinks followed).

        Returns:
            A ready detector.

        Raises:
            NotFoundError: The weights file does not exist.
            BadInputError: The file is outside `allowed_root`, has another suffix, or is not a usable model.
        """
        weights = Path(weights)
        kind = WEIGHT_KINDS.get(weights.suffix.lower())
        if kind is None:
            raise BadInputError(f"{weights.name} is not a model file; use the .pt or .onnx weights of a trained run.")
        if not weights.is_file():
            raise NotFoundError(f"Model weights not found: {weights}. Check the path or train a model first.")
        if allowed_root is not None and not weights.resolve().is_relative_to(Path(allowed_root).resolve()):
            raise BadInputError(
                f"{weights.name} is outside {allowed_root}; only weights from PlateOps' own runs can be loaded "
                "(a .pt file can run code when loaded)."
            )
        yolo = ultralytics_yolo()
        try:
            model = yolo(str(weights), task="detect")
            if model.task != "detect":
                raise BadInputError(f"{weights.name} is a {model.task} model; PlateOps needs a detection model.")
            detector = cls(model, source=weights, kind=kind, device=device)
            detector._warm_up()
        except _LOAD_ERRORS as exc:
            raise BadInputError(
                f"{weights.name} could not be loaded as a YOLO detection model ({_first_line(exc)}). "
                "Use best.pt from a PlateOps run or an ONNX export of it."
            ) from exc
        return detector

    def _warm_up(self) -> None:
        """Build the predictor on a blank image so names, input size and the first latency are settled."""
        train_imgsz = self._model.overrides.get("imgsz")
        self._model.predict(Image.new("RGB", (32, 32)), imgsz=train_imgsz or 640, device=self._device, verbose=False)
        backend = self._model.predictor.model
        names = backend.names if isinstance(backend.names, dict) else dict(enumerate(backend.names))
        self._names = [str(names[i]) for i in sorted(names)]
        if self._kind == "onnx":
            size = getattr(backend, "imgsz", None) or train_imgsz or 640
            self._imgsz = int(max(size) if isinstance(size, (list, tuple)) else size)
            if not getattr(backend, "dynamic", False):
                self._fixed_imgsz = self._imgsz
        else:
            size = train_imgsz or 640
            self._imgsz = int(max(size) if isinstance(size, (list, tuple)) else size)

    @property
    def names(self) -> list[str]:
        """Class names, indexed by class id."""
        return list(self._names)

    @property
    def source(self) -> Path:
        """The weights file this detector was loaded from."""
        return self._source

    @property
    def kind(self) -> Literal["pt", "onnx"]:
        """The weights format: "pt" or "onnx"."""
        return self._kind

    @property
    def imgsz(self) -> int:
        """Default inference size (the training size for .pt, the exported input size for .onnx)."""
        return self._imgsz

    def predict(
        self,
        images: list[Image.Image],
        *,
        conf: float = 0.25,
        iou: float = 0.45,
        imgsz: int | None = None,
    ) -> list[DetectionResult]:
        """Detect objects on each image.

        Args:
            images: Upright RGB images (as from `backend.images.load_image`).
            conf: Minimum confidence, 0–1.
            iou: IoU threshold of non-maximum suppression, 0–1.
            imgsz: Inference size; default `self.imgsz`. Ignored (with a log warning) for an ONNX model exported
                with a fixed input size, which only runs at that size.

        Returns:
            One result per image, in order; boxes are in each image's own pixel coordinates, highest confidence
            first; boxes without area are left out.
        """
        if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
            raise BadInputError(f"Confidence and IoU must be between 0 and 1 (got conf={conf}, iou={iou}).")
        size = imgsz or self._imgsz
        if self._fixed_imgsz is not None and size != self._fixed_imgsz:
            logger.warning("%s only runs at imgsz=%d; ignoring imgsz=%d", self._source.name, self._fixed_imgsz, size)
            size = self._fixed_imgsz
        results: list[DetectionResult] = []
        with self._lock:
            for image in images:
                start = time.perf_counter()
                outputs = self._model.predict(image, conf=conf, iou=iou, imgsz=size, device=self._device, verbose=False)
                latency_ms = (time.perf_counter() - start) * 1000.0
                results.append(
                    DetectionResult(
                        detections=self._to_detections(outputs[0].boxes.data.tolist()),
                        latency_ms=round(latency_ms, 2),
                        width=image.width,
                        height=image.height,
                    )
                )
        return results

    def _to_detections(self, rows: list[list[float]]) -> list[Detection]:
        """Turn ultralytics' [x1, y1, x2, y2, conf, cls] rows (original-image pixels) into detections.

        Boxes that clipping to the image left without area (from anchors in the letterbox padding) are dropped.
        """
        detections = []
        for x1, y1, x2, y2, score, cls in rows:
            box = (round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1))
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            class_id = int(cls)
            name = self._names[class_id] if 0 <= class_id < len(self._names) else str(class_id)
            detections.append(Detection(class_name=name, class_id=class_id, confidence=round(score, 4), box=box))
        return detections


def draw_detections(
    image: Image.Image,
    detections: list[Detection],
    *,
    line_width: int | None = None,
) -> Image.Image:
    """Draw boxes and "name 0.87" labels on a copy of the image.

    Each class has its colour (`backend.vocab.color_for`); labels sit on a filled tag in that colour with black or
    white text, whichever contrasts more, so they stay readable on any background.

    Args:
        image: The image the boxes refer to (upright, as detected).
        detections: Objects to draw.
        line_width: Box line width in pixels; default scales with the image size.

    Returns:
        A new RGB image; the input is not changed.
    """
    canvas = image.convert("RGB") if image.mode != "RGB" else image.copy()
    width = line_width or max(2, round((canvas.width + canvas.height) / 2 * 0.003))
    font = _label_font(max(10, width * 5))
    draw = ImageDraw.Draw(canvas)
    for det in detections:
        color = _hex_to_rgb(color_for(det.class_name))
        x1, y1, x2, y2 = det.box
        draw.rectangle((x1, y1, x2, y2), outline=color, width=width)
        label = f"{det.class_name} {det.confidence:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        text_w, text_h = right - left, bottom - top
        pad = max(2, width)
        tag_h = text_h + 2 * pad
        # Above the box when there is room, else just inside its top edge.
        tag_top = y1 - tag_h if y1 - tag_h >= 0 else y1
        tag_left = min(max(0.0, x1), max(0.0, canvas.width - text_w - 2 * pad))
        draw.rectangle((tag_left, tag_top, tag_left + text_w + 2 * pad, tag_top + tag_h), fill=color)
        draw.text((tag_left + pad - left, tag_top + pad - top), label, fill=_text_color(color), font=font)
    return canvas


def _first_line(exc: BaseException) -> str:
    """The first line of an exception message without ultralytics' "ERROR ❌️" decoration, at most 200 chars."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.removeprefix("ERROR").strip(" ❌️\ufe0f:")  # noqa: B005 - a set of decoration characters
    return text if len(text) <= 200 else text[:199] + "…"


@lru_cache(maxsize=16)
def _label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at `size` (no file or download needed)."""
    return ImageFont.load_default(size=size)


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    """'#rrggbb' → (r, g, b)."""
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever has the higher WCAG contrast against the background."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in background)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # Contrast with black is (L+0.05)/0.05, with white 1.05/(L+0.05); they are equal at L ≈ 0.179.
    return (0, 0, 0) if luminance > 0.179 else (255, 255, 255)
