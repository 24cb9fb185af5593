"""Pretrained base models: a checkpoint a scientist uploads (a COCO-pretrained `yolov8n.pt` downloaded elsewhere,
last year's model) to start training runs from instead of from scratch.

An upload is read only through ultralytics' restricted loader (`torch.load(weights_only=True)` against its
allow-list of model classes), so a crafted pickle is refused before anything in it runs. An accepted file is kept
read-only under `<runs>/pretrained/`, recorded with its sha256, where it came from and who uploaded it, and offered
on the Train page as `pretrained:<id>`; a run starts from it only while the file still has that sha256.
"""

from __future__ import annotations

import pickle
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from backend.core.access import Actor, Permission
from backend.core.errors import BadInputError, cap_message
from backend.core.hashing import file_sha256
from backend.core.settings import get_settings
from backend.store import pretrained as pretrained_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import PretrainedModel
from backend.training.yolo import enable_safe_loading, ultralytics_yolo

PRETRAINED_PREFIX = "pretrained:"
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")
_PREFIX_RE = re.compile(rf"{PRETRAINED_PREFIX}(\d{{1,12}})")
# What torch/ultralytics raise for a file that is not a loadable checkpoint (torch_safe_load turns most into
# TypeError; a file cut short or of another kind surfaces as one of the others).
_READ_ERRORS: tuple[type[BaseException], ...] = (
    pickle.UnpicklingError,
    TypeError,
    RuntimeError,
    EOFError,
    ValueError,
    OSError,
    AttributeError,
    ImportError,
    KeyError,
)


def pretrained_folder() -> Path:
    """Where uploaded base models are kept: `<runs>/pretrained` (inside the runs folder the console loads from)."""
    return get_settings().runs_dir / "pretrained"


def _refusal(filename: str, exc: BaseException) -> BadInputError:
    """A plain-words refusal: a file with more than model weights in it, or a file that is not a checkpoint."""
    name = cap_message(filename, 80)
    if isinstance(exc, pickle.UnpicklingError) or isinstance(exc.__cause__, pickle.UnpicklingError):
        return BadInputError(
            f"{name} was refused: it contains objects other than an ultralytics model's weights, which the restricted "
            "loader does not allow (a .pt can carry code). Nothing in it was run. Upload a checkpoint saved by "
            "ultralytics (YOLOv8 or YOLO11 .pt)."
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BadInputError(
        f"{name} is not a readable ultralytics checkpoint ({cap_message(first, 160)}). Upload the .pt file as "
        "ultralytics saved it."
    )


def read_detection_checkpoint(path: Path, *, filename: str = "") -> list[str]:
    """Read a checkpoint with ultralytics' restricted loader only and check that it holds a detection model.

    Args:
        path: The checkpoint file.
        filename: The name to use in messages (default: the file's own).

    Returns:
        The class names of its detection head.

    Raises:
        BadInputError: The file needs more than the restricted loader allows (refused without running anything),
            is not a readable checkpoint, or holds no detection model.
    """
    shown = filename or path.name
    ultralytics_yolo()  # offline, no run-time installs, restricted loading switched on
    import ultralytics.nn.tasks as ul_tasks

    restricted = getattr(ul_tasks, "_SafeLoad", None)  # guarded: ultralytics' own name for its weights-only loader
    if not enable_safe_loading() or not getattr(restricted, "SUPPORTED", False):
        raise BadInputError(
            "This installation's ultralytics and torch cannot load checkpoints in restricted (weights-only) mode, so "
            "uploaded checkpoints are not accepted."
        )
    try:
        ckpt, _ = ul_tasks.torch_safe_load(str(path), safe_only=True)
    except _READ_ERRORS as exc:
        raise _refusal(shown, exc) from exc
    model: Any = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else None
    if model is None:
        raise BadInputError(f"{cap_message(shown, 80)} holds no model (an ultralytics checkpoint has one).")
    task = ul_tasks.guess_model_task(model)
    if task != "detect":
        raise BadInputError(
            f"{cap_message(shown, 80)} is a {task} model; PlateOps trains detection models, so start from a "
            "detection checkpoint (such as yolov8n.pt)."
        )
    names = getattr(model, "names", None) or {}
    return [str(n) for n in (names.values() if isinstance(names, dict) else names)]


def register_pretrained(
    stream: BinaryIO, filename: str, *, source: str, actor: Actor, name: str = ""
) -> PretrainedModel:
    """Keep an uploaded checkpoint as a base model to train from, after reading it with the restricted loader.

    Uploading the same file again returns the base model it already is.

    Args:
        stream: The uploaded file (read from its current position in chunks).
        filename: The name the browser sent (kept for the record; must end in .pt).
        source: Where the checkpoint came from (e.g. "COCO-pretrained yolov8n.pt, ultralytics release 8.1").
        actor: Who uploads (needs the train permission).
        name: The name the Train page shows; default: the file's stem.

    Returns:
        The base model's record.

    Raises:
        AccessDeniedError: The actor may not train.
        BadInputError: Not a .pt, no source given, or the file is refused by `read_detection_checkpoint`.
    """
    authorize(actor, Permission.TRAIN, f"upload base model {cap_message(filename, 120)}")
    if Path(filename).suffix.lower() != ".pt":
        raise BadInputError(f"{cap_message(filename, 80)} is not a .pt file. Upload an ultralytics checkpoint (.pt).")
    source = source.strip()
    if not source:
        raise BadInputError("Say where the checkpoint comes from (a download page, a team, a project), for the record.")
    folder = pretrained_folder()
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".staging-{uuid.uuid4().hex}"  # swept at start-up if a crash leaves it behind
    staging.mkdir()
    incoming = staging / "upload.pt"  # ultralytics reads only files named .pt
    try:
        with incoming.open("xb") as out:
            shutil.copyfileobj(stream, out, length=1024 * 1024)
        names = read_detection_checkpoint(incoming, filename=filename)
        digest = file_sha256(incoming)
        with session_scope() as session:
            known = pretrained_store.find_pretrained_by_sha256(session=session, weights_sha256=digest)
        if known is not None and Path(known.weights_path).is_file():
            return known
        stem = _NAME_RE.sub("_", Path(filename).stem)[:60] or "base"
        final = folder / f"{digest[:16]}-{stem}.pt"
        incoming.replace(final)
        final.chmod(0o444)  # read-only: the recorded sha256 must keep matching
        with session_scope() as session:
            if known is not None:  # its file was removed by hand: the record points at the new copy
                return pretrained_store.repoint_pretrained_model(
                    session=session, model_id=known.id, weights_path=str(final.resolve())
                )
            return pretrained_store.add_pretrained_model(
                session=session,
                name=(name.strip() or Path(filename).stem)[:200],
                weights_path=str(final.resolve()),
                weights_sha256=digest,
                source=source[:500],
                original_filename=Path(filename).name,
                class_names=names,
                uploaded_by=actor.name,
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def list_pretrained() -> list[PretrainedModel]:
    """Every uploaded base model, newest first."""
    with session_scope() as session:
        return pretrained_store.list_pretrained_models(session=session)


def pretrained_starting_points() -> dict[str, str]:
    """The base models a console run may start from: `pretrained:<id>` -> a label for the Train page."""
    return {
        f"{PRETRAINED_PREFIX}{m.id}": f"{m.name} (base model #{m.id}, {len(m.class_names)} classes)"
        for m in list_pretrained()
    }


def find_pretrained(model: str) -> PretrainedModel | None:
    """The base model `model` names (`pretrained:<id>`, or its recorded weights path), if any."""
    text = str(model).strip()
    wanted = _PREFIX_RE.fullmatch(text)
    for known in list_pretrained():
        if (wanted and int(wanted.group(1)) == known.id) or text == known.weights_path:
            return known
    return None


def verified_pretrained_path(model: str) -> str | None:
    """The weights path of the base model `model` names, when its file is inside the workspace's runs folder and
    still has the sha256 recorded at upload; None when `model` names no base model.

    Raises:
        BadInputError: It names a base model whose file is gone or changed.
    """
    known = find_pretrained(model)
    if known is None:
        return None
    path = Path(known.weights_path).resolve()
    runs_root = get_settings().runs_dir.resolve()
    if path.is_relative_to(runs_root) and path.is_file() and file_sha256(path) == known.weights_sha256:
        return str(path)
    raise BadInputError(
        f"The base model {cap_message(known.name, 80)} (#{known.id}) changed or is gone since it was uploaded, so it "
        "is not loaded. Upload it again."
    )
