"""The familiarity check end to end on a real (tiny) ultralytics model: jobs.detect on `.pt` and on the exported
ONNX, the prediction step's answer, and the export's embedding outputs.

The model is the grid detector of tests/utils (it reports bananas everywhere, whatever the picture), so an empty
`detections` list can only come from the familiarity check. Its reference is fitted on first use (in the fixture)
from a small demo dataset named by the run's `args.yaml`, as for a model trained before the check existed; the ONNX
export beside it (`best.onnx`, as the registry writes it) shares the reference by its stem.

The non-food picture is scikit-image's `page` (a photographed book page): with a 23-picture reference and an
untrained backbone, only photos as plainly unlike the demo plates as this are refused (bench/ood.py measures the
real rates on a trained model). The familiar one is a new demo picture (another seed than the dataset's). Both
verdicts are far from the threshold (checked below), so the test is deterministic, not lucky.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import jobs.detect as detect_cli
from backend.core.settings import get_settings
from backend.imaging.loading import load_image
from backend.serving.familiarity import familiarity_check
from backend.serving.inference import Detector
from backend.serving.prediction import predict_picture
from backend.serving.served_model import ServingModel
from backend.training.embeddings import MAP_PREFIX, tap_layers
from backend.training.export import export_onnx
from backend.training.familiarity import FamiliarityModel, reference_path
from tests.utils.tiny_data import save_grid_detector
from tests.utils.tiny_yolo import isolate_ml_env


@dataclass(frozen=True)
class Setup:
    weights: Path
    onnx: Path
    photo: Path
    demo: Path


@pytest.fixture(scope="module", name="setup")
def fixture_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A grid detector in a run folder whose args.yaml names a 32-picture demo dataset; a photo; a new demo picture."""
    from skimage import data

    from backend.data.demo import generate_demo_dataset
    from backend.data.formats.convert import prepare_coco

    root = tmp_path_factory.mktemp("familiar")
    with pytest.MonkeyPatch.context() as patch:
        isolate_ml_env(patch, root)
        raw = root / "raw"
        generate_demo_dataset(raw, images=32, seed=11, workers=1)
        prepared = root / "prepared"
        prepare_coco(raw / "annotations.json", raw / "images", prepared, val_fraction=0.25, seed=0)
        weights = save_grid_detector(root / "run" / "weights" / "best.pt", imgsz=64)
        (root / "run" / "args.yaml").write_text(yaml.safe_dump({"data": str(prepared / "data.yaml"), "imgsz": 64}))
        new = root / "new"
        generate_demo_dataset(new, images=2, seed=12, workers=1)
        photo = root / "page.png"
        Image.fromarray(data.page()).save(photo)
        onnx = export_onnx(weights, imgsz=64, out=weights.with_suffix(".onnx"))
        familiarity_check(Detector.load(weights))  # first use: fits the reference and saves it beside best.pt
        yield Setup(weights=weights, onnx=onnx, photo=photo, demo=new / "images" / "demo_000000.jpg")
    get_settings.cache_clear()


def _detect(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    assert detect_cli.main(args) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_detect_refuses_a_photo_and_keeps_a_demo_picture_pt_then_onnx(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    images = [str(setup.photo), str(setup.demo)]
    photo, demo = _detect(["--weights", str(setup.weights), "--json", *images], capsys)
    # first use fitted the reference from the dataset in args.yaml and saved it beside the weights
    reference = FamiliarityModel.load(reference_path(setup.weights))
    assert reference.meta["train_images"] + reference.meta["val_images"] == 32 and reference.meta["val_images"] >= 5
    assert reference.meta["imgsz"] == 64 and reference.meta["data"].endswith("data.yaml")
    assert photo["familiar"] is False and photo["detections"] == []
    assert demo["familiar"] is True and demo["detections"]  # the grid model's bananas, kept
    threshold = reference.threshold
    assert isinstance(photo["familiarity"], float) and photo["familiarity"] > threshold + 3
    assert isinstance(demo["familiarity"], float) and demo["familiarity"] < threshold - 1

    # the served ONNX export (best.onnx beside best.pt) carries the embedding outputs and shares the reference
    assert reference_path(setup.onnx) == reference_path(setup.weights)
    photo_onnx, demo_onnx = _detect(["--weights", str(setup.onnx), "--json", *images], capsys)
    assert (photo_onnx["familiar"], photo_onnx["detections"]) == (False, [])
    assert demo_onnx["familiar"] is True and demo_onnx["detections"]
    # Same picture, same reference, about the same score. Not exactly: this untrained backbone's deepest maps are
    # ~1e-9, where float rounding between torch and onnxruntime turns their direction (trained weights agree to
    # 1e-4: bench/ood.py checks the served path on the Quick model); and the .pt's predict letterboxes to a
    # multiple of 32 instead of the square (the bars are left out of the summaries, their reach inside is not).
    square = reference.judge(Detector.load(setup.weights).embed([Image.open(setup.demo).convert("RGB")])[0]).score
    assert demo_onnx["familiarity"] == pytest.approx(square, abs=0.3)
    assert demo["familiarity"] == pytest.approx(square, abs=0.3)


def test_export_adds_one_output_per_tapped_layer_after_the_detections(setup: Setup) -> None:
    import onnxruntime as ort

    outputs = [out.name for out in ort.InferenceSession(str(setup.onnx)).get_outputs()]
    detector = Detector.load(setup.weights)
    assert outputs[0] == "output0"
    assert outputs[1:] == [f"{MAP_PREFIX}{layer}" for layer in tap_layers(detector._net())]
    onnx_detector = Detector.load(setup.onnx)
    assert onnx_detector.embeds and onnx_detector.embedding_key == detector.embedding_key


def test_predict_picture_answers_unfamiliar_without_detections_and_logs_the_verdict(setup: Setup) -> None:
    detector = Detector.load(setup.weights)
    model = ServingModel(
        model_id=None, run_id=1, name="grid", label="grid", weights=setup.weights, kind="pt", production=False
    )
    photo = predict_picture(detector, load_image(setup.photo), model=model)
    demo = predict_picture(detector, load_image(setup.demo), model=model)
    assert not photo.familiar and photo.detections == () and photo.embedding is not None
    assert photo.features["familiar"] == 0 and photo.features["familiarity"] == photo.familiarity.score
    assert photo.familiarity.threshold == round(familiarity_check(detector).model.threshold, 4)  # type: ignore[union-attr]
    assert demo.familiar and demo.detections and demo.features["familiar"] == 1
    assert np.isclose(np.linalg.norm(demo.embedding.vector), 1.0)  # type: ignore[union-attr]


def test_without_reference_or_dataset_every_picture_stays_familiar(setup: Setup, tmp_path: Path) -> None:
    lonely = tmp_path / "weights" / "best.pt"
    lonely.parent.mkdir()
    shutil.copy2(setup.weights, lonely)
    detector = Detector.load(lonely)
    check = familiarity_check(detector)
    assert check.model is None and "dataset is unknown" in check.note
    verdict = check.judge(detector.predict([Image.open(setup.photo)], embed=True)[0].embedding)
    assert verdict.familiar and not verdict.checked and verdict.as_features() == {}
    assert not reference_path(lonely).exists()
