"""Routines: stays + places ➜ time-of-week occupancy, regularity and anomalies, stage 5 of the
pattern-of-life engine. Times of day and days of week are those of each place's local zone.

* :func:`time_of_week_occupancy`: for each entity, place, local day of week and time bin, the share
  of the observed weeks in which the entity was there (at least half of the bin).
* :func:`regularity`: per entity, the entropies of Song et al. (2010, "Limits of predictability in
  human mobility") on the sequence of hourly locations, the predictability bound Π_max from Fano's
  inequality, the radius of gyration, the number of places and the visit shares of the top places.
* :func:`anomalies`: local days that break the routine — a stay at a place never or rarely visited,
  an absence from a place the entity is usually at on that day of the week, a home-coming or an
  arrival at work far from the usual time.

Entropies (bits)
----------------
The location sequence is one symbol per observed local hour (the place with the most dwell in that
hour; hours without any stay are left out, as Song et al. left out missing hours).
``entropy_random`` = log2 N (N distinct places), ``entropy_uncorrelated`` = −Σ p_i log2 p_i (p_i
the share of hours at place i), ``entropy_lz`` the Lempel-Ziv estimate
S = n log2 n / Σ Λ_i (Kontoyiannis et al. 1998), Λ_i the length of the shortest substring starting
at i that does not occur in the sequence before i (n − i + 1 when it does not exist); it
needs at least 24 hours, else null.

Π_max solves Fano's equality S = H(Π) + (1 − Π) log2(N − 1), H the binary entropy, for Π in
[1/N, 1] by bisection (the right side falls monotonically there from log2 N to 0), with S the
Lempel-Ziv entropy (the uncorrelated one when the sequence is too short). N = 1 gives Π = 1;
S ≥ log2 N gives Π = 1/N.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..kernels.routines import lz_match_totals
from ..model.errors import InputError
from ._geo import enu_m
from ._localtime import US_PER_DAY, US_PER_S, day_of_week, local_day, seconds_of_day, to_local_us, week_of
from .anchors import _DOW, Prepared, expand_slots, group_sum, hhmm, infer_anchors, prepare

__all__ = [
    "anomalies",
    "fano_max_predictability",
    "lz_entropy",
    "regularity",
    "time_of_week_occupancy",
]

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


def time_of_week_occupancy(
    stays: pa.Table, places: pa.Table, *, bin_minutes: int = 60, tz: str | None = None
) -> pa.Table:
    """Share of observed weeks in which each entity was at each place in each local time-of-week bin.

    A week is *observed* for a (day of week, bin) when the entity's stays cover any of that bin in
    that week; the entity is *present* when it spent at least half the bin at the place. Returns
    ``entity``, ``place_id``, ``dow`` (0 = Monday), ``hour``, ``minute`` (start of the bin, local),
    ``weeks_present``, ``weeks_observed`` and ``share``; only bins with presence.

    >>> import pyarrow as pa
    >>> h, d = 3_600_000_000, 86_400_000_000
    >>> ts = pa.timestamp("us", tz="UTC")
    >>> stays = pa.table({"entity": ["ann"] * 2, "start": pa.array([9 * h, 7 * d + 9 * h], ts),
    ...     "end": pa.array([10 * h, 7 * d + 9 * h + 600_000_000], ts), "place_id": ["w", "w"]})
    >>> places = pa.table({"place_id": ["w"], "lat": [52.0], "lon": [5.0]})
    >>> t = time_of_week_occupancy(stays, places, tz="UTC")
    >>> t.column("hour").to_pylist(), t.column("share").to_pylist()
    ([9], [0.5])
    """
    if (
        isinstance(bin_minutes, bool)
        or not isinstance(bin_minutes, int)
        or bin_minutes < 1
        or 1440 % bin_minutes
    ):
        raise InputError(
            f"bin_minutes must be a whole divisor of 1440 (15, 30, 60, ...), got {bin_minutes!r}"
        )
    p = prepare(stays, places, tz=tz, fn="time_of_week_occupancy")
    slot_s = bin_minutes * 60 if bin_minutes % 15 == 0 else 60
    sl = expand_slots(p, slot_s)
    b = sl.sod // (bin_minutes * 60)
    wk = week_of(sl.day)
    (e1, p1, _w1, d1, b1), secs = _group_sum(sl.secs, sl.ent, sl.place, wk, sl.dow, b)
    present = secs >= bin_minutes * 30
    (oe, od, ob, _ow), _ = _group_sum(np.ones(sl.ent.shape[0]), sl.ent, sl.dow, b, wk)
    (oe2, od2, ob2), n_obs = _group_sum(np.ones(oe.shape[0]), oe, od, ob)
    (re_, rp, rd, rb), n_pres = _group_sum(
        np.ones(int(present.sum())), e1[present], p1[present], d1[present], b1[present]
    )
    key_obs = (oe2 * 7 + od2) * 1440 + ob2
    key = (re_ * 7 + rd) * 1440 + rb
    obs = n_obs[np.searchsorted(key_obs, key)] if key.size else np.zeros(0)
    order = np.lexsort((rb, rd, rp, re_))
    minute_of_day = rb * bin_minutes
    return pa.table(
        {
            "entity": pa.array([p.entities[i] for i in re_[order].tolist()], pa.string()),
            "place_id": pa.array([p.place_ids[i] for i in rp[order].tolist()], pa.string()),
            "dow": pa.array(rd[order], pa.int8()),
            "hour": pa.array(minute_of_day[order] // 60, pa.int8()),
            "minute": pa.array(minute_of_day[order] % 60, pa.int8()),
            "weeks_present": pa.array(n_pres[order].astype(np.int64)),
            "weeks_observed": pa.array(np.asarray(obs, np.int64)[order]),
            "share": pa.array(n_pres[order] / np.maximum(np.asarray(obs, np.float64)[order], 1.0)),
        }
    )


def _group_sum(values: F64, *keys: I64) -> tuple[list[I64], F64]:
    """:func:`hereabouts.analysis.anchors.group_sum` (the same keys, sums and order, bit for bit)
    with one stable sort of the keys packed into a single integer instead of a sort per key; falls
    back to it when the packed key would not fit in 62 bits."""
    n = values.shape[0]
    if n == 0 or not keys:
        return group_sum(values, *keys)
    lows = [int(k.min()) for k in keys]
    spans = [int(k.max()) - lo + 1 for k, lo in zip(keys, lows, strict=True)]
    if math.prod(spans) >= 1 << 62:
        return group_sum(values, *keys)
    packed = np.zeros(n, np.int64)
    for k, lo, span in zip(keys, lows, spans, strict=True):
        packed *= span
        packed += k - lo
    order = np.argsort(packed, kind="stable")  # the order of np.lexsort over the keys
    ps = packed[order]
    starts = np.flatnonzero(np.concatenate(([True], ps[1:] != ps[:-1])))
    sums = np.add.reduceat(values[order], starts)
    first = order[starts]
    return [np.asarray(k[first], np.int64) for k in keys], np.asarray(sums, np.float64)


# --------------------------------------------------------------------------------------------------
# regularity


def lz_entropy(seq: list[int]) -> float:
    """Lempel-Ziv entropy estimate (bits per symbol) of a symbol sequence (see the module notes;
    compiled, :func:`hereabouts.kernels.reference.lz_entropy_reference` is the definition).

    >>> lz_entropy([0] * 1000) < 0.05
    True
    """
    n = len(seq)
    if n < 2:
        return 0.0
    arr = np.asarray(seq, np.int64)
    total = int(lz_match_totals(arr, np.array([0, n], np.int64))[0])
    return n * math.log2(n) / total


def fano_max_predictability(entropy_bits: F64, n_places: I64, iterations: int = 80) -> F64:
    """Π_max from Fano's inequality for each (entropy, number of places) pair (vectorised
    bisection; see the module notes).

    >>> pi = fano_max_predictability(np.array([0.0, 1.0, 2.0]), np.array([5, 2, 4]))
    >>> [round(v, 4) for v in pi.tolist()]
    [1.0, 0.5, 0.25]
    """
    s = np.asarray(entropy_bits, np.float64)
    n = np.asarray(n_places, np.float64)
    lo = np.where(n > 1, 1.0 / np.maximum(n, 1.0), 1.0)
    hi = np.ones_like(s)

    def f(pi: F64) -> F64:
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(pi > 0, pi * np.log2(pi), 0.0) - np.where(pi < 1, (1 - pi) * np.log2(1 - pi), 0.0)
            tail = np.where(n > 2, (1 - pi) * np.log2(np.maximum(n - 1, 1.0)), 0.0)
        return np.asarray(h + tail, np.float64)

    for _ in range(iterations):
        mid = (lo + hi) / 2
        above = f(mid) > s  # the function falls with pi: too much entropy at mid, go right
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    out = (lo + hi) / 2
    out = np.where(n <= 1, 1.0, out)
    out = np.where((n > 1) & (s >= np.log2(np.maximum(n, 1.0))), 1.0 / np.maximum(n, 1.0), out)
    out = np.where(s <= 0, 1.0, out)
    return np.asarray(out, np.float64)


def regularity(
    stays: pa.Table, places: pa.Table, fixes: pa.Table | None = None, *, tz: str | None = None
) -> pa.Table:
    """Per entity: ``n_places``, ``n_visits``, ``hours_observed``, ``entropy_random``,
    ``entropy_uncorrelated``, ``entropy_lz`` (bits), ``predictability_max`` (Π_max from the LZ
    entropy, or the uncorrelated one when the sequence is shorter than 24 hours), ``radius_of_gyration_km``
    (dwell-weighted, of the stays' places), ``radius_of_gyration_fixes_km`` (of the fixes, when given;
    matched on an ``entity`` column, else ``device``), and ``visit_share_1..3`` (share of visits to
    the three most visited places)."""
    p = prepare(stays, places, tz=tz, fn="regularity")
    sl = expand_slots(p, 3600)
    ne = len(p.entities)
    (he, hh, hp), hs = _group_sum(sl.secs, sl.ent, sl.utc, sl.place)
    best = np.lexsort((-hs, hh, he))
    first = np.ones(best.shape[0], np.bool_)
    first[1:] = (he[best][1:] != he[best][:-1]) | (hh[best][1:] != hh[best][:-1])
    seq_e, seq_p = he[best][first], hp[best][first]  # sorted by entity then hour
    new_visit = np.ones(p.ent.shape[0], np.bool_)
    new_visit[1:] = (p.ent[1:] != p.ent[:-1]) | (p.place[1:] != p.place[:-1])
    v_e, v_p = p.ent[new_visit], p.place[new_visit]
    dw = (p.end - p.start) / US_PER_S
    # each entity's rows are one slice of each array (all are sorted by entity)
    ents = np.arange(ne + 1)
    sb = np.searchsorted(seq_e, ents)
    vb = np.searchsorted(v_e, ents)
    pb = np.searchsorted(p.ent, ents)
    n_seq = np.diff(sb)
    lz_total = lz_match_totals(np.ascontiguousarray(seq_p, np.int64), sb.astype(np.int64))
    # counts per (entity, place), sorted by entity then place: hours there, visits, stays
    (hc_e, _), hc_all = _group_sum(np.ones(seq_e.shape[0]), seq_e, seq_p)
    hb = np.searchsorted(hc_e, ents)
    (vc_e, _), vc_all = _group_sum(np.ones(v_e.shape[0]), v_e, v_p)
    vo = np.lexsort((-vc_all, vc_e))  # each entity's places, most visited first
    vc_sorted = vc_all[vo]
    vcb = np.searchsorted(vc_e[vo], ents)
    (pc_e, _), _ = _group_sum(np.ones(p.ent.shape[0]), p.ent, p.place)
    n_places = np.bincount(pc_e, minlength=ne)
    n_visits = np.diff(vb)
    cols: dict[str, list[object]] = {
        k: []
        for k in (
            "entity",
            "n_places",
            "n_visits",
            "hours_observed",
            "entropy_random",
            "entropy_uncorrelated",
            "entropy_lz",
            "predictability_max",
            "radius_of_gyration_km",
            "radius_of_gyration_fixes_km",
            "visit_share_1",
            "visit_share_2",
            "visit_share_3",
        )
    }
    fix_rg = _fix_rg(fixes) if fixes is not None else {}
    s_use_all = np.zeros(ne)
    n_pl_all = np.diff(hb)
    for e in range(ne):
        hc = hc_all[hb[e] : hb[e + 1]]
        n_pl = int(n_pl_all[e])
        q = hc / max(int(hc.sum()), 1)
        s_unc = float(-(q * np.log2(q)).sum()) if n_pl else 0.0
        n = int(n_seq[e])
        s_lz = n * math.log2(n) / int(lz_total[e]) if n >= 24 else None
        s_use_all[e] = s_lz if s_lz is not None else s_unc
        pe = slice(pb[e], pb[e + 1])
        vc = vc_sorted[vcb[e] : vcb[e + 1]]
        cols["entity"].append(p.entities[e])
        cols["n_places"].append(int(n_places[e]))
        cols["n_visits"].append(int(n_visits[e]))
        cols["hours_observed"].append(n)
        cols["entropy_random"].append(math.log2(n_pl) if n_pl else 0.0)
        cols["entropy_uncorrelated"].append(s_unc)
        cols["entropy_lz"].append(s_lz)
        cols["radius_of_gyration_km"].append(_rg_km(p.plat[p.place[pe]], p.plon[p.place[pe]], dw[pe]))
        cols["radius_of_gyration_fixes_km"].append(fix_rg.get(p.entities[e]))
        tot = max(int(n_visits[e]), 1)
        for k in range(3):
            cols[f"visit_share_{k + 1}"].append(float(vc[k]) / tot if k < vc.shape[0] else None)
    # Π_max of all entities in one vectorised bisection (elementwise: the same as one at a time)
    pi = fano_max_predictability(s_use_all, np.maximum(n_pl_all, 1))
    cols["predictability_max"] = [float(pi[e]) if n_pl_all[e] else None for e in range(ne)]
    types = {
        "entity": pa.string(),
        "n_places": pa.int64(),
        "n_visits": pa.int64(),
        "hours_observed": pa.int64(),
    }
    return pa.table({k: pa.array(v, types.get(k, pa.float64())) for k, v in cols.items()})


def _rg_km(lat: F64, lon: F64, w: F64) -> float | None:
    if lat.shape[0] == 0:
        return None
    w = np.maximum(np.asarray(w, np.float64), 1e-9)
    la0, lo0 = float(np.average(lat, weights=w)), float(np.average(lon, weights=w))
    x, y = enu_m(lat, lon, la0, lo0)
    cx, cy = np.average(x, weights=w), np.average(y, weights=w)
    return float(math.sqrt(np.average((x - cx) ** 2 + (y - cy) ** 2, weights=w)) / 1000.0)


def _fix_rg(fixes: pa.Table) -> dict[str, float | None]:
    """Radius of gyration (km) of each entity's fixes, vectorised (one pass of bincounts)."""
    key = "entity" if "entity" in fixes.column_names else "device"
    enc = pc.dictionary_encode(fixes.column(key).cast(pa.string()).combine_chunks())
    codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)
    names = [str(v) for v in enc.dictionary.to_pylist()]
    lat = np.asarray(fixes.column("lat").to_numpy(), np.float64)
    lon = np.asarray(fixes.column("lon").to_numpy(), np.float64)
    k = len(names)
    n = np.bincount(codes, minlength=k).astype(np.float64)
    la0 = np.bincount(codes, weights=lat, minlength=k) / np.maximum(n, 1)
    lo0 = np.bincount(codes, weights=lon, minlength=k) / np.maximum(n, 1)
    x, y = enu_m(lat, lon, la0[codes], lo0[codes])
    cx = np.bincount(codes, weights=x, minlength=k) / np.maximum(n, 1)
    cy = np.bincount(codes, weights=y, minlength=k) / np.maximum(n, 1)
    d2 = (x - cx[codes]) ** 2 + (y - cy[codes]) ** 2
    rg = np.sqrt(np.bincount(codes, weights=d2, minlength=k) / np.maximum(n, 1)) / 1000.0
    return {nm: float(rg[i]) for i, nm in enumerate(names)}


# --------------------------------------------------------------------------------------------------
# anomalies


def anomalies(
    stays: pa.Table,
    places: pa.Table,
    *,
    rare_max_visits: int = 1,
    routine_min_share: float = 0.75,
    routine_min_weeks: int = 2,
    timing_min_z: float = 3.0,
    timing_min_h: float = 1.5,
    anchors: pa.Table | None = None,
    tz: str | None = None,
) -> pa.Table:
    """Local days that break an entity's routine.

    Kinds and scores (higher = stranger; scores are surprisals in bits or robust z-scores):

    ``unusual_place``
        A visit of at least 30 minutes to a place the entity visited at most ``rare_max_visits``
        times in the whole period (this visit included), on the local day the visit began. Score:
        −log2((visits there + 0.5) / (observed days + 1)) — the rarer the place and the longer the
        record, the higher.
    ``absence``
        An observed day (stays cover at least 12 hours of it) without the entity at a place where it
        was present (30 minutes or more) on that day of the week in at least ``routine_min_share``
        of the other observed weeks, at least ``routine_min_weeks`` of them. Score:
        −log2(1 − (k + 0.5) / (n + 1)) with k of n other weeks present.
    ``late_home`` / ``early_home`` / ``late_work`` / ``early_work``
        The arrival home for the night (the start of the visit holding 03:00 local) or the first
        arrival at work on a workday, at least ``timing_min_h`` hours and ``timing_min_z`` robust
        z-scores (|x − median| / (1.4826 · MAD), MAD at least 15 minutes) from the entity's usual
        time. Score: the z-score.

    Returns ``entity``, ``day`` (local date), ``kind``, ``score``, ``place_id``, ``routine`` (the
    routine broken, in plain words) and ``detail`` (what happened), sorted by entity, day, score
    (highest first).
    """
    if not (0 < routine_min_share <= 1):
        raise InputError(f"routine_min_share must be in (0, 1], got {routine_min_share!r}")
    p = prepare(stays, places, tz=tz, fn="anomalies")
    sl = expand_slots(p)
    out: dict[str, list[object]] = {
        k: [] for k in ("entity", "day", "kind", "score", "place_id", "routine", "detail")
    }

    def emit(e: int, day: int, kind: str, score: float, place: int, routine: str, detail: str) -> None:
        out["entity"].append(p.entities[e])
        out["day"].append(int(day))
        out["kind"].append(kind)
        out["score"].append(float(score))
        out["place_id"].append(p.place_ids[place])
        out["routine"].append(routine)
        out["detail"].append(detail)

    # observed days: stays cover >= 12 h
    (de, dd), dsec = _group_sum(sl.secs, sl.ent, sl.day)
    obs = dsec >= 12 * 3600
    obs_e, obs_d = de[obs], dd[obs]

    # unusual places: visits (consecutive stays at one place merged) to places with few visits
    new_visit = np.ones(p.ent.shape[0], np.bool_)
    new_visit[1:] = (p.ent[1:] != p.ent[:-1]) | (p.place[1:] != p.place[:-1])
    vi = np.flatnonzero(new_visit)
    v_e, v_p = p.ent[vi], p.place[vi]
    v_start = p.start[vi]
    v_dwell = np.add.reduceat((p.end - p.start) / US_PER_S, vi) if vi.size else np.zeros(0)
    v_day = local_day(to_local_us(v_start, p.pzone[v_p], p.zones))
    (ue, up), ucount = _group_sum(np.ones(vi.shape[0]), v_e, v_p)
    nvis_of = {(int(a), int(b)): int(c) for a, b, c in zip(ue, up, ucount, strict=True)}
    n_obs_days = np.bincount(obs_e, minlength=len(p.entities))
    for e, q, d, s in zip(v_e.tolist(), v_p.tolist(), v_day.tolist(), v_dwell.tolist(), strict=True):
        k = nvis_of[e, q]
        if k <= rare_max_visits and s >= 1800 and n_obs_days[e] >= 3:
            score = -math.log2((k + 0.5) / (n_obs_days[e] + 1))
            emit(
                e,
                d,
                "unusual_place",
                score,
                q,
                f"usually only at places visited more than {rare_max_visits} time(s) "
                f"({n_obs_days[e]} observed days)",
                f"{s / 3600:.1f} h at a place visited {k} time(s)",
            )
    (pe, pd_, pp), psec = _group_sum(sl.secs, sl.ent, sl.day, sl.place)

    # absences from routine places (by day of week)
    pres_key = set(zip(pe.tolist(), pd_.tolist(), pp.tolist(), strict=True))
    pres_2h = psec >= 1800
    (re_, rdow, rp), _ = _group_sum(
        np.ones(int(pres_2h.sum())), pe[pres_2h], day_of_week(pd_[pres_2h]), pp[pres_2h]
    )
    obs_dow = day_of_week(obs_d)
    for e, dw, q in zip(re_.tolist(), rdow.tolist(), rp.tolist(), strict=True):
        days_e = obs_d[(obs_e == e) & (obs_dow == dw)]
        n = int(days_e.shape[0])
        if n < routine_min_weeks:
            continue
        here = [d for d in days_e.tolist() if (e, d, q) in pres_key]
        kk = len(here)
        # a routine holds in the other weeks: every absent day is judged against the other n - 1
        if kk == n or n - 1 < routine_min_weeks or kk / (n - 1) < routine_min_share:
            continue
        # usual hours there on that weekday
        sel = (sl.ent == e) & (sl.place == q) & (sl.dow == dw)
        lo, hi = np.percentile(sl.sod[sel], [10, 90]) if sel.any() else (0.0, 0.0)
        routine = (
            f"usually at {p.place_ids[q]} on {_DOW[dw]}s {hhmm(lo)}-{hhmm(hi + 900)} local "
            f"({kk} of {n - 1} other weeks)"
        )
        score = -math.log2(1 - (kk + 0.5) / (n - 1 + 1))
        for d in days_e.tolist():
            if (e, d, q) not in pres_key:
                emit(e, d, "absence", score, q, routine, f"not at {p.place_ids[q]} on this {_DOW[dw]}")

    # timing: home-coming and arrival at work
    an = anchors if anchors is not None else infer_anchors(stays, places, tz=tz)
    a = an.filter(pc.invert(an.column("abstained")))
    pid_code = {pid: i for i, pid in enumerate(p.place_ids)}
    for ent_name, label, pid in zip(
        a.column("entity").to_pylist(),
        a.column("label").to_pylist(),
        a.column("place_id").to_pylist(),
        strict=True,
    ):
        if label not in ("home", "work") or pid not in pid_code or ent_name not in p.entities:
            continue
        e, q = p.entities.index(ent_name), pid_code[pid]
        _timing(p, e, q, label, timing_min_z, timing_min_h, emit)

    days = pa.array(out["day"], pa.int32()).cast(pa.date32())
    t = pa.table(
        {
            "entity": pa.array(out["entity"], pa.string()),
            "day": days,
            "kind": pa.array(out["kind"], pa.string()),
            "score": pa.array(out["score"], pa.float64()),
            "place_id": pa.array(out["place_id"], pa.string()),
            "routine": pa.array(out["routine"], pa.string()),
            "detail": pa.array(out["detail"], pa.string()),
        }
    )
    return t.sort_by([("entity", "ascending"), ("day", "ascending"), ("score", "descending")])


def _timing(
    p: Prepared,
    e: int,
    q: int,
    label: str,
    min_z: float,
    min_h: float,
    emit: Callable[[int, int, str, float, int, str, str], None],
) -> None:
    sel = np.flatnonzero((p.ent == e) & (p.place == q))
    if sel.size < 5:
        return
    idx = np.flatnonzero(p.ent == e)
    # visits: merge consecutive stays at the place
    pos = np.searchsorted(idx, sel)
    new = np.ones(sel.shape[0], np.bool_)
    new[1:] = pos[1:] != pos[:-1] + 1
    vstart = np.minimum.reduceat(p.start[sel], np.flatnonzero(new))
    vend = np.maximum.reduceat(p.end[sel], np.flatnonzero(new))
    seen = (vstart > p.span_start[e]) & (vend < p.span_end[e])  # not cut by the start or end of the data
    vstart, vend = vstart[seen], vend[seen]
    zc = np.full(vstart.shape[0], p.pzone[q])
    ls = to_local_us(vstart, zc, p.zones)
    le = to_local_us(vend, zc, p.zones)
    if label == "home":
        # the visit holding 03:00 local of day d+1 is the home-coming of day d (hours after d's midnight)
        three = (local_day(ls - 3 * 3600 * US_PER_S) + 1) * US_PER_DAY + 3 * 3600 * US_PER_S
        holds = (ls <= three) & (le >= three)
        day = local_day(three)[holds] - 1
        x = (ls[holds] - day * US_PER_DAY) / (3600 * US_PER_S)
        late = x >= 14  # a home-coming is in the afternoon, evening or night
        day, x = day[late], x[late]
        what, routine_kind = "home", "comes home"
    else:
        day_all = local_day(ls)
        wd = day_of_week(day_all) < 5
        first = np.ones(ls.shape[0], np.bool_)
        first[1:] = day_all[1:] != day_all[:-1]
        keep = first & wd
        day = day_all[keep]
        x = seconds_of_day(ls[keep]) / 3600
        what, routine_kind = "work", "arrives at work"
    if x.shape[0] < 5:
        return
    # weekdays and weekends have their own usual times
    weekend = day_of_week(day) >= 5
    med_of = {w: float(np.median(x[weekend == w])) if (weekend == w).any() else 0.0 for w in (False, True)}
    med_arr = np.where(weekend, med_of[True], med_of[False])
    mad_of = {
        w: max(float(np.median(np.abs(x - med_arr)[weekend == w])) * 1.4826, 0.25)
        if (weekend == w).any()
        else 1.0
        for w in (False, True)
    }
    z = (x - med_arr) / np.where(weekend, mad_of[True], mad_of[False])
    n_of = {w: int((weekend == w).sum()) for w in (False, True)}
    usual_of = {w: int((np.abs(x - med_arr) <= 1.0)[weekend == w].sum()) for w in (False, True)}
    for d, xi, zi, w in zip(day.tolist(), x.tolist(), z.tolist(), weekend.tolist(), strict=True):
        if n_of[w] < 4:
            continue
        med, n = med_of[w], n_of[w]
        days_word = "weekend days" if w else "weekdays"
        if abs(zi) >= min_z and abs(xi - med) >= min_h:
            kind = f"{'late' if zi > 0 else 'early'}_{what}"
            emit(
                e,
                d,
                kind,
                abs(zi),
                q,
                f"usually {routine_kind} around {hhmm(med * 3600)} local on {days_word} "
                f"({usual_of[w]} of {n} within an hour)",
                f"arrived {hhmm(xi * 3600)}",
            )
