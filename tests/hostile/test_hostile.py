"""Every hostile input of the corpus against every entry point: the Detect service (what the Detect page calls),
the import service (what the Datasets page's job runs), the console's import gate, and every `jobs.*` command.
Each is answered with a clear, capped message (a PlateOpsError in the backend, `error: …` and exit 2 on the command
line), never a traceback, and nothing else is lost: the workspace's existing dataset and predictions stay, and no
file appears outside the folders the input was given."""

from __future__ import annotations

import importlib
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.core.errors import PlateOpsError
from backend.core.settings import Settings, init_workspace
from backend.data import datasets as data_service
from backend.data.import_request import ImportRequest
from backend.serving.inference import Detector
from backend.serving.service import ServingModel, detect_image, serving_model
from backend.store import datasets as dataset_store
from backend.store import predictions as prediction_store
from backend.store.engine import init_db, session_scope
from tests.hostile.corpus import DATASETS, SENTINEL, photo, photo_names
from tests.utils.serving_models import add_finished_run
from tests.utils.shared import TinyModels, run_root, settings_at

MESSAGE_CAP = 600  # characters: a clear message is a sentence or two, never a dump of the input


def _clear(text: str) -> None:
    assert text.strip(), "an empty message"
    assert "Traceback" not in text and 'File "' not in text, text[:500]
    assert len(text) <= MESSAGE_CAP, f"{len(text)} characters: {text[:200]}…"


@pytest.fixture(scope="module", name="served_home")
def _served_home(tmp_path_factory: pytest.TempPathFactory, tiny_models: TinyModels) -> Iterator[tuple[Path, Path]]:
    """One workspace for the Detect cases: a finished run of the grid detector serves (refused photos log nothing,
    so each case still starts from an empty prediction log, and checks it stays so)."""
    home = tmp_path_factory.mktemp("hostile-served") / "workspace"
    weights = tiny_models.grid(imgsz=64)
    with pytest.MonkeyPatch.context() as patch, settings_at(home, patch):
        init_workspace()
        init_db()
        add_finished_run(weights, name="grid-run")
    yield home, weights


@pytest.fixture(name="served")
def _served(served_home: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Detector, ServingModel]]:
    home, weights = served_home
    with settings_at(home, monkeypatch):
        model = serving_model()
        assert model is not None
        yield Detector.load(weights), model


@pytest.mark.parametrize("name", photo_names())
def test_detect_refuses_hostile_photos_and_logs_nothing(served: tuple[Detector, ServingModel], name: str) -> None:
    detector, model = served
    filename, data = photo(name)
    with pytest.raises(PlateOpsError) as refused:
        detect_image(data, name=filename, detector=detector, model=model)
    _clear(str(refused.value))
    with session_scope() as session:
        assert prediction_store.list_predictions(session=session, limit=10) == []


def test_detect_upload_limit_is_enforced_by_the_server(
    served: tuple[Detector, ServingModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.core.settings import get_settings

    detector, model = served
    monkeypatch.setenv("PLATEOPS_UPLOAD_MAX_MB", "1")
    get_settings.cache_clear()
    with pytest.raises(PlateOpsError, match="MB") as refused:
        detect_image(b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024), name="big.jpg", detector=detector, model=model)
    _clear(str(refused.value))


@pytest.fixture(scope="module", name="kept_home")
def _kept_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace holding one good dataset version, to check a hostile import loses nothing. Imported once for the
    module: every case only adds to it, under names of its own, and checks the kept version is still whole."""
    root = tmp_path_factory.mktemp("hostile-kept")
    with pytest.MonkeyPatch.context() as patch, settings_at(root / "workspace", patch):
        init_workspace()
        init_db()
        from tests.hostile.corpus import _coco, _good_coco

        source = _coco(root / "good", _good_coco())
        data_service.import_dataset(
            ImportRequest(source=source / "annotations.json", name="kept", images_dir=source / "images")
        )
    yield root


CASE_NUMBERS = itertools.count(1)


@pytest.fixture(name="kept")
def _kept(kept_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This case's own folder (`c<N>`, its number names what it adds), beside the shared kept workspace."""
    folder = kept_home / "cases" / f"c{next(CASE_NUMBERS)}"
    folder.mkdir(parents=True)
    with settings_at(kept_home / "workspace", monkeypatch):
        yield folder


@pytest.fixture(name="temp_root")
def _temp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every folder of this test run (all xdist workers'): where an escaping archive member would land."""
    return run_root(tmp_path_factory)


def _outside_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if SENTINEL in p.name}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_import_refuses_hostile_sources_clearly_and_loses_nothing(kept: Path, temp_root: Path, name: str) -> None:
    case = kept / "case"
    case.mkdir()
    source = DATASETS[name](case)
    hostile = f"hostile-{kept.name}"
    try:
        data_service.import_dataset(ImportRequest(source=source, name=hostile))
    except PlateOpsError as exc:
        _clear(str(exc))
    else:  # a few inputs are usable after their bad parts are dropped: they must still be a proper version
        with session_scope() as session:
            made = dataset_store.find_dataset(session=session, name=hostile)
        assert made is not None
    with session_scope() as session:
        dataset = dataset_store.find_dataset(session=session, name="kept")
        assert dataset is not None
        versions = dataset_store.list_versions(session=session, dataset_id=dataset.id)
    assert len(versions) == 1 and Path(versions[0].path, "data.yaml").is_file()
    assert not _outside_files(temp_root), "an archive wrote outside its folder"
    assert not list(Path("/tmp").glob(f"{SENTINEL}*"))


# Commands that start a ClearML task run in their own process: ClearML keeps its task in process-wide state, and a
# task from this test would leak into the tracking tests that run later in the same pytest process.
OWN_PROCESS = {"train"}


def _cli(module: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    if module in OWN_PROCESS:
        proc = subprocess.run(
            [sys.executable, "-m", f"jobs.{module}", *argv],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return proc.returncode, proc.stderr
    main = importlib.import_module(f"jobs.{module}").main
    try:
        code = main(argv)
    except SystemExit as exited:  # argparse's own refusal of bad arguments
        code = int(exited.code or 0)
    captured = capsys.readouterr()
    return code, captured.err


# Every command with hostile arguments: (command, argv builder from the case folder and one hostile source).
CLI_CASES = {
    "import": lambda t, s: ["--source", str(s), "--name", f"hostile-{t.parent.name}"],
    "prepare": lambda t, s: ["--yolo", str(s), "--out", str(t / "out")],
    "validate": lambda t, s: ["--dataset", str(s), "--report", str(t / "r.json")],
    "train": lambda t, s: ["--data", str(s / "data.yaml"), "--out", str(t / "run"), "--epochs", "1"],
    "evaluate": lambda t, s: ["--weights", str(s), "--data", str(s / "data.yaml"), "--out", str(t / "m.json")],
    "detect": lambda t, s: ["--weights", str(s), "--json", str(s)],
    "export": lambda t, s: ["--weights", str(s), "--out", str(t / "m.onnx")],
    "drift": lambda t, s: ["--reference", str(s), "--current", str(s), "--weights", str(s), "--out", str(t / "d")],
    "edit": lambda t, s: ["--dataset", "../x", "--base-version", "1", "--edits", str(s), "--message", "m"],
    "export_dataset": lambda t, s: ["--dataset", "../x", "--version", "1", "--format", "coco", "--out", str(s)],
    "promote": lambda t, s: ["--run", "999999"],
    "simulate_traffic": lambda t, s: ["--shift", "sepia", "--images", "3", "--out", str(t / "s")],
    "demo_data": lambda t, s: ["--out", str(t / "demo"), "--images", "-5"],
    "worker": lambda t, s: ["not-a-job-id"],
    "hash_password": lambda t, s: ["--user", "../../etc", "--role", "admin"],
    "select": lambda t, s: ["--dataset", "../x", "--k", "3", "--strategy", "diverse", "--out", str(s / "picks.json")],
}
# The default suite gives every command one hostile source; the whole matrix (each command a subprocess-free call that
# still loads ultralytics, DVC and a kept dataset) runs under the `slow` marker.
CLI_SOURCES = [
    "yolo_split_outside",
    *(
        pytest.param(s, marks=pytest.mark.slow)
        for s in ("yolo_alias_bomb", "coco_deep_nesting", "zip_slip", "missing_path")
    ),
]


@pytest.mark.parametrize("source_name", CLI_SOURCES)
@pytest.mark.parametrize("command", sorted(CLI_CASES))
def test_every_command_refuses_hostile_input_with_one_clear_line(
    kept: Path, temp_root: Path, command: str, source_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    case = kept / "case"
    case.mkdir()
    source = DATASETS[source_name](case)
    code, err = _cli(command, CLI_CASES[command](case, source), capsys)
    # A command runs with the shell user's own rights: some inputs are usable as given (an alias-heavy YAML loads
    # once, a folder is read as the user asked); what must never happen is a crash or an unclear refusal.
    assert code in (0, 1, 2), f"jobs.{command} exited {code}: {err[-500:]}"
    assert "Traceback" not in err, err[-800:]
    if code == 2:
        last = err.strip().splitlines()[-1]
        assert last.startswith(("error:", "usage:", "python -m")) or "error" in last, last[:300]
        _clear(last)
    assert not _outside_files(temp_root)


# `jobs.prepare --coco` over every hostile COCO source (json with its images folder, or a zip of the whole dataset):
# 2 when the source is refused, with one clear line and nothing written; 0 when only some annotations are bad, which
# are dropped and reported exactly as the import service does (one reader and one writer serve both), with the check
# the report must name. An id of the wrong type on an image refuses the file (annotations could not be matched to
# it); on an annotation it only loses that annotation.
PREPARE_REFUSES = 2
PREPARE_COCO: dict[str, tuple[int, str | None]] = {
    "coco_ann_image_id_list": (PREPARE_REFUSES, "has an image_id that is a list"),
    "coco_bbox_negative": (0, "degenerate_bbox"),
    "coco_bbox_nested": (0, "degenerate_bbox"),
    "coco_bbox_short": (0, "degenerate_bbox"),
    "coco_bbox_strings": (0, "degenerate_bbox"),
    "coco_categories_string": (PREPARE_REFUSES, "'categories'"),
    "coco_category_id_list": (PREPARE_REFUSES, "has a category_id that is a list"),
    "coco_category_id_object": (PREPARE_REFUSES, "has a category_id that is an object"),
    "coco_deep_nesting": (PREPARE_REFUSES, "nested too deeply"),
    "coco_empty_object": (PREPARE_REFUSES, "'images'"),
    "coco_file_name_absolute": (PREPARE_REFUSES, "not found in the images folder"),
    # Its one image is left out (no file system holds the name; an import with others goes on), so none is left.
    "coco_file_name_long": (PREPARE_REFUSES, "not found in the images folder"),
    "coco_file_name_traversal": (PREPARE_REFUSES, "not found in the images folder"),
    "coco_huge_string": (PREPARE_REFUSES, "class names must be 1 to 200 characters"),
    "coco_image_id_list": (PREPARE_REFUSES, "needs an 'id' that is a number or short text; found a list"),
    "coco_image_id_object": (PREPARE_REFUSES, "needs an 'id' that is a number or short text; found a dict"),
    "coco_images_not_list": (PREPARE_REFUSES, "'images'"),
    "coco_is_list": (PREPARE_REFUSES, "not COCO detection annotations"),
    "coco_link_class": (PREPARE_REFUSES, "uses characters a class name may not: ':' '/'"),
    "coco_markup_class": (PREPARE_REFUSES, "uses characters a class name may not: '!' '['"),
    "coco_mathtext_class": (PREPARE_REFUSES, "uses characters a class name may not: '$' '^'"),
    "coco_script_class": (PREPARE_REFUSES, "uses characters a class name may not: '<' '/' '>' '='"),
    "coco_not_json": (PREPARE_REFUSES, "not valid JSON"),
    "coco_width_string": (0, None),
    "zip_absolute": (PREPARE_REFUSES, "absolute path"),
    "zip_bad_json": (PREPARE_REFUSES, "No dataset found"),
    "zip_empty": (PREPARE_REFUSES, "No dataset found"),
    "zip_long_names": (PREPARE_REFUSES, "No dataset found"),
    "zip_nested": (PREPARE_REFUSES, "No dataset found"),
    "zip_not_a_zip": (PREPARE_REFUSES, "not a zip archive"),
    "zip_slip": (PREPARE_REFUSES, "points outside the folder"),
}


# Without --images, jobs.prepare looks for the folder holding the first file names; none is found for these.
PREPARE_FOUND_FRAGMENT = {
    "coco_file_name_long": "No images folder found next to the annotations",
    "coco_file_name_traversal": "No images folder found next to the annotations",
}


def test_every_hostile_coco_source_has_an_expected_prepare_answer() -> None:
    assert set(PREPARE_COCO) == {n for n in DATASETS if n.startswith(("coco_", "zip_"))}


# A COCO json runs with --images and without (then jobs.prepare looks for the folder itself); a zip holds its images.
PREPARE_CASES = [
    pytest.param(name, with_images, id=f"{name}-{'images-given' if with_images else 'images-found'}")
    for name in sorted(PREPARE_COCO)
    for with_images in ((True, False) if name.startswith("coco_") else (False,))
]


@pytest.mark.parametrize(("name", "with_images"), PREPARE_CASES)
def test_prepare_answers_hostile_coco_in_one_line(
    workspace: Settings, tmp_path: Path, name: str, with_images: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    from jobs import prepare as prepare_cli

    case = tmp_path / "case"
    case.mkdir()
    source = DATASETS[name](case)
    out = tmp_path / "out"
    if name.startswith("zip_"):
        argv = ["--coco", str(source), "--out", str(out)]
    else:
        argv = ["--coco", str(source / "annotations.json"), "--out", str(out)]
        argv += ["--images", str(source / "images")] if with_images else []
    code, fragment = PREPARE_COCO[name]
    fragment = fragment if with_images else PREPARE_FOUND_FRAGMENT.get(name, fragment)
    got = prepare_cli.main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err[-800:]
    assert got == code, f"jobs.prepare {name}: exit {got}: {captured.err[-500:]}"
    if code == PREPARE_REFUSES:
        errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0] == captured.err.strip().splitlines()[-1], captured.err[-800:]
        _clear(errors[0])
        assert fragment is not None and fragment in errors[0], errors[0]
        assert captured.out == "" and not out.exists(), "a refused source wrote something"
    else:
        assert captured.out.count("\n") == 1 and captured.out.startswith("Prepared 1 images"), captured.out
        report = json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))
        assert (out / "data.yaml").is_file() and report["counts"]["images"] == 1
        if fragment is not None:
            assert fragment in {issue["check"] for issue in report["issues"]}, report["issues"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")], "extracted or staging folders left"
    assert not _outside_files(tmp_path)
