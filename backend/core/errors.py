"""Errors whose message is fit to show a user, each with the failure code a failed job records."""

from __future__ import annotations

from typing import ClassVar

from backend.core.enums import FailureCode

MESSAGE_LIMIT = 400  # characters: any message stored or shown is cut to this


def cap_message(text: object, limit: int = MESSAGE_LIMIT) -> str:
    """`text` as one string of at most `limit` characters (an ellipsis marks a cut).

    Args:
        text: Anything; its `str()` is used.
        limit: Most characters kept.

    Returns:
        The capped text.
    """
    words = str(text)
    return words if len(words) <= limit else words[: max(limit - 1, 0)] + "…"


class PlateOpsError(Exception):
    """An error whose message is fit to show a user (plain words, what to do next).

    `code` is what a job that fails with this error records as its failure code; subclasses set their own. The
    message is capped at `MESSAGE_LIMIT` characters wherever it is shown or stored (a file name from an upload
    can be thousands of characters long).
    """

    code: ClassVar[FailureCode] = FailureCode.ERROR

    def __str__(self) -> str:
        return cap_message(super().__str__())


class BadInputError(PlateOpsError):
    """The user's input (file, archive, parameter) cannot be used as given."""

    code: ClassVar[FailureCode] = FailureCode.BAD_INPUT


class NotFoundError(PlateOpsError):
    """A dataset, job, run or model the user asked for does not exist."""

    code: ClassVar[FailureCode] = FailureCode.NOT_FOUND


class DatasetError(BadInputError):
    """A dataset (its data.yaml, images or labels) cannot be used for what was asked."""

    code: ClassVar[FailureCode] = FailureCode.DATASET


def failure_code_for(exc: BaseException) -> FailureCode:
    """The failure code a job records when it ends with `exc`: the error's own code, else `crash`."""
    return exc.code if isinstance(exc, PlateOpsError) else FailureCode.CRASH
