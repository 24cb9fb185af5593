"""The demo dataset as files: the class plan, the clean images (drawn in parallel), COCO annotations, defects.json.

Every image is seeded from ``(seed, index)``, so a dataset is byte-identical for the same seed whatever the number
of worker processes, and image ``i`` is the same whatever ``images`` is.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from backend.core.errors import BadInputError, PlateOpsError
from backend.core.progress import ProgressFn, null_progress
from backend.core.vocab import FOOD_CLASSES
from backend.data.demo.coco import CATEGORY_IDS, add_image
from backend.data.demo.defects import plant_defects
from backend.data.demo.scenes import CLEAN_STREAM, PLAN_STREAM, jpeg_bytes, jpeg_quality, render_scene

MAX_IMAGES = 1_000_000


@dataclass(frozen=True)
class DemoSummary:
    """What `generate_demo_dataset` wrote.

    Attributes:
        out_dir: The dataset folder.
        images: Clean images written (`demo_000000.jpg` ...).
        defect_images: Extra images with planted defects (0 without `defects`).
        boxes: Boxes on the clean images.
        per_class: Boxes per class name on the clean images.
        seconds: Wall time of the whole generation.
        annotations_path: The COCO json.
        defects_path: `defects.json`, or None without `defects`.
    """

    out_dir: Path
    images: int
    defect_images: int
    boxes: int
    per_class: dict[str, int]
    seconds: float
    annotations_path: Path
    defects_path: Path | None = None

    @property
    def classes(self) -> int:
        """Number of classes that have at least one box."""
        return sum(1 for count in self.per_class.values() if count > 0)

    def describe(self) -> str:
        """One human line, e.g. 'Wrote 400 images with 1,873 boxes in 12 classes to DIR (23.4 s)'."""
        extra = f" (+{self.defect_images} with planted defects)" if self.defect_images else ""
        return (
            f"Wrote {self.images:,} images{extra} with {self.boxes:,} boxes in {self.classes} classes "
            f"to {self.out_dir} ({self.seconds:.1f} s)"
        )


def plan_classes(seed: int, n: int) -> list[list[int]]:
    """Classes per image: 1-8 items, drawn from shuffled bags of all twelve so classes stay balanced."""
    rng = random.Random(int(np.random.default_rng(np.random.SeedSequence([seed, PLAN_STREAM])).integers(0, 2**63)))
    k = len(FOOD_CLASSES)
    bag: list[int] = []
    plan = []
    for _ in range(n):
        count = rng.randint(1, 8)
        items = []
        for _j in range(count):
            if not bag:
                bag = list(range(k))
                rng.shuffle(bag)
            items.append(bag.pop())
        if count >= 3 and rng.random() < 0.3:  # a few of the same food together (three eggs, two lemons)
            items[-1] = items[0]
        plan.append(items)
    return plan


def image_name(index: int) -> str:
    return f"demo_{index:06d}.jpg"


def _make_clean(task: tuple[int, int, list[int], str]) -> tuple[int, int, int, list[tuple[int, list[float]]]]:
    """Worker: render, encode and write one clean image; return its size and boxes."""
    seed, index, classes, images_dir = task
    parts = (seed, index, CLEAN_STREAM)
    scene = render_scene(parts, classes)
    path = Path(images_dir) / image_name(index)
    path.write_bytes(jpeg_bytes(scene.pixels, jpeg_quality(parts)))
    h, w = scene.pixels.shape[:2]
    return index, w, h, [(b.cls, b.bbox) for b in scene.boxes]


def _clear_old(images_dir: Path, keep: set[str]) -> None:
    for p in images_dir.glob("demo_*"):
        if p.name not in keep and p.is_file():
            p.unlink()


def _imap(tasks: list[tuple[int, int, list[int], str]], workers: int) -> Iterator[tuple[int, int, int, list]]:
    if workers <= 1 or len(tasks) < 8:
        for t in tasks:
            yield _make_clean(t)
        return
    # spawn, not fork: the caller may be a threaded process (the console), where fork is unsafe. A process pool
    # executor, not multiprocessing.Pool: if a worker dies, Pool.imap waits forever; the executor raises.
    chunksize = max(1, min(16, len(tasks) // (workers * 8)))
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        try:
            yield from pool.map(_make_clean, tasks, chunksize=chunksize)
        except BrokenProcessPool as exc:
            raise PlateOpsError(
                "A drawing worker process stopped unexpectedly (out of memory or killed); try again with fewer workers."
            ) from exc


def generate_demo_dataset(
    out_dir: Path,
    *,
    images: int = 400,
    seed: int = 0,
    defects: bool = False,
    workers: int | None = None,
    progress: ProgressFn = null_progress,
) -> DemoSummary:
    """Generate the procedural COCO food dataset (and optionally planted data-quality defects).

    Args:
        out_dir: Folder to write; created if missing. Earlier `demo_*` images in `out_dir/images` are replaced.
        images: Number of clean images (1 to 1,000,000).
        seed: Seed; the same seed gives byte-identical files whatever `workers` is.
        defects: Also add the `demo_defect_*` images listed in `defects.json` (see the module docstring).
        workers: Worker processes; default `os.cpu_count()`.
        progress: Receives (fraction, message) while images are drawn.

    Returns:
        A `DemoSummary` of what was written.

    Raises:
        BadInputError: `images` is out of range or `out_dir` cannot be written.
    """
    start = time.perf_counter()
    if not isinstance(images, int) or images < 1 or images > MAX_IMAGES:
        raise BadInputError(f"The number of images must be between 1 and {MAX_IMAGES:,} (got {images}).")
    out_dir = Path(out_dir)
    images_dir = out_dir / "images"
    try:
        images_dir.mkdir(parents=True, exist_ok=True)
        probe = images_dir / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BadInputError(f"Cannot write the demo dataset to {out_dir}: {exc.strerror or exc}.") from exc
    workers = max(1, workers if workers is not None else (os.cpu_count() or 1))

    plan = plan_classes(seed, images)
    tasks = [(seed, i, plan[i], str(images_dir)) for i in range(images)]
    coco_images: list[dict] = []
    coco_anns: list[dict] = []
    per_class = dict.fromkeys(FOOD_CLASSES, 0)
    progress(0.0, f"Drawing {images:,} demo images")
    results: list[tuple[int, int, int, list]] = []
    for done, res in enumerate(_imap(tasks, workers), start=1):
        results.append(res)
        if done % 10 == 0 or done == images:
            progress(done / images * (0.95 if defects else 1.0), f"Drew {done:,} of {images:,} images")
    results.sort(key=lambda r: r[0])
    for index, w, h, boxes in results:
        add_image(coco_images, coco_anns, image_name(index), w, h, boxes)
        for cls, _bbox in boxes:
            per_class[FOOD_CLASSES[cls]] += 1
    clean_boxes = len(coco_anns)

    defect_list: list[dict[str, str]] = []
    if defects:
        progress(0.96, "Planting data-quality defects")
        defect_list = plant_defects(images_dir, seed, images, coco_images, coco_anns)

    keep = {im["file_name"] for im in coco_images}
    _clear_old(images_dir, keep)
    categories = [{"id": CATEGORY_IDS[name], "name": name, "supercategory": "food"} for name in FOOD_CLASSES]
    coco = {
        "info": {"description": "PlateOps procedural demo food dataset", "version": "1.0", "seed": seed},
        "images": coco_images,
        "annotations": coco_anns,
        "categories": categories,
    }
    ann_path = out_dir / "annotations.json"
    ann_path.write_text(json.dumps(coco, indent=1), encoding="utf-8")
    defects_path = None
    if defects:
        defects_path = out_dir / "defects.json"
        defects_path.write_text(json.dumps(defect_list, indent=1), encoding="utf-8")
    elif (out_dir / "defects.json").exists():
        (out_dir / "defects.json").unlink()
    progress(1.0, f"Wrote {images:,} images")
    return DemoSummary(
        out_dir=out_dir,
        images=images,
        defect_images=len(coco_images) - images,
        boxes=clean_boxes,
        per_class=per_class,
        seconds=time.perf_counter() - start,
        annotations_path=ann_path,
        defects_path=defects_path,
    )
