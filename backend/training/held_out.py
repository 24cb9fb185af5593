"""A model's detections on held-out pictures, labelled right or wrong, and the confidence calibration fitted on them.

`score_split` runs the model over a dataset split (the val split by default: pictures the model never trained on)
at a low score, reads the split's YOLO labels and labels each detection with `confidence.match_detections` (IoU at
least 0.5, same class, greedy by score). `calibrate_weights` fits `confidence.fit_calibration` on that and saves it
beside the weights; the train job and `jobs.train` call it after training, and the serving step calls it on first use
for an older model whose dataset is known.

Cost: one prediction per held-out picture (the evaluation's pass again, at the serving image size): on the 2-core
machine about 0.1 s per 256 px picture for YOLOv8n.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from PIL import Image

from backend.core.errors import BadInputError
from backend.core.params import get_params
from backend.core.progress import ProgressFn, null_progress
from backend.training.confidence import (
    ConfidenceCalibration,
    HeldOutScores,
    calibration_path,
    fit_calibration,
    save_calibration,
)
from backend.training.detection_match import match_detections
from backend.training.environment import init_ultralytics, resolve_device
from backend.training.trainer import check_data_yaml
from backend.training.yolo import ultralytics_yolo

if TYPE_CHECKING:
    from ultralytics.engine.results import Results

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
_BATCH = 16

# (pictures, lowest score, NMS IoU) -> per picture an N x 6 array: x1 y1 x2 y2 (pixels) score class id.
RowsFn = Callable[[list[Path], float, float], list[np.ndarray]]


@dataclass(frozen=True)
class HeldOutModel:
    """What `score_split` runs: a model's detections per picture, its class names and its inference size.

    `ultralytics_model` makes one from a `.pt` or `.onnx` file; the serving layer makes one from its own detector
    for every runtime it serves (an OpenVINO folder or an int8 copy answers with its own scores, so it is
    calibrated on its own answers).
    """

    rows: RowsFn
    names: dict[int, str]
    imgsz: int


def ultralytics_model(weights: Path, *, imgsz: int | None = None, device: str = "auto") -> HeldOutModel:
    """A `.pt` or `.onnx` model run through ultralytics at `imgsz` (default its training size).

    Raises:
        BadInputError: The file is not a model ultralytics can run.
    """
    init_ultralytics()
    try:
        model = ultralytics_yolo()(str(weights), task="detect")
        size = _model_imgsz(model, imgsz)
        model_names = model.names if isinstance(model.names, dict) else dict(enumerate(model.names))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise BadInputError(f"{Path(weights).name} is not a detection model this step can run: {exc}") from exc
    device = resolve_device(device)

    def rows(batch: list[Path], min_score: float, iou: float) -> list[np.ndarray]:
        results = cast(  # without stream=True, predict returns a list of Results
            "list[Results]",
            model.predict([str(p) for p in batch], conf=min_score, iou=iou, imgsz=size, device=device, verbose=False),
        )
        out = []
        for result in results:
            assert result.boxes is not None  # a detection model's results always carry boxes
            out.append(np.asarray(result.boxes.data.tolist(), dtype=np.float64).reshape(-1, 6))
        return out

    return HeldOutModel(rows=rows, names={int(k): str(v) for k, v in model_names.items()}, imgsz=size)


def split_images(data_yaml: Path, splits: Sequence[str] = ("val",)) -> list[Path]:
    """The image files of the named splits of a YOLO data.yaml (folders searched recursively, or .txt lists).

    Raises:
        BadDataError: The data.yaml is missing, unreadable or names folders that do not exist.
        BadInputError: A split the file does not name.
    """
    data = check_data_yaml(Path(data_yaml))
    base = Path(str(data.get("path") or Path(data_yaml).parent))
    if not base.is_absolute():
        base = Path(data_yaml).parent / base
    images: list[Path] = []
    for split in splits:
        if not data.get(split):
            raise BadInputError(f"{Path(data_yaml).name} names no '{split}' split.")
        entries = data[split] if isinstance(data[split], list) else [data[split]]
        for entry in entries:
            source = Path(str(entry)) if Path(str(entry)).is_absolute() else base / str(entry)
            if source.is_dir():
                images += sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            elif source.suffix == ".txt" and source.is_file():
                lines = source.read_text(encoding="utf-8").splitlines()
                images += [Path(ln.strip()) if Path(ln.strip()).is_absolute() else base / ln.strip() for ln in lines]
    return images


def label_path(image: Path) -> Path:
    """The YOLO label file of an image: the last `images` folder of its path becomes `labels`, the suffix `.txt`."""
    parts = list(image.parts)
    if "images" in parts:
        index = len(parts) - 1 - parts[::-1].index("images")
        parts[index] = "labels"
    return Path(*parts).with_suffix(".txt")


def read_truth(image: Path, width: int, height: int) -> tuple[np.ndarray, list[int]]:
    """An image's true boxes in pixels (M x 4) and class ids, from its YOLO label file (none when it has none)."""
    boxes: list[list[float]] = []
    classes: list[int] = []
    path = label_path(image)
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if len(fields) < 5:
                continue
            cls, cx, cy, w, h = int(float(fields[0])), *(float(v) for v in fields[1:5])
            boxes.append([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
            classes.append(cls)
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), classes


def _model_imgsz(model: Any, imgsz: int | None) -> int:
    if imgsz:
        return int(imgsz)
    size = (getattr(model, "overrides", None) or {}).get("imgsz") or get_params().evaluate.imgsz
    return int(max(size) if isinstance(size, (list, tuple)) else size)


def score_split(
    weights: Path,
    data_yaml: Path,
    *,
    splits: Sequence[str] = ("val",),
    min_score: float | None = None,
    imgsz: int | None = None,
    device: str = "auto",
    progress: ProgressFn = null_progress,
    model: HeldOutModel | None = None,
) -> tuple[HeldOutScores, int]:
    """Run a model over held-out pictures and label each detection right or wrong.

    Args:
        weights: The model (.pt from our own training, or its ONNX export).
        data_yaml: The dataset's data.yaml (YOLO layout, with labels beside the images).
        splits: Which splits count as held out; default the val split.
        min_score: Lowest raw score asked of the model; default `detect.calibration_min_score` of params.yaml.
        imgsz: Inference size; default the model's training size.
        device: "auto", "cpu" or a CUDA index.
        progress: Receives (fraction, message).
        model: What answers; default `ultralytics_model(weights, imgsz=imgsz, device=device)` (`imgsz` and
            `device` then apply to it only).

    Returns:
        The labelled detections and the inference size used.

    Raises:
        BadInputError: The weights or the data.yaml cannot be used.
    """
    detect = get_params().detect
    min_score = detect.calibration_min_score if min_score is None else min_score
    weights, data_yaml = Path(weights), Path(data_yaml)
    if not weights.is_file():
        raise BadInputError(f"Weights file {weights} does not exist.")
    images = split_images(data_yaml, splits)
    runner = model or ultralytics_model(weights, imgsz=imgsz, device=device)
    size, model_names = runner.imgsz, runner.names
    names: list[str] = []
    scores: list[float] = []
    correct: list[bool] = []
    image_of: list[int] = []
    true_boxes = 0
    for start in range(0, len(images), _BATCH):
        batch = images[start : start + _BATCH]
        for number, (image, rows) in enumerate(
            zip(batch, runner.rows(batch, min_score, detect.iou), strict=True), start=start
        ):
            with Image.open(image) as opened:
                width, height = opened.size
            truth, truth_classes = read_truth(image, width, height)
            true_boxes += len(truth_classes)
            rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)  # x1 y1 x2 y2 score class
            cls = [int(c) for c in rows[:, 5]]
            right = match_detections(rows[:, :4], cls, rows[:, 4], truth, truth_classes)
            names += [str(model_names.get(c, c)) for c in cls]
            scores += [float(v) for v in rows[:, 4]]
            correct += [bool(r) for r in right]
            image_of += [number] * len(cls)
        done = min(start + _BATCH, len(images))
        progress(done / max(1, len(images)), f"Scored {done} of {len(images)} held-out pictures")
    held_out = HeldOutScores(
        names=tuple(names),
        scores=np.asarray(scores, dtype=np.float64),
        correct=np.asarray(correct, dtype=bool),
        classes=tuple(str(model_names[i]) for i in sorted(model_names)),
        images=len(images),
        true_boxes=true_boxes,
        min_score=float(min_score),
        source=f"{'+'.join(splits)} split of {data_yaml}",
        image_of=np.asarray(image_of, dtype=np.int64),
    )
    return held_out, size


def calibrate_weights(
    weights: Path,
    data_yaml: Path,
    *,
    out: Path | None = None,
    imgsz: int | None = None,
    device: str = "auto",
    progress: ProgressFn = null_progress,
    model: HeldOutModel | None = None,
) -> ConfidenceCalibration:
    """Fit a model's confidence calibration on its dataset's val split and save it beside the weights.

    Args:
        weights: The trained model.
        data_yaml: The dataset it trained on (its val split is held out).
        out: Where to save; default `calibration.json` in the weights folder.
        imgsz: Inference size; default the model's training size.
        device: "auto", "cpu" or a CUDA index.
        progress: Receives (fraction, message).
        model: What answers (see `score_split`); default the weights through ultralytics.

    Returns:
        The saved calibration.

    Raises:
        BadInputError: The weights or the data.yaml cannot be used.
    """
    held_out, size = score_split(weights, data_yaml, imgsz=imgsz, device=device, progress=progress, model=model)
    calibration = fit_calibration(
        held_out, min_class_detections=get_params().detect.calibration_min_detections, imgsz=size
    )
    save_calibration(calibration, out or calibration_path(weights))
    progress(
        1.0,
        f"Confidence calibrated on {calibration.detections} held-out detections: "
        f"ECE {calibration.ece_before:.3f} → {calibration.ece_after:.3f}",
    )
    return calibration
