"""The familiarity decision on synthetic embeddings: fitting, calibration, saving, and the embedding's summaries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.core.errors import BadInputError
from backend.imaging.letterbox import content_box, letterbox
from backend.imaging.texture import TEXTURE_NAMES, texture_stats
from backend.training.embedding_cache import EmbeddingCache, model_key
from backend.training.embeddings import Embedding, LayerStats, deepest_backbone, head_stats, summarize_maps
from backend.training.familiarity import (
    FamiliarityModel,
    Signal,
    copy_reference,
    fit_familiarity,
    ledoit_wolf,
    reference_path,
    wilson_interval,
)

# (layer, stride, channels): a small stand-in for YOLOv8n's tapped layers (backbone 2..9, neck 12..21)
LAYOUT = ((2, 4, 6), (4, 8, 8), (9, 32, 10), (12, 16, 8), (21, 32, 10))


def _zigzag(channels: int) -> np.ndarray:
    return np.where(np.arange(channels) % 2 == 0, 1.0, -0.5)


def _embedding(rng: np.random.Generator, shift: float = 0.0, gram: bool = False) -> Embedding:
    """One synthetic embedding; `shift` moves every statistic away from the in-distribution cloud, half the
    channels up and half down (a change of direction, not only of scale, which cosine similarity would not see)."""
    layers = tuple(
        LayerStats(
            layer=layer,
            stride=stride,
            mean=rng.normal(1.0, 0.1, channels) + shift * _zigzag(channels),
            std=np.abs(rng.normal(0.5, 0.05, channels) + 0.3 * shift * _zigzag(channels)),
            gram=rng.normal(1.0 + shift, 0.1, (2, channels)) if gram else None,
        )
        for layer, stride, channels in LAYOUT
    )
    head = np.asarray([0.8 - shift, 0.6 - shift, 0.3], dtype=np.float32) + rng.normal(0, 0.05, 3).astype(np.float32)
    pixels = rng.normal(shift, 1.0, len(TEXTURE_NAMES)).astype(np.float32)
    return Embedding(layers=layers, head=head, pixels=pixels)


@pytest.fixture(name="clouds")
def fixture_clouds() -> dict[str, list[Embedding]]:
    rng = np.random.default_rng(0)
    return {
        "train": [_embedding(rng) for _ in range(60)],
        "val": [_embedding(rng) for _ in range(40)],
        "same": [_embedding(rng) for _ in range(200)],
        "far": [_embedding(rng, shift=1.5) for _ in range(20)],
    }


def test_fit_refuses_far_pictures_and_about_the_target_of_like_ones(clouds: dict[str, list[Embedding]]) -> None:
    model = fit_familiarity(clouds["train"], clouds["val"], signals=["knn", "head", "pixels"], target=0.05)
    assert model.signals == (Signal.KNN, Signal.HEAD, Signal.PIXELS)
    assert all(not model.judge(emb).familiar for emb in clouds["far"])
    # calibrated on 40 validation pictures: at most 5 % of them refused (1 of 40 above the 'higher' 95 % quantile)
    assert model.meta["val_false_refusals"] == 0.025
    assert np.mean(model.scores(clouds["same"]) > model.threshold) < 0.15
    verdict = model.judge(clouds["same"][0])
    assert verdict.threshold == round(model.threshold, 4)
    assert set(verdict.parts) == {"knn", "head", "pixels"}  # only the chosen signals run per request
    assert set(model.signal_scores(clouds["far"])) == {s for s in Signal if s != Signal.GRAM}  # no Gram: not fitted
    assert verdict.score == pytest.approx(sum(verdict.parts[s] for s in ("knn", "head", "pixels")), abs=1e-3)


@pytest.mark.parametrize("signal", [s for s in Signal if s != Signal.GRAM])
def test_every_signal_alone_separates_a_far_cloud(clouds: dict[str, list[Embedding]], signal: Signal) -> None:
    model = fit_familiarity(clouds["train"], clouds["val"], signals=[signal], target=0.1)
    assert np.mean(model.scores(clouds["far"]) > model.threshold) == 1.0
    assert np.mean(model.scores(clouds["same"]) > model.threshold) < 0.25


def test_a_signal_the_validation_pictures_do_not_move_adds_nothing(clouds: dict[str, list[Embedding]]) -> None:
    def constant_head(emb: Embedding) -> Embedding:  # a head that answers the same whatever the picture
        return Embedding(layers=emb.layers, head=np.asarray([0.9, 0.9, 0.0], dtype=np.float32), pixels=emb.pixels)

    train, val = [constant_head(e) for e in clouds["train"]], [constant_head(e) for e in clouds["val"]]
    model = fit_familiarity(train, val, signals=["head", "knn"], target=0.05)
    odd = Embedding(
        layers=val[0].layers, head=np.asarray([0.9, 0.9 + 1e-7, 0.0], dtype=np.float32), pixels=val[0].pixels
    )
    assert model.signal_scores([odd], [Signal.HEAD])[Signal.HEAD][0] == 0.0  # float noise is not evidence


def test_gram_signal_needs_gram_statistics() -> None:
    rng = np.random.default_rng(1)
    train, val = [_embedding(rng) for _ in range(20)], [_embedding(rng) for _ in range(10)]
    with pytest.raises(BadInputError, match="Gram"):
        fit_familiarity(train, val, signals=["gram"], target=0.1)
    with_gram = [_embedding(rng, gram=True) for _ in range(30)]
    model = fit_familiarity(with_gram[:20], with_gram[20:], signals=["gram"], target=0.1)
    far = [_embedding(rng, shift=2.0, gram=True) for _ in range(5)]
    assert all(score > model.threshold for score in model.scores(far))


def test_with_signals_recalibrates_on_validation(clouds: dict[str, list[Embedding]]) -> None:
    model = fit_familiarity(clouds["train"], clouds["val"], signals=["knn"], target=0.05)
    other = model.with_signals([Signal.PIXELS], target=0.1, validation=clouds["val"])
    assert other.signals == (Signal.PIXELS,) and model.signals == (Signal.KNN,)
    assert other.meta["val_false_refusals"] == 0.075 and other.threshold != model.threshold


def test_save_load_round_trip_and_copy_beside_an_export(clouds: dict[str, list[Embedding]], tmp_path: Path) -> None:
    model = fit_familiarity(clouds["train"], clouds["val"], signals=["knn", "pixels"], target=0.05, info={"imgsz": 64})
    weights = tmp_path / "weights" / "best.pt"
    json_path = model.save(reference_path(weights))
    assert reference_path(weights).name == "best.familiarity.npz" and json_path.name == "best.familiarity.json"
    figures = json.loads(json_path.read_text())
    assert figures["imgsz"] == 64 and figures["train_images"] == 60 and figures["val_images"] == 40
    loaded = FamiliarityModel.load(reference_path(weights))
    assert np.allclose(loaded.scores(clouds["far"]), model.scores(clouds["far"]))
    assert loaded.threshold == model.threshold
    (tmp_path / "served").mkdir()
    assert copy_reference(tmp_path / "other.pt", tmp_path / "served" / "other.onnx") is None  # no reference: none
    copied = copy_reference(weights, tmp_path / "served" / "model.onnx")
    assert copied == tmp_path / "served" / "model.familiarity.npz" and copied.with_suffix(".json").is_file()


def test_bad_arguments_and_files_are_refused_in_one_line(clouds: dict[str, list[Embedding]], tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="signals"):
        fit_familiarity(clouds["train"], clouds["val"], signals=["colour"], target=0.05)
    with pytest.raises(BadInputError, match=r"between 0 and 0\.5"):
        fit_familiarity(clouds["train"], clouds["val"], signals=["knn"], target=0.7)
    with pytest.raises(BadInputError, match="at least"):
        fit_familiarity(clouds["train"][:3], clouds["val"], signals=["knn"], target=0.05)
    with pytest.raises(BadInputError, match="cannot be read"):
        FamiliarityModel.load(tmp_path / "missing.familiarity.npz")


def test_ledoit_wolf_inverts_more_dimensions_than_samples_and_converges_with_many() -> None:
    rng = np.random.default_rng(2)
    few = rng.normal(size=(10, 30))
    location, precision = ledoit_wolf(few)
    assert np.allclose(location, few.mean(axis=0)) and np.all(np.isfinite(precision))
    assert np.all(np.linalg.eigvalsh(precision) > 0)  # shrunk: positive definite although rank-deficient data
    many = rng.normal(size=(20000, 3)) * np.asarray([1.0, 2.0, 0.5])
    _, precision = ledoit_wolf(many)
    assert np.allclose(np.diag(precision), [1.0, 0.25, 4.0], rtol=0.1)


def test_wilson_interval() -> None:
    low, high = wilson_interval(9, 10)
    assert low == pytest.approx(0.596, abs=1e-3) and high == pytest.approx(0.982, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_summaries_leave_the_letterbox_bars_out() -> None:
    image = Image.new("RGB", (200, 100), (200, 30, 30))  # wide: bars above and below in a square input
    box = content_box((100, 200), (64, 64))
    assert box == (0, 16, 64, 48)
    fmap = np.full((3, 8, 8), 7.0, dtype=np.float32)  # stride 8: rows 2..5 are the picture
    fmap[:, 2:6, :] = 1.0
    head = np.zeros((4 + 2, 84), dtype=np.float32)
    head[4, 3] = 0.9
    emb = summarize_maps({9: fmap}, head, input_hw=(64, 64), image=image, gram=True)
    stats = emb.layer(9)
    assert stats.stride == 8 and np.allclose(stats.mean, 1.0) and np.allclose(stats.std, 0.0)
    assert stats.gram is not None and stats.gram.shape[1] == 3
    assert emb.head[0] == pytest.approx(0.9)
    assert emb.pixels.shape == (len(TEXTURE_NAMES),)
    blob, gain, pad = letterbox(np.asarray(image), 64)
    assert blob.shape == (1, 3, 64, 64) and pad == (0, 16) and gain == (0.32, 0.32)


def test_embedding_arrays_round_trip_and_vector(tmp_path: Path) -> None:
    emb = _embedding(np.random.default_rng(3), gram=True)
    back = Embedding.from_arrays(emb.to_arrays())
    assert [s.layer for s in back.layers] == [s.layer for s in emb.layers]
    assert all(np.allclose(a.gram, b.gram) for a, b in zip(back.layers, emb.layers, strict=True) if a.gram is not None)
    assert deepest_backbone(emb.layers) == 9  # the last layer before the neck's finer strides
    assert np.isclose(np.linalg.norm(emb.vector), 1.0)
    assert np.allclose(emb.vector, emb.layer(9).mean / np.linalg.norm(emb.layer(9).mean))
    cache = EmbeddingCache(model_key("ab" * 32, 64), root=tmp_path)
    sha = "cd" * 32
    assert cache.get(sha) is None
    calls: list[int] = []

    def embed(images: list[Image.Image]) -> list[Embedding]:
        calls.append(len(images))
        return [emb for _ in images]

    first = cache.get_or_embed([(sha, lambda: Image.new("RGB", (8, 8)))], embed)
    again = cache.get_or_embed([(sha, lambda: Image.new("RGB", (8, 8)))], embed)
    assert calls == [1]  # the second call read the cache
    assert np.allclose(first[0].vector, again[0].vector)
    with pytest.raises(ValueError, match="sha256"):
        cache.get("../../etc")


def test_head_and_texture_statistics() -> None:
    scores = np.zeros((4 + 3, 10), dtype=np.float32)
    scores[4:, 2] = [0.5, 0.5, 0.0]
    best, top10, entropy = head_stats(scores)
    assert (
        best == pytest.approx(0.5) and top10 == pytest.approx(0.05) and entropy == pytest.approx(np.log(2) / np.log(3))
    )
    grey = texture_stats(Image.new("RGB", (300, 200), (128, 128, 128)))
    colourful = texture_stats(Image.effect_noise((300, 200), 60).convert("RGB"))
    names = list(TEXTURE_NAMES)
    assert grey[names.index("saturation_mean")] == 0 and grey[names.index("gradient_flat")] == 1.0
    assert colourful[names.index("laplacian_noise")] > grey[names.index("laplacian_noise")]
