"""Places: stays ➜ places, the second stage of the pattern-of-life engine.

:func:`cluster_places` groups the stays of each entity (or of all entities, ``shared=True``) into
places; :func:`assign_places` tells which place each stay belongs to.

Clustering method: dwell-weighted leader clustering on a grid
-------------------------------------------------------------
Stays are taken heaviest first (longest dwell; ties by row). The heaviest stay not yet in a place
seeds a new place, and every stay of the same group not yet in a place that lies within ``radius_m``
of the seed joins it. Distances are straight lines between Earth-centred coordinates (the chord
equals the ground distance to a millimetre at these scales); a uniform grid of ``radius_m`` cells
sorted once means each seed only looks at the 27 cells around it, so the cost is about
O(n log n + n · neighbours) instead of O(n²).

Why this and not DBSCAN or single-linkage: those *chain* — a string of short stays along a street
or at the pumps of a petrol station, each within the radius of the next, fuses into one place
kilometres long. Here every member lies within ``radius_m`` of its seed, so a place is never wider
than ``2 · radius_m``. Taking the heaviest stays first puts the seed where the entity spends its
time (the sofa, not the front gate), which also makes the result stable: a week of new stays rarely
changes which stay is the heaviest of a well-visited place. Compared with k-means or mean shift it
needs no count of places and no iterations, and it is deterministic.

A place's centre is the dwell-weighted *median* of its stays' centres (east and north of the seed,
taken separately): one stay recorded with a wild multipath error cannot drag it. ``extent_m`` is the
distance from that centre to the farthest member stay.

Stable identifiers
------------------
A new place id is derived from its content: the geohash (8 characters, a cell of about 38 × 19 m) of
the centre and a short hash of the entity (``all`` for shared places), e.g. ``u0vgp5c7.3f9a1c``.
Re-analysis is stable in two ways: the same stays give the same ids; and when the places of an
earlier analysis are passed as ``previous``, each new place takes the id of the nearest earlier place
of the same entity within ``match_m`` (one-to-one, the closest pair first), so a place whose centre
moved by a few metres after a week of new data — even into the next geohash cell — keeps its id.
"""

from __future__ import annotations

import hashlib
import math
from numbers import Real
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..kernels import jit
from ..model import validate
from ..model.errors import InputError, SchemaError
from ..model.schemas import UTC_US
from ._geo import enu_m, from_enu, geohash, haversine_m, to_xyz_m

__all__ = [
    "DEFAULT_PLACE_RADIUS_M",
    "assign_places",
    "cluster_places",
    "leader_cluster_reference",
    "nearest_place_reference",
    "place_confidence",
]

#: Default ``radius_m`` of :func:`cluster_places`.
DEFAULT_PLACE_RADIUS_M = 100.0

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

_ID_PRECISION = 8


def cluster_places(
    stays: pa.Table,
    *,
    radius_m: float = DEFAULT_PLACE_RADIUS_M,
    min_visits: int = 1,
    shared: bool = False,
    previous: pa.Table | None = None,
    match_m: float | None = None,
    towns: bool | None = None,
) -> pa.Table:
    """Cluster stays into places.

    Parameters
    ----------
    stays
        A ``stay`` tier table (``entity``, ``start``, ``end``, ``lat``, ``lon``; ``confidence`` used
        when present). Not modified.
    radius_m
        Every stay of a place lies within this distance of the place's seed stay (see the module
        documentation); places are at most ``2 · radius_m`` wide.
    min_visits
        Places visited fewer times are dropped. Consecutive stays of one entity at the same place
        (a stay split by a short excursion or a detection artefact) count as one visit.
    shared
        Cluster the stays of all entities together (places shared by several entities, with a null
        ``entity``) instead of each entity on its own.
    previous
        Places of an earlier analysis: new places within ``match_m`` of one of them keep its id.
    match_m
        How far a place may have moved and still be the same place (default ``radius_m``).
    towns
        Name the nearest town (offline GeoNames via ``reverse_geocoder``): ``True`` requires it,
        ``False`` skips it, ``None`` (default) names towns when the package is installed.

    Returns
    -------
    pyarrow.Table
        A ``place`` tier table sorted by entity, then dwell (longest first). ``evidence_stays`` lists
        the rows of ``stays`` that make up each place.

    Examples
    --------
    >>> import pyarrow as pa
    >>> h = 3_600_000_000
    >>> stays = pa.table({
    ...     "entity": ["ann"] * 4,
    ...     "start": pa.array([0, 10 * h, 20 * h, 30 * h], pa.timestamp("us", tz="UTC")),
    ...     "end": pa.array([8 * h, 18 * h, 28 * h, 38 * h], pa.timestamp("us", tz="UTC")),
    ...     "lat": [52.0, 52.1, 52.0001, 52.1001], "lon": [5.0, 5.0, 5.0001, 5.0],
    ... })
    >>> places = cluster_places(stays, radius_m=50, towns=False)
    >>> places.column("n_visits").to_pylist(), places.column("evidence_stays").to_pylist()
    ([2, 2], [[0, 2], [1, 3]])
    """
    _check_positive("radius_m", radius_m)
    if isinstance(min_visits, bool) or not isinstance(min_visits, int) or min_visits < 1:
        raise InputError(f"min_visits must be a whole number of at least 1, got {min_visits!r}")
    match = float(radius_m) if match_m is None else match_m
    _check_positive("match_m", match)
    s = _stay_columns(stays, "cluster_places")
    n = s.lat.shape[0]
    groups = np.zeros(n, np.int64) if shared else s.codes
    weight = np.maximum((s.end_us - s.start_us) / 1e6, 1.0)
    xyz = to_xyz_m(s.lat, s.lon)
    label, seeds = _leader(groups, xyz, weight, float(radius_m))
    k = seeds.shape[0]

    # robust centres: dwell-weighted medians east and north of the seed
    slat, slon = s.lat[seeds][label], s.lon[seeds][label]
    east, north = enu_m(s.lat, s.lon, slat, slon)
    me = _weighted_median(east, weight, label, k)
    mn = _weighted_median(north, weight, label, k)
    lat, lon = from_enu(me, mn, s.lat[seeds], s.lon[seeds])
    member_d = haversine_m(s.lat, s.lon, lat[label], lon[label])
    extent = np.zeros(k)
    np.maximum.at(extent, label, member_d)

    # visits: stays whose previous stay of the same entity was elsewhere
    by_time = np.lexsort((s.start_us, s.codes))
    lab_t = label[by_time]
    new_visit = np.ones(n, np.bool_)
    if n > 1:
        new_visit[1:] = (lab_t[1:] != lab_t[:-1]) | (s.codes[by_time][1:] != s.codes[by_time][:-1])
    n_visits = np.bincount(lab_t[new_visit], minlength=k).astype(np.int64)
    n_stays = np.bincount(label, minlength=k).astype(np.int64)
    dwell = np.bincount(label, weights=(s.end_us - s.start_us) / 1e6, minlength=k)
    first = np.full(k, np.iinfo(np.int64).max)
    last = np.full(k, np.iinfo(np.int64).min)
    np.minimum.at(first, label, s.start_us)
    np.maximum.at(last, label, s.end_us)
    ent_code = s.codes[seeds]
    n_entities = _count_distinct_pairs(label, s.codes, k)
    from ..evaluate.calibration import apply as calibrated
    from ..evaluate.calibration import stay_sensor_classes

    # a place's sensor class is its entity's (shared places mix entities: the pooled map)
    classes = None if shared else stay_sensor_classes(stays)[seeds]
    conf = calibrated("places", place_confidence(label, s.confidence, n_visits, k), classes)

    keep = np.flatnonzero(n_visits >= min_visits)
    # sort: entity, dwell desc, then position (deterministic)
    keep = keep[
        np.lexsort(
            (lon[keep], lat[keep], -dwell[keep], np.zeros(keep.shape[0]) if shared else ent_code[keep])
        )
    ]
    remap = np.full(k, -1, np.int64)
    remap[keep] = np.arange(keep.shape[0])
    members = np.flatnonzero(remap[label] >= 0)
    members = members[np.lexsort((members, remap[label[members]]))]
    offsets = np.concatenate(([0], np.cumsum(n_stays[keep]))).astype(np.int32)
    evidence = pa.ListArray.from_arrays(pa.array(offsets), pa.array(members.astype(np.int64)))

    entity_names = (
        pa.nulls(keep.shape[0], pa.string())
        if shared
        else s.entities.take(pa.array(ent_code[keep])).cast(pa.string())
    )
    ids = _place_ids(
        lat[keep],
        lon[keep],
        entity_names,
        previous,
        match,
    )
    town_cols = _towns(lat[keep], lon[keep], towns)
    label_str = _label(
        "leader", radius_m=radius_m, min_visits=min_visits, shared=shared, match_m=match, weight="dwell"
    )
    table = pa.table(
        {
            "place_id": pa.array(ids, pa.string()),
            "entity": entity_names,
            "lat": pa.array(lat[keep]),
            "lon": pa.array(lon[keep]),
            "extent_m": pa.array(extent[keep]),
            "label": pa.nulls(keep.shape[0], pa.string()),
            "n_visits": pa.array(n_visits[keep]),
            "n_stays": pa.array(n_stays[keep]),
            "n_entities": pa.array(n_entities[keep]),
            "dwell_s": pa.array(dwell[keep]),
            "first_visit": pa.array(first[keep], pa.int64()).view(UTC_US),
            "last_visit": pa.array(last[keep], pa.int64()).view(UTC_US),
            "town": town_cols[0],
            "country": town_cols[1],
            "town_distance_m": town_cols[2],
            "confidence": pa.array(conf[keep]),
            "evidence_stays": evidence,
            "method": pa.array([label_str] * keep.shape[0], pa.string()),
        }
    )
    return validate(table, "place")


def assign_places(
    stays: pa.Table, places: pa.Table, *, max_distance_m: float | None = None, min_reach_m: float = 25.0
) -> pa.Array:
    """The place of each stay: the id of the nearest place of the same entity (or a shared place,
    one with a null ``entity``) whose centre is within reach, else null.

    Reach is ``max_distance_m`` when given, else the larger of the place's ``extent_m`` and
    ``min_reach_m``, plus 1 m: every stay :func:`cluster_places` put into a place is within reach
    of it (it may still go to a nearer place whose reach also covers it), and a new stay a few
    metres from a place seen on one visit only (extent 0) still finds it.

    >>> import pyarrow as pa
    >>> t = pa.array([0, 3_600_000_000], pa.timestamp("us", tz="UTC"))
    >>> stays = pa.table({"entity": ["ann"] * 2, "start": t, "end": t, "lat": [52.0, 53.0], "lon": [5.0, 5.0]})
    >>> places = pa.table({"place_id": ["p1"], "entity": ["ann"], "lat": [52.0001], "lon": [5.0], "extent_m": [30.0]})
    >>> assign_places(stays, places).to_pylist()
    ['p1', None]
    """
    s = _stay_columns(stays, "assign_places")
    for c in ("place_id", "lat", "lon"):
        if c not in places.column_names:
            raise SchemaError(
                f"place table lacks column {c!r}", hint="pass the table cluster_places returned"
            )
    if max_distance_m is not None:
        _check_positive("max_distance_m", max_distance_m)
    if isinstance(min_reach_m, bool) or not (
        isinstance(min_reach_m, Real) and math.isfinite(min_reach_m) and min_reach_m >= 0
    ):
        raise InputError(f"min_reach_m must be a finite number of at least 0, got {min_reach_m!r}")
    m = places.num_rows
    plat = _floats(places, "lat")
    plon = _floats(places, "lon")
    if max_distance_m is not None:
        reach = np.full(m, float(max_distance_m))
    elif "extent_m" in places.column_names:
        reach = np.maximum(np.nan_to_num(_floats(places, "extent_m"), nan=0.0), float(min_reach_m)) + 1.0
    else:
        raise SchemaError(
            "place table lacks column 'extent_m'", hint="give max_distance_m or an extent_m column"
        )
    # group code of each place in the stays' entity numbering; -1 for shared, -2 for unknown entities
    if "entity" in places.column_names:
        pent = places.column("entity").cast(pa.string())
        idx = pc.index_in(pent, value_set=s.entities)
        pcode = np.asarray(idx.fill_null(-2).to_numpy(zero_copy_only=False), np.int64)
        pcode[np.asarray(pent.is_null().to_numpy(zero_copy_only=False), np.bool_)] = -1
    else:
        pcode = np.full(m, -1, np.int64)
    if s.lat.shape[0] == 0 or m == 0:
        return pa.nulls(s.lat.shape[0], pa.string())
    near = _nearest_within(
        s.codes, to_xyz_m(s.lat, s.lon), pcode, to_xyz_m(plat, plon), reach, float(reach.max())
    )
    ids = places.column("place_id").cast(pa.string()).combine_chunks()
    out: pa.Array = ids.take(pa.array(np.where(near >= 0, near, 0), mask=near < 0))
    return out


def place_confidence(label: I64, stay_conf: F64, n_visits: I64, k: int) -> F64:
    """A heuristic confidence in 0..1 that a place is real (to be calibrated on the simulator):
    the noisy-or of its stays' confidences (the chance that at least one of them is a real stay,
    a missing stay confidence counting as 0.5), times ``1 − 0.3 · exp(−(n_visits − 1))`` — a place
    seen on one visit only is worth 0.7 of one seen twice or more.

    >>> import numpy as np
    >>> [round(float(c), 3) for c in place_confidence(np.array([0, 0, 1]), np.array([0.5, 0.5, 0.9]), np.array([2, 1]), 2)]
    [0.667, 0.63]
    """
    c = np.clip(np.nan_to_num(np.asarray(stay_conf, np.float64), nan=0.5), 0.0, 1.0 - 1e-12)
    log_miss = np.bincount(label, weights=np.log1p(-c), minlength=k)
    noisy_or = 1.0 - np.exp(log_miss)
    factor = 1.0 - 0.3 * np.exp(-(np.asarray(n_visits, np.float64) - 1.0))
    return np.asarray(np.clip(noisy_or * factor, 0.0, 1.0), np.float64)


# --------------------------------------------------------------------------------------------------
# the grid kernels


def _cells(g: I64, xyz: F64, cell_m: float) -> tuple[I64, I64, I64, I64, I64]:
    c = np.floor(xyz / cell_m).astype(np.int64)
    order = np.lexsort((c[:, 2], c[:, 1], c[:, 0], g)).astype(np.int64)
    return order, np.ascontiguousarray(g[order]), *(np.ascontiguousarray(c[order, k]) for k in range(3))  # type: ignore[return-value]


@jit
def _lower(kg: I64, kx: I64, ky: I64, kz: I64, g: int, x: int, y: int, z: int) -> int:  # pragma: no cover
    lo, hi = 0, kg.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        a, b, c, d = kg[mid], kx[mid], ky[mid], kz[mid]
        less = a < g or (a == g and (b < x or (b == x and (c < y or (c == y and d < z)))))
        if less:
            lo = mid + 1
        else:
            hi = mid
    return lo


@jit
def _leader_kernel(
    seed_order: I64,
    g: I64,
    xyz: F64,
    order: I64,
    kg: I64,
    kx: I64,
    ky: I64,
    kz: I64,
    cell_m: float,
    radius_m: float,
) -> tuple[I64, I64]:  # pragma: no cover - compiled
    n = xyz.shape[0]
    label = np.full(n, -1, np.int64)
    seeds = np.empty(n, np.int64)
    k = 0
    r2 = radius_m * radius_m
    for s in seed_order:
        if label[s] >= 0:
            continue
        label[s] = k
        seeds[k] = s
        cx = math.floor(xyz[s, 0] / cell_m)
        cy = math.floor(xyz[s, 1] / cell_m)
        cz = math.floor(xyz[s, 2] / cell_m)
        for dx in range(-1, 2):
            for dy in range(-1, 2):
                lo = _lower(kg, kx, ky, kz, g[s], cx + dx, cy + dy, cz - 1)
                hi = _lower(kg, kx, ky, kz, g[s], cx + dx, cy + dy, cz + 2)
                for p in range(lo, hi):
                    j = order[p]
                    if label[j] >= 0:
                        continue
                    ex = xyz[j, 0] - xyz[s, 0]
                    ey = xyz[j, 1] - xyz[s, 1]
                    ez = xyz[j, 2] - xyz[s, 2]
                    if ex * ex + ey * ey + ez * ez <= r2:
                        label[j] = k
        k += 1
    return label, seeds[:k].copy()


def _leader(g: I64, xyz: F64, weight: F64, radius_m: float) -> tuple[I64, I64]:
    """Leader clustering (see the module documentation): cluster label of each point (numbered in
    seed order) and the seed point of each cluster."""
    n = xyz.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    seed_order = np.lexsort((np.arange(n), -weight)).astype(np.int64)
    order, kg, kx, ky, kz = _cells(g, xyz, radius_m)
    label, seeds = _leader_kernel(
        seed_order,
        np.ascontiguousarray(g, np.int64),
        np.ascontiguousarray(xyz),
        order,
        kg,
        kx,
        ky,
        kz,
        radius_m,
        radius_m,
    )
    return np.asarray(label), np.asarray(seeds)


def leader_cluster_reference(
    groups: list[int], points: list[tuple[float, float, float]], weights: list[float], radius_m: float
) -> tuple[list[int], list[int]]:
    """Plain-Python, brute-force definition of the leader clustering the grid kernel must match:
    heaviest point first (ties: lower index), each unassigned point of the same group within
    ``radius_m`` (squared Euclidean distance ≤ radius²) of the seed joins it."""
    n = len(points)
    label = [-1] * n
    seeds: list[int] = []
    r2 = radius_m * radius_m
    for s in sorted(range(n), key=lambda i: (-weights[i], i)):
        if label[s] >= 0:
            continue
        label[s] = len(seeds)
        for j in range(n):
            if label[j] < 0 and groups[j] == groups[s]:
                d = [points[j][c] - points[s][c] for c in range(3)]
                if d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= r2:
                    label[j] = len(seeds)
        seeds.append(s)
    return label, seeds


@jit
def _nearest_kernel(
    qg: I64, qxyz: F64, pxyz: F64, reach: F64, order: I64, kg: I64, kx: I64, ky: I64, kz: I64, cell_m: float
) -> I64:  # pragma: no cover - compiled
    n = qxyz.shape[0]
    out = np.full(n, -1, np.int64)
    for i in range(n):
        cx = math.floor(qxyz[i, 0] / cell_m)
        cy = math.floor(qxyz[i, 1] / cell_m)
        cz = math.floor(qxyz[i, 2] / cell_m)
        best = math.inf
        for pass_ in range(2):  # own entity's places, then shared places (group -1)
            gg = qg[i] if pass_ == 0 else -1
            for dx in range(-1, 2):
                for dy in range(-1, 2):
                    lo = _lower(kg, kx, ky, kz, gg, cx + dx, cy + dy, cz - 1)
                    hi = _lower(kg, kx, ky, kz, gg, cx + dx, cy + dy, cz + 2)
                    for p in range(lo, hi):
                        j = order[p]
                        ex = pxyz[j, 0] - qxyz[i, 0]
                        ey = pxyz[j, 1] - qxyz[i, 1]
                        ez = pxyz[j, 2] - qxyz[i, 2]
                        d = math.sqrt(ex * ex + ey * ey + ez * ez)
                        if d <= reach[j] and (d < best or (d == best and j < out[i])):
                            best = d
                            out[i] = j
    return out


def nearest_place_reference(
    query_groups: list[int],
    queries: list[tuple[float, float, float]],
    place_groups: list[int],
    places: list[tuple[float, float, float]],
    reach: list[float],
) -> list[int]:
    """Plain-Python, brute-force definition of the grid search behind :func:`assign_places`: for each
    query point, the nearest place (lowest index on ties) of its own group or of group -1 (shared)
    within that place's reach; -1 when none."""
    out = []
    for g, q in zip(query_groups, queries, strict=True):
        best, idx = math.inf, -1
        for j, (pg, p) in enumerate(zip(place_groups, places, strict=True)):
            if pg != g and pg != -1:
                continue
            ex, ey, ez = p[0] - q[0], p[1] - q[1], p[2] - q[2]
            d = math.sqrt(ex * ex + ey * ey + ez * ez)
            if d <= reach[j] and d < best:
                best, idx = d, j
        out.append(idx)
    return out


def _nearest_within(qg: I64, qxyz: F64, pg: I64, pxyz: F64, reach: F64, max_reach: float) -> I64:
    """For each query point, the nearest point of its group or of group -1 within that point's
    ``reach`` (-1 when none)."""
    cell = max(max_reach, 1.0)
    order, kg, kx, ky, kz = _cells(pg, pxyz, cell)
    return np.asarray(
        _nearest_kernel(
            np.ascontiguousarray(qg, np.int64),
            np.ascontiguousarray(qxyz),
            np.ascontiguousarray(pxyz),
            np.ascontiguousarray(reach, np.float64),
            order,
            kg,
            kx,
            ky,
            kz,
            cell,
        )
    )


# --------------------------------------------------------------------------------------------------
# helpers


class _Stays:
    def __init__(self, table: pa.Table, who: str) -> None:
        if not isinstance(table, pa.Table):
            raise InputError(f"{who} needs a pyarrow Table of stays, got {type(table).__name__}")
        missing = [c for c in ("entity", "start", "end", "lat", "lon") if c not in table.column_names]
        if missing:
            raise SchemaError(
                f"stay table lacks column {', '.join(missing)}",
                hint="pass a stay tier table (hereabouts.model.schemas.STAY), e.g. from detect_stays",
            )
        for c in ("entity", "start", "end", "lat", "lon"):
            if table.column(c).null_count:
                raise SchemaError(f"column {c!r} of the stay table has nulls; every stay needs it")
        self.start_us = _times(table, "start")
        self.end_us = _times(table, "end")
        self.lat = _floats(table, "lat")
        self.lon = _floats(table, "lon")
        if not (np.isfinite(self.lat).all() and np.isfinite(self.lon).all()):
            raise SchemaError("the stay table holds a non-finite lat or lon; every stay needs a position")
        self.confidence = (
            _floats(table, "confidence")
            if "confidence" in table.column_names
            else np.full(table.num_rows, np.nan)
        )
        ent = table.column("entity").cast(pa.string()).combine_chunks()
        self.entities: pa.Array = pc.unique(ent).sort() if table.num_rows else pa.array([], pa.string())
        self.codes = np.asarray(
            pc.index_in(ent, value_set=self.entities).to_numpy(zero_copy_only=False), np.int64
        )


def _stay_columns(table: pa.Table, who: str) -> _Stays:
    return _Stays(table, who)


def _times(table: pa.Table, name: str) -> I64:
    col = table.column(name)
    if not pa.types.is_timestamp(col.type):
        raise SchemaError(f"column {name!r} has type {col.type}, expected {UTC_US}")
    if col.type != UTC_US:
        col = col.cast(UTC_US)
    return np.asarray(col.combine_chunks().view(pa.int64()).to_numpy(zero_copy_only=False), np.int64)


def _floats(table: pa.Table, name: str) -> F64:
    col = table.column(name)
    if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
        raise SchemaError(f"column {name!r} has type {col.type}, expected float64")
    col = col.cast(pa.float64()).fill_null(np.nan)
    return np.asarray(col.combine_chunks().to_numpy(zero_copy_only=False), np.float64)


def _weighted_median(values: F64, weight: F64, label: I64, k: int) -> F64:
    """Weighted median of ``values`` within each label (the lower weighted median)."""
    if values.shape[0] == 0:
        return np.zeros(k)
    order = np.lexsort((values, label))
    cw = np.cumsum(weight[order])
    total = np.bincount(label, weights=weight, minlength=k)
    start = np.concatenate(([0.0], np.cumsum(total)[:-1]))
    # the global cumulative sum is strictly increasing (weights > 0), so one search finds each median
    idx = np.searchsorted(cw, start + total / 2.0 - 1e-9 * np.maximum(total, 1.0), side="left")
    idx = np.minimum(idx, values.shape[0] - 1)
    return np.asarray(values[order][idx], np.float64)


def _count_distinct_pairs(label: I64, codes: I64, k: int) -> I64:
    if label.shape[0] == 0:
        return np.zeros(k, np.int64)
    pairs = np.unique(np.stack([label, codes], axis=1), axis=0)
    return np.bincount(pairs[:, 0], minlength=k).astype(np.int64)


def _entity_tag(name: str | None) -> str:
    if name is None:
        return "all"
    return hashlib.blake2b(name.encode("utf-8"), digest_size=3).hexdigest()


def _place_ids(
    lat: F64, lon: F64, entities: pa.Array, previous: pa.Table | None, match_m: float
) -> list[str]:
    k = lat.shape[0]
    names: list[str | None] = entities.to_pylist()
    ids: list[str | None] = [None] * k
    taken: set[str] = set()
    if previous is not None and previous.num_rows and k:
        for c in ("place_id", "lat", "lon"):
            if c not in previous.column_names:
                raise SchemaError(
                    f"previous place table lacks column {c!r}", hint="pass an earlier cluster_places result"
                )
        pid: list[str] = previous.column("place_id").cast(pa.string()).to_pylist()
        taken.update(pid)
        pent: list[Any] = (
            previous.column("entity").cast(pa.string()).to_pylist()
            if "entity" in previous.column_names
            else [None] * previous.num_rows
        )
        plat, plon = _floats(previous, "lat"), _floats(previous, "lon")
        # candidate pairs (new, old) of the same entity within match_m, closest first
        keys = sorted({n for n in names} | {p for p in pent}, key=lambda v: (v is None, v or ""))
        code = {v: i for i, v in enumerate(keys)}
        ncode = np.array([code[v] for v in names], np.int64)
        ocode = np.array([code[v] for v in pent], np.int64)
        pairs: list[tuple[float, int, int]] = []
        for c in np.unique(ncode):
            ni = np.flatnonzero(ncode == c)
            oi = np.flatnonzero(ocode == c)
            if oi.shape[0] == 0:
                continue
            d = haversine_m(lat[ni][:, None], lon[ni][:, None], plat[oi][None, :], plon[oi][None, :])
            a, b = np.nonzero(d <= match_m)
            pairs.extend(zip(d[a, b].tolist(), ni[a].tolist(), oi[b].tolist(), strict=True))
        used_old: set[int] = set()
        for _, i, j in sorted(pairs):
            if ids[i] is None and j not in used_old:
                ids[i] = pid[j]
                used_old.add(j)
    cells = geohash(lat, lon, _ID_PRECISION)
    for i in range(k):
        if ids[i] is not None:
            continue
        base = f"{cells[i]}.{_entity_tag(names[i])}"
        cand, n = base, 1
        while cand in taken:
            n += 1
            cand = f"{base}-{n}"
        ids[i] = cand
        taken.add(cand)
    return [str(v) for v in ids]


def _towns(lat: F64, lon: F64, towns: bool | None) -> tuple[pa.Array, pa.Array, pa.Array]:
    from .gazetteer import gazetteer_available, lookup_towns

    k = lat.shape[0]
    if towns is False or (towns is None and not gazetteer_available()) or k == 0:
        return pa.nulls(k, pa.string()), pa.nulls(k, pa.string()), pa.nulls(k, pa.float64())
    t = lookup_towns(lat, lon)
    return (
        t.column("town").combine_chunks(),
        t.column("country").combine_chunks(),
        t.column("town_distance_m").combine_chunks(),
    )


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not (isinstance(value, Real) and math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a finite number greater than 0, got {value!r}")


def _label(name: str, **params: object) -> str:
    def fmt(v: object) -> str:
        return f"{v:g}" if isinstance(v, float) else str(v)

    return f"{name}({', '.join(f'{k}={fmt(v)}' for k, v in params.items())})"
