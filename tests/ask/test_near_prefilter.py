"""The space-time prefilter of "who was with X" (:mod:`hereabouts._nearby`) gives exactly the episodes
of the full computation over every entity's fixes: on a simulated town (every entity, a day and all
the data, several radii and gaps), through a workspace's view, and for neighbours that sit at the edge
of the prefilter's grid or whose own fixes are far from X while their interpolated path passes it."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import hereabouts as hb
from hereabouts import _nearby
from hereabouts.analysis.copresence import who_was_near
from hereabouts.ask import query as q
from hereabouts.ask.execute import ask
from hereabouts.sim import simulate


def _full(db: hb.Database, entity: str, start: datetime | None, end: datetime | None, **p: Any) -> pa.Table:
    """Co-presence over every entity's fixes of the padded period: what ``near`` computed before."""
    pad = timedelta(seconds=float(p.get("max_gap_s", 1200.0)))
    fixes = db.fixes(start=start - pad if start else None, end=end + pad if end else None)
    return who_was_near(fixes, entity, start, end, missing_ok=True, **p)


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hb.Database]:
    d: Path = tmp_path_factory.mktemp("near")
    sim = simulate(agents=16, days=2, seed=3, profile="mixed", out=d)
    db = hb.open(str(d / "h.db"))
    db.import_(d / "fixes.parquet")
    for r in sim.devices.to_pylist():
        if r["agent"]:
            db.assign_device(r["device"], r["agent"])
    yield db
    db.close()


def _day(db: hb.Database) -> tuple[datetime, datetime]:
    first = min(r["first"] for r in db.entities().to_pylist() if r["first"] is not None)
    start = first.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return start, start + timedelta(hours=12)


@pytest.mark.parametrize(
    "params", [{}, {"radius_m": 25.0, "max_gap_s": 600.0}, {"radius_m": 120.0, "min_duration_s": 120.0}]
)
def test_near_equals_the_full_computation_on_a_town(town: hb.Database, params: dict[str, Any]) -> None:
    start, end = _day(town)
    names = town.entity_names()
    found = 0
    for name in names:
        for s, e in ((start, end), (None, None)):
            fast = town.near(name, s, e, **params)
            full = _full(town, name, s, e, **params)
            assert fast.equals(full), (name, s, params)
            found += full.num_rows
    assert found > 0  # the town has co-presence to find
    # and the prefilter did narrow the entities read (it was used, not the fallback)
    pad = timedelta(seconds=float(params.get("max_gap_s", 1200.0)))
    read = _nearby.near_fixes(town.store, names[0], start, end, params)
    assert read is not None
    assert len(set(read.column("entity").to_pylist())) < len(names)
    assert read.num_rows < town.fixes(start=start - pad, end=end + pad).num_rows


def test_a_workspace_question_sees_only_its_entities_and_the_same_episodes(town: hb.Database) -> None:
    from hereabouts.server._api import _Scoped

    start, end = _day(town)
    names = town.entity_names()
    busiest = max(names, key=lambda n: _full(town, n, start, end).num_rows)
    everyone = _full(town, busiest, start, end)
    others = sorted(set(everyone.column("other").to_pylist()))
    assert len(others) >= 2
    allowed = {busiest, *others[::2]}  # half of its neighbours are in the workspace, half are not
    fixes = pa.concat_tables([town.fixes(n) for n in sorted(allowed)], promote_options="default")
    want = who_was_near(fixes, busiest, start, end, missing_ok=True)
    assert set(want.column("other").to_pylist()) == set(others[::2])
    assert town.near(busiest, start, end, among=allowed).equals(want)
    question = f"who was with {busiest} on {start:%Y-%m-%d}?"
    answer = ask(_Scoped(town, allowed), question, now=end + timedelta(days=1))  # type: ignore[arg-type]
    assert isinstance(answer.query, q.Together) and answer.query.period is not None
    (day,) = answer.query.period.intervals  # the local day
    want = who_was_near(fixes, busiest, day.start, day.end, missing_ok=True)
    assert answer.result.equals(want)
    assert not (set(answer.result.column("other").to_pylist()) - allowed)


def _csv(path: Path, rows: list[tuple[str, datetime, float, float, float]]) -> Path:
    lines = ["timestamp,latitude,longitude,accuracy,device"]
    lines += [f"{t.isoformat()},{la:.7f},{lo:.7f},{acc},{dev}" for dev, t, la, lo, acc in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    r = 6_371_008.8
    return lat + math.degrees(north_m / r), lon + math.degrees(east_m / (r * math.cos(math.radians(lat))))


def test_every_fix_within_reach_makes_a_candidate_at_any_grid_phase(tmp_path: Path) -> None:
    """Pairs of single fixes just inside the reach, at random places (so at every phase of the
    prefilter's grid and time buckets, across cell edges): each partner is a candidate."""
    space_m, time_s = _nearby.reach()
    rnd = random.Random(7)
    base = datetime(2025, 3, 3, tzinfo=UTC)
    rows = []
    for i in range(120):
        t = base + timedelta(hours=3 * i, seconds=rnd.uniform(0, 3600))
        lat, lon = 52.5 + rnd.uniform(-0.05, 0.05), 13.4 + rnd.uniform(-0.05, 0.05)
        d = space_m * rnd.uniform(0.9, 0.999)
        a = rnd.uniform(0, 2 * math.pi)
        la2, lo2 = _offset(lat, lon, d * math.cos(a), d * math.sin(a))
        dt = timedelta(seconds=time_s * rnd.uniform(-0.999, 0.999))
        rows += [(f"x{i:03d}", t, lat, lon, 5.0), (f"y{i:03d}", t + dt, la2, lo2, 5.0)]
    with hb.open(str(tmp_path / "h.db")) as db:
        db.import_([_csv(tmp_path / "pairs.csv", rows)])
        con = db.store.con  # type: ignore[attr-defined]
        ids = dict(con.execute("SELECT name, entity_id FROM entities").fetchall())
        for i in range(120):
            _, devices = db.store.entity_ref(f"x{i:03d}")  # type: ignore[attr-defined]
            got = _nearby.candidates(con, devices, None, None, space_m=space_m, time_s=time_s)
            assert got is not None and ids[f"y{i:03d}"] in got, i


def test_a_neighbour_whose_fixes_are_far_from_x_is_kept(tmp_path: Path) -> None:
    """Y's only fixes are 100 m either side of X, 18 minutes apart; its interpolated path passes
    through X: a true neighbour that a prefilter on the radius alone (50 m) would drop."""
    p = (52.5200, 13.4000)
    t0 = datetime(2025, 3, 4, 12, tzinfo=UTC)
    rows = [("x", t0 + timedelta(minutes=k), p[0], p[1], 5.0) for k in range(40)]
    west, east = _offset(*p, 0.0, -100.0), _offset(*p, 0.0, 100.0)
    rows += [("y", t0 + timedelta(minutes=11), *west, 0.0), ("y", t0 + timedelta(minutes=29), *east, 0.0)]
    rows += [("z", t0 + timedelta(minutes=k), *_offset(*p, 3000.0, 0.0), 5.0) for k in range(40)]
    params: dict[str, Any] = {"min_duration_s": 60.0}
    with hb.open(str(tmp_path / "h.db")) as db:
        db.import_([_csv(tmp_path / "y.csv", rows)])
        full = _full(db, "x", None, None, **params)
        assert full.column("other").to_pylist() == ["y"]
        assert db.near("x", **params).equals(full)
        con = db.store.con  # type: ignore[attr-defined]
        _, devices = db.store.entity_ref("x")  # type: ignore[attr-defined]
        y = db.store.entity_ref("y")[0]  # type: ignore[attr-defined]
        assert y in (
            _nearby.candidates(con, devices, None, None, space_m=_nearby.reach()[0], time_s=1200.0) or []
        )
        # the bound is needed: with the radius alone as reach, y would be dropped
        assert y not in (_nearby.candidates(con, devices, None, None, space_m=50.0, time_s=1200.0) or [])


def test_one_query_fixes_and_pairs_equal_the_store_s(town: hb.Database) -> None:
    from hereabouts.ask._store import entity_fixes

    start, end = _day(town)
    names = town.entity_names()
    for name in names:
        for s, e in ((start, end), (None, None)):
            got = entity_fixes(town, name, s, e)
            assert got is not None and got.equals(town.fixes(name, start=s, end=e)), name
            cols = ("t", "lat", "lon", "speed_mps")
            got = entity_fixes(town, name, s, e, columns=cols)
            assert got is not None and got.equals(town.fixes(name, start=s, end=e).select(["entity", *cols]))
    a = max(names, key=lambda n: _full(town, n, start, end).num_rows)
    for b in names:
        if b == a:
            continue
        pad = timedelta(seconds=1200)
        both = pa.concat_tables(
            [town._entity_fixes(x, start - pad, end + pad) for x in (a, b)], promote_options="default"
        )
        full = who_was_near(both, a, start, end, missing_ok=True)
        full = full.filter(pc.equal(full.column("other"), b)) if full.num_rows else full
        assert town.together(a, b, start, end).equals(full), b
