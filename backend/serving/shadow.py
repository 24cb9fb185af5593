"""Shadow answers: a candidate model answers the same live Detect traffic in the background, apart from the log.

`backend.serving.service.detect_image` hands every logged answer to `schedule_shadow` after the row is stored; the
end user's answer never waits for the shadow. The work runs on one background thread (`ShadowQueue`) that:

- holds at most `MAX_PENDING` pictures: when the shadow falls behind, new pictures are dropped and counted as
  `skipped` instead of growing a queue (memory stays bounded and the figures say how much was not compared);
- runs at the lowest CPU priority (nice 19 on Linux, set on the thread itself; the runtime threads the shadow's model
  creates there inherit it), so on a small machine the end users' requests get the cores first;
- waits to start each picture until no end-user detection has run in this process for `QUIET_S` (`user_request`
  marks them), so the shadow's model call does not share the CPU, nor the interpreter's lock, with the answer
  someone is waiting for; under back-to-back traffic the shadow waits, and a picture that found no quiet moment in
  `_MAX_IDLE_WAIT_S` is skipped (counted). A request that arrives while the shadow's model call runs still shares
  the machine with it: bench/shadow.py measures that case.

Which model is in shadow, and its loaded detector, come from `resolve` (the service's `shadow_detector`), which is
called on the background thread: loading a model never happens on an end user's request.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from backend.serving.certainty import ask_score, find_calibration, sort_items
from backend.serving.familiarity import familiarity_check
from backend.serving.inference import Detector
from backend.serving.prediction import ModelAnswer
from backend.serving.served_model import ServingModel
from backend.store import shadow as shadow_store
from backend.store.engine import session_scope

logger = logging.getLogger(__name__)

MAX_PENDING = 4  # pictures waiting or running; more are skipped (counted), never queued
_IDLE_POLL_S = 0.005
QUIET_S = 0.05  # a shadow picture starts only after no end-user detection ran for this long (back-to-back traffic)
_MAX_IDLE_WAIT_S = 30.0  # a picture that found no quiet moment for this long is skipped, not run late forever

Resolver = Callable[[], tuple[ServingModel, Detector] | None]


@dataclass(frozen=True)
class ShadowStats:
    """What the shadow queue did since the process started.

    Attributes:
        submitted: Pictures handed to the shadow.
        answered: Shadow answers logged.
        skipped: Pictures dropped because the queue was full or no quiet moment came.
        failed: Pictures whose shadow answer raised (logged, never shown to the end user).
        pending: Pictures waiting or running now.
    """

    submitted: int
    answered: int
    skipped: int
    failed: int
    pending: int


class ShadowQueue:
    """A bounded, low-priority, one-thread executor for shadow work."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._counts = {"submitted": 0, "answered": 0, "skipped": 0, "failed": 0}
        self._pending = 0
        self._users = 0
        self._last_user_end = 0.0
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="plateops-shadow", initializer=_lower_priority
        )

    @contextlib.contextmanager
    def user_request(self) -> Iterator[None]:
        """Mark an end user's detection as running: shadow work does not start meanwhile."""
        with self._lock:
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                self._last_user_end = time.monotonic()

    def submit(self, work: Callable[[], bool]) -> bool:
        """Run `work` in the background when there is room; False (and one more `skipped`) when the queue is full.

        `work` returns True when it logged an answer, False when there was nothing to do (no shadow any more).
        """
        with self._lock:
            self._counts["submitted"] += 1
            if self._pending >= self._max_pending:
                self._counts["skipped"] += 1
                return False
            self._pending += 1
        self._pool.submit(self._run, work)
        return True

    def _run(self, work: Callable[[], bool]) -> None:
        outcome = "skipped"
        try:
            if self._wait_for_quiet():
                outcome = "answered" if work() else "skipped"
        except Exception:  # the shadow must never break serving; its failures are counted and logged
            logger.exception("A shadow answer failed")
            outcome = "failed"
        finally:
            with self._lock:
                self._counts[outcome] += 1
                self._pending -= 1
                self._idle.notify_all()

    def _wait_for_quiet(self) -> bool:
        deadline = time.monotonic() + _MAX_IDLE_WAIT_S
        while True:
            with self._lock:
                if self._users == 0 and time.monotonic() - self._last_user_end >= QUIET_S:
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(_IDLE_POLL_S)

    def stats(self) -> ShadowStats:
        """The counters now."""
        with self._lock:
            return ShadowStats(pending=self._pending, **self._counts)

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until no shadow work is pending (tests, the benchmark); False when `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)


def _lower_priority() -> None:
    """Give the shadow thread (and the threads it starts) the lowest CPU priority; a no-op where not supported."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # Linux: per thread


_queue = ShadowQueue()


def shadow_queue() -> ShadowQueue:
    """The process's shadow queue."""
    return _queue


def schedule_shadow(answer: ModelAnswer, prediction_id: int, *, resolve: Resolver) -> bool:
    """Have the model in shadow answer `answer`'s picture in the background and log its answer apart.

    Args:
        answer: Production's answer, already logged as `prediction_id` (its picture and thresholds are reused).
        prediction_id: The logged prediction the shadow answer is linked to.
        resolve: Gives the model in shadow and its loaded detector, or None when no model is in shadow; called on
            the background thread.

    Returns:
        True when the work was queued, False when the queue was full (counted as skipped).
    """
    return _queue.submit(lambda: answer_in_shadow(answer, prediction_id, resolve=resolve))


def answer_in_shadow(answer: ModelAnswer, prediction_id: int, *, resolve: Resolver) -> bool:
    """Run the shadow model on the picture and log its answer; False when no (other) model is in shadow."""
    resolved = resolve()
    if resolved is None:
        return False
    model, detector = resolved
    if model.cache_key == answer.model.cache_key:  # the shadow was promoted meanwhile: nothing to compare
        return False
    # Not `predict_picture`: the picture's features are production's (already logged), and the features thread is
    # the end users'; the shadow only needs its model's answer, with the same thresholds and familiarity rule.
    check = familiarity_check(detector)
    calibration = find_calibration(model)  # the shadow's items are chosen as production's are: calibrated, floored
    result = detector.predict(
        [answer.picture.image], conf=ask_score(calibration, answer.conf), iou=answer.iou, embed=check.model is not None
    )[0]
    familiar = check.judge(result.embedding).familiar
    kept = sort_items(result.detections, calibration, conf=answer.conf, class_thresholds=model.class_thresholds).shown
    detections = [det.as_dict() for det in kept] if familiar else []
    with session_scope() as session:
        shadow_store.add_shadow_prediction(
            session=session,
            prediction_id=prediction_id,
            model_id=model.model_id,
            run_id=model.run_id,
            model_label=model.log_label,
            detections=detections,
            latency_ms=result.latency_ms,
        )
    return True
