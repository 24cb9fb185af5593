"""The public Detect app's upload limit is set where Streamlit enforces it (before an upload reaches memory), not
only checked by the page after a 2 GB upload was taken in."""

from __future__ import annotations

import pytest

from backend.core.settings import Settings, get_settings
from ui.launch import upload_limit_options


def test_detect_only_app_refuses_big_uploads_at_the_server(workspace: Settings, monkeypatch: pytest.MonkeyPatch):
    assert upload_limit_options([], detect_only=True) == ["--server.maxUploadSize", "25"]
    monkeypatch.setenv("PLATEOPS_UPLOAD_MAX_MB", "8")
    get_settings.cache_clear()
    assert upload_limit_options(["--server.port", "9"], detect_only=True) == ["--server.maxUploadSize", "8"]
    assert upload_limit_options(["--server.maxUploadSize=4"], detect_only=True) == [], "an explicit option wins"
    assert upload_limit_options([], detect_only=False) == [], "the console keeps its archive limit"
