"""backend.serving.thresholds: the one check of confidence and IoU that every detection entry point uses."""

from __future__ import annotations

import numpy as np
import pytest

from backend.core.errors import BadInputError
from backend.serving.thresholds import check_thresholds, resolve_thresholds


@pytest.mark.parametrize("conf, iou", [(0, 0), (1, 1), (0.0, 1.0), (0.25, 0.45), (np.float32(0.3), 0.5)])
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


def test_missing_thresholds_default_to_the_detect_section_of_params() -> None:
    from backend.core.params import get_params

    section = get_params().detect
    assert resolve_thresholds(None, None) == (section.conf, section.iou)
    assert resolve_thresholds(0.6, None) == (0.6, section.iou)
    with pytest.raises(BadInputError, match="Confidence"):
        resolve_thresholds(2.0, None)
