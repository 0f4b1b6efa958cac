"""Import speed (fixes/s) for GPX, CSV and Google Records.json, and peak memory on a 1 GB Records.json.

    python benchmarks/import.py [--fixes 10_000_000] [--records-gb 1.0] [--data DIR]

Each file is generated once in DIR (kept for re-runs), then imported into a fresh store in a child
process whose peak RSS is read from the kernel (``ru_maxrss``). Beside each import it runs a named peer
on the same file in the same run and prints the ratio:

- GPX: ``gpxpy.parse`` (the common Python GPX library; parse only, no store), when installed;
- CSV: ``pandas.read_csv`` (parse only, no store);
- Records.json: ``json.load`` of the whole file (what loading a Takeout export naively costs; its peak
  RSS is the point of comparison for memory).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

T0 = 1_600_000_000
PEER_MAX = 1_000_000


def _track(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = T0 + np.arange(n, dtype=np.int64) * 5
    lat = 48.1 + np.cumsum(rng.normal(0, 2e-5, n))
    lon = 11.5 + np.cumsum(rng.normal(0, 2e-5, n))
    lat = np.clip(lat, -89, 89)
    return t, lat, lon


def _iso(ts: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(ts.astype("datetime64[s]"), unit="s")


def make_csv(path: Path, n: int) -> None:
    with open(path, "w") as fh:
        fh.write("time,lat,lon,accuracy\n")
        for i in range(0, n, 500_000):
            t, lat, lon = _track(min(500_000, n - i), seed=i)
            iso = _iso(t + i * 5)
            fh.write("".join(f"{a}Z,{b:.7f},{c:.7f},8\n" for a, b, c in zip(iso, lat, lon, strict=True)))


def make_gpx(path: Path, n: int) -> None:
    with open(path, "w") as fh:
        fh.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="bench" '
            'xmlns="http://www.topografix.com/GPX/1/1">\n<trk><name>bench</name><trkseg>\n'
        )
        for i in range(0, n, 500_000):
            t, lat, lon = _track(min(500_000, n - i), seed=i)
            iso = _iso(t + i * 5)
            fh.write(
                "".join(
                    f'<trkpt lat="{b:.7f}" lon="{c:.7f}"><ele>520.0</ele><time>{a}Z</time></trkpt>\n'
                    for a, b, c in zip(iso, lat, lon, strict=True)
                )
            )
        fh.write("</trkseg></trk>\n</gpx>\n")


def make_records(path: Path, n: int | None = None, gb: float | None = None) -> int:
    written = 0
    count = 0
    target = int(gb * 1e9) if gb else None
    with open(path, "w") as fh:
        fh.write('{\n  "locations": [')
        first = True
        i = 0
        while (n is None or count < n) and (target is None or written < target):
            m = 200_000 if n is None else min(200_000, n - count)
            t, lat, lon = _track(m, seed=i)
            iso = _iso(t + count * 5)
            parts = []
            for a, b, c in zip(iso, (lat * 1e7).astype(np.int64), (lon * 1e7).astype(np.int64), strict=True):
                parts.append(
                    ("" if first else ",")
                    + f'\n    {{\n      "latitudeE7": {b},\n      "longitudeE7": {c},\n      "accuracy": 12,\n'
                    f'      "source": "WIFI",\n      "deviceTag": 1234567,\n      "timestamp": "{a}.000Z"\n    }}'
                )
                first = False
            chunk = "".join(parts)
            fh.write(chunk)
            written += len(chunk)
            count += m
            i += 1
        fh.write("\n  ]\n}\n")
    return count


CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    kind, path = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    n = 0
    if kind == "hereabouts":
        import hereabouts as hb
        db = hb.open(sys.argv[3], memory_limit=sys.argv[4] if len(sys.argv) > 4 else None)
        r = db.import_(path)[0]
        n = r.counts.fixes
        db.close()
    elif kind == "gpxpy":
        import gpxpy
        with open(path) as fh:
            g = gpxpy.parse(fh)
        n = sum(len(s.points) for t in g.tracks for s in t.segments)
    elif kind == "pandas":
        import pandas as pd
        n = len(pd.read_csv(path))
    elif kind == "json":
        with open(path) as fh:
            n = len(json.load(fh)["locations"])
    dt = time.perf_counter() - t0
    print(json.dumps({"n": n, "seconds": dt, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    """
)


def run(kind: str, path: Path, *extra: str) -> dict[str, float] | None:
    import json

    p = subprocess.run([sys.executable, "-c", CHILD, kind, str(path), *extra], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"  {kind}: failed: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixes", type=int, default=10_000_000)
    ap.add_argument("--records-gb", type=float, default=1.0)
    ap.add_argument("--data", type=Path, default=Path("benchmarks/data"))
    ap.add_argument(
        "--peer-max",
        type=int,
        default=PEER_MAX,
        help="run peers on at most this many fixes (they need ~1 KB each)",
    )
    ap.add_argument("--only", choices=["csv", "gpx", "records", "records-gb"], action="append")
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    n = args.fixes
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{datetime.now(UTC):%Y-%m-%d}"
    )
    jobs = [
        ("csv", args.data / f"bench_{n}.csv", make_csv, "pandas"),
        ("gpx", args.data / f"bench_{n}.gpx", make_gpx, "gpxpy"),
        ("records", args.data / f"bench_{n}_Records.json", lambda p, k: make_records(p, n=k), "json"),
    ]
    for name, path, make, peer in jobs:
        if args.only and name not in args.only:
            continue
        if not path.exists():
            t0 = time.perf_counter()
            make(path, n)
            print(
                f"generated {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t0:.0f} s"
            )
        store = args.data / f"bench_{name}.db"
        store.unlink(missing_ok=True)
        ours = run("hereabouts", path, str(store))
        store.unlink(missing_ok=True)
        theirs = run(peer, path)
        if ours:
            line = (
                f"{name}: hereabouts imported {ours['n']:,.0f} fixes in {ours['seconds']:.1f} s = "
                f"{ours['n'] / ours['seconds']:,.0f} fixes/s, peak RSS {ours['maxrss_kb'] / 1024:.0f} MB"
            )
            if theirs:
                line += (
                    f"; {peer} parsed {theirs['n']:,.0f} in {theirs['seconds']:.1f} s "
                    f"(peak RSS {theirs['maxrss_kb'] / 1024:.0f} MB); speed ratio hereabouts/{peer} = "
                    f"{theirs['seconds'] / ours['seconds']:.2f}x"
                )
            print(line)
    if not args.only or "records-gb" in args.only:
        path = args.data / f"bench_{args.records_gb:g}GB_Records.json"
        if not path.exists():
            t0 = time.perf_counter()
            k = make_records(path, gb=args.records_gb)
            print(
                f"generated {path} ({path.stat().st_size / 1e9:.2f} GB, {k:,} records) in "
                f"{time.perf_counter() - t0:.0f} s"
            )
        store = args.data / "bench_records_gb.db"
        store.unlink(missing_ok=True)
        ours = run("hereabouts", path, str(store))
        store.unlink(missing_ok=True)
        theirs = run("json", path) if path.stat().st_size <= 1.2e9 else None
        if ours:
            print(
                f"Records.json {path.stat().st_size / 1e9:.2f} GB: hereabouts peak RSS "
                f"{ours['maxrss_kb'] / 1024:.0f} MB ({ours['n']:,.0f} fixes in {ours['seconds']:.1f} s)"
                + (f"; json.load peak RSS {theirs['maxrss_kb'] / 1024:.0f} MB" if theirs else "")
            )
    _ = resource


if __name__ == "__main__":
    main()
