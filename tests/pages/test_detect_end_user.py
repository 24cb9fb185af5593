"""AppTest: the Detect page as an end user sees it (`?role=user`, or the Detect-only app).

Plain words about the detector, items named with how sure the detector is in words and never a number, one "show
less certain items" control offered only when it would show more, nothing under the floor, no role switch, the
refusal of a picture that is not a food photo, the "unlike our training photos" notice, and a lasting thank-you for
feedback whose menus start empty.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from backend.core.settings import Settings, get_settings
from backend.monitoring.traffic import generate_traffic
from backend.serving.service import DetectOutcome
from backend.store import predictions as prediction_store
from backend.store.engine import session_scope
from tests.pages.apptest_utils import open_page
from tests.utils import images as imgs
from tests.utils.calibrations import bias_for, platt_calibration, put_beside
from tests.utils.monitoring import add_monitored_model
from tests.utils.nonfood import document_scan, jpeg_bytes
from tests.utils.serving_models import add_finished_run, promote
from tests.utils.tiny_data import save_grid_detector

PAGE = "pages/detect.py"
# Words that belong to the team's console, not to someone checking their lunch.
STAFF_WORDS = ("Answering", "run #", "promoted", "production", "IoU", "Overlap", "threshold", "latency", "ms ·")
UNUSUAL = "looks unlike the photos our detector learnt from"
NUMBER = re.compile(r"\d\.\d|\d ?%")  # a score or a percentage: end users get words


@pytest.fixture(scope="module", name="grid_weights")
def fixture_grid_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detector that reports "banana" boxes scored 0.9997 on any picture (imgsz 64), built once for this file."""
    return save_grid_detector(tmp_path_factory.mktemp("detect_end_user") / "grid.pt", imgsz=64)


def calibrated_grid(weights: Path, *, banana: float, class_thresholds: dict[str, float] | None = None) -> None:
    """The grid detector as production model, calibrated so that its banana boxes are right with probability
    `banana`."""
    run = add_finished_run(weights, name="grid-run")
    put_beside(Path(str(run.weights_path)), platt_calibration({"banana": (1.0, bias_for(banana))}))
    promote(run, class_thresholds=class_thresholds)


def items_table(at: AppTest) -> list[tuple[str, str]]:
    """The end user's items: (item, how sure) rows."""
    table = at.main.dataframe[0].value
    return list(zip(table["item"], table["how sure"], strict=True))


@pytest.fixture(name="served")
def fixture_served(workspace: Settings, tmp_path: Path) -> Settings:
    """A detector whose training version holds 40 clean demo food pictures (the reference for the notice)."""
    add_monitored_model(tmp_path, reference_images=40)
    return workspace


def main_text(at: AppTest) -> str:
    """Every text of the page's main area (the sidebar belongs to the shell)."""
    main = at.main
    parts = [
        str(el.value) for group in (main.title, main.markdown, main.caption, main.info, main.warning) for el in group
    ]
    parts += [str(el.value) for el in main.success] + [str(el.value) for el in main.error]
    parts += [el.label for el in main.toggle] + [el.label for el in main.slider] + [el.label for el in main.button]
    parts += [el.label for el in main.selectbox]
    return "\n".join(parts)


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="detect_uploads").set_value([(name, data, "image/jpeg")])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_end_user_sees_plain_words_and_no_staff_controls(served: Settings) -> None:
    at = open_page(role="user")
    text = main_text(at)
    assert "Our food detector" in text and "updated today" in text
    assert not [w for w in STAFF_WORDS if w in text], text
    assert [t.label for t in at.main.toggle] == ["Use the camera"], "nothing detected yet: nothing more to show"
    assert not at.main.slider, "no confidence or IoU slider for end users"
    assert not [s for s in at.selectbox if s.label == "I am a…"], "no role switch for end users"


def test_a_photo_that_is_not_food_gets_the_notice_and_food_does_not(served: Settings, tmp_path: Path) -> None:
    at = open_page(role="user")
    # A scanned text page: nearly white, no colour, sharp black strokes everywhere — nothing like a plate of food.
    upload(at, "letter.jpg", jpeg_bytes(document_scan()))
    text = main_text(at)
    assert UNUSUAL in text and "may be wrong" in text
    assert not [w for w in STAFF_WORDS if w in text], text
    food = generate_traffic("none", images=1, out_dir=tmp_path / "food", seed=7, workers=1).files[0]
    upload(at, "lunch.jpg", jpeg_bytes(Image.open(food).convert("RGB")))
    assert UNUSUAL not in main_text(at)


def test_feedback_menus_start_empty_and_every_action_is_confirmed_lastingly(served: Settings) -> None:
    at = open_page(role="user")
    upload(at, "letter.jpg", jpeg_bytes(document_scan()))
    missed = at.selectbox(key=next(s.key for s in at.selectbox if s.label == "An item the detector missed"))
    assert missed.value is None, "no answer is chosen for the user"
    report = next(b for b in at.button if b.label == "Report missed item")
    assert report.disabled, "nothing to send before an item is chosen"
    missed.set_value(missed.options[0]).run()
    next(b for b in at.button if b.label == "Report missed item").click().run()
    assert not at.exception
    thanks = re.compile(r"Thanks! You told us the detector missed “.+”")
    assert any(thanks.search(str(s.value)) for s in at.success)
    at.multiselect(key="detect_diet").set_value(["vegan"]).run()  # another rerun: the confirmation stays
    assert any(thanks.search(str(s.value)) for s in at.success)
    with session_scope() as session:
        assert prediction_store.count_predictions(session=session) >= 1


@pytest.mark.usefixtures("served")
def test_a_photo_over_the_upload_limit_is_refused_in_plain_words_and_the_next_one_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # AppTest hands the bytes to the page as a client that skips the browser's size check would: the server decides.
    monkeypatch.setenv("PLATEOPS_UPLOAD_MAX_MB", "1")
    get_settings.cache_clear()
    lunch = jpeg_bytes(document_scan((160, 120)))
    at = open_page(role="user")
    upload(at, "big.jpg", lunch + bytes(3 * 512 * 1024 - len(lunch)))  # a readable JPEG, padded to 1.5 MB
    refusals = [str(e.value).replace("\\", "") for e in at.main.error]
    assert len(refusals) == 1 and "big.jpg is too large: the file is 1.5 MB; the limit is 1 MB." in refusals[0]
    assert "Resize or compress it and try again." in refusals[0]
    assert not at.main.subheader, "no answer is shown for a refused photo"
    with session_scope() as session:
        assert prediction_store.count_predictions(session=session) == 0
    upload(at, "lunch.jpg", lunch)
    assert not at.main.error, [str(e.value) for e in at.main.error]
    assert [str(h.value) for h in at.main.subheader] == ["lunch.jpg"], "the next photo gets its answer"
    with session_scope() as session:
        assert prediction_store.count_predictions(session=session) == 1


# --- how sure, in words ---------------------------------------------------------------------------------------------


def test_items_are_said_in_words_never_numbers(workspace: Settings, grid_weights: Path) -> None:
    calibrated_grid(grid_weights, banana=0.9)
    at = upload(open_page(role="user"), "plate.jpg", imgs.encode(imgs.noise_image((160, 120), seed=1), "JPEG"))
    rows = items_table(at)
    assert rows and set(rows) == {("banana", "very likely")}
    text = main_text(at)
    assert "Based on: banana (very likely)" in text
    assert not NUMBER.search(text), text
    assert not [t for t in at.main.toggle if t.label == "Show less certain items"], "nothing more to show"
    feedback_labels = [str(m.value) for m in at.main.markdown if str(m.value).startswith("**1. ")]
    assert feedback_labels == ["**1. banana** · very likely"], "feedback names the item the same way"


def test_show_less_certain_items_shows_more_and_is_offered_only_then(workspace: Settings, grid_weights: Path) -> None:
    # right 45 % of the time: above the floor, below the class's threshold (its raw 0.99999 is right 96 % of the time)
    calibrated_grid(grid_weights, banana=0.45, class_thresholds={"banana": 0.99999})
    at = upload(open_page(role="user"), "plate.jpg", imgs.encode(imgs.noise_image((160, 120), seed=1), "JPEG"))
    text = main_text(at)
    assert "We are not sure about anything in this photo" in text and "Show less certain items" in text
    assert not at.main.dataframe and "Based on:" not in text, "no items, so no recipes from them"
    at.toggle(key="detect_less_certain").set_value(True)
    at.run()
    assert not at.exception
    rows = items_table(at)
    assert rows and set(rows) == {("banana", "maybe")}
    assert "Based on: banana (maybe)" in main_text(at)
    assert not NUMBER.search(main_text(at))
    with session_scope() as session:
        assert prediction_store.count_predictions(session=session) == 1, "the toggle does not detect again"


def test_nothing_under_the_floor_is_shown_and_no_control_promises_more(workspace: Settings, grid_weights: Path) -> None:
    calibrated_grid(grid_weights, banana=0.1)  # under the floor: nobody sees it
    at = upload(open_page(role="user"), "plate.jpg", imgs.encode(imgs.noise_image((160, 120), seed=1), "JPEG"))
    text = main_text(at)
    assert "We found no food in this photo" in text
    assert "less certain" not in text.lower(), "no pointer to a control that would change nothing"
    assert not [t for t in at.main.toggle if t.label == "Show less certain items"]
    assert not at.main.dataframe and "Based on:" not in text


def test_a_picture_that_is_not_a_food_photo_is_refused_in_plain_words(
    workspace: Settings, grid_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's side of the familiarity check: whatever the backend decides, an unfamiliar picture gets no boxes,
    no items and no recipes (the decision itself is monkeypatched here)."""
    import ui.detect.detection as detection

    real = detection.detect_image

    def unfamiliar(*args: object, **kwargs: object) -> DetectOutcome:
        outcome = real(*args, **kwargs)  # type: ignore[arg-type]
        return replace(outcome, familiar=False, familiarity_note="It looks like a photo of an animal.")

    monkeypatch.setattr(detection, "detect_image", unfamiliar)
    calibrated_grid(grid_weights, banana=0.9)  # the model would report "very likely" bananas
    at = upload(open_page(role="user"), "cat.jpg", imgs.encode(imgs.noise_image((160, 120), seed=2), "JPEG"))
    text = main_text(at)
    assert "This does not look like a food photo" in text and "It looks like a photo of an animal." in text
    assert len(at.get("image")) == 1, "the photo alone, without boxes"
    assert not at.main.dataframe and "banana" not in text
    assert not at.main.header and "Based on:" not in text, "no recipes (their section's header is missing too)"
    assert not [t for t in at.main.toggle if t.label == "Show less certain items"]
