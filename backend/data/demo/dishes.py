"""The prepared foods of the demo generator: bread, cheese, egg and pizza.

Each drawer takes (rng, size in final px) and returns a canvas and its shading style.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from backend.data.demo.drawing import Canvas, Style, draw_leaf, in_ellipse, jitter, mix, polar, rgba


def draw_bread(rng: random.Random, s: float) -> tuple[Canvas, Style]:
    if rng.random() < 0.5:  # a slice of sandwich bread
        crust = jitter(rng, (150, 90, 40))
        crumb = jitter(rng, (236, 212, 162), 0.04)
        c = Canvas(s * 0.95, s * 1.0, crust)
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
            mix(crumb, (150, 110, 60), 0.6),
            (90, 190),
            height=95,
            stretch=1.6,
        )
        c.dots(rng, 200, inside, (w * 0.003, w * 0.008), (255, 245, 220), (80, 150))
        return c, Style(relief=0.1, gloss=0.03, bump=0.5, tex=0.05, tex_cell=4)
    # a loaf seen from above: golden, scored, floured
    crust = jitter(rng, rng.choice([(190, 120, 55), (170, 100, 45), (205, 145, 75)]))
    c = Canvas(s * 1.35, s * 0.8, crust)
    cx, cy, rx, ry = c.w / 2, c.h / 2, c.w * 0.48, c.h * 0.46
    c.poly(polar(cx, cy, lambda t: 1.0 / math.sqrt((math.sin(t) / rx) ** 2 + (math.cos(t) / ry) ** 2)), crust)
    edge = mix(crust, (90, 50, 20), 0.5)
    for k in range(6):  # darker rim
        f = 1 - k * 0.02
        c.dr.ellipse(
            [cx - rx * f, cy - ry * f, cx + rx * f, cy + ry * f], outline=rgba(edge, 35), width=max(1, int(ry * 0.04))
        )
    n = rng.randint(3, 5)
    crumb = jitter(rng, (235, 205, 145), 0.04)
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
        c.dr.line(pts[:21], fill=rgba(mix(crust, (70, 35, 10), 0.6), 200), width=max(1, int(slash_w * 0.35)))
    c.dots(rng, 500, in_ellipse(cx, cy, rx, ry), (rx * 0.005, rx * 0.02), (250, 245, 235), (40, 140))
    return c, Style(relief=0.35, gloss=0.06, bump=0.35, tex=0.08, tex_cell=5)


def draw_cheese(rng: random.Random, s: float) -> tuple[Canvas, Style]:
    front = jitter(rng, (238, 188, 55), 0.05)
    top_c = mix(front, (255, 240, 150), 0.45)
    c = Canvas(s * 1.1, s * 0.85, front)
    w, h = c.w, c.h
    x0, x1 = w * 0.04, w * 0.96
    y0, y1, y2 = h * 0.05, h * rng.uniform(0.38, 0.5), h * 0.95
    xa = w * rng.uniform(0.7, 0.92)
    top_face = [(x0, y1), (x1, y1), (xa, y0)]
    front_face = [(x0, y1), (x1, y1), (x1, y2), (x0, y2)]
    c.poly(front_face, front, height=128)
    c.poly(top_face, top_c, height=128)
    c.dr.line([(x0, y1), (x1, y1)], fill=rgba(mix(front, (160, 110, 20), 0.5), 200), width=max(1, int(h * 0.012)))
    rind = mix(front, (200, 120, 30), 0.6)
    c.dr.line([(x1, y1), (x1, y2)], fill=rgba(rind, 220), width=max(2, int(w * 0.025)))
    c.dr.line([(xa, y0), (x1, y1)], fill=rgba(rind, 220), width=max(2, int(w * 0.025)))
    hole = mix(front, (170, 120, 20), 0.45)
    for _ in range(rng.randint(6, 11)):  # holes on the front face, some cut into the edges
        r = h * rng.uniform(0.04, 0.11)
        x, y = rng.uniform(x0, x1), rng.uniform(y1 + r * 0.5, y2 + r * 0.6)
        box = [x - r * 1.1, y - r, x + r * 1.1, y + r]
        c.dr.ellipse(box, fill=hole)
        c.dr.ellipse([x - r * 1.1, y - r, x + r * 1.1, y + r * 0.3], fill=rgba(mix(hole, (110, 70, 10), 0.5), 150))
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
    return c, Style(relief=0.06, gloss=0.12, shine=12, bump=0.12, tex=0.04, tex_cell=10)


def draw_egg(rng: random.Random, s: float) -> tuple[Canvas, Style]:
    if rng.random() < 0.45:  # a whole egg
        shell = jitter(rng, rng.choice([(242, 240, 232), (236, 230, 215), (205, 150, 105), (215, 170, 125)]), 0.04)
        c = Canvas(s * 0.78, s, shell)
        cx, cy, a, b = c.w / 2, c.h * 0.53, c.w * 0.46, c.h * 0.46
        pts = [
            (cx + a * math.cos(t) * (1 - 0.16 * math.sin(t)), cy - b * math.sin(t))
            for t in np.linspace(0, 2 * math.pi, 120, endpoint=False)
        ]
        c.poly(pts, shell)
        if shell[0] - shell[2] > 50:
            c.dots(rng, 250, in_ellipse(cx, cy, a, b), (a * 0.01, a * 0.03), (150, 100, 60), (30, 90))
        return c, Style(relief=0.6, gloss=0.25, shine=20, tex=0.03, tex_cell=8)
    white = jitter(rng, (250, 250, 244), 0.02, 0.04)
    c = Canvas(s * 1.1, s * 1.0, white)
    cx, cy, rad = c.w / 2, c.h / 2, c.h * 0.45
    harm = [(rng.uniform(0, 0.07), rng.uniform(0, 2 * math.pi), k) for k in range(2, 7)]
    stretch = rng.uniform(1.0, 1.2)

    def radius(t: float) -> float:
        r = rad * (0.9 + sum(amp * math.sin(k * t + ph) for amp, ph, k in harm))
        return r * stretch / math.sqrt((stretch * math.cos(t)) ** 2 + math.sin(t) ** 2)

    outline = polar(cx, cy, radius, 160)
    c.poly(outline, white, height=128)
    if rng.random() < 0.6:  # crisp golden edge
        c.dr.line(outline + outline[:1], fill=rgba((205, 160, 80), 150), width=max(1, int(rad * 0.05)))
    yr = rad * rng.uniform(0.26, 0.33)
    yx, yy = cx + rng.uniform(-0.2, 0.2) * rad, cy + rng.uniform(-0.2, 0.2) * rad
    yolk = jitter(rng, (250, 170, 20), 0.06)
    c.dr.ellipse([yx - yr * 1.1, yy - yr * 1.1, yx + yr * 1.1, yy + yr * 1.1], fill=rgba((250, 235, 190), 180))
    c.dr.ellipse([yx - yr, yy - yr, yx + yr, yy + yr], fill=yolk)
    c.dr.ellipse([yx - yr * 0.6, yy - yr * 0.6, yx + yr * 0.5, yy + yr * 0.5], fill=rgba((255, 200, 60), 120))
    for k in range(6):
        f = 1 - k * 0.15
        c.dh.ellipse([yx - yr * f, yy - yr * f, yx + yr * f, yy + yr * f], fill=150 + 18 * k)
    return c, Style(relief=0.06, gloss=0.4, shine=30, bump=0.18, tex=0.02, tex_cell=10)


def _pizza_toppings(
    c: Canvas,
    rng: random.Random,
    inside: Callable[[float, float], bool],
    unit: float,
    n: int,
) -> None:
    cheese = jitter(rng, (245, 205, 110), 0.04)
    c.dots(rng, 260, inside, (unit * 0.03, unit * 0.09), mix(cheese, (255, 245, 200), 0.6), (60, 150), height=150)
    c.dots(rng, 120, inside, (unit * 0.015, unit * 0.04), (190, 120, 40), (60, 140))  # browned spots
    c.dots(rng, 40, inside, (unit * 0.02, unit * 0.05), (200, 50, 30), (60, 120))  # sauce showing through
    pep = jitter(rng, (175, 40, 32), 0.06)
    placed = 0
    for _ in range(n * 6):
        if placed >= n:
            break
        x, y = rng.uniform(0, c.w), rng.uniform(0, c.h)
        r = unit * rng.uniform(0.09, 0.12)
        if not (inside(x - r, y) and inside(x + r, y) and inside(x, y - r) and inside(x, y + r)):
            continue
        placed += 1
        c.dr.ellipse([x - r, y - r, x + r, y + r], fill=mix(pep, (90, 20, 15), 0.4))
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
                fill=rgba((230, 150, 120), 160),
            )
        c.dh.ellipse([x - r, y - r, x + r, y + r], fill=165)
    if rng.random() < 0.5:  # basil / green pepper bits
        green = jitter(rng, (60, 130, 40))
        for _ in range(rng.randint(3, 7)):
            x, y = rng.uniform(0, c.w), rng.uniform(0, c.h)
            if inside(x, y):
                draw_leaf(c, x, y, unit * 0.12, unit * 0.035, rng.uniform(0, 2 * math.pi), green)


def draw_pizza(rng: random.Random, s: float) -> tuple[Canvas, Style]:
    crust = jitter(rng, (210, 150, 75), 0.05)
    sauce = jitter(rng, (185, 45, 25), 0.06)
    cheese = jitter(rng, (245, 205, 110), 0.04)
    if rng.random() < 0.45:  # a whole pizza
        c = Canvas(s * 1.3, s * 1.3, crust)
        cx = cy = c.w / 2
        rad = c.w * 0.48
        c.poly(polar(cx, cy, lambda t: rad * (1 + 0.015 * math.sin(5 * t))), crust, height=190)
        c.dots(rng, 160, lambda x, y: True, (rad * 0.02, rad * 0.05), (150, 90, 40), (60, 150))
        c.dr.ellipse([cx - rad * 0.86, cy - rad * 0.86, cx + rad * 0.86, cy + rad * 0.86], fill=sauce)
        c.dh.ellipse([cx - rad * 0.86, cy - rad * 0.86, cx + rad * 0.86, cy + rad * 0.86], fill=128)
        harm = [(rng.uniform(0, 0.04), rng.uniform(0, 6.3), k) for k in range(3, 9)]
        c.dr.polygon(
            polar(cx, cy, lambda t: rad * (0.8 + sum(a * math.sin(k * t + p) for a, p, k in harm))), fill=cheese
        )
        _pizza_toppings(c, rng, in_ellipse(cx, cy, rad * 0.78, rad * 0.78), rad, rng.randint(6, 10))
        rot = rng.uniform(0, math.pi)
        for k in range(rng.choice([3, 4])):  # cut lines
            a = rot + k * math.pi / 4 * (4 / 4)
            a = rot + k * math.pi / (3 if k < 3 else 4)
            c.dr.line(
                [
                    (cx - rad * 0.86 * math.cos(a), cy - rad * 0.86 * math.sin(a)),
                    (cx + rad * 0.86 * math.cos(a), cy + rad * 0.86 * math.sin(a)),
                ],
                fill=rgba((140, 70, 30), 120),
                width=max(1, int(rad * 0.015)),
            )
        return c, Style(relief=0.06, gloss=0.2, shine=20, bump=0.12, tex=0.05, tex_cell=5)
    c = Canvas(s * 0.9, s * 1.2, crust)  # a slice, apex down
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
    return c, Style(relief=0.08, gloss=0.2, shine=20, bump=0.12, tex=0.05, tex_cell=5)
