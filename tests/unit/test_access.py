"""Who may do what, enforced in the backend: every changing function called with every role (the role matrix),
each attempt in the audit trail; the admin-only reads (audit trail, users, settings); the users file, password
hashes and the console's exposure rules."""

from __future__ import annotations

import ast
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.annotation import edits as annotation_edits
from backend.annotation import inbox as annotation_inbox
from backend.annotation import picking as annotation_picking
from backend.annotation import service as annotation_service
from backend.annotation import tasks as annotation_tasks
from backend.auth.admin import LoginKind, configured_users, console_settings
from backend.auth.audit import recent_actions
from backend.auth.users import AuthConfig, hash_password, load_auth_config, oidc_actor, parse_auth_config, verify_login
from backend.core.access import AccessDeniedError, Actor, Permission, Role, require
from backend.core.errors import BadInputError, PlateOpsError, cap_message
from backend.core.params import TrainConfig
from backend.core.settings import Settings, init_workspace
from backend.data import datasets as data_service
from backend.data import tasks as data_tasks
from backend.data.import_request import ImportRequest
from backend.monitoring import tasks as monitoring_tasks
from backend.monitoring import views as monitoring_views
from backend.registry import eval_set
from backend.registry import service as registry_service
from backend.registry import shadow as registry_shadow
from backend.runtime import runner
from backend.serving import service as serving_service
from backend.store.engine import init_db
from backend.training import pretrained as training_pretrained
from backend.training import tasks as training_tasks
from ui.launch import check_exposure, split_options

ALL = frozenset(Role)
ADMINS = frozenset({Role.ADMIN})
AUDITOR = Actor(name="auditor", role=Role.ADMIN)  # reads the trail in these tests (reading writes no row)
STAFF = frozenset({Role.ADMIN, Role.SCIENTIST})
REVIEWERS = frozenset({Role.ADMIN, Role.SCIENTIST, Role.REVIEWER})

# Every backend function that changes something, called so that, once allowed, it stops at a missing id or a bad
# argument (never doing real work), with the roles that may call it, written out here rather than read from the
# permission table so the test checks the table too.
CallFn = Callable[[Actor, Path], Any]
MATRIX: list[tuple[str, CallFn, frozenset[Role]]] = [
    ("start_demo_dataset", lambda a, _: data_tasks.start_demo_dataset(actor=a, name="../x"), STAFF),
    (
        "start_import",
        lambda a, p: data_tasks.start_import(ImportRequest(source=p / "none.zip", name="../x"), actor=a),
        STAFF,
    ),
    ("start_validation", lambda a, _: data_tasks.start_validation(999, actor=a), REVIEWERS),
    ("save_upload", lambda a, _: data_service.save_upload(io.BytesIO(b"x"), "x.txt", actor=a), STAFF),
    ("export_version", lambda a, p: data_service.export_version(999, "coco", p / "x.zip", actor=a), STAFF),
    ("export_to_workspace", lambda a, _: data_service.export_to_workspace(999, "coco", actor=a), STAFF),
    ("save_edits", lambda a, _: annotation_edits.save_edits("nope", 1, [], actor=a, message="m"), REVIEWERS),
    (
        "save_image_boxes",
        lambda a, _: annotation_service.save_image_boxes(999, "f.jpg", [], actor=a, message="m"),
        REVIEWERS,
    ),
    ("dismiss_items", lambda a, _: annotation_service.dismiss_items([], " ", actor=a), REVIEWERS),
    ("flag_for_review", lambda a, _: annotation_service.flag_for_review(999, "f.jpg", " ", actor=a), REVIEWERS),
    ("start_label_error_scan", lambda a, _: annotation_tasks.start_label_error_scan(999, actor=a, top_k=0), REVIEWERS),
    ("start_validate_retrain", lambda a, _: annotation_tasks.start_validate_retrain(999, actor=a), STAFF),
    ("start_training", lambda a, _: training_tasks.start_training(999, TrainConfig(), actor=a), STAFF),
    ("registry.put_in_shadow", lambda a, _: registry_shadow.put_in_shadow(actor=a, run_id=999), STAFF),
    ("registry.take_out_of_shadow", lambda a, _: registry_shadow.take_out_of_shadow(actor=a), STAFF),
    ("annotation.accept_traffic", lambda a, _: annotation_inbox.accept_traffic(999, [], actor=a), REVIEWERS),
    ("annotation.dismiss_traffic", lambda a, _: annotation_inbox.dismiss_traffic([999], "r", actor=a), REVIEWERS),
    ("annotation.queue_next", lambda a, _: annotation_picking.queue_next("food", 5, actor=a), REVIEWERS),
    (
        "training.register_pretrained",
        lambda a, _: training_pretrained.register_pretrained(io.BytesIO(b"x"), "base.pt", source="upload", actor=a),
        STAFF,
    ),
    ("resume_training", lambda a, _: training_tasks.resume_training(999, actor=a), STAFF),
    ("runner.cancel", lambda a, _: runner.cancel(999, actor=a), STAFF),
    ("start_drift_report", lambda a, _: monitoring_tasks.start_drift_report(actor=a, window=1), REVIEWERS),
    (
        "start_simulated_traffic",
        lambda a, _: monitoring_tasks.start_simulated_traffic(actor=a, shift="dark", images=0),
        REVIEWERS,
    ),
    ("promote_run", lambda a, _: registry_service.promote_run(999, actor=a), STAFF),
    ("rollback", lambda a, _: registry_service.rollback(actor=a), STAFF),
    ("export_model", lambda a, _: registry_service.export_model(999, actor=a), STAFF),
    ("choose_eval_set", lambda a, _: eval_set.choose_eval_set(999, actor=a, reason="r"), STAFF),
    ("adopt_eval_set_version", lambda a, _: eval_set.adopt_eval_set_version(999, actor=a, reason="r"), STAFF),
    ("record_feedback", lambda a, _: serving_service.record_feedback(999, "correct", actor=a, class_name="x"), ALL),
    ("data.send_to_review", lambda a, _: data_service.send_to_review(999, [], "r", actor=a), REVIEWERS),
    ("monitoring.send_to_review", lambda a, _: monitoring_views.send_to_review([], reason="r", actor=a), REVIEWERS),
    ("start_index_version", lambda a, _: data_tasks.start_index_version(999, actor=a), REVIEWERS),
]


@pytest.fixture(name="store")
def _store(workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    init_workspace(workspace)
    init_db()

    def no_worker(*args: object, **kwargs: object) -> int:
        raise BadInputError("test: no job is started")

    monkeypatch.setattr(runner, "submit", no_worker)  # an allowed start_* stops here instead of spawning a worker
    yield workspace


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("name", "call", "allowed"), MATRIX, ids=[row[0] for row in MATRIX])
def test_role_matrix(store: Settings, tmp_path: Path, name: str, call: CallFn, allowed: frozenset[Role], role: Role):
    actor = Actor(name=f"{role}-user", role=role)
    try:
        call(actor, tmp_path)
        outcome: type[BaseException] | None = None
    except AccessDeniedError:
        outcome = AccessDeniedError
    except Exception as exc:  # noqa: BLE001 - past the access check, any failure of the made-up ids is fine
        outcome = type(exc)
    if role in allowed:
        assert outcome is not AccessDeniedError, f"{name} refused a {role}"
    else:
        assert outcome is AccessDeniedError, f"{name} let a {role} through ({outcome})"
    last = recent_actions(actor=AUDITOR, limit=1)
    assert last, f"{name} left no audit row"
    assert (last[0].actor, last[0].role, last[0].allowed) == (actor.name, role, role in allowed)


def test_every_job_start_is_in_the_role_matrix_and_lives_in_its_domains_tasks_module() -> None:
    """One `start_*` per job kind, in a domain's `tasks` module, each in the matrix above (so each checks access)."""
    import inspect

    from backend.console import catalog

    starts = {
        name
        for module in catalog.DOMAIN_TASKS
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("start_") and fn.__module__ == module.__name__
    }
    assert starts - {row[0] for row in MATRIX} == set()
    backend = Path(__file__).resolve().parents[2] / "backend"
    for service in backend.glob("*/service.py"):
        assert "\ndef start_" not in service.read_text(encoding="utf-8"), f"{service} starts a job outside tasks.py"


# Store calls and job submissions that change something (what the scan below looks for in backend functions).
CHANGING_PREFIXES = ("add", "create", "update", "delete", "mark", "set_", "record", "save", "remove", "replace")
CHANGING_PREFIXES += ("submit", "register", "clear", "merge", "insert", "store", "put", "finish", "upsert")
DOMAINS = ("data", "training", "serving", "registry", "monitoring", "annotation", "console", "auth")
# Changing functions that take no actor, each with why: steps of a job the worker runs (authorized when the job was
# queued), crash recovery the runner runs, or the sign-in itself (audited on its own).
NO_ACTOR = {
    "data.validate_version": "a step of the import, validation and retrain jobs",
    "data.discard_job_leftovers": "crash recovery of an import job",
    "data.build_version_index": "a step of the jobs that make a version, and of the index job",
    "data.recover_index": "crash recovery of the index job",
    "training.recover_training": "crash recovery of a training job",
    "training.train_task": "the training job's body",
    "serving.log_prediction": "a step of detect_image (the public Detect page logs what it predicted)",
    "registry.ensure_registered": "a step of promote_run's gate",
    "registry.run_gate": "a step of promote_run's gate (undoes the registration it made when it cannot decide)",
    "monitoring.build_drift_report": "the drift-report job's body",
    "annotation.queue_suspects": "a step of the label-error scan job",
    "auth.sign_in": "the sign-in: no actor yet; every checked try is audited",
    "annotation.record_version": "a step of save_edits and accept_traffic, which authorize before it",
    "serving.answer_in_shadow": "a step of detect_image: the model in shadow answers the picture just logged",
}


def _changing_functions() -> list[tuple[str, ast.FunctionDef]]:
    """(domain.name, function) for each public top-level function of the domain packages that calls a changing
    store function or submits a job."""
    backend = Path(__file__).resolve().parents[2] / "backend"
    found: list[tuple[str, ast.FunctionDef]] = []
    for domain in DOMAINS:
        for path in sorted((backend / domain).rglob("*.py")):
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                    continue
                targets = [sub.func for sub in ast.walk(node) if isinstance(sub, ast.Call)]
                if any(
                    isinstance(t, ast.Attribute)
                    and isinstance(t.value, ast.Name)
                    and (t.value.id.endswith("_store") or t.value.id in ("runner", "session"))
                    and t.attr.startswith(CHANGING_PREFIXES)
                    for t in targets
                ):
                    found.append((f"{domain}.{node.name}", node))
    return found


def test_every_changing_function_found_in_the_code_authorizes_and_is_in_the_role_matrix() -> None:
    """Read from the code, so a new changing function cannot skip the check: each takes a keyword `actor`, calls
    `authorize`, and has a row in MATRIX (by name, or domain.name when two domains share it), or is named in
    NO_ACTOR with the reason."""
    found = _changing_functions()
    assert len(found) > 20, "the scan finds the changing functions"
    matrix = {row[0] for row in MATRIX}
    for qualified, node in found:
        if qualified in NO_ACTOR:
            continue
        kwonly = {a.arg for a in node.args.kwonlyargs}
        assert "actor" in kwonly, f"{qualified} changes something but takes no keyword actor"
        calls = {sub.func.id for sub in ast.walk(node) if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)}
        assert "authorize" in calls, f"{qualified} takes an actor but never calls authorize"
        assert qualified in matrix or node.name in matrix, f"{qualified} is missing from the role matrix"
    names = {qualified for qualified, _ in found}
    assert set(NO_ACTOR) <= names, f"no longer changing (drop them): {set(NO_ACTOR) - names}"


# What only admins may read. An allowed read writes no audit row (a page reads on every rerun); a refused one does.
ADMIN_READS: list[tuple[str, Callable[[Actor], Any], frozenset[Role]]] = [
    ("recent_actions", lambda a: recent_actions(actor=a, limit=5), ADMINS),
    ("configured_users", lambda a: configured_users(actor=a), ADMINS),
    ("console_settings", lambda a: console_settings(actor=a, bind_address="127.0.0.1"), ADMINS),
]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("name", "read", "allowed"), ADMIN_READS, ids=[row[0] for row in ADMIN_READS])
def test_admin_reads_role_matrix(
    store: Settings, name: str, read: Callable[[Actor], Any], allowed: frozenset[Role], role: Role
) -> None:
    actor = Actor(name=f"{role}-user", role=role)
    if role in allowed:
        read(actor)
        assert recent_actions(actor=AUDITOR) == [], f"an allowed read of {name} wrote an audit row"
        return
    with pytest.raises(AccessDeniedError, match="may not manage users"):
        read(actor)
    rows = recent_actions(actor=AUDITOR)
    assert [(e.actor, e.action, e.allowed) for e in rows] == [(actor.name, "manage_users", False)], name
    assert rows[0].target.startswith("read the "), "the refusal says what was read"


def test_audit_trail_filters_by_user_and_refusals(store: Settings) -> None:
    viewer = Actor(name="vic", role=Role.VIEWER)
    scientist = Actor(name="sam", role=Role.SCIENTIST)
    for actor in (viewer, scientist):
        with pytest.raises(AccessDeniedError):
            registry_service.promote_run(999, actor=Actor(name=actor.name, role=Role.VIEWER))
        # The viewer is refused; the scientist passes the check and stops at the made-up version id.
        with pytest.raises(AccessDeniedError if actor is viewer else PlateOpsError):
            training_tasks.start_training(999, TrainConfig(), actor=actor)
    rows = recent_actions(actor=AUDITOR)
    assert [(e.actor, e.action, e.allowed) for e in rows] == [
        ("sam", "train", True),
        ("sam", "promote", False),
        ("vic", "train", False),
        ("vic", "promote", False),
    ], "newest first"
    assert [(e.actor, e.allowed) for e in recent_actions(actor=AUDITOR, user="sam")] == [
        ("sam", True),
        ("sam", False),
    ]
    assert all(not e.allowed for e in recent_actions(actor=AUDITOR, refused_only=True))
    assert len(recent_actions(actor=AUDITOR, refused_only=True)) == 3
    assert [e.action for e in recent_actions(actor=AUDITOR, user="sam", refused_only=True)] == ["promote"]
    assert len(recent_actions(actor=AUDITOR, limit=1)) == 1
    with pytest.raises(BadInputError, match="between 1 and"):
        recent_actions(actor=AUDITOR, limit=0)


def test_configured_users_show_roles_and_login_kind_never_hashes(
    store: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.core.settings import get_settings

    digest = hash_password("correct horse")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        f'[plateops.users.zoe]\nrole = "admin"\npassword_hash = "{digest}"\n'
        f'[plateops.users.ana]\nrole = "reviewer"\npassword_hash = "{digest}"\n'
        '[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\ncookie_secret = "cookie-s3cret"\n'
        'client_secret = "client-s3cret"\n[plateops.oidc_roles]\n"Bo@Example.org" = "scientist"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("PLATEOPS_SECRETS_FILE", str(secrets))
    monkeypatch.setenv("PLATEOPS_DATABASE_URL", "postgresql://plate:db-s3cret@db.example.org/plateops")
    get_settings.cache_clear()
    directory = configured_users(actor=AUDITOR)
    assert [(u.name, u.role, u.login) for u in directory.users] == [
        ("ana", Role.REVIEWER, LoginKind.PASSWORD),
        ("zoe", Role.ADMIN, LoginKind.PASSWORD),
        ("bo@example.org", Role.SCIENTIST, LoginKind.OIDC),
    ]
    assert directory.oidc and not directory.open_console
    settings_rows = console_settings(actor=AUDITOR, bind_address="0.0.0.0")
    shown = repr(directory) + repr(settings_rows)
    for secret in ("$argon2", "s3cret"):
        assert secret not in shown, f"{secret} reached the admin view"
    by_name = {row.name: row for row in settings_rows}
    assert by_name["database_url"].value == "postgresql://plate:***@db.example.org/plateops"
    assert by_name["login"].value.startswith("required: 2 password user(s), OIDC on")
    assert by_name["open on the network"].value == "no: visitors sign in"
    assert by_name["upload_max_mb"].env_var == "PLATEOPS_UPLOAD_MAX_MB"
    assert {"home", "import_roots", "job_stall_timeout_s", "heartbeat_timeout_s"} <= set(by_name)


def test_console_settings_say_when_the_console_is_open(store: Settings, tmp_path: Path, monkeypatch) -> None:
    from backend.core.settings import get_settings

    monkeypatch.setenv("PLATEOPS_SECRETS_FILE", str(tmp_path / "absent.toml"))
    get_settings.cache_clear()
    assert configured_users(actor=AUDITOR).open_console
    local = {row.name: row.value for row in console_settings(actor=AUDITOR, bind_address="127.0.0.1")}
    assert local["login"].startswith("none: an open console")
    assert local["open on the network"] == "no: local use only (this machine)"
    wide = {row.name: row.value for row in console_settings(actor=AUDITOR, bind_address="0.0.0.0")}
    assert wide["open on the network"].startswith("yes: anyone who reaches 0.0.0.0 acts as an admin")
    assert wide["home"] == str(store.home.resolve())


def test_refusal_changes_nothing_and_says_why(store: Settings) -> None:
    viewer = Actor(name="vic", role=Role.VIEWER)
    with pytest.raises(AccessDeniedError, match="A viewer may not train"):
        training_tasks.start_training(1, TrainConfig(), actor=viewer)
    with pytest.raises(AccessDeniedError, match="No acting user"):
        require("admin", Permission.TRAIN)  # type: ignore[arg-type]
    assert [(e.actor, e.action, e.allowed) for e in recent_actions(actor=AUDITOR)] == [("vic", "train", False)]


def test_every_permission_has_a_role_and_admins_may_do_everything() -> None:
    admin = Actor(name="a", role=Role.ADMIN)
    assert all(admin.may(p) for p in Permission)
    viewer = Actor(name="v", role=Role.VIEWER)
    assert {p for p in Permission if viewer.may(p)} == {Permission.DETECT, Permission.FEEDBACK}


def test_messages_are_capped() -> None:
    assert cap_message("x" * 5000) == "x" * 399 + "…"
    assert cap_message("short") == "short"


def test_users_file_passwords_and_oidc_roles(tmp_path: Path) -> None:
    digest = hash_password("correct horse")
    assert digest.startswith("$argon2id$") and "correct horse" not in digest
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        f'[plateops.users.ana]\nrole = "reviewer"\npassword_hash = "{digest}"\n'
        '[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\ncookie_secret = "s"\n'
        '[plateops.oidc_roles]\n"Bo@Example.org" = "scientist"\n',
        encoding="utf-8",
    )
    config = load_auth_config(secrets)
    assert config.configured and config.oidc
    assert verify_login(config, "ana", "correct horse") == Actor("ana", Role.REVIEWER)
    assert verify_login(config, "ana", "wrong password") is None
    assert verify_login(config, "nobody", "correct horse") is None
    assert oidc_actor(config, "bo@example.org").role == Role.SCIENTIST
    assert oidc_actor(config, "stranger@example.org").role == Role.VIEWER
    assert not load_auth_config(tmp_path / "absent.toml").configured
    with pytest.raises(BadInputError, match="not one of"):
        parse_auth_config({"plateops": {"users": {"x": {"role": "root", "password_hash": digest}}}})
    with pytest.raises(BadInputError, match="password_hash"):
        parse_auth_config({"plateops": {"users": {"x": {"role": "admin", "password_hash": "plain"}}}})
    with pytest.raises(BadInputError, match="at least 8"):
        hash_password("short")
    (tmp_path / "bad.toml").write_text("[plateops\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="not valid TOML"):
        load_auth_config(tmp_path / "bad.toml")
    assert not AuthConfig().configured


def test_exposure_loopback_by_default_and_open_addresses_need_a_flag_or_a_login() -> None:
    flags, address, rest = split_options(["--server.port", "9", "--server.address=0.0.0.0", "--detect-only"])
    assert flags["detect_only"] and address == "0.0.0.0" and rest == ["--server.port", "9"]
    assert check_exposure("127.0.0.1", allow_open=False, detect_only=False, login_configured=False) is None
    refusal = check_exposure("0.0.0.0", allow_open=False, detect_only=False, login_configured=False)
    assert refusal is not None and "--allow-open" in refusal and "secrets.toml" in refusal
    assert check_exposure("0.0.0.0", allow_open=True, detect_only=False, login_configured=False) is None
    assert check_exposure("0.0.0.0", allow_open=False, detect_only=False, login_configured=True) is None
    assert check_exposure("0.0.0.0", allow_open=False, detect_only=True, login_configured=False) is None


def test_names_from_imports_show_as_plain_text() -> None:
    from ui.widgets.text import plain

    hostile = "![x](http://tracker.example/p.png) :red[big] <img src=x> $x$ `code` **b** " + "a" * 1000
    shown = plain(hostile)
    assert len(shown) < 2 * 300
    assert "![" not in shown and ":red[" not in shown and "**b**" not in shown and " <img" not in shown
    assert "\\[" in shown and "\\<" in shown and "\\$" in shown and "\\`" in shown and "\\*" in shown
    assert plain("demo_000002.jpg") == "demo_000002.jpg"
