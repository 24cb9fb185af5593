"""AppTest: the traffic inbox on Annotate. Feedback, a Monitor drill-down and a low-confidence pick are each listed
with their reason and open on the canvas with the logged boxes; one is relabelled in the box table; accepting the
batch makes a new version holding exactly those pictures with their boxes, then offers validate and retrain."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from backend.annotation.labels import index_version, read_label_file
from backend.annotation.picking import queue_next
from backend.core.settings import Settings, init_workspace
from backend.data.datasets import create_demo_dataset
from backend.monitoring.views import send_to_review
from backend.store import datasets as dataset_store
from backend.store import predictions as prediction_store
from backend.store.engine import init_db, session_scope
from tests.pages.apptest_utils import all_text, open_page
from tests.utils.actors import ADMIN
from tests.utils.traffic_pictures import box, log_picture

PAGE = "pages/annotate.py"


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_every_traffic_item_opens_is_labelled_and_a_batch_becomes_a_version(
    workspace: Settings, tmp_path: Path
) -> None:
    init_workspace()
    init_db()
    demo = create_demo_dataset(name="food", images=6, seed=2)
    feedback = log_picture(tmp_path, 1, [box("apple", 0.9)])
    drift = log_picture(tmp_path, 2, [box("egg", 0.8)], brightness=20)
    unsure = log_picture(tmp_path, 3, [box("tomato", 0.3)])
    with session_scope() as session:
        prediction_store.add_feedback(session=session, prediction_id=feedback, kind="missed", class_name="egg")
    send_to_review([drift], reason="drift: brightness below 40", actor=ADMIN)
    assert [p.prediction_id for p in queue_next("food", 1, actor=ADMIN, strategy="uncertainty")] == [unsure]

    at = open_page(PAGE)
    text = all_text(at)
    assert "1 of 3" in text and "User says the detector missed 'egg'" in text  # the inbox opens by itself
    run_texts = [text]
    for n, pid in enumerate((feedback, drift, unsure), start=1):
        file = f"traffic_{pid:07d}.jpg"
        assert f"prediction #{pid}" in all_text(at) and f"{n} of 3" in all_text(at)
        if pid == unsure:  # the reviewer corrects the model's class in the box table
            at.session_state[f"annot-table-0-{file}-0"] = {
                "edited_rows": {0: {"class": "apple"}},
                "added_rows": [],
                "deleted_rows": [],
            }
            run(at)
        at.button(key="annot-inbox-ready").click()
        run(at)
        run_texts.append(all_text(at))
    joined = "\n".join(run_texts)
    # each with its source and reason (plain() escapes the colon so markdown shows it as written)
    assert "**Monitor drill-down**: drift\\: brightness below 40" in joined
    assert "**Low confidence**: low confidence\\: best box 0.30 (tomato)" in joined
    assert "3 pictures labelled and ready" in all_text(at)

    at.button(key="annot-inbox-accept").click()
    run(at)
    text = all_text(at)
    assert "Saved as v2: added 3 images from traffic, reviewed by" in text, text
    assert "traffic inbox is empty" in text and at.button(key="annot-inbox-retrain")
    with session_scope() as session:
        versions = sorted(dataset_store.list_versions(session=session), key=lambda v: v.number)
    assert [v.number for v in versions] == [1, 2]
    old, new = index_version(Path(demo.path)), index_version(Path(versions[1].path))
    added = sorted(set(new.images) - set(old.images))
    assert added == [f"traffic_{pid:07d}.jpg" for pid in (feedback, drift, unsure)]
    boxes = {
        f: [(b.class_name, round(b.x1 * 160)) for b in read_label_file(new.image(f).label_path, new.names)]
        for f in added
    }
    assert boxes == {added[0]: [("apple", 10)], added[1]: [("egg", 10)], added[2]: [("apple", 10)]}

    # the loop's one click: validate and retrain like the last run (none yet here, so it says what to do instead)
    at.button(key="annot-inbox-retrain").click()
    run(at)
    assert at.error and "No finished training run on this dataset yet" in at.error[0].value
