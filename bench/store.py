"""Store benchmark: 10,000 predictions inserted, and the latest 100 jobs listed while a worker writes heartbeats.

Run: python -m bench.store [--postgres URL]   (PLATEOPS_TEST_POSTGRES_URL is used when set)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.report import table, write_section

N_PREDICTIONS = 10_000
LIST_REPEATS = 200


def _prediction(i: int) -> dict:
    return {
        "image_name": f"img_{i:05d}.jpg",
        "features": {"brightness": 120.0 + i % 50, "contrast": 40.0, "sharpness": 300.0, "width": 640, "height": 480},
        "detections": [{"class": "apple", "confidence": 0.9, "box": [10.0, 20.0, 110.0, 140.0]}] * (i % 4),
        "latency_ms": 50.0 + i % 20,
        "conf": 0.25,
        "iou": 0.45,
    }


def _heartbeat_writer(url: str, job_ids: list[int], stop, interval_s: float) -> None:
    from backend.core.clock import utcnow
    from backend.store import jobs as job_store
    from backend.store.engine import session_scope

    while not stop.is_set():
        for job_id in job_ids:
            with session_scope(url) as session:
                beat = job_store.JobUpdate(heartbeat_at=utcnow(), progress=0.5, message="beat")
                job_store.update_job(session=session, job_id=job_id, changes=beat)
        time.sleep(interval_s)


def _list_latency(url: str) -> list[float]:
    from backend.store import jobs as job_store
    from backend.store.engine import session_scope

    times = []
    for _ in range(LIST_REPEATS):
        t0 = time.perf_counter()
        with session_scope(url) as session:
            jobs = job_store.list_jobs(session=session, limit=100)
        times.append((time.perf_counter() - t0) * 1000)
        assert len(jobs) == 100
    return times


def bench(url: str) -> dict[str, float]:
    from backend.core.enums import JobStatus
    from backend.store import jobs as job_store
    from backend.store import predictions as prediction_store
    from backend.store.engine import init_db, session_scope

    init_db(url)
    out: dict[str, float] = {}
    # One transaction per prediction: what the Detect page does for each photo.
    t0 = time.perf_counter()
    for i in range(N_PREDICTIONS):
        with session_scope(url) as session:
            prediction_store.add_prediction(session=session, **_prediction(i))
    out["insert_each_s"] = time.perf_counter() - t0
    # One statement for all: what batch detection does.
    t0 = time.perf_counter()
    with session_scope(url) as session:
        prediction_store.add_predictions_bulk(session=session, records=[_prediction(i) for i in range(N_PREDICTIONS)])
    out["insert_bulk_s"] = time.perf_counter() - t0

    with session_scope(url) as session:
        job_ids = [job_store.create_job(session=session, kind="train", params={"i": i}).id for i in range(300)]
        for job_id in job_ids[-4:]:
            job_store.update_job(session=session, job_id=job_id, changes=job_store.JobUpdate(status=JobStatus.RUNNING))
    idle = _list_latency(url)
    ctx = mp.get_context("spawn")  # a fresh process with its own connections, like a real worker
    stop = ctx.Event()
    writer = ctx.Process(target=_heartbeat_writer, args=(url, job_ids[-4:], stop, 0.01), daemon=True)
    writer.start()
    time.sleep(0.5)
    busy = _list_latency(url)
    stop.set()
    writer.join(10)
    out["list_idle_p50_ms"] = statistics.median(idle)
    out["list_busy_p50_ms"] = statistics.median(busy)
    out["list_busy_p95_ms"] = statistics.quantiles(busy, n=20)[18]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", default=os.environ.get("PLATEOPS_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite (WAL)"] = bench(f"sqlite:///{Path(tmp) / 'bench.db'}")
    if args.postgres:
        import sqlalchemy as sa

        engine = sa.create_engine(args.postgres)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench"))
        sep = "&" if "?" in args.postgres else "?"
        results["PostgreSQL"] = bench(f"{args.postgres}{sep}options=-csearch_path%3Dbench")
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA bench CASCADE"))
    rows = []
    for name, r in results.items():
        rows.append(
            (
                name,
                f"{N_PREDICTIONS / r['insert_each_s']:,.0f}/s",
                f"{N_PREDICTIONS / r['insert_bulk_s']:,.0f}/s",
                f"{r['insert_each_s'] / r['insert_bulk_s']:.1f}×",
                f"{r['list_idle_p50_ms']:.2f} ms",
                f"{r['list_busy_p50_ms']:.2f} ms (p95 {r['list_busy_p95_ms']:.2f})",
                f"{r['list_busy_p50_ms'] / r['list_idle_p50_ms']:.2f}",
            )
        )
    body = (
        "## Store (`bench/store.py`)\n\n"
        f"{N_PREDICTIONS:,} predictions inserted one transaction each (the Detect page) and in one bulk statement "
        "(batch detection); the latest 100 of 300 jobs listed 200 times idle, then while another process writes "
        "heartbeats for 4 running jobs every 10 ms. Goal: listing under load ≤ 2× idle.\n\n"
        + table(
            rows, ("store", "insert each", "insert bulk", "each/bulk", "list idle p50", "list under load", "load/idle")
        )
    )
    write_section("store", body)
    print(f"Store benchmark written to BENCHMARKS.md ({', '.join(results)})")


if __name__ == "__main__":
    main()
