"""Detectors and image sets for gate tests whose figures are known without training.

`save_scored_grid_detector` is the grid detector of `tests.utils.tiny_data` (every anchor yields a square box two
strides wide, at known places) reporting one class, with scores that depend on the picture and are higher at the
16-pixel stride than at the others, so its detections are ranked and its AP is a real number well inside (0, 1).
`save_blind_detector` finds nothing at all (every class scores sigmoid(-30)). `make_grid_dataset` draws an image set
whose ground-truth boxes sit exactly on some of the 16-pixel-stride grid boxes (inside the picture, so neither
they nor the detections are clipped): the scored detector finds them among
false alarms; the blind one finds none (AP 0). `fixed_recall_scorer` is a gate score function that finds an exact
share of each class's boxes per weights file, for gate verdicts whose figures are set by the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image, ImageDraw

from backend.training.matching import EvalImages, ModelScore, build_table
from tests.utils.tiny_data import TINY_CLASSES

GRID_STRIDE = 16  # the stride whose boxes the ground truth sits on


def _grid_net(
    names: tuple[str, ...], *, seed: int, class_id: int | None, level_bias: tuple[float, ...], score_std: float = 40.0
) -> Any:
    import torch
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    net = DetectionModel("yolov8n.yaml", nc=len(names), verbose=False)
    head = net.model[-1]
    with torch.no_grad():
        for level, (box_branch, cls_branch) in enumerate(zip(head.cv2, head.cv3)):
            box_conv, cls_conv = box_branch[-1], cls_branch[-1]
            box_conv.weight.zero_()
            box_conv.bias.zero_()
            box_conv.bias.view(4, head.reg_max)[:, 1] = 30.0  # distance 1 stride on each side
            cls_conv.weight.zero_()
            cls_conv.bias.fill_(-30.0)
            if class_id is not None:
                # A random YOLOv8n's features fade to ~1e-8 by the head: amplify the class branch so the score
                # follows the picture (by about one logit), then set the level's bias.
                for layer in cls_branch[:-1]:
                    layer.conv.weight.mul_(1000.0)
                cls_conv.weight[class_id].normal_(0.0, score_std)
                cls_conv.bias[class_id] = level_bias[level]
    net.names = dict(enumerate(names))
    return net


def _save(net: Any, path: Path, imgsz: int) -> Path:
    from backend.training.yolo import ultralytics_yolo

    model = ultralytics_yolo()("yolov8n.yaml", task="detect")
    model.model = net
    model.ckpt = {"train_args": {"task": "detect", "imgsz": imgsz, "model": "yolov8n.yaml"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def save_scored_grid_detector(
    path: Path,
    *,
    names: tuple[str, ...] = TINY_CLASSES,
    class_id: int = 1,
    imgsz: int = 64,
    seed: int = 0,
    level_bias: tuple[float, float, float] = (-3.0, 1.0, -3.0),
) -> Path:
    """A grid detector reporting class `class_id` at every anchor, with picture-dependent scores (see the module)."""
    return _save(_grid_net(names, seed=seed, class_id=class_id, level_bias=level_bias), path, imgsz)


def save_blind_detector(path: Path, *, names: tuple[str, ...] = TINY_CLASSES, imgsz: int = 64) -> Path:
    """A detector that reports nothing, on any picture (the useless candidate)."""
    return _save(_grid_net(names, seed=0, class_id=None, level_bias=()), path, imgsz)


def make_grid_dataset(
    root: Path,
    *,
    val: int = 12,
    train: int = 2,
    size: int = 64,
    names: tuple[str, ...] = TINY_CLASSES,
    class_ids: tuple[int, ...] = (0, 1, 2),
    per_image: int = 2,
    seed: int = 0,
) -> Path:
    """A YOLO dataset of boxes (classes drawn from `class_ids`) on the grid detector's 16-pixel-stride boxes; returns
    its data.yaml."""
    rng = np.random.default_rng(seed)
    root = Path(root).resolve()
    inner = size // GRID_STRIDE - 2  # anchors whose box lies inside the picture (no clipping on either side)
    for split, count in (("train", train), ("val", val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(60, 250, 3)))
            draw = ImageDraw.Draw(image)
            rows = []
            for pick in rng.choice(inner * inner, size=min(per_image, inner * inner), replace=False):
                gx, gy = 1 + int(pick) % inner, 1 + int(pick) // inner
                cx, cy = (gx + 0.5) * GRID_STRIDE, (gy + 0.5) * GRID_STRIDE
                draw.rectangle(
                    (cx - GRID_STRIDE, cy - GRID_STRIDE, cx + GRID_STRIDE - 1, cy + GRID_STRIDE - 1),
                    outline=tuple(int(v) for v in rng.integers(0, 255, 3)),
                )
                side = 2 * GRID_STRIDE / size
                class_id = int(rng.choice(class_ids))
                rows.append(f"{class_id} {cx / size:.6f} {cy / size:.6f} {side:.6f} {side:.6f}\n")
            stem = f"{split}_{index:03d}"
            image.save(root / "images" / split / f"{stem}.png")
            (root / "labels" / split / f"{stem}.txt").write_text("".join(rows))
    data_yaml = root / "data.yaml"
    data = {"path": str(root), "train": "images/train", "val": "images/val", "names": dict(enumerate(names))}
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return data_yaml


def fixed_recall_scorer(per_weights: dict[str, dict[str, float]]) -> Any:
    """A scoring that finds, exactly, the given share of each class's boxes (AP about that share) for each weights
    file (keyed by its run folder's name), in image order, and nothing else; 10 ms latency. The matching itself is
    the real one."""

    def score_fn(weights: Path, images: EvalImages) -> ModelScore:
        share = per_weights[Path(weights).parent.parent.name]
        wanted = {name: round(share.get(name, 0.0) * count) for name, count in images.instances_per_class().items()}
        found: dict[str, int] = dict.fromkeys(images.classes, 0)
        detections = []
        for boxes, labels in zip(images.boxes, images.labels, strict=True):
            keep = []
            for row, label in enumerate(labels):
                name = images.classes[int(label)]
                if found[name] < wanted[name]:
                    found[name] += 1
                    keep.append(row)
            conf = np.linspace(0.9, 0.8, len(keep)) if keep else np.zeros(0)
            detections.append((boxes[keep], conf, labels[keep]))
        return ModelScore(build_table(images, detections, images.classes), 10.0)

    return score_fn
