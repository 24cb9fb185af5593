"""Shadow answers: a candidate answers live Detect traffic in the background, logged apart, once per prediction,
never before the end user's answer returns; its agreement with production; only promoters may choose it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backend.core.access import AccessDeniedError, Role
from backend.core.errors import BadInputError
from backend.core.settings import Settings
from backend.registry import shadow as registry_shadow
from backend.registry.agreement import agreement, match
from backend.registry.shadow import current_shadow, put_in_shadow, shadow_agreement, take_out_of_shadow
from backend.serving import service
from backend.serving.service import detect_image, forget_shadow_choice, serving_model
from backend.serving.shadow import ShadowQueue, shadow_queue
from backend.store import audit as audit_store
from backend.store import predictions as prediction_store
from backend.store import shadow as shadow_store
from backend.store.engine import session_scope
from backend.store.records import Run, ShadowPair
from tests.utils import images as imgs
from tests.utils.actors import ADMIN, actor_named
from tests.utils.serving_models import add_finished_run, promote
from tests.utils.tiny_data import save_grid_detector, save_untrained_detector


@pytest.fixture(scope="module", name="weights")
def fixture_weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shadow_models")
    return {
        "grid": save_grid_detector(root / "grid.pt", imgsz=64),
        "random": save_untrained_detector(root / "random.pt", imgsz=64, seed=3),
    }


@pytest.fixture(autouse=True)
def _fresh_shadow_state() -> Iterator[None]:
    forget_shadow_choice()
    yield
    assert shadow_queue().wait(timeout=60), "shadow work still pending after the test"
    forget_shadow_choice()


@pytest.fixture(name="served")
def fixture_served(workspace: Settings, weights: dict[str, Path]) -> tuple[Run, Run]:
    """Production: the grid detector; a finished, unregistered run of an untrained detector to shadow it."""
    production = add_finished_run(weights["grid"], name="grid-run")
    promote(production, name="food-v1")
    candidate = add_finished_run(weights["random"], name="candidate-run")
    return production, candidate


def _detect(n: int) -> list[int]:
    model = serving_model()
    assert model is not None
    detector = service.load_detector(model, device="cpu")
    ids = []
    for seed in range(n):
        data = imgs.encode(imgs.noise_image((96, 80), seed=seed), "JPEG", quality=90)
        ids.append(
            detect_image(data, name=f"p{seed}.jpg", detector=detector, model=model, store_images=False).prediction_id
        )
    return ids


def _shadow_rows(prediction_id: int) -> list:
    with session_scope() as session:
        return shadow_store.list_shadow_predictions(session=session, prediction_id=prediction_id)


def test_shadow_answers_are_logged_apart_exactly_once_per_prediction(served: tuple[Run, Run]) -> None:
    _, candidate = served
    choice = put_in_shadow(actor=ADMIN, run_id=candidate.id, reason="try it on live traffic")
    ids = _detect(3)
    assert shadow_queue().wait(timeout=60)
    with session_scope() as session:
        logged = prediction_store.list_predictions(session=session)
    assert sorted(p.id for p in logged) == sorted(ids)  # the prediction log holds production's answers only
    assert {p.model_label for p in logged} == {"model 1: food-v1"}
    for prediction_id in ids:
        rows = _shadow_rows(prediction_id)
        assert len(rows) == 1
        assert rows[0].model_label == choice.log_label == f"run {candidate.id}: candidate-run"
        assert rows[0].run_id == candidate.id and rows[0].model_id is None and rows[0].latency_ms > 0
    figures = shadow_agreement()
    assert figures is not None and figures.pictures == 3


def test_the_end_users_answer_returns_before_the_shadow_runs(
    served: tuple[Run, Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, candidate = served
    put_in_shadow(actor=ADMIN, run_id=candidate.id)
    release = threading.Event()
    started = threading.Event()
    resolve = service.shadow_detector

    def blocked() -> tuple | None:
        started.set()
        assert release.wait(timeout=60)
        return resolve()

    monkeypatch.setattr(service, "shadow_detector", blocked)
    try:
        (prediction_id,) = _detect(1)  # returns although the shadow cannot run yet
        assert started.wait(timeout=30)
        assert _shadow_rows(prediction_id) == []
        assert shadow_queue().stats().pending == 1
    finally:
        release.set()
    assert shadow_queue().wait(timeout=60)
    assert len(_shadow_rows(prediction_id)) == 1


def test_no_shadow_answers_without_a_shadow_and_after_taking_it_out(served: tuple[Run, Run]) -> None:
    _, candidate = served
    (before,) = _detect(1)
    put_in_shadow(actor=ADMIN, run_id=candidate.id)
    take_out_of_shadow(actor=ADMIN, reason="enough")
    assert current_shadow() is None
    (after,) = _detect(1)
    assert shadow_queue().wait(timeout=60)
    assert _shadow_rows(before) == [] and _shadow_rows(after) == []
    with pytest.raises(BadInputError, match="No model is in shadow"):
        take_out_of_shadow(actor=ADMIN)


def test_one_shadow_at_a_time_and_never_production(served: tuple[Run, Run], weights: dict[str, Path]) -> None:
    production, candidate = served
    other = add_finished_run(weights["grid"], name="other-run")
    put_in_shadow(actor=ADMIN, run_id=candidate.id)
    put_in_shadow(actor=ADMIN, run_id=other.id)
    shadow = current_shadow()
    assert shadow is not None and shadow.run_id == other.id
    (prediction_id,) = _detect(1)
    assert shadow_queue().wait(timeout=60)
    assert [r.run_id for r in _shadow_rows(prediction_id)] == [other.id]
    with pytest.raises(BadInputError, match="production model"):
        put_in_shadow(actor=ADMIN, run_id=production.id)


def test_viewers_and_reviewers_may_not_choose_a_shadow(served: tuple[Run, Run]) -> None:
    _, candidate = served
    for role in (Role.VIEWER, Role.REVIEWER):
        with pytest.raises(AccessDeniedError):
            put_in_shadow(actor=actor_named("eve", role), run_id=candidate.id)
    assert current_shadow() is None
    put_in_shadow(actor=ADMIN, run_id=candidate.id)
    with pytest.raises(AccessDeniedError):
        take_out_of_shadow(actor=actor_named("eve", Role.VIEWER))
    assert current_shadow() is not None
    with session_scope() as session:
        refused = audit_store.list_events(session=session, refused_only=True)
    assert len(refused) == 3 and {e.action for e in refused} == {"promote"}


def test_a_full_queue_skips_work_and_counts_it() -> None:
    queue = ShadowQueue(max_pending=1)
    release = threading.Event()
    ran: list[int] = []

    def work() -> bool:
        assert release.wait(timeout=30)
        ran.append(1)
        return True

    assert queue.submit(work) is True
    assert queue.submit(work) is False and queue.submit(work) is False
    release.set()
    assert queue.wait(timeout=30)
    stats = queue.stats()
    assert (stats.submitted, stats.answered, stats.skipped, stats.failed, stats.pending) == (3, 1, 2, 0, 0)
    assert ran == [1]

    def broken() -> bool:
        raise RuntimeError("model file vanished")

    queue.submit(broken)
    assert queue.wait(timeout=30) and queue.stats().failed == 1


def _det(name: str, box: tuple[float, float, float, float], confidence: float = 0.9) -> dict:
    return {"class": name, "confidence": confidence, "box": list(box)}


def _pair(prediction_id: int, production: list[dict], shadow: list[dict]) -> ShadowPair:
    return ShadowPair(
        prediction_id=prediction_id,
        image_name=f"p{prediction_id}.jpg",
        thumb_path=None,
        production=production,
        shadow=shadow,
        production_latency_ms=10.0,
        shadow_latency_ms=20.0 + prediction_id,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_agreement_on_a_hand_made_case() -> None:
    a, far = (0.0, 0.0, 10.0, 10.0), (50.0, 50.0, 60.0, 60.0)
    half = (0.0, 0.0, 10.0, 5.0)  # IoU with `a` exactly 0.5: found
    pairs = [
        _pair(1, [_det("banana", a), _det("apple", a)], [_det("banana", half), _det("apple", far)]),
        _pair(2, [], []),  # both saw nothing: they agree
        _pair(3, [_det("banana", a)], [_det("apple", a)]),  # same box, other class: not found
        _pair(4, [_det("banana", far)], [_det("banana", far)]),
    ]
    figures = agreement(pairs, worst=5)
    assert (figures.pictures, figures.agreeing) == (4, 2)
    assert figures.low == pytest.approx(0.150, abs=1e-3) and figures.high == pytest.approx(0.850, abs=1e-3)
    banana, apple = sorted(figures.classes, key=lambda c: c.name != "banana")
    assert (banana.production, banana.found_by_shadow, banana.shadow, banana.found_by_production) == (3, 2, 2, 2)
    assert banana.shadow_finds == pytest.approx(2 / 3) and banana.production_finds == 1.0
    assert (apple.production, apple.found_by_shadow, apple.shadow, apple.found_by_production) == (1, 0, 2, 0)
    assert apple.shadow_finds == 0.0 and apple.production_finds == 0.0
    assert [d.prediction_id for d in figures.worst] == [3, 1]  # both miss two; on 3 nothing at all was shared
    assert figures.worst[1].production_only == ("apple",) and figures.worst[1].shadow_only == ("apple",)
    assert figures.production_ms == 10.0 and figures.shadow_ms == pytest.approx(22.5)  # 21, 22, 23, 24
    empty = agreement([])
    assert (empty.pictures, empty.rate, empty.low, empty.high) == (0, None, 0.0, 1.0)


def test_matching_uses_each_detection_once() -> None:
    box = (0.0, 0.0, 10.0, 10.0)
    found_a, found_b = match([_det("pear", box), _det("pear", box)], [_det("pear", box)])
    assert len(found_a) == 1 and found_b == {0}


def test_the_store_logs_a_prediction_once_per_shadow_model(served: tuple[Run, Run]) -> None:
    (prediction_id,) = _detect(1)
    with session_scope() as session:
        shadow_store.add_shadow_prediction(
            session=session, prediction_id=prediction_id, model_label="run 9: x", detections=[], latency_ms=1.0
        )
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), session_scope() as session:
        shadow_store.add_shadow_prediction(
            session=session, prediction_id=prediction_id, model_label="run 9: x", detections=[], latency_ms=1.0
        )
    assert registry_shadow.current_shadow() is None
