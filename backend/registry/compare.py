"""What the Models page shows: every run with its figures and registry stage, and comparisons of two or more runs
(metric deltas, per-class AP, PR curves, confusion matrices, training curves, where their predictions disagree on the
same validation images, and the box-level difference between their dataset versions).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from backend.core.enums import RunStatus
from backend.core.errors import BadInputError
from backend.core.settings import get_settings
from backend.data.index import indexed_labels
from backend.store import datasets as dataset_store
from backend.store import registered_models as model_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion, RegisteredModel, Run

METRICS = ("map50", "map50_95", "precision", "recall", "latency_ms")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
MATCH_IOU = 0.5  # a box pair of this overlap is the same object (detections and dataset versions alike)
MOVED_IOU = 0.95  # a paired box below this overlap has moved or been resized


@dataclass(frozen=True)
class ModelEntry:
    """One row of the Models page's table: a training run and, when registered, its model."""

    run_id: int
    name: str
    dataset: str
    dataset_version_id: int | None
    model: str
    preset: str
    epochs: int | None
    imgsz: int | None
    batch: int | None
    map50: float | None
    map50_95: float | None
    map50_low: float | None
    map50_high: float | None
    eval_images: int | None  # the run's own validation split the figures are on (images, boxes)
    eval_instances: int | None
    precision: float | None
    recall: float | None
    latency_ms: float | None
    size_mb: float | None
    created_at: datetime
    stage: str
    model_id: int | None
    tracking: str

    @property
    def basis(self) -> str:
        """What the figures are on, e.g. "food v1 val split, 30 images, 60 boxes"."""
        if self.eval_images is None:
            return f"{self.dataset} val split" if self.dataset != "—" else "—"
        return f"{self.dataset} val split, {self.eval_images} images, {self.eval_instances or 0} boxes"

    def as_row(self) -> dict[str, Any]:
        """The table row the page shows."""
        return {
            "run": self.run_id,
            "name": self.name,
            "dataset version": self.dataset,
            "model": self.model,
            "preset": self.preset,
            "epochs": self.epochs,
            "imgsz": self.imgsz,
            "batch": self.batch,
            "mAP50": self.map50,
            "mAP50 95 % interval": interval_text(self.map50_low, self.map50_high),
            "mAP50-95": self.map50_95,
            "evaluated on": self.basis,
            "precision": self.precision,
            "recall": self.recall,
            "CPU latency ms": self.latency_ms,
            "size MB": self.size_mb,
            "date": self.created_at,
            "stage": self.stage,
            "tracking": self.tracking,
        }


def interval_text(low: float | None, high: float | None) -> str:
    """A 95 % interval as the pages show it, e.g. "0.512 to 0.604" ("—" when there is none)."""
    if low is None or high is None:
        return "—"
    return f"{low:.3f} to {high:.3f}"


def _tracking_link(run: Run) -> str:
    """The ClearML task's web page, else the offline session to import, else ""."""
    tracking = run.tracking or {}
    return str(tracking.get("web_url") or tracking.get("session_zip") or tracking.get("task_id") or "")


def model_table() -> list[ModelEntry]:
    """Every succeeded run (newest first) with its evaluation figures and registry stage ("—" when unregistered)."""
    with session_scope() as session:
        runs = run_store.list_runs(session=session, status=RunStatus.SUCCEEDED, limit=500)
        models: dict[int, RegisteredModel] = {}
        for registered in model_store.list_models(session=session):
            if registered.run_id is not None and registered.run_id not in models:  # newest registration first
                models[registered.run_id] = registered
        versions = {v.id: v for v in dataset_store.list_versions(session=session)}
        datasets = {d.id: d.name for d in dataset_store.list_datasets(session=session)}
    entries = []
    for run in runs:
        evaluation = run.evaluation or {}
        version = versions.get(run.dataset_version_id or -1)
        model = models.get(run.id)
        entries.append(
            ModelEntry(
                run_id=run.id,
                name=run.name,
                dataset=f"{datasets.get(version.dataset_id, '?')} {version.label}" if version else "—",
                dataset_version_id=run.dataset_version_id,
                model=run.model,
                preset=run.preset,
                epochs=run.params.get("epochs"),
                imgsz=run.params.get("imgsz"),
                batch=run.params.get("batch"),
                map50=evaluation.get("map50"),
                map50_95=evaluation.get("map50_95"),
                map50_low=evaluation.get("map50_low"),
                map50_high=evaluation.get("map50_high"),
                eval_images=(evaluation.get("interval") or {}).get("images"),
                eval_instances=evaluation.get("instances"),
                precision=evaluation.get("precision"),
                recall=evaluation.get("recall"),
                latency_ms=evaluation.get("latency_ms"),
                size_mb=evaluation.get("model_size_mb"),
                created_at=run.created_at,
                stage=model.stage if model else "—",
                model_id=model.id if model else None,
                tracking=_tracking_link(run),
            )
        )
    return entries


# --------------------------------------------------------------------------------------------------- comparison


@dataclass
class Comparison:
    """Two or more runs side by side, in long-form rows ready for charts and tables.

    Attributes:
        runs: The runs, in the order asked (the first is the baseline of the deltas).
        deltas: One row per run: its metrics and the difference to the baseline.
        per_class: {"run", "class", "ap50", "ap50_95"} rows.
        pr_curves: {"run", "class", "recall", "precision"} rows.
        confusion: {run name: {"names", "matrix"}}.
        history: {"run", "epoch", metric...} rows.
        version_diff: Box-level difference between the first two runs' dataset versions when they differ.
    """

    runs: list[Run]
    deltas: list[dict[str, Any]] = field(default_factory=list)
    per_class: list[dict[str, Any]] = field(default_factory=list)
    pr_curves: list[dict[str, Any]] = field(default_factory=list)
    confusion: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    version_diff: VersionDiff | None = None


def _label(run: Run) -> str:
    return f"#{run.id} {run.name}"


def compare_runs(run_ids: list[int]) -> Comparison:
    """Compare runs by their stored evaluations and histories.

    Args:
        run_ids: Two or more run ids; the first is the baseline.

    Raises:
        BadInputError: Fewer than two runs.
        NotFoundError: An unknown run.
    """
    if len(set(run_ids)) < 2:
        raise BadInputError("Choose at least two runs to compare.")
    with session_scope() as session:
        runs = [run_store.get_run(session=session, run_id=i) for i in dict.fromkeys(run_ids)]
    result = Comparison(runs=runs)
    base = runs[0].evaluation or {}
    for run in runs:
        evaluation = run.evaluation or {}
        row: dict[str, Any] = {"run": _label(run)}
        for key in METRICS:
            value, ref = evaluation.get(key), base.get(key)
            row[key] = value
            row[f"Δ {key}"] = round(value - ref, 4) if value is not None and ref is not None else None
        result.deltas.append(row)
        for name, ap in (evaluation.get("per_class") or {}).items():
            result.per_class.append({"run": _label(run), "class": name, **ap})
        for name, curve in (evaluation.get("pr_curve") or {}).items():
            result.pr_curves.extend(
                {"run": _label(run), "class": name, "recall": r, "precision": p}
                for r, p in zip(curve.get("recall", []), curve.get("precision", []), strict=False)
            )
        if evaluation.get("confusion_matrix"):
            result.confusion[_label(run)] = evaluation["confusion_matrix"]
        for epoch in run.history or []:
            result.history.append({"run": _label(run), **epoch})
    first, second = runs[0].dataset_version_id, runs[1].dataset_version_id
    if first and second and first != second:
        result.version_diff = diff_versions(first, second)
    return result


# --------------------------------------------------------------------------------------------------- versions


@dataclass
class VersionDiff:
    """Boxes added, removed, moved and reclassified from one dataset version to another, per class."""

    old: str
    new: str
    per_class: dict[str, Counter[str]] = field(default_factory=dict)
    images_changed: int = 0
    images_compared: int = 0

    def rows(self) -> list[dict[str, Any]]:
        """One row per class: added, removed, moved, reclassified."""
        kinds = ("added", "removed", "moved", "reclassified")
        return [
            {"class": name, **{k: counts.get(k, 0) for k in kinds}} for name, counts in sorted(self.per_class.items())
        ]


Box = tuple[int, float, float, float, float]  # class, x1, y1, x2, y2 (normalised)


def _class_names(root: Path) -> list[str]:
    """The class names of a prepared YOLO folder's data.yaml."""
    import yaml

    data = yaml.safe_load((root / "data.yaml").read_text(encoding="utf-8")) or {}
    raw = data.get("names") or {}
    return [str(raw[k]) for k in sorted(raw)] if isinstance(raw, dict) else [str(n) for n in raw]


def _version_labels(version: DatasetVersion) -> tuple[dict[str, list[Box]], list[str]]:
    """{image stem within its split: boxes} and the class names of a prepared YOLO version (from its index in the
    store when it has one; else from its label files)."""
    indexed = indexed_labels(version.id)
    if indexed is not None:
        names, by_image = indexed
        return {
            key: [(c, x - w / 2, y - h / 2, x + w / 2, y + h / 2) for c, x, y, w, h in boxes]
            for key, boxes in by_image.items()
        }, names
    root = Path(version.path)
    names = _class_names(root)
    labels: dict[str, list[Box]] = {}
    for path in sorted((root / "labels").rglob("*.txt")):
        boxes: list[Box] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 5:
                cls, x, y, w, h = int(parts[0]), *map(float, parts[1:])
                boxes.append((cls, x - w / 2, y - h / 2, x + w / 2, y + h / 2))
        labels[path.relative_to(root / "labels").with_suffix("").as_posix()] = boxes
    return labels, names


def _iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    h = max(0.0, min(a[4], b[4]) - max(a[2], b[2]))
    inter = w * h
    union = (a[3] - a[1]) * (a[4] - a[2]) + (b[3] - b[1]) * (b[4] - b[2]) - inter
    return inter / union if union > 0 else 0.0


def _pair(old: list[Any], new: list[Any], iou: Any) -> tuple[list[tuple[int, int, float]], set[int], set[int]]:
    """Greedy pairing by descending IoU (at least MATCH_IOU); returns pairs and the unpaired old/new indices."""
    candidates = sorted(
        ((iou(o, n), i, j) for i, o in enumerate(old) for j, n in enumerate(new)), key=lambda t: t[0], reverse=True
    )
    used_old: set[int] = set()
    used_new: set[int] = set()
    pairs = []
    for overlap, i, j in candidates:
        if overlap < MATCH_IOU:
            break
        if i not in used_old and j not in used_new:
            used_old.add(i)
            used_new.add(j)
            pairs.append((i, j, overlap))
    return pairs, set(range(len(old))) - used_old, set(range(len(new))) - used_new


def diff_versions(old_id: int, new_id: int) -> VersionDiff:
    """Box-level difference between two dataset versions (images matched by split and file stem)."""
    with session_scope() as session:
        old_v = dataset_store.get_version(session=session, version_id=old_id)
        new_v = dataset_store.get_version(session=session, version_id=new_id)
    old_labels, old_names = _version_labels(old_v)
    new_labels, new_names = _version_labels(new_v)

    def _namer(names: list[str]) -> Any:
        # Each version's ids through its own class list: a class list that changed (or one that is shorter than
        # the ids used) must not show bare ids mixed with names.
        return lambda cls: names[cls] if 0 <= cls < len(names) else f"class #{cls} (not in the class list)"

    old_name, name = _namer(old_names or new_names), _namer(new_names or old_names)

    diff = VersionDiff(old=f"v{old_v.number}", new=f"v{new_v.number}")
    for stem in sorted(set(old_labels) | set(new_labels)):
        old, new = old_labels.get(stem, []), new_labels.get(stem, [])
        pairs, removed, added = _pair(old, new, _iou)
        changed = bool(removed or added)
        for i, j, overlap in pairs:
            if old[i][0] != new[j][0]:
                diff.per_class.setdefault(name(new[j][0]), Counter())["reclassified"] += 1
                changed = True
            elif overlap < MOVED_IOU:
                diff.per_class.setdefault(name(new[j][0]), Counter())["moved"] += 1
                changed = True
        for i in removed:
            diff.per_class.setdefault(old_name(old[i][0]), Counter())["removed"] += 1
        for j in added:
            diff.per_class.setdefault(name(new[j][0]), Counter())["added"] += 1
        diff.images_compared += 1
        diff.images_changed += int(changed)
    return diff


# --------------------------------------------------------------------------------------------------- predictions


@dataclass
class Disagreement:
    """One validation image with each run's detections and the ground truth, in image pixels."""

    image: Path
    score: float
    truth: list[tuple[str, tuple[float, float, float, float]]]
    predictions: dict[str, list[Any]]


def val_images(version_id: int, limit: int) -> tuple[list[Path], list[str]]:
    """Up to `limit` validation images of a dataset version (sorted by name), and its class names."""
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
    folder = Path(version.path) / "images" / "val"
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    return images, _class_names(Path(version.path))


def _truth(image: Path, names: list[str], size: tuple[int, int]) -> list[tuple[str, tuple[float, float, float, float]]]:
    """The ground-truth boxes of a prepared YOLO image, in pixels."""
    parts = list(image.parts)
    index = len(parts) - 1 - parts[::-1].index("images")
    label = Path(*parts[:index], "labels", *parts[index + 1 :]).with_suffix(".txt")
    boxes = []
    width, height = size
    for line in label.read_text(encoding="utf-8").splitlines() if label.is_file() else []:
        values = line.split()
        if len(values) == 5:
            cls, x, y, w, h = int(values[0]), *map(float, values[1:])
            box = ((x - w / 2) * width, (y - h / 2) * height, (x + w / 2) * width, (y + h / 2) * height)
            boxes.append((names[cls] if 0 <= cls < len(names) else str(cls), box))
    return boxes


def _disagreement(a: list[Any], b: list[Any]) -> float:
    """1 - (matched same-class boxes / all boxes): 0 when two models agree on every box, 1 when on none."""
    if not a and not b:
        return 0.0

    def overlap(p: Any, q: Any) -> float:
        if p.class_name != q.class_name:
            return 0.0
        return _iou((0, *p.box), (0, *q.box))

    pairs, _, _ = _pair(a, b, overlap)
    return round(1.0 - 2 * len(pairs) / (len(a) + len(b)), 4)


def prediction_disagreements(
    run_ids: list[int], *, images: int = 16, shown: int = 4, conf: float | None = None
) -> list[Disagreement]:
    """Each run's predictions on the same validation images, the images where they disagree most first.

    Args:
        run_ids: Two or more runs; images come from the first run's dataset version.
        images: Validation images to predict on.
        shown: Images to return.
        conf: Confidence threshold of the predictions; default `detect.conf` of params.yaml.

    Raises:
        BadInputError: Fewer than two runs, or the first run has no dataset version or weights.
    """
    from backend.serving.inference import Detector

    with session_scope() as session:
        runs = [run_store.get_run(session=session, run_id=i) for i in dict.fromkeys(run_ids)]
    if len(runs) < 2:
        raise BadInputError("Choose at least two runs to compare.")
    if runs[0].dataset_version_id is None:
        raise BadInputError(f"Run {runs[0].name} has no dataset version to take validation images from.")
    paths, names = val_images(runs[0].dataset_version_id, images)
    runs_root = get_settings().runs_dir
    detectors = {}
    for run in runs:
        if not run.weights_path:
            raise BadInputError(f"Run {run.name} has no weights.")
        detectors[_label(run)] = Detector.load(Path(run.weights_path), device="cpu", allowed_root=runs_root)
    found = []
    for path in paths:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        predictions = {
            label: detector.predict([image], conf=conf, imgsz=run.params.get("imgsz"))[0].detections
            for (label, detector), run in zip(detectors.items(), runs, strict=True)
        }
        lists = list(predictions.values())
        score = float(np.mean([_disagreement(lists[0], other) for other in lists[1:]]))
        found.append(Disagreement(path, round(score, 4), _truth(path, names, image.size), predictions))
    found.sort(key=lambda d: d.score, reverse=True)
    return found[:shown]
