"""Trips and habitual routes: the movement between stays.

:func:`build_trips` turns consecutive stays of an entity, and the fixes between them, into trips;
:func:`habitual_routes` groups trips between the same two places by the shape of their paths.

How a trip is built
-------------------
For two consecutive stays A and B of an entity, the trip runs from A's end to B's start. Its raw path
is A's centre, every fix of the entity timed from A's end to B's start (inclusive), and B's centre.
Then, all trips at once and without loops over fixes in Python:

1. **Spikes** — a single fix that jumps away and back (multipath, a bad cell fix) is dropped when the
   detour it adds, ``d(i−1, i) + d(i, i+1) − d(i−1, i+1)``, exceeds both ``spike_m`` and twice the
   direct step ``d(i−1, i+1)``.
2. **Gaps** — an interval of more than ``max_gap_s`` between consecutive points means the position
   was unknown: the path is *split* there instead of being drawn across (``path`` is a list of
   observed pieces), the time is added to ``gap_s`` and the straight line across, a lower bound of
   the distance really travelled, to ``gap_distance_m`` (it is included in ``distance_m``). A trip
   with no fix between stays more than ``max_gap_s`` apart is one gap.
3. **Smoothing and simplification** — jitter is averaged out first (:func:`smooth_path`: each fix
   becomes the mean of its neighbours within about ``smooth_m`` of travel, never across a stop's
   edge), then each piece is simplified by Douglas-Peucker with tolerance ``simplify_m`` (metres,
   on the sphere). ``distance_m`` is measured along the simplified pieces: summing the raw steps
   would count GPS jitter as movement (8 m of noise on a 1 Hz walk triples its length), while the
   simplified path drops wiggles smaller than the tolerance and cuts corners by less than it. With
   sparse fixes (one a minute) the path is the chords between them, a lower bound of the distance
   travelled on the roads.
4. **Speed profile** — for each point, the straight-line speed to the first point at least
   ``speed_window_s`` later in the same piece (a window long enough that jitter of a few metres
   barely moves it); or, when most of the trip's fixes carry the device's own speed
   (``speed_mps``, from Doppler: a sparse track's chords only see average speeds), those speeds.
   ``stop_fraction`` is the share of the samples slower than ``stop_speed_mps``;
   ``speed_median_mps`` and ``speed_p95_mps`` are taken over the moving ones.

Mode guess (:func:`guess_mode`)
-------------------------------
Rules on the speed profile, first match wins (speeds while moving; ``v50`` median, ``v95``
95th percentile; ``overall`` = distance / duration; ``gap speed`` = straight line over gap time):

=========  ==========================================================================================
flight     distance ≥ 100 km and (v95 ≥ 110 m/s, or overall ≥ 75 m/s, or gap speed ≥ 60 m/s over
           gaps that hold most of the distance): faster than any train runs, or than it averages
train      v95 ≥ 42 m/s (150 km/h): faster than road traffic keeps up, slower than a plane
vehicle    v95 ≥ 10 m/s (36 km/h) or v50 ≥ 7 m/s (25 km/h)
bike       v50 ≥ 2.3 m/s (8.3 km/h)
walk       otherwise
unknown    no speed window at all and no gap to judge by
=========  ==========================================================================================

``mode_confidence`` grows with the margin between the deciding speed and the nearest threshold
(``0.5 + 0.45 · (1 − exp(−m / 0.2))`` with ``m`` the log-ratio to it), times a support factor
``1 − exp(−samples / 5)`` (at least 0.3; at least 0.8 for a flight) and the observed share of the
trip (at least 0.2; 1 for a flight, which is judged by its gap); a train guess is capped at 0.7
(without a rail network a fast motorway drive looks the same). A trip's own ``confidence`` is
the geometric mean of its two stays' confidences (0.5 when missing), times ``1 − 0.6 · gap_s /
duration_s``. Both raw scores go through the shipped calibration maps (``trips`` and ``modes``,
:func:`hereabouts.evaluate.calibration.apply`, with the map of the entity's sensor class as its stays
show it; for the mode, of the class, how the trip was sampled, the guess and the trip's length,
:func:`mode_calibration_keys`),
so the emitted numbers are measured probabilities;
:func:`guess_mode` itself returns the raw score.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike, NDArray

from ..kernels import jit
from ..kernels.stays import group_by_code, sort_segments
from ..kernels.trips import count_pieces, run_order
from ..model import validate
from ..model.errors import InputError, SchemaError
from ..model.schemas import PATH_POINT, UTC_US
from ._geo import (
    EARTH_RADIUS_M,
    douglas_peucker_keep,
    enu_m,
    frechet_m,
    from_xyz,
    grouped_quantile,
    resample_path,
    segment_bounds,
    to_xyz_m,
)

__all__ = [
    "MODES",
    "ROUTE",
    "build_trips",
    "gather_paths",
    "gather_paths_reference",
    "guess_mode",
    "habitual_routes",
    "mode_calibration_keys",
    "smooth_path",
    "smooth_path_reference",
    "trip_ranges_reference",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]

#: Most points averaged on each side of a point by the jitter smoothing (21 in all: noise / 4.6).
SMOOTH_MAX_HALF = 10

#: The representative path of a route is the medoid of at most this many of its first trips.
MEDOID_SAMPLE = 40

#: Values of the ``mode`` column of trips.
MODES = ("walk", "bike", "vehicle", "train", "flight", "unknown")

# thresholds of the mode rules, m/s and m
FLIGHT_MIN_DISTANCE_M = 100_000.0
FLIGHT_V95_MPS = 110.0
FLIGHT_OVERALL_MPS = 75.0
FLIGHT_GAP_MPS = 60.0
TRAIN_V95_MPS = 42.0
VEHICLE_V95_MPS = 10.0
VEHICLE_V50_MPS = 7.0
BIKE_V50_MPS = 2.3

ROUTE = pa.schema(
    [
        pa.field("route_id", pa.string(), nullable=False),
        pa.field("entity", pa.string(), nullable=False),
        pa.field("from_place", pa.string(), nullable=False),
        pa.field("to_place", pa.string(), nullable=False),
        pa.field("n_trips", pa.int64(), nullable=False),
        pa.field("trips", pa.list_(pa.int64())),  # rows of the trip table
        pa.field("representative_trip", pa.int64()),
        pa.field("duration_median_s", pa.float64()),
        pa.field("duration_p25_s", pa.float64()),
        pa.field("duration_p75_s", pa.float64()),
        pa.field("distance_median_m", pa.float64()),
        pa.field("first_start", UTC_US),
        pa.field("last_start", UTC_US),
        pa.field("path", pa.list_(PATH_POINT)),  # the representative trip's path
        pa.field("mode", pa.string()),  # most frequent mode guess of its trips
        pa.field("confidence", pa.float64()),
        pa.field("method", pa.string()),
    ],
    metadata={"tier": "route"},
)


def build_trips(
    fixes: pa.Table,
    stays: pa.Table,
    *,
    places: pa.Table | None = None,
    max_gap_s: float = 1200.0,
    simplify_m: float = 10.0,
    smooth_m: float = 25.0,
    spike_m: float = 200.0,
    speed_window_s: float = 20.0,
    stop_speed_mps: float = 0.5,
    min_distance_m: float = 50.0,
    use_reported_speed: bool = True,
) -> pa.Table:
    """Build the trips between consecutive stays of each entity (see the module documentation).

    Parameters
    ----------
    fixes
        A fix table (``t``, ``lat``, ``lon`` and ``entity``, or ``device`` when there is no
        ``entity``): the fixes the stays were found in. Not modified.
    stays
        A ``stay`` tier table. Not modified. Overlapping stays of one entity make no trip.
    places
        Optional ``place`` table: ``from_place``/``to_place`` are filled by :func:`assign_places`
        (or taken from a ``place_id`` column of ``stays`` when it has one).
    max_gap_s
        Longer intervals between points are recording gaps (the path is split there).
    simplify_m
        Douglas-Peucker tolerance of the path, and so the jitter ``distance_m`` ignores.
    smooth_m
        Each fix is replaced by the mean of the fixes within about this much travel before and
        after it (0: no smoothing).
    spike_m
        Smallest detour of a single fix to be dropped as a spike.
    speed_window_s
        Length of the windows speeds are measured over.
    stop_speed_mps
        Windows slower than this count as stopped.
    min_distance_m
        Trips shorter than this (a stay split in two with no movement between) are dropped.
    use_reported_speed
        Where at least half of a trip's fixes carry the device's own speed (``speed_mps``, not all
        zero), its speed profile is made of those speeds rather than of the windows.

    Returns
    -------
    pyarrow.Table
        A ``trip`` tier table sorted by entity and start. ``from_stay``/``to_stay`` are rows of
        ``stays``; ``evidence_first``/``evidence_last`` are rows of the fixes sorted (stably) by
        entity and time, like the stays' evidence; null when no fix lies between the stays.
    """
    for name, value in (
        ("max_gap_s", max_gap_s),
        ("simplify_m", simplify_m),
        ("spike_m", spike_m),
        ("speed_window_s", speed_window_s),
    ):
        _check_positive(name, value)
    _check_non_negative("stop_speed_mps", stop_speed_mps)
    _check_non_negative("smooth_m", smooth_m)
    _check_non_negative("min_distance_m", min_distance_m)

    f = _FixColumns(fixes)
    st = _stay_inputs(stays, f.entities)

    # consecutive stays of each entity, in time order
    so = np.lexsort((st.start_us, st.code)).astype(np.int64)
    a, b = so[:-1], so[1:]
    pair = (
        (st.code[a] == st.code[b]) & (st.start_us[b] > st.end_us[a]) if so.shape[0] > 1 else np.zeros(0, bool)
    )
    a, b = a[pair], b[pair]
    ta, tb = st.end_us[a], st.start_us[b]
    code = st.code[a]
    n_trips = a.shape[0]

    lo, hi = _trip_ranges(f.t_us, f.ebounds, code, ta, tb)
    n_fix = hi - lo

    # only the fixes between stays are read: their sorted rows, one trip after another
    cum = np.cumsum(n_fix)
    rows = np.arange(int(cum[-1]) if n_trips else 0) + np.repeat(lo - (cum - n_fix), n_fix)
    src = f.source(rows)

    # the raw path: stay A's centre, the fixes, stay B's centre
    trip_start = np.concatenate(([0], np.cumsum(n_fix + 2))).astype(np.int64)
    total = int(trip_start[-1])
    lat, lon, t, trip_of, fixed = gather_paths(
        f.lat[src],
        f.lon[src],
        f.t_us[rows],
        cum - n_fix,
        cum,
        st.lat[a],
        st.lon[a],
        ta,
        st.lat[b],
        st.lon[b],
        tb,
        trip_start,
    )

    reported = np.full(total, np.nan)  # the device's own speed at each fix, where it gave one
    if use_reported_speed and f.has_speed and rows.shape[0]:
        reported[~fixed] = f.speed_at(src)

    xyz = to_xyz_m(lat, lon)
    t_s = (t - (int(t.min()) if total else 0)) / 1e6

    # 1. spikes
    keep = _spike_free(xyz, fixed, float(spike_m))
    xyz, t_s, trip_of, fixed, reported = xyz[keep], t_s[keep], trip_of[keep], fixed[keep], reported[keep]
    lat, lon = lat[keep], lon[keep]
    first_of_trip = np.ones(t_s.shape[0], np.bool_)
    first_of_trip[1:] = trip_of[1:] != trip_of[:-1]

    # 2. gaps split the path into pieces
    dt_s = np.zeros(t_s.shape[0])
    dt_s[1:] = np.diff(t_s)
    gap = (~first_of_trip) & (dt_s > max_gap_s)
    gi = np.flatnonzero(gap)
    gap_s = np.bincount(trip_of[gi], weights=dt_s[gi], minlength=n_trips)
    gap_dist = np.bincount(trip_of[gi], weights=_arc_m(_chord_m(xyz, gi - 1, gi)), minlength=n_trips)
    piece_of = np.cumsum(first_of_trip | gap) - 1
    pbounds = segment_bounds(piece_of)

    # 3. smooth jitter, simplify each piece, measure along it
    sxyz = smooth_path(xyz, t_s, pbounds, ~fixed, float(smooth_m), float(speed_window_s))
    kept = np.flatnonzero(douglas_peucker_keep(sxyz, pbounds, float(simplify_m)))
    kpiece = piece_of[kept]
    kstep = np.zeros(kept.shape[0])
    if kept.shape[0] > 1:
        same = kpiece[1:] == kpiece[:-1]
        kstep[1:] = np.where(same, _arc_m(_chord_m(sxyz, kept[:-1], kept[1:])), 0.0)
    piece_trip = trip_of[pbounds[:-1]]
    path_dist = np.bincount(trip_of[kept], weights=kstep, minlength=n_trips)
    distance = path_dist + gap_dist
    klat, klon = from_xyz(sxyz[kept])
    kfixed = fixed[kept]
    klat = np.where(kfixed, lat[kept], klat)  # stay centres exactly as given
    klon = np.where(kfixed, lon[kept], klon)

    # 4. speed windows within each piece
    key = _piece_key(t_s, piece_of, pbounds, float(speed_window_s))
    v, v_trip = _window_speeds(sxyz, t_s, key, piece_of, pbounds, trip_of, float(speed_window_s))
    # trips where most fixes carry the device's own speed (Doppler: exact, and instantaneous where a
    # sparse track's chords see only averages) take those speeds instead of the windows
    has_rep = np.isfinite(reported) & (reported >= 0)
    if has_rep.any():
        n_rep = np.bincount(trip_of[has_rep], minlength=n_trips)
        rep_max = np.zeros(n_trips)
        np.maximum.at(rep_max, trip_of[has_rep], reported[has_rep])
        # all zeros is a producer that fills the field without measuring it
        use_rep = (n_rep >= np.maximum(0.5 * n_fix, 1.0)) & (rep_max > 0)
        wsel = ~use_rep[v_trip]
        rsel = has_rep & use_rep[trip_of]
        v = np.concatenate((v[wsel], reported[rsel]))
        v_trip = np.concatenate((v_trip[wsel], trip_of[rsel]))
        order = np.argsort(v_trip, kind="stable")
        v, v_trip = v[order], v_trip[order]
    n_win = np.bincount(v_trip, minlength=n_trips)
    stopped = v < stop_speed_mps
    stop_frac = np.where(
        n_win > 0, np.bincount(v_trip[stopped], minlength=n_trips) / np.maximum(n_win, 1), np.nan
    )
    mv, mt = v[~stopped], v_trip[~stopped]
    # windows come in trip order: sort the speeds within each trip with one float sort
    span = float(mv.max()) * 2.0 + 1.0 if mv.shape[0] else 1.0
    mv = np.sort(mt * span + mv) - mt * span
    mbounds = np.searchsorted(mt, np.arange(n_trips + 1)).astype(np.int64)
    v50 = grouped_quantile(mv, mbounds, 0.5)
    v95 = grouped_quantile(mv, mbounds, 0.95)
    all_stopped = (n_win > 0) & (mbounds[1:] == mbounds[:-1])
    v50 = np.where(all_stopped, 0.0, v50)
    v95 = np.where(all_stopped, 0.0, v95)

    duration = (tb - ta) / 1e6
    mode, mode_conf = guess_mode(v50, v95, distance, duration, gap_s, gap_dist, n_win)
    ca = np.nan_to_num(st.confidence[a], nan=0.5)
    cb = np.nan_to_num(st.confidence[b], nan=0.5)
    gap_frac = np.where(duration > 0, np.clip(gap_s / np.where(duration > 0, duration, 1.0), 0.0, 1.0), 1.0)
    conf = np.sqrt(np.clip(ca, 0, 1) * np.clip(cb, 0, 1)) * (1.0 - 0.6 * gap_frac)
    from ..evaluate.calibration import apply as calibrated  # raw scores → measured probabilities
    from ..evaluate.calibration import stay_sensor_classes

    classes = stay_sensor_classes(stays)[a]  # the sensor class of the trip's entity
    conf = calibrated("trips", conf, classes)
    mode_conf = calibrated(
        "modes", mode_conf, mode_calibration_keys(classes, mode, distance, n_fix, duration)
    )

    # the path column: trips ▸ pieces ▸ points
    pts = pa.StructArray.from_arrays([pa.array(klat), pa.array(klon)], fields=list(PATH_POINT))
    kbounds = np.searchsorted(kpiece, np.arange(pbounds.shape[0])).astype(np.int64)
    pieces = pa.LargeListArray.from_arrays(pa.array(kbounds, pa.int64()), pts)
    tbounds = np.searchsorted(piece_trip, np.arange(n_trips + 1)).astype(np.int64)
    path = pa.LargeListArray.from_arrays(pa.array(tbounds, pa.int64()), pieces).cast(
        pa.list_(pa.list_(PATH_POINT))
    )

    from_place, to_place = _places(stays, places, a, b)
    sel = np.flatnonzero(distance >= min_distance_m)
    has_fix = n_fix > 0
    label = _label(
        "trips",
        max_gap_s=max_gap_s,
        simplify_m=simplify_m,
        smooth_m=smooth_m,
        spike_m=spike_m,
        speed_window_s=speed_window_s,
        stop_speed_mps=stop_speed_mps,
        min_distance_m=min_distance_m,
        use_reported_speed=use_reported_speed,
    )
    idx = pa.array(sel)
    table = pa.table(
        {
            "entity": st.names.take(pa.array(code[sel])),
            "start": pa.array(ta[sel], pa.int64()).view(UTC_US),
            "end": pa.array(tb[sel], pa.int64()).view(UTC_US),
            "from_stay": pa.array(a[sel]),
            "to_stay": pa.array(b[sel]),
            "from_place": from_place.take(idx),
            "to_place": to_place.take(idx),
            "from_lat": pa.array(st.lat[a][sel]),
            "from_lon": pa.array(st.lon[a][sel]),
            "to_lat": pa.array(st.lat[b][sel]),
            "to_lon": pa.array(st.lon[b][sel]),
            "distance_m": pa.array(distance[sel]),
            "gap_distance_m": pa.array(gap_dist[sel]),
            "duration_s": pa.array(duration[sel]),
            "gap_s": pa.array(gap_s[sel]),
            "n_fixes": pa.array(n_fix[sel]),
            "evidence_first": pa.array(f.row(lo[sel]), mask=~has_fix[sel]),
            "evidence_last": pa.array(f.row(hi[sel] - 1), mask=~has_fix[sel]),
            "path": path.take(idx),
            "speed_median_mps": pa.array(v50[sel], mask=np.isnan(v50[sel])),
            "speed_p95_mps": pa.array(v95[sel], mask=np.isnan(v95[sel])),
            "stop_fraction": pa.array(stop_frac[sel], mask=np.isnan(stop_frac[sel])),
            "mode": pa.array(np.asarray(MODES, dtype=object)[mode[sel]], pa.string()),
            "mode_confidence": pa.array(mode_conf[sel]),
            "confidence": pa.array(conf[sel]),
            "method": pa.array([label] * sel.shape[0], pa.string()),
        }
    )
    return validate(table, "trip")


#: Trips at least this long are ``long`` in the keys of the mode calibration maps.
MODE_KEY_LONG_M = 1500.0
#: Trips with at most this many seconds per fix are ``dense`` in the keys of the mode calibration maps.
MODE_KEY_DENSE_S = 180.0


def mode_calibration_keys(
    classes: ArrayLike,
    mode: ArrayLike,
    distance_m: ArrayLike,
    n_fixes: ArrayLike,
    duration_s: ArrayLike,
) -> NDArray[np.object_]:
    """The keys of the ``modes`` calibration map for trips:
    ``"<sensor class>/<trip sampling>/<guess>/<length>"``.

    How often a guess is right depends on more than its raw score: from sparse or coarse fixes a car
    trip's chords average out to a bike's or a walker's speed, so a ``walk`` guess over 3 km is right
    far less often than one over 500 m; and how a trip was sampled (``dense``: at most
    :data:`MODE_KEY_DENSE_S` seconds per fix, else ``sparse``) is not what the entity's stays show (a
    phone that records on movement only samples its stays every 15 minutes and its trips every 100 m).
    ``mode`` holds indices into :data:`MODES` (or their names).

    >>> mode_calibration_keys(["fine-sparse", "fine-dense"], [0, "bike"], [3000.0, 200.0], [2, 30], [1800.0, 600.0]).tolist()
    ['fine-sparse/sparse/walk/long', 'fine-dense/dense/bike/short']
    """
    cls = np.asarray(classes, dtype=object).ravel()
    mv = np.asarray(mode, dtype=object).ravel()
    names = [MODES[int(m)] if not isinstance(m, str) else m for m in mv.tolist()]
    dist = np.asarray(distance_m, np.float64).ravel()
    band = np.where(dist >= MODE_KEY_LONG_M, "long", "short")
    per_fix = np.asarray(duration_s, np.float64).ravel() / np.maximum(
        np.asarray(n_fixes, np.float64).ravel(), 1.0
    )
    sampling = np.where(per_fix <= MODE_KEY_DENSE_S, "dense", "sparse")
    return np.asarray(
        [
            f"{c}/{s}/{g}/{b}"
            for c, s, g, b in zip(cls.tolist(), sampling.tolist(), names, band.tolist(), strict=True)
        ],
        dtype=object,
    )


def guess_mode(
    v50: ArrayLike,
    v95: ArrayLike,
    distance_m: ArrayLike,
    duration_s: ArrayLike,
    gap_s: ArrayLike,
    gap_distance_m: ArrayLike,
    n_windows: ArrayLike,
) -> tuple[I64, F64]:
    """Mode guess (index into :data:`MODES`) and its confidence for each trip, by the rules in the
    module documentation.

    >>> import numpy as np
    >>> m, c = guess_mode(np.array([1.4, 5.0, 13.0]), np.array([1.7, 5.8, 15.0]), np.full(3, 3000.0),
    ...                   np.full(3, 1800.0), np.zeros(3), np.zeros(3), np.full(3, 50))
    >>> [MODES[k] for k in m]
    ['walk', 'bike', 'vehicle']
    """
    v50 = np.asarray(v50, np.float64)
    v95 = np.asarray(v95, np.float64)
    dist = np.asarray(distance_m, np.float64)
    dur = np.asarray(duration_s, np.float64)
    gap = np.asarray(gap_s, np.float64)
    gdist = np.asarray(gap_distance_m, np.float64)
    n = np.asarray(n_windows, np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        overall = np.where(dur > 0, dist / dur, 0.0)
        gap_speed = np.where(gap > 0, gdist / gap, 0.0)
    no_speed = np.isnan(v50)
    # without any window, judge by the overall speed (a trip that is one gap)
    s50 = np.where(no_speed, overall, v50)
    s95 = np.where(no_speed, overall, v95)

    def margin(x: F64, thr: float) -> F64:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.abs(np.log(np.maximum(x, 1e-3) / thr)), np.float64)

    with np.errstate(divide="ignore", invalid="ignore"):
        unseen = np.where(dist > 0, gdist / np.where(dist > 0, dist, 1.0), 0.0)
    fast = np.maximum(
        np.maximum(s95 / FLIGHT_V95_MPS, overall / FLIGHT_OVERALL_MPS),
        np.where(unseen >= 0.5, gap_speed / FLIGHT_GAP_MPS, 0.0),
    )
    flight = (dist >= FLIGHT_MIN_DISTANCE_M) & (fast >= 1.0)
    train = ~flight & (s95 >= TRAIN_V95_MPS)
    vehicle = ~flight & ~train & ((s95 >= VEHICLE_V95_MPS) | (s50 >= VEHICLE_V50_MPS))
    bike = ~flight & ~train & ~vehicle & (s50 >= BIKE_V50_MPS)
    walk = ~flight & ~train & ~vehicle & ~bike
    mode = np.select([flight, train, vehicle, bike, walk], [4, 3, 2, 1, 0], 5).astype(np.int64)
    unknown = no_speed & (gap <= 0) & ~flight
    mode[unknown] = 5

    m = np.zeros(mode.shape[0])
    m = np.where(
        flight,
        np.minimum(margin(dist, FLIGHT_MIN_DISTANCE_M), np.abs(np.log(np.maximum(fast, 1e-9)))),
        m,
    )
    m = np.where(train, margin(s95, TRAIN_V95_MPS), m)
    veh_m = np.minimum(
        np.maximum(
            margin(s95, VEHICLE_V95_MPS) * (s95 >= VEHICLE_V95_MPS),
            margin(s50, VEHICLE_V50_MPS) * (s50 >= VEHICLE_V50_MPS),
        ),
        margin(s95, TRAIN_V95_MPS),
    )
    m = np.where(vehicle, veh_m, m)
    m = np.where(
        bike,
        np.minimum(
            margin(s50, BIKE_V50_MPS), np.minimum(margin(s95, VEHICLE_V95_MPS), margin(s50, VEHICLE_V50_MPS))
        ),
        m,
    )
    m = np.where(walk, margin(s50, BIKE_V50_MPS), m)
    conf = 0.5 + 0.45 * (1.0 - np.exp(-m / 0.2))
    support = np.where(no_speed, 0.3, np.maximum(0.3, 1.0 - np.exp(-n / 5.0)))
    support = np.where(flight, np.maximum(support, 0.8), support)  # a flight is judged by its gap
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.where(dur > 0, 1.0 - np.clip(gap / np.where(dur > 0, dur, 1.0), 0.0, 1.0), 0.0)
    observed = np.where(flight, 1.0, np.maximum(observed, 0.2))
    conf = conf * support * observed
    conf = np.where(train, np.minimum(conf, 0.7), conf)
    conf = np.where(mode == 5, 0.0, conf)
    return mode, np.asarray(np.clip(conf, 0.0, 1.0), np.float64)


# --------------------------------------------------------------------------------------------------
# habitual routes


def habitual_routes(
    trips: pa.Table,
    *,
    max_frechet_m: float = 200.0,
    n_points: int = 48,
    min_trips: int = 2,
    include_gaps: bool = False,
) -> pa.Table:
    """Group trips between the same two places by the shape of their paths.

    Trips of one entity from place P to place Q (in that direction) are taken in time order; each
    joins the first route whose first trip's path lies within ``max_frechet_m`` of its own, by the
    discrete Fréchet distance between the two paths resampled to ``n_points`` points evenly spaced
    along their length, else it starts a new route. Fréchet, unlike a mean distance, sees a detour
    along a different street even when the two paths share most of their length. The representative
    path of a route is that of its medoid trip (least summed Fréchet distance to the others, among
    its first :data:`MEDOID_SAMPLE` trips).

    Trips without ``from_place``/``to_place`` are skipped, and so are trips with a recording gap
    unless ``include_gaps`` (their path is not known across the gap). Routes with fewer than
    ``min_trips`` trips are dropped. ``confidence`` is ``1 − exp(−(n_trips − 1) / 2)`` times the
    route's share of the trips from P to Q, at least 0.1 when kept (a heuristic).

    Returns
    -------
    pyarrow.Table
        Schema :data:`ROUTE`, sorted by entity, from, to and then number of trips (most first).
    """
    _check_positive("max_frechet_m", max_frechet_m)
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 2:
        raise InputError(f"n_points must be a whole number of at least 2, got {n_points!r}")
    if isinstance(min_trips, bool) or not isinstance(min_trips, int) or min_trips < 1:
        raise InputError(f"min_trips must be a whole number of at least 1, got {min_trips!r}")
    missing = [
        c
        for c in ("entity", "start", "duration_s", "distance_m", "from_place", "to_place", "path", "gap_s")
        if c not in trips.column_names
    ]
    if missing:
        raise SchemaError(
            f"trip table lacks column {', '.join(missing)}",
            hint="pass the table build_trips returned, built with a place table",
        )
    ent = trips.column("entity").to_pylist()
    fp = trips.column("from_place").to_pylist()
    tp = trips.column("to_place").to_pylist()
    start = np.asarray(
        trips.column("start").cast(UTC_US).combine_chunks().view(pa.int64()).to_numpy(zero_copy_only=False)
    )
    dur = np.asarray(trips.column("duration_s").cast(pa.float64()).fill_null(np.nan).to_numpy(), np.float64)
    dist = np.asarray(trips.column("distance_m").cast(pa.float64()).fill_null(np.nan).to_numpy(), np.float64)
    gaps = np.asarray(trips.column("gap_s").cast(pa.float64()).fill_null(0.0).to_numpy(), np.float64)
    modes = trips.column("mode").to_pylist() if "mode" in trips.column_names else [None] * trips.num_rows
    plat, plon, poff = _flat_paths(trips.column("path"))

    groups: dict[tuple[str, str, str], list[int]] = {}
    for i in range(trips.num_rows):
        if fp[i] is None or tp[i] is None or ent[i] is None or poff[i + 1] == poff[i]:
            continue
        if gaps[i] > 0 and not include_gaps:
            continue
        groups.setdefault((ent[i], fp[i], tp[i]), []).append(i)

    label = _label(
        "frechet",
        max_frechet_m=max_frechet_m,
        n_points=n_points,
        min_trips=min_trips,
        include_gaps=include_gaps,
    )
    rows: list[dict[str, object]] = []
    for (e, p, q), members in sorted(groups.items()):
        members.sort(key=lambda i: (start[i], i))
        shapes: list[tuple[F64, F64]] = []
        lat0, lon0 = float(plat[poff[members[0]]]), float(plon[poff[members[0]]])
        for i in members:
            x, y = enu_m(plat[poff[i] : poff[i + 1]], plon[poff[i] : poff[i + 1]], lat0, lon0)
            shapes.append(resample_path(x, y, n_points))
        routes: list[list[int]] = []  # positions within members
        for k in range(len(members)):
            for r in routes:
                lead = shapes[r[0]]
                if frechet_m(lead[0], lead[1], shapes[k][0], shapes[k][1]) <= max_frechet_m:
                    r.append(k)
                    break
            else:
                routes.append([k])
        n_od = len(members)
        routes.sort(key=lambda r: (-len(r), r[0]))
        for rank, r in enumerate(routes):
            if len(r) < min_trips:
                continue
            cand = r[:MEDOID_SAMPLE]  # the medoid of the first trips: enough to pick a typical path
            sums = [
                sum(frechet_m(shapes[u][0], shapes[u][1], shapes[w][0], shapes[w][1]) for w in cand if w != u)
                for u in cand
            ]
            medoid = members[cand[int(np.argmin(sums))]]
            ti = [members[k] for k in r]
            d = dur[ti]
            ms: list[str] = [str(modes[i]) for i in ti if modes[i] is not None]
            mode = max(sorted(set(ms)), key=ms.count) if ms else None
            conf = max(0.1, (1.0 - math.exp(-(len(r) - 1) / 2.0)) * len(r) / n_od)
            rows.append(
                {
                    "route_id": f"{p}>{q}#{rank + 1}",
                    "entity": e,
                    "from_place": p,
                    "to_place": q,
                    "n_trips": len(r),
                    "trips": ti,
                    "representative_trip": medoid,
                    "duration_median_s": float(np.nanmedian(d)),
                    "duration_p25_s": float(np.nanquantile(d, 0.25)),
                    "duration_p75_s": float(np.nanquantile(d, 0.75)),
                    "distance_median_m": float(np.nanmedian(dist[ti])),
                    "first_start": int(start[ti].min()),
                    "last_start": int(start[ti].max()),
                    "path": [
                        {"lat": a, "lon": o}
                        for a, o in zip(
                            plat[poff[medoid] : poff[medoid + 1]].tolist(),
                            plon[poff[medoid] : poff[medoid + 1]].tolist(),
                            strict=True,
                        )
                    ],
                    "mode": mode,
                    "confidence": conf,
                    "method": label,
                }
            )
    if not rows:
        return ROUTE.empty_table()
    cols = {name: [row[name] for row in rows] for name in ROUTE.names}
    arrays = []
    for fld in ROUTE:
        if fld.type == UTC_US:
            arrays.append(pa.array(cols[fld.name], pa.int64()).view(UTC_US))
        else:
            arrays.append(pa.array(cols[fld.name], fld.type))
    return pa.Table.from_arrays(arrays, schema=ROUTE)


def _flat_paths(col: pa.ChunkedArray) -> tuple[F64, F64, I64]:
    """All points of a ``path`` column (pieces joined) as lat and lon arrays, and each row's start
    offset into them (``n_rows + 1`` offsets)."""
    arr = _one(col)
    n = len(arr)
    n_pieces = np.asarray(pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False), np.int64)
    pieces = arr.flatten()
    n_points = np.asarray(pc.list_value_length(pieces).fill_null(0).to_numpy(zero_copy_only=False), np.int64)
    fields = pieces.flatten().flatten()  # the struct's children, its offset applied
    lat = np.asarray(fields[0].fill_null(np.nan).to_numpy(zero_copy_only=False), np.float64)
    lon = np.asarray(fields[1].fill_null(np.nan).to_numpy(zero_copy_only=False), np.float64)
    piece_off = np.concatenate(([0], np.cumsum(n_pieces))).astype(np.int64)
    point_off = np.concatenate(([0], np.cumsum(n_points))).astype(np.int64)
    return lat, lon, point_off[piece_off] if n else np.zeros(1, np.int64)


# --------------------------------------------------------------------------------------------------
# kernels


@jit
def _ranges_kernel(t: I64, ebounds: I64, code: I64, ta: I64, tb: I64) -> tuple[I64, I64]:  # pragma: no cover
    n = code.shape[0]
    lo = np.zeros(n, np.int64)
    hi = np.zeros(n, np.int64)
    for k in range(n):
        c = code[k]
        if c < 0 or c + 1 >= ebounds.shape[0]:
            continue
        a, b = ebounds[c], ebounds[c + 1]
        # first row with t >= ta
        x, y = a, b
        while x < y:
            m = (x + y) // 2
            if t[m] < ta[k]:
                x = m + 1
            else:
                y = m
        lo[k] = x
        # first row with t > tb
        y = b
        while x < y:
            m = (x + y) // 2
            if t[m] <= tb[k]:
                x = m + 1
            else:
                y = m
        hi[k] = x
    return lo, hi


def _trip_ranges(t: I64, ebounds: I64, code: I64, ta: I64, tb: I64) -> tuple[I64, I64]:
    """Row range ``[lo, hi)`` of the fixes of entity ``code`` timed in ``[ta, tb]`` for each trip
    (fixes sorted by entity code then time; ``ebounds`` the start row of each code)."""
    lo, hi = _ranges_kernel(
        np.ascontiguousarray(t, np.int64),
        np.ascontiguousarray(ebounds, np.int64),
        np.ascontiguousarray(code, np.int64),
        np.ascontiguousarray(ta, np.int64),
        np.ascontiguousarray(tb, np.int64),
    )
    return np.asarray(lo), np.asarray(hi)


def trip_ranges_reference(
    t: list[int], codes: list[int], code: list[int], ta: list[int], tb: list[int]
) -> tuple[list[int], list[int]]:
    """Plain-Python definition of the fix range of each trip: the rows (of fixes sorted by entity
    code then time) of entity ``code[k]`` with ``ta[k] <= t <= tb[k]``, as ``[lo, hi)``; an empty
    range sits where such rows would be."""
    los: list[int] = []
    his: list[int] = []
    for c, a, b in zip(code, ta, tb, strict=True):
        rows = [i for i in range(len(t)) if codes[i] == c and a <= t[i] <= b]
        if rows:
            los.append(rows[0])
            his.append(rows[-1] + 1)
        else:
            before = [i for i in range(len(t)) if codes[i] < c or (codes[i] == c and t[i] < a)]
            pos = before[-1] + 1 if before else 0
            los.append(pos)
            his.append(pos)
    return los, his


@jit
def _gather_kernel(
    flat: F64,
    flon: F64,
    ft: I64,
    lo: I64,
    hi: I64,
    alat: F64,
    alon: F64,
    ta: I64,
    blat: F64,
    blon: F64,
    tb: I64,
    trip_start: I64,
) -> tuple[F64, F64, I64, I64, B]:  # pragma: no cover - compiled
    total = trip_start[-1]
    lat = np.empty(total, np.float64)
    lon = np.empty(total, np.float64)
    t = np.empty(total, np.int64)
    trip_of = np.empty(total, np.int64)
    fixed = np.zeros(total, np.bool_)
    for k in range(lo.shape[0]):
        p = trip_start[k]
        lat[p], lon[p], t[p], trip_of[p], fixed[p] = alat[k], alon[k], ta[k], k, True
        p += 1
        for r in range(lo[k], hi[k]):
            lat[p], lon[p], t[p], trip_of[p] = flat[r], flon[r], ft[r], k
            p += 1
        lat[p], lon[p], t[p], trip_of[p], fixed[p] = blat[k], blon[k], tb[k], k, True
    return lat, lon, t, trip_of, fixed


def gather_paths(
    flat: F64,
    flon: F64,
    ft: I64,
    lo: I64,
    hi: I64,
    alat: F64,
    alon: F64,
    ta: I64,
    blat: F64,
    blon: F64,
    tb: I64,
    trip_start: I64,
) -> tuple[F64, F64, I64, I64, B]:
    """The raw path of each trip ``k`` at ``trip_start[k]``: point A (``alat``, ``alon``, ``ta``),
    the fixes ``lo[k]:hi[k]``, point B; with each point's trip and whether it is a fixed end."""
    c = np.ascontiguousarray
    out = _gather_kernel(
        c(flat, np.float64),
        c(flon, np.float64),
        c(ft, np.int64),
        c(lo, np.int64),
        c(hi, np.int64),
        c(alat, np.float64),
        c(alon, np.float64),
        c(ta, np.int64),
        c(blat, np.float64),
        c(blon, np.float64),
        c(tb, np.int64),
        c(trip_start, np.int64),
    )
    return (
        np.asarray(out[0]),
        np.asarray(out[1]),
        np.asarray(out[2]),
        np.asarray(out[3]),
        np.asarray(out[4]),
    )


def gather_paths_reference(
    fixes: list[tuple[float, float, int]],
    ranges: list[tuple[int, int]],
    ends: list[tuple[tuple[float, float, int], tuple[float, float, int]]],
) -> list[tuple[float, float, int, int, bool]]:
    """Plain-Python definition of :func:`gather_paths`: rows ``(lat, lon, t, trip, fixed)``."""
    out: list[tuple[float, float, int, int, bool]] = []
    for k, ((lo, hi), (a, b)) in enumerate(zip(ranges, ends, strict=True)):
        out.append((a[0], a[1], a[2], k, True))
        out.extend((fixes[r][0], fixes[r][1], fixes[r][2], k, False) for r in range(lo, hi))
        out.append((b[0], b[1], b[2], k, True))
    return out


def _chord_m(xyz: F64, i: I64, j: I64) -> F64:
    d0 = xyz[j, 0] - xyz[i, 0]
    d1 = xyz[j, 1] - xyz[i, 1]
    d2 = xyz[j, 2] - xyz[i, 2]
    return np.asarray(np.sqrt(d0 * d0 + d1 * d1 + d2 * d2), np.float64)


def _arc_m(chord: F64) -> F64:
    """Great-circle distance of a chord (they differ by 4 cm at 100 km, 4 km at 2000 km)."""
    return np.asarray(
        2.0 * EARTH_RADIUS_M * np.arcsin(np.minimum(chord / (2.0 * EARTH_RADIUS_M), 1.0)), np.float64
    )


def _spike_free(xyz: F64, fixed: B, spike_m: float) -> B:
    n = xyz.shape[0]
    keep = np.ones(n, np.bool_)
    if n < 3:
        return keep
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    step = np.sqrt(np.diff(x) ** 2 + np.diff(y) ** 2 + np.diff(z) ** 2)
    d_skip = np.sqrt((x[2:] - x[:-2]) ** 2 + (y[2:] - y[:-2]) ** 2 + (z[2:] - z[:-2]) ** 2)
    detour = step[:-1] + step[1:] - d_skip
    spike = (detour > spike_m) & (detour > 2.0 * d_skip)
    keep[1:-1] = ~(spike & ~fixed[1:-1])  # stay centres are never spikes, and they bound each trip
    return keep


def _piece_key(t_s: F64, piece_of: I64, pbounds: I64, window_s: float) -> F64:
    """A sort key increasing along the points: pieces in order, seconds within a piece, with more
    than ``window_s`` between pieces (so a search never crosses into the next piece by time)."""
    rel = t_s - t_s[pbounds[:-1]][piece_of]
    span = float(rel.max()) + window_s + 1.0 if rel.shape[0] else 1.0
    return np.asarray(piece_of * span + rel, np.float64)


@jit
def _smooth_kernel(
    xyz: F64, t_s: F64, pbounds: I64, movable: B, smooth_m: float, window_s: float, max_half: int
) -> F64:  # pragma: no cover - compiled
    out = xyz.copy()
    reach2 = (2.0 * smooth_m) ** 2
    for p in range(pbounds.shape[0] - 1):
        a0, b0 = pbounds[p], pbounds[p + 1]
        la = a0
        lb = a0
        for i in range(a0, b0):
            while t_s[la] < t_s[i] - window_s / 2.0:
                la += 1
            if lb < i:
                lb = i
            while lb + 1 < b0 and t_s[lb + 1] <= t_s[i] + window_s / 2.0:
                lb += 1
            if not movable[i]:
                continue
            dt = t_s[lb] - t_s[la]
            v = 0.0
            if dt > 0.0:
                dx = xyz[lb, 0] - xyz[la, 0]
                dy = xyz[lb, 1] - xyz[la, 1]
                dz = xyz[lb, 2] - xyz[la, 2]
                v = math.sqrt(dx * dx + dy * dy + dz * dz) / dt
            half_s = min(smooth_m / max(v, 0.05), 60.0)
            h = 0
            while h < max_half and i - h - 1 >= a0 and i + h + 1 < b0:
                u = i - h - 1
                w = i + h + 1
                if t_s[i] - t_s[u] > half_s or t_s[w] - t_s[i] > half_s:
                    break
                dx = xyz[u, 0] - xyz[i, 0]
                dy = xyz[u, 1] - xyz[i, 1]
                dz = xyz[u, 2] - xyz[i, 2]
                if dx * dx + dy * dy + dz * dz > reach2:
                    break
                dx = xyz[w, 0] - xyz[i, 0]
                dy = xyz[w, 1] - xyz[i, 1]
                dz = xyz[w, 2] - xyz[i, 2]
                if dx * dx + dy * dy + dz * dz > reach2:
                    break
                h += 1
            if h > 0:
                for c in range(3):
                    acc = 0.0
                    for k in range(i - h, i + h + 1):
                        acc += xyz[k, c]
                    out[i, c] = acc / (2 * h + 1)
    return out


def smooth_path(xyz: F64, t_s: F64, pbounds: I64, movable: B, smooth_m: float, window_s: float) -> F64:
    """Jitter smoothing of path pieces (Earth-centred metres, times in seconds); see
    :func:`smooth_path_reference` for the definition."""
    if xyz.shape[0] == 0 or smooth_m <= 0:
        return xyz
    return np.asarray(
        _smooth_kernel(
            np.ascontiguousarray(xyz, np.float64),
            np.ascontiguousarray(t_s, np.float64),
            np.ascontiguousarray(pbounds, np.int64),
            np.ascontiguousarray(movable, np.bool_),
            float(smooth_m),
            float(window_s),
            SMOOTH_MAX_HALF,
        )
    )


def smooth_path_reference(
    points: list[tuple[float, float, float]],
    times: list[float],
    movable: list[bool],
    smooth_m: float,
    window_s: float,
) -> list[tuple[float, float, float]]:
    """Plain-Python definition of the smoothing of one path piece.

    Each movable point is replaced by the mean of the ``2h + 1`` points centred on it, ``h`` the
    largest count (at most :data:`SMOOTH_MAX_HALF`) such that every point up to ``h`` before and after lies within ``half_s`` seconds
    and ``2 · smooth_m`` metres of it. ``half_s`` turns ``smooth_m`` into time at the local speed
    (the chord between the first and last points within ``window_s / 2`` seconds either side, over
    their time apart; at least 0.05 m/s) and is at most 60 s.
    """

    def sq(p: tuple[float, float, float], q: tuple[float, float, float]) -> float:
        dx, dy, dz = p[0] - q[0], p[1] - q[1], p[2] - q[2]
        return dx * dx + dy * dy + dz * dz

    def dist(p: tuple[float, float, float], q: tuple[float, float, float]) -> float:
        return math.sqrt(sq(p, q))

    n = len(points)
    out = list(points)
    for i in range(n):
        if not movable[i]:
            continue
        la = min(j for j in range(n) if times[j] >= times[i] - window_s / 2.0)
        lb = max([j for j in range(n) if times[j] <= times[i] + window_s / 2.0] + [i])
        dt = times[lb] - times[la]
        v = dist(points[lb], points[la]) / dt if dt > 0 else 0.0
        half_s = min(smooth_m / max(v, 0.05), 60.0)
        h = 0
        while h < SMOOTH_MAX_HALF and i - h - 1 >= 0 and i + h + 1 < n:
            u, w = i - h - 1, i + h + 1
            if times[i] - times[u] > half_s or times[w] - times[i] > half_s:
                break
            if (
                sq(points[u], points[i]) > (2.0 * smooth_m) ** 2
                or sq(points[w], points[i]) > (2.0 * smooth_m) ** 2
            ):
                break
            h += 1
        if h > 0:
            mean = []
            for c in range(3):
                acc = 0.0
                for k in range(i - h, i + h + 1):
                    acc += points[k][c]
                mean.append(acc / (2 * h + 1))
            out[i] = (mean[0], mean[1], mean[2])
    return out


def _window_speeds(
    xyz: F64, t_s: F64, key: F64, piece_of: I64, pbounds: I64, trip_of: I64, window_s: float
) -> tuple[F64, I64]:
    """Speed from each point to the first point at least ``window_s`` later in its piece."""
    n = xyz.shape[0]
    if n == 0:
        return np.zeros(0), np.zeros(0, np.int64)
    j = np.searchsorted(key, key + window_s, side="left")
    end = pbounds[1:][piece_of]
    ok = j < end
    i = np.flatnonzero(ok)
    j = j[ok]
    v = _chord_m(xyz, i, j) / (t_s[j] - t_s[i])
    return np.asarray(v, np.float64), trip_of[i]


# --------------------------------------------------------------------------------------------------
# inputs


class _FixColumns:
    """Fix columns: times sorted stably by (entity, t), the rest in input order."""

    def __init__(self, fixes: pa.Table) -> None:
        if not isinstance(fixes, pa.Table):
            raise InputError(f"build_trips needs a pyarrow Table of fixes, got {type(fixes).__name__}")
        entity = "entity" if "entity" in fixes.column_names else "device"
        missing = [c for c in (entity, "t", "lat", "lon") if c not in fixes.column_names]
        if missing:
            raise SchemaError(
                f"fix table lacks column {', '.join(missing)}",
                hint="trips need the fixes' t, lat, lon and entity (or device)",
            )
        for c in (entity, "t", "lat", "lon"):
            if fixes.column(c).null_count:
                raise SchemaError(f"column {c!r} of the fix table has nulls; it is required")
        tcol = fixes.column("t")
        if not pa.types.is_timestamp(tcol.type):
            raise SchemaError(f"column 't' of the fix table has type {tcol.type}, expected {UTC_US}")
        t = np.asarray(_one(tcol.cast(UTC_US)).view(pa.int64()).to_numpy(zero_copy_only=False), np.int64)
        lat = np.asarray(
            _one(fixes.column("lat").cast(pa.float64())).to_numpy(zero_copy_only=False), np.float64
        )
        lon = np.asarray(
            _one(fixes.column("lon").cast(pa.float64())).to_numpy(zero_copy_only=False), np.float64
        )
        # entities come in runs (one device's track after another): encode the runs, not the rows
        ent = _one(fixes.column(entity).cast(pa.string()))
        self.order: I64 | None = None
        if len(ent):
            ree = pc.run_end_encode(ent, run_end_type=pa.int64())
            run_ends = np.asarray(ree.run_ends.to_numpy(zero_copy_only=False), np.int64)
            enc = ree.values.dictionary_encode()
            names = enc.dictionary
            rank = np.empty(len(names), np.int64)
            rank[np.asarray(pc.array_sort_indices(names).to_numpy(), np.int64)] = np.arange(len(names))
            run_codes = rank[np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)]
            self.entities: pa.Array = names.take(pa.array(np.argsort(rank, kind="stable")))
            # only the times are put in (entity, t) order; positions and speeds stay in input order
            # and are read for the few rows that lie inside trips (``source``)
            if count_pieces(run_ends, t) * 16 <= t.shape[0]:  # long sorted pieces: merge them
                in_order, order, t_sorted, ebounds = run_order(run_ends, run_codes, t, len(names))
                if not in_order:
                    self.order, t = order, t_sorted
            else:  # rows in no useful order: counting sort by entity, radix sort by time
                codes = np.repeat(run_codes, np.diff(run_ends, prepend=0))
                order, ebounds = group_by_code(codes, len(names))
                t_sorted = np.empty_like(t)
                sort_segments(order, t, ebounds, t_sorted)
                self.order, t = order, t_sorted
        else:
            self.entities = pa.array([], pa.string())
            ebounds = np.zeros(1, np.int64)
        if np.isnan(lat).any() or np.isnan(lon).any():
            raise SchemaError("the fix table holds NaN in lat or lon; every fix needs a position")
        self._speed: pa.Array | None = None  # read only at the rows inside trips (``speed_at``)
        if "speed_mps" in fixes.column_names and fixes.column("speed_mps").null_count < fixes.num_rows:
            col = fixes.column("speed_mps")
            if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
                self._speed = _one(col.cast(pa.float64()))
        self.t_us, self.lat, self.lon = t, lat, lon
        self.ebounds = np.asarray(ebounds, np.int64)

    @property
    def has_speed(self) -> bool:
        """Whether the fixes carry the device's own speed (``speed_mps``, not all null)."""
        return self._speed is not None

    def speed_at(self, rows: I64) -> F64:
        """``speed_mps`` at input rows ``rows`` (NaN where null)."""
        if self._speed is None:
            return np.full(rows.shape[0], np.nan)
        taken = self._speed.take(pa.array(rows, pa.int64())).fill_null(np.nan)
        return np.asarray(taken.to_numpy(zero_copy_only=False), np.float64)

    def source(self, sorted_rows: I64) -> I64:
        """Input rows of rows of the fixes sorted by (entity, t) (``lat``, ``lon`` and ``speed_mps``
        are in input order; ``t_us`` is sorted)."""
        rows = np.asarray(sorted_rows, np.int64)
        return rows if self.order is None else self.order[rows]

    def row(self, sorted_rows: I64) -> I64:
        """Row numbers in the fixes sorted by (entity, t): the sorted positions themselves."""
        return np.asarray(sorted_rows, np.int64)


class _StayInputs:
    def __init__(
        self, code: I64, names: pa.Array, start_us: I64, end_us: I64, lat: F64, lon: F64, confidence: F64
    ) -> None:
        self.code, self.names, self.start_us, self.end_us = code, names, start_us, end_us
        self.lat, self.lon, self.confidence = lat, lon, confidence


def _stay_inputs(stays: pa.Table, entities: pa.Array) -> _StayInputs:
    if not isinstance(stays, pa.Table):
        raise InputError(f"build_trips needs a pyarrow Table of stays, got {type(stays).__name__}")
    missing = [c for c in ("entity", "start", "end", "lat", "lon") if c not in stays.column_names]
    if missing:
        raise SchemaError(
            f"stay table lacks column {', '.join(missing)}",
            hint="pass a stay tier table (hereabouts.model.schemas.STAY), e.g. from detect_stays",
        )
    for c in ("entity", "start", "end", "lat", "lon"):
        if stays.column(c).null_count:
            raise SchemaError(f"column {c!r} of the stay table has nulls; every stay needs it")

    def times(name: str) -> I64:
        col = stays.column(name)
        if not pa.types.is_timestamp(col.type):
            raise SchemaError(f"column {name!r} of the stay table has type {col.type}, expected {UTC_US}")
        return np.asarray(_one(col.cast(UTC_US)).view(pa.int64()).to_numpy(zero_copy_only=False), np.int64)

    def floats(name: str) -> F64:
        return np.asarray(
            _one(stays.column(name).cast(pa.float64()).fill_null(np.nan)).to_numpy(zero_copy_only=False),
            np.float64,
        )

    ent = _one(stays.column("entity").cast(pa.string()))
    # stays of entities without fixes get codes past the fixes' entities (all their trips are gaps)
    idx = pc.index_in(ent, value_set=entities)
    code = np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)
    names = entities.cast(pa.string())
    if (code < 0).any():
        extra = pc.unique(ent.filter(idx.is_null())).sort()
        code[code < 0] = len(entities) + np.asarray(
            pc.index_in(ent.filter(idx.is_null()), value_set=extra).to_numpy(zero_copy_only=False), np.int64
        )
        names = pa.concat_arrays([names, extra])
    conf = floats("confidence") if "confidence" in stays.column_names else np.full(stays.num_rows, np.nan)
    return _StayInputs(code, names, times("start"), times("end"), floats("lat"), floats("lon"), conf)


def _places(stays: pa.Table, places: pa.Table | None, a: I64, b: I64) -> tuple[pa.Array, pa.Array]:
    if "place_id" in stays.column_names:
        pid = _one(stays.column("place_id").cast(pa.string()))
    elif places is not None:
        from .places import assign_places

        pid = assign_places(stays, places)
    else:
        n = a.shape[0]
        return pa.nulls(n, pa.string()), pa.nulls(n, pa.string())
    return pid.take(pa.array(a, pa.int64())), pid.take(pa.array(b, pa.int64()))


def _one(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            return col.chunk(0)
        return col.combine_chunks()
    return col


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not (isinstance(value, Real) and math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a finite number greater than 0, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if isinstance(value, bool) or not (isinstance(value, Real) and math.isfinite(value) and value >= 0):
        raise InputError(f"{name} must be a finite number of at least 0, got {value!r}")


def _label(name: str, **params: object) -> str:
    def fmt(v: object) -> str:
        return f"{v:g}" if isinstance(v, float) else str(v)

    return f"{name}({', '.join(f'{k}={fmt(v)}' for k, v in params.items())})"
