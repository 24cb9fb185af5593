"""Monitoring in a workspace: reports from the prediction log with files, store rows and the Evidently workspace,
history and drill-down into the review queue, automatic reports as real jobs, and the two CLIs' exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backend.core.enums import JobKind, ReviewSource
from backend.core.errors import BadInputError, NotFoundError
from backend.core.settings import Settings
from backend.monitoring import service, tasks, views
from backend.runtime import runner
from backend.store import drift as drift_store
from backend.store import review as review_store
from backend.store.engine import session_scope
from tests.utils.actors import ADMIN
from tests.utils.monitoring import add_monitored_model, send_shifted

ROOT = Path(__file__).resolve().parents[2]


def test_reports_from_the_prediction_log(workspace: Settings, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="No model serves"):
        service.build_drift_report()
    add_monitored_model(tmp_path)
    with pytest.raises(BadInputError, match="Only 0 predictions"):
        service.build_drift_report()
    send_shifted(tmp_path, [("none", 40, 1)])
    calm = service.build_drift_report(window=40)
    assert calm.drifted is False and calm.n_current == 40 and calm.n_reference == 60
    assert Path(calm.html_path or "").is_file() and Path(calm.snapshot_path or "").is_file()
    assert calm.trigger == "manual" and calm.last_prediction_id == 40
    assert (workspace.home / "evidently").is_dir()  # the same run in the local Evidently workspace

    send_shifted(tmp_path, [("dark", 40, 2)])
    dark = service.build_drift_report(window=40)
    assert dark.drifted is True
    assert {"brightness", "contrast"} <= set(views.drifted_features(dark))
    assert not {"width", "height", "aspect_ratio"} & set(views.drifted_features(dark))
    assert dark.window_start is not None and dark.window_end is not None
    with session_scope() as session:
        assert [r.id for r in drift_store.list_drift_reports(session=session)] == [dark.id, calm.id]
    from evidently.ui.workspace import Workspace

    evidently = Workspace(str(workspace.home / "evidently"))  # what `evidently ui --workspace` opens
    project = evidently.search_project(service.EVIDENTLY_PROJECT)[0]
    assert len(evidently.list_runs(project.id)) == 2

    latest = views.latest_report()
    assert latest is not None and latest.id == dark.id and latest.drifted
    history = views.history_frame(views.report_history())
    assert list(history["alarm"]) == [False, True]
    assert history["brightness"].iloc[1] > 3 > history["brightness"].iloc[0]  # -log10(p) against the 0.001 cut

    segment = views.suggest_segment(dark, "brightness")
    assert segment.side == "below"
    images = views.segment_images(dark, segment)
    assert len(images) >= 30 and all(Path(i.thumb_path or "").is_file() for i in images)
    assert all(float(i.value) < float(segment.value) for i in images)
    picked = [i.prediction_id for i in images[:3]]
    assert views.send_to_review(picked, reason=f"drift: {segment.describe()}", actor=ADMIN) == 3
    assert views.send_to_review(picked, reason="again", actor=ADMIN) == 0  # already waiting
    with session_scope() as session:
        items = review_store.list_review_items(session=session, status="open")
    assert sorted(i.prediction_id for i in items if i.source == ReviewSource.DRIFT) == sorted(picked)


def test_class_share_and_error_rates(workspace: Settings, tmp_path: Path) -> None:
    from backend.serving.service import record_feedback

    add_monitored_model(tmp_path)
    ids = send_shifted(tmp_path, [("none", 3, 1)])
    record_feedback(ids[0], "missed", class_name="apple", actor=ADMIN)
    record_feedback(ids[1], "missed", class_name="apple", actor=ADMIN)
    record_feedback(ids[2], "correct", class_name="banana", detection_index=0, actor=ADMIN)
    rates = {r.name: r for r in views.error_rates()}
    apple, banana = rates["apple"], rates["banana"]
    assert (apple.missed, apple.wrong, apple.correct, apple.feedback) == (2, 0, 0, 2)
    assert (banana.correct, banana.feedback) == (1, 1)
    # two and one feedback are too few to state a rate: the count and the interval say how little is known
    assert apple.rate.value is None and apple.rate.count_text == "2 of 2" and apple.rate.high == 1.0
    assert apple.rate.text().startswith("too few to tell (2 of 2; 95 % interval 0.34–1.00")
    assert banana.rate.value is None and banana.rate.text().startswith("too few to tell (0 of 1;")
    stated = {r.name: r.rate for r in views.error_rates(minimum=1)}
    assert stated["apple"].value == 1.0 and stated["banana"].value == 0.0
    assert stated["apple"].text() == "1.00 (2 of 2; 95 % interval 0.34–1.00)"
    assert views.class_share_over_time().empty  # the untrained model detects nothing


def test_automatic_report_runs_as_a_job(workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("monitor:\n  auto_report_every: 30\n  window: 40\n", encoding="utf-8")
    monkeypatch.setenv("PLATEOPS_PARAMS_FILE", str(params))
    from backend.core.settings import get_settings

    get_settings.cache_clear()
    add_monitored_model(tmp_path)
    send_shifted(tmp_path, [("blur", 20, 3)])
    assert tasks.maybe_start_auto_report() is None  # 20 < 30 new predictions
    send_shifted(tmp_path, [("blur", 20, 4)])
    job_id = tasks.maybe_start_auto_report()
    assert job_id is not None
    job = runner.wait_for(job_id, timeout_s=300)
    assert job.kind == JobKind.DRIFT_REPORT and job.status == "succeeded", job.error
    report = views.latest_report()
    assert report is not None and report.trigger == "auto" and report.drifted
    assert "sharpness" in views.drifted_features(report)
    assert tasks.maybe_start_auto_report() is None  # everything is covered now


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_cli_exit_codes(workspace: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m jobs.drift` end to end once (a subprocess, as dvc and scripts run it); the other cases call the
    same `main` in this process (the exit status and the one line on stderr are the contract)."""
    from jobs import drift as drift_job
    from jobs import simulate_traffic as traffic_job
    from tests.utils.tiny_data import save_untrained_detector

    weights = save_untrained_detector(tmp_path / "w.pt", imgsz=64)
    ref_args = ["--shift", "none", "--images", "40", "--out", str(tmp_path / "ref" / "images")]
    assert traffic_job.main(ref_args) == 0
    assert len(list((tmp_path / "ref" / "images").glob("traffic_none_0_*.jpg"))) == 40
    assert traffic_job.main(["--shift", "blur", "--images", "40", "--out", str(tmp_path / "cur"), "--seed", "9"]) == 0
    out = tmp_path / "report"
    done = _cli(
        "jobs.drift", "--reference", str(tmp_path / "ref"), "--current", str(tmp_path / "cur"),
        "--weights", str(weights), "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["drift_detected"] is True and "sharpness" in summary["drifted_features"]
    assert summary["reference_images"] == 40 and summary["current_images"] == 40
    # no labelled held-out split beside these reference pictures: the estimate is uncalibrated and says so (0-1)
    assert (summary["estimated_map50_low"], summary["estimated_map50_high"]) == (0.0, 1.0)
    assert 0.0 <= summary["estimated_map50"] <= 1.0 and isinstance(summary["embedding_drift"], bool)
    assert (out / "report.html").is_file() and (out / "snapshot.json").is_file()

    same = ["--reference", str(tmp_path / "ref"), "--current", str(tmp_path / "ref" / "images")]
    assert drift_job.main([*same, "--weights", str(weights), "--out", str(tmp_path / "same")]) == 0  # no drift: 0
    same_summary = json.loads((tmp_path / "same" / "summary.json").read_text())
    assert same_summary["drift_detected"] is False and same_summary["embedding_drift"] is False
    capsys.readouterr()

    missing = ["--reference", str(tmp_path / "nope"), "--current", str(tmp_path / "cur")]
    assert drift_job.main([*missing, "--weights", str(weights), "--out", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err
    assert "error:" in error and "not a folder" in error
    with pytest.raises(SystemExit) as bad_shift:  # argparse refuses an unknown choice
        traffic_job.main(["--shift", "sepia", "--images", "3", "--out", str(tmp_path)])
    assert bad_shift.value.code == 2
    capsys.readouterr()
    assert traffic_job.main(["--shift", "dark", "--images", "0", "--out", str(tmp_path / "z")]) == 2
    assert "between 1 and" in capsys.readouterr().err
    assert traffic_job.main(["--shift", "none", "--images", "2", "--out", str(tmp_path / "s"), "--send"]) == 2
    assert "No model" in capsys.readouterr().err


def test_simulated_traffic_job_logs_predictions(workspace: Settings, tmp_path: Path) -> None:
    from backend.store import predictions as prediction_store

    with pytest.raises(NotFoundError, match="No model can answer"):
        tasks.start_simulated_traffic(shift="dark", images=3, actor=ADMIN)
    add_monitored_model(tmp_path)
    with pytest.raises(BadInputError, match="Unknown shift"):
        tasks.start_simulated_traffic(shift="sepia", images=3, actor=ADMIN)
    job = runner.wait_for(tasks.start_simulated_traffic(shift="dark", images=4, seed=7, actor=ADMIN), timeout_s=300)
    assert job.kind == JobKind.SIMULATE_TRAFFIC and job.status == "succeeded", job.error
    assert job.result["sent"] == 4 and job.result["auto_report_job"] is None  # 4 < auto_report_every
    with session_scope() as session:
        logged = prediction_store.list_predictions(session=session)
    assert sorted(p.image_name for p in logged) == [f"traffic_dark_7_{i:05d}.jpg" for i in range(4)]
    assert all(p.features["brightness"] < 90 for p in logged)
    assert not (workspace.home / "traffic" / f"job-{job.id}").exists()  # generated files are not kept
