"""COCO bookkeeping of the demo generator: category ids and the image and annotation entries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backend.core.vocab import FOOD_CLASSES

# Non-contiguous on purpose, as in real COCO exports, so importers must map ids to classes.
CATEGORY_IDS: dict[str, int] = {name: 1 + 3 * i for i, name in enumerate(FOOD_CLASSES)}

# A box: (class index, or a raw category id given as a string, [x, y, w, h] in pixels).
CocoBox = tuple[int | str, list[float]]


def add_image(
    coco_images: list[dict[str, Any]],
    coco_anns: list[dict[str, Any]],
    name: str,
    w: int,
    h: int,
    boxes: Sequence[CocoBox],
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
