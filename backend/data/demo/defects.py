"""Planted data-quality defects: the `demo_defect_*` images and their `defects.json` entries.

With ``defects=True`` the N clean images are kept as they are and these images are added after them (they sort
after the clean names, so a duplicate's copy is the one a validator reports), with at least one case of every
check in the data-quality spec:

=====================================  ==================  =================================================
file                                   kind                what is planted
=====================================  ==================  =================================================
demo_defect_corrupt_truncated.jpg      corrupt_image       a JPEG cut to 40 % of its bytes
demo_defect_corrupt_random.jpg         corrupt_image       random bytes under a .jpg name
demo_defect_format_mismatch.jpg        format_mismatch     a valid PNG under a .jpg name
demo_defect_too_small.jpg              too_small           a 24x20 px image, with one box
demo_defect_low_variance.jpg           low_variance        a flat single colour (grey std about 1)
demo_defect_exact_duplicate.jpg        exact_duplicate     byte copy of demo_000000.jpg (and its boxes)
demo_defect_near_duplicate.jpg         near_duplicate      demo_000001.jpg at 90 % size, brightness x1.05, q60
demo_defect_bbox_out_of_bounds.jpg     bbox_out_of_bounds  one box stretched to x + w = 1.15 x width
demo_defect_degenerate_zero_width.jpg  degenerate_bbox     one extra box with w = 0
demo_defect_degenerate_outside.jpg     degenerate_bbox     one extra box entirely right of the image
demo_defect_tiny_bbox.jpg              tiny_bbox           one extra 3x3 px box
demo_defect_unknown_class.jpg          unknown_class       one box relabelled to category_id 999
demo_defect_duplicate_box.jpg          duplicate_box       a copy of the largest box shifted by 1 px
demo_defect_missing_label.jpg          missing_label       an empty table scene with no annotations
demo_defect_dark.jpg                   dark                a scene scaled down until its 95th grey percentile is 40
demo_defect_light.jpg                  light               a scene lifted (gamma) until its 5th grey percentile is 215
demo_defect_blurry.jpg                 blurry              a scene under a Gaussian blur of radius 10 px
demo_defect_grayscale.jpg              grayscale           a scene in black and white (RGB channels equal)
demo_defect_odd_aspect_ratio.jpg       odd_aspect_ratio    a 960x320 px scene (3 : 1)
demo_defect_low_information.jpg        low_information     three flat round foods on a flat table, no texture
=====================================  ==================  =================================================

Each defect draws from its own random streams in a fixed order, so the files are the same for the same seed.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from backend.core.vocab import FOOD_CLASSES
from backend.data.demo.coco import CocoBox, add_image
from backend.data.demo.scenes import DEFECT_STREAM, Scene, jpeg_bytes, render_scene
from backend.data.quality.checks import Check

# The checks the planted defects cover (each at least once).
CHECK_KINDS: tuple[Check, ...] = (
    Check.CORRUPT_IMAGE,
    Check.FORMAT_MISMATCH,
    Check.TOO_SMALL,
    Check.LOW_VARIANCE,
    Check.EXACT_DUPLICATE,
    Check.NEAR_DUPLICATE,
    Check.BBOX_OUT_OF_BOUNDS,
    Check.DEGENERATE_BBOX,
    Check.TINY_BBOX,
    Check.UNKNOWN_CLASS,
    Check.DUPLICATE_BOX,
    Check.MISSING_LABEL,
    Check.DARK,
    Check.LIGHT,
    Check.BLURRY,
    Check.GRAYSCALE,
    Check.ODD_ASPECT_RATIO,
    Check.LOW_INFORMATION,
)


def _boxes_of(scene: Scene) -> list[CocoBox]:
    """A scene's boxes as (class index, [x, y, w, h]) pairs (copies, free to edit)."""
    return [(b.cls, list(b.bbox)) for b in scene.boxes]


def _dims(scene: Scene) -> tuple[int, int]:
    """(width, height) of a scene."""
    return scene.pixels.shape[1], scene.pixels.shape[0]


class _Planter:
    """Writes defect images into the images folder and the COCO lists, recording each in `planted`."""

    def __init__(
        self, images_dir: Path, seed: int, coco_images: list[dict[str, Any]], coco_anns: list[dict[str, Any]]
    ) -> None:
        self.images_dir = images_dir
        self.seed = seed
        self.coco_images = coco_images
        self.coco_anns = coco_anns
        self.rng = random.Random(seed * 7919 + 17)
        self.planted: list[dict[str, str]] = []
        self._counter = iter(range(1000))

    def fresh(self, classes: Sequence[int] | None = None, size: tuple[int, int] | None = None) -> Scene:
        """A new scene from the defect stream (2-4 random foods unless `classes` is given)."""
        k = next(self._counter)
        if classes is None:
            classes = [self.rng.randrange(len(FOOD_CLASSES)) for _ in range(self.rng.randint(2, 4))]
        return render_scene((self.seed, k, DEFECT_STREAM), classes, size)

    def scene_with(self, min_boxes: int = 1, size: tuple[int, int] | None = None) -> Scene:
        """A fresh scene with at least `min_boxes` boxes (the tenth try is kept whatever it holds)."""
        for _ in range(10):
            sc = self.fresh(size=size)
            if len(sc.boxes) >= min_boxes:
                return sc
        return sc

    def add(self, kind: Check, name: str, data: bytes, w: int, h: int, boxes: Sequence[CocoBox]) -> None:
        """Write one defect image, add it and its boxes to the COCO lists, and record it."""
        (self.images_dir / name).write_bytes(data)
        add_image(self.coco_images, self.coco_anns, name, w, h, boxes)
        self.planted.append({"file": name, "kind": str(kind)})

    def clean_entry(self, index: int) -> tuple[dict[str, Any], list[CocoBox]]:
        """A clean image's COCO entry and its boxes (raw category ids, as strings)."""
        im = self.coco_images[index]
        anns: list[CocoBox] = [
            (str(a["category_id"]), list(a["bbox"])) for a in self.coco_anns if a["image_id"] == im["id"]
        ]
        return im, anns

    def plant_file_defects(self) -> None:
        """corrupt_image (truncated and random bytes), format_mismatch, too_small and low_variance."""
        seed, rng = self.seed, self.rng
        sc = self.fresh()
        data = jpeg_bytes(sc.pixels, 88)
        self.add(
            Check.CORRUPT_IMAGE,
            "demo_defect_corrupt_truncated.jpg",
            data[: int(len(data) * 0.4)],
            *_dims(sc),
            _boxes_of(sc),
        )
        noise = np.random.default_rng(np.random.SeedSequence([seed, 99, DEFECT_STREAM])).integers(
            0, 256, 6000, np.uint8
        )
        self.add(
            Check.CORRUPT_IMAGE,
            "demo_defect_corrupt_random.jpg",
            noise.tobytes(),
            640,
            480,
            [(0, [100.0, 100.0, 120.0, 90.0])],
        )

        # format_mismatch: PNG data under .jpg
        sc = self.fresh()
        buf = io.BytesIO()
        Image.fromarray(sc.pixels).save(buf, format="PNG")
        self.add(Check.FORMAT_MISMATCH, "demo_defect_format_mismatch.jpg", buf.getvalue(), *_dims(sc), _boxes_of(sc))

        # too_small: 24x20 px, one box
        sc = self.fresh([rng.randrange(len(FOOD_CLASSES))])
        iw, ih = _dims(sc)
        small = Image.fromarray(sc.pixels).resize((24, 20), Image.Resampling.LANCZOS)
        box = [2.0, 2.0, 20.0, 16.0]
        if sc.boxes:
            x, y, w, h = sc.boxes[0].bbox
            box = [
                round(x * 24 / iw, 2),
                round(y * 20 / ih, 2),
                max(4.0, round(w * 24 / iw, 2)),
                max(4.0, round(h * 20 / ih, 2)),
            ]
            box[2], box[3] = min(box[2], 24 - box[0]), min(box[3], 20 - box[1])
        self.add(
            Check.TOO_SMALL,
            "demo_defect_too_small.jpg",
            jpeg_bytes(np.asarray(small), 90),
            24,
            20,
            [(sc.boxes[0].cls if sc.boxes else 0, box)],
        )

        # low_variance: an almost flat single colour
        flat = np.full((480, 640, 3), (196, 188, 170), np.float32)
        flat += np.random.default_rng(np.random.SeedSequence([seed, 98, DEFECT_STREAM])).normal(0, 1.2, (480, 640, 1))
        self.add(
            Check.LOW_VARIANCE,
            "demo_defect_low_variance.jpg",
            jpeg_bytes(np.clip(flat, 0, 255).astype(np.uint8), 92),
            640,
            480,
            [(0, [200.0, 150.0, 160.0, 140.0])],
        )

    def plant_duplicates(self, n: int) -> None:
        """exact_duplicate (a byte copy of the first clean image) and near_duplicate (the second, altered)."""
        im0, anns0 = self.clean_entry(0)
        self.add(
            Check.EXACT_DUPLICATE,
            "demo_defect_exact_duplicate.jpg",
            (self.images_dir / im0["file_name"]).read_bytes(),
            im0["width"],
            im0["height"],
            anns0,
        )

        # near_duplicate: the second clean image re-encoded at q60, resized 90 %, brightness x1.05
        im1, anns1 = self.clean_entry(min(1, n - 1))
        src = Image.open(self.images_dir / im1["file_name"])
        src.load()
        nw, nh = round(src.width * 0.9), round(src.height * 0.9)
        near = ImageEnhance.Brightness(src.convert("RGB").resize((nw, nh), Image.Resampling.LANCZOS)).enhance(1.05)
        buf = io.BytesIO()
        near.save(buf, format="JPEG", quality=60)
        sx, sy = nw / src.width, nh / src.height
        scaled: list[CocoBox] = [
            (c, [round(b[0] * sx, 2), round(b[1] * sy, 2), round(b[2] * sx, 2), round(b[3] * sy, 2)]) for c, b in anns1
        ]
        self.add(Check.NEAR_DUPLICATE, "demo_defect_near_duplicate.jpg", buf.getvalue(), nw, nh, scaled)

    def plant_box_defects(self) -> None:
        """Annotation defects on fresh scenes: out of bounds, degenerate, tiny, unknown class, duplicate, none."""
        sc = self.scene_with()
        iw, ih = _dims(sc)
        bx = _boxes_of(sc)
        k = max(range(len(bx)), key=lambda i: bx[i][1][0] + bx[i][1][2])
        bx[k][1][2] = round(iw * 1.15 - bx[k][1][0], 2)
        self.add(Check.BBOX_OUT_OF_BOUNDS, "demo_defect_bbox_out_of_bounds.jpg", jpeg_bytes(sc.pixels, 88), iw, ih, bx)

        sc = self.scene_with()
        iw, ih = _dims(sc)
        bx = _boxes_of(sc)
        x, y, w, h = bx[0][1]
        bx.append((bx[0][0], [x, y, 0.0, h]))
        self.add(Check.DEGENERATE_BBOX, "demo_defect_degenerate_zero_width.jpg", jpeg_bytes(sc.pixels, 88), iw, ih, bx)

        sc = self.scene_with()
        iw, ih = _dims(sc)
        bx = _boxes_of(sc)
        bx.append((bx[0][0], [float(iw + 40), 30.0, 60.0, 50.0]))
        self.add(Check.DEGENERATE_BBOX, "demo_defect_degenerate_outside.jpg", jpeg_bytes(sc.pixels, 88), iw, ih, bx)

        sc = self.scene_with()
        iw, ih = _dims(sc)
        bx = _boxes_of(sc)
        bx.append((bx[0][0], [float(iw // 2), float(ih // 2), 3.0, 3.0]))
        self.add(Check.TINY_BBOX, "demo_defect_tiny_bbox.jpg", jpeg_bytes(sc.pixels, 88), iw, ih, bx)

        sc = self.scene_with(2)
        iw, ih = _dims(sc)
        bx = _boxes_of(sc)
        bx[-1] = ("999", bx[-1][1])
        self.add(Check.UNKNOWN_CLASS, "demo_defect_unknown_class.jpg", jpeg_bytes(sc.pixels, 88), iw, ih, bx)

        sc = self.scene_with()
        iw, ih = _dims(sc)
        bx = _boxes_of(sc)
        big = max(bx, key=lambda b: min(b[1][2], b[1][3]))
        x, y, w, h = big[1]
        bx.append((big[0], [x + 1.0, y + 1.0, w, h]))
        self.add(Check.DUPLICATE_BOX, "demo_defect_duplicate_box.jpg", jpeg_bytes(sc.pixels, 88), iw, ih, bx)

        sc = self.fresh([])
        self.add(Check.MISSING_LABEL, "demo_defect_missing_label.jpg", jpeg_bytes(sc.pixels, 88), *_dims(sc), [])

    def plant_photo_defects(self) -> None:
        """Photos a validator should question: dark, light, blurry, grayscale, odd aspect ratio, low information."""
        sc = self.scene_with()
        pixels = sc.pixels.astype(np.float32)
        grey = np.asarray(Image.fromarray(sc.pixels).convert("L"), np.float32)
        scale = min(0.5, 40.0 / max(1.0, float(np.percentile(grey, 95))))
        dark = np.clip(pixels * scale, 0, 255).astype(np.uint8)
        self.add(Check.DARK, "demo_defect_dark.jpg", jpeg_bytes(dark, 88), *_dims(sc), _boxes_of(sc))

        sc = self.scene_with()
        pixels = sc.pixels.astype(np.float32)
        grey = np.asarray(Image.fromarray(sc.pixels).convert("L"), np.float32)
        # a gamma curve lifts the darkest 5 % to grey level 215 and keeps more contrast than a linear squeeze
        gamma = math.log(215.0 / 255.0) / math.log(min(200.0, max(1.0, float(np.percentile(grey, 5)))) / 255.0)
        light = np.clip(255.0 * (pixels / 255.0) ** gamma, 0, 255).astype(np.uint8)
        self.add(Check.LIGHT, "demo_defect_light.jpg", jpeg_bytes(light, 88), *_dims(sc), _boxes_of(sc))

        sc = self.scene_with()
        blurred = np.asarray(Image.fromarray(sc.pixels).filter(ImageFilter.GaussianBlur(10)))
        self.add(Check.BLURRY, "demo_defect_blurry.jpg", jpeg_bytes(blurred, 88), *_dims(sc), _boxes_of(sc))

        sc = self.scene_with()
        grey_rgb = np.asarray(Image.fromarray(sc.pixels).convert("L").convert("RGB"))
        self.add(Check.GRAYSCALE, "demo_defect_grayscale.jpg", jpeg_bytes(grey_rgb, 88), *_dims(sc), _boxes_of(sc))

        sc = self.scene_with(size=(960, 320))
        self.add(
            Check.ODD_ASPECT_RATIO,
            "demo_defect_odd_aspect_ratio.jpg",
            jpeg_bytes(sc.pixels, 88),
            960,
            320,
            _boxes_of(sc),
        )

        self.plant_low_information()

    def plant_low_information(self) -> None:
        """Three flat round foods on a flat table: sharp edges and colour, but only four grey levels."""
        rng = self.rng
        w, h = 640, 480
        table = (rng.randint(110, 160), rng.randint(110, 160), rng.randint(110, 160))
        flat = Image.new("RGB", (w, h), table)
        draw = ImageDraw.Draw(flat)
        colours = {"orange": (236, 140, 32), "tomato": (196, 38, 30), "egg": (244, 238, 222)}
        boxes: list[CocoBox] = []
        for k, (food, colour) in enumerate(colours.items()):
            r = rng.randint(50, 80)
            cx, cy = 130 + 190 * k, rng.randint(140, 340)
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
            boxes.append((FOOD_CLASSES.index(food), [float(cx - r), float(cy - r), float(2 * r + 1), float(2 * r + 1)]))
        data = jpeg_bytes(np.asarray(flat), 92)
        self.add(Check.LOW_INFORMATION, "demo_defect_low_information.jpg", data, w, h, boxes)


def plant_defects(
    images_dir: Path, seed: int, n: int, coco_images: list[dict[str, Any]], coco_anns: list[dict[str, Any]]
) -> list[dict[str, str]]:
    """Write the demo_defect_* images and add them to the COCO lists.

    Args:
        images_dir: The dataset's images folder (the clean images are already there).
        seed: The dataset's seed.
        n: Number of clean images (the duplicates copy the first two).
        coco_images: The COCO image entries so far; the defect images are appended.
        coco_anns: The COCO annotations so far; the defect images' boxes are appended.

    Returns:
        The defects.json entries: `{"file": <image file name>, "kind": <check name>}` per planted defect.
    """
    planter = _Planter(images_dir, seed, coco_images, coco_anns)
    planter.plant_file_defects()
    planter.plant_duplicates(n)
    planter.plant_box_defects()
    planter.plant_photo_defects()
    return planter.planted
