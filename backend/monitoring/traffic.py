"""Simulated production traffic: demo food pictures with a chosen shift, optionally sent through the serving model.

The pictures come from the demo generator (`backend.data.demo`) with a seed far from any training set's, so they
are new scenes from the training distribution; a shift then changes them the way real traffic drifts:

- `none`: as drawn (the no-drift control).
- `dark`: a dim room: brightness scaled to 35-50 % with a slight gamma.
- `blur`: camera shake or a dirty lens: Gaussian blur of radius 2.5-4 px.
- `background`: another table: everything outside the food boxes recoloured into a saturated checked cloth.
- `class_mix`: other customers: pictures chosen for mostly bread, pizza and cheese (a pool three times the size
  is drawn and the pictures with the largest share of those foods are kept).

Shifted pictures are re-encoded as JPEG at the quality of the source, so file size changes only as the content
does. `send_traffic` logs each picture through `backend.serving.service.detect_image`, exactly like an upload.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from backend.core.errors import BadInputError
from backend.core.progress import ProgressFn, null_progress, sub_progress
from backend.data.demo import generate_demo_dataset

MAX_TRAFFIC_IMAGES = 20_000
TRAFFIC_SEED_BASE = 7_000_000  # far from the seeds datasets are drawn with
CLASS_MIX_FOODS: tuple[str, ...] = ("bread", "pizza", "cheese")


class TrafficShift(StrEnum):
    """How simulated traffic differs from the training pictures."""

    NONE = "none"
    DARK = "dark"
    BLUR = "blur"
    BACKGROUND = "background"
    CLASS_MIX = "class_mix"


@dataclass(frozen=True)
class TrafficBatch:
    """Simulated pictures on disk.

    Attributes:
        shift: The shift applied.
        files: The pictures, in order.
        seed: The seed used.
    """

    shift: TrafficShift
    files: list[Path]
    seed: int


def parse_shift(text: str) -> TrafficShift:
    """The shift named `text`, or BadInputError listing the choices."""
    try:
        return TrafficShift(text)
    except ValueError:
        choices = ", ".join(s.value for s in TrafficShift)
        raise BadInputError(f"Unknown shift {text!r}; choose one of {choices}.") from None


def generate_traffic(
    shift: TrafficShift | str,
    *,
    images: int,
    out_dir: Path,
    seed: int = 0,
    workers: int | None = None,
    progress: ProgressFn = null_progress,
) -> TrafficBatch:
    """Draw `images` pictures with a shift into `out_dir` as `traffic_<shift>_<seed>_<n>.jpg`.

    Args:
        shift: One of `TrafficShift`.
        images: How many pictures (1 to 20,000).
        out_dir: Folder to write (created if missing).
        seed: Seed; the same seed and shift give the same pictures.
        workers: Drawing processes for the demo generator (default its own).
        progress: Receives (fraction, message).

    Returns:
        The written batch.

    Raises:
        BadInputError: Unknown shift, a count out of range, or a folder that cannot be written.
    """
    shift = parse_shift(str(shift))
    if not 1 <= images <= MAX_TRAFFIC_IMAGES:
        raise BadInputError(f"The number of images must be between 1 and {MAX_TRAFFIC_IMAGES:,} (got {images}).")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"Cannot write to {out_dir}: {exc.strerror or exc}.") from exc
    pool_size = images * 3 if shift is TrafficShift.CLASS_MIX else images
    rng = np.random.default_rng([TRAFFIC_SEED_BASE, seed, list(TrafficShift).index(shift)])
    with tempfile.TemporaryDirectory(prefix="traffic-") as tmp:
        generate_demo_dataset(
            Path(tmp),
            images=pool_size,
            seed=TRAFFIC_SEED_BASE + seed,
            workers=workers,
            progress=sub_progress(progress, 0.0, 0.8),
        )
        coco = json.loads((Path(tmp) / "annotations.json").read_text(encoding="utf-8"))
        entries = coco_entries(coco)
        if shift is TrafficShift.CLASS_MIX:
            entries = most_of(entries, CLASS_MIX_FOODS, images)
        files = []
        for index, (file_name, boxes) in enumerate(entries[:images]):
            source = Path(tmp) / "images" / file_name
            target = out_dir / f"traffic_{shift.value}_{seed}_{index:05d}.jpg"
            if shift in (TrafficShift.NONE, TrafficShift.CLASS_MIX):
                shutil.copyfile(source, target)
            else:
                target.write_bytes(apply_shift(source.read_bytes(), shift, boxes, rng))
            files.append(target)
            if (index + 1) % 20 == 0 or index + 1 == images:
                progress(0.8 + 0.2 * (index + 1) / images, f"Wrote {index + 1} of {images} {shift.value} pictures")
    return TrafficBatch(shift=shift, files=files, seed=seed)


def coco_entries(coco: dict) -> list[tuple[str, list[tuple[str, list[float]]]]]:
    """(file name, [(class, [x, y, w, h])]) per image of a COCO dict, in file order."""
    names = {c["id"]: c["name"] for c in coco["categories"]}
    boxes: dict[int, list[tuple[str, list[float]]]] = {}
    for ann in coco["annotations"]:
        boxes.setdefault(ann["image_id"], []).append((names.get(ann["category_id"], ""), list(ann["bbox"])))
    return [(im["file_name"], boxes.get(im["id"], [])) for im in sorted(coco["images"], key=lambda i: i["file_name"])]


def most_of(
    entries: list[tuple[str, list[tuple[str, list[float]]]]], foods: Sequence[str], keep: int
) -> list[tuple[str, list[tuple[str, list[float]]]]]:
    """The `keep` pictures with the largest share of boxes of `foods` (ties: more such boxes first), in file order."""

    def share(entry: tuple[str, list[tuple[str, list[float]]]]) -> tuple[float, int]:
        hits = sum(1 for name, _ in entry[1] if name in foods)
        return (hits / len(entry[1]) if entry[1] else 0.0, hits)

    ranked = sorted(entries, key=share, reverse=True)[:keep]
    return sorted(ranked, key=lambda e: e[0])


def apply_shift(
    data: bytes, shift: TrafficShift, boxes: list[tuple[str, list[float]]], rng: np.random.Generator
) -> bytes:
    """Apply one pixel shift (dark, blur, background) to a JPEG and re-encode it at about the source's quality.

    Args:
        data: The JPEG bytes.
        shift: The shift; `none` and `class_mix` leave the pixels as they are (re-encoded).
        boxes: The picture's food boxes as (class, [x, y, w, h]) (the background shift keeps them).
        rng: Draws the shift's strength.
    """
    with Image.open(io.BytesIO(data)) as opened:
        quality = _jpeg_quality(opened)
        image = opened.convert("RGB")
    if shift is TrafficShift.DARK:
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        scale = float(rng.uniform(0.35, 0.5))
        out = np.clip(255.0 * scale * pixels**1.15, 0, 255).astype(np.uint8)
        image = Image.fromarray(out)
    elif shift is TrafficShift.BLUR:
        image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(2.5, 4.0))))
    elif shift is TrafficShift.BACKGROUND:
        image = new_table(image, boxes, rng)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def new_table(image: Image.Image, boxes: list[tuple[str, list[float]]], rng: np.random.Generator) -> Image.Image:
    """Everything outside the food boxes (feathered) blended into a saturated checked tablecloth."""
    w, h = image.size
    base = np.asarray(image, dtype=np.float32)
    cell = int(rng.integers(18, 40))
    colors = [(200, 30, 40), (30, 60, 190), (20, 150, 60), (230, 160, 0)]
    first, second = colors[int(rng.integers(0, len(colors)))], (245, 240, 230)
    ys, xs = np.mgrid[0:h, 0:w]
    checks = ((ys // cell + xs // cell) % 2 == 0)[..., None]
    cloth = np.where(checks, np.array(first, np.float32), np.array(second, np.float32))
    shade = base.mean(axis=2, keepdims=True) / 160.0  # keep the scene's light and shadows
    cloth = np.clip(cloth * (0.55 + 0.45 * shade), 0, 255)
    mask = np.zeros((h, w), np.float32)
    for _name, (x, y, bw, bh) in boxes:
        mask[max(0, int(y)) : int(y + bh) + 1, max(0, int(x)) : int(x + bw) + 1] = 1.0
    keep = Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius=6))
    alpha = np.asarray(keep, dtype=np.float32)[..., None] / 255.0
    out = alpha * base + (1.0 - alpha) * cloth
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def _jpeg_quality(image: Image.Image) -> int:
    """Estimate a JPEG's quality from its luma quantisation table (75 when it has none)."""
    tables = getattr(image, "quantization", None) or {}
    table = tables.get(0)
    if not table:
        return 75
    mean = float(np.mean(list(table)))
    # Pillow/libjpeg scale the standard table (mean about 57.6) by 5000/q below 50 and by 200-2q above.
    scale = mean / 57.625 * 100.0
    quality = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return int(min(95, max(10, round(quality))))


def send_traffic(files: Sequence[Path], *, progress: ProgressFn = null_progress) -> list[int]:
    """Detect each picture with the serving model and log it, exactly as an upload on the Detect page would be.

    Args:
        files: Pictures to send.
        progress: Receives (fraction, message).

    Returns:
        The ids of the logged predictions, in order.

    Raises:
        NotFoundError: No model is trained yet (nothing can serve).
    """
    from backend.core.errors import NotFoundError
    from backend.serving.service import detect_image, load_detector, serving_model

    model = serving_model()
    if model is None:
        raise NotFoundError("No model can answer yet: train one on the Train page (or promote one) first.")
    detector = load_detector(model)
    ids: list[int] = []
    for index, path in enumerate(files, start=1):
        outcome = detect_image(
            Path(path).read_bytes(), name=Path(path).name, detector=detector, model=model, source="cli"
        )
        ids.append(outcome.prediction_id)
        if index % 10 == 0 or index == len(files):
            progress(index / len(files), f"Sent {index} of {len(files)} pictures through {model.label}")
    return ids
