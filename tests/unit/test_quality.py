"""Data-quality validation: every check, once per (file, check), the measurement cache, the CLI."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from backend.core.errors import BadInputError
from backend.core.params import QualityParams, load_params
from backend.data.quality.checks import (
    CHECKS,
    Check,
    Issue,
    IssueCollector,
    Severity,
    check_image,
    near_duplicate_pairs,
)
from backend.data.quality.measurements import Measurements, measure_bytes, phash_of
from backend.data.quality.validate import validate_dataset
from jobs import validate as validate_cli

CHECKS_MD = Path("/work/notes/CHECKS.md")
SPEC = {
    "corrupt_image": "error",
    "format_mismatch": "warning",
    "too_small": "error",
    "low_variance": "warning",
    "exact_duplicate": "warning",
    "near_duplicate": "warning",
    "bbox_out_of_bounds": "warning",
    "degenerate_bbox": "error",
    "tiny_bbox": "warning",
    "unknown_class": "error",
    "duplicate_box": "warning",
    "missing_label": "warning",
}


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """A varied RGB picture: a smooth random pattern plus a little noise (distinct per seed)."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    pixels = np.asarray(coarse, dtype=np.int16) + rng.integers(-10, 10, (size[1], size[0], 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


class YoloBuilder:
    """Writes a prepared-style YOLO dataset (images/{split}, labels/{split}, data.yaml)."""

    def __init__(self, root: Path, names: list[str]) -> None:
        self.root = root
        for split in ("train", "val"):
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        (root / "data.yaml").write_text(
            f"path: {root}\ntrain: images/train\nval: images/val\nnc: {len(names)}\nnames: {names}\n"
        )

    def add(self, name: str, data: bytes, labels: str | None = "0 0.5 0.5 0.3 0.3\n", split: str = "train") -> Path:
        path = self.root / "images" / split / name
        path.write_bytes(data)
        if labels is not None:
            (self.root / "labels" / split / (Path(name).stem + ".txt")).write_text(labels)
        return path


@pytest.fixture
def defect_dataset(tmp_path: Path) -> Iterator[Path]:
    """Clean images plus one planted case of every check validation finds on its own."""
    ds = YoloBuilder(tmp_path / "ds", ["egg", "pizza"])
    for i in range(8):
        ds.add(f"clean_{i}.jpg", jpeg_bytes(photo((96, 72), i)), "0 0.5 0.5 0.3 0.3\n1 0.2 0.2 0.2 0.2\n")
    for i in range(3):
        ds.add(f"val_{i}.jpg", jpeg_bytes(photo((96, 72), 50 + i)), "0 0.5 0.5 0.3 0.3\n1 0.2 0.2 0.2 0.2\n", "val")
    full = jpeg_bytes(photo((96, 72), 99))
    ds.add("x_corrupt.jpg", full[: len(full) * 2 // 5])
    ds.add("x_random.jpg", bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8)))
    png = io.BytesIO()
    photo((96, 72), 31).save(png, "PNG")
    ds.add("x_format.jpg", png.getvalue())
    ds.add("x_small.jpg", jpeg_bytes(photo((24, 20), 32)))
    ds.add("x_flat.jpg", jpeg_bytes(Image.new("RGB", (96, 72), (120, 130, 140))))
    ds.add("x_exact.jpg", (tmp_path / "ds" / "images" / "train" / "clean_0.jpg").read_bytes())
    near = ImageEnhance.Brightness(photo((96, 72), 1).resize((86, 65))).enhance(1.05)
    ds.add("x_near.jpg", jpeg_bytes(near, 60))
    ds.add("x_oob.jpg", jpeg_bytes(photo((96, 72), 33)), "0 0.9 0.5 0.4 0.2\n")
    ds.add("x_degenerate.jpg", jpeg_bytes(photo((96, 72), 34)), "0 0.5 0.5 0 0.2\n1 1.5 0.5 0.2 0.2\n")
    ds.add("x_tiny.jpg", jpeg_bytes(photo((96, 72), 35)), "0 0.5 0.5 0.03 0.03\n")
    ds.add("x_unknown.jpg", jpeg_bytes(photo((96, 72), 36)), "2 0.5 0.5 0.3 0.3\n")
    ds.add("x_dupbox.jpg", jpeg_bytes(photo((96, 72), 37)), "1 0.5 0.5 0.4 0.4\n1 0.505 0.5 0.4 0.4\n")
    ds.add("x_nolabel.jpg", jpeg_bytes(photo((96, 72), 38)), None)
    ds.add("x_empty.jpg", jpeg_bytes(photo((96, 72), 39)), "")
    ds.add("x_badline.jpg", jpeg_bytes(photo((96, 72), 40)), "0 0.5 0.5 0.3\nzero 0.1 0.1 0.1 0.1\n")
    yield ds.root


EXPECTED = {
    ("x_corrupt.jpg", "corrupt_image"),
    ("x_random.jpg", "corrupt_image"),
    ("x_format.jpg", "format_mismatch"),
    ("x_small.jpg", "too_small"),
    ("x_flat.jpg", "low_variance"),
    ("x_exact.jpg", "exact_duplicate"),
    ("x_near.jpg", "near_duplicate"),
    ("x_oob.jpg", "bbox_out_of_bounds"),
    ("x_degenerate.jpg", "degenerate_bbox"),
    ("x_tiny.jpg", "tiny_bbox"),
    ("x_unknown.jpg", "unknown_class"),
    ("x_dupbox.jpg", "duplicate_box"),
    ("x_nolabel.jpg", "missing_label"),
    ("x_empty.jpg", "missing_label"),
    ("x_badline.jpg", "label_format"),
}


def test_registry_matches_the_spec() -> None:
    for check, severity in SPEC.items():
        assert CHECKS[check][0] == severity, check
    for check, (severity, description) in CHECKS.items():
        assert severity in ("error", "warning", "info") and description and "\n" not in description, check
    if CHECKS_MD.exists():  # the shared spec, when this runs inside the project workspace
        names = set(re.findall(r"^\| (\w+) \| (error|warning|info) \|", CHECKS_MD.read_text(), re.M))
        assert names == set(SPEC.items())


def test_finds_every_planted_defect_once(defect_dataset: Path) -> None:
    report = validate_dataset(defect_dataset, workers=1)
    found = [(i.file, i.check) for i in report.issues]
    assert len(found) == len(set(found)), "one issue per (file, check)"
    missing = EXPECTED - set(found)
    assert not missing, missing
    clean = {f for f, _ in found if f.startswith(("clean_", "val_"))}
    assert clean == {"clean_0.jpg", "clean_1.jpg"} or clean <= {"clean_0.jpg", "clean_1.jpg"}
    by_key = {(i.file, i.check): i for i in report.issues}
    assert by_key[("x_degenerate.jpg", "degenerate_bbox")].message.endswith("(and 1 more like it)")
    assert "clean_0.jpg" in by_key[("x_exact.jpg", "exact_duplicate")].message
    assert "clean_1.jpg" in by_key[("x_near.jpg", "near_duplicate")].message
    assert ("x_exact.jpg", "near_duplicate") not in by_key  # an exact duplicate is not also "near"
    assert ("clean_0.jpg", "exact_duplicate") not in by_key  # the first by name is the original
    for issue in report.issues:
        assert issue.severity == CHECKS[issue.check][0]
    assert report.has_issues_at_or_above("error") and report.has_issues_at_or_above("info")
    assert not report.has_issues_at_or_above("never")


def test_summary_contents(defect_dataset: Path) -> None:
    report = validate_dataset(defect_dataset, workers=1)
    s = report.summary
    assert s["images"] == 26
    assert s["images_per_split"] == {"train": 23, "val": 3}
    assert s["issues_by_check"]["corrupt_image"] == 2 and s["issues_by_check"]["missing_label"] == 2
    assert s["issues_by_severity"]["error"] == sum(1 for i in report.issues if i.severity == "error")
    assert s["class_distribution"]["egg"]["val"] == 3 and s["class_distribution"]["pizza"]["val"] == 3
    assert sum(s["boxes_per_image"].values()) == 26
    assert s["box_relative_area"]["count"] == s["boxes"]
    assert s["image_size"]["width"]["min"] == 24
    line = report.summary_line()
    assert line.startswith("Checked 26 images: ") and "corrupt_image 2" in line
    data = json.loads(report.to_json())
    assert set(data) == {"summary", "issues"}
    assert all(set(i) == {"file", "check", "severity", "message"} for i in data["issues"])


def test_parallel_and_serial_agree(defect_dataset: Path) -> None:
    serial = validate_dataset(defect_dataset, workers=1)
    parallel = validate_dataset(defect_dataset, workers=2)
    assert [i.to_dict() for i in serial.issues] == [i.to_dict() for i in parallel.issues]


def test_second_run_decodes_nothing(defect_dataset: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = validate_dataset(defect_dataset, cache_dir=cache, workers=2)
    # 26 files, two byte-identical: 25 distinct contents decoded once each.
    assert first.summary["cache"] == {"enabled": True, "hits": 0, "misses": 26, "decoded": 25, "hashed": 26}
    second = validate_dataset(defect_dataset, cache_dir=cache, workers=2)
    assert second.summary["cache"] == {"enabled": True, "hits": 26, "misses": 0, "decoded": 0, "hashed": 0}
    rehashed = validate_dataset(defect_dataset, cache_dir=cache, workers=2, rehash=True)
    assert rehashed.summary["cache"] == {"enabled": True, "hits": 26, "misses": 0, "decoded": 0, "hashed": 26}
    assert [i.to_dict() for i in first.issues] == [i.to_dict() for i in second.issues]
    # A changed file is decoded again; a renamed one is not (the key is the content), but its checks still run.
    (defect_dataset / "images" / "train" / "clean_5.jpg").write_bytes(jpeg_bytes(photo((96, 72), 77)))
    (defect_dataset / "images" / "train" / "x_format.jpg").rename(defect_dataset / "images" / "train" / "x_fmt.png")
    third = validate_dataset(defect_dataset, cache_dir=cache, workers=2)
    assert third.summary["cache"]["decoded"] == 1
    assert third.summary["cache"]["hashed"] == 2
    assert "x_fmt.png" not in third.files_with("format_mismatch")
    assert "x_format.jpg" not in third.files_with("format_mismatch")


def test_prepare_issues_are_folded_in_once(defect_dataset: Path) -> None:
    report_path = defect_dataset / "prepare_report.json"
    report_path.write_text(
        json.dumps(
            {
                "issues": [
                    {"file": "x_empty.jpg", "check": "missing_label", "severity": "warning", "message": "from prepare"},
                    {"file": "gone.jpg", "check": "missing_image", "severity": "error", "message": "not on disk"},
                ]
            }
        )
    )
    report = validate_dataset(defect_dataset, workers=1)
    keys = [(i.file, i.check) for i in report.issues]
    assert keys.count(("x_empty.jpg", "missing_label")) == 1
    assert ("gone.jpg", "missing_image") in keys
    empty = next(i for i in report.issues if i.file == "x_empty.jpg" and i.check == "missing_label")
    assert empty.message == "from prepare"


def test_clean_dataset_has_no_issues(tmp_path: Path) -> None:
    ds = YoloBuilder(tmp_path / "ds", ["egg", "pizza"])
    for i in range(12):
        split = "val" if i % 4 == 0 else "train"
        ds.add(f"img_{i}.jpg", jpeg_bytes(photo((128, 96), 200 + i)), "0 0.5 0.5 0.3 0.3\n1 0.2 0.2 0.2 0.2\n", split)
    report = validate_dataset(ds.root, workers=2)
    assert report.issues == []
    assert report.summary_line() == "Checked 12 images: 0 errors, 0 warnings, 0 notes"


def test_phash_matches_imagehash_and_catches_truncation() -> None:
    for seed in range(4):
        image = photo((200, 150), seed)
        ours = imagehash.hex_to_hash(f"{phash_of(image.convert('L')):016x}")
        assert ours - imagehash.phash(image) <= 2
    data = jpeg_bytes(photo((200, 150), 5))
    assert measure_bytes(data, max_pixels=10**7).error is None
    cut = measure_bytes(data[: int(len(data) * 0.9)], max_pixels=10**7)
    assert cut.error and "truncated" in cut.error
    assert measure_bytes(data, max_pixels=100).too_large is True


def test_near_duplicate_pairs_on_hashes() -> None:
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, 1500, dtype=np.uint64) * np.uint64(2)
    hashes[700] = hashes[3] ^ np.uint64(0b1011)  # 3 bits from #3
    hashes[900] = hashes[3]  # identical hash but the same content group as #3: not paired
    groups = np.arange(1500)
    groups[900] = groups[3]
    pairs = near_duplicate_pairs(hashes, groups)
    assert pairs == {700: 3, 900: 700}


def test_issue_collector_keeps_one_per_file_and_check() -> None:
    issues = IssueCollector()
    issues.add("a.jpg", "tiny_bbox", "box 1 is tiny")
    issues.add("a.jpg", "tiny_bbox", "box 2 is tiny")
    issues.add("b.jpg", "corrupt_image", "bad")
    issues.add_issue(Issue("c.jpg", "missing_label", "warning", "from prepare"))
    issues.add("c.jpg", "missing_label", "again from validate")
    out = issues.issues()
    assert [(i.file, i.check) for i in out] == [
        ("b.jpg", "corrupt_image"),
        ("c.jpg", "missing_label"),
        ("a.jpg", "tiny_bbox"),
    ]
    assert out[2].message == "box 1 is tiny (and 1 more like it)"
    assert out[1].message == "from prepare"


def test_cli_exit_codes_and_report(defect_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "r" / "report.json"
    args = ["--dataset", str(defect_dataset), "--report", str(report_path), "--no-cache", "--workers", "1"]
    assert validate_cli.main(args) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("Checked 26 images:")
    data = json.loads(report_path.read_text())
    assert {(i["file"], i["check"]) for i in data["issues"]} >= EXPECTED
    assert validate_cli.main([*args, "--fail-on", "never"]) == 0
    capsys.readouterr()
    assert validate_cli.main(["--dataset", str(tmp_path / "nothing"), "--report", str(report_path)]) == 2
    err = capsys.readouterr().err
    assert "no data.yaml" in err and "Traceback" not in err


def test_cli_fail_on_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = YoloBuilder(tmp_path / "ds", ["egg"])
    ds.add("a.jpg", jpeg_bytes(photo((96, 72), 1)), "0 0.5 0.5 0.3 0.3\n")
    ds.add("b.jpg", jpeg_bytes(photo((96, 72), 2)), "", split="val")
    base = ["--dataset", str(ds.root), "--report", str(tmp_path / "r.json"), "--cache-dir", str(tmp_path / "c")]
    assert validate_cli.main(base) == 0
    assert validate_cli.main([*base, "--fail-on", "warning"]) == 1
    assert "1 warnings" in capsys.readouterr().out


def test_moved_dataset_still_validates(tmp_path: Path) -> None:
    ds = YoloBuilder(tmp_path / "before", ["egg"])
    ds.add("a.jpg", jpeg_bytes(photo((96, 72), 1)))
    ds.add("b.jpg", jpeg_bytes(photo((96, 72), 2)), split="val")
    moved = (tmp_path / "before").rename(tmp_path / "after")  # data.yaml still names the old absolute path
    report = validate_dataset(moved, workers=1)
    assert report.summary["images_per_split"] == {"train": 1, "val": 1}
    assert report.issues == []


def test_cached_label_checks_match_and_follow_edits(defect_dataset: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    plain = validate_dataset(defect_dataset, workers=1)
    first = validate_dataset(defect_dataset, cache_dir=cache, workers=1)
    second = validate_dataset(defect_dataset, cache_dir=cache, workers=1)
    assert [i.to_dict() for i in plain.issues] == [i.to_dict() for i in first.issues]
    assert [i.to_dict() for i in first.issues] == [i.to_dict() for i in second.issues]
    drop = ("seconds", "images_per_second", "cache")
    assert {k: v for k, v in first.summary.items() if k not in drop} == {
        k: v for k, v in second.summary.items() if k not in drop
    }
    # An edited label file is checked again; a fixed one loses its issue.
    labels = defect_dataset / "labels" / "train"
    (labels / "clean_3.txt").write_text("0 0.5 0.5 0.3 0.3\n5 0.5 0.5 0.1 0.1\n", encoding="utf-8")
    (labels / "x_tiny.txt").write_text("0 0.5 0.5 0.3 0.3\n", encoding="utf-8")
    third = validate_dataset(defect_dataset, cache_dir=cache, workers=1)
    assert "clean_3.jpg" in third.files_with("unknown_class")
    assert third.files_with("tiny_bbox") == []
    # A replaced image of another size re-runs the size-dependent box checks on an unchanged label file.
    (defect_dataset / "images" / "train" / "clean_5.jpg").write_bytes(jpeg_bytes(photo((12, 12), 5)))
    fourth = validate_dataset(defect_dataset, cache_dir=cache, workers=1)
    assert "clean_5.jpg" in fourth.files_with("tiny_bbox")


def test_list_images_matches_pathlib_order(tmp_path: Path) -> None:
    from backend.data.quality.reader import list_images, read_yolo_dataset

    folder = tmp_path / "images" / "train"
    for rel in ("a.jpg", "a-b.jpg", "a/b.png", "a/c/d.JPG", "b.txt", ".hidden", "x.jpg."):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(b"x")
    expected = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".png"} and p.is_file())
    assert list_images(folder) == expected
    (tmp_path / "data.yaml").write_text("names: [egg]\ntrain: images/train\n", encoding="utf-8")
    images = read_yolo_dataset(tmp_path).images
    assert [im.path for im in images] == expected
    assert images[0].path == folder / "a" / "b.png"  # parts order: "a" sorts before "a-b.jpg"
    assert images[0].label_path == tmp_path / "labels" / "train" / "a" / "b.txt"
    assert images[0].name == "b.png"


# --------------------------------------------------------------------------------------------------------------
# Photo checks (issue 11): each fires on an image built to trip it, and not on a near miss just inside its limit.


def shapes(size: tuple[int, int], seed: int, *, texture: bool) -> Image.Image:
    """Flat coloured discs and bars on a flat table; with `texture`, a varied photo underneath instead."""
    rng = np.random.default_rng(seed)
    image = photo(size, seed) if texture else Image.new("RGB", size, (140, 128, 110))
    draw = ImageDraw.Draw(image)
    w, h = size
    for k, colour in enumerate(((236, 140, 32), (196, 38, 30), (60, 150, 70))):
        r = int(min(w, h) * 0.18)
        cx, cy = int(w * (0.2 + 0.3 * k)), int(rng.integers(r, h - r))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    return image


def scaled(image: Image.Image, factor: float, *, towards: float = 0.0) -> Image.Image:
    """Pixels moved towards a grey level: `towards + (p - towards) * factor`."""
    pixels = np.asarray(image, np.float32)
    return Image.fromarray(np.clip(towards + (pixels - towards) * factor, 0, 255).astype(np.uint8))


def tinted(image: Image.Image, red: int) -> Image.Image:
    """The image with `red` added to its red channel."""
    pixels = np.asarray(image, np.int16).copy()
    pixels[..., 0] += red
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def photo_findings(image: Image.Image, thresholds: QualityParams | None = None) -> set[Check]:
    """The checks `check_image` reports for the image saved as a JPEG."""
    issues = IssueCollector()
    facts = measure_bytes(jpeg_bytes(image, 92), max_pixels=10**8)
    check_image("x.jpg", facts, issues, thresholds=thresholds or QualityParams(), max_pixels=10**8)
    return {i.check for i in issues.issues()}


def base(seed: int = 7) -> Image.Image:
    return shapes((480, 360), seed, texture=True)


PHOTO_CASES: dict[Check, tuple[Callable[[], Image.Image], Callable[[], Image.Image]]] = {
    Check.DARK: (lambda: scaled(base(), 0.15), lambda: scaled(base(), 0.4)),
    Check.LIGHT: (lambda: scaled(base(), 0.12, towards=255), lambda: scaled(base(), 0.4, towards=255)),
    Check.BLURRY: (
        lambda: base().filter(ImageFilter.GaussianBlur(4)),
        lambda: base().filter(ImageFilter.GaussianBlur(0.5)),
    ),
    Check.GRAYSCALE: (
        lambda: base().convert("L").convert("RGB"),
        lambda: tinted(base().convert("L").convert("RGB"), 14),
    ),
    Check.ODD_ASPECT_RATIO: (lambda: shapes((600, 200), 3, texture=True), lambda: shapes((440, 200), 3, texture=True)),
    Check.LOW_INFORMATION: (lambda: shapes((480, 360), 4, texture=False), lambda: shapes((480, 360), 4, texture=True)),
}


@pytest.mark.parametrize("check", list(PHOTO_CASES), ids=str)
def test_photo_check_fires_on_its_defect_alone(check: Check) -> None:
    trips, _ = PHOTO_CASES[check]
    assert photo_findings(trips()) == {check}
    assert CHECKS[check].severity == Severity.WARNING


@pytest.mark.parametrize("check", list(PHOTO_CASES), ids=str)
def test_photo_check_quiet_on_a_near_miss(check: Check) -> None:
    _, near_miss = PHOTO_CASES[check]
    assert photo_findings(near_miss()) == set()


def test_photo_thresholds_come_from_params(tmp_path: Path) -> None:
    ds = YoloBuilder(tmp_path / "ds", ["egg"])
    ds.add("a.jpg", jpeg_bytes(scaled(base(), 0.4)), "0 0.5 0.5 0.3 0.3\n")
    ds.add("b.jpg", jpeg_bytes(base(8)), "0 0.5 0.5 0.3 0.3\n", split="val")
    assert validate_dataset(ds.root, workers=1).issues == []
    strict = QualityParams(dark_max_p95=120.0)
    assert validate_dataset(ds.root, workers=1, thresholds=strict).files_with(Check.DARK) == ["a.jpg"]
    params = tmp_path / "params.yaml"
    params.write_text("quality:\n  dark_max_p95: 120\n", encoding="utf-8")
    assert load_params(params).quality == strict
    with pytest.raises(BadInputError, match=r"quality\.dark_level"):
        params.write_text("quality:\n  dark_level: 120\n", encoding="utf-8")
        load_params(params)


def test_blank_or_badly_exposed_images_get_one_finding() -> None:
    assert photo_findings(Image.new("RGB", (320, 240), (128, 120, 110))) == {Check.LOW_VARIANCE}
    assert photo_findings(Image.new("RGB", (320, 240), (5, 5, 5))) == {Check.DARK, Check.LOW_VARIANCE}
    # a dim picture squeezed into a few grey levels is dark, not also low_information
    dim = Measurements(
        format="JPEG", width=320, height=240, std=6.0, grey_p5=2, grey_p95=20, sharpness=200, colour=30, entropy=3.0
    )
    issues = IssueCollector()
    check_image("dim.jpg", dim, issues, thresholds=QualityParams(), max_pixels=10**8)
    assert [i.check for i in issues.issues()] == [Check.DARK]
