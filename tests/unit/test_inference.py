"""The detector on real ultralytics models (.pt and exported .onnx), drawing, and the `jobs.detect` CLI.

Models are built in about a second without downloads or training (tests/utils/tiny_data.py): a "grid" model whose
head reports a known grid of boxes (so the mapping back to original pixels is checked exactly), and a randomly
initialised one (so .pt and .onnx are compared on real, input-dependent outputs).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.core.errors import BadInputError, NotFoundError
from backend.core.vocab import color_for
from backend.imaging.drawing import draw_detections, text_color
from backend.serving.inference import Detection, Detector
from backend.training.export import export_onnx
from backend.training.yolo import ultralytics_yolo
from jobs import detect as detect_cli
from tests.utils import images as build
from tests.utils.tiny_data import TINY_CLASSES, expected_grid_boxes, save_grid_detector, save_untrained_detector

pytestmark = pytest.mark.training  # the module's models are exported to ONNX

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TinyModels:
    root: Path
    grid_pt: Path
    grid_onnx: Path
    random_pt: Path
    random_onnx: Path


@pytest.fixture(scope="module", name="models")
def fixture_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyModels]:
    """Tiny checkpoints and their ONNX exports (imgsz 64), built once for this file."""
    root = tmp_path_factory.mktemp("models")
    grid_pt = save_grid_detector(root / "grid" / "best.pt", imgsz=64)
    random_pt = save_untrained_detector(root / "random" / "best.pt", imgsz=64)
    yield TinyModels(
        root=root,
        grid_pt=grid_pt,
        grid_onnx=export_onnx(grid_pt, imgsz=64, out=root / "exported" / "grid.onnx"),
        random_pt=random_pt,
        random_onnx=export_onnx(random_pt, imgsz=64),
    )


@pytest.fixture(scope="module", name="grid_pt")
def fixture_grid_pt(models: TinyModels) -> Detector:
    return Detector.load(models.grid_pt)


@pytest.fixture(scope="module", name="grid_onnx")
def fixture_grid_onnx(models: TinyModels) -> Detector:
    return Detector.load(models.grid_onnx)


def _boxes(detections: list[Detection]) -> np.ndarray:
    return np.array(sorted(det.box for det in detections), dtype=float)


def test_offline_guards_are_on() -> None:
    ultralytics_yolo()
    from ultralytics.utils import checks

    assert checks.AUTOINSTALL is False
    assert Image.open.__module__ == "PIL.Image"  # ultralytics' HEIF-installing wrapper is undone


def test_export_writes_requested_path(models: TinyModels) -> None:
    assert models.grid_onnx == models.root / "exported" / "grid.onnx"
    assert models.grid_onnx.is_file()
    assert models.random_onnx == models.random_pt.with_suffix(".onnx")
    with pytest.raises(BadInputError, match=r"\.pt"):
        export_onnx(models.grid_onnx)


def test_load_properties(grid_pt: Detector, grid_onnx: Detector, models: TinyModels) -> None:
    assert grid_pt.names == list(TINY_CLASSES) == grid_onnx.names
    assert (grid_pt.kind, grid_onnx.kind) == ("pt", "onnx")
    assert grid_pt.imgsz == grid_onnx.imgsz == 64
    assert grid_pt.source == models.grid_pt


def test_pt_boxes_are_in_original_pixels_for_a_non_square_image(grid_pt: Detector) -> None:
    image = Image.new("RGB", (320, 160), (90, 90, 90))
    [result] = grid_pt.predict([image])
    assert (result.width, result.height) == (320, 160)
    # A .pt model letterboxes to the minimal stride multiple: 320×160 → 64×32, scale 0.2, no padding.
    expected = expected_grid_boxes(320, 160, input_w=64, input_h=32)
    assert len(result.detections) == len(expected) == 42
    np.testing.assert_allclose(_boxes(result.detections), np.array(expected), atol=0.11)
    assert {det.class_name for det in result.detections} == {"banana"}
    assert {det.class_id for det in result.detections} == {1}
    assert all(det.confidence == pytest.approx(0.9997, abs=1e-4) for det in result.detections)
    assert result.latency_ms > 0


def test_onnx_boxes_are_in_original_pixels_with_letterbox_padding(grid_onnx: Detector) -> None:
    image = Image.new("RGB", (160, 320), (90, 90, 90))  # portrait: padded left and right in the 64×64 input
    [result] = grid_onnx.predict([image])
    expected = expected_grid_boxes(160, 320, input_w=64, input_h=64)
    np.testing.assert_allclose(_boxes(result.detections), np.array(expected), atol=0.11)
    assert all(det.box[2] > det.box[0] and det.box[3] > det.box[1] for det in result.detections)


def test_onnx_ignores_other_imgsz(grid_onnx: Detector) -> None:
    image = Image.new("RGB", (128, 128))
    [at_default] = grid_onnx.predict([image])
    [asked_more] = grid_onnx.predict([image], imgsz=320)
    np.testing.assert_allclose(_boxes(at_default.detections), _boxes(asked_more.detections))


def test_pt_and_onnx_agree(models: TinyModels, grid_pt: Detector, grid_onnx: Detector) -> None:
    square = Image.new("RGB", (200, 200), (30, 140, 60))
    [a], [b] = grid_pt.predict([square]), grid_onnx.predict([square])
    np.testing.assert_allclose(_boxes(a.detections), _boxes(b.detections), atol=0.2)

    # A random model's outputs depend on the pixels: compare the strongest detections.
    noise = build.noise_image((192, 192), seed=3)
    pt_det = Detector.load(models.random_pt).predict([noise], conf=0.0005)[0].detections
    onnx_det = Detector.load(models.random_onnx).predict([noise], conf=0.0005)[0].detections
    assert pt_det and onnx_det
    top = min(5, len(pt_det), len(onnx_det))
    assert [d.confidence for d in pt_det[:top]] == pytest.approx([d.confidence for d in onnx_det[:top]], abs=2e-4)
    np.testing.assert_allclose([d.box for d in pt_det[:top]], [d.box for d in onnx_det[:top]], atol=1.0)


def test_predict_many_images_thresholds_and_bad_values(grid_pt: Detector) -> None:
    images = [Image.new("RGB", (64, 64)), Image.new("RGB", (100, 40)), Image.new("RGB", (40, 100))]
    results = grid_pt.predict(images, conf=0.5, iou=0.45)
    assert [(r.width, r.height) for r in results] == [(64, 64), (100, 40), (40, 100)]
    assert all(r.detections and r.latency_ms > 0 for r in results)
    for result in results:
        for det in result.detections:
            x1, y1, x2, y2 = det.box
            assert 0 <= x1 < x2 <= result.width and 0 <= y1 < y2 <= result.height
            assert all(round(v, 1) == v for v in det.box)
    assert grid_pt.predict(images[:1], conf=0.99999)[0].detections == []
    with pytest.raises(BadInputError, match="between 0 and 1"):
        grid_pt.predict(images[:1], conf=1.5)


def test_load_refusals(models: TinyModels, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="outside"):
        Detector.load(models.grid_pt, allowed_root=tmp_path)
    assert Detector.load(models.grid_pt, allowed_root=models.root).kind == "pt"
    with pytest.raises(NotFoundError):
        Detector.load(tmp_path / "nothing.pt")
    other = tmp_path / "weights.h5"
    other.write_bytes(b"x")
    with pytest.raises(BadInputError, match=r"\.pt or \.onnx"):
        Detector.load(other)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(models.grid_onnx.read_bytes()[:4000])
    with pytest.raises(BadInputError, match="could not be loaded"):
        Detector.load(broken)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(BadInputError, match="could not be loaded"):
        Detector.load(text)


def test_draw_detections_colours_labels_and_leaves_input_alone() -> None:
    image = Image.new("RGB", (200, 120), (255, 255, 255))
    before = image.tobytes()
    detections = [
        Detection(class_name="broccoli", class_id=3, confidence=0.87, box=(50.0, 40.0, 150.0, 110.0)),
        Detection(class_name="banana", class_id=1, confidence=0.5, box=(0.0, 0.0, 60.0, 30.0)),
    ]
    drawn = draw_detections(image, detections, line_width=3)
    assert image.tobytes() == before
    assert drawn.size == image.size and drawn.mode == "RGB"
    green = tuple(int(color_for("broccoli")[i : i + 2], 16) for i in (1, 3, 5))
    assert drawn.getpixel((51, 80)) == green  # left edge
    assert drawn.getpixel((100, 108)) == green  # bottom edge
    assert drawn.getpixel((100, 80)) == (255, 255, 255)  # inside stays clear
    # The label tag sits above the box, filled with the class colour and holding text of another colour.
    tag = np.asarray(drawn.crop((51, 20, 120, 39)))
    colours = {tuple(px) for px in tag.reshape(-1, 3)}
    assert green in colours and len(colours) > 2
    # A box touching the top gets its label inside, so nothing is drawn off-canvas.
    yellow = tuple(int(color_for("banana")[i : i + 2], 16) for i in (1, 3, 5))
    assert drawn.getpixel((2, 2)) == yellow


def test_draw_detections_writes_the_labels_given_instead_of_scores() -> None:
    image = Image.new("RGB", (300, 120), (255, 255, 255))
    detection = Detection(class_name="broccoli", class_id=3, confidence=0.87, box=(10.0, 40.0, 150.0, 110.0))
    scored = draw_detections(image, [detection], line_width=3)
    worded = draw_detections(image, [detection], line_width=3, labels=["broccoli: very likely"])
    green = tuple(int(color_for("broccoli")[i : i + 2], 16) for i in (1, 3, 5))

    def tag_width(drawn: Image.Image) -> int:
        row = np.asarray(drawn)[30]  # through the tag above the box
        return int(np.all(row == green, axis=1).sum() + np.any(row != (255, 255, 255), axis=1).sum())

    assert tag_width(worded) > tag_width(scored), "the longer words make a wider tag than 'broccoli 0.87'"
    assert worded.getpixel((11, 80)) == scored.getpixel((11, 80)) == green  # same box


def test_label_text_contrasts_with_its_tag() -> None:
    assert text_color((230, 194, 41)) == (0, 0, 0)  # yellow tag → black text
    assert text_color((140, 28, 19)) == (255, 255, 255)  # dark red tag → white text
    assert text_color((255, 255, 255)) == (0, 0, 0)


def test_cli_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jobs.detect", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert "--weights" in result.stdout and "--json" in result.stdout and "Exit status" in result.stdout


def test_cli_json_lines(models: TinyModels, tmp_path: Path) -> None:
    good = tmp_path / "plate.jpg"
    good.write_bytes(build.solid_jpeg((320, 160)))
    rotated = tmp_path / "sideways.jpg"
    rotated.write_bytes(build.exif_rotated_jpeg((120, 60), orientation=6))
    bad = tmp_path / "menu.txt"
    bad.write_bytes(build.non_image_bytes())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.detect",
            "--weights",
            str(models.grid_onnx),
            "--conf",
            "0.5",
            "--json",
            str(good),
            str(bad),
            str(rotated),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr  # one image failed
    lines = result.stdout.splitlines()
    assert len(lines) == 3  # nothing but JSON lines on stdout (ultralytics' own log lines go to stderr)
    records = [json.loads(line) for line in lines]
    assert [r["image"] for r in records] == [str(good), str(bad), str(rotated)]
    ok = records[0]
    assert set(ok) == {"image", "familiar", "familiarity", "detections", "latency_ms"}
    # the grid model has no familiarity reference and no known dataset: every picture stays familiar, unscored
    assert ok["familiar"] is True and ok["familiarity"] is None
    assert isinstance(ok["latency_ms"], float) and ok["latency_ms"] > 0
    assert ok["detections"]
    for det in ok["detections"]:
        assert set(det) == {"class", "confidence", "box"}
        assert det["class"] == "banana" and 0.5 <= det["confidence"] <= 1
        x1, y1, x2, y2 = det["box"]
        assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 160
    assert "JPEG, PNG, WebP or BMP" in records[1]["error"] and records[1]["detections"] == []
    assert max(d["box"][3] for d in records[2]["detections"]) == 120  # upright: 60 wide, 120 tall
    assert "1 failed" in result.stderr.splitlines()[-1]


def test_cli_table_and_bad_weights(models: TinyModels, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "plate.png"
    image.write_bytes(build.noise_png((80, 60)))
    assert detect_cli.main(["--weights", str(models.grid_pt), "--conf", "0.9", str(image)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("image") and "banana" in out[1]
    assert out[-1].startswith("Detected ") and "on 1 of 1 images" in out[-1]

    assert detect_cli.main(["--weights", str(tmp_path / "none.pt"), str(image)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().startswith("error: Model weights not found")
    assert len(captured.err.strip().splitlines()) == 1 and captured.out == ""


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--conf", "1.5", "error: Confidence (conf) must be a number between 0 and 1 (got 1.5)."),
        ("--iou", "-0.2", "error: IoU (iou) must be a number between 0 and 1 (got -0.2)."),
        ("--conf", "nan", "error: Confidence (conf) must be a number between 0 and 1 (got nan)."),
    ],
)
def test_cli_refuses_thresholds_outside_0_and_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    image = tmp_path / "plate.png"
    image.write_bytes(build.noise_png((80, 60)))
    # the weights need not exist: the thresholds are refused before any model is loaded
    assert detect_cli.main(["--weights", str(tmp_path / "none.pt"), flag, value, "--json", str(image)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == message and captured.out == ""
