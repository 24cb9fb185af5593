"""Fit a model's familiarity reference from its dataset and save it beside the weights.

Runs when training ends (`backend.training.trainer.train`, so the console's train job and `python -m jobs.train`
both write it), and on first use of a model trained before this existed (`backend.serving.familiarity`): the
training split is the reference, the validation split (pictures the model never trained on) scales the signals and
sets the threshold. Both are seeded samples of at most `familiarity.fit_images` / `val_images` pictures, so a large
dataset costs a bounded time (about 30 ms a picture for YOLOv8n at 256 px on a CPU).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from backend.core.clock import utcnow
from backend.core.errors import BadInputError, PlateOpsError
from backend.core.params import get_params
from backend.imaging.loading import load_image
from backend.training.embeddings import Embedding, embed_images
from backend.training.familiarity import FamiliarityModel, fit_familiarity, reference_path

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
_SAMPLE_SEED = 0
EmbedFn = Callable[[Iterable[Image.Image]], list[Embedding]]


def split_images(data_yaml: Path, split: str) -> list[Path]:
    """The image files of one split of a YOLO data.yaml (folders, `.txt` lists, or lists of either), sorted.

    Raises:
        BadInputError: The file is unreadable or does not name the split.
    """
    data_yaml = Path(data_yaml)
    try:
        data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadInputError(f"Dataset file {data_yaml} cannot be read ({exc}).") from exc
    if not isinstance(data, dict) or not data.get(split):
        raise BadInputError(f"Dataset file {data_yaml} names no {split} split.")
    base = Path(str(data.get("path") or data_yaml.parent))
    if not base.is_absolute():
        base = data_yaml.parent / base
    entries = data[split] if isinstance(data[split], list) else [data[split]]
    found: set[Path] = set()
    for entry in entries:
        target = Path(str(entry))
        target = target if target.is_absolute() else base / target
        if target.is_dir():
            found.update(p for p in target.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif target.is_file() and target.suffix.lower() == ".txt":
            lines = target.read_text(encoding="utf-8").splitlines()
            found.update((base / line.strip()) for line in lines if line.strip())
    return sorted(found)


def dataset_of(weights: Path) -> Path | None:
    """The data.yaml a run's weights were trained on, from ultralytics' `RUN/args.yaml`; None when unknown."""
    args = Path(weights).resolve().parent.parent / "args.yaml"
    try:
        data = yaml.safe_load(args.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    path = Path(str(data.get("data") or "")) if isinstance(data, dict) else None
    return path if path is not None and path.suffix in {".yaml", ".yml"} and path.is_file() else None


def sample_paths(paths: Sequence[Path], most: int) -> list[Path]:
    """At most `most` paths, a seeded sample in sorted order (the same every time for the same files)."""
    if len(paths) <= most:
        return list(paths)
    return sorted(random.Random(_SAMPLE_SEED).sample(list(paths), most))


def _pictures(paths: Iterable[Path]) -> Iterator[Image.Image]:
    """The pictures behind `paths`, loaded safely; unreadable files are skipped (the quality checks report them)."""
    for path in paths:
        try:
            yield load_image(path, name=path.name).image
        except PlateOpsError as exc:
            logger.info("familiarity reference: skipping %s (%s)", path.name, exc)


def fit_reference(embed: EmbedFn, data_yaml: Path, *, info: dict[str, Any] | None = None) -> FamiliarityModel:
    """Fit the familiarity reference of a model from its dataset's training and validation splits.

    Args:
        embed: Pictures to embeddings through the model (`embed_images` on a torch model, or `Detector.embed`).
        data_yaml: The dataset the model was trained on.
        info: Extra figures kept in the reference's json (e.g. imgsz).

    Returns:
        The fitted reference (not saved).

    Raises:
        BadInputError: The dataset is unreadable or has too few pictures.
    """
    params = get_params().familiarity
    train = sample_paths(split_images(data_yaml, "train"), params.fit_images)
    val = sample_paths(split_images(data_yaml, "val"), params.val_images)
    return fit_familiarity(
        embed(_pictures(train)),
        embed(_pictures(val)),
        signals=params.signals,
        target=params.target_false_refusals,
        info={"data": str(data_yaml), "fitted_at": utcnow().isoformat(timespec="seconds"), **(info or {})},
    )


def fit_weights_reference(weights: Path, data_yaml: Path, *, imgsz: int, device: str = "cpu") -> dict[str, Any]:
    """Fit the reference of trained `.pt` weights and save it beside them (`<stem>.familiarity.npz` and `.json`).

    Args:
        weights: The trained weights (our own training's best.pt).
        data_yaml: The dataset they were trained on.
        imgsz: The training image size (the embedding is read at it, as the ONNX export will).
        device: Torch device.

    Returns:
        The reference's figures (threshold, validation refusal rate, sizes), as saved in its json.

    Raises:
        BadInputError: The dataset is unreadable or has too few pictures.
    """
    from backend.training.yolo import ultralytics_yolo

    net: Any = ultralytics_yolo()(str(weights), task="detect").model
    net = net.fuse()  # Conv+BatchNorm folded, as ultralytics' predictor and the ONNX export run it

    def embed(images: Iterable[Image.Image]) -> list[Embedding]:
        return embed_images(net, images, imgsz=imgsz, device=device)

    model = fit_reference(embed, data_yaml, info={"imgsz": imgsz, "weights": Path(weights).name})
    model.save(reference_path(weights))
    return dict(model.meta)
