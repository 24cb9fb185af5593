"""Safe import of uploaded archives and recognition of the dataset layout inside them.

`safe_extract_zip` refuses anything that could write outside the destination (zip slip, absolute paths, drive
letters, backslashes, symlinks, device files), archives with too many members, archives that expand past a size
limit (counted from the real bytes written, so a lying header cannot get past it), and members with a
suspicious compression ratio (zip bombs). On refusal, whatever was written is removed again.

`detect_dataset_layout` tells a COCO dataset (annotations JSON + images folder) from a YOLO / Roboflow export
(`data.yaml`); `jobs.prepare --coco X.zip` uses it to find the json and images folder it then hands to
`formats.convert.prepare_coco`. The console's import and `jobs.import` recognise every tool's layout (Roboflow,
CVAT, Label Studio, LabelImg / VOC, FiftyOne) through `backend.data.formats.detect` instead. This one stays because
`jobs.prepare` needs its answer: one COCO json (the train one among splits) with the folder holding its images.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from backend.core.errors import BadInputError
from backend.core.progress import ProgressFn, null_progress

# A member that expands more than this many times its compressed size is treated as a zip bomb, once it has
# produced at least _RATIO_MIN_BYTES (small, highly compressible text files are normal).
MAX_COMPRESSION_RATIO = 200
_RATIO_MIN_BYTES = 4 * 1024 * 1024
_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_NAME_CHARS = 1000  # a longer COCO file_name names no file; it is not looked up

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".mpo", ".jpe", ".jfif"})


def _check_member_name(name: str) -> PurePosixPath:
    """Return the member's relative path, or raise when the name could escape the destination."""
    if not name:
        raise BadInputError("The archive contains an entry with an empty name.")
    if "\x00" in name:
        raise BadInputError(f"The archive entry {name!r} has a NUL byte in its name; refusing the archive.")
    if "\\" in name:
        raise BadInputError(f"The archive entry '{name}' uses backslashes in its path; refusing the archive.")
    if name.startswith("/") or _DRIVE.match(name):
        raise BadInputError(f"The archive entry '{name}' has an absolute path; refusing the archive.")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise BadInputError(f"The archive entry '{name}' points outside the folder (../); refusing the archive.")
    if not parts:
        raise BadInputError(f"The archive entry '{name}' has no usable name; refusing the archive.")
    return PurePosixPath(*parts)


def _check_member_type(info: zipfile.ZipInfo) -> None:
    """Refuse symlinks and other special files (the Unix mode sits in the top 16 bits of external_attr)."""
    mode = (info.external_attr >> 16) & 0xFFFF
    if not mode:
        return
    if stat.S_ISLNK(mode):
        raise BadInputError(f"The archive entry '{info.filename}' is a symbolic link; refusing the archive.")
    file_type = stat.S_IFMT(mode)
    if file_type and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise BadInputError(f"The archive entry '{info.filename}' is a special file; refusing the archive.")


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


class _Cleanup:
    """Remembers what extraction created so a refusal can remove it again."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.dest_existed = dest.exists()
        self.files: list[Path] = []
        self.dirs: list[Path] = []

    def mkdir(self, folder: Path) -> None:
        missing: list[Path] = []
        current = folder
        while not current.exists():
            missing.append(current)
            current = current.parent
        for item in reversed(missing):
            item.mkdir()
            self.dirs.append(item)

    def undo(self) -> None:
        if not self.dest_existed:
            shutil.rmtree(self.dest, ignore_errors=True)
            return
        for file in reversed(self.files):
            file.unlink(missing_ok=True)
        for folder in reversed(self.dirs):
            with contextlib.suppress(OSError):
                folder.rmdir()


def safe_extract_zip(
    zip_path: Path,
    dest: Path,
    *,
    max_bytes: int,
    max_members: int,
    progress: ProgressFn = null_progress,
) -> list[Path]:
    """Extract a zip archive into `dest`, refusing anything unsafe.

    Args:
        zip_path: The archive.
        dest: Destination folder (created when missing).
        max_bytes: Most bytes the archive may expand to, counted both from the headers and while writing.
        max_members: Most entries the archive may hold.
        progress: Progress callback.

    Returns:
        The extracted files (not folders), in archive order.

    Raises:
        BadInputError: The file is not a zip, is damaged or encrypted, or breaks one of the safety rules. The
            message names the offending entry. Nothing extracted stays behind.
    """
    zip_path = Path(zip_path)
    dest = Path(dest)
    if not zip_path.is_file():
        raise BadInputError(f"The archive {zip_path} does not exist.")
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise BadInputError(f"{zip_path.name} is not a zip archive or is damaged ({exc}).") from exc
    except OSError as exc:
        raise BadInputError(f"Cannot read the archive {zip_path.name}: {exc}.") from exc
    with archive:
        infos = archive.infolist()
        plan = _plan_members(infos, dest, max_bytes=max_bytes, max_members=max_members)
        cleanup = _Cleanup(dest)
        try:
            cleanup.mkdir(dest)
            return _write_members(archive, plan, cleanup, max_bytes=max_bytes, progress=progress)
        except BaseException:
            cleanup.undo()
            raise


def _plan_members(
    infos: list[zipfile.ZipInfo], dest: Path, *, max_bytes: int, max_members: int
) -> list[tuple[zipfile.ZipInfo, Path, bool]]:
    """Check every entry before anything is written; return (info, target, is_dir) triples."""
    if len(infos) > max_members:
        raise BadInputError(f"The archive holds {len(infos)} entries; at most {max_members} are allowed.")
    declared = 0
    seen: set[str] = set()
    root = dest.resolve()
    plan: list[tuple[zipfile.ZipInfo, Path, bool]] = []
    for info in infos:
        rel = _check_member_name(info.filename)
        _check_member_type(info)
        if info.flag_bits & 0x1:
            raise BadInputError(f"The archive entry '{info.filename}' is encrypted; upload an unencrypted zip.")
        key = str(rel).casefold()
        if key in seen and not info.is_dir():
            raise BadInputError(f"The archive entry '{info.filename}' appears twice; refusing the archive.")
        seen.add(key)
        target = dest / rel
        if not _is_within(target.resolve(), root):
            raise BadInputError(f"The archive entry '{info.filename}' points outside the folder; refusing it.")
        declared += info.file_size
        if declared > max_bytes:
            raise BadInputError(
                f"The archive would expand to more than {max_bytes} bytes (at entry '{info.filename}'); refusing it."
            )
        if info.file_size > _RATIO_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise BadInputError(
                f"The archive entry '{info.filename}' is compressed {info.file_size // max(info.compress_size, 1)}"
                " times: this looks like a zip bomb; refusing the archive."
            )
        plan.append((info, target, info.is_dir()))
    return plan


def _stream(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):
            yield chunk


def _write_members(
    archive: zipfile.ZipFile,
    plan: list[tuple[zipfile.ZipInfo, Path, bool]],
    cleanup: _Cleanup,
    *,
    max_bytes: int,
    progress: ProgressFn,
) -> list[Path]:
    total_declared = max(1, sum(info.file_size for info, _, _ in plan))
    written = 0
    extracted: list[Path] = []
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for index, (info, target, is_dir) in enumerate(plan):
        if is_dir:
            cleanup.mkdir(target)
            continue
        cleanup.mkdir(target.parent)
        try:
            fd = os.open(target, flags, 0o644)
        except OSError as exc:
            raise BadInputError(f"Cannot write the archive entry '{info.filename}': {exc.strerror}.") from exc
        cleanup.files.append(target)
        member_bytes = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in _stream(archive, info):
                    member_bytes += len(chunk)
                    written += len(chunk)
                    if written > max_bytes:
                        raise BadInputError(
                            f"The archive expands to more than {max_bytes} bytes (at entry '{info.filename}', "
                            "more than its header says); refusing it."
                        )
                    if member_bytes > _RATIO_MIN_BYTES and member_bytes > MAX_COMPRESSION_RATIO * max(
                        info.compress_size, 1
                    ):
                        raise BadInputError(
                            f"The archive entry '{info.filename}' expands more than {MAX_COMPRESSION_RATIO} times:"
                            " this looks like a zip bomb; refusing the archive."
                        )
                    out.write(chunk)
        except zipfile.BadZipFile as exc:
            raise BadInputError(f"The archive entry '{info.filename}' is damaged ({exc}).") from exc
        except (EOFError, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
            raise BadInputError(f"The archive entry '{info.filename}' cannot be read ({exc}).") from exc
        except OSError as exc:
            raise BadInputError(f"The archive entry '{info.filename}' cannot be extracted ({exc}).") from exc
        extracted.append(target)
        if index % 50 == 0:
            progress(min(1.0, written / total_declared), f"Extracting {info.filename}")
    progress(1.0, f"Extracted {len(extracted)} files")
    return extracted


# --------------------------------------------------------------------------------------------------------------
# Layout detection


@dataclass(frozen=True)
class Layout:
    """What kind of dataset a folder holds.

    Attributes:
        kind: "coco", "yolo" or "unknown".
        message: Plain-language description (for "unknown": what was expected).
        coco_json: The COCO annotations file (kind "coco").
        images_dir: The folder the COCO `file_name`s are relative to (kind "coco").
        data_yaml: The YOLO / Roboflow `data.yaml` (kind "yolo").
    """

    kind: Literal["coco", "yolo", "unknown"]
    message: str
    coco_json: Path | None = None
    images_dir: Path | None = None
    data_yaml: Path | None = None


_SKIP_DIRS = {"__MACOSX", ".git", "labels"}


def walk_files(root: Path, max_depth: int, skip: frozenset[str] | set[str]) -> Iterator[tuple[int, Path]]:
    """(depth, file) under root up to max_depth folders deep, shallow first, sorted; hidden names, names in `skip`
    and symlinked folders are not entered."""
    level = [root]
    for depth in range(max_depth + 1):
        next_level: list[Path] = []
        for folder in level:
            try:
                entries = sorted(folder.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith(".") or entry.name in skip:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    next_level.append(entry)
                elif entry.is_file():
                    yield depth, entry
        level = next_level


def _walk_limited(root: Path, max_depth: int) -> Iterator[Path]:
    """Files under root up to max_depth folders deep, shallow first, sorted (skips hidden/mac metadata)."""
    return (path for _, path in walk_files(root, max_depth, _SKIP_DIRS))


def _coco_keys(path: Path) -> dict | None:
    """The parsed JSON when it looks like COCO detection annotations, else None."""
    try:
        with path.open("rb") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and all(k in data for k in ("images", "annotations", "categories")):
        return data
    return None


def find_coco_images_dir(coco_json: Path, file_names: list[str], root: Path | None = None) -> Path | None:
    """The folder where the first COCO `file_name`s exist (by path or by basename), or None."""
    candidates = [coco_json.parent / "images", coco_json.parent, coco_json.parent.parent / "images"]
    if root is not None:
        candidates += [root / "images", root]
    sample = [n for n in file_names[:20] if isinstance(n, str) and n and len(n) < _MAX_NAME_CHARS]
    for folder in candidates:
        if not folder.is_dir():
            continue
        for name in sample:
            try:
                if (folder / name).is_file() or (folder / PurePosixPath(name.replace("\\", "/")).name).is_file():
                    return folder
            except OSError:
                continue  # a name the file system cannot even look up (too long for it) is no match
    return None


def detect_dataset_layout(root: Path) -> Layout:
    """Tell whether a folder holds a COCO dataset, a YOLO / Roboflow export, or neither.

    COCO: a `*.json` with `images`, `annotations` and `categories` keys, plus a folder holding its images.
    YOLO / Roboflow: a `data.yaml` (or `data.yml`). Looks up to three folders deep (archives often wrap
    everything in one top folder); the shallowest match wins, YOLO before COCO at the same depth.

    Args:
        root: The folder to inspect (e.g. where an archive was extracted).

    Returns:
        The Layout; kind "unknown" carries a message saying what was expected.
    """
    root = Path(root)
    if not root.is_dir():
        return Layout("unknown", f"{root} is not a folder.")
    files = list(_walk_limited(root, max_depth=3))
    yamls = [f for f in files if f.name.lower() in ("data.yaml", "data.yml")]
    jsons = [f for f in files if f.suffix.lower() == ".json"]

    def depth(path: Path) -> int:
        return len(path.relative_to(root).parts)

    best_yaml = min(yamls, key=lambda p: (depth(p), str(p)), default=None)
    coco_hits: list[tuple[Path, dict]] = []
    for candidate in sorted(jsons, key=lambda p: (depth(p), "train" not in str(p).lower(), str(p))):
        data = _coco_keys(candidate)
        if data is not None:
            coco_hits.append((candidate, data))
            break
    if best_yaml is not None and (not coco_hits or depth(best_yaml) <= depth(coco_hits[0][0])):
        message = f"YOLO / Roboflow dataset described by {best_yaml.relative_to(root)}"
        return Layout("yolo", message, data_yaml=best_yaml)
    if coco_hits:
        coco_json, data = coco_hits[0]
        names = [img.get("file_name", "") for img in data.get("images", []) if isinstance(img, dict)]
        images_dir = find_coco_images_dir(coco_json, names, root)
        if images_dir is None:
            return Layout(
                "unknown",
                f"Found COCO annotations {coco_json.relative_to(root)} but no folder holding its images "
                "(expected an images/ folder next to it).",
                coco_json=coco_json,
            )
        return Layout(
            "coco",
            f"COCO dataset: {coco_json.relative_to(root)} with images in {images_dir.relative_to(root) or '.'}",
            coco_json=coco_json,
            images_dir=images_dir,
        )
    return Layout(
        "unknown",
        "No dataset found: expected either a COCO annotations .json (with images, annotations and categories) "
        "plus an images/ folder, or a YOLO / Roboflow export with a data.yaml.",
    )
