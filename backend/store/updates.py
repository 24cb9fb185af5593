"""Typed partial updates: a frozen record of the fields one write sets, every field optional.

A repository's `update_*` takes one of these instead of `**fields`, so a misspelled or unknown field is a type error
(mypy) and a `TypeError` at once, never an attribute silently set on a row. A field left out is `UNSET` and is not
written; `None` is written as NULL (only where the column allows it: the field's type says so).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any, Final


class Unset(enum.Enum):
    """The type of `UNSET`: a field the update leaves as it is."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET


@dataclass(frozen=True, kw_only=True)
class RowUpdate:
    """Base of the update records: `values()` are the fields that were set, by column name."""

    def values(self) -> dict[str, Any]:
        """The set fields and their values (what the write changes); empty when nothing was set."""
        return {
            item.name: value for item in dataclasses.fields(self) if (value := getattr(self, item.name)) is not UNSET
        }
