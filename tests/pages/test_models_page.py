"""AppTest: the Models page without runs, and with two evaluated runs: table, comparison, promotion through the gate,
a blocked promotion overridden with a reason, rollback and the model history."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from backend.core.enums import ModelStage
from backend.core.settings import Settings
from backend.store import registered_models as model_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.records import Run
from tests.pages.apptest_utils import all_text, open_page
from tests.utils.registry_runs import add_dataset_version, add_version_run
from tests.utils.tiny_data import save_grid_detector, save_untrained_detector
from tests.utils.tiny_yolo import make_tiny_yolo_dataset

PAGE = "pages/models.py"


@pytest.fixture(scope="module", name="files")
def fixture_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two tiny detectors, a tiny split, and each detector's real evaluation on it (imgsz 64, CPU)."""
    from backend.training.evaluation import evaluate

    root = tmp_path_factory.mktemp("models_page")
    data_yaml = make_tiny_yolo_dataset(root / "data", train=4, val=4, size=64)
    a = save_untrained_detector(root / "a.pt", imgsz=64, seed=1)
    b = save_grid_detector(root / "b.pt", imgsz=64)
    return {
        "a": a,
        "b": b,
        "data": data_yaml.parent,
        "eval_a": evaluate(a, data_yaml, imgsz=64, device="cpu").to_dict(),
        "eval_b": evaluate(b, data_yaml, imgsz=64, device="cpu").to_dict(),
    }


@pytest.fixture(name="runs")
def fixture_runs(workspace: Settings, files: dict[str, Any]) -> list[Run]:
    version = add_dataset_version(files["data"])
    history = [{"epoch": 1, "map50": 0.1, "box_loss": 2.0}, {"epoch": 2, "map50": 0.2, "box_loss": 1.5}]
    made = []
    for name, key in (("run-a", "a"), ("run-b", "b")):
        run, _ = add_version_run(files[key], version, name=name, evaluation=files[f"eval_{key}"])
        with session_scope() as session:
            made.append(
                run_store.update_run(session=session, run_id=run.id, changes=run_store.RunUpdate(history=history))
            )
    return made


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def frame_with(at: AppTest, column: str) -> Any:
    """The first table on the page with this column (AppTest keeps keys only of selectable tables)."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def production_name() -> str | None:
    with session_scope() as session:
        model = model_store.get_production_model(session=session)
    return model.name if model else None


def promote(at: AppTest, run_id: int, reason: str = "", *, confirm: bool = True) -> AppTest:
    """Run the gate on a run; `confirm` ticks the class-mapping box (these detectors' classes are not the set's)."""
    at.selectbox(key="models_candidate").set_value(run_id)
    at.text_area(key="models_reason").input(reason)
    at.checkbox(key="models_confirm_classes").set_value(confirm)
    next(b for b in at.button if b.label == "Run the gate and promote").click()
    return run(at)


def test_without_runs_the_page_points_to_training(workspace: Settings) -> None:
    at = open_page(PAGE)
    assert "No finished training run yet" in all_text(at)


def test_table_compare_promote_override_and_rollback(
    runs: list[Run], monkeypatch: pytest.MonkeyPatch, workspace: Settings
) -> None:
    run_a, run_b = runs
    at = open_page(PAGE, timeout=180)
    text = all_text(at)
    assert "No model is in production yet" in text
    table = at.dataframe(key="models_table").value
    assert set(table["name"]) == {"run-a", "run-b"} and {"mAP50", "stage", "dataset version"} <= set(table.columns)
    assert set(table["stage"]) == {"candidate"}
    # every figure names what it is on (set, size) and carries its 95 % interval
    assert {"mAP50 95 % interval", "evaluated on"} <= set(table.columns)
    assert all(re.fullmatch(r"tiny-shapes v1 val split, 4 images, \d+ boxes", v) for v in table["evaluated on"])
    assert all(re.fullmatch(r"\d\.\d{3} to \d\.\d{3}", v) for v in table["mAP50 95 % interval"])
    assert "No evaluation set yet" in text

    deltas = frame_with(at, "Δ map50")  # the first two runs are compared by default
    assert len(deltas) == 2 and "Δ map50" in deltas.columns

    promote(at, run_a.id, reason="a reason is not enough", confirm=False)  # the class lists differ: confirm first
    assert production_name() is None
    assert any("confirm the class mapping" in str(e.value) for e in at.error)
    assert "Class mapping by name: 0 match; the candidate lacks" in all_text(at)

    promote(at, run_a.id)
    assert production_name() == "run-a", [e.value for e in at.error]
    assert "In production: run-a" in all_text(at)
    assert "The gate passed" in all_text(at)
    compared = at.multiselect(key="models_compare_runs").options  # the list drawn above the form follows at once
    assert f"#{run_a.id} run-a (production)" in compared and f"#{run_a.id} run-a (candidate)" not in compared
    assert re.search(r"Evaluation set: 'tiny-shapes v1 val' v1\*\*, 4 images, \d+ boxes", all_text(at))

    # a blocked promotion: the latency budget is tiny
    params = (
        Path("params.yaml").read_text(encoding="utf-8").replace("latency_budget_ms: 150.0", "latency_budget_ms: 0.001")
    )
    custom = workspace.home / "params.yaml"
    custom.write_text(params, encoding="utf-8")
    monkeypatch.setenv("PLATEOPS_PARAMS_FILE", str(custom))
    from backend.core.settings import get_settings

    get_settings.cache_clear()
    promote(at, run_b.id)
    assert production_name() == "run-a"
    assert any("Blocked:" in str(e.value) for e in at.error)
    assert "yes" in set(frame_with(at, "candidate AP50")["blocks"])
    # refused on a 4-image set (under registry.eval_min_images), with the set named and sized
    shown = [str(e.value).replace("\\", "") for e in at.error]  # the page escapes Markdown characters
    assert any("Refusing to decide: eval set 'tiny-shapes v1 val' (4 images" in text for text in shown), shown
    assert any("is too small to tell the models apart (4 images, at least 50 needed" in text for text in shown)
    summary = frame_with(at, "mAP50 (95 % interval)")
    assert list(summary["model"]) == [
        "candidate",
        "production",
        "candidate − production (paired)",
        "candidate on its own split (shown, never deciding)",
    ]
    assert all(
        re.fullmatch(r"eval set 'tiny-shapes v1 val' \(4 images, \d+ boxes\), v1", v)
        for v in summary["evaluated on"][:3]
    )
    assert all(re.fullmatch(r"-?\d\.\d{3} \(-?\d\.\d{3} to -?\d\.\d{3}\)", v) for v in summary["mAP50 (95 % interval)"])
    per_class = frame_with(at, "candidate 95 %")
    assert {"boxes in set", "production 95 %", "Δ 95 %"} <= set(per_class.columns)

    promote(at, run_b.id, reason="faster hardware arrives next week")
    assert production_name() == "run-b"
    assert any("override" in str(w.value) for w in at.warning)
    history = frame_with(at, "previous production")
    assert [a for a in history["action"] if a != "exported"][:2] == ["overridden", "blocked"]
    assert "exported" in set(history["action"])  # ONNX export on promotion
    assert "faster hardware arrives next week" in set(history["reason"])

    at.button(key="models_rollback").click()  # one click only asks: nothing changes yet
    run(at)
    assert production_name() == "run-b"
    assert any("Roll back? The Detect page will answer with run-a instead of run-b" in w.value for w in at.warning)
    at.button(key="models_rollback_cancel").click()
    run(at)
    assert production_name() == "run-b"
    assert "models_rollback_confirm" not in [b.key for b in at.button], "keeping the model closes the question"
    at.button(key="models_rollback").click()
    run(at)
    at.button(key="models_rollback_confirm").click()
    run(at)
    assert production_name() == "run-a"
    assert "Rolled back: run-a" in all_text(at)
    assert frame_with(at, "previous production")["action"].iloc[0] == "rolled_back"

    at.multiselect(key="models_filter_stage").set_value([ModelStage.PRODUCTION])
    assert list(run(at).dataframe(key="models_table").value["name"]) == ["run-a"]  # the stage filter


def test_choosing_another_candidate_clears_the_last_gate_result(
    runs: list[Run], monkeypatch: pytest.MonkeyPatch, workspace: Settings
) -> None:
    run_a, run_b = runs
    params = (
        Path("params.yaml").read_text(encoding="utf-8").replace("latency_budget_ms: 150.0", "latency_budget_ms: 0.001")
    )
    custom = workspace.home / "params.yaml"
    custom.write_text(params, encoding="utf-8")
    monkeypatch.setenv("PLATEOPS_PARAMS_FILE", str(custom))
    from backend.core.settings import get_settings

    get_settings.cache_clear()
    at = promote(open_page(PAGE, timeout=180), run_a.id)
    assert production_name() is None
    assert any("Blocked:" in str(e.value) for e in at.error), "run-a's gate result"
    at.selectbox(key="models_candidate").set_value(run_b.id)
    run(at)
    assert not any("Blocked:" in str(e.value) for e in at.error), "run-a's verdict does not stay under run-b"
    assert not [df for df in at.dataframe if "candidate AP50" in df.value.columns]


def test_shadow_agreement_figures_and_taking_it_out(
    runs: list[Run], monkeypatch: pytest.MonkeyPatch, workspace: Settings
) -> None:
    from backend.registry.shadow import current_shadow, put_in_shadow
    from backend.store import predictions as prediction_store
    from backend.store import shadow as shadow_store
    from tests.utils.actors import ADMIN

    run_a, run_b = runs
    with session_scope() as session:
        production = model_store.find_model_for_run(session=session, run_id=run_a.id)
        assert production is not None
        model_store.set_model_stage(session=session, model_id=production.id, stage="production")
    choice = put_in_shadow(actor=ADMIN, run_id=run_b.id)
    banana = {"class": "banana", "confidence": 0.9, "box": [0, 0, 10, 10]}
    apple = {"class": "apple", "confidence": 0.7, "box": [20, 20, 40, 40]}
    answers = [([banana], [banana]), ([banana, apple], [banana])]  # agree on the first, the shadow misses an apple
    with session_scope() as session:
        for index, (theirs, its) in enumerate(answers):
            logged = prediction_store.add_prediction(
                session=session, image_name=f"plate{index}.jpg", detections=theirs, conf=0.25, iou=0.45
            )
            shadow_store.add_shadow_prediction(
                session=session,
                prediction_id=logged.id,
                model_id=choice.model_id,
                model_label=choice.log_label,
                detections=its,
                latency_ms=5.0,
            )
    at = open_page(PAGE, timeout=180)
    text = all_text(at)
    assert "In shadow: run-b" in text
    assert "2 pictures compared: the two models agree on 1 (50%, 95 % interval 9%–91%)" in text
    classes = frame_with(at, "shadow also finds").set_index("class")
    assert classes.loc["banana", "shadow also finds"] == 1.0 and classes.loc["apple", "shadow also finds"] == 0.0
    assert classes.loc["apple", "shadow detections"] == 0
    assert "plate1.jpg · production only: apple · shadow only: —" in text  # the picture they disagree on
    assert any("Shadow run-b" in str(i.value) and "on live traffic" in str(i.value) for i in at.info)  # beside the gate

    at.button(key="models_shadow_off").click()
    run(at)
    assert current_shadow() is None
    assert "run-b no longer answers in shadow" in all_text(at)

    # the gate shows the shadow's live figures beside the evaluation set's (a tiny latency budget blocks it)
    put_in_shadow(actor=ADMIN, run_id=run_b.id)
    params = Path("params.yaml").read_text(encoding="utf-8")
    custom = workspace.home / "params.yaml"
    custom.write_text(params.replace("latency_budget_ms: 150.0", "latency_budget_ms: 0.001"), encoding="utf-8")
    monkeypatch.setenv("PLATEOPS_PARAMS_FILE", str(custom))
    from backend.core.settings import get_settings

    get_settings.cache_clear()
    promote(at, run_b.id)
    gate = frame_with(at, "candidate AP50").set_index("class")
    assert "shadow also finds (live)" in gate.columns
    promote(at, run_b.id, reason="agrees on live traffic")  # promoting the shadow takes it out of shadow
    assert production_name() == "run-b" and current_shadow() is None
