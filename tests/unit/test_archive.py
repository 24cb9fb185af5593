"""Safe zip extraction and dataset layout detection."""

from __future__ import annotations

import io
import json
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from backend.core.errors import BadInputError
from backend.data.archive import detect_dataset_layout, safe_extract_zip

LIMITS = {"max_bytes": 10_000_000, "max_members": 100}


def make_zip(path: Path, members: list[tuple[str, bytes]], *, method: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip with the given (name, data) members, names written exactly as given."""
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return path


def symlink_zip(path: Path, name: str, target: str) -> Path:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ok.txt", b"fine")
        archive.writestr(info, target)
    return path


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_extracts_a_normal_archive(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "ok.zip", [("data/a.txt", b"alpha"), ("data/sub/b.txt", b"beta"), ("c.txt", b"")])
    dest = tmp_path / "out"
    extracted = safe_extract_zip(archive, dest, **LIMITS)
    assert [p.relative_to(dest).as_posix() for p in extracted] == ["data/a.txt", "data/sub/b.txt", "c.txt"]
    assert (dest / "data" / "sub" / "b.txt").read_bytes() == b"beta"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.txt", "outside"),
        ("safe/../../evil.txt", "outside"),
        ("/tmp/evil_abs.txt", "absolute"),
        ("C:/evil.txt", "absolute"),
        ("c:evil.txt", "absolute"),
        ("..\\evil.txt", "backslash"),
        ("safe\\..\\..\\evil.txt", "backslash"),
    ],
)
def test_refuses_paths_that_escape(tmp_path: Path, name: str, why: str) -> None:
    archive = make_zip(tmp_path / "bad.zip", [("first.txt", b"harmless"), (name, b"pwned")])
    with zipfile.ZipFile(archive) as check:
        assert name in check.namelist()  # the hostile name really is in the archive
    dest = tmp_path / "nested" / "out"
    with pytest.raises(BadInputError, match=why) as info:
        safe_extract_zip(archive, dest, **LIMITS)
    assert name in str(info.value)
    assert not dest.exists()
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "nested" / "evil.txt").exists()
    assert not Path("/tmp/evil_abs.txt").exists()
    assert [p.name for p in files_under(tmp_path)] == ["bad.zip"]


def test_refuses_symlink_entries(tmp_path: Path) -> None:
    archive = symlink_zip(tmp_path / "link.zip", "link", "/etc/passwd")
    dest = tmp_path / "out"
    with pytest.raises(BadInputError, match="symbolic link"):
        safe_extract_zip(archive, dest, **LIMITS)
    assert not dest.exists()


def test_refuses_too_many_members(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", [(f"f{i}.txt", b"x") for i in range(11)])
    with pytest.raises(BadInputError, match="11 entries"):
        safe_extract_zip(archive, tmp_path / "out", max_bytes=10_000, max_members=10)
    assert not (tmp_path / "out").exists()


def test_refuses_declared_oversize(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", [("a.bin", b"a" * 6000), ("b.bin", b"b" * 6000)])
    with pytest.raises(BadInputError, match="more than 10000 bytes"):
        safe_extract_zip(archive, tmp_path / "out", max_bytes=10_000, max_members=10)
    assert not (tmp_path / "out").exists()


def _lie_about_size(data: bytes, declared: int) -> bytes:
    """Rewrite the uncompressed size in every local and central header to `declared`."""
    buf = bytearray(data)
    pos = 0
    while (pos := buf.find(b"PK\x03\x04", pos)) >= 0:
        struct.pack_into("<I", buf, pos + 22, declared)
        pos += 4
    pos = 0
    while (pos := buf.find(b"PK\x01\x02", pos)) >= 0:
        struct.pack_into("<I", buf, pos + 24, declared)
        pos += 4
    return bytes(buf)


def test_lying_header_still_stops_at_max_bytes(tmp_path: Path) -> None:
    honest = make_zip(tmp_path / "honest.zip", [("payload.bin", bytes(range(256)) * 2000)])  # 512 kB
    liar = tmp_path / "liar.zip"
    liar.write_bytes(_lie_about_size(honest.read_bytes(), 100))
    with zipfile.ZipFile(liar) as check:
        assert check.getinfo("payload.bin").file_size == 100  # the header now claims 100 bytes
    dest = tmp_path / "out"
    with pytest.raises(BadInputError, match=r"payload\.bin"):
        safe_extract_zip(liar, dest, max_bytes=1000, max_members=10)
    assert not dest.exists()
    assert sum(p.stat().st_size for p in files_under(tmp_path / "out")) == 0


def test_refuses_zip_bomb_ratio(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(6 * 1024 * 1024))])
    assert archive.stat().st_size < 100_000
    with pytest.raises(BadInputError, match="zip bomb"):
        safe_extract_zip(archive, tmp_path / "out", max_bytes=10**9, max_members=10)
    assert not (tmp_path / "out").exists()


def test_partial_output_removed_and_existing_files_kept(tmp_path: Path) -> None:
    good = make_zip(tmp_path / "good.zip", [("a.txt", b"a" * 1000), ("b.txt", b"b" * 1000)])
    data = bytearray(good.read_bytes())
    # Corrupt b.txt's stored CRC in the central directory so it fails only after a.txt was written.
    central = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)
    struct.pack_into("<I", data, central + 16, 0xDEADBEEF)
    local = data.find(b"PK\x03\x04", 4)
    struct.pack_into("<I", data, local + 14, 0xDEADBEEF)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(data))
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(BadInputError, match=r"b\.txt"):
        safe_extract_zip(broken, dest, **LIMITS)
    assert [p.name for p in files_under(dest)] == ["keep.txt"]


def test_not_a_zip_and_truncated_zip(tmp_path: Path) -> None:
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"this is not an archive" * 10)
    with pytest.raises(BadInputError, match="not a zip"):
        safe_extract_zip(fake, tmp_path / "out", **LIMITS)
    good = make_zip(tmp_path / "good.zip", [("a.txt", b"hello" * 1000)])
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[:-30])
    with pytest.raises(BadInputError, match="not a zip archive or is damaged"):
        safe_extract_zip(cut, tmp_path / "out", **LIMITS)
    with pytest.raises(BadInputError, match="does not exist"):
        safe_extract_zip(tmp_path / "missing.zip", tmp_path / "out", **LIMITS)
    assert not (tmp_path / "out").exists()


def _coco_json() -> bytes:
    return json.dumps(
        {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [], "categories": [{"id": 1, "name": "x"}]}
    ).encode()


def test_detects_coco_layout_inside_wrapper_folder(tmp_path: Path) -> None:
    root = tmp_path / "extract"
    (root / "dataset" / "images").mkdir(parents=True)
    (root / "dataset" / "images" / "a.jpg").write_bytes(b"jpeg")
    (root / "dataset" / "annotations.json").write_bytes(_coco_json())
    (root / "dataset" / "other.json").write_text(json.dumps({"not": "coco"}))
    layout = detect_dataset_layout(root)
    assert layout.kind == "coco"
    assert layout.coco_json == root / "dataset" / "annotations.json"
    assert layout.images_dir == root / "dataset" / "images"


def test_detects_yolo_layout(tmp_path: Path) -> None:
    (tmp_path / "export" / "train" / "images").mkdir(parents=True)
    (tmp_path / "export" / "data.yaml").write_text("train: ../train/images\nnames: [a, b]\n")
    layout = detect_dataset_layout(tmp_path)
    assert layout.kind == "yolo"
    assert layout.data_yaml == tmp_path / "export" / "data.yaml"


def test_unknown_layout_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    layout = detect_dataset_layout(tmp_path)
    assert layout.kind == "unknown"
    assert "data.yaml" in layout.message and "COCO" in layout.message
    (tmp_path / "annotations.json").write_bytes(_coco_json())
    layout = detect_dataset_layout(tmp_path)
    assert layout.kind == "unknown"
    assert "no folder holding its images" in layout.message


def test_round_trip_zip_then_detect(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ds/annotations.json", _coco_json())
        archive.writestr("ds/images/a.jpg", b"jpeg")
        archive.writestr("__MACOSX/ds/._a.jpg", b"junk")
    (tmp_path / "ds.zip").write_bytes(buffer.getvalue())
    safe_extract_zip(tmp_path / "ds.zip", tmp_path / "x", **LIMITS)
    assert detect_dataset_layout(tmp_path / "x").kind == "coco"
