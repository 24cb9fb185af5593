"""Concurrent end users: N sessions send a photo at the same moment; every answer must arrive and be logged once.

Each session is a thread calling the Detect page's own backend call (`serving.service.detect_image`: load, predict,
draw, log) on its own photo, all released together by a barrier, against a fresh workspace whose production model
is served through its ONNX export (onnxruntime; no lock around the model call). For 1, 8, 16 and 32 sessions the
bench reports the median and p95 answer time and p95 / the single session's time, and checks that the prediction log
holds exactly one row per photo. The browser and nginx legs are measured by tests/e2e/test_detect_replicas.py for
correctness only (a Chromium per session would measure Chromium on 2 cores, not the server).

Run: python -m bench.concurrency --weights W.pt [--sessions 1 8 16 32] [--rounds 3] [--write]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.report import table, write_section


def _photo(seed: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def run_round(sessions: int, detector: object, model: object, offset: int) -> tuple[list[float], list[int]]:
    """One round: `sessions` threads detect at once; their answer times (ms) and logged prediction ids."""
    from backend.serving.service import detect_image

    photos = [_photo(offset + i) for i in range(sessions)]
    barrier = threading.Barrier(sessions)
    times: list[float] = [0.0] * sessions
    ids: list[int] = [0] * sessions

    def session(index: int) -> None:
        barrier.wait()
        start = time.perf_counter()
        outcome = detect_image(
            photos[index], name=f"plate-{offset + index}.jpg", detector=detector, model=model, store_images=False
        )
        times[index] = (time.perf_counter() - start) * 1000
        ids[index] = outcome.prediction_id

    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 16, 32])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["PLATEOPS_HOME"] = home
        os.environ["PLATEOPS_AUTO_DEMO"] = "false"
        from backend.console.bootstrap import start_console
        from backend.serving.inference import Detector
        from backend.serving.served_model import ServingModel
        from backend.store import predictions as prediction_store
        from backend.store.engine import session_scope
        from backend.training.export import export_onnx

        start_console()
        onnx = export_onnx(args.weights, imgsz=args.imgsz, out=Path(home) / "served.onnx")
        detector = Detector.load(onnx)
        model = ServingModel(
            model_id=None, run_id=None, name="bench", label="bench model", weights=onnx, kind="onnx", production=False
        )
        rows: list[tuple[str, ...]] = []
        single = None
        offset = 0
        for sessions in args.sessions:
            times: list[float] = []
            ids: list[int] = []
            for _ in range(args.rounds):
                got_times, got_ids = run_round(sessions, detector, model, offset)
                offset += sessions
                times += got_times
                ids += got_ids
            p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
            single = single or statistics.median(times)
            with session_scope() as session:
                logged = [p.id for p in prediction_store.list_predictions(session=session, limit=100_000)]
            once = all(logged.count(i) == 1 for i in ids) and len(set(ids)) == len(ids)
            rows.append(
                (
                    str(sessions),
                    f"{statistics.median(times):.0f}",
                    f"{p95:.0f}",
                    f"{p95 / single:.2f}",
                    f"{len(ids)}/{sessions * args.rounds}",
                    "yes" if once else "NO",
                )
            )
    text = table(rows, ("sessions at once", "median ms", "p95 ms", "p95 × one session", "answers", "logged once"))
    conditions = (
        f"{args.weights} served as ONNX at {args.imgsz} px through detect_image (load, predict, draw, log to SQLite), "
        f"{args.rounds} rounds per size, 640×480 JPEG photos, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end. Goal: 32 sessions with p95 ≤ 3× one session."
    )
    print(conditions)
    print(text)
    if args.write:
        write_section("Concurrent end users (bench/concurrency.py)", conditions + "\n\n" + text)


if __name__ == "__main__":
    main()
