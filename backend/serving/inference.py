"""The detector: load YOLO weights (.pt or .onnx), detect objects on images, draw the boxes.

Security: a `.pt` file is a Python pickle, and `torch.load` of a pickle runs whatever code the file carries.
Only load `.pt` weights that PlateOps' own training produced on this machine; never load a `.pt` a user uploads.
`.onnx` exports are served by onnxruntime on CPU with numpy pre/post-processing (`backend.serving.onnx_runtime`),
about twice as fast as `model.predict` on the .pt (bench/onnx.py).
Pass `allowed_root` (e.g. the workspace runs folder) so a path outside it is refused. `.onnx` files hold no code
and are the format to accept from elsewhere.

Offline: ultralytics would otherwise pip-install missing export/runtime packages and probe the network;
`ultralytics_yolo()` sets `YOLO_AUTOINSTALL=false` and `YOLO_OFFLINE=true` (unless already set) before ultralytics
is first imported, and turns auto-install off if it was imported earlier. It also undoes ultralytics' global
replacement of `PIL.Image.open` (which would try to install a HEIF plugin on every unreadable upload).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from PIL import Image

from backend.core.errors import BadInputError, NotFoundError
from backend.core.hashing import file_sha256
from backend.serving.onnx_runtime import OnnxYolo
from backend.serving.openvino_runtime import OpenVinoYolo, is_openvino_folder
from backend.serving.thresholds import resolve_thresholds
from backend.training.embedding_cache import model_key
from backend.training.embeddings import Embedding, LayerTap, embed_images, summarize_maps
from backend.training.runtimes import OPENVINO_XML
from backend.training.yolo import ultralytics_yolo

if TYPE_CHECKING:
    from ultralytics import YOLO
    from ultralytics.engine.results import Results

logger = logging.getLogger(__name__)

ModelKind = Literal["pt", "onnx", "openvino"]
WEIGHT_KINDS: dict[str, ModelKind] = {".pt": "pt", ".onnx": "onnx", ".xml": "openvino"}
Runner = OnnxYolo | OpenVinoYolo  # the numpy-served runtimes: same interface, both thread-safe

# Errors ultralytics, torch and onnxruntime raise for a file that is not a usable model.
_LOAD_ERRORS: tuple[type[BaseException], ...] = (
    RuntimeError,
    ValueError,
    TypeError,
    OSError,
    KeyError,
    AttributeError,
    EOFError,
    AssertionError,
    ImportError,
)


@dataclass(frozen=True)
class Detection:
    """One detected object.

    Attributes:
        class_name: Class name from the model's metadata.
        class_id: Class index in the model.
        confidence: Score 0–1 (rounded to 4 decimals).
        box: (x1, y1, x2, y2) in pixels of the original (upright) image, rounded to 0.1.
        probability: The calibrated probability that the detection is right (`backend.serving.certainty`), set by
            the serving step; None straight from the model. `confidence` stays the model's raw score.
    """

    class_name: str
    class_id: int
    confidence: float
    box: tuple[float, float, float, float]
    probability: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by `jobs.detect` and the prediction log: `{"class", "confidence", "box"}`, plus
        `"probability"` once the serving step has calibrated it."""
        data: dict[str, Any] = {"class": self.class_name, "confidence": self.confidence, "box": list(self.box)}
        if self.probability is not None:
            data["probability"] = self.probability
        return data


@dataclass
class DetectionResult:
    """Detections on one image.

    Attributes:
        detections: Objects found, highest confidence first.
        latency_ms: Wall time of the predict call for this image, pre- and post-processing included (and the
            embedding's summary when one was asked for).
        width: Width of the image the boxes refer to.
        height: Height of the image the boxes refer to.
        embedding: What the model's layers made of the image (`backend.training.embeddings`), read in the same
            model call; None unless asked for, or when an ONNX export carries no embedding outputs.
    """

    detections: list[Detection] = field(default_factory=list)
    latency_ms: float = 0.0
    width: int = 0
    height: int = 0
    embedding: Embedding | None = None


class Detector:
    """A loaded YOLO detection model. Create with `Detector.load`; thread-safe.

    ONNX and OpenVINO models answer concurrent calls together (onnxruntime's `run` and OpenVINO's per-thread infer
    requests are thread-safe); a `.pt` model runs one call at a time, since ultralytics' predictor keeps state.
    """

    def __init__(
        self,
        model: YOLO | None,
        *,
        source: Path,
        kind: ModelKind,
        device: str,
        onnx: Runner | None = None,
    ) -> None:
        self._model = model
        self._onnx = onnx
        self._source = source
        self._kind = kind
        self._device = device
        self._lock = threading.Lock()
        self._fixed_imgsz: int | None = None
        self._names: list[str] = []
        self._imgsz = 640
        self._embedding_key: str | None = None

    @classmethod
    def load(
        cls,
        weights: Path,
        *,
        device: str = "cpu",
        allowed_root: Path | None = None,
    ) -> Detector:
        """Load `.pt` or `.onnx` weights and run one warm-up prediction.

        Args:
            weights: Model file. `.pt` files must come from our own training (loading runs pickled code).
            device: Torch device ("cpu", "0", "cuda:0"...).
            allowed_root: When given, refuse weights outside this folder (resolved, symlinks followed).

        Returns:
            A ready detector.

        Raises:
            NotFoundError: The weights file does not exist.
            BadInputError: The file is outside `allowed_root`, has another suffix, or is not a usable model.
        """
        weights = Path(weights)
        if weights.is_dir() and is_openvino_folder(weights):
            weights = weights / OPENVINO_XML
        kind = WEIGHT_KINDS.get(weights.suffix.lower())
        if kind is None:
            raise BadInputError(
                f"{weights.name} is not a model file; use the .pt or .onnx weights of a trained run, "
                "or an OpenVINO export folder."
            )
        if not weights.is_file():
            raise NotFoundError(f"Model weights not found: {weights}. Check the path or train a model first.")
        if allowed_root is not None and not weights.resolve().is_relative_to(Path(allowed_root).resolve()):
            raise BadInputError(
                f"{weights.name} is outside {allowed_root}; only weights from PlateOps' own runs can be loaded "
                "(a .pt file can run code when loaded)."
            )
        if kind != "pt":
            return cls._load_runner(weights, kind)
        yolo = ultralytics_yolo()
        try:
            model = yolo(str(weights), task="detect")
            if model.task != "detect":
                raise BadInputError(f"{weights.name} is a {model.task} model; PlateOps needs a detection model.")
            detector = cls(model, source=weights, kind=kind, device=device)
            detector._warm_up()
        except _LOAD_ERRORS as exc:
            raise BadInputError(
                f"{weights.name} could not be loaded as a YOLO detection model ({_first_line(exc)}). "
                "Use best.pt from a PlateOps run or an ONNX export of it."
            ) from exc
        return detector

    @classmethod
    def _load_runner(cls, weights: Path, kind: ModelKind) -> Detector:
        """An ONNX export on onnxruntime or an OpenVINO export, on the CPU, with numpy pre/post-processing
        (`backend.serving.onnx_runtime`, `backend.serving.openvino_runtime`)."""
        try:
            runner: Runner = OnnxYolo(weights) if kind == "onnx" else OpenVinoYolo(weights)
        except _LOAD_ERRORS as exc:
            raise BadInputError(
                f"{weights.name} could not be loaded as a YOLO detection model ({_first_line(exc)}). "
                "Use best.pt from a PlateOps run or an ONNX export of it."
            ) from exc
        detector = cls(None, source=weights, kind=kind, device="cpu", onnx=runner)
        detector._names = list(runner.meta.names)
        detector._imgsz = detector._fixed_imgsz = runner.meta.imgsz
        runner.detect(np.zeros((32, 32, 3), dtype=np.uint8), conf=0.5, iou=0.5)  # warm-up: any valid values
        return detector

    def _warm_up(self) -> None:
        """Build the predictor on a blank image so names, input size and the first latency are settled."""
        assert self._model is not None
        train_imgsz = self._model.overrides.get("imgsz")
        self._model.predict(Image.new("RGB", (32, 32)), imgsz=train_imgsz or 640, device=self._device, verbose=False)
        predictor = self._model.predictor
        assert predictor is not None  # predict() above built it
        backend = predictor.model
        names = backend.names if isinstance(backend.names, dict) else dict(enumerate(backend.names))
        self._names = [str(names[i]) for i in sorted(names)]
        if self._kind == "onnx":
            size = getattr(backend, "imgsz", None) or train_imgsz or 640
            self._imgsz = int(max(size) if isinstance(size, (list, tuple)) else size)
            if not getattr(backend, "dynamic", False):
                self._fixed_imgsz = self._imgsz
        else:
            size = train_imgsz or 640
            self._imgsz = int(max(size) if isinstance(size, (list, tuple)) else size)

    @property
    def names(self) -> list[str]:
        """Class names, indexed by class id."""
        return list(self._names)

    @property
    def source(self) -> Path:
        """The weights file this detector was loaded from."""
        return self._source

    @property
    def kind(self) -> ModelKind:
        """The weights format: "pt", "onnx" or "openvino"."""
        return self._kind

    @property
    def imgsz(self) -> int:
        """Default inference size (the training size for .pt, the exported input size for .onnx)."""
        return self._imgsz

    def predict(
        self,
        images: list[Image.Image],
        *,
        conf: float | None = None,
        iou: float | None = None,
        imgsz: int | None = None,
        embed: bool = False,
    ) -> list[DetectionResult]:
        """Detect objects on each image.

        Args:
            images: Upright RGB images (as from `backend.imaging.loading.load_image`).
            conf: Minimum confidence, 0–1; default `detect.conf` of params.yaml.
            iou: IoU threshold of non-maximum suppression, 0–1; default `detect.iou`.
            imgsz: Inference size; default `self.imgsz`. Ignored (with a log warning) for an ONNX model exported
                with a fixed input size, which only runs at that size.
            embed: Also read each image's embedding in the same model call (`DetectionResult.embedding`).

        Returns:
            One result per image, in order; boxes are in each image's own pixel coordinates, highest confidence
            first; boxes without area are left out.

        Raises:
            BadInputError: conf or iou outside 0..1 (`backend.serving.thresholds.resolve_thresholds`).
        """
        conf, iou = resolve_thresholds(conf, iou)
        size = imgsz or self._imgsz
        if self._fixed_imgsz is not None and size != self._fixed_imgsz:
            logger.warning("%s only runs at imgsz=%d; ignoring imgsz=%d", self._source.name, self._fixed_imgsz, size)
            size = self._fixed_imgsz
        results: list[DetectionResult] = []
        with self._lock if self._onnx is None else contextlib.nullcontext():
            for image in images:
                start = time.perf_counter()
                rows, embedding = self._predict_rows(image, conf=conf, iou=iou, imgsz=size, embed=embed)
                latency_ms = (time.perf_counter() - start) * 1000.0
                results.append(
                    DetectionResult(
                        detections=self._to_detections(rows),
                        latency_ms=round(latency_ms, 2),
                        width=image.width,
                        height=image.height,
                        embedding=embedding,
                    )
                )
        return results

    @property
    def embedding_key(self) -> str:
        """The embedding cache's key of this model (`backend.training.embedding_cache`): a `.pt` and its ONNX
        export share it, since the export records the `.pt`'s sha256."""
        if self._embedding_key is None:
            recorded = self._onnx.meta.weights_sha256 if self._onnx is not None else ""
            self._embedding_key = model_key(recorded or file_sha256(self._source), self._imgsz)
        return self._embedding_key

    @property
    def embeds(self) -> bool:
        """Whether this model can give embeddings (always for `.pt`; for ONNX, an export that carries them)."""
        return self._onnx is None or bool(self._onnx.embedding_layers)

    def embed(self, images: Iterable[Image.Image]) -> list[Embedding]:
        """Embeddings of pictures (no detections), e.g. to fit a familiarity reference from a dataset.

        A `.pt` model runs batches letterboxed to a square, as its ONNX export sees pictures; an ONNX export runs
        one picture per call.

        Raises:
            BadInputError: An ONNX export without embedding outputs (export it again).
        """
        if not self.embeds:
            raise BadInputError(f"{self._source.name} carries no embedding outputs; export the model again.")
        with self._lock if self._onnx is None else contextlib.nullcontext():
            if self._onnx is not None:
                out = []
                for image in images:
                    rgb = image if image.mode == "RGB" else image.convert("RGB")
                    answer = self._onnx.run(np.asarray(rgb), conf=1.0, iou=0.5)
                    out.append(summarize_maps(answer.maps, answer.raw, input_hw=answer.input_hw, image=rgb))
                return out
            assert self._model is not None
            return embed_images(self._net(), images, imgsz=self._imgsz, device=self._device)

    def _net(self) -> Any:
        """The torch module that runs predictions (ultralytics' fused DetectionModel behind its predictor)."""
        assert self._model is not None
        predictor = self._model.predictor
        return predictor.model.model if predictor is not None else self._model.model

    def _predict_rows(
        self, image: Image.Image, *, conf: float, iou: float, imgsz: int, embed: bool
    ) -> tuple[list[list[float]], Embedding | None]:
        """[x1, y1, x2, y2, conf, cls] rows in original-image pixels, from onnxruntime or ultralytics, and the
        image's embedding when asked for (and available)."""
        if self._onnx is not None:
            rgb = image if image.mode == "RGB" else image.convert("RGB")
            answer = self._onnx.run(np.asarray(rgb), conf=conf, iou=iou, maps=embed)
            embedding = None
            if embed and answer.maps:
                embedding = summarize_maps(answer.maps, answer.raw, input_hw=answer.input_hw, image=rgb)
            return answer.rows.tolist(), embedding
        assert self._model is not None
        with contextlib.ExitStack() as stack:
            tap = stack.enter_context(LayerTap(self._net())) if embed else None
            outputs = cast(  # without stream=True, predict returns a list of Results
                "list[Results]",
                self._model.predict(image, conf=conf, iou=iou, imgsz=imgsz, device=self._device, verbose=False),
            )
        boxes = outputs[0].boxes
        assert boxes is not None  # a detection model's results always carry boxes
        embedding = tap.embeddings([image])[0] if tap is not None else None
        return boxes.data.tolist(), embedding

    def _to_detections(self, rows: list[list[float]]) -> list[Detection]:
        """Turn ultralytics' [x1, y1, x2, y2, conf, cls] rows (original-image pixels) into detections.

        Boxes that clipping to the image left without area (from anchors in the letterbox padding) are dropped.
        """
        detections = []
        for x1, y1, x2, y2, score, cls in rows:
            box = (round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1))
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            class_id = int(cls)
            name = self._names[class_id] if 0 <= class_id < len(self._names) else str(class_id)
            detections.append(Detection(class_name=name, class_id=class_id, confidence=round(score, 4), box=box))
        return detections


def _first_line(exc: BaseException) -> str:
    """The first line of an exception message without ultralytics' "ERROR ❌️" decoration, at most 200 chars."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.removeprefix("ERROR").strip(" ❌️\ufe0f:")  # noqa: B005 - a set of decoration characters
    return text if len(text) <= 200 else text[:199] + "…"
