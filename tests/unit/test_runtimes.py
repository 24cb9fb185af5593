"""CPU runtimes beyond float ONNX: an OpenVINO export answers as the ONNX export does, int8 copies of both keep a
known detector's boxes, the numpy-served runtimes answer concurrent callers without a lock, and the export and
detect commands take every form."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.core.errors import BadInputError
from backend.serving.inference import Detection, Detector
from backend.training.export import export_onnx
from backend.training.runtimes import export_openvino, onnx_meta, quantize_int8, served_sha256, served_size_mb
from jobs import detect as detect_job
from jobs import export as export_job
from tests.utils.tiny_data import save_grid_detector, save_untrained_detector

BOX_TOLERANCE_PX = 1.0
CONF_TOLERANCE = 0.002


@pytest.fixture(scope="module", name="pictures")
def fixture_pictures(tmp_path_factory: pytest.TempPathFactory) -> list[Image.Image]:
    """Six pictures of the procedural demo food set (non-square, various sizes)."""
    from backend.data.demo import generate_demo_dataset

    out = tmp_path_factory.mktemp("runtime_demo")
    generate_demo_dataset(out, images=6, seed=11, workers=1)
    return [Image.open(p).convert("RGB") for p in sorted((out / "images").glob("*.jpg"))]


@pytest.fixture(scope="module", name="models")
def fixture_models(tmp_path_factory: pytest.TempPathFactory, pictures: list[Image.Image]) -> dict[str, Path]:
    """The grid detector (known boxes) and an untrained one (arbitrary scores) in every served form."""
    root = tmp_path_factory.mktemp("runtime_models")
    out: dict[str, Path] = {}
    calibration = [np.asarray(p) for p in pictures]
    for name, pt, size in (
        ("grid", save_grid_detector(root / "grid.pt", imgsz=64), 64),
        ("untrained", save_untrained_detector(root / "untrained.pt", imgsz=128, seed=3), 128),
    ):
        onnx = export_onnx(pt, imgsz=size, out=root / f"{name}.onnx")
        int8 = quantize_int8(onnx, root / f"{name}.int8.onnx", calibration)
        out |= {
            f"{name}/onnx": onnx,
            f"{name}/openvino": export_openvino(onnx, root / f"{name}_openvino"),
            f"{name}/onnx-int8": int8,
            f"{name}/openvino-int8": export_openvino(int8, root / f"{name}_int8_openvino"),
        }
    return out


def _close(a: Detection, b: Detection, *, box_px: float = BOX_TOLERANCE_PX, conf: float = CONF_TOLERANCE) -> bool:
    return (
        a.class_name == b.class_name
        and abs(a.confidence - b.confidence) <= conf
        and max(abs(x - y) for x, y in zip(a.box, b.box, strict=True)) <= box_px
    )


@pytest.mark.parametrize("name", ["grid", "untrained"])
def test_openvino_answers_as_the_onnx_export(models: dict[str, Path], pictures: list[Image.Image], name: str) -> None:
    onnx, openvino = Detector.load(models[f"{name}/onnx"]), Detector.load(models[f"{name}/openvino"])
    assert openvino.kind == "openvino" and openvino.names == onnx.names and openvino.imgsz == onnx.imgsz
    conf = 0.25 if name == "grid" else 0.001
    compared = 0
    for picture in pictures:
        expected = onnx.predict([picture], conf=conf)[0].detections
        got = openvino.predict([picture], conf=conf)[0].detections
        for ours, theirs in ((expected, got), (got, expected)):
            for det in ours:
                if det.confidence >= conf + CONF_TOLERANCE:
                    assert any(_close(det, other) for other in theirs), (det, theirs[:5])
        compared += len(expected)
    assert compared > 0, "the models must report boxes for the comparison to mean something"


@pytest.mark.parametrize("form", ["onnx-int8", "openvino-int8"])
def test_int8_keeps_the_known_grid_and_is_smaller(
    models: dict[str, Path], pictures: list[Image.Image], form: str
) -> None:
    """The grid detector's boxes do not depend on the picture: int8 must keep every one of them."""
    float_model, int8_model = Detector.load(models["grid/onnx"]), Detector.load(models[f"grid/{form}"])
    assert onnx_meta(models["grid/onnx-int8"])["int8"] is True
    assert served_size_mb(models[f"grid/{form}"]) < 0.5 * served_size_mb(models["grid/onnx"])
    for picture in pictures[:3]:
        expected = float_model.predict([picture], conf=0.25)[0].detections
        got = int8_model.predict([picture], conf=0.25)[0].detections
        assert len(got) == len(expected) > 0
        for det in expected:
            assert any(_close(det, other, box_px=2.0, conf=0.01) for other in got), det


@pytest.mark.parametrize("form", ["onnx", "openvino"])
def test_concurrent_callers_get_the_answers_of_serial_calls(
    models: dict[str, Path], pictures: list[Image.Image], form: str
) -> None:
    detector = Detector.load(models[f"untrained/{form}"])
    serial = [detector.predict([p], conf=0.001)[0].detections for p in pictures]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda p: detector.predict([p], conf=0.001)[0].detections, pictures * 3))
    assert concurrent == serial * 3


def test_served_sha256_covers_an_openvino_models_weights(models: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(models["grid/openvino"], tmp_path / "copy"))
    before = served_sha256(copy)
    data = bytearray((copy / "model.bin").read_bytes())
    data[-1] ^= 0xFF  # one changed weight byte, the graph untouched
    (copy / "model.bin").write_bytes(bytes(data))
    assert served_sha256(copy) != before


def test_export_and_detect_commands_take_every_form(
    models: dict[str, Path], pictures: list[Image.Image], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pt = models["grid/onnx"].with_suffix(".pt")
    folder = tmp_path / "served_openvino"
    assert export_job.main(["--weights", str(pt), "--out", str(folder), "--format", "openvino"]) == 0
    assert (folder / "model.xml").is_file() and (folder / "metadata.json").is_file()
    picture = tmp_path / "plate.jpg"
    pictures[0].save(picture)
    capsys.readouterr()
    for weights in (folder, models["grid/onnx-int8"], models["grid/onnx"]):
        assert detect_job.main(["--weights", str(weights), "--json", str(picture)]) == 0
        line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert line["image"] == str(picture) and line["detections"] and line["latency_ms"] > 0


def test_int8_without_a_known_dataset_is_refused_in_one_line(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pt = models["grid/onnx"].with_suffix(".pt")  # saved by hand: no run folder, no args.yaml
    assert export_job.main(["--weights", str(pt), "--out", str(tmp_path / "m.onnx"), "--int8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Export without --int8" in err[0]


def test_a_folder_that_is_not_a_model_is_refused_plainly(tmp_path: Path) -> None:
    (tmp_path / "model.xml").write_text("<net/>", encoding="utf-8")
    with pytest.raises(BadInputError, match="could not be loaded"):
        Detector.load(tmp_path)


def test_the_runtime_choice_serves_the_fastest_that_keeps_map50(
    models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every runtime is measured on the evaluation set; one that loses more mAP50 than the tolerance never serves,
    and the choice with every candidate's figures is written beside the export."""
    from backend.registry import runtime_choice
    from backend.training.matching import load_eval_images
    from tests.utils.gate_models import make_grid_dataset

    images = load_eval_images(make_grid_dataset(tmp_path / "data", val=6))
    pt = models["grid/onnx"].with_suffix(".pt")
    onnx = export_onnx(pt, imgsz=64, out=tmp_path / "served" / "grid.onnx")
    pictures = [np.asarray(Image.open(p).convert("RGB")) for p in images.images]
    monkeypatch.setattr(runtime_choice, "calibration_pictures", lambda _weights: pictures)
    measured = runtime_choice.score_map50  # the real measurement, made worse for int8 below

    def worse_int8(detector: Detector, evaluation: object) -> float:
        value = measured(detector, evaluation)  # type: ignore[arg-type]
        return value - 0.5 if "int8" in str(detector.source) else value

    monkeypatch.setattr(runtime_choice, "score_map50", worse_int8)
    choice = runtime_choice.choose_runtime(pt, onnx, images, basis="eval set 'grid' (6 images)")
    names = {c.name for c in choice.candidates}
    assert names == {"onnxruntime", "openvino", "onnxruntime int8", "openvino int8"}
    assert choice.served in {"onnxruntime", "openvino"}, "an int8 copy that loses mAP50 never serves"
    served = next(c for c in choice.candidates if c.name == choice.served)
    float_ones = [c for c in choice.candidates if "int8" not in c.name]
    assert served.ms == min(c.ms for c in float_ones), "the fastest of those that keep mAP50"
    assert served.map50 >= choice.pytorch.map50 - 0.01
    assert Detector.load(Path(choice.path)).names == Detector.load(pt).names
    written = json.loads((onnx.parent / "runtime.json").read_text(encoding="utf-8"))
    assert written["served"] == choice.served and len(written["candidates"]) == 4
    assert "PyTorch's time per picture" in choice.summary() and "eval set 'grid'" in choice.summary()


@pytest.mark.parametrize("form", ["grid/openvino", "grid/openvino-int8"])
def test_an_exported_runtime_is_calibrated_on_its_own_answers(
    models: dict[str, Path], tmp_path: Path, form: str
) -> None:
    """The serving step scores the held-out split through its own detector: ultralytics cannot open an OpenVINO
    folder's model.xml (a promotion that chose OpenVINO once left Detect with an error), and an int8 copy is
    calibrated on its own scores."""
    from backend.serving.certainty import held_out_model
    from backend.training.held_out import calibrate_weights, score_split
    from tests.utils.gate_models import make_grid_dataset

    data_yaml = make_grid_dataset(tmp_path / "data", val=6)
    served = models[form] / "model.xml"  # what a registered OpenVINO model's weights name
    runner = held_out_model(Detector.load(served))
    ours, size = score_split(served, data_yaml, min_score=0.05, model=runner)
    pytorch, _ = score_split(models["grid/onnx"].with_suffix(".pt"), data_yaml, min_score=0.05, imgsz=64, device="cpu")
    assert size == 64 and ours.classes == pytorch.classes == ("apple", "banana", "broccoli")
    assert ours.images == pytorch.images == 6 and ours.true_boxes == pytorch.true_boxes
    assert int(ours.correct.sum()) > 0, "the grid detector finds boxes of the grid dataset"
    assert abs(int(ours.correct.sum()) - int(pytorch.correct.sum())) <= 1, "the same boxes found right"
    calibration = calibrate_weights(served, data_yaml, out=tmp_path / "calibration.json", model=runner)
    assert calibration.detections == len(ours.scores) and calibration.imgsz == 64
    assert (tmp_path / "calibration.json").is_file()
