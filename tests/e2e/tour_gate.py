"""A step of the whole-loop tour: the promotion gate refuses a useless candidate (the "lunch" incident).

A run that finds nothing, trained (as far as the store knows) on a 3-image "lunch" dataset, is added to the tour's
workspace beside the production model. Promoted on the Models page, the gate judges it on the evaluation set (the
production model's validation split, recorded at its promotion), never on its own 3 images: it is blocked, the
reason names the evaluation set, and the production model stays.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from backend.core.settings import get_settings
from backend.store.engine import dispose_all
from tests.e2e.conftest import Console, wait_idle, wait_settled

USELESS = "lunch-useless"


@contextmanager
def _console_store(home: Path) -> Iterator[None]:
    """The console's store and workspace for the test process, its own settings restored afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLATEOPS_HOME", str(home))
        mp.delenv("PLATEOPS_DATABASE_URL", raising=False)
        get_settings.cache_clear()
        dispose_all()
        try:
            yield
        finally:
            dispose_all()
            get_settings.cache_clear()


def add_useless_candidate(home: Path) -> tuple[str, str]:
    """Record a blind detector's run on a 3-image "lunch" dataset; returns (production name, eval set name)."""
    from backend.registry.eval_set import current_eval_set
    from backend.store import registered_models as model_store
    from backend.store.engine import session_scope
    from tests.utils.gate_models import make_grid_dataset, save_blind_detector
    from tests.utils.registry_runs import add_dataset_version, add_version_run

    with _console_store(home):
        recorded = current_eval_set()
        assert recorded is not None, "the first promotion records the evaluation set"
        with session_scope() as session:
            production = model_store.get_production_model(session=session)
        assert production is not None
        names = tuple(str(name) for name in recorded.class_names)  # the same classes: nothing to confirm
        lunch = make_grid_dataset(home / "lunch-source", val=3, names=names, class_ids=(0,), seed=5).parent
        weights = save_blind_detector(home / "lunch-source" / "blind.pt", names=names)
        add_version_run(weights, add_dataset_version(lunch, name="lunch"), name=USELESS)
        return production.name, recorded.name


def step_gate_refuses_useless_candidate(page: Page, console: Console, shot: Any) -> None:
    """On Models, run the gate on the useless candidate: blocked, the reason names the evaluation set.

    Args:
        page: The tour's browser page.
        console: The running console.
        shot: The tour's camera (`shot(name)` asserts the page shows no error, so the refusal itself is saved as
            a plain screenshot beside the tour's, in `shot.folder`).
    """
    production, eval_set = add_useless_candidate(console.home)
    page.reload()  # the tour may already be on Models: read the store again, with the new run in it
    page.locator("h1", has_text="Models").first.wait_for()
    wait_idle(page)
    # The Promote form's candidate is the newest run by default: the useless one. (Opening its menu would scroll
    # the page, which closes a select's menu; the Shadow section's picker above also says "Candidate".)
    wait_settled(page)
    chosen = page.locator(".st-key-models_candidate")
    shown = chosen.inner_text() + " " + chosen.locator("input").input_value()
    assert USELESS in shown, f"the newest run is the form's default candidate, not: {shown}"
    shot("gate_candidate")
    page.get_by_role("button", name="Run the gate and promote").click()
    blocked = page.locator("[data-testid='stAlertContentError']").filter(has_text="Blocked:").first
    blocked.wait_for(timeout=240_000)
    wait_idle(page)
    text = blocked.inner_text()
    assert f"eval set '{eval_set}'" in text, text
    assert "lunch" not in text, text  # never judged on its own 3 images
    page.get_by_text(f"In production: {production}", exact=False).first.wait_for()
    page.screenshot(path=str(Path(shot.folder) / "tour_gate_refused.png"), full_page=True)
