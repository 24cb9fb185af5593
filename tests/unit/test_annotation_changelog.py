"""Box-level changelog: each kind of change is counted once, per class, and untouched boxes count as nothing."""

from __future__ import annotations

from backend.annotation.changelog import ChangeKind, diff_boxes
from backend.annotation.labels import LabelBox


def _box(name: str, x1: float, y1: float, x2: float, y2: float) -> LabelBox:
    return LabelBox(name, x1, y1, x2, y2)


OLD = [
    _box("apple", 0.10, 0.10, 0.30, 0.30),  # kept
    _box("banana", 0.50, 0.10, 0.70, 0.30),  # moved
    _box("bread", 0.10, 0.50, 0.30, 0.70),  # resized
    _box("carrot", 0.50, 0.50, 0.70, 0.70),  # reclassified to egg
    _box("cheese", 0.80, 0.80, 0.95, 0.95),  # removed
]
NEW = [
    _box("apple", 0.10, 0.10, 0.30, 0.30),
    _box("banana", 0.52, 0.11, 0.72, 0.31),
    _box("bread", 0.10, 0.50, 0.35, 0.72),
    _box("egg", 0.50, 0.50, 0.70, 0.70),
    _box("lemon", 0.02, 0.80, 0.12, 0.95),  # added
]


def test_each_kind_of_change_is_counted_once() -> None:
    diff = diff_boxes(OLD, NEW)
    assert diff.totals == {kind.value: 1 for kind in ChangeKind}
    assert diff.per_class["banana"]["moved"] == 1
    assert diff.per_class["bread"]["resized"] == 1
    assert diff.per_class["egg"]["reclassified"] == 1
    assert diff.per_class["cheese"]["removed"] == 1
    assert diff.per_class["lemon"]["added"] == 1
    assert "apple" not in diff.per_class  # untouched
    assert dict(diff.swaps) == {"carrot → egg": 1}


def test_no_change_and_reordering_count_nothing() -> None:
    assert not diff_boxes(OLD, list(reversed(OLD))).changed
    assert not diff_boxes([], []).changed


def test_duplicates_and_far_moves() -> None:
    one = _box("apple", 0.1, 0.1, 0.2, 0.2)
    assert diff_boxes([one], [one, one]).totals["added"] == 1
    far = diff_boxes([one], [_box("apple", 0.7, 0.7, 0.8, 0.8)])  # no overlap: a different box, not a move
    assert (far.totals["removed"], far.totals["added"], far.totals["moved"]) == (1, 1, 0)


def test_moved_and_reclassified_box_counts_both_kinds_once() -> None:
    diff = diff_boxes([_box("apple", 0.1, 0.1, 0.3, 0.3)], [_box("tomato", 0.12, 0.1, 0.32, 0.3)])
    assert diff.totals == {"added": 0, "removed": 0, "moved": 1, "resized": 0, "reclassified": 1}
