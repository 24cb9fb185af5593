"""Repository: the per-version dataset index (images, boxes, a small summary), queried with the filters and the
pagination pushed into SQL. Functions take a keyword-only `session` and return frozen records.

The index is written once when a version is made (`backend.data.index.build_version_index`); pages only read it.
An image's issues are not copied: they are joined from `validation_issues` by file name, so a new validation shows
at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, delete, distinct, exists, func, select
from sqlalchemy.orm import Session

from backend.core.clock import utcnow
from backend.store.rows import DatasetIndexRow, IndexBoxRow, IndexImageRow, ValidationIssueRow

EXCLUDED = "excluded"  # the split shown for files validation names that are not in the version (left out at import)
SPLIT_ORDER = ("train", "val", "test", EXCLUDED)


class IndexStatus:
    """The states of a version's index (plain strings in `dataset_indexes.status`)."""

    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class IndexState:
    """Whether a version's index is ready, with its class names and chart summary."""

    version_id: int
    status: str
    images: int
    boxes: int
    names: list[str]
    summary: dict[str, Any]
    job_id: int | None
    seconds: float | None
    message: str
    built_at: datetime | None

    @property
    def ready(self) -> bool:
        """True when pages may read the index."""
        return self.status == IndexStatus.READY


@dataclass(frozen=True)
class IndexedBox:
    """One box: class id and name, centre and size as fractions of the image."""

    class_id: int
    name: str
    cx: float
    cy: float
    w: float
    h: float


@dataclass(frozen=True)
class IndexedImage:
    """One image of a version as the index holds it, with its boxes and stored issues (check, severity, message)."""

    position: int
    file: str
    rel_path: str
    split: str
    width: int | None
    height: int | None
    bytes: int
    mtime_ns: int
    box_count: int
    boxes: tuple[IndexedBox, ...] = ()
    issues: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class ImageQuery:
    """Gallery filters; an empty or None field does not filter.

    Attributes:
        classes: Class ids: images with at least one box of any of them.
        splits: "train", "val", "test" or "excluded".
        checks: Images with any of these data-quality issues.
        min_boxes / max_boxes: Box count per image.
        min_box_area / max_box_area: Images with a box whose area (fraction of the image, 0..1) is in range.
        min_megapixels / max_megapixels: Image size (width × height / 1e6).
    """

    classes: tuple[int, ...] = ()
    splits: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    min_boxes: int | None = None
    max_boxes: int | None = None
    min_box_area: float | None = None
    max_box_area: float | None = None
    min_megapixels: float | None = None
    max_megapixels: float | None = None

    @property
    def box_bound(self) -> bool:
        """True when a filter needs boxes (so files left out at import, which have none, cannot match)."""
        return (
            bool(self.classes) or self.min_box_area is not None or self.max_box_area is not None or bool(self.min_boxes)
        )


@dataclass(frozen=True)
class IssueQuery:
    """Issue-table filters: severities, checks and a case-insensitive piece of the file name."""

    severities: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True)
class IssueLine:
    """One stored issue with its image's split."""

    file: str
    split: str
    check: str
    severity: str
    message: str


@dataclass(frozen=True)
class IndexRows:
    """What a build writes: one dict per image and per box (column names of the rows), and the summary."""

    names: list[str]
    images: list[dict[str, Any]]
    boxes: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)


def _state(row: DatasetIndexRow) -> IndexState:
    return IndexState(
        version_id=row.version_id,
        status=row.status,
        images=row.images,
        boxes=row.boxes,
        names=[str(n) for n in row.names],
        summary=dict(row.summary),
        job_id=row.job_id,
        seconds=row.seconds,
        message=row.message,
        built_at=row.built_at,
    )


# --- writing ---------------------------------------------------------------------------------------------------


def get_state(*, session: Session, version_id: int) -> IndexState | None:
    """The index state of a version, or None when it has never been indexed."""
    row = session.get(DatasetIndexRow, version_id)
    return _state(row) if row is not None else None


def mark_building(*, session: Session, version_id: int, job_id: int | None = None) -> IndexState:
    """Record that an index is being built for a version (by `job_id`, if a job builds it)."""
    row = session.get(DatasetIndexRow, version_id)
    if row is None:
        row = DatasetIndexRow(version_id=version_id, names=[], summary={}, message="")
        session.add(row)
    row.status = IndexStatus.BUILDING
    row.job_id = job_id
    row.message = ""
    session.flush()
    return _state(row)


def mark_failed(*, session: Session, version_id: int, message: str) -> None:
    """Record that building the index failed (pages say why and offer to build it again)."""
    row = session.get(DatasetIndexRow, version_id)
    if row is None:
        row = DatasetIndexRow(version_id=version_id, names=[], summary={})
        session.add(row)
    row.status = IndexStatus.FAILED
    row.message = message[:500]
    session.flush()


def _insert_many(session: Session, table: Table, version_id: int, records: list[dict[str, Any]]) -> None:
    """Insert index rows with the driver's own executemany and positional parameters, in the session's transaction.

    SQLAlchemy's executemany builds and processes a parameter dict per row: at 100,000 images and 450,000 boxes
    that was half the index build (bench/datasets_page.py). The columns are plain numbers and text, so nothing needs
    SQLAlchemy's type processing; the table's own name is used (a test's PostgreSQL schema comes from search_path).
    """
    if not records:
        return
    keys = list(records[0])
    unknown = set(keys) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column {sorted(unknown)}")
    connection = session.connection()
    quote = connection.dialect.identifier_preparer.quote
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    columns = ", ".join(quote(c) for c in ("version_id", *keys))
    marks = ", ".join([mark] * (len(keys) + 1))
    sql = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})"  # noqa: S608 - the table's own columns
    cursor = connection.connection.cursor()
    try:
        cursor.executemany(sql, [(version_id, *(r[k] for k in keys)) for r in records])
    finally:
        cursor.close()


def write_index(*, session: Session, version_id: int, rows: IndexRows, seconds: float | None = None) -> IndexState:
    """Replace a version's index with `rows` and mark it ready (one transaction)."""
    clear_index(session=session, version_id=version_id, keep_state=True)
    _insert_many(session, cast(Table, IndexImageRow.__table__), version_id, rows.images)
    _insert_many(session, cast(Table, IndexBoxRow.__table__), version_id, rows.boxes)
    row = session.get(DatasetIndexRow, version_id)
    if row is None:
        row = DatasetIndexRow(version_id=version_id)
        session.add(row)
    row.status = IndexStatus.READY
    row.images = len(rows.images)
    row.boxes = len(rows.boxes)
    row.names = list(rows.names)
    row.summary = rows.summary
    row.seconds = seconds
    row.message = ""
    row.built_at = utcnow()
    session.flush()
    return _state(row)


def clear_index(*, session: Session, version_id: int, keep_state: bool = False) -> None:
    """Remove a version's indexed images and boxes (and its state unless `keep_state`)."""
    session.execute(delete(IndexBoxRow).where(IndexBoxRow.version_id == version_id))
    session.execute(delete(IndexImageRow).where(IndexImageRow.version_id == version_id))
    if not keep_state:
        session.execute(delete(DatasetIndexRow).where(DatasetIndexRow.version_id == version_id))
    session.flush()


# --- reading ---------------------------------------------------------------------------------------------------


def _issue_files(version_id: int, checks: Sequence[str]) -> Select[Any]:
    return select(ValidationIssueRow.file).where(
        ValidationIssueRow.version_id == version_id, ValidationIssueRow.check.in_(list(checks))
    )


def _image_conditions(version_id: int, query: ImageQuery) -> list[ColumnElement[bool]]:
    img = IndexImageRow
    conds: list[ColumnElement[bool]] = [img.version_id == version_id]
    splits = [s for s in query.splits if s != EXCLUDED]
    if query.splits:
        conds.append(img.split.in_(splits))
    if query.min_boxes is not None:
        conds.append(img.boxes >= query.min_boxes)
    if query.max_boxes is not None:
        conds.append(img.boxes <= query.max_boxes)
    if query.min_megapixels is not None:
        conds.append(img.width * img.height >= query.min_megapixels * 1e6)
    if query.max_megapixels is not None:
        conds.append(img.width * img.height <= query.max_megapixels * 1e6)
    if query.checks:
        conds.append(img.file.in_(_issue_files(version_id, query.checks)))
    if query.classes or query.min_box_area is not None or query.max_box_area is not None:
        box = IndexBoxRow
        box_conds: list[ColumnElement[bool]] = [box.version_id == version_id]
        if query.classes:
            box_conds.append(box.class_id.in_(list(query.classes)))
        if query.min_box_area is not None:
            box_conds.append(box.area >= query.min_box_area)
        if query.max_box_area is not None:
            box_conds.append(box.area <= query.max_box_area)
        conds.append(img.position.in_(select(box.image_position).where(*box_conds)))
    return conds


def _excluded_files(version_id: int, query: ImageQuery) -> Select[Any] | None:
    """Files validation names that the version does not hold (left out at import), when the filters allow them."""
    if query.splits and EXCLUDED not in query.splits:
        return None
    if query.box_bound or query.min_megapixels is not None or query.max_megapixels is not None:
        return None
    if query.max_boxes is not None and query.max_boxes < 0:
        return None
    issue = ValidationIssueRow
    conds: list[ColumnElement[bool]] = [
        issue.version_id == version_id,
        ~exists().where(IndexImageRow.version_id == version_id, IndexImageRow.file == issue.file),  # index lookups
    ]
    if query.checks:
        conds.append(issue.check.in_(list(query.checks)))
    return select(issue.file).where(*conds).group_by(issue.file)


def count_images(*, session: Session, version_id: int, query: ImageQuery = ImageQuery()) -> int:
    """How many images match the filters (files left out at import included, as split 'excluded')."""
    indexed = session.scalar(
        select(func.count()).select_from(IndexImageRow).where(*_image_conditions(version_id, query))
    )
    excluded = _excluded_files(version_id, query)
    extra = session.scalar(select(func.count()).select_from(excluded.subquery())) if excluded is not None else 0
    return int(indexed or 0) + int(extra or 0)


def page_images(
    *, session: Session, version_id: int, query: ImageQuery = ImageQuery(), offset: int = 0, limit: int = 12
) -> list[IndexedImage]:
    """One page of the matching images in version order (left-out files last), with their boxes and issues."""
    conds = _image_conditions(version_id, query)
    rows = list(
        session.scalars(
            select(IndexImageRow).where(*conds).order_by(IndexImageRow.position).offset(offset).limit(limit)
        )
    )
    images = [_image(r) for r in rows]
    if len(images) < limit:
        excluded = _excluded_files(version_id, query)
        if excluded is not None:
            indexed = int(session.scalar(select(func.count()).select_from(IndexImageRow).where(*conds)) or 0)
            start = max(0, offset - indexed)
            files = session.scalars(excluded.order_by(ValidationIssueRow.file).offset(start).limit(limit - len(images)))
            images += [
                IndexedImage(
                    position=-1,
                    file=str(f),
                    rel_path="",
                    split=EXCLUDED,
                    width=None,
                    height=None,
                    bytes=0,
                    mtime_ns=0,
                    box_count=0,
                )
                for f in files
            ]
    return _with_details(session, version_id, images)


def find_image(*, session: Session, version_id: int, file: str) -> IndexedImage | None:
    """One image by file name, with its boxes and issues (a left-out file when only validation names it)."""
    row = session.scalar(
        select(IndexImageRow)
        .where(IndexImageRow.version_id == version_id, IndexImageRow.file == file)
        .order_by(IndexImageRow.position)
        .limit(1)
    )
    if row is not None:
        return _with_details(session, version_id, [_image(row)])[0]
    named = session.scalar(
        select(func.count())
        .select_from(ValidationIssueRow)
        .where(ValidationIssueRow.version_id == version_id, ValidationIssueRow.file == file)
    )
    if not named:
        return None
    image = IndexedImage(
        position=-1, file=file, rel_path="", split=EXCLUDED, width=None, height=None, bytes=0, mtime_ns=0, box_count=0
    )
    return _with_details(session, version_id, [image])[0]


def _image(row: IndexImageRow) -> IndexedImage:
    return IndexedImage(
        position=row.position,
        file=row.file,
        rel_path=row.rel_path,
        split=row.split,
        width=row.width,
        height=row.height,
        bytes=row.bytes,
        mtime_ns=row.mtime_ns,
        box_count=row.boxes,
    )


def _with_details(session: Session, version_id: int, images: list[IndexedImage]) -> list[IndexedImage]:
    """Attach boxes (one query) and issues (one query) to a page of images."""
    if not images:
        return []
    state = session.get(DatasetIndexRow, version_id)
    names = [str(n) for n in state.names] if state is not None else []
    positions = [i.position for i in images if i.position >= 0]
    boxes: dict[int, list[IndexedBox]] = {}
    if positions:
        for b in session.scalars(
            select(IndexBoxRow)
            .where(IndexBoxRow.version_id == version_id, IndexBoxRow.image_position.in_(positions))
            .order_by(IndexBoxRow.id)
        ):
            name = names[b.class_id] if 0 <= b.class_id < len(names) else f"class {b.class_id}"
            boxes.setdefault(b.image_position, []).append(IndexedBox(b.class_id, name, b.cx, b.cy, b.w, b.h))
    issues: dict[str, list[tuple[str, str, str]]] = {}
    for issue in session.scalars(
        select(ValidationIssueRow)
        .where(ValidationIssueRow.version_id == version_id, ValidationIssueRow.file.in_([i.file for i in images]))
        .order_by(ValidationIssueRow.id)
    ):
        issues.setdefault(issue.file, []).append((issue.check, issue.severity, issue.message))
    return [
        IndexedImage(
            **{
                **{f.name: getattr(i, f.name) for f in fields(IndexedImage) if f.name not in ("boxes", "issues")},
                "boxes": tuple(boxes.get(i.position, [])) if i.position >= 0 else (),
                "issues": tuple(issues.get(i.file, [])),
            }
        )
        for i in images
    ]


def splits_present(*, session: Session, version_id: int) -> list[str]:
    """The splits the version's images use (and 'excluded' when validation names files it does not hold)."""
    state = session.get(DatasetIndexRow, version_id)
    found = {str(s) for s, n in (state.summary.get("splits", {}) if state is not None else {}).items() if n}
    excluded = _excluded_files(version_id, ImageQuery())
    if excluded is not None and session.scalars(excluded.limit(1)).first() is not None:
        found.add(EXCLUDED)
    return [s for s in SPLIT_ORDER if s in found] + sorted(found - set(SPLIT_ORDER))


def checks_present(*, session: Session, version_id: int) -> list[str]:
    """The checks that found something in the version, sorted."""
    return sorted(
        session.scalars(select(ValidationIssueRow.check).where(ValidationIssueRow.version_id == version_id).distinct())
    )


# --- issues (Quality tab) --------------------------------------------------------------------------------------


def _issue_conditions(version_id: int, query: IssueQuery) -> list[ColumnElement[bool]]:
    issue = ValidationIssueRow
    conds: list[ColumnElement[bool]] = [issue.version_id == version_id]
    if query.severities:
        conds.append(issue.severity.in_(list(query.severities)))
    if query.checks:
        conds.append(issue.check.in_(list(query.checks)))
    if query.text.strip():
        conds.append(issue.file.contains(query.text.strip(), autoescape=True))
    return conds


def count_issues(*, session: Session, version_id: int, query: IssueQuery = IssueQuery()) -> tuple[int, int]:
    """(issues, distinct images) matching the filters."""
    row = session.execute(
        select(func.count(), func.count(distinct(ValidationIssueRow.file))).where(*_issue_conditions(version_id, query))
    ).one()
    return int(row[0]), int(row[1])


def page_issues(
    *, session: Session, version_id: int, query: IssueQuery = IssueQuery(), offset: int = 0, limit: int = 200
) -> list[IssueLine]:
    """One page of matching issues (stored order), each with its image's split ('excluded' when not in the version)."""
    issue = ValidationIssueRow
    rows = list(
        session.scalars(
            select(issue).where(*_issue_conditions(version_id, query)).order_by(issue.id).offset(offset).limit(limit)
        )
    )
    files = {r.file for r in rows}
    split_rows = session.execute(
        select(IndexImageRow.file, IndexImageRow.split).where(
            IndexImageRow.version_id == version_id, IndexImageRow.file.in_(files)
        )
    )
    splits = {str(file): str(split) for file, split in split_rows}
    return [IssueLine(r.file, splits.get(r.file, EXCLUDED), r.check, r.severity, r.message) for r in rows]


def issue_files(*, session: Session, version_id: int, query: IssueQuery = IssueQuery()) -> list[str]:
    """The distinct files of the matching issues, sorted (what 'send to review' queues)."""
    issue = ValidationIssueRow
    return list(
        session.scalars(
            select(issue.file).where(*_issue_conditions(version_id, query)).group_by(issue.file).order_by(issue.file)
        )
    )


def issue_checks_by_file(
    *, session: Session, version_id: int, query: IssueQuery = IssueQuery()
) -> dict[str, list[str]]:
    """The checks of the matching issues, per file (each sorted): what flagged each image."""
    issue = ValidationIssueRow
    found: dict[str, list[str]] = {}
    stmt = (
        select(issue.file, issue.check)
        .where(*_issue_conditions(version_id, query))
        .distinct()
        .order_by(issue.file, issue.check)
    )
    for file, check in session.execute(stmt):
        found.setdefault(file, []).append(check)
    return found


def issue_severities(*, session: Session, version_id: int) -> list[str]:
    """The severities present among a version's issues."""
    return list(
        session.scalars(
            select(ValidationIssueRow.severity).where(ValidationIssueRow.version_id == version_id).distinct()
        )
    )


def indexed_files(*, session: Session, version_id: int) -> list[tuple[str, str, int]]:
    """(relative path, split, box count) of every indexed image in version order (for tests and rebuild checks)."""
    return [
        (r[0], r[1], int(r[2]))
        for r in session.execute(
            select(IndexImageRow.rel_path, IndexImageRow.split, IndexImageRow.boxes)
            .where(IndexImageRow.version_id == version_id)
            .order_by(IndexImageRow.position)
        )
    ]


def indexed_boxes(*, session: Session, version_id: int) -> list[tuple[int, int, float, float, float, float]]:
    """(image position, class id, cx, cy, w, h) of every indexed box in version order."""
    return [
        (int(r[0]), int(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]))
        for r in session.execute(
            select(
                IndexBoxRow.image_position,
                IndexBoxRow.class_id,
                IndexBoxRow.cx,
                IndexBoxRow.cy,
                IndexBoxRow.w,
                IndexBoxRow.h,
            )
            .where(IndexBoxRow.version_id == version_id)
            .order_by(IndexBoxRow.image_position, IndexBoxRow.id)
        )
    ]


def file_names(*, session: Session, version_id: int) -> list[str]:
    """Every indexed image's file name, sorted (one column, no boxes)."""
    return sorted(set(session.scalars(select(IndexImageRow.file).where(IndexImageRow.version_id == version_id))))
