# pylint: disable=too-many-lines  # twelve food drawers, tables, plates, scenes and defects belong together
"""Procedural demo food dataset: COCO images of the twelve vocabulary foods on plates and tables.

Nothing is downloaded: every food, plate and table is drawn with PIL (supersampled for smooth edges) and shaded
with numpy (a height field per item gives diffuse light, gloss and surface texture such as citrus pits or bread
crumb), so a detector has to learn shape, colour and texture together. Output layout::

    DIR/images/demo_000000.jpg ...   the clean images (COCO ids 1..N)
    DIR/annotations.json             COCO: images, annotations (bbox [x, y, w, h]), categories (non-contiguous ids)
    DIR/defects.json                 only with defects=True: [{"file": ..., "kind": ...}], see below

Every image is seeded from ``(seed, index)``, so a dataset is byte-identical for the same seed whatever the
number of worker processes, and image ``i`` is the same whatever ``images`` is.

With ``defects=True`` the N clean images are kept as they are and extra images named ``demo_defect_*`` are
added after them (they sort after the clean names, so a duplicate's copy is the one a validator reports), with
at least one case of every check in the data-quality spec:

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
=====================================  ==================  =================================================
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from backend.core.errors import BadInputError, PlateOpsError
from backend.core.progress import ProgressFn, null_progress
from backend.core.vocab import FOOD_CLASSES, color_for

SS = 3  # supersampling factor for drawing; sprites are drawn SS times larger and box-reduced
MAX_IMAGES = 1_000_000
CATEGORY_IDS: dict[str, int] = {name: 1 + 3 * i for i, name in enumerate(FOOD_CLASSES)}
CHECK_KINDS: tuple[str, ...] = (
    "corrupt_image",
    "format_mismatch",
    "too_small",
    "low_variance",
    "exact_duplicate",
    "near_duplicate",
    "bbox_out_of_bounds",
    "degenerate_bbox",
    "tiny_bbox",
    "unknown_class",
    "duplicate_box",
    "missing_label",
)
_CLEAN_STREAM = 0
_DEFECT_STREAM = 1
_PLAN_STREAM = 2

Color = tuple[int, int, int]


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


@dataclass
class _Box:
    cls: int
    bbox: list[float]  # x, y, w, h


@dataclass
class _Scene:
    pixels: np.ndarray  # uint8 HxWx3
    boxes: list[_Box] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------
# numpy helpers


def _box_blur(a: np.ndarray, r: int) -> np.ndarray:
    """Box blur of a 2-D float array with radius r via cumulative sums; outside the array counts as zero."""
    if r < 1:
        return a
    k = 2 * r + 1
    for axis in (0, 1):
        n = a.shape[axis]
        c = np.cumsum(a, axis=axis, dtype=np.float32)
        c = np.concatenate([np.zeros_like(c.take([0], axis=axis)), c], axis=axis)
        idx = np.arange(n)
        hi, lo = np.minimum(idx + r + 1, n), np.maximum(idx - r, 0)
        a = (c.take(hi, axis=axis) - c.take(lo, axis=axis)) / np.float32(k)
    return a


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Approximate gaussian blur (three box passes)."""
    r = round(sigma * 0.9)
    for _ in range(3):
        a = _box_blur(a, r)
    return a


def _soft(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-like blur for large radii: blur a downscaled copy and scale it back up (much faster)."""
    f = int(sigma / 3.0)
    if f < 2:
        return _blur(a, sigma)
    h, w = a.shape
    sw, sh = max(2, -(-w // f)), max(2, -(-h // f))
    small = np.asarray(Image.fromarray(a).resize((sw, sh), Image.Resampling.BILINEAR, reducing_gap=2.0))
    small = _blur(small, sigma / f)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


def _noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth value noise in about [-1, 1] with features about `cell` px wide."""
    if cell <= 1.6:  # pixel-scale grain: plain uniform noise is close enough and far cheaper
        return rng.random((h, w), dtype=np.float32) * 2.0 - 1.0
    gh, gw = int(h / cell) + 3, int(w / cell) + 3
    grid = Image.fromarray(rng.random((gh, gw), dtype=np.float32))
    up = np.asarray(grid.resize((int(gw * cell), int(gh * cell)), Image.Resampling.BICUBIC))
    oy, ox = int(rng.integers(0, max(1, int(cell)))), int(rng.integers(0, max(1, int(cell))))
    return (up[oy : oy + h, ox : ox + w] * 2.0 - 1.0).astype(np.float32)


def _streaks(rng: np.random.Generator, h: int, w: int, along: float, across: float) -> np.ndarray:
    """Value noise stretched along x (cells `along` px long, `across` px wide): wood fibres, brushed streaks."""
    gh, gw = int(h / across) + 3, int(w / along) + 3
    grid = Image.fromarray(rng.random((gh, gw), dtype=np.float32))
    up = np.asarray(grid.resize((int(gw * along), int(gh * across)), Image.Resampling.BICUBIC))
    return (up[:h, :w] * 2.0 - 1.0).astype(np.float32)


def _fbm(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 4) -> np.ndarray:
    """Fractal noise: octaves of value noise, each half the size and half the weight.

    The octaves are summed on a grid scaled so the finest one is about 2.5 px, then scaled up once (cheap).
    """
    finest = max(1.0, cell / 2 ** (octaves - 1))
    f = max(1.0, finest / 2.5)
    sh, sw = max(2, math.ceil(h / f)), max(2, math.ceil(w / f))
    out = np.zeros((sh, sw), np.float32)
    amp, total, c = 1.0, 0.0, cell / f
    for _ in range(octaves):
        out += amp * _noise(rng, sh, sw, c)
        total += amp
        amp *= 0.5
        c /= 2.0
        if c < 1.0:
            break
    out /= total
    if f > 1.0:
        out = np.asarray(Image.fromarray(out).resize((w, h), Image.Resampling.BICUBIC))
    return out


def _jitter(rng: random.Random, color: Color, amount: float = 0.08, bright: float = 0.1) -> Color:
    """Randomly shift a colour's channels and brightness."""
    b = 1.0 + rng.uniform(-bright, bright)
    return tuple(int(max(0, min(255, c * b * (1.0 + rng.uniform(-amount, amount))))) for c in color)  # type: ignore[return-value]


def _mix(a: Color, b: Color, t: float) -> Color:
    return tuple(int(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _rgba(c: Color, a: int) -> tuple[int, int, int, int]:
    return (c[0], c[1], c[2], a)


# --------------------------------------------------------------------------------------------------------------
# sprites: an item drawn at SS x, with an alpha mask and a relief layer, then shaded


@dataclass
class _Style:
    relief: float = 0.3  # dome height relative to the item's size
    gloss: float = 0.2  # specular strength
    shine: float = 25.0  # specular exponent
    bump: float = 0.0  # weight of the drawn relief layer (px of height per unit)
    pits: float = 0.0  # fine pitted noise in the height field (citrus peel)
    pit_cell: float = 1.6
    tex: float = 0.05  # colour noise amplitude
    tex_cell: float = 6.0


class _Canvas:
    """Drawing surface at SS x resolution: colour, alpha (coverage) and a relief layer (128 = flat)."""

    def __init__(self, w: float, h: float, base: Color) -> None:
        self.w, self.h = max(4, int(w * SS)), max(4, int(h * SS))
        self.base = base
        self.rgb = Image.new("RGB", (self.w, self.h), base)
        self.alpha = Image.new("L", (self.w, self.h), 0)
        self.relief = Image.new("L", (self.w, self.h), 128)
        self.dr = ImageDraw.Draw(self.rgb, "RGBA")
        self.da = ImageDraw.Draw(self.alpha)
        self.dh = ImageDraw.Draw(self.relief)

    def poly(self, pts: Sequence[tuple[float, float]], fill: Color, height: int | None = None) -> None:
        """Draw a solid polygon onto colour and coverage (and the relief layer when height is given)."""
        pts = [(float(x), float(y)) for x, y in pts]
        self.dr.polygon(pts, fill=fill)
        self.da.polygon(pts, fill=255)
        if height is not None:
            self.dh.polygon(pts, fill=height)

    def ellipse(self, box: Sequence[float], fill: Color, height: int | None = None) -> None:
        """Draw a solid ellipse onto colour and coverage."""
        self.dr.ellipse(list(box), fill=fill)
        self.da.ellipse(list(box), fill=255)
        if height is not None:
            self.dh.ellipse(list(box), fill=height)

    def line(self, pts: Sequence[tuple[float, float]], fill: Color, width: float) -> None:
        """Draw a solid thick polyline (round joints) onto colour and coverage."""
        w = max(1, int(width))
        self.dr.line(list(pts), fill=fill, width=w, joint="curve")
        self.da.line(list(pts), fill=255, width=w, joint="curve")
        for x, y in (pts[0], pts[-1]):
            self.dr.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=fill)
            self.da.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=255)

    def dots(
        self,
        rng: random.Random,
        n: int,
        inside: Callable[[float, float], bool],
        r: tuple[float, float],
        color: Color,
        alpha: tuple[int, int],
        height: int | None = None,
        stretch: float = 1.0,
    ) -> None:
        """Scatter n translucent dots (texture) inside a region given by a point test."""
        for _ in range(n):
            x, y = rng.uniform(0, self.w), rng.uniform(0, self.h)
            if not inside(x, y):
                continue
            rr = rng.uniform(*r)
            box = [x - rr * stretch, y - rr, x + rr * stretch, y + rr]
            self.dr.ellipse(box, fill=_rgba(color, rng.randint(*alpha)))
            if height is not None:
                self.dh.ellipse(box, fill=height)


def _polar(cx: float, cy: float, radius: Callable[[float], float], n: int = 120) -> list[tuple[float, float]]:
    """Closed outline from a radius function of the angle (0 = up, clockwise, image coordinates)."""
    pts = []
    for i in range(n):
        t = 2 * math.pi * i / n
        r = radius(t)
        pts.append((cx + r * math.sin(t), cy - r * math.cos(t)))
    return pts


def _in_ellipse(cx: float, cy: float, rx: float, ry: float) -> Callable[[float, float], bool]:
    return lambda x, y: ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def _leaf(c: _Canvas, x: float, y: float, length: float, width: float, angle: float, color: Color) -> None:
    """A pointed leaf from (x, y) along `angle` (radians, 0 = right), with a darker midrib."""
    ca, sa = math.cos(angle), math.sin(angle)
    pts = []
    for i in range(21):
        t = i / 20
        pts.append((t, width * math.sin(math.pi * t) ** 0.8))
    for i in range(20, -1, -1):
        t = i / 20
        pts.append((t, -width * math.sin(math.pi * t) ** 0.8))
    outline = [(x + ca * t * length - sa * o, y + sa * t * length + ca * o) for t, o in pts]
    c.poly(outline, color, height=150)
    c.dr.line(
        [(x, y), (x + ca * length * 0.9, y + sa * length * 0.9)],
        fill=_rgba(_mix(color, (20, 50, 10), 0.5), 160),
        width=max(1, int(width * 0.15)),
    )


# ---- the twelve foods. Each takes (rng, size in final px) and returns a canvas and its style. ----


def _draw_apple(rng: random.Random, s: float) -> tuple[_Canvas, _Style]:
    kind = rng.choice(["red", "red", "dark", "green", "yellow", "bicolor"])
    base = {
        "red": (200, 30, 35),
        "dark": (140, 20, 30),
        "green": (140, 195, 65),
        "yellow": (225, 200, 80),
        "bicolor": (215, 190, 70),
    }[kind]
    base = _jitter(rng, base)
    c = _Canvas(s, s * 1.15, base)
    cx, cy, rad = c.w / 2, c.h * 0.57, c.w * 0.45
    wide = rng.uniform(0.97, 1.05)

    def radius(t: float) -> float:
        d = min(abs(t), 2 * math.pi - abs(t))
        r = rad * (1 - 0.13 * math.exp(-((d / 0.38) ** 2)) - 0.05 * math.exp(-(((math.pi - d) / 0.45) ** 2)))
        return r * (1 + 0.05 * math.cos(d) * wide) * (wide if 0.6 < d < 2.5 else 1.0)

    c.poly(_polar(cx, cy, radius), base)
    inside = _in_ellipse(cx, cy, rad * 0.95, rad * 0.95)
    if kind == "bicolor":
        blush = _jitter(rng, (200, 40, 35))
        for _ in range(26):
            a = rng.uniform(0, 2 * math.pi)
            d = rng.uniform(0, rad * 0.6)
            rr = rng.uniform(rad * 0.25, rad * 0.5)
            x, y = cx + d * math.cos(a) + rad * 0.15, cy + d * math.sin(a)
            c.dr.ellipse([x - rr, y - rr, x + rr, y + rr], fill=_rgba(blush, 60))
    streak = (250, 220, 120) if kind in ("red", "dark", "bicolor") else (250, 240, 150)
    for _ in range(34):  # soft streaks running like meridians from the stem cavity to the bottom
        k = rng.uniform(-1.0, 1.0)
        pts = [
            (cx + k * rad * 0.95 * math.sin(math.pi * t) ** 0.9, cy - rad * 0.85 + t * rad * 1.75)
            for t in np.linspace(0.02, 0.98, 14)
        ]
        c.dr.line(pts, fill=_rgba(streak, rng.randint(10, 28)), width=max(1, int(rad * rng.uniform(0.03, 0.09))))
    c.dots(rng, 90, inside, (rad * 0.008, rad * 0.02), (250, 235, 180), (80, 160))  # lenticels
    top = (cx, cy - rad * 0.83)
    c.dr.ellipse(
        [top[0] - rad * 0.2, top[1] - rad * 0.08, top[0] + rad * 0.2, top[1] + rad * 0.18],
        fill=_rgba(_mix(base, (90, 80, 20), 0.5), 110),
    )
    c.dh.ellipse([top[0] - rad * 0.22, top[1] - rad * 0.1, top[0] + rad * 0.22, top[1] + rad * 0.2], fill=70)
    lean = rng.uniform(-0.25, 0.35)
    stem_end = (top[0] + rad * lean, top[1] - rad * 0.36)
    c.line(
        [(top[0], top[1] + rad * 0.05), (top[0] + rad * lean * 0.4, top[1] - rad * 0.2), stem_end],
        (95, 62, 30),
        rad * 0.075,
    )
    if rng.random() < 0.65:
        side = 1 if rng.random() < 0.5 else -1
        ang = -math.pi / 2 + side * rng.uniform(0.7, 1.2)
        _leaf(
            c,
            top[0] + rad * lean * 0.5,
            top[1] - rad * 0.22,
            rad * rng.uniform(0.55, 0.75),
            rad * 0.16,
            ang,
            _jitter(rng, (70, 140, 40)),
        )
    return c, _Style(relief=0.42, gloss=0.45, shine=35, bump=0.06, tex=0.04, tex_cell=10)


def _draw_banana(rng: random.Random, s: float) -> tuple[_Canvas, _Style]:
    ripe = rng.random()
    base = (235, 200, 50) if ripe < 0.6 else (205, 205, 70) if ripe < 0.8 else (225, 180, 60)
    base = _jitter(rng, base, 0.05)
    length = s * 1.45
    c = _Canvas(length, length * 0.62, base)
    span = rng.uniform(1.25, 1.6)  # radians of arc
    rc = c.w * 0.42 / math.sin(span / 2)
    ccx = c.w / 2
    ccy = c.h * 0.85 - rc  # arc peak bottom-centre: the banana hangs as a smile
    thick = c.w * rng.uniform(0.13, 0.17)
    n = 40
    outer, inner, mid = [], [], []
    for i in range(n + 1):
        u = -1 + 2 * i / n
        a = u * span / 2
        th = thick * (1 - abs(u) ** 2.2) ** 0.55 + thick * 0.06
        nx, ny = math.sin(a), math.cos(a)
        px, py = ccx + rc * nx, ccy + rc * ny
        outer.append((px + nx * th * 0.55, py + ny * th * 0.55))
        inner.append((px - nx * th * 0.45, py - ny * th * 0.45))
        mid.append((px + nx * th * 0.1, py + ny * th * 0.1))
    c.poly(outer + inner[::-1], base, height=128)
    # inner edge a bit greener/darker, a ridge along the length
    c.dr.line(inner[3:-3], fill=_rgba(_mix(base, (120, 120, 30), 0.5), 110), width=max(1, int(thick * 0.16)))
    c.dr.line(mid[4:-4], fill=_rgba(_mix(base, (150, 120, 30), 0.5), 70), width=max(1, int(thick * 0.05)))
    c.dh.line(mid[4:-4], fill=150, width=max(1, int(thick * 0.08)))
    if ripe > 0.45:
        spots = int(40 + 200 * (ripe - 0.45))
        c.dots(rng, spots * 3, lambda x, y: True, (thick * 0.02, thick * 0.07), (100, 65, 20), (90, 200))
    # stem end (left) and dark tip (right)
    a0 = -span / 2
    nx, ny = math.sin(a0), math.cos(a0)
    tx, ty = -math.cos(a0), math.sin(a0)  # tangent pointing outwards at the left end
    sx, sy = ccx + rc * nx, ccy + rc * ny
    stem = [(sx, sy), (sx + tx * thick * 1.0, sy + ty * thick * 1.0 - thick * 0.2)]
    c.line(stem, _jitter(rng, (110, 100, 45)), thick * 0.32)
    c.dr.ellipse(
        [stem[1][0] - thick * 0.2, stem[1][1] - thick * 0.2, stem[1][0] + thick * 0.2, stem[1][1] + thick * 0.2],
        fill=(70, 50, 25),
    )
    a1 = span / 2
    ex, ey = ccx + rc * math.sin(a1), ccy + rc * math.cos(a1)
    c.dr.ellipse([ex - thick * 0.22, ey - thick * 0.22, ex + thick * 0.22, ey + thick * 0.22], fill=(60, 40, 20))
    return c, _Style(relief=0.35, gloss=0.18, shine=18, bump=0.05, tex=0.05, tex_cell=12)


def _draw_bread(rng: random.Random, s: float) -> tuple[_Canvas, _Style]:
    if rng.random() < 0.5:  # a slice of sandwich bread
        crust = _jitter(rng, (150, 90, 40))
        crumb = _jitter(rng, (236, 212, 162), 0.04)
        c = _Canvas(s * 0.95, s * 1.0, crust)
        w, h = c.w, c.h
        dome = h * 0.3

        def outline(inset: float) -> list[tuple[float, float]]:
            pts = []
            for i in range(25):  # domed top
                t = math.pi * i / 24
                pts.append(
                    (
                        w / 2 - (w / 2 - inset) * math.cos(t) * 1.0,
                        dome + inset * 0.6 - (dome - inset * 0.2) * math.sin(t) + 0.0,
                    )
                )
            pts += [
                (w - inset - w * 0.03, dome * 1.4),
                (w - inset - w * 0.02, h - inset - w * 0.03),
                (w - inset - w * 0.06, h - inset),
                (inset + w * 0.06, h - inset),
                (inset + w * 0.02, h - inset - w * 0.03),
                (inset + w * 0.03, dome * 1.4),
            ]
            return pts

        c.poly(outline(0), crust, height=175)
        inner = outline(w * 0.07)
        c.dr.polygon(inner, fill=crumb)
        c.dh.polygon(inner, fill=128)
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).polygon(inner, fill=1)
        m = np.asarray(mask)

        def inside(x: float, y: float) -> bool:
            return bool(m[min(h - 1, int(y)), min(w - 1, int(x))] > 0)

        c.dots(
            rng,
            600,
            inside,
            (w * 0.005, w * 0.015),
            _mix(crumb, (150, 110, 60), 0.6),
            (90, 190),
            height=95,
            stretch=1.6,
        )
        c.dots(rng, 200, inside, (w * 0.003, w * 0.008), (255, 245, 220), (80, 150))
        return c, _Style(relief=0.1, gloss=0.03, bump=0.5, tex=0.05, tex_cell=4)
    # a loaf seen from above: golden, scored, floured
    crust = _jitter(rng, rng.choice([(190, 120, 55), (170, 100, 45), (205, 145, 75)]))
    c = _Canvas(s * 1.35, s * 0.8, crust)
    cx, cy, rx, ry = c.w / 2, c.h / 2, c.w * 0.48, c.h * 0.46
    c.poly(_polar(cx, cy, lambda t: 1.0 / math.sqrt((math.sin(t) / rx) ** 2 + (math.cos(t) / ry) ** 2)), crust)
    edge = _mix(crust, (90, 50, 20), 0.5)
    for k in range(6):  # darker rim
        f = 1 - k * 0.02
        c.dr.ellipse(
            [cx - rx * f, cy - ry * f, cx + rx * f, cy + ry * f], outline=_rgba(edge, 35), width=max(1, int(ry * 0.04))
        )
    n = rng.randint(3, 5)
    crumb = _jitter(rng, (235, 205, 145), 0.04)
    for i in range(n):  # diagonal scoring slashes
        x = cx - rx * 0.65 + rx * 1.3 * (i + 0.5) / n
        slash_len, slash_w = ry * 1.35, ry * 0.16
        ang = rng.uniform(0.9, 1.15)
        ca, sa = math.cos(ang), math.sin(ang)
        pts = [
            (
                x + ca * slash_len / 2 * math.cos(t) - sa * slash_w * math.sin(t),
                cy + sa * slash_len / 2 * math.cos(t) + ca * slash_w * math.sin(t),
            )
            for t in np.linspace(0, 2 * math.pi, 40)
        ]
        c.dr.polygon(pts, fill=crumb)
        c.dh.polygon(pts, fill=80)
        c.dr.line(pts[:21], fill=_rgba(_mix(crust, (70, 35, 10), 0.6), 200), width=max(1, int(slash_w * 0.35)))
    c.dots(rng, 500, _in_ellipse(cx, cy, rx, ry), (rx * 0.005, rx * 0.02), (250, 245, 235), (40, 140))
    return c, _Style(relief=0.35, gloss=0.06, bump=0.35, tex=0.08, tex_cell=5)


def _draw_broccoli(rng: random.Random, s: float) -> tuple[_Canvas, _Style]:
    stalk = _jitter(rng, (160, 190, 100))
    dark = _jitter(rng, (45, 105, 40))
    c = _Canvas(s, s * 1.1, stalk)
    w, h = c.w, c.h
    cx = w / 2
    sw = w * rng.uniform(0.14, 0.2)
    base_y = h * 0.98
    c.poly(
        [(cx - sw / 2, base_y), (cx + sw / 2, base_y), (cx + sw * 0.75, h * 0.5), (cx - sw * 0.75, h * 0.5)],
        stalk,
        height=140,
    )
    c.dr.line(
        [(cx - sw * 0.1, base_y), (cx - sw * 0.15, h * 0.55)],
        fill=_rgba((200, 220, 150), 120),
        width=max(1, int(sw * 0.1)),
    )
    for side in (-1, 1):  # side branches
        c.line([(cx + side * sw * 0.3, h * 0.68), (cx + side * w * 0.28, h * 0.45)], stalk, sw * 0.45)
    crown_cy, crown_rx, crown_ry = h * 0.36, w * 0.42, h * 0.3
    florets = []
    for _ in range(rng.randint(14, 22)):
        a = rng.uniform(0, 2 * math.pi)
        d = math.sqrt(rng.random())
        x = cx + crown_rx * 0.75 * d * math.cos(a)
        y = crown_cy + crown_ry * 0.7 * d * math.sin(a)
        florets.append((y, x, rng.uniform(w * 0.1, w * 0.16)))
    florets.sort()
    for y, x, r in florets:  # back to front
        col = _jitter(rng, dark, 0.12)
        c.ellipse([x - r, y - r, x + r, y + r], col, height=128)
        for k in range(4):  # a dome of relief per floret
            f = 1 - k * 0.22
            c.dh.ellipse([x - r * f, y - r * f, x + r * f, y + r * f], fill=140 + 25 * k)
        c.dr.ellipse([x - r, y - r, x + r, y + r], outline=_rgba((20, 50, 20), 90), width=max(1, int(r * 0.06)))
    crown = _in_ellipse(cx, crown_cy, crown_rx * 1.1, crown_ry * 1.2)
    c.dots(rng, 800, crown, (w * 0.01, w * 0.018), _mix(dark, (150, 200, 90), 0.5), (60, 160), height=200)
    c.dots(rng, 500, crown, (w * 0.008, w * 0.014), (20, 55, 20), (60, 160), height=100)
    return c, _Style(relief=0.25, gloss=0.05, bump=0.12, tex=0.08, tex_cell=3)


def _draw_carrot(rng: random.Random, s: float) -> tuple[_Canvas, _Style]:
    base = _jitter(rng, (238, 122, 30), 0.06)
    length = s * 1.5
    c = _Canvas(length, length * 0.42, base)
    w, h = c.w, c.h
    cy = h / 2
    x0, x1 = w * 0.26, w * 0.985
    w0 = h * rng.uniform(0.2, 0.27)
    bend = rng.uniform(-0.15, 0.15) * h
    top, bot = [], []
    for i in range(31):
        t = i / 30
        x = x0 + (x1 - x0) * t
        half = w0 * (1 - t) ** 0.75 + w0 * 0.03
        yc = cy + bend * t * t
        top.append((x, yc - half))
        bot.append((x, yc + half))
    shoulder = [
        (x0 + w0 * 0.35 * (1 - math.cos(a)) - w0 * 0.35, cy + w0 * math.sin(a))
        for a in np.linspace(-math.pi / 2, math.pi / 2, 12)
    ]
    # leaves first (behind the root)
    if rng.random() < 0.8:
        green = _jitter(rng, (70, 145, 40))
        for _ in range(rng.randint(3, 6)):
            ang = math.pi + rng.uniform(-0.55, 0.55)
            length = w * rng.uniform(0.16, 0.26)
            ex, ey = x0 + math.cos(ang) * length, cy + math.sin(ang) * length * 1.2
            c.line([(x0, cy), (ex, ey)], green, w * 0.012)
            for k in range(5):  # feathery leaflets
                t = 0.35 + 0.15 * k
                px, py = x0 + (ex - x0) * t, cy + (ey - cy) * t
                for side in (-1, 1):
                    _leaf(c, px, py, w * 0.05, w * 0.012, ang + side * 0.8, _jitter(rng, green, 0.1))
    else:
        c.line([(x0, cy), (x0 - w * 0.05, cy + rng.uniform(-1, 1) * h * 0.05)], (90, 140, 50), w0 * 0.5)
    c.poly(top + bot[::-1] + shoulder, base, height=128)
    ridge = _mix(base, (150, 60, 10), 0.7)
    for _ in range(rng.randint(10, 18)):  # horizontal growth rings
        t = rng.uniform(0.03, 0.85)
        x = x0 + (x1 - x0) * t
        half = w0 * (1 - t) ** 0.75
        yc = cy + bend * t * t
        a = rng.uniform(0.3, 0.8)
        c.dr.arc(
            [x - half * 0.25, yc - half * a, x + half * 0.25, yc + half * a],
            90 - 60,
            90 + 60,
            fill=_rgba(ridge, 160),
            width=max(1, int(h * 0.01)),
        )
        c.dh.arc(
            [x - half * 0.25, yc - half * a, x + half * 0.25, yc + half * a],
            30,
            150,
            fill=90,
            width=max(1, int(h * 0.015)),
        )
    c.dr.line(
        [(x0 + w0 * 0.2, cy - w0 * 0.45), (x1 - w * 0.2, cy - w0 * 0.1 + bend * 0.6)],
        fill=_rgba((255, 190, 110), 70),
        width=max(1, int(w0 * 0.15)),
    )
    return c, _Style(relief=0.5, gloss=0.15, shine=18, bump=0.15, tex=0.05, tex_cell=8)


def _draw_cheese(rng: random.Random, s: float) -> tuple[_Canvas, _Style]:
    front = _jitter(rng, (238, 188, 55), 0.05)
    top_c = _mix(front, (255, 240, 150), 0.45)
    c = _Canvas(s * 1.1, s * 0.85, front)
    w, h = c.w, c.h
    x0, x1 = w * 0.04, w * 0.96
    y0, y1, y2 = h * 0.05, h * rng.uniform(0.38, 0.5), h * 0.95
    xa = w * rng.uniform(0.7, 0.92)
    top_face = [(x0, y1), (x1, y1), (xa, y0)]
    front_face = [(x0, y1), (x1, y1), (x1, y2), (x0, y2)]
    c.poly(front_face, front, height=128)
    c.poly(top_face, top_c, height=128)
    c.dr.line([(x0, y1), (x1, y1)], fill=_rgba(_mix(front, (160, 110, 20), 0.5), 200), width=max(1, int(h * 0.012)))
    rind = _mix(front, (200, 120, 30), 0.6)
    c.dr.line([(x1, y1), (x1, y2)], fill=_rgba(rind, 220), width=max(2, int(w * 0.025)))
    c.dr.line([(xa, y0), (x1, y1)], fill=_rgba(rind, 220), width=max(2, int(w * 0.025)))
    hole = _mix(front, (170, 120, 20), 0.45)
    for _ in range(rng.randint(6, 11)):  # holes on the front face, some cut into the edges
        r = h * rng.uniform(0.04, 0.11)
        x, y = rng.uniform(x0, x1), rng.uniform(y1 + r * 0.5, y2 + r * 0.6)
        box = [x - r * 1.1, y - r, x + r * 1.1, y + r]
        c.dr.ellipse(box, fill=hole)
        c.dr.ellipse([x - r * 1.1, y - r, x + r * 1.1, y + r * 0.3], fill=_rgba(_mix(hole, (110, 70, 10), 0.5), 150))
        c.dh.ellipse(box, fill=70)
        if y > y2 - r * 0.5:
            c.da.ellipse([x - r * 1.1, y - r * 0.2 + r * 0.6, x + r * 1.1, y + r * 2], fill=0)
    for _ in range(rng.randint(2, 5)):  # holes on the top face
        r = h * rng.uniform(0.025, 0.06)
        t1, t2 = rng.random(), rng.random()
        if t1 + t2 > 1:
            t1, t2 = 1 - t1, 1 - t2
        x = x0 + (x1 - x0) * t1 + (xa - x0) * t2
        y = y1 + (y0 - y1) * t2
        c.dr.ellipse([x - r * 1.3, y - r * 0.6, x + r * 1.3, y + r * 0.6], fill=hole)
        c.dh.ellipse([x - r * 1.3, y - r * 0.6, x + r * 1.3, y + r * 0.6], fill=80)
    return c, _Style(relief=0.06, gloss=0.12, shine=12, bump=0.12, tex=0.04, tex_cell=10)


def _draw_cucumber(rng: random.Random, s: float) -> tuple[_Canvas, _Style]:
    skin = _jitter(rng, (45, 95, 38), 0.1)
    if rng.random() < 0.3:  # a slice
        d = s * 0.7
        c = _Canvas(d, d, skin)
        cx = cy = c.w / 2
        rad = c.w * 0.48
        c.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], skin, height=128)
        flesh = _jitter(rng, (205, 228, 160), 0.04)
        r2 = rad * 0.9
        c.dr.ellipse([cx - r2, cy - r2, cx + r2, cy + r2], fill=_mix(flesh, (140, 190, 90), 0.5))
        r3 = rad * 0.84
        c.dr.ellipse([cx - r3, cy - r3, cx + r3, cy + r3], fill=flesh)
        seed_zone = _mix(flesh, (170, 200, 120), 0.35)
        rot = rng.uniform(0, 2 * math.pi)
        for k in range(3):  # three seed chambers
            a = rot + k * 2 * math.pi / 3
            sx, sy = cx + rad * 0.28 * math.cos(a), cy + rad * 0.28 * math.sin(a)
            c.dr.ellipse([sx - rad * 0.26, sy - rad * 0.26, sx + rad * 0.26, sy + rad * 0.26], fill=seed_zone)
            for j in range(5):
                b = a + (j - 2) * 0.28
                px, py = cx + rad * 0.38 * math.cos(b), cy + rad * 0.38 * math.sin(b)
                c.dr.ellipse([px - rad * 0.05, py - rad * 0.05, px + rad * 0.05, py + rad * 0.05], fill=(245, 245, 220))
        return c, _Style(relief=0.05, gloss=0.35, shine=25, tex=0.04, tex_cell=4)
    length = s * 1.55
    c = _Canvas(length, length * 0.28, skin)
    w, h = c.w, c.h
    r = h * rng.uniform(0.38, 0.46)
    cy = h / 2
    bend = rng.uniform(-0.12, 0.12) * h
    top, bot = [], []
    for i in range(41):
        t = i / 40
        x = w * 0.03 + (w * 0.94) * t
        taper = 1 - 0.15 * t
        end = math.sqrt(max(0.0, 1 - ((abs(t - 0.5) * 2) ** 8)))
        yc = cy + bend * (4 * t * (1 - t))
        top.append((x, yc - r * taper * end))
        bot.append((x, yc + r * taper * end))
    c.poly(top + bot[::-1], skin, height=128)
    light = _mix(skin, (150, 190, 90), 0.55)
    for k in range(rng.randint(3, 5)):  # pale stripes along the length
        off = rng.uniform(-0.6, 0.6) * r
        pts = [
            (x, y + off + r * 0.04 * math.sin(x / w * 9 + k))
            for (x, y) in [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(top[4:-4], bot[4:-4], strict=True)]
        ]
        c.dr.line(pts, fill=_rgba(light, 70), width=max(1, int(r * 0.12)))

    def inside(x: float, y: float) -> bool:
        del y
        return 0.04 * w < x < 0.96 * w

    c.dots(rng, 450, inside, (h * 0.008, h * 0.018), (185, 210, 130), (70, 170), height=170)
    c.dots(rng, 200, inside, (h * 0.01, h * 0.02), (25, 55, 20), (80, 160), height=160)
    end_x, end_y = top[-1][0], (top[-1][1] + bot[-1][1]) / 2
    c.line([(end_x - r * 0.1, end_y), (end_x + w * 0.02, end_y)], (150, 140, 70), r * 0.25)
    return c, _Style(relief=0.5, gloss=0.35, shine=22, bump=0.08, tex=0.05, tex_cell=6)


def _draw_egg(rng: random.Random, s: float) -> tuple[_Canvas, _Style]:
    if rng.random() < 0.45:  # a whole egg
        shell = _jitter(rng, rng.choice([(242, 240, 232), (236, 230, 215), (205, 150, 105), (215, 170, 125)]), 0.04)
        c = _Canvas(s * 0.78, s, shell)
        cx, cy, a, b = c.w / 2, c.h * 0.53, c.w * 0.46, c.h * 0.46
        pts = [
            (cx + a * math.cos(t) * (1 - 0.16 * math.sin(t)), cy - b * math.sin(t))
            for t in np.linspace(0, 2 * math.pi, 120, endpoint=False)
        ]
        c.poly(pts, shell)
        if shell[0] - shell[2] > 50:
            c.dots(rng, 250, _in_ellipse(cx, cy, a, b), (a * 0.01, a * 0.03), (150, 100, 60), (30, 90))
        return c, _Style(relief=0.6, gloss=0.25, shine=20, tex=0.03, tex_cell=8)
    white = _jitter(rng, (250, 250, 244), 0.02, 0.04)
    c = _Canvas(s * 1.1, s * 1.0, white)
    cx, cy, rad = c.w / 2, c.h / 2, c.h * 0.45
    harm = [(rng.uniform(0, 0.07), rng.uniform(0, 2 * math.pi), k) for k in range(2, 7)]
    stretch = rng.uniform(1.0, 1.2)

    def radius(t: float) -> float:
        r = rad * (0.9 + sum(amp * math.sin(k * t + ph) for amp, ph, k in harm))
        return r * stretch / math.sqrt((stretch * math.cos(t)) ** 2 + math.sin(t) ** 2)

    outline = _polar(cx, cy, radius, 160)
    c.poly(outline, white, height=128)
    if rng.random() < 0.6:  # crisp golden edge
        c.dr.line(outline + outline[:1], fill=_rgba((205, 160, 80), 150), width=max(1, int(rad * 0.05)))
    yr = rad * rng.uniform(0.26, 0.33)
    yx, yy = cx + rng.uniform(-0.2, 0.2) * rad, cy + rng.uniform(-0.2, 0.2) * rad
    yolk = _jitter(rng, (250, 170, 20), 0.06)
    c.dr.ellipse([yx - yr * 1.1, yy - yr * 1.1, yx + yr * 1.1, yy + yr * 1.1], fill=_rgba((250, 235, 190), 180))
    c.dr.ellipse([yx - yr, yy - yr, yx + yr, yy + yr], fill=yolk)
    c.dr.ellipse([yx - yr * 0.6, yy - yr * 0.6, yx + yr * 0.5, yy + yr * 0.5], fill=_rgba((255, 200, 60), 120))
    for k in range(6):
        f = 1 - k * 0.15
        c.dh.ellipse([yx - yr * f, yy - yr * f, yx + yr * f, yy + yr * f], fill=150 + 18 * k)
    return c, _Style(relief=0.06, gloss=0.4, shine=30, bump=0.18, tex=0.02, tex_cell=10)


def _draw_lemon(rng: random.Random, s: float) -> tuple[_Canvas, _Style]:
    base = _jitter(rng, rng.choice([(245, 215, 40), (240, 205, 30), (225, 215, 60)]), 0.05)
    c = _Canvas(s * 1.3, s * 0.92, base)
    cx, cy, rx, ry = c.w / 2, c.h / 2, c.w * 0.4, c.h * 0.46
    tip = rng.uniform(0.07, 0.1) * c.w

    def radius(t: float) -> float:
        r = 1.0 / math.sqrt((math.sin(t) / rx) ** 2 + (math.cos(t) / ry) ** 2)
        d = min(abs(t - math.pi / 2), abs(t - 3 * math.pi / 2))
        return r + tip * math.exp(-((d / 0.16) ** 2))

    c.poly(_polar(cx, cy, radius, 160), base)
    c.dots(rng, 500, _in_ellipse(cx, cy, rx, ry), (rx * 0.006, rx * 0.015), _mix(base, (150, 130, 0), 0.4), (40, 110))
    ex = cx - rx - tip * 0.8
    c.dr.ellipse([ex - tip * 0.3, cy - tip * 0.3, ex + tip * 0.3, cy + tip * 0.3], fill=(120, 120, 40))
    return c, _Style(relief=0.45, gloss=0.3, shine=18, pits=0.6, pit_cell=1.4, tex=0.04, tex_cell=6)


def _draw_orange(rng: random.Random, s: float) -> tuple[_Canvas, _Style]:
    base = _jitter(rng, rng.choice([(245, 140, 20), (240, 120, 15), (250, 155, 35)]), 0.05)
    c = _Canvas(s * 0.95, s * 0.95, base)
    cx = cy = c.w / 2
    rad = c.w * 0.47
    c.poly(_polar(cx, cy, lambda t: rad * (1 + 0.015 * math.sin(3 * t + 1))), base)
    c.dots(
        rng, 600, _in_ellipse(cx, cy, rad, rad), (rad * 0.006, rad * 0.016), _mix(base, (170, 70, 0), 0.5), (40, 110)
    )
    ang, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0, 0.35) * rad
    nx, ny = cx + dist * math.cos(ang), cy + dist * math.sin(ang)
    if rng.random() < 0.55:  # navel
        r = rad * rng.uniform(0.07, 0.1)
        c.dr.ellipse(
            [nx - r * 1.8, ny - r * 1.8, nx + r * 1.8, ny + r * 1.8], fill=_rgba(_mix(base, (200, 90, 0), 0.5), 120)
        )
        for k in range(10):
            a = k * math.pi / 5
            c.dr.line(
                [(nx, ny), (nx + r * 1.7 * math.cos(a), ny + r * 1.7 * math.sin(a))],
                fill=_rgba((170, 80, 10), 150),
                width=max(1, int(r * 0.2)),
            )
        c.dr.ellipse([nx - r, ny - r, nx + r, ny + r], fill=(160, 85, 20))
        c.dh.ellipse([nx - r * 1.6, ny - r * 1.6, nx + r * 1.6, ny + r * 1.6], fill=80)
    else:  # stem scar with a small green calyx
        r = rad * 0.07
        for k in range(5):
            a = k * 2 * math.pi / 5 + ang
            c.dr.ellipse(
                [
                    nx + r * math.cos(a) - r * 0.8,
                    ny + r * math.sin(a) - r * 0.8,
                    nx + r * math.cos(a) + r * 0.8,
                    ny + r * math.sin(a) + r * 0.8,
                ],
                fill=(110, 130, 45),
            )
        c.dr.ellipse([nx - r * 0.6, ny - r * 0.6, nx + r * 0.6, ny + r * 0.6], fill=(80, 90, 35))
    return c, _Style(relief=0.5, gloss=0.22, shine=14, bump=0.05, pits=0.9, pit_cell=1.5, tex=0.04, tex_cell=5)


def _pizza_toppings(
    c: _Canvas,
    rng: random.Random,
    inside: Callable[[float, float], bool],
    unit: float,
    n: int,
) -> None:
    cheese = _jitter(rng, (245, 205, 110), 0.04)
    c.dots(rng, 260, inside, (unit * 0.03, unit * 0.09), _mix(cheese, (255, 245, 200), 0.6), (60, 150), height=150)
    c.dots(rng, 120, inside, (unit * 0.015, unit * 0.04), (190, 120, 40), (60, 140))  # browned spots
    c.dots(rng, 40, inside, (unit * 0.02, unit * 0.05), (200, 50, 30), (60, 120))  # sauce showing through
    pep = _jitter(rng, (175, 40, 32), 0.06)
    placed = 0
    for _ in range(n * 6):
        if placed >= n:
            break
        x, y = rng.uniform(0, c.w), rng.uniform(0, c.h)
        r = unit * rng.uniform(0.09, 0.12)
        if not (inside(x - r, y) and inside(x + r, y) and inside(x, y - r) and inside(x, y + r)):
            continue
        placed += 1
        c.dr.ellipse([x - r, y - r, x + r, y + r], fill=_mix(pep, (90, 20, 15), 0.4))
        c.dr.ellipse([x - r * 0.88, y - r * 0.88, x + r * 0.88, y + r * 0.88], fill=pep)
        for _k in range(5):
            a, d = rng.uniform(0, 2 * math.pi), rng.uniform(0, r * 0.7)
            c.dr.ellipse(
                [
                    x + d * math.cos(a) - r * 0.08,
                    y + d * math.sin(a) - r * 0.08,
                    x + d * math.cos(a) + r * 0.08,
                    y + d * math.sin(a) + r * 0.08,
                ],
                fill=_rgba((230, 150, 120), 160),
            )
        c.dh.ellipse([x - r, y - r, x + r, y + r], fill=165)
    if rng.random() < 0.5:  # basil / green pepper bits
        green = _jitter(rng, (60, 130, 40))
        for _ in range(rng.randint(3, 7)):
            x, y = rng.uniform(0, c.w), rng.uniform(0, c.h)
            if inside(x, y):
                _leaf(c, x, y, unit * 0.12, unit * 0.035, rng.uniform(0, 2 * math.pi), green)


def _draw_pizza(rng: random.Random, s: float) -> tuple[_Canvas, _Style]:
    crust = _jitter(rng, (210, 150, 75), 0.05)
    sauce = _jitter(rng, (185, 45, 25), 0.06)
    cheese = _jitter(rng, (245, 205, 110), 0.04)
    if rng.random() < 0.45:  # a whole pizza
        c = _Canvas(s * 1.3, s * 1.3, crust)
        cx = cy = c.w / 2
        rad = c.w * 0.48
        c.poly(_polar(cx, cy, lambda t: rad * (1 + 0.015 * math.sin(5 * t))), crust, height=190)
        c.dots(rng, 160, lambda x, y: True, (rad * 0.02, rad * 0.05), (150, 90, 40), (60, 150))
        c.dr.ellipse([cx - rad * 0.86, cy - rad * 0.86, cx + rad * 0.86, cy + rad * 0.86], fill=sauce)
        c.dh.ellipse([cx - rad * 0.86, cy - rad * 0.86, cx + rad * 0.86, cy + rad * 0.86], fill=128)
        harm = [(rng.uniform(0, 0.04), rng.uniform(0, 6.3), k) for k in range(3, 9)]
        c.dr.polygon(
            _polar(cx, cy, lambda t: rad * (0.8 + sum(a * math.sin(k * t + p) for a, p, k in harm))), fill=cheese
        )
        _pizza_toppings(c, rng, _in_ellipse(cx, cy, rad * 0.78, rad * 0.78), rad, rng.randint(6, 10))
        rot = rng.uniform(0, math.pi)
        for k in range(rng.choice([3, 4])):  # cut lines
            a = rot + k * math.pi / 4 * (4 / 4)
            a = rot + k * math.pi / (3 if k < 3 else 4)
            c.dr.line(
                [
                    (cx - rad * 0.86 * math.cos(a), cy - rad * 0.86 * math.sin(a)),
                    (cx + rad * 0.86 * math.cos(a), cy + rad * 0.86 * math.sin(a)),
                ],
                fill=_rgba((140, 70, 30), 120),
                width=max(1, int(rad * 0.015)),
            )
        return c, _Style(relief=0.06, gloss=0.2, shine=20, bump=0.12, tex=0.05, tex_cell=5)
    c = _Canvas(s * 0.9, s * 1.2, crust)  # a slice, apex down
    w, h = c.w, c.h
    ax, ay = w / 2, h * 0.97
    lr = h * 0.93
    half = math.atan((w * 0.46) / lr)
    arc = [(ax + lr * math.sin(t), ay - lr * math.cos(t)) for t in np.linspace(-half, half, 30)]
    c.poly([(ax, ay), *arc], crust, height=128)
    band = [(ax + lr * 0.86 * math.sin(t), ay - lr * 0.86 * math.cos(t)) for t in np.linspace(half, -half, 30)]
    crust_poly = arc + band
    c.dh.polygon(crust_poly, fill=200)
    c.dots(
        rng,
        120,
        lambda x, y: (x - ax) ** 2 + (y - ay) ** 2 > (lr * 0.86) ** 2,
        (lr * 0.01, lr * 0.03),
        (150, 90, 40),
        (60, 160),
    )
    inner = [(ax, ay - h * 0.015)] + [
        (ax + lr * 0.86 * math.sin(t), ay - lr * 0.86 * math.cos(t)) for t in np.linspace(-half * 0.97, half * 0.97, 30)
    ]
    c.dr.polygon(inner, fill=sauce)
    cheese_poly = [(ax, ay - h * 0.05)] + [
        (
            ax + lr * (0.82 + rng.uniform(-0.02, 0.02)) * math.sin(t),
            ay - lr * (0.82 + rng.uniform(-0.02, 0.02)) * math.cos(t),
        )
        for t in np.linspace(-half * 0.9, half * 0.9, 30)
    ]
    c.dr.polygon(cheese_poly, fill=cheese)
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon(cheese_poly, fill=1)
    m = np.asarray(mask)
    _pizza_toppings(
        c, rng, lambda x, y: 0 <= x < w and 0 <= y < h and m[int(y), int(x)] > 0, lr * 0.55, rng.randint(2, 4)
    )
    return c, _Style(relief=0.08, gloss=0.2, shine=20, bump=0.12, tex=0.05, tex_cell=5)


def _draw_tomato(rng: random.Random, s: float) -> tuple[_Canvas, _Style]:
    base = _jitter(rng, rng.choice([(215, 35, 25), (200, 25, 20), (225, 60, 25), (190, 30, 30)]), 0.05)
    c = _Canvas(s * 0.95, s * 0.9, base)
    cx, cy = c.w / 2, c.h / 2
    rx, ry = c.w * 0.47, c.h * 0.47
    lobes, ph = rng.randint(4, 6), rng.uniform(0, 6.3)

    def radius(t: float) -> float:
        r = 1.0 / math.sqrt((math.sin(t) / rx) ** 2 + (math.cos(t) / ry) ** 2)
        return r * (1 + 0.025 * math.cos(lobes * t + ph))

    c.poly(_polar(cx, cy, radius), base)
    top_view = rng.random() < 0.6
    sx, sy = (cx + rng.uniform(-0.1, 0.1) * rx, cy + rng.uniform(-0.1, 0.1) * ry) if top_view else (cx, cy - ry * 0.8)
    for k in range(lobes):  # faint seams between lobes
        a = ph + k * 2 * math.pi / lobes
        c.dr.line(
            [(sx, sy), (sx + rx * 0.85 * math.cos(a), sy + ry * 0.85 * math.sin(a))],
            fill=_rgba(_mix(base, (120, 10, 10), 0.5), 45),
            width=max(1, int(rx * 0.05)),
        )
    green = _jitter(rng, (60, 125, 40))
    n = rng.choice([5, 6])
    rot = rng.uniform(0, 2 * math.pi)
    flat = 1.0 if top_view else 0.45
    pts = []
    for k in range(2 * n):
        a = rot + k * math.pi / n
        r = rx * (rng.uniform(0.3, 0.4) if k % 2 == 0 else 0.07)
        pts.append((sx + r * math.cos(a), sy + r * math.sin(a) * flat))
    c.poly(pts, green, height=170)
    c.line([(sx, sy), (sx + rx * 0.05, sy - rx * 0.12)], _mix(green, (40, 70, 20), 0.4), rx * 0.09)
    return c, _Style(relief=0.45, gloss=0.9, shine=55, bump=0.05, tex=0.03, tex_cell=10)


_DRAWERS: dict[str, Callable[[random.Random, float], tuple[_Canvas, _Style]]] = {
    "apple": _draw_apple,
    "banana": _draw_banana,
    "bread": _draw_bread,
    "broccoli": _draw_broccoli,
    "carrot": _draw_carrot,
    "cheese": _draw_cheese,
    "cucumber": _draw_cucumber,
    "egg": _draw_egg,
    "lemon": _draw_lemon,
    "orange": _draw_orange,
    "pizza": _draw_pizza,
    "tomato": _draw_tomato,
}
# relative nominal size of each food (a pizza is bigger than an egg)
_SCALE: dict[str, float] = {
    "apple": 0.8, "banana": 1.0, "bread": 1.15, "broccoli": 1.1, "carrot": 0.95, "cheese": 0.9,
    "cucumber": 1.0, "egg": 0.7, "lemon": 0.75, "orange": 0.85, "pizza": 1.25, "tomato": 0.75,
}  # fmt: skip


@dataclass
class _Sprite:
    rgb: np.ndarray  # float32 HxWx3, 0..255
    alpha: np.ndarray  # float32 HxW, 0..1


def _finish(c: _Canvas, style: _Style, rng: np.random.Generator, angle: float, light: np.ndarray) -> _Sprite:
    """Rotate, reduce and shade a drawn canvas into a sprite lit by the scene light."""
    bb = c.alpha.getbbox()
    if bb is None:
        raise ValueError("empty sprite")
    # crop to whole SS blocks around the drawing, reduce (box filter = supersampling), then rotate the small image
    x0, y0 = (bb[0] // SS) * SS, (bb[1] // SS) * SS
    x1, y1 = min(c.w, -(-bb[2] // SS) * SS), min(c.h, -(-bb[3] // SS) * SS)
    bb = (x0, y0, x0 + (x1 - x0) // SS * SS, y0 + (y1 - y0) // SS * SS)
    rgb, alpha, relief = (im.crop(bb).reduce(SS) for im in (c.rgb, c.alpha, c.relief))
    if angle:
        rgb = rgb.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=c.base)
        alpha = alpha.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=0)
        relief = relief.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=128)
        bb = alpha.getbbox()
        if bb is None:
            raise ValueError("empty sprite")
        rgb, alpha, relief = (im.crop(bb) for im in (rgb, alpha, relief))
    rgb_a = np.asarray(rgb, dtype=np.float32)
    a = np.asarray(alpha, dtype=np.float32) / 255.0
    rel = (np.asarray(relief, dtype=np.float32) - 128.0) / 127.0
    h, w = a.shape
    size = float(min(h, w))
    if style.relief:
        dome = (_soft(a, size * 0.05) + _soft(a, size * 0.12) + _soft(a, size * 0.25)) / 3.0
        hgt = dome * a * style.relief * size * 1.6
    else:
        hgt = np.zeros_like(a)
    if style.bump:
        hgt += _blur(rel, max(0.6, size * 0.008)) * style.bump * size * 0.12
    hgt = _box_blur(hgt, 1)  # smooth the coarse shape so highlights do not show the blur grid
    if style.pits:
        hgt -= np.maximum(0.0, _noise(rng, h, w, style.pit_cell)) * style.pits
    gy, gx = np.gradient(hgt)
    nz = 1.0 / np.sqrt(gx * gx + gy * gy + 1.0)
    nx, ny = -gx * nz, -gy * nz
    ndl = nx * light[0] + ny * light[1] + nz * light[2]
    shade = 0.35 + 0.65 * np.clip(ndl, 0.0, None) / light[2]
    half = light + np.array([0.0, 0.0, 1.0], np.float32)
    half /= np.linalg.norm(half)
    ndh = np.clip(nx * half[0] + ny * half[1] + nz * half[2], 0.0, 1.0)
    spec = style.gloss * ndh**style.shine * 255.0
    tex = 1.0 + style.tex * _fbm(rng, h, w, max(1.5, style.tex_cell), 2)
    out = rgb_a * (shade * tex)[..., None] + spec[..., None]
    return _Sprite(np.clip(out, 0, 255).astype(np.float32), a)


def _render_item(name: str, rng: random.Random, nrng: np.random.Generator, size: float, light: np.ndarray) -> _Sprite:
    canvas, style = _DRAWERS[name](rng, size)
    return _finish(canvas, style, nrng, rng.uniform(0, 360), light)


# --------------------------------------------------------------------------------------------------------------
# tables and plates


def _background(rng: random.Random, nrng: np.random.Generator, w: int, h: int) -> np.ndarray:
    kind = rng.choice(["wood", "wood", "checked", "marble", "slate", "linen"])
    xx = np.arange(w, dtype=np.float32)[None, :]
    yy = np.arange(h, dtype=np.float32)[:, None]
    ang = rng.uniform(0, math.pi)
    u = xx * math.cos(ang) + yy * math.sin(ang)
    v = -xx * math.sin(ang) + yy * math.cos(ang)
    if kind == "wood":
        base = np.array(
            _jitter(rng, rng.choice([(185, 140, 95), (150, 100, 60), (110, 72, 45), (205, 170, 125)]), 0.05), np.float32
        )
        vertical = rng.random() < 0.5
        hh, ww = (w, h) if vertical else (h, w)  # draw planks along x, transpose when vertical
        plank = rng.uniform(60, 150)
        vv = np.arange(hh, dtype=np.float32)[:, None]
        idx = np.floor(vv / plank)
        warp = _fbm(nrng, hh, ww, 120, 3) * rng.uniform(6, 16)
        rings = np.sin((vv + warp + (idx * 37.17 % 1.0) * 60) * rng.uniform(0.12, 0.25))
        fibres = _streaks(nrng, hh, ww, rng.uniform(150, 300), rng.uniform(2.0, 4.0))
        broad = _streaks(nrng, hh, ww, rng.uniform(300, 600), rng.uniform(8, 16))
        tone = (
            1.0
            + 0.07 * rings * (0.5 + 0.5 * broad)
            + 0.07 * fibres
            + 0.06 * broad
            + 0.12 * ((idx * 0.61803) % 1.0 - 0.5)
        )
        seam = np.abs((vv / plank) - np.round(vv / plank)) * plank
        tone = tone * np.where(seam < 1.5, 0.5, 1.0)
        if vertical:
            tone = tone.T
        img = base[None, None, :] * tone[..., None]
    elif kind == "checked":
        c1 = np.array(_jitter(rng, (245, 243, 235), 0.02), np.float32)
        c2 = np.array(
            _jitter(rng, rng.choice([(200, 40, 40), (40, 80, 170), (50, 130, 70), (220, 170, 40), (60, 60, 60)]), 0.08),
            np.float32,
        )
        size = rng.uniform(22, 60)
        su = (np.floor(u / size) % 2).astype(np.float32)
        sv = (np.floor(v / size) % 2).astype(np.float32)
        t = (su + sv) / 2.0  # gingham: 0, half, full tone
        img = c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]
        weave = 1.0 + 0.05 * np.sin(u * 1.7) * np.sin(v * 1.7) + 0.03 * _noise(nrng, h, w, 1.5)
        folds = 1.0 + 0.07 * _fbm(nrng, h, w, 120, 2)
        img = img * (weave * folds)[..., None]
    elif kind == "marble":
        base = np.array(
            _jitter(rng, rng.choice([(235, 235, 232), (225, 222, 215), (70, 72, 78), (200, 210, 205)]), 0.03),
            np.float32,
        )
        vein_c = np.array([60, 60, 65] if base.mean() > 128 else [220, 220, 215], np.float32)
        cloud = 1.0 + 0.05 * _fbm(nrng, h, w, 60, 3)
        img = base[None, None, :] * cloud[..., None]
        for weight, freq, width in ((rng.uniform(0.45, 0.7), 0.02, 0.08), (rng.uniform(0.15, 0.3), 0.05, 0.05)):
            turb = _fbm(nrng, h, w, rng.uniform(160, 260), 4)
            veins = np.abs(np.sin(u * freq * rng.uniform(0.7, 1.4) + turb * rng.uniform(1.5, 2.5)))
            strength = (np.clip((width - veins) / width, 0, 1) ** 2 * weight)[..., None]
            img = img * (1 - strength) + vein_c[None, None, :] * strength
    elif kind == "slate":
        base = np.array(_jitter(rng, rng.choice([(60, 62, 66), (45, 45, 50), (85, 80, 75)]), 0.05), np.float32)
        tone = 1.0 + 0.1 * _fbm(nrng, h, w, 80, 4) + 0.06 * _noise(nrng, h, w, 1.5)
        img = base[None, None, :] * tone[..., None]
    else:  # linen tablecloth
        base = np.array(
            _jitter(rng, rng.choice([(225, 215, 195), (200, 210, 220), (235, 225, 210), (180, 190, 170)]), 0.04),
            np.float32,
        )
        thread = 1.0 + 0.04 * np.sin(u * 2.2) + 0.04 * np.sin(v * 2.2) + 0.04 * _noise(nrng, h, w, 1.2)
        folds = 1.0 + 0.08 * _fbm(nrng, h, w, 150, 3)
        img = base[None, None, :] * (thread * folds)[..., None]
    return img.astype(np.float32)


def _plate(rng: random.Random, nrng: np.random.Generator, d: float, light: np.ndarray) -> _Sprite:
    bowl = rng.random() < 0.3
    color = _jitter(
        rng,
        rng.choice(
            [
                (245, 245, 242),
                (240, 236, 225),
                (250, 250, 250),
                (190, 210, 225),
                (60, 60, 65),
                (200, 90, 60),
                (230, 220, 190),
            ]
        ),
        0.03,
    )
    c = _Canvas(d, d, color)
    cx = cy = c.w / 2
    rad = c.w * 0.49
    c.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], color, height=128)
    if bowl:
        c.dh.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], fill=220)
        inner = rad * 0.86
        for k in range(40):  # a round concave inside, in fine steps so no rings show
            f = inner * (1 - k / 40)
            c.dh.ellipse([cx - f, cy - f, cx + f, cy + f], fill=int(200 - 120 * (1 - (f / inner) ** 2)))
        c.dr.ellipse([cx - inner, cy - inner, cx + inner, cy + inner], fill=_mix(color, (0, 0, 0), 0.08))
        style = _Style(relief=0.0, gloss=0.35, shine=30, bump=0.5, tex=0.01)
    else:
        well = rad * rng.uniform(0.6, 0.72)
        c.dh.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], fill=170)
        c.dh.ellipse([cx - well, cy - well, cx + well, cy + well], fill=128)
        if rng.random() < 0.4:  # a decorative rim line
            rr = rad * 0.92
            c.dr.ellipse(
                [cx - rr, cy - rr, cx + rr, cy + rr],
                outline=_jitter(rng, rng.choice([(40, 70, 150), (180, 150, 60), (120, 40, 40)])),
                width=max(1, int(rad * 0.015)),
            )
        style = _Style(relief=0.0, gloss=0.3, shine=30, bump=0.2, tex=0.01)
    return _finish(c, style, nrng, 0.0, light)


# --------------------------------------------------------------------------------------------------------------
# scenes


def _shadow(img: np.ndarray, sp: _Sprite, x: int, y: int, dx: int, dy: int, strength: float) -> None:
    """Darken the scene under a sprite's soft shadow, offset away from the light."""
    sigma = max(1.5, min(sp.alpha.shape) * 0.04)
    pad = int(sigma * 2.5) + 1
    sh = _soft(np.pad(sp.alpha, pad), sigma)
    _blend(img, None, sh * strength, x + dx - pad, y + dy - pad, darken=True)


def _blend(img: np.ndarray, rgb: np.ndarray | None, a: np.ndarray, x: int, y: int, darken: bool = False) -> None:
    ih, iw = img.shape[:2]
    h, w = a.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(iw, x + w), min(ih, y + h)
    if x0 >= x1 or y0 >= y1:
        return
    aa = a[y0 - y : y1 - y, x0 - x : x1 - x, None]
    region = img[y0:y1, x0:x1]
    if darken:
        region *= 1.0 - aa
    else:
        assert rgb is not None
        region *= 1.0 - aa
        region += rgb[y0 - y : y1 - y, x0 - x : x1 - x] * aa


def _place(
    rng: random.Random, iw: int, ih: int, w: int, h: int, plates: list[tuple[float, float, float]]
) -> tuple[int, int]:
    if plates and rng.random() < 0.6:
        px, py, pr = rng.choice(plates)
        a, d = rng.uniform(0, 2 * math.pi), pr * 0.65 * math.sqrt(rng.random())
        cx, cy = px + d * math.cos(a), py + d * math.sin(a)
    else:
        cx, cy = rng.uniform(w * 0.2, iw - w * 0.2), rng.uniform(h * 0.2, ih - h * 0.2)
    return int(cx - w / 2), int(cy - h / 2)


def _render_scene(seed_parts: Sequence[int], classes: Sequence[int], size: tuple[int, int] | None = None) -> _Scene:
    """Draw one table scene with the given foods (class indices) and return its pixels and tight boxes."""
    ss = np.random.SeedSequence(list(seed_parts))
    nrng = np.random.default_rng(ss)
    rng = random.Random(int(nrng.integers(0, 2**63)))
    iw, ih = size if size else (rng.randrange(560, 721, 8), rng.randrange(420, 541, 8))
    az, el = rng.uniform(0, 2 * math.pi), rng.uniform(0.75, 1.1)
    light = np.array([math.cos(az) * math.cos(el), math.sin(az) * math.cos(el), math.sin(el)], np.float32)
    sdx, sdy = -light[0] / max(0.3, light[2]), -light[1] / max(0.3, light[2])
    img = _background(rng, nrng, iw, ih)
    m = min(iw, ih)

    plates: list[tuple[float, float, float]] = []
    for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3])):
        d = m * rng.uniform(0.4, 0.75)
        sp = _plate(rng, nrng, d, light)
        ph, pw = sp.alpha.shape
        x, y = int(rng.uniform(-pw * 0.2, iw - pw * 0.8)), int(rng.uniform(-ph * 0.2, ih - ph * 0.8))
        _shadow(img, sp, x, y, int(sdx * d * 0.04), int(sdy * d * 0.04), 0.35)
        _blend(img, sp.rgb, sp.alpha, x, y)
        plates.append((x + pw / 2, y + ph / 2, pw / 2))

    owner = np.full((ih, iw), -1, np.int16)
    areas: list[int] = []
    visible: list[int] = []
    boxes: list[_Box] = []
    n = len(classes)
    base = m * rng.uniform(0.22, 0.36) * (1.15 - 0.045 * n)
    for cls in classes:
        name = FOOD_CLASSES[cls]
        for attempt in range(3):
            s = base * _SCALE[name] * rng.uniform(0.75, 1.25) * (0.8**attempt)
            s = max(s, 28.0)
            sp = _render_item(name, rng, nrng, s, light)
            mask = sp.alpha >= 0.3
            h, w = mask.shape
            area = int(mask.sum())
            ok = False
            for trial in range(13):
                if trial < 12:
                    x, y = _place(rng, iw, ih, w, h, plates)
                else:  # last resort: the middle of the table (the first item of a scene always fits there)
                    x, y = (iw - w) // 2, (ih - h) // 2
                x0, y0, x1, y1 = max(0, x), max(0, y), min(iw, x + w), min(ih, y + h)
                if x1 - x0 < 8 or y1 - y0 < 8:
                    continue
                sub = mask[y0 - y : y1 - y, x0 - x : x1 - x]
                if sub.sum() < 0.75 * area:
                    continue
                under = owner[y0:y1, x0:x1][sub]
                counts = np.bincount(under + 1, minlength=len(areas) + 1)[1:]
                if any(visible[k] - counts[k] < 0.65 * areas[k] for k in range(len(areas))):
                    continue
                ys, xs = np.nonzero(sub)
                bw, bh = int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)
                if bw < 12 or bh < 12:
                    continue
                ok = True
                break
            if ok:
                break
        if not ok:
            continue
        _shadow(img, sp, x, y, int(sdx * s * 0.06), int(sdy * s * 0.06), 0.45)
        _blend(img, sp.rgb, sp.alpha, x, y)
        owner[y0:y1, x0:x1][sub] = len(areas)
        visible = [v - int(cnt) for v, cnt in zip(visible, counts, strict=True)]
        areas.append(area)
        visible.append(int(sub.sum()))
        boxes.append(_Box(cls, [float(x0 + xs.min()), float(y0 + ys.min()), float(bw), float(bh)]))

    # camera: light falloff, vignette, white balance, exposure, noise, sometimes a little blur
    xs1 = np.arange(iw, dtype=np.float32)[None, :] / iw - 0.5
    ys1 = np.arange(ih, dtype=np.float32)[:, None] / ih - 0.5
    ga, gs, vs = rng.uniform(0, 2 * math.pi), rng.uniform(0.1, 0.45), rng.uniform(0.2, 0.7)
    gain = rng.uniform(0.85, 1.12) * (1.0 + (xs1 * math.cos(ga) + ys1 * math.sin(ga)) * gs - (xs1**2 + ys1**2) * vs)
    wb = np.array([1 + rng.uniform(-0.05, 0.05), 1.0, 1 + rng.uniform(-0.06, 0.06)], np.float32)
    img *= gain[..., None]
    img *= wb
    img += (nrng.standard_normal((ih, iw), dtype=np.float32) * rng.uniform(1.0, 3.5))[..., None]
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.15:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.4))))
    return _Scene(out, boxes)


def _jpeg_bytes(pixels: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _quality(parts: Sequence[int]) -> int:
    return 70 + int(np.random.default_rng(np.random.SeedSequence([*parts, 7])).integers(0, 26))


# --------------------------------------------------------------------------------------------------------------
# the dataset


def _plan(seed: int, n: int) -> list[list[int]]:
    """Classes per image: 1-8 items, drawn from shuffled bags of all twelve so classes stay balanced."""
    rng = random.Random(int(np.random.default_rng(np.random.SeedSequence([seed, _PLAN_STREAM])).integers(0, 2**63)))
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


def _image_name(index: int) -> str:
    return f"demo_{index:06d}.jpg"


def _make_clean(task: tuple[int, int, list[int], str]) -> tuple[int, int, int, list[tuple[int, list[float]]]]:
    """Worker: render, encode and write one clean image; return its size and boxes."""
    seed, index, classes, images_dir = task
    parts = (seed, index, _CLEAN_STREAM)
    scene = _render_scene(parts, classes)
    path = Path(images_dir) / _image_name(index)
    path.write_bytes(_jpeg_bytes(scene.pixels, _quality(parts)))
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

    plan = _plan(seed, images)
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
        _add_image(coco_images, coco_anns, _image_name(index), w, h, boxes)
        for cls, _bbox in boxes:
            per_class[FOOD_CLASSES[cls]] += 1
    clean_boxes = len(coco_anns)

    defect_list: list[dict[str, str]] = []
    if defects:
        progress(0.96, "Planting data-quality defects")
        defect_list = _plant_defects(images_dir, seed, images, coco_images, coco_anns)

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


def _add_image(
    coco_images: list[dict],
    coco_anns: list[dict],
    name: str,
    w: int,
    h: int,
    boxes: Sequence[tuple[int | str, list[float]]],
) -> int:
    """Append an image and its boxes (class index, or a raw category id given as a string) to the COCO lists."""
    image_id = len(coco_images) + 1
    coco_images.append({"id": image_id, "file_name": name, "width": w, "height": h})
    for cls, bbox in boxes:
        cat = int(cls) if isinstance(cls, str) else CATEGORY_IDS[FOOD_CLASSES[cls]]
        coco_anns.append(
            {
                "id": len(coco_anns) + 1,
                "image_id": image_id,
                "category_id": cat,
                "bbox": [round(float(v), 2) for v in bbox],
                "area": round(float(max(0.0, bbox[2]) * max(0.0, bbox[3])), 2),
                "iscrowd": 0,
            }
        )
    return image_id


def _plant_defects(
    images_dir: Path, seed: int, n: int, coco_images: list[dict], coco_anns: list[dict]
) -> list[dict[str, str]]:
    """Write the demo_defect_* images, add them to the COCO lists, and return the defects.json entries."""
    rng = random.Random(seed * 7919 + 17)
    planted: list[dict[str, str]] = []
    counter = iter(range(1000))

    def fresh(classes: Sequence[int] | None = None, size: tuple[int, int] | None = None) -> _Scene:
        k = next(counter)
        if classes is None:
            classes = [rng.randrange(len(FOOD_CLASSES)) for _ in range(rng.randint(2, 4))]
        return _render_scene((seed, k, _DEFECT_STREAM), classes, size)

    def add(kind: str, name: str, data: bytes, w: int, h: int, boxes: Sequence[tuple[int | str, list[float]]]) -> None:
        (images_dir / name).write_bytes(data)
        _add_image(coco_images, coco_anns, name, w, h, boxes)
        planted.append({"file": name, "kind": kind})

    def boxes_of(scene: _Scene) -> list[tuple[int | str, list[float]]]:
        return [(b.cls, list(b.bbox)) for b in scene.boxes]

    def dims(scene: _Scene) -> tuple[int, int]:
        return scene.pixels.shape[1], scene.pixels.shape[0]

    # corrupt_image: a truncated JPEG, and random bytes
    sc = fresh()
    data = _jpeg_bytes(sc.pixels, 88)
    add("corrupt_image", "demo_defect_corrupt_truncated.jpg", data[: int(len(data) * 0.4)], *dims(sc), boxes_of(sc))
    noise = np.random.default_rng(np.random.SeedSequence([seed, 99, _DEFECT_STREAM])).integers(0, 256, 6000, np.uint8)
    add(
        "corrupt_image", "demo_defect_corrupt_random.jpg", noise.tobytes(), 640, 480, [(0, [100.0, 100.0, 120.0, 90.0])]
    )

    # format_mismatch: PNG data under .jpg
    sc = fresh()
    buf = io.BytesIO()
    Image.fromarray(sc.pixels).save(buf, format="PNG")
    add("format_mismatch", "demo_defect_format_mismatch.jpg", buf.getvalue(), *dims(sc), boxes_of(sc))

    # too_small: 24x20 px, one box
    sc = fresh([rng.randrange(len(FOOD_CLASSES))])
    iw, ih = dims(sc)
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
    add(
        "too_small",
        "demo_defect_too_small.jpg",
        _jpeg_bytes(np.asarray(small), 90),
        24,
        20,
        [(sc.boxes[0].cls if sc.boxes else 0, box)],
    )

    # low_variance: an almost flat single colour
    flat = np.full((480, 640, 3), (196, 188, 170), np.float32)
    flat += np.random.default_rng(np.random.SeedSequence([seed, 98, _DEFECT_STREAM])).normal(0, 1.2, (480, 640, 1))
    add(
        "low_variance",
        "demo_defect_low_variance.jpg",
        _jpeg_bytes(np.clip(flat, 0, 255).astype(np.uint8), 92),
        640,
        480,
        [(0, [200.0, 150.0, 160.0, 140.0])],
    )

    # exact_duplicate: a byte copy of the first clean image (with its boxes)
    def clean_entry(index: int) -> tuple[dict, list[tuple[int | str, list[float]]]]:
        im = coco_images[index]
        anns = [(str(a["category_id"]), list(a["bbox"])) for a in coco_anns if a["image_id"] == im["id"]]
        return im, anns

    im0, anns0 = clean_entry(0)
    add(
        "exact_duplicate",
        "demo_defect_exact_duplicate.jpg",
        (images_dir / im0["file_name"]).read_bytes(),
        im0["width"],
        im0["height"],
        anns0,
    )

    # near_duplicate: the second clean image re-encoded at q60, resized 90 %, brightness x1.05
    im1, anns1 = clean_entry(min(1, n - 1))
    src = Image.open(images_dir / im1["file_name"])
    src.load()
    nw, nh = round(src.width * 0.9), round(src.height * 0.9)
    near = ImageEnhance.Brightness(src.convert("RGB").resize((nw, nh), Image.Resampling.LANCZOS)).enhance(1.05)
    buf = io.BytesIO()
    near.save(buf, format="JPEG", quality=60)
    sx, sy = nw / src.width, nh / src.height
    scaled = [
        (c, [round(b[0] * sx, 2), round(b[1] * sy, 2), round(b[2] * sx, 2), round(b[3] * sy, 2)]) for c, b in anns1
    ]
    add("near_duplicate", "demo_defect_near_duplicate.jpg", buf.getvalue(), nw, nh, scaled)

    # annotation defects on fresh scenes
    def scene_with(min_boxes: int = 1) -> _Scene:
        for _ in range(10):
            sc = fresh()
            if len(sc.boxes) >= min_boxes:
                return sc
        return sc

    sc = scene_with()
    iw, ih = dims(sc)
    bx = boxes_of(sc)
    k = max(range(len(bx)), key=lambda i: bx[i][1][0] + bx[i][1][2])
    bx[k][1][2] = round(iw * 1.15 - bx[k][1][0], 2)
    add("bbox_out_of_bounds", "demo_defect_bbox_out_of_bounds.jpg", _jpeg_bytes(sc.pixels, 88), iw, ih, bx)

    sc = scene_with()
    iw, ih = dims(sc)
    bx = boxes_of(sc)
    x, y, w, h = bx[0][1]
    bx.append((bx[0][0], [x, y, 0.0, h]))
    add("degenerate_bbox", "demo_defect_degenerate_zero_width.jpg", _jpeg_bytes(sc.pixels, 88), iw, ih, bx)

    sc = scene_with()
    iw, ih = dims(sc)
    bx = boxes_of(sc)
    bx.append((bx[0][0], [float(iw + 40), 30.0, 60.0, 50.0]))
    add("degenerate_bbox", "demo_defect_degenerate_outside.jpg", _jpeg_bytes(sc.pixels, 88), iw, ih, bx)

    sc = scene_with()
    iw, ih = dims(sc)
    bx = boxes_of(sc)
    bx.append((bx[0][0], [float(iw // 2), float(ih // 2), 3.0, 3.0]))
    add("tiny_bbox", "demo_defect_tiny_bbox.jpg", _jpeg_bytes(sc.pixels, 88), iw, ih, bx)

    sc = scene_with(2)
    iw, ih = dims(sc)
    bx = boxes_of(sc)
    bx[-1] = ("999", bx[-1][1])
    add("unknown_class", "demo_defect_unknown_class.jpg", _jpeg_bytes(sc.pixels, 88), iw, ih, bx)

    sc = scene_with()
    iw, ih = dims(sc)
    bx = boxes_of(sc)
    big = max(bx, key=lambda b: min(b[1][2], b[1][3]))
    x, y, w, h = big[1]
    bx.append((big[0], [x + 1.0, y + 1.0, w, h]))
    add("duplicate_box", "demo_defect_duplicate_box.jpg", _jpeg_bytes(sc.pixels, 88), iw, ih, bx)

    sc = fresh([])
    add("missing_label", "demo_defect_missing_label.jpg", _jpeg_bytes(sc.pixels, 88), *dims(sc), [])
    return planted


# --------------------------------------------------------------------------------------------------------------
# sample grid for the README


def save_sample_grid(dataset_dir: Path, out_png: Path, *, n: int = 12, seed: int = 0) -> Path:
    """Draw a grid of sample images with their boxes and class labels.

    Args:
        dataset_dir: A folder with `annotations.json` and `images/` (COCO, as written by `generate_demo_dataset`).
        out_png: The PNG to write (its folder is created).
        n: Number of images in the grid (4 per row).
        seed: Picks which images.

    Returns:
        `out_png`.

    Raises:
        BadInputError: The folder has no readable COCO annotations or images.
    """
    dataset_dir = Path(dataset_dir)
    ann_path = dataset_dir / "annotations.json"
    try:
        coco = json.loads(ann_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInputError(f"Cannot read {ann_path}: {exc}.") from exc
    names = {c["id"]: c["name"] for c in coco.get("categories", [])}
    by_image: dict[int, list[dict]] = {}
    for a in coco.get("annotations", []):
        by_image.setdefault(a["image_id"], []).append(a)
    candidates = [
        im
        for im in coco.get("images", [])
        if by_image.get(im["id"])
        and (dataset_dir / "images" / im["file_name"]).is_file()
        and not im["file_name"].startswith("demo_defect_")
    ]
    if not candidates:
        raise BadInputError(f"No annotated images found in {dataset_dir}.")
    picks = random.Random(seed).sample(candidates, min(n, len(candidates)))
    cols = 4
    tile_w, tile_h = 320, 240
    rows = math.ceil(len(picks) / cols)
    gap = 6
    grid = Image.new("RGB", (cols * tile_w + (cols + 1) * gap, rows * tile_h + (rows + 1) * gap), (250, 250, 250))
    font = ImageFont.load_default(size=13)
    for i, im in enumerate(picks):
        with Image.open(dataset_dir / "images" / im["file_name"]) as src:
            tile = src.convert("RGB")
        scale = min(tile_w / tile.width, tile_h / tile.height)
        tile = tile.resize((round(tile.width * scale), round(tile.height * scale)), Image.Resampling.LANCZOS)
        draw = ImageDraw.Draw(tile)
        for a in by_image[im["id"]]:
            x, y, w, h = (v * scale for v in a["bbox"])
            name = names.get(a["category_id"], str(a["category_id"]))
            col = color_for(name)
            draw.rectangle([x, y, x + w, y + h], outline=col, width=2)
            tb = draw.textbbox((0, 0), name, font=font)
            tw, th = tb[2] - tb[0] + 6, tb[3] - tb[1] + 4
            ty = y - th if y - th >= 0 else y
            draw.rectangle([x, ty, x + tw, ty + th], fill=col)
            draw.text(
                (x + 3, ty + 1 - tb[1]),
                name,
                fill="white" if name not in ("banana", "cheese", "lemon") else "black",
                font=font,
            )
        r, c = divmod(i, cols)
        grid.paste(
            tile,
            (
                gap + c * (tile_w + gap) + (tile_w - tile.width) // 2,
                gap + r * (tile_h + gap) + (tile_h - tile.height) // 2,
            ),
        )
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out_png, format="PNG", optimize=True)
    return out_png
