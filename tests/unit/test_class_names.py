"""Class names at import: one rule (`formats.model.check_class_name`) every reader applies, so a name is text that is
safe wherever names go (HTML, Markdown, plot titles, file names); names the rule refuses are named in the message.
Versions imported before the rule still open."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from backend.core.errors import BadInputError
from backend.data.formats.model import check_class_name
from backend.data.formats.read import read_source
from backend.data.quality.reader import read_yolo_dataset
from backend.data.quality.validate import validate_dataset

SCRIPT = "</script><img src=x onerror=alert(1)>"
HOSTILE = {
    SCRIPT: ["'<'", "'/'", "'>'", "'='"],
    "price $x^2$": ["'$'", "'^'"],
    "https://tracker.example/p": ["':'", "'/'"],
    "**bold** [link](x)": ["'*'", "'['", "']'"],
    "tab\there": ["'\\t'"],
    "back\\slash": ["'\\\\'"],
    "a & b": ["'&'"],
}
ALLOWED = ["apple", "crème brûlée", "寿司", "hot_dog", "chef's salad (large)", "no. 5, spicy+", "Ελληνική σαλάτα"]


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 120, 40)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("name", ALLOWED)
def test_food_names_of_any_script_pass(name: str) -> None:
    assert check_class_name(f"  {name} ", "x") == name


@pytest.mark.parametrize(("name", "named"), HOSTILE.items(), ids=range(len(HOSTILE)))
def test_names_with_markup_characters_are_refused_naming_them(name: str, named: list[str]) -> None:
    with pytest.raises(BadInputError) as refused:
        check_class_name(name, "annotations.json, category 1")
    message = str(refused.value)
    assert message.startswith("annotations.json, category 1: the class name")
    assert "\n" not in message and len(message) < 400
    for char in named:
        assert char in message, (char, message)


def test_a_name_needs_a_letter_or_digit() -> None:
    for name in ("..", "-", "()"):
        with pytest.raises(BadInputError, match="at least one letter or digit"):
            check_class_name(name, "x")


def _coco(tmp: Path, name: str) -> Path:
    (tmp / "images").mkdir(parents=True)
    (tmp / "images" / "a.jpg").write_bytes(_jpeg())
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 32, "height": 32}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10]}],
        "categories": [{"id": 1, "name": name}],
    }
    (tmp / "annotations.json").write_text(json.dumps(doc), encoding="utf-8")
    return tmp


def _yolo(tmp: Path, name: str, *, classes_txt: bool = False) -> Path:
    for split in ("train", "val"):
        (tmp / "images" / split).mkdir(parents=True)
        (tmp / "labels" / split).mkdir(parents=True)
        (tmp / "images" / split / "a.jpg").write_bytes(_jpeg())
        (tmp / "labels" / split / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n", encoding="utf-8")
    if classes_txt:
        (tmp / "classes.txt").write_text(name + "\n", encoding="utf-8")
    else:
        (tmp / "data.yaml").write_text(
            json.dumps({"names": [name], "train": "images/train", "val": "images/val"}), encoding="utf-8"
        )
    return tmp


def _voc(tmp: Path, name: str) -> Path:
    (tmp / "Annotations").mkdir(parents=True)
    (tmp / "JPEGImages").mkdir()
    (tmp / "JPEGImages" / "a.jpg").write_bytes(_jpeg())
    safe = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    (tmp / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>32</width><height>32</height></size>"
        f"<object><name>{safe}</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox>"
        "</object></annotation>",
        encoding="utf-8",
    )
    return tmp


READERS = {
    "coco": _coco,
    "yolo_data_yaml": _yolo,
    "yolo_classes_txt": lambda t, n: _yolo(t, n, classes_txt=True),
    "voc": _voc,
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_applies_the_rule(tmp_path: Path, reader: str) -> None:
    good = READERS[reader](tmp_path / "good", "crème brûlée")
    assert read_source(good).names == ["crème brûlée"]
    bad = READERS[reader](tmp_path / "bad", SCRIPT)
    with pytest.raises(BadInputError, match="uses characters a class name may not: '<'"):
        read_source(bad)


def test_a_version_imported_before_the_rule_still_opens(tmp_path: Path) -> None:
    """A prepared version whose data.yaml holds names the rule now refuses is read and validated as before."""
    root = _yolo(tmp_path / "old", SCRIPT)
    (root / "data.yaml").write_text(
        json.dumps({"path": str(root), "names": [SCRIPT, "price $5$"], "train": "images/train", "val": "images/val"}),
        encoding="utf-8",
    )
    dataset = read_yolo_dataset(root)
    assert dataset.names == [SCRIPT, "price $5$"] and len(dataset.images) == 2
    report = validate_dataset(root, cache_dir=tmp_path / "cache")
    assert report.summary["images"] == 2


def test_evaluation_of_a_version_with_dollar_names_does_not_fail(tmp_path: Path) -> None:
    """Evaluation always draws ultralytics' confusion matrix, labelled with the class names: a `$` in an old
    version's name must not start matplotlib's mathtext (which fails the evaluation on text that is not TeX)."""
    import yaml

    from backend.training.evaluation import evaluate
    from tests.utils.tiny_data import save_untrained_detector
    from tests.utils.tiny_yolo import make_tiny_yolo_dataset

    names = ("price $x^$", "b $\\nope$", "c")
    data_yaml = make_tiny_yolo_dataset(tmp_path / "data", train=2, val=4, size=64)
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    data["names"] = dict(enumerate(names))
    data_yaml.write_text(yaml.safe_dump(data), encoding="utf-8")
    weights = save_untrained_detector(tmp_path / "m.pt", names=names)
    result = evaluate(weights, data_yaml, imgsz=64, device="cpu", conf=0.001)
    assert set(result.per_class) <= set(names) and result.images == 4
