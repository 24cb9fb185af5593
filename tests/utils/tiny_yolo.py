"""A tiny YOLO-format detection dataset of coloured shapes, fast and deterministic, for training tests.

`make_tiny_yolo_dataset(tmp_path)` writes `images/{train,val}/*.png`, `labels/{train,val}/*.txt` and a
`data.yaml` whose `path` is absolute, and returns the `data.yaml` path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

TINY_CLASSES: tuple[str, ...] = ("red_square", "green_circle", "blue_triangle")
_COLORS = {"red_square": (220, 40, 40), "green_circle": (40, 190, 60), "blue_triangle": (40, 70, 220)}


def _draw_shape(draw: ImageDraw.ImageDraw, name: str, box: tuple[int, int, int, int]) -> None:
    """Draw one filled shape inside `box` (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = box
    color = _COLORS[name]
    if name == "red_square":
        draw.rectangle(box, fill=color)
    elif name == "green_circle":
        draw.ellipse(box, fill=color)
    else:
        draw.polygon([((x1 + x2) // 2, y1), (x2, y2), (x1, y2)], fill=color)


def _make_image(
    rng: np.random.Generator, size: int
) -> tuple[Image.Image, list[tuple[int, float, float, float, float]]]:
    """One image with 1-3 non-overlapping shapes and its YOLO label rows."""
    background = tuple(int(v) for v in rng.integers(200, 250, 3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    rows: list[tuple[int, float, float, float, float]] = []
    placed: list[tuple[int, int, int, int]] = []
    for _ in range(int(rng.integers(1, 4))):
        for _attempt in range(20):
            side = int(rng.integers(size // 5, size // 2))
            x1 = int(rng.integers(0, size - side))
            y1 = int(rng.integers(0, size - side))
            box = (x1, y1, x1 + side, y1 + side)
            if all(box[2] <= p[0] or box[0] >= p[2] or box[3] <= p[1] or box[1] >= p[3] for p in placed):
                break
        else:
            continue
        placed.append(box)
        cls = int(rng.integers(0, len(TINY_CLASSES)))
        _draw_shape(draw, TINY_CLASSES[cls], box)
        rows.append((cls, (box[0] + box[2]) / 2 / size, (box[1] + box[3]) / 2 / size, side / size, side / size))
    return image, rows


def make_tiny_yolo_dataset(root: Path, *, train: int = 24, val: int = 8, size: int = 128, seed: int = 0) -> Path:
    """Write a tiny YOLO detection dataset under `root` and return its `data.yaml` path.

    Args:
        root: Folder to write into (created if missing).
        train: Number of training images.
        val: Number of validation images.
        size: Side of the square images in pixels.
        seed: Random seed; the same seed gives byte-identical labels and pixels.

    Returns:
        Path to `root/data.yaml` (its `path` key is absolute).
    """
    root = Path(root).resolve()
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("val", val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            image, rows = _make_image(rng, size)
            stem = f"{split}_{index:03d}"
            image.save(root / "images" / split / f"{stem}.png")
            text = "".join(f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in rows)
            (root / "labels" / split / f"{stem}.txt").write_text(text)
    data_yaml = root / "data.yaml"
    data = {
        "path": str(root),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(TINY_CLASSES)),
    }
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return data_yaml


def isolate_ml_env(monkeypatch: object, root: Path, *, clearml_mode: str = "offline") -> None:
    """Point every place ultralytics, ClearML and matplotlib write to (and read config from) under `root`.

    Sets PLATEOPS_HOME=root/workspace, HOME, YOLO_CONFIG_DIR, MPLCONFIGDIR, CLEARML_CACHE_DIR under `root`,
    removes CLEARML_* server variables, and clears the cached settings. Use with pytest's `monkeypatch` (or a
    `pytest.MonkeyPatch.context()`), which restores everything afterwards.
    """
    from backend.core.settings import get_settings

    root = Path(root)
    (root / "home").mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("PLATEOPS_HOME", str(root / "workspace"))  # type: ignore[attr-defined]
    monkeypatch.setenv("PLATEOPS_CLEARML_MODE", clearml_mode)  # type: ignore[attr-defined]
    monkeypatch.setenv("HOME", str(root / "home"))  # type: ignore[attr-defined]
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(root / "yolo_config"))  # type: ignore[attr-defined]
    monkeypatch.setenv("YOLO_AUTOINSTALL", "false")  # type: ignore[attr-defined]
    monkeypatch.setenv("YOLO_OFFLINE", "true")  # type: ignore[attr-defined]
    monkeypatch.setenv("MPLCONFIGDIR", str(root / "mpl"))  # type: ignore[attr-defined]
    monkeypatch.setenv("CLEARML_CACHE_DIR", str(root / "workspace" / "clearml"))  # type: ignore[attr-defined]
    for name in ("CLEARML_API_HOST", "CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY", "CLEARML_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)  # type: ignore[attr-defined]
    get_settings.cache_clear()
