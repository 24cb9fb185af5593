"""AppTest: the Admin page. An admin (the open console's local admin, or a signed-in one) sees the users, the audit
trail with a refusal caused here, and the settings; a signed-in viewer or reviewer who opens the address gets the
backend's "admins only" refusal as a plain note."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from backend.auth.users import hash_password
from backend.core.access import AccessDeniedError, Actor, Role
from backend.core.params import TrainConfig
from backend.core.settings import Settings, get_settings, init_workspace
from backend.store.engine import init_db
from backend.training import tasks as training_tasks
from tests.pages.apptest_utils import PROJECT_ROOT, all_text, open_page

ADMIN_PAGE = "pages/admin.py"
TABS = ["👥 Users", "📜 Audit trail", "⚙️ Settings"]


def _use_secrets(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("PLATEOPS_SECRETS_FILE", str(path))
    get_settings.cache_clear()


def _refuse_a_viewer() -> None:
    """A viewer tries to train: the backend refuses and writes the refusal to the audit trail."""
    init_workspace()
    init_db()
    with pytest.raises(AccessDeniedError):
        training_tasks.start_training(1, TrainConfig(), actor=Actor(name="vic", role=Role.VIEWER))


def _signed_in(actor: Actor) -> AppTest:
    """The console as `actor`, already signed in, opening the Admin page's address directly (as a typed link)."""
    at = AppTest.from_file(str(PROJECT_ROOT / "Home.py"), default_timeout=60)
    at.session_state["plateops_actor"] = actor
    at.switch_page(ADMIN_PAGE)  # before the first run: the address asked for, not Home first
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _audit_table(at: AppTest):
    frames = [df.value for df in at.dataframe if "who" in df.value.columns]
    assert len(frames) == 1, "one audit table"
    return frames[0]


def test_open_console_admin_sees_users_audit_and_settings(
    workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_secrets(monkeypatch, tmp_path / "absent.toml")
    _refuse_a_viewer()
    at = open_page(ADMIN_PAGE)
    assert at.title[0].value == "Admin"
    assert [t.label for t in at.tabs] == TABS
    text = all_text(at)
    assert "No login is configured" in text
    assert "python -m jobs.hash_password --user ana --role scientist" in [c.value for c in at.code]

    audit = _audit_table(at)
    assert list(audit.columns) == ["when (UTC)", "who", "role", "action", "target", "allowed"]
    assert audit[["who", "role", "action", "allowed"]].values.tolist() == [["vic", "viewer", "train", "no (refused)"]]

    settings = next(df.value for df in at.dataframe if "environment variable" in df.value.columns)
    by_name = dict(zip(settings["setting"], settings["value"], strict=True))
    assert by_name["home"] == str(workspace.home.resolve())
    assert by_name["upload_max_mb"] == "25 MB"
    assert by_name["login"].startswith("none: an open console")
    assert "PLATEOPS_JOB_STALL_TIMEOUT_S" in settings["environment variable"].tolist()

    at.toggle(key="admin-audit-refused").set_value(True).run()  # filters: refused only, then one user
    assert not at.exception
    assert _audit_table(at)["who"].tolist() == ["vic"]
    at.selectbox(key="admin-audit-user").set_value("vic").run()
    assert not at.exception
    assert _audit_table(at)["allowed"].tolist() == ["no (refused)"]
    assert len(_audit_table(at)) == 1, "reading the trail adds no row to it"


def test_signed_in_admin_sees_users_without_hashes(
    workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = hash_password("zoe-password")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        f'[plateops.users.zoe]\nrole = "admin"\npassword_hash = "{digest}"\n'
        f'[plateops.users.vic]\nrole = "viewer"\npassword_hash = "{digest}"\n',
        encoding="utf-8",
    )
    _use_secrets(monkeypatch, secrets)
    _refuse_a_viewer()
    at = _signed_in(Actor(name="zoe", role=Role.ADMIN))
    assert [t.label for t in at.tabs] == TABS
    users = next(df.value for df in at.dataframe if "signs in with" in df.value.columns)
    assert users.values.tolist() == [["vic", "viewer", "password"], ["zoe", "admin", "password"]]
    shown = all_text(at) + "".join(df.value.to_string() for df in at.dataframe)
    assert digest not in shown and "$argon2id$v=19$m" not in shown, "no password hash on the page"
    assert _audit_table(at)["who"].tolist() == ["vic"]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER])
def test_non_admin_at_the_admin_address_gets_a_plain_refusal(
    workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, role: Role
) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        f'[plateops.users.pat]\nrole = "{role}"\npassword_hash = "{hash_password("pat-password")}"\n',
        encoding="utf-8",
    )
    _use_secrets(monkeypatch, secrets)
    _refuse_a_viewer()
    at = _signed_in(Actor(name="pat", role=role))
    notes = [i.value for i in at.info]
    assert any("This page is for admins only." in n and f"A {role} may not manage users" in n for n in notes), notes
    assert not at.tabs and not at.dataframe, "nothing of the admin view shows"
    assert "vic" not in all_text(at)
