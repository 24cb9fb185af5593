"""Errors whose message is fit to show a user, each with the failure code a failed job records."""

from __future__ import annotations

from typing import ClassVar

from backend.core.enums import FailureCode


class PlateOpsError(Exception):
    """An error whose message is fit to show a user (plain words, what to do next).

    `code` is what a job that fails with this error records as its failure code; subclasses set their own.
    """

    code: ClassVar[FailureCode] = FailureCode.ERROR


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
