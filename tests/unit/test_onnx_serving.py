"""ONNX serving parity: onnxruntime with numpy letterbox and NMS (`backend.serving.onnx_runtime`) gives the boxes
and confidences of the PyTorch model (ultralytics `predict`) on demo images, within a stated tolerance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.core.errors import BadInputError
from backend.serving.inference import Detection, Detector
from backend.serving.onnx_runtime import nms
from backend.training.export import export_onnx
from tests.utils.tiny_data import save_grid_detector, save_untrained_detector

pytestmark = pytest.mark.training  # the module's models are exported to ONNX

BOX_TOLERANCE_PX = 1.0  # corners, in original-image pixels
CONF_TOLERANCE = 0.002


@pytest.fixture(scope="module", name="demo_images")
def fixture_demo_images(tmp_path_factory: pytest.TempPathFactory) -> list[Image.Image]:
    """Four pictures of the procedural demo food set (non-square, various sizes)."""
    from backend.data.demo import generate_demo_dataset

    out = tmp_path_factory.mktemp("onnx_demo")
    generate_demo_dataset(out, images=4, seed=5, workers=1)
    return [Image.open(p).convert("RGB") for p in sorted((out / "images").glob("*.jpg"))]


@pytest.fixture(scope="module", name="pairs")
def fixture_pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Detector, Detector]]:
    """(PyTorch, ONNX) detectors: the grid detector at 64 px and an untrained one at 128 px."""
    root = tmp_path_factory.mktemp("onnx_models")
    grid = save_grid_detector(root / "grid.pt", imgsz=64)
    untrained = save_untrained_detector(root / "untrained.pt", imgsz=128, seed=3)
    return {
        name: (Detector.load(pt), Detector.load(export_onnx(pt, imgsz=size, out=root / f"{name}.onnx")))
        for name, pt, size in (("grid", grid, 64), ("untrained", untrained, 128))
    }


def _close(a: Detection, b: Detection) -> bool:
    return (
        a.class_name == b.class_name
        and abs(a.confidence - b.confidence) <= CONF_TOLERANCE
        and max(abs(x - y) for x, y in zip(a.box, b.box, strict=True)) <= BOX_TOLERANCE_PX
    )


def _assert_same(reference: list[Detection], onnx: list[Detection], *, conf: float) -> None:
    """Every detection clearly above `conf` on either side has a counterpart on the other side."""
    for ours, theirs in ((reference, onnx), (onnx, reference)):
        for det in ours:
            if det.confidence >= conf + CONF_TOLERANCE:
                assert any(_close(det, other) for other in theirs), (det, theirs[:5])


@pytest.mark.parametrize(("name", "conf"), [("grid", 0.25), ("untrained", 0.001)])
def test_onnx_matches_pytorch_on_demo_images(
    pairs: dict[str, tuple[Detector, Detector]], demo_images: list[Image.Image], name: str, conf: float
) -> None:
    torch_model, onnx_model = pairs[name]
    assert onnx_model.kind == "onnx" and onnx_model.names == torch_model.names
    assert onnx_model.imgsz == torch_model.imgsz
    compared = 0
    for image in demo_images:
        expected = torch_model.predict([image], conf=conf)[0]
        got = onnx_model.predict([image], conf=conf)[0]
        assert (got.width, got.height) == image.size
        _assert_same(expected.detections, got.detections, conf=conf)
        compared += len(expected.detections)
    assert compared > 0, "the models must report boxes for the comparison to mean something"


def test_onnx_boxes_stay_inside_the_image_and_are_sorted(
    pairs: dict[str, tuple[Detector, Detector]], demo_images: list[Image.Image]
) -> None:
    _, onnx_model = pairs["grid"]
    for image in demo_images:
        detections = onnx_model.predict([image], conf=0.25)[0].detections
        assert detections
        scores = [d.confidence for d in detections]
        assert scores == sorted(scores, reverse=True)
        for det in detections:
            x1, y1, x2, y2 = det.box
            assert 0 <= x1 < x2 <= image.width and 0 <= y1 < y2 <= image.height


def test_numpy_nms_keeps_the_best_of_overlapping_boxes_per_class() -> None:
    rows = np.array(
        [
            [50, 50, 20, 20, 0.9, 0.0],  # class 0, best
            [51, 50, 20, 20, 0.8, 0.0],  # overlaps the first (same class): suppressed
            [51, 50, 20, 20, 0.0, 0.7],  # same place, other class: kept
            [150, 150, 20, 20, 0.6, 0.0],  # elsewhere: kept
            [10, 10, 5, 5, 0.1, 0.0],  # under conf
        ],
        dtype=np.float32,
    )
    kept = nms(rows, conf=0.25, iou=0.45)
    assert kept[:, 4].tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert kept[:, 5].tolist() == [0.0, 1.0, 0.0]
    assert kept[0, :4].tolist() == [40, 40, 60, 60]


def test_a_file_that_is_not_onnx_is_refused_plainly(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(BadInputError, match="could not be loaded"):
        Detector.load(bad)
