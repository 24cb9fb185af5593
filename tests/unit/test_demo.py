"""The procedural demo dataset: determinism, COCO validity, balance, planted defects, no false positives, CLI."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.core.errors import BadInputError
from backend.core.vocab import FOOD_CLASSES
from backend.data.demo import CATEGORY_IDS, CHECK_KINDS, generate_demo_dataset, save_sample_grid
from backend.data.demo.foods import render_item
from tests.utils.spec import PHOTO_CHECKS, SPEC_CHECKS

REPO = Path(__file__).resolve().parents[2]
N_CLEAN = 100


@pytest.fixture(scope="module", name="demo_set")
def fixture_demo_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 100-image demo dataset with planted defects, shared by the tests of this module."""
    out = tmp_path_factory.mktemp("demo") / "ds"
    generate_demo_dataset(out, images=N_CLEAN, seed=3, defects=True, workers=2)
    yield out


def _coco(ds: Path) -> dict:
    return json.loads((ds / "annotations.json").read_text(encoding="utf-8"))


def _clean_images(coco: dict) -> list[dict]:
    return [im for im in coco["images"] if not im["file_name"].startswith("demo_defect_")]


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _files(ds: Path) -> dict[str, bytes]:
    files = {p.relative_to(ds).as_posix(): p.read_bytes() for p in ds.rglob("*") if p.is_file()}
    assert files
    return files


def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    generate_demo_dataset(tmp_path / "a", images=8, seed=5, workers=1)
    generate_demo_dataset(tmp_path / "b", images=8, seed=5, workers=2)  # a process pool
    generate_demo_dataset(tmp_path / "c", images=3, seed=6, workers=1)
    generate_demo_dataset(tmp_path / "d", images=3, seed=5, workers=1)
    a, b, c, d = (_files(tmp_path / k) for k in "abcd")
    assert a == b
    images_c = {k: v for k, v in c.items() if k.startswith("images/")}
    assert len(images_c) == 3
    assert all(images_c[k] != a[k] for k in images_c)  # another seed, other images
    # image i does not depend on how many images are asked for
    assert all(d[k] == a[k] for k in d if k.startswith("images/"))


def test_coco_schema(demo_set: Path) -> None:
    coco = _coco(demo_set)
    cats = coco["categories"]
    assert [c["name"] for c in cats] == list(FOOD_CLASSES)
    assert all(c["supercategory"] == "food" for c in cats)
    ids = [c["id"] for c in cats]
    assert ids == [CATEGORY_IDS[n] for n in FOOD_CLASSES] and ids != list(range(1, 13))  # non-contiguous on purpose
    image_ids = [im["id"] for im in coco["images"]]
    ann_ids = [a["id"] for a in coco["annotations"]]
    assert len(set(image_ids)) == len(image_ids) and len(set(ann_ids)) == len(ann_ids)
    assert len({im["file_name"] for im in coco["images"]}) == len(image_ids)
    clean = {im["id"]: im for im in _clean_images(coco)}
    assert len(clean) == N_CLEAN
    per_image: dict[int, list[dict]] = {}
    for a in coco["annotations"]:
        assert a["image_id"] in image_ids
        assert a["iscrowd"] == 0
        assert set(a) >= {"id", "image_id", "category_id", "bbox", "area", "iscrowd"}
        if a["image_id"] in clean:
            per_image.setdefault(a["image_id"], []).append(a)
    for image_id, im in clean.items():
        anns = per_image.get(image_id, [])
        assert 1 <= len(anns) <= 8, im["file_name"]
        with Image.open(demo_set / "images" / im["file_name"]) as pic:
            assert pic.format == "JPEG"
            assert pic.size == (im["width"], im["height"])
        assert 560 <= im["width"] <= 720 and 420 <= im["height"] <= 540
        for a in anns:
            x, y, w, h = a["bbox"]
            assert a["category_id"] in ids
            assert w >= 12 and h >= 12, a
            assert x >= 0 and y >= 0 and x + w <= im["width"] and y + h <= im["height"], a
            assert a["area"] == pytest.approx(w * h)
        for a, b in combinations(anns, 2):  # no accidental duplicate_box on clean images
            if a["category_id"] == b["category_id"]:
                assert _iou(a["bbox"], b["bbox"]) < 0.9


def test_sprites_are_cropped_tight_and_boxes_cover_food(demo_set: Path) -> None:
    light = np.array([-0.5, -0.5, 0.7071], np.float32)
    for i, name in enumerate(FOOD_CLASSES):
        sprite = render_item(name, random.Random(i), np.random.default_rng(i), 90.0, light)
        ys, xs = np.nonzero(sprite.alpha >= 0.3)
        h, w = sprite.alpha.shape
        # the drawn food reaches (within the anti-aliased rim) all four sides of its sprite, from which boxes come
        assert ys.min() <= 2 and xs.min() <= 2 and ys.max() >= h - 3 and xs.max() >= w - 3, name
    coco = _coco(demo_set)
    im = _clean_images(coco)[0]
    anns = [a for a in coco["annotations"] if a["image_id"] == im["id"]]
    with Image.open(demo_set / "images" / im["file_name"]) as pic:
        arr = np.asarray(pic.convert("L"), np.float32)
    for a in anns:  # a box holds textured food, not empty table
        x, y, w, h = (round(v) for v in a["bbox"])
        assert arr[y : y + h, x : x + w].std() > 8.0


def test_classes_are_balanced(demo_set: Path) -> None:
    coco = _coco(demo_set)
    clean_ids = {im["id"] for im in _clean_images(coco)}
    counts = Counter(a["category_id"] for a in coco["annotations"] if a["image_id"] in clean_ids)
    assert set(counts) == set(CATEGORY_IDS.values())
    assert min(counts.values()) >= 25
    assert min(counts.values()) / max(counts.values()) >= 0.7, counts


def test_defects_list_every_check_and_each_is_real(demo_set: Path) -> None:
    defects = json.loads((demo_set / "defects.json").read_text(encoding="utf-8"))
    assert set(CHECK_KINDS) == SPEC_CHECKS | PHOTO_CHECKS
    assert {d["kind"] for d in defects} == SPEC_CHECKS | PHOTO_CHECKS
    coco = _coco(demo_set)
    images = {im["file_name"]: im for im in coco["images"]}
    cats = {c["id"] for c in coco["categories"]}
    anns: dict[int, list[dict]] = {}
    for a in coco["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    clean_names = sorted(im["file_name"] for im in _clean_images(coco))
    for d in defects:
        name, kind = d["file"], d["kind"]
        assert name in images, name  # listed in the COCO json even when broken on disk
        assert name > clean_names[-1]  # sorts after the clean images: the copy is the one reported
        path = demo_set / "images" / name
        assert path.is_file()
        im, boxes = images[name], [a["bbox"] for a in anns.get(images[name]["id"], [])]
        data = path.read_bytes()
        if kind == "corrupt_image":
            with pytest.raises(OSError), Image.open(io.BytesIO(data)) as pic:
                pic.load()
            continue
        with Image.open(io.BytesIO(data)) as pic:
            pic.load()
            fmt, size = pic.format, pic.size
            gray = np.asarray(pic.convert("L"), np.float32)
        assert size == (im["width"], im["height"])
        if kind == "format_mismatch":
            assert fmt == "PNG" and name.endswith(".jpg")
        elif kind == "too_small":
            assert min(size) < 32 and size == (24, 20) and boxes
        elif kind == "low_variance":
            assert gray.std() < 4.0
        elif kind == "exact_duplicate":
            digest = hashlib.sha256(data).hexdigest()
            originals = [
                n for n in clean_names if hashlib.sha256((demo_set / "images" / n).read_bytes()).hexdigest() == digest
            ]
            assert originals and originals[0] < name
        elif kind == "near_duplicate":
            imagehash = pytest.importorskip("imagehash")
            mine = imagehash.phash(Image.open(path))
            near = [n for n in clean_names if mine - imagehash.phash(Image.open(demo_set / "images" / n)) <= 6]
            assert near and all((demo_set / "images" / n).read_bytes() != data for n in near)
        elif kind == "bbox_out_of_bounds":
            assert any(b[0] + b[2] >= size[0] * 1.1 for b in boxes)
        elif kind == "degenerate_bbox":
            assert any(b[2] <= 0 or b[3] <= 0 or b[0] >= size[0] or b[1] >= size[1] for b in boxes)
        elif kind == "tiny_bbox":
            assert any(0 < b[2] < 4 and 0 < b[3] < 4 for b in boxes)
        elif kind == "unknown_class":
            assert any(a["category_id"] not in cats for a in anns[im["id"]])
        elif kind == "duplicate_box":
            same = [(a, b) for a, b in combinations(anns[im["id"]], 2) if a["category_id"] == b["category_id"]]
            assert any(_iou(a["bbox"], b["bbox"]) >= 0.9 for a, b in same)
        elif kind == "missing_label":
            assert not boxes and gray.std() >= 4.0
        elif kind in PHOTO_CHECKS:
            _assert_photo_defect(kind, pic_rgb(data), boxes)
        else:
            pytest.fail(f"unexpected kind {kind}")


def pic_rgb(data: bytes) -> np.ndarray:
    """An image file's pixels as an HxWx3 float array."""
    with Image.open(io.BytesIO(data)) as pic:
        return np.asarray(pic.convert("RGB"), np.float32)


def _assert_photo_defect(kind: str, rgb: np.ndarray, boxes: list[list[float]]) -> None:
    """The planted photo defect is what its name says, measured here independently of the validator."""
    gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    h, w = gray.shape
    assert boxes, kind  # photo defects keep their boxes, so they are not also missing_label
    if kind == "dark":
        assert np.percentile(gray, 95) < 50
    elif kind == "light":
        assert np.percentile(gray, 5) > 200
    elif kind == "blurry":
        small = np.asarray(Image.fromarray(gray.astype(np.uint8)).resize((w * 256 // max(w, h), h * 256 // max(w, h))))
        small = small.astype(np.float32)
        lap = small[:-2, 1:-1] + small[2:, 1:-1] + small[1:-1, :-2] + small[1:-1, 2:] - 4 * small[1:-1, 1:-1]
        assert lap.var() < 10
    elif kind == "grayscale":
        assert np.abs(rgb - rgb.mean(axis=2, keepdims=True)).max() <= 3
    elif kind == "odd_aspect_ratio":
        assert max(w, h) / min(w, h) > 2.5
    elif kind == "low_information":
        counts = np.bincount(gray.astype(np.uint8).ravel(), minlength=256) / gray.size
        share = counts[counts > 0]
        assert -(share * np.log2(share)).sum() < 4 and gray.std() >= 4


def test_clean_images_raise_no_false_positives(demo_set: Path) -> None:
    imagehash = pytest.importorskip("imagehash")
    coco = _coco(demo_set)
    names = [im["file_name"] for im in _clean_images(coco)]
    hashes, digests = [], set()
    for n in names:
        data = (demo_set / "images" / n).read_bytes()
        digests.add(hashlib.sha256(data).hexdigest())
        with Image.open(io.BytesIO(data)) as pic:
            assert min(pic.size) >= 32
            assert np.asarray(pic.convert("L"), np.float32).std() >= 4.0
            hashes.append(imagehash.phash(pic).hash.flatten())
    assert len(digests) == len(names)
    h = np.array(hashes)
    dist = (h[:, None, :] != h[None, :, :]).sum(-1)
    np.fill_diagonal(dist, 64)
    assert dist.min() > 6, f"near-duplicate clean images: min phash distance {dist.min()}"


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="between 1"):
        generate_demo_dataset(tmp_path / "x", images=0)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(BadInputError, match="Cannot write"):
        generate_demo_dataset(blocker / "sub", images=1)


def test_sample_grid(demo_set: Path, tmp_path: Path) -> None:
    out = save_sample_grid(demo_set, tmp_path / "grid.png", n=8, seed=1)
    with Image.open(out) as pic:
        assert pic.format == "PNG"
        assert pic.width > 1000 and pic.height > 400
    with pytest.raises(BadInputError):
        save_sample_grid(tmp_path, tmp_path / "none.png")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs.demo_data", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_help() -> None:
    res = _cli("--help")
    assert res.returncode == 0
    assert "--out" in res.stdout and "--defects" in res.stdout and "--seed" in res.stdout


def test_cli_small_run_matches_the_api(tmp_path: Path) -> None:
    res = _cli("--out", str(tmp_path / "ds"), "--images", "3", "--seed", "2", "--workers", "1", "--defects")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1
    pattern = r"Wrote 3 images \(\+20 with planted defects\) with [\d,]+ boxes in \d+ classes to .+ \([\d.]+ s\)"
    assert re.fullmatch(pattern, lines[0]), lines[0]
    coco = _coco(tmp_path / "ds")
    assert len(_clean_images(coco)) == 3
    assert (tmp_path / "ds" / "defects.json").is_file()
    # the same arguments through the API give the same bytes, defects included
    generate_demo_dataset(tmp_path / "api", images=3, seed=2, defects=True, workers=1)
    assert _files(tmp_path / "ds") == _files(tmp_path / "api")


@pytest.mark.parametrize("args", [["--images", "0"], ["--images", "many"], ["--seed", "x"]])
def test_cli_bad_numbers(tmp_path: Path, args: list[str]) -> None:
    res = _cli("--out", str(tmp_path / "ds"), *args)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr and "error" in res.stderr
    assert not res.stdout


def test_cli_unwritable_out(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    res = _cli("--out", str(blocker / "ds"), "--images", "1")
    assert res.returncode == 2  # bad input, as for every jobs.* command
    assert "Traceback" not in res.stderr and "Cannot write" in res.stderr
    assert not res.stdout
