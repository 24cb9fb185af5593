"""A tiny YOLO detection checkpoint for tests, built in about a second without downloads or training.

`save_untrained_detector` builds YOLOv8n from ultralytics' bundled `yolov8n.yaml` with our class names and saves it
through ultralytics' own `Model.save`, with `train_args` (imgsz) as our training would record them. Its weights are
random, so its detections are meaningless (at a low `conf` it reports near-whole-image boxes), but loading, export,
pre/post-processing and coordinate mapping all run through the real ultralytics code.
"""

from __future__ import annotations

from pathlib import Path

TINY_CLASSES: tuple[str, ...] = ("apple", "banana", "broccoli")


def save_untrained_detector(
    path: Path, *, names: tuple[str, ...] = TINY_CLASSES, imgsz: int = 64, seed: int = 0
) -> Path:
    """Save a randomly initialised YOLOv8n detection checkpoint (deterministic by seed) at `path`."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from backend.training.yolo import ultralytics_yolo

    yolo = ultralytics_yolo()
    torch.manual_seed(seed)
    model = yolo("yolov8n.yaml", task="detect")
    model.model = DetectionModel("yolov8n.yaml", nc=len(names), verbose=False)
    model.model.names = dict(enumerate(names))
    model.ckpt = {"train_args": {"task": "detect", "imgsz": imgsz, "model": "yolov8n.yaml"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def save_grid_detector(
    path: Path, *, names: tuple[str, ...] = TINY_CLASSES, imgsz: int = 64, class_id: int = 1, seed: int = 0
) -> Path:
    """Save a YOLOv8n whose head ignores the picture and reports one box per anchor, with known geometry.

    The last box and class convolutions get zero weights and fixed biases: every side's distance distribution
    peaks at 1 stride, so each anchor yields a square box 2 strides wide centred on the anchor, and class
    `class_id` scores sigmoid(8) ≈ 0.9997 everywhere. Neighbouring boxes overlap with IoU 1/3, so NMS at
    iou=0.45 keeps them all: the output is a known grid in letterboxed input space, which makes the mapping back
    to original image pixels exactly checkable.
    """
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from backend.training.yolo import ultralytics_yolo

    yolo = ultralytics_yolo()
    torch.manual_seed(seed)
    model = yolo("yolov8n.yaml", task="detect")
    net = DetectionModel("yolov8n.yaml", nc=len(names), verbose=False)
    head = net.model[-1]
    with torch.no_grad():
        for box_branch, cls_branch in zip(head.cv2, head.cv3):
            box_conv, cls_conv = box_branch[-1], cls_branch[-1]
            box_conv.weight.zero_()
            box_conv.bias.zero_()
            box_conv.bias.view(4, head.reg_max)[:, 1] = 30.0  # distance 1 stride on each side
            cls_conv.weight.zero_()
            cls_conv.bias.fill_(-30.0)
            cls_conv.bias[class_id] = 8.0
    net.names = dict(enumerate(names))
    model.model = net
    model.ckpt = {"train_args": {"task": "detect", "imgsz": imgsz, "model": "yolov8n.yaml"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def expected_grid_boxes(
    width: int, height: int, *, input_w: int, input_h: int, strides: tuple[int, ...] = (8, 16, 32)
) -> list[tuple[float, float, float, float]]:
    """Boxes a grid detector yields for a `width`×`height` image letterboxed into `input_w`×`input_h`.

    Mapping back: original = (letterboxed - padding) / scale, then clipped to the image; boxes that clip to
    nothing (anchors in the padding) are left out.
    """
    scale = min(input_w / width, input_h / height)
    pad_x = (input_w - round(width * scale)) / 2
    pad_y = (input_h - round(height * scale)) / 2
    boxes = []
    for stride in strides:
        for gy in range(input_h // stride):
            for gx in range(input_w // stride):
                cx, cy = (gx + 0.5) * stride, (gy + 0.5) * stride
                x1 = min(max((cx - stride - pad_x) / scale, 0.0), width)
                x2 = min(max((cx + stride - pad_x) / scale, 0.0), width)
                y1 = min(max((cy - stride - pad_y) / scale, 0.0), height)
                y2 = min(max((cy + stride - pad_y) / scale, 0.0), height)
                if x2 > x1 and y2 > y1:
                    boxes.append((x1, y1, x2, y2))
    return sorted(boxes)
