"""COCO → YOLO conversion, YOLO / Roboflow import, the class-id rule and the stratified split."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from backend.core.errors import BadInputError
from backend.core.settings import Settings
from backend.data.formats.coco import check_categories, number_classes
from backend.data.formats.convert import prepare_coco, prepare_yolo
from backend.data.split import stratified_split
from jobs import prepare as prepare_cli


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """A varied RGB picture: a smooth random pattern plus a little noise (distinct per seed)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    pixels = np.asarray(coarse, dtype=np.int16) + rng.integers(-10, 10, (size[1], size[0], 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def save_jpeg(path: Path, size: tuple[int, int], seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    photo(size, seed).save(path, "JPEG", quality=90)
    return path


def issues_of(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(i["file"], i["check"]) for i in report["issues"]}


def read_labels(out: Path, name: str) -> list[list[float]]:
    stem = Path(name).stem
    for split in ("train", "val", "test"):
        label = out / "labels" / split / f"{stem}.txt"
        if label.exists():
            return [[float(v) for v in line.split()] for line in label.read_text().splitlines() if line.strip()]
    raise AssertionError(f"no label file for {name}")


def split_of(out: Path, name: str) -> str:
    hits = [p.parent.name for p in (out / "images").rglob(name)]
    assert len(hits) == 1, f"{name} found in {hits}"
    return hits[0]


@pytest.fixture
def coco_case(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A COCO file exercising every rule: category ids 1, 7, 250, crowd, polygon-only, RLE-only, unknown category,
    a missing file, a truncated JPEG, out-of-bounds / degenerate boxes, a background image, a size lie, and two
    images that share a basename."""
    images = tmp_path / "src" / "images"
    save_jpeg(images / "plain.jpg", (100, 80), 1)
    save_jpeg(images / "crowd.jpg", (100, 80), 2)
    save_jpeg(images / "poly.jpg", (100, 80), 3)
    save_jpeg(images / "edges.jpg", (200, 100), 4)
    save_jpeg(images / "empty.jpg", (100, 80), 5)
    save_jpeg(images / "liar.jpg", (120, 90), 6)
    save_jpeg(images / "a" / "dup.jpg", (100, 80), 7)
    save_jpeg(images / "b" / "dup.jpg", (100, 80), 8)
    good = save_jpeg(tmp_path / "tmp.jpg", (100, 80), 9).read_bytes()
    (images / "cut.jpg").write_bytes(good[: len(good) * 2 // 5])
    coco = {
        "images": [
            {"id": 1, "file_name": "plain.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "crowd.jpg", "width": 100, "height": 80},
            {"id": 3, "file_name": "poly.jpg", "width": 100, "height": 80},
            {"id": 4, "file_name": "edges.jpg", "width": 200, "height": 100},
            {"id": 5, "file_name": "empty.jpg", "width": 100, "height": 80},
            {"id": 6, "file_name": "liar.jpg", "width": 640, "height": 480},
            {"id": 7, "file_name": "gone.jpg", "width": 100, "height": 80},
            {"id": 8, "file_name": "cut.jpg", "width": 100, "height": 80},
            {"id": 9, "file_name": "a/dup.jpg", "width": 100, "height": 80},
            {"id": 10, "file_name": "b/dup.jpg", "width": 100, "height": 80},
        ],
        "categories": [
            {"id": 250, "name": "tomato"},
            {"id": 1, "name": "apple"},
            {"id": 7, "name": "bread"},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 250, "bbox": [50, 10, 20, 20]},
            {"id": 3, "image_id": 2, "category_id": 7, "bbox": [0, 0, 50, 50], "iscrowd": 1},
            {"id": 4, "image_id": 2, "category_id": 7, "bbox": [5, 5, 10, 10], "iscrowd": 0},
            {"id": 5, "image_id": 3, "category_id": 7, "segmentation": [[10, 10, 40, 10, 40, 30, 10, 30]]},
            {"id": 6, "image_id": 3, "category_id": 1, "segmentation": {"counts": "abc", "size": [80, 100]}},
            {"id": 7, "image_id": 3, "category_id": 999, "bbox": [1, 1, 10, 10]},
            {"id": 8, "image_id": 4, "category_id": 1, "bbox": [180, 10, 40, 20]},
            {"id": 9, "image_id": 4, "category_id": 1, "bbox": [20, 10, 0, 20]},
            {"id": 10, "image_id": 4, "category_id": 1, "bbox": [300, 10, 20, 20]},
            {"id": 11, "image_id": 6, "category_id": 250, "bbox": [0, 0, 60, 45]},
            {"id": 12, "image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 10]},
            {"id": 13, "image_id": 9, "category_id": 1, "bbox": [0, 0, 10, 10]},
            {"id": 14, "image_id": 10, "category_id": 7, "bbox": [0, 0, 10, 10]},
        ],
    }
    coco_json = tmp_path / "src" / "annotations.json"
    coco_json.write_text(json.dumps(coco))
    yield coco_json, images


def test_coco_conversion_reports_every_case(coco_case: tuple[Path, Path], tmp_path: Path) -> None:
    coco_json, images = coco_case
    out = tmp_path / "out"
    result = prepare_coco(coco_json, images, out, val_fraction=0.3, seed=1)
    report = json.loads((out / "prepare_report.json").read_text())

    # Class ids: COCO ids sorted ascending -> 0..n-1, names kept (1 apple, 7 bread, 250 tomato).
    assert report["class_map"] == [
        {"coco_id": 1, "class_id": 0, "name": "apple"},
        {"coco_id": 7, "class_id": 1, "name": "bread"},
        {"coco_id": 250, "class_id": 2, "name": "tomato"},
    ]
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == {0: "apple", 1: "bread", 2: "tomato"}
    assert data["nc"] == 3
    assert data["train"] == "images/train" and data["val"] == "images/val"
    assert Path(data["path"]).is_absolute() and Path(data["path"]) == out.resolve()

    found = issues_of(report)
    expected = {
        ("crowd.jpg", "crowd_annotation"),
        ("poly.jpg", "bbox_from_segmentation"),
        ("poly.jpg", "degenerate_bbox"),  # the RLE-only annotation
        ("poly.jpg", "unknown_class"),
        ("edges.jpg", "bbox_out_of_bounds"),
        ("edges.jpg", "degenerate_bbox"),
        ("empty.jpg", "missing_label"),
        ("liar.jpg", "size_mismatch"),
        ("gone.jpg", "missing_image"),
        ("cut.jpg", "corrupt_image"),
        ("dup__2.jpg", "name_collision"),
    }
    assert expected <= found, expected - found
    assert len(report["issues"]) == len(found), "one issue per (file, check)"
    severity = {(i["file"], i["check"]): i["severity"] for i in report["issues"]}
    assert severity[("crowd.jpg", "crowd_annotation")] == "info"
    assert severity[("poly.jpg", "bbox_from_segmentation")] == "info"
    assert severity[("gone.jpg", "missing_image")] == "error"
    assert severity[("cut.jpg", "corrupt_image")] == "error"
    assert severity[("empty.jpg", "missing_label")] == "warning"
    rle = next(i for i in report["issues"] if i["file"] == "poly.jpg" and i["check"] == "degenerate_bbox")
    assert "RLE" in rle["message"]
    edges = next(i for i in report["issues"] if i["file"] == "edges.jpg" and i["check"] == "degenerate_bbox")
    assert "and 1 more" in edges["message"]  # w=0 and fully outside: one issue, counted

    # Labels: exact normalised values, crowd left out, clipped box, polygon box.
    assert read_labels(out, "plain.jpg") == [[0, 0.25, 0.5, 0.3, 0.5], [2, 0.6, 0.25, 0.2, 0.25]]
    assert read_labels(out, "crowd.jpg") == [[1, 0.1, 0.125, 0.1, 0.125]]
    assert read_labels(out, "poly.jpg") == [[1, 0.25, 0.25, 0.3, 0.25]]
    assert read_labels(out, "edges.jpg") == [[0, 0.95, 0.2, 0.1, 0.2]]
    assert read_labels(out, "empty.jpg") == []
    assert read_labels(out, "liar.jpg") == [[2, 0.25, 0.25, 0.5, 0.5]]  # normalised by the real 120x90
    label_text = next((out / "labels").rglob("plain.txt")).read_text()
    assert label_text.splitlines()[0] == "0 0.250000 0.500000 0.300000 0.500000"

    # Missing and corrupt images are left out; the collision got a deterministic suffix.
    written = sorted(p.name for p in (out / "images").rglob("*.jpg"))
    assert written == sorted(
        ["plain.jpg", "crowd.jpg", "poly.jpg", "edges.jpg", "empty.jpg", "liar.jpg", "dup.jpg", "dup__2.jpg"]
    )
    files = {f["file"]: f for f in report["files"]}
    assert files["dup__2.jpg"]["source"] == "b/dup.jpg"
    assert files["gone.jpg"]["split"] is None and "missing_image" in files["gone.jpg"]["issues"]
    assert files["plain.jpg"]["boxes"] == 2
    assert result.counts["images"] == 8
    assert result.counts["train"] + result.counts["val"] == 8
    assert result.counts["val"] >= 1
    assert result.counts["crowd_excluded"] == 1
    assert result.issues_by_severity["error"] >= 4
    line = result.summary_line()
    assert line.startswith("Prepared 8 images (") and str(out.resolve()) in line


def test_user_images_are_copied_workspace_images_hardlinked(
    coco_case: tuple[Path, Path], tmp_path: Path, workspace: Settings
) -> None:
    coco_json, images = coco_case
    prepare_coco(coco_json, images, tmp_path / "out")
    written = next((tmp_path / "out" / "images").rglob("plain.jpg"))
    assert written.stat().st_ino != (images / "plain.jpg").stat().st_ino  # the user's file is never shared
    owned = workspace.home / "raw"
    shutil.copytree(coco_json.parent, owned)
    prepare_coco(owned / coco_json.name, owned / images.relative_to(coco_json.parent), tmp_path / "out2")
    written = next((tmp_path / "out2" / "images").rglob("plain.jpg"))
    assert written.stat().st_ino == (owned / images.relative_to(coco_json.parent) / "plain.jpg").stat().st_ino


# The keys `prepare_report.json` has carried since before the import pipelines became one (jobs.prepare's contract).
COCO_REPORT_KEYS = {"source", "format", "images_dir", "val_fraction", "seed", "class_map", "counts", "files", "issues"}
YOLO_REPORT_KEYS = {"source", "format", "splits_kept", "missing_folders", "val_fraction", "seed", "class_map"}
COUNT_KEYS = {"images_listed", "images", "train", "val", "test", "boxes", "classes", "background_images"}


def test_reports_keep_every_key_with_its_meaning(coco_case: tuple[Path, Path], tmp_path: Path) -> None:
    coco_json, images = coco_case
    coco = prepare_coco(coco_json, images, tmp_path / "coco", val_fraction=0.3, seed=1)
    report = json.loads(coco.report_path.read_text())
    assert set(report) >= COCO_REPORT_KEYS
    assert report["source"] == str(coco_json.resolve()) and report["images_dir"] == str(images.resolve())
    assert report["format"] == "coco" and report["val_fraction"] == 0.3 and report["seed"] == 1
    assert COUNT_KEYS | {"left_out_images", "annotations", "crowd_excluded", "annotations_dropped"} <= set(
        report["counts"]
    )
    assert report["counts"]["images_listed"] == 10 and report["counts"]["left_out_images"] == 2
    assert report["counts"]["annotations"] == 14 and report["counts"]["boxes_clipped"] == 1
    assert set(report["files"][0]) >= {"file", "source", "split", "boxes", "issues", "width", "height"}
    assert set(report["issues"][0]) == {"file", "check", "severity", "message"}

    yolo = prepare_yolo(coco.out_dir, tmp_path / "yolo")
    report = json.loads(yolo.report_path.read_text())
    assert YOLO_REPORT_KEYS | {"counts", "files", "issues"} <= set(report)
    assert report["source"] == str(coco.data_yaml) and report["format"] == "yolo"
    assert report["splits_kept"] is True and report["missing_folders"] == []
    assert report["class_map"][2] == {"coco_id": None, "class_id": 2, "name": "tomato"}
    assert set(report["counts"]) >= COUNT_KEYS


@pytest.mark.parametrize(
    ("where", "key", "message"),
    [
        ("images", "id", "image entry 1 needs an 'id' that is a number or short text; found a list"),
        ("annotations", "image_id", "annotation 1 has an image_id that is a list; COCO ids are whole numbers"),
        ("annotations", "category_id", "annotation 1 has a category_id that is a list; COCO ids are whole numbers"),
    ],
)
def test_one_reader_answers_ids_of_the_wrong_type(
    coco_case: tuple[Path, Path], tmp_path: Path, where: str, key: str, message: str
) -> None:
    """An id that is a list refuses the file in one line, nothing written (jobs.prepare used to end in
    `TypeError: unhashable type: 'list'`); jobs.prepare's exit code for these is checked in tests/hostile."""
    coco_json, images = coco_case
    data = json.loads(coco_json.read_text())
    data[where][0][key] = [1]
    coco_json.write_text(json.dumps(data))
    with pytest.raises(BadInputError, match=message):
        prepare_coco(coco_json, images, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_source_with_no_usable_image_is_refused(coco_case: tuple[Path, Path], tmp_path: Path) -> None:
    coco_json, images = coco_case
    data = json.loads(coco_json.read_text())
    data["images"] = [{"id": 1, "file_name": "gone.jpg"}, {"id": 2, "file_name": "cut.jpg"}]
    coco_json.write_text(json.dumps(data))
    with pytest.raises(
        BadInputError, match=r"None of the 2 listed images can be used: 1 not found .*'gone\.jpg'.* 1 do"
    ):
        prepare_coco(coco_json, images, tmp_path / "out")
    data["images"] = []
    coco_json.write_text(json.dumps(data))
    with pytest.raises(BadInputError, match="lists no images"):
        prepare_coco(coco_json, images, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_output_may_sit_beside_the_coco_json_but_never_holds_it(coco_case: tuple[Path, Path], tmp_path: Path) -> None:
    """The output only has to stay clear of the json and the images folder (dvc.yaml: data/prepared beside data/raw)."""
    coco_json, images = coco_case
    beside = coco_json.parent / "prepared"
    assert prepare_coco(coco_json, images, beside).counts["images"] == 8
    with pytest.raises(BadInputError, match="overlaps"):
        prepare_coco(coco_json, images, coco_json.parent)


def test_duplicate_category_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="both called 'apple'"):
        check_categories([{"id": 1, "name": "apple"}, {"id": 2, "name": "apple"}], "annotations.json")
    with pytest.raises(BadInputError, match="share the id 3"):
        check_categories([{"id": 3, "name": "a"}, {"id": 3, "name": "b"}], "annotations.json")
    cats = check_categories([{"id": 90, "name": "z"}, {"id": 2, "name": "y"}], "annotations.json")
    class_map = number_classes([(c["id"], c["name"]) for c in cats])  # the class-id rule: by COCO id, then 0..n-1
    assert [(c["class_id"], c["name"]) for c in class_map] == [(0, "y"), (1, "z")]


def test_bad_inputs_are_refused(coco_case: tuple[Path, Path], tmp_path: Path) -> None:
    coco_json, images = coco_case
    with pytest.raises(BadInputError, match="between 0 and 1"):
        prepare_coco(coco_json, images, tmp_path / "o", val_fraction=1.5)
    with pytest.raises(BadInputError, match="overlaps"):
        prepare_coco(coco_json, images, images.parent)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.docx").write_text("precious")
    with pytest.raises(BadInputError, match="not empty"):
        prepare_coco(coco_json, images, busy)
    assert (busy / "thesis.docx").read_text() == "precious"
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    with pytest.raises(BadInputError, match="not valid JSON"):
        prepare_coco(bad_json, images, tmp_path / "o")
    bad_json.write_text(json.dumps({"images": []}))
    with pytest.raises(BadInputError, match="not COCO"):
        prepare_coco(bad_json, images, tmp_path / "o")


def test_re_prepare_replaces_previous_output(coco_case: tuple[Path, Path], tmp_path: Path) -> None:
    coco_json, images = coco_case
    out = tmp_path / "out"
    prepare_coco(coco_json, images, out, seed=0)
    (out / "images" / "train" / "stale.jpg").write_bytes(b"old")
    prepare_coco(coco_json, images, out, seed=0)
    assert not list(out.rglob("stale.jpg"))
    assert not list(tmp_path.glob(".out.partial-*"))


# ----------------------------------------------------------------------------------------------------------------
# Split


def synthetic_classes(n: int = 120, n_classes: int = 6, seed: int = 3) -> dict[str, set[int]]:
    rng = np.random.default_rng(seed)
    images: dict[str, set[int]] = {}
    for i in range(n):
        k = int(rng.integers(0, 3))
        # class c appears with probability decreasing in c: a few classes are rare
        classes = {int(c) for c in rng.choice(n_classes, size=k, p=[0.4, 0.25, 0.15, 0.1, 0.06, 0.04])}
        images[f"img_{i:03d}.jpg"] = classes
    images["rare_a.jpg"] = {7}
    images["rare_b.jpg"] = {7, 0}
    for i in range(5):
        images[f"five_{i}.jpg"] = {9, 0} if i % 2 else {9}
    return images


def test_split_is_deterministic_and_stratified() -> None:
    images = synthetic_classes()
    first = stratified_split(images, val_fraction=0.2, seed=5)
    assert first == stratified_split(dict(reversed(list(images.items()))), val_fraction=0.2, seed=5)
    assert first != stratified_split(images, val_fraction=0.2, seed=6)
    counts: dict[int, int] = {}
    for classes in images.values():
        for c in classes:
            counts[c] = counts.get(c, 0) + 1
    for cls, count in counts.items():
        val = sum(1 for n, s in first.items() if s == "val" and cls in images[n])
        train = sum(1 for n, s in first.items() if s == "train" and cls in images[n])
        if count >= 5:
            assert val >= 1, f"class {cls} ({count} images) missing from val"
        if count >= 2:
            assert train >= 1 and val >= 1, f"class {cls} ({count} images): train {train}, val {val}"
    n_val = sum(1 for s in first.values() if s == "val")
    assert abs(n_val - 0.2 * len(images)) <= 8
    background_val = sum(1 for n, s in first.items() if s == "val" and not images[n])
    assert background_val >= 1


def test_split_keeps_at_least_one_val_image() -> None:
    assert sorted(stratified_split({"a.jpg": {0}, "b.jpg": {1}}, val_fraction=0.1, seed=0).values()) == [
        "train",
        "val",
    ]
    assert stratified_split({"only.jpg": {0}}, val_fraction=0.2, seed=0) == {"only.jpg": "train"}


def test_prepare_split_same_seed_same_split(coco_case: tuple[Path, Path], tmp_path: Path) -> None:
    coco_json, images = coco_case
    a = prepare_coco(coco_json, images, tmp_path / "a", seed=11)
    b = prepare_coco(coco_json, images, tmp_path / "b", seed=11)
    split_a = {p.name: p.parent.name for p in (a.out_dir / "images").rglob("*.jpg")}
    split_b = {p.name: p.parent.name for p in (b.out_dir / "images").rglob("*.jpg")}
    assert split_a == split_b


def test_every_class_with_five_images_reaches_val(tmp_path: Path) -> None:
    images = tmp_path / "images"
    anns, imgs = [], []
    plan = synthetic_classes(n=40, seed=8)
    for index, (name, classes) in enumerate(sorted(plan.items()), start=1):
        save_jpeg(images / name, (64, 48), index)
        imgs.append({"id": index, "file_name": name, "width": 64, "height": 48})
        for cls in sorted(classes):
            anns.append({"id": len(anns) + 1, "image_id": index, "category_id": cls + 1, "bbox": [4, 4, 20, 20]})
    cats = [{"id": c + 1, "name": f"class{c}"} for c in range(10)]
    coco_json = tmp_path / "coco.json"
    coco_json.write_text(json.dumps({"images": imgs, "annotations": anns, "categories": cats}))
    result = prepare_coco(coco_json, images, tmp_path / "out", val_fraction=0.2, seed=0)
    for cls in range(10):
        having = [n for n, c in plan.items() if cls in c]
        if len(having) >= 5:
            assert any(split_of(result.out_dir, n) == "val" for n in having), f"class{cls} missing from val"


# ----------------------------------------------------------------------------------------------------------------
# YOLO / Roboflow


def test_yolo_round_trip_keeps_splits_and_labels(coco_case: tuple[Path, Path], tmp_path: Path) -> None:
    coco_json, images = coco_case
    first = prepare_coco(coco_json, images, tmp_path / "first", seed=2)
    second = prepare_yolo(first.out_dir, tmp_path / "second")
    assert yaml.safe_load((second.out_dir / "data.yaml").read_text())["names"] == {0: "apple", 1: "bread", 2: "tomato"}
    for image in (first.out_dir / "images").rglob("*.jpg"):
        assert split_of(second.out_dir, image.name) == image.parent.name
        assert read_labels(second.out_dir, image.name) == read_labels(first.out_dir, image.name)
    report = json.loads(second.report_path.read_text())
    assert report["splits_kept"] is True
    assert second.counts["images"] == first.counts["images"]


def make_roboflow(root: Path) -> Path:
    """A Roboflow-style export: train/valid/test folders, data.yaml with ../ paths and a names list."""
    lines = {
        "train": [("t0.jpg", "0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n"), ("t1.jpg", "1 0.5 0.5 0.4 0.4\n")],
        "valid": [("v0.jpg", "0 0.5 0.5 0.2 0.2\n"), ("v1.jpg", "1 0.2 0.2 0.1 0.1 \n")],
        "test": [("s0.jpg", "0 0.5 0.5 0.2 0.2\n")],
    }
    seed = 0
    for split, items in lines.items():
        for name, text in items:
            seed += 1
            save_jpeg(root / split / "images" / name, (80, 60), seed)
            (root / split / "labels").mkdir(parents=True, exist_ok=True)
            (root / split / "labels" / name.replace(".jpg", ".txt")).write_text(text)
    (root / "data.yaml").write_text(
        "train: ../train/images\nval: ../valid/images\ntest: ../test/images\nnc: 2\nnames: ['egg', 'pizza']\n"
    )
    return root


def test_roboflow_export_keeps_train_valid_test(tmp_path: Path) -> None:
    src = make_roboflow(tmp_path / "export")
    result = prepare_yolo(src, tmp_path / "out")
    assert split_of(result.out_dir, "t0.jpg") == "train"
    assert split_of(result.out_dir, "v1.jpg") == "val"
    assert split_of(result.out_dir, "s0.jpg") == "test"
    data = yaml.safe_load(result.data_yaml.read_text())
    assert data["names"] == {0: "egg", 1: "pizza"} and data["test"] == "images/test"
    assert read_labels(result.out_dir, "t0.jpg") == [[0, 0.5, 0.5, 0.2, 0.2], [1, 0.3, 0.3, 0.1, 0.1]]
    assert result.counts == result.counts | {"train": 2, "val": 2, "test": 1, "boxes": 6}


def test_yolo_with_only_train_is_split_and_bad_lines_reported(tmp_path: Path) -> None:
    root = tmp_path / "yolo"
    texts = {
        "a.jpg": "0 0.5 0.5 0.2 0.2\n",
        "b.jpg": "1 0.5 0.5 0.2 0.2\nfive 0.5 0.5 0.2 0.2\n",
        "c.jpg": "7 0.5 0.5 0.2 0.2\n0 0.9 0.5 0.4 0.2\n",
        "d.jpg": "0 0.1 0.1 0.5\n1 0.1 0.1 0.1 0.1 0.3 0.3\n",
        "e.jpg": "",
        "f.jpg": "1 0.5 0.5 0 0.2\n0 0.5 0.5 0.3 0.3\n",
    }
    for index, (name, text) in enumerate(texts.items()):
        save_jpeg(root / "images" / name, (80, 60), 40 + index)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        (root / "labels" / name.replace(".jpg", ".txt")).write_text(text)
    (root / "data.yaml").write_text("path: .\ntrain: images\nnames: {0: egg, 1: pizza}\n")
    result = prepare_yolo(root, tmp_path / "out", val_fraction=0.3, seed=4)
    report = json.loads(result.report_path.read_text())
    found = issues_of(report)
    assert {
        ("b.jpg", "label_format"),
        ("c.jpg", "unknown_class"),
        ("c.jpg", "bbox_out_of_bounds"),
        ("d.jpg", "label_format"),
        ("d.jpg", "bbox_from_segmentation"),
        ("e.jpg", "missing_label"),
        ("f.jpg", "degenerate_bbox"),
    } <= found
    assert result.counts["train"] + result.counts["val"] == 6 and result.counts["val"] >= 1
    assert read_labels(result.out_dir, "c.jpg") == [[0, 0.85, 0.5, 0.3, 0.2]]
    assert read_labels(result.out_dir, "d.jpg") == [[1, 0.2, 0.2, 0.2, 0.2]]


def test_yolo_with_only_a_test_split_is_split_into_train_and_val(tmp_path: Path) -> None:
    src = make_roboflow(tmp_path / "export")
    (src / "data.yaml").write_text("test: ../test/images\nnames: ['egg', 'pizza']\n")
    for name in ("s1.jpg", "s2.jpg", "s3.jpg"):
        save_jpeg(src / "test" / "images" / name, (80, 60), len(name) + ord(name[1]))
        (src / "test" / "labels" / name.replace(".jpg", ".txt")).write_text("1 0.5 0.5 0.2 0.2\n")
    result = prepare_yolo(src, tmp_path / "out", val_fraction=0.25, seed=0)
    assert result.counts["train"] + result.counts["val"] == 4 and result.counts["test"] == 0
    assert result.counts["train"] >= 1 and result.counts["val"] >= 1
    assert json.loads(result.report_path.read_text())["images_split_here"] == 4


def test_yolo_without_data_yaml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "src" / "images").mkdir(parents=True)
    with pytest.raises(BadInputError, match=r"data\.yaml"):
        prepare_yolo(tmp_path / "src", tmp_path / "out")


# ----------------------------------------------------------------------------------------------------------------
# CLI


def test_cli_prepares_and_prints_one_summary_line(
    coco_case: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coco_json, images = coco_case
    code = prepare_cli.main(
        ["--coco", str(coco_json), "--images", str(images), "--out", str(tmp_path / "o"), "--seed", "3"]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.count("\n") == 1 and captured.out.startswith("Prepared 8 images")
    code = prepare_cli.main(["--coco", str(tmp_path / "nope.json"), "--images", str(images), "--out", "x"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "does not exist" in captured.err and "Traceback" not in captured.err


def test_cli_accepts_zip_of_yolo_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    src = make_roboflow(tmp_path / "export")
    archive = shutil.make_archive(str(tmp_path / "export"), "zip", root_dir=tmp_path, base_dir="export")
    code = prepare_cli.main(["--yolo", archive, "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    assert "Prepared 5 images (2 train, 2 val, 1 test)" in capsys.readouterr().out
    assert (tmp_path / "out" / "images" / "test" / "s0.jpg").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.extract-")]
    assert src.exists()
