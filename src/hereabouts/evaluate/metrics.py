"""Metrics of places, anchors, trips, modes and routes against the simulator's ground truth.

Each ``score_*`` function takes the engine's table and the truth tables, and returns a flat dict of
metrics (keys without the tier prefix) and, where the engine emits a confidence, the samples
``(confidence, correct)`` that calibration is measured on. The definitions are in
``docs/accuracy.md``; in short:

* places: a detected place of an entity matches a true place that agent stayed at for at least
  ``min_stay_s`` within ``max_distance_m``, one-to-one, nearest pair first;
* home / work: at the midpoint of each true anchor interval, the inferred anchor of that label valid
  then (the most confident one that did not abstain) is right when within ``max_distance_m`` of a true
  anchor of that kind valid then;
* trips: a detected trip matches a true trip of the same agent overlapping it in time, one-to-one,
  largest overlap first; the mode guess is right when it equals the true mode seen by speed (a car or
  a bus is a ``vehicle``);
* routes: a true origin-destination pair travelled at least twice is found when a habitual route of
  that agent starts and ends within ``max_distance_m`` of its two places.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..analysis._geo import haversine_m

__all__ = [
    "TRUE_MODE_AS_GUESS",
    "Samples",
    "match_nearest",
    "match_trips",
    "prf",
    "score_anchors",
    "score_places",
    "score_routes",
    "score_trips",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
#: ``(confidence, correct)`` pairs of one kind of inference.
Samples = tuple[F64, NDArray[np.bool_]]

#: The simulator's true modes as the engine's mode guesses name them (by speed a car and a bus look
#: the same).
TRUE_MODE_AS_GUESS = {"walk": "walk", "bike": "bike", "car": "vehicle", "transit": "vehicle"}

NAN = float("nan")


def prf(n_matched: int, n_detected: int, n_true: int) -> dict[str, float]:
    """Precision, recall and F1 from counts (0 when there is nothing to divide by).

    >>> prf(8, 10, 16)
    {'precision': 0.8, 'recall': 0.5, 'f1': 0.6153846153846154}
    """
    p = n_matched / n_detected if n_detected else 0.0
    r = n_matched / n_true if n_true else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1}


def _us(t: pa.Table, name: str) -> I64:
    col = t.column(name).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(col.fill_null(np.iinfo(np.int64).min).to_numpy(), np.int64)


def _f64(t: pa.Table, name: str) -> F64:
    return np.asarray(t.column(name).cast(pa.float64()).fill_null(np.nan).to_numpy(), np.float64)


def _str(t: pa.Table, name: str) -> list[str | None]:
    return [None if x is None else str(x) for x in t.column(name).to_pylist()]


def match_nearest(
    alat: F64, alon: F64, blat: F64, blon: F64, max_distance_m: float
) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(i, j, metres)`` of points A to points B within ``max_distance_m``,
    nearest pair first (ties: lower indices).

    >>> m = match_nearest(np.array([0.0, 0.0]), np.array([0.0, 0.001]), np.array([0.0]), np.array([0.0009]), 100)
    >>> [(i, j, round(d)) for i, j, d in m]
    [(1, 0, 11)]
    """
    if alat.size == 0 or blat.size == 0:
        return []
    d = haversine_m(alat[:, None], alon[:, None], blat[None, :], blon[None, :])
    ii, jj = np.nonzero(d <= max_distance_m)
    order = np.lexsort((jj, ii, d[ii, jj]))
    used_a: set[int] = set()
    used_b: set[int] = set()
    out = []
    for k in order:
        i, j = int(ii[k]), int(jj[k])
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        out.append((i, j, float(d[i, j])))
    return out


# --------------------------------------------------------------------------------------------- places


def true_visited_places(
    true_stays: pa.Table, true_places: pa.Table, *, min_stay_s: float = 300.0
) -> dict[str, list[tuple[str, float, float]]]:
    """Per agent, the true places it stayed at for at least ``min_stay_s`` once: ``(place_id, lat, lon)``."""
    coords = {
        p: (la, lo)
        for p, la, lo in zip(
            _str(true_places, "place_id"), _f64(true_places, "lat"), _f64(true_places, "lon"), strict=True
        )
    }
    dur = (_us(true_stays, "end") - _us(true_stays, "start")) / 1e6
    seen: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    for a, p, d in zip(_str(true_stays, "agent"), _str(true_stays, "place_id"), dur, strict=True):
        if a is None or p is None or d < min_stay_s or p not in coords:
            continue
        seen[a][p] = coords[p]
    return {a: [(p, la, lo) for p, (la, lo) in sorted(ps.items())] for a, ps in seen.items()}


def score_places(
    places: pa.Table,
    true_stays: pa.Table,
    true_places: pa.Table,
    *,
    entities: set[str] | None = None,
    max_distance_m: float = 100.0,
    min_stay_s: float = 300.0,
) -> tuple[dict[str, float], Samples]:
    """Precision and recall of an entity's detected places against the true places it visited.

    ``entities`` (default: the agents of ``true_stays``) limits both sides. Returns the metrics
    (``precision``, ``recall``, ``f1``, ``n_detected``, ``n_true``, ``n_matched``,
    ``distance_median_m``) and the samples (place confidence, matched) for calibration.
    """
    visited = true_visited_places(true_stays, true_places, min_stay_s=min_stay_s)
    if entities is None:
        entities = set(visited)
    ent = _str(places, "entity")
    lat, lon = _f64(places, "lat"), _f64(places, "lon")
    conf = _f64(places, "confidence") if "confidence" in places.column_names else np.full(len(ent), np.nan)
    rows: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(ent):
        if e is not None and e in entities:
            rows[e].append(i)
    n_det = n_true = 0
    matched_rows: set[int] = set()
    dists: list[float] = []
    for e in sorted(entities):
        det = np.asarray(rows.get(e, []), np.int64)
        tru = visited.get(e, [])
        n_det += det.size
        n_true += len(tru)
        if det.size == 0 or not tru:
            continue
        tlat = np.array([t[1] for t in tru])
        tlon = np.array([t[2] for t in tru])
        for i, _, d in match_nearest(lat[det], lon[det], tlat, tlon, max_distance_m):
            matched_rows.add(int(det[i]))
            dists.append(d)
    out = prf(len(matched_rows), n_det, n_true)
    out.update(
        n_detected=float(n_det),
        n_true=float(n_true),
        n_matched=float(len(matched_rows)),
        distance_median_m=float(np.median(dists)) if dists else NAN,
    )
    sel = np.array([i for e in sorted(entities) for i in rows.get(e, [])], np.int64)
    correct = np.array([int(i) in matched_rows for i in sel], np.bool_)
    return out, (conf[sel] if sel.size else np.zeros(0), correct)


# -------------------------------------------------------------------------------------------- anchors

#: True anchor kinds that count as each inferred label (school is a student's "work").
ANCHOR_KINDS = {"home": ("home",), "work": ("work", "school")}


def score_anchors(
    anchors: pa.Table,
    true_anchors: pa.Table,
    agents: list[str],
    *,
    max_distance_m: float = 100.0,
    confident: float = 0.9,
) -> tuple[dict[str, float], dict[str, Samples]]:
    """Top-1 accuracy of inferred home and work anchors (see the module documentation).

    ``anchors`` follows the anchors contract (entity, label, lat, lon, confidence, valid_from,
    valid_to — null for open —, abstained). Returns metrics keyed ``home.top1``, ``home.abstention``,
    ``home.confident_wrong`` (checks answered wrongly with a confidence of at least ``confident``,
    over all checks), ``home.top1_answered``, ``home.n``, the same for ``work``, and
    ``work.false_rate`` (share of agents with no true work or school given a work place), with the
    samples (confidence, right) of the answered checks per label.
    """
    a_ent = _str(anchors, "entity")
    a_lab = _str(anchors, "label")
    a_lat, a_lon = _f64(anchors, "lat"), _f64(anchors, "lon")
    a_conf = _f64(anchors, "confidence")
    lo_min, hi_max = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    a_from = _us(anchors, "valid_from")
    a_to = _us(anchors, "valid_to")
    a_to = np.where(a_to == lo_min, hi_max, a_to)
    a_abs = (
        np.asarray(anchors.column("abstained").fill_null(False).to_numpy(zero_copy_only=False), np.bool_)
        if "abstained" in anchors.column_names
        else np.zeros(len(a_ent), np.bool_)
    )
    t_ag, t_kind = _str(true_anchors, "agent"), _str(true_anchors, "kind")
    t_lat, t_lon = _f64(true_anchors, "lat"), _f64(true_anchors, "lon")
    t_from, t_to = _us(true_anchors, "valid_from"), _us(true_anchors, "valid_to")
    t_to = np.where(t_to == lo_min, hi_max, t_to)
    by_agent_rows: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(a_ent):
        if e is not None:
            by_agent_rows[e].append(i)
    agent_set = set(agents)
    out: dict[str, float] = {}
    samples: dict[str, Samples] = {}
    for label, kinds in ANCHOR_KINDS.items():
        truth_rows: dict[str, list[int]] = defaultdict(list)
        for j, (ag, k) in enumerate(zip(t_ag, t_kind, strict=True)):
            if ag in agent_set and k in kinds:
                truth_rows[ag].append(j)
        n = n_right = n_abst = n_conf_wrong = 0
        s_conf: list[float] = []
        s_ok: list[bool] = []
        for ag in sorted(truth_rows):
            js = truth_rows[ag]
            checks = sorted({int(t_from[j] // 2 + t_to[j] // 2) for j in js})
            cand = [i for i in by_agent_rows.get(ag, []) if a_lab[i] == label]
            for t in checks:
                n += 1
                valid = [j for j in js if t_from[j] <= t < t_to[j]]
                live = [i for i in cand if a_from[i] <= t < a_to[i] and not a_abs[i]]
                if not live:
                    n_abst += 1
                    continue
                best = max(live, key=lambda i: (np.nan_to_num(a_conf[i], nan=-1.0), -i))
                d = haversine_m(
                    np.full(len(valid), a_lat[best]),
                    np.full(len(valid), a_lon[best]),
                    t_lat[valid],
                    t_lon[valid],
                )
                ok = bool(len(valid) and np.nanmin(d) <= max_distance_m)
                n_right += ok
                c = float(a_conf[best])
                if not ok and c >= confident:
                    n_conf_wrong += 1
                s_conf.append(c)
                s_ok.append(ok)
        answered = n - n_abst
        out[f"{label}.top1"] = n_right / n if n else NAN
        out[f"{label}.top1_answered"] = n_right / answered if answered else NAN
        out[f"{label}.abstention"] = n_abst / n if n else NAN
        out[f"{label}.confident_wrong"] = n_conf_wrong / n if n else NAN
        out[f"{label}.n"] = float(n)
        samples[label] = (np.asarray(s_conf, np.float64), np.asarray(s_ok, np.bool_))
    with_work = {ag for ag, k in zip(t_ag, t_kind, strict=True) if k in ANCHOR_KINDS["work"]}
    without = sorted(agent_set - with_work)
    false_work = 0
    for ag in without:
        if any(a_lab[i] == "work" and not a_abs[i] for i in by_agent_rows.get(ag, [])):
            false_work += 1
    out["work.false_rate"] = false_work / len(without) if without else NAN
    out["work.n_without"] = float(len(without))
    return out, samples


# ---------------------------------------------------------------------------------------------- trips


def match_trips(detected: pa.Table, truth: pa.Table) -> list[tuple[int, int]]:
    """Pairs ``(detected_row, true_row)``: trips of the same agent (``entity`` / ``agent``) whose
    time intervals overlap, one-to-one, largest overlap first."""
    d_ent, t_ent = _str(detected, "entity"), _str(truth, "agent")
    ds, de = _us(detected, "start"), _us(detected, "end")
    ts, te = _us(truth, "start"), _us(truth, "end")
    by_agent: dict[str, list[int]] = defaultdict(list)
    for j, a in enumerate(t_ent):
        if a is not None:
            by_agent[a].append(j)
    cand: list[tuple[int, int, int]] = []
    for i, e in enumerate(d_ent):
        js = by_agent.get(e or "")
        if not js:
            continue
        idx = np.asarray(js, np.int64)
        ov = np.minimum(de[i], te[idx]) - np.maximum(ds[i], ts[idx])
        for j, o in zip(idx[ov > 0], ov[ov > 0], strict=True):
            cand.append((-int(o), i, int(j)))
    cand.sort()
    used_d: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for _, i, j in cand:
        if i in used_d or j in used_t:
            continue
        used_d.add(i)
        used_t.add(j)
        pairs.append((i, j))
    return sorted(pairs)


def score_trips(
    trips: pa.Table, true_trips: pa.Table, *, mode_rows: list[int] | None = None
) -> tuple[dict[str, float], dict[str, Samples], dict[str, dict[str, int]]]:
    """Trip detection (precision, recall, F1) and mode accuracy of matched trips.

    Both tables should already be limited to the entities scored. Returns the metrics (``trips.*``
    and ``modes.*`` keys), the samples for ``trips`` (confidence, matched) and ``modes``
    (mode_confidence, right) and the mode confusion ``{true mode: {guess: count}}``. ``mode_rows``,
    when given, is extended with the row of ``trips`` behind each ``modes`` sample.
    """
    pairs = match_trips(trips, true_trips)
    out: dict[str, float] = {}
    for k, v in prf(len(pairs), trips.num_rows, true_trips.num_rows).items():
        out[f"trips.{k}"] = v
    out["trips.n_detected"] = float(trips.num_rows)
    out["trips.n_true"] = float(true_trips.num_rows)
    matched = np.zeros(trips.num_rows, np.bool_)
    for i, _ in pairs:
        matched[i] = True
    conf = (
        _f64(trips, "confidence") if "confidence" in trips.column_names else np.full(trips.num_rows, np.nan)
    )
    samples: dict[str, Samples] = {"trips": (conf, matched)}
    guess = _str(trips, "mode") if "mode" in trips.column_names else [None] * trips.num_rows
    mconf = (
        _f64(trips, "mode_confidence")
        if "mode_confidence" in trips.column_names
        else np.full(trips.num_rows, np.nan)
    )
    true_mode = _str(true_trips, "mode")
    confusion: dict[str, dict[str, int]] = {}
    per_mode: dict[str, list[bool]] = defaultdict(list)
    s_conf: list[float] = []
    s_ok: list[bool] = []
    for i, j in pairs:
        tm = true_mode[j] or "unknown"
        g = guess[i] or "unknown"
        confusion.setdefault(tm, {})
        confusion[tm][g] = confusion[tm].get(g, 0) + 1
        ok = TRUE_MODE_AS_GUESS.get(tm) == g
        per_mode[tm].append(ok)
        s_conf.append(float(mconf[i]))
        s_ok.append(ok)
        if mode_rows is not None:
            mode_rows.append(i)
    out["modes.accuracy"] = float(np.mean(s_ok)) if s_ok else NAN
    out["modes.n"] = float(len(s_ok))
    for tm in sorted(TRUE_MODE_AS_GUESS):
        oks = per_mode.get(tm, [])
        out[f"modes.recall.{tm}"] = float(np.mean(oks)) if oks else NAN
    samples["modes"] = (np.asarray(s_conf, np.float64), np.asarray(s_ok, np.bool_))
    return out, samples, confusion


# --------------------------------------------------------------------------------------------- routes


def score_routes(
    routes: pa.Table,
    places: pa.Table,
    true_trips: pa.Table,
    true_places: pa.Table,
    *,
    min_trips: int = 2,
    max_distance_m: float = 100.0,
) -> dict[str, float]:
    """Share of true origin-destination pairs (an agent going from place P to place Q at least
    ``min_trips`` times) that a habitual route of that agent connects (both ends within
    ``max_distance_m``), and the share of routes that connect such a pair."""
    coords = {
        p: (la, lo)
        for p, la, lo in zip(
            _str(true_places, "place_id"), _f64(true_places, "lat"), _f64(true_places, "lon"), strict=True
        )
    }
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for a, f, t in zip(
        _str(true_trips, "agent"), _str(true_trips, "from_place"), _str(true_trips, "to_place"), strict=True
    ):
        if a is not None and f is not None and t is not None and f != t:
            counts[(a, f, t)] += 1
    pairs = sorted(k for k, c in counts.items() if c >= min_trips and k[1] in coords and k[2] in coords)
    pcoords = {
        p: (la, lo)
        for p, la, lo in zip(_str(places, "place_id"), _f64(places, "lat"), _f64(places, "lon"), strict=True)
    }
    r_ent = _str(routes, "entity")
    r_from, r_to = _str(routes, "from_place"), _str(routes, "to_place")
    by_agent: dict[str, list[tuple[tuple[float, float], tuple[float, float]]]] = defaultdict(list)
    for e, f, t in zip(r_ent, r_from, r_to, strict=True):
        if e is not None and f in pcoords and t in pcoords:
            by_agent[e].append((pcoords[f or ""], pcoords[t or ""]))
    true_by_agent: dict[str, list[tuple[tuple[float, float], tuple[float, float]]]] = defaultdict(list)
    for a, f, t in pairs:
        true_by_agent[a].append((coords[f], coords[t]))

    def near(p: tuple[float, float], q: tuple[float, float]) -> bool:
        return float(haversine_m(p[0], p[1], q[0], q[1])) <= max_distance_m

    found = sum(
        any(near(rf, tf) and near(rt, tt) for rf, rt in by_agent.get(a, []))
        for a, lst in true_by_agent.items()
        for tf, tt in lst
    )
    good = sum(
        any(near(rf, tf) and near(rt, tt) for tf, tt in true_by_agent.get(a, []))
        for a, lst in by_agent.items()
        for rf, rt in lst
    )
    n_routes = sum(len(v) for v in by_agent.values())
    return {
        "routes.recall": found / len(pairs) if pairs else NAN,
        "routes.precision": good / n_routes if n_routes else NAN,
        "routes.n_true": float(len(pairs)),
        "routes.n_detected": float(n_routes),
    }


def filter_entities(t: pa.Table, column: str, keep: set[str]) -> pa.Table:
    """Rows of ``t`` whose ``column`` is in ``keep``."""
    col = t.column(column).cast(pa.string())
    return t.filter(pc.fill_null(pc.is_in(col, value_set=pa.array(sorted(keep), pa.string())), False))


def details_of(x: Any) -> Any:
    """JSON-safe copy (NaN → None, NumPy scalars → Python)."""
    if isinstance(x, dict):
        return {str(k): details_of(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [details_of(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x
