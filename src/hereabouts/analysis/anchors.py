"""Anchors: stays + places ➜ home, work and regular places of each entity, stage 4 of the
pattern-of-life engine.

:func:`infer_anchors` returns one row per (entity, label, validity interval) with ``label`` one of
``home``, ``work`` or ``regular`` (see :data:`ANCHOR`). Everything is computed in the *local* time
of the place (the zone at its coordinates, :mod:`hereabouts.analysis._localtime`), so a night is a
night in Amsterdam and in Sydney alike, and the change to summer time moves no one's night.

How it decides
--------------
Each stay (with its place from :func:`~hereabouts.analysis.places.assign_places`, or from a
``place_id`` column already on the stays) is cut into 15-minute slots; each slot gets its local day,
day of week and time of day.

*Nights.* The night of local day *d* is 00:00–06:00 of *d*. A night is **observed** when the stays
cover at least 2 hours of it; its **night place** is the place holding at least half of the covered
time (the most of it).

*Night work.* A night place *N* is a night-shift workplace when, on most (≥ 60 %) of the nights spent
there, the entity spends the following morning (06:00–14:00, at least 3 hours) at another place that
is itself a night place on other nights or the place of most total dwell — people sleep at home
after a night shift. (After a night in a weekday flat, the morning is spent at work, a place
nobody sleeps at: the flat stays a home.)

*Rest place.* For each observed night, the rest place is the night place, or for a night at a
night-shift workplace, the place of the following morning. **Home** is the rest place of most days;
a second place that is the rest place on at least 20 % (and 3) of the days is a **second home**
(two rows; the primary one, where the entity spends more of its weekends — Saturday and Sunday,
local — or else more time, comes first). When the days at two rest places do not interleave but
follow one another (one change point explains all but 10 % of them, and each side holds at least
``min_nights`` of them), the entity **moved house**: two rows, the first with ``valid_to`` and the
second with ``valid_from`` at the move (the midpoint between the last departure from the old home
and the next arrival at the new one). Open ends are null.

*Work.* A non-home place where the entity spends at least 3 hours of the weekday daytime (07:00–19:00,
Monday to Friday) on at least 40 % of the observed weekdays and 3 days, in at least 2 distinct weeks
(fewer when fewer were observed); or a night-shift workplace (at least 3 nights, 2 weeks, 30 % of the
observed nights). Only the best-supported one is returned. With noisy positions (cell), one
workplace falls apart into several nearby places; presence at non-home places within ``merge_m`` of
a candidate then counts for it (by default half the median stay radius, at most 300 m: nothing
merges for GPS data). A place that is school, not paid work, is indistinguishable from work in
location data and is labelled ``work``.

*Remote workers*: when the weekday daytime place is the home itself, no work row is returned (a
work-from-home claim needs more than location); the home row's ``evidence`` says the home is also
the weekday daytime place. *No work*: no work row.

*Regular places*: other places visited in at least ``regular_min_weeks`` distinct weeks and
``regular_min_visits`` times.

Abstention
----------
An entity whose stays span fewer than ``min_days`` days gets an abstained home row and an abstained
work row; one with enough days but fewer than ``min_nights`` observed nights (a watch taken off at
night) gets an abstained home row, and an abstained work row too (work cannot be told from home
without a home). A row whose confidence falls below ``abstain_below`` is abstained as well. Abstained
rows have null ``place_id``, ``lat`` and ``lon`` and say why in ``evidence``.

Confidence (a heuristic, monotone in the evidence; to be calibrated on the simulator)
---------------------------------------------------------------------------------------
* home: ``sqrt(share) · (1 − exp(−n / 3))`` where ``n`` is the number of days the place was the rest
  place and ``share`` the fraction of observed days in the row's interval that the home set (all
  homes of that interval) explains; × 0.9 for a second home.
* work: ``sqrt(share) · (1 − exp(−n / 3)) · (1 − exp(−weeks))`` with ``share`` the fraction of
  observed weekdays (nights, for night work) present and ``n`` their number.
* regular: ``(weeks present / weeks observed) · (1 − exp(−visits / 3))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..model.errors import InputError, SchemaError
from ..model.schemas import UTC_US
from ._geo import grouped_quantile, haversine_m
from ._localtime import (
    US_PER_DAY,
    US_PER_S,
    day_of_week,
    local_day,
    seconds_of_day,
    to_local_us,
    week_of,
    zone,
    zones_at,
)
from .places import assign_places

__all__ = ["ANCHOR", "infer_anchors"]

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]

#: Schema of the table :func:`infer_anchors` returns.
ANCHOR = pa.schema(
    [
        pa.field("entity", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),  # home | work | regular
        pa.field("place_id", pa.string()),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("confidence", pa.float64(), nullable=False),
        pa.field("valid_from", UTC_US),
        pa.field("valid_to", UTC_US),
        pa.field("evidence", pa.string(), nullable=False),
        pa.field("method", pa.string(), nullable=False),
        pa.field("abstained", pa.bool_(), nullable=False),
    ],
    metadata={"tier": "anchor"},
)

SLOT_S = 900
H = 3600
_DOW = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# windows and thresholds (seconds of local day / seconds of dwell)
NIGHT = (0, 6 * H)
MORNING = (6 * H, 14 * H)
WORKDAY = (7 * H, 19 * H)
NIGHT_MIN_S = 2 * H
MORNING_MIN_S = 3 * H
WORK_MIN_S = 3 * H
WEEKDAY_OBSERVED_S = 4 * H


# --------------------------------------------------------------------------------------------------
# preparation shared with the routines stage


@dataclass
class Prepared:
    """Stays with their place codes, sorted by (entity, start), and per-place local zones."""

    entities: list[str]
    place_ids: list[str]
    plat: F64
    plon: F64
    pzone: I64
    zones: list[str]
    ent: I64
    place: I64
    start: I64
    end: I64
    span_start: I64  # per entity: first start of any stay (assigned to a place or not)
    span_end: I64
    radius: F64  # per stay: its radius_m (NaN when the stays carry none)


@dataclass
class Slots:
    """Stays cut into slots of ``slot_s`` seconds aligned on UTC multiples of the slot."""

    ent: I64
    place: I64
    utc: I64  # slot start, µs UTC
    secs: F64  # seconds of the slot covered by the stay
    day: I64  # local day
    sod: I64  # local seconds of day at the slot start
    dow: I64


def _ts_us(table: pa.Table, name: str) -> I64:
    col = table.column(name)
    if not pa.types.is_timestamp(col.type):
        raise SchemaError(f"column {name!r} has type {col.type}, expected timestamp[us, tz=UTC]")
    arr = col.cast(UTC_US).combine_chunks().cast(pa.int64())
    return np.asarray(arr.to_numpy(zero_copy_only=False), np.int64)


def prepare(
    stays: pa.Table, places: pa.Table, *, tz: str | None = None, fn: str = "infer_anchors"
) -> Prepared:
    """Assign places to stays (unless the stays already carry ``place_id``), look up each place's
    zone and sort by entity and time. Stays without a place are left out of the place statistics
    but count for the entity's span of data."""
    for c in ("entity", "start", "end"):
        if c not in stays.column_names:
            raise SchemaError(
                f"{fn}: stay table lacks column {c!r}", hint="pass the table detect_stays returned"
            )
    for c in ("place_id", "lat", "lon"):
        if c not in places.column_names:
            raise SchemaError(
                f"{fn}: place table lacks column {c!r}", hint="pass the table cluster_places returned"
            )
    if tz is not None:
        zone(tz)
    if "place_id" in stays.column_names:
        pid = stays.column("place_id").cast(pa.string()).combine_chunks()
    else:
        if "lat" not in stays.column_names or "lon" not in stays.column_names:
            raise SchemaError(f"{fn}: stay table lacks lat/lon and place_id")
        pid = assign_places(stays, places)
    ent_arr = stays.column("entity").cast(pa.string()).combine_chunks()
    if ent_arr.null_count:
        raise SchemaError(f"{fn}: column 'entity' of the stays has {ent_arr.null_count} null values")
    start = _ts_us(stays, "start")
    end = _ts_us(stays, "end")
    enc = pc.dictionary_encode(ent_arr)
    ent_names = [str(v) for v in enc.dictionary.to_pylist()]
    ent_codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)
    order_names = (
        np.argsort(np.array(ent_names, dtype=object), kind="stable") if ent_names else np.zeros(0, int)
    )
    remap = np.empty(len(ent_names), np.int64)
    remap[order_names] = np.arange(len(ent_names))
    ent_codes = remap[ent_codes] if len(ent_names) else ent_codes
    entities = [ent_names[i] for i in order_names.tolist()]
    k = len(entities)
    span_start = np.full(k, np.iinfo(np.int64).max)
    span_end = np.full(k, np.iinfo(np.int64).min)
    np.minimum.at(span_start, ent_codes, start)
    np.maximum.at(span_end, ent_codes, end)

    # places: first row of each id
    all_ids = places.column("place_id").cast(pa.string()).combine_chunks()
    first_row: dict[str, int] = {}
    for i, p in enumerate(all_ids.to_pylist()):
        if p is not None and p not in first_row:
            first_row[p] = i
    used = pc.unique(pid.drop_null()).to_pylist()
    place_ids = sorted(p for p in used if p in first_row)
    rows = np.array([first_row[p] for p in place_ids], np.int64)
    plat = np.asarray(places.column("lat").to_numpy(), np.float64)[rows] if rows.size else np.zeros(0)
    plon = np.asarray(places.column("lon").to_numpy(), np.float64)[rows] if rows.size else np.zeros(0)
    if tz is not None:
        zones, pzone = [tz], np.zeros(len(place_ids), np.int64)
    else:
        names = zones_at(plat, plon)
        zones = sorted(set(names))
        zc = {z: i for i, z in enumerate(zones)}
        pzone = np.array([zc[z] for z in names], np.int64)
    pcode = pc.index_in(pid, value_set=pa.array(place_ids, pa.string()))
    pcode_np = np.asarray(pcode.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)
    keep = (pcode_np >= 0) & (end > start)
    if "radius_m" in stays.column_names:
        radius = np.asarray(
            stays.column("radius_m").cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64
        )
    else:
        radius = np.full(start.shape[0], np.nan)
    sel = np.flatnonzero(keep)
    sel = sel[np.lexsort((start[sel], ent_codes[sel]))]
    return Prepared(
        entities=entities,
        place_ids=place_ids,
        plat=plat,
        plon=plon,
        pzone=pzone,
        zones=zones,
        ent=ent_codes[sel],
        place=pcode_np[sel],
        start=start[sel],
        end=end[sel],
        span_start=span_start,
        span_end=span_end,
        radius=radius[sel],
    )


def expand_slots(p: Prepared, slot_s: int = SLOT_S) -> Slots:
    """Cut every stay into UTC-aligned slots and give each its local day and time (vectorised)."""
    slot_us = slot_s * US_PER_S
    first = p.start // slot_us
    last = (p.end - 1) // slot_us
    n = (last - first + 1).astype(np.int64)
    total = int(n.sum())
    rep = np.repeat(np.arange(n.shape[0]), n)
    k = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    utc = (first[rep] + k) * slot_us
    secs = (np.minimum(p.end[rep], utc + slot_us) - np.maximum(p.start[rep], utc)) / US_PER_S
    place = p.place[rep]
    local = to_local_us(utc, p.pzone[place], p.zones)
    day = local_day(local)
    return Slots(
        ent=p.ent[rep],
        place=place,
        utc=utc,
        secs=np.asarray(secs, np.float64),
        day=day,
        sod=seconds_of_day(local),
        dow=day_of_week(day),
    )


def group_sum(values: F64, *keys: I64) -> tuple[list[I64], F64]:
    """Sum ``values`` over the distinct combinations of ``keys``; returns the keys (sorted
    lexicographically, first key most significant) and the sums."""
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


def group_argmax(group: list[I64], value: F64) -> I64:
    """Index of the row with the largest ``value`` in each group of equal ``group`` keys (ties: the
    first in key order); the rows must be sorted by the group keys."""
    n = value.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((-value, *reversed(group)))
    change = np.zeros(n, np.bool_)
    change[0] = True
    for g in group:
        gs = g[order]
        change[1:] |= gs[1:] != gs[:-1]
    return np.asarray(order[change], np.int64)


# --------------------------------------------------------------------------------------------------
# the stage


def _check_number(name: str, value: float, lo: float, hi: float | None = None) -> None:
    ok = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value) and value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        rng = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        raise InputError(f"{name} must be a finite number {rng}, got {value!r}")


def hhmm(seconds: float) -> str:
    """``HH:MM`` of seconds since midnight (wrapping past 24 h)."""
    s = round(seconds) % 86_400
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


def infer_anchors(
    stays: pa.Table,
    places: pa.Table,
    *,
    min_days: float = 7.0,
    min_nights: int = 4,
    abstain_below: float = 0.5,
    regular_min_weeks: int = 2,
    regular_min_visits: int = 3,
    merge_m: float | None = None,
    tz: str | None = None,
) -> pa.Table:
    """Infer the home(s), work place and regular places of each entity.

    Parameters
    ----------
    stays
        A ``stay`` tier table (``entity``, ``start``, ``end``, ``lat``, ``lon``), or one that already
        carries each stay's ``place_id``. Not modified.
    places
        The ``place`` table of those stays (``place_id``, ``lat``, ``lon``; ``entity`` and
        ``extent_m`` for assigning stays to places).
    min_days
        Fewer days between an entity's first and last stay: home and work abstain.
    min_nights
        Fewer observed nights (rest periods): home and work abstain.
    abstain_below
        A home or work row with a lower confidence is abstained (regular places are dropped).
    regular_min_weeks, regular_min_visits
        A regular place is visited in at least this many distinct (local, Monday-based) weeks and
        this many times.
    merge_m
        When looking for work, presence at non-home places within this distance of a candidate
        counts as presence there (noisy positions split one workplace into several places), and the
        row's ``lat``/``lon`` is the dwell-weighted centre of those places. ``None`` (default): half
        the median ``radius_m`` of the entity's stays, at most 300 m (a few metres for GPS, so
        nothing merges; hundreds for cell positions); 0 turns it off.
    tz
        Use this IANA zone for every place instead of looking each up from its coordinates.

    Returns
    -------
    pyarrow.Table
        :data:`ANCHOR` rows sorted by entity, then home, work, regular (a primary home before a
        second home, an earlier home before a later one; regular places by confidence).

    Examples
    --------
    >>> import pyarrow as pa
    >>> h, d = 3_600_000_000, 86_400_000_000
    >>> days = range(14)
    >>> start = [d * k + s for k in days for s in (-2 * h, 9 * h)]
    >>> end = [d * k + e for k in days for e in (7 * h, 17 * h)]
    >>> stays = pa.table({
    ...     "entity": ["ann"] * 28,
    ...     "start": pa.array(start, pa.timestamp("us", tz="UTC")),
    ...     "end": pa.array(end, pa.timestamp("us", tz="UTC")),
    ...     "place_id": ["h", "w"] * 14,
    ... })
    >>> places = pa.table({"place_id": ["h", "w"], "lat": [52.0, 52.01], "lon": [5.0, 5.0]})
    >>> a = infer_anchors(stays, places, tz="UTC")
    >>> a.column("label").to_pylist(), a.column("place_id").to_pylist()
    (['home', 'work'], ['h', 'w'])
    """
    _check_number("min_days", min_days, 0.0)
    _check_number("abstain_below", abstain_below, 0.0, 1.0)
    if merge_m is not None:
        _check_number("merge_m", merge_m, 0.0)
    for name, v in (
        ("min_nights", min_nights),
        ("regular_min_weeks", regular_min_weeks),
        ("regular_min_visits", regular_min_visits),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InputError(f"{name} must be a whole number of at least 0, got {v!r}")
    method = (
        f"anchors(min_days={min_days:g}, min_nights={min_nights}, abstain_below={abstain_below:g}, "
        f"night=00-06, work=07-19 weekdays, rest=06-14 after night work, "
        f"regular_min_weeks={regular_min_weeks}, regular_min_visits={regular_min_visits})"
    )
    p = prepare(stays, places, tz=tz)
    sl = expand_slots(p)
    rows = _Rows(p, method)
    if not p.entities:
        return rows.table()

    ne, npl = len(p.entities), len(p.place_ids)

    # total dwell per (entity, place)
    (te, tp), tdw = group_sum(sl.secs, sl.ent, sl.place)
    maxdwell = np.full(ne, -1, np.int64)
    best = group_argmax([te], tdw)
    maxdwell[te[best]] = tp[best]
    wkend = sl.dow >= 5
    (ke, kp), kdw = group_sum(sl.secs[wkend], sl.ent[wkend], sl.place[wkend])
    # primary-home order: weekend dwell first, then total dwell
    dwell_of = {(int(a), int(b)): float(c) for a, b, c in zip(te, tp, tdw, strict=True)}
    for a, b, c in zip(ke.tolist(), kp.tolist(), kdw.tolist(), strict=True):
        dwell_of[a, b] += 1e9 * c

    # nights
    m = (sl.sod >= NIGHT[0]) & (sl.sod < NIGHT[1])
    (ne_, nd_, np_), nsec = group_sum(sl.secs[m], sl.ent[m], sl.day[m], sl.place[m])
    (ce, cd), csec = group_sum(sl.secs[m], sl.ent[m], sl.day[m])
    nb = group_argmax([ne_, nd_], nsec)
    # covered seconds for each winning row: rows of (ce, cd) are in the same order as nb groups
    night_ok = (csec >= NIGHT_MIN_S) & (nsec[nb] >= 0.5 * csec)
    n_ent, n_day, n_place = ne_[nb][night_ok], nd_[nb][night_ok], np_[nb][night_ok]
    night_obs_ent, night_obs_day = ce[csec >= NIGHT_MIN_S], cd[csec >= NIGHT_MIN_S]
    night_utc = group_min(sl.utc[m], sl.ent[m], sl.day[m])[night_ok]

    # mornings
    m2 = (sl.sod >= MORNING[0]) & (sl.sod < MORNING[1])
    (me, md, mp), msec = group_sum(sl.secs[m2], sl.ent[m2], sl.day[m2], sl.place[m2])
    mb = group_argmax([me, md], msec)
    mok = msec[mb] >= MORNING_MIN_S
    morning = {
        (int(a), int(b)): int(c) for a, b, c in zip(me[mb][mok], md[mb][mok], mp[mb][mok], strict=True)
    }

    # night places and night-work places
    night_place_set = set(zip(n_ent.tolist(), n_place.tolist(), strict=True))
    m_place = np.array(
        [morning.get((e, d), -1) for e, d in zip(n_ent.tolist(), n_day.tolist(), strict=True)], np.int64
    )
    sleep_after = (
        (m_place >= 0)
        & (m_place != n_place)
        & np.array(
            [
                (e, q) in night_place_set or q == maxdwell[e]
                for e, q in zip(n_ent.tolist(), m_place.tolist(), strict=True)
            ],
            np.bool_,
        )
    )
    (fe, fp), fk = group_sum(np.ones(n_ent.shape[0]), n_ent, n_place)
    (_, _), fc = group_sum(sleep_after.astype(np.float64), n_ent, n_place)
    night_work = {
        (int(e), int(q))
        for e, q, k, c in zip(fe, fp, fk, fc, strict=True)
        if k >= 2 and c / k >= 0.6 and q != maxdwell[e]
    }
    is_nw = np.array(
        [(e, q) in night_work for e, q in zip(n_ent.tolist(), n_place.tolist(), strict=True)], np.bool_
    )
    rest = np.where(is_nw, np.where(m_place >= 0, m_place, -1), n_place)
    rest = np.where(is_nw & (m_place == n_place), -1, rest)

    # weekday daytime
    m3 = (sl.dow < 5) & (sl.sod >= WORKDAY[0]) & (sl.sod < WORKDAY[1])
    (we, wd, wp), wsec = group_sum(sl.secs[m3], sl.ent[m3], sl.day[m3], sl.place[m3])
    (oe, od), osec = group_sum(sl.secs[m3], sl.ent[m3], sl.day[m3])
    wk_obs_e, wk_obs_d = oe[osec >= WEEKDAY_OBSERVED_S], od[osec >= WEEKDAY_OBSERVED_S]
    # how far apart two places may be and still count as one workplace (see merge_m)
    if merge_m is not None:
        near_m = np.full(ne, float(merge_m))
    else:
        near_m = np.zeros(ne)
        ok_r = np.isfinite(p.radius)
        if ok_r.any():
            (re_,), _ = group_sum(np.zeros(int(ok_r.sum())), p.ent[ok_r])
            order = np.lexsort((p.radius[ok_r], p.ent[ok_r]))
            rs, es = p.radius[ok_r][order], p.ent[ok_r][order]
            bounds = np.concatenate((np.searchsorted(es, re_), [es.shape[0]]))
            med = grouped_quantile(rs, bounds.astype(np.int64), 0.5)
            near_m[re_] = np.minimum(300.0, 0.5 * med)

    # visits (merged consecutive stays at one place) for regular places
    new_visit = np.ones(p.ent.shape[0], np.bool_)
    new_visit[1:] = (p.ent[1:] != p.ent[:-1]) | (p.place[1:] != p.place[:-1])
    v_ent, v_place = p.ent[new_visit], p.place[new_visit]
    v_local = to_local_us(p.start[new_visit], p.pzone[v_place], p.zones)
    v_day = local_day(v_local)
    all_weeks = group_sum(np.ones(sl.ent.shape[0]), sl.ent, week_of(sl.day))[0]

    def by_ent(e_arr: I64) -> tuple[I64, I64]:
        return np.searchsorted(e_arr, np.arange(ne), "left"), np.searchsorted(e_arr, np.arange(ne), "right")

    n_lo, n_hi = by_ent(n_ent)
    o_lo, o_hi = by_ent(night_obs_ent)
    w_lo, w_hi = by_ent(we)
    wo_lo, wo_hi = by_ent(wk_obs_e)
    v_lo, v_hi = by_ent(v_ent)
    aw_lo, aw_hi = by_ent(all_weeks[0])
    _ = npl

    for e in range(ne):
        span_days = (p.span_end[e] - p.span_start[e]) / US_PER_DAY
        days = n_day[n_lo[e] : n_hi[e]]
        r = rest[n_lo[e] : n_hi[e]]
        nw = is_nw[n_lo[e] : n_hi[e]]
        t_night = night_utc[n_lo[e] : n_hi[e]]
        okr = r >= 0
        rdays, rplace, rutc = days[okr], r[okr], t_night[okr]
        n_obs = int(rdays.shape[0])
        if span_days < min_days:
            why = f"only {span_days:.1f} days of data (at least {min_days:g} needed)"
            rows.abstain(e, "home", why)
            rows.abstain(e, "work", why)
            continue
        obs_weeks = int(aw_hi[e] - aw_lo[e])
        homes: list[int] = []
        if n_obs < max(min_nights, 1):
            why = f"only {n_obs} observed nights (at least {max(min_nights, 1)} needed)"
            rows.abstain(e, "home", why)
            rows.abstain(e, "work", why + "; work cannot be told from home without a home")
        else:
            homes = _homes(e, p, rows, rdays, rplace, rutc, dwell_of, abstain_below, nw[okr], min_nights)
            if homes:
                _work(
                    e,
                    p,
                    rows,
                    homes,
                    abstain_below,
                    float(near_m[e]),
                    (wd[w_lo[e] : w_hi[e]], wp[w_lo[e] : w_hi[e]], wsec[w_lo[e] : w_hi[e]]),
                    wk_obs_d[wo_lo[e] : wo_hi[e]],
                    (n_day[n_lo[e] : n_hi[e]], n_place[n_lo[e] : n_hi[e]], is_nw[n_lo[e] : n_hi[e]]),
                    night_obs_day[o_lo[e] : o_hi[e]],
                )
            else:
                rows.abstain(e, "work", "no home could be named, so work cannot be told from home")
        _regular(
            e,
            p,
            rows,
            v_place[v_lo[e] : v_hi[e]],
            v_day[v_lo[e] : v_hi[e]],
            v_local[v_lo[e] : v_hi[e]],
            max(obs_weeks, 1),
            regular_min_weeks,
            regular_min_visits,
            abstain_below,
        )
    return rows.table()


def group_min(values: I64, *keys: I64) -> I64:
    """Minimum of ``values`` over the distinct combinations of ``keys`` (same order as
    :func:`group_sum`)."""
    if values.shape[0] == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort(tuple(reversed(keys)))
    change = np.zeros(order.shape[0], np.bool_)
    change[0] = True
    for k in keys:
        ks = k[order]
        change[1:] |= ks[1:] != ks[:-1]
    return np.asarray(np.minimum.reduceat(values[order], np.flatnonzero(change)), np.int64)


class _Rows:
    def __init__(self, p: Prepared, method: str) -> None:
        self.p = p
        self.method = method
        self.cols: dict[str, list[object]] = {f.name: [] for f in ANCHOR}

    def add(
        self,
        e: int,
        label: str,
        place: int,
        conf: float,
        evidence: str,
        valid_from: int | None = None,
        valid_to: int | None = None,
        position: tuple[float, float] | None = None,
    ) -> None:
        c = self.cols
        c["entity"].append(self.p.entities[e])
        c["label"].append(label)
        c["place_id"].append(self.p.place_ids[place])
        lat, lon = (
            position if position is not None else (float(self.p.plat[place]), float(self.p.plon[place]))
        )
        c["lat"].append(lat)
        c["lon"].append(lon)
        c["confidence"].append(float(min(max(conf, 0.0), 1.0)))
        c["valid_from"].append(valid_from)
        c["valid_to"].append(valid_to)
        c["evidence"].append(evidence)
        c["method"].append(self.method)
        c["abstained"].append(False)

    def abstain(
        self,
        e: int,
        label: str,
        why: str,
        conf: float = 0.0,
        valid_from: int | None = None,
        valid_to: int | None = None,
    ) -> None:
        c = self.cols
        c["entity"].append(self.p.entities[e])
        c["label"].append(label)
        c["place_id"].append(None)
        c["lat"].append(None)
        c["lon"].append(None)
        c["confidence"].append(float(conf))
        c["valid_from"].append(valid_from)
        c["valid_to"].append(valid_to)
        c["evidence"].append(f"abstained: {why}")
        c["method"].append(self.method)
        c["abstained"].append(True)

    def table(self) -> pa.Table:
        arrays = []
        for f in ANCHOR:
            vals = self.cols[f.name]
            if f.type == UTC_US:
                arrays.append(pa.array(vals, pa.int64()).cast(UTC_US))
            else:
                arrays.append(pa.array(vals, f.type))
        return pa.Table.from_arrays(arrays, schema=ANCHOR)


def _zone_note(p: Prepared, place: int) -> str:
    return p.zones[int(p.pzone[place])]


def _homes(
    e: int,
    p: Prepared,
    rows: _Rows,
    rdays: I64,
    rplace: I64,
    rutc: I64,
    dwell_of: dict[tuple[int, int], float],
    abstain_below: float,
    after_shift: B,
    min_nights: int,
) -> list[int]:
    n = int(rdays.shape[0])
    cand, counts = np.unique(rplace, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    cand, counts = cand[order], counts[order]
    shift_note = ""
    if after_shift.any():
        shift_note = f"; {int(after_shift.sum())} of them mornings 06:00-14:00 after a night shift"
    if counts[0] < max(2, 0.15 * n):
        rows.abstain(
            e, "home", f"{n} observed nights spread over {cand.shape[0]} places, none on 15 % of them"
        )
        return []

    # moved house? the top two rest places one after the other
    if cand.shape[0] >= 2 and counts[1] >= 2:
        a, b = int(cand[0]), int(cand[1])
        sel = (rplace == a) | (rplace == b)
        x = (rplace[sel] == b).astype(np.int64)
        mm = x.shape[0]
        cs = np.concatenate(([0], np.cumsum(x)))
        c = np.arange(1, mm)
        err_ab = cs[c] + ((mm - c) - (cs[mm] - cs[c]))  # a first, then b
        err_ba = (c - cs[c]) + (cs[mm] - cs[c])  # b first, then a
        errs = np.minimum(err_ab, err_ba)
        k = int(np.argmin(errs))
        cut = int(c[k])
        if errs[k] <= max(1, 0.1 * mm) and min(cut, mm - cut) >= max(2, min_nights):
            first, second = (a, b) if err_ab[k] <= err_ba[k] else (b, a)
            u_sel = rutc[sel]
            # the move: between the last departure from the old home before the first rest at the new
            # one, and the next arrival at the new home
            t_new_rest = int(u_sel[cut])
            old = np.flatnonzero((p.ent == e) & (p.place == first) & (p.start < t_new_rest))
            t_left = int(p.end[old].max()) if old.size else int(u_sel[cut - 1])
            new = np.flatnonzero((p.ent == e) & (p.place == second) & (p.start >= t_left))
            t_arrived = int(p.start[new].min()) if new.size else t_new_rest
            change = (t_left + t_arrived) // 2
            in_before = rutc < change
            for place, part, vf, vt, what in (
                (first, in_before, None, change, "until the move"),
                (second, ~in_before, change, None, "after the move"),
            ):
                n_part = int(part.sum())
                k_here = int((rplace[part] == place).sum())
                share = k_here / max(n_part, 1)
                conf = math.sqrt(share) * (1.0 - math.exp(-k_here / 3.0))
                ev = (
                    f"{k_here} of {n_part} observed nights {what}, 00:00-06:00 local "
                    f"({_zone_note(p, place)}){shift_note}"
                )
                if conf < abstain_below:
                    rows.abstain(e, "home", f"weak evidence ({ev})", conf, vf, vt)
                else:
                    rows.add(e, "home", place, conf, ev, vf, vt)
            return [first, second]

    homes = [int(cand[0])] + [
        int(q) for q, k in zip(cand[1:].tolist(), counts[1:].tolist(), strict=True) if k >= max(3, 0.2 * n)
    ]
    homes.sort(key=lambda q: -dwell_of.get((e, q), 0.0))
    set_share = float(np.isin(rplace, homes).sum()) / n
    emitted: list[int] = []
    for rank, q in enumerate(homes):
        k_here = int((rplace == q).sum())
        conf = math.sqrt(set_share) * (1.0 - math.exp(-k_here / 3.0)) * (1.0 if rank == 0 else 0.9)
        role = "" if len(homes) == 1 else ("primary home; " if rank == 0 else "second home; ")
        ev = f"{role}{k_here} of {n} observed nights, 00:00-06:00 local ({_zone_note(p, q)}){shift_note}"
        if conf < abstain_below:
            if rank == 0:
                rows.abstain(e, "home", f"weak evidence ({ev})", conf)
                return []
            continue
        rows.add(e, "home", q, conf, ev)
        emitted.append(q)
    return emitted


def _work(
    e: int,
    p: Prepared,
    rows: _Rows,
    homes: list[int],
    abstain_below: float,
    near_m: float,
    weekday: tuple[I64, I64, F64],
    weekdays_observed: I64,
    nights: tuple[I64, I64, B],
    nights_observed: I64,
) -> None:
    wd, wp, wsec = weekday
    n_wd = int(weekdays_observed.shape[0])
    obs_weeks_wd = int(np.unique(_weeks(weekdays_observed)).shape[0])
    # (confidence, own dwell, place, evidence, lat, lon)
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
            (days,), per_day = group_sum(wsec[s], wd[s])
            present = per_day >= WORK_MIN_S
            dset = days[present]
            k = int(dset.shape[0])
            weeks = int(np.unique(_weeks(dset)).shape[0])
            share = k / n_wd
            need_weeks = min(2, obs_weeks_wd)
            if k < 3 or share < 0.4 or weeks < need_weeks:
                continue
            conf = math.sqrt(share) * (1.0 - math.exp(-k / 3.0)) * (1.0 - math.exp(-weeks))
            hours = float(np.median(per_day[present])) / 3600
            own = float(wsec[others & (wp == q)].sum())
            (gp,), gsec = group_sum(wsec[s], wp[s])
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
    obs_weeks_n = int(np.unique(_weeks(nights_observed)).shape[0])
    for q in np.unique(npl[nw]).tolist():
        s = nw & (npl == q)
        k = int(s.sum())
        weeks = int(np.unique(_weeks(nd[s])).shape[0])
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


def _last_home_row(rows: _Rows, entity: str) -> int:
    c = rows.cols
    for i in range(len(c["entity"]) - 1, -1, -1):
        if c["entity"][i] == entity and c["label"][i] == "home" and not c["abstained"][i]:
            return i
    return len(c["entity"]) - 1  # pragma: no cover - a home row always precedes


def _weeks(days: I64) -> I64:
    return week_of(days)


def _regular(
    e: int,
    p: Prepared,
    rows: _Rows,
    v_place: I64,
    v_day: I64,
    v_local: I64,
    obs_weeks: int,
    min_weeks: int,
    min_visits: int,
    abstain_below: float,
) -> None:
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
