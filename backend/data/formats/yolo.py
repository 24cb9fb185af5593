"""YOLO readers: `data.yaml` (ultralytics, Roboflow, FiftyOne YOLOv5), `classes.txt` (Label Studio) and
`obj.names` / `obj.data` (CVAT YOLO 1.1, FiftyOne YOLOv4).

Every folder or image list a data.yaml names must resolve inside the layout's root when the import came from an
archive (`confine_to`); a YAML file full of aliases (a "billion laughs" bomb) or with non-text names is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from backend.core.errors import BadInputError
from backend.data.archive import IMAGE_SUFFIXES
from backend.data.formats.model import (
    DetectedLayout,
    SourceBox,
    SourceDataset,
    SourceImage,
    check_class_name,
    check_file_name,
    confine,
    quote,
    split_of,
)
from backend.data.quality.checks import Check
from backend.data.quality.reader import list_images, parse_yolo_line

MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_ALIASES = 16  # a data.yaml needs none; a few are harmless
MAX_LIST_BYTES = 64 * 1024 * 1024


def load_yaml_safely(path: Path) -> dict[str, object]:
    """Parse a data.yaml, refusing huge files, alias bombs and anything that is not a mapping."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"Cannot read {path.name}: {exc.strerror or exc}.") from exc
    if len(raw) > MAX_YAML_BYTES:
        raise BadInputError(f"{path.name} is larger than {MAX_YAML_BYTES // 1024} KiB; a data.yaml is a short file.")
    text = raw.decode("utf-8", errors="replace")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        aliases = sum(1 for event in yaml.parse(text, Loader=loader) if isinstance(event, yaml.AliasEvent))
        if aliases > MAX_YAML_ALIASES:
            raise BadInputError(f"{path.name} uses {aliases} YAML aliases; refusing it (a data.yaml needs none).")
        data = yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise BadInputError(f"{path.name} is not valid YAML ({str(exc)[:150]}).") from exc
    except RecursionError as exc:
        raise BadInputError(f"{path.name} is nested too deeply; refusing it.") from exc
    if not isinstance(data, dict):
        raise BadInputError(f"{path.name} must be a YAML mapping with 'names' and 'train'/'val' entries.")
    return data


def _names_from_yaml(raw: object, where: str) -> list[str]:
    """Class names from a `names` entry: a list, or a mapping of ids 0..n-1, of text."""
    if isinstance(raw, list):
        return [check_class_name(n, where) for n in raw]
    if isinstance(raw, dict):
        by_id: dict[int, str] = {}
        for key, value in raw.items():
            if isinstance(key, bool) or not isinstance(key, int | str) or not str(key).strip().isdigit():
                raise BadInputError(f"{where}: 'names' must map class ids (0, 1, ...) to names; found {quote(key)}.")
            by_id[int(key)] = check_class_name(value, where)
        if sorted(by_id) != list(range(len(by_id))):
            raise BadInputError(f"{where}: 'names' must use the class ids 0..n-1 without gaps.")
        return [by_id[i] for i in range(len(by_id))]
    raise BadInputError(f"{where} has no usable 'names' (a list or an {{id: name}} mapping).")


def _read_names_file(path: Path) -> list[str]:
    """One class name per line (classes.txt, obj.names); blank lines ignored."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"Cannot read {path.name} ({str(exc)[:120]}).") from exc
    names = [check_class_name(line, path.name) for line in text.splitlines() if line.strip()]
    if not names:
        raise BadInputError(f"{path.name} lists no class names.")
    return names


def _label_for(image: Path, root: Path) -> Path:
    """The label file: the last `images` folder below the root swapped for `labels`, else next to the image."""
    try:
        parts = list(image.relative_to(root).parts)
    except ValueError:
        return image.with_suffix(".txt")
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "images":
            parts[index] = "labels"
            return root.joinpath(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _read_list(list_file: Path, bases: list[Path], root: Path | None) -> list[tuple[Path | None, str]]:
    """Images named in a train.txt-style list: (file or None when missing, the line as written)."""
    try:
        if list_file.stat().st_size > MAX_LIST_BYTES:
            raise BadInputError(f"{list_file.name} is too large for an image list.")
        lines = list_file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"Cannot read the image list {list_file.name} ({str(exc)[:120]}).") from exc
    out: list[tuple[Path | None, str]] = []
    for line in (raw.strip() for raw in lines):
        if not line:
            continue
        check_file_name(line, list_file.name)
        rel = Path(line.replace("\\", "/"))
        candidates = [rel] if rel.is_absolute() else [base / rel for base in bases]
        if not rel.is_absolute() and rel.parts and rel.parts[0] in ("data", "."):  # darknet lists say data/...
            candidates += [base / Path(*rel.parts[1:]) for base in bases if len(rel.parts) > 1]
        found = next((c for c in candidates if c.is_file()), None)
        if found is not None:
            found = confine(found, root, f"The image list {list_file.name} entry {quote(line)}")
        out.append((found, line))
    return out


def _read_labels(image: SourceImage, label: Path, nc: int, source: SourceDataset) -> None:
    """Read one YOLO label file into the image's boxes; every dropped line is noted with its reason."""
    try:
        text = label.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as exc:
        image.notes.append((Check.LABEL_FORMAT, f"label file {label.name} cannot be read ({str(exc)[:100]}); no boxes"))
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = parse_yolo_line(line)
        ref = f"label line {number}"
        if isinstance(parsed, str):
            image.notes.append((Check.LABEL_FORMAT, f"{ref} {parsed}; it was dropped"))
            source.counts["annotations_dropped"] += 1
            continue
        cls, cx, cy, w, h, from_polygon = parsed
        source.counts["annotations"] += 1
        if cls >= nc:
            image.notes.append((Check.UNKNOWN_CLASS, f"{ref} uses class {cls} but there are {nc}; dropped"))
            source.counts["annotations_dropped"] += 1
            continue
        if from_polygon:
            image.notes.append((Check.BBOX_FROM_SEGMENTATION, f"{ref} is a polygon; its box was used"))
        image.boxes.append(SourceBox(cls, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, normalized=True, ref=ref))


def _build(
    layout: DetectedLayout, names: list[str], entries: list[tuple[Path | None, str, str | None, Path | None]]
) -> SourceDataset:
    """A SourceDataset from (image or None, original name, split, label file) entries."""
    source = SourceDataset(
        layout=layout,
        names=names,
        images=[],
        class_map=[{"coco_id": None, "class_id": i, "name": n} for i, n in enumerate(names)],
    )
    seen: set[str] = set()
    for path, original, split, label in entries:
        key = os.fspath(path) if path is not None else original
        if key in seen:
            continue  # listed twice (e.g. in two lists of the same split); one copy is enough
        seen.add(key)
        image = SourceImage(path=path, original=original, split=split)
        if label is not None:
            _read_labels(image, label, len(names), source)
        source.images.append(image)
    return source


def read_data_yaml(layout: DetectedLayout, *, confine_to: Path | None) -> SourceDataset:
    """Read a data.yaml layout; splits as the file names them (`valid` read as val).

    Raises:
        BadInputError: Bad YAML or names, no split folders, or (from an archive) a folder outside the archive.
    """
    assert layout.data_yaml is not None
    yaml_path = layout.data_yaml
    data = load_yaml_safely(yaml_path)
    names = _names_from_yaml(data.get("names"), yaml_path.name)
    if not names:
        raise BadInputError(f"{yaml_path.name} defines no class names.")
    base = yaml_path.parent
    raw_base = data.get("path")
    if raw_base not in (None, ""):
        if not isinstance(raw_base, str):
            raise BadInputError(f"{yaml_path.name}: 'path' must be text; found {quote(raw_base)}.")
        candidate = Path(raw_base) if Path(raw_base).is_absolute() else yaml_path.parent / raw_base
        if candidate.is_dir():
            base = confine(candidate, confine_to, f"{yaml_path.name}'s 'path'")
    entries: list[tuple[Path | None, str, str | None, Path | None]] = []
    missing: list[str] = []
    for key in ("train", "val", "valid", "test"):
        raw = data.get(key)
        if raw in (None, ""):
            continue
        split = split_of(key)
        for entry in raw if isinstance(raw, list) else [raw]:
            if not isinstance(entry, str) or len(entry) > 1000:
                raise BadInputError(
                    f"{yaml_path.name}: '{key}' must name folders or image lists; found {quote(entry)}."
                )
            target = _resolve_entry(entry, base, yaml_path.parent)
            if target is None:
                missing.append(entry)
                continue
            target = confine(target, confine_to, f"{yaml_path.name}'s '{key}: {entry[:80]}'")
            if target.is_file():
                for path, line in _read_list(target, [target.parent, base, yaml_path.parent], confine_to):
                    label = _label_for(path, layout.root) if path is not None else None
                    entries.append((path, line, split, label))
            else:
                for path in list_images(target):
                    confine(path, confine_to, f"The image {path.name}")
                    entries.append((path, _relative(path, layout.root), split, _label_for(path, layout.root)))
    if not entries:
        listed = ", ".join(missing) or "none"
        raise BadInputError(f"{yaml_path.name} names no image folder that exists (listed: {listed[:200]}).")
    source = _build(layout, names, entries)
    source.facts["missing_folders"] = missing
    if missing:
        source.notes.append(
            ("data.yaml", Check.MISSING_FOLDER, f"listed folders not found: {', '.join(missing)[:200]}")
        )
    return source


def _resolve_entry(entry: str, base: Path, yaml_dir: Path) -> Path | None:
    """A data.yaml split entry as ultralytics resolves it (Roboflow's `../train/images` also tried inside)."""
    rel = Path(entry)
    candidates = [rel] if rel.is_absolute() else [base / rel, yaml_dir / rel]
    if entry.startswith("../"):
        candidates += [base / entry[3:], yaml_dir / entry[3:]]
    return next((c for c in candidates if c.exists()), None)


def read_classes_txt(layout: DetectedLayout) -> SourceDataset:
    """Read a Label Studio YOLO export: classes.txt, images/, labels/ (no splits: one is made)."""
    assert layout.names_file is not None
    names = _read_names_file(layout.names_file)
    folder = layout.names_file.parent
    images_dir = folder / "images"
    entries: list[tuple[Path | None, str, str | None, Path | None]] = [
        (path, _relative(path, folder), None, _label_for(path, folder)) for path in list_images(images_dir)
    ]
    source = _build(layout, names, entries)
    _note_orphan_labels(folder / "labels", {Path(e[1]).with_suffix("").name for e in entries}, source)
    return source


def _note_orphan_labels(labels_dir: Path, stems: set[str], source: SourceDataset) -> None:
    """Label files without an image are reported (their boxes cannot be imported)."""
    if not labels_dir.is_dir():
        return
    for label in sorted(labels_dir.rglob("*.txt")):
        if label.stem not in stems:
            source.counts["labels_without_image"] += 1
            source.notes.append((label.name, Check.LABEL_WITHOUT_IMAGE, "a label file with no image; left out"))


def read_darknet(layout: DetectedLayout, *, confine_to: Path | None) -> SourceDataset:
    """Read a CVAT YOLO 1.1 / FiftyOne YOLOv4 export: obj.names, obj.data, train.txt-style lists, obj_*_data/."""
    assert layout.names_file is not None
    names = _read_names_file(layout.names_file)
    folder = layout.names_file.parent
    lists = _darknet_lists(folder)
    entries: list[tuple[Path | None, str, str | None, Path | None]] = []
    listed: set[Path] = set()
    bases = [folder, folder.parent]
    for list_file, split in lists:
        for path, line in _read_list(list_file, bases, confine_to):
            entries.append((path, line, split, path.with_suffix(".txt") if path is not None else None))
            if path is not None:
                listed.add(path)
    for data_dir in sorted(
        p for p in folder.iterdir() if p.is_dir() and (p.name.startswith("obj_") or p.name == "data")
    ):
        split = None
        if data_dir.name.startswith("obj_") and data_dir.name.endswith("_data"):
            split = split_of(data_dir.name[4:-5])
        for path in list_images(data_dir):
            if path not in listed:  # images no list names still come in (CVAT lists every image; FiftyOne may not)
                entries.append((path, _relative(path, folder), split, path.with_suffix(".txt")))
    if not entries:
        raise BadInputError(f"{layout.names_file.name} found, but no images are listed (train.txt) or present.")
    return _build(layout, names, entries)


def _darknet_lists(folder: Path) -> list[tuple[Path, str | None]]:
    """The image lists of a darknet export with their split: from obj.data, else *.txt beside obj.names."""
    lists: list[tuple[Path, str | None]] = []
    obj_data = folder / "obj.data"
    if obj_data.is_file():
        try:
            text = obj_data.read_text(encoding="utf-8-sig")[:100_000]
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInputError(f"Cannot read obj.data ({str(exc)[:100]}).") from exc
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            split = split_of(key)
            if sep and split and value.strip():
                rel = value.strip().replace("\\", "/")
                for candidate in (folder / rel, folder / Path(rel).name):
                    if candidate.is_file():
                        lists.append((candidate, split))
                        break
    if not lists:
        for txt in sorted(folder.glob("*.txt")):
            stem = txt.stem.lower()
            if stem in ("obj", "classes") or txt.name == "obj.names":
                continue
            lists.append((txt, split_of(stem)))
    return lists


def looks_like_image(name: str) -> bool:
    """Whether a file name has an image extension."""
    return Path(name).suffix.lower() in IMAGE_SUFFIXES
