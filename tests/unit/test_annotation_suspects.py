"""cleanlab label-quality scores on known errors: a swapped class, a missing box and a shifted box rank below
clean images, each with the right kind of error named."""

from __future__ import annotations

import numpy as np

from backend.annotation.suspects import ImageBoxes, Suspect, score_label_quality


def _truth(rng: np.random.Generator) -> ImageBoxes:
    boxes, classes = [], []
    for k in range(3):
        x, y = 40 + 150 * k + rng.uniform(-5, 5), 60 + rng.uniform(-5, 5)
        boxes.append([x, y, x + 90, y + 80])
        classes.append(int(rng.integers(0, 4)))
    return ImageBoxes(np.array(boxes), np.array(classes))


def test_planted_errors_score_lowest_with_the_right_kind() -> None:
    rng = np.random.default_rng(0)
    truths = [_truth(rng) for _ in range(12)]
    predictions = [ImageBoxes(t.boxes + rng.normal(0, 1, t.boxes.shape), t.classes, np.full(3, 0.98)) for t in truths]
    labels = list(truths)
    swapped = truths[3].classes.copy()
    swapped[1] = (swapped[1] + 1) % 4
    labels[3] = ImageBoxes(truths[3].boxes, swapped)
    labels[7] = ImageBoxes(truths[7].boxes[:2], truths[7].classes[:2])  # a box dropped
    shifted = truths[9].boxes.copy()
    shifted[0] += [60, 50, 60, 50]
    labels[9] = ImageBoxes(shifted, truths[9].classes)

    scores, worst = score_label_quality(labels, predictions, n_classes=4)
    assert scores.shape == (12,) and np.all((scores >= 0) & (scores <= 1))
    assert set(np.argsort(scores)[:3].tolist()) == {3, 7, 9}
    assert worst[3] == ("swap", int(swapped[1]))
    assert worst[7] == ("overlooked", int(truths[7].classes[2]))
    reason = Suspect("a.jpg", 0.12, "swap", "apple").reason
    assert reason == "Label quality 0.12: a box may have the wrong class (apple)."


def test_a_lower_sure_threshold_finds_errors_behind_modest_confidences() -> None:
    rng = np.random.default_rng(1)
    truths = [_truth(rng) for _ in range(10)]
    predictions = [ImageBoxes(t.boxes, t.classes, np.full(3, 0.8)) for t in truths]
    labels = list(truths)
    labels[4] = ImageBoxes(truths[4].boxes[1:], truths[4].classes[1:])
    default, _ = score_label_quality(labels, predictions, n_classes=4)
    tuned, worst = score_label_quality(labels, predictions, n_classes=4, high_probability_threshold=0.5)
    assert int(np.argmin(tuned)) == 4 and worst[4][0] == "overlooked"
    assert tuned[4] < default[4]
