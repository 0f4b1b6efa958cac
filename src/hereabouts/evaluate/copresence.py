"""Co-presence scored against the simulator's truth.

True co-presence: two agents' true stays that overlap in time for at least ``min_duration_s`` at
places within ``radius_m`` of each other (people stand at their building's centroid during a stay).
Co-presence while travelling (the same bus) has no true stays and is not counted as true.

- ``copresence.episode_precision``: detected episodes (between agents) at least half of whose time
  lies inside true co-presence of the same pair.
- ``copresence.episode_recall``: true episodes at least half of whose time is covered by detected
  episodes of the pair (all of them, including those no device could observe: recording gaps,
  battery deaths, Wi-Fi and cell positions too coarse for ``radius_m``); ``episode_recall_gps`` counts
  only pairs of agents who both carry a GPS device.
- Ties: ``ties.parquet`` (household, friend, family). A pair is *eligible* when it had at least
  ``min_away`` true co-presences away from both agents' true home, work and school.
  ``copresence.tie_recall`` is the share of eligible true ties called ties;
  ``copresence.tie_precision`` the share of called ties that are true ties;
  ``copresence.tie_recall_ceiling`` the share of eligible true ties with at least ``min_away``
  *detected* days together away from home and work (episodes, or stays at one place at one time:
  no threshold can call the others); ``copresence.tie_recall_no_cell`` the recall over eligible
  true ties of which neither agent carries only a cell-positioned phone (about 600 m: no method can
  place such a phone at a café), and ``copresence.tie_recall_gps`` over those of which both agents
  carry a GPS device;
  ``copresence.false_ties_per_stranger_pair_month`` the number of stranger pairs called ties per
  stranger pair (all pairs of agents that are not ties) per 30 days.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..analysis._geo import haversine_m
from ..analysis.copresence import DEFAULT_ALPHA

__all__ = ["load_folder", "score_copresence", "tie_truth", "true_copresence"]

US = 1_000_000


def _us(t: pa.Table, name: str) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.asarray(t.column(name).cast(pa.int64()).to_numpy(), np.int64)


def true_copresence(
    true_stays: pa.Table, *, radius_m: float = 50.0, min_duration_s: float = 600.0
) -> dict[tuple[str, str], list[tuple[int, int, str]]]:
    """True co-presence episodes per pair of agents (``a < b``): ``(start_us, end_us, place_id)``
    for every two overlapping true stays at places within ``radius_m``, overlapping pieces of one
    pair merged, those shorter than ``min_duration_s`` dropped."""
    agent = true_stays.column("agent").to_pylist()
    place = true_stays.column("place_id").to_pylist()
    s, e = _us(true_stays, "start"), _us(true_stays, "end")
    lat = true_stays.column("lat").to_numpy()
    lon = true_stays.column("lon").to_numpy()
    # places within radius_m of each other (including themselves)
    pid = sorted(set(place))
    index = {p: i for i, p in enumerate(pid)}
    plat = np.zeros(len(pid))
    plon = np.zeros(len(pid))
    for i, p in enumerate(place):
        plat[index[p]], plon[index[p]] = lat[i], lon[i]
    near: dict[int, list[int]] = defaultdict(list)
    for i in range(len(pid)):
        d = haversine_m(plat[i], plon[i], plat, plon)
        near[i] = np.flatnonzero(d <= radius_m).tolist()
    by_place: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(place):
        by_place[index[p]].append(i)
    for v in by_place.values():
        v.sort(key=lambda k: s[k])
    pieces: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    for pi, rows in by_place.items():
        for pj in near[pi]:
            if pj < pi:
                continue
            other = by_place.get(pj, [])
            if not other:
                continue
            os_ = np.array([s[k] for k in other], np.int64)
            for i in rows:
                hi = int(np.searchsorted(os_, e[i], side="left"))
                for j in other[:hi]:
                    if j == i or (pi == pj and j < i) or agent[i] == agent[j]:
                        continue
                    lo_t, hi_t = max(s[i], s[j]), min(e[i], e[j])
                    if hi_t <= lo_t:
                        continue
                    a, b = sorted((agent[i], agent[j]))
                    pieces[(a, b)].append((int(lo_t), int(hi_t), place[i]))
    out: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    for key, lst in pieces.items():
        lst.sort()
        merged: list[list[Any]] = []
        for lo_t, hi_t, p in lst:
            if merged and lo_t <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi_t)
            else:
                merged.append([lo_t, hi_t, p])
        keep = [(int(x), int(y), str(p)) for x, y, p in merged if (y - x) / US >= min_duration_s]
        if keep:
            out[key] = keep
    return out


def tie_truth(
    sim: Any,
    truth: dict[tuple[str, str], list[tuple[int, int, str]]],
    *,
    min_away: int = 3,
    away_m: float = 150.0,
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The true ties (pairs ``a < b`` of ``ties.parquet``) and the eligible pairs: those with at least
    ``min_away`` true co-presences (``truth``, from :func:`true_copresence`) at places that are not,
    and are farther than ``away_m`` from, a true home, work or school of either agent."""
    ties: set[tuple[str, str]] = set()
    for r in sim.ties.to_pylist():
        x, y = sorted((str(r["agent_a"]), str(r["agent_b"])))
        ties.add((x, y))
    anchor_places: dict[str, set[str]] = defaultdict(set)
    anchor_pts: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in sim.true_anchors.to_pylist():
        if r["kind"] in ("home", "work", "school"):
            anchor_places[r["agent"]].add(r["place_id"])
            anchor_pts[r["agent"]].append((r["lat"], r["lon"]))
    place_pos = {r["place_id"]: (r["lat"], r["lon"]) for r in sim.true_places.to_pylist()}

    def away(a: str, b: str, place: str) -> bool:
        if place in anchor_places[a] or place in anchor_places[b]:
            return False
        la, lo = place_pos.get(place, (math.nan, math.nan))
        for who in (a, b):
            for pla, plo in anchor_pts[who]:
                if float(haversine_m(la, lo, pla, plo)) <= away_m:
                    return False
        return True

    eligible = {k for k, v in truth.items() if sum(away(k[0], k[1], p) for _, _, p in v) >= min_away}
    return ties, eligible


def _covered(intervals: list[tuple[int, int]], lo: int, hi: int) -> int:
    """Microseconds of ``[lo, hi)`` covered by the (disjoint, sorted) ``intervals``."""
    tot = 0
    for a, b in intervals:
        if b <= lo:
            continue
        if a >= hi:
            break
        tot += min(b, hi) - max(a, lo)
    return tot


def score_copresence(
    sim: Any,
    *,
    radius_m: float = 50.0,
    min_duration_s: float = 600.0,
    alpha: float = DEFAULT_ALPHA,
    min_away: int = 3,
    away_m: float = 150.0,
    details: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Detect co-presence on the fixes of a :class:`hereabouts.sim.Simulation` (or of a folder written
    by :func:`hereabouts.sim.simulate`, read with :func:`load_folder`), devices assigned to their
    agents and cars left out, and score episodes and ties against the truth (see the module
    documentation). ``details``, when given, receives the parameters used."""
    from ..analysis.copresence import copresence_episodes, pair_significance
    from ..analysis.stays import detect_stays

    if isinstance(sim, str | Path):
        sim = load_folder(sim)
    if details is not None:
        details.update(
            {
                "radius_m": radius_m,
                "min_duration_s": min_duration_s,
                "alpha": alpha,
                "min_away": min_away,
                "away_m": away_m,
            }
        )

    dev = {r["device"]: r["agent"] for r in sim.devices.to_pylist()}
    ents = [dev.get(d) for d in sim.fixes.column("device").to_pylist()]
    mine = np.array([x is not None for x in ents], np.bool_)
    fixes = sim.fixes.filter(pa.array(mine))
    fixes = fixes.append_column("entity", pa.array([x for x in ents if x is not None], pa.string()))
    episodes = copresence_episodes(fixes, radius_m=radius_m, min_duration_s=min_duration_s)
    truth = true_copresence(sim.true_stays, radius_m=radius_m, min_duration_s=min_duration_s)
    truth_iv = {k: [(a, b) for a, b, _ in v] for k, v in truth.items()}

    # ---- episodes
    ea = episodes.column("entity_a").to_pylist()
    eb = episodes.column("entity_b").to_pylist()
    es, ee = _us(episodes, "start"), _us(episodes, "end")
    det: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    ok = 0
    for a, b, s, e in zip(ea, eb, es.tolist(), ee.tolist(), strict=True):
        det[(a, b)].append((s, e))
        if e > s and _covered(truth_iv.get((a, b), []), s, e) >= 0.5 * (e - s):
            ok += 1
    for v in det.values():
        v.sort()
    gps_agents = {r["agent"] for r in sim.devices.to_pylist() if r["agent"] and r["provider"] == "gps"}
    found = n_true = found_gps = n_gps = 0
    for key, ivs in truth_iv.items():
        both_gps = key[0] in gps_agents and key[1] in gps_agents
        for s, e in ivs:
            hit = _covered(det.get(key, []), s, e) >= 0.5 * (e - s)
            n_true += 1
            found += hit
            if both_gps:
                n_gps += 1
                found_gps += hit
    n_det = episodes.num_rows

    # ---- ties
    stays = detect_stays(fixes)
    pairs = pair_significance(episodes, stays, alpha=alpha, min_away=min_away, away_m=away_m)
    prow = pairs.select(["entity_a", "entity_b", "is_tie", "n_away", "days_away"]).to_pylist()
    called = {(r["entity_a"], r["entity_b"]) for r in prow if r["is_tie"]}
    seen_away = {(r["entity_a"], r["entity_b"]) for r in prow if max(r["n_away"], r["days_away"]) >= min_away}
    ties, eligible = tie_truth(sim, truth, min_away=min_away, away_m=away_m)
    agents = sorted(set(sim.true_agents.column("agent").to_pylist()))
    n_pairs = len(agents) * (len(agents) - 1) // 2
    n_strangers = n_pairs - len(ties)
    days = float(sim.manifest.get("parameters", {}).get("days", 28))
    true_called = called & ties
    false_called = called - ties
    elig_ties = eligible & ties
    providers: dict[str, set[str]] = defaultdict(set)
    for r in sim.devices.to_pylist():
        if r["agent"]:
            providers[r["agent"]].add(r["provider"])
    no_cell = {k for k in elig_ties if all(providers[x] - {"cell"} for x in k)}
    gps = {k for k in elig_ties if all("gps" in providers[x] for x in k)}
    nan = float("nan")
    return {
        "copresence.episode_precision": ok / n_det if n_det else nan,
        "copresence.episode_recall": found / n_true if n_true else nan,
        "copresence.episode_recall_gps": found_gps / n_gps if n_gps else nan,
        "copresence.n_detected": float(n_det),
        "copresence.n_true": float(n_true),
        "copresence.tie_precision": len(true_called) / len(called) if called else nan,
        "copresence.tie_recall": len(elig_ties & called) / len(elig_ties) if elig_ties else nan,
        "copresence.false_ties_per_stranger_pair_month": (
            len(false_called) / n_strangers / (days / 30.0) if n_strangers else nan
        ),
        "copresence.tie_recall_ceiling": len(elig_ties & seen_away) / len(elig_ties) if elig_ties else nan,
        "copresence.tie_recall_no_cell": len(no_cell & called) / len(no_cell) if no_cell else nan,
        "copresence.tie_recall_gps": len(gps & called) / len(gps) if gps else nan,
        "copresence.n_eligible_ties_no_cell": float(len(no_cell)),
        "copresence.n_eligible_ties_gps": float(len(gps)),
        "copresence.n_called_ties": float(len(called)),
        "copresence.n_eligible_ties": float(len(elig_ties)),
        "copresence.n_eligible_strangers": float(len(eligible - ties)),
        "copresence.n_stranger_pairs": float(n_strangers),
    }


def load_folder(folder: str | Path) -> Any:
    """The tables :func:`score_copresence` reads, from a folder written by
    :func:`hereabouts.sim.simulate` (``fixes.parquet``, ``truth/``, ``manifest.json``)."""
    import json
    from types import SimpleNamespace

    import pyarrow.parquet as pq

    from ..model.errors import InputError

    root = Path(folder)
    if not (root / "fixes.parquet").is_file():
        raise InputError(
            f"{root} has no fixes.parquet", hint="write the simulation with formats=('geoparquet',)"
        )
    truth = {
        name: pq.read_table(root / "truth" / f"{name}.parquet")
        for name in ("true_stays", "true_places", "true_anchors", "true_agents", "devices", "ties")
    }
    manifest = json.loads((root / "manifest.json").read_text()) if (root / "manifest.json").is_file() else {}
    fixes = pq.read_table(root / "fixes.parquet", columns=["device", "t", "lat", "lon", "accuracy_m"])
    return SimpleNamespace(fixes=fixes, manifest=manifest, **truth)
