"""The PostgreSQL + PostGIS store against the embedded DuckDB store, in one run on the same fixes.

Imports N fixes (``--devices`` devices, one import transaction each, written in batches of 100,000 rows
as the readers write them) into a DuckDB file and into a fresh schema of a PostgreSQL database, then reads
one device's month from each through the public API, several times. Prints the times and the ratios
PostgreSQL / DuckDB (above 1: PostgreSQL is slower).

    python benchmarks/store_postgres.py [--fixes 2_000_000] [--devices 50]
        [--url postgresql://postgres@127.0.0.1:5432/test] [--keep]

The PostgreSQL schema (``hb_bench_...``) is dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

import hereabouts as hb

T0_US = 1_704_067_200_000_000  # 2024-01-01
BATCH_ROWS = 100_000


def device_fixes(d: int, n: int, step_s: int) -> pa.Table:
    """``n`` fixes of device ``d``, one every ``step_s``, wandering around a point of its own."""
    i = np.arange(n, dtype=np.int64)
    return pa.table(
        {
            "device": pa.array([f"device {d}"] * n, pa.string()),
            "t": pa.array(T0_US + i * step_s * 1_000_000).cast(pa.timestamp("us", tz="UTC")),
            "tz_offset_s": pa.nulls(n, pa.int32()),
            "lat": pa.array(48.0 + (d % 100) * 0.01 + np.sin(i / 50.0) * 0.01),
            "lon": pa.array(11.0 + (d // 100) * 0.01 + np.cos(i / 50.0) * 0.01),
            "accuracy_m": pa.array(np.full(n, 10.0)),
            "altitude_m": pa.nulls(n, pa.float64()),
            "speed_mps": pa.nulls(n, pa.float64()),
            "course_deg": pa.nulls(n, pa.float64()),
            "provider": pa.array(["gps"] * n, pa.string()),
        }
    )


def import_all(db: hb.Database, n_fixes: int, n_devices: int) -> float:
    per = n_fixes // n_devices
    step_s = max(1, 366 * 86_400 // per)  # each device spans about a year
    t0 = time.perf_counter()
    for d in range(n_devices):
        table = device_fixes(d, per, step_s)
        with db.store.begin_import(origin=f"bench {d}", checksum=str(d), options={}) as txn:
            new = sum(txn.write("fix", table.slice(o, BATCH_ROWS)) for o in range(0, per, BATCH_ROWS))
            txn.finish({"read": per, "fixes": new}, "bench")
        assert new == per, (new, per)
    return time.perf_counter() - t0


def month_read(db: hb.Database, n_devices: int, repeats: int) -> tuple[float, int]:
    """Median seconds to read one device's month (June), and its row count."""
    device = f"device {n_devices // 2}"
    start = datetime(2024, 6, 1, tzinfo=UTC)
    end = start + timedelta(days=30)
    times, rows = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        rows = db.fixes(device=device, start=start, end=end).num_rows
        times.append(time.perf_counter() - t0)
    return statistics.median(times), rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixes", type=int, default=2_000_000)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument(
        "--url",
        default=os.environ.get("HEREABOUTS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema and the DuckDB file")
    args = ap.parse_args()
    print(f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"{args.fixes:,} fixes, {args.devices} devices, one import transaction per device")

    schema = f"hb_bench_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in args.url else "?"
    tmp = Path(tempfile.mkdtemp(prefix="hereabouts-bench-"))
    results: dict[str, dict[str, float]] = {}
    for name, target in (("duckdb", str(tmp / "bench.db")), ("postgres", f"{args.url}{sep}schema={schema}")):
        db = hb.open(target)
        try:
            seconds = import_all(db, args.fixes, args.devices)
            month_s, month_rows = month_read(db, args.devices, args.repeats)
            results[name] = {"import_s": seconds, "month_s": month_s}
            print(
                f"{name:9s} import {seconds:7.1f} s ({args.fixes / seconds:9,.0f} fixes/s)   "
                f"one device's month: {month_rows:,} fixes in {month_s * 1000:7.1f} ms (median of {args.repeats})"
            )
        finally:
            db.close()
    pg, duck = results["postgres"], results["duckdb"]
    print(
        f"ratio postgres/duckdb: import {pg['import_s'] / duck['import_s']:.2f}x, month read {pg['month_s'] / duck['month_s']:.2f}x"
    )
    if not args.keep:
        import psycopg

        from hereabouts.store.postgres_store import split_schema

        with psycopg.connect(split_schema(args.url)[0], autocommit=True) as con:
            con.execute(f'DROP SCHEMA "{schema}" CASCADE')
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    main()
