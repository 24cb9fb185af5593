"""Image embeddings from the detector itself: what its layers make of a picture, one record per image.

One extractor serves every user: the familiarity check ("is this a photo like the training photos?"), the
Monitor's embedding drift and accuracy estimate, and active learning's novelty and diversity. It reads the feature
maps of a few layers of the YOLO detector (`tap_layers`: the outputs of its C2f/SPPF-style blocks, backbone and
neck) and of its head, and summarises each layer over the picture's own area (`summarize_maps`):

- channel means and standard deviations (`LayerStats.mean`, `.std`);
- row sums of Gram matrices of orders 1..`GRAM_ORDERS` (`LayerStats.gram`, after Sastry & Oore 2020, "Detecting
  out-of-distribution examples with Gram matrices"): how channels co-activate, the texture of the picture as the
  detector sees it;
- the head's output statistics (`Embedding.head`): the best class score anywhere, the mean of the ten best, and
  the entropy of the class scores at the best anchor.

Why only the picture's own area: the detector sees a letterboxed copy (grey bars around it). Pooling over the bars
would make a wide screenshot look "plain grey" and tie the figures to the aspect ratio, and the `.pt` path (which
ultralytics letterboxes to the nearest multiple of 32) would disagree with the ONNX export (padded to a square).
Feature cells whose centre lies in the bars are left out, so both paths give the same figures.

Two ways in, the same summary out:
- `.pt` weights: forward hooks on the torch modules (`LayerTap`), around our own letterbox and forward pass
  (`embed_images`, for fitting and for the monitor) or around ultralytics' `predict` (the serving `Detector`);
- the served ONNX export: `add_embedding_outputs` adds the tapped feature maps as extra graph outputs after
  ultralytics' export, so one onnxruntime call gives the detections and the maps (`backend.serving.onnx_runtime`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from backend.imaging.letterbox import content_box, letterbox
from backend.imaging.texture import texture_stats

GRAM_ORDERS = 4  # Gram matrices of orders 1..4: higher orders add little and cost a power per order
HEAD_STATS = ("max_score", "top10_score", "entropy")
# Module types whose outputs are tapped: the feature blocks of the YOLO families ultralytics builds (v8, 11, 12).
_TAPPED_TYPES = frozenset({"C2f", "C3k2", "SPPF", "C2PSA", "A2C2f", "C3", "C2fPSA", "SPPELAN", "RepNCSPELAN4"})
MAP_PREFIX = "embed_map_"  # ONNX output names: embed_map_<layer index>
WEIGHTS_SHA256_KEY = "plateops_weights_sha256"  # ONNX metadata: the .pt an export came from


@dataclass(frozen=True)
class LayerStats:
    """One layer's summary over the picture's area.

    Attributes:
        layer: Index of the module in the YOLO model (`model.model[layer]`).
        stride: Input pixels per feature cell (8 to 32 in YOLOv8).
        mean: Per-channel mean, shape (C,).
        std: Per-channel standard deviation, shape (C,).
        gram: Row sums of the normalised Gram matrices of orders 1..GRAM_ORDERS, shape (GRAM_ORDERS, C); None
            unless asked for (about 100 ms a picture on a CPU for YOLOv8n's layers, so serving leaves it out).
    """

    layer: int
    stride: int
    mean: np.ndarray
    std: np.ndarray
    gram: np.ndarray | None = None


@dataclass(frozen=True)
class Embedding:
    """What the detector's layers make of one picture.

    Attributes:
        layers: One summary per tapped layer, in model order.
        head: The head's output statistics, in `HEAD_STATS` order.
        pixels: The picture's own texture, frequency and colour statistics
            (`backend.imaging.texture.TEXTURE_NAMES`), measured beside the model on the same picture.
    """

    layers: tuple[LayerStats, ...]
    head: np.ndarray
    pixels: np.ndarray

    @property
    def vector(self) -> np.ndarray:
        """The picture's embedding: channel means of the deepest backbone layer (SPPF), unit length.

        Cosine similarity of two vectors is their dot product (novelty, diversity, drift).
        """
        mean = self.layer(deepest_backbone(self.layers)).mean.astype(np.float32)
        norm = float(np.linalg.norm(mean))
        return mean / norm if norm > 0 else mean

    def layer(self, index: int) -> LayerStats:
        """The summary of layer `index`.

        Raises:
            KeyError: The layer was not tapped.
        """
        for stats in self.layers:
            if stats.layer == index:
                return stats
        raise KeyError(f"layer {index} was not tapped")

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat named arrays for an `.npz` file (`from_arrays` reads them back)."""
        arrays: dict[str, np.ndarray] = {
            "head": self.head.astype(np.float32),
            "pixels": self.pixels.astype(np.float32),
            "strides": np.asarray([[stats.layer, stats.stride] for stats in self.layers], dtype=np.int32),
        }
        for stats in self.layers:
            arrays[f"mean_{stats.layer}"] = stats.mean.astype(np.float32)
            arrays[f"std_{stats.layer}"] = stats.std.astype(np.float32)
            if stats.gram is not None:
                arrays[f"gram_{stats.layer}"] = stats.gram.astype(np.float32)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Any) -> Embedding:
        """An embedding from `to_arrays`' named arrays (a dict or a loaded `.npz`)."""
        strides = {int(layer): int(stride) for layer, stride in np.asarray(arrays["strides"])}
        return cls(
            layers=tuple(
                LayerStats(
                    layer=index,
                    stride=strides[index],
                    mean=np.asarray(arrays[f"mean_{index}"]),
                    std=np.asarray(arrays[f"std_{index}"]),
                    gram=np.asarray(arrays[f"gram_{index}"]) if f"gram_{index}" in arrays else None,
                )
                for index in sorted(strides)
            ),
            head=np.asarray(arrays["head"]),
            pixels=np.asarray(arrays["pixels"]),
        )


def deepest_backbone(layers: Sequence[LayerStats]) -> int:
    """Index of the deepest backbone layer among the tapped ones: the last before the neck upsamples again.

    That is the SPPF (YOLOv8) or C2PSA (YOLO11) output, the most abstract summary of the whole picture.
    """
    deepest = layers[0]
    for stats in layers[1:]:
        if stats.stride < deepest.stride:
            break
        deepest = stats
    return deepest.layer


def tap_layers(net: Any) -> tuple[int, ...]:
    """The module indices whose outputs the embedding reads: every feature block of the backbone and the neck.

    Args:
        net: ultralytics' `DetectionModel` (its `.model` is the sequential list of modules).
    """
    modules = list(net.model)
    return tuple(
        index for index, module in enumerate(modules[:-1]) if index >= 2 and type(module).__name__ in _TAPPED_TYPES
    )


def summarize_maps(
    maps: dict[int, np.ndarray],
    head: np.ndarray,
    *,
    input_hw: tuple[int, int],
    image: Image.Image,
    gram: bool = False,
) -> Embedding:
    """Summarise feature maps of one picture over its own area (letterbox bars left out).

    Args:
        maps: Layer index to feature map (C, H, W) for one picture.
        head: The head's raw output for the picture, (4 + classes, anchors), class scores after the sigmoid.
        input_hw: (height, width) of the letterboxed input the model saw.
        image: The picture before letterboxing (its size places the bars; its pixels give `Embedding.pixels`).
        gram: Also compute the Gram-matrix statistics (`LayerStats.gram`; slow, for studies such as bench/ood.py).

    Returns:
        The picture's embedding.
    """
    box = content_box((image.height, image.width), input_hw)
    layers = []
    for index in sorted(maps):
        fmap = np.asarray(maps[index], dtype=np.float32)
        channels, height, width = fmap.shape
        stride_y, stride_x = input_hw[0] / height, input_hw[1] / width
        rows = _cells(box[1], box[3], stride_y, height)
        cols = _cells(box[0], box[2], stride_x, width)
        cells = fmap[:, rows, cols].reshape(channels, -1)
        layers.append(
            LayerStats(
                layer=index,
                stride=round(stride_y),
                mean=cells.mean(axis=1),
                std=cells.std(axis=1),
                gram=_gram_row_sums(cells) if gram else None,
            )
        )
    return Embedding(layers=tuple(layers), head=head_stats(head), pixels=texture_stats(image))


def _cells(start: float, stop: float, stride: float, count: int) -> slice:
    """The feature cells whose centres lie in [start, stop) pixels (at least one cell)."""
    first = max(0, min(count - 1, math.ceil(start / stride - 0.5)))
    last = max(first + 1, min(count, math.ceil(stop / stride - 0.5)))
    return slice(first, last)


def _gram_row_sums(cells: np.ndarray) -> np.ndarray:
    """Row sums of the Gram matrices of orders 1..GRAM_ORDERS of (C, N) features, normalised per position.

    Order p: G = (F^p)(F^p)^T / N, then its signed p-th root (Sastry & Oore's normalisation), summed per row.
    """
    positions = max(cells.shape[1], 1)
    sums = np.empty((GRAM_ORDERS, cells.shape[0]), dtype=np.float32)
    powered = np.ones_like(cells, dtype=np.float64)
    base = cells.astype(np.float64)
    for order in range(1, GRAM_ORDERS + 1):
        powered = powered * base
        gram = powered @ powered.T / positions
        rooted = np.sign(gram) * np.abs(gram) ** (1.0 / order)
        sums[order - 1] = rooted.sum(axis=1)
    return sums


def head_stats(head: np.ndarray) -> np.ndarray:
    """The head's output statistics (`HEAD_STATS`) from its raw output (4 + classes, anchors)."""
    scores = np.asarray(head, dtype=np.float64)[4:]
    if scores.size == 0:
        return np.zeros(len(HEAD_STATS), dtype=np.float32)
    best = scores.max(axis=0)
    top = np.sort(best)[-10:]
    at_best = scores[:, int(best.argmax())]
    shares = at_best / max(float(at_best.sum()), 1e-12)
    entropy = float(-(shares * np.log(np.clip(shares, 1e-12, 1.0))).sum() / math.log(max(len(shares), 2)))
    return np.asarray([best.max(), top.mean(), entropy], dtype=np.float32)


class LayerTap:
    """Forward hooks that keep the outputs of the tapped layers and the head of a torch YOLO model.

    Use as a context manager around one forward pass (or one ultralytics `predict` call); the hooks are removed
    on exit. `maps` then holds layer index to a (batch, C, H, W) array, `head` the head's (batch, 4 + nc, anchors)
    output and `input_hw` the letterboxed input's (height, width).
    """

    def __init__(self, net: Any, layers: Iterable[int] | None = None) -> None:
        self._net = net
        self.layers = tuple(layers) if layers is not None else tap_layers(net)
        self._handles: list[Any] = []
        self.maps: dict[int, np.ndarray] = {}
        self.head: np.ndarray | None = None
        self.input_hw: tuple[int, int] = (0, 0)

    def __enter__(self) -> LayerTap:
        modules = list(self._net.model)
        for index in self.layers:
            self._handles.append(modules[index].register_forward_hook(self._keeper(index)))
        self._handles.append(modules[-1].register_forward_hook(self._keep_head))
        self._handles.append(modules[0].register_forward_pre_hook(self._keep_input))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _keeper(self, index: int) -> Callable[..., None]:
        def keep(_module: Any, _inputs: Any, output: Any) -> None:
            self.maps[index] = output.detach().float().cpu().numpy()

        return keep

    def _keep_head(self, _module: Any, _inputs: Any, output: Any) -> None:
        raw = output[0] if isinstance(output, (list, tuple)) else output
        self.head = raw.detach().float().cpu().numpy()

    def _keep_input(self, _module: Any, inputs: Any) -> None:
        shape = inputs[0].shape
        self.input_hw = (int(shape[-2]), int(shape[-1]))

    def embeddings(self, images: Sequence[Image.Image], *, gram: bool = False) -> list[Embedding]:
        """One embedding per picture of the last forward pass.

        Args:
            images: The pictures before letterboxing, in batch order.
            gram: Also compute the Gram-matrix statistics.
        """
        if self.head is None:
            raise RuntimeError("no forward pass ran inside the tap")
        return [
            summarize_maps(
                {index: fmap[i] for index, fmap in self.maps.items()},
                self.head[i],
                input_hw=self.input_hw,
                image=image,
                gram=gram,
            )
            for i, image in enumerate(images)
        ]


def torch_device(device: str) -> str:
    """A torch device name from ultralytics' spelling: "0" or "0,1" -> "cuda:0"; "cpu", "mps", "cuda:1" unchanged."""
    text = str(device).strip().lower()
    first = text.split(",", maxsplit=1)[0]
    return f"cuda:{first}" if first.isdigit() else text


def embed_images(
    net: Any,
    images: Iterable[Image.Image],
    *,
    imgsz: int,
    batch: int = 8,
    device: str = "cpu",
    gram: bool = False,
) -> list[Embedding]:
    """Embeddings of pictures through a torch YOLO model, letterboxed to a square as the ONNX export sees them.

    Args:
        net: ultralytics' `DetectionModel` (e.g. `YOLO(weights).model`), in eval mode.
        images: RGB pictures.
        imgsz: Square input size (the training size).
        batch: Pictures per forward pass.
        device: Torch device.
        gram: Also compute the Gram-matrix statistics (slow).

    Returns:
        One embedding per picture, in order.
    """
    import torch

    device = torch_device(device)
    net = net.to(device).eval()
    dtype = next(net.parameters()).dtype
    out: list[Embedding] = []
    chunk: list[Image.Image] = []

    def flush() -> None:
        blobs = [letterbox(np.asarray(img.convert("RGB")), imgsz)[0] for img in chunk]
        tensor = torch.from_numpy(np.concatenate(blobs)).to(device=device, dtype=dtype)
        with torch.inference_mode(), LayerTap(net) as tap:
            net(tensor)
        out.extend(tap.embeddings(chunk, gram=gram))
        chunk.clear()

    for image in images:
        chunk.append(image)
        if len(chunk) >= batch:
            flush()
    if chunk:
        flush()
    return out


def add_embedding_outputs(
    path: Any, layers: Sequence[int], *, metadata: dict[str, str] | None = None
) -> tuple[int, ...]:
    """Add the tapped layers' feature maps to an ultralytics ONNX export as extra graph outputs, in place.

    The detection output stays the first output (`output0`), so every reader of the detections (ours and
    ultralytics' own ONNX backend) parses it as before; `embed_map_<layer>` outputs follow. Each module's output
    tensor is found by ultralytics' node naming (`/model.<index>/...`): the tensor a module's nodes produce that a
    node outside the module reads.

    Args:
        path: The `.onnx` file.
        layers: Module indices to expose (`tap_layers` of the torch model).
        metadata: Extra metadata entries to record (e.g. `WEIGHTS_SHA256_KEY`).

    Returns:
        The layers exposed (all of `layers`; a layer the graph does not name is skipped with no output).
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    producer_module = {out: _module_of(node.name) for node in graph.node for out in node.output}
    leaving: dict[int, str] = {}
    for node in graph.node:
        reader = _module_of(node.name)
        for tensor in node.input:
            source = producer_module.get(tensor)
            if source is not None and source != reader and source in layers:
                leaving.setdefault(source, tensor)
    shapes = {
        info.name: [dim.dim_value or dim.dim_param for dim in info.type.tensor_type.shape.dim]
        for info in onnx.shape_inference.infer_shapes(model).graph.value_info
    }
    exposed = []
    for index in layers:
        tensor = leaving.get(index)
        if tensor is None:
            continue
        name = f"{MAP_PREFIX}{index}"
        graph.node.append(onnx.helper.make_node("Identity", [tensor], [name], name=f"/embed/{index}"))
        shape = shapes.get(tensor) or ["batch", f"channels_{index}", f"height_{index}", f"width_{index}"]
        graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape))
        exposed.append(index)
    for key, value in (metadata or {}).items():
        entry = next((prop for prop in model.metadata_props if prop.key == key), None) or model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return tuple(exposed)


def _module_of(node_name: str) -> int | None:
    """The module index in an ultralytics node name (`/model.9/cv2/act/Mul` -> 9), else None."""
    parts = node_name.split("/")
    if len(parts) > 1 and parts[1].startswith("model."):
        tail = parts[1].removeprefix("model.")
        return int(tail) if tail.isdigit() else None
    return None
