"""``ask`` latency on a store of about 10 million fixes: p50 / p95 / p99 / max per kind of question.

Builds (or reuses, with ``--db``) a DuckDB store of simulated fixes (``--agents`` x ``--days`` at
profile ``mixed``; 875 agents x 28 days is about 10 million fixes), each device assigned to its agent,
and runs the stored analysis once (``Database.analyze``). Then asks a fixed list of questions of
every kind ``--repeat`` times through ``Database.ask`` (audit log included) and prints the
percentiles per kind and overall. As the peer in the same run it times the raw DuckDB SQL of the
simplest where-at question (the stored stay covering an instant, else the nearest fix).

    python benchmarks/ask.py --db /work/benchdata/ask10m.db [--agents 875 --days 28] [--repeat 5]

The data stays outside the repository (default folder ``/work/benchdata``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

import hereabouts as hb

NOW = datetime(2025, 3, 31, 12, tzinfo=UTC)  # the last day of the default 28-day simulation


def build(db_path: Path, agents: int, days: int, seed: int) -> None:
    from hereabouts.sim import simulate

    folder = db_path.with_suffix(".sim")
    t0 = time.perf_counter()
    if not (folder / "fixes.parquet").is_file():
        simulate(agents=agents, days=days, seed=seed, out=folder, profile="mixed")
        print(f"simulated {agents} agents x {days} days in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    db = hb.open(db_path)
    try:
        (res,) = db.import_(folder / "fixes.parquet")
        print(f"imported {res.counts} in {time.perf_counter() - t0:.0f} s", flush=True)
        devices = pq.read_table(folder / "truth" / "devices.parquet").to_pylist()
        for d in devices:
            if d["agent"]:
                db.assign_device(d["device"], d["agent"])
        t0 = time.perf_counter()
        ar = db.analyze()
        print(
            f"analysed {len(ar.entities)} entities ({ar.stays_written} stays) in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    finally:
        db.close()


def questions(db: hb.Database, folder: Path) -> list[tuple[str, str]]:
    """(kind, question): about 40 questions of every kind, about agents and places of the data."""
    con = db.store.con  # type: ignore[attr-defined]
    # agents by their number of stored stays: the questions are about typical ones (quartiles)
    agents = [
        r[0]
        for r in con.execute(
            """SELECT e.name FROM entities e JOIN stays s USING (entity_id) WHERE e.name LIKE 'agent-%'
               GROUP BY e.name ORDER BY count(*), e.name"""
        ).fetchall()
    ]
    a, b, c = agents[len(agents) // 2], agents[3 * len(agents) // 4], agents[len(agents) // 4]
    places = pq.read_table(folder / "truth" / "true_places.parquet").to_pylist()
    shop = next(p for p in places if p["kind"] == "shop")
    lat, lon = shop["lat"], shop["lon"]
    return [
        ("where_at", f"where was {a} at 10:00 yesterday?"),
        ("where_at", f"where was {b} on Friday at 15:30?"),
        ("where_at", f"where is {c} now?"),
        ("where_at", f"where was {a} at 3am on the 20th?"),
        ("where_during", f"where was {a} yesterday?"),
        ("where_during", f"where was {b} last night?"),
        ("where_during", f"{c}'s whereabouts on the 12th"),
        ("anchors", f"where does {a} live?"),
        ("anchors", f"where does {b} work?"),
        ("anchors", f"what are {c}'s anchors?"),
        ("top_places", f"what are {a}'s top 5 places this month?"),
        ("routine", f"where does {b} usually go on weekdays?"),
        ("top_places", f"where did {c} go last week?"),
        ("visits", f"how often did {a} go home last week?"),
        ("visits", f"did {b} go to work on Tuesday?"),
        ("visits", f"when did {c} visit {lat:.5f}, {lon:.5f}?"),
        ("time_spent", f"how long did {a} spend at work last week?"),
        ("time_spent", f"how many hours was {b} at home on weekends?"),
        ("first_visit", f"when did {a} first visit {lat:.5f}, {lon:.5f}?"),
        ("last_visit", f"when was {b} last at work?"),
        ("trips", f"what trips did {a} make yesterday?"),
        ("trips", f"how did {b} get from home to work on Monday?"),
        ("trips", f"when did {c} leave home this morning?"),
        ("stats", f"how far did {a} travel last week?"),
        ("stats", f"how many trips did {b} make in March?"),
        ("stats", f"how many places did {c} visit last week?"),
        ("stats", f"what is {a}'s radius of gyration this month?"),
        ("stats", f"give me a summary of {b}'s movement last week"),
        ("in_area", f"who was within 200 m of {lat:.5f}, {lon:.5f} yesterday?"),
        ("in_area", "who was in Utrecht on Sunday?"),
        ("together", f"who was with {a} yesterday?"),
        ("together", f"were {a} and {b} together last week?"),
        ("routine", f"what is {a}'s routine on weekdays?"),
        ("routine", f"what does {b} usually do on Tuesday evenings?"),
        ("anomalies", f"was there anything unusual about {a} last week?"),
        ("predict", f"where will {a} be tomorrow at 9?"),
        ("predict", f"where is {b} likely to be on Friday at 10:00?"),
        ("compare", f"did {a} travel more this week than last week?"),
        ("compare", f"how many places did {b} visit last week versus this week?"),
        ("where_at", f"where was {b} yesterday at 8pm?"),
    ]


def raw_where_at(db: hb.Database, entity: str, at: datetime) -> float:
    """Seconds for the raw SQL of "where was <entity> at <at>": the stored stay covering it, else the
    nearest fix within 30 minutes."""
    con = db.store.con  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    rows = con.execute(
        """SELECT s.lat, s.lon, s."start", s."end" FROM stays s JOIN entities e USING (entity_id)
           WHERE e.name = ? AND s."start" <= ? AND s."end" > ? LIMIT 1""",
        [entity, at, at],
    ).fetchall()
    if not rows:
        rows = con.execute(
            """SELECT f.lat, f.lon, f.t FROM fixes f JOIN devices d USING (device_id)
               JOIN entities e USING (entity_id)
               WHERE e.name = ? AND f.t BETWEEN ? AND ?
               ORDER BY abs(epoch(f.t) - epoch(?::TIMESTAMPTZ)) LIMIT 1""",
            [entity, at - timedelta(minutes=30), at + timedelta(minutes=30), at],
        ).fetchall()
    return time.perf_counter() - t0


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, default=Path("/work/benchdata/ask10m.db"))
    ap.add_argument("--agents", type=int, default=875)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default=None, help="ask only the questions of this kind")
    ap.add_argument("--json", type=Path, default=None, help="also write the timings here")
    args = ap.parse_args()

    args.db.parent.mkdir(parents=True, exist_ok=True)
    if not args.db.exists():
        build(args.db, args.agents, args.days, args.seed)
    db = hb.open(args.db)
    try:
        con = db.store.con  # type: ignore[attr-defined]
        n_fixes = con.execute("SELECT count(*) FROM fixes").fetchall()[0][0]
        n_stays = con.execute("SELECT count(*) FROM stays").fetchall()[0][0]
        n_entities = len(db.entity_names())
        print(
            f"store: {n_fixes:,} fixes, {n_entities} entities, {n_stays:,} stored stays; "
            f"{platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        t0 = time.perf_counter()
        ar = db.analyze()  # brings stored stays up to date (nothing to do when current)
        print(f"analyze (up to date check): {time.perf_counter() - t0:.2f} s, {len(ar.entities)} analysed")

        qs = questions(db, args.db.with_suffix(".sim"))
        if args.only:
            qs = [x for x in qs if x[0] == args.only]
        times: dict[str, list[float]] = {}
        kinds_got: dict[str, str] = {}
        # the first round warms caches (the stored analysis is loaded, the zone finder read): shown apart
        first: dict[str, float] = {}
        for rep in range(args.repeat + 1):
            for kind, question in qs:
                t0 = time.perf_counter()
                ans = db.ask(question, now=NOW)
                dt = time.perf_counter() - t0
                kinds_got[question] = ans.query.kind
                if rep == 0:
                    first[question] = dt
                else:
                    times.setdefault(kind, []).append(dt)
        raw = []
        ent = qs[0][1].split()[2]
        for _ in range(args.repeat * 4):
            raw.append(raw_where_at(db, ent, NOW - timedelta(hours=26)))
    finally:
        db.close()

    mismatched = {q: k for q, k in kinds_got.items() if k != next(x for x, y in qs if y == q)}

    def row(name: str, xs: list[float]) -> str:
        ps = "".join(f"{pct(xs, p) * 1e3:>10.1f}" for p in (50, 95, 99))
        return f"{name:<14}{len(xs):>4}{ps}{max(xs) * 1e3:>10.1f}"

    print(f"\n{'kind':<14}{'n':>4}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    allt: list[float] = []
    for kind in sorted(times):
        allt += times[kind]
        print(row(kind, times[kind]))
    p95 = pct(allt, 95)
    print(row("overall", allt))
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"first (cold) round: max {max(first.values()) * 1e3:.0f} ms, median {statistics.median(first.values()) * 1e3:.0f} ms"
    )
    print(
        f"peer: raw DuckDB SQL for one where-at: p50 {pct(raw, 50) * 1e3:.2f} ms, p95 {pct(raw, 95) * 1e3:.2f} ms; "
        f"ask where_at p50 / raw p50 = {pct(times.get('where_at', [0.0]), 50) / max(pct(raw, 50), 1e-9):.0f}x"
    )
    print(f"goal p95 <= 200 ms: {'met' if p95 <= 0.2 else 'NOT met'} ({p95 * 1e3:.0f} ms)")
    if mismatched:
        print("questions parsed to another kind than listed:", json.dumps(mismatched, indent=1))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"times_s": times, "raw_where_at_s": raw, "first_s": first, "n_fixes": n_fixes}, indent=1
            )
        )


if __name__ == "__main__":
    main()
