"""The twelve vocabulary foods as sprites: which drawer draws each, how large, and the shading that finishes it."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from backend.data.demo.dishes import draw_bread, draw_cheese, draw_egg, draw_pizza
from backend.data.demo.drawing import SS, Canvas, Style, box_blur, fbm, gaussian_blur, soft_edge, value_noise
from backend.data.demo.fruit import draw_apple, draw_banana, draw_lemon, draw_orange, draw_tomato
from backend.data.demo.vegetables import draw_broccoli, draw_carrot, draw_cucumber

DRAWERS: dict[str, Callable[[random.Random, float], tuple[Canvas, Style]]] = {
    "apple": draw_apple,
    "banana": draw_banana,
    "bread": draw_bread,
    "broccoli": draw_broccoli,
    "carrot": draw_carrot,
    "cheese": draw_cheese,
    "cucumber": draw_cucumber,
    "egg": draw_egg,
    "lemon": draw_lemon,
    "orange": draw_orange,
    "pizza": draw_pizza,
    "tomato": draw_tomato,
}
# relative nominal size of each food (a pizza is bigger than an egg)
SCALE: dict[str, float] = {
    "apple": 0.8, "banana": 1.0, "bread": 1.15, "broccoli": 1.1, "carrot": 0.95, "cheese": 0.9,
    "cucumber": 1.0, "egg": 0.7, "lemon": 0.75, "orange": 0.85, "pizza": 1.25, "tomato": 0.75,
}  # fmt: skip


@dataclass
class Sprite:
    rgb: np.ndarray  # float32 HxWx3, 0..255
    alpha: np.ndarray  # float32 HxW, 0..1


def finish_sprite(c: Canvas, style: Style, rng: np.random.Generator, angle: float, light: np.ndarray) -> Sprite:
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
        dome = (soft_edge(a, size * 0.05) + soft_edge(a, size * 0.12) + soft_edge(a, size * 0.25)) / 3.0
        hgt = dome * a * style.relief * size * 1.6
    else:
        hgt = np.zeros_like(a)
    if style.bump:
        hgt += gaussian_blur(rel, max(0.6, size * 0.008)) * style.bump * size * 0.12
    hgt = box_blur(hgt, 1)  # smooth the coarse shape so highlights do not show the blur grid
    if style.pits:
        hgt -= np.maximum(0.0, value_noise(rng, h, w, style.pit_cell)) * style.pits
    gy, gx = np.gradient(hgt)
    nz = 1.0 / np.sqrt(gx * gx + gy * gy + 1.0)
    nx, ny = -gx * nz, -gy * nz
    ndl = nx * light[0] + ny * light[1] + nz * light[2]
    shade = 0.35 + 0.65 * np.clip(ndl, 0.0, None) / light[2]
    half = light + np.array([0.0, 0.0, 1.0], np.float32)
    half /= np.linalg.norm(half)
    ndh = np.clip(nx * half[0] + ny * half[1] + nz * half[2], 0.0, 1.0)
    spec = style.gloss * ndh**style.shine * 255.0
    tex = 1.0 + style.tex * fbm(rng, h, w, max(1.5, style.tex_cell), 2)
    out = rgb_a * (shade * tex)[..., None] + spec[..., None]
    return Sprite(np.clip(out, 0, 255).astype(np.float32), a)


def render_item(name: str, rng: random.Random, nrng: np.random.Generator, size: float, light: np.ndarray) -> Sprite:
    canvas, style = DRAWERS[name](rng, size)
    return finish_sprite(canvas, style, nrng, rng.uniform(0, 360), light)
