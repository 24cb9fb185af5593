"""AppTest: the end user's way in stays public and plain, with or without logins configured.

The README's end-user link (`/?role=user`) and the Detect-only app open the Detect page for anyone: no sign-in form,
and nothing in the sidebar or on the page about how the console is run (the open console's "anyone who reaches
this port acts as an admin. Add users to .streamlit/secrets.toml" notice is for the team, not for end users).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from backend.auth.users import hash_password
from backend.core.settings import Settings, get_settings
from tests.pages.apptest_utils import PROJECT_ROOT

# Words about running the console: logins, roles, the secrets file, the local-use notice.
STAFF_WORDS = ("admin", "secrets.toml", "Sign in", "Signed in", "login", "local use", "I am a")


def _with_users(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        f'[plateops.users.ana]\nrole = "scientist"\npassword_hash = "{hash_password("ana-password")}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("PLATEOPS_SECRETS_FILE", str(secrets))
    get_settings.cache_clear()


def _without_users(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PLATEOPS_SECRETS_FILE", str(tmp_path / "absent.toml"))
    get_settings.cache_clear()


def _every_text(at: AppTest) -> str:
    """Every text the visitor can read, the sidebar's included, with widget labels and form buttons."""
    parts = [
        str(el.value)
        for group in (at.title, at.markdown, at.caption, at.info, at.warning, at.error, at.success, at.subheader)
        for el in group
    ]
    parts += [w.label for w in (*at.button, *at.text_input, *at.selectbox, *at.toggle)]
    parts += [str(el.proto.label) for el in at.get("form_submit_button")]
    return "\n".join(parts)


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _end_user_link() -> AppTest:
    """A fresh visitor opening `/?role=user`, as the README tells the team to hand out."""
    at = AppTest.from_file(str(PROJECT_ROOT / "Home.py"), default_timeout=60)
    at.query_params["role"] = "user"
    return _run(at)


def _assert_public_detect(at: AppTest) -> None:
    assert at.title and "Detect" in at.title[0].value, [t.value for t in at.title]
    text = _every_text(at)
    assert not [w for w in STAFF_WORDS if w.lower() in text.lower()], text
    assert not at.sidebar.markdown and not at.sidebar.caption and not at.sidebar.button, "an empty sidebar"
    assert not at.text_input, "no user name or password field"
    assert at.session_state["plateops_actor"].name == "public"


@pytest.mark.parametrize("logins", [False, True], ids=["open-console", "users-configured"])
def test_the_end_user_link_opens_a_plain_public_detect_page(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, logins: bool
) -> None:
    (_with_users if logins else _without_users)(monkeypatch, tmp_path)
    _assert_public_detect(_end_user_link())


def test_with_users_configured_the_console_itself_still_asks_to_sign_in(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The control: the end-user exception does not open the console's own pages."""
    _with_users(monkeypatch, tmp_path)
    at = _run(AppTest.from_file(str(PROJECT_ROOT / "Home.py"), default_timeout=60))
    assert "Sign in" in _every_text(at)
    assert len(at.text_input) == 2


@pytest.mark.parametrize("logins", [False, True], ids=["open-console", "users-configured"])
def test_the_detect_only_app_is_plain_and_public(
    workspace: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, logins: bool
) -> None:
    (_with_users if logins else _without_users)(monkeypatch, tmp_path)
    at = _run(AppTest.from_file(str(PROJECT_ROOT / "detect_app.py"), default_timeout=60))
    _assert_public_detect(at)
