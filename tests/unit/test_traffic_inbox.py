"""The traffic inbox and active learning on a real workspace: feedback, a Monitor drill-down and low-confidence
picks each reach the inbox and open in the editor with the logged pre-labels; accepting a batch makes a new
immutable version holding exactly those pictures with their boxes; dismissing needs a reason; roles hold; and the
jobs.select contract (JSON picks, exit 0 / 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backend.annotation.inbox import LabelledPicture, accept_traffic, dismiss_traffic, load_traffic_image, traffic_inbox
from backend.annotation.labels import index_version, read_label_file
from backend.annotation.picking import queue_next, select_traffic
from backend.annotation.selection import Candidate, Strategy, k_center, pick, uncertainty
from backend.core.access import AccessDeniedError, Role
from backend.core.enums import ReviewSource
from backend.core.errors import BadInputError
from backend.core.settings import Settings, init_workspace
from backend.data.datasets import create_demo_dataset
from backend.monitoring.views import send_to_review
from backend.store import datasets as dataset_store
from backend.store import predictions as prediction_store
from backend.store.engine import init_db, session_scope
from backend.store.records import DatasetVersion
from tests.utils.actors import ADMIN, actor_named
from tests.utils.traffic_pictures import box, log_picture

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(workspace: Settings) -> DatasetVersion:
    init_workspace()
    init_db()
    return create_demo_dataset(name="food", images=8, seed=1)


def test_feedback_drilldown_and_low_confidence_pictures_are_listed_labelled_and_accepted(
    demo: DatasetVersion, tmp_path: Path
) -> None:
    feedback_id = log_picture(tmp_path, 1, [box("apple", 0.9)])
    drift_ids = [
        log_picture(tmp_path, 2, [box("egg", 0.8)], brightness=20),
        log_picture(tmp_path, 3, [], brightness=25),
    ]
    unsure_id = log_picture(tmp_path, 4, [box("tomato", 0.3)])
    nothing_id = log_picture(tmp_path, 5, [])
    sure_id = log_picture(tmp_path, 6, [box("banana", 0.97)])
    with session_scope() as session:
        prediction_store.add_feedback(session=session, prediction_id=feedback_id, kind="missed", class_name="egg")
    assert send_to_review(drift_ids, reason="drift: brightness below 40", actor=ADMIN) == 2
    picks = queue_next("food", 2, actor=ADMIN, strategy="uncertainty")
    assert [p.prediction_id for p in picks] == [nothing_id, unsure_id]  # the waiting ones are not picked twice
    assert picks[1].reason == "low confidence: best box 0.30 (tomato)"
    assert {p.source for p in picks} == {ReviewSource.LOW_CONFIDENCE}

    inbox = {p.prediction_id: p for p in traffic_inbox()}
    assert set(inbox) == {feedback_id, *drift_ids, unsure_id, nothing_id}  # the confident picture waits nowhere
    assert sure_id not in inbox
    assert inbox[feedback_id].reasons == ((ReviewSource.FEEDBACK, "User says the detector missed 'egg'"),)
    assert inbox[drift_ids[0]].reasons[0] == (ReviewSource.DRIFT, "drift: brightness below 40")
    assert inbox[unsure_id].reasons[0][0] == ReviewSource.LOW_CONFIDENCE
    assert all(p.labellable for p in inbox.values())

    opened = {pid: load_traffic_image(pid) for pid in inbox}
    assert opened[unsure_id].boxes == (("tomato", (10.0, 20.0, 60.0, 80.0)),)  # logged box halved to the copy
    assert opened[drift_ids[1]].boxes == ()
    assert (opened[unsure_id].width, opened[unsure_id].height) == (160, 100)

    with pytest.raises(AccessDeniedError):
        accept_traffic(demo.dataset_id, [], actor=actor_named("v", Role.VIEWER))
    reviewer = actor_named("rita", Role.REVIEWER)
    batch = [
        LabelledPicture(feedback_id, (*opened[feedback_id].boxes, ("egg", (100.0, 10.0, 150.0, 60.0)))),
        LabelledPicture(drift_ids[0], opened[drift_ids[0]].boxes),
        LabelledPicture(drift_ids[1], (("banana", (5.0, 5.0, 50.0, 90.0)),)),
        LabelledPicture(unsure_id, (("apple", (10.0, 20.0, 60.0, 80.0)),)),
    ]
    with pytest.raises(BadInputError, match="not a class"):
        accept_traffic(
            demo.dataset_id, [LabelledPicture(unsure_id, (("unicorn", (1.0, 1.0, 9.0, 9.0)),))], actor=reviewer
        )
    accepted = accept_traffic(demo.dataset_id, batch, actor=reviewer)

    assert accepted.version.number == demo.number + 1 and accepted.version.parent_id == demo.id
    assert accepted.version.message == "added 4 images from traffic, reviewed by rita"
    assert accepted.changelog["totals"]["added"] == 5
    old, new = index_version(Path(demo.path)), index_version(Path(accepted.version.path))
    added = set(new.images) - set(old.images)
    assert added == set(accepted.files) and len(added) == 4 and set(old.images) <= set(new.images)
    for picture, file in zip(batch, accepted.files, strict=True):
        image = new.image(file)
        assert image.split == "train"
        saved = [
            (b.class_name, tuple(round(v, 1) for v in b.to_pixels(160, 100)))
            for b in read_label_file(image.label_path, new.names)
        ]
        assert saved == [(name, tuple(round(v, 1) for v in coords)) for name, coords in picture.boxes]
    assert not set(old.images) ^ set(index_version(Path(demo.path)).images)  # the parent is untouched

    assert [p.prediction_id for p in traffic_inbox()] == [nothing_id]
    with pytest.raises(BadInputError, match="Say why"):
        dismiss_traffic([nothing_id], " ", actor=reviewer)
    assert dismiss_traffic([nothing_id], "not food", actor=reviewer) == 1
    assert traffic_inbox() == []
    with session_scope() as session:
        versions = dataset_store.list_versions(session=session, dataset_id=demo.dataset_id)
    assert len(versions) == 2
    # labelled and dismissed pictures are never candidates again; the confident one still is
    left = select_traffic("food", 5, strategy="random")
    assert [p.prediction_id for p in left.picks] == [sure_id]


def _candidate(pid: int, *confs: float, sha: str = "", feedback: tuple[str, ...] = ()) -> Candidate:
    return Candidate(pid, f"{pid}.jpg", sha or f"{pid:064x}", confs, tuple("apple" for _ in confs), feedback)


def test_scores_rank_uncertain_novel_and_disputed_pictures_and_drop_duplicates() -> None:
    assert uncertainty(_candidate(1), low_confidence=0.5) == (0.75, "nothing detected")
    assert uncertainty(_candidate(2, 0.95), low_confidence=0.5)[0] == pytest.approx(0.1)
    assert uncertainty(_candidate(3, 0.52, 0.9), low_confidence=0.5)[1] == "ambiguous: a box at 0.52 (apple)"
    candidates = [_candidate(1, 0.9), _candidate(2, 0.5), _candidate(3, 0.9, feedback=("wrong",)), _candidate(4, 0.5)]
    vectors = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 0.001]])
    reference = np.array([[0.0, 0.0]])
    kwargs = {"low_confidence": 0.5, "duplicate_distance": 0.1}
    unsure = pick(candidates, vectors, reference, k=3, strategy=Strategy.UNCERTAINTY, **kwargs)
    assert [p.prediction_id for p in unsure] == [2, 3, 1]  # 4 duplicates 2; the disputed one comes before the sure one
    assert unsure[1].source == ReviewSource.DISAGREEMENT and unsure[1].reason == "user feedback: wrong"
    novel = pick(candidates, vectors, reference, k=2, strategy=Strategy.NOVELTY, **kwargs)
    assert {p.prediction_id for p in novel} == {2, 3} and all(p.score == pytest.approx(5.0, abs=0.01) for p in novel)
    assert [i for i, _ in k_center(vectors, reference, 4, dup=0.1)] == [1, 2]  # 0 is a training picture, 3 a twin
    twins = [_candidate(1, sha="a" * 64), _candidate(2, sha="a" * 64), _candidate(3)]
    randomly = pick(twins, np.array([[0.0], [1.0], [2.0]]), reference[:, :1], k=3, strategy=Strategy.RANDOM, **kwargs)
    assert len(randomly) == 2 and len({p.prediction_id for p in randomly} & {1, 2}) == 1  # exact twins: one kept


def _select(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLATEOPS_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "jobs.select", *args], capture_output=True, text=True, cwd=PROJECT_ROOT, env=env
    )


def test_select_cli_contract(demo: DatasetVersion, workspace: Settings, tmp_path: Path) -> None:
    out = tmp_path / "picks.json"
    empty = _select(workspace.home, "--dataset", "food", "--k", "3", "--out", str(out))
    assert empty.returncode == 2 and "No logged traffic" in empty.stderr and len(empty.stderr.strip().splitlines()) == 1
    ids = [log_picture(tmp_path / "p", n, [box("apple", 0.2 + 0.1 * n)], brightness=40 * n) for n in range(1, 6)]
    for strategy in ("uncertainty", "novelty", "diverse", "random"):
        done = _select(workspace.home, "--dataset", "food", "--k", "3", "--strategy", strategy, "--out", str(out))
        assert done.returncode == 0, done.stderr
        picks = json.loads(out.read_text(encoding="utf-8"))
        assert len(picks) == 3 and len({p["prediction_id"] for p in picks}) == 3
        assert all(set(p) == {"prediction_id", "image", "score", "reason"} and p["prediction_id"] in ids for p in picks)
        assert all(isinstance(p["score"], float) and p["reason"] for p in picks)
    unknown = _select(workspace.home, "--dataset", "nope", "--k", "3", "--out", str(out))
    assert unknown.returncode == 2 and "no dataset called 'nope'" in unknown.stderr
    zero = _select(workspace.home, "--dataset", "food", "--k", "0", "--out", str(out))
    assert zero.returncode == 2 and zero.stderr.strip().startswith("error:") and len(zero.stderr.splitlines()) == 1


def test_label_the_next_stops_at_the_daily_cap(
    demo: DatasetVersion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.core.settings import get_settings

    params = tmp_path / "params.yaml"
    text = (PROJECT_ROOT / "params.yaml").read_text(encoding="utf-8")
    params.write_text(text.replace("  daily_cap: 200 #", "  daily_cap: 3 #"), encoding="utf-8")
    monkeypatch.setenv("PLATEOPS_PARAMS_FILE", str(params))
    get_settings.cache_clear()
    ids = [log_picture(tmp_path / "p", n, [box("apple", 0.1 * n)]) for n in range(1, 6)]
    first = queue_next("food", 2, actor=ADMIN, strategy="uncertainty")
    second = queue_next("food", 5, actor=ADMIN, strategy="uncertainty")  # only one left under today's cap
    assert len(first) == 2 and len(second) == 1
    assert not {p.prediction_id for p in first} & {p.prediction_id for p in second}
    assert {p.prediction_id for p in first + second} <= set(ids)
    with pytest.raises(BadInputError, match="cap of 3"):
        queue_next("food", 1, actor=ADMIN, strategy="uncertainty")
    with pytest.raises(AccessDeniedError):
        queue_next("food", 1, actor=actor_named("v", Role.VIEWER))


def test_selection_reuses_the_serving_detectors_embeddings(workspace: Settings, tmp_path: Path) -> None:
    from backend.training.embedding_cache import EmbeddingCache
    from tests.utils.monitoring import add_monitored_model, send_shifted

    init_workspace()
    init_db()
    add_monitored_model(tmp_path, reference_images=12)
    ids = send_shifted(tmp_path, [("none", 6, 1), ("dark", 6, 2)])
    selection = select_traffic("monitored", 4, strategy="diverse")
    assert selection.space == "detector embeddings" and selection.candidates == 12
    picked = [p.prediction_id for p in selection.picks]
    assert len(picked) == 4 == len(set(picked)) and set(picked) <= set(ids)
    assert {i > ids[5] for i in picked} == {False, True}  # a diverse batch holds normal and dark pictures
    cached = list(Path(EmbeddingCache("x").root.parent).rglob("*.npz"))
    assert len(cached) >= 12  # the Detect path cached each picture's embedding; selection read them back
