"""backend.serving.thresholds: the one check of confidence and IoU that every detection entry point uses."""

from __future__ import annotations

import numpy as np
import pytest

from backend.core.errors import BadInputError
from backend.serving.thresholds import DEFAULT_CONF, DEFAULT_IOU, check_thresholds


@pytest.mark.parametrize("conf, iou", [(0, 0), (1, 1), (0.0, 1.0), (DEFAULT_CONF, DEFAULT_IOU), (np.float32(0.3), 0.5)])
def test_thresholds_within_0_and_1_pass(conf: float, iou: float) -> None:
    check_thresholds(conf, iou)


@pytest.mark.parametrize(
    "conf, iou, message",
    [
        (1.5, 0.45, "Confidence (conf) must be a number between 0 and 1 (got 1.5)."),
        (-0.01, 0.45, "Confidence (conf) must be a number between 0 and 1 (got -0.01)."),
        (0.25, 1.01, "IoU (iou) must be a number between 0 and 1 (got 1.01)."),
        (0.25, -1, "IoU (iou) must be a number between 0 and 1 (got -1)."),
        (float("nan"), 0.45, "Confidence (conf) must be a number between 0 and 1 (got nan)."),
        (0.25, float("inf"), "IoU (iou) must be a number between 0 and 1 (got inf)."),
        ("0.5", 0.45, "Confidence (conf) must be a number between 0 and 1 (got '0.5')."),
        (True, 0.45, "Confidence (conf) must be a number between 0 and 1 (got True)."),
        (0.25, None, "IoU (iou) must be a number between 0 and 1 (got None)."),
    ],
)
def test_thresholds_outside_0_and_1_are_refused_with_a_plain_message(conf: object, iou: object, message: str) -> None:
    with pytest.raises(BadInputError) as info:
        check_thresholds(conf, iou)  # type: ignore[arg-type]  # callers' bad values, on purpose
    assert str(info.value) == message


def test_a_long_bad_value_is_cut_in_the_message() -> None:
    with pytest.raises(BadInputError) as info:
        check_thresholds("9" * 500, 0.45)  # type: ignore[arg-type]
    assert len(str(info.value)) < 120 and "\n" not in str(info.value)
