"""Benchmark of the ground-truth simulator: time to simulate and write GeoParquet.

Run: ``python benchmarks/simulate.py [--agents 1000] [--days 28] [--seed 1] [--out DIR]``.
Prints the time of each stage and the ratio of the total to the 60 s goal (the named baseline:
1,000 agents x 28 days written as GeoParquet in 60 s on a 2-core machine).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hereabouts.sim import simulate

GOAL_S = 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", default="mixed")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    args = ap.parse_args()
    stamps: dict[str, tuple[float, float]] = {}
    t0 = time.perf_counter()
    c0 = time.process_time()

    def progress(stage: str, done: int, total: int) -> None:
        stamps[stage] = (time.perf_counter() - t0, time.process_time() - c0)

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "sim"
        sim = simulate(
            agents=args.agents,
            days=args.days,
            seed=args.seed,
            out=out,
            profile=args.profile,
            progress=progress,
        )
        total = time.perf_counter() - t0
        cpu = time.process_time() - c0
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    prev, prev_cpu = 0.0, 0.0
    for stage, (t, cpu_t) in stamps.items():  # each stage's last report: differences are stage times
        print(f"{stage:>8}: {t - prev:7.2f} s wall {cpu_t - prev_cpu:7.2f} s CPU")
        prev, prev_cpu = t, cpu_t
    c = sim.manifest["counts"]
    print(
        f"agents={args.agents} days={args.days} fixes={c['fixes']:,} scans={c['scans']:,} trips={c['true_trips']:,}"
    )
    print(f"written: {size / 1e6:.1f} MB")
    ex = sim.manifest["exploration"]
    print(
        f"trips to new places: {ex['new_place_trip_share']:.1%} "
        f"(first visits in the period: {ex['first_visit_in_period_trip_share']:.1%}); "
        f"modes: {sim.manifest['mode_shares']}"
    )
    print(f"total: {total:.2f} s wall, {cpu:.2f} s CPU  ({total / GOAL_S:.2f} x the {GOAL_S:.0f} s goal)")


if __name__ == "__main__":
    main()
