"""backend.registry: the promotion gate (pass, block, override with a reason), rollback, the model history, the sha256
check of registered weights, ONNX export on promotion, and `jobs.promote` / `jobs.export` exit codes.

The gate's scoring is real (tiny detectors matched on a tiny grid image set, CPU) where it is about passing, blocking
on latency and the CLI; the AP50-drop rule is exercised on built figures (`class_checks`, `decide`) and, end to end,
with a scoring that reports exact hits for a fixed share of each class's boxes per weights file. The evaluation set's
own rules (too small, class mapping, useless candidate, adoption) are in test_gate.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backend.core.errors import BadInputError
from backend.core.params import RegistryParams
from backend.core.settings import Settings, get_settings
from backend.registry import service as registry
from backend.registry.eval_set import current_eval_set
from backend.registry.gate import class_checks, decide
from backend.serving.service import load_detector, serving_model
from backend.store import registered_models as model_store
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion
from backend.training.bootstrap import ClassFigures, Figures, Interval, PairedDifference
from jobs import export as export_cli
from jobs import promote as promote_cli
from tests.utils.actors import ADMIN, actor_named
from tests.utils.gate_models import fixed_recall_scorer, make_grid_dataset
from tests.utils.registry_runs import add_dataset_version, add_version_run
from tests.utils.shared import TinyModels

# these tests' set is tiny on purpose, and their candidates are often no better than production: the rules for that
# (refusing to decide, "not shown better") are tested in test_gate.py
SMALL_SET = {"eval_min_images": 1, "eval_min_instances": 1, "require_shown_better": False}


@pytest.fixture(scope="module", name="files")
def fixture_files(tmp_path_factory: pytest.TempPathFactory, tiny_models: TinyModels) -> dict[str, Path]:
    """Two tiny detectors (imgsz 64, the run's shared read-only files) and a tiny YOLO split (30 images, 60 boxes)
    with the same three classes."""
    root = tmp_path_factory.mktemp("registry")
    return {
        "a": tiny_models.untrained(imgsz=64, seed=1),
        "b": tiny_models.grid(imgsz=64),
        "data": make_grid_dataset(root / "data", val=30).parent,
    }


@pytest.fixture(name="version")
def fixture_version(workspace: Settings, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> DatasetVersion:
    _params_file(workspace, monkeypatch)
    return add_dataset_version(files["data"])


def _params_file(workspace: Settings, monkeypatch: pytest.MonkeyPatch, **registry_values: Any) -> None:
    """A params.yaml for this workspace with a tiny evaluation set allowed, 200 bootstrap resamples and the given
    registry values (the rest from the project's file)."""
    import yaml

    data = yaml.safe_load(Path("params.yaml").read_text(encoding="utf-8"))
    data["registry"].update({**SMALL_SET, **registry_values})
    data["evaluate"]["bootstrap_samples"] = 200
    path = workspace.home / "params.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("PLATEOPS_PARAMS_FILE", str(path))
    get_settings.cache_clear()


def _production_id() -> int | None:
    with session_scope() as session:
        model = model_store.get_production_model(session=session)
    return model.id if model else None


# --------------------------------------------------------------------------------------------------- decide


def _figures(ap50: dict[str, float]) -> Figures:
    per_class = {
        k: ClassFigures(20, Interval(v, v - 0.1, v + 0.1), Interval(v / 2, None, None)) for k, v in ap50.items()
    }
    mean = sum(ap50.values()) / len(ap50)
    return Figures(
        Interval(mean, mean - 0.1, mean + 0.1), Interval(mean / 2, None, None), per_class, 0.5, 0.5, 40, 40, 100, 0
    )


def test_decide_blocks_a_class_whose_ap50_drops_too_far_and_a_slow_model() -> None:
    params = RegistryParams(max_ap50_drop=0.05, latency_budget_ms=100, require_shown_better=False)
    production = _figures({"apple": 0.80, "banana": 0.60})
    even = PairedDifference(Interval(0.03, -0.02, 0.08), Interval(0.0, -0.01, 0.01))
    fine = _figures({"apple": 0.76, "banana": 0.70})
    checks = class_checks(fine, production, even, params=params)
    assert decide(checks, even, 40.0, label="eval set 'x'", params=params) == []
    strict = RegistryParams(max_ap50_drop=0.05, latency_budget_ms=100)  # the default: a gain must beat the noise
    assert decide(checks, even, 40.0, label="eval set 'x'", params=strict) == [
        "Not shown better: mAP50 +0.030 (-0.020 to +0.080, 95 % interval of the paired difference) on eval set 'x'; "
        "the candidate must beat production beyond the interval."
    ]
    assert [(c.name, c.delta, c.blocked) for c in checks] == [("apple", -0.04, False), ("banana", 0.1, False)]

    worse = _figures({"apple": 0.70, "banana": 0.70})
    checks = class_checks(worse, production, even, params=params)
    reasons = decide(checks, even, 140.0, label="eval set 'x'", params=params)
    assert [c.name for c in checks if c.blocked] == ["apple"]
    assert len(reasons) == 2 and reasons[0].startswith("apple: AP50 drops from 0.800 to 0.700")
    assert reasons[0].endswith("on eval set 'x'")
    assert "140.0 ms per image is over the 100 ms budget" in reasons[1]

    # production better beyond the interval: the paired difference's upper bound is below 0
    behind = PairedDifference(Interval(-0.2, -0.3, -0.1), Interval(-0.1, -0.2, -0.05))
    reasons = decide(
        class_checks(fine, production, behind, params=params), behind, 40.0, label="eval set 'x'", params=params
    )
    assert reasons == [
        "On eval set 'x' the production model is better: mAP50 difference -0.200 (95 % interval -0.300 to -0.100, "
        "entirely below 0)."
    ]

    first = class_checks(fine, None, None, params=params)  # nothing in production: only the latency budget applies
    assert decide(first, None, 40.0, label="eval set 'x'", params=params) == []
    assert all(c.production_ap50 is None for c in first)


# --------------------------------------------------------------------------------------------------- the gate


@pytest.mark.training  # promotion exports ONNX
def test_first_promotion_passes_exports_onnx_and_serving_names_it(
    version: DatasetVersion, files: dict[str, Path]
) -> None:
    run, model = add_version_run(files["a"], version, name="run-a")
    assert model is not None
    figures = registry.promote_run(run.id, actor=actor_named("tester"), export=True)
    assert figures.passed and figures.promoted and not figures.overridden
    assert figures.production_model_id is None and figures.production == {}
    assert figures.dataset == "eval set 'tiny-shapes v1 val' (30 images, 60 boxes)"
    assert figures.candidate["latency_ms"] is not None and figures.candidate["latency_ms"] > 0
    assert figures.candidate["map50_low"] <= figures.candidate["map50"] <= figures.candidate["map50_high"]
    assert {c.name for c in figures.classes} == {"apple", "banana", "broccoli"}
    assert figures.own_split["dataset"] == "tiny-shapes v1 val"  # the same split: shown beside, never deciding
    # the promoted model's validation split became the evaluation set, recorded at its first promotion
    recorded = current_eval_set()
    assert recorded is not None and (recorded.number, recorded.name, recorded.action) == (
        1,
        "tiny-shapes v1 val",
        "default",
    )
    assert recorded.actor == "tester" and figures.eval_set["number"] == 1

    with session_scope() as session:
        stored = model_store.get_model(session=session, model_id=model.id)
    assert stored.stage == "production" and stored.onnx_path and Path(stored.onnx_path).is_file()
    assert len(stored.onnx_sha256) == 64
    served = serving_model()
    # the runtime measured fastest within the tolerance serves (ONNX or OpenVINO), as recorded on the model
    assert served is not None and served.model_id == model.id and served.kind in {"onnx", "openvino"}
    assert served.weights == Path(stored.onnx_path).resolve()
    assert load_detector(served, device="cpu").names == ["apple", "banana", "broccoli"]
    history = registry.model_history()
    assert [e.action for e in history] == ["exported", "promoted"]
    assert history[0].figures["runtime"]["served"] in {"onnxruntime", "openvino", "onnxruntime int8", "openvino int8"}
    assert history[1].actor == "tester" and history[1].figures["passed"] is True


def test_latency_budget_blocks_and_a_written_reason_overrides(
    version: DatasetVersion, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, workspace: Settings
) -> None:
    run_a, model_a = add_version_run(files["a"], version, name="run-a")
    registry.promote_run(run_a.id, export=False, actor=ADMIN)
    _params_file(workspace, monkeypatch, latency_budget_ms=0.001)
    run_b, model_b = add_version_run(files["b"], version, name="run-b")
    assert model_a is not None and model_b is not None

    blocked = registry.promote_run(run_b.id, actor=actor_named("tester"), export=False)
    assert not blocked.passed and not blocked.promoted
    assert blocked.production_model_id == model_a.id and blocked.production["latency_ms"] is not None
    assert any("over the 0.001 ms budget" in r for r in blocked.reasons)
    assert _production_id() == model_a.id  # the production model keeps answering

    overridden = registry.promote_run(
        run_b.id, actor=actor_named("tester"), reason="latency measured on a busy CI box", export=False
    )
    assert overridden.promoted and overridden.overridden and not overridden.passed
    assert _production_id() == model_b.id
    history = registry.model_history()
    assert [e.action for e in history][:2] == ["overridden", "blocked"]
    assert history[0].reason == "latency measured on a busy CI box" and history[0].previous == f"run-a (#{model_a.id})"
    assert history[0].figures["reasons"] == overridden.reasons


def test_an_ap50_drop_blocks_promotion(version: DatasetVersion, files: dict[str, Path]) -> None:
    score_fn = fixed_recall_scorer(
        {
            "run-a": {"apple": 0.9, "banana": 0.8, "broccoli": 0.7},
            "run-b": {"apple": 0.95, "banana": 0.6, "broccoli": 0.7},
        }
    )
    run_a, model_a = add_version_run(files["a"], version, name="run-a")
    registry.promote_run(run_a.id, score_fn=score_fn, export=False, actor=ADMIN)
    run_b, _ = add_version_run(files["b"], version, name="run-b")
    figures = registry.promote_run(run_b.id, score_fn=score_fn, export=False, actor=ADMIN)
    assert not figures.promoted and [c.name for c in figures.classes if c.blocked] == ["banana"]
    [banana] = [c for c in figures.classes if c.name == "banana"]
    assert banana.delta is not None and banana.delta < -0.05
    assert figures.reasons == [
        f"banana: AP50 drops from {banana.production_ap50:.3f} to {banana.candidate_ap50:.3f} ({banana.delta:+.3f}; "
        "at most -0.050 allowed) on eval set 'tiny-shapes v1 val' (30 images, 60 boxes)"
    ]
    assert figures.paired["map50_delta_low"] <= figures.paired["map50_delta"] <= figures.paired["map50_delta_high"]
    assert model_a is not None and _production_id() == model_a.id


def test_rollback_goes_back_one_step_and_detect_answers_with_it(
    version: DatasetVersion, files: dict[str, Path]
) -> None:
    score_fn = fixed_recall_scorer({"run-a": {"apple": 0.5}, "run-b": {"apple": 0.5}, "run-c": {"apple": 0.5}})
    models = []
    for name, weights in (("run-a", files["a"]), ("run-b", files["b"]), ("run-c", files["a"])):
        run, model = add_version_run(weights, version, name=name)
        registry.promote_run(run.id, score_fn=score_fn, export=False, actor=ADMIN)
        models.append(model)
    a, b, c = (m.id for m in models if m is not None)
    assert registry.production_history() == [a, b, c]
    assert registry.rollback(actor=actor_named("tester"), reason="c misses apples").id == b
    served = serving_model()
    assert served is not None and served.model_id == b and served.label.startswith("production model run-b")
    assert registry.rollback(actor=ADMIN).id == a
    assert registry.production_history() == [a]
    with pytest.raises(BadInputError, match="no earlier production model"):
        registry.rollback(actor=ADMIN)
    assert [e.action for e in registry.model_history()][:2] == ["rolled_back", "rolled_back"]


# --------------------------------------------------------------------------------------------------- sha256


def test_changed_weights_are_refused_and_the_previous_production_keeps_answering(
    version: DatasetVersion, files: dict[str, Path]
) -> None:
    score_fn = fixed_recall_scorer({"run-a": {"apple": 0.5}, "run-b": {"apple": 0.5}})
    run_a, model_a = add_version_run(files["a"], version, name="run-a")
    registry.promote_run(run_a.id, score_fn=score_fn, export=False, actor=ADMIN)
    run_b, model_b = add_version_run(files["b"], version, name="run-b")
    assert model_a is not None and model_b is not None
    weights_b = Path(str(run_b.weights_path))
    weights_b.write_bytes(weights_b.read_bytes() + b"tampered")
    with pytest.raises(registry.WeightsIntegrityError, match="changed since registration"):
        registry.promote_run(run_b.id, score_fn=score_fn, export=False, actor=ADMIN)
    assert _production_id() == model_a.id

    # a production model whose file changes after promotion is refused at serving time; the one before answers
    weights_b.write_bytes(files["b"].read_bytes())
    registry.promote_run(run_b.id, score_fn=score_fn, export=False, actor=ADMIN)
    weights_b.write_bytes(b"corrupt")
    served = serving_model()
    assert served is not None and served.model_id == model_a.id
    assert "changed since it was registered" in served.warning and "run-a" in served.warning
    assert load_detector(served, device="cpu").names == ["apple", "banana", "broccoli"]
    with pytest.raises(registry.WeightsIntegrityError, match="changed since registration"):
        registry.verify_weights(model_b)


def test_a_gate_that_fails_leaves_no_registration_behind(version: DatasetVersion, files: dict[str, Path]) -> None:
    """The attack: promote an unregistered run whose evaluation fails; the run must not turn up as a candidate."""
    run, _ = add_version_run(files["a"], version, name="run-unregistered", register=False)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise BadInputError("evaluation failed")

    with pytest.raises(BadInputError, match="evaluation failed"):
        registry.promote_run(run.id, score_fn=broken, export=False, actor=ADMIN)
    with session_scope() as session:
        assert model_store.find_model_for_run(session=session, run_id=run.id) is None
        assert model_store.list_models(session=session) == []
    # A run registered before the gate keeps its registration when the gate fails.
    registered, model = add_version_run(files["b"], version, name="run-registered")
    with pytest.raises(BadInputError, match="evaluation failed"):
        registry.promote_run(registered.id, score_fn=broken, export=False, actor=ADMIN)
    with session_scope() as session:
        kept = model_store.find_model_for_run(session=session, run_id=registered.id)
    assert model is not None and kept is not None and kept.id == model.id


def test_weights_outside_the_runs_folder_are_refused(version: DatasetVersion, files: dict[str, Path]) -> None:
    with session_scope() as session:
        outside = model_store.register_model(
            session=session, name="outside", weights_path=str(files["a"]), weights_sha256="0" * 64
        )
    with pytest.raises(registry.WeightsIntegrityError, match="outside the workspace runs folder"):
        registry.verify_weights(outside)


# --------------------------------------------------------------------------------------------------- the CLIs


def _cli(main: Any, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_promote_cli_exit_codes(
    version: DatasetVersion,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    workspace: Settings,
) -> None:
    status, _, err = _cli(promote_cli.main, ["--run", "999"], capsys)
    assert status == 2 and err.startswith("error: ")
    status, _, err = _cli(promote_cli.main, ["--rollback"], capsys)
    assert status == 2 and "no earlier production model" in err

    run_a, model_a = add_version_run(files["a"], version, name="run-a")
    status, out, _ = _cli(promote_cli.main, ["--run", str(run_a.id), "--no-export"], capsys)
    figures = json.loads(out.strip().splitlines()[-1])
    assert status == 0 and figures["promoted"] and figures["candidate_model_id"] == model_a.id
    assert {"passed", "reasons", "classes", "candidate", "production", "dataset"} <= set(figures)

    _params_file(workspace, monkeypatch, latency_budget_ms=0.001)
    run_b, _ = add_version_run(files["b"], version, name="run-b")
    status, out, _ = _cli(promote_cli.main, ["--run", str(run_b.id), "--no-export"], capsys)
    assert status == 1 and json.loads(out.strip().splitlines()[-1])["reasons"]
    status, out, _ = _cli(promote_cli.main, ["--run", str(run_b.id), "--reason", "accepted", "--no-export"], capsys)
    assert status == 0 and json.loads(out.strip().splitlines()[-1])["overridden"] is True

    status, out, _ = _cli(promote_cli.main, ["--rollback"], capsys)
    assert status == 0 and json.loads(out.strip().splitlines()[-1])["production_model_id"] == model_a.id


@pytest.mark.training  # exports ONNX
def test_export_cli_writes_onnx_at_the_training_size(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], workspace: Settings
) -> None:
    out = tmp_path / "m.onnx"
    status, stdout, _ = _cli(export_cli.main, ["--weights", str(files["a"]), "--out", str(out)], capsys)
    assert status == 0 and out.is_file() and "64x64 input" in stdout.strip().splitlines()[-1]
    status, _, err = _cli(export_cli.main, ["--weights", str(tmp_path / "missing.pt"), "--out", str(out)], capsys)
    assert status == 2 and "not found" in err


def test_offline_the_stage_lives_in_the_store_alone(version: DatasetVersion, files: dict[str, Path]) -> None:
    from backend.core.enums import ModelStage
    from backend.registry.publishing import publish_stage

    run, _ = add_version_run(files["a"], version, name="run-a")
    assert publish_stage(run, ModelStage.PRODUCTION) == "offline: stage kept in the store"
