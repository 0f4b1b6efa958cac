"""Co-presence at scale: 10,000 entities x 28 days, against a naive all-pairs peer on a subset.

    python benchmarks/copresence.py                       # 10,000 entities x 28 days
    python benchmarks/copresence.py --entities 2000 --days 7 --peer-entities 100 --peer-days 2

The data come from a documented synthetic generator (the full simulator needs about 4 GB per 1,000
agents x 28 days, too much for 10,000 here). It keeps the simulator's density and structure:

- a square town at the simulator's density (1,000 people per 3.9 km x 3.9 km), homes of households of
  1-4 people (mean 2.2);
- 70 % of people work, in offices of 5-40 (placed towards the centre), weekdays, arriving 07:30-09:30
  for 7.5-9 h; 30 % go to one of the gyms (about 60 members each) on two fixed weekdays at a fixed
  hour; on 35 % of evenings people visit a shop or cafe among the 3 nearest their home for 20-70 min;
- trips are straight lines at 1.4-8 m/s; phones record a fix every 5 minutes (+-30 s), 5-10 m GPS
  accuracy (noise drawn as the simulator does), with 0.3 recording gaps a day (log-normal, median
  45 min) -- 288 fixes per person-day, the simulator's mean for phones.

Prints wall time, CPU time and peak memory (resident set) of :func:`copresence_episodes` at full
size, and on a subset the same against the peer: a plain all-pairs method (per pair of entities, the
epochs both observed, positions interpolated as in hereabouts, distances compared) -- the quadratic
join the spatio-temporal index avoids. Times are noisy on a shared machine: compare the ratio.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import resource
import time
from typing import Any

import numpy as np
import pyarrow as pa

from hereabouts.analysis._geo import from_enu
from hereabouts.analysis.copresence import copresence_episodes

US = 1_000_000
LAT0, LON0 = 52.0907, 5.1214
T_START = 1_740_960_000  # 2025-03-03 00:00 UTC, a Monday


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def generate(entities: int, days: int, seed: int = 1, step_s: float = 300.0) -> pa.Table:
    """A fix table (entity, t, lat, lon, accuracy_m) of the synthetic town described above."""
    rng = np.random.default_rng(seed)
    side = 3900.0 * np.sqrt(entities / 1000.0)
    n = entities
    # households and homes
    sizes = rng.choice([1, 2, 3, 4], size=n, p=[0.3, 0.35, 0.2, 0.15])
    hh = np.repeat(np.arange(n), sizes)[:n]
    n_hh = int(hh.max()) + 1
    home_xy = rng.uniform(0, side, (n_hh, 2))[hh]
    # offices towards the centre
    works = rng.random(n) < 0.7
    n_off = max(1, int(works.sum() / 20))
    office_xy = side / 2 + rng.normal(0, side / 5, (n_off, 2)).clip(-side / 2, side / 2)
    office = rng.integers(0, n_off, n)
    arrive = rng.uniform(7.5, 9.5, n) * 3600
    stay_w = rng.uniform(7.5, 9.0, n) * 3600
    # gyms
    n_gym = max(1, n // 200)
    gym_xy = rng.uniform(0, side, (n_gym, 2))
    gym_member = rng.random(n) < 0.3
    gym = rng.integers(0, n_gym, n)
    gym_days = np.sort(np.stack([rng.choice(5, 2, replace=False) for _ in range(n)]), axis=1)
    gym_hour = rng.choice([17.5, 18.5, 19.5], n) * 3600
    # shops and cafes: 3 nearest of a grid
    n_shop = max(3, n // 100)
    shop_xy = rng.uniform(0, side, (n_shop, 2))
    near = np.argsort(((home_xy[:, None, :] - shop_xy[None, :, :]) ** 2).sum(axis=2), axis=1)[:, :3]
    speed = rng.uniform(1.4, 8.0, n)
    chunks = []
    for c0 in range(0, n, 500):
        c = np.arange(c0, min(c0 + 500, n))
        cols: dict[str, list[Any]] = {"t": [], "x": [], "y": [], "acc": [], "keep": []}
        for d in range(days):
            t, x, y, acc, keep = _day(
                rng,
                c,
                d,
                step_s,
                works,
                arrive,
                stay_w,
                office_xy,
                office,
                gym_member,
                gym_days,
                gym_hour,
                gym_xy,
                gym,
                near,
                shop_xy,
                home_xy,
                speed,
            )
            cols["t"].append(T_START + d * 86400 + t)
            cols["x"].append(x)
            cols["y"].append(y)
            cols["acc"].append(acc)
            cols["keep"].append(keep)
        keep = np.concatenate(cols["keep"], axis=1)
        tt = np.concatenate(cols["t"], axis=1)[keep]
        lat, lon = from_enu(
            np.concatenate(cols["x"], axis=1)[keep] - side / 2,
            np.concatenate(cols["y"], axis=1)[keep] - side / 2,
            LAT0,
            LON0,
        )
        chunks.append(
            pa.table(
                {
                    "code": pa.array(np.repeat(c, keep.sum(axis=1)).astype(np.int32)),
                    "t": pa.array((tt * US).astype(np.int64)).cast(pa.timestamp("us", tz="UTC")),
                    "lat": lat,
                    "lon": lon,
                    "accuracy_m": np.concatenate(cols["acc"], axis=1)[keep],
                }
            )
        )
    tab = pa.concat_tables(chunks)
    names = pa.array([f"e{i:05d}" for i in range(n)], pa.string())
    ent = pa.DictionaryArray.from_arrays(tab.column("code").combine_chunks(), names).cast(pa.string())
    return tab.append_column("entity", ent).drop_columns(["code"])


def _day(
    rng: np.random.Generator,
    c: Any,
    d: int,
    step_s: float,
    works: Any,
    arrive: Any,
    stay_w: Any,
    office_xy: Any,
    office: Any,
    gym_member: Any,
    gym_days: Any,
    gym_hour: Any,
    gym_xy: Any,
    gym: Any,
    near: Any,
    shop_xy: Any,
    home_xy: Any,
    speed: Any,
) -> tuple[Any, Any, Any, Any, Any]:
    """One day of the people ``c``: fix times (s after midnight), positions (m), accuracy, kept."""
    n = c.size
    weekday = d % 7 < 5
    home = home_xy[c]
    stops_xy = np.zeros((n, 4, 2))
    stops_t = np.zeros((n, 4, 2))
    stops_xy[:, 0] = home
    k = np.ones(n, np.int64)
    t_leave = np.zeros(n)
    w = works[c] & weekday
    stops_xy[w, 1] = office_xy[office[c][w]]
    stops_t[w, 1, 0] = arrive[c][w]
    stops_t[w, 1, 1] = arrive[c][w] + stay_w[c][w]
    k[w] = 2
    t_leave[w] = stops_t[w, 1, 1]
    gd = gym_days[c]
    g = gym_member[c] & weekday & ((gd[:, 0] == d % 7) | (gd[:, 1] == d % 7))
    idx = np.flatnonzero(g)
    stops_xy[idx, k[idx]] = gym_xy[gym[c][idx]]
    st = np.maximum(gym_hour[c][idx], t_leave[idx] + 1800)
    stops_t[idx, k[idx], 0] = st
    stops_t[idx, k[idx], 1] = st + 3600
    t_leave[idx] = st + 3600
    k[idx] += 1
    idx = np.flatnonzero(rng.random(n) < 0.35)
    pick = near[c][idx, rng.integers(0, 3, idx.size)]
    stops_xy[idx, k[idx]] = shop_xy[pick]
    st = np.maximum(rng.uniform(10, 20, idx.size) * 3600, t_leave[idx] + 1200)
    stops_t[idx, k[idx], 0] = st
    stops_t[idx, k[idx], 1] = st + rng.uniform(20, 70, idx.size) * 60
    k[idx] += 1
    m = int(86400 // step_s)
    t = np.sort(np.clip((np.arange(m) * step_s)[None, :] + rng.uniform(-30, 30, (n, m)), 0, 86399), axis=1)
    x = np.repeat(home[:, :1], m, axis=1)
    y = np.repeat(home[:, 1:], m, axis=1)
    sp = speed[c]
    for j in range(1, 4):
        has = k > j
        if not has.any():
            continue
        prev = stops_xy[:, j - 1]
        dep = stops_t[:, j, 0] - np.sqrt(((stops_xy[:, j] - prev) ** 2).sum(axis=1)) / sp
        arr, leave = stops_t[:, j, 0], stops_t[:, j, 1]
        back = leave + np.sqrt(((stops_xy[:, j] - home) ** 2).sum(axis=1)) / sp
        for a0, a1, p0, p1 in (
            (dep, arr, prev, stops_xy[:, j]),
            (arr, leave, stops_xy[:, j], stops_xy[:, j]),
            (leave, back, stops_xy[:, j], home),
        ):
            inside = has[:, None] & (t >= a0[:, None]) & (t < a1[:, None])
            f = np.clip((t - a0[:, None]) / np.maximum(a1 - a0, 1)[:, None], 0, 1)
            x = np.where(inside, p0[:, :1] + (p1[:, :1] - p0[:, :1]) * f, x)
            y = np.where(inside, p0[:, 1:] + (p1[:, 1:] - p0[:, 1:]) * f, y)
    acc = rng.uniform(5, 10, (n, m))
    x = x + rng.normal(0, 1, (n, m)) * acc / np.sqrt(2)
    y = y + rng.normal(0, 1, (n, m)) * acc / np.sqrt(2)
    keep = np.ones((n, m), np.bool_)
    gaps = np.flatnonzero(rng.random(n) < 0.3)
    g0 = rng.uniform(0, 86400, gaps.size)
    g1 = g0 + np.exp(rng.normal(np.log(2700), 0.8, gaps.size))
    keep[gaps] &= ~((t[gaps] >= g0[:, None]) & (t[gaps] < g1[:, None]))
    return t, x, y, acc, keep


def naive_all_pairs(
    fixes: pa.Table, *, radius_m: float = 50.0, epoch_s: float = 60.0, max_gap_s: float = 1200.0
) -> int:
    """The peer: every pair of entities, on the epochs both observed (positions interpolated between
    fixes less than ``max_gap_s`` apart), counting epochs within ``radius_m``. Returns that count."""
    from hereabouts.analysis._geo import to_xyz_m

    ent = fixes.column("entity").to_pylist()
    t = fixes.column("t").cast(pa.int64()).to_numpy() / US
    xyz = to_xyz_m(fixes.column("lat").to_numpy(), fixes.column("lon").to_numpy())
    series: dict[str, tuple[Any, Any]] = {}
    bounds = [0] + [i for i in range(1, len(ent)) if ent[i] != ent[i - 1]] + [len(ent)]
    for a, b in itertools.pairwise(bounds):
        tt, pp = t[a:b], xyz[a:b]
        k = np.arange(np.ceil(tt[0] / epoch_s), np.floor(tt[-1] / epoch_s) + 1) * epoch_s
        i = np.clip(np.searchsorted(tt, k, side="right") - 1, 0, len(tt) - 2)
        ok = (tt[i + 1] - tt[i]) <= max_gap_s
        f = ((k - tt[i]) / np.maximum(tt[i + 1] - tt[i], 1e-9))[:, None]
        series[ent[a]] = (k[ok], (pp[i] + (pp[i + 1] - pp[i]) * f)[ok])
    names = sorted(series)
    within = 0
    for x in range(len(names)):
        ka, pa_ = series[names[x]]
        for y in range(x + 1, len(names)):
            kb, pb = series[names[y]]
            _, ia, ib = np.intersect1d(ka, kb, assume_unique=True, return_indices=True)
            if ia.size:
                within += int((((pa_[ia] - pb[ib]) ** 2).sum(axis=1) <= radius_m**2).sum())
    return within


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--peer-entities", type=int, default=200)
    ap.add_argument("--peer-days", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    # the peer on a subset
    sub = generate(args.peer_entities, args.peer_days, seed=args.seed)
    copresence_episodes(sub.slice(0, 2000))  # compile the kernels outside the timings
    t0 = time.perf_counter()
    ep_sub = copresence_episodes(sub)
    ours_sub = time.perf_counter() - t0
    t0 = time.perf_counter()
    within = naive_all_pairs(sub)
    peer_sub = time.perf_counter() - t0
    print(
        f"subset {args.peer_entities} entities x {args.peer_days} days, {sub.num_rows:,} fixes: "
        f"hereabouts {ours_sub:.2f} s ({ep_sub.num_rows} episodes), naive all-pairs {peer_sub:.2f} s "
        f"({within:,} pair-epochs within 50 m); peer / hereabouts = {peer_sub / ours_sub:.1f}x"
    )
    del sub, ep_sub
    gc.collect()

    t0 = time.perf_counter()
    fixes = generate(args.entities, args.days, seed=args.seed)
    gen_s = time.perf_counter() - t0
    rss_gen = _rss_mb()
    print(
        f"generated {args.entities:,} entities x {args.days} days: {fixes.num_rows:,} fixes in {gen_s:.1f} s"
    )
    c0, t0 = time.process_time(), time.perf_counter()
    ep = copresence_episodes(fixes)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print(
        f"copresence_episodes: {wall:.1f} s wall, {cpu:.1f} s CPU, {ep.num_rows:,} episodes "
        f"({ep.num_rows / args.entities:.1f} per entity); peak RSS {_rss_mb():,.0f} MB "
        f"(after generating the data: {rss_gen:,.0f} MB); goal <= 120 s: {'met' if wall <= 120 else 'NOT met'}"
    )
    pairs = args.entities * (args.entities - 1) / 2
    sub_pairs = args.peer_entities * (args.peer_entities - 1) / 2
    est = peer_sub * (pairs / sub_pairs) * (args.days / args.peer_days)
    print(f"naive all-pairs at full size, extrapolated from the subset (quadratic): about {est / 3600:.0f} h")


if __name__ == "__main__":
    main()
