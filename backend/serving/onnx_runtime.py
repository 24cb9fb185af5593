"""Serve an ultralytics YOLO detection ONNX export with onnxruntime on CPU, pre- and post-processing in numpy.

Why not ultralytics' own ONNX backend: it converts every picture through torch tensors and runs torchvision's NMS,
and opens the session with default options. Here the session is opened once with full graph optimisation, one
intra-op thread per CPU this process may use (no spin-waiting) and sequential execution; the letterbox is
one OpenCV resize into a preallocated padded buffer; NMS is a few vectorised numpy lines. The outputs match ultralytics'
`predict` on the same file (same letterbox, same class-offset NMS, same box scaling; tests/unit/test_onnx_serving.py
checks boxes and confidences against the PyTorch model).

A PlateOps export also carries the detector's embedding: feature maps `embed_map_<layer>` after the detection output
(`backend.training.export`); `OnnxYolo.run` returns them with the detections of the same call, and `detect` ignores
them. An export without them (from before) still serves; it just gives no embedding.

Optional dynamic int8 quantisation (`quantize_dynamic`) shrinks the file about four times; on convolution-heavy
YOLO graphs it is often no faster on CPU, so it is an explicit choice, never the default.
"""

from __future__ import annotations

import ast
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.imaging.letterbox import PAD_VALUE, letterbox
from backend.training.embeddings import MAP_PREFIX, WEIGHTS_SHA256_KEY

MAX_WH = 7680  # class offset of the batched NMS (ultralytics' value)
MAX_NMS = 30000  # boxes kept before NMS
MAX_DET = 300  # detections kept after NMS


@dataclass(frozen=True)
class OnnxMeta:
    """What the ultralytics export stores in the ONNX metadata."""

    names: list[str]
    imgsz: int
    stride: int
    weights_sha256: str = ""  # the .pt it was exported from (PlateOps exports record it; "" otherwise)


@dataclass(frozen=True)
class OnnxAnswer:
    """One model call: the detections and what the embedding needs.

    Attributes:
        rows: Detections [x1, y1, x2, y2, confidence, class] in the image's pixels, highest confidence first.
        raw: The head's raw output (4 + classes, anchors), before NMS.
        maps: Layer index to feature map (C, H, W); empty for an export without embedding outputs.
        input_hw: (height, width) of the letterboxed input.
    """

    rows: np.ndarray
    raw: np.ndarray
    maps: dict[int, np.ndarray]
    input_hw: tuple[int, int]


def cpu_threads() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def read_meta(session: Any) -> OnnxMeta:
    """Class names, input size and stride from an ultralytics export's metadata (literal_eval, never eval)."""
    meta = session.get_modelmeta().custom_metadata_map
    raw_names = ast.literal_eval(meta.get("names", "{}"))
    names = [str(raw_names[k]) for k in sorted(raw_names)] if isinstance(raw_names, dict) else list(raw_names)
    shape = session.get_inputs()[0].shape
    size = ast.literal_eval(meta["imgsz"]) if "imgsz" in meta else [shape[2], shape[3]]
    imgsz = int(max(size) if isinstance(size, (list, tuple)) else size)
    return OnnxMeta(
        names=names,
        imgsz=imgsz,
        stride=int(meta.get("stride", 32)),
        weights_sha256=str(meta.get(WEIGHTS_SHA256_KEY, "")),
    )


class OnnxYolo:
    """An ONNX YOLO detector on onnxruntime's CPU provider. Thread-safe: onnxruntime's `run` accepts concurrent
    calls on one session, and each thread letterboxes into its own buffer."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # one thread per CPU: on the quiet 2-core machine of bench/onnx.py, 2 threads ran a 256 px picture in 5.8 ms and
        # 1 thread in 7.6 ms (640 px: 27 against 43 ms); an earlier try under heavy load (load average 14) had
        # favoured 1 thread (0.54x against 0.62x PyTorch's time), but a serving machine is not normally that busy
        options.intra_op_num_threads = threads or cpu_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # no busy-waiting between operators: on a small, shared CPU spinning threads steal time from the work itself
        # (measured: 2 threads spinning 31-39 ms, not spinning 15-16 ms per 256 px image on 2 busy cores; on the quiet
        # machine spinning gained 1.2 ms of 5.8, not worth what it costs a console that also trains)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

        ort_errors = (ort_state.Fail, ort_state.InvalidProtobuf, ort_state.InvalidGraph, ort_state.InvalidArgument)
        try:
            self._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
            self.meta = read_meta(self._session)
        except ort_errors as exc:
            raise ValueError(f"not a usable ONNX model ({str(exc).strip().splitlines()[0][:160]})") from exc
        except (SyntaxError, KeyError, IndexError) as exc:
            raise ValueError("the ONNX file lacks the class names and input size of an ultralytics export") from exc
        self._input = self._session.get_inputs()[0].name
        self._local = threading.local()  # per-thread letterbox buffer
        self._output = self._session.get_outputs()[0].name
        # extra outputs `embed_map_<layer>` that `backend.training.export` adds: layer -> position in the outputs
        self._map_layers = {
            int(out.name.removeprefix(MAP_PREFIX)): position
            for position, out in enumerate(self._session.get_outputs())
            if out.name.startswith(MAP_PREFIX) and out.name.removeprefix(MAP_PREFIX).isdigit()
        }

    def _canvas(self) -> np.ndarray:
        """This thread's letterbox buffer (saves an allocation per call)."""
        canvas = getattr(self._local, "canvas", None)
        if canvas is None:
            canvas = self._local.canvas = np.full((self.meta.imgsz, self.meta.imgsz, 3), PAD_VALUE, dtype=np.uint8)
        return canvas

    @property
    def embedding_layers(self) -> tuple[int, ...]:
        """The layers whose feature maps the export carries as extra outputs (empty for a plain export)."""
        return tuple(self._map_layers)

    def detect(self, rgb: np.ndarray, *, conf: float, iou: float) -> np.ndarray:
        """Detect on one RGB uint8 image (H, W, 3).

        Returns:
            Rows [x1, y1, x2, y2, confidence, class] in the image's pixels, highest confidence first.
        """
        return self.run(rgb, conf=conf, iou=iou).rows

    def run(self, rgb: np.ndarray, *, conf: float, iou: float, maps: bool = True) -> OnnxAnswer:
        """Detect on one RGB uint8 image (H, W, 3) and keep the embedding outputs (unless `maps` is False: then
        only the detection output is fetched, which spares copying the feature maps out), in one model call."""
        blob, (gain_x, gain_y), (pad_x, pad_y) = letterbox(
            np.ascontiguousarray(rgb), self.meta.imgsz, canvas=self._canvas()
        )
        wanted = None if maps and self._map_layers else [self._output]
        outputs = self._session.run(wanted, {self._input: blob})
        raw = outputs[0][0]  # (4 + nc, anchors)
        rows = nms(raw.T, conf=conf, iou=iou)
        if rows.size:
            rows[:, [0, 2]] = ((rows[:, [0, 2]] - pad_x) / gain_x).clip(0, rgb.shape[1])
            rows[:, [1, 3]] = ((rows[:, [1, 3]] - pad_y) / gain_y).clip(0, rgb.shape[0])
        kept = {layer: outputs[position][0] for layer, position in self._map_layers.items()} if wanted is None else {}
        return OnnxAnswer(rows=rows, raw=raw, maps=kept, input_hw=(self.meta.imgsz, self.meta.imgsz))


def nms(predictions: np.ndarray, *, conf: float, iou: float) -> np.ndarray:
    """Class-aware non-maximum suppression of raw YOLOv8 rows [cx, cy, w, h, score_0..score_n].

    Matches ultralytics' `non_max_suppression` (single label per box, class offset trick, max 300 detections).
    """
    scores = predictions[:, 4:]
    classes = scores.argmax(1)
    best = scores[np.arange(len(scores)), classes]
    keep = best > conf
    if not keep.any():
        return np.zeros((0, 6), dtype=np.float32)
    boxes, best, classes = predictions[keep, :4], best[keep], classes[keep]
    order = best.argsort()[::-1][:MAX_NMS]
    boxes, best, classes = boxes[order], best[order], classes[order]
    xyxy = np.empty_like(boxes)
    xyxy[:, :2] = boxes[:, :2] - boxes[:, 2:] / 2
    xyxy[:, 2:] = boxes[:, :2] + boxes[:, 2:] / 2
    offset = xyxy + (classes * MAX_WH)[:, None]
    kept = _greedy_nms(offset, iou)[:MAX_DET]
    return np.concatenate([xyxy[kept], best[kept, None], classes[kept, None].astype(np.float32)], axis=1)


def _greedy_nms(boxes: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by greedy NMS over boxes sorted by descending score."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.arange(len(boxes))
    kept: list[int] = []
    while order.size:
        i = order[0]
        kept.append(int(i))
        rest = order[1:]
        w = (np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])).clip(0)
        h = (np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])).clip(0)
        inter = w * h
        overlap = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[overlap <= threshold]
    return np.asarray(kept, dtype=np.int64)


def quantize_dynamic(source: Path, out: Path) -> Path:
    """Write a dynamically int8-quantised copy of an ONNX model (weights int8, activations quantised at run time).

    Args:
        source: The float ONNX model.
        out: Where to write the quantised model.

    Returns:
        `out`.
    """
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize

    out.parent.mkdir(parents=True, exist_ok=True)
    ort_quantize(str(source), str(out), weight_type=QuantType.QUInt8)
    return out
