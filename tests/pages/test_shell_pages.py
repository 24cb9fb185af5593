"""AppTest: Home, Jobs, and the pages whose issues are still open, on an empty and a busier workspace."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.core.clock import utcnow
from backend.core.settings import Settings
from backend.store import datasets as dataset_store
from backend.store import jobs as job_store
from backend.store import registered_models as model_store
from backend.store.engine import session_scope
from tests.pages.apptest_utils import all_text, open_page


def test_home_on_empty_workspace_says_what_to_do(workspace: Settings) -> None:
    at = open_page()
    text = all_text(at)
    assert "PlateOps" in text
    assert "No dataset yet" in text
    assert "No model yet" in text
    assert "No jobs yet" in text
    assert [m.value for m in at.metric][:2] == ["0", "0"]


def test_home_with_data_jobs_and_models(workspace: Settings) -> None:
    with session_scope() as session:
        ds = dataset_store.create_dataset(session=session, name="lunch", source="coco")
        v = dataset_store.create_version(session=session, dataset_id=ds.id, path="/nowhere", stats={"images": 12})
        dataset_store.set_validation(
            session=session,
            version_id=v.id,
            status="errors",
            summary={"issues_by_severity": {"error": 2}},
            issues=[{"file": "a.jpg", "check": "corrupt_image", "severity": "error", "message": "broken"}],
        )
        model_store.register_model(
            session=session, name="run-7", weights_path="/w.pt", metrics={"map50": 0.61}, stage="production"
        )
        job = job_store.create_job(session=session, kind="train", params={}, title="Train run-8")
        job_store.update_job(
            session=session,
            job_id=job.id,
            changes=job_store.JobUpdate(status="running", progress=0.4, message="Epoch 2/5"),
        )
    at = open_page()
    text = all_text(at)
    assert "lunch" in text and "12 images" in text and "2 errors" in text
    assert "run-7" in text and "0.61" in text
    assert "Train run-8" in text
    assert [p.proto.value for p in at.get("progress")] == [40]  # percent


def test_home_shows_a_training_jobs_time_left_with_its_range_and_basis(workspace: Settings) -> None:
    epochs = [{"epoch": e, "epochs": 10, "seconds": 30.0} for e in (1, 2, 3, 4)]
    # the text below holds while the page takes under a minute to render
    live = {"epochs": epochs, "finish_at": (utcnow() + timedelta(minutes=20)).isoformat(), "finish_margin_s": 240.0}
    with session_scope() as session:
        job = job_store.create_job(session=session, kind="train", params={}, title="Train run-9")
        running = job_store.JobUpdate(status="running", started_at=utcnow(), progress=0.4, live=live)
        job_store.update_job(session=session, job_id=job.id, changes=running)
    text = all_text(open_page())
    assert "About 20 min left (15–25 min), from the latest 3 epochs of this run (epoch 4 done)." in text


@pytest.mark.parametrize(
    ("page", "expected"),
    [("pages/jobs.py", "Jobs"), ("pages/annotate.py", "Annotate"), ("pages/monitor.py", "Monitor")],
)
def test_pages_open_without_error(workspace: Settings, page: str, expected: str) -> None:
    at = open_page(page)
    assert expected in at.title[0].value


def test_cancel_button_on_jobs_page(workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.store.rows import utcnow

    with session_scope() as session:  # a training job holds the only training slot, so the next one waits
        busy = job_store.create_job(session=session, kind="train", params={}, title="Busy")
        job_store.update_job(
            session=session, job_id=busy.id, changes=job_store.JobUpdate(status="running", heartbeat_at=utcnow())
        )
        job = job_store.create_job(session=session, kind="train", params={}, title="Waiting job")
    at = open_page("pages/jobs.py")
    assert "Waiting for a free slot" in all_text(at)
    cancel = [b for b in at.button if b.label == "Cancel"]
    assert len(cancel) == 2, "each unfinished job offers Cancel"
    cancel[0].click().run()  # newest first: the waiting job
    assert not at.exception
    with session_scope() as session:
        assert job_store.get_job(session=session, job_id=job.id).status == "cancelled"


def test_end_user_sees_only_detect(workspace: Settings) -> None:
    at = open_page(role="user")
    assert "Detect" in at.title[0].value


@pytest.mark.parametrize(("page", "title"), [(None, "PlateOps"), ("pages/monitor.py", "Monitor")])
def test_reviewer_pages_linking_to_training_pages_open(workspace: Settings, page: str | None, title: str) -> None:
    """Home links "All jobs" and Monitor links "Go to Train": pages off the reviewer's menu, which must still open."""
    at = open_page(page, role="reviewer")  # asserts no exception (a link to an unknown page raises one)
    assert title in at.title[0].value
