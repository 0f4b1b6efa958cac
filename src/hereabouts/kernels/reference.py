"""Plain-Python reference implementations of the compiled kernels, written for clarity, not speed.

They define what the kernels in :mod:`hereabouts.kernels.stays` must compute; the tests run both on
random input and require identical results (indices and times exactly, floats bit for bit). Each
works one entity at a time on Python lists; the ``*_all`` wrappers take the same arrays as the kernels
and return the same ``(ints, floats)`` tables.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .stays import EARTH_RADIUS_M, GAP_REF_US, RADIUS_QUANTILE

__all__ = [
    "Stay",
    "robust_stays",
    "robust_stays_entity",
    "sliding_stays",
    "sliding_stays_entity",
    "ti_haversine_m",
]

DEG_M = EARTH_RADIUS_M * math.pi / 180.0


@dataclass(frozen=True)
class Stay:
    """One stay found in one entity's rows (row numbers are those of the whole sorted table)."""

    first_row: int
    last_row: int
    start_us: int
    end_us: int
    n_fixes: int
    gap_us: int
    lat: float
    lon: float
    radius_m: float


def ti_haversine_m(lon_1: float, lat_1: float, lon_2: float, lat_2: float) -> float:
    """trackintel 1.4 ``point_haversine_dist(lon_1, lat_1, lon_2, lat_2, float_flag=True)``."""
    lon_1, lat_1, lon_2, lat_2 = (math.radians(v) for v in (lon_1, lat_1, lon_2, lat_2))
    x = math.cos(lat_1 - lat_2) - math.cos(lat_1) * math.cos(lat_2) * (1.0 - math.cos(lon_1 - lon_2))
    return EARTH_RADIUS_M * math.acos(x)


def _wrap_lon(d: float) -> float:
    return d - 360.0 if d > 180.0 else d + 360.0 if d < -180.0 else d


def _median(values: Sequence[float]) -> float:
    v = sorted(values)
    h = len(v) // 2
    return float(v[h]) if len(v) % 2 else 0.5 * (v[h - 1] + v[h])


def _quantile(values: Sequence[float], q: float) -> float:
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return float(v[lo] + (v[hi] - v[lo]) * (pos - lo))


def _radius_gap(
    rows: Sequence[int], t: Sequence[int], lat: Sequence[float], lon: Sequence[float], c: tuple[float, float]
) -> tuple[float, int]:
    ccos = math.cos(math.radians(c[0]))
    d = []
    for r in rows:
        dy = (lat[r] - c[0]) * DEG_M
        dx = _wrap_lon(lon[r] - c[1]) * ccos * DEG_M
        d.append(math.sqrt(dx * dx + dy * dy))
    radius = _quantile(d, RADIUS_QUANTILE)
    gap = sum(t[b] - t[a] for a, b in itertools.pairwise(rows) if t[b] - t[a] > GAP_REF_US)
    return radius, gap


# --------------------------------------------------------------------------------------------------
# trackintel 1.4, generate_staypoints(method="sliding")


def sliding_stays_entity(
    rows: Sequence[int],
    t: Sequence[int],
    lat: Sequence[float],
    lon: Sequence[float],
    *,
    dist_threshold_m: float,
    min_duration_us: int,
    max_gap_us: int,
    include_last: bool,
    exclude_duplicates: bool,
) -> list[Stay]:
    """trackintel's ``_generate_staypoints_sliding_user`` on one entity's ``rows`` (sorted by time).

    ``exclude_duplicates`` drops a row equal in (t, lat, lon) to an earlier one, as trackintel's
    ``exclude_duplicate_pfs`` (``drop_duplicates``) does for positionfixes holding only user, time and
    point.
    """
    if exclude_duplicates:
        seen: set[tuple[int, float, float]] = set()
        kept = []
        for r in rows:
            key = (t[r], lat[r], lon[r])
            if key not in seen:
                seen.add(key)
                kept.append(r)
        rows = kept
    out: list[Stay] = []
    if not rows:
        return out

    def stay(lo: int, hi: int, end_us: int) -> Stay:
        window = rows[lo : hi + 1]
        # trackintel unions the points (dropping repeats), then averages lat and the angle of lon
        points = list(dict.fromkeys((lat[r], lon[r]) for r in window))
        s_lat = s_sin = s_cos = 0.0
        for la, lo_ in points:
            s_lat += la
            s_sin += math.sin(math.radians(lo_))
            s_cos += math.cos(math.radians(lo_))
        k = len(points)
        centre = (s_lat / k, math.degrees(math.atan2(s_sin / k, s_cos / k)))
        radius, gap = _radius_gap(window, t, lat, lon, centre)
        return Stay(window[0], window[-1], t[window[0]], end_us, len(window), gap, *centre, radius)

    start = curr = 0
    for curr in range(1, len(rows)):
        if t[rows[curr]] - t[rows[curr - 1]] > max_gap_us:
            start = curr
            continue
        s, c = rows[start], rows[curr]
        if ti_haversine_m(lon[s], lat[s], lon[c], lat[c]) >= dist_threshold_m:
            if t[c] - t[s] >= min_duration_us:
                out.append(stay(start, curr - 1, t[c]))
            start = curr
    if include_last and t[rows[curr]] - t[rows[start]] >= min_duration_us:
        out.append(stay(start, len(rows) - 1, t[rows[curr]]))
    return out


# --------------------------------------------------------------------------------------------------
# hereabouts' robust detector


def robust_stays_entity(
    rows: Sequence[int],
    t: Sequence[int],
    lat: Sequence[float],
    lon: Sequence[float],
    acc: Sequence[float],
    *,
    radius_m: float,
    min_duration_us: int,
    max_gap_us: int,
    max_outliers: int,
    max_accuracy_m: float,
    min_fixes: int,
    include_last: bool,
) -> list[Stay]:
    """hereabouts' stay detector on one entity's ``rows`` (sorted by time).

    1. Fixes whose accuracy is worse than ``max_accuracy_m`` are ignored (unknown accuracy counts as 0).
    2. A candidate stay starts at a fix, with that fix as its centre. The next fix *fits* when its
       accuracy disc overlaps the disc of ``radius_m`` around the centre; it joins the stay.
    3. A fix that does not fit may be an outlier: if one of the next ``max_outliers`` fixes fits, the
       fixes in between are skipped (they are not evidence) — provided the outlier run lasts less
       than ``min_duration_us`` (else it could be a stay of its own).
    4. The centre is re-estimated as the median latitude and longitude of the members whenever their
       number reaches 4, 8, 16, ... (robust to outliers; amortised linear cost). Only members whose
       accuracy is within ``radius_m`` (or unknown) place the centre, unless there are none.
    5. The stay is broken by a time gap to the next fix longer than ``max_gap_us`` (shorter gaps are
       bridged when the fix after the gap fits: the device was at the same place on both sides), or
       by a fix that does not fit and is not followed by a fitting one within the outlier allowance.
    6. Closing: the centre becomes the members' median; members at either end that do not fit it
       are dropped (they were arriving or leaving) and the centre is recomputed. The stay counts if
       it lasts at least ``min_duration_us`` from its first to its last member, has at least
       ``min_fixes`` members, and was broken (a stay still open at the end of the data counts only
       with ``include_last``). It starts and ends at the times of its first and last members.
    7. The next candidate starts at the first dropped trailing member, else at the fix that broke
       the stay. A candidate too short (``min_duration_us``, ``min_fixes``) even before trimming is
       dropped at once, and the next candidate starts at the fix that broke it.
    """
    pts = [r for r in rows if not acc[r] > max_accuracy_m]

    def fits(r: int, c: tuple[float, float, float]) -> bool:
        dy = (lat[r] - c[0]) * DEG_M
        dx = _wrap_lon(lon[r] - c[1]) * c[2] * DEG_M
        lim = radius_m + acc[r] if acc[r] > 0.0 else radius_m
        return dx * dx + dy * dy <= lim * lim

    def centre(rows: list[int], ref_lon: float) -> tuple[float, float, float]:
        # the median of the precise fixes (accuracy within radius_m, or unknown); of all if none is
        precise = [r for r in rows if not acc[r] > radius_m] or rows
        clat = _median([lat[r] for r in precise])
        clon = _wrap_lon(ref_lon + _median([_wrap_lon(lon[r] - ref_lon) for r in precise]))
        return clat, clon, math.cos(math.radians(clat))

    out: list[Stay] = []
    p, m = 0, len(pts)
    while p < m:
        members = [p]  # positions in pts
        r0 = pts[p]
        c = (lat[r0], lon[r0], math.cos(math.radians(lat[r0])))
        next_centre = 4
        q, closed, brk = p + 1, False, m
        while q < m:
            last_t = t[pts[members[-1]]]
            if t[pts[q]] - last_t > max_gap_us:
                closed, brk = True, q
                break
            nxt = q if fits(pts[q], c) else None
            if nxt is None:
                for u in range(q + 1, min(q + max_outliers + 1, m)):
                    if t[pts[u]] - last_t > max_gap_us or t[pts[u - 1]] - t[pts[q]] >= min_duration_us:
                        break
                    if fits(pts[u], c):
                        nxt = u
                        break
            if nxt is None:
                closed, brk = True, q
                break
            members.append(nxt)
            q = nxt + 1
            if len(members) == next_centre:
                c = centre([pts[k] for k in members], lon[pts[members[0]]])
                next_centre *= 2
        if len(members) < min_fixes or t[pts[members[-1]]] - t[pts[p]] < min_duration_us:
            p = brk  # too short even before trimming
            continue
        all_rows = [pts[k] for k in members]
        c = centre(all_rows, lon[all_rows[0]])
        lo, hi = 0, len(members) - 1
        while lo < hi and not fits(all_rows[lo], c):
            lo += 1
        while hi > lo and not fits(all_rows[hi], c):
            hi -= 1
        kept = all_rows[lo : hi + 1]
        if lo > 0 or hi < len(members) - 1:
            c = centre(kept, lon[all_rows[0]])
        if (
            t[kept[-1]] - t[kept[0]] >= min_duration_us
            and len(kept) >= min_fixes
            and (closed or include_last)
        ):
            radius, gap = _radius_gap(kept, t, lat, lon, (c[0], c[1]))
            out.append(Stay(kept[0], kept[-1], t[kept[0]], t[kept[-1]], len(kept), gap, c[0], c[1], radius))
        p = members[hi + 1] if hi < len(members) - 1 else brk
    return out


# --------------------------------------------------------------------------------------------------
# whole-table wrappers with the kernels' signatures


def _run_all(
    bounds: NDArray[np.int64], per_entity: Callable[[Sequence[int]], list[Stay]]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    ints: list[tuple[int, ...]] = []
    floats: list[tuple[float, ...]] = []
    for e in range(len(bounds) - 1):
        for s in per_entity(range(int(bounds[e]), int(bounds[e + 1]))):
            ints.append((e, s.first_row, s.last_row, s.start_us, s.end_us, s.n_fixes, s.gap_us))
            floats.append((s.lat, s.lon, s.radius_m))
    return (
        np.array(ints, dtype=np.int64).reshape(-1, 7),
        np.array(floats, dtype=np.float64).reshape(-1, 3),
    )


def sliding_stays(
    t_us: NDArray[np.int64],
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
    bounds: NDArray[np.int64],
    dist_threshold_m: float,
    min_duration_us: int,
    max_gap_us: int,
    include_last: bool,
    exclude_duplicates: bool,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Reference for :func:`hereabouts.kernels.stays.sliding_stays`."""
    t, la, lo = t_us.tolist(), lat.tolist(), lon.tolist()
    return _run_all(
        bounds,
        lambda rows: sliding_stays_entity(
            list(rows),
            t,
            la,
            lo,
            dist_threshold_m=dist_threshold_m,
            min_duration_us=min_duration_us,
            max_gap_us=max_gap_us,
            include_last=include_last,
            exclude_duplicates=exclude_duplicates,
        ),
    )


def robust_stays(
    t_us: NDArray[np.int64],
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
    acc_m: NDArray[np.float64],
    bounds: NDArray[np.int64],
    radius_m: float,
    min_duration_us: int,
    max_gap_us: int,
    max_outliers: int,
    max_accuracy_m: float,
    min_fixes: int,
    include_last: bool,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Reference for :func:`hereabouts.kernels.stays.robust_stays`."""
    t, la, lo, ac = t_us.tolist(), lat.tolist(), lon.tolist(), acc_m.tolist()
    return _run_all(
        bounds,
        lambda rows: robust_stays_entity(
            list(rows),
            t,
            la,
            lo,
            ac,
            radius_m=radius_m,
            min_duration_us=min_duration_us,
            max_gap_us=max_gap_us,
            max_outliers=max_outliers,
            max_accuracy_m=max_accuracy_m,
            min_fixes=min_fixes,
            include_last=include_last,
        ),
    )


# --------------------------------------------------------------------------------------------------
# routines


def lz_entropy_reference(seq: Sequence[int]) -> float:
    """Lempel-Ziv entropy estimate (bits per symbol) of a symbol sequence, by its definition:
    ``n log2 n / Σ Λ_i``, Λ_i the length of the shortest substring starting at ``i`` that does not
    occur in ``seq[:i]`` (``n − i + 1`` when there is none); 0 for fewer than two symbols. The
    definition of :func:`hereabouts.kernels.routines.lz_match_totals` (which returns Σ Λ_i)."""
    n = len(seq)
    if n < 2:
        return 0.0
    s = "".join(chr(0x100 + int(v)) for v in seq)
    total = 0
    for i in range(n):
        k = 1
        while i + k <= n and s[i : i + k] in s[:i]:
            k += 1
        total += k if i + k <= n else n - i + 1
    return n * math.log2(n) / total


def lz_match_total_reference(seq: Sequence[int]) -> int:
    """Σ Λ_i of one sequence (see :func:`lz_entropy_reference`), by substring search."""
    n = len(seq)
    s = "".join(chr(0x100 + int(v)) for v in seq)
    total = 0
    for i in range(n):
        k = 1
        while i + k <= n and s[i : i + k] in s[:i]:
            k += 1
        total += k if i + k <= n else n - i + 1
    return total


# --------------------------------------------------------------------------------------------------
# grouping and ordering (the definitions of the one-sort versions in the analysis stages)


def group_sum_reference(values: NDArray[np.float64], *keys: NDArray[np.int64]) -> tuple[list[Any], Any]:
    """Sum ``values`` over the distinct combinations of ``keys`` by one lexicographic sort (first key
    most significant, ties in input order); returns the keys of each group and its sum. The
    definition of :func:`hereabouts.analysis.anchors.group_sum`."""
    if values.shape[0] == 0:
        return [np.zeros(0, np.int64) for _ in keys], np.zeros(0)
    order = np.lexsort(tuple(reversed(keys)))
    ks = [k[order] for k in keys]
    change = np.zeros(order.shape[0], np.bool_)
    change[0] = True
    for k in ks:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    sums = np.add.reduceat(values[order], starts)
    return [k[starts] for k in ks], np.asarray(sums, np.float64)


def group_min_reference(values: NDArray[np.int64], *keys: NDArray[np.int64]) -> Any:
    """Minimum of ``values`` over the distinct combinations of ``keys``, in the order of
    :func:`group_sum_reference`. The definition of :func:`hereabouts.analysis.anchors.group_min`."""
    if values.shape[0] == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort(tuple(reversed(keys)))
    change = np.zeros(order.shape[0], np.bool_)
    change[0] = True
    for k in keys:
        ks = k[order]
        change[1:] |= ks[1:] != ks[:-1]
    return np.asarray(np.minimum.reduceat(values[order], np.flatnonzero(change)), np.int64)


def entity_time_order_reference(entities: Sequence[str], t_us: Sequence[int]) -> tuple[list[int], list[int]]:
    """The rows sorted by (entity name, time), ties in input order, and the first sorted row of each
    distinct entity plus the row count at the end: what
    :func:`hereabouts.analysis.stays.detect_stays` runs its kernels over."""
    order = sorted(range(len(t_us)), key=lambda i: (entities[i], t_us[i], i))
    bounds = [k for k in range(len(order)) if k == 0 or entities[order[k]] != entities[order[k - 1]]]
    return order, [*bounds, len(order)]


# --------------------------------------------------------------------------------------------------
# anchors: the per-entity work and regular-place steps as first written (one pass over every
# candidate place); :mod:`hereabouts.analysis.anchors` skips candidates that cannot qualify


def anchors_work_reference(
    e: int,
    p: Any,
    rows: Any,
    homes: list[int],
    abstain_below: float,
    near_m: float,
    weekday: tuple[Any, Any, Any],
    weekdays_observed: Any,
    nights: tuple[Any, Any, Any],
    nights_observed: Any,
) -> None:
    """The definition of ``hereabouts.analysis.anchors._work`` (same arguments, same rows added)."""
    from ..analysis._geo import haversine_m
    from ..analysis._localtime import week_of
    from ..analysis.anchors import WORK_MIN_S, _last_home_row, _zone_note

    wd, wp, wsec = weekday
    n_wd = int(weekdays_observed.shape[0])
    obs_weeks_wd = int(np.unique(week_of(weekdays_observed)).shape[0])
    best: tuple[float, float, int, str, float, float] | None = None
    home_day = np.isin(wp, homes)
    remote_days = int(np.unique(wd[home_day & (wsec >= WORK_MIN_S)]).shape[0])
    if n_wd:
        others = ~home_day
        cand = np.unique(wp[others])
        if near_m > 0 and cand.shape[0] > 1:
            dist = haversine_m(
                p.plat[cand][:, None], p.plon[cand][:, None], p.plat[cand][None, :], p.plon[cand][None, :]
            )
            near = dist <= near_m
        else:
            near = np.eye(cand.shape[0], dtype=np.bool_)
        for i, q in enumerate(cand.tolist()):
            group = cand[near[i]]
            s = others & np.isin(wp, group)
            (days,), per_day = group_sum_reference(wsec[s], wd[s])
            present = per_day >= WORK_MIN_S
            dset = days[present]
            k = int(dset.shape[0])
            weeks = int(np.unique(week_of(dset)).shape[0])
            share = k / n_wd
            need_weeks = min(2, obs_weeks_wd)
            if k < 3 or share < 0.4 or weeks < need_weeks:
                continue
            conf = math.sqrt(share) * (1.0 - math.exp(-k / 3.0)) * (1.0 - math.exp(-weeks))
            hours = float(np.median(per_day[present])) / 3600
            own = float(wsec[others & (wp == q)].sum())
            (gp,), gsec = group_sum_reference(wsec[s], wp[s])
            lat = float(np.average(p.plat[gp], weights=gsec))
            lon = float(np.average(p.plon[gp], weights=gsec))
            merged = "" if gp.shape[0] == 1 else f", {gp.shape[0]} places within {near_m:.0f} m"
            ev = (
                f"{k} of {n_wd} observed weekdays over {weeks} weeks, 07:00-19:00 local "
                f"({_zone_note(p, q)}), median {hours:.1f} h a day{merged}"
            )
            if best is None or (conf, own) > (best[0], best[1]):
                best = (conf, own, q, ev, lat, lon)
    nd, npl, nw = nights
    n_n = int(nights_observed.shape[0])
    obs_weeks_n = int(np.unique(week_of(nights_observed)).shape[0])
    for q in np.unique(npl[nw]).tolist():
        s = nw & (npl == q)
        k = int(s.sum())
        weeks = int(np.unique(week_of(nd[s])).shape[0])
        share = k / max(n_n, 1)
        if k < 3 or share < 0.3 or weeks < min(2, obs_weeks_n) or q in homes:
            continue
        conf = math.sqrt(share) * (1.0 - math.exp(-k / 3.0)) * (1.0 - math.exp(-weeks))
        ev = (
            f"night shifts: {k} of {n_n} observed nights over {weeks} weeks, 00:00-06:00 local "
            f"({_zone_note(p, q)}), followed by sleep at home"
        )
        if best is None or conf > best[0]:
            best = (conf, 0.0, q, ev, float(p.plat[q]), float(p.plon[q]))
    if best is None:
        if remote_days >= max(3, 0.4 * max(n_wd, 1)):
            i = _last_home_row(rows, p.entities[e])
            rows.cols["evidence"][i] = (
                f"{rows.cols['evidence'][i]}; also the weekday daytime place on {remote_days} of {n_wd} "
                "weekdays (works from home?)"
            )
        return
    conf, _, q, ev, lat, lon = best
    if conf < abstain_below:
        rows.abstain(e, "work", f"weak evidence ({ev})", conf)
    else:
        rows.add(e, "work", q, conf, ev, position=(lat, lon))


def anchors_regular_reference(
    e: int,
    p: Any,
    rows: Any,
    v_place: Any,
    v_day: Any,
    v_local: Any,
    obs_weeks: int,
    min_weeks: int,
    min_visits: int,
    abstain_below: float,
) -> None:
    """The definition of ``hereabouts.analysis.anchors._regular`` (same arguments, same rows added)."""
    from ..analysis._localtime import day_of_week, seconds_of_day, week_of
    from ..analysis.anchors import _DOW, _zone_note, hhmm

    taken = {
        pid
        for pid, ent, ab in zip(
            rows.cols["place_id"], rows.cols["entity"], rows.cols["abstained"], strict=True
        )
        if ent == p.entities[e] and not ab
    }
    found: list[tuple[float, int, str]] = []
    for q in np.unique(v_place).tolist():
        if p.place_ids[q] in taken:
            continue
        s = v_place == q
        visits = int(s.sum())
        weeks = int(np.unique(week_of(v_day[s])).shape[0])
        if visits < max(min_visits, 1) or weeks < max(min_weeks, 1):
            continue
        conf = min(1.0, weeks / obs_weeks) * (1.0 - math.exp(-visits / 3.0))
        if conf < abstain_below:
            continue
        dows, dcounts = np.unique(day_of_week(v_day[s]), return_counts=True)
        top = [_DOW[int(d)] + "s" for d in dows[np.argsort(-dcounts, kind="stable")][:2]]
        when = hhmm(float(np.median(seconds_of_day(v_local[s]))))
        ev = (
            f"{visits} visits in {weeks} of {obs_weeks} weeks, mostly {' and '.join(top)}, "
            f"arriving around {when} local ({_zone_note(p, q)})"
        )
        found.append((conf, q, ev))
    found.sort(key=lambda t: (-t[0], p.place_ids[t[1]]))
    for conf, q, ev in found:
        rows.add(e, "regular", q, conf, ev)
