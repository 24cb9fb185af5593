"""The validation cache: one small SQLite file that spares re-reading, re-hashing and re-decoding unchanged files.

Three tables:

- `image_measurements`: an image's `Measurements` keyed by (SHA-256 of its bytes, `MEASUREMENTS_VERSION`), so an
  unchanged image is never decoded again, whatever its name or folder.
- `file_index`: path → (stat stamp, SHA-256, size), so a file whose size, times and inode are unchanged is not
  even read to be hashed.
- `label_checks`: label path → (stat stamp, check context, boxes, findings), so an unchanged label file checked
  against the same class names and image size is not read again.

An unusable cache (read-only folder, damaged file) only costs time: every method then does nothing.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import astuple, fields
from pathlib import Path
from typing import Any

from backend.data.quality.measurements import MEASUREMENTS_VERSION, Measurements

_COLUMNS = tuple(f.name for f in fields(Measurements))
_COLUMN_TYPES = {
    "format": "TEXT",
    "width": "INTEGER",
    "height": "INTEGER",
    "error": "TEXT",
    "too_large": "INTEGER NOT NULL",
    "std": "REAL",
    "phash": "TEXT",
    "grey_p5": "REAL",
    "grey_p95": "REAL",
    "sharpness": "REAL",
    "colour": "REAL",
    "entropy": "REAL",
}
if set(_COLUMN_TYPES) != set(_COLUMNS):  # pragma: no cover - a measurement added without its column
    raise RuntimeError("every measurement needs a column in the cache table")
# SQLite caps the number of bound parameters of one statement.
_CHUNK = 500


def stat_stamp(path: Path | str) -> str | None:
    """Size, modification and change times and inode: any write, replace or re-link changes it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"


def index_keys(paths: list[str]) -> list[str]:
    """The file-index key of each path: its folder resolved (once per folder) joined with its name.

    This is `Path.resolve()` unless the file itself is a symbolic link; the stat stamp (inode and device included)
    is what tells an unchanged file, the key only has to name it.
    """
    real: dict[str, str] = {}
    keys = []
    for path in paths:
        folder, _, name = path.rpartition("/")
        resolved = real.get(folder)
        if resolved is None:
            resolved = real[folder] = os.path.realpath(folder or ("/" if path.startswith("/") else "."))
        keys.append(os.path.join(resolved, name))
    return keys


class FactsCache:
    """SQLite cache of image measurements, file hashes and label-check results (see the module docstring)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._create_tables(self._conn)
        except (sqlite3.Error, OSError):
            self._conn = None  # validate without a cache

    @staticmethod
    def _create_tables(conn: sqlite3.Connection) -> None:
        """Create the tables; a measurements table of an older layout is dropped (its rows are stale anyway)."""
        present = [row[1] for row in conn.execute("PRAGMA table_info(image_measurements)")]
        if present and present != ["sha256", "version", *_COLUMNS]:
            conn.execute("DROP TABLE image_measurements")
        # One column per measurement (decoding JSON per row cost more than the rest of a re-validation).
        columns = ", ".join(f"{name} {_COLUMN_TYPES[name]}" for name in _COLUMNS)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS image_measurements (sha256 TEXT NOT NULL, version INTEGER NOT NULL, "
            f"{columns}, PRIMARY KEY (sha256, version))"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS file_index (path TEXT PRIMARY KEY, stamp TEXT NOT NULL, "
            "sha256 TEXT NOT NULL, size INTEGER NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS label_checks (path TEXT PRIMARY KEY, stamp TEXT NOT NULL, "
            "context TEXT NOT NULL, boxes TEXT NOT NULL, found TEXT NOT NULL)"
        )
        conn.commit()

    @property
    def enabled(self) -> bool:
        """Whether the cache is in use."""
        return self._conn is not None

    def get_many(self, hashes: Iterable[str]) -> dict[str, Measurements]:
        """Cached measurements for the hashes that have them."""
        found: dict[str, Measurements] = {}
        if self._conn is None:
            return found
        keys = list(dict.fromkeys(hashes))
        try:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT sha256, {', '.join(_COLUMNS)} FROM image_measurements "  # noqa: S608
                    f"WHERE version = ? AND sha256 IN ({marks})",
                    [MEASUREMENTS_VERSION, *chunk],
                )
                for sha, *values in rows:
                    record = dict(zip(_COLUMNS, values, strict=True))
                    record["too_large"] = bool(record["too_large"])
                    found[sha] = Measurements(**record)
        except sqlite3.Error:
            return found
        return found

    def put_many(self, items: dict[str, Measurements]) -> None:
        """Store measurements (skips results that depend on settings rather than on the bytes)."""
        if self._conn is None or not items:
            return
        rows = [
            (sha, MEASUREMENTS_VERSION, *(int(v) if isinstance(v, bool) else v for v in astuple(m)))
            for sha, m in items.items()
            if not m.too_large
        ]
        marks = ", ".join("?" * (2 + len(_COLUMNS)))
        try:
            with self._conn:
                self._conn.executemany(f"INSERT OR REPLACE INTO image_measurements VALUES ({marks})", rows)  # noqa: S608
        except sqlite3.Error:
            return

    def _unchanged(self, table: str, columns: str, stamps: dict[str, str]) -> dict[str, tuple[Any, ...]]:
        """`columns` of `table`'s rows whose stored stat stamp equals the given one (the file is unchanged)."""
        found: dict[str, tuple[Any, ...]] = {}
        if self._conn is None:
            return found
        paths = list(stamps)
        try:
            for start in range(0, len(paths), _CHUNK):
                chunk = paths[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT path, stamp, {columns} FROM {table} WHERE path IN ({marks})",  # noqa: S608
                    chunk,
                )
                for path, stamp, *values in rows:
                    if stamps.get(path) == stamp:
                        found[path] = tuple(values)
        except sqlite3.Error:
            return {}
        return found

    def known_hashes(self, stamps: dict[str, str]) -> dict[str, tuple[str, int]]:
        """(sha256, size) for the paths whose stored stat stamp equals the given one (the file is unchanged)."""
        return {
            path: (sha, int(size))
            for path, (sha, size) in self._unchanged("file_index", "sha256, size", stamps).items()
        }

    def remember_hashes(self, rows: list[tuple[str, str, str, int]]) -> None:
        """Store (path, stat stamp, sha256, size) rows."""
        self._write("INSERT OR REPLACE INTO file_index VALUES (?, ?, ?, ?)", rows)

    def label_results(self, stamps: dict[str, str]) -> dict[str, tuple[str, str, str]]:
        """(context, boxes, findings) stored for the label files whose stat stamp is unchanged."""
        return self._unchanged("label_checks", "context, boxes, found", stamps)

    def remember_label_results(self, rows: list[tuple[str, str, str, str, str]]) -> None:
        """Store (label path, stat stamp, check context, boxes, findings JSON) rows."""
        self._write("INSERT OR REPLACE INTO label_checks VALUES (?, ?, ?, ?, ?)", rows)

    def _write(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        """Run an INSERT for many rows in one transaction (nothing when disabled or on a database error)."""
        if self._conn is None or not rows:
            return
        try:
            with self._conn:
                self._conn.executemany(statement, rows)
        except sqlite3.Error:
            return

    def close(self) -> None:
        """Close the database."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
