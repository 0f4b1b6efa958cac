"""Benchmark: stay detection of hereabouts against trackintel 1.4.2 (baseline) and fastmob.

A plain script::

    python benchmarks/stays.py                      # 1M fixes, 20 users, every peer installed
    python benchmarks/stays.py --fixes 200000 --trackintel-fixes 100000 --no-memory

It generates a synthetic fix set (deterministic seed; several users alternating dwells at their own
places with trips between them; GPS noise, outlier jumps, recording gaps and duplicate fixes), then,
in this one process and on the same data:

* runs trackintel's ``generate_staypoints(method="sliding")``, fastmob's ``stay_locations`` and
  hereabouts' ``detect_stays`` (``method="trackintel"`` with the same parameters, and
  ``method="default"``), each timed from its own input table to its stays — sorting included (the
  input rows are shuffled unless ``--sorted``);
* checks that hereabouts' ``trackintel`` method finds exactly trackintel's stays (count, start, end);
* prints fixes per second and the ratios against trackintel (the named baseline) and fastmob.

With ``--geolife DIR`` it runs on real GeoLife tracks instead (``DIR/<user>/Trajectory/*.plt``, the
data set's own layout): trackintel reads the folder with its own ``read_geolife`` and hereabouts with
its GeoLife reader (:mod:`hereabouts.io.geolife`); then trackintel's ``generate_staypoints(method=
"sliding")`` and hereabouts' ``trackintel`` method run with the same parameters (100 m, 5 min, 15 min
by default, and a few other settings with ``--geolife-grid``), and the stays must be identical per
user (count, start, end); it prints both times and their ratio.

Peak memory is measured per method in a child process (``--memory``, on by default): the child
loads the same fixes, resets the kernel's high-water mark of its resident set
(``/proc/self/clear_refs``), runs the method once and reports ``VmHWM`` minus the resident set
before the call. Resident memory is used rather than tracemalloc because tracemalloc sees only
allocations made through Python's allocator and NumPy; Arrow's buffers, numba's and fastmob's
(Rust) allocations and GEOS's would be missed. A child per method keeps each peak clear of the
others' leftovers.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _peers

# The same parameters for every method: 100 m, 5 minutes, gaps over 15 minutes end a window.
RADIUS_M = 100.0
MIN_DURATION_S = 300.0
MAX_GAP_S = 900.0

METHODS = ("trackintel", "fastmob", "hereabouts-trackintel", "hereabouts-default")


# --------------------------------------------------------------------------------------------------
# synthetic data


def generate(n_fixes: int, n_users: int, seed: int = 20251125) -> pa.Table:
    """Fixes of ``n_users`` users (about ``n_fixes`` in all), sorted by user and time.

    Each user has 4–12 places in a 20 km × 20 km town, and alternates dwells (log-normal, median
    40 min) with trips between places (walking 1.4 m/s or driving 6–15 m/s along a noisy straight
    line). Sampling every 1–60 s depending on the user, with ±20 % jitter; GPS noise of 4–15 m;
    1 % outlier jumps of 100–400 m; a recording gap (20 min to 3 h) in 2 % of dwells; 0.5 % of fixes
    duplicated. Times are whole milliseconds.
    """
    rng = np.random.default_rng(seed)
    per_user = np.full(n_users, n_fixes // n_users)
    per_user[: n_fixes % n_users] += 1
    lat0, lon0 = 47.37, 8.54
    m_per_deg_lat = 111_195.0
    m_per_deg_lon = m_per_deg_lat * np.cos(np.radians(lat0))
    users, ts, lats, lons, accs = [], [], [], [], []
    for u in range(n_users):
        places = rng.uniform(-10_000, 10_000, size=(rng.integers(4, 13), 2))
        interval = float(rng.choice([1.0, 5.0, 10.0, 30.0, 60.0]))
        noise = rng.uniform(4, 15)
        t = rng.uniform(0, 86_400) + 1_700_000_000.0
        here = int(rng.integers(len(places)))
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        tt: list[np.ndarray] = []
        count = 0
        while count < per_user[u]:
            # dwell
            dwell = float(np.clip(rng.lognormal(np.log(2400), 1.0), 120, 12 * 3600))
            k = max(1, int(dwell / interval))
            dt = interval * rng.uniform(0.8, 1.2, k)
            if rng.random() < 0.02 and k > 10:
                dt[rng.integers(1, k)] += rng.uniform(1200, 3 * 3600)
            times = t + np.cumsum(dt)
            x = places[here, 0] + rng.normal(0, noise, k)
            y = places[here, 1] + rng.normal(0, noise, k)
            jump = rng.random(k) < 0.01
            ang = rng.uniform(0, 2 * np.pi, k)
            r = rng.uniform(100, 400, k)
            x[jump] += r[jump] * np.cos(ang[jump])
            y[jump] += r[jump] * np.sin(ang[jump])
            xs.append(x)
            ys.append(y)
            tt.append(times)
            t = float(times[-1])
            count += k
            # trip
            nxt = int(rng.integers(len(places) - 1))
            nxt = nxt + 1 if nxt >= here else nxt
            dist = float(np.hypot(*(places[nxt] - places[here])))
            speed = 1.4 if dist < 1500 else rng.uniform(6, 15)
            dur = dist / speed
            k = max(1, int(dur / interval))
            frac = np.sort(rng.uniform(0, 1, k))
            xs.append(places[here, 0] + frac * (places[nxt, 0] - places[here, 0]) + rng.normal(0, noise, k))
            ys.append(places[here, 1] + frac * (places[nxt, 1] - places[here, 1]) + rng.normal(0, noise, k))
            tt.append(t + frac * dur)
            t += dur
            count += k
            here = nxt
        x = np.concatenate(xs)[: per_user[u]]
        y = np.concatenate(ys)[: per_user[u]]
        tu = np.round(np.concatenate(tt)[: per_user[u]] * 1000).astype(np.int64) * 1000
        lat = lat0 + y / m_per_deg_lat
        lon = lon0 + x / m_per_deg_lon
        acc = np.round(rng.uniform(3, 25, len(x)), 1)
        dup = np.flatnonzero(rng.random(len(x)) < 0.005)
        idx = np.sort(np.concatenate([np.arange(len(x)), dup]))[: per_user[u]]
        users.append(np.full(len(idx), f"user{u:03d}"))
        ts.append(tu[idx])
        lats.append(lat[idx])
        lons.append(lon[idx])
        accs.append(acc[idx])
    return pa.table(
        {
            "device": pa.array(np.concatenate(users)),
            "t": pa.array(np.concatenate(ts), pa.int64()).view(pa.timestamp("us", tz="UTC")),
            "lat": pa.array(np.concatenate(lats)),
            "lon": pa.array(np.concatenate(lons)),
            "accuracy_m": pa.array(np.concatenate(accs)),
        }
    )


def shuffled(table: pa.Table, seed: int = 7) -> pa.Table:
    return table.take(pa.array(np.random.default_rng(seed).permutation(table.num_rows)))


# --------------------------------------------------------------------------------------------------
# the methods: each builds its own input from the fix table (not timed) and returns a runner (timed)


def prepare(method: str, fixes: pa.Table) -> Callable[[], Any]:
    if method == "trackintel":
        import geopandas as gpd
        import pandas as pd
        import trackintel as ti

        df = pd.DataFrame(
            {
                "user_id": fixes.column("device").to_numpy(zero_copy_only=False),
                "tracked_at": pd.to_datetime(
                    fixes.column("t").cast(pa.int64()).to_numpy(), unit="us", utc=True
                ),
            }
        )
        lat = fixes.column("lat").to_numpy()
        lon = fixes.column("lon").to_numpy()
        pfs = ti.Positionfixes(gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326"))

        def run() -> Any:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pfs.generate_staypoints(
                    method="sliding",
                    distance_metric="haversine",
                    dist_threshold=RADIUS_M,
                    time_threshold=MIN_DURATION_S / 60,
                    gap_threshold=MAX_GAP_S / 60,
                    include_last=False,
                    exclude_duplicate_pfs=True,
                )[1]

        return run
    if method == "fastmob":
        from fastmob.preprocessing import stay_locations

        table = pa.table(
            {
                "uid": fixes.column("device"),
                "datetime": fixes.column("t").cast(pa.timestamp("ms")),
                "lat": fixes.column("lat"),
                "lng": fixes.column("lon"),
            }
        )

        def run() -> Any:
            return stay_locations(
                table,
                minutes_for_a_stop=MIN_DURATION_S / 60,
                spatial_radius_km=RADIUS_M / 1000,
                no_data_for_minutes=MAX_GAP_S / 60,
                include_last=False,
                leaving_time=True,
            )

        return run
    from hereabouts.analysis import detect_stays

    ours = method.removeprefix("hereabouts-")
    # warm up: load (or compile) the kernel outside the timing
    detect_stays(fixes.slice(0, 1000), method=ours, radius_m=RADIUS_M, min_duration_s=MIN_DURATION_S)

    def run() -> Any:
        return detect_stays(
            fixes, method=ours, radius_m=RADIUS_M, min_duration_s=MIN_DURATION_S, max_gap_s=MAX_GAP_S
        )

    return run


def available(method: str) -> bool:
    if method == "trackintel":
        return _peers.have("trackintel")
    if method == "fastmob":
        return _peers.have("fastmob")
    return True


# --------------------------------------------------------------------------------------------------
# memory, in a child process per method


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(method: str, path: str) -> None:
    fixes = pq.read_table(path)
    run = prepare(method, fixes)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set
    base = _rss_kib("VmRSS")
    t0 = time.perf_counter()
    out = run()
    seconds = time.perf_counter() - t0
    peak = _rss_kib("VmHWM")
    print(json.dumps({"peak_mib": (peak - base) / 1024, "seconds": seconds, "rows": len(out)}))


def measure_memory(method: str, fixes: pa.Table) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fixes.parquet")
        pq.write_table(fixes, path)
        proc = subprocess.run(
            [sys.executable, __file__, "--child", method, path], capture_output=True, text=True, check=True
        )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------------------------------


def stays_frame(method: str, out: Any) -> Any:
    if method == "trackintel":
        return _peers._frame(
            out["user_id"].astype(str).to_numpy(),
            _peers._to_us(out["started_at"]),
            _peers._to_us(out["finished_at"]),
            out.geometry.y.to_numpy(),
            out.geometry.x.to_numpy(),
        )
    if method == "fastmob":
        return None
    return _peers.hereabouts_frame(out)


# --------------------------------------------------------------------------------------------------
# real GeoLife tracks

#: Parameter sets tried on GeoLife with ``--geolife-grid``: (radius_m, min_duration_s, max_gap_s).
GEOLIFE_GRID = [
    (RADIUS_M, MIN_DURATION_S, MAX_GAP_S),
    (50.0, 60.0, 900.0),
    (30.0, 120.0, 300.0),
    (200.0, 600.0, 3600.0),
]


def geolife(folder: Path, grid: bool, repeat: int) -> None:
    """Stays of trackintel and of hereabouts' ``trackintel`` method on the GeoLife tracks in ``folder``."""
    import warnings

    import trackintel as ti
    from trackintel.io import read_geolife

    from hereabouts.analysis import detect_stays
    from hereabouts.io import read

    files = sorted(folder.glob("*/Trajectory/*.plt"))
    if not files:
        raise SystemExit(f"no GeoLife tracks in {folder}: expected {folder}/<user>/Trajectory/*.plt")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pfs, _ = read_geolife(str(folder))
    ti_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    tables = [read(f).fixes for f in files]
    ours_read = time.perf_counter() - t0
    fixes = pa.concat_tables(tables)
    users = sorted({f.parent.parent.name for f in files})
    print(
        f"GeoLife: {len(files)} files of {len(users)} users ({', '.join(users)}) in {folder}; "
        f"trackintel read {len(pfs):,} fixes in {ti_read:.3f} s, hereabouts read {fixes.num_rows:,} in "
        f"{ours_read:.3f} s"
    )
    if len(pfs) != fixes.num_rows:
        raise SystemExit("the two readers disagree on the number of fixes")
    # trackintel's user ids are the folder names as integers; ours are devices 'geolife/<folder>'
    dev = np.asarray(fixes.column("device").to_pylist(), dtype=object)
    fixes = fixes.set_column(
        fixes.schema.get_field_index("device"), "device", pa.array([str(int(d.split("/")[-1])) for d in dev])
    )
    detect_stays(fixes.slice(0, 100), method="trackintel")  # load the compiled kernel outside the timing
    all_same = True
    for radius_m, min_s, gap_s in GEOLIFE_GRID if grid else GEOLIFE_GRID[:1]:
        t_ti = t_ours = math.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, sp = pfs.generate_staypoints(
                    method="sliding",
                    distance_metric="haversine",
                    dist_threshold=radius_m,
                    time_threshold=min_s / 60,
                    gap_threshold=gap_s / 60,
                    include_last=False,
                    exclude_duplicate_pfs=True,
                    n_jobs=1,
                )
            t_ti = min(t_ti, time.perf_counter() - t0)
            t0 = time.perf_counter()
            st = detect_stays(
                fixes, method="trackintel", radius_m=radius_m, min_duration_s=min_s, max_gap_s=gap_s
            )
            t_ours = min(t_ours, time.perf_counter() - t0)
        theirs = stays_frame("trackintel", sp) if len(sp) else _peers._frame(*(np.zeros(0),) * 5)
        ours = _peers.hereabouts_frame(st)
        print(
            f"  radius {radius_m:g} m, min {min_s:g} s, gap {gap_s:g} s: {len(theirs)} trackintel stays, "
            f"{len(ours)} ours; trackintel {t_ti * 1000:.1f} ms, ours {t_ours * 1000:.2f} ms, "
            f"ratio {t_ti / t_ours:,.0f}x"
        )
        for u in sorted(set(theirs["user_id"]) | set(ours["user_id"]), key=int):
            a = theirs[theirs["user_id"] == u]
            b = ours[ours["user_id"] == u]
            same = len(a) == len(b) and all(
                np.array_equal(a[c].to_numpy(), b[c].to_numpy()) for c in ("started_at", "finished_at")
            )
            all_same &= same
            print(
                f"    user {int(u):03d}: {len(a)} trackintel, {len(b)} ours, start and end identical: {same}"
            )
            if not same:
                print("      trackintel:", list(zip(a["started_at"], a["finished_at"], strict=True)))
                print("      ours:      ", list(zip(b["started_at"], b["finished_at"], strict=True)))
    print(
        f"stays identical to trackintel {ti.__version__} on GeoLife (count, start, end per user): {all_same}"
    )
    if not all_same:
        raise SystemExit("hereabouts' trackintel method disagrees with trackintel on GeoLife")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixes", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--trackintel-fixes", type=int, default=None, help="run trackintel on the first N fixes")
    ap.add_argument("--sorted", action="store_true", help="give every method fixes sorted by user and time")
    ap.add_argument("--repeat", type=int, default=5, help="time each method N times, keep the best")
    ap.add_argument("--no-memory", dest="memory", action="store_false")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument(
        "--geolife", type=Path, help="compare with trackintel on GeoLife tracks in DIR/<user>/Trajectory"
    )
    ap.add_argument("--geolife-grid", action="store_true", help="with --geolife: several parameter sets")
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "PARQUET"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.geolife:
        geolife(args.geolife, args.geolife_grid, args.repeat)
        return

    t0 = time.perf_counter()
    fixes = generate(args.fixes, args.users)
    print(f"generated {fixes.num_rows:,} fixes of {args.users} users in {time.perf_counter() - t0:.1f} s")
    ti_n = min(args.trackintel_fixes or fixes.num_rows, fixes.num_rows)
    # trackintel may run on a prefix (whole users first): compare ours on the same prefix
    subsets = {"all": fixes, "ti": fixes.slice(0, ti_n)}
    if not args.sorted:
        subsets = {k: shuffled(v) for k, v in subsets.items()}
    methods = [m for m in args.methods.split(",") if m]
    results: dict[str, dict[str, float]] = {}
    frames: dict[str, Any] = {}
    for method in methods:
        if not available(method):
            print(f"{method:24s} not installed, skipped")
            continue
        data = subsets["ti"] if method == "trackintel" else subsets["all"]
        run = prepare(method, data)
        seconds = math.inf
        for _ in range(args.repeat):  # best of N (one run when a run takes over 10 s)
            gc.collect()
            t0 = time.perf_counter()
            out = run()
            seconds = min(seconds, time.perf_counter() - t0)
            if seconds > 10:
                break
        results[method] = {"fixes": data.num_rows, "seconds": seconds, "fixes_per_s": data.num_rows / seconds}
        print(
            f"{method:24s} {data.num_rows:>9,} fixes {seconds:9.3f} s"
            f" {data.num_rows / seconds:>14,.0f} fixes/s"
        )
        frames[method] = stays_frame(method, out)
        if method == "trackintel" and ti_n < fixes.num_rows and "hereabouts-trackintel" in methods:
            from hereabouts.analysis import detect_stays

            frames["hereabouts-trackintel@ti"] = _peers.hereabouts_frame(
                detect_stays(
                    data,
                    method="trackintel",
                    radius_m=RADIUS_M,
                    min_duration_s=MIN_DURATION_S,
                    max_gap_s=MAX_GAP_S,
                )
            )
        if args.memory:
            mem = measure_memory(method, data)
            results[method]["peak_mib"] = mem["peak_mib"]
            print(f"{'':24s} peak memory {mem['peak_mib']:9.1f} MiB (child process, {mem['seconds']:.3f} s)")

    if "trackintel" in frames and "hereabouts-trackintel" in frames:
        ours = frames.get("hereabouts-trackintel@ti", frames["hereabouts-trackintel"])
        theirs = frames["trackintel"]
        same = len(ours) == len(theirs) and all(
            np.array_equal(ours[c].to_numpy(), theirs[c].to_numpy())
            for c in ("user_id", "started_at", "finished_at")
        )
        dlat = (
            float(np.max(np.abs(ours["lat"].to_numpy() - theirs["lat"].to_numpy())))
            if same and len(ours)
            else 0.0
        )
        print(
            f"stays identical to trackintel (count, start, end): {same} — {len(ours):,} ours, {len(theirs):,}"
            f" trackintel; largest centre difference {dlat:.2e}°"
        )
        if not same:
            raise SystemExit("hereabouts' trackintel method disagrees with trackintel")

    def ratio(a: str, b: str, what: str) -> None:
        if a in results and b in results and what in results[a] and what in results[b]:
            if what == "peak_mib" and results[a]["fixes"] != results[b]["fixes"]:
                print(f"  {a} / {b}: not comparable ({b} ran on {results[b]['fixes']:,.0f} fixes)")
                return
            r = results[a][what] / results[b][what]
            print(f"  {a} / {b}: {r:,.2f}")

    print(
        "throughput ratios, ours / peer (fixes/s, sort included;"
        " goals: >= 100 vs trackintel, >= 1.5 vs fastmob):"
    )
    for ours_m in ("hereabouts-trackintel", "hereabouts-default"):
        for peer in ("trackintel", "fastmob"):
            ratio(ours_m, peer, "fixes_per_s")
    if args.memory:
        print("peak memory ratios, ours / peer (goal: <= 0.33 vs trackintel):")
        for ours_m in ("hereabouts-trackintel", "hereabouts-default"):
            for peer in ("trackintel", "fastmob"):
                ratio(ours_m, peer, "peak_mib")


if __name__ == "__main__":
    main()
