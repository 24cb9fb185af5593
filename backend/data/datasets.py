"""Datasets as the console sees them: import (COCO, YOLO, VOC and tool layouts, zip, demo) into DVC versions,
validation stored per image, and the gallery's view of a version.

Import pipeline: extract safely → detect layout → pre-flight conversion into `datasets/<name>/v<N>/` →
freeze with DVC (and push) → record the version → validate and store every issue. The version row is written
only once DVC has frozen and pushed its folder: a DVC failure (or a full disk) leaves no row, and the folder goes.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import shutil
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from backend.core.access import Actor, Permission
from backend.core.enums import ValidationStatus
from backend.core.errors import BadInputError, PlateOpsError, cap_message
from backend.core.progress import ProgressFn, null_progress, sub_progress
from backend.core.settings import Settings, get_settings
from backend.data.archive import safe_extract_zip
from backend.data.formats.build import prepare_source
from backend.data.formats.export import ExportResult, export_dataset_dir
from backend.data.formats.model import ExportFormat
from backend.data.formats.prepared import REPORT_NAME
from backend.data.formats.read import find_layout, read_layout
from backend.data.import_request import ImportRequest
from backend.data.index import index_new_version
from backend.data.preflight import PreflightReport
from backend.data.quality.checks import CHECKS, SEVERITY_RANK, Check, CheckInfo, Severity
from backend.data.quality.reader import read_yolo_dataset
from backend.data.quality.report import ValidationReport
from backend.data.quality.validate import validate_dataset
from backend.data.versions import dvc_file_for, track_version
from backend.store import datasets as dataset_store
from backend.store import review as review_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion

log = logging.getLogger(__name__)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")


def check_dataset_name(name: str) -> str:
    """Return `name` if it can name a dataset folder, else raise BadInputError saying what is allowed."""
    name = name.strip()
    if not _NAME_RE.match(name):
        raise BadInputError(
            f"'{name}' cannot name a dataset: use letters, digits, '.', '_' or '-' (up to 80), starting with a "
            "letter or digit."
        )
    return name


_JOB_TAG = ".plateops-job"  # which job made a folder: in its staging folder, then beside `v<N>` until the row exists


def _work_key(job_id: int | None) -> str:
    """Names the folders an import works in: the job's id when run as a job (so its crash recovery finds them)."""
    return f"job-{job_id}" if job_id is not None else uuid.uuid4().hex[:10]


def _staging_dir(settings: Settings, name: str, key: str) -> Path:
    path = settings.datasets_dir / name / f".staging-{key}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def next_free_folder(dataset_dir: Path, latest: int) -> tuple[int, Path]:
    """The next version number above `latest` whose `v<N>` folder and .dvc file are both free."""
    number = latest + 1
    while (dataset_dir / f"v{number}").exists() or dvc_file_for(dataset_dir / f"v{number}").exists():
        number += 1
    return number, dataset_dir / f"v{number}"


def _finalise_folder(staging: Path, final: Path) -> Path:
    """Move a staged dataset to its `v<N>` folder and point its data.yaml at the new place."""
    if final.exists():
        raise BadInputError(f"{final} already exists; versions are immutable, so PlateOps will not overwrite it.")
    staging.rename(final)
    data_yaml = final / "data.yaml"
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    data["path"] = str(final.resolve())
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return final


DISK_FULL_MESSAGE = (
    "The disk holding the workspace is full, so the new version could not be saved. Nothing was recorded and "
    "earlier versions are untouched; free some space and try again."
)


def _record_version(
    *,
    name: str,
    source: str,
    staging: Path,
    counts: dict[str, Any],
    author: str,
    message: str,
    changelog: list[dict[str, Any]],
    parent_id: int | None,
    progress: ProgressFn,
    settings: Settings,
) -> DatasetVersion:
    """Move the files into place as `v<N>`, freeze and push them with DVC, and only then record the dataset (if
    new) and version rows. On any failure the `v<N>` folder and its .dvc file go and no row is written; a full
    disk says so plainly. A job's folder carries a tag beside it until its row exists, for `discard_job_leftovers`.
    """
    dataset_dir = settings.datasets_dir / name
    with session_scope() as session:
        dataset = dataset_store.find_dataset(session=session, name=name)
        versions = dataset_store.list_versions(session=session, dataset_id=dataset.id) if dataset else []
    number, final = next_free_folder(dataset_dir, max((v.number for v in versions), default=0))
    tag = final.with_name(final.name + _JOB_TAG)
    try:
        if (staging / _JOB_TAG).exists():  # the tag leaves the folder (DVC would freeze it) and sits beside it
            tag.write_text((staging / _JOB_TAG).read_text(encoding="utf-8"), encoding="utf-8")
            (staging / _JOB_TAG).unlink()
        _finalise_folder(staging, final)
        progress(0.0, "Freezing the version with DVC")
        content_hash = track_version(final, settings=settings)
        with session_scope() as session:
            dataset = dataset_store.find_dataset(session=session, name=name) or dataset_store.create_dataset(
                session=session, name=name, source=source
            )
            version = dataset_store.create_version(
                session=session,
                dataset_id=dataset.id,
                number=number,
                path=str(final.resolve()),
                content_hash=content_hash,
                author=author,
                message=message,
                parent_id=parent_id,
                stats=counts,
                changelog=changelog,
            )
    except BaseException as exc:
        if final.is_dir():
            shutil.rmtree(final, ignore_errors=True)
        dvc_file_for(final).unlink(missing_ok=True)
        if getattr(exc, "errno", None) == errno.ENOSPC:  # an OSError from a full disk
            raise PlateOpsError(DISK_FULL_MESSAGE) from exc
        raise
    finally:
        tag.unlink(missing_ok=True)  # the row is committed, or the folder is gone: no leftover to mark
    index_new_version(version.id, progress=progress)  # the page's browsing and charts read this, never the folder
    return version


def validate_version(version_id: int, *, progress: ProgressFn = null_progress) -> ValidationReport:
    """Run every data-quality check on a version, store the issues per image and write the JSON report."""
    settings = get_settings()
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
    report = validate_dataset(Path(version.path), cache_dir=settings.cache_dir, progress=progress)
    report.write(settings.reports_dir / f"validation-v{version.id}.json")
    by_sev = report.summary["issues_by_severity"]
    status = ValidationStatus.of(errors=by_sev[Severity.ERROR], warnings=by_sev[Severity.WARNING])
    with session_scope() as session:
        dataset_store.set_validation(
            session=session,
            version_id=version_id,
            status=status,
            summary=report.summary,
            issues=[i.to_dict() for i in report.issues],
        )
    return report


def import_dataset(
    request: ImportRequest,
    *,
    progress: ProgressFn = null_progress,
    job_id: int | None = None,
    confine_to: tuple[Path, ...] = (),
) -> DatasetVersion:
    """Import a dataset (folder, COCO json or .zip) in any layout `formats` reads as a new validated version.

    The layout (COCO, one COCO per split, YOLO data.yaml, Label Studio, CVAT YOLO, Pascal VOC, FiftyOne) is
    detected and named in the pre-flight report; splits are kept as the source gives them unless
    `request.fresh_split`.

    Args:
        request: What to import and how (source, name, images folder, split, author, note).
        progress: Progress callback.
        job_id: The job running the import: names its work folders and tags the version, so that
            `discard_job_leftovers` can settle a crash of that job.
        confine_to: Folders every image of a server folder must resolve inside (the console passes its import
            roots; the shell's own `jobs.import` passes none). An archive's images always stay inside it.

    Returns:
        The new DatasetVersion (validated).

    Raises:
        BadInputError: The name cannot name a dataset, the source does not exist, or it cannot be read.
    """
    settings = get_settings()
    key = _work_key(job_id)
    name = check_dataset_name(request.name)
    source = request.source
    if not source.exists():
        raise BadInputError(f"{source} does not exist on the server.")
    extracted: Path | None = None
    try:
        if source.suffix.lower() == ".zip":
            extracted = settings.home / "imports" / key
            safe_extract_zip(
                source,
                extracted,
                max_bytes=settings.archive_max_bytes,
                max_members=settings.archive_max_members,
                progress=sub_progress(progress, 0.0, 0.1, "Unpacking: "),
            )
            root = extracted
        else:
            root = source
        staging = _staging_dir(settings, name, key)
        prep_progress = sub_progress(progress, 0.1, 0.55, "Converting: ")
        layout = find_layout(root, request.images_dir)
        kind = str(layout.kind)
        result = prepare_source(
            # Every folder, list entry and image a data.yaml names must stay inside what was imported: an archive's
            # extracted folder, or the folder the user chose (itself inside an allowed import root).
            read_layout(layout, confine_to=extracted or (root if root.is_dir() else root.parent)),
            staging,
            val_fraction=request.val_fraction,
            seed=request.seed,
            fresh_split=request.fresh_split,
            progress=prep_progress,
            confine_to=(extracted,) if extracted is not None else confine_to,
        )
        if job_id is not None:
            (staging / _JOB_TAG).write_text(str(job_id), encoding="utf-8")
        version = _record_version(
            name=name,
            source=kind,
            staging=staging,
            counts=result.counts,
            author=request.author,
            message=request.message or f"Imported from {source.name}",
            changelog=[
                {"action": "import", "source": str(source), "format": kind, **result.counts}
                | ({"job": job_id} if job_id is not None else {})
            ],
            parent_id=None,
            progress=sub_progress(progress, 0.55, 0.65),
            settings=settings,
        )
    except BaseException:
        shutil.rmtree(settings.datasets_dir / name / f".staging-{key}", ignore_errors=True)  # ours only
        raise
    finally:
        if extracted is not None:
            shutil.rmtree(extracted, ignore_errors=True)
    validate_version(version.id, progress=sub_progress(progress, 0.65, 1.0, "Checking: "))
    with session_scope() as session:
        return dataset_store.get_version(session=session, version_id=version.id)


def create_demo_dataset(
    *,
    name: str = "demo-food",
    images: int = 400,
    seed: int = 0,
    defects: bool = False,
    progress: ProgressFn = null_progress,
    job_id: int | None = None,
) -> DatasetVersion:
    """Generate the procedural demo food set (COCO) and import it as a validated version (`job_id` as for
    `import_dataset`)."""
    from backend.data.demo import generate_demo_dataset

    settings = get_settings()
    raw = settings.home / "raw" / (f"job-{job_id}" if job_id is not None else f"{name}-seed{seed}")
    if raw.exists():
        shutil.rmtree(raw)
    generate_demo_dataset(
        raw, images=images, seed=seed, defects=defects, progress=sub_progress(progress, 0.0, 0.4, "Drawing: ")
    )
    request = ImportRequest(
        source=raw / "annotations.json",
        name=name,
        images_dir=raw / "images",
        seed=seed,
        author="PlateOps demo generator",
        message=f"Demo food dataset: {images} images, seed {seed}" + (", with planted defects" if defects else ""),
    )
    version = import_dataset(request, progress=sub_progress(progress, 0.4, 1.0), job_id=job_id)
    shutil.rmtree(raw, ignore_errors=True)  # the version holds hard links to the images; the raw copy is spare
    return version


def discard_job_leftovers(job_id: int, *, name: str) -> list[str]:
    """Settle an import or demo job that was killed: remove its work folders and any version it left half-made.

    Half-made means tagged with the job and not yet validated, or a `v<N>` folder that no version row points to
    and DVC never froze (killed between moving the folder into place and committing its row). Safe to call after
    a job that got further than expected: a validated version stays. Returns what it removed (paths and rows).
    """
    settings = get_settings()
    key = f"job-{job_id}"
    removed: list[str] = []
    dataset_dir = settings.datasets_dir / name if name else None
    folders = [settings.home / "imports" / key, settings.home / "raw" / key]
    if dataset_dir is not None:
        folders.append(dataset_dir / f".staging-{key}")
    for folder in folders:
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    if dataset_dir is None:
        return removed
    with session_scope() as session:
        dataset = dataset_store.find_dataset(session=session, name=name)
        versions = dataset_store.list_versions(session=session, dataset_id=dataset.id) if dataset else []
        for version in versions:
            tagged = any(isinstance(c, dict) and c.get("job") == job_id for c in version.changelog)
            if tagged and version.validation_status == ValidationStatus.NOT_CHECKED:
                folder = Path(version.path) if version.path else dataset_dir / version.label
                shutil.rmtree(folder, ignore_errors=True)
                dvc_file_for(folder).unlink(missing_ok=True)
                dataset_store.delete_version(session=session, version_id=version.id)  # takes the write lock
                removed.append(f"version {version.label}")
    tags = [*dataset_dir.glob(f"v*{_JOB_TAG}"), *dataset_dir.glob(f"v*/{_JOB_TAG}")] if dataset_dir.is_dir() else []
    for tag in tags:  # beside the folder (or inside it, as earlier releases wrote it)
        if tag.read_text(encoding="utf-8").strip() == str(job_id):  # moved into place, its row never committed
            inside = tag.name == _JOB_TAG
            folder = tag.parent if inside else tag.with_name(tag.name.removesuffix(_JOB_TAG))
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(str(folder))
            dvc_file_for(folder).unlink(missing_ok=True)
            tag.unlink(missing_ok=True)
    return removed


# --- gallery --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    class_id: int
    name: str
    cx: float
    cy: float
    w: float
    h: float


@dataclass(frozen=True)
class GalleryImage:
    file: str
    split: str
    path: str
    boxes: tuple[Box, ...]
    issues: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)  # (check, severity, message)

    @property
    def classes(self) -> set[str]:
        return {b.name for b in self.boxes}


def _read_boxes(label_path: Path, names: list[str]) -> tuple[Box, ...]:
    if not label_path.exists():
        return ()
    boxes = []
    for line in label_path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        try:
            cid = int(parts[0])
            cx, cy, w, h = (float(p) for p in parts[1:])
        except ValueError:
            continue
        boxes.append(Box(cid, names[cid] if 0 <= cid < len(names) else f"class {cid}", cx, cy, w, h))
    return tuple(boxes)


def gallery(version_id: int) -> tuple[list[str], list[GalleryImage]]:
    """Class names and every image of a version with its boxes and stored issues (issue-only files included)."""
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
        issues = dataset_store.list_issues(session=session, version_id=version_id)
    by_file: dict[str, list[tuple[str, str, str]]] = {}
    for issue in issues:
        by_file.setdefault(issue.file, []).append((issue.check, issue.severity, issue.message))
    dataset = read_yolo_dataset(Path(version.path))
    images = [
        GalleryImage(
            file=img.name,
            split=img.split,
            path=str(img.path),
            boxes=_read_boxes(img.label_path, dataset.names),
            issues=tuple(by_file.pop(img.name, [])),
        )
        for img in dataset.images
    ]
    # Images prepare left out (missing, corrupt) still show up, with no picture, so users see why.
    images += [GalleryImage(file=f, split="excluded", path="", boxes=(), issues=tuple(v)) for f, v in by_file.items()]
    return dataset.names, images


def prepare_report(version_id: int) -> PreflightReport:
    """The pre-flight report `prepare` wrote for a version (an empty one when the version has none)."""
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
    path = Path(version.path) / REPORT_NAME
    return PreflightReport.from_json(json.loads(path.read_text(encoding="utf-8")) if path.exists() else {})


def check_descriptions() -> dict[Check, CheckInfo]:
    """Every data-quality check: name → (severity, plain description), most severe first."""
    return dict(sorted(CHECKS.items(), key=lambda kv: (-SEVERITY_RANK[kv[1].severity], kv[0])))


def send_to_review(version_id: int, files: list[str] | dict[str, str], reason: str = "", *, actor: Actor) -> int:
    """Put images of a version on the review queue; returns how many were added.

    Args:
        version_id: The version the images belong to.
        files: The files, or each file with its own reason (what flagged it).
        reason: The reason of files given without one.
        actor: Who sends them (needs the review permission).

    Raises:
        AccessDeniedError: The actor may not review.
    """
    authorize(actor, Permission.REVIEW, f"send {len(files)} images of dataset version {version_id} to review")
    reasons = files if isinstance(files, dict) else dict.fromkeys(files, reason)
    with session_scope() as session:
        for file, why in reasons.items():
            review_store.add_review_item(
                session=session, source="validation", reason=why or reason, file=file, dataset_version_id=version_id
            )
    return len(reasons)


def list_versions_with_datasets() -> list[tuple[str, DatasetVersion]]:
    """Every version with its dataset's name, newest first (for pickers)."""
    with session_scope() as session:
        names = {d.id: d.name for d in dataset_store.list_datasets(session=session)}
        return [(names.get(v.dataset_id, "?"), v) for v in dataset_store.list_versions(session=session)]


# --- export ---------------------------------------------------------------------------------------------------


def find_version(dataset: str, number: int) -> DatasetVersion:
    """The version `number` of the dataset called `dataset`.

    Raises:
        BadInputError: No such dataset or version (the message lists the versions there are).
    """
    with session_scope() as session:
        found = dataset_store.find_dataset(session=session, name=dataset)
        if found is None:
            raise BadInputError(f"There is no dataset called {dataset[:80]!r}.")
        versions = dataset_store.list_versions(session=session, dataset_id=found.id)
    for version in versions:
        if version.number == number:
            return version
    numbers = ", ".join(str(v.number) for v in sorted(versions, key=lambda v: v.number)) or "none"
    raise BadInputError(f"{dataset} has no version {number} (versions: {numbers}).")


def export_version(
    version_id: int, fmt: str, out_zip: Path, *, actor: Actor, progress: ProgressFn = null_progress
) -> ExportResult:
    """Write a version as a COCO, YOLO or Pascal VOC zip (see `backend.data.formats.export`).

    `out_zip` may lie outside the workspace or in its `exports` folder, never among the files the console keeps
    (dataset versions are immutable, the store and runs are its own), and may replace only an existing zip.

    Raises:
        BadInputError: `out_zip` lies inside the workspace outside `exports`, or is an existing folder or non-zip
            file.
    """
    authorize(actor, Permission.EXPORT_DATA, f"dataset version {version_id} as {str(fmt)[:20]}")
    out = check_export_destination(Path(out_zip))
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
    return export_dataset_dir(Path(version.path), fmt, out, progress=progress)


def check_export_destination(out_zip: Path) -> Path:
    """`out_zip` resolved, when an export may write it (see `export_version`); BadInputError otherwise."""
    out = out_zip.expanduser().resolve()
    home = get_settings().home.resolve()
    if out.is_relative_to(home) and not out.is_relative_to(home / "exports"):
        raise BadInputError(
            f"An export may not write into the workspace's own files ({cap_message(out_zip, 120)}); write it "
            f"outside the workspace or into {home / 'exports'}."
        )
    if out.is_dir() or (out.exists() and not zipfile.is_zipfile(out)):
        raise BadInputError(f"{cap_message(out_zip, 120)} exists and is not a zip file; choose another --out.")
    return out


def export_to_workspace(
    version_id: int, fmt: str, *, actor: Actor, progress: ProgressFn = null_progress
) -> ExportResult:
    """Export a version into `<home>/exports/<dataset>-v<N>-<format>.zip` for the Datasets page to offer."""
    authorize(actor, Permission.EXPORT_DATA, f"dataset version {version_id} as {str(fmt)[:20]}")
    if fmt not in set(ExportFormat):
        raise BadInputError(f"Unknown export format {fmt[:20]!r}: use coco, yolo or voc.")
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
        dataset = dataset_store.get_dataset(session=session, dataset_id=version.dataset_id)
    out = get_settings().home / "exports" / f"{dataset.name}-{version.label}-{fmt}.zip"
    return export_dataset_dir(Path(version.path), fmt, out, progress=progress)


# --- console helpers (Datasets page) --------------------------------------------------------------------------

_UPLOAD_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def save_upload(stream: BinaryIO, filename: str, *, actor: Actor) -> Path:
    """Save an uploaded dataset archive to its own file under `<home>/uploads` and return its path.

    Every upload gets a unique name, so two people importing at once never share a file. The import job deletes
    it when done (`delete_source_after`).

    Args:
        stream: The uploaded file (read from its current position in chunks).
        filename: The name the browser sent; only its tidied stem is kept, for people reading the folder.

    Returns:
        The saved file.

    Raises:
        BadInputError: The file is not a .zip.
    """
    authorize(actor, Permission.IMPORT_DATA, "upload")
    if Path(filename).suffix.lower() != ".zip":
        raise BadInputError(
            f"{cap_message(filename, 80)} is not a .zip file. Upload a .zip of a COCO, YOLO or Pascal VOC export."
        )
    folder = get_settings().home / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    stem = _UPLOAD_NAME_RE.sub("_", Path(filename).stem)[:60] or "upload"
    path = folder / f"{uuid.uuid4().hex}-{stem}.zip"
    with path.open("xb") as out:
        shutil.copyfileobj(stream, out, length=1024 * 1024)
    return path


def check_import_source(source: str, images_dir: str = "") -> tuple[Path, Path | None]:
    """Check a server-side import path (and optional images folder) before a job is queued.

    Args:
        source: A folder (COCO json + images, or a YOLO data.yaml), a COCO .json file or a .zip on the server.
        images_dir: The images folder for a COCO json whose images live elsewhere; empty for none.

    Returns:
        The source and images folder as absolute paths (images folder None when not given).

    Raises:
        BadInputError: A path is empty, does not exist, or is the wrong kind of file.
    """
    if not source.strip():
        raise BadInputError("Enter the path of a dataset folder, a COCO .json file or a .zip on the server.")
    path = Path(source.strip()).expanduser().resolve()
    if not path.exists():
        raise BadInputError(f"{path} does not exist on the server. Check the spelling and that PlateOps may read it.")
    if path.is_file() and path.suffix.lower() not in (".json", ".zip"):
        raise BadInputError(f"{path.name} is neither a folder, a COCO .json file nor a .zip.")
    images: Path | None = None
    if images_dir.strip():
        images = Path(images_dir.strip()).expanduser().resolve()
        if not images.is_dir():
            raise BadInputError(f"The images folder {images} does not exist on the server.")
    return path, images
