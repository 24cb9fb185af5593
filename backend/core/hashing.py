"""SHA-256 of files: the registry records it for every model's weights and checks it before they are loaded."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks.

    Args:
        path: The file.

    Returns:
        64 lowercase hex characters.

    Raises:
        OSError: The file cannot be read.
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
