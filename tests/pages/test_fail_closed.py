"""AppTest: the console fails closed however it was started. `streamlit run Home.py` on a fresh server serves a
`pages/` file on its own (no Home.py, no shell) for a direct link such as /admin; with a login configured that page
must show the sign-in screen, not act for a local admin. And the open console (no login) serves visitors on its own
machine only, unless an open console is meant."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from backend.auth import signin
from backend.auth.audit import recent_actions
from backend.auth.signin import FREE_TRIES, SignInGuard
from backend.auth.users import hash_password
from backend.core.access import SHELL_ADMIN
from backend.core.settings import Settings, get_settings
from tests.pages.apptest_utils import PROJECT_ROOT, all_text

SIGN_IN = "Sign in to PlateOps"


def _use_secrets(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("PLATEOPS_SECRETS_FILE", str(path))
    get_settings.cache_clear()


def _with_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        f'[plateops.users.zoe]\nrole = "admin"\npassword_hash = "{hash_password("zoe-password")}"\n', encoding="utf-8"
    )
    _use_secrets(monkeypatch, secrets)


def _page_alone(page: str) -> AppTest:
    """`page` run as the whole app, as Streamlit serves a `pages/` file for a direct link on a fresh server."""
    at = AppTest.from_file(str(PROJECT_ROOT / page), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


PAGES = sorted(str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "pages").glob("*.py"))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_served_on_its_own_shows_only_the_sign_in_screen(
    workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    _with_login(tmp_path, monkeypatch)
    at = _page_alone(page)
    assert [t.value for t in at.title] == ["PlateOps"], f"{page} showed itself to an anonymous visitor"
    assert [s.value for s in at.subheader] == [SIGN_IN]
    assert not at.tabs and not at.dataframe and not at.caption and not at.markdown, all_text(at)
    assert "plateops_actor" not in at.session_state, "nobody signed in, so nobody acts"


def _from_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Visitors connect from another machine (Streamlit reports their address; loopback reports none)."""
    monkeypatch.setattr(type(st.context), "ip_address", property(lambda _self: "203.0.113.7"))


@pytest.mark.parametrize("script", ["Home.py", "pages/admin.py"])
def test_open_console_refuses_visitors_from_elsewhere(
    workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str
) -> None:
    _use_secrets(monkeypatch, tmp_path / "absent.toml")
    monkeypatch.delenv("PLATEOPS_ALLOW_OPEN", raising=False)
    _from_elsewhere(monkeypatch)
    at = _page_alone(script)
    assert any("serves only visitors on its own machine" in e.value for e in at.error), all_text(at)
    assert "Admin" not in [t.value for t in at.title] and not at.tabs
    assert "plateops_actor" not in at.session_state


def test_open_console_meant_for_the_network_still_serves(
    workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_secrets(monkeypatch, tmp_path / "absent.toml")
    monkeypatch.setenv("PLATEOPS_ALLOW_OPEN", "1")
    _from_elsewhere(monkeypatch)
    at = _page_alone("pages/admin.py")
    assert [t.value for t in at.title] == ["Admin"]
    assert not at.error
    assert at.session_state["plateops_actor"].name == "local"


def test_password_guessing_at_the_sign_in_form_is_slowed_and_audited(
    workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_login(tmp_path, monkeypatch)
    monkeypatch.setattr(signin, "GUARD", SignInGuard())  # this test's own counts
    at = _page_alone("Home.py")
    for i in range(FREE_TRIES + 1):
        at.text_input[0].set_value("zoe")
        at.text_input[1].set_value(f"guess {i}")
        at.button[0].click().run()
        assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == ["Too many failed sign-ins. Try again in 2 s."]
    assert "plateops_actor" not in at.session_state
    trail = recent_actions(actor=SHELL_ADMIN, user="zoe")
    assert [(e.action, e.target, e.allowed) for e in trail] == [("sign_in", "from this machine", False)] * FREE_TRIES
