"""Determinism and plausibility of the simulated population, plans and trips."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from hereabouts import InputError
from hereabouts.model.schemas import FIX, SCAN, validate
from hereabouts.sim import PROFILES, TRUTH_TABLES, Simulation, simulate

TZ = ZoneInfo("Europe/Amsterdam")


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()


def test_same_seed_gives_equal_tables(small_sim: Simulation) -> None:
    again = simulate(agents=20, days=7, seed=11)
    for name, table in small_sim.tables().items():
        assert table.equals(again.tables()[name]), name
    assert small_sim.manifest == again.manifest


def test_different_seed_gives_different_tables(small_sim: Simulation) -> None:
    other = simulate(agents=20, days=7, seed=12)
    assert not other.fixes.equals(small_sim.fixes)
    assert not other.true_stays.equals(small_sim.true_stays)
    assert not other.true_places.equals(small_sim.true_places)


def test_small_run_is_fast() -> None:
    t0 = time.perf_counter()
    sim = simulate(agents=20, days=7, seed=99)
    elapsed = time.perf_counter() - t0
    assert sim.fixes.num_rows > 1000
    assert elapsed < 10.0, f"20 agents x 7 days took {elapsed:.1f} s"


def test_tables_follow_the_tier_schemas(small_sim: Simulation) -> None:
    assert small_sim.fixes.schema.equals(FIX, check_metadata=False)
    validate(small_sim.fixes, "fix")
    validate(small_sim.scans, "scan")
    assert small_sim.scans.schema.names[: len(SCAN)] == SCAN.names
    assert set(small_sim.tables()) == {"fixes", "scans", *TRUTH_TABLES}
    # every fix device is a known device; fixes are sorted by device then time
    devices = set(small_sim.devices.column("device").to_pylist())
    assert set(pc.unique(small_sim.fixes.column("device")).to_pylist()) <= devices
    dev = small_sim.fixes.column("device").to_numpy(zero_copy_only=False)
    t = small_sim.fixes.column("t").cast(pa.int64()).to_numpy()
    key = np.lexsort((t, dev))
    assert (key == np.arange(len(t))).all()


def test_every_agent_has_a_home_and_workers_a_workplace(small_sim: Simulation) -> None:
    anchors = _rows(small_sim.true_anchors)
    homes = {a["agent"] for a in anchors if a["kind"] == "home" and a["primary"]}
    agents = small_sim.true_agents.column("agent").to_pylist()
    assert homes == set(agents)
    roles = dict(zip(agents, small_sim.true_agents.column("role").to_pylist(), strict=True))
    work = {a["agent"] for a in anchors if a["kind"] == "work"}
    assert {a for a, r in roles.items() if r in ("day_worker", "night_worker")} == work
    # and the agent really sleeps at the home: the stay covering 03:00 local on a weekend night
    stays = _rows(small_sim.true_stays)
    by_agent = defaultdict(list)
    for s in stays:
        by_agent[s["agent"]].append(s)
    home_of = {a["agent"]: a["place_id"] for a in anchors if a["kind"] == "home" and a["primary"]}
    night = datetime(2025, 3, 8, 3, 0, tzinfo=TZ)  # Saturday 03:00
    at_home = 0
    for agent, ss in by_agent.items():
        covering = [s for s in ss if s["start"] <= night < s["end"]]
        assert len(covering) == 1, agent
        at_home += covering[0]["place_id"] == home_of[agent]
    assert at_home >= 0.8 * len(by_agent)


def test_stays_and_trips_alternate_without_overlap(small_sim: Simulation) -> None:
    stays = {s["stay_id"]: s for s in _rows(small_sim.true_stays)}
    trips = _rows(small_sim.true_trips)
    assert trips
    for tr in trips:
        a, b = stays[tr["from_stay"]], stays[tr["to_stay"]]
        assert a["agent"] == b["agent"] == tr["agent"]
        assert a["end"] == tr["start"] < tr["end"] == b["start"]
        assert a["place_id"] == tr["from_place"] != tr["to_place"] == b["place_id"]
        assert tr["path_t"][0] == tr["start"] and tr["path_t"][-1] == tr["end"]
        assert all(x <= y for x, y in zip(tr["path_t"][:-1], tr["path_t"][1:], strict=True))
    start = datetime(2025, 3, 3, tzinfo=TZ)
    end = start + timedelta(days=7)
    by_agent = defaultdict(list)
    for s in stays.values():
        by_agent[s["agent"]].append(s)
    for ss in by_agent.values():
        ss.sort(key=lambda s: s["start"])
        assert ss[0]["start"] == start and ss[-1]["end"] == end
        assert ss[0]["truncated"] and ss[-1]["truncated"]
        assert all(x["end"] <= y["start"] for x, y in itertools.pairwise(ss))


def test_night_shift_workers_are_at_work_at_night() -> None:
    sim = simulate(agents=120, days=7, seed=3, profile="gps-15min")
    roles = dict(
        zip(
            sim.true_agents.column("agent").to_pylist(),
            sim.true_agents.column("role").to_pylist(),
            strict=True,
        )
    )
    night_workers = [a for a, r in roles.items() if r == "night_worker"]
    assert night_workers
    work = {a["agent"]: a["place_id"] for a in _rows(sim.true_anchors) if a["kind"] == "work"}
    stays = _rows(sim.true_stays)
    # Monday to Thursday 02:00 local follows a Sunday-to-Wednesday night shift
    nights = [datetime(2025, 3, d, 2, 0, tzinfo=TZ) for d in (4, 5, 6, 7)]
    for agent in night_workers:
        at_work = 0
        for moment in nights:
            covering = [s for s in stays if s["agent"] == agent and s["start"] <= moment < s["end"]]
            at_work += covering[0]["place_id"] == work[agent]
        assert at_work == len(nights), agent
    # day workers are not at work at 02:00
    day_workers = [a for a, r in roles.items() if r == "day_worker"]
    for agent in day_workers:
        covering = [s for s in stays if s["agent"] == agent and s["start"] <= nights[0] < s["end"]]
        assert covering[0]["place_id"] != work[agent]


def test_trips_follow_the_road_graph(small_sim: Simulation) -> None:
    roads = small_sim.true_roads
    edges = set(zip(roads.column("u").to_pylist(), roads.column("v").to_pylist(), strict=True))
    edges |= {(v, u) for u, v in edges}
    node_pos: dict[int, tuple[float, float]] = {}
    for r in _rows(roads):
        node_pos[r["u"]] = (r["u_lat"], r["u_lon"])
        node_pos[r["v"]] = (r["v_lat"], r["v_lon"])
    hops = 0
    for tr in _rows(small_sim.true_trips):
        nodes = tr["path_node"]
        assert nodes[0] == nodes[1] == nodes[-1] == nodes[-2] == -1  # building and kerb at each end
        inner = nodes[2:-2]
        assert all(n >= 0 for n in inner)
        for u, v in itertools.pairwise(inner):
            assert u == v or (u, v) in edges, (tr["trip_id"], u, v)
            hops += u != v
        for k, n in enumerate(nodes):
            if n >= 0:  # the path point is the node's position
                assert abs(tr["path_lat"][k] - node_pos[n][0]) < 1e-9
                assert abs(tr["path_lon"][k] - node_pos[n][1]) < 1e-9
        # the kerb point lies on a street leaving the first node (within 1 m)
        lat0, lon0 = np.radians(52.09), 0
        kx, ky = tr["path_lon"][1], tr["path_lat"][1]
        n0 = inner[0]
        best = min(
            _seg_dist_m((kx, ky), node_pos[n0][::-1], node_pos[o][::-1]) for (u, o) in edges if u == n0
        )
        assert best < 1.0, (tr["trip_id"], best, lat0, lon0)
    assert hops > 100


def _seg_dist_m(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    k = np.cos(np.radians(52.09))
    px, py = p[0] * k * 111_195, p[1] * 111_195
    ax, ay = a[0] * k * 111_195, a[1] * 111_195
    bx, by = b[0] * k * 111_195, b[1] * 111_195
    dx, dy = bx - ax, by - ay
    f = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return float(np.hypot(px - ax - f * dx, py - ay - f * dy))


def test_trip_speeds_match_their_mode(small_sim: Simulation) -> None:
    limits = {"walk": (0.8, 1.6), "bike": (3.0, 5.0), "car": (2.5, 12.0), "transit": (0.8, 8.0)}
    seen = set()
    for tr in _rows(small_sim.true_trips):
        secs = (tr["end"] - tr["start"]).total_seconds()
        v = tr["distance_m"] / secs
        lo, hi = limits[tr["mode"]]
        assert lo <= v <= hi, (tr["mode"], v)
        seen.add(tr["mode"])
        if tr["mode"] == "transit":
            assert tr["transit_line"] is not None
    assert {"walk", "bike"} <= seen


def test_exploration_share_is_epr_like(small_sim: Simulation, dst_sim: Simulation) -> None:
    for sim in (small_sim, dst_sim):
        new = sim.true_trips.column("new_place").to_numpy(zero_copy_only=False)
        share = float(new.mean())
        assert 0.15 <= share <= 0.30, share
        assert sim.manifest["exploration"]["new_place_trip_share"] == pytest.approx(share, abs=1e-4)
        # new places are never places the agent knew: its home and work are not among them (a home
        # moved into during the period is new)
        t0 = sim.true_stays.column("start")[0].as_py()
        anchors = {(a["agent"], a["place_id"]) for a in _rows(sim.true_anchors) if a["valid_from"] == t0}
        for tr in _rows(sim.true_trips):
            if tr["new_place"]:
                assert (tr["agent"], tr["to_place"]) not in anchors


def test_schedules_are_in_local_time_across_dst(dst_sim: Simulation) -> None:
    assert dst_sim.manifest["timezone"] == "Europe/Amsterdam"
    changes = dst_sim.manifest["period"]["dst_changes"]
    assert changes == [{"utc": "2025-03-30T01:00:00+00:00", "offset_before_s": 3600, "offset_after_s": 7200}]
    roles = dict(
        zip(
            dst_sim.true_agents.column("agent").to_pylist(),
            dst_sim.true_agents.column("role").to_pylist(),
            strict=True,
        )
    )
    work = {a["agent"]: a["place_id"] for a in _rows(dst_sim.true_anchors) if a["kind"] == "work"}
    before_local, after_local, before_utc, after_utc = [], [], [], []
    for s in _rows(dst_sim.true_stays):
        if (
            roles[s["agent"]] == "day_worker"
            and s["place_id"] == work.get(s["agent"])
            and s["activity"] == "work"
        ):
            arrive = s["start"]
            local = arrive.astimezone(TZ)
            if local.weekday() >= 5 or local.hour >= 11:
                continue
            hours_local = local.hour + local.minute / 60
            hours_utc = arrive.hour + arrive.minute / 60
            if local.date() < date(2025, 3, 30):
                before_local.append(hours_local)
                before_utc.append(hours_utc)
            else:
                after_local.append(hours_local)
                after_utc.append(hours_utc)
    assert len(before_local) > 20 and len(after_local) > 20
    assert abs(np.median(before_local) - np.median(after_local)) < 0.25
    assert 0.75 < np.median(before_utc) - np.median(after_utc) < 1.25
    # the stays' local offset follows the change
    offs = {
        s["start"].astimezone(TZ).utcoffset().total_seconds() == s["tz_offset_s"]
        for s in _rows(dst_sim.true_stays)
    }
    assert offs == {True}


def test_households_move_and_people_with_two_homes_sleep_at_both() -> None:
    sim = simulate(agents=200, days=14, seed=8, profile="gps-15min")
    agents = _rows(sim.true_agents)
    movers = [a["agent"] for a in agents if a["moves_house"]]
    two = [a["agent"] for a in agents if a["two_homes"]]
    assert movers and two
    anchors = _rows(sim.true_anchors)
    stays = _rows(sim.true_stays)
    for agent in movers:
        homes = sorted(
            (a for a in anchors if a["agent"] == agent and a["kind"] == "home" and a["primary"]),
            key=lambda a: a["valid_from"],
        )
        assert len(homes) == 2 and homes[0]["valid_to"] == homes[1]["valid_from"]
        assert homes[0]["place_id"] != homes[1]["place_id"]
        slept = {
            s["place_id"]
            for s in stays
            if s["agent"] == agent
            and s["activity"] == "home"
            and s["start"] > homes[1]["valid_from"] + timedelta(days=1)
        }
        assert homes[1]["place_id"] in slept and homes[0]["place_id"] not in slept
    for agent in two:
        both = {a["place_id"] for a in anchors if a["agent"] == agent and a["kind"] == "home"}
        assert len(both) == 2
        nights = set()
        for day in range(3, 17):
            moment = datetime(2025, 3, day, 3, 0, tzinfo=TZ)
            covering = [s for s in stays if s["agent"] == agent and s["start"] <= moment < s["end"]]
            nights.add(covering[0]["place_id"])
        assert nights == both


def test_ties_and_strangers_meet(small_sim: Simulation) -> None:
    """Friends meet at venues; strangers share office blocks, gyms and buses."""
    sim = simulate(agents=150, days=7, seed=4, profile="gps-15min")
    ties = _rows(sim.ties)
    kinds = {t["kind"] for t in ties}
    assert kinds == {"household", "friend", "family"}
    stays = _rows(sim.true_stays)
    by_place = defaultdict(list)
    for s in stays:
        by_place[s["place_id"]].append(s)
    tied = {(t["agent_a"], t["agent_b"]) for t in ties} | {(t["agent_b"], t["agent_a"]) for t in ties}

    def overlapping(ss: list[dict[str, object]]) -> set[tuple[str, str]]:
        out = set()
        for i, a in enumerate(ss):
            for b in ss[i + 1 :]:
                if a["agent"] != b["agent"] and a["start"] < b["end"] and b["start"] < a["end"]:  # type: ignore[operator]
                    out.add((str(a["agent"]), str(b["agent"])))
        return out

    friends_met = 0
    for t in ties:
        if t["kind"] == "friend" and t["meetings"]:
            a_st = [s for s in stays if s["agent"] == t["agent_a"] and s["activity"] == "social"]
            b_st = [s for s in stays if s["agent"] == t["agent_b"] and s["activity"] == "social"]
            friends_met += any(
                x["place_id"] == y["place_id"] and x["start"] < y["end"] and y["start"] < x["end"]
                for x in a_st
                for y in b_st
            )
    assert friends_met >= 5
    place_kind = dict(
        zip(
            sim.true_places.column("place_id").to_pylist(),
            sim.true_places.column("kind").to_pylist(),
            strict=True,
        )
    )
    strangers_by_kind: dict[str, int] = defaultdict(int)
    for place, ss in by_place.items():
        for pair in overlapping(ss):
            if pair not in tied:
                strangers_by_kind[place_kind[place]] += 1
    assert strangers_by_kind["work"] > 20
    assert strangers_by_kind["gym"] > 0
    # shared office blocks: distinct employers in one building
    places = _rows(sim.true_places)
    per_building = defaultdict(set)
    for p in places:
        if p["kind"] == "work":
            per_building[p["building_id"]].add(p["place_id"])
    assert max(len(v) for v in per_building.values()) >= 2
    # co-riders: two transit trips on the same line pass the same node at the same second
    passes = defaultdict(set)
    for tr in _rows(sim.true_trips):
        if tr["mode"] == "transit":
            for n, t in zip(tr["path_node"], tr["path_t"], strict=True):
                if n >= 0:
                    passes[(tr["transit_line"], n, t)].add(tr["agent"])
    assert any(len(v) >= 2 for v in passes.values())
    shared = {frozenset(v) for v in passes.values() if len(v) == 2}
    cop = sim.manifest["copresence"]
    assert cop["agent_pairs_sharing_a_bus"] >= len(shared) > 0
    assert cop["stay_pairs_per_day_by_place_kind"]["work"] > 0
    assert "home" not in cop["stay_pairs_per_day_by_place_kind"]


def test_family_car_follows_its_drivers(small_sim: Simulation) -> None:
    sim = simulate(agents=60, days=4, seed=21, profile="tracker")
    cars = [d for d in _rows(sim.devices) if d["kind"] == "car"]
    assert cars
    car_trips = [t for t in _rows(sim.true_trips) if t["mode"] == "car"]
    assert car_trips
    devices_of = defaultdict(list)
    for d in _rows(sim.devices):
        devices_of[d["household"]].append(d)
    agent_hh = dict(
        zip(
            sim.true_agents.column("agent").to_pylist(),
            sim.true_agents.column("household").to_pylist(),
            strict=True,
        )
    )
    checked = 0
    for tr in car_trips[:40]:
        car = next(d for d in devices_of[agent_hh[tr["agent"]]] if d["kind"] == "car")
        assert tr["agent"] in car["users"]
        t_us = [int(t.timestamp() * 1e6) for t in tr["path_t"]]
        lat, lon = sim.true_position(car["device"], t_us)
        assert np.allclose(lat, tr["path_lat"], atol=1e-9) and np.allclose(lon, tr["path_lon"], atol=1e-9)
        checked += 1
    assert checked >= 10


def test_forced_profile_applies_to_every_device() -> None:
    sim = simulate(agents=5, days=1, seed=2, profile="cell")
    assert set(sim.devices.column("profile").to_pylist()) == {"cell"}
    assert set(sim.fixes.column("provider").to_pylist()) == {"cell"}
    assert sim.manifest["parameters"]["profile"] == "cell"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"agents": 0, "days": 1}, "agents"),
        ({"agents": 2, "days": 0}, "days"),
        ({"agents": 2, "days": 1, "profile": "gps-2min"}, "gps-1min"),
        ({"agents": 2, "days": 1, "formats": ("kml",)}, "geoparquet"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(InputError, match=words):
        simulate(seed=1, **kwargs)  # type: ignore[arg-type]


def test_profiles_are_documented() -> None:
    assert set(PROFILES) == {
        "gps-1min",
        "gps-5min-50m-gaps",
        "gps-wifi",
        "gps-15min",
        "wifi",
        "cell",
        "duty-cycled",
        "significant-change",
        "tracker",
    }
    for p in PROFILES.values():
        assert p.description and p.provider in ("gps", "wifi", "cell")


def test_clock_converts_local_wall_time_across_dst() -> None:
    from hereabouts.sim._geo import Clock

    clock = Clock("Europe/Amsterdam", date(2025, 3, 24), 14)
    day = 86400.0
    # 07:30 local on Friday 28 March (UTC+1) and on Monday 31 March (UTC+2)
    utc = clock.to_utc(np.array([4 * day + 7.5 * 3600, 7 * day + 7.5 * 3600]))
    expect = [
        datetime(2025, 3, 28, 6, 30, tzinfo=ZoneInfo("UTC")),
        datetime(2025, 3, 31, 5, 30, tzinfo=ZoneInfo("UTC")),
    ]
    assert [datetime.fromtimestamp(u, tz=ZoneInfo("UTC")) for u in utc] == expect
    assert clock.offset_at(utc).tolist() == [3600, 7200]
    assert np.allclose(clock.wall_of(utc), [4 * day + 7.5 * 3600, 7 * day + 7.5 * 3600])
    assert clock.wall_of_scalar(float(utc[1])) == pytest.approx(7 * day + 7.5 * 3600)
    assert clock.t0 == datetime(2025, 3, 24, tzinfo=TZ).timestamp()
    assert clock.t_end == datetime(2025, 4, 7, tzinfo=TZ).timestamp()


def test_more_households_than_homes_does_not_fail() -> None:
    # seed 102 draws more households than the town has homes; they share homes instead of failing
    from hereabouts.sim import simulate

    sim = simulate(agents=100, days=1, seed=102)
    assert sim.true_agents.num_rows == 100
