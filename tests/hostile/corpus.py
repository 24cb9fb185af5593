"""Hostile inputs made on the fly: broken and malicious photos for Detect, and dataset sources (zips, COCO json,
YOLO folders, VOC xml) for imports and the `jobs.*` commands. Each maker writes into a folder and returns the path
an entry point is given."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image

Maker = Callable[[Path], Path]
SENTINEL = "plateops-hostile-sentinel"  # written outside the archive by a zip-slip; must never appear
# A class name that closes the <script> block a report embeds its data in, then runs script in the reader's browser.
SCRIPT_CLASS = "</script><img src=x onerror=alert(1)>"


def _jpeg(size: tuple[int, int] = (32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buf, format="JPEG")
    return buf.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size (a decompression bomb's header), with one tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------------------------------- photos

PHOTOS: dict[str, bytes] = {
    "empty.jpg": b"",
    "text.jpg": b"just some text, not a picture",
    "html.png": b"<html><script>alert(1)</script></html>",
    "svg.png": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "truncated.jpg": _jpeg()[:60],
    "png_header_only.png": b"\x89PNG\r\n\x1a\n",
    "bomb_header.png": _png_claiming(60000, 60000),
    "zero_size.png": _png_claiming(0, 0),
    "zip_as.jpg": b"PK\x03\x04" + b"\0" * 40,
    "nul_bytes.jpg": b"\0" * 4096,
    "random.webp": bytes(range(256)) * 8,
    "gzip.jpg": b"\x1f\x8b\x08\x00" + b"\0" * 30,
    "pdf.jpg": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
    "elf.jpg": b"\x7fELF" + b"\0" * 60,
}


def photo_names() -> list[str]:
    """The hostile photo names, plus two whose names are the attack."""
    return [*PHOTOS, "long_name", "markup_name"]


def photo(name: str) -> tuple[str, bytes]:
    """(file name as uploaded, bytes) of one hostile photo."""
    if name == "long_name":
        return "a" * 5000 + ".jpg", b"not an image"
    if name == "markup_name":
        return "![x](http://tracker.example/p.png) <b>:red[x]</b>.jpg", b"not an image"
    return name, PHOTOS[name]


# --------------------------------------------------------------------------------------------------- datasets


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _coco(folder: Path, doc: object, *, raw: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    (folder / "images" / "a.jpg").write_bytes(_jpeg())
    target = folder / "annotations.json"
    target.write_bytes(raw if raw is not None else json.dumps(doc).encode())
    return folder


def _good_coco() -> dict[str, object]:
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 32, "height": 32}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10]}],
        "categories": [{"id": 1, "name": "apple"}],
    }


def _coco_with(**changes: object) -> Maker:
    def make(tmp: Path) -> Path:
        doc = _good_coco()
        for key, value in changes.items():
            if key.startswith("ann_"):
                doc["annotations"][0][key[4:]] = value  # type: ignore[index]
            elif key.startswith("img_"):
                doc["images"][0][key[4:]] = value  # type: ignore[index]
            elif key.startswith("cat_"):
                doc["categories"][0][key[4:]] = value  # type: ignore[index]
            else:
                doc[key] = value
        return _coco(tmp / "coco", doc)

    return make


def _yolo(tmp: Path, data_yaml: str, *, label: str = "0 0.5 0.5 0.2 0.2\n") -> Path:
    root = tmp / "yolo"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        (root / "images" / split / "a.jpg").write_bytes(_jpeg())
        (root / "labels" / split / "a.txt").write_text(label, encoding="utf-8")
    (root / "data.yaml").write_text(data_yaml, encoding="utf-8")
    return root


ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    + "names: *i\ntrain: images/train\nval: images/val\n"
)

XXE = (
    '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<annotation><filename>a.jpg</filename><size><width>32</width><height>32</height></size>"
    "<object><name>&x;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object>"
    "</annotation>"
)
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    "<annotation><filename>a.jpg</filename><object><name>&d;</name></object></annotation>"
)


def _voc(tmp: Path, xml: str) -> Path:
    root = tmp / "voc"
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "JPEGImages" / "a.jpg").write_bytes(_jpeg())
    (root / "Annotations" / "a.xml").write_text(xml, encoding="utf-8")
    return root


DATASETS: dict[str, Maker] = {
    # archives
    "zip_slip": lambda t: _zip(t / "slip.zip", {f"../../{SENTINEL}.txt": b"x", "annotations.json": b"{}"}),
    "zip_absolute": lambda t: _zip(t / "abs.zip", {f"/tmp/{SENTINEL}.txt": b"x"}),
    "zip_empty": lambda t: _zip(t / "empty.zip", {}),
    "zip_not_a_zip": lambda t: (t / "fake.zip").write_bytes(b"not a zip at all") and t / "fake.zip",
    "zip_nested": lambda t: _zip(t / "nested.zip", {"inner.zip": _zip(t / "inner.zip", {"a.txt": b"x"}).read_bytes()}),
    "zip_bad_json": lambda t: _zip(t / "badjson.zip", {"annotations.json": b"{not json", "images/a.jpg": _jpeg()}),
    "zip_long_names": lambda t: _zip(t / "long.zip", {"d/" + "n" * 250 + ".jpg": _jpeg(), "annotations.json": b"{}"}),
    # COCO
    "coco_not_json": lambda t: _coco(t / "coco", None, raw=b"\xff\xfe not json"),
    "coco_is_list": lambda t: _coco(t / "coco", [1, 2, 3]),
    "coco_empty_object": lambda t: _coco(t / "coco", {}),
    "coco_image_id_list": _coco_with(img_id=[1, 2]),
    "coco_image_id_object": _coco_with(img_id={"a": 1}),
    "coco_ann_image_id_list": _coco_with(ann_image_id=[1]),
    "coco_category_id_object": _coco_with(ann_category_id={"x": {"y": 1}}),
    "coco_category_id_list": _coco_with(ann_category_id=[1]),
    "coco_bbox_strings": _coco_with(ann_bbox=["a", "b", "c", "d"]),
    "coco_bbox_short": _coco_with(ann_bbox=[1, 2]),
    "coco_bbox_nested": _coco_with(ann_bbox=[[1], [2], [3], [4]]),
    "coco_bbox_negative": _coco_with(ann_bbox=[-50, -50, -10, -10]),
    "coco_images_not_list": _coco_with(images={"a": 1}),
    "coco_categories_string": _coco_with(categories="apple"),
    "coco_deep_nesting": lambda t: _coco(t / "coco", None, raw=b'{"info": ' + b"[" * 5000 + b"1" + b"]" * 5000 + b"}"),
    "coco_huge_string": _coco_with(cat_name="x" * 2_000_000),
    "coco_file_name_traversal": _coco_with(img_file_name="../../../etc/passwd"),
    "coco_file_name_absolute": _coco_with(img_file_name="/etc/passwd"),
    "coco_file_name_long": _coco_with(img_file_name="f" * 5000 + ".jpg"),
    "coco_width_string": _coco_with(img_width="wide"),
    "coco_markup_class": _coco_with(cat_name="![x](http://tracker.example/p.png) <script>"),
    "coco_script_class": _coco_with(cat_name=SCRIPT_CLASS),
    "coco_mathtext_class": _coco_with(cat_name="price $x^2$"),
    "coco_link_class": _coco_with(cat_name="https://tracker.example/p"),
    # YOLO
    "yolo_alias_bomb": lambda t: _yolo(t, ALIAS_BOMB),
    "yolo_python_tag": lambda t: _yolo(t, "names: !!python/object/apply:os.system ['true']\ntrain: a\nval: b\n"),
    "yolo_split_outside": lambda t: _yolo(t, "names: [apple]\ntrain: /etc\nval: ../../..\n"),
    "yolo_path_outside": lambda t: _yolo(t, "path: /\nnames: [apple]\ntrain: etc\nval: etc\n"),
    "yolo_names_objects": lambda t: _yolo(t, "names: {0: {a: 1}, 1: [x]}\ntrain: images/train\nval: images/val\n"),
    "yolo_names_missing": lambda t: _yolo(t, "train: images/train\nval: images/val\n"),
    "yolo_yaml_list": lambda t: _yolo(t, "- 1\n- 2\n"),
    "yolo_yaml_broken": lambda t: _yolo(t, "names: [apple\ntrain: : :\n"),
    "yolo_script_names": lambda t: _yolo(
        t, f"names: [{json.dumps(SCRIPT_CLASS)}]\ntrain: images/train\nval: images/val\n"
    ),
    "yolo_label_garbage": lambda t: _yolo(t, "names: [apple]\ntrain: images/train\nval: images/val\n", label="x y z\n"),
    "yolo_label_huge_class": lambda t: _yolo(
        t, "names: [apple]\ntrain: images/train\nval: images/val\n", label="99999999999 0.5 0.5 2 2\n"
    ),
    # Pascal VOC
    "voc_xxe": lambda t: _voc(t, XXE),
    "voc_billion_laughs": lambda t: _voc(t, BILLION_LAUGHS),
    "voc_not_xml": lambda t: _voc(t, "<annotation><object>"),
    "voc_script_name": lambda t: _voc(
        t,
        "<annotation><filename>a.jpg</filename><object><name>&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;</name>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>",
    ),
    # not a dataset at all
    "missing_path": lambda t: t / "does-not-exist",
    "empty_folder": lambda t: (t / "empty").mkdir() or t / "empty",
    "device_file": lambda t: Path("/dev/zero"),
}
