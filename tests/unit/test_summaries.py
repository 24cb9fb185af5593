"""The typed views of stored JSON (backend.store.summaries, backend.data.preflight): they read what the writers
write, tolerate old and partial rows, and the records expose them as properties."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path

from PIL import Image

from backend.data.formats.convert import prepare_coco
from backend.data.formats.prepared import REPORT_NAME
from backend.data.preflight import ClassMapping, PreflightReport
from backend.store.records import DatasetVersion, Job, Run
from backend.store.summaries import (
    ClassScore,
    EpochRow,
    JobOutcome,
    Scores,
    SeverityCounts,
    Tracking,
    ValidationSummary,
    VersionCounts,
)
from backend.training.evaluation import EvalResult
from backend.training.tracking import TrackingInfo
from backend.training.trainer import EpochMetrics

NOW = datetime(2026, 1, 1, 12, 0)


def _version(stats: dict[str, object], summary: dict[str, object]) -> DatasetVersion:
    return DatasetVersion(
        id=1,
        dataset_id=1,
        number=1,
        parent_id=None,
        author="",
        message="",
        path="/nowhere",
        content_hash=None,
        stats=stats,
        changelog=[],
        validation_status="warnings",
        validation_summary=summary,
        created_at=NOW,
    )


def test_version_counts_and_validation_read_both_severity_keys() -> None:
    stats = {"images": 42, "train": 30, "val": 12, "boxes": 99}
    summary = {
        "images": 42,
        "issues_by_check": {"dark": 2, "blurry": 0},
        "issues_by_severity": {"error": 1, "warning": 2, "info": 0},
        "seconds": 0.9,
        "images_per_second": 46.7,
    }
    version = _version(stats, summary)
    assert version.counts == VersionCounts(images=42, train=30, val=12, test=None)
    assert version.validation == ValidationSummary(
        images=42,
        by_severity=SeverityCounts(error=1, warning=2, info=0),
        issues_by_check={"dark": 2, "blurry": 0},
        seconds=0.9,
        images_per_second=46.7,
    )
    older = _version(stats, {**summary, "by_severity": {"warning": 5}})
    assert older.validation.by_severity == SeverityCounts(warning=5)


def test_missing_or_wrong_values_read_as_unknown_never_raise() -> None:
    version = _version({"images": "many", "train": None}, {"issues_by_check": ["not", "a", "dict"], "seconds": "x"})
    assert version.counts == VersionCounts()
    assert version.validation == ValidationSummary()
    assert ValidationSummary.from_json(None).images is None
    assert JobOutcome.from_json(None) == JobOutcome()
    assert Scores.from_json({"map50": True}).map50 is None


def test_epoch_rows_match_what_the_trainer_stores() -> None:
    assert {f.name for f in dataclasses.fields(EpochRow)} == {f.name for f in dataclasses.fields(EpochMetrics)}
    metrics = EpochMetrics(3, 10, 1.2, 0.8, 0.9, 0.5, 0.4, 0.45, 0.2, 0.01, 2.5)
    row = EpochRow.from_json(dataclasses.asdict(metrics))
    assert dataclasses.asdict(row) == dataclasses.asdict(metrics)
    assert row.value("map50") == 0.45
    assert row.value("not_a_figure") is None


def test_run_and_job_properties_read_evaluation_tracking_and_outcome() -> None:
    evaluation = EvalResult(
        map50=0.61,
        map50_95=0.33,
        precision=0.7,
        recall=0.5,
        per_class={"apple": {"ap50": 0.9, "ap50_95": 0.4}},
        latency_ms=3.5,
    ).to_dict()
    tracking = TrackingInfo(mode="online", task_id="abc", web_url="http://clearml/abc").to_dict()
    history = [{"epoch": 1, "epochs": 2, "map50": 0.1}, {"epoch": 2, "epochs": 2, "map50": 0.2}]
    run = Run(
        id=1,
        name="r",
        job_id=7,
        dataset_version_id=1,
        model="yolov8n.yaml",
        preset="quick",
        params={},
        status="succeeded",
        run_dir="/nowhere",
        weights_path=None,
        metrics={"epochs_completed": 2, "device": "cpu", "map50": 0.6},
        evaluation=evaluation,
        history=history,
        tracking=tracking,
        created_at=NOW,
        finished_at=NOW,
        duration_s=12.0,
    )
    assert (run.scores.map50, run.scores.recall, run.scores.latency_ms) == (0.61, 0.5, 3.5)
    assert run.scores.per_class == {"apple": ClassScore(ap50=0.9, ap50_95=0.4)}
    assert (run.facts.epochs_completed, run.facts.device, run.facts.map50) == (2, "cpu", 0.6)
    assert run.tracking_info == Tracking(mode="online", task_id="abc", web_url="http://clearml/abc")
    assert [e.map50 for e in run.epochs] == [0.1, 0.2]
    job = Job(
        id=7,
        kind="import_dataset",
        title="",
        params={},
        status="succeeded",
        pid=None,
        created_at=NOW,
        started_at=None,
        finished_at=None,
        heartbeat_at=None,
        cancel_requested_at=None,
        progress=1.0,
        message="",
        log_path="",
        result={"version_id": 4},
        error=None,
        live={"run_id": 1, "epochs": history},
    )
    assert job.outcome == JobOutcome(version_id=4)
    assert [e.epoch for e in job.live_epochs] == [1, 2]


def test_preflight_report_reads_what_prepare_writes(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        Image.new("RGB", (64, 48), (40 * i, 90, 160)).save(images / f"p{i}.jpg")
    coco = {
        "images": [{"id": i, "file_name": f"p{i}.jpg", "width": 64, "height": 48} for i in range(4)],
        "annotations": [{"id": i, "image_id": i, "category_id": 5 + i % 2, "bbox": [4, 4, 20, 20]} for i in range(4)],
        "categories": [{"id": 5, "name": "apple"}, {"id": 6, "name": "bread"}],
    }
    coco_json = tmp_path / "coco.json"
    coco_json.write_text(json.dumps(coco), encoding="utf-8")
    result = prepare_coco(coco_json, images, tmp_path / "out", val_fraction=0.25, seed=3)
    report = PreflightReport.from_json(json.loads((tmp_path / "out" / REPORT_NAME).read_text(encoding="utf-8")))
    assert report.found
    assert (report.format, report.val_fraction, report.seed) == ("coco", 0.25, 3)
    assert report.counts == result.counts
    assert report.class_map == [ClassMapping(5, 0, "apple"), ClassMapping(6, 1, "bread")]
    assert sorted(f.file for f in report.files) == [f"p{i}.jpg" for i in range(4)]
    assert {f.split for f in report.files} <= {"train", "val"}
    assert not PreflightReport.from_json({}).found
