"""Anchors (home, work, regular places) against the simulator's ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from hereabouts.analysis._geo import haversine_m
from hereabouts.analysis.anchors import ANCHOR, _cluster_points, _p_within, coarse_anchors, infer_anchors
from hereabouts.analysis.places import cluster_places
from hereabouts.analysis.stays import detect_stays
from hereabouts.evaluate.calibration import apply, raw_confidences
from hereabouts.model.errors import InputError, SchemaError
from hereabouts.sim import simulate


@dataclass
class Case:
    stays: pa.Table
    places: pa.Table
    anchors: pa.Table
    phones: dict[str, str]  # device -> agent
    agents: dict[str, dict[str, object]]
    truth: list[dict[str, object]]


@pytest.fixture(scope="module")
def case() -> Case:
    # seed 2: a mixed population with night-shift workers, two-home agents and movers
    sim = simulate(agents=60, days=21, seed=2, profile="gps-1min")
    stays = detect_stays(sim.fixes)
    places = cluster_places(stays, towns=False)
    anchors = infer_anchors(stays, places)
    dev = sim.devices.to_pylist()
    phones = {str(d["device"]): str(d["agent"]) for d in dev if d["kind"] == "phone"}
    agents = {str(a["agent"]): a for a in sim.true_agents.to_pylist()}
    return Case(stays, places, anchors, phones, agents, sim.true_anchors.to_pylist())


def _rows(c: Case, device: str, label: str) -> list[dict[str, object]]:
    return [
        r
        for r in c.anchors.to_pylist()
        if r["entity"] == device and r["label"] == label and not r["abstained"]
    ]


def _truth(c: Case, agent: str, kinds: tuple[str, ...]) -> list[dict[str, object]]:
    return [t for t in c.truth if t["agent"] == agent and t["kind"] in kinds]


def _near(r: dict[str, object], t: dict[str, object], m: float = 100.0) -> bool:
    return float(haversine_m(r["lat"], r["lon"], t["lat"], t["lon"])) <= m  # type: ignore[arg-type]


def test_schema_and_population(case: Case) -> None:
    assert case.anchors.schema.equals(ANCHOR, check_metadata=False)
    roles = {str(a["role"]) for a in case.agents.values()}
    assert {"day_worker", "night_worker", "remote_worker", "no_work"} <= roles
    assert any(a["two_homes"] for a in case.agents.values()) and any(
        a["moves_house"] for a in case.agents.values()
    )
    conf = np.asarray(case.anchors.column("confidence").to_numpy())
    assert ((conf >= 0) & (conf <= 1)).all()
    ab = case.anchors.filter(case.anchors.column("abstained"))
    assert ab.column("place_id").null_count == ab.num_rows


def test_home_top1(case: Case) -> None:
    hits = total = 0
    for dev, agent in case.phones.items():
        homes = _rows(case, dev, "home")
        if not homes:
            continue
        total += 1
        primary = [t for t in _truth(case, agent, ("home",)) if t["primary"]]
        hits += any(_near(homes[0], t) for t in primary)
    assert total >= 55
    assert hits / total >= 0.95


def test_work_top1_day_and_night_workers(case: Case) -> None:
    hits = total = 0
    for dev, agent in case.phones.items():
        if case.agents[agent]["role"] not in ("day_worker", "night_worker"):
            continue
        total += 1
        work = _rows(case, dev, "work")
        truth = _truth(case, agent, ("work",))
        hits += bool(work) and _near(work[0], truth[0])
    assert total >= 20
    assert hits / total >= 0.9


def test_night_shift_home_is_not_work(case: Case) -> None:
    n = 0
    for dev, agent in case.phones.items():
        if case.agents[agent]["role"] != "night_worker":
            continue
        n += 1
        home = _rows(case, dev, "home")
        work = _rows(case, dev, "work")
        assert home and _near(home[0], _truth(case, agent, ("home",))[0])
        assert work and _near(work[0], _truth(case, agent, ("work",))[0])
        assert "night shifts" in str(work[0]["evidence"])
        assert not any(_near(h, _truth(case, agent, ("work",))[0]) for h in home)
    assert n >= 3


def test_movers_get_two_homes_split_at_the_move(case: Case) -> None:
    n = 0
    for dev, agent in case.phones.items():
        if not case.agents[agent]["moves_house"]:
            continue
        n += 1
        homes = _rows(case, dev, "home")
        truth = sorted(_truth(case, agent, ("home",)), key=lambda t: str(t["valid_from"]))
        assert len(homes) == 2
        assert homes[0]["valid_to"] is not None and homes[1]["valid_from"] == homes[0]["valid_to"]
        assert _near(homes[0], truth[0]) and _near(homes[1], truth[1])
        moved = truth[0]["valid_to"]
        assert abs((homes[0]["valid_to"] - moved).total_seconds()) <= 2 * 86400  # type: ignore[operator]
    assert n >= 5


def test_two_home_agents_get_two_home_rows(case: Case) -> None:
    n = 0
    for dev, agent in case.phones.items():
        if not case.agents[agent]["two_homes"]:
            continue
        n += 1
        homes = _rows(case, dev, "home")
        truth = _truth(case, agent, ("home",))
        assert len(homes) == 2
        assert all(any(_near(h, t) for t in truth) for h in homes)
        assert _near(homes[0], next(t for t in truth if t["primary"]))  # primary first
    assert n >= 2


def test_no_confident_work_without_work(case: Case) -> None:
    n = 0
    for dev, agent in case.phones.items():
        if case.agents[agent]["role"] not in ("no_work", "remote_worker"):
            continue
        n += 1
        assert _rows(case, dev, "work") == []
        if case.agents[agent]["role"] == "remote_worker":  # said on the home row instead
            assert "weekday daytime place" in str(_rows(case, dev, "home")[0]["evidence"])
    assert n >= 10


def test_watch_without_nights_abstains(case: Case) -> None:
    # watches are worn 07:00-22:30: no observed nights, so no home and no work is named
    watches = [e for e in set(case.anchors.column("entity").to_pylist()) if e not in case.phones]
    abstained = [
        r
        for r in case.anchors.to_pylist()
        if r["entity"] in watches and r["label"] == "home" and r["abstained"]
    ]
    assert abstained and all("observed nights" in str(r["evidence"]) for r in abstained)


def test_two_day_slice_abstains(case: Case) -> None:
    t0 = pa.scalar(datetime(2025, 3, 4, tzinfo=UTC), pa.timestamp("us", tz="UTC"))
    t1 = pa.scalar(datetime(2025, 3, 6, tzinfo=UTC), pa.timestamp("us", tz="UTC"))
    s = case.stays
    part = s.filter(pc.and_(pc.greater_equal(s.column("start"), t0), pc.less(s.column("end"), t1)))
    a = infer_anchors(part, case.places)
    assert a.num_rows > 0
    assert all(a.column("abstained").to_pylist())
    assert set(a.column("label").to_pylist()) == {"home", "work"}
    assert a.column("place_id").null_count == a.num_rows
    assert all("days of data" in e for e in a.column("evidence").to_pylist())


def test_regular_places(case: Case) -> None:
    reg = case.anchors.filter(pc.equal(case.anchors.column("label"), "regular"))
    assert reg.num_rows > 0
    assert all("visits in" in e for e in reg.column("evidence").to_pylist())
    # a regular place is never also the entity's home or work
    keys = {(r["entity"], r["place_id"]) for r in case.anchors.to_pylist() if r["label"] != "regular"}
    assert not any((r["entity"], r["place_id"]) in keys for r in reg.to_pylist())


def _hand(days: int, home_hours: tuple[int, int] = (-2, 7)) -> tuple[pa.Table, pa.Table]:
    h, d = 3_600_000_000, 86_400_000_000
    start, end, pid = [], [], []
    for k in range(days):
        start += [d * k + home_hours[0] * h, d * k + 9 * h]
        end += [d * k + home_hours[1] * h, d * k + 17 * h]
        pid += ["h", "w" if (k + 3) % 7 < 5 else "park"]
    ts = pa.timestamp("us", tz="UTC")
    stays = pa.table(
        {
            "entity": ["ann"] * len(pid),
            "start": pa.array(start, ts),
            "end": pa.array(end, ts),
            "place_id": pid,
        }
    )
    places = pa.table({"place_id": ["h", "w", "park"], "lat": [52.0, 52.01, 52.02], "lon": [5.0, 5.0, 5.0]})
    return stays, places


def test_hand_made_day_worker_and_confidence_monotone() -> None:
    stays, places = _hand(21)
    a = infer_anchors(stays, places, tz="UTC")
    labels = dict(zip(a.column("label").to_pylist(), a.column("place_id").to_pylist(), strict=True))
    assert labels["home"] == "h" and labels["work"] == "w"
    assert "21 of 21 observed nights" in a.column("evidence").to_pylist()[0]
    # the raw score grows with the evidence; the emitted confidence is its calibrated value
    with raw_confidences("anchors"):
        raw_long = infer_anchors(stays, places, tz="UTC")
        short = infer_anchors(*_hand(9), tz="UTC")
    c_long = raw_long.filter(pc.equal(raw_long.column("label"), "home")).column("confidence")[0].as_py()
    c_short = short.filter(pc.equal(short.column("label"), "home")).column("confidence")[0].as_py()
    assert c_long > c_short > 0.5
    emitted = a.filter(pc.equal(a.column("label"), "home")).column("confidence")[0].as_py()
    assert emitted == pytest.approx(apply("anchors", c_long))
    assert "night shifts" not in str(a.column("evidence").to_pylist())
    # the days are in local time: in Sydney (UTC+11) the stays at "h" fall at 09:00-18:00 and those at
    # "w" at 20:00-04:00 local, which reads as night shifts at "w" followed by sleep at "h"
    syd = infer_anchors(stays, places, tz="Australia/Sydney")
    work = syd.filter(pc.equal(syd.column("label"), "work"))
    assert work.column("place_id").to_pylist() == ["w"]
    assert "night shifts" in work.column("evidence")[0].as_py()


def test_bad_arguments() -> None:
    stays, places = _hand(3)
    with pytest.raises(InputError, match="min_days"):
        infer_anchors(stays, places, min_days=-1)
    with pytest.raises(InputError, match="abstain_below"):
        infer_anchors(stays, places, abstain_below=2.0)
    with pytest.raises(SchemaError, match="entity"):
        infer_anchors(stays.drop_columns(["entity"]), places)
    with pytest.raises(InputError, match="time zone"):
        infer_anchors(stays, places, tz="Nowhere/Land")
    empty = infer_anchors(stays.slice(0, 0), places, tz="UTC")
    assert empty.num_rows == 0 and empty.schema.equals(ANCHOR, check_metadata=False)


def _plan(days: list[list[tuple[str, float, float]]]) -> pa.Table:
    """Stays from a day-by-day plan of (place, start hour, end hour) in UTC; hours may pass 24."""
    h, d = 3_600_000_000, 86_400_000_000
    rows = [(k, p, a, b) for k, plan in enumerate(days) for p, a, b in plan]
    return pa.table(
        {
            "entity": ["ann"] * len(rows),
            "start": pa.array([d * k + int(a * h) for k, _, a, _ in rows], pa.timestamp("us", tz="UTC")),
            "end": pa.array([d * k + int(b * h) for k, _, _, b in rows], pa.timestamp("us", tz="UTC")),
            "place_id": [p for _, p, _, _ in rows],
        }
    )


HAND_PLACES = pa.table(
    {"place_id": ["h", "w", "new", "hotel"], "lat": [52.0, 52.01, 52.02, 48.0], "lon": [5.0, 5.0, 5.0, 2.0]}
)


def _day(home: str, weekday: bool) -> list[tuple[str, float, float]]:
    if weekday:
        return [(home, 0, 8), ("w", 8.5, 17), (home, 17.5, 24)]
    return [(home, 0, 24)]


def _weeks(n_days: int, home_of: list[str] | None = None) -> list[list[tuple[str, float, float]]]:
    out = []
    for k in range(n_days):
        dow = (k + 3) % 7  # day 0 (1970-01-01) is a Thursday
        out.append(_day(home_of[k] if home_of else "h", dow < 5))
    return out


def test_hand_made_move_and_a_trip_at_the_end() -> None:
    homes = ["h"] * 12 + ["new"] * 16
    a = infer_anchors(_plan(_weeks(28, homes)), HAND_PLACES, tz="UTC").to_pylist()
    home = [r for r in a if r["label"] == "home"]
    assert [r["place_id"] for r in home] == ["h", "new"]
    moved = datetime(1970, 1, 13, tzinfo=UTC)  # day 12
    assert abs((home[0]["valid_to"] - moved).total_seconds()) <= 86400
    assert home[1]["valid_from"] == home[0]["valid_to"] and home[0]["valid_from"] is None
    # two nights in a hotel at the very end are not a move
    plan = _weeks(28)
    plan[26] = plan[27] = [("hotel", 0, 24)]
    b = infer_anchors(_plan(plan), HAND_PLACES, tz="UTC").to_pylist()
    assert [(r["place_id"], r["valid_to"]) for r in b if r["label"] == "home"] == [("h", None)]


def test_hand_made_night_shift() -> None:
    # works 21:00-05:30 at "w" Sunday to Thursday nights, sleeps at "h" 06:00-15:00
    plan = []
    for k in range(28):
        dow = (k + 3) % 7
        shift_tonight = dow in (6, 0, 1, 2, 3)
        shift_last_night = dow in (0, 1, 2, 3, 4)
        day: list[tuple[str, float, float]] = []
        day.append(("w", 0, 5.5) if shift_last_night else ("h", 0, 5.5))
        day.append(("h", 6, 20.5) if shift_tonight else ("h", 6, 24))
        if shift_tonight:
            day.append(("w", 21, 24))
        plan.append(day)
    a = infer_anchors(_plan(plan), HAND_PLACES, tz="UTC").to_pylist()
    labels = {r["label"]: r for r in a if not r["abstained"]}
    assert labels["home"]["place_id"] == "h" and labels["work"]["place_id"] == "w"
    assert (
        "night shifts" in labels["work"]["evidence"] and "after a night shift" in labels["home"]["evidence"]
    )


def test_workplace_split_by_noise_is_merged() -> None:
    # weekdays rotate between three places 100 m apart (one office seen through noisy positions)
    places = pa.table(
        {
            "place_id": ["h", "w1", "w2", "w3"],
            "lat": [52.0, 52.02, 52.0209, 52.0218],
            "lon": [5.0, 5.0, 5.0, 5.0],
        }
    )
    plan: list[list[tuple[str, float, float]]] = []
    for k in range(28):
        if (k + 3) % 7 < 5:
            plan.append([("h", 0, 8), (("w1", "w2", "w3")[k % 3], 8.5, 17), ("h", 17.5, 24)])
        else:
            plan.append([("h", 0, 24)])
    stays = _plan(plan)
    apart = infer_anchors(stays, places, tz="UTC", merge_m=0)
    assert "work" not in apart.column("label").to_pylist()  # each place alone: a third of the weekdays
    merged = infer_anchors(stays, places, tz="UTC", merge_m=250).to_pylist()
    work = [r for r in merged if r["label"] == "work"]
    assert len(work) == 1 and "3 places within 250 m" in work[0]["evidence"]
    assert work[0]["lat"] == pytest.approx(52.0209, abs=0.0003)  # the dwell-weighted centre
    # by default the merge distance follows the stays' radius: tight GPS stays merge nothing
    tight = stays.append_column("radius_m", pa.array([10.0] * stays.num_rows))
    assert "work" not in infer_anchors(tight, places, tz="UTC").column("label").to_pylist()
    wide = stays.append_column("radius_m", pa.array([500.0] * stays.num_rows))
    assert "work" in infer_anchors(wide, places, tz="UTC").column("label").to_pylist()


@pytest.mark.parametrize("merge_m", [None, 0.0, 250.0])
def test_skipping_hopeless_candidates_changes_nothing(
    case: Case, merge_m: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The work and regular-place steps skip candidates that cannot qualify and group with one sort;
    the anchors are those of the reference steps that weigh every candidate, row for row."""
    from hereabouts.analysis import anchors
    from hereabouts.kernels.reference import anchors_regular_reference, anchors_work_reference

    fast = infer_anchors(case.stays, case.places, merge_m=merge_m)
    assert fast.num_rows > 0 and "work" in fast.column("label").to_pylist()
    monkeypatch.setattr(anchors, "_work", anchors_work_reference)
    monkeypatch.setattr(anchors, "_regular", anchors_regular_reference)
    ref = infer_anchors(case.stays, case.places, merge_m=merge_m)
    assert fast.equals(ref)


# ------------------------------------------------------------------------------ coarse (cell) positions


@pytest.fixture(scope="module")
def cell() -> tuple[pa.Table, dict[str, dict[str, object]], dict[str, str], list[dict[str, object]]]:
    sim = simulate(agents=24, days=14, seed=4, profile="cell")
    phones = {str(d["device"]): str(d["agent"]) for d in sim.devices.to_pylist() if d["kind"] == "phone"}
    agents = {str(a["agent"]): a for a in sim.true_agents.to_pylist()}
    return sim.fixes, agents, phones, sim.true_anchors.to_pylist()


@pytest.mark.slow  # a simulated cell town: a few seconds
def test_cell_fixes_give_no_stays_but_coarse_anchors(
    cell: tuple[pa.Table, dict[str, dict[str, object]], dict[str, str], list[dict[str, object]]],
) -> None:
    fixes, _agents, phones, truth = cell
    stays = detect_stays(fixes)
    assert stays.num_rows == 0  # 600 m positions: nothing fits a 100 m stay
    places = cluster_places(stays, towns=False)
    a = infer_anchors(stays, places, fixes=fixes).to_pylist()
    assert a and all("coarse positions" in str(r["method"]) for r in a)
    home_hits = home_n = work_hits = work_n = false_work = n_without = 0
    for dev, agent in phones.items():
        rows = [r for r in a if r["entity"] == dev and not r["abstained"]]
        homes = [r for r in rows if r["label"] == "home"]
        work = [r for r in rows if r["label"] == "work"]
        t_home = [t for t in truth if t["agent"] == agent and t["kind"] == "home"]
        t_work = [t for t in truth if t["agent"] == agent and t["kind"] in ("work", "school")]
        home_n += 1
        home_hits += bool(homes) and any(_near(homes[0], t) for t in t_home)
        if t_work:
            work_n += 1
            work_hits += bool(work) and any(_near(work[0], t) for t in t_work)
        else:
            n_without += 1
            false_work += bool(work)
        assert all(r["place_id"] is None and "cell-level positions" in str(r["evidence"]) for r in rows)
    assert home_n >= 20 and home_hits / home_n >= 0.9
    assert work_n >= 10 and work_hits / work_n >= 0.8
    assert false_work <= max(1, n_without // 10)


@pytest.mark.slow  # a simulated cell town: a few seconds
def test_coarse_night_shift_worker_sleeps_at_home(
    cell: tuple[pa.Table, dict[str, dict[str, object]], dict[str, str], list[dict[str, object]]],
) -> None:
    fixes, agents, phones, truth = cell
    nightly = [d for d, a in phones.items() if agents[a]["role"] == "night_worker"]
    if not nightly:
        pytest.fail("the simulated town has no night worker; pick another seed")
    a = coarse_anchors(
        fixes.filter(pc.is_in(fixes.column("device"), pa.array(nightly))).rename_columns(
            ["entity" if c == "device" else c for c in fixes.column_names]
        )
    ).to_pylist()
    for dev in nightly:
        agent = phones[dev]
        home = [r for r in a if r["entity"] == dev and r["label"] == "home" and not r["abstained"]]
        work = [r for r in a if r["entity"] == dev and r["label"] == "work" and not r["abstained"]]
        t_home = next(t for t in truth if t["agent"] == agent and t["kind"] == "home")
        t_work = next(t for t in truth if t["agent"] == agent and t["kind"] == "work")
        assert home and _near(home[0], t_home) and not _near(home[0], t_work)
        assert work and _near(work[0], t_work) and "night shifts" in str(work[0]["evidence"])


@pytest.mark.slow  # a simulated cell town: a few seconds
def test_coarse_thin_data_abstains(
    cell: tuple[pa.Table, dict[str, dict[str, object]], dict[str, str], list[dict[str, object]]],
) -> None:
    fixes, _, phones, _ = cell
    dev = sorted(phones)[0]
    one = fixes.filter(pc.equal(fixes.column("device"), dev)).rename_columns(
        ["entity" if c == "device" else c for c in fixes.column_names]
    )
    t = one.column("t")
    t0 = pc.min(t).as_py()
    # five days of data: too few days
    short = one.filter(pc.less(t, pa.scalar(t0 + (datetime(2000, 1, 6) - datetime(2000, 1, 1)), t.type)))
    a = coarse_anchors(short).to_pylist()
    assert [r["label"] for r in a] == ["home", "work"] and all(r["abstained"] for r in a)
    assert "days of data" in str(a[0]["evidence"])
    # the days are there but only every 12th fix: each night too thin to place anyone
    sparse = one.take(pa.array(np.arange(0, one.num_rows, 12)))
    b = coarse_anchors(sparse).to_pylist()
    assert b[0]["label"] == "home" and b[0]["abstained"] and "observed nights" in str(b[0]["evidence"])


def test_coarse_entities_only_take_the_coarse_path(case: Case) -> None:
    # GPS entities keep the stays path even when their fixes are passed
    dev = sorted(case.phones)[0]
    fake = pa.table(
        {
            "entity": [dev] * 3,
            "t": pa.array([0, 60_000_000, 120_000_000], pa.timestamp("us", tz="UTC")),
            "lat": [52.0] * 3,
            "lon": [5.0] * 3,
            "accuracy_m": [8.0] * 3,
        }
    )
    a = infer_anchors(case.stays, case.places, fixes=fake)
    assert a.equals(case.anchors)
    with pytest.raises(InputError, match="coarse_accuracy_m"):
        infer_anchors(case.stays, case.places, fixes=fake, coarse_accuracy_m=-1)


def test_position_precision_and_clustering() -> None:
    # the chance that a mean of n fixes lands within 100 m grows with n and falls with the error
    assert _p_within(600.0, 10) < _p_within(600.0, 100) < _p_within(600.0, 1000) <= 1.0
    assert _p_within(600.0, 36) == pytest.approx(1 - np.exp(-1.0))
    assert _p_within(300.0, 10) > _p_within(600.0, 10)
    assert _p_within(600.0, 0) == 0.0
    # two groups 2 km apart, the larger first; a far single point is its own cluster
    px = np.array([0.0, 50, -40, 30, 2000, 2050, 1990, 9000])
    py = np.array([0.0, 20, 10, -30, 0, 40, -20, 0])
    labels, centres = _cluster_points(px, py, 250.0)
    assert labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 2]
    assert centres[0][0] == pytest.approx(15.0) and centres[1][0] == pytest.approx(2000.0)
