"""Box edits saved as a new immutable dataset version with a box-level changelog.

An edit names an image of a base version and its full new box list in pixels. Saving:

1. checks the edits against the base version (known image and class, every box inside its image);
2. refuses (EditConflictError, nothing written) when a listed image's picture or labels differ in any version of
   the dataset saved after the base;
3. copies the dataset's latest version into a staging folder (fresh files: version files are read-only hard links
   into DVC's cache, so nothing is ever written through them), writes the edited label files, computes the
   changelog against the latest version, records the new version (parent: the latest) and freezes it with DVC.

A lock file per dataset serialises steps 2 and 3, so two people saving at once cannot both pass the check.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from backend.annotation.changelog import BoxDiff, diff_boxes
from backend.annotation.labels import (
    LabelBox,
    VersionIndex,
    file_bytes,
    index_version,
    read_label_file,
    write_label_file,
)
from backend.core.access import Actor, Permission
from backend.core.enums import FailureCode
from backend.core.errors import BadInputError, NotFoundError, PlateOpsError, cap_message
from backend.core.limits import TextKind, require_within
from backend.core.progress import ProgressFn, null_progress
from backend.core.settings import get_settings
from backend.data.datasets import next_free_folder
from backend.data.index import index_new_version
from backend.data.versions import dvc_file_for, track_version
from backend.imaging.drawing import image_size
from backend.store import datasets as dataset_store
from backend.store import review as review_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import Dataset, DatasetVersion

# A box may overshoot its image by this many pixels (rounding in the browser) before it counts as outside.
EDGE_SLACK_PX = 0.5


class EditConflictError(PlateOpsError):
    """A listed image changed in a version saved after the one the edits were made on."""

    code: ClassVar[FailureCode] = FailureCode.EDIT_CONFLICT

    def __init__(self, message: str, *, files: list[str], versions: list[int]) -> None:
        super().__init__(message)
        self.files = files
        self.versions = versions


@dataclass(frozen=True)
class EditedBox:
    """One box of an edit: class name and pixel corners (x1, y1, x2, y2)."""

    class_name: str
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class ImageEdit:
    """The full new box list of one image (by its file name in the version)."""

    image: str
    boxes: tuple[EditedBox, ...]


@dataclass(frozen=True)
class SavedEdit:
    """The version a save created and its changelog entry."""

    version: DatasetVersion
    changelog: dict[str, Any]


def _box_coords(entry: Any) -> tuple[float, float, float, float] | None:
    """The four finite pixel coordinates of a `{"class": NAME, "box": [x1, y1, x2, y2]}` entry; None if not that."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class"), str):
        return None
    coords = entry.get("box")
    if not isinstance(coords, list) or len(coords) != 4:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and abs(float(v)) < float("inf") for v in coords):
        return None
    x1, y1, x2, y2 = (float(v) for v in coords)
    return x1, y1, x2, y2


def parse_edits(raw: Any) -> list[ImageEdit]:
    """Edits from their JSON form `[{"image": NAME, "boxes": [{"class": NAME, "box": [x1, y1, x2, y2]}]}]`.

    Raises:
        BadInputError: The structure is not that, a number is not finite, or an image is listed twice.
    """
    if not isinstance(raw, list):
        raise BadInputError('The edits must be a JSON list of {"image": ..., "boxes": [...]} objects.')
    edits: list[ImageEdit] = []
    seen: set[str] = set()
    for n, item in enumerate(raw, start=1):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("image"), str)
            or not isinstance(item.get("boxes"), list)
        ):
            raise BadInputError(f'Edit {n} needs "image" (a file name) and "boxes" (a list).')
        if item["image"] in seen:
            raise BadInputError(f"{item['image']} is listed twice; give each image's full box list once.")
        seen.add(item["image"])
        boxes = []
        for m, entry in enumerate(item["boxes"], start=1):
            coords = _box_coords(entry)
            if coords is None:
                raise BadInputError(
                    f'{item["image"]}, box {m}: expected {{"class": NAME, "box": [x1, y1, x2, y2]}} in pixels.'
                )
            boxes.append(EditedBox(entry["class"], coords))
        edits.append(ImageEdit(item["image"], tuple(boxes)))
    return edits


def load_edits_file(path: Path) -> list[ImageEdit]:
    """Read and parse an EDITS.json file (BadInputError when unreadable or malformed)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError(f"{path} does not exist.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{Path(path).name} is not valid JSON ({exc}).") from None
    return parse_edits(raw)


def find_version(dataset_name: str, number: int) -> tuple[Dataset, DatasetVersion]:
    """The dataset called `dataset_name` and its version `number` (NotFoundError when either is missing)."""
    with session_scope() as session:
        dataset = dataset_store.find_dataset(session=session, name=dataset_name)
        if dataset is None:
            raise NotFoundError(f"There is no dataset called {dataset_name!r}.")
        for version in dataset_store.list_versions(session=session, dataset_id=dataset.id):
            if version.number == number:
                return dataset, version
    raise NotFoundError(f"{dataset_name} has no version v{number}.")


def _check_edits(edits: list[ImageEdit], index: VersionIndex) -> dict[str, list[LabelBox]]:
    """New boxes per image, normalised; BadInputError on an unknown image or class or a box outside its image."""
    if not edits:
        raise BadInputError("There are no edits to save.")
    names = set(index.names)
    out: dict[str, list[LabelBox]] = {}
    for edit in edits:
        image = index.image(edit.image)
        width, height = image_size(image.path)
        boxes = []
        for eb in edit.boxes:
            if eb.class_name not in names:
                raise BadInputError(
                    f"{edit.image}: {eb.class_name!r} is not a class of this dataset ({', '.join(index.names)})."
                )
            x1, y1, x2, y2 = eb.box
            inside = -EDGE_SLACK_PX <= x1 < x2 <= width + EDGE_SLACK_PX and (
                -EDGE_SLACK_PX <= y1 < y2 <= height + EDGE_SLACK_PX
            )
            if not inside:
                raise BadInputError(
                    f"{edit.image}: box {[round(v, 1) for v in eb.box]} is not inside the {width}×{height} image "
                    "(x1 < x2 and y1 < y2, all within the picture)."
                )
            clipped = (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
            boxes.append(LabelBox.from_pixels(eb.class_name, clipped, width, height))
        out[edit.image] = boxes
    return out


def _changed_since(base: VersionIndex, later: VersionIndex, files: list[str]) -> list[str]:
    """Files whose picture or labels differ between `base` and `later` (or that `later` no longer has)."""
    changed = []
    for file in files:
        old, new = base.images[file], later.images.get(file)
        if (
            new is None
            or base.names != later.names
            or file_bytes(old.label_path) != file_bytes(new.label_path)
            or (old.path.stat().st_size != new.path.stat().st_size or file_bytes(old.path) != file_bytes(new.path))
        ):
            changed.append(file)
    return changed


def check_conflicts(base: DatasetVersion, files: list[str]) -> None:
    """Raise EditConflictError when any of `files` changed in a version of the dataset saved after `base`."""
    with session_scope() as session:
        later = [
            v
            for v in dataset_store.list_versions(session=session, dataset_id=base.dataset_id)
            if v.number > base.number
        ]
    if not later:
        return
    base_index = index_version(Path(base.path))
    hits: dict[str, list[int]] = {}
    for version in sorted(later, key=lambda v: v.number):
        for file in _changed_since(base_index, index_version(Path(version.path)), files):
            hits.setdefault(file, []).append(version.number)
    if hits:
        shown = "; ".join(f"{f} (changed in {', '.join(f'v{n}' for n in ns)})" for f, ns in sorted(hits.items())[:5])
        more = f" and {len(hits) - 5} more" if len(hits) > 5 else ""
        numbers = sorted({n for ns in hits.values() for n in ns})
        raise EditConflictError(
            f"Not saved: someone changed {len(hits)} of these image(s) after v{base.number}: {shown}{more}. "
            f"Open the newest version (v{numbers[-1]}), look at their changes, and make your edits there.",
            files=sorted(hits),
            versions=numbers,
        )


@contextmanager
def dataset_lock(dataset_name: str) -> Iterator[None]:
    """Hold the dataset's save lock (one writer of new versions at a time, across processes)."""
    folder = get_settings().datasets_dir / dataset_name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".edit.lock", "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def latest_version(dataset_id: int) -> DatasetVersion:
    """The dataset's newest version (ValueError when it has none)."""
    with session_scope() as session:
        return max(dataset_store.list_versions(session=session, dataset_id=dataset_id), key=lambda v: v.number)


def stage_copy(source: Path, dataset_name: str) -> Path:
    """A writable copy of a version folder (fresh files, never hard links into the cache)."""
    staging = get_settings().datasets_dir / dataset_name / f".staging-{uuid.uuid4().hex[:8]}"
    shutil.copytree(source, staging, copy_function=shutil.copyfile)
    _point_data_yaml_at(staging)
    return staging


def _point_data_yaml_at(folder: Path) -> None:
    """Make a version folder's data.yaml name the folder itself (the copy still names its source)."""
    data_yaml = folder / "data.yaml"
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    data["path"] = str(folder.resolve())
    data_yaml.unlink()
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def save_edits(
    dataset_name: str,
    base_number: int,
    edits: list[ImageEdit],
    *,
    actor: Actor,
    message: str,
    author: str = "",
    progress: ProgressFn = null_progress,
) -> SavedEdit:
    """Apply box edits made on version `base_number` of a dataset as a new immutable version.

    Args:
        dataset_name: The dataset's name.
        base_number: The version number the edits were made on.
        edits: The full new box list of each edited image, in pixels.
        message: What the edit does (shown in the version history).
        author: Who made it.

        actor: The acting user (needs the edit_labels permission).
        progress: Progress callback.

    Returns:
        The new version and its changelog entry (totals, per class, per image, reclassified pairs).

    Raises:
        BadInputError: Unknown image or class, a box outside its image, or no edits.
        NotFoundError: No such dataset or version.
        EditConflictError: A listed image changed in a version saved after `base_number`; nothing was written.
    """
    authorize(actor, Permission.EDIT_LABELS, f"dataset {cap_message(dataset_name, 80)} v{base_number}")
    require_within(TextKind.VERSION_MESSAGE, message)  # before any folder is written
    dataset, base = find_version(dataset_name, base_number)
    new_boxes = _check_edits(edits, index_version(Path(base.path)))
    with dataset_lock(dataset.name):
        check_conflicts(base, list(new_boxes))
        parent = latest_version(dataset.id)
        progress(0.1, f"Copying {dataset.name} v{parent.number}")
        staging = stage_copy(Path(parent.path), dataset.name)
        try:
            index = index_version(staging)
            total, per_image = BoxDiff(), {}
            for file, boxes in new_boxes.items():
                label_path = index.image(file).label_path
                image_diff = diff_boxes(read_label_file(label_path, index.names), boxes)
                write_label_file(label_path, boxes, index.names)
                total.add(image_diff)
                per_image[file] = {k: v for k, v in image_diff.totals.items() if v}
            entry = {
                "action": "edit",
                "base_version": base.number,
                "parent_version": parent.number,
                "author": author,
                "message": message,
                **total.as_dict(),
                "images": per_image,
            }
            progress(0.4, "Freezing the new version with DVC")
            version = record_version(dataset, parent, staging, entry, author=author, message=message)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    with session_scope() as session:
        versions = [v.id for v in dataset_store.list_versions(session=session, dataset_id=dataset.id)]
        review_store.resolve_open_items_for_files(
            session=session,
            dataset_version_ids=versions,
            files=list(new_boxes),
            resolution=f"saved as v{version.number}",
            resolved_by=author,
        )
    progress(1.0, f"Saved {dataset.name} v{version.number}")
    return SavedEdit(version=version, changelog=entry)


def record_version(
    dataset: Dataset, parent: DatasetVersion, staging: Path, entry: dict[str, Any], *, author: str, message: str
) -> DatasetVersion:
    """Move the staged folder to `v<N>`, point data.yaml at it, freeze it with DVC, and only then record the row.

    On any failure before the row exists the `v<N>` folder and its .dvc file go, so no row ever names a version DVC
    has not frozen (the per-dataset save lock keeps the number free meanwhile).
    """
    stats = dict(parent.stats)
    if isinstance(stats.get("boxes"), int):
        stats["boxes"] = stats["boxes"] + entry["totals"]["added"] - entry["totals"]["removed"]
    with session_scope() as session:
        versions = dataset_store.list_versions(session=session, dataset_id=dataset.id)
    number, final = next_free_folder(staging.parent, max((v.number for v in versions), default=0))
    try:
        staging.rename(final)
        _point_data_yaml_at(final)
        content_hash = track_version(final)
        with session_scope() as session:
            version = dataset_store.create_version(
                session=session,
                dataset_id=dataset.id,
                number=number,
                path=str(final.resolve()),
                content_hash=content_hash,
                author=author,
                message=message,
                parent_id=parent.id,
                stats=stats,
                changelog=[entry],
            )
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        dvc_file_for(final).unlink(missing_ok=True)
        raise
    index_new_version(version.id)  # the Datasets page reads the new version's index, never its folder
    return version
