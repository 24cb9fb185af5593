"""Detection thresholds: their defaults (the `detect` section of params.yaml) and the one check of a confidence and
an IoU that every entry point uses.

`resolve_thresholds` (defaults, then `check_thresholds`) is called by `Detector.predict` (the inference layer),
`prediction.predict_picture`, `service.detect_image` (before the picture is even loaded, so nothing is written) and
`jobs.detect` (before the weights are loaded, exit status 2), so the rule and its message live in one place.
"""

from __future__ import annotations

import numbers

from backend.core.errors import BadInputError, cap_message
from backend.core.params import get_params


def resolve_thresholds(conf: float | None, iou: float | None) -> tuple[float, float]:
    """`conf` and `iou`, each defaulting to the `detect` section of params.yaml when None, checked."""
    section = get_params().detect
    conf = section.conf if conf is None else conf
    iou = section.iou if iou is None else iou
    check_thresholds(conf, iou)
    return conf, iou


def check_thresholds(conf: float, iou: float) -> None:
    """Refuse a minimum confidence or an NMS IoU threshold outside 0..1.

    Args:
        conf: Minimum confidence of a kept detection.
        iou: IoU above which non-maximum suppression drops the weaker of two boxes.

    Raises:
        BadInputError: Either is outside 0..1 (or not a number, e.g. NaN); the message names which and its value.
    """
    for what, value in (("Confidence (conf)", conf), ("IoU (iou)", iou)):
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        # "not inside" rather than "outside": NaN compares False with everything, so it is refused too
        if not number or not 0.0 <= value <= 1.0:
            raise BadInputError(f"{what} must be a number between 0 and 1 (got {cap_message(repr(value), 40)}).")
