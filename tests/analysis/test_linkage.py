"""Stream linkage on hand-built streams whose carriers are known: one person's phone and watch, a
household member who shares home and some commutes, a bus rider, a single coincidence, gaps; then
the proposals, the accepted merge with its audit entry, and the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import hereabouts as hb
from hereabouts.analysis import linkage as lk
from hereabouts.analysis._geo import from_enu
from hereabouts.io.writers import write_geoparquet
from hereabouts.model.errors import InputError

LAT0, LON0 = 52.09, 5.12
T0 = 1_741_000_000 - 1_741_000_000 % 86400  # a UTC midnight
DAY = 86400.0

# places (east, north in metres)
HOME = (0.0, 0.0)
WORK_P = (3000.0, 500.0)
WORK_H = (-2500.0, 1500.0)  # the household member works elsewhere
HOME_R = (1500.0, -2500.0)  # the bus rider lives and works elsewhere
WORK_R = (4000.0, 2500.0)
SHOPS = [(800.0, 900.0), (-600.0, 1200.0), (1500.0, -700.0), (2200.0, 1800.0), (-1200.0, -900.0)]

Plan = list[tuple[float, tuple[float, float]]]  # (seconds of day, where) knots; straight between


def _day_p(d: int) -> Plan:
    shop = SHOPS[d % len(SHOPS)]
    return [
        (0, HOME),
        (8 * 3600, HOME),
        (8 * 3600 + 1200, WORK_P),  # 20 min commute, moving
        (17 * 3600, WORK_P),
        (17 * 3600 + 900, shop),
        (18 * 3600, shop),
        (18 * 3600 + 600, HOME),
        (DAY, HOME),
    ]


def _day_h(d: int) -> Plan:
    """Home with P at night; on days 1 and 3 leaves with P on the same path for 10 minutes (to
    P's commute midpoint) and then goes on to its own work, far away."""
    if d in (1, 3):
        mid = (1500.0, 250.0)
        return [
            (0, HOME),
            (8 * 3600, HOME),
            (8 * 3600 + 600, mid),
            (8 * 3600 + 1500, WORK_H),
            (17 * 3600, WORK_H),
            (17 * 3600 + 1200, HOME),
            (DAY, HOME),
        ]
    return [
        (0, HOME),
        (8 * 3600 + 300, HOME),
        (8 * 3600 + 1500, WORK_H),
        (17 * 3600, WORK_H),
        (17 * 3600 + 1200, HOME),
        (DAY, HOME),
    ]


def _day_r(d: int) -> Plan:
    """Lives and works elsewhere; rides with P on P's commute path every weekday morning."""
    a, b = (1000.0, 166.7), (2500.0, 416.7)  # where P is 400 s and 1000 s into its commute
    return [
        (0, HOME_R),
        (7 * 3600 + 3000, HOME_R),
        (8 * 3600 + 400, a),
        (8 * 3600 + 1000, b),
        (8 * 3600 + 1800, WORK_R),
        (17 * 3600, WORK_R),
        (17 * 3600 + 1500, HOME_R),
        (DAY, HOME_R),
    ]


def _path(plan_of_day: object, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts, xs, ys = [], [], []
    for d in range(days):
        for s, (x, y) in plan_of_day(d):  # type: ignore[operator]
            ts.append(T0 + d * DAY + s)
            xs.append(x)
            ys.append(y)
    t = np.asarray(ts, np.float64)
    keep = np.concatenate([[True], np.diff(t) > 0])
    return t[keep], np.asarray(xs)[keep], np.asarray(ys)[keep]


def _device(
    name: str,
    plan_of_day: object,
    *,
    days: int = 5,
    every_s: float = 60.0,
    phase_s: float = 0.0,
    hours: tuple[float, float] = (0.0, 24.0),
    acc_m: float = 8.0,
    seed: int = 0,
    windows: Sequence[tuple[float, float]] | None = None,
) -> pa.Table:
    """Fixes of a device carried along ``plan_of_day`` (noise of ``acc_m`` RMS), every ``every_s``,
    only between ``hours`` of each day (and inside ``windows`` of absolute seconds when given)."""
    rng = np.random.default_rng(seed)
    pt, px, py = _path(plan_of_day, days)
    t = np.arange(T0 + phase_s, T0 + days * DAY, every_s)
    hod = (t - T0) % DAY / 3600.0
    t = t[(hod >= hours[0]) & (hod < hours[1])]
    if windows is not None:
        t = t[np.any([(t >= a) & (t < b) for a, b in windows], axis=0)]
    x = np.interp(t, pt, px)
    y = np.interp(t, pt, py)
    vx = np.interp(t + 1, pt, px) - x
    vy = np.interp(t + 1, pt, py) - y
    speed = np.hypot(vx, vy)
    sd = acc_m / math.sqrt(2)
    lat, lon = from_enu(x + rng.normal(0, sd, t.size), y + rng.normal(0, sd, t.size), LAT0, LON0)
    return pa.table(
        {
            "device": pa.array([name] * t.size, pa.string()),
            "t": pa.array((t * 1e6).astype(np.int64), pa.timestamp("us", tz="UTC")),
            "lat": lat,
            "lon": lon,
            "accuracy_m": np.full(t.size, acc_m),
            "speed_mps": np.abs(speed + rng.normal(0, 0.2, t.size)) * (speed > 0.1),
            "provider": pa.array(["gps"] * t.size),
        }
    )


@pytest.fixture(scope="module")
def town() -> pa.Table:
    return pa.concat_tables(
        [
            _device("p-phone", _day_p, every_s=60, seed=1),
            _device("p-watch", _day_p, every_s=60, phase_s=25, hours=(7, 22.5), seed=2),
            _device("h-phone", _day_h, every_s=60, phase_s=10, seed=3),
            _device("r-phone", _day_r, every_s=60, phase_s=40, seed=4),
        ]
    )


@pytest.fixture(scope="module")
def scored(town: pa.Table) -> dict[tuple[str, str], dict[str, object]]:
    pairs = [
        ("p-phone", "p-watch"),
        ("h-phone", "p-phone"),
        ("h-phone", "p-watch"),
        ("p-phone", "r-phone"),
        ("p-watch", "r-phone"),
    ]
    table = lk.score_links(town, pairs)
    assert table.schema.equals(lk.LINK_SCHEMA, check_metadata=False)
    return {(r["device_a"], r["device_b"]): r for r in table.to_pylist()}


def test_phone_and_watch_are_proposed_with_high_probability(scored: dict, town: pa.Table) -> None:
    r = scored[("p-phone", "p-watch")]
    assert r["relation"] == "same_carrier"
    assert r["probability"] >= 0.95
    assert r["llr"] > 10
    assert r["n_separations"] == 0
    assert r["n_moving_episodes"] >= 5  # a commute and an errand each day
    assert r["n_places"] >= 3  # home, work, shops
    assert r["n_days"] == 5 and r["n_days_together"] == 5
    assert len(r["days"]) == 5
    kinds = {e["kind"] for e in r["evidence"]}
    assert "moving_together" in kinds
    for e in r["evidence"]:
        assert e["start"] <= e["end"]
        assert e["distance_m"] < 100


def test_candidates_index_finds_the_pair(town: pa.Table) -> None:
    cand = lk.link_candidates(town)
    pairs = set(zip(cand.column("device_a").to_pylist(), cand.column("device_b").to_pylist(), strict=True))
    assert ("p-phone", "p-watch") in pairs
    # the bus rider shares only 10 minutes a day with P: never enough shared buckets
    assert ("p-phone", "r-phone") not in pairs
    assert lk.link_candidates(town, exclude=[("p-watch", "p-phone")]).num_rows < cand.num_rows


def test_household_member_sharing_home_and_commute_is_not_proposed(scored: dict) -> None:
    for pair in (("h-phone", "p-phone"), ("h-phone", "p-watch")):
        r = scored[pair]
        assert r["relation"] != "same_carrier"
        assert r["n_still_close"] > 100  # together at home every night
        assert r["n_separations"] >= 4  # but at different places every working day
        assert r["probability"] < 0.5
        assert any(e["kind"] == "separated" for e in r["evidence"])


def test_bus_rider_is_not_proposed(scored: dict) -> None:
    for pair in (("p-phone", "r-phone"), ("p-watch", "r-phone")):
        r = scored[pair]
        assert r["n_moving_close"] >= 5  # they did ride together every day
        assert r["relation"] != "same_carrier"
        assert r["probability"] < 0.5
        assert r["n_separations"] >= 5


def test_a_cell_tower_phone_is_judged_at_its_accuracy(town: pa.Table) -> None:
    """P's phone reports only cell-tower positions (600 m RMS, every 10 minutes): it follows P's watch
    home, to work and to the shops and is never apart from it for long, so it is proposed; H's cell
    phone is at home with P at night but at H's work by day, kilometres away: never proposed. Two
    coarse streams are never paired."""
    cells = pa.concat_tables(
        [
            _device("p-cell", _day_p, every_s=600, phase_s=100, acc_m=600.0, seed=5),
            _device("h-cell", _day_h, every_s=600, phase_s=200, acc_m=600.0, seed=6),
        ]
    )
    fixes = pa.concat_tables([town, cells])
    cand = lk.link_candidates(fixes)
    pairs = set(zip(cand.column("device_a").to_pylist(), cand.column("device_b").to_pylist(), strict=True))
    assert ("p-cell", "p-watch") in pairs
    assert ("h-cell", "p-cell") not in pairs
    rows = {
        (r["device_a"], r["device_b"]): r
        for r in lk.score_links(
            fixes, [("p-cell", "p-watch"), ("h-cell", "p-watch"), ("h-cell", "p-cell")]
        ).to_pylist()
    }
    same = rows[("p-cell", "p-watch")]
    assert same["coarse"] and same["relation"] == "same_carrier" and same["probability"] >= 0.9
    assert same["n_separations"] == 0 and same["n_places"] >= 2
    other = rows[("h-cell", "p-watch")]
    assert other["coarse"] and other["relation"] != "same_carrier" and other["probability"] < 0.05
    assert other["n_separations"] >= 3  # apart every working day
    # a coarse pair is proposed only at coarse_min_probability (0.9), whatever min_probability says
    strict = dataclasses.replace(lk.default_params(), coarse_min_probability=1.0)
    again = lk.score_links(fixes, [("p-cell", "p-watch")], params=strict).to_pylist()[0]
    assert again["probability"] == same["probability"] and again["relation"] == "none"
    both = rows[("h-cell", "p-cell")]
    assert both["n_epochs"] == 0 and both["relation"] == "none"
    # a fine stream's few coarse fixes are left out, as before: they never make the stream coarse
    stray = _device("p-phone", _day_p, every_s=7200, phase_s=30, acc_m=900.0, seed=7)
    fine = lk.score_links(pa.concat_tables([town, stray]), [("p-phone", "p-watch")]).to_pylist()[0]
    assert not fine["coarse"] and fine["relation"] == "same_carrier"


def test_a_single_coincidence_never_makes_a_proposal(town: pa.Table) -> None:
    # a stream that recorded only one trip, with P on day 2: perfect agreement, but once
    t2 = T0 + 2 * DAY + 8 * 3600
    once = _device("x-once", _day_p, every_s=30, seed=9, windows=[(t2, t2 + 1200)])
    fixes = pa.concat_tables([town, once])
    r = lk.score_links(fixes, [("p-phone", "x-once")]).to_pylist()[0]
    assert r["n_moving_close"] >= 2
    assert r["n_separations"] == 0
    assert r["relation"] == "none"
    assert r["n_days_together"] == 1
    cand = lk.link_candidates(fixes)
    assert "x-once" not in set(cand.column("device_a").to_pylist()) | set(cand.column("device_b").to_pylist())


def test_gaps_claim_nothing(town: pa.Table) -> None:
    # two streams on the same carrier that never record at the same time (alternate hours, and
    # fixes 2 h apart): nothing aligns, so nothing is claimed for or against
    hours_a = [(T0 + h * 3600, T0 + h * 3600 + 1500) for h in range(0, 5 * 24, 2)]
    hours_b = [(T0 + h * 3600 + 3600, T0 + h * 3600 + 5100) for h in range(0, 5 * 24, 2)]
    a = _device("gap-a", _day_p, every_s=60, seed=11, windows=hours_a)
    b = _device("gap-b", _day_p, every_s=60, seed=12, windows=hours_b)
    c = _device("gap-c", _day_h, every_s=7200, phase_s=4500, seed=13)  # always in a's gaps
    fixes = pa.concat_tables([a, b, c])
    rows = {
        (r["device_a"], r["device_b"]): r
        for r in lk.score_links(fixes, [("gap-a", "gap-b"), ("gap-a", "gap-c")]).to_pylist()
    }
    for r in rows.values():
        assert r["n_epochs"] == 0
        assert r["n_separations"] == 0 and r["n_apart"] == 0
        assert r["relation"] == "none"


def test_vehicle_tracker_travels_with_but_is_never_merged() -> None:
    # a tracker that records only while moving (every 30 s) plus an hourly heartbeat, always at
    # car speed; its driver's phone records all day
    def drive(d: int) -> Plan:
        return [
            (0, HOME),
            (8 * 3600, HOME),
            (8 * 3600 + 300, WORK_P),
            (17 * 3600, WORK_P),
            (17 * 3600 + 300, HOME),
            (DAY, HOME),
        ]

    moving = [(T0 + d * DAY + s, T0 + d * DAY + s + 300) for d in range(5) for s in (8 * 3600, 17 * 3600)]
    car = pa.concat_tables(
        [
            _device("car", drive, every_s=30, seed=21, windows=moving),
            _device("car", drive, every_s=3600, phase_s=600, seed=22),
        ]
    ).sort_by("t")
    phone = _device("driver", drive, every_s=60, seed=23)
    r = lk.score_links(pa.concat_tables([car, phone]), [("car", "driver")]).to_pylist()[0]
    assert r["n_moving_close"] >= 5
    assert r["relation"] == "travels_with"


def test_bad_input_is_refused(town: pa.Table) -> None:
    with pytest.raises(InputError, match="lat"):
        lk.link_candidates(town.drop(["lat"]))
    with pytest.raises(InputError, match="itself"):
        lk.score_links(town, [("p-phone", "p-phone")])
    with pytest.raises(InputError, match="min_probability"):
        lk.propose_links(town, min_probability=1.5)
    assert lk.score_links(town, []).num_rows == 0
    assert lk.link_candidates(town.slice(0, 0)).num_rows == 0


def test_propose_links_keeps_only_the_carrier(town: pa.Table) -> None:
    props = lk.propose_links(town)
    pairs = set(zip(props.column("device_a").to_pylist(), props.column("device_b").to_pylist(), strict=True))
    assert pairs == {("p-phone", "p-watch")}


# --------------------------------------------------------------------------- database and CLI


@pytest.fixture
def db_path(tmp_path: Path, town: pa.Table) -> Path:
    src = tmp_path / "town.parquet"
    write_geoparquet(town, src)
    path = tmp_path / "h.db"
    with hb.open(path) as db:
        db.import_(src)
        db.assign_device("p-phone", "pat")  # a named entity
    return path


def test_proposals_are_listed_not_applied(db_path: Path) -> None:
    with hb.open(db_path) as db:
        before = db.devices().to_pylist()
        props = db.link_proposals()
        assert [(r["device_a"], r["device_b"]) for r in props.to_pylist()] == [("p-phone", "p-watch")]
        assert db.devices().to_pylist() == before  # nothing merged
        assert db.audit_log().num_rows == 0


def test_accept_merges_and_audits(db_path: Path) -> None:
    with hb.open(db_path) as db:
        done = db.accept_link("p-watch", "p-phone", purpose="my own devices")
        # p-watch's entity was made automatically, pat was named: pat keeps both
        assert done["entity"] == "pat" and done["moved"] == ["p-watch"]
        ents = {r["entity"]: r["devices"] for r in db.entities().to_pylist()}
        assert ents["pat"] == ["p-phone", "p-watch"]
        assert "p-watch" not in ents  # the empty automatic entity is gone
        log = db.audit_log().to_pylist()
        assert log[-1]["action"] == "link" and log[-1]["purpose"] == "my own devices"
        what = json.loads(log[-1]["what"])
        assert what["device_a"] == "p-watch" and what["probability"] >= 0.95
        assert db.verify_audit().ok
        # already one entity: no second merge, and no more proposals
        with pytest.raises(InputError, match="already one entity"):
            db.accept_link("p-phone", "p-watch")
        assert db.link_proposals().num_rows == 0


def test_accept_refuses_a_non_proposal_unless_forced(db_path: Path) -> None:
    with hb.open(db_path) as db:
        with pytest.raises(InputError, match="not a same-carrier proposal"):
            db.accept_link("p-phone", "h-phone")
        assert db.audit_log().num_rows == 0
        done = db.accept_link("p-phone", "h-phone", force=True, purpose="test")
        assert done["forced"] is True
        assert json.loads(db.audit_log().to_pylist()[-1]["what"])["forced"] is True
        with pytest.raises(hb.HereaboutsError, match="no device"):
            db.accept_link("p-phone", "nobody")


def test_cli_lists_json_and_accepts(db_path: Path) -> None:
    from hereabouts.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["--db", str(db_path), "link", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["min_probability"] == 0.5
    [p] = data["proposals"]
    assert (p["device_a"], p["device_b"]) == ("p-phone", "p-watch")
    assert p["relation"] == "same_carrier" and p["probability"] >= 0.95
    assert p["evidence"] and p["days"]
    res = runner.invoke(app, ["--db", str(db_path), "link", "--min-probability", "0.5"])
    assert res.exit_code == 0 and "p-watch" in res.stdout
    res = runner.invoke(app, ["--db", str(db_path), "link", "p-phone"])
    assert res.exit_code != 0
    res = runner.invoke(
        app, ["--db", str(db_path), "link", "--accept", "p-phone", "p-watch", "--purpose", "mine", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["entity"] == "pat"
    with hb.open(db_path) as db:
        ents = {r["entity"]: r["devices"] for r in db.entities().to_pylist()}
        assert ents["pat"] == ["p-phone", "p-watch"]
        assert db.audit_log().to_pylist()[-1]["action"] == "link"
