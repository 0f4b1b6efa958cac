"""Co-presence: episodes, the compiled kernels against plain-Python references, significance, graph."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ncx2

from hereabouts.analysis import copresence as cp
from hereabouts.analysis._geo import from_enu
from hereabouts.model.errors import InputError, NotFoundError, SchemaError

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
LAT0, LON0 = 52.09, 5.12


def track(entity: str, pts: list[tuple[float, float, float]], acc: float = 8.0) -> dict[str, list]:
    """Fixes of one entity from (seconds after T0, east m, north m)."""
    east = np.array([p[1] for p in pts], float)
    north = np.array([p[2] for p in pts], float)
    lat, lon = from_enu(east, north, LAT0, LON0)
    return {
        "entity": [entity] * len(pts),
        "t": [T0 + timedelta(seconds=p[0]) for p in pts],
        "lat": lat.tolist(),
        "lon": lon.tolist(),
        "accuracy_m": [acc] * len(pts),
    }


def table(*tracks: dict[str, list]) -> pa.Table:
    cols: dict[str, list] = {k: [] for k in ("entity", "t", "lat", "lon", "accuracy_m")}
    for tr in tracks:
        for k in cols:
            cols[k] += tr[k]
    return pa.table(
        {
            "entity": pa.array(cols["entity"], pa.string()),
            "t": pa.array(cols["t"], pa.timestamp("us", tz="UTC")),
            "lat": pa.array(cols["lat"], pa.float64()),
            "lon": pa.array(cols["lon"], pa.float64()),
            "accuracy_m": pa.array(cols["accuracy_m"], pa.float64()),
        }
    )


def still(
    entity: str, t0_s: float, t1_s: float, east: float, north: float, step_s: float = 60.0, acc: float = 8.0
):
    return track(entity, [(t, east, north) for t in np.arange(t0_s, t1_s + 1e-9, step_s)], acc)


# --------------------------------------------------------------------------------------------------
# episodes


def test_two_entities_together_for_an_hour_make_one_episode() -> None:
    fixes = table(still("ann", 0, 7200, 0, 0), still("bob", 1800, 5400, 20, 0), still("cat", 0, 7200, 400, 0))
    ep = cp.copresence_episodes(fixes)
    assert ep.num_rows == 1
    r = ep.to_pylist()[0]
    assert (r["entity_a"], r["entity_b"]) == ("ann", "bob")
    assert abs((r["start"] - (T0 + timedelta(seconds=1800))).total_seconds()) <= 60
    assert abs((r["end"] - (T0 + timedelta(seconds=5400))).total_seconds()) <= 60
    assert 3400 <= r["duration_s"] <= 3660
    assert 15 <= r["distance_median_m"] <= 25
    assert r["confidence"] > 0.9
    assert abs(r["lat"] - LAT0) < 0.001 and abs(r["lon"] - LON0) < 0.001
    assert ep.schema.equals(cp.EPISODE, check_metadata=False)


def test_farther_than_radius_or_too_short_is_not_an_episode() -> None:
    far = table(still("ann", 0, 3600, 0, 0), still("bob", 0, 3600, 80, 0))
    assert cp.copresence_episodes(far).num_rows == 0
    assert cp.copresence_episodes(far, radius_m=100).num_rows == 1
    short = table(still("ann", 0, 3600, 0, 0), still("bob", 0, 300, 0, 0))
    assert cp.copresence_episodes(short).num_rows == 0
    assert cp.copresence_episodes(short, min_duration_s=120).num_rows == 1


def test_nothing_is_claimed_across_a_gap() -> None:
    # bob is silent for 40 minutes in the middle: two episodes, none across the gap
    bob = still("bob", 0, 1800, 5, 0)
    later = still("bob", 4200, 7200, 5, 0)
    for k in bob:
        bob[k] += later[k]
    ep = cp.copresence_episodes(table(still("ann", 0, 7200, 0, 0), bob))
    assert ep.num_rows == 2
    s = [r["start"] for r in ep.to_pylist()]
    e = [r["end"] for r in ep.to_pylist()]
    assert e[0] <= T0 + timedelta(seconds=1860)
    assert s[1] >= T0 + timedelta(seconds=4200)
    # with a longer max_gap_s the silence is bridged
    assert cp.copresence_episodes(table(still("ann", 0, 7200, 0, 0), bob), max_gap_s=3600).num_rows == 1


def test_coarse_accuracy_cannot_show_being_within_the_radius() -> None:
    fixes = table(still("ann", 0, 3600, 0, 0, acc=75.0), still("bob", 0, 3600, 0, 0, acc=75.0))
    assert cp.copresence_episodes(fixes).num_rows == 0  # Wi-Fi-grade positions: nothing claimed
    fixes = table(still("ann", 0, 3600, 0, 0, acc=30.0), still("bob", 0, 3600, 0, 0, acc=30.0))
    assert cp.copresence_episodes(fixes).num_rows == 1


def test_walking_together_is_found_and_crossing_paths_is_not() -> None:
    walk = [(t, 1.3 * t, 0.0) for t in range(0, 1801, 30)]
    ann = track("ann", walk)
    bob = track("bob", [(t, x + 10, y) for t, x, y in walk])
    # cat walks the same street the other way: they meet for a moment only
    cat = track("cat", [(t, 1.3 * 1800 - 1.3 * t, 0.0) for t in range(0, 1801, 30)])
    ep = cp.copresence_episodes(table(ann, bob, cat))
    pairs = {(r["entity_a"], r["entity_b"]) for r in ep.to_pylist()}
    assert pairs == {("ann", "bob")}


def test_entities_filter_and_device_column() -> None:
    fixes = table(still("ann", 0, 3600, 0, 0), still("bob", 0, 3600, 5, 0), still("cat", 0, 3600, 10, 0))
    assert cp.copresence_episodes(fixes).num_rows == 3
    assert cp.copresence_episodes(fixes, entities=["ann", "cat"]).num_rows == 1
    by_device = fixes.rename_columns(["device", "t", "lat", "lon", "accuracy_m"])
    assert cp.copresence_episodes(by_device).num_rows == 3


def test_missing_accuracy_counts_as_the_given_default() -> None:
    fixes = table(still("ann", 0, 3600, 0, 0), still("bob", 0, 3600, 5, 0)).drop_columns(["accuracy_m"])
    assert cp.copresence_episodes(fixes).num_rows == 1
    assert cp.copresence_episodes(fixes, missing_accuracy_m=200.0).num_rows == 0


def test_bad_input_says_what_is_wrong() -> None:
    fixes = table(still("ann", 0, 600, 0, 0))
    with pytest.raises(SchemaError, match="'lat'"):
        cp.copresence_episodes(fixes.drop_columns(["lat"]))
    with pytest.raises(InputError, match="radius_m"):
        cp.copresence_episodes(fixes, radius_m=-1)
    with pytest.raises(InputError, match="half of max_gap_s"):
        cp.copresence_episodes(fixes, epoch_s=600, max_gap_s=900)
    bad = fixes.set_column(2, "lat", pa.array([95.0] * fixes.num_rows))
    with pytest.raises(InputError, match="invalid position"):
        cp.copresence_episodes(bad)
    assert cp.copresence_episodes(fixes.slice(0, 0)).num_rows == 0


def test_order_of_rows_does_not_matter() -> None:
    fixes = table(still("ann", 0, 3600, 0, 0), still("bob", 600, 3000, 10, 0))
    shuffled = fixes.take(pa.array(np.random.default_rng(1).permutation(fixes.num_rows)))
    assert cp.copresence_episodes(fixes).equals(cp.copresence_episodes(shuffled))


# --------------------------------------------------------------------------------------------------
# kernels against references


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4),  # entity
            st.integers(0, 40),  # start epoch
            st.integers(1, 15),  # length
            st.floats(-120, 120),
            st.floats(-120, 120),
            st.floats(-30, 30),
            st.floats(0, 40),  # accuracy
        ),
        max_size=40,
    ),
    st.sampled_from([20.0, 50.0]),
)
def test_sweep_matches_the_all_pairs_reference(rows: list, radius_m: float) -> None:
    base = np.array([3_900_000.0, 350_000.0, 5_000_000.0])
    ent = np.array([r[0] for r in rows], np.int64)
    k0 = np.array([r[1] for r in rows], np.int64)
    k1 = k0 + np.array([r[2] for r in rows], np.int64)
    xyz = base + np.array([[r[3], r[4], r[5]] for r in rows], float).reshape(-1, 3)
    acc = np.array([r[6] for r in rows], float)
    cell_m = max(radius_m, 10.0)
    order = np.lexsort((k0, cp._pack(np.floor(xyz / cell_m).astype(np.int64)))) if rows else np.zeros(0, int)
    runs = cp._Runs(
        entity=ent[order],
        cell=cp._pack(np.floor(xyz[order] / cell_m).astype(np.int64)) if rows else np.zeros(0, np.int64),
        k0=k0[order],
        k1=k1[order],
        xyz=np.ascontiguousarray(xyz[order]).reshape(-1, 3),
        acc=acc[order],
        win=np.zeros(len(rows), np.int64),
        names=[str(i) for i in range(5)],
        epoch_s=60.0,
    )
    max_var = 30.0**2
    ia, ib, lo, hi, d = cp._sweep(runs, radius_m, max_var)
    got = {
        (min(order[i], order[j]), max(order[i], order[j]), a, b)
        for i, j, a, b in zip(ia, ib, lo, hi, strict=False)
    }
    assert len(got) == ia.size  # no pair reported twice
    want = cp.candidate_reference(
        ent.tolist(),
        k0.tolist(),
        k1.tolist(),
        [tuple(p) for p in xyz.tolist()],
        acc.tolist(),
        radius_m,
        max_var,
    )
    # pairs within a hair of the radius may fall either way in floating point
    edge = {w for w in want ^ got if abs(math.dist(xyz[w[0]], xyz[w[1]]) - radius_m) < 1e-6}
    assert got - edge == want - edge
    for i, j, dd in zip(ia, ib, d, strict=False):
        assert abs(dd - math.dist(runs.xyz[i], runs.xyz[j])) < 1e-6


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-60, 60), st.floats(-60, 60), st.floats(-5, 5), st.booleans()), max_size=60),
    st.floats(1.0, 40.0),
)
def test_segments_match_the_reference(rows: list, static_m: float) -> None:
    xyz = np.array([[r[0], r[1], r[2]] for r in rows], float).reshape(-1, 3)
    ok = np.array([r[3] for r in rows], np.bool_)
    got = cp._segment(xyz, ok, static_m).tolist() if rows else []
    assert got == cp.segment_reference([tuple(p) for p in xyz.tolist()], ok.tolist(), static_m)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.5, 80.0), st.floats(0.0, 120.0))
def test_probability_within_matches_scipy(sigma: float, d: float) -> None:
    r = 50.0
    want = float(ncx2.cdf(r * r / sigma**2, 2, d * d / sigma**2))
    got = float(cp.probability_within(np.array([d]), np.array([sigma]), r)[0])
    near_step = sigma < 0.05 * r and abs(d - r) < 3 * sigma
    assert near_step or abs(got - want) < 0.03


def test_quadrature_of_the_rice_distribution_is_exact() -> None:
    rng = np.random.default_rng(3)
    x, nc = rng.uniform(0, 400, 500), rng.uniform(0, 600, 500)
    assert np.abs(cp._ncx2_cdf(x, nc) - ncx2.cdf(x, 2, nc)).max() < 1e-9


# --------------------------------------------------------------------------------------------------
# significance, graph, who was near


def _stays(rows: list[tuple[str, datetime, datetime, float, float]]) -> pa.Table:
    lat, lon = from_enu(np.array([r[3] for r in rows]), np.array([r[4] for r in rows]), LAT0, LON0)
    return pa.table(
        {
            "entity": [r[0] for r in rows],
            "start": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
            "end": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
            "lat": lat,
            "lon": lon,
        }
    )


def _episode(a: str, b: str, start: datetime, hours: float, east: float, north: float) -> dict:
    lat, lon = from_enu(np.array([east]), np.array([north]), LAT0, LON0)
    return {
        "entity_a": a,
        "entity_b": b,
        "start": start,
        "end": start + timedelta(hours=hours),
        "duration_s": hours * 3600,
        "lat": float(lat[0]),
        "lon": float(lon[0]),
        "distance_median_m": 5.0,
        "n_epochs": int(hours * 60),
        "confidence": 0.99,
    }


def _town(meetings: list[tuple[int, int, float]], gym_mates: bool) -> tuple[pa.Table, pa.Table]:
    """Four people over four weeks: ann and bob live and work apart and meet at places neither visits
    otherwise (``meetings``: day, local hour, east offset); cat and dan train at one gym on the same
    weekdays at the same hour."""
    day0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
    stays = []
    eps = []
    homes = {"ann": (-3000, 0), "bob": (3000, 0), "cat": (0, 3000), "dan": (0, -3000)}
    works = {"ann": (-3000, 1500), "bob": (3000, 1500), "cat": (1500, 3000), "dan": (1500, -3000)}
    for d in range(28):
        day = day0 + timedelta(days=d)
        for who in homes:
            stays.append((who, day - timedelta(hours=2), day + timedelta(hours=6), *homes[who]))
            if d % 7 < 5:
                stays.append((who, day + timedelta(hours=7), day + timedelta(hours=15), *works[who]))
            stays.append((who, day + timedelta(hours=19), day + timedelta(hours=22), *homes[who]))
        if gym_mates and d % 7 in (0, 2):
            for who in ("cat", "dan"):
                stays.append(
                    (who, day + timedelta(hours=16), day + timedelta(hours=17, minutes=30), 500, 500)
                )
            eps.append(_episode("cat", "dan", day + timedelta(hours=16), 1.5, 500, 500))
    for d, hour, east in meetings:
        start = day0 + timedelta(days=d, hours=hour)
        for who in ("ann", "bob"):
            stays.append((who, start, start + timedelta(hours=1.5), east, -1500))
        eps.append(_episode("ann", "bob", start, 1.5, east, -1500))
    eps.sort(key=lambda e: (e["entity_a"], e["entity_b"], e["start"]))
    return pa.Table.from_pylist(eps, schema=cp.EPISODE), _stays(stays)


def test_meetings_at_rarely_visited_places_are_a_tie_and_a_shared_gym_is_not() -> None:
    eps, stays = _town([(1, 15, -800), (9, 15, 0), (17, 15, 800), (24, 14, 1600)], gym_mates=True)
    sig = cp.pair_significance(eps, stays, tz="UTC", alpha=0.01)
    rows = {(r["entity_a"], r["entity_b"]): r for r in sig.to_pylist()}
    ab, cd = rows[("ann", "bob")], rows[("cat", "dan")]
    assert ab["n_away"] == 4 and cd["n_away"] == 8
    assert ab["is_tie"] and ab["p_value"] < 0.01
    assert not cd["is_tie"] and cd["p_value"] == 1.0  # same weekdays, same hour: routine
    assert ab["observed"] == 4 and ab["expected"] < 1
    assert sig.column("entity_a").to_pylist()[0] == "ann"  # sorted by tie score
    assert ab["away_episodes"] == [0, 1, 2, 3]


def _people(
    who: dict[str, tuple[tuple[float, float], tuple[float, float] | None]], days: int = 28
) -> list[tuple[str, datetime, datetime, float, float]]:
    """Stays of people with a home and, on weekdays, work (``None``: no work), for ``days`` days."""
    day0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
    rows = []
    for d in range(days):
        day = day0 + timedelta(days=d)
        for name, (home, work) in who.items():
            rows.append((name, day - timedelta(hours=2), day + timedelta(hours=6), *home))
            if work is not None and d % 7 < 5:
                rows.append((name, day + timedelta(hours=7), day + timedelta(hours=15), *work))
            rows.append((name, day + timedelta(hours=19), day + timedelta(hours=22), *home))
    return rows


def test_three_meetings_at_cafes_are_a_tie_and_office_colleagues_are_not() -> None:
    day0 = datetime(2025, 3, 3, tzinfo=UTC)
    rows = _people(
        {
            "ann": ((-3000, 0), (-3000, 1500)),
            "bob": ((3000, 0), (3000, 1500)),
            "eve": ((0, 3000), (0, -1000)),  # eve and fay work in one office
            "fay": ((0, -3000), (0, -1000)),
        }
    )
    eps = []
    for d, east in ((2, -800), (10, 0), (22, 800)):  # three evenings at three cafés
        start = day0 + timedelta(days=d, hours=16)
        rows += [(w, start, start + timedelta(hours=1.5), east, -1500) for w in ("ann", "bob")]
        eps.append(_episode("ann", "bob", start, 1.5, east, -1500))
    for d in range(28):
        if d % 7 < 5:
            eps.append(_episode("eve", "fay", day0 + timedelta(days=d, hours=7), 8, 0, -1000))
    eps.sort(key=lambda e: (e["entity_a"], e["entity_b"], e["start"]))
    sig = cp.pair_significance(pa.Table.from_pylist(eps, schema=cp.EPISODE), _stays(rows), tz="UTC")
    got = {(r["entity_a"], r["entity_b"]): r for r in sig.to_pylist()}
    ab, ef = got[("ann", "bob")], got[("eve", "fay")]
    assert ab["is_tie"] and ab["n_away"] == 3 and ab["days_away"] == 3 and ab["p_value"] < 0.001
    assert not ef["is_tie"] and ef["n_away"] == 0 and ef["n_episodes"] == 20
    assert cp.DEFAULT_ALPHA == 0.1


def test_a_few_meetings_are_not_diluted_by_places_both_used_on_other_days() -> None:
    """Three meetings at cafés, and four shops both use, on different days: the count of days
    together is still far above chance; Fisher's combination, which adds a p-value of 1 per shop,
    is not."""
    day0 = datetime(2025, 3, 3, tzinfo=UTC)
    rows = _people({"ann": ((-3000, 0), (-3000, 1500)), "bob": ((3000, 0), (3000, 1500))})
    eps = []
    for d, east in ((2, -800), (10, 0), (22, 800)):
        start = day0 + timedelta(days=d, hours=16)
        rows += [(w, start, start + timedelta(hours=1.5), east, -1500) for w in ("ann", "bob")]
        eps.append(_episode("ann", "bob", start, 1.5, east, -1500))
    for i, (da, db) in enumerate(((1, 3), (4, 8), (9, 11), (15, 17))):  # shops, on different days
        for who, d in (("ann", da), ("bob", db)):
            start = day0 + timedelta(days=d, hours=17)
            rows.append((who, start, start + timedelta(minutes=40), -1500 + 500 * i, 2500))
    ep_t = pa.Table.from_pylist(eps, schema=cp.EPISODE)
    count = cp.pair_significance(ep_t, _stays(rows), tz="UTC").to_pylist()[0]
    fisher = cp.pair_significance(ep_t, _stays(rows), tz="UTC", test="fisher").to_pylist()[0]
    assert count["is_tie"] and count["p_value"] < 0.01
    assert fisher["p_value"] > 10 * count["p_value"]
    assert count["observed"] == 3 and count["expected"] < 1
    with pytest.raises(InputError, match="test"):
        cp.pair_significance(ep_t, _stays(rows), test="stouffer")
    with pytest.raises(InputError, match="stay_radius_m"):
        cp.pair_significance(ep_t, _stays(rows), stay_radius_m=0.0)


def _wifi_stays(rows: list[tuple[str, datetime, datetime, float, float]]) -> pa.Table:
    t = _stays(rows)
    return t.append_column("radius_m", pa.array([130.0] * t.num_rows)).append_column(
        "n_fixes", pa.array([20] * t.num_rows, pa.int64())
    )


def test_phones_too_coarse_for_episodes_are_linked_by_their_stays() -> None:
    """Wi-Fi positions (about 75 m) never show two people within 50 m, so there are no episodes;
    their stays, averaged over 20 fixes, still put both at one café three times."""
    day0 = datetime(2025, 3, 3, tzinfo=UTC)
    rows = _people({"ann": ((-3000, 0), (-3000, 1500)), "bob": ((3000, 0), (3000, 1500))})
    for d, east in ((2, -800), (10, 0), (22, 800)):
        start = day0 + timedelta(days=d, hours=16)
        rows += [("ann", start, start + timedelta(hours=1.5), east, -1500)]
        rows += [("bob", start + timedelta(minutes=10), start + timedelta(hours=2), east + 15, -1490)]
    none = cp.EPISODE.empty_table()
    r = cp.pair_significance(none, _wifi_stays(rows), tz="UTC").to_pylist()
    assert len(r) == 1 and r[0]["is_tie"] and r[0]["n_episodes"] == 0 and r[0]["days_away"] == 3
    assert r[0]["first"] is None and r[0]["p_value"] < 0.001
    assert cp.pair_significance(none, _wifi_stays(rows), tz="UTC", stay_pairs=False).num_rows == 0
    # stays 600 m apart (cell-tower positions) are not together
    far = [(w, s, e, x + (600 if w == "bob" and x > -2000 and y < 0 else 0), y) for w, s, e, x, y in rows]
    assert cp.pair_significance(none, _wifi_stays(far), tz="UTC").num_rows == 0


def test_two_meetings_are_not_enough_for_a_tie() -> None:
    eps, stays = _town([(1, 15, -800), (9, 15, 0)], gym_mates=False)
    r = cp.pair_significance(eps, stays, tz="UTC").to_pylist()[0]
    assert r["n_away"] == 2 and not r["is_tie"]


def test_co_presence_at_home_is_not_away() -> None:
    _eps, stays = _town([], gym_mates=False)
    lat, lon = from_enu(np.array([-3000.0]), np.array([0.0]), LAT0, LON0)
    home = [
        {
            **_episode("ann", "bob", T0 + timedelta(days=d), 2, -3000, 0),
            "lat": float(lat[0]),
            "lon": float(lon[0]),
        }
        for d in range(5)
    ]
    r = cp.pair_significance(pa.Table.from_pylist(home, schema=cp.EPISODE), stays, tz="UTC").to_pylist()[0]
    assert r["n_away"] == 0 and r["p_value"] == 1.0 and not r["is_tie"]
    assert r["n_episodes"] == 5 and r["total_s"] == 5 * 7200


def test_significance_rejects_bad_parameters() -> None:
    eps, stays = _town([(1, 15, -800)], gym_mates=False)
    with pytest.raises(InputError, match="alpha"):
        cp.pair_significance(eps, stays, alpha=2.0)
    with pytest.raises(SchemaError, match="'entity'"):
        cp.pair_significance(eps, stays.drop_columns(["entity"]))
    assert cp.pair_significance(eps.slice(0, 0), stays).num_rows == 0


def test_graph_carries_weights_and_significance_and_is_json() -> None:
    eps, stays = _town([(1, 15, -800), (9, 15, 0), (17, 15, 800), (24, 14, 1600)], gym_mates=True)
    sig = cp.pair_significance(eps, stays, tz="UTC", alpha=0.01)
    g = cp.copresence_graph(eps, sig, entities=["ann", "bob", "cat", "dan", "eve"])
    assert g.nodes.column("entity").to_pylist() == ["ann", "bob", "cat", "dan", "eve"]
    edges = {(r["source"], r["target"]): r for r in g.edges.to_pylist()}
    assert edges[("ann", "bob")]["weight_h"] == 6.0 and edges[("ann", "bob")]["is_tie"]
    assert edges[("cat", "dan")]["weight_h"] == 12.0 and not edges[("cat", "dan")]["is_tie"]
    nodes = {r["entity"]: r for r in g.nodes.to_pylist()}
    assert nodes["ann"]["n_ties"] == 1 and nodes["eve"]["degree"] == 0
    assert cp.copresence_graph(eps, sig, ties_only=True).edges.num_rows == 1
    json.dumps(g.to_dict())


def test_who_was_near_cuts_episodes_to_the_window() -> None:
    fixes = table(still("ann", 0, 7200, 0, 0), still("bob", 0, 3600, 10, 0), still("cat", 1800, 7200, 0, 15))
    near = cp.who_was_near(fixes, "ann", T0 + timedelta(seconds=1200), T0 + timedelta(seconds=4800))
    assert near.column("other").to_pylist() == ["bob", "cat"]
    assert near.column("start").to_pylist()[0] == T0 + timedelta(seconds=1200)
    assert near.column("end").to_pylist()[1] == T0 + timedelta(seconds=4800)
    assert cp.who_was_near(fixes, "bob", T0 + timedelta(seconds=4000), None).num_rows == 0
    with pytest.raises(NotFoundError):
        cp.who_was_near(fixes, "zed")
    with pytest.raises(InputError, match="time zone"):
        cp.who_was_near(fixes, "ann", datetime(2025, 3, 3))


def test_chunks_of_entities_give_the_same_episodes(monkeypatch: pytest.MonkeyPatch) -> None:
    fixes = table(
        still("ann", 0, 7200, 0, 0),
        still("bob", 600, 5400, 10, 0),
        still("cat", 1200, 7200, 0, 20),
        still("dan", 0, 3000, 30, 30),
    )
    whole = cp.copresence_episodes(fixes)
    monkeypatch.setattr(cp, "_CHUNK_ROWS", 50)
    chunked = cp.copresence_episodes(fixes)
    assert whole.num_rows == 6
    for c in ("entity_a", "entity_b", "start", "end", "n_epochs"):
        assert whole.column(c).equals(chunked.column(c))
    assert np.allclose(
        whole.column("distance_median_m").to_numpy(), chunked.column("distance_median_m").to_numpy()
    )
