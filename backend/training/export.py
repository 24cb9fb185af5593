"""Export trained `.pt` weights to ONNX, the format to serve and to share (an ONNX file holds no code).

The export carries the detector's embedding: after ultralytics' export, the feature maps of the layers the
embedding reads (`backend.training.embeddings.tap_layers`) are added as extra graph outputs `embed_map_<layer>`
after the detection output, so serving gets the detections and the embedding in one onnxruntime call. The
familiarity reference fitted beside the weights (`<stem>.familiarity.npz` and `.json`) is copied beside the
export under the export's stem, so `jobs.detect --weights M.onnx` finds it.

Runs fully offline: onnx, onnxslim and onnxruntime are pinned in requirements.txt, and `ultralytics_yolo()` turns
ultralytics' run-time pip auto-install off, so a missing package fails with a clear message instead of a download.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

from backend.core.errors import BadInputError, NotFoundError
from backend.core.hashing import file_sha256
from backend.training.embeddings import WEIGHTS_SHA256_KEY, add_embedding_outputs, tap_layers
from backend.training.familiarity import copy_reference
from backend.training.yolo import ultralytics_yolo

# Packages the ONNX export imports; pinned in requirements.txt.
_EXPORT_PACKAGES = ("onnx", "onnxslim")

# Export failures ultralytics, torch and onnx raise for a model they cannot convert.
_EXPORT_ERRORS: tuple[type[BaseException], ...] = (RuntimeError, ValueError, TypeError, OSError, AssertionError)


def export_onnx(weights: Path, *, imgsz: int = 320, out: Path | None = None, simplify: bool = True) -> Path:
    """Export YOLO `.pt` weights to an ONNX file with a fixed input size.

    Args:
        weights: Trained `.pt` weights from our own training (loading a .pt runs pickled code).
        imgsz: Input size (square) baked into the ONNX graph; the model only runs at this size.
        out: Where to write the file; default next to the weights with the `.onnx` suffix.
        simplify: Slim the graph with onnxslim (smaller, a little faster).

    Returns:
        Path of the written ONNX file. Class names, stride and imgsz are stored in its metadata; the embedding's
        feature maps are extra outputs after the detection output.

    Raises:
        NotFoundError: The weights file does not exist.
        BadInputError: Not a .pt file, an export package is missing, or the export failed.
    """
    weights = Path(weights)
    if weights.suffix.lower() != ".pt":
        raise BadInputError(f"{weights.name} is not PyTorch weights; export needs the .pt file of a trained run.")
    if not weights.is_file():
        raise NotFoundError(f"Model weights not found: {weights}. Check the path or train a model first.")
    if imgsz < 32 or imgsz % 32:
        raise BadInputError(f"imgsz must be a multiple of 32, at least 32 (got {imgsz}).")
    missing = [name for name in _EXPORT_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise BadInputError(
            f"ONNX export needs {', '.join(missing)}, which is not installed. Install requirements.txt and retry."
        )

    yolo = ultralytics_yolo()
    with tempfile.TemporaryDirectory(prefix="plateops-onnx-") as scratch:
        # ultralytics writes `<stem>.onnx` beside the weights it loaded: export from a copy in a scratch folder, so
        # an export elsewhere never moves away (or overwrites) the served `.onnx` that sits beside the weights
        source = Path(scratch) / weights.name
        shutil.copyfile(weights, source)
        try:
            model = yolo(str(source), task="detect")
            layers = tap_layers(model.model)
            written = Path(model.export(format="onnx", imgsz=imgsz, simplify=simplify, dynamic=False, verbose=False))
            add_embedding_outputs(written, layers, metadata={WEIGHTS_SHA256_KEY: file_sha256(weights)})
        except _EXPORT_ERRORS as exc:
            raise BadInputError(f"Exporting {weights.name} to ONNX failed: {exc}") from exc
        target = Path(out) if out is not None else weights.with_suffix(".onnx")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(written), str(target))
    copy_reference(weights, target)
    return target


def trained_imgsz(weights: Path) -> int | None:
    """The image size `.pt` weights were trained at (from their stored train args), or None when not recorded."""
    weights = Path(weights)
    if weights.suffix.lower() != ".pt" or not weights.is_file():
        return None
    yolo = ultralytics_yolo()
    try:
        size = yolo(str(weights), task="detect").overrides.get("imgsz")
    except _EXPORT_ERRORS:
        return None
    if isinstance(size, (list, tuple)):
        size = max(size)
    return int(size) if size else None
