"""Which CPU runtime serves a promoted model: the fastest whose mAP50 on the evaluation set is within
`registry.runtime_tolerance` of the PyTorch model's, chosen by measuring every candidate on this machine.

Candidates: the float ONNX export (onnxruntime), its OpenVINO copy, and the int8 (static, calibrated on training
pictures) copies of both (`backend.training.runtimes`). Each answers the evaluation set through the serving path
(`Detector.predict`: letterbox, model, NMS) for mAP50, and a sample of its pictures interleaved, picture by picture,
for the time (so background load hits all alike). The choice and every candidate's figures are written beside the
weights (`runtime.json`) and into the model history; the registered model then serves the chosen file.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from backend.core.clock import utcnow
from backend.core.errors import BadInputError, PlateOpsError
from backend.core.params import get_params
from backend.serving.inference import Detector
from backend.training.bootstrap import bootstrap_figures
from backend.training.matching import EvalImages, build_table
from backend.training.runtimes import calibration_pictures, export_openvino, quantize_int8

logger = logging.getLogger(__name__)

CHOICE_FILE = "runtime.json"


@dataclass(frozen=True)
class RuntimeFigures:
    """One runtime's measurement: median ms per picture (whole serving path) and mAP50 on the evaluation set."""

    name: str
    path: str
    ms: float
    map50: float


@dataclass(frozen=True)
class RuntimeChoice:
    """The measured candidates and the one chosen to serve.

    Attributes:
        served: The chosen runtime's name ("onnxruntime", "openvino", "onnxruntime int8", "openvino int8").
        path: Its model file (an `.onnx` file, or an OpenVINO folder's `model.xml`).
        pytorch: The PyTorch model's figures, the reference.
        candidates: Every candidate measured.
        images: Pictures of the evaluation set scored (mAP50); `timed` of them timed.
        basis: E.g. "eval set 'food v1 val' (80 images, 412 boxes)".
    """

    served: str
    path: str
    pytorch: RuntimeFigures
    candidates: list[RuntimeFigures] = field(default_factory=list)
    images: int = 0
    timed: int = 0
    basis: str = ""

    def summary(self) -> str:
        """E.g. "openvino: 0.42× PyTorch's time, mAP50 0.526 (PyTorch 0.526) on eval set … (80 images)"."""
        chosen = next(c for c in self.candidates if c.name == self.served)
        return (
            f"{self.served}: {chosen.ms / self.pytorch.ms:.2f}× PyTorch's time per picture, mAP50 {chosen.map50:.3f} "
            f"(PyTorch {self.pytorch.map50:.3f}) on {self.basis}"
        )


def score_map50(detector: Detector, images: EvalImages, *, imgsz: int | None = None) -> float:
    """mAP50 of a detector on an image set (low confidence, as for mAP), at `imgsz` (default the model's own)."""
    detections = []
    for path in images.images:
        with Image.open(path) as opened:
            picture = opened.convert("RGB")
        result = detector.predict([picture], conf=0.001, iou=0.7, imgsz=imgsz)[0]
        scale = np.array([picture.width, picture.height] * 2, dtype=float)
        boxes = np.array([d.box for d in result.detections], dtype=float).reshape(-1, 4) / scale
        confidences = np.array([d.confidence for d in result.detections], dtype=float)
        classes = np.array([d.class_id for d in result.detections], dtype=np.int64)
        detections.append((boxes, confidences, classes))
    figures = bootstrap_figures(build_table(images, detections, tuple(detector.names)), samples=1)
    return float(figures.map50.value)


def median_ms(
    detectors: dict[str, Detector], pictures: list[Image.Image], *, rounds: int, imgsz: int | None = None
) -> dict[str, float]:
    """Median ms per picture of each detector through the serving path, interleaved (order rotating), after a
    warm-up, at `imgsz` (default each model's own)."""
    names = list(detectors)
    for detector in detectors.values():
        detector.predict(pictures[:1], imgsz=imgsz)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        for index, picture in enumerate(pictures):
            shift = (round_index + index) % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                detectors[name].predict([picture], imgsz=imgsz)
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def _candidates(weights: Path, onnx: Path) -> dict[str, Path]:
    """Every runtime's model file, built beside the ONNX export (int8 only when the training pictures are known)."""
    folder = onnx.parent
    out = {"onnxruntime": onnx, "openvino": export_openvino(onnx, folder / f"{onnx.stem}_openvino") / "model.xml"}
    try:
        int8 = quantize_int8(onnx, folder / f"{onnx.stem}.int8.onnx", calibration_pictures(weights))
    except BadInputError as exc:  # no known training pictures: the float runtimes only
        logger.info("runtime choice: no int8 candidates (%s)", exc)
        return out
    out["onnxruntime int8"] = int8
    out["openvino int8"] = export_openvino(int8, folder / f"{int8.stem}_openvino") / "model.xml"
    return out


def choose_runtime(weights: Path, onnx: Path, images: EvalImages, *, basis: str) -> RuntimeChoice:
    """Measure every runtime of a model on the evaluation set and choose the one to serve.

    Args:
        weights: The PyTorch weights (the reference).
        onnx: Their float ONNX export (its folder receives the other runtimes' files and `runtime.json`).
        images: The evaluation set.
        basis: How the set is named in figures, e.g. its label.

    Returns:
        The choice; the float ONNX export when no other runtime keeps mAP50 within the tolerance or all are slower.
    """
    params = get_params().registry
    detectors = {"pytorch": Detector.load(weights)}
    paths = _candidates(Path(weights), Path(onnx))
    for name, path in paths.items():
        try:
            detectors[name] = Detector.load(path)
        except PlateOpsError as exc:  # a runtime that cannot load here is left out, not fatal
            logger.warning("runtime choice: %s left out (%s)", name, exc)
    accuracy = {name: score_map50(detector, images) for name, detector in detectors.items()}
    sample = [Image.open(p).convert("RGB") for p in images.images[: params.latency_images]]
    ms = median_ms(detectors, sample, rounds=3) if sample else dict.fromkeys(detectors, 0.0)
    figures = {
        name: RuntimeFigures(name=name, path=str(paths.get(name, weights)), ms=ms[name], map50=accuracy[name])
        for name in detectors
    }
    eligible = [
        f
        for name, f in figures.items()
        if name != "pytorch" and f.map50 >= accuracy["pytorch"] - params.runtime_tolerance
    ]
    served = min(eligible, key=lambda f: f.ms) if eligible else figures["onnxruntime"]
    choice = RuntimeChoice(
        served=served.name,
        path=served.path,
        pytorch=figures["pytorch"],
        candidates=[f for name, f in figures.items() if name != "pytorch"],
        images=len(images.images),
        timed=len(sample),
        basis=basis,
    )
    record = {**asdict(choice), "measured_at": utcnow().isoformat()}
    (Path(onnx).parent / CHOICE_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return choice
