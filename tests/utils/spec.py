"""Facts of the shared spec (ARCHITECTURE.md) restated for tests, independent of the code under test."""

from __future__ import annotations

# The data-quality check names of ARCHITECTURE.md; the demo generator must plant each, the validator find each.
SPEC_CHECKS = frozenset(
    {
        "corrupt_image",
        "format_mismatch",
        "too_small",
        "low_variance",
        "exact_duplicate",
        "near_duplicate",
        "bbox_out_of_bounds",
        "degenerate_bbox",
        "tiny_bbox",
        "unknown_class",
        "duplicate_box",
        "missing_label",
    }
)

# Photo checks added for issue 11 (what CleanVision finds); all warnings. The demo generator plants each too.
PHOTO_CHECKS = frozenset({"dark", "light", "blurry", "grayscale", "odd_aspect_ratio", "low_information"})
