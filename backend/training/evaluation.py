"""Evaluate trained weights on a dataset's validation split and write the metrics JSON (`jobs.evaluate`).

The JSON holds `map50`, `map50_95`, `precision`, `recall`, `per_class` ({name: {"ap50", "ap50_95"}}) and
`latency_ms`, plus `confusion_matrix` ({"names", "matrix"}, rows = predicted, columns = true, the last name is
"background"), `pr_curve` ({name: {"recall": [...], "precision": [...]}}, 101 points), `model_size_mb`, `images`,
`imgsz`, `device`, `seconds`, `classes_without_labels` (classes absent from the val split; their AP is 0) and
`class_thresholds` ({name: the confidence where the class's F1 peaks}, the Detect page's per-class defaults), and
95 % bootstrap intervals over the images: `map50_low`, `map50_high`, `map50_95_low`, `map50_95_high`,
`per_class_intervals` ({name: {"ap50_low", "ap50_high", "instances"}}), `instances` (ground-truth boxes) and
`interval` (how they were made).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backend.core.errors import BadInputError, PlateOpsError
from backend.core.params import get_params
from backend.core.progress import ProgressFn, null_progress
from backend.training.bootstrap import METHOD, Figures, Interval, bootstrap_figures
from backend.training.environment import init_ultralytics, resolve_device
from backend.training.matching import EvalImages, ModelScore, load_eval_images, match_model
from backend.training.metrics import summarize_det_metrics
from backend.training.trainer import check_data_yaml
from backend.training.yolo import ultralytics_yolo

LATENCY_IMAGES = 5


class EvaluationError(PlateOpsError):
    """Evaluation could not run."""


@dataclass
class EvalResult:
    """Metrics of one model on one validation split.

    The headline figures are ultralytics' (`model.val`); `map50_low`/`map50_high`, `map50_95_low`/`map50_95_high` and
    `per_class_intervals` are their 95 % bootstrap intervals over the images
    (`backend.training.bootstrap`), and `interval` says how they were made (with the bootstrap's own point values).
    """

    map50: float
    map50_95: float
    precision: float
    recall: float
    per_class: dict[str, dict[str, float]]
    latency_ms: float | None
    confusion_matrix: dict[str, Any] = field(default_factory=dict)
    pr_curve: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    model_size_mb: float = 0.0
    images: int = 0
    imgsz: int = 0
    device: str = "cpu"
    seconds: float = 0.0
    classes_without_labels: list[str] = field(default_factory=list)
    class_thresholds: dict[str, float] = field(default_factory=dict)
    map50_low: float | None = None
    map50_high: float | None = None
    map50_95_low: float | None = None
    map50_95_high: float | None = None
    instances: int = 0
    per_class_intervals: dict[str, dict[str, Any]] = field(default_factory=dict)
    interval: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the `jobs.evaluate` output)."""
        return asdict(self)


def _val_images(data_yaml: Path) -> list[Path]:
    """The validation image files of a dataset, as ultralytics resolves them."""
    from ultralytics.data.utils import IMG_FORMATS, check_det_dataset

    data = check_det_dataset(str(data_yaml))
    sources = data["val"] if isinstance(data["val"], list) else [data["val"]]
    images: list[Path] = []
    for source in sources:
        source = Path(source)
        if source.is_dir():
            images += sorted(p for p in source.rglob("*") if p.suffix.lower().lstrip(".") in IMG_FORMATS)
        elif source.suffix == ".txt" and source.is_file():
            base = source.parent
            for line in source.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    path = Path(line.strip())
                    images.append(path if path.is_absolute() else (base / path).resolve())
    return images


def measure_latency(model: Any, images: list[Path], *, imgsz: int, device: str) -> float | None:
    """Median milliseconds of one `model.predict` call per image, after one warm-up call."""
    sample = images[:LATENCY_IMAGES]
    if not sample:
        return None
    model.predict(str(sample[0]), imgsz=imgsz, device=device, verbose=False)  # warm-up
    timings = []
    for image in sample:
        start = time.perf_counter()
        model.predict(str(image), imgsz=imgsz, device=device, verbose=False)
        timings.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(timings), 2)


def load_yolo(weights: Path) -> Any:
    """Load a `.pt` or `.onnx` detection model with ultralytics.

    Raises:
        BadInputError: The file is missing or is not a YOLO detection model.
    """
    weights = Path(weights)
    if not weights.is_file():
        raise BadInputError(f"Weights file {weights} does not exist.")
    init_ultralytics()
    YOLO = ultralytics_yolo()  # noqa: N806 - the class, under ultralytics' own name
    try:
        return YOLO(str(weights), task="detect")
    except Exception as exc:
        raise BadInputError(f"Could not load {weights} as a YOLO detection model: {exc}") from exc


def score_weights(weights: Path, images: EvalImages, *, imgsz: int | None = None, device: str = "cpu") -> ModelScore:
    """Match a model's detections on an image set to its ground truth and time it on the CPU (the gate's input).

    Args:
        weights: The model file.
        images: The image set (`backend.training.matching.load_eval_images`).
        imgsz: Inference size; default `evaluate.imgsz` of params.yaml (the gate passes the run's training size).
        device: Where to run the matching ("cpu" by default; latency is what serving on this machine costs).

    Raises:
        BadInputError: The weights cannot be loaded.
    """
    imgsz = get_params().evaluate.imgsz if imgsz is None else imgsz
    model = load_yolo(weights)
    device = resolve_device(device)
    table = match_model(model, images, imgsz=imgsz, device=device)
    return ModelScore(table, measure_latency(model, list(images.images), imgsz=imgsz, device=device))


def _around(value: float, own: Interval | None) -> tuple[float | None, float | None]:
    """The bootstrap's spread around its own point, placed around `value` (ultralytics' figure), within [0, 1]."""
    if own is None or own.low is None or own.high is None:
        return None, None
    low, high = value - (own.value - own.low), value + (own.high - own.value)
    return round(min(max(low, 0.0), value), 5), round(max(min(high, 1.0), value), 5)


def _with_intervals(result: EvalResult, figures: Figures) -> EvalResult:
    """Add 95 % intervals to ultralytics' figures.

    The figures stay ultralytics' (its `val` letterboxes and suppresses boxes a little differently from `predict`,
    which the bootstrap's matching runs on, so the two points differ by about 0.01). Each interval is the bootstrap's
    spread over the images (how far its 2.5th and 97.5th percentiles lie from its own point) placed around
    ultralytics' figure, so a figure always sits inside its interval; `interval` keeps the bootstrap's own points.
    """
    result.map50_low, result.map50_high = _around(result.map50, figures.map50)
    result.map50_95_low, result.map50_95_high = _around(result.map50_95, figures.map50_95)
    result.instances = figures.instances
    for name, entry in result.per_class.items():
        own = figures.per_class.get(name)
        if own is not None and own.ap50 is not None:
            low, high = _around(float(entry.get("ap50", 0.0)), own.ap50)
            result.per_class_intervals[name] = {"ap50_low": low, "ap50_high": high, "instances": own.instances}
    result.interval = {
        "confidence": 0.95,
        "samples": figures.samples,
        "seed": figures.seed,
        "images": figures.images,
        "instances": figures.instances,
        "method": METHOD,
        "bootstrap_map50": round(figures.map50.value, 5),
        "bootstrap_map50_95": round(figures.map50_95.value, 5),
    }
    return result


def evaluate(
    weights: Path,
    data_yaml: Path,
    *,
    imgsz: int | None = None,
    device: str = "auto",
    conf: float | None = None,
    iou: float | None = None,
    progress: ProgressFn = null_progress,
) -> EvalResult:
    """Evaluate `weights` on the validation split of `data_yaml`.

    Args:
        weights: A trained `.pt` (or `.onnx`) model file.
        data_yaml: The dataset's data.yaml.
        imgsz: Image size for validation and latency; default `evaluate.imgsz` of params.yaml.
        device: "auto" (first GPU if any, else cpu), "cpu" or a CUDA index.
        conf: Lowest confidence kept when computing mAP; default `evaluate.conf`.
        iou: IoU threshold of non-maximum suppression; default `evaluate.iou`.
        progress: Progress callback.

    Returns:
        The metrics, latency and curves.

    Raises:
        BadInputError: The weights or data.yaml are missing or unusable.
        EvaluationError: Ultralytics failed during validation.
    """
    weights, data_yaml = Path(weights), Path(data_yaml)
    defaults = get_params().evaluate
    imgsz = defaults.imgsz if imgsz is None else imgsz
    conf = defaults.conf if conf is None else conf
    iou = defaults.iou if iou is None else iou
    if not weights.is_file():
        raise BadInputError(f"Weights file {weights} does not exist.")
    check_data_yaml(data_yaml)
    device = resolve_device(device)
    started = time.monotonic()
    progress(0.02, f"Loading {weights.name}")
    model = load_yolo(weights)

    state = {"done": 0}

    def on_val_batch_end(validator: Any) -> None:
        state["done"] += 1
        total = max(len(getattr(validator, "dataloader", []) or []), 1)
        progress(0.05 + 0.8 * min(state["done"] / total, 1.0), f"Validating batch {state['done']}/{total}")

    model.add_callback("on_val_batch_end", on_val_batch_end)
    progress(0.05, "Validating")
    # plots=True is what makes ultralytics fill the confusion matrix; its PNGs go to a folder deleted afterwards
    with tempfile.TemporaryDirectory(prefix="plateops-val-") as scratch:
        try:
            metrics = model.val(
                data=str(data_yaml),
                imgsz=imgsz,
                device=device,
                conf=conf,
                iou=iou,
                batch=16,
                plots=True,
                save_json=False,
                verbose=False,
                workers=0,
                project=scratch,
                name="val",
                exist_ok=True,
            )
        except (RuntimeError, FileNotFoundError, KeyError, ValueError) as exc:
            raise EvaluationError(f"Evaluation of {weights.name} on {data_yaml} failed: {exc}") from exc
    summary = summarize_det_metrics(metrics, model.names)

    progress(0.87, "Measuring latency")
    images = _val_images(data_yaml)
    latency = measure_latency(model, images, imgsz=imgsz, device=device)
    progress(0.9, "Bootstrapping 95 % intervals over the images")
    table = match_model(model, load_eval_images(data_yaml), imgsz=imgsz, conf=conf, iou=iou, device=device)
    figures = bootstrap_figures(table)
    result = EvalResult(
        map50=summary["map50"],
        map50_95=summary["map50_95"],
        precision=summary["precision"],
        recall=summary["recall"],
        per_class=summary["per_class"],
        latency_ms=latency,
        confusion_matrix=summary["confusion_matrix"],
        pr_curve=summary["pr_curve"],
        model_size_mb=round(weights.stat().st_size / 1e6, 3),
        images=len(images),
        imgsz=imgsz,
        device=device,
        seconds=round(time.monotonic() - started, 2),
        classes_without_labels=summary["classes_without_labels"],
        class_thresholds=summary.get("class_thresholds", {}),
    )
    _with_intervals(result, figures)
    progress(1.0, f"mAP50 {result.map50:.3f}, mAP50-95 {result.map50_95:.3f}, {latency} ms per image")
    return result


def write_eval_json(result: EvalResult, path: Path) -> Path:
    """Write the evaluation JSON (`jobs.evaluate --out`); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
    return path
