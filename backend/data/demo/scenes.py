"""Scenes of the demo generator: tables, plates, the foods placed on them, and the camera's light and noise."""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter

from backend.core.vocab import FOOD_CLASSES
from backend.data.demo.drawing import Canvas, Style, fbm, jitter, mix, soft_edge, streak_noise, value_noise
from backend.data.demo.foods import SCALE, Sprite, finish_sprite, render_item

# Random streams: each image is seeded from (seed, index, stream), so clean images, planted defects and the class
# plan never share random numbers.
CLEAN_STREAM = 0
DEFECT_STREAM = 1
PLAN_STREAM = 2


@dataclass
class Box:
    cls: int
    bbox: list[float]  # x, y, w, h


@dataclass
class Scene:
    pixels: np.ndarray  # uint8 HxWx3
    boxes: list[Box] = field(default_factory=list)


def render_background(rng: random.Random, nrng: np.random.Generator, w: int, h: int) -> np.ndarray:
    kind = rng.choice(["wood", "wood", "checked", "marble", "slate", "linen"])
    xx = np.arange(w, dtype=np.float32)[None, :]
    yy = np.arange(h, dtype=np.float32)[:, None]
    ang = rng.uniform(0, math.pi)
    u = xx * math.cos(ang) + yy * math.sin(ang)
    v = -xx * math.sin(ang) + yy * math.cos(ang)
    if kind == "wood":
        base = np.array(
            jitter(rng, rng.choice([(185, 140, 95), (150, 100, 60), (110, 72, 45), (205, 170, 125)]), 0.05), np.float32
        )
        vertical = rng.random() < 0.5
        hh, ww = (w, h) if vertical else (h, w)  # draw planks along x, transpose when vertical
        plank = rng.uniform(60, 150)
        vv = np.arange(hh, dtype=np.float32)[:, None]
        idx = np.floor(vv / plank)
        warp = fbm(nrng, hh, ww, 120, 3) * rng.uniform(6, 16)
        rings = np.sin((vv + warp + (idx * 37.17 % 1.0) * 60) * rng.uniform(0.12, 0.25))
        fibres = streak_noise(nrng, hh, ww, rng.uniform(150, 300), rng.uniform(2.0, 4.0))
        broad = streak_noise(nrng, hh, ww, rng.uniform(300, 600), rng.uniform(8, 16))
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
        c1 = np.array(jitter(rng, (245, 243, 235), 0.02), np.float32)
        c2 = np.array(
            jitter(rng, rng.choice([(200, 40, 40), (40, 80, 170), (50, 130, 70), (220, 170, 40), (60, 60, 60)]), 0.08),
            np.float32,
        )
        size = rng.uniform(22, 60)
        su = (np.floor(u / size) % 2).astype(np.float32)
        sv = (np.floor(v / size) % 2).astype(np.float32)
        t = (su + sv) / 2.0  # gingham: 0, half, full tone
        img = c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]
        weave = 1.0 + 0.05 * np.sin(u * 1.7) * np.sin(v * 1.7) + 0.03 * value_noise(nrng, h, w, 1.5)
        folds = 1.0 + 0.07 * fbm(nrng, h, w, 120, 2)
        img = img * (weave * folds)[..., None]
    elif kind == "marble":
        base = np.array(
            jitter(rng, rng.choice([(235, 235, 232), (225, 222, 215), (70, 72, 78), (200, 210, 205)]), 0.03),
            np.float32,
        )
        vein_c = np.array([60, 60, 65] if base.mean() > 128 else [220, 220, 215], np.float32)
        cloud = 1.0 + 0.05 * fbm(nrng, h, w, 60, 3)
        img = base[None, None, :] * cloud[..., None]
        for weight, freq, width in ((rng.uniform(0.45, 0.7), 0.02, 0.08), (rng.uniform(0.15, 0.3), 0.05, 0.05)):
            turb = fbm(nrng, h, w, rng.uniform(160, 260), 4)
            veins = np.abs(np.sin(u * freq * rng.uniform(0.7, 1.4) + turb * rng.uniform(1.5, 2.5)))
            strength = (np.clip((width - veins) / width, 0, 1) ** 2 * weight)[..., None]
            img = img * (1 - strength) + vein_c[None, None, :] * strength
    elif kind == "slate":
        base = np.array(jitter(rng, rng.choice([(60, 62, 66), (45, 45, 50), (85, 80, 75)]), 0.05), np.float32)
        tone = 1.0 + 0.1 * fbm(nrng, h, w, 80, 4) + 0.06 * value_noise(nrng, h, w, 1.5)
        img = base[None, None, :] * tone[..., None]
    else:  # linen tablecloth
        base = np.array(
            jitter(rng, rng.choice([(225, 215, 195), (200, 210, 220), (235, 225, 210), (180, 190, 170)]), 0.04),
            np.float32,
        )
        thread = 1.0 + 0.04 * np.sin(u * 2.2) + 0.04 * np.sin(v * 2.2) + 0.04 * value_noise(nrng, h, w, 1.2)
        folds = 1.0 + 0.08 * fbm(nrng, h, w, 150, 3)
        img = base[None, None, :] * (thread * folds)[..., None]
    return img.astype(np.float32)


def render_plate(rng: random.Random, nrng: np.random.Generator, d: float, light: np.ndarray) -> Sprite:
    bowl = rng.random() < 0.3
    color = jitter(
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
    c = Canvas(d, d, color)
    cx = cy = c.w / 2
    rad = c.w * 0.49
    c.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], color, height=128)
    if bowl:
        c.dh.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], fill=220)
        inner = rad * 0.86
        for k in range(40):  # a round concave inside, in fine steps so no rings show
            f = inner * (1 - k / 40)
            c.dh.ellipse([cx - f, cy - f, cx + f, cy + f], fill=int(200 - 120 * (1 - (f / inner) ** 2)))
        c.dr.ellipse([cx - inner, cy - inner, cx + inner, cy + inner], fill=mix(color, (0, 0, 0), 0.08))
        style = Style(relief=0.0, gloss=0.35, shine=30, bump=0.5, tex=0.01)
    else:
        well = rad * rng.uniform(0.6, 0.72)
        c.dh.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], fill=170)
        c.dh.ellipse([cx - well, cy - well, cx + well, cy + well], fill=128)
        if rng.random() < 0.4:  # a decorative rim line
            rr = rad * 0.92
            c.dr.ellipse(
                [cx - rr, cy - rr, cx + rr, cy + rr],
                outline=jitter(rng, rng.choice([(40, 70, 150), (180, 150, 60), (120, 40, 40)])),
                width=max(1, int(rad * 0.015)),
            )
        style = Style(relief=0.0, gloss=0.3, shine=30, bump=0.2, tex=0.01)
    return finish_sprite(c, style, nrng, 0.0, light)


def cast_shadow(img: np.ndarray, sp: Sprite, x: int, y: int, dx: int, dy: int, strength: float) -> None:
    """Darken the scene under a sprite's soft shadow, offset away from the light."""
    sigma = max(1.5, min(sp.alpha.shape) * 0.04)
    pad = int(sigma * 2.5) + 1
    sh = soft_edge(np.pad(sp.alpha, pad), sigma)
    blend(img, None, sh * strength, x + dx - pad, y + dy - pad, darken=True)


def blend(img: np.ndarray, rgb: np.ndarray | None, a: np.ndarray, x: int, y: int, darken: bool = False) -> None:
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


def place(
    rng: random.Random, iw: int, ih: int, w: int, h: int, plates: list[tuple[float, float, float]]
) -> tuple[int, int]:
    if plates and rng.random() < 0.6:
        px, py, pr = rng.choice(plates)
        a, d = rng.uniform(0, 2 * math.pi), pr * 0.65 * math.sqrt(rng.random())
        cx, cy = px + d * math.cos(a), py + d * math.sin(a)
    else:
        cx, cy = rng.uniform(w * 0.2, iw - w * 0.2), rng.uniform(h * 0.2, ih - h * 0.2)
    return int(cx - w / 2), int(cy - h / 2)


def render_scene(seed_parts: Sequence[int], classes: Sequence[int], size: tuple[int, int] | None = None) -> Scene:
    """Draw one table scene with the given foods (class indices) and return its pixels and tight boxes."""
    ss = np.random.SeedSequence(list(seed_parts))
    nrng = np.random.default_rng(ss)
    rng = random.Random(int(nrng.integers(0, 2**63)))
    iw, ih = size if size else (rng.randrange(560, 721, 8), rng.randrange(420, 541, 8))
    az, el = rng.uniform(0, 2 * math.pi), rng.uniform(0.75, 1.1)
    light = np.array([math.cos(az) * math.cos(el), math.sin(az) * math.cos(el), math.sin(el)], np.float32)
    sdx, sdy = -light[0] / max(0.3, light[2]), -light[1] / max(0.3, light[2])
    img = render_background(rng, nrng, iw, ih)
    m = min(iw, ih)

    plates: list[tuple[float, float, float]] = []
    for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3])):
        d = m * rng.uniform(0.4, 0.75)
        sp = render_plate(rng, nrng, d, light)
        ph, pw = sp.alpha.shape
        x, y = int(rng.uniform(-pw * 0.2, iw - pw * 0.8)), int(rng.uniform(-ph * 0.2, ih - ph * 0.8))
        cast_shadow(img, sp, x, y, int(sdx * d * 0.04), int(sdy * d * 0.04), 0.35)
        blend(img, sp.rgb, sp.alpha, x, y)
        plates.append((x + pw / 2, y + ph / 2, pw / 2))

    owner = np.full((ih, iw), -1, np.int16)
    areas: list[int] = []
    visible: list[int] = []
    boxes: list[Box] = []
    n = len(classes)
    base = m * rng.uniform(0.22, 0.36) * (1.15 - 0.045 * n)
    for cls in classes:
        name = FOOD_CLASSES[cls]
        for attempt in range(3):
            s = base * SCALE[name] * rng.uniform(0.75, 1.25) * (0.8**attempt)
            s = max(s, 28.0)
            sp = render_item(name, rng, nrng, s, light)
            mask = sp.alpha >= 0.3
            h, w = mask.shape
            area = int(mask.sum())
            ok = False
            for trial in range(13):
                if trial < 12:
                    x, y = place(rng, iw, ih, w, h, plates)
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
        cast_shadow(img, sp, x, y, int(sdx * s * 0.06), int(sdy * s * 0.06), 0.45)
        blend(img, sp.rgb, sp.alpha, x, y)
        owner[y0:y1, x0:x1][sub] = len(areas)
        visible = [v - int(cnt) for v, cnt in zip(visible, counts, strict=True)]
        areas.append(area)
        visible.append(int(sub.sum()))
        boxes.append(Box(cls, [float(x0 + xs.min()), float(y0 + ys.min()), float(bw), float(bh)]))

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
    return Scene(out, boxes)


def jpeg_bytes(pixels: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def jpeg_quality(parts: Sequence[int]) -> int:
    return 70 + int(np.random.default_rng(np.random.SeedSequence([*parts, 7])).integers(0, 26))
