"""Store tests on a real SQLite file (and PostgreSQL when PLATEOPS_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from backend.core.enums import ValidationStatus
from backend.core.errors import NotFoundError
from backend.store import datasets as dataset_store
from backend.store import eval_sets as eval_set_store
from backend.store import jobs as job_store
from backend.store import predictions as prediction_store
from backend.store import registered_models as model_store
from backend.store import review as review_store
from backend.store import shadow as shadow_store
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion, Job
from backend.store.rows import ValidationIssueRow


def test_migrations_create_every_table(store_url: str) -> None:
    import sqlalchemy as sa

    from backend.store.engine import init_db

    engine = init_db(store_url)
    names = set(sa.inspect(engine).get_table_names())
    expected = {
        "datasets",
        "dataset_versions",
        "validation_issues",
        "jobs",
        "runs",
        "models",
        "predictions",
        "feedback",
        "review_items",
        "drift_reports",
        "eval_sets",
        "shadow_predictions",
        "alembic_version",
    }
    assert expected <= names


def test_sqlite_uses_wal_and_foreign_keys(workspace) -> None:
    with session_scope() as session:
        dataset_store.create_dataset(session=session, name="food", source="demo")
        mode = session.connection().exec_driver_sql("PRAGMA journal_mode").scalar()
        fks = session.connection().exec_driver_sql("PRAGMA foreign_keys").scalar()
    assert mode == "wal"
    assert fks == 1
    # The file itself is in WAL mode for other processes too.
    db_file = Path(workspace.db_url.split("///", 1)[1])
    assert sqlite3.connect(db_file).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_versions_number_up_and_return_dataclasses(store_url: str) -> None:
    with session_scope() as session:
        ds = dataset_store.create_dataset(session=session, name="food", source="coco")
        v1 = dataset_store.create_version(session=session, dataset_id=ds.id, path="/a", message="first")
        v2 = dataset_store.create_version(session=session, dataset_id=ds.id, path="/b", parent_id=v1.id, message="fix")
    assert isinstance(v2, DatasetVersion)
    assert (v1.number, v2.number) == (1, 2)
    assert v2.parent_id == v1.id
    with session_scope() as session:
        versions = dataset_store.list_versions(session=session, dataset_id=ds.id)
    assert [v.label for v in versions] == ["v2", "v1"]


def test_dataset_names_are_unique(store_url: str) -> None:
    with session_scope() as session:
        dataset_store.create_dataset(session=session, name="food", source="demo")
    with pytest.raises(IntegrityError), session_scope() as session:
        dataset_store.create_dataset(session=session, name="food", source="demo")


def test_validation_issues_replace_previous_result(store_url: str) -> None:
    with session_scope() as session:
        ds = dataset_store.create_dataset(session=session, name="food", source="demo")
        v = dataset_store.create_version(session=session, dataset_id=ds.id, path="/a")
        dataset_store.set_validation(
            session=session,
            version_id=v.id,
            status=ValidationStatus.ERRORS,
            summary={"errors": 2},
            issues=[
                {"file": "a.jpg", "check": "corrupt_image", "severity": "error", "message": "does not decode"},
                {"file": "b.jpg", "check": "tiny_bbox", "severity": "warning", "message": "3x3 px"},
            ],
        )
        dataset_store.set_validation(
            session=session,
            version_id=v.id,
            status=ValidationStatus.WARNINGS,
            summary={"warnings": 1},
            issues=[{"file": "b.jpg", "check": "tiny_bbox", "severity": "warning", "message": "3x3 px"}],
        )
    with session_scope() as session:
        issues = dataset_store.list_issues(session=session, version_id=v.id)
        version = dataset_store.get_version(session=session, version_id=v.id)
    assert [(i.file, i.check) for i in issues] == [("b.jpg", "tiny_bbox")]
    assert version.validation_status == "warnings"
    with pytest.raises(ValueError, match="is not a valid ValidationStatus"), session_scope() as session:
        dataset_store.set_validation(
            session=session,
            version_id=v.id,
            status="checked",  # type: ignore[arg-type]  # not a status: refused before it reaches the row
            summary={},
            issues=[],
        )


def test_foreign_keys_are_enforced(store_url: str) -> None:
    with pytest.raises(IntegrityError), session_scope() as session:
        session.execute(
            ValidationIssueRow.__table__.insert(),
            [{"version_id": 999, "file": "a", "check": "c", "severity": "error", "message": ""}],
        )


def test_jobs_claim_respects_the_concurrency_limit(store_url: str) -> None:
    with session_scope() as session:
        a = job_store.create_job(session=session, kind="train", params={})
        b = job_store.create_job(session=session, kind="train", params={})
        c = job_store.create_job(session=session, kind="validate", params={})
    with session_scope() as session:
        assert job_store.claim_job(session=session, job_id=a.id, kind="train", limit=1)
        assert not job_store.claim_job(session=session, job_id=b.id, kind="train", limit=1)
        assert job_store.claim_job(session=session, job_id=c.id, kind="validate", limit=1)
        assert not job_store.claim_job(session=session, job_id=a.id, kind="train", limit=5)  # already claimed
    with session_scope() as session:
        jobs = {j.id: j for j in job_store.list_jobs(session=session)}
    assert isinstance(jobs[a.id], Job)
    assert (jobs[a.id].status, jobs[b.id].status, jobs[c.id].status) == ("starting", "queued", "starting")


def test_finish_job_first_writer_wins(store_url: str) -> None:
    with session_scope() as session:
        job = job_store.create_job(session=session, kind="x", params={"k": [1, 2]})
        assert job_store.finish_job(session=session, job_id=job.id, status="failed", error="worker stopped")
        assert not job_store.finish_job(session=session, job_id=job.id, status="succeeded", result={"v": 1})
        final = job_store.get_job(session=session, job_id=job.id)
    assert final.status == "failed"
    assert final.error == "worker stopped"
    assert final.params == {"k": [1, 2]}


def test_typed_updates_write_only_the_fields_they_set(store_url: str) -> None:
    from datetime import datetime

    from backend.core.enums import JobStatus, RunStatus
    from backend.store import runs as run_store

    with session_scope() as session:
        job = job_store.create_job(session=session, kind="x", params={}, title="t", log_path="/l.log")
        job_store.update_job(
            session=session, job_id=job.id, changes=job_store.JobUpdate(status=JobStatus.RUNNING, pid=41, host="h")
        )
        job_store.update_job(session=session, job_id=job.id, changes=job_store.JobUpdate(message="half way"))
        job_store.update_job(session=session, job_id=job.id, changes=job_store.JobUpdate())  # nothing set: no write
        job_store.update_job(session=session, job_id=job.id, changes=job_store.JobUpdate(pid=None))  # None is NULL
        stored = job_store.get_job(session=session, job_id=job.id)
        run = run_store.create_run(session=session, name="r", model="m", params={"epochs": 3}, run_dir="/runs/r")
        stamp = datetime(2024, 5, 1, 12, 0)
        updated = run_store.update_run(
            session=session,
            run_id=run.id,
            changes=run_store.RunUpdate(status=RunStatus.SUCCEEDED, finished_at=stamp, history=[{"epoch": 1}]),
        )
    assert (stored.status, stored.pid, stored.host, stored.message) == ("running", None, "h", "half way")
    assert (stored.title, stored.log_path, stored.params) == ("t", "/l.log", {})  # untouched
    assert (updated.status, updated.finished_at, updated.history) == ("succeeded", stamp, [{"epoch": 1}])
    assert (updated.name, updated.model, updated.params, updated.run_dir) == ("r", "m", {"epochs": 3}, "/runs/r")
    assert job_store.JobUpdate(message="m", pid=None).values() == {"message": "m", "pid": None}
    with pytest.raises(TypeError, match="statsu"):
        run_store.RunUpdate(statsu="failed")  # type: ignore[call-arg]  # a misspelled field never reaches a row


def test_model_registry_has_one_production_model(store_url: str) -> None:
    with session_scope() as session:
        m1 = model_store.register_model(session=session, name="run-1", weights_path="/r1/best.pt")
        m2 = model_store.register_model(session=session, name="run-2", weights_path="/r2/best.pt")
        model_store.set_model_stage(session=session, model_id=m1.id, stage="production")
        model_store.set_model_stage(session=session, model_id=m2.id, stage="production")
    with session_scope() as session:
        prod = model_store.get_production_model(session=session)
        old = model_store.get_model(session=session, model_id=m1.id)
    assert prod is not None and prod.id == m2.id
    assert old.stage == "archived"
    with pytest.raises(ValueError), session_scope() as session:
        model_store.set_model_stage(session=session, model_id=m1.id, stage="staging")


def test_eval_set_versions_number_up_per_task_and_keep_their_history(store_url: str) -> None:
    from backend.core.enums import DetectionTask, EvalSetAction, EvalSplit

    with session_scope() as session:
        dataset = dataset_store.create_dataset(session=session, name="food", source="coco")
        v1 = dataset_store.create_version(session=session, dataset_id=dataset.id, path="/d/v1")
        assert eval_set_store.current_eval_set(session=session, task=DetectionTask.FOOD) is None
        first = eval_set_store.add_eval_set_version(
            session=session,
            task=DetectionTask.FOOD,
            name="food v1 val",
            dataset_version_id=v1.id,
            split=EvalSplit.VAL,
            images=80,
            instances=412,
            class_names=["apple", "banana"],
            class_instances={"apple": 200, "banana": 212},
            action=EvalSetAction.DEFAULT,
            actor="ada",
            reason="default",
        )
        second = eval_set_store.add_eval_set_version(
            session=session,
            task=DetectionTask.FOOD,
            name="food v1 test",
            dataset_version_id=v1.id,
            split=EvalSplit.TEST,
            images=120,
            instances=600,
            class_names=["apple", "banana"],
            class_instances={"apple": 300, "banana": 300},
            action=EvalSetAction.CHOSEN,
            actor="sam",
            reason="the held-out test split",
        )
    with session_scope() as session:
        current = eval_set_store.current_eval_set(session=session, task=DetectionTask.FOOD)
        history = eval_set_store.eval_set_history(session=session, task=DetectionTask.FOOD)
    assert (first.number, second.number) == (1, 2) and current == second
    assert current.label == "eval set 'food v1 test' (120 images, 600 boxes)"
    assert current.class_instances == {"apple": 300, "banana": 300} and current.class_names == ["apple", "banana"]
    assert [(h.number, h.action, h.actor) for h in history] == [(2, "chosen", "sam"), (1, "default", "ada")]
    with pytest.raises(NotFoundError), session_scope() as session:
        eval_set_store.add_eval_set_version(
            session=session,
            task=DetectionTask.FOOD,
            name="gone",
            dataset_version_id=v1.id + 999,
            split=EvalSplit.VAL,
            images=1,
            instances=1,
            class_names=[],
            class_instances={},
            action=EvalSetAction.CHOSEN,
            actor="sam",
            reason="x",
        )
    with pytest.raises(ValueError), session_scope() as session:
        eval_set_store.add_eval_set_version(
            session=session,
            task=DetectionTask.FOOD,
            name="bad split",
            dataset_version_id=v1.id,
            split="train",  # type: ignore[arg-type]
            images=1,
            instances=1,
            class_names=[],
            class_instances={},
            action=EvalSetAction.CHOSEN,
            actor="sam",
            reason="x",
        )


def test_feedback_counts_and_review_queue(store_url: str) -> None:
    with session_scope() as session:
        p = prediction_store.add_prediction(
            session=session,
            image_name="lunch.jpg",
            features={"brightness": 120.0},
            detections=[{"class": "apple", "confidence": 0.9, "box": [1, 2, 3, 4]}],
            latency_ms=12.5,
            conf=0.25,
            iou=0.45,
        )
        prediction_store.add_feedback(
            session=session, prediction_id=p.id, kind="correct", class_name="apple", detection_index=0
        )
        prediction_store.add_feedback(
            session=session, prediction_id=p.id, kind="wrong", class_name="apple", correct_class="tomato"
        )
        prediction_store.add_feedback(session=session, prediction_id=p.id, kind="missed", class_name="egg")
    with session_scope() as session:
        counts = prediction_store.feedback_counts(session=session)
        queue = review_store.list_review_items(session=session)
        pred = prediction_store.get_prediction(session=session, prediction_id=p.id)
    assert counts["apple"] == {"correct": 1, "wrong": 1, "missed": 0}
    assert counts["egg"]["missed"] == 1
    assert len(queue) == 2 and all(item.file == "lunch.jpg" for item in queue)
    assert pred.n_detections == 1


def test_bulk_predictions_and_listing(store_url: str) -> None:
    records = [
        {"image_name": f"{i}.jpg", "latency_ms": float(i), "detections": [{"class": "egg"}] * (i % 3)}
        for i in range(250)
    ]
    with session_scope() as session:
        assert prediction_store.add_predictions_bulk(session=session, records=records) == 250
    with session_scope() as session:
        latest = prediction_store.list_predictions(session=session, limit=10)
        total = prediction_store.count_predictions(session=session)
    assert total == 250
    assert [p.image_name for p in latest[:2]] == ["249.jpg", "248.jpg"]
    assert latest[0].n_detections == 249 % 3


def test_shadow_answers_pair_with_predictions_once_and_the_choice_follows_the_trail(store_url: str) -> None:
    banana = {"class": "banana", "confidence": 0.8, "box": [1, 2, 30, 40]}
    with session_scope() as session:
        model = model_store.register_model(session=session, name="cand", weights_path="/r/best.pt")
        first = prediction_store.add_prediction(
            session=session, image_name="a.jpg", thumb_path="/t/a.jpg", detections=[banana], conf=0.25, iou=0.45
        )
        second = prediction_store.add_prediction(session=session, image_name="b.jpg", conf=0.25, iou=0.45)
        for prediction in (first, second):
            shadow_store.add_shadow_prediction(
                session=session,
                prediction_id=prediction.id,
                model_id=model.id,
                model_label="model 1: cand",
                detections=[banana, banana],
                latency_ms=7.5,
            )
        shadow_store.add_shadow_prediction(
            session=session, prediction_id=first.id, model_label="run 3: other", detections=[], latency_ms=1.0
        )
    with session_scope() as session:
        pairs = shadow_store.shadow_pairs(session=session, model_label="model 1: cand")
        assert shadow_store.count_shadow_predictions(session=session) == 3
        assert shadow_store.count_shadow_predictions(session=session, model_label="run 3: other") == 1
        assert prediction_store.count_predictions(session=session) == 2  # the prediction log holds no shadow answer
    assert [p.prediction_id for p in pairs] == [second.id, first.id]  # newest first
    assert pairs[1].production == [banana] and pairs[1].shadow == [banana, banana] and pairs[1].thumb_path == "/t/a.jpg"
    assert pairs[1].shadow_latency_ms == 7.5
    with pytest.raises(IntegrityError), session_scope() as session:  # once per prediction and shadow model
        shadow_store.add_shadow_prediction(
            session=session, prediction_id=first.id, model_label="model 1: cand", detections=[], latency_ms=1.0
        )
    with session_scope() as session:
        assert shadow_store.current_shadow(session=session) is None
        model_store.add_event(session=session, action=shadow_store.SHADOW_ON, model_id=model.id)
        model_store.add_event(session=session, action="promoted", model_id=None)  # other events do not count
        on = shadow_store.current_shadow(session=session)
        model_store.add_event(session=session, action=shadow_store.SHADOW_OFF, model_id=model.id)
        off = shadow_store.current_shadow(session=session)
    assert on is not None and on.model_id == model.id and off is None


def test_missing_rows_raise_not_found(store_url: str) -> None:
    with pytest.raises(NotFoundError, match="Job 42 does not exist"), session_scope() as session:
        job_store.get_job(session=session, job_id=42)


def test_dataset_index_bulk_write_and_read(store_url: str) -> None:
    """The index's driver-level bulk insert lands in the session's transaction on both databases."""
    from backend.store import dataset_index as index_store

    images = [
        {
            "position": i,
            "file": f"{i}.jpg",
            "rel_path": f"images/train/{i}.jpg",
            "split": "train" if i % 4 else "val",
            "width": 640,
            "height": 480,
            "bytes": 1000 + i,
            "mtime_ns": 1_700_000_000_000_000_000 + i,
            "boxes": i % 3,
            "classes": ",1," if i % 3 else "",
        }
        for i in range(30)
    ]
    boxes = [
        {"image_position": i, "class_id": 1, "cx": 0.5, "cy": 0.5, "w": 0.1, "h": 0.2, "area": 0.02}
        for i in range(30)
        for _ in range(i % 3)
    ]
    with session_scope() as session:
        ds = dataset_store.create_dataset(session=session, name="indexed", source="coco")
        version = dataset_store.create_version(session=session, dataset_id=ds.id, path="/x")
        rows = index_store.IndexRows(names=["a", "b"], images=images, boxes=boxes, summary={"splits": {"train": 22}})
        state = index_store.write_index(session=session, version_id=version.id, rows=rows)
    assert (state.images, state.boxes) == (30, len(boxes))
    with session_scope() as session:
        assert index_store.count_images(session=session, version_id=version.id) == 30
        page = index_store.page_images(session=session, version_id=version.id, offset=0, limit=5)
        assert [p.file for p in page] == [f"{i}.jpg" for i in range(5)]
        with pytest.raises(ValueError, match="no column"):
            index_store.write_index(
                session=session,
                version_id=version.id,
                rows=index_store.IndexRows(names=[], images=[{"evil": 1}], boxes=[]),
            )
