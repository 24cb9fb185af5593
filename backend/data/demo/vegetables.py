"""The vegetables of the demo generator: broccoli, carrot and cucumber.

Each drawer takes (rng, size in final px) and returns a canvas and its shading style.
"""

from __future__ import annotations

import math
import random

import numpy as np

from backend.data.demo.drawing import Canvas, Style, draw_leaf, in_ellipse, jitter, mix, rgba


def draw_broccoli(rng: random.Random, s: float) -> tuple[Canvas, Style]:
    stalk = jitter(rng, (160, 190, 100))
    dark = jitter(rng, (45, 105, 40))
    c = Canvas(s, s * 1.1, stalk)
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
        fill=rgba((200, 220, 150), 120),
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
        col = jitter(rng, dark, 0.12)
        c.ellipse([x - r, y - r, x + r, y + r], col, height=128)
        for k in range(4):  # a dome of relief per floret
            f = 1 - k * 0.22
            c.dh.ellipse([x - r * f, y - r * f, x + r * f, y + r * f], fill=140 + 25 * k)
        c.dr.ellipse([x - r, y - r, x + r, y + r], outline=rgba((20, 50, 20), 90), width=max(1, int(r * 0.06)))
    crown = in_ellipse(cx, crown_cy, crown_rx * 1.1, crown_ry * 1.2)
    c.dots(rng, 800, crown, (w * 0.01, w * 0.018), mix(dark, (150, 200, 90), 0.5), (60, 160), height=200)
    c.dots(rng, 500, crown, (w * 0.008, w * 0.014), (20, 55, 20), (60, 160), height=100)
    return c, Style(relief=0.25, gloss=0.05, bump=0.12, tex=0.08, tex_cell=3)


def draw_carrot(rng: random.Random, s: float) -> tuple[Canvas, Style]:
    base = jitter(rng, (238, 122, 30), 0.06)
    length = s * 1.5
    c = Canvas(length, length * 0.42, base)
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
        green = jitter(rng, (70, 145, 40))
        for _ in range(rng.randint(3, 6)):
            ang = math.pi + rng.uniform(-0.55, 0.55)
            length = w * rng.uniform(0.16, 0.26)
            ex, ey = x0 + math.cos(ang) * length, cy + math.sin(ang) * length * 1.2
            c.line([(x0, cy), (ex, ey)], green, w * 0.012)
            for k in range(5):  # feathery leaflets
                t = 0.35 + 0.15 * k
                px, py = x0 + (ex - x0) * t, cy + (ey - cy) * t
                for side in (-1, 1):
                    draw_leaf(c, px, py, w * 0.05, w * 0.012, ang + side * 0.8, jitter(rng, green, 0.1))
    else:
        c.line([(x0, cy), (x0 - w * 0.05, cy + rng.uniform(-1, 1) * h * 0.05)], (90, 140, 50), w0 * 0.5)
    c.poly(top + bot[::-1] + shoulder, base, height=128)
    ridge = mix(base, (150, 60, 10), 0.7)
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
            fill=rgba(ridge, 160),
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
        fill=rgba((255, 190, 110), 70),
        width=max(1, int(w0 * 0.15)),
    )
    return c, Style(relief=0.5, gloss=0.15, shine=18, bump=0.15, tex=0.05, tex_cell=8)


def draw_cucumber(rng: random.Random, s: float) -> tuple[Canvas, Style]:
    skin = jitter(rng, (45, 95, 38), 0.1)
    if rng.random() < 0.3:  # a slice
        d = s * 0.7
        c = Canvas(d, d, skin)
        cx = cy = c.w / 2
        rad = c.w * 0.48
        c.ellipse([cx - rad, cy - rad, cx + rad, cy + rad], skin, height=128)
        flesh = jitter(rng, (205, 228, 160), 0.04)
        r2 = rad * 0.9
        c.dr.ellipse([cx - r2, cy - r2, cx + r2, cy + r2], fill=mix(flesh, (140, 190, 90), 0.5))
        r3 = rad * 0.84
        c.dr.ellipse([cx - r3, cy - r3, cx + r3, cy + r3], fill=flesh)
        seed_zone = mix(flesh, (170, 200, 120), 0.35)
        rot = rng.uniform(0, 2 * math.pi)
        for k in range(3):  # three seed chambers
            a = rot + k * 2 * math.pi / 3
            sx, sy = cx + rad * 0.28 * math.cos(a), cy + rad * 0.28 * math.sin(a)
            c.dr.ellipse([sx - rad * 0.26, sy - rad * 0.26, sx + rad * 0.26, sy + rad * 0.26], fill=seed_zone)
            for j in range(5):
                b = a + (j - 2) * 0.28
                px, py = cx + rad * 0.38 * math.cos(b), cy + rad * 0.38 * math.sin(b)
                c.dr.ellipse([px - rad * 0.05, py - rad * 0.05, px + rad * 0.05, py + rad * 0.05], fill=(245, 245, 220))
        return c, Style(relief=0.05, gloss=0.35, shine=25, tex=0.04, tex_cell=4)
    length = s * 1.55
    c = Canvas(length, length * 0.28, skin)
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
    light = mix(skin, (150, 190, 90), 0.55)
    for k in range(rng.randint(3, 5)):  # pale stripes along the length
        off = rng.uniform(-0.6, 0.6) * r
        pts = [
            (x, y + off + r * 0.04 * math.sin(x / w * 9 + k))
            for (x, y) in [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(top[4:-4], bot[4:-4], strict=True)]
        ]
        c.dr.line(pts, fill=rgba(light, 70), width=max(1, int(r * 0.12)))

    def inside(x: float, y: float) -> bool:
        del y
        return 0.04 * w < x < 0.96 * w

    c.dots(rng, 450, inside, (h * 0.008, h * 0.018), (185, 210, 130), (70, 170), height=170)
    c.dots(rng, 200, inside, (h * 0.01, h * 0.02), (25, 55, 20), (80, 160), height=160)
    end_x, end_y = top[-1][0], (top[-1][1] + bot[-1][1]) / 2
    c.line([(end_x - r * 0.1, end_y), (end_x + w * 0.02, end_y)], (150, 140, 70), r * 0.25)
    return c, Style(relief=0.5, gloss=0.35, shine=22, bump=0.08, tex=0.05, tex_cell=6)
