"""One settings object for the whole console, read from `PLATEOPS_*` environment variables.

Use `get_settings()` everywhere; tests call `get_settings.cache_clear()` after changing the environment.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """PlateOps settings. Every field can be set as `PLATEOPS_<FIELD>` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="PLATEOPS_", extra="ignore")

    home: Path = Field(default=Path("workspace"), description="Folder for everything the console writes.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default a SQLite file in home.")
    params_file: Path = Field(default=Path("params.yaml"), description="Hyperparameter defaults (DVC params).")

    # Jobs
    # A killed worker on this machine is seen at once (the runner checks its pid on every reap, which the pages
    # run every 2 s), so the heartbeat only has to catch a frozen worker or one on another machine. Its timeout
    # must outlast the store's busy timeout plus a missed beat: a heartbeat write may wait that long for a lock on
    # a loaded machine, and a slow write is not a dead worker (30 s + 5 s + 5 s margin = 40 s).
    heartbeat_interval_s: float = Field(default=5.0, gt=0, description="How often a worker writes a heartbeat.")
    heartbeat_timeout_s: float = Field(default=40.0, gt=0, description="A worker silent this long is failed.")
    store_busy_timeout_s: float = Field(
        default=30.0, gt=0, description="How long a SQLite write waits for another writer's lock."
    )
    job_concurrency: dict[str, int] = Field(
        default_factory=lambda: {"train": 1}, description="Most jobs of a kind that run at once."
    )
    default_job_concurrency: int = Field(default=2, ge=1, description="Limit for kinds not in job_concurrency.")
    # The watchdog: a worker alive but reporting no progress this long is stopped and failed (its slot freed).
    job_stall_timeout_s: dict[str, float] = Field(
        default_factory=lambda: {"train": 3600.0}, description="Longest a job of a kind may go without progress."
    )
    default_job_stall_timeout_s: float = Field(
        default=1800.0, gt=0, description="Longest a job may go without progress, for kinds not listed."
    )
    python_executable: str = Field(default=sys.executable, description="Interpreter that runs job workers.")

    # Training
    executor: Literal["local", "clearml-queue"] = Field(default="local", description="Where training runs.")
    clearml_queue: str = Field(default="default", description="ClearML queue for the clearml-queue executor.")
    clearml_project: str = Field(default="PlateOps", description="ClearML project that holds every run.")
    clearml_mode: Literal["auto", "offline", "online", "off"] = Field(
        default="auto", description="auto: online when clearml.conf or CLEARML_API_* exists, else offline."
    )

    # Data and uploads
    demo_images: int = Field(default=400, ge=10, description="Images in the demo dataset made on first start.")
    auto_demo: bool = Field(default=True, description="Generate the demo dataset on first start.")
    upload_max_mb: int = Field(default=25, ge=1, description="Largest image upload accepted on the Detect page.")
    max_image_pixels: int = Field(default=40_000_000, ge=1, description="Refuse images with more pixels.")
    archive_max_bytes: int = Field(default=20 * 1024**3, description="Largest total size an archive may expand to.")
    archive_max_members: int = Field(default=500_000, description="Most files an archive may hold.")
    secrets_file: Path = Field(
        default=Path(".streamlit") / "secrets.toml", description="Console users (password hashes) and OIDC login."
    )
    import_roots: str = Field(
        default="",
        description="Server folders the console may import from, separated by ':' (uploads are always allowed).",
    )
    dvc_remote: str | None = Field(default=None, description="DVC remote URL for versions; default a folder.")
    store_prediction_images: bool = Field(default=True, description="Keep a resized copy of detected images.")

    @model_validator(mode="after")
    def _heartbeat_outlasts_busy_writes(self) -> Settings:
        if self.heartbeat_timeout_s <= self.store_busy_timeout_s + self.heartbeat_interval_s:
            raise ValueError(
                f"heartbeat_timeout_s ({self.heartbeat_timeout_s:g}) must be longer than store_busy_timeout_s "
                f"({self.store_busy_timeout_s:g}) plus heartbeat_interval_s ({self.heartbeat_interval_s:g}), or a "
                "worker waiting for a database lock is taken for dead."
            )
        return self

    @property
    def db_url(self) -> str:
        """The database URL in force."""
        return self.database_url or f"sqlite:///{(self.home / 'plateops.db').resolve()}"

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def predictions_dir(self) -> Path:
        return self.home / "predictions"

    @property
    def clearml_dir(self) -> Path:
        return self.home / "clearml"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def import_root_paths(self) -> list[Path]:
        """The resolved folders the console may import from: the uploads folder and `import_roots`."""
        roots = [self.home / "uploads", *(Path(p) for p in self.import_roots.split(os.pathsep) if p.strip())]
        return [root.expanduser().resolve() for root in roots]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (cached; clear with `get_settings.cache_clear()`)."""
    return Settings()


def init_workspace(settings: Settings | None = None) -> Settings:
    """Create the workspace folders. Call explicitly at start-up, never at import."""
    settings = settings or get_settings()
    for folder in (
        settings.home,
        settings.datasets_dir,
        settings.runs_dir,
        settings.logs_dir,
        settings.reports_dir,
        settings.predictions_dir,
        settings.clearml_dir,
        settings.cache_dir,
    ):
        folder.mkdir(parents=True, exist_ok=True)
    return settings
