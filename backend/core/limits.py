"""How long each kind of user-provided text may be, in one place.

Every text a user types or a file brings that is stored or shown (names, notes, reasons, feedback) has a limit here.
The store's write functions enforce them, so no path into the store can skip them: text a person wrote is refused
when too long (`require_within`, a one-line BadInputError naming the limit), because cutting it would silently lose
what they meant; text the system composes (job errors, review reasons built from file names) is cut with an
ellipsis (`cap_text`), because refusing it would fail the job that is only trying to report something. The limits
stay under the store's column widths (e.g. names are `String(200)`), so PostgreSQL never refuses a write with a
traceback.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from backend.core.errors import BadInputError, cap_message


class TextKind(StrEnum):
    """Kinds of stored text with a length limit; the value is how a message names it."""

    DATASET_NAME = "a dataset name"
    DATASET_DESCRIPTION = "a dataset description"
    VERSION_MESSAGE = "a version message"
    VERSION_AUTHOR = "a version author"
    MODEL_NAME = "a model name"
    MODEL_NOTES = "model notes"
    RUN_NAME = "a run name"
    FEEDBACK_NOTE = "a feedback note"
    FEEDBACK_CLASS = "a feedback class name"
    REVIEW_REASON = "a review reason"
    DISMISS_REASON = "a dismiss reason"
    PROMOTION_REASON = "a promotion reason"
    EVAL_SET_REASON = "the reason for an evaluation set change"
    ACTOR_NAME = "a user name"
    JOB_ERROR = "a job error"


LIMITS: dict[TextKind, int] = {
    TextKind.DATASET_NAME: 120,
    TextKind.DATASET_DESCRIPTION: 2000,
    TextKind.VERSION_MESSAGE: 2000,
    TextKind.VERSION_AUTHOR: 120,
    TextKind.MODEL_NAME: 120,
    TextKind.MODEL_NOTES: 2000,
    TextKind.RUN_NAME: 120,
    TextKind.FEEDBACK_NOTE: 1000,
    TextKind.FEEDBACK_CLASS: 100,
    TextKind.REVIEW_REASON: 1000,
    TextKind.DISMISS_REASON: 1000,
    TextKind.PROMOTION_REASON: 1000,
    TextKind.EVAL_SET_REASON: 1000,
    TextKind.ACTOR_NAME: 120,
    TextKind.JOB_ERROR: 2000,
}


def require_within(kind: TextKind, text: str) -> str:
    """`text` unchanged when it fits the limit for `kind`; BadInputError saying the limit otherwise.

    Args:
        kind: What the text is (picks the limit and names it in the message).
        text: The text as given.

    Returns:
        `text`.

    Raises:
        BadInputError: `text` is longer than the limit.
    """
    limit = LIMITS[kind]
    if len(text) > limit:
        raise BadInputError(f"{kind.value.capitalize()} may be at most {limit} characters (this one has {len(text)}).")
    return text


def cap_text(kind: TextKind, text: str) -> str:
    """`text` cut to the limit for `kind`, an ellipsis marking the cut (for text the system composes).

    Args:
        kind: What the text is (picks the limit).
        text: The text as composed.

    Returns:
        The text, at most the limit long.
    """
    return cap_message(text, LIMITS[kind])


def relative_to_workspace(text: str, home: Path) -> str:
    """`text` with each absolute path inside the workspace `home` written relative to it.

    A job's error is shown to every signed-in user, viewers included; the server's folder layout above the
    workspace is none of their business, and the part inside it still says which file failed.

    Args:
        text: A message that may name files.
        home: The workspace folder.

    Returns:
        The message, workspace paths relative (the workspace itself as ".").
    """
    for root in sorted({str(home.absolute()), str(home.resolve())}, key=len, reverse=True):
        text = text.replace(root + os.sep, "").replace(root, ".")
    return text
