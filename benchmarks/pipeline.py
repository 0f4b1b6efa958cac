"""The full pattern-of-life pipeline (stays, places, trips, anchors, routines) on one core.

    python benchmarks/pipeline.py [--agents 185 370] [--days 28] [--profile gps-1min] [--data DIR]

For each town size: simulates the town once and keeps its fixes as Parquet in ``--data`` (not timed;
later runs reuse the file), then runs the pipeline in a fresh child process pinned to one core
(``NUMBA_NUM_THREADS=1``, Arrow's thread pools at 1, CPU affinity to a single core). The child reads
the fixes, warms the compiled kernels on a small slice (compile time is not counted), then times
each stage on all fixes with both clocks: CPU time of the process (``time.process_time``, what the
work costs, less disturbed by other load on the machine) and wall time. It prints fixes per second
per stage and for the whole pipeline, and the peak RSS of the child (the kernel's high-water mark)
with the RSS after reading the input, so two sizes show whether memory grows linearly.

The goal is 3M fixes/s for the whole pipeline at 10M fixes (185 agents x 28 days of gps-1min).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_DATA = Path("/work/benchdata/pipeline")
STAGES = ("stays", "places", "trips", "anchors", "routines")


def _fixes_file(data: Path, agents: int, days: int, profile: str, seed: int) -> Path:
    path = data / f"fixes-{agents}x{days}-{profile}-s{seed}.parquet"
    if path.exists():
        return path
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from hereabouts.sim import simulate

    t0 = time.perf_counter()
    sim = simulate(agents=agents, days=days, seed=seed, profile=profile)
    owner = {d["device"]: d["agent"] or d["device"] for d in sim.devices.to_pylist()}
    dev = sim.fixes.column("device")
    uniq = pc.unique(dev)
    ent = pa.array([owner[u] for u in uniq.to_pylist()], pa.string())
    fixes = sim.fixes.append_column("entity", pc.take(ent, pc.index_in(dev, value_set=uniq)))
    data.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(fixes, tmp)
    tmp.rename(path)
    print(
        f"simulated {fixes.num_rows:,} fixes of {agents} agents x {days} days ({profile}) in "
        f"{time.perf_counter() - t0:.0f} s -> {path}",
        flush=True,
    )
    return path


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    """Reset the kernel's resident-set high-water mark (VmHWM) of this process (Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _child(path: str) -> None:
    """Run the timed pipeline on one file; print one JSON line of results."""
    import resource

    import pyarrow as pa
    import pyarrow.parquet as pq

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    from hereabouts.analysis import (
        build_trips,
        cluster_places,
        detect_stays,
        infer_anchors,
        regularity,
        time_of_week_occupancy,
    )

    fixes = pq.read_table(path).combine_chunks()
    n = fixes.num_rows
    tz = "Europe/Amsterdam"
    # warm the compiled kernels on a small unsorted slice so compile time is not counted
    small = fixes.slice(0, 20_000)
    small = small.take(pa.array(list(range(small.num_rows - 1, -1, -1))))
    s_small = detect_stays(small, threads=1)
    p_small = cluster_places(s_small, towns=False)
    build_trips(small, s_small, places=p_small)
    infer_anchors(s_small, p_small, tz=tz)
    time_of_week_occupancy(s_small, p_small, tz=tz)
    regularity(s_small, p_small, tz=tz)

    del s_small, p_small, small
    # hand memory freed since the start (Parquet decoding) back to the system, so that the peak
    # below measures the pipeline rather than allocator caches
    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    rss_input = _status_mb("VmRSS")
    peak_reading = _status_mb("VmHWM")  # reading and decoding the Parquet file, before the reset
    reset = _reset_peak()  # from here on VmHWM is the peak of the pipeline itself (input included)
    cpu: dict[str, float] = {}
    wall: dict[str, float] = {}
    out: dict[str, object] = {}

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        c, w = time.process_time(), time.perf_counter()
        r = fn()
        cpu[name] = cpu.get(name, 0.0) + time.process_time() - c
        wall[name] = wall.get(name, 0.0) + time.perf_counter() - w
        return r

    stays = timed("stays", lambda: detect_stays(fixes, threads=1))
    places = timed("places", lambda: cluster_places(stays, towns=False))
    trips = timed("trips", lambda: build_trips(fixes, stays, places=places))
    anchors = timed("anchors", lambda: infer_anchors(stays, places, tz=tz))
    occ = timed("routines", lambda: time_of_week_occupancy(stays, places, tz=tz))
    reg = timed("routines", lambda: regularity(stays, places, tz=tz))
    out.update(
        fixes=n,
        cpu=cpu,
        wall=wall,
        counts={
            "stays": stays.num_rows,
            "places": places.num_rows,
            "trips": trips.num_rows,
            "anchor rows": anchors.num_rows,
            "occupancy rows": occ.num_rows,
            "entities": reg.num_rows,
        },
        rss_input_mb=rss_input,
        peak_rss_mb=_status_mb("VmHWM")
        if reset
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        reading_peak_rss_mb=peak_reading,
    )
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, nargs="+", default=[185, 370], help="town sizes to run")
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--profile", default="gps-1min")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder for the simulated fixes")
    ap.add_argument("--core", type=int, default=None, help="core to pin the child to (default: the last)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child)
        return

    cores = sorted(os.sched_getaffinity(0))
    core = args.core if args.core is not None else cores[-1]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; child pinned to core {core}, "
        "NUMBA_NUM_THREADS=1",
        flush=True,
    )
    results = []
    for agents in args.agents:
        path = _fixes_file(args.data, agents, args.days, args.profile, args.seed)
        env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        proc = subprocess.run(
            ["taskset", "-c", str(core), sys.executable, __file__, "--child", str(path)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"the pipeline child failed on {path}")
        r = json.loads(lines[-1][len("RESULT ") :])
        results.append(r)
        n = r["fixes"]
        print(f"\n{n:,} fixes ({agents} agents x {args.days} days, {args.profile}):")
        print(f"  {'stage':<9} {'cpu s':>8} {'cpu fixes/s':>14} {'wall s':>8} {'wall fixes/s':>14}")
        for k in STAGES:
            c, w = r["cpu"][k], r["wall"][k]
            print(f"  {k:<9} {c:8.2f} {n / c:>14,.0f} {w:8.2f} {n / w:>14,.0f}")
        tc, tw = sum(r["cpu"].values()), sum(r["wall"].values())
        print(
            f"  {'pipeline':<9} {tc:8.2f} {n / tc:>14,.0f} {tw:8.2f} {n / tw:>14,.0f}   (goal >= 3,000,000 fixes/s)"
        )
        print("  " + ", ".join(f"{v:,} {k}" for k, v in r["counts"].items()))
        extra = r["peak_rss_mb"] - r["rss_input_mb"]
        print(
            f"  peak RSS while the pipeline ran {r['peak_rss_mb']:,.0f} MB = {r['rss_input_mb']:,.0f} MB holding "
            f"the input table + {extra:,.0f} MB working memory ({extra * 1e6 / n:,.0f} bytes per fix); "
            f"(reading the Parquet file peaked at {r['reading_peak_rss_mb']:,.0f} MB before that)"
        )
    if len(results) >= 2:
        a, b = results[0], results[-1]

        def work(r: dict) -> float:  # type: ignore[type-arg]
            return float(r["peak_rss_mb"] - r["rss_input_mb"])

        slope = (work(b) - work(a)) / (b["fixes"] - a["fixes"]) * 1e6
        ratio = (work(b) / b["fixes"]) / (work(a) / a["fixes"])
        print(
            f"\nmemory: working memory grows by {slope:,.0f} bytes per extra fix between {a['fixes']:,} and "
            f"{b['fixes']:,} fixes; working memory per fix at the larger size / at the smaller: {ratio:.2f} "
            "(1.00 = linear)"
        )


if __name__ == "__main__":
    main()
