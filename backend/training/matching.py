"""One model's detections on one image set, matched to the ground truth once: the input of every AP and interval.

`load_eval_images` reads a split of a YOLO dataset (its images and boxes); `match_model` runs a loaded model over it
at the evaluation confidence and IoU of params.yaml and matches each image's detections, in descending confidence,
to the ground truth of the same class at the ten IoU thresholds 0.50:0.95 (each box taken once per threshold, by the
most-overlapping free box, as ultralytics 8.4 and COCO do). The model's classes are mapped to the set's by name, so
a model whose class order differs is scored on the right classes; detections of classes the set lacks are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.enums import EvalSplit
from backend.core.errors import BadInputError
from backend.core.params import get_params
from backend.data.quality.reader import parse_yolo_line, read_yolo_dataset
from backend.training.bootstrap import IOU_THRESHOLDS, MatchTable

PREDICT_BATCH = 16


@dataclass(frozen=True)
class ModelScore:
    """What the gate needs of one model on one image set: its matched detections and its CPU latency per image."""

    table: MatchTable
    latency_ms: float | None


@dataclass(frozen=True)
class EvalImages:
    """The images and ground truth of one split of a YOLO dataset.

    Attributes:
        data_yaml: The dataset's data.yaml.
        split: Which split.
        classes: The dataset's class names (index = class id).
        images: The image files, sorted.
        boxes: Per image, (n, 4) ground-truth boxes as normalised x1, y1, x2, y2.
        labels: Per image, (n,) their class ids.
    """

    data_yaml: Path
    split: str
    classes: tuple[str, ...]
    images: tuple[Path, ...]
    boxes: tuple[np.ndarray, ...]
    labels: tuple[np.ndarray, ...]

    @property
    def gt_counts(self) -> np.ndarray:
        """(N, C) ground-truth boxes per image and class."""
        counts = np.zeros((len(self.images), len(self.classes)), dtype=np.int64)
        for row, labels in enumerate(self.labels):
            np.add.at(counts[row], labels, 1)
        return counts

    @property
    def instances(self) -> int:
        """Ground-truth boxes in all."""
        return int(sum(len(labels) for labels in self.labels))

    def instances_per_class(self) -> dict[str, int]:
        """Ground-truth boxes per class name."""
        totals = self.gt_counts.sum(axis=0)
        return {name: int(totals[i]) for i, name in enumerate(self.classes)}


def _read_boxes(label_path: Path, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A label file's boxes (normalised xyxy) and class ids; missing file: no boxes; unusable lines are skipped."""
    boxes: list[list[float]] = []
    labels: list[int] = []
    try:
        text = label_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        parsed = parse_yolo_line(line)
        if isinstance(parsed, str) or not 0 <= parsed[0] < classes:
            continue  # the data-quality checks report such lines; ultralytics' val leaves them out too
        cls, cx, cy, w, h, _polygon = parsed
        boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        labels.append(int(cls))
    return np.asarray(boxes, dtype=float).reshape(-1, 4), np.asarray(labels, dtype=np.int64)


def load_eval_images(data_yaml: Path, split: str = EvalSplit.VAL) -> EvalImages:
    """Read one split of a prepared YOLO dataset: its images and their ground-truth boxes.

    Args:
        data_yaml: The dataset's data.yaml (or its folder).
        split: "val" or "test".

    Returns:
        The split's images (sorted) and boxes.

    Raises:
        BadInputError: The dataset cannot be read, or the split has no image.
    """
    dataset = read_yolo_dataset(Path(data_yaml))
    chosen = sorted((image for image in dataset.images if image.split == split), key=lambda image: image.path_str)
    if not chosen:
        raise BadInputError(f"{data_yaml} has no {split} images to evaluate on.")
    read = [_read_boxes(image.label_path, len(dataset.names)) for image in chosen]
    return EvalImages(
        data_yaml=Path(data_yaml),
        split=str(split),
        classes=tuple(dataset.names),
        images=tuple(image.path for image in chosen),
        boxes=tuple(boxes for boxes, _ in read),
        labels=tuple(labels for _, labels in read),
    )


def box_iou(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(len(first), len(second)) IoU of two sets of x1, y1, x2, y2 boxes."""
    top_left = np.maximum(first[:, None, :2], second[None, :, :2])
    bottom_right = np.minimum(first[:, None, 2:], second[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_first = np.clip(first[:, 2:] - first[:, :2], 0, None).prod(axis=1)
    area_second = np.clip(second[:, 2:] - second[:, :2], 0, None).prod(axis=1)
    union = area_first[:, None] + area_second[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def match_image(
    pred_boxes: np.ndarray, pred_classes: np.ndarray, gt_boxes: np.ndarray, gt_classes: np.ndarray
) -> np.ndarray:
    """Which detections of one image are true positives at each IoU threshold.

    Detections are taken in the order given (descending confidence); each takes, at each threshold, the free
    ground-truth box of its class it overlaps most, when that overlap reaches the threshold.

    Args:
        pred_boxes: (D, 4) detections, x1 y1 x2 y2, in descending confidence.
        pred_classes: (D,) their classes.
        gt_boxes: (G, 4) ground-truth boxes in the same coordinates.
        gt_classes: (G,) their classes.

    Returns:
        (D, 10) booleans.
    """
    correct = np.zeros((len(pred_boxes), len(IOU_THRESHOLDS)), dtype=bool)
    if len(pred_boxes) == 0 or len(gt_boxes) == 0:
        return correct
    iou = box_iou(gt_boxes, pred_boxes) * (gt_classes[:, None] == pred_classes[None, :])  # (G, D)
    taken = np.zeros((len(gt_boxes), len(IOU_THRESHOLDS)), dtype=bool)
    columns = np.arange(len(IOU_THRESHOLDS))
    for det in np.flatnonzero((iou >= IOU_THRESHOLDS[0]).any(axis=0)):
        free = np.where(taken, 0.0, iou[:, det, None])  # (G, 10)
        best = free.argmax(axis=0)
        correct[det] = free[best, columns] >= IOU_THRESHOLDS
        taken[best, columns] |= correct[det]
    return correct


def build_table(
    images: EvalImages, detections: list[tuple[np.ndarray, np.ndarray, np.ndarray]], model_classes: tuple[str, ...]
) -> MatchTable:
    """Match each image's detections and gather them into one table.

    Args:
        images: The image set.
        detections: Per image, (boxes (D, 4) normalised xyxy, confidences (D,), classes (D,) in the model's ids).
        model_classes: The model's class names.

    Returns:
        The matched table, classes mapped to the set's by name.
    """
    if len(detections) != len(images.images):
        raise ValueError("one detection list per image is needed")
    to_set = {i: images.classes.index(name) for i, name in enumerate(model_classes) if name in images.classes}
    parts_image, parts_class, parts_conf, parts_tp = [], [], [], []
    for index, (boxes, conf, classes) in enumerate(detections):
        mapped = np.asarray([to_set.get(int(c), -1) for c in classes], dtype=np.int64)
        keep = mapped >= 0
        boxes, conf, mapped = np.asarray(boxes, float)[keep], np.asarray(conf, float)[keep], mapped[keep]
        order = np.argsort(-conf, kind="stable")
        boxes, conf, mapped = boxes[order], conf[order], mapped[order]
        parts_tp.append(match_image(boxes, mapped, images.boxes[index], images.labels[index]))
        parts_image.append(np.full(len(conf), index, dtype=np.int64))
        parts_class.append(mapped)
        parts_conf.append(conf)
    return MatchTable(
        classes=images.classes,
        model_classes=tuple(model_classes),
        det_image=np.concatenate(parts_image) if parts_image else np.zeros(0, np.int64),
        det_class=np.concatenate(parts_class) if parts_class else np.zeros(0, np.int64),
        det_conf=np.concatenate(parts_conf) if parts_conf else np.zeros(0),
        det_tp=np.concatenate(parts_tp) if parts_tp else np.zeros((0, len(IOU_THRESHOLDS)), bool),
        gt_counts=images.gt_counts,
    )


def model_class_names(model: Any) -> tuple[str, ...]:
    """A loaded YOLO model's class names, in id order."""
    names = model.names
    return tuple(str(names[i]) for i in sorted(names)) if isinstance(names, dict) else tuple(map(str, names))


def match_model(
    model: Any,
    images: EvalImages,
    *,
    imgsz: int | None = None,
    conf: float | None = None,
    iou: float | None = None,
    device: str = "cpu",
) -> MatchTable:
    """Run a loaded YOLO model over an image set and match its detections to the ground truth.

    Args:
        model: An ultralytics YOLO (PyTorch or ONNX).
        images: The image set.
        imgsz: Inference size; default `evaluate.imgsz` of params.yaml.
        conf: Lowest confidence kept; default `evaluate.conf` (as for mAP: low, so the whole PR curve is seen).
        iou: IoU of non-maximum suppression; default `evaluate.iou`.
        device: "cpu" or a CUDA index.

    Returns:
        The matched table.
    """
    defaults = get_params().evaluate
    imgsz = defaults.imgsz if imgsz is None else imgsz
    conf = defaults.conf if conf is None else conf
    iou = defaults.iou if iou is None else iou
    detections: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    paths = [str(path) for path in images.images]
    for start in range(0, len(paths), PREDICT_BATCH):
        results = model.predict(
            paths[start : start + PREDICT_BATCH], imgsz=imgsz, conf=conf, iou=iou, device=device, verbose=False
        )
        for result in results:
            boxes = result.boxes
            detections.append(
                (
                    boxes.xyxyn.cpu().numpy().astype(float),
                    boxes.conf.cpu().numpy().astype(float),
                    boxes.cls.cpu().numpy().astype(np.int64),
                )
            )
    return build_table(images, detections, model_class_names(model))
