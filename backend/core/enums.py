"""Closed sets of names shared across layers: every value stored in a status, kind or stage column.

A `StrEnum` member compares equal to its string, so rows keep plain strings and old rows still read; a misspelt
name fails at import instead of silently matching nothing.
"""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    """Kinds of background job the runner knows (each registered once, by its domain's tasks module)."""

    NOOP = "noop"
    DEMO_DATASET = "demo_dataset"
    IMPORT_DATASET = "import_dataset"
    VALIDATE = "validate"
    TRAIN = "train"
    DRIFT_REPORT = "drift_report"
    SIMULATE_TRAFFIC = "simulate_traffic"
    LABEL_ERRORS = "label_errors"
    VALIDATE_RETRAIN = "validate_retrain"
    INDEX_VERSION = "index_version"


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        """True while the job may still do work."""
        return self in ACTIVE_JOB_STATUSES


ACTIVE_JOB_STATUSES: tuple[JobStatus, ...] = (JobStatus.QUEUED, JobStatus.STARTING, JobStatus.RUNNING)


class FailureCode(StrEnum):
    """Why a job failed, so pages react to the kind of failure instead of matching message text."""

    BAD_INPUT = "bad_input"
    NOT_FOUND = "not_found"
    OUT_OF_MEMORY = "out_of_memory"
    DATASET = "dataset"
    WEIGHTS_UNAVAILABLE = "weights_unavailable"
    WORKER_LOST = "worker_lost"
    STALLED = "stalled"  # alive, but no progress for longer than its kind allows (the watchdog stopped it)
    CRASH = "crash"
    EDIT_CONFLICT = "edit_conflict"
    FORBIDDEN = "forbidden"  # the acting user's role does not allow the action
    ERROR = "error"  # a known failure with a plain message that fits none of the codes above


class RunStatus(StrEnum):
    """Where a training run is in its life (a run outlives the job that trains it: a resume makes a new job)."""

    RUNNING = "running"
    QUEUED_REMOTE = "queued-remote"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


RESUMABLE_RUN_STATUSES: tuple[RunStatus, ...] = (RunStatus.FAILED, RunStatus.CANCELLED)


class ValidationStatus(StrEnum):
    """A dataset version's data-quality verdict: the worst severity its validation found, or not checked yet."""

    NOT_CHECKED = "not_checked"
    PASSED = "passed"
    WARNINGS = "warnings"
    ERRORS = "errors"

    @classmethod
    def of(cls, *, errors: int, warnings: int) -> ValidationStatus:
        """The verdict of a validation that found this many error-level and warning-level issues."""
        return cls.ERRORS if errors else cls.WARNINGS if warnings else cls.PASSED


class DriftTrigger(StrEnum):
    """Who asked for a drift report (stored with the report)."""

    MANUAL = "manual"
    AUTO = "auto"


class ModelStage(StrEnum):
    """Registry stages; exactly one model is in production at a time."""

    CANDIDATE = "candidate"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class FeedbackKind(StrEnum):
    """What an end user said about one detection."""

    CORRECT = "correct"
    WRONG = "wrong"
    MISSED = "missed"


class ReviewSource(StrEnum):
    """Where an item in the review queue came from."""

    VALIDATION = "validation"
    FEEDBACK = "feedback"
    DRIFT = "drift"
    LABEL_ERROR = "label_error"
    DISAGREEMENT = "disagreement"
    USER = "user"
    LOW_CONFIDENCE = "low_confidence"
    NOVEL = "novel"
    SELECTION = "selection"


class ReviewStatus(StrEnum):
    """Where an item in the review queue is: waiting, closed by an edit, or closed with a reason and no edit."""

    OPEN = "open"
    DONE = "done"
    DISMISSED = "dismissed"


class DetectionTask(StrEnum):
    """What a model is for; each task has one evaluation set the promotion gate always uses."""

    FOOD = "food_detection"


class EvalSplit(StrEnum):
    """The split of a dataset version an evaluation set is made of."""

    VAL = "val"
    TEST = "test"


class EvalSetAction(StrEnum):
    """How a version of an evaluation set came to be (kept in the set's history)."""

    DEFAULT = "default"  # the production model's validation split, taken at its first promotion
    CHOSEN = "chosen"  # the team chose a dataset version's split on the Models page
    ADOPTED = "adopted"  # the team adopted a newer (edited) version of the same dataset
