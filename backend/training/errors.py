"""The errors training raises: each a PlateOpsError with a plain-language message (and a failure code where the
job row records one)."""

from __future__ import annotations

from typing import ClassVar

from backend.core.enums import FailureCode
from backend.core.errors import BadInputError, DatasetError, PlateOpsError


class TrainingError(PlateOpsError):
    """Training failed for a reason the user can act on."""


class OutOfMemoryError(TrainingError):
    """The GPU (or RAM) ran out of memory."""

    code: ClassVar[FailureCode] = FailureCode.OUT_OF_MEMORY


class TrainingCancelledError(TrainingError):
    """Training was stopped on request; `last.pt` holds the last completed epoch."""


class MissingWeightsError(BadInputError):
    """The requested model weights are not on this machine and cannot be downloaded."""

    code: ClassVar[FailureCode] = FailureCode.WEIGHTS_UNAVAILABLE


class BadDataError(DatasetError):
    """The data.yaml or the dataset it points to cannot be used."""


class NothingToResumeError(BadInputError):
    """Resume was asked for but the run folder holds no checkpoint."""


class AlreadyFinishedError(BadInputError):
    """Resume was asked for but the run already trained all its epochs."""
