"""Embeddings cached per picture, so the Monitor (embedding drift, accuracy estimate) and active learning
(novelty, diversity) reuse what serving and fitting already computed instead of running the model again.

Layout: `<settings.cache_dir>/embeddings/<model key>/<sha256[:2]>/<sha256>.npz`, one small file per picture (a few
kB without the Gram statistics). The model key names the weights and the input size: a `.pt` and its ONNX export
share one key (the export records the `.pt`'s hash, `backend.training.export`), since both give the same
embedding. Writes are atomic (a temporary file renamed), so concurrent writers of one picture are harmless.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from backend.core.settings import get_settings
from backend.training.embeddings import Embedding


def model_key(weights_sha256: str, imgsz: int) -> str:
    """The cache key of a model: the first 16 hex digits of its `.pt`'s sha256 and its input size."""
    return f"{weights_sha256[:16]}-{imgsz}"


class EmbeddingCache:
    """Embeddings of one model's pictures by the sha256 of the picture's file."""

    def __init__(self, key: str, *, root: Path | None = None) -> None:
        self.key = key
        self.root = (root or get_settings().cache_dir / "embeddings") / key

    def _path(self, sha256: str) -> Path:
        if len(sha256) < 8 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / f"{sha256}.npz"

    def get(self, sha256: str) -> Embedding | None:
        """The cached embedding of a picture, or None (never computed, or unreadable)."""
        path = self._path(sha256)
        try:
            with np.load(path, allow_pickle=False) as data:
                return Embedding.from_arrays({name: data[name] for name in data.files})
        except (OSError, ValueError, KeyError):
            return None

    def put(self, sha256: str, embedding: Embedding) -> None:
        """Store a picture's embedding (atomically; an existing one is replaced)."""
        path = self._path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, allow_pickle=False, **embedding.to_arrays())
        tmp.replace(path)

    def get_or_embed(
        self,
        pictures: Sequence[tuple[str, Callable[[], Image.Image]]],
        embed: Callable[[list[Image.Image]], list[Embedding]],
    ) -> list[Embedding]:
        """Embeddings of pictures, computing (and caching) only the missing ones.

        Args:
            pictures: (sha256 of the file, a function that loads the picture) per picture.
            embed: Pictures to embeddings through the model (e.g. `Detector.embed`).

        Returns:
            One embedding per picture, in order.
        """
        found = [self.get(sha) for sha, _ in pictures]
        missing = [index for index, emb in enumerate(found) if emb is None]
        if missing:
            computed = embed([pictures[index][1]() for index in missing])
            for index, emb in zip(missing, computed, strict=True):
                self.put(pictures[index][0], emb)
                found[index] = emb
        return [emb for emb in found if emb is not None]
