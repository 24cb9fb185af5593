"""Experiment tracking with ClearML: offline sessions by default, a server when one is configured.

Modes:
    offline  Every run is stored as a ClearML offline session under `settings.clearml_dir/offline/`:
             a folder `<task_id>/` (task.json, metrics.jsonl, log.jsonl, models/, data/) and `<task_id>.zip`.
             Import one into a server later with `import_command(session)`.
    online   Used when a server is configured: `~/clearml.conf`, `CLEARML_CONFIG_FILE`, `CLEARML_API_HOST` or
             `CLEARML_API_ACCESS_KEY`. Weights are uploaded as the task's output model.
    off      No tracking (`PLATEOPS_CLEARML_MODE=off`, or clearml not installed).

ClearML is an optional integration: if it cannot be imported or fails to start, training goes on and the run
records why tracking is off (`TrackingInfo.note`).

Ultralytics' own ClearML callback is not used (it crashes in offline mode when it logs the model); training
logs through `ClearMLRun` instead.

Scale-out: `enqueue_training` creates a ClearML task that runs `python -m jobs.train ...` with the same arguments
on a machine served by a ClearML agent. Start the agent on a GPU host, inside a checkout of this repository::

    pip install clearml-agent
    clearml-agent init                      # once: server address and credentials
    clearml-agent daemon --queue default    # serve the queue named in PLATEOPS_CLEARML_QUEUE
    # or in Docker: clearml-agent daemon --queue default --docker --gpus all
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.core.errors import PlateOpsError
from backend.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from backend.core.params import TrainConfig


class TrackingUnavailableError(PlateOpsError):
    """ClearML is needed (e.g. to enqueue a job) but no server is configured or clearml is missing."""


class TrackingMode(StrEnum):
    """Where tracking data goes."""

    OFFLINE = "offline"
    ONLINE = "online"
    OFF = "off"


@dataclass
class TrackingInfo:
    """What happened to tracking for one run (stored with the run)."""

    mode: str
    task_id: str | None = None
    session_dir: Path | None = None
    session_zip: Path | None = None
    web_url: str | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "mode": self.mode,
            "task_id": self.task_id,
            "session_dir": str(self.session_dir) if self.session_dir else None,
            "session_zip": str(self.session_zip) if self.session_zip else None,
            "web_url": self.web_url,
            "note": self.note,
        }


@dataclass(frozen=True)
class OfflineSession:
    """A ClearML offline session stored in the workspace."""

    task_id: str
    name: str
    project: str
    folder: Path
    zip_path: Path | None
    created: datetime
    tags: tuple[str, ...] = field(default_factory=tuple)
    size_bytes: int = 0


def server_configured() -> bool:
    """True when a ClearML server is configured (config file or API environment variables)."""
    if os.environ.get("CLEARML_API_HOST") or os.environ.get("CLEARML_API_ACCESS_KEY"):
        return True
    config_file = os.environ.get("CLEARML_CONFIG_FILE")
    if config_file:
        return Path(config_file).expanduser().is_file()
    return (Path.home() / "clearml.conf").is_file()


def detect_tracking_mode(settings: Settings | None = None) -> TrackingMode:
    """The tracking mode the settings ask for; `auto` means online when a server is configured, else offline."""
    settings = settings or get_settings()
    if settings.clearml_mode != "auto":
        return TrackingMode(settings.clearml_mode)
    return TrackingMode.ONLINE if server_configured() else TrackingMode.OFFLINE


def init_tracking(settings: Settings | None = None) -> TrackingMode:
    """Decide the tracking mode and point ClearML's cache (and so its offline sessions) into the workspace.

    Sets `CLEARML_CACHE_DIR=settings.clearml_dir` for this process, so offline sessions land in
    `settings.clearml_dir/offline/`, and keeps ClearML's session cache (`.session.json`) there instead of
    ~/.clearml. Call before `ClearMLRun.start()`; `ClearMLRun` calls it itself.

    Args:
        settings: The settings; None uses `get_settings()`.

    Returns:
        The mode in force: offline, online or off.
    """
    settings = settings or get_settings()
    clearml_dir = Path(settings.clearml_dir).resolve()
    clearml_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CLEARML_CACHE_DIR"] = str(clearml_dir)
    try:
        from clearml.config.cache import SessionCache

        # ClearML remembers its last task per project in ~/.clearml/.session.json; keep that in the workspace too
        SessionCache.SESSION_CACHE_FOLDER = str(clearml_dir)
    except ImportError:
        pass
    return detect_tracking_mode(settings)


def offline_dir(settings: Settings | None = None) -> Path:
    """The folder that holds the offline sessions."""
    settings = settings or get_settings()
    return Path(settings.clearml_dir).resolve() / "offline"


class ClearMLRun:
    """One tracked training run. Every method is safe to call when tracking is off or has failed.

    Example::

        run = ClearMLRun(settings, name="run-7", tags=["preset:quick_cpu"], hyperparams=cfg.model_dump(),
                         dataset_version="v3").start()
        run.log_scalars(1, {"metrics": {"mAP50": 0.4}})
        run.log_model(Path("RUN/weights/best.pt"))
        info = run.close()   # info.session_zip: the offline session to import later
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        name: str,
        tags: Sequence[str] = (),
        hyperparams: Mapping[str, Any] | None = None,
        dataset_version: str | None = None,
        project: str | None = None,
        mode: TrackingMode | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.name = name
        extra = [f"dataset:{dataset_version}"] if dataset_version else []
        self.tags = list(dict.fromkeys([*(str(t) for t in tags), *extra]))  # unique, in order
        self.hyperparams = dict(hyperparams or {})
        self.dataset_version = dataset_version
        self.project = project or self.settings.clearml_project
        self._requested_mode = mode
        self.info = TrackingInfo(mode=TrackingMode.OFF.value)
        self._task: Any = None
        self._closed = False

    @property
    def active(self) -> bool:
        """True while a ClearML task is open."""
        return self._task is not None and not self._closed

    def start(self) -> ClearMLRun:
        """Create the ClearML task; on any failure, record why and carry on without tracking."""
        detected = init_tracking(self.settings)
        mode = self._requested_mode or detected
        if mode is TrackingMode.OFF:
            self.info = TrackingInfo(mode="off", note="ClearML tracking is turned off in the settings.")
            return self
        try:
            from clearml import Task
        except ImportError as exc:
            self.info = TrackingInfo(mode="off", note=f"ClearML is not installed ({exc}); tracking is off.")
            return self
        if not os.environ.get("CLEARML_TASK_ID"):
            # A parent process that had a ClearML task (a test run, a notebook) leaves its process id here; ClearML
            # would then treat this process as its child and hand back a stub or the parent's task. Under
            # clearml-agent (CLEARML_TASK_ID set) the variables are kept.
            for name in ("CLEARML_PROC_MASTER_ID", "TRAINS_PROC_MASTER_ID"):
                if os.environ.get(name, "").split(":")[0] not in ("", str(os.getpid())):
                    os.environ.pop(name, None)
        try:
            # ClearML reports from a forked helper process by default on Linux. Forking a process that already runs
            # torch and ClearML threads can deadlock (seen here: a jobs.train run hung on a futex at start), so
            # report from threads in this process instead.
            # ClearML types this deferred setting as its lazy wrapper, but reads it as a plain bool.
            Task._report_subprocess_enabled = False  # type: ignore[assignment]  # pylint: disable=protected-access
            Task.set_offline(mode is TrackingMode.OFFLINE)
            task: Task = Task.init(
                project_name=self.project,
                task_name=self.name,
                task_type=Task.TaskTypes.training,
                tags=self.tags,
                reuse_last_task_id=False,
                continue_last_task=False,
                output_uri=True if mode is TrackingMode.ONLINE else None,
                auto_connect_arg_parser=False,
                auto_connect_frameworks=False,
                auto_resource_monitoring=mode is TrackingMode.ONLINE,
                # Online, the server shows the console; offline, the job's own log file already holds it, and
                # mirroring every progress-bar redraw into the session measurably slowed CPU training.
                auto_connect_streams=(
                    {"stdout": True, "stderr": True, "logging": False} if mode is TrackingMode.ONLINE else False
                ),
            )
            if self.hyperparams:
                task.connect(_plain(self.hyperparams), name="train")
            if self.dataset_version:
                task.set_parameter("dataset/version", self.dataset_version, description="PlateOps dataset version")
        except Exception as exc:  # noqa: BLE001 - optional integration: any failure leaves training untouched
            self.info = TrackingInfo(mode="off", note=f"ClearML could not start ({exc}); tracking is off.")
            return self
        self._task = task
        self.info = TrackingInfo(mode=mode.value, task_id=str(task.id))
        if mode is TrackingMode.OFFLINE:
            folder = _guard(task.get_offline_mode_folder)
            self.info.session_dir = Path(folder) if isinstance(folder, (str, os.PathLike)) else None
            if self.info.session_dir is None:
                self.info.note = "ClearML attached this run to another process's task; no offline session of its own."
        else:
            self.info.web_url = _guard(task.get_output_log_web_page)
        return self

    def __enter__(self) -> ClearMLRun:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def log_scalars(self, iteration: int, scalars: Mapping[str, Mapping[str, float | None]]) -> None:
        """Report scalars as `{title: {series: value}}` at `iteration`; None values are skipped."""
        if not self.active:
            return
        logger = self._task.get_logger()
        for title, series in scalars.items():
            for name, value in series.items():
                if value is not None:
                    _guard(logger.report_scalar, title=title, series=name, value=float(value), iteration=iteration)

    def log_values(self, values: Mapping[str, float | None]) -> None:
        """Report single summary values (shown in the task's summary table)."""
        if not self.active:
            return
        logger = self._task.get_logger()
        for name, value in values.items():
            if value is not None:
                _guard(logger.report_single_value, name=name, value=float(value))

    def log_evaluation(self, summary: Mapping[str, Any], iteration: int = 0) -> None:
        """Report final plots from an evaluation summary (see `backend.training.evaluation`).

        Args:
            summary: Mapping with `per_class` ({name: {"ap50", "ap50_95"}}), optionally `pr_curve`
                ({name: {"recall": [...], "precision": [...]}}) and `confusion_matrix` ({"names", "matrix"}).
            iteration: Iteration the plots belong to (usually the last epoch).
        """
        if not self.active:
            return
        logger = self._task.get_logger()
        per_class = summary.get("per_class") or {}
        if per_class:
            names = list(per_class)
            for series, key in (("AP50", "ap50"), ("AP50-95", "ap50_95")):
                _guard(
                    logger.report_histogram,
                    title="Per-class AP",
                    series=series,
                    values=[float(per_class[n][key]) for n in names],
                    iteration=iteration,
                    xlabels=names,
                    xaxis="class",
                    yaxis=series,
                )
        for name, curve in (summary.get("pr_curve") or {}).items():
            points = list(zip(curve.get("recall", []), curve.get("precision", []), strict=False))
            if points:
                _guard(
                    logger.report_scatter2d,
                    title="Precision-recall curve",
                    series=name,
                    scatter=points,
                    iteration=iteration,
                    xaxis="recall",
                    yaxis="precision",
                    mode="lines",
                )
        matrix = summary.get("confusion_matrix") or {}
        if matrix.get("matrix"):
            _guard(
                logger.report_confusion_matrix,
                title="Confusion matrix",
                series="val",
                matrix=matrix["matrix"],
                iteration=iteration,
                xlabels=matrix.get("names"),
                ylabels=matrix.get("names"),
                xaxis="true",
                yaxis="predicted",
            )

    def log_model(self, weights: Path, name: str | None = None) -> None:
        """Register `weights` (e.g. best.pt) as the task's output model (copied into the offline session)."""
        if not self.active or not Path(weights).is_file():
            return
        try:
            from clearml import OutputModel

            model = OutputModel(task=self._task, name=name or f"{self.name} best", framework="PyTorch", tags=self.tags)
            try:
                model.update_weights(weights_filename=str(weights), auto_delete_file=False)
            except AttributeError:
                # clearml 2.1.x offline mode: update_weights checks `published` on a DummyModel that lacks
                # `locked` and raises before reaching its own offline branch; call that branch directly.
                if not self._task.is_offline():
                    raise
                model._update_weights_offline(weights_filename=str(weights))  # pylint: disable=protected-access
        except Exception as exc:  # noqa: BLE001 - optional integration
            self.info.note = _join(self.info.note, f"Model not registered in ClearML ({exc}).")

    def close(self) -> TrackingInfo:
        """Close the task (writes the offline session zip) and return what was tracked."""
        if self._task is None or self._closed:
            return self.info
        self._closed = True
        try:
            self._task.close()
        except Exception as exc:  # noqa: BLE001 - optional integration
            self.info.note = _join(self.info.note, f"ClearML did not close cleanly ({exc}).")
        if self.info.session_dir is not None:
            zip_path = Path(str(self.info.session_dir) + ".zip")
            self.info.session_zip = zip_path if zip_path.is_file() else None
        return self.info


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values ClearML can store as parameters (paths and enums as text)."""
    return {k: v if isinstance(v, (int, float, str, bool)) or v is None else str(v) for k, v in values.items()}


def _guard(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call an optional-integration function; tracking problems never stop training."""
    try:
        return fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - optional integration
        return None


def _join(first: str, second: str) -> str:
    return f"{first} {second}".strip()


def list_offline_sessions(settings: Settings | None = None) -> list[OfflineSession]:
    """The offline sessions stored in the workspace, newest first.

    Args:
        settings: The settings; None uses `get_settings()`.

    Returns:
        One entry per `settings.clearml_dir/offline/<task_id>/task.json`.
    """
    root = offline_dir(settings)
    if not root.is_dir():
        return []
    sessions = []
    for task_json in root.glob("*/task.json"):
        folder = task_json.parent
        try:
            data = json.loads(task_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        zip_path = folder.with_name(folder.name + ".zip")
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        sessions.append(
            OfflineSession(
                task_id=str(data.get("id") or folder.name),
                name=str(data.get("name") or folder.name),
                project=str(data.get("project_name") or ""),
                folder=folder,
                zip_path=zip_path if zip_path.is_file() else None,
                created=datetime.fromtimestamp(task_json.stat().st_mtime, tz=UTC),
                tags=tuple(data.get("tags") or ()),
                size_bytes=size,
            )
        )
    return sorted(sessions, key=lambda s: s.created, reverse=True)


def import_command(session: OfflineSession) -> str:
    """The shell command that imports an offline session into the configured ClearML server.

    The same in Python: `from clearml import Task; Task.import_offline_session("<zip or folder>")`.

    Args:
        session: An entry from `list_offline_sessions`.

    Returns:
        e.g. `clearml-task --import-offline-session /abs/workspace/clearml/offline/offline-1a2b.zip`
    """
    target = session.zip_path or session.folder
    return f"clearml-task --import-offline-session {shlex.quote(str(target))}"


def build_train_argv(
    cfg: TrainConfig,
    *,
    data_yaml: Path | str,
    out_dir: Path | str,
    run_name: str,
    tags: Sequence[str] = (),
    dataset_version: str | None = None,
) -> list[str]:
    """The `python -m jobs.train` arguments that reproduce `cfg` exactly (every setting spelled out).

    Args:
        cfg: The training configuration.
        data_yaml: The dataset's data.yaml as the executing machine sees it.
        out_dir: The run folder on the executing machine.
        run_name: The run's name.
        tags: Extra ClearML tags.
        dataset_version: The dataset version id, if any.

    Returns:
        The argument list (without `python -m jobs.train`).
    """
    argv = [
        "--data",
        str(data_yaml),
        "--out",
        str(out_dir),
        "--name",
        run_name,
        "--model",
        cfg.model,
        "--epochs",
        str(cfg.epochs),
        "--imgsz",
        str(cfg.imgsz),
        "--batch",
        str(cfg.batch),
        "--device",
        cfg.device,
    ]
    if dataset_version:
        argv += ["--dataset-version", dataset_version]
    for tag in tags:
        argv += ["--tag", str(tag)]
    skip = {"model", "epochs", "imgsz", "batch", "device", "resume"}
    for key, value in cfg.model_dump().items():
        if key not in skip:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            argv += ["--set", f"{key}={text}"]
    if cfg.resume:
        argv.append("--resume")
    return argv


def enqueue_training(
    cfg: TrainConfig,
    *,
    data_yaml: Path | str,
    run_name: str,
    queue: str | None = None,
    out_dir: Path | str | None = None,
    tags: Sequence[str] = (),
    dataset_version: str | None = None,
    settings: Settings | None = None,
) -> str:
    """Create a ClearML task that runs `python -m jobs.train` with `cfg`, and put it on a queue.

    The agent host needs a checkout of this repository (ClearML records the git remote and commit), the
    dataset at `data_yaml`, and `clearml-agent daemon --queue <queue>` running (see the module docstring).

    Args:
        cfg: The training configuration.
        data_yaml: The data.yaml path as the agent host sees it.
        run_name: Task name.
        queue: ClearML queue; None uses `settings.clearml_queue`.
        out_dir: Run folder on the agent host; None is `runs/<run_name>` in the checkout.
        tags: Extra tags.
        dataset_version: Dataset version id (tag and parameter).
        settings: The settings; None uses `get_settings()`.

    Returns:
        The ClearML task id.

    Raises:
        TrackingUnavailableError: No ClearML server is configured, clearml is missing, or the server refused.
    """
    settings = settings or get_settings()
    if detect_tracking_mode(settings) is not TrackingMode.ONLINE:
        raise TrackingUnavailableError(
            "Enqueuing on a ClearML queue needs a ClearML server: run `clearml-init` (or set CLEARML_API_HOST, "
            "CLEARML_API_ACCESS_KEY and CLEARML_API_SECRET_KEY) and set PLATEOPS_CLEARML_MODE to auto or online."
        )
    try:
        from clearml import Task
    except ImportError as exc:
        raise TrackingUnavailableError(f"ClearML is not installed ({exc}); install clearml to use queues.") from exc
    queue = queue or settings.clearml_queue
    argv = build_train_argv(
        cfg,
        data_yaml=data_yaml,
        out_dir=out_dir or Path("runs") / run_name,
        run_name=run_name,
        tags=tags,
        dataset_version=dataset_version,
    )
    repo_root = Path(__file__).resolve().parents[2]
    requirements = repo_root / "requirements.txt"
    try:
        Task.set_offline(False)
        task: Task = Task.create(
            project_name=settings.clearml_project,
            task_name=run_name,
            task_type="training",
            module="jobs.train " + shlex.join(argv),
            working_directory=".",
            requirements_file=str(requirements) if requirements.is_file() else None,
            add_task_init_call=False,
        )
        task.add_tags([*tags, *([f"dataset:{dataset_version}"] if dataset_version else [])])
        Task.enqueue(task, queue_name=queue)
    except Exception as exc:
        raise TrackingUnavailableError(f"Could not enqueue the training on ClearML queue '{queue}': {exc}") from exc
    return str(task.id)
