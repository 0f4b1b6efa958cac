"""Routines: time-of-week occupancy, regularity (entropies, Π_max, radius of gyration), anomalies."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hereabouts.analysis.places import assign_places, cluster_places
from hereabouts.analysis.routines import (
    anomalies,
    fano_max_predictability,
    lz_entropy,
    regularity,
    time_of_week_occupancy,
)
from hereabouts.analysis.stays import detect_stays
from hereabouts.model.errors import InputError
from hereabouts.sim import simulate

TS = pa.timestamp("us", tz="UTC")
H = 3_600_000_000
D = 24 * H
MONDAY = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp()) * 1_000_000


def _table(rows: list[tuple[str, int, int, str]]) -> pa.Table:
    e, s, t, p = zip(*rows, strict=True)
    return pa.table(
        {"entity": list(e), "start": pa.array(s, TS), "end": pa.array(t, TS), "place_id": list(p)}
    )


PLACES = pa.table(
    {
        "place_id": ["a", "b", "c", "d"],
        "lat": [52.0, 52.0, 52.0, 52.0],
        "lon": [5.0, 5.0 + 1000 / 68_500, 5.2, 5.3],
    }
)


def test_entropy_of_a_two_place_day() -> None:
    # 12 h at a, 12 h at b, every day for 14 days
    rows = []
    for k in range(14):
        rows += [
            ("ann", MONDAY + k * D, MONDAY + k * D + 12 * H, "a"),
            ("ann", MONDAY + k * D + 12 * H, MONDAY + (k + 1) * D, "b"),
        ]
    r = regularity(_table(rows), PLACES, tz="UTC").to_pylist()[0]
    assert r["n_places"] == 2 and r["hours_observed"] == 14 * 24
    assert r["entropy_random"] == pytest.approx(1.0)
    assert r["entropy_uncorrelated"] == pytest.approx(1.0)
    assert r["entropy_lz"] < 0.3  # perfectly periodic: far below the uncorrelated entropy
    assert r["predictability_max"] > 0.95
    # two places 1 km apart, equal dwell: radius of gyration 0.5 km
    assert r["radius_of_gyration_km"] == pytest.approx(0.5, abs=0.01)
    assert r["visit_share_1"] == pytest.approx(0.5) and r["visit_share_3"] is None


def test_entropy_of_random_hours() -> None:
    rng = np.random.default_rng(5)
    seq = rng.integers(0, 4, 600).tolist()
    rows = [("bob", MONDAY + i * H, MONDAY + (i + 1) * H, "abcd"[v]) for i, v in enumerate(seq)]
    r = regularity(_table(rows), PLACES, tz="UTC").to_pylist()[0]
    assert r["entropy_random"] == pytest.approx(2.0)
    assert r["entropy_uncorrelated"] == pytest.approx(2.0, abs=0.02)
    assert 1.6 < r["entropy_lz"] < 2.4
    assert r["predictability_max"] < 0.45


def test_fano_solution() -> None:
    s = np.array([0.0, 1.0, 2.0, 0.5, 1.3, 3.0])
    n = np.array([5, 2, 4, 10, 10, 3])
    pi = fano_max_predictability(s, n)
    assert pi[:3].tolist() == pytest.approx([1.0, 0.5, 0.25])
    assert pi[5] == pytest.approx(1 / 3)  # entropy above log2 N: no better than chance
    for k in (3, 4):  # Fano's equality holds at the solution
        p = pi[k]
        h = -p * math.log2(p) - (1 - p) * math.log2(1 - p) + (1 - p) * math.log2(n[k] - 1)
        assert h == pytest.approx(s[k], abs=1e-6)
    assert pi[3] > pi[4]  # less entropy, more predictable
    assert lz_entropy([1]) == 0.0


def test_regularity_with_fixes() -> None:
    rows = [("ann", MONDAY, MONDAY + H, "a"), ("ann", MONDAY + H, MONDAY + 2 * H, "b")]
    fixes = pa.table({"device": ["ann"] * 2, "lat": [52.0, 52.0], "lon": [5.0, 5.0 + 2000 / 68_500]})
    r = regularity(_table(rows), PLACES, fixes, tz="UTC").to_pylist()[0]
    assert r["radius_of_gyration_fixes_km"] == pytest.approx(1.0, abs=0.02)
    assert r["entropy_lz"] is None  # fewer than 24 hours


def test_time_of_week_occupancy_in_local_time() -> None:
    # Mondays 09:00-17:00 Amsterdam time for 3 weeks; the third week is after the DST change
    tz = ZoneInfo("Europe/Amsterdam")
    rows = []
    for w in range(3):
        day = datetime(2025, 3, 17, tzinfo=tz) + timedelta(days=7 * w)
        a = int(day.replace(hour=9).timestamp()) * 1_000_000
        b = int(day.replace(hour=17).timestamp()) * 1_000_000
        rows.append(("ann", a, b, "a"))
    rows.append(("ann", rows[0][1] + D, rows[0][1] + D + 2 * H, "b"))  # one Tuesday
    occ = time_of_week_occupancy(_table(rows), PLACES, tz="Europe/Amsterdam").to_pylist()
    mon = [r for r in occ if r["place_id"] == "a"]
    assert sorted(r["hour"] for r in mon) == list(range(9, 17))  # same local hours across the change
    assert all(r["dow"] == 0 and r["weeks_present"] == 3 and r["share"] == 1.0 for r in mon)
    tue = [r for r in occ if r["place_id"] == "b"]
    assert [r["hour"] for r in tue] == [9, 10] and tue[0]["weeks_observed"] == 1
    half = time_of_week_occupancy(_table(rows), PLACES, tz="Europe/Amsterdam", bin_minutes=30).to_pylist()
    assert len([r for r in half if r["place_id"] == "a"]) == 16
    with pytest.raises(InputError, match="bin_minutes"):
        time_of_week_occupancy(_table(rows), PLACES, bin_minutes=7)


@pytest.fixture(scope="module")
def sim_stays() -> tuple[pa.Table, pa.Table, list[str]]:
    sim = simulate(agents=20, days=21, seed=2, profile="gps-1min")
    stays = detect_stays(sim.fixes)
    places = cluster_places(stays, towns=False)
    stays = stays.append_column("place_id", assign_places(stays, places))
    agents = {a["agent"]: a["role"] for a in sim.true_agents.to_pylist()}
    workers = sorted(
        d["device"]
        for d in sim.devices.to_pylist()
        if d["kind"] == "phone" and agents[d["agent"]] == "day_worker"
    )
    return stays, places, workers


def test_anomalies_flag_an_injected_day(sim_stays: tuple[pa.Table, pa.Table, list[str]]) -> None:
    stays, places, workers = sim_stays
    tz = ZoneInfo("Europe/Amsterdam")
    dev = workers[0]
    base = anomalies(stays, places)
    # inject: on Wednesday 2025-03-12 the worker spends 08:00-02:30 at a place never seen before
    # instead of going to work, and comes home at 02:30 the next morning
    day0 = int(datetime(2025, 3, 12, 8, tzinfo=tz).timestamp()) * 1_000_000
    day1 = int(datetime(2025, 3, 13, 2, 30, tzinfo=tz).timestamp()) * 1_000_000
    ent = np.asarray(stays.column("entity").to_pylist(), dtype=object)
    s = np.asarray(stays.column("start").cast(pa.int64()).to_numpy())
    e = np.asarray(stays.column("end").cast(pa.int64()).to_numpy())
    mine = ent == dev
    night = np.flatnonzero(mine & (s <= day1 + 3 * H) & (e > day1 + 3 * H))  # the stay at home that night
    assert night.size == 1
    inside = mine & (s < day1) & (e > day0)
    inside[night[0]] = False
    keep = ~inside
    st = s.copy()
    st[night[0]] = day1  # came home at 02:30
    cut = stays.filter(pa.array(keep)).set_column(1, "start", pa.array(st[keep], pa.int64()).cast(TS))
    far = pa.table(
        {
            "entity": [dev],
            "start": pa.array([day0], TS),
            "end": pa.array([day1 - 1], TS),
            "lat": [52.2],
            "lon": [5.3],
            "place_id": ["far-away"],
        }
    )
    injected = pa.concat_tables([cut, far], promote_options="permissive")
    more_places = pa.concat_tables(
        [places, pa.table({"place_id": ["far-away"], "entity": [dev], "lat": [52.2], "lon": [5.3]})],
        promote_options="permissive",
    )
    an = anomalies(injected, more_places).to_pylist()
    day = datetime(2025, 3, 12).date()
    hits = {r["kind"]: r for r in an if r["entity"] == dev and r["day"] == day}
    assert {"unusual_place", "absence", "late_home"} <= set(hits)
    assert hits["unusual_place"]["place_id"] == "far-away" and hits["unusual_place"]["score"] > 3
    assert "Wednesdays" in hits["absence"]["routine"]
    assert "usually comes home" in hits["late_home"]["routine"]
    assert hits["late_home"]["score"] >= 3
    # the same day was not flagged before the injection
    assert not any(r["entity"] == dev and r["day"] == day for r in base.to_pylist())


def test_anomaly_scores_and_schema(sim_stays: tuple[pa.Table, pa.Table, list[str]]) -> None:
    stays, places, _ = sim_stays
    an = anomalies(stays, places)
    assert an.column_names == ["entity", "day", "kind", "score", "place_id", "routine", "detail"]
    assert set(an.column("kind").to_pylist()) <= {
        "unusual_place",
        "absence",
        "late_home",
        "early_home",
        "late_work",
        "early_work",
    }
    assert pc.min(an.column("score")).as_py() > 0
    with pytest.raises(InputError):
        anomalies(stays, places, routine_min_share=0)


def test_regularity_on_the_simulator(sim_stays: tuple[pa.Table, pa.Table, list[str]]) -> None:
    stays, places, workers = sim_stays
    reg = regularity(stays, places).to_pylist()
    assert {r["entity"] for r in reg} == set(stays.column("entity").to_pylist())
    for r in reg:
        n = 2 ** r["entropy_random"]
        assert r["entropy_uncorrelated"] <= r["entropy_random"] + 1e-9
        if r["entropy_lz"] is not None:
            assert 1 / n - 1e-9 <= r["predictability_max"] <= 1.0
    # people with a daily routine are predictable (Song et al. report about 93 %)
    mine = [r for r in reg if r["entity"] in workers]
    assert mine and all(r["predictability_max"] > 0.8 for r in mine)
    assert all(r["entropy_lz"] < r["entropy_uncorrelated"] for r in mine)


def test_regularity_of_all_entities_equals_one_entity_at_a_time(
    sim_stays: tuple[pa.Table, pa.Table, list[str]],
) -> None:
    """Every entity's row is computed from its own slice of the shared arrays (one Lempel-Ziv kernel
    call, one vectorised Π_max): the same numbers, bit for bit, as a run on that entity alone."""
    stays, places, _ = sim_stays
    together = regularity(stays, places, tz="Europe/Amsterdam").to_pylist()
    assert len(together) >= 10
    assert sum(r["entropy_lz"] is not None for r in together) >= 10
    for row in together:
        alone = stays.filter(pc.equal(stays.column("entity"), row["entity"]))
        assert regularity(alone, places, tz="Europe/Amsterdam").to_pylist() == [row]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-3, 3), st.integers(0, 2), st.integers(10**12, 10**12 + 4), st.floats(0, 1e4)),
        max_size=60,
    ),
    st.booleans(),
)
def test_packed_group_sum_equals_group_sum(rows: list[tuple[int, int, int, float]], huge: bool) -> None:
    """The one-sort group sum of the routines gives the keys, order and sums of the reference
    (one sort per key), bit for bit; keys too wide to pack take the reference path."""
    from hereabouts.analysis.routines import _group_sum
    from hereabouts.kernels.reference import group_sum_reference as group_sum

    a = np.array([r[0] for r in rows], np.int64)
    b = np.array([r[1] for r in rows], np.int64) * (2**61 if huge else 1)
    c = np.array([r[2] for r in rows], np.int64)
    v = np.array([r[3] for r in rows], np.float64)
    keys_ref, sums_ref = group_sum(v, a, b, c)
    keys, sums = _group_sum(v, a, b, c)
    assert [k.tolist() for k in keys] == [k.tolist() for k in keys_ref]
    assert sums.tobytes() == sums_ref.tobytes()
