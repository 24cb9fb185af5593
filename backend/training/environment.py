"""The ultralytics environment of a training process: offline and quiet.

Nothing downloads: the font ultralytics wants for its plots is a copy of matplotlib's DejaVuSans; the AMP check that
would download yolo26n.pt is replaced by ultralytics' GPU blocklist when those weights are not on disk; run-time pip
installs are turned off; its own logger integrations (ClearML, Comet, DVC, MLflow, platform, analytics) are removed
from the trainer (`trainer_class()`) so that only PlateOps' tracking runs.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from backend.core.settings import Settings, get_settings
from backend.training.yolo import SAFE_LOAD_ENV, enable_safe_loading

_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
# ultralytics callback modules that log to outside services; PlateOps tracks runs itself.
_FOREIGN_CALLBACK_PREFIXES = ("ultralytics.utils.callbacks.", "ultralytics.utils.events", "ultralytics.hub")
_OWN_CALLBACK_MODULES = {"ultralytics.utils.callbacks.base"}


def resolve_device(device: str | int | None) -> str:
    """'auto' → '0' when CUDA is available, else 'cpu'; anything else is passed through as text."""
    text = "auto" if device is None else str(device).strip().lower()
    if text != "auto":
        return text
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def _place_fonts(config_dir: Path) -> None:
    """Put a font where ultralytics looks for Arial, so its plots never download one."""
    missing = [name for name in _FONT_NAMES if not (config_dir / name).is_file()]
    if not missing:
        return
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not source.is_file():
        return
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in missing:
        shutil.copyfile(source, config_dir / name)


def _plain_plot_text() -> None:
    """Draw every plot text as written: class names label ultralytics' plots (the confusion matrix evaluation
    always draws), and a `$` in a name would start matplotlib's mathtext, whose parser fails the whole evaluation
    on text that is not valid TeX. Imports refuse such names now; versions imported earlier may still hold them."""
    import matplotlib

    matplotlib.rcParams["text.parse_math"] = False


def init_ultralytics(settings: Settings | None = None) -> Path:
    """Prepare ultralytics for offline use in this process and return its config folder.

    Before ultralytics is first imported, points `YOLO_CONFIG_DIR` into the workspace cache (unless already set),
    so its settings.json never lands in the user's ~/.config; turns off run-time pip installs; places the plot
    font; and, in a config folder of our own, turns off ultralytics' analytics and logger integrations.

    Args:
        settings: The settings; None uses `get_settings()`.

    Returns:
        The ultralytics config folder in use.
    """
    settings = settings or get_settings()
    own_dir = False
    if "ultralytics" not in sys.modules and not os.environ.get("YOLO_CONFIG_DIR"):
        os.environ["YOLO_CONFIG_DIR"] = str((Path(settings.cache_dir) / "ultralytics").resolve())
        own_dir = True
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ[SAFE_LOAD_ENV] = "1"

    import ultralytics.utils as ul_utils
    import ultralytics.utils.checks as ul_checks

    enable_safe_loading()

    ul_checks.AUTOINSTALL = False  # the env var is read at import; this covers an earlier import
    config_dir = Path(ul_utils.USER_CONFIG_DIR)
    _place_fonts(config_dir)
    _plain_plot_text()
    home = Path(settings.home).resolve()
    if own_dir or home in config_dir.resolve().parents:
        wanted = dict.fromkeys(("sync", "clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb"), False)
        changes = {k: v for k, v in wanted.items() if k in ul_utils.SETTINGS and ul_utils.SETTINGS[k] != v}
        if changes:
            ul_utils.SETTINGS.update(changes)
    return config_dir


def _is_foreign(callback: Callable[..., Any]) -> bool:
    module = getattr(callback, "__module__", "") or ""
    return module.startswith(_FOREIGN_CALLBACK_PREFIXES) and module not in _OWN_CALLBACK_MODULES


def _strip_integrations(callbacks: dict[str, list[Callable[..., Any]]]) -> None:
    """Remove ultralytics' logger integrations (ClearML, Comet, DVC, MLflow, platform, analytics) in place."""
    for event, functions in callbacks.items():
        if any(_is_foreign(f) for f in functions):
            callbacks[event][:] = [f for f in functions if not _is_foreign(f)]


def _check_amp_without_download(model: Any) -> bool:
    """ultralytics' AMP check, but never downloading yolo26n.pt: without it, trust the GPU blocklist only."""
    from ultralytics.utils import LOGGER, WEIGHTS_DIR
    from ultralytics.utils import checks as ul_checks

    device = next(model.parameters()).device
    if device.type != "cuda" or (Path(WEIGHTS_DIR) / "yolo26n.pt").is_file():
        return ul_checks.check_amp(model)
    import re

    import torch

    name = torch.cuda.get_device_name(device)
    blocked = re.search(
        r"(nvidia|geforce|quadro|tesla).*?(1660|1650|1630|t400|t550|t600|t1000|t1200|t2000|k40m)", name, re.I
    )
    if blocked:
        LOGGER.warning("AMP disabled on %s: this GPU is known to give NaN losses with mixed precision.", name)
        return False
    LOGGER.info("AMP: numerical check skipped (it would download yolo26n.pt); mixed precision stays on.")
    return True


@lru_cache(maxsize=1)
def trainer_class() -> type:
    """A DetectionTrainer that runs only PlateOps' callbacks and never downloads for the AMP check."""
    import ultralytics.engine.trainer as trainer_module
    from ultralytics.models.yolo.detect import DetectionTrainer

    class PlateOpsTrainer(DetectionTrainer):
        """DetectionTrainer without third-party logger callbacks or downloads."""

        plateops_final_eval = False

        def run_callbacks(self, event: str) -> None:
            # integrations are appended in __init__ right before the first event runs; drop them before any runs
            _strip_integrations(self.callbacks)
            super().run_callbacks(event)

        def _setup_train(self) -> None:
            original = trainer_module.check_amp
            trainer_module.check_amp = _check_amp_without_download
            try:
                super()._setup_train()
            finally:
                trainer_module.check_amp = original

        def final_eval(self) -> None:
            self.plateops_final_eval = True
            try:
                super().final_eval()
            finally:
                self.plateops_final_eval = False

    return PlateOpsTrainer
