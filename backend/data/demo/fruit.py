"""The fruit of the demo generator: apple, banana, lemon, orange and tomato.

Each drawer takes (rng, size in final px) and returns a canvas and its shading style.
"""

from __future__ import annotations

import math
import random

import numpy as np

from backend.data.demo.drawing import Canvas, Style, draw_leaf, in_ellipse, jitter, mix, polar, rgba


def draw_apple(rng: random.Random, s: float) -> tuple[Canvas, Style]:
    kind = rng.choice(["red", "red", "dark", "green", "yellow", "bicolor"])
    base = {
        "red": (200, 30, 35),
        "dark": (140, 20, 30),
        "green": (140, 195, 65),
        "yellow": (225, 200, 80),
        "bicolor": (215, 190, 70),
    }[kind]
    base = jitter(rng, base)
    c = Canvas(s, s * 1.15, base)
    cx, cy, rad = c.w / 2, c.h * 0.57, c.w * 0.45
    wide = rng.uniform(0.97, 1.05)

    def radius(t: float) -> float:
        d = min(abs(t), 2 * math.pi - abs(t))
        r = rad * (1 - 0.13 * math.exp(-((d / 0.38) ** 2)) - 0.05 * math.exp(-(((math.pi - d) / 0.45) ** 2)))
        return r * (1 + 0.05 * math.cos(d) * wide) * (wide if 0.6 < d < 2.5 else 1.0)

    c.poly(polar(cx, cy, radius), base)
    inside = in_ellipse(cx, cy, rad * 0.95, rad * 0.95)
    if kind == "bicolor":
        blush = jitter(rng, (200, 40, 35))
        for _ in range(26):
            a = rng.uniform(0, 2 * math.pi)
            d = rng.uniform(0, rad * 0.6)
            rr = rng.uniform(rad * 0.25, rad * 0.5)
            x, y = cx + d * math.cos(a) + rad * 0.15, cy + d * math.sin(a)
            c.dr.ellipse([x - rr, y - rr, x + rr, y + rr], fill=rgba(blush, 60))
    streak = (250, 220, 120) if kind in ("red", "dark", "bicolor") else (250, 240, 150)
    for _ in range(34):  # soft streaks running like meridians from the stem cavity to the bottom
        k = rng.uniform(-1.0, 1.0)
        pts = [
            (cx + k * rad * 0.95 * math.sin(math.pi * t) ** 0.9, cy - rad * 0.85 + t * rad * 1.75)
            for t in np.linspace(0.02, 0.98, 14)
        ]
        c.dr.line(pts, fill=rgba(streak, rng.randint(10, 28)), width=max(1, int(rad * rng.uniform(0.03, 0.09))))
    c.dots(rng, 90, inside, (rad * 0.008, rad * 0.02), (250, 235, 180), (80, 160))  # lenticels
    top = (cx, cy - rad * 0.83)
    c.dr.ellipse(
        [top[0] - rad * 0.2, top[1] - rad * 0.08, top[0] + rad * 0.2, top[1] + rad * 0.18],
        fill=rgba(mix(base, (90, 80, 20), 0.5), 110),
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
        draw_leaf(
            c,
            top[0] + rad * lean * 0.5,
            top[1] - rad * 0.22,
            rad * rng.uniform(0.55, 0.75),
            rad * 0.16,
            ang,
            jitter(rng, (70, 140, 40)),
        )
    return c, Style(relief=0.42, gloss=0.45, shine=35, bump=0.06, tex=0.04, tex_cell=10)


def draw_banana(rng: random.Random, s: float) -> tuple[Canvas, Style]:
    ripe = rng.random()
    base = (235, 200, 50) if ripe < 0.6 else (205, 205, 70) if ripe < 0.8 else (225, 180, 60)
    base = jitter(rng, base, 0.05)
    length = s * 1.45
    c = Canvas(length, length * 0.62, base)
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
    c.dr.line(inner[3:-3], fill=rgba(mix(base, (120, 120, 30), 0.5), 110), width=max(1, int(thick * 0.16)))
    c.dr.line(mid[4:-4], fill=rgba(mix(base, (150, 120, 30), 0.5), 70), width=max(1, int(thick * 0.05)))
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
    c.line(stem, jitter(rng, (110, 100, 45)), thick * 0.32)
    c.dr.ellipse(
        [stem[1][0] - thick * 0.2, stem[1][1] - thick * 0.2, stem[1][0] + thick * 0.2, stem[1][1] + thick * 0.2],
        fill=(70, 50, 25),
    )
    a1 = span / 2
    ex, ey = ccx + rc * math.sin(a1), ccy + rc * math.cos(a1)
    c.dr.ellipse([ex - thick * 0.22, ey - thick * 0.22, ex + thick * 0.22, ey + thick * 0.22], fill=(60, 40, 20))
    return c, Style(relief=0.35, gloss=0.18, shine=18, bump=0.05, tex=0.05, tex_cell=12)


def draw_lemon(rng: random.Random, s: float) -> tuple[Canvas, Style]:
    base = jitter(rng, rng.choice([(245, 215, 40), (240, 205, 30), (225, 215, 60)]), 0.05)
    c = Canvas(s * 1.3, s * 0.92, base)
    cx, cy, rx, ry = c.w / 2, c.h / 2, c.w * 0.4, c.h * 0.46
    tip = rng.uniform(0.07, 0.1) * c.w

    def radius(t: float) -> float:
        r = 1.0 / math.sqrt((math.sin(t) / rx) ** 2 + (math.cos(t) / ry) ** 2)
        d = min(abs(t - math.pi / 2), abs(t - 3 * math.pi / 2))
        return r + tip * math.exp(-((d / 0.16) ** 2))

    c.poly(polar(cx, cy, radius, 160), base)
    c.dots(rng, 500, in_ellipse(cx, cy, rx, ry), (rx * 0.006, rx * 0.015), mix(base, (150, 130, 0), 0.4), (40, 110))
    ex = cx - rx - tip * 0.8
    c.dr.ellipse([ex - tip * 0.3, cy - tip * 0.3, ex + tip * 0.3, cy + tip * 0.3], fill=(120, 120, 40))
    return c, Style(relief=0.45, gloss=0.3, shine=18, pits=0.6, pit_cell=1.4, tex=0.04, tex_cell=6)


def draw_orange(rng: random.Random, s: float) -> tuple[Canvas, Style]:
    base = jitter(rng, rng.choice([(245, 140, 20), (240, 120, 15), (250, 155, 35)]), 0.05)
    c = Canvas(s * 0.95, s * 0.95, base)
    cx = cy = c.w / 2
    rad = c.w * 0.47
    c.poly(polar(cx, cy, lambda t: rad * (1 + 0.015 * math.sin(3 * t + 1))), base)
    c.dots(rng, 600, in_ellipse(cx, cy, rad, rad), (rad * 0.006, rad * 0.016), mix(base, (170, 70, 0), 0.5), (40, 110))
    ang, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0, 0.35) * rad
    nx, ny = cx + dist * math.cos(ang), cy + dist * math.sin(ang)
    if rng.random() < 0.55:  # navel
        r = rad * rng.uniform(0.07, 0.1)
        c.dr.ellipse(
            [nx - r * 1.8, ny - r * 1.8, nx + r * 1.8, ny + r * 1.8], fill=rgba(mix(base, (200, 90, 0), 0.5), 120)
        )
        for k in range(10):
            a = k * math.pi / 5
            c.dr.line(
                [(nx, ny), (nx + r * 1.7 * math.cos(a), ny + r * 1.7 * math.sin(a))],
                fill=rgba((170, 80, 10), 150),
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
    return c, Style(relief=0.5, gloss=0.22, shine=14, bump=0.05, pits=0.9, pit_cell=1.5, tex=0.04, tex_cell=5)


def draw_tomato(rng: random.Random, s: float) -> tuple[Canvas, Style]:
    base = jitter(rng, rng.choice([(215, 35, 25), (200, 25, 20), (225, 60, 25), (190, 30, 30)]), 0.05)
    c = Canvas(s * 0.95, s * 0.9, base)
    cx, cy = c.w / 2, c.h / 2
    rx, ry = c.w * 0.47, c.h * 0.47
    lobes, ph = rng.randint(4, 6), rng.uniform(0, 6.3)

    def radius(t: float) -> float:
        r = 1.0 / math.sqrt((math.sin(t) / rx) ** 2 + (math.cos(t) / ry) ** 2)
        return r * (1 + 0.025 * math.cos(lobes * t + ph))

    c.poly(polar(cx, cy, radius), base)
    top_view = rng.random() < 0.6
    sx, sy = (cx + rng.uniform(-0.1, 0.1) * rx, cy + rng.uniform(-0.1, 0.1) * ry) if top_view else (cx, cy - ry * 0.8)
    for k in range(lobes):  # faint seams between lobes
        a = ph + k * 2 * math.pi / lobes
        c.dr.line(
            [(sx, sy), (sx + rx * 0.85 * math.cos(a), sy + ry * 0.85 * math.sin(a))],
            fill=rgba(mix(base, (120, 10, 10), 0.5), 45),
            width=max(1, int(rx * 0.05)),
        )
    green = jitter(rng, (60, 125, 40))
    n = rng.choice([5, 6])
    rot = rng.uniform(0, 2 * math.pi)
    flat = 1.0 if top_view else 0.45
    pts = []
    for k in range(2 * n):
        a = rot + k * math.pi / n
        r = rx * (rng.uniform(0.3, 0.4) if k % 2 == 0 else 0.07)
        pts.append((sx + r * math.cos(a), sy + r * math.sin(a) * flat))
    c.poly(pts, green, height=170)
    c.line([(sx, sy), (sx + rx * 0.05, sy - rx * 0.12)], mix(green, (40, 70, 20), 0.4), rx * 0.09)
    return c, Style(relief=0.45, gloss=0.9, shine=55, bump=0.05, tex=0.03, tex_cell=10)
