"""params.yaml and backend.core.params: strict loading, presets, overrides, and the documented-keys rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backend.core.errors import BadInputError
from backend.core.params import Params, TrainConfig, apply_preset, load_params, merge_overrides

PARAMS_FILE = Path(__file__).resolve().parents[2] / "params.yaml"
KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w-]*):(?P<rest>.*)$")
DOC_COMMENT = re.compile(r"#\s*\((?P<type>[^)]+)\)\s+\S")


@pytest.fixture(scope="module")
def params() -> Params:
    return load_params(PARAMS_FILE)


def test_params_file_loads_with_all_sections(params: Params) -> None:
    assert params.demo.images == 400
    assert 0 < params.prepare.val_fraction < 1
    assert params.train.model.endswith(".yaml")
    assert params.train.device == "auto"
    assert params.train.resume is False
    assert params.evaluate.conf == pytest.approx(0.001)
    assert set(params.presets) == {"quick_cpu", "standard", "full_gpu"}


def test_every_key_has_a_type_and_description_comment() -> None:
    undocumented = []
    for number, line in enumerate(PARAMS_FILE.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = KEY_LINE.match(line)
        assert match, f"line {number} is not a 'key: value' line: {line!r}"
        if not DOC_COMMENT.search(match["rest"]):
            undocumented.append(f"{number}: {line.strip()}")
    assert not undocumented, "keys without a '# (type) description' comment:\n" + "\n".join(undocumented)


def test_every_train_field_is_in_the_file_except_resume(params: Params) -> None:
    text = PARAMS_FILE.read_text(encoding="utf-8")
    train_block = text.split("\ntrain:", 1)[1].split("\nevaluate:", 1)[0]
    keys = {m["key"] for m in map(KEY_LINE.match, train_block.splitlines()) if m}
    assert keys == set(TrainConfig.model_fields) - {"resume"}


def test_presets_apply_their_overrides(params: Params) -> None:
    quick = params.train_config(preset="quick_cpu")
    full = params.train_config(preset="full_gpu")
    standard = apply_preset(params.train, "standard", params.presets)
    assert quick.imgsz <= 320 and quick.warmup_epochs <= 1
    assert full.model == "yolo11s.yaml" and full.epochs == 100 and full.imgsz == 640
    assert standard.epochs > quick.epochs
    for preset in params.presets.values():
        assert preset.label and preset.description and "\n" not in preset.description
    # the preset only changes what it names
    assert full.seed == params.train.seed


def test_user_overrides_win_over_the_preset(params: Params) -> None:
    cfg = params.train_config(preset="full_gpu", overrides={"epochs": 3, "batch": None, "device": 0})
    assert cfg.epochs == 3
    assert cfg.batch == 32  # None means "not given"
    assert cfg.device == "0"


def test_unknown_override_key_is_refused_with_the_allowed_keys(params: Params) -> None:
    with pytest.raises(BadInputError) as info:
        merge_overrides(params.train, {"epoch": 5})
    message = str(info.value)
    assert "epoch" in message and "Allowed settings" in message and "epochs" in message and "imgsz" in message


def test_invalid_values_are_refused(params: Params) -> None:
    with pytest.raises(BadInputError, match="epochs"):
        merge_overrides(params.train, {"epochs": 0})
    with pytest.raises(BadInputError, match="device"):
        merge_overrides(params.train, {"device": "gpu please"})
    with pytest.raises(BadInputError, match="cache"):
        merge_overrides(params.train, {"cache": "cloud"})


def test_unknown_preset_lists_the_known_ones(params: Params) -> None:
    with pytest.raises(BadInputError, match="quick_cpu"):
        params.train_config(preset="turbo")


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text(PARAMS_FILE.read_text(encoding="utf-8").replace("  epochs: 10 #", "  epocs: 10 #", 1))
    with pytest.raises(BadInputError, match="epocs"):
        load_params(bad)


def test_preset_with_unknown_key_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("presets:\n  x:\n    label: X\n    description: d\n    overrides:\n      learning_rate: 1\n")
    with pytest.raises(BadInputError, match="learning_rate"):
        load_params(bad)


def test_missing_and_broken_files_give_plain_errors(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="does not exist"):
        load_params(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [unclosed\n")
    with pytest.raises(BadInputError, match="not valid YAML"):
        load_params(broken)


def test_cache_accepts_yaml_booleans_and_maps_to_ultralytics() -> None:
    assert TrainConfig(cache=True).cache == "ram"
    off = TrainConfig(cache=False)
    assert off.cache == "none"
    args = off.ultralytics_args()
    assert args["cache"] is False
    assert "model" not in args and "device" not in args and "resume" not in args


def test_the_model_defaults_mirror_the_shipped_file(params: Params) -> None:
    """A default lives once: params.yaml, mirrored by the models' field defaults (used when no file is found)."""
    assert params.model_dump(exclude={"presets"}) == Params().model_dump(exclude={"presets"})


def test_get_params_reads_the_settings_file_once_and_again_after_a_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from backend.core.params import get_params
    from backend.core.settings import get_settings

    path = tmp_path / "params.yaml"
    path.write_text(PARAMS_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("PLATEOPS_PARAMS_FILE", str(path))
    get_settings.cache_clear()
    try:
        first = get_params()
        assert get_params() is first, "read once while the file is unchanged"
        path.write_text(path.read_text(encoding="utf-8").replace("  conf: 0.25 #", "  conf: 0.3 #"), encoding="utf-8")
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
        assert get_params().detect.conf == pytest.approx(0.3), "an edited file takes effect without a restart"
        path.unlink()
        assert get_params().detect.conf == Params().detect.conf, "no file: the mirrored defaults"
    finally:
        get_settings.cache_clear()


DEFAULTED_NAMES = {"conf", "iou", "val_fraction"}


def test_no_function_repeats_a_params_default_as_a_literal() -> None:
    """`conf`, `iou` and `val_fraction` default to None in every signature and are resolved from params.yaml."""
    import ast

    root = PARAMS_FILE.parent
    offenders = []
    for path in [*sorted((root / "backend").rglob("*.py")), *sorted((root / "jobs").rglob("*.py"))]:
        if "migrations" in path.parts or path.name == "params.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
            for arg, default in pairs:
                if arg.arg in DEFAULTED_NAMES and isinstance(default, ast.Constant) and default.value is not None:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno} {node.name}({arg.arg}={default.value})")
    assert not offenders, "read these defaults from get_params() instead:\n" + "\n".join(offenders)
