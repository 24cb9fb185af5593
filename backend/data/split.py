"""The deterministic, class-stratified train/val split of a prepared dataset (`stratified_split`)."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from functools import partial


def _half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _donor_rank(name: str, *, left: Counter[int], images: dict[str, set[int]]) -> tuple[bool, int, str]:
    """Sort key for an image to move to the other side: one that leaves its other classes 2+ there first, then few."""
    return (not all(left[c] >= 2 for c in images[name]), len(images[name]), name)


def stratified_split(images: dict[str, set[int]], *, val_fraction: float, seed: int) -> dict[str, str]:
    """Split images into train and val, deterministically and stratified by class.

    Each image is grouped by its rarest class (fewest images; background images form their own group); every
    group is shuffled with `random.Random(seed)` (groups in sorted order, members sorted first) and its first
    round(val_fraction × size) members go to val. With two or more images at least one goes to val. Then every
    class with two or more images that is missing from val (or from train) gets one image moved over, choosing an
    image whose move keeps all its other classes on the side it leaves.

    Args:
        images: {image name: set of class ids in it}.
        val_fraction: Share of each group for val (0 < f < 1).
        seed: Seed of the shuffle.

    Returns:
        {image name: "train" or "val"}.
    """
    if not images:
        return {}
    class_count: Counter[int] = Counter(c for classes in images.values() for c in classes)
    groups: dict[int, list[str]] = defaultdict(list)
    for name in sorted(images):
        classes = images[name]
        key = min(classes, key=lambda c: (class_count[c], c)) if classes else -1
        groups[key].append(name)
    rng = random.Random(seed)
    split: dict[str, str] = {}
    for key in sorted(groups):
        members = groups[key]
        rng.shuffle(members)
        n_val = _half_up(val_fraction * len(members))
        for index, name in enumerate(members):
            split[name] = "val" if index < n_val else "train"
    if len(images) >= 2 and "val" not in split.values():
        largest = max(sorted(groups), key=lambda k: len(groups[k]))
        split[groups[largest][0]] = "val"
    if len(images) >= 2 and "train" not in split.values():
        largest = max(sorted(groups), key=lambda k: len(groups[k]))
        split[groups[largest][-1]] = "train"
    for side, other in (("val", "train"), ("train", "val")):
        present: Counter[int] = Counter(c for n, s in split.items() if s == side for c in images[n])
        left: Counter[int] = Counter(c for n, s in split.items() if s == other for c in images[n])
        for cls in sorted(class_count):
            if class_count[cls] < 2 or present[cls] > 0:
                continue
            candidates = sorted(
                (n for n, s in split.items() if s == other and cls in images[n]),
                key=partial(_donor_rank, left=left, images=images),
            )
            if not candidates:
                continue
            chosen = candidates[0]
            split[chosen] = side
            for c in images[chosen]:
                present[c] += 1
                left[c] -= 1
    return split
