"""Drawing primitives of the demo generator: smooth noise and blur on numpy arrays, and the supersampled canvas.

A food is drawn on a `Canvas` at `SS` times its final size (PIL shapes on an RGB layer, an alpha mask and a relief
layer); `foods.finish_sprite` then reduces and shades it. Everything here draws from the random generators it is
given, in a fixed order, so a seed always gives the same pixels.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SS = 3  # supersampling factor for drawing; sprites are drawn SS times larger and box-reduced

Color = tuple[int, int, int]


def box_blur(a: np.ndarray, r: int) -> np.ndarray:
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


def gaussian_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Approximate gaussian blur (three box passes)."""
    r = round(sigma * 0.9)
    for _ in range(3):
        a = box_blur(a, r)
    return a


def soft_edge(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-like blur for large radii: blur a downscaled copy and scale it back up (much faster)."""
    f = int(sigma / 3.0)
    if f < 2:
        return gaussian_blur(a, sigma)
    h, w = a.shape
    sw, sh = max(2, -(-w // f)), max(2, -(-h // f))
    small = np.asarray(Image.fromarray(a).resize((sw, sh), Image.Resampling.BILINEAR, reducing_gap=2.0))
    small = gaussian_blur(small, sigma / f)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


def value_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth value noise in about [-1, 1] with features about `cell` px wide."""
    if cell <= 1.6:  # pixel-scale grain: plain uniform noise is close enough and far cheaper
        return rng.random((h, w), dtype=np.float32) * 2.0 - 1.0
    gh, gw = int(h / cell) + 3, int(w / cell) + 3
    grid = Image.fromarray(rng.random((gh, gw), dtype=np.float32))
    up = np.asarray(grid.resize((int(gw * cell), int(gh * cell)), Image.Resampling.BICUBIC))
    oy, ox = int(rng.integers(0, max(1, int(cell)))), int(rng.integers(0, max(1, int(cell))))
    return (up[oy : oy + h, ox : ox + w] * 2.0 - 1.0).astype(np.float32)


def streak_noise(rng: np.random.Generator, h: int, w: int, along: float, across: float) -> np.ndarray:
    """Value noise stretched along x (cells `along` px long, `across` px wide): wood fibres, brushed streaks."""
    gh, gw = int(h / across) + 3, int(w / along) + 3
    grid = Image.fromarray(rng.random((gh, gw), dtype=np.float32))
    up = np.asarray(grid.resize((int(gw * along), int(gh * across)), Image.Resampling.BICUBIC))
    return (up[:h, :w] * 2.0 - 1.0).astype(np.float32)


def fbm(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 4) -> np.ndarray:
    """Fractal noise: octaves of value noise, each half the size and half the weight.

    The octaves are summed on a grid scaled so the finest one is about 2.5 px, then scaled up once (cheap).
    """
    finest = max(1.0, cell / 2 ** (octaves - 1))
    f = max(1.0, finest / 2.5)
    sh, sw = max(2, math.ceil(h / f)), max(2, math.ceil(w / f))
    out = np.zeros((sh, sw), np.float32)
    amp, total, c = 1.0, 0.0, cell / f
    for _ in range(octaves):
        out += amp * value_noise(rng, sh, sw, c)
        total += amp
        amp *= 0.5
        c /= 2.0
        if c < 1.0:
            break
    out /= total
    if f > 1.0:
        out = np.asarray(Image.fromarray(out).resize((w, h), Image.Resampling.BICUBIC))
    return out


def jitter(rng: random.Random, color: Color, amount: float = 0.08, bright: float = 0.1) -> Color:
    """Randomly shift a colour's channels and brightness."""
    b = 1.0 + rng.uniform(-bright, bright)
    red, green, blue = (int(max(0, min(255, c * b * (1.0 + rng.uniform(-amount, amount))))) for c in color)
    return red, green, blue


def mix(a: Color, b: Color, t: float) -> Color:
    red, green, blue = (int(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return red, green, blue


def rgba(c: Color, a: int) -> tuple[int, int, int, int]:
    return (c[0], c[1], c[2], a)


@dataclass
class Style:
    relief: float = 0.3  # dome height relative to the item's size
    gloss: float = 0.2  # specular strength
    shine: float = 25.0  # specular exponent
    bump: float = 0.0  # weight of the drawn relief layer (px of height per unit)
    pits: float = 0.0  # fine pitted noise in the height field (citrus peel)
    pit_cell: float = 1.6
    tex: float = 0.05  # colour noise amplitude
    tex_cell: float = 6.0


class Canvas:
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
            self.dr.ellipse(box, fill=rgba(color, rng.randint(*alpha)))
            if height is not None:
                self.dh.ellipse(box, fill=height)


def polar(cx: float, cy: float, radius: Callable[[float], float], n: int = 120) -> list[tuple[float, float]]:
    """Closed outline from a radius function of the angle (0 = up, clockwise, image coordinates)."""
    pts = []
    for i in range(n):
        t = 2 * math.pi * i / n
        r = radius(t)
        pts.append((cx + r * math.sin(t), cy - r * math.cos(t)))
    return pts


def in_ellipse(cx: float, cy: float, rx: float, ry: float) -> Callable[[float, float], bool]:
    return lambda x, y: ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def draw_leaf(c: Canvas, x: float, y: float, length: float, width: float, angle: float, color: Color) -> None:
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
        fill=rgba(mix(color, (20, 50, 10), 0.5), 160),
        width=max(1, int(width * 0.15)),
    )
