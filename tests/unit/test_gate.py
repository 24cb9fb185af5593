"""The promotion gate on the task's evaluation set, end to end with real scoring of tiny detectors (CPU, 64 px):

- the useless candidate (the "lunch" incident): a model that finds nothing, trained on a tiny other dataset, against
  a production model that finds things, judged on the evaluation set (the production model's dataset): blocked, the
  reason names the set; the candidate's own tiny split is shown beside and does not decide;
- a set too small to tell refuses to decide (overridable with a written reason);
- a class list that differs must be confirmed (a reason is not enough); one in another order is mapped by name;
- the set is chosen and grows only by audited actions of scientists and admins, with a reason, and keeps its history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.auth.audit import recent_actions
from backend.core.access import AccessDeniedError, Actor, Role
from backend.core.errors import BadInputError
from backend.core.settings import Settings, get_settings
from backend.registry import eval_set as eval_sets
from backend.registry import service as registry
from backend.store import datasets as dataset_store
from backend.store import registered_models as model_store
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion
from jobs import promote as promote_cli
from tests.utils.actors import ADMIN
from tests.utils.gate_models import (
    fixed_recall_scorer,
    make_grid_dataset,
    save_blind_detector,
    save_scored_grid_detector,
)
from tests.utils.registry_runs import add_dataset_version, add_version_run

SCIENTIST = Actor(name="sam", role=Role.SCIENTIST)


@pytest.fixture(scope="module", name="files")
def fixture_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The production model's dataset (30 val images, 60 boxes), a 3-image "lunch" set, and the detectors."""
    root = tmp_path_factory.mktemp("gate")
    return {
        "food": make_grid_dataset(root / "food", val=30).parent,
        "lunch": make_grid_dataset(root / "lunch", val=3, seed=5).parent,
        "finder": save_scored_grid_detector(root / "finder.pt"),
        "blind": save_blind_detector(root / "blind.pt"),
        "renamed": save_scored_grid_detector(root / "renamed.pt", names=("apple", "banana", "carrot")),
        "reordered": save_scored_grid_detector(root / "reordered.pt", names=("broccoli", "banana", "apple")),
    }


def _params(workspace: Settings, monkeypatch: pytest.MonkeyPatch, **registry_values: Any) -> None:
    """params.yaml with the gate's minimums lowered to this test's set (unless given), 200 resamples."""
    import yaml

    data = yaml.safe_load(Path("params.yaml").read_text(encoding="utf-8"))
    data["registry"].update({"eval_min_images": 20, "eval_min_instances": 5, **registry_values})
    data["evaluate"]["bootstrap_samples"] = 200
    path = workspace.home / "params.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("PLATEOPS_PARAMS_FILE", str(path))
    get_settings.cache_clear()


@pytest.fixture(name="food")
def fixture_food(workspace: Settings, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> DatasetVersion:
    """The production model (the finder, on "food" v1) promoted: its val split became the evaluation set."""
    _params(workspace, monkeypatch)
    version = add_dataset_version(files["food"], name="food")
    run, _ = add_version_run(files["finder"], version, name="finder")
    first = registry.promote_run(run.id, actor=ADMIN, export=False)
    assert first.promoted and first.eval_set["name"] == "food v1 val"
    return version


def _production_name() -> str | None:
    with session_scope() as session:
        model = model_store.get_production_model(session=session)
    return model.name if model else None


def test_a_useless_candidate_from_a_tiny_dataset_is_blocked_on_the_evaluation_set(
    food: DatasetVersion, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    lunch = add_dataset_version(files["lunch"], name="lunch")
    run, _ = add_version_run(files["blind"], lunch, name="lunch-run")
    status = promote_cli.main(["--run", str(run.id), "--no-export"])
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 1 and not figures["promoted"] and _production_name() == "finder"

    # judged on the evaluation set (the production model's dataset), never on the candidate's own split
    assert figures["eval_set"]["name"] == "food v1 val" and figures["eval_set"]["images"] == 30
    assert figures["dataset"] == "eval set 'food v1 val' (30 images, 60 boxes)"
    assert figures["candidate"]["map50"] == 0.0 and figures["production"]["map50"] > 0.0
    banana = next(check for check in figures["classes"] if check["name"] == "banana")
    assert banana["candidate_ap50"] == 0.0 and banana["production_ap50"] > 0.02 and banana["delta_high"] < 0
    assert figures["paired"]["map50_delta_high"] < 0  # production better beyond the interval
    assert figures["reasons"][0].startswith("On eval set 'food v1 val' (30 images, 60 boxes) the production model")
    assert not any("lunch" in reason for reason in figures["reasons"])
    # the candidate's own 3-image split is shown beside: there it scores 0 like everything, which decides nothing
    assert figures["own_split"]["dataset"] == "lunch v1 val" and figures["own_split"]["images"] == 3
    assert figures["own_split"]["map50"] == 0.0
    # the existing keys are all there, with the new ones
    assert {"passed", "reasons", "classes", "candidate", "production", "dataset", "max_ap50_drop"} <= set(figures)
    assert {"map50_low", "map50_high", "map50_95_low", "map50_95_high"} <= set(figures["candidate"])


def test_a_set_too_small_to_tell_refuses_to_decide_unless_a_reason_overrides(
    food: DatasetVersion, files: dict[str, Path], workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _params(workspace, monkeypatch, eval_min_images=50, eval_min_instances=25)
    run, _ = add_version_run(files["finder"], food, name="finder-again")
    refused = registry.promote_run(run.id, actor=ADMIN, export=False)
    assert refused.refused and not refused.passed and not refused.promoted
    [reason] = refused.reasons
    assert reason.startswith("Refusing to decide: eval set 'food v1 val' (30 images, 60 boxes) is too small")
    assert "30 images, at least 50 needed" in reason and "at least 25 of each needed" in reason
    assert refused.paired["map50_delta"] == 0.0  # the same model: no difference, yet no verdict on so few images

    overridden = registry.promote_run(run.id, actor=ADMIN, export=False, reason="same weights, retrained")
    assert overridden.promoted and overridden.overridden and _production_name() == "finder-again"


def test_a_differing_class_list_needs_confirmation_and_another_order_is_mapped_by_name(
    food: DatasetVersion, files: dict[str, Path], workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _params(workspace, monkeypatch, require_shown_better=False)  # the same banana finder each time: about mapping
    run, _ = add_version_run(files["renamed"], food, name="renamed")
    unconfirmed = registry.promote_run(run.id, actor=ADMIN, export=False, reason="a reason is not enough")
    assert unconfirmed.needs_confirmation and not unconfirmed.promoted and _production_name() == "finder"
    assert unconfirmed.class_mapping["matched"] == ["apple", "banana"]
    assert unconfirmed.class_mapping["missing_in_candidate"] == ["broccoli"]
    assert unconfirmed.class_mapping["not_in_set"] == ["carrot"]
    assert "confirm the class mapping" in unconfirmed.reasons[0] and "eval set 'food v1 val'" in unconfirmed.reasons[0]
    assert registry.model_history()[0].action == "blocked"

    confirmed = registry.promote_run(run.id, actor=ADMIN, export=False, confirm_classes=True)
    assert confirmed.classes_confirmed and confirmed.passed and confirmed.promoted  # the same banana finder

    run, _ = add_version_run(files["reordered"], food, name="reordered")  # banana is class 1 in both lists
    reordered = registry.promote_run(run.id, actor=ADMIN, export=False)
    assert reordered.class_mapping["reordered"] and not reordered.needs_confirmation and reordered.promoted
    assert reordered.paired["map50_delta"] == 0.0 and reordered.paired["map50_delta_high"] == 0.0


def test_the_set_is_chosen_and_grows_only_by_audited_actions_with_a_reason(
    food: DatasetVersion, files: dict[str, Path], tmp_path: Path
) -> None:
    reviewer = Actor(name="rita", role=Role.REVIEWER)
    with pytest.raises(AccessDeniedError):
        eval_sets.choose_eval_set(food.id, actor=reviewer, reason="mine")
    refusal = recent_actions(actor=ADMIN, limit=1)[0]
    assert (refusal.actor, refusal.action, refusal.allowed) == ("rita", "choose_eval_set", False)
    with pytest.raises(BadInputError, match="Write why"):
        eval_sets.choose_eval_set(food.id, actor=SCIENTIST, reason="  ")

    # an edit of food v1 (as the Annotate page makes it): a new version whose parent is v1
    with session_scope() as session:
        edited = dataset_store.create_version(
            session=session, dataset_id=food.dataset_id, path=str(files["food"]), parent_id=food.id, author="sam"
        )
        unrelated = dataset_store.create_version(session=session, dataset_id=food.dataset_id, path=str(files["food"]))
    assert [v.id for v in eval_sets.adoptable_versions()] == [edited.id]
    with pytest.raises(AccessDeniedError):
        eval_sets.adopt_eval_set_version(edited.id, actor=Actor(name="vic", role=Role.VIEWER), reason="x")
    with pytest.raises(BadInputError, match="not a newer edit"):
        eval_sets.adopt_eval_set_version(unrelated.id, actor=SCIENTIST, reason="re-imported")
    lunch = add_dataset_version(files["lunch"], name="lunch")
    with pytest.raises(BadInputError, match="another dataset"):
        eval_sets.adopt_eval_set_version(lunch.id, actor=SCIENTIST, reason="smaller")

    adopted = eval_sets.adopt_eval_set_version(edited.id, actor=SCIENTIST, reason="three boxes fixed in review")
    assert (adopted.number, adopted.name, adopted.action, adopted.actor) == (2, "food v2 val", "adopted", "sam")
    allowed = recent_actions(actor=ADMIN, limit=1)[0]
    assert (allowed.actor, allowed.action, allowed.allowed) == ("sam", "choose_eval_set", True)
    history = eval_sets.eval_set_history()
    assert [(h.number, h.action, h.reason) for h in history] == [
        (2, "adopted", "three boxes fixed in review"),
        (1, "default", eval_sets.DEFAULT_REASON),
    ]
    assert eval_sets.current_eval_set() == adopted and adopted.label == "eval set 'food v2 val' (30 images, 60 boxes)"

    chosen = eval_sets.choose_eval_set(lunch.id, actor=SCIENTIST, reason="the team's lunch benchmark")
    assert (chosen.number, chosen.name, chosen.split, chosen.images) == (3, "lunch v1 val", "val", 3)


# scores set by the test (the real matching and bootstrap): the food set has 24 apple, 18 banana, 18 broccoli boxes
FOUND = {
    "prod": {"apple": 0.5, "banana": 0.5, "broccoli": 0.5},
    "noise": {"apple": 0.54, "banana": 0.5, "broccoli": 0.5},  # one more apple box: +0.014, within the interval
    "better": {"apple": 0.75, "banana": 0.75, "broccoli": 0.75},
}


@pytest.fixture(name="scored")
def fixture_scored(workspace: Settings, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> DatasetVersion:
    """Production "prod" (finds half of each class's boxes) promoted on "food" v1: its val split is the set."""
    _params(workspace, monkeypatch)
    version = add_dataset_version(files["food"], name="food")
    run, _ = add_version_run(files["finder"], version, name="prod")
    assert registry.promote_run(run.id, actor=ADMIN, export=False, score_fn=fixed_recall_scorer(FOUND)).promoted
    return version


def test_a_candidate_not_shown_better_beyond_the_interval_is_refused(
    scored: DatasetVersion, files: dict[str, Path]
) -> None:
    run, _ = add_version_run(files["finder"], scored, name="noise")
    figures = registry.promote_run(run.id, actor=ADMIN, export=False, score_fn=fixed_recall_scorer(FOUND))
    assert not figures.passed and not figures.promoted and _production_name() == "prod"
    paired = figures.paired
    assert paired["map50_delta"] > 0 and paired["map50_delta_low"] <= 0 < paired["map50_delta_high"]
    assert figures.reasons == [
        f"Not shown better: mAP50 {paired['map50_delta']:+.3f} ({paired['map50_delta_low']:+.3f} to "
        f"{paired['map50_delta_high']:+.3f}, 95 % interval of the paired difference) on eval set 'food v1 val' "
        "(30 images, 60 boxes); the candidate must beat production beyond the interval."
    ]
    assert not figures.refused and not any(check.blocked for check in figures.classes)


def test_a_candidate_better_beyond_the_interval_passes(scored: DatasetVersion, files: dict[str, Path]) -> None:
    run, _ = add_version_run(files["finder"], scored, name="better")
    figures = registry.promote_run(run.id, actor=ADMIN, export=False, score_fn=fixed_recall_scorer(FOUND))
    assert figures.passed and figures.promoted and figures.reasons == [] and _production_name() == "better"
    assert figures.paired["map50_delta_low"] > 0
    assert figures.candidate["map50_low"] > figures.production["map50_high"] - 0.2  # both figures carry intervals
    assert figures.eval_set == {
        "name": "food v1 val",
        "number": 1,
        "split": "val",
        "dataset_version_id": scored.id,
        "images": 30,
        "instances": 60,
    }


def test_a_set_too_small_refuses_with_the_minimums_from_params(
    scored: DatasetVersion, files: dict[str, Path], workspace: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _params(workspace, monkeypatch, eval_min_images=20, eval_min_instances=20)  # 30 images, but 18 banana boxes
    run, _ = add_version_run(files["finder"], scored, name="better")
    figures = registry.promote_run(run.id, actor=ADMIN, export=False, score_fn=fixed_recall_scorer(FOUND))
    assert figures.refused and not figures.promoted and _production_name() == "prod"
    assert figures.reasons == [
        "Refusing to decide: eval set 'food v1 val' (30 images, 60 boxes) is too small to tell the models apart "
        "(too few boxes of banana 18, broccoli 18 (at least 20 of each needed)). Grow it (adopt an edited version) "
        "or choose a bigger evaluation set on the Models page, or write a reason to override."
    ]
