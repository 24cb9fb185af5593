"""Build other tools' export layouts from a demo COCO set, laid out as those tools write them.

Each builder takes the demo folder (`annotations.json` + `images/`, from `python -m jobs.demo_data`) and writes
one tool's export into `out`, returning what an import must find (`Expected`): image and box counts, class names,
and the split of each image as the export gives it. The demo's images are split by index (i % 5: 0-2 train,
3 val, 4 test) where a layout carries splits.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

PROJECT = "food-plates"


@dataclass
class Expected:
    """What importing a built layout must give."""

    images: int
    boxes: int
    names: list[str]
    splits: dict[str, int] = field(default_factory=dict)  # split -> images, when the layout gives splits
    difficult: int = 0
    truncated: int = 0


@dataclass
class Demo:
    """The demo set as the builders use it."""

    root: Path
    names: list[str]  # in category id order
    images: list[dict[str, Any]]
    boxes: dict[int, list[tuple[int, list[float]]]]  # image id -> [(class index, [x, y, w, h])]

    def split_of(self, index: int, names: tuple[str, str, str] = ("train", "valid", "test")) -> str:
        return names[0] if index % 5 < 3 else names[1] if index % 5 == 3 else names[2]

    def expected(self, *, splits: bool) -> Expected:
        counts: Counter[str] = Counter()
        if splits:
            for index in range(len(self.images)):
                split = self.split_of(index)
                counts["val" if split == "valid" else split] += 1
        return Expected(
            images=len(self.images),
            boxes=sum(len(b) for b in self.boxes.values()),
            names=list(self.names),
            splits=dict(counts),
        )


def load_demo(root: Path) -> Demo:
    """Read a demo folder written by `generate_demo_dataset`."""
    data = json.loads((root / "annotations.json").read_text(encoding="utf-8"))
    cats = sorted(data["categories"], key=lambda c: c["id"])
    index_of = {c["id"]: i for i, c in enumerate(cats)}
    boxes: dict[int, list[tuple[int, list[float]]]] = {img["id"]: [] for img in data["images"]}
    for ann in data["annotations"]:
        boxes[ann["image_id"]].append((index_of[ann["category_id"]], [float(v) for v in ann["bbox"]]))
    images = sorted(data["images"], key=lambda i: i["file_name"])
    return Demo(root, [c["name"] for c in cats], images, boxes)


def _copy(demo: Demo, image: dict[str, Any], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo.root / "images" / image["file_name"], dest)


def _yolo_lines(demo: Demo, image: dict[str, Any]) -> str:
    w, h = image["width"], image["height"]
    return "".join(
        f"{cls} {(x + bw / 2) / w:.6f} {(y + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}\n"
        for cls, (x, y, bw, bh) in demo.boxes[image["id"]]
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def roboflow_name(file_name: str) -> str:
    """Roboflow's renamed file: `<stem>_<ext>.rf.<hash>.jpg`."""
    stem, _, ext = file_name.rpartition(".")
    digest = hashlib.md5(file_name.encode(), usedforsecurity=False).hexdigest()
    return f"{stem}_{ext}.rf.{digest}.jpg"


def build_roboflow_coco(demo: Demo, out: Path) -> Expected:
    """Roboflow COCO: train/, valid/, test/ each with `_annotations.coco.json`; category 0 is the project."""
    categories = [{"id": 0, "name": PROJECT, "supercategory": "none"}]
    categories += [{"id": i + 1, "name": n, "supercategory": PROJECT} for i, n in enumerate(demo.names)]
    for split in ("train", "valid", "test"):
        images, annotations = [], []
        for index, image in enumerate(demo.images):
            if demo.split_of(index) != split:
                continue
            name = roboflow_name(image["file_name"])
            _copy(demo, image, out / split / name)
            new_id = len(images)
            images.append(
                {
                    "id": new_id,
                    "license": 1,
                    "file_name": name,
                    "height": image["height"],
                    "width": image["width"],
                    "date_captured": "2026-01-01T00:00:00+00:00",
                }
            )
            for cls, bbox in demo.boxes[image["id"]]:
                annotations.append(
                    {
                        "id": len(annotations),
                        "image_id": new_id,
                        "category_id": cls + 1,
                        "bbox": bbox,
                        "area": bbox[2] * bbox[3],
                        "segmentation": [],
                        "iscrowd": 0,
                    }
                )
        data = {
            "info": {"description": PROJECT},
            "licenses": [],
            "categories": categories,
            "images": images,
            "annotations": annotations,
        }
        _write(out / split / "_annotations.coco.json", json.dumps(data))
    _write(out / "README.roboflow.txt", f"{PROJECT} - v1\nExported via roboflow.com\n")
    return demo.expected(splits=True)


def build_roboflow_yolo(demo: Demo, out: Path) -> Expected:
    """Roboflow YOLOv8: data.yaml with `../train/images` paths; train/, valid/, test/ with images/ and labels/."""
    for index, image in enumerate(demo.images):
        split = demo.split_of(index)
        name = roboflow_name(image["file_name"])
        _copy(demo, image, out / split / "images" / name)
        _write(out / split / "labels" / (name.rsplit(".", 1)[0] + ".txt"), _yolo_lines(demo, image))
    data = {
        "train": "../train/images",
        "val": "../valid/images",
        "test": "../test/images",
        "nc": len(demo.names),
        "names": demo.names,
        "roboflow": {"workspace": "w", "project": PROJECT, "version": 1},
    }
    _write(out / "data.yaml", yaml.safe_dump(data, sort_keys=False))
    _write(out / "README.roboflow.txt", "Exported via roboflow.com\n")
    return demo.expected(splits=True)


def build_label_studio_yolo(demo: Demo, out: Path) -> Expected:
    """Label Studio YOLO: classes.txt, images/ (names with Label Studio's hash prefix), labels/, notes.json."""
    for image in demo.images:
        prefix = hashlib.md5(image["file_name"].encode(), usedforsecurity=False).hexdigest()[:8]
        name = f"{prefix}-{image['file_name']}"
        _copy(demo, image, out / "images" / name)
        _write(out / "labels" / (name.rsplit(".", 1)[0] + ".txt"), _yolo_lines(demo, image))
    _write(out / "classes.txt", "".join(f"{n}\n" for n in demo.names))
    notes = {
        "categories": [{"id": i, "name": n} for i, n in enumerate(demo.names)],
        "info": {"year": 2026, "version": "1.0", "contributor": "Label Studio"},
    }
    _write(out / "notes.json", json.dumps(notes))
    return demo.expected(splits=False)


def build_cvat_yolo(demo: Demo, out: Path) -> Expected:
    """CVAT YOLO 1.1: obj.names, obj.data, train.txt / valid.txt, obj_train_data/ and obj_Validation_data/.

    Test-split images go into the Validation subset too (CVAT tasks have Train and Validation subsets here).
    """
    lists: dict[str, list[str]] = {"train": [], "valid": []}
    for index, image in enumerate(demo.images):
        subset = "train" if demo.split_of(index) == "train" else "valid"
        folder = "obj_train_data" if subset == "train" else "obj_Validation_data"
        _copy(demo, image, out / folder / image["file_name"])
        _write(out / folder / (image["file_name"].rsplit(".", 1)[0] + ".txt"), _yolo_lines(demo, image))
        lists[subset].append(f"data/{folder}/{image['file_name']}")
    _write(out / "obj.names", "".join(f"{n}\n" for n in demo.names))
    _write(
        out / "obj.data",
        f"classes = {len(demo.names)}\ntrain = data/train.txt\nvalid = data/valid.txt\n"
        "names = data/obj.names\nbackup = backup/\n",
    )
    for subset, lines in lists.items():
        _write(out / f"{subset}.txt", "".join(f"{line}\n" for line in lines))
    expected = demo.expected(splits=False)
    expected.splits = {"train": len(lists["train"]), "val": len(lists["valid"])}
    return expected


def build_voc(demo: Demo, out: Path, *, flags: bool = True) -> Expected:
    """Pascal VOC (LabelImg / CVAT): Annotations/*.xml with 1-based boxes, JPEGImages/, ImageSets/Main/*.txt.

    With `flags`, the first box of images 0-2 is marked difficult and of images 3-4 truncated.
    """
    expected = demo.expected(splits=False)
    sets: dict[str, list[str]] = {"train": [], "val": []}
    for index, image in enumerate(demo.images):
        _copy(demo, image, out / "JPEGImages" / image["file_name"])
        stem = image["file_name"].rsplit(".", 1)[0]
        sets["train" if demo.split_of(index) == "train" else "val"].append(stem)
        objects = []
        for number, (cls, (x, y, w, h)) in enumerate(demo.boxes[image["id"]]):
            difficult = int(flags and number == 0 and index < 3)
            truncated = int(flags and number == 0 and 3 <= index < 5)
            expected.difficult += difficult
            expected.truncated += truncated
            objects.append(
                f"<object><name>{demo.names[cls]}</name><pose>Unspecified</pose><truncated>{truncated}</truncated>"
                f"<difficult>{difficult}</difficult><bndbox><xmin>{round(x) + 1}</xmin><ymin>{round(y) + 1}</ymin>"
                f"<xmax>{round(x + w)}</xmax><ymax>{round(y + h)}</ymax></bndbox></object>"
            )
        xml = (
            f"<annotation><folder>JPEGImages</folder><filename>{image['file_name']}</filename>"
            f"<path>/home/someone/{image['file_name']}</path><source><database>Unknown</database></source>"
            f"<size><width>{image['width']}</width><height>{image['height']}</height><depth>3</depth></size>"
            f"<segmented>0</segmented>{''.join(objects)}</annotation>"
        )
        _write(out / "Annotations" / f"{stem}.xml", xml)
    for split, stems in sets.items():
        _write(out / "ImageSets" / "Main" / f"{split}.txt", "".join(f"{s}\n" for s in stems))
    expected.splits = {k: len(v) for k, v in sets.items()}
    return expected


def build_labelimg_voc(demo: Demo, out: Path) -> Expected:
    """LabelImg's default: one folder with each image and its .xml side by side, no splits, no flags."""
    build_voc(demo, out / "tmp", flags=False)
    for xml in (out / "tmp" / "Annotations").glob("*.xml"):
        shutil.move(xml, out / xml.name)
    for image in (out / "tmp" / "JPEGImages").iterdir():
        shutil.move(image, out / image.name)
    shutil.rmtree(out / "tmp")
    return demo.expected(splits=False)


def build_roboflow_voc(demo: Demo, out: Path) -> Expected:
    """Roboflow Pascal VOC: train/, valid/, test/ each holding the images and their .xml side by side."""
    build_voc(demo, out / "tmp", flags=False)
    for index, image in enumerate(demo.images):
        split = demo.split_of(index)
        stem = image["file_name"].rsplit(".", 1)[0]
        (out / split).mkdir(parents=True, exist_ok=True)
        shutil.move(out / "tmp" / "JPEGImages" / image["file_name"], out / split / image["file_name"])
        shutil.move(out / "tmp" / "Annotations" / f"{stem}.xml", out / split / f"{stem}.xml")
    shutil.rmtree(out / "tmp")
    _write(out / "README.roboflow.txt", "Exported via roboflow.com\n")
    return demo.expected(splits=True)


def build_fiftyone_yolov4(demo: Demo, out: Path) -> Expected:
    """FiftyOne YOLOv4Dataset: obj.names, images.txt listing data/<file>, data/ with images and label .txt files."""
    for image in demo.images:
        _copy(demo, image, out / "data" / image["file_name"])
        _write(out / "data" / (image["file_name"].rsplit(".", 1)[0] + ".txt"), _yolo_lines(demo, image))
    _write(out / "obj.names", "".join(f"{n}\n" for n in demo.names))
    _write(out / "images.txt", "".join(f"data/{i['file_name']}\n" for i in demo.images))
    return demo.expected(splits=False)


def build_fiftyone_coco(demo: Demo, out: Path) -> Expected:
    """FiftyOne COCODetectionDataset: data/ and labels.json."""
    for image in demo.images:
        _copy(demo, image, out / "data" / image["file_name"])
    shutil.copyfile(demo.root / "annotations.json", out / "labels.json")
    return demo.expected(splits=False)


def build_fiftyone_yolov5(demo: Demo, out: Path) -> Expected:
    """FiftyOne YOLOv5Dataset exported per split: dataset.yaml, images/<split>/, labels/<split>/."""
    for index, image in enumerate(demo.images):
        split = demo.split_of(index, ("train", "val", "test"))
        _copy(demo, image, out / "images" / split / image["file_name"])
        _write(out / "labels" / split / (image["file_name"].rsplit(".", 1)[0] + ".txt"), _yolo_lines(demo, image))
    data = {
        "path": ".",
        "train": "./images/train/",
        "val": "./images/val/",
        "test": "./images/test/",
        "names": dict(enumerate(demo.names)),
    }
    _write(out / "dataset.yaml", yaml.safe_dump(data, sort_keys=False))
    return demo.expected(splits=True)


def build_cvat_coco(demo: Demo, out: Path) -> Expected:
    """CVAT COCO 1.0: annotations/instances_default.json and images/."""
    for image in demo.images:
        _copy(demo, image, out / "images" / image["file_name"])
    _write(out / "annotations" / "instances_default.json", (demo.root / "annotations.json").read_text("utf-8"))
    return demo.expected(splits=False)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file."""
    with Image.open(path) as img:
        return img.size
