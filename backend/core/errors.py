"""Errors whose message is fit to show a user."""

from __future__ import annotations


class PlateOpsError(Exception):
    """An error whose message is fit to show a user (plain words, what to do next)."""


class BadInputError(PlateOpsError):
    """The user's input (file, archive, parameter) cannot be used as given."""


class NotFoundError(PlateOpsError):
    """A dataset, job, run or model the user asked for does not exist."""
