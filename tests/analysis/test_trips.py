"""Trips and habitual routes on synthetic tracks whose true paths, lengths and modes are known."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hereabouts.analysis._geo import from_enu, haversine_m
from hereabouts.analysis.places import cluster_places
from hereabouts.analysis.trips import (
    MODES,
    _FixColumns,
    _trip_ranges,
    build_trips,
    gather_paths,
    gather_paths_reference,
    guess_mode,
    habitual_routes,
    smooth_path,
    smooth_path_reference,
    trip_ranges_reference,
)
from hereabouts.evaluate.calibration import raw_confidences
from hereabouts.model.errors import InputError, SchemaError
from hereabouts.model.schemas import UTC_US

ORIGIN = (52.3700, 4.8900)  # Amsterdam
HOME = (0.0, 0.0)
WORK = (3000.0, 1200.0)
GYM = (3600.0, 2000.0)
#: two different streets from home to work (east, north metres)
ROUTE_NORTH = [HOME, (0.0, 900.0), (1500.0, 1500.0), WORK]
ROUTE_SOUTH = [HOME, (800.0, -600.0), (2600.0, -300.0), WORK]
TO_GYM = [WORK, (3600.0, 1200.0), GYM]
GYM_HOME = [GYM, (1800.0, 2000.0), (0.0, 700.0), HOME]
H = 3600.0


def polyline_length(points: list[tuple[float, float]]) -> float:
    return sum(math.dist(p, q) for p, q in itertools.pairwise(points))


@dataclass
class Track:
    """Builds one entity's fixes and the true stays, in east/north metres around ORIGIN."""

    rng: np.random.Generator
    noise_m: float = 5.0
    entity: str = "ann"
    t: list[float] = field(default_factory=list)
    e: list[float] = field(default_factory=list)
    n: list[float] = field(default_factory=list)
    stays: list[tuple[float, float, float, float]] = field(default_factory=list)  # start, end, e, n
    now: float = 1_750_000_000.0  # seconds

    def stay(self, at: tuple[float, float], duration_s: float, every_s: float = 60.0) -> None:
        ts = self.now + np.arange(0.0, duration_s + 1e-9, every_s)
        self._add(ts, np.full(ts.shape, at[0]), np.full(ts.shape, at[1]))
        self.stays.append((ts[0], ts[-1], at[0], at[1]))
        self.now = ts[-1]

    def move(
        self,
        points: list[tuple[float, float]],
        speed_mps: float,
        every_s: float = 5.0,
        stop_every_m: float | None = None,
        stop_s: float = 0.0,
    ) -> None:
        """Travel along ``points`` at ``speed_mps``, optionally stopping ``stop_s`` every ``stop_every_m``."""
        p = np.asarray(points, np.float64)
        seg = np.hypot(*np.diff(p, axis=0).T)
        cum = np.concatenate(([0.0], np.cumsum(seg)))
        length = cum[-1]
        # time as a function of distance travelled, with stops
        knots_s = [0.0]
        knots_t = [0.0]
        if stop_every_m:
            for s in np.arange(stop_every_m, length, stop_every_m):
                knots_s += [s, s]
                knots_t += [knots_t[-1] + (s - knots_s[-3]) / speed_mps, 0.0]
                knots_t[-1] = knots_t[-2] + stop_s
        knots_t.append(knots_t[-1] + (length - knots_s[-1]) / speed_mps)
        knots_s.append(length)
        total = knots_t[-1]
        ts = np.arange(every_s, total, every_s)
        s = np.interp(ts, knots_t, knots_s)
        self._add(self.now + ts, np.interp(s, cum, p[:, 0]), np.interp(s, cum, p[:, 1]))
        self.now += total

    def skip(self, seconds: float) -> None:
        self.now += seconds

    def _add(self, ts: np.ndarray, e: np.ndarray, n: np.ndarray) -> None:
        self.t.extend(ts.tolist())
        self.e.extend((e + self.rng.normal(0.0, self.noise_m, e.shape)).tolist())
        self.n.extend((n + self.rng.normal(0.0, self.noise_m, n.shape)).tolist())

    def fixes(self) -> pa.Table:
        lat, lon = from_enu(np.array(self.e), np.array(self.n), *ORIGIN)
        return pa.table(
            {
                "device": [self.entity] * len(self.t),
                "t": pa.array((np.array(self.t) * 1e6).astype(np.int64), pa.int64()).view(UTC_US),
                "lat": lat,
                "lon": lon,
            }
        )

    def stay_table(self) -> pa.Table:
        s = np.array(self.stays)
        lat, lon = from_enu(s[:, 2], s[:, 3], *ORIGIN)
        us = (s[:, :2] * 1e6).astype(np.int64)
        return pa.table(
            {
                "entity": [self.entity] * len(s),
                "start": pa.array(us[:, 0], pa.int64()).view(UTC_US),
                "end": pa.array(us[:, 1], pa.int64()).view(UTC_US),
                "lat": lat,
                "lon": lon,
                "confidence": np.full(len(s), 0.9),
            }
        )


def commute(days: int = 4, seed: int = 1) -> Track:
    """home → work (cycling, north route on even days, south on odd) → gym (walk) → home (cycling)."""
    tr = Track(np.random.default_rng(seed))
    tr.stay(HOME, 8 * H)
    for d in range(days):
        tr.move(ROUTE_NORTH if d % 2 == 0 else ROUTE_SOUTH, 5.0)
        tr.stay(WORK, 8 * H)
        tr.move(TO_GYM, 1.4)
        tr.stay(GYM, H)
        tr.move(GYM_HOME, 5.0)
        tr.stay(HOME, 13 * H)
    return tr


@pytest.fixture(scope="module")
def week() -> tuple[Track, pa.Table, pa.Table]:
    tr = commute()
    fixes, stays = tr.fixes(), tr.stay_table()
    return tr, fixes, stays


def test_commute_trips_count_distance_and_evidence(week: tuple[Track, pa.Table, pa.Table]) -> None:
    _, fixes, stays = week
    trips = build_trips(fixes, stays)
    assert trips.num_rows == 12  # 4 days × 3 trips
    truth = [
        polyline_length(r)
        for d in range(4)
        for r in (ROUTE_NORTH if d % 2 == 0 else ROUTE_SOUTH, TO_GYM, GYM_HOME)
    ]
    dist = trips.column("distance_m").to_numpy()
    np.testing.assert_allclose(dist, truth, rtol=0.03)
    assert trips.column("from_stay").to_pylist() == list(range(12))
    assert trips.column("to_stay").to_pylist() == list(range(1, 13))
    assert (trips.column("gap_s").to_numpy() == 0).all()
    # evidence: the fix rows of each trip lie strictly between the stays' fix rows
    t = fixes.column("t").cast(pa.int64()).to_numpy()
    for row in trips.to_pylist():
        first, last = row["evidence_first"], row["evidence_last"]
        assert t[first] >= int(row["start"].timestamp() * 1e6) - 1
        assert t[last] <= int(row["end"].timestamp() * 1e6) + 1
        assert row["n_fixes"] == last - first + 1
    # paths are simplified: far fewer points than fixes, one piece each, ends at the stays
    for row in trips.to_pylist():
        assert len(row["path"]) == 1
        pts = row["path"][0]
        assert 2 <= len(pts) < row["n_fixes"] / 3
        assert (pts[0]["lat"], pts[0]["lon"]) == (row["from_lat"], row["from_lon"])
    assert trips.column("mode").to_pylist() == ["bike", "walk", "bike"] * 4
    assert min(trips.column("mode_confidence").to_pylist()) > 0.6


def test_jitter_is_not_distance() -> None:
    """1 Hz walk with 8 m noise: raw step sum is several times the true length; ours is within 5 %."""
    tr = Track(np.random.default_rng(3), noise_m=8.0)
    tr.stay(HOME, 600)
    path = [HOME, (1000.0, 0.0), (1000.0, 800.0)]
    tr.move(path, 1.4, every_s=1.0)
    tr.stay((1000.0, 800.0), 600)
    fixes = tr.fixes()
    trip = build_trips(fixes, tr.stay_table()).to_pylist()[0]
    lat, lon = fixes.column("lat").to_numpy(), fixes.column("lon").to_numpy()
    raw = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]).sum()
    assert raw > 3 * polyline_length(path)
    assert trip["distance_m"] == pytest.approx(polyline_length(path), rel=0.05)
    assert trip["mode"] == "walk"


@pytest.mark.parametrize(
    ("speed_kmh", "stop_every_m", "expected"),
    [(5.0, None, "walk"), (18.0, None, "bike"), (50.0, 400.0, "vehicle")],
)
def test_mode_guess_clear_cases(speed_kmh: float, stop_every_m: float | None, expected: str) -> None:
    tr = Track(np.random.default_rng(7))
    tr.stay(HOME, 900)
    path = [HOME, (2500.0, 0.0), (2500.0, 3000.0), (5000.0, 3500.0)]
    tr.move(path, speed_kmh / 3.6, every_s=2.0, stop_every_m=stop_every_m, stop_s=40.0)
    tr.stay((5000.0, 3500.0), 900)
    trip = build_trips(tr.fixes(), tr.stay_table()).to_pylist()[0]
    assert trip["mode"] == expected
    assert trip["mode_confidence"] > 0.7
    assert trip["distance_m"] == pytest.approx(polyline_length(path), rel=0.03)
    if stop_every_m:
        # windows that span a stop are slower; the cruising speed shows in the 95th percentile
        assert trip["speed_p95_mps"] == pytest.approx(speed_kmh / 3.6, rel=0.1)
        assert trip["speed_median_mps"] < speed_kmh / 3.6
        assert 0.1 < trip["stop_fraction"] < 0.5
    else:
        assert trip["speed_median_mps"] == pytest.approx(speed_kmh / 3.6, rel=0.1)
        assert trip["stop_fraction"] < 0.05


def test_flight_over_a_gap_is_a_flight_without_invented_path() -> None:
    """900 km in 1.5 h: fixes at the departure airport, none in the air, fixes at arrival."""
    tr = Track(np.random.default_rng(5))
    tr.stay(HOME, 3600)
    tr.skip(1.5 * H)  # in the air: no fixes
    far = (900_000.0 * math.cos(0.3), 900_000.0 * math.sin(0.3))
    tr.stay(far, 3600)
    stays = tr.stay_table()
    with raw_confidences("trips"):  # the raw score: a trip mostly in a gap scores low
        trip = build_trips(tr.fixes(), stays).to_pylist()[0]
    lat, lon = stays.column("lat").to_numpy(), stays.column("lon").to_numpy()
    great_circle = float(haversine_m(lat[0], lon[0], lat[1], lon[1]))
    assert 850_000 < great_circle < 950_000
    assert trip["mode"] == "flight"
    assert trip["mode_confidence"] > 0.7
    assert trip["gap_s"] == pytest.approx(1.5 * H, abs=61)
    assert trip["distance_m"] == pytest.approx(great_circle, rel=0.001)
    assert trip["gap_distance_m"] == pytest.approx(trip["distance_m"], abs=50)
    # no line drawn across the gap: two pieces, each within the airport it belongs to
    assert len(trip["path"]) == 2
    for piece, k in zip(trip["path"], (0, 1), strict=True):
        d = haversine_m(
            np.array([p["lat"] for p in piece]), np.array([p["lon"] for p in piece]), lat[k], lon[k]
        )
        assert d.max() < 50
    assert trip["confidence"] < 0.5


def test_gap_splits_the_path_and_lowers_confidence() -> None:
    tr = Track(np.random.default_rng(9))
    tr.stay(HOME, 900)
    tr.move([HOME, (1500.0, 0.0)], 5.0)
    tr.skip(2 * H)  # the phone is off while the bike goes somewhere
    tr.move([(4000.0, 2000.0), (5000.0, 2000.0)], 5.0)
    tr.stay((5000.0, 2000.0), 900)
    with raw_confidences("trips"):  # the raw score: the gap lowers it
        trips = build_trips(tr.fixes(), tr.stay_table()).to_pylist()
    assert len(trips) == 1
    trip = trips[0]
    assert len(trip["path"]) == 2  # the observed pieces, nothing across the gap
    assert trip["gap_s"] >= 2 * H
    straight = math.dist((1500.0, 0.0), (4000.0, 2000.0))
    assert trip["gap_distance_m"] == pytest.approx(straight, rel=0.03)
    assert trip["distance_m"] == pytest.approx(1500 + straight + 1000, rel=0.03)
    assert trip["confidence"] < 0.9 * 0.6  # the stays say 0.9; the gap takes most of the trip
    # the first piece ends where the fixes stopped, not at the far side of the gap
    end_first = trip["path"][0][-1]
    e_lat, e_lon = from_enu(np.array([1500.0]), np.array([0.0]), *ORIGIN)
    assert haversine_m(end_first["lat"], end_first["lon"], e_lat[0], e_lon[0]) < 30


def test_spike_is_ignored() -> None:
    tr = Track(np.random.default_rng(2), noise_m=3.0)
    tr.stay(HOME, 600)
    path = [HOME, (2000.0, 0.0)]
    tr.move(path, 1.4, every_s=5.0)
    tr.stay((2000.0, 0.0), 600)
    k = len(tr.t) - 300
    tr.n[k] += 800.0  # one fix 800 m off the street
    trip = build_trips(tr.fixes(), tr.stay_table()).to_pylist()[0]
    assert trip["distance_m"] == pytest.approx(2000.0, rel=0.03)


def test_places_fill_trip_ends_and_routes_split_by_shape(week: tuple[Track, pa.Table, pa.Table]) -> None:
    _, fixes, stays = week
    places = cluster_places(stays, radius_m=100, towns=False)
    assert places.num_rows == 3
    trips = build_trips(fixes, stays, places=places)
    assert trips.column("from_place").null_count == 0
    home_id = trips.column("from_place")[0].as_py()
    work_id = trips.column("to_place")[0].as_py()
    routes = habitual_routes(trips, min_trips=1)
    commute_routes = [r for r in routes.to_pylist() if (r["from_place"], r["to_place"]) == (home_id, work_id)]
    # the north and the south route are two routes of two trips each, never mixed
    assert sorted(r["n_trips"] for r in commute_routes) == [2, 2]
    trip_rows = sorted(sorted(r["trips"]) for r in commute_routes)
    assert trip_rows == [[0, 6], [3, 9]]
    # work → gym and gym → home are one route each with all 4 trips
    others = [r for r in routes.to_pylist() if r["from_place"] != home_id]
    assert sorted(r["n_trips"] for r in others) == [4, 4]
    for r in routes.to_pylist():
        assert r["duration_p25_s"] <= r["duration_median_s"] <= r["duration_p75_s"]
        assert r["representative_trip"] in r["trips"]
        assert len(r["path"]) >= 2
        assert 0 < r["confidence"] <= 1
    north = next(r for r in commute_routes if 0 in r["trips"])
    assert north["duration_median_s"] == pytest.approx(polyline_length(ROUTE_NORTH) / 5.0, rel=0.02)
    assert north["mode"] == "bike"
    # habitual (min_trips=2 by default) keeps them all here; a threshold of 3 keeps only the 4-trip ones
    assert habitual_routes(trips, min_trips=3).num_rows == 2
    # the representative path is that trip's path, pieces joined (also from a sliced, chunked table)
    chunked = pa.concat_tables([trips.slice(0, 5), trips.slice(5)])
    for r in habitual_routes(chunked.slice(1), min_trips=1).to_pylist():
        rep = chunked.slice(1).column("path")[r["representative_trip"]].as_py()
        assert r["path"] == [pt for piece in rep for pt in piece]


def test_routes_skip_gaps_and_need_places(week: tuple[Track, pa.Table, pa.Table]) -> None:
    _, fixes, stays = week
    trips = build_trips(fixes, stays)
    assert habitual_routes(trips).num_rows == 0  # no place ids, no routes
    with pytest.raises(SchemaError, match="lacks column"):
        habitual_routes(trips.drop_columns(["path"]))


def test_inputs_not_mutated_and_unsorted_fixes(week: tuple[Track, pa.Table, pa.Table]) -> None:
    _, fixes, stays = week
    before = (fixes.to_pydict(), stays.to_pydict())
    expected = build_trips(fixes, stays)
    assert (fixes.to_pydict(), stays.to_pydict()) == before
    perm = np.random.default_rng(0).permutation(fixes.num_rows)
    shuffled = build_trips(fixes.take(pa.array(perm)), stays)
    np.testing.assert_allclose(
        shuffled.column("distance_m").to_numpy(), expected.column("distance_m").to_numpy()
    )
    assert shuffled.column("evidence_first").to_pylist() == expected.column("evidence_first").to_pylist()


def test_bad_parameters_and_tables(week: tuple[Track, pa.Table, pa.Table]) -> None:
    _, fixes, stays = week
    with pytest.raises(InputError, match="max_gap_s must be"):
        build_trips(fixes, stays, max_gap_s=0)
    with pytest.raises(SchemaError, match="lacks column lat"):
        build_trips(fixes.drop_columns(["lat"]), stays)
    with pytest.raises(SchemaError, match="stay table lacks column"):
        build_trips(fixes, stays.drop_columns(["end"]))
    empty = build_trips(fixes.slice(0, 0), stays.slice(0, 0))
    assert empty.num_rows == 0


def test_two_entities_do_not_mix() -> None:
    a = commute(days=2, seed=4)
    b = commute(days=2, seed=5)
    b.entity = "bob"
    fixes = pa.concat_tables([b.fixes(), a.fixes()])
    stays = pa.concat_tables([a.stay_table(), b.stay_table()])
    trips = build_trips(fixes, stays)
    assert trips.num_rows == 12
    assert trips.column("entity").to_pylist() == ["ann"] * 6 + ["bob"] * 6
    ann_stays = a.stay_table().num_rows
    assert trips.column("from_stay").to_pylist()[6:] == list(range(ann_stays, ann_stays + 6))


def test_guess_mode_rules_on_features() -> None:
    # walk, bike, car, a 300 km/h train (300 km in 1 h 45), a flight over a gap, a flight with
    # in-air fixes, a trip that is one gap at walking pace, nothing to judge by
    v50 = np.array([1.2, 4.5, 12.0, 70.0, np.nan, 230.0, np.nan, np.nan])
    v95 = np.array([1.6, 6.0, 20.0, 83.0, np.nan, 245.0, np.nan, np.nan])
    dist = np.array([2e3, 8e3, 20e3, 300e3, 900e3, 900e3, 3e3, 500.0])
    dur = np.array([1500.0, 1800.0, 1800.0, 6300.0, 5400.0, 5400.0, 2400.0, 3600.0])
    gap = np.array([0, 0, 0, 0, 5000.0, 0, 2400.0, 0])
    gdist = np.array([0, 0, 0, 0, 890e3, 0, 3e3, 0])
    mode, conf = guess_mode(v50, v95, dist, dur, gap, gdist, np.array([40, 40, 40, 40, 0, 40, 0, 0]))
    assert [MODES[m] for m in mode] == [
        "walk",
        "bike",
        "vehicle",
        "train",
        "flight",
        "flight",
        "walk",
        "unknown",
    ]
    assert conf[3] <= 0.7
    assert conf[6] < 0.3  # judged from a straight line over a gap: a weak guess
    assert conf[7] == 0.0
    assert ((conf >= 0) & (conf <= 1)).all()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 50)), min_size=0, max_size=40),
    st.lists(st.tuples(st.integers(0, 2), st.integers(-5, 55), st.integers(0, 20)), min_size=1, max_size=10),
)
def test_trip_ranges_kernel_matches_reference(
    rows: list[tuple[int, int]], queries: list[tuple[int, int, int]]
) -> None:
    rows = sorted(rows)
    codes = [c for c, _ in rows]
    t = [x for _, x in rows]
    qc = [c for c, _, _ in queries]
    ta = [a for _, a, _ in queries]
    tb = [a + w for _, a, w in queries]
    ebounds = np.searchsorted(np.array(codes, np.int64), np.arange(4)).astype(np.int64)
    lo, hi = _trip_ranges(
        np.array(t, np.int64), ebounds, np.array(qc, np.int64), np.array(ta, np.int64), np.array(tb, np.int64)
    )
    rlo, rhi = trip_ranges_reference(t, codes, qc, ta, tb)
    assert lo.tolist() == rlo
    assert hi.tolist() == rhi


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-500, 500), st.floats(-500, 500), st.floats(0, 5)), min_size=1, max_size=25),
    st.sampled_from([5.0, 25.0]),
)
def test_smoothing_kernel_matches_reference(steps: list[tuple[float, float, float]], smooth: float) -> None:
    """Random walks (with pauses), cut into two pieces; every other point movable."""
    pts = np.cumsum(np.array([[dx, dy, 0.0] for dx, dy, _ in steps]), axis=0) + np.array(
        [3.9e6, 3.0e5, 5.0e6]
    )
    times = np.cumsum([dt for _, _, dt in steps])
    n = len(steps)
    cut = n // 2
    movable = np.array([i % 3 != 0 for i in range(n)])
    got = smooth_path(
        pts, times, np.array([0, cut, n] if 0 < cut < n else [0, n], np.int64), movable, smooth, 20.0
    )
    pieces = [(0, cut), (cut, n)] if 0 < cut < n else [(0, n)]
    expect = []
    for a, b in pieces:
        expect += smooth_path_reference(
            [tuple(p) for p in pts[a:b].tolist()], times[a:b].tolist(), movable[a:b].tolist(), smooth, 20.0
        )
    assert got.tolist() == [list(p) for p in expect]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-90, 90), st.floats(-180, 180), st.integers(0, 10**12)), min_size=0, max_size=20
    ),
    st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=0, max_size=6),
)
def test_gather_kernel_matches_reference(
    fixes: list[tuple[float, float, int]], spans: list[tuple[int, int]]
) -> None:
    m = len(fixes)
    ranges = [(min(a, b, m), min(max(a, b), m)) for a, b in spans]
    ends = [((1.0 * k, 2.0 * k, 10 * k), (3.0 * k, 4.0 * k, 10 * k + 5)) for k in range(len(ranges))]
    lo = np.array([r[0] for r in ranges], np.int64)
    hi = np.array([r[1] for r in ranges], np.int64)
    trip_start = np.concatenate(([0], np.cumsum(hi - lo + 2))).astype(np.int64)
    arr = np.array(fixes, dtype=object).reshape(-1, 3)
    got = gather_paths(
        arr[:, 0].astype(float),
        arr[:, 1].astype(float),
        arr[:, 2].astype(np.int64),
        lo,
        hi,
        np.array([e[0][0] for e in ends]),
        np.array([e[0][1] for e in ends]),
        np.array([e[0][2] for e in ends], np.int64),
        np.array([e[1][0] for e in ends]),
        np.array([e[1][1] for e in ends]),
        np.array([e[1][2] for e in ends], np.int64),
        trip_start,
    )
    rows = list(zip(*(a.tolist() for a in got), strict=True))
    assert rows == gather_paths_reference(fixes, ranges, ends)


def test_pipeline_from_detected_stays(week: tuple[Track, pa.Table, pa.Table]) -> None:
    """fixes ➜ detect_stays ➜ cluster_places ➜ build_trips ➜ habitual_routes, end to end."""
    from hereabouts.analysis.stays import detect_stays

    _, fixes, _ = week
    stays = detect_stays(fixes, radius_m=100, min_duration_s=300)
    places = cluster_places(stays, towns=False)
    assert places.num_rows == 3
    trips = build_trips(fixes, stays, places=places)
    assert trips.num_rows == stays.num_rows - 1
    truth = [
        polyline_length(r)
        for d in range(4)
        for r in (ROUTE_NORTH if d % 2 == 0 else ROUTE_SOUTH, TO_GYM, GYM_HOME)
    ]
    np.testing.assert_allclose(trips.column("distance_m").to_numpy(), truth[: trips.num_rows], rtol=0.04)
    assert trips.column("mode").to_pylist() == (["bike", "walk", "bike"] * 4)[: trips.num_rows]
    # the trips' fix evidence lies between the evidence of the stays they join
    s_last = stays.column("evidence_last").to_pylist()
    s_first = stays.column("evidence_first").to_pylist()
    for row in trips.to_pylist():
        assert (
            s_last[row["from_stay"]]
            <= row["evidence_first"]
            <= row["evidence_last"]
            <= s_first[row["to_stay"]]
        )
    routes = habitual_routes(trips)
    assert routes.num_rows >= 3
    assert sum(routes.column("n_trips").to_pylist()) == trips.num_rows


def test_nan_position_is_refused(week: tuple[Track, pa.Table, pa.Table]) -> None:
    _, fixes, stays = week
    lat = fixes.column("lat").to_numpy().copy()
    lat[5] = np.nan
    with pytest.raises(SchemaError, match="NaN"):
        build_trips(fixes.set_column(fixes.column_names.index("lat"), "lat", pa.array(lat)), stays)


def test_reported_speeds_tell_a_sparse_car_trip() -> None:
    """A car sampled once a minute in town: chords see 6 m/s averages, the device's speed sees 14."""
    tr = Track(np.random.default_rng(12))
    tr.stay(HOME, 1800, every_s=60)
    n0 = len(tr.t)
    path = [HOME, (600.0, 0.0), (600.0, 700.0), (0.0, 700.0), (0.0, 1400.0), (900.0, 1400.0)]
    tr.move(path, 50 / 3.6, every_s=60, stop_every_m=300, stop_s=30)
    n1 = len(tr.t)
    tr.stay((900.0, 1400.0), 1800, every_s=60)
    fixes = tr.fixes()
    speed = np.zeros(fixes.num_rows)
    speed[n0:n1] = 50 / 3.6
    with_speed = fixes.append_column("speed_mps", pa.array(speed))
    assert build_trips(fixes, tr.stay_table()).column("mode")[0].as_py() != "vehicle"
    trip = build_trips(with_speed, tr.stay_table()).to_pylist()[0]
    assert trip["mode"] == "vehicle"
    assert trip["speed_p95_mps"] == pytest.approx(50 / 3.6)
    ignored = build_trips(with_speed, tr.stay_table(), use_reported_speed=False).to_pylist()[0]
    assert ignored["speed_p95_mps"] < 10
    # a producer that writes 0 in every speed field is not believed
    zeros = fixes.append_column("speed_mps", pa.array(np.zeros(fixes.num_rows)))
    assert build_trips(zeros, tr.stay_table()).column("speed_p95_mps")[0].as_py() > 1


def test_stays_without_fixes_make_gap_trips(week: tuple[Track, pa.Table, pa.Table]) -> None:
    _, fixes, stays = week
    zoe = stays.slice(0, 3).set_column(0, "entity", pa.array(["zoe"] * 3))
    with raw_confidences("trips"):  # the raw score of a trip that is all gap
        trips = build_trips(fixes, pa.concat_tables([stays, zoe]), max_gap_s=600)
    z = [r for r in trips.to_pylist() if r["entity"] == "zoe"]
    assert len(z) == 2
    assert all(r["n_fixes"] == 0 and r["evidence_first"] is None for r in z)
    assert all(r["gap_s"] == pytest.approx(r["duration_s"]) and r["confidence"] < 0.5 for r in z)
    assert all(len(r["path"]) == 2 for r in z)  # the two stay centres, nothing drawn between


#: fix rows in no order, or as device tracks: runs of one entity with times mostly increasing
_ROWS = st.one_of(
    st.lists(st.tuples(st.sampled_from(["b", "a", "c"]), st.integers(0, 30)), max_size=80),
    st.lists(
        st.tuples(st.sampled_from(["b", "a", "c"]), st.lists(st.integers(0, 400), max_size=40)),
        max_size=6,
    ).map(
        lambda runs: (
            [(e, t) for e, ts in runs for t in sorted(ts)[::-1] if t % 7 == 0]
            + [(e, t) for e, ts in runs for t in sorted(ts)]
        )
    ),
)


@settings(max_examples=200, deadline=None)
@given(_ROWS)
def test_fix_order_is_the_stable_entity_time_order(rows: list[tuple[str, int]]) -> None:
    """The compiled orders of the fixes — merging the sorted pieces of device tracks, or counting +
    radix sort for rows in no order — give exactly the order of the reference
    ``np.lexsort((t, entity))`` (stable: ties keep their input order); positions stay in input
    order and are reached through it."""
    ent = [e for e, _ in rows]
    t_us = np.array([t for _, t in rows], np.int64) * 1_000_000
    lat = np.arange(len(rows), dtype=np.float64) * 1e-4
    fixes = pa.table(
        {
            "entity": pa.array(ent, pa.string()),
            "t": pa.array(t_us, pa.int64()).view(UTC_US),
            "lat": pa.array(lat),
            "lon": pa.array(-lat),
        }
    )
    f = _FixColumns(fixes)
    names = sorted(set(ent))
    codes = np.array([names.index(e) for e in ent], np.int64)
    order = np.lexsort((t_us, codes))
    assert f.entities.to_pylist() == names
    assert f.source(np.arange(len(rows))).tolist() == order.tolist()
    assert f.t_us.tolist() == t_us[order].tolist()
    assert f.lat[f.source(np.arange(len(rows)))].tolist() == lat[order].tolist()
    assert f.ebounds.tolist() == np.searchsorted(codes[order], np.arange(len(names) + 1)).tolist()


def test_trips_do_not_depend_on_the_order_of_the_fix_rows(week: tuple[Track, pa.Table, pa.Table]) -> None:
    _, fixes, stays = week
    with_speed = fixes.append_column("speed_mps", pa.array(np.linspace(0.0, 20.0, fixes.num_rows)))
    base = build_trips(with_speed, stays)
    assert base.num_rows > 10
    for seed in (1, 2):
        perm = np.random.default_rng(seed).permutation(fixes.num_rows)
        assert build_trips(with_speed.take(pa.array(perm)), stays).equals(base)
