"""A grid of sample images with their boxes, for the README and the Datasets page."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from backend.core.errors import BadInputError
from backend.core.vocab import color_for


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
