"""Procedural demo food dataset: COCO images of the twelve vocabulary foods on plates and tables.

Nothing is downloaded: every food, plate and table is drawn with PIL (supersampled for smooth edges) and shaded
with numpy (a height field per item gives diffuse light, gloss and surface texture such as citrus pits or bread
crumb), so a detector has to learn shape, colour and texture together. Output layout::

    DIR/images/demo_000000.jpg ...   the clean images (COCO ids 1..N)
    DIR/annotations.json             COCO: images, annotations (bbox [x, y, w, h]), categories (non-contiguous ids)
    DIR/defects.json                 only with defects=True: [{"file": ..., "kind": ...}], see `defects`

The package owns the generator: `drawing` (noise, blur, the supersampled canvas), `fruit`, `vegetables` and
`dishes` (one drawer per food), `foods` (drawers, sizes and shading into sprites), `scenes` (tables, plates,
placement, camera), `coco` (category ids, COCO entries), `defects` (the planted `demo_defect_*` images),
`generator` (`generate_demo_dataset`: plan, parallel drawing, files) and `preview` (`save_sample_grid`).
Every image is seeded from ``(seed, index)``, so a dataset is byte-identical for the same seed whatever the number
of worker processes.
"""

from backend.data.demo.coco import CATEGORY_IDS
from backend.data.demo.defects import CHECK_KINDS
from backend.data.demo.generator import MAX_IMAGES, DemoSummary, generate_demo_dataset
from backend.data.demo.preview import save_sample_grid

__all__ = ["CATEGORY_IDS", "CHECK_KINDS", "MAX_IMAGES", "DemoSummary", "generate_demo_dataset", "save_sample_grid"]
