"""Import each tool's export layout, built from the demo set as that tool writes it: counts, splits, reports."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from backend.core.errors import BadInputError
from backend.data.formats.build import prepare_source
from backend.data.formats.model import LayoutKind
from backend.data.formats.read import find_layout, read_layout, read_source
from tests.utils import export_layouts as tools
from tests.utils.export_layouts import Demo, Expected


@pytest.fixture(scope="module", name="demo")
def fixture_demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    from backend.data.demo import generate_demo_dataset

    root = tmp_path_factory.mktemp("demo")
    generate_demo_dataset(root, images=20, seed=11, workers=1)
    return tools.load_demo(root)


def _prepared(src: Path, out: Path, **kwargs: object) -> tuple[dict, Counter[str]]:
    result = prepare_source(read_source(src), out, **kwargs)  # type: ignore[arg-type]
    report = json.loads(result.report_path.read_text(encoding="utf-8"))
    per_split = Counter(p.parent.name for p in (out / "images").rglob("*") if p.is_file())
    return report, per_split


def _boxes_written(out: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in (out / "labels").rglob("*.txt"))


LAYOUTS: list[tuple[str, Callable[[Demo, Path], Expected], LayoutKind, str]] = [
    ("roboflow_coco", tools.build_roboflow_coco, LayoutKind.COCO_SPLITS, "Roboflow COCO"),
    ("roboflow_yolo", tools.build_roboflow_yolo, LayoutKind.YOLO, "Roboflow YOLO"),
    ("label_studio", tools.build_label_studio_yolo, LayoutKind.YOLO_CLASSES_TXT, "Label Studio"),
    ("cvat_yolo", tools.build_cvat_yolo, LayoutKind.YOLO_DARKNET, "CVAT YOLO 1.1"),
    ("voc", tools.build_voc, LayoutKind.VOC, "Pascal VOC"),
    ("labelimg", tools.build_labelimg_voc, LayoutKind.VOC, "LabelImg"),
    ("roboflow_voc", tools.build_roboflow_voc, LayoutKind.VOC, "Roboflow VOC"),
    ("fiftyone_yolov4", tools.build_fiftyone_yolov4, LayoutKind.YOLO_DARKNET, "FiftyOne YOLOv4"),
    ("fiftyone_coco", tools.build_fiftyone_coco, LayoutKind.COCO, "FiftyOne COCO"),
    ("fiftyone_yolov5", tools.build_fiftyone_yolov5, LayoutKind.YOLO, "FiftyOne YOLOv5"),
    ("cvat_coco", tools.build_cvat_coco, LayoutKind.COCO, "CVAT COCO"),
]


@pytest.mark.parametrize(("label", "build", "kind", "named"), LAYOUTS, ids=[row[0] for row in LAYOUTS])
def test_each_tool_layout_imports_exactly(
    demo: Demo, tmp_path: Path, label: str, build: Callable[[Demo, Path], Expected], kind: LayoutKind, named: str
) -> None:
    src = tmp_path / label / "export"
    expected = build(demo, src)
    layout = find_layout(src.parent)  # archives wrap the export in a folder: detection looks inside
    assert layout.kind == kind
    assert named in layout.description

    report, per_split = _prepared(src.parent, tmp_path / "out")

    assert report["layout"] == layout.description
    assert report["counts"]["images"] == expected.images
    assert report["counts"]["left_out_images"] == 0
    assert report["counts"]["boxes"] == expected.boxes == _boxes_written(tmp_path / "out")
    assert report["counts"].get("annotations_dropped", 0) == 0
    assert [row["name"] for row in report["class_map"]] == expected.names
    for split, count in expected.splits.items():
        assert per_split[split] == count, (split, per_split)
    if expected.splits:
        assert report["splits_kept"] is True
        assert report["images_split_here"] == 0
    else:  # no split given: one is made, reported
        assert report["images_split_here"] == expected.images
        assert per_split["train"] + per_split["val"] == expected.images


def test_roboflow_placeholder_category_is_dropped_and_reported(demo: Demo, tmp_path: Path) -> None:
    tools.build_roboflow_coco(demo, tmp_path / "rf")
    report, _ = _prepared(tmp_path / "rf", tmp_path / "out")
    assert tools.PROJECT not in [row["name"] for row in report["class_map"]]
    assert len(report["class_map"]) == 12
    assert report["dropped_categories"] == [
        {"source_id": 0, "name": tools.PROJECT, "reason": report["dropped_categories"][0]["reason"]}
    ]
    assert any(i["check"] == "placeholder_category" for i in report["issues"])
    data = (tmp_path / "out" / "data.yaml").read_text()
    assert "test: images/test" in data and "val: images/val" in data


def test_roboflow_file_name_suffixes_are_kept(demo: Demo, tmp_path: Path) -> None:
    tools.build_roboflow_coco(demo, tmp_path / "rf")
    _prepared(tmp_path / "rf", tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out" / "images").rglob("*.jpg"))
    assert names == sorted(tools.roboflow_name(i["file_name"]) for i in demo.images)


def test_voc_flags_are_reported_and_boxes_are_one_based(demo: Demo, tmp_path: Path) -> None:
    expected = tools.build_voc(demo, tmp_path / "voc")
    report, _ = _prepared(tmp_path / "voc", tmp_path / "out")
    assert report["counts"]["difficult_boxes"] == expected.difficult == 3
    assert report["counts"]["truncated_boxes"] == expected.truncated == 2
    checks = Counter(i["check"] for i in report["issues"])
    assert checks["voc_difficult"] == 3 and checks["voc_truncated"] == 2
    # A box written as xmin..xmax (1-based, inclusive) spans [xmin - 1, xmax] pixels.
    image = demo.images[0]
    cls, (x, _y, w, _h) = demo.boxes[image["id"]][0]
    label = next((tmp_path / "out" / "labels").rglob(image["file_name"].rsplit(".", 1)[0] + ".txt"))
    first = label.read_text().splitlines()[0].split()
    width = float(first[3]) * image["width"]
    assert int(first[0]) == cls
    assert width == pytest.approx(round(x + w) - round(x), abs=1e-3)


def test_fresh_split_ignores_given_splits(demo: Demo, tmp_path: Path) -> None:
    tools.build_roboflow_coco(demo, tmp_path / "rf")
    report, per_split = _prepared(tmp_path / "rf", tmp_path / "out", fresh_split=True)
    assert report["fresh_split"] is True and report["splits_kept"] is False
    assert per_split["test"] == 0 and per_split["train"] + per_split["val"] == len(demo.images)


def test_missing_images_and_bad_boxes_are_reported_not_dropped_silently(demo: Demo, tmp_path: Path) -> None:
    tools.build_roboflow_coco(demo, tmp_path / "rf")
    train = tmp_path / "rf" / "train"
    data = json.loads((train / "_annotations.coco.json").read_text())
    (train / data["images"][0]["file_name"]).unlink()
    others = [a for a in data["annotations"] if a["image_id"] != data["images"][0]["id"]]
    others[0]["bbox"] = [5, 5, 0, 10]
    others[1]["category_id"] = 99
    (train / "_annotations.coco.json").write_text(json.dumps(data))
    report, _ = _prepared(tmp_path / "rf", tmp_path / "out")
    left_out = [f for f in report["files"] if f["split"] is None]
    assert len(left_out) == 1 and "missing_image" in left_out[0]["issues"]
    checks = {i["check"] for i in report["issues"]}
    assert {"missing_image", "degenerate_bbox", "unknown_class"} <= checks
    lost = len(demo.boxes[demo.images[0]["id"]])
    assert report["counts"]["boxes_of_left_out_images"] == lost


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (
            {"images": [{"id": [1], "file_name": "a.jpg"}], "annotations": [], "categories": [{"id": 1, "name": "a"}]},
            "needs an 'id'",
        ),
        (
            {"images": [{"id": 1, "file_name": {"x": 1}}], "annotations": [], "categories": [{"id": 1, "name": "a"}]},
            "must be text",
        ),
        ({"images": [], "annotations": [], "categories": [{"id": {"a": 1}, "name": "a"}]}, "integer 'id'"),
        ({"images": [], "annotations": [], "categories": [{"id": 1, "name": ["a"]}]}, "class name must be text"),
    ],
)
def test_malformed_coco_is_refused_clearly(tmp_path: Path, payload: dict, fragment: str) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations.json").write_text(json.dumps(payload))
    with pytest.raises(BadInputError, match=fragment) as info:
        read_source(tmp_path / "annotations.json")
    assert len(str(info.value)) < 400


def test_an_over_long_coco_file_name_leaves_that_image_out_with_a_short_name(tmp_path: Path) -> None:
    """A 5000-character file name (no file system holds one) no longer refuses the file: that image is left out,
    named by a short stand-in, with a note saying why; the other images are read."""
    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "ok.jpg")
    payload = {
        "images": [{"id": 1, "file_name": "a" * 5000 + ".jpg"}, {"id": 2, "file_name": "ok.jpg"}],
        "annotations": [],
        "categories": [{"id": 1, "name": "a"}],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(payload))
    source = read_source(tmp_path / "annotations.json")
    long_one, ok = source.images
    assert long_one.path is None and len(long_one.original) < 120 and long_one.original.endswith(".jpg")
    assert any("longer than 255 characters; left out" in message for _, message in long_one.notes)
    assert ok.path == tmp_path / "images" / "ok.jpg"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("image_id", [1, 2], "has an image_id that is a list"),
        ("category_id", [1], "has a category_id that is a list"),
        ("category_id", {"id": 1}, "has a category_id that is an object"),
    ],
)
def test_list_or_object_ids_in_annotations_refuse_the_file(
    demo: Demo, tmp_path: Path, key: str, value: object, fragment: str
) -> None:
    """Ids that are lists or objects mean the file is not COCO: one clear line, nothing written (both commands)."""
    tools.build_fiftyone_coco(demo, tmp_path / "fo")
    data = json.loads((tmp_path / "fo" / "labels.json").read_text())
    data["annotations"][1][key] = value
    (tmp_path / "fo" / "labels.json").write_text(json.dumps(data))
    with pytest.raises(BadInputError, match=fragment) as info:
        read_source(tmp_path / "fo")
    assert "labels.json" in str(info.value) and len(str(info.value)) < 400
    assert not (tmp_path / "out").exists()


def test_deeply_nested_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "annotations.json").write_text('{"images": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(BadInputError):
        read_source(tmp_path / "annotations.json")


def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    keys = "abcdefghi"
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for index in range(1, 9):
        lines.append(f"{keys[index]}: &{keys[index]} [" + ", ".join(["*" + keys[index - 1]] * 9) + "]")
    lines += ["names: *i", "train: images"]
    (tmp_path / "images").mkdir()
    (tmp_path / "data.yaml").write_text("\n".join(lines))
    with pytest.raises(BadInputError, match="alias"):
        read_source(tmp_path)
    # the readers of a prepared set (jobs.validate, jobs.train) refuse it too, before anything walks the names
    from backend.data.quality.reader import read_yolo_dataset
    from backend.training.trainer import BadDataError, check_data_yaml

    with pytest.raises(BadInputError, match="73 YAML aliases"):
        read_yolo_dataset(tmp_path)
    with pytest.raises(BadDataError, match="73 YAML aliases"):
        check_data_yaml(tmp_path / "data.yaml")


def test_data_yaml_folders_outside_an_archive_are_refused(demo: Demo, tmp_path: Path) -> None:
    outside = tmp_path / "server" / "images"
    outside.mkdir(parents=True)
    shutil.copyfile(demo.root / "images" / demo.images[0]["file_name"], outside / "secret.jpg")
    archive = tmp_path / "extracted"
    archive.mkdir()
    (archive / "data.yaml").write_text(f"names: [a]\ntrain: {outside}\nval: ../server/images\n")
    with pytest.raises(BadInputError, match="outside the imported folder or archive"):
        read_layout(find_layout(archive), confine_to=archive)
    (archive / "data.yaml").write_text("names: [a]\npath: ..\ntrain: server/images\n")
    with pytest.raises(BadInputError, match="outside the imported folder or archive"):
        read_layout(find_layout(archive), confine_to=archive)


def test_voc_with_entities_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "a.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY x "xxxxxxxx">]>'
        "<annotation><filename>a.jpg</filename><object><name>&x;</name></object></annotation>"
    )
    with pytest.raises(BadInputError, match="entities"):
        read_source(tmp_path)


def test_nothing_recognisable_names_the_layouts(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(BadInputError, match="Label Studio") as info:
        read_source(tmp_path)
    assert "CVAT" in str(info.value) and "Pascal VOC" in str(info.value)


def test_prepare_yolo_refuses_archive_folders_outside_the_archive(demo: Demo, tmp_path: Path) -> None:
    from backend.data.formats.convert import prepare_yolo

    outside = tmp_path / "server" / "images"
    outside.mkdir(parents=True)
    shutil.copyfile(demo.root / "images" / demo.images[0]["file_name"], outside / "secret.jpg")
    archive = tmp_path / "extracted"
    archive.mkdir()
    (archive / "data.yaml").write_text(f"names: [a]\ntrain: {outside}\n")
    with pytest.raises(BadInputError, match="outside the imported folder or archive"):
        prepare_yolo(archive, tmp_path / "out", confine_to=archive)
    assert not (tmp_path / "out").exists()


def test_coco_categories_sharing_a_name_are_refused(tmp_path: Path) -> None:
    payload = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "egg"}, {"id": 2, "name": "egg"}]}
    (tmp_path / "annotations.json").write_text(json.dumps(payload))
    with pytest.raises(BadInputError, match="both called"):
        read_source(tmp_path / "annotations.json")
