"""Benchmark: where-will-they-be predictions on a simulated town, against the predictability bound.

A plain script::

    python benchmarks/predict.py                    # 100 agents x 28 days, gps-1min phones
    python benchmarks/predict.py --agents 40 --days 21 --profile mixed --folds 2

It simulates a town (``hereabouts.sim``, deterministic seed), detects each phone owner's stays from
the phone's fixes (``detect_stays``), clusters places (``cluster_places``), then holds out the last
week: a predictor is fitted on the weeks before it (``fit_predictor(..., until=...)``) and asked,
for every hour of the held-out week, where each agent is; the truth is the place of the detected
stay covering that hour (else *elsewhere*). Printed:

* top-1 accuracy, the "most frequent place" baseline, the multi-class Brier score, log-loss and the
  expected calibration error (ECE, 10 bins of top-1 probability), with and without the recent
  context term (the true state one hour before each query);
* the mean Fano bound Π_max of the agents' hourly location sequences (Lempel-Ziv entropy, Song et al.
  2010) beside the published bound for hourly locations (93 %), and the bound of the sequence of
  distinct places (consecutive repeats removed) beside the published 71 % for the next distinct place;
* the time to fit the predictor for all agents and to answer one query.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from hereabouts.analysis.places import assign_places, cluster_places
from hereabouts.analysis.predict import evaluate_predictions, fano_bound, fit_predictor, lz_entropy_rate
from hereabouts.analysis.stays import detect_stays
from hereabouts.sim import simulate

PUBLISHED_HOURLY = 0.93  # Song et al. 2010, hourly cell-tower locations of 50 000 phone users
PUBLISHED_NEXT_PLACE = 0.71  # next distinct place (sequences without repeats), later studies


def _distinct_place_bound(stays: pa.Table, places: pa.Table) -> float:
    """Mean Π_max of each entity's sequence of places with consecutive repeats removed."""
    pid = assign_places(stays, places).to_pylist()
    ents = stays.column("entity").to_pylist()
    seqs: dict[str, list[str]] = {}
    for e, p in zip(ents, pid, strict=True):
        s = seqs.setdefault(e, [])
        sym = p if p is not None else "?"
        if not s or s[-1] != sym:
            s.append(sym)
    bounds = [fano_bound(lz_entropy_rate(s), len(set(s))) for s in seqs.values() if len(s) > 10]
    return statistics.fmean(bounds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", default="gps-1min")
    ap.add_argument("--folds", type=int, default=1, help="held-out weeks (rolling origin)")
    ap.add_argument("--half-life-days", type=float, default=28.0)
    args = ap.parse_args()

    t = time.perf_counter()
    sim = simulate(agents=args.agents, days=args.days, seed=args.seed, profile=args.profile)
    phones = sim.devices.filter(pc.equal(sim.devices.column("kind"), "phone"))
    owner = dict(zip(phones.column("device").to_pylist(), phones.column("agent").to_pylist(), strict=True))
    fixes = sim.fixes.filter(pc.is_in(sim.fixes.column("device"), value_set=phones.column("device")))
    fixes = fixes.append_column("entity", pa.array([owner[d] for d in fixes.column("device").to_pylist()]))
    stays = detect_stays(fixes)
    places = cluster_places(stays, towns=False)
    prep_s = time.perf_counter() - t
    print(
        f"town: {args.agents} agents x {args.days} days, profile {args.profile}, seed {args.seed}: "
        f"{fixes.num_rows:,} phone fixes -> {stays.num_rows:,} stays -> {places.num_rows:,} places "
        f"({prep_s:.1f} s)"
    )

    t = time.perf_counter()
    ev = evaluate_predictions(stays, places, folds=args.folds, half_life_days=args.half_life_days)
    eval_s = time.perf_counter() - t
    ctx = evaluate_predictions(
        stays, places, folds=args.folds, half_life_days=args.half_life_days, context_lag_s=3600
    )
    per = ev.per_entity
    acc = per.column("accuracy").to_numpy()
    pi = per.column("pi_max").to_numpy()
    under = float((acc <= pi + 0.02).mean())

    print(
        f"\nheld-out: last {args.folds} week(s), every hour, {ev.n:,} queries ({eval_s:.1f} s with fitting)"
    )
    print(f"{'':34}{'accuracy':>10}{'Brier':>8}{'log-loss':>10}{'ECE':>8}")
    print(f"{'most frequent place (baseline)':34}{ev.baseline_accuracy:>10.3f}")
    print(f"{'time of week':34}{ev.accuracy:>10.3f}{ev.brier:>8.3f}{ev.log_loss:>10.3f}{ev.ece:>8.3f}")
    print(
        f"{'time of week + state 1 h before':34}{ctx.accuracy:>10.3f}{ctx.brier:>8.3f}"
        f"{ctx.log_loss:>10.3f}{ctx.ece:>8.3f}"
    )
    print(f"accuracy / baseline: {ev.accuracy / ev.baseline_accuracy:.2f}x")
    print("\nreliability (top-1 probability vs observed accuracy):")
    for row in ev.reliability.to_pylist():
        if row["n"]:
            print(
                f"  {row['lower']:.1f}-{row['upper']:.1f}: n={row['n']:>6}  predicted "
                f"{row['mean_probability']:.3f}  observed {row['observed_accuracy']:.3f}"
            )

    print("\npredictability (Fano bound from Lempel-Ziv entropy, Song et al. 2010):")
    print(
        f"  hourly location:      mean Pi_max {ev.pi_max:.3f} (min {pi.min():.3f}, max {pi.max():.3f}); "
        f"published {PUBLISHED_HOURLY:.2f}; accuracy reached {ev.accuracy / ev.pi_max:.0%} of it"
    )
    print(
        f"  next distinct place:  mean Pi_max {_distinct_place_bound(stays, places):.3f}; "
        f"published {PUBLISHED_NEXT_PLACE:.2f}"
    )
    print(f"  agents with accuracy <= Pi_max + 0.02: {under:.0%}")

    t = time.perf_counter()
    pred = fit_predictor(stays, places, half_life_days=args.half_life_days)
    fit_s = time.perf_counter() - t
    agent = pred.entities[0]
    when = datetime(2025, 3, 4, 10, tzinfo=UTC) + timedelta(days=args.days)
    pred.predict(agent, when)  # warm
    reps = 200
    t = time.perf_counter()
    for _ in range(reps):
        pred.predict(agent, when)
    one_ms = (time.perf_counter() - t) / reps * 1e3
    week = [when + timedelta(hours=i) for i in range(168)]
    t = time.perf_counter()
    pred.predict(agent, week)
    week_ms = (time.perf_counter() - t) * 1e3
    print(
        f"\ntiming: fit {len(pred.entities)} entities {fit_s:.2f} s ({fit_s / len(pred.entities) * 1e3:.1f} ms "
        f"each); one query {one_ms:.2f} ms; 168 hourly queries in one call {week_ms:.1f} ms"
    )
    print(f"method: {pred.method}; tz {pred.tz(agent)}")


if __name__ == "__main__":
    main()
