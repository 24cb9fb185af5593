"""AppTest: a tab whose session began on the open console ("local", admin) asks to sign in once users are added
to secrets.toml, and a signed-in user removed from secrets.toml (or whose role changed) is asked again."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from backend.auth.users import hash_password
from backend.core.access import LOCAL_ADMIN, Actor, Role
from backend.core.settings import Settings, get_settings
from tests.pages.apptest_utils import PROJECT_ROOT, all_text


def _tab_of(actor: Actor) -> AppTest:
    """A tab whose session already holds `actor`, running the console now."""
    at = AppTest.from_file(str(PROJECT_ROOT / "Home.py"), default_timeout=60)
    at.session_state["plateops_actor"] = actor
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(name="ana_only")
def fixture_ana_only(workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        f'[plateops.users.ana]\nrole = "scientist"\npassword_hash = "{hash_password("ana-password")}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("PLATEOPS_SECRETS_FILE", str(secrets))
    get_settings.cache_clear()
    return secrets


@pytest.mark.parametrize(
    "actor",
    [LOCAL_ADMIN, Actor(name="bo", role=Role.ADMIN), Actor(name="ana", role=Role.ADMIN)],
    ids=["open-console-tab", "removed-user", "role-changed"],
)
def test_a_stale_session_signs_in_again(ana_only: Path, actor: Actor) -> None:
    at = _tab_of(actor)
    assert "Sign in to PlateOps" in all_text(at)
    assert not any("Signed in as" in str(c.value) for c in at.sidebar.caption)
    assert "plateops_actor" not in at.session_state


def test_a_configured_user_stays_signed_in(ana_only: Path) -> None:
    at = _tab_of(Actor(name="ana", role=Role.SCIENTIST))
    assert "Sign in to PlateOps" not in all_text(at)
    assert any("Signed in as **ana** (scientist)" in str(c.value) for c in at.sidebar.caption)
