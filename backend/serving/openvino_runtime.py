"""Serve a PlateOps OpenVINO export on the CPU: the same pre- and post-processing as `backend.serving.onnx_runtime`,
Intel's OpenVINO runtime for the model call.

An OpenVINO export (`backend.training.runtimes.export_openvino`) is a folder holding `model.xml`, `model.bin` and
`metadata.json` (class names, input size, stride, the `.pt`'s sha256); it is converted from the PlateOps ONNX export,
so it carries the same embedding outputs (`embed_map_<layer>`) and the familiarity reference beside it.

Concurrency: a compiled model is shared; each thread gets its own infer request (OpenVINO's requests are not
thread-safe, the compiled model is), so two end users are answered at the same time without a lock.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from backend.imaging.letterbox import letterbox
from backend.serving.onnx_runtime import OnnxAnswer, OnnxMeta, cpu_threads, nms
from backend.training.embeddings import MAP_PREFIX
from backend.training.runtimes import OPENVINO_META, OPENVINO_XML


def is_openvino_folder(path: Path) -> bool:
    """Whether `path` is an OpenVINO export folder (or its `model.xml`)."""
    path = Path(path)
    return (path.is_dir() and (path / OPENVINO_XML).is_file()) or (path.is_file() and path.suffix.lower() == ".xml")


class OpenVinoYolo:
    """A PlateOps OpenVINO YOLO export on the CPU. Thread-safe: one infer request per calling thread."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        import openvino as ov

        folder = Path(path) if Path(path).is_dir() else Path(path).parent
        try:
            raw_meta = json.loads((folder / OPENVINO_META).read_text(encoding="utf-8"))
            self.meta = OnnxMeta(
                names=[str(name) for name in raw_meta["names"]],
                imgsz=int(raw_meta["imgsz"]),
                stride=int(raw_meta.get("stride", 32)),
                weights_sha256=str(raw_meta.get("weights_sha256", "")),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{folder.name} lacks a readable {OPENVINO_META} with class names and input size") from exc
        core = ov.Core()
        try:
            model = core.read_model(str(folder / OPENVINO_XML))
            # LATENCY: one picture per request, as the Detect page sends; the threads a request may use are this
            # process's CPUs, the same count onnxruntime gets
            self._compiled = core.compile_model(
                model,
                "CPU",
                {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads or cpu_threads()},
            )
        except RuntimeError as exc:
            raise ValueError(f"not a usable OpenVINO model ({str(exc).strip().splitlines()[0][:160]})") from exc
        # a compiled output keeps every name its tensor had (e.g. "/model.2/cv2/act/Mul_output_0" and "embed_map_2");
        # `get_any_name` may pick either, so look through them all
        self._map_layers = {
            int(name.removeprefix(MAP_PREFIX)): position
            for position, output in enumerate(self._compiled.outputs)
            for name in output.get_names()
            if name.startswith(MAP_PREFIX) and name.removeprefix(MAP_PREFIX).isdigit()
        }
        self._local = threading.local()

    @property
    def embedding_layers(self) -> tuple[int, ...]:
        """The layers whose feature maps the export carries as extra outputs."""
        return tuple(self._map_layers)

    def _request(self) -> Any:
        """This thread's infer request (created on first use)."""
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        return request

    def detect(self, rgb: np.ndarray, *, conf: float, iou: float) -> np.ndarray:
        """Rows [x1, y1, x2, y2, confidence, class] in the image's pixels, highest confidence first."""
        return self.run(rgb, conf=conf, iou=iou).rows

    def run(self, rgb: np.ndarray, *, conf: float, iou: float, maps: bool = True) -> OnnxAnswer:
        """Detect on one RGB uint8 image (H, W, 3) and keep the embedding outputs (unless `maps` is False), in one
        model call."""
        blob, (gain_x, gain_y), (pad_x, pad_y) = letterbox(np.ascontiguousarray(rgb), self.meta.imgsz)
        request = self._request()
        request.infer({0: blob})
        raw = np.array(request.get_output_tensor(0).data[0])  # copy: the request's buffers are reused
        rows = nms(raw.T, conf=conf, iou=iou)
        if rows.size:
            rows[:, [0, 2]] = ((rows[:, [0, 2]] - pad_x) / gain_x).clip(0, rgb.shape[1])
            rows[:, [1, 3]] = ((rows[:, [1, 3]] - pad_y) / gain_y).clip(0, rgb.shape[0])
        kept = (
            {
                layer: np.array(request.get_output_tensor(position).data[0])
                for layer, position in self._map_layers.items()
            }
            if maps
            else {}
        )
        return OnnxAnswer(rows=rows, raw=raw, maps=kept, input_hw=(self.meta.imgsz, self.meta.imgsz))
