"""Export a version as COCO, YOLO and VOC, import the zip again: same images, classes, splits and boxes."""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path

import pytest

from backend.core.settings import Settings
from backend.data import datasets
from backend.data.import_request import ImportRequest
from backend.data.quality.reader import read_yolo_dataset
from backend.store.records import DatasetVersion
from tests.utils.actors import ADMIN
from tests.utils.export_layouts import image_size

# VOC stores whole pixels; COCO three decimals; YOLO the version's own label text.
TOLERANCE_PX = {"coco": 0.01, "yolo": 0.01, "voc": 1.0}


@pytest.fixture(scope="module", name="demo_raw")
def fixture_demo_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from backend.data.demo import generate_demo_dataset

    raw = tmp_path_factory.mktemp("raw")
    generate_demo_dataset(raw, images=20, seed=5, workers=1)
    return raw


def _contents(version: DatasetVersion) -> tuple[list[str], dict[str, tuple[str, str, list[tuple[int, ...]]]]]:
    """Class names and {image name: (split, sha256, sorted pixel boxes)} of a version."""
    dataset = read_yolo_dataset(Path(version.path))
    images = {}
    for image in dataset.images:
        width, height = image_size(image.path)
        boxes = []
        if image.label_path.is_file():
            for line in image.label_path.read_text().splitlines():
                cls, cx, cy, w, h = line.split()
                x1, y1 = (float(cx) - float(w) / 2) * width, (float(cy) - float(h) / 2) * height
                boxes.append((int(cls), x1, y1, x1 + float(w) * width, y1 + float(h) * height))
        digest = hashlib.sha256(image.path.read_bytes()).hexdigest()
        images[image.name] = (image.split, digest, sorted(boxes))
    return dataset.names, images


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
@pytest.mark.usefixtures("workspace")
def test_export_then_import_gives_the_same_dataset(demo_raw: Path, tmp_path: Path, fmt: str) -> None:
    original = datasets.import_dataset(
        ImportRequest(source=demo_raw / "annotations.json", name="food", images_dir=demo_raw / "images")
    )
    result = datasets.export_version(original.id, fmt, tmp_path / f"food-{fmt}.zip", actor=ADMIN)
    assert result.images == 20 and result.path.is_file()

    back = datasets.import_dataset(ImportRequest(source=result.path, name=f"food-{fmt}"))

    names, images = _contents(original)
    names_back, images_back = _contents(back)
    assert names_back == names
    assert images_back.keys() == images.keys()
    report = datasets.prepare_report(back.id)
    assert report.counts["left_out_images"] == 0
    assert report.layout is not None and report.splits_kept is True
    assert {"coco": "COCO", "yolo": "YOLO", "voc": "Pascal VOC"}[fmt] in report.layout
    for name, (split, digest, boxes) in images.items():
        split_back, digest_back, boxes_back = images_back[name]
        assert (split_back, digest_back) == (split, digest), name
        assert len(boxes_back) == len(boxes), name
        for box, box_back in zip(boxes, boxes_back, strict=True):
            assert box_back[0] == box[0]
            assert all(abs(a - b) <= TOLERANCE_PX[fmt] for a, b in zip(box[1:], box_back[1:], strict=True)), name


def test_cli_import_and_export(
    demo_raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], workspace: Settings
) -> None:
    importer = importlib.import_module("jobs.import")
    exporter = importlib.import_module("jobs.export_dataset")
    code = importer.main(
        ["--source", str(demo_raw / "annotations.json"), "--images", str(demo_raw / "images"), "--name", "lunch"]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"dataset": "lunch", "version": 1}

    out = tmp_path / "lunch.zip"
    code = exporter.main(["--dataset", "lunch", "--version", "1", "--format", "voc", "--out", str(out)])
    assert code == 0 and out.is_file()
    assert "Exported 20 images" in capsys.readouterr().out

    assert importer.main(["--source", str(out), "--name", "lunch"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"dataset": "lunch", "version": 2}

    # The attacks on --out: into a version folder (immutable), over the store, over a file that is not a zip.
    version_dir = next((workspace.datasets_dir / "lunch").glob("v1"))
    before = sorted(p.relative_to(version_dir) for p in version_dir.rglob("*"))
    notes = tmp_path / "notes.zip"
    notes.write_text("my notes", encoding="utf-8")
    for target in (version_dir / "images.zip", workspace.home / "plateops.zip", notes, tmp_path):
        argv = ["--dataset", "lunch", "--version", "1", "--format", "coco", "--out", str(target)]
        assert exporter.main(argv) == 2, target
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert sorted(p.relative_to(version_dir) for p in version_dir.rglob("*")) == before
    assert not (workspace.home / "plateops.zip").exists()
    assert notes.read_text(encoding="utf-8") == "my notes"


@pytest.mark.usefixtures("workspace")
def test_cli_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    importer = importlib.import_module("jobs.import")
    exporter = importlib.import_module("jobs.export_dataset")
    (tmp_path / "empty").mkdir()
    assert importer.main(["--source", str(tmp_path / "empty"), "--name", "x"]) == 2
    assert "No dataset found" in capsys.readouterr().err
    assert importer.main(["--source", str(tmp_path / "missing"), "--name", "x"]) == 2
    assert exporter.main(["--dataset", "nope", "--version", "1", "--format", "coco", "--out", "x.zip"]) == 2
    assert "no dataset called" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        exporter.main(["--dataset", "nope", "--version", "1", "--format", "pdf", "--out", "x.zip"])
    assert info.value.code == 2


@pytest.mark.usefixtures("workspace")
def test_folder_import_copies_so_the_source_can_change(demo_raw: Path, tmp_path: Path) -> None:
    source = tmp_path / "mine"
    (source / "images").mkdir(parents=True)
    for image in (demo_raw / "images").iterdir():
        (source / "images" / image.name).write_bytes(image.read_bytes())
    (source / "annotations.json").write_bytes((demo_raw / "annotations.json").read_bytes())
    version = datasets.import_dataset(ImportRequest(source=source, name="mine"))
    before = {p.name: p.read_bytes() for p in Path(version.path).rglob("*.jpg")}
    for image in (source / "images").iterdir():
        assert image.stat().st_nlink == 1  # never hard-linked into the version (or DVC's cache)
        image.write_bytes(b"overwritten")
    after = {p.name: p.read_bytes() for p in Path(version.path).rglob("*.jpg")}
    assert after == before and len(before) == 20


@pytest.mark.usefixtures("workspace")
def test_a_300_character_file_name_leaves_that_image_out_and_imports_the_rest(demo_raw: Path, tmp_path: Path) -> None:
    """The attack: one COCO entry names a file no file system can hold; it used to abort the whole import."""
    source = tmp_path / "long"
    (source / "images").mkdir(parents=True)
    for image in (demo_raw / "images").iterdir():
        (source / "images" / image.name).write_bytes(image.read_bytes())
    coco = json.loads((demo_raw / "annotations.json").read_text(encoding="utf-8"))
    long_name = "a" * 300 + ".jpg"
    coco["images"][0]["file_name"] = long_name
    (source / "annotations.json").write_text(json.dumps(coco), encoding="utf-8")
    version = datasets.import_dataset(ImportRequest(source=source, name="long"))
    kept = sorted(p.name for p in Path(version.path).rglob("*.jpg"))
    assert len(kept) == 19 and all(len(name) < 100 for name in kept)
    report = (Path(version.path) / "prepare_report.json").read_text(encoding="utf-8")
    assert "longer than 255 characters; left out" in report and long_name not in report


def test_cli_refuses_an_archive_whose_data_yaml_points_outside(
    workspace: Settings, demo_raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import zipfile

    outside = tmp_path / "server-photos"
    outside.mkdir()
    image = next((demo_raw / "images").iterdir())
    (outside / image.name).write_bytes(image.read_bytes())
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/data.yaml", f"names: [apple]\ntrain: {outside}\nval: {outside}\n")
        zf.writestr("export/images/placeholder.txt", "")
    importer = importlib.import_module("jobs.import")
    assert importer.main(["--source", str(archive), "--name", "evil"]) == 2
    err = capsys.readouterr().err
    assert "outside the imported folder or archive" in err and "Traceback" not in err
    assert not any((workspace.home / "datasets").glob("evil/v*"))


@pytest.mark.usefixtures("workspace")
def test_roboflow_coco_zip_imports_every_split_and_twelve_classes(demo_raw: Path, tmp_path: Path) -> None:
    import zipfile

    from tests.utils import export_layouts as tools

    demo = tools.load_demo(demo_raw)
    expected = tools.build_roboflow_coco(demo, tmp_path / "food-plates.v1i.coco")
    archive = tmp_path / "food-plates.v1i.coco.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((tmp_path / "food-plates.v1i.coco").rglob("*")):
            zf.write(path, path.relative_to(tmp_path))
    version = datasets.import_dataset(ImportRequest(source=archive, name="plates"))
    report = datasets.prepare_report(version.id)
    assert report.counts["images"] == expected.images == 20
    assert report.counts["boxes"] == expected.boxes
    assert {s: report.counts[s] for s in ("train", "val", "test")} == expected.splits
    assert [c.name for c in report.class_map] == demo.names and len(report.class_map) == 12
    assert [d.name for d in report.dropped_categories] == ["food-plates"]
    assert report.layout is not None and report.layout.startswith("Roboflow COCO export")
    data = (Path(version.path) / "data.yaml").read_text()
    assert "test: images/test" in data
