"""Reading one device's month from a large store must not scan the whole fix table.

Builds a store of N fixes (default 100M: 1,000 devices x 100,000 fixes, one every 5 minutes for
about a year) in the layout imports write (each batch sorted by device and time), then reads one
device's month through the public API and compares with a full scan of the same table.

    python benchmarks/store.py [--fixes 100_000_000] [--keep PATH]

Prints the row groups and rows the query touched (from DuckDB's profiler), the time of the month read
and of a full scan, and their ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import hereabouts as hb


def build(path: Path, n_fixes: int, n_devices: int) -> None:
    db = hb.open(path)
    con = db.store.con  # type: ignore[attr-defined]
    per = n_fixes // n_devices
    step_s = max(1, 366 * 86_400 // per)  # each device spans about a year
    t0 = time.perf_counter()
    con.execute("BEGIN")
    con.execute("INSERT INTO entities (name) SELECT 'entity ' || i FROM range(?) r(i)", [n_devices])
    con.execute(
        "INSERT INTO devices (name, entity_id) SELECT 'device ' || (entity_id - 1), entity_id FROM entities"
    )
    con.execute(
        "INSERT INTO sources (source_id, kind, origin, imported_at) VALUES (1, 'synthetic', 'bench', now())"
    )
    # device by device, as per-device imports write it (each batch sorted by device and time)
    step = max(1, 50_000_000 // per)
    for d0 in range(0, n_devices, step):
        con.execute(
            f"""
            INSERT INTO fixes
            SELECT d + 1, TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i * {step_s}),
                   NULL, 48.0 + (d % 100) * 0.01 + sin(i / 50.0) * 0.01, 11.0 + (d // 100) * 0.01 + cos(i / 50.0) * 0.01,
                   10.0, NULL, NULL, NULL, 'gps', 1
            FROM range({d0}, {min(d0 + step, n_devices)}) a(d), range({per}) b(i)
            ORDER BY d, i
            """
        )
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    db.close()
    print(f"built {n_fixes:,} fixes in {time.perf_counter() - t0:.1f} s")


def profile(con, sql: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Row groups and rows the query's table scan touched, from DuckDB's detailed profiler."""
    out = Path(tempfile.gettempdir()) / "hereabouts_bench_profile.json"
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{out}'")
    con.execute("SET profiling_mode = 'detailed'")
    con.execute(sql).fetchall()
    con.execute("PRAGMA disable_profiling")
    text = out.read_text()
    found = {}
    for key in ("total_row_groups_to_scan", "total_row_groups_scanned", "total_rows_scanned"):
        m = re.search(rf'"{key}": *"?(\d+)', text)
        found[key] = int(m.group(1)) if m else -1
    return found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixes", type=int, default=100_000_000)
    ap.add_argument("--devices", type=int, default=1_000)
    ap.add_argument("--keep", type=Path, default=None, help="build/reuse the store at this path")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    path = args.keep or Path(tmp.name) / "store.db"
    if not path.exists():
        build(path, args.fixes, args.devices)
    db = hb.open(path, read_only=True)
    con = db.store.con  # type: ignore[attr-defined]
    total = con.execute("SELECT count(*) FROM fixes").fetchall()[0][0]
    size = os.path.getsize(path)
    start, end = datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)
    device = f"device {args.devices // 2}"
    # warm the file cache once, then time
    db.fixes(device=device, start=start, end=end)
    t0 = time.perf_counter()
    reps = 20
    for _ in range(reps):
        month = db.fixes(device=device, start=start, end=end)
    t_month = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    full = con.execute("SELECT count(*), avg(lat) FROM fixes").fetchall()
    t_full = time.perf_counter() - t0
    sql, _params = db.store._fix_sql(args.devices // 2 + 1, device, "e", start, end)  # type: ignore[attr-defined]
    prof = profile(con, sql.replace("?::VARCHAR", "'x'::VARCHAR"))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d}"
    )
    print(f"store: {total:,} fixes, {size / 1e9:.2f} GB on disk")
    print(
        f"one device's month: {month.num_rows:,} fixes in {t_month * 1e3:.1f} ms; the scan read "
        f"{prof['total_row_groups_scanned']:,} of {prof['total_row_groups_to_scan']:,} row groups "
        f"({prof['total_rows_scanned']:,} of {total:,} rows)"
    )
    print(f"full scan (count, avg lat) of {full[0][0]:,} fixes: {t_full * 1e3:.0f} ms")
    print(f"ratio full scan / month read: {t_full / t_month:.0f}x")
    db.close()


if __name__ == "__main__":
    main()
