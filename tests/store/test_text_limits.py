"""Every user-provided text the store keeps has a length limit (`backend.core.limits`): an attacker's megabyte of
text in a name, note or reason is refused with a one-line message, and text the system composes (job errors,
review reasons) is cut with an ellipsis; job errors name workspace files relative to the workspace."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from backend.core.enums import JobStatus, ReviewSource, ReviewStatus
from backend.core.errors import BadInputError
from backend.core.limits import LIMITS, TextKind, cap_text, relative_to_workspace, require_within
from backend.core.settings import get_settings
from backend.store import datasets as dataset_store
from backend.store import jobs as job_store
from backend.store import predictions as prediction_store
from backend.store import registered_models as model_store
from backend.store import review as review_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.rows import DatasetRow, FeedbackRow, ModelEventRow, ModelRow, ReviewItemRow, RunRow

HUGE = "A" * 100_000


def _prediction(session: Session) -> int:
    return prediction_store.add_prediction(
        session=session, image_name="lunch.jpg", detections=[], latency_ms=1.0, conf=0.25, iou=0.45
    ).id


def _model(session: Session) -> int:
    return model_store.register_model(session=session, name="m", weights_path="/w.pt").id


def _review_item(session: Session) -> int:
    return review_store.add_review_item(session=session, source=ReviewSource.USER, reason="check").id


def _dataset(session: Session) -> int:
    return dataset_store.create_dataset(session=session, name=f"food-{uuid.uuid4().hex[:8]}", source="demo").id


WRITES: dict[str, tuple[TextKind, Callable[[Session, str], Any], type]] = {
    "dataset name": (
        TextKind.DATASET_NAME,
        lambda s, t: dataset_store.create_dataset(session=s, name=t, source="demo"),
        DatasetRow,
    ),
    "dataset description": (
        TextKind.DATASET_DESCRIPTION,
        lambda s, t: dataset_store.create_dataset(session=s, name="x", source="demo", description=t),
        DatasetRow,
    ),
    "version message": (
        TextKind.VERSION_MESSAGE,
        lambda s, t: dataset_store.create_version(session=s, dataset_id=_dataset(s), path="/p", message=t),
        DatasetRow,  # the dataset made beside it is rolled back too
    ),
    "model name": (
        TextKind.MODEL_NAME,
        lambda s, t: model_store.register_model(session=s, name=t, weights_path="/w.pt"),
        ModelRow,
    ),
    "model notes": (
        TextKind.MODEL_NOTES,
        lambda s, t: model_store.register_model(session=s, name="m", weights_path="/w.pt", notes=t),
        ModelRow,
    ),
    "model notes updated": (
        TextKind.MODEL_NOTES,
        lambda s, t: model_store.update_model(session=s, model_id=_model(s), notes=t),
        ModelRow,
    ),
    "promotion reason": (
        TextKind.PROMOTION_REASON,
        lambda s, t: model_store.add_event(session=s, action="overridden", model_id=None, reason=t),
        ModelEventRow,
    ),
    "run name": (TextKind.RUN_NAME, lambda s, t: run_store.create_run(session=s, name=t), RunRow),
    "feedback note": (
        TextKind.FEEDBACK_NOTE,
        lambda s, t: prediction_store.add_feedback(session=s, prediction_id=_prediction(s), kind="correct", note=t),
        FeedbackRow,
    ),
    "feedback class": (
        TextKind.FEEDBACK_CLASS,
        lambda s, t: prediction_store.add_feedback(
            session=s, prediction_id=_prediction(s), kind="wrong", class_name="egg", correct_class=t
        ),
        FeedbackRow,
    ),
    "dismiss reason": (
        TextKind.DISMISS_REASON,
        lambda s, t: review_store.resolve_review_item(
            session=s, item_id=_review_item(s), status=ReviewStatus.DISMISSED, resolution=t
        ),
        ReviewItemRow,
    ),
}


@pytest.mark.parametrize("what", list(WRITES))
def test_over_long_user_text_is_refused_in_one_line_and_nothing_is_written(store_url: str, what: str) -> None:
    kind, write, row_type = WRITES[what]
    limit = LIMITS[kind]
    with session_scope() as session:  # exactly at the limit is fine
        write(session, "b" * limit)
    with session_scope() as session:
        before = session.query(row_type).count()
    with pytest.raises(BadInputError) as caught, session_scope() as session:
        write(session, HUGE)
    message = str(caught.value)
    assert "\n" not in message and str(limit) in message and "100000" in message
    with session_scope() as session:
        assert session.query(row_type).count() == before


def test_every_kind_has_a_limit_under_its_column_width() -> None:
    assert set(LIMITS) == set(TextKind)
    widths = {TextKind.DATASET_NAME: 200, TextKind.MODEL_NAME: 200, TextKind.RUN_NAME: 200}
    widths |= {TextKind.FEEDBACK_CLASS: 100, TextKind.ACTOR_NAME: 120, TextKind.VERSION_AUTHOR: 120}
    for kind, width in widths.items():
        assert LIMITS[kind] <= width, kind
    assert require_within(TextKind.RUN_NAME, "r") == "r"
    assert cap_text(TextKind.RUN_NAME, HUGE) == "A" * (LIMITS[TextKind.RUN_NAME] - 1) + "…"


def test_composed_review_reason_and_job_error_are_cut_not_refused(store_url: str) -> None:
    with session_scope() as session:
        item = review_store.add_review_item(session=session, source=ReviewSource.VALIDATION, reason=HUGE)
        pid = _prediction(session)
        prediction_store.add_feedback(session=session, prediction_id=pid, kind="missed", class_name="x" * 100)
        job = job_store.create_job(session=session, kind="noop", params={})
    with session_scope() as session:
        assert job_store.finish_job(session=session, job_id=job.id, status=JobStatus.FAILED, error=HUGE)
    with session_scope() as session:
        stored = job_store.get_job(session=session, job_id=job.id).error or ""
        reasons = [i.reason for i in review_store.list_review_items(session=session)]
    assert len(stored) == LIMITS[TextKind.JOB_ERROR] and stored.endswith("…")
    assert item.reason.endswith("…") and all(len(r) <= LIMITS[TextKind.REVIEW_REASON] for r in reasons)


def test_job_error_names_workspace_files_relative_to_the_workspace(store_url: str) -> None:
    home = get_settings().home
    bad = home.absolute() / "datasets" / "food" / "v1" / "images" / "a.jpg"
    with session_scope() as session:
        job = job_store.create_job(session=session, kind="noop", params={})
    with session_scope() as session:
        job_store.finish_job(session=session, job_id=job.id, status=JobStatus.FAILED, error=f"Cannot read {bad}.")
    with session_scope() as session:
        error = job_store.get_job(session=session, job_id=job.id).error or ""
    assert error == "Cannot read datasets/food/v1/images/a.jpg."
    assert str(home.absolute()) not in error and str(home.resolve()) not in error
    assert relative_to_workspace(f"in {home.resolve()}", home) == "in ."
