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

Coarse positions
----------------
Cell-tower positions (hundreds of metres) yield no stays. Given the ``fixes``, an entity whose median
reported accuracy is worse than ``coarse_accuracy_m`` gets its home and work from
:func:`coarse_anchors` instead: the same rules (nights, night shifts, rest place, moves, weekday work)
applied to the density of its fixes, with a position averaged over hundreds of them and a confidence
that includes the chance that this average lies within 100 m.

Confidence
----------
The raw score below (a heuristic, monotone in the evidence) decides abstention; a home or work row
emits it through the shipped ``anchors`` calibration map
(:func:`hereabouts.evaluate.calibration.apply`), so it is the measured probability that the row is
right (``raw_confidences("anchors")`` turns that off). Regular places and abstained rows keep the raw
score (neither is scored against truth yet).

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

__all__ = ["ANCHOR", "coarse_anchors", "infer_anchors"]

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
    lexicographically, first key most significant) and the sums.

    The keys are packed into one integer and sorted once (stably, so the rows of a group are summed
    in input order, as a lexicographic sort would); keys whose packed range would not fit in 62 bits
    are sorted lexicographically. Both give the same keys and bit-identical sums
    (:func:`hereabouts.kernels.reference.group_sum_reference` is the definition)."""
    n = values.shape[0]
    if n == 0:
        return [np.zeros(0, np.int64) for _ in keys], np.zeros(0)
    order = _packed_order(keys)
    if order is None:
        return _group_sum_lexsort(values, *keys)
    ks = [k[order] for k in keys]
    change = np.empty(n, np.bool_)
    change[0] = True
    change[1:] = False
    for k in ks:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    sums = np.add.reduceat(values[order], starts)
    return [k[starts] for k in ks], np.asarray(sums, np.float64)


def _packed_order(keys: tuple[I64, ...]) -> I64 | None:
    """The stable lexicographic order of the rows by ``keys`` (first most significant) from one sort
    of the keys packed into an integer, or None when their ranges do not fit in 62 bits."""
    if not keys:
        return None
    if len(keys) == 1:
        return np.asarray(np.argsort(keys[0], kind="stable"), np.int64)
    lows = [int(k.min()) for k in keys]
    spans = [int(k.max()) - lo + 1 for k, lo in zip(keys, lows, strict=True)]
    if math.prod(spans) >= 1 << 62:
        return None
    packed = np.zeros(keys[0].shape[0], np.int64)
    for k, lo, span in zip(keys, lows, spans, strict=True):
        packed *= span
        packed += k - lo
    return np.asarray(np.argsort(packed, kind="stable"), np.int64)


def _group_sum_lexsort(values: F64, *keys: I64) -> tuple[list[I64], F64]:
    """:func:`group_sum` by a lexicographic sort (any key ranges)."""
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
    fixes: pa.Table | None = None,
    coarse_accuracy_m: float = 200.0,
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
    fixes
        The fixes the stays came from (``entity`` — or ``device`` —, ``t``, ``lat``, ``lon``,
        ``accuracy_m``). When given, an entity whose median reported accuracy is worse than
        ``coarse_accuracy_m`` (cell-tower positions, which yield no stays) gets its home and work from
        :func:`coarse_anchors` — the density of its night-time and working-day fixes — instead of
        from its stays; so does one with at least a fifth of its fixes that coarse (a cell phone
        beside a GPS watch) whose stays name no home, when the coarse path names one.
    coarse_accuracy_m
        See ``fixes``.

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
    if fixes is not None:
        _check_number("coarse_accuracy_m", coarse_accuracy_m, 0.0)
        coarse, partly = _coarse_entities(fixes, coarse_accuracy_m)
        if coarse or partly:
            args = dict(
                min_days=min_days,
                min_nights=min_nights,
                abstain_below=abstain_below,
                regular_min_weeks=regular_min_weeks,
                regular_min_visits=regular_min_visits,
                merge_m=merge_m,
                tz=tz,
            )
            ent = stays.column("entity").cast(pa.string())
            fine = infer_anchors(
                stays.filter(pc.invert(pc.is_in(ent, value_set=pa.array(sorted(coarse), pa.string())))),
                places,
                **args,  # type: ignore[arg-type]
            )
            # partly coarse entities (a cell phone and a GPS watch) for which the stays name no home
            named = {
                r["entity"]
                for r in fine.select(["entity", "label", "abstained"]).to_pylist()
                if r["label"] == "home" and not r["abstained"]
            }
            fallback = partly - named
            ent_col = "entity" if "entity" in fixes.column_names else "device"
            todo = pa.array(sorted(coarse | fallback), pa.string())
            cf = fixes.filter(pc.is_in(fixes.column(ent_col).cast(pa.string()), value_set=todo))
            if ent_col != "entity":
                cf = cf.append_column("entity", cf.column(ent_col))
            rough = coarse_anchors(
                cf,
                min_days=min_days,
                min_nights=min_nights,
                abstain_below=abstain_below,
                tz=tz,
                method=method.replace("anchors(", "anchors(coarse positions, ", 1),
            )
            # a fallback entity takes the coarse rows only when they name a home
            r_named = {
                r["entity"]
                for r in rough.select(["entity", "label", "abstained"]).to_pylist()
                if r["label"] == "home" and not r["abstained"]
            }
            swap = pa.array(sorted(fallback & r_named), pa.string())
            drop_rough = pa.array(sorted(fallback - r_named), pa.string())
            fine = fine.filter(pc.invert(pc.is_in(fine.column("entity"), value_set=swap)))
            rough = rough.filter(pc.invert(pc.is_in(rough.column("entity"), value_set=drop_rough)))
            both = pa.concat_tables([fine, rough])
            return both.take(pc.sort_indices(both, [("entity", "ascending")]))
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
    order = _packed_order(keys)
    if order is None:
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
        raw = float(min(max(conf, 0.0), 1.0))
        # home and work: the measured probability of being right (regular places are not scored)
        c["confidence"].append(raw if label == "regular" else _calibrated(raw))
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
        # rows are distinct (day, place) pairs, so a place's row count is its number of days and a
        # group's summed counts bound the days it was present on: groups that cannot reach 3 days or
        # 40 % of the observed weekdays are skipped without being summed (the same result, faster)
        cand, cand_days = np.unique(wp[others], return_counts=True)
        if near_m > 0 and cand.shape[0] > 1:
            dist = haversine_m(
                p.plat[cand][:, None], p.plon[cand][:, None], p.plat[cand][None, :], p.plon[cand][None, :]
            )
            near = dist <= near_m
            bound = near.astype(np.int64) @ cand_days
        else:
            near = np.eye(cand.shape[0], dtype=np.bool_)
            bound = cand_days
        for i, q in enumerate(cand.tolist()):
            if bound[i] < 3 or bound[i] / n_wd < 0.4:
                continue
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
    # places already named home or work: the entity's rows are the last ones added (entities are
    # done one after the other), so only those are read
    c = rows.cols
    name = p.entities[e]
    taken = set()
    i = len(c["entity"]) - 1
    while i >= 0 and c["entity"][i] == name:
        if not c["abstained"][i]:
            taken.add(c["place_id"][i])
        i -= 1
    found: list[tuple[float, int, str]] = []
    # a place needs enough visits, and its weeks cannot outnumber its visits: skip the others early
    places, visit_counts = np.unique(v_place, return_counts=True)
    enough = visit_counts >= max(min_visits, 1, min_weeks)
    for q in places[enough].tolist():
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


# --------------------------------------------------------------------------------------------------
# coarse positions (cell towers): anchors from the density of the fixes themselves

#: Windows of the coarse path (local seconds of day): a night, the morning after a night shift and
#: the core of a working day.
COARSE_NIGHT = (0, 6 * H)
COARSE_MORNING = (8 * H, 14 * H)
COARSE_WORKDAY = (9 * H, 17 * H)
#: A window counts when it has at least this many fixes spanning at least ``min span``.
COARSE_MIN_FIXES = 4
#: A home or work row must be within this distance of the truth to be right; its confidence is
#: multiplied by the chance that the estimated position is that close.
COARSE_TARGET_M = 100.0


@dataclass
class _Windows:
    """Per (local day) window of one entity: fix indices, centre (metres east/north) and count."""

    day: I64
    x: F64
    y: F64
    n: I64
    members: list[I64]


def _windows(day: I64, sod: I64, sel: B, x: F64, y: F64, lo: int, hi: int, min_span_s: float) -> _Windows:
    """Group the fixes of ``sel`` within local ``[lo, hi)`` by local day; keep windows with enough
    fixes spanning ``min_span_s``; their centre is the coordinate-wise median (robust to outliers)."""
    m = sel & (sod >= lo) & (sod < hi)
    idx = np.flatnonzero(m)
    if idx.size == 0:
        z = np.zeros(0)
        return _Windows(np.zeros(0, np.int64), z, z, np.zeros(0, np.int64), [])
    d = day[idx]
    cuts = np.flatnonzero(np.diff(d)) + 1
    out_d, out_x, out_y, out_n, mem = [], [], [], [], []
    for part in np.split(idx, cuts):
        s = sod[part]
        if part.size < COARSE_MIN_FIXES or float(s.max() - s.min()) < min_span_s:
            continue
        out_d.append(int(day[part[0]]))
        out_x.append(float(np.median(x[part])))
        out_y.append(float(np.median(y[part])))
        out_n.append(int(part.size))
        mem.append(part)
    return _Windows(
        np.asarray(out_d, np.int64), np.asarray(out_x), np.asarray(out_y), np.asarray(out_n, np.int64), mem
    )


def _cluster_points(px: F64, py: F64, radius_m: float) -> tuple[I64, list[tuple[float, float]]]:
    """Greedy density clustering: the point with most neighbours within ``radius_m`` seeds a cluster
    whose centre is the median of those neighbours (refined twice); repeat on the rest. Returns the
    label of each point (clusters by size, largest first) and the centres."""
    n = px.shape[0]
    labels = np.full(n, -1, np.int64)
    centres: list[tuple[float, float]] = []
    if n == 0:
        return labels, centres
    d = np.hypot(px[:, None] - px[None, :], py[:, None] - py[None, :])
    free = np.ones(n, np.bool_)
    while free.any():
        near = (d <= radius_m) & free[None, :] & free[:, None]
        counts = near.sum(axis=1)
        seed = int(np.argmax(np.where(free, counts, -1)))
        members = np.flatnonzero(near[seed])
        cx, cy = float(np.median(px[members])), float(np.median(py[members]))
        for _ in range(2):
            dd = np.hypot(px - cx, py - cy)
            got = np.flatnonzero(free & (dd <= radius_m))
            if got.size == 0:
                break
            members = got
            cx, cy = float(np.median(px[members])), float(np.median(py[members]))
        labels[members] = len(centres)
        centres.append((cx, cy))
        free[members] = False
    return labels, centres


def _precise_centre(
    x: F64, y: F64, members: list[I64], cx: float, cy: float, acc_m: float
) -> tuple[float, float, int]:
    """The centre of the fixes of ``members`` windows by a mean shift from ``(cx, cy)``: the mean of the
    fixes within 1.5 × the accuracy of the current centre, repeated until it settles (fixes at other places
    nearby — a lunch out, the way in — and outliers pull it less than a plain mean); and how many
    fixes the last mean took. The radius is 1.5 × the accuracy: measured on simulated cell data, a
    tighter one loses more precision to fewer fixes than it gains in bias, a wider one the reverse."""
    idx = np.concatenate(members) if members else np.zeros(0, np.int64)
    if idx.size == 0:
        return cx, cy, 0
    px, py = x[idx], y[idx]
    r = max(1.5 * acc_m, 1.0)
    n = 0
    for _ in range(20):
        keep = np.hypot(px - cx, py - cy) <= r
        n = int(keep.sum())
        if n == 0:
            break
        nx, ny = float(px[keep].mean()), float(py[keep].mean())
        done = math.hypot(nx - cx, ny - cy) < 1.0
        cx, cy = nx, ny
        if done:
            break
    return cx, cy, n


def _steady_hours_centre(
    x: F64, y: F64, sod: I64, members: list[I64], cx: float, cy: float, acc_m: float
) -> tuple[float, float, int, int, tuple[F64, F64]]:
    """The centre of the fixes of ``members`` windows by a mean shift from ``(cx, cy)``, using only the
    hours of the day at which the entity is, on average, at that centre.

    A working day's window (09:00-17:00) holds hours spent elsewhere on most days: a student home at
    15:00, a gym after work, a regular lunch out. Hundreds of metres away, they are inside the
    mean shift's radius (1.5 x a cell fix's 600 m accuracy) and pull the mean towards them by more
    than the 100 m it must be within. Per hour of the day, the mean of that hour's fixes (over all the
    days) is compared with the centre: an hour whose mean lies more than 3 standard errors from it
    (``acc / sqrt(2 n)`` per axis) was spent elsewhere, and its fixes are left out; repeated until no
    hour is dropped. Returns the centre, the number of fixes its last mean took, the number of hours
    left out and the kept hours' means (metres east and north; their scatter bounds the centre's error
    from below, see :func:`_p_within`)."""
    idx = np.concatenate(members) if members else np.zeros(0, np.int64)
    hour = (sod[idx] // H).astype(np.int64) if idx.size else np.zeros(0, np.int64)
    hours = np.unique(hour)
    keep_h = np.ones(hours.shape[0], np.bool_)
    n = 0
    hx = hy = np.zeros(0)
    for _ in range(len(hours) + 1):
        sel = [idx[hour == h] for h in hours[keep_h].tolist()]
        cx, cy, n = _precise_centre(x, y, sel, cx, cy, acc_m)
        r = max(1.5 * acc_m, 1.0)
        z = np.zeros(hours.shape[0])
        mx = np.full(hours.shape[0], np.nan)
        my = np.full(hours.shape[0], np.nan)
        for k, h in enumerate(hours.tolist()):
            part = idx[hour == h]
            near = part[np.hypot(x[part] - cx, y[part] - cy) <= r]
            if near.size < COARSE_MIN_FIXES:
                continue
            mx[k], my[k] = float(x[near].mean()), float(y[near].mean())
            se = max(acc_m, 1.0) / math.sqrt(2.0 * near.size)
            z[k] = math.hypot(mx[k] - cx, my[k] - cy) / se
        # drop the single worst hour beyond 3 standard errors, then look again
        cand = np.where(keep_h, z, 0.0)
        worst = int(np.argmax(cand)) if cand.size else 0
        kept = np.isfinite(mx) & keep_h
        hx, hy = mx[kept], my[kept]
        if cand.size == 0 or cand[worst] <= 3.0 or int(keep_h.sum()) <= 2:
            break
        keep_h[worst] = False
    return cx, cy, n, int((~keep_h).sum()), (hx, hy)


def _p_within(
    acc_m: float, n_fixes: int, target_m: float = COARSE_TARGET_M, scatter: tuple[F64, F64] | None = None
) -> float:
    """Chance that the mean of ``n_fixes`` independent fixes of RMS error ``acc_m`` lies within
    ``target_m`` of the truth (each axis Normal with σ² = acc² / (2 n)). With ``scatter`` (the
    centres of the windows behind it, metres east and north), σ is at least their standard error —
    days that disagree (a lunch out, a second site) make the position less sure than the count of
    fixes says."""
    if n_fixes <= 0:
        return 0.0
    var = acc_m**2 / (2.0 * n_fixes) if math.isfinite(acc_m) and acc_m > 0 else 0.0
    if scatter is not None and scatter[0].shape[0] >= 2:
        wx, wy = scatter
        k = wx.shape[0]
        var = max(var, float(np.var(wx, ddof=1) + np.var(wy, ddof=1)) / 2.0 / k)
    if var <= 0:
        return 1.0
    return 1.0 - math.exp(-(target_m**2) / (2.0 * var))


def coarse_anchors(
    fixes: pa.Table,
    *,
    min_days: float = 7.0,
    min_nights: int = 4,
    abstain_below: float = 0.5,
    tz: str | None = None,
    method: str = "coarse-anchors",
) -> pa.Table:
    """Home and work of entities whose positions are coarse (cell towers, hundreds of metres), from the
    density of their fixes rather than from stays.

    For each local night (00:00–06:00, at least 4 fixes over 2 hours) the median of its fixes is the
    night's centre; night centres are clustered (radius: three times the expected error of a night's
    centre, at least 250 m). A night cluster after whose nights the entity spends the morning
    (08:00–14:00) elsewhere on at least 60 % of them is a night-shift workplace, and those nights
    rest at the morning's place. Home is the largest cluster of rest points (a second cluster holding
    at least 20 % and 3 of the days: a second home, or a house move when the two follow one another).
    Work is the largest cluster of weekday core-hour (09:00–17:00) centres away from home, on at least
    40 % and 3 of the observed weekdays in 2 weeks, or a night-shift workplace. A position is the mean
    of the supporting fixes within 2.5 × the accuracy of the cluster's centre (outliers out).

    Confidence is the stays path's (share and count of supporting days) times the chance that the mean
    of that many fixes lies within 100 m of the truth; below ``abstain_below`` the row abstains (data too
    thin to place the anchor). Returns :data:`ANCHOR` rows (``place_id`` null: no place was detected).
    """
    need = [c for c in ("entity", "t", "lat", "lon") if c not in fixes.column_names]
    if need:
        raise SchemaError(f"coarse_anchors: fix table lacks column {', '.join(need)}")
    ent_arr = fixes.column("entity").cast(pa.string()).combine_chunks()
    t_us = _ts_us(fixes, "t")
    lat = np.asarray(fixes.column("lat").cast(pa.float64()).to_numpy(), np.float64)
    lon = np.asarray(fixes.column("lon").cast(pa.float64()).to_numpy(), np.float64)
    acc = (
        np.asarray(fixes.column("accuracy_m").cast(pa.float64()).fill_null(np.nan).to_numpy(), np.float64)
        if "accuracy_m" in fixes.column_names
        else np.full(lat.shape[0], np.nan)
    )
    cols: dict[str, list[object]] = {f.name: [] for f in ANCHOR}

    def add(
        ent: str,
        label: str,
        conf: float,
        evidence: str,
        pos: tuple[float, float] | None,
        vf: int | None = None,
        vt: int | None = None,
    ) -> None:
        abst = pos is None
        cols["entity"].append(ent)
        cols["label"].append(label)
        cols["place_id"].append(None)
        cols["lat"].append(None if pos is None else pos[0])
        cols["lon"].append(None if pos is None else pos[1])
        c = float(min(max(conf, 0.0), 1.0))
        cols["confidence"].append(c if abst or label == "regular" else _calibrated(c))
        cols["valid_from"].append(vf)
        cols["valid_to"].append(vt)
        cols["evidence"].append(f"abstained: {evidence}" if abst else evidence)
        cols["method"].append(method)
        cols["abstained"].append(abst)

    names = ent_arr.to_pylist()
    codes_enc = pc.dictionary_encode(ent_arr)
    uniq = [str(v) for v in codes_enc.dictionary.to_pylist()]
    codes = np.asarray(codes_enc.indices.to_numpy(zero_copy_only=False), np.int64)
    del names
    for ci in np.argsort(np.array(uniq, dtype=object), kind="stable").tolist() if uniq else []:
        ent = uniq[ci]
        idx = np.flatnonzero(codes == ci)
        idx = idx[np.argsort(t_us[idx], kind="stable")]
        t, la, lo, ac = t_us[idx], lat[idx], lon[idx], acc[idx]
        acc_m = float(np.nanmedian(ac)) if np.isfinite(ac).any() else 0.0
        span_days = (int(t[-1]) - int(t[0])) / US_PER_DAY if t.size else 0.0
        if span_days < min_days:
            why = f"only {span_days:.1f} days of data (at least {min_days:g} needed)"
            add(ent, "home", 0.0, why, None)
            add(ent, "work", 0.0, why, None)
            continue
        lat0, lon0 = float(np.median(la)), float(np.median(lo))
        kx = 111_320.0 * math.cos(math.radians(lat0))
        x, y = (lo - lon0) * kx, (la - lat0) * 110_540.0
        zname = tz if tz is not None else zones_at(np.array([lat0]), np.array([lon0]))[0]
        local = to_local_us(t, np.zeros(t.shape[0], np.int64), [zname])
        day, sod = local_day(local), seconds_of_day(local)
        dow = day_of_week(day)
        every = np.ones(t.shape[0], np.bool_)

        def to_ll(px: float, py: float) -> tuple[float, float]:
            return lat0 + py / 110_540.0, lon0 + px / kx  # noqa: B023

        nights = _windows(day, sod, every, x, y, *COARSE_NIGHT, NIGHT_MIN_S)
        n_obs = int(nights.day.shape[0])
        if n_obs < max(min_nights, 1):
            why = f"only {n_obs} observed nights (at least {max(min_nights, 1)} needed)"
            add(ent, "home", 0.0, why, None)
            add(ent, "work", 0.0, why + "; work cannot be told from home without a home", None)
            continue
        per_window = float(np.median(nights.n))
        radius = max(250.0, 3.0 * acc_m / math.sqrt(max(per_window, 1.0)))
        nl, ncent = _cluster_points(nights.x, nights.y, radius)
        mornings = _windows(day, sod, every, x, y, *COARSE_MORNING, MORNING_MIN_S)
        m_of = {int(d): i for i, d in enumerate(mornings.day.tolist())}
        # night-shift clusters: the morning after is mostly spent elsewhere
        night_work: dict[int, int] = {}
        rest_x, rest_y, rest_mem = nights.x.copy(), nights.y.copy(), list(nights.members)
        rest_ok = np.ones(n_obs, np.bool_)
        for c in range(len(ncent)):
            ns = np.flatnonzero(nl == c)
            if ns.size < 2:
                continue
            # slept elsewhere: the morning is far from this night place and at another night place
            far = []
            for i in ns.tolist():
                j = m_of.get(int(nights.day[i]))
                if j is not None:
                    mx, my = mornings.x[j], mornings.y[j]
                    far.append(
                        math.hypot(mx - ncent[c][0], my - ncent[c][1]) > radius
                        and any(
                            math.hypot(mx - ox, my - oy) <= radius
                            for o, (ox, oy) in enumerate(ncent)
                            if o != c
                        )
                    )
            if len(ncent) > 1 and len(far) >= 2 and sum(far) / ns.size >= 0.6:
                night_work[c] = int(ns.size)
                for i in ns.tolist():
                    j = m_of.get(int(nights.day[i]))
                    if j is None:
                        rest_ok[i] = False
                    else:
                        rest_x[i], rest_y[i], rest_mem[i] = (
                            mornings.x[j],
                            mornings.y[j],
                            mornings.members[j],
                        )
        if len(night_work) == len(ncent):  # every night place "works": none does
            night_work = {}
            rest_x, rest_y, rest_mem = nights.x.copy(), nights.y.copy(), list(nights.members)
            rest_ok[:] = True
        r_idx = np.flatnonzero(rest_ok)
        n = int(r_idx.size)
        rl, rcent = _cluster_points(rest_x[r_idx], rest_y[r_idx], radius)
        counts = np.bincount(rl, minlength=len(rcent)) if n else np.zeros(0, np.int64)
        if n == 0 or counts[0] < max(2, 0.15 * n):
            add(
                ent,
                "home",
                0.0,
                f"{n} observed nights spread over {len(rcent)} places, none on 15 % of them",
                None,
            )
            add(ent, "work", 0.0, "no home could be named, so work cannot be told from home", None)
            continue
        rdays = nights.day[r_idx]
        night_utc = np.array([int(t[m[0]]) for m in rest_mem], np.int64)[r_idx]
        homes: list[tuple[float, float]] = []
        shift = f"; {sum(night_work.values())} nights at a night-shift workplace" if night_work else ""
        what = f"cell-level positions (median accuracy {acc_m:.0f} m)"
        # a move: the two largest rest clusters one after the other
        moved = False
        if len(rcent) >= 2 and counts[1] >= 2:
            sel = (rl == 0) | (rl == 1)
            order = np.argsort(rdays[sel], kind="stable")
            xb = (rl[sel][order] == 1).astype(np.int64)
            mm = xb.shape[0]
            cs = np.concatenate(([0], np.cumsum(xb)))
            cc = np.arange(1, mm)
            err_ab = cs[cc] + ((mm - cc) - (cs[mm] - cs[cc]))
            err_ba = (cc - cs[cc]) + (cs[mm] - cs[cc])
            errs = np.minimum(err_ab, err_ba)
            k = int(np.argmin(errs))
            cut = int(cc[k])
            if errs[k] <= max(1, 0.1 * mm) and min(cut, mm - cut) >= max(2, min_nights):
                moved = True
                first, second = (0, 1) if err_ab[k] <= err_ba[k] else (1, 0)
                u = night_utc[sel][order]
                change = (int(u[cut - 1]) + int(u[cut])) // 2
                before = night_utc < change
                for cl, part, vf, vt, when in (
                    (first, before, None, change, "until the move"),
                    (second, ~before, change, None, "after the move"),
                ):
                    wi = r_idx[np.flatnonzero(part & (rl == cl))]
                    members = [rest_mem[int(i)] for i in wi]
                    k_here = len(members)
                    share = k_here / max(int(part.sum()), 1)
                    px, py, nf = _precise_centre(x, y, members, *rcent[cl], acc_m)
                    p_near = _p_within(acc_m, nf, scatter=(rest_x[wi], rest_y[wi]))
                    conf = math.sqrt(share) * (1.0 - math.exp(-k_here / 3.0)) * p_near
                    ev = f"{k_here} of {int(part.sum())} observed nights {when}, 00:00-06:00 local ({zname}), {nf} fixes, {what}{shift}"
                    if conf < abstain_below:
                        add(ent, "home", conf, f"weak evidence ({ev})", None, vf, vt)
                    else:
                        add(ent, "home", conf, ev, to_ll(px, py), vf, vt)
                        homes.append((px, py))
        if not moved:
            keep = [0] + [c for c in range(1, len(rcent)) if counts[c] >= max(3, 0.2 * n)]
            set_share = float(np.isin(rl, keep).sum()) / n
            for rank, cl in enumerate(keep):
                wi = r_idx[np.flatnonzero(rl == cl)]
                members = [rest_mem[int(i)] for i in wi]
                k_here = len(members)
                px, py, nf = _precise_centre(x, y, members, *rcent[cl], acc_m)
                conf = (
                    math.sqrt(set_share)
                    * (1.0 - math.exp(-k_here / 3.0))
                    * (1.0 if rank == 0 else 0.9)
                    * _p_within(acc_m, nf, scatter=(rest_x[wi], rest_y[wi]))
                )
                role = "" if len(keep) == 1 else ("primary home; " if rank == 0 else "second home; ")
                ev = f"{role}{k_here} of {n} observed nights, 00:00-06:00 local ({zname}), {nf} fixes, {what}{shift}"
                if conf < abstain_below:
                    if rank == 0:
                        add(ent, "home", conf, f"weak evidence ({ev})", None)
                        break
                    continue
                add(ent, "home", conf, ev, to_ll(px, py))
                homes.append((px, py))
        if not homes:
            add(ent, "work", 0.0, "no home could be named, so work cannot be told from home", None)
            continue
        # work: weekday core hours away from every home, or a night-shift workplace
        wk = _windows(day, sod, dow < 5, x, y, *COARSE_WORKDAY, WORK_MIN_S)
        n_wd = int(wk.day.shape[0])
        best: tuple[float, str, tuple[float, float]] | None = None
        if n_wd:
            dh = np.min([np.hypot(wk.x - hx, wk.y - hy) for hx, hy in homes], axis=0)
            away = np.flatnonzero(dh > radius)
            if away.size >= 3:
                wl, wcent = _cluster_points(wk.x[away], wk.y[away], radius)
                sel_w = away[wl == 0]
                k = int(sel_w.size)
                weeks = int(np.unique(week_of(wk.day[sel_w])).shape[0])
                obs_weeks = int(np.unique(week_of(wk.day)).shape[0])
                share = k / n_wd
                if k >= 3 and share >= 0.4 and weeks >= min(2, obs_weeks):
                    px, py, nf, dropped, hours_xy = _steady_hours_centre(
                        x, y, sod, [wk.members[i] for i in sel_w.tolist()], *wcent[0], acc_m
                    )
                    conf = (
                        math.sqrt(share)
                        * (1.0 - math.exp(-k / 3.0))
                        * (1.0 - math.exp(-weeks))
                        * min(
                            _p_within(acc_m, nf, scatter=(wk.x[sel_w], wk.y[sel_w])),
                            _p_within(acc_m, nf, scatter=hours_xy),
                        )
                    )
                    away_h = f", {dropped} hours of the day spent elsewhere left out" if dropped else ""
                    ev = (
                        f"{k} of {n_wd} observed weekdays over {weeks} weeks, 09:00-17:00 local ({zname}), "
                        f"{nf} fixes{away_h}, {what}"
                    )
                    best = (conf, ev, (px, py))
        for c, k in night_work.items():
            ns = np.flatnonzero(nl == c)
            weeks = int(np.unique(week_of(nights.day[ns])).shape[0])
            share = k / n_obs
            if k < 3 or share < 0.3:
                continue
            px, py, nf = _precise_centre(x, y, [nights.members[i] for i in ns.tolist()], *ncent[c], acc_m)
            p_near = _p_within(acc_m, nf, scatter=(nights.x[ns], nights.y[ns]))
            conf = math.sqrt(share) * (1.0 - math.exp(-k / 3.0)) * (1.0 - math.exp(-weeks)) * p_near
            ev = (
                f"night shifts: {k} of {n_obs} observed nights over {weeks} weeks, 00:00-06:00 local ({zname}), "
                f"followed by sleep at home, {nf} fixes, {what}"
            )
            if best is None or conf > best[0]:
                best = (conf, ev, (px, py))
        if best is not None:
            conf, ev, (px, py) = best
            if conf < abstain_below:
                add(ent, "work", conf, f"weak evidence ({ev})", None)
            else:
                add(ent, "work", conf, ev, to_ll(px, py))
    arrays = []
    for f in ANCHOR:
        vals = cols[f.name]
        arrays.append(pa.array(vals, pa.int64()).cast(UTC_US) if f.type == UTC_US else pa.array(vals, f.type))
    return pa.Table.from_arrays(arrays, schema=ANCHOR)


def _calibrated(conf: float) -> float:
    """A home or work row's raw confidence through the shipped ``anchors`` calibration map."""
    from ..evaluate.calibration import apply

    return apply("anchors", conf)


def _coarse_entities(fixes: pa.Table, coarse_accuracy_m: float) -> tuple[set[str], set[str]]:
    """Entities whose median reported accuracy is worse than ``coarse_accuracy_m`` (coarse), and
    the others with at least a fifth of their fixes that coarse (partly coarse)."""
    ent_col = "entity" if "entity" in fixes.column_names else "device"
    if "accuracy_m" not in fixes.column_names or ent_col not in fixes.column_names:
        return set(), set()
    acc = fixes.column("accuracy_m").cast(pa.float64())
    t = pa.table(
        {
            "e": fixes.column(ent_col).cast(pa.string()),
            "a": acc,
            "c": pc.fill_null(pc.greater(acc, coarse_accuracy_m), False).cast(pa.float64()),
        }
    )
    g = t.group_by("e").aggregate([("a", "approximate_median"), ("c", "mean")])
    coarse: set[str] = set()
    partly: set[str] = set()
    for e, m, share in zip(
        g.column("e").to_pylist(),
        g.column("a_approximate_median").to_pylist(),
        g.column("c_mean").to_pylist(),
        strict=True,
    ):
        if m is not None and m > coarse_accuracy_m:
            coarse.add(str(e))
        elif share is not None and share >= 0.2:
            partly.add(str(e))
    return coarse, partly
