"""CPU runtimes beyond the float ONNX export: an OpenVINO copy and an int8 (static, calibrated) copy.

- `export_openvino` converts the PlateOps ONNX export (embedding outputs and all) into an OpenVINO folder with
  OpenVINO's runtime reader (`Core.read_model` + `save_model`). It deliberately does not use `openvino.convert_model`
  or ultralytics' OpenVINO export: both go through OpenVINO's model converter, which sends usage telemetry unless a
  consent file says otherwise, and nothing here may reach the network.
- `quantize_int8` writes a statically quantised (QDQ) ONNX copy: weights int8 per channel, activations int8 with
  ranges calibrated on training pictures letterboxed exactly as serving feeds them. onnxruntime runs it as is, and
  OpenVINO reads the QDQ graph into real int8 kernels, so one calibration serves both runtimes. The detection
  head's last operators (box decoding, the class sigmoid and the concatenation of boxes with scores) stay in
  float: quantising a tensor that holds both pixel coordinates (0..640) and probabilities (0..1) with one scale
  wipes the probabilities out.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from backend.core.errors import BadInputError, NotFoundError, PlateOpsError
from backend.imaging.letterbox import letterbox
from backend.imaging.loading import load_image
from backend.training.familiarity import copy_reference

OPENVINO_XML = "model.xml"
OPENVINO_META = "metadata.json"
CALIBRATION_PICTURES = 64  # pictures the int8 ranges are calibrated on (more moved mAP50 by < 0.005 in bench/runtimes)


def onnx_meta(onnx_path: Path) -> dict[str, object]:
    """Class names, input size, stride and the `.pt`'s sha256 from a PlateOps ONNX export's metadata."""
    import ast

    import onnx

    props = {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False).metadata_props}
    raw_names = ast.literal_eval(props.get("names", "{}"))
    names = [str(raw_names[k]) for k in sorted(raw_names)] if isinstance(raw_names, dict) else list(raw_names)
    size = ast.literal_eval(props.get("imgsz", "640"))
    imgsz = int(max(size) if isinstance(size, (list, tuple)) else size)
    return {
        "names": names,
        "imgsz": imgsz,
        "stride": int(props.get("stride", "32")),
        "weights_sha256": props.get("plateops_weights_sha256", ""),
        "int8": props.get("plateops_int8", "") == "true",
    }


def export_openvino(onnx_path: Path, out: Path) -> Path:
    """Convert a PlateOps ONNX export into an OpenVINO folder (`model.xml`, `model.bin`, `metadata.json`).

    Args:
        onnx_path: The `.onnx` export (float or int8 QDQ).
        out: The folder to write; replaced when it exists.

    Returns:
        `out`. The familiarity reference beside the ONNX file is copied into the folder.

    Raises:
        NotFoundError: No such ONNX file.
        BadInputError: OpenVINO cannot read it.
    """
    import openvino as ov

    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise NotFoundError(f"No ONNX export at {onnx_path}; export the model to ONNX first.")
    try:
        model = ov.Core().read_model(str(onnx_path))
    except RuntimeError as exc:
        raise BadInputError(f"OpenVINO cannot read {onnx_path.name}: {str(exc).splitlines()[0][:160]}") from exc
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    ov.save_model(model, str(out / OPENVINO_XML), compress_to_fp16=False)  # fp16 weights gain nothing on a CPU
    (out / OPENVINO_META).write_text(json.dumps(onnx_meta(onnx_path), indent=2), encoding="utf-8")
    copy_reference(onnx_path, out / OPENVINO_XML)
    return out


def _head_float_nodes(onnx_path: Path, *, whole_head: bool) -> list[str]:
    """Names of the detection head's nodes kept in float by int8.

    The decoding after the head's last convolutions always (box distribution, class sigmoid, concatenations); with
    `whole_head`, the head's convolutions too (ultralytics' YOLOv8 head is `model.<last>`, named `/model.N/...`).
    """
    import re

    import onnx

    nodes = onnx.load(str(onnx_path), load_external_data=False).graph.node
    layers = [int(m.group(1)) for node in nodes if (m := re.match(r"/model\.(\d+)/", node.name))]
    if not layers:
        return []
    head = f"/model.{max(layers)}/"
    return [
        node.name
        for node in nodes
        if node.name.startswith(head) and (whole_head or ("/cv2." not in node.name and "/cv3." not in node.name))
    ]


class _Pictures:
    """onnxruntime's calibration reader over letterboxed pictures."""

    def __init__(self, input_name: str, pictures: Iterable[np.ndarray], imgsz: int) -> None:
        self._input = input_name
        self._blobs: Iterator[np.ndarray] = (letterbox(rgb, imgsz)[0] for rgb in pictures)

    def get_next(self) -> dict[str, np.ndarray] | None:
        blob = next(self._blobs, None)
        return None if blob is None else {self._input: blob}


def quantize_int8(
    onnx_path: Path, out: Path, pictures: Iterable[np.ndarray], *, whole_head: bool = False, method: str = "minmax"
) -> Path:
    """Write a statically quantised (QDQ, int8) copy of a PlateOps ONNX export.

    Args:
        onnx_path: The float export.
        out: The `.onnx` file to write.
        pictures: RGB uint8 pictures (H, W, 3) to calibrate activation ranges on: training pictures, never the
            evaluation set (`CALIBRATION_PICTURES` of them is plenty).

    Returns:
        `out`, with the float export's metadata and `plateops_int8 = true`.

    Raises:
        BadInputError: No calibration pictures.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx_path, out = Path(onnx_path), Path(out)
    meta = onnx_meta(onnx_path)
    model = onnx.load(str(onnx_path))
    input_name = model.graph.input[0].name
    items = list(pictures)
    if not items:
        raise BadInputError("int8 needs calibration pictures; the model's training set has none readable.")
    out.parent.mkdir(parents=True, exist_ok=True)
    prepared = out.with_suffix(".pre.onnx")
    try:
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            _Pictures(input_name, items, int(str(meta["imgsz"]))),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile if method == "percentile" else CalibrationMethod.MinMax,
            nodes_to_exclude=_head_float_nodes(prepared, whole_head=whole_head),
        )
    finally:
        prepared.unlink(missing_ok=True)
    quantized = onnx.load(str(out))
    del quantized.metadata_props[:]
    for prop in model.metadata_props:
        quantized.metadata_props.add(key=prop.key, value=prop.value)
    quantized.metadata_props.add(key="plateops_int8", value="true")
    onnx.save(quantized, str(out))
    copy_reference(onnx_path, out)
    return out


def calibration_pictures(weights: Path, *, most: int = CALIBRATION_PICTURES) -> list[np.ndarray]:
    """Training pictures of the dataset `weights` were trained on, for int8 calibration (a seeded sample).

    Raises:
        BadInputError: The weights' dataset is not known (no `RUN/args.yaml`) or has no readable training picture.
    """
    from backend.training.reference import dataset_of, sample_paths, split_images

    data_yaml = dataset_of(weights)
    if data_yaml is None:
        raise BadInputError(
            f"int8 needs the training pictures of {Path(weights).name}, and its run does not say which dataset it "
            "was trained on (no args.yaml beside its weights folder). Export without --int8."
        )
    pictures: list[np.ndarray] = []
    for path in sample_paths(split_images(data_yaml, "train"), most):
        try:
            pictures.append(np.asarray(load_image(path, name=path.name).image.convert("RGB")))
        except PlateOpsError:
            continue  # an unreadable training file: the quality checks report it; calibration uses the others
    if not pictures:
        raise BadInputError(f"No readable training picture in {data_yaml.parent.name} to calibrate int8 on.")
    return pictures


def served_files(path: Path) -> list[Path]:
    """The files a served model consists of: the `.onnx` file, or an OpenVINO folder's `model.xml` and `.bin`."""
    path = Path(path)
    if path.is_dir():
        path = path / OPENVINO_XML
    return [path, path.with_suffix(".bin")] if path.suffix.lower() == ".xml" else [path]


def served_size_mb(path: Path) -> float:
    """Size on disk of a served model, MB."""
    return sum(p.stat().st_size for p in served_files(path) if p.is_file()) / 1e6


def served_sha256(path: Path) -> str:
    """sha256 of a served model: of the file, or of an OpenVINO model's `.xml` and `.bin` together (so a changed
    weights file is noticed, not only a changed graph)."""
    digest = hashlib.sha256()
    for part in served_files(path):
        with part.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()
