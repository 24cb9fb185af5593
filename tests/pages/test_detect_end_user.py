"""AppTest: the Detect page as an end user sees it (`?role=user`, or the Detect-only app).

Plain words about the detector, one "show less certain items" control instead of the threshold sliders, no role
switch, the "unlike our training photos" notice on a photo that is not food, and a lasting thank-you for feedback
whose menus start empty.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from backend.core.settings import Settings, get_settings
from backend.monitoring.traffic import generate_traffic
from backend.store import predictions as prediction_store
from backend.store.engine import session_scope
from tests.pages.apptest_utils import open_page
from tests.utils.monitoring import add_monitored_model
from tests.utils.nonfood import document_scan, jpeg_bytes

PAGE = "pages/detect.py"
# Words that belong to the team's console, not to someone checking their lunch.
STAFF_WORDS = ("Answering", "run #", "promoted", "production", "IoU", "Overlap", "threshold", "latency", "ms ·")
UNUSUAL = "looks unlike the photos our detector learnt from"


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
    assert [t.label for t in at.main.toggle] == ["Show less certain items", "Use the camera"]
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
    at.toggle(key="detect_less_certain").set_value(True).run()  # another rerun: the confirmation stays
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
