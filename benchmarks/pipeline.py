"""The full pattern-of-life pipeline (stays, places, trips, anchors, routines) on one core.

    python benchmarks/pipeline.py [--agents 900] [--days 28] [--profile gps-1min]

Simulates a town (not timed), then times each stage on all of its fixes with one thread, and prints
fixes per second for the whole pipeline and the peak RSS of the process. The goal is 3M fixes/s at
10M fixes, with memory linear in the number of fixes (run it at two sizes to see the slope).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=900)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--profile", default="gps-1min")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    from hereabouts.analysis import (
        build_trips,
        cluster_places,
        detect_stays,
        infer_anchors,
        regularity,
        time_of_week_occupancy,
    )
    from hereabouts.sim import simulate

    t0 = time.perf_counter()
    sim = simulate(agents=args.agents, days=args.days, seed=args.seed, profile=args.profile)
    owner = {d["device"]: d["agent"] or d["device"] for d in sim.devices.to_pylist()}
    dev = sim.fixes.column("device")
    uniq = pc.unique(dev)
    ent = pa.array([owner[u] for u in uniq.to_pylist()], pa.string())
    fixes = sim.fixes.append_column("entity", pc.take(ent, pc.index_in(dev, value_set=uniq)))
    n = fixes.num_rows
    del sim
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d}; "
        f"{n:,} fixes of {args.agents} agents x {args.days} days ({args.profile}) simulated in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    # warm the compiled kernels on a small slice so compile time is not counted
    small = fixes.slice(0, 20_000)
    s_small = detect_stays(small, threads=1)
    p_small = cluster_places(s_small, towns=False)
    build_trips(small, s_small, places=p_small)

    timings: dict[str, float] = {}
    t = time.perf_counter()
    stays = detect_stays(fixes, threads=1)
    timings["stays"] = time.perf_counter() - t
    t = time.perf_counter()
    places = cluster_places(stays, towns=False)
    timings["places"] = time.perf_counter() - t
    t = time.perf_counter()
    trips = build_trips(fixes, stays, places=places)
    timings["trips"] = time.perf_counter() - t
    t = time.perf_counter()
    anchors = infer_anchors(stays, places, tz="Europe/Amsterdam")
    timings["anchors"] = time.perf_counter() - t
    t = time.perf_counter()
    occ = time_of_week_occupancy(stays, places, tz="Europe/Amsterdam")
    reg = regularity(stays, places, tz="Europe/Amsterdam")
    timings["routines"] = time.perf_counter() - t
    total = sum(timings.values())
    for k, v in timings.items():
        print(f"  {k:<9} {v:7.2f} s  {n / v:>14,.0f} fixes/s")
    print(
        f"pipeline: {total:.2f} s for {n:,} fixes = {n / total:,.0f} fixes/s on one thread "
        f"(goal >= 3,000,000); {stays.num_rows:,} stays, {places.num_rows:,} places, {trips.num_rows:,} trips, "
        f"{anchors.num_rows:,} anchor rows, {occ.num_rows:,} occupancy rows, {reg.num_rows:,} entities"
    )
    print(
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB "
        f"(includes the simulation)"
    )
    _ = np


if __name__ == "__main__":
    main()
