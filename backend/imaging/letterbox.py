"""The detector's letterbox: resize keeping the aspect ratio, pad with grey to the model's input, as ultralytics does.

Shared by the ONNX runtime (`backend.serving.onnx_runtime`) and the embedding extractor
(`backend.training.embeddings`), so both feed a model exactly what ultralytics' `LetterBox(center=True)` would.
"""

from __future__ import annotations

import numpy as np

PAD_VALUE = 114  # ultralytics' letterbox grey


def content_box(image_hw: tuple[int, int], input_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where a picture lies inside the letterboxed input: (left, top, right, bottom) in input pixels.

    Holds for the square ONNX input and for ultralytics' rectangular `.pt` input alike: both scale by the smaller
    ratio, round each side, and centre the picture (the bars differ, the formula does not).

    Args:
        image_hw: (height, width) of the picture.
        input_hw: (height, width) of the letterboxed input.
    """
    height, width = image_hw
    gain = min(input_hw[0] / height, input_hw[1] / width)
    new_w, new_h = max(round(width * gain), 1), max(round(height * gain), 1)
    left = round((input_hw[1] - new_w) / 2 - 0.1)
    top = round((input_hw[0] - new_h) / 2 - 0.1)
    return left, top, left + new_w, top + new_h


def letterbox(
    rgb: np.ndarray, size: int, *, canvas: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[float, float], tuple[int, int]]:
    """Resize keeping the aspect ratio and pad to a `size` square, as ultralytics' LetterBox(center=True).

    Args:
        rgb: The picture, (H, W, 3) uint8.
        size: The square input's side.
        canvas: A (size, size, 3) uint8 buffer to draw into (saves an allocation per call), else a new one.

    Returns:
        The input blob (1, 3, size, size) float32 in 0..1, the (x, y) scale of the resized picture (each side
        rounded, as ultralytics' `scale_boxes` assumes) and the (left, top) padding.
    """
    import cv2

    height, width = rgb.shape[:2]
    left, top, right, bottom = content_box((height, width), (size, size))
    new_w, new_h = right - left, bottom - top
    resized = (
        rgb if (new_w, new_h) == (width, height) else cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    )
    if canvas is None:
        canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas.fill(PAD_VALUE)
    canvas[top:bottom, left:right] = resized
    blob = canvas.transpose(2, 0, 1)[None].astype(np.float32) * np.float32(1 / 255)
    return blob, (new_w / width, new_h / height), (left, top)
