"""`together` questions, the Database co-presence methods and the `together` / `near` / `ties` commands,
on a small town written by the test itself: alice and bob meet at a cafe for an hour; carol is elsewhere."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hereabouts as hb
from hereabouts.cli import app

CAFE = (52.5200, 13.4000)
BOB_HOME = (52.5380, 13.4000)  # 2 km north
CAROL = (52.5000, 13.3500)
DAY = datetime(2025, 3, 4, tzinfo=UTC)  # a Tuesday
NOW = datetime(2025, 3, 5, 12, tzinfo=UTC)
runner = CliRunner()


def _track(plan: list[tuple[float, float, float]]) -> list[tuple[datetime, float, float]]:
    """Fixes every minute along (hour of DAY, lat, lon) waypoints, linear between them."""
    out = []
    for (h0, la0, lo0), (h1, la1, lo1) in itertools.pairwise(plan):
        n = round((h1 - h0) * 60)
        for k in range(n):
            f = k / n
            jitter = 0.00003 * math.sin(len(out))  # a few metres of noise
            out.append(
                (DAY + timedelta(hours=h0, minutes=k), la0 + (la1 - la0) * f + jitter, lo0 + (lo1 - lo0) * f)
            )
    return out


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("together")
    alice = _track([(8, *CAFE), (20, *CAFE)])
    bob = _track(
        [(8, *BOB_HOME), (17.5, *BOB_HOME), (18, *CAFE), (19, *CAFE), (19.5, *BOB_HOME), (20, *BOB_HOME)]
    )
    carol = _track([(8, *CAROL), (20, *CAROL)])
    lines = ["timestamp,latitude,longitude,accuracy,device"]
    for name, fixes in (("alice", alice), ("bob", bob), ("carol", carol)):
        lines += [f"{t.isoformat()},{la:.6f},{lo:.6f},8,{name}" for t, la, lo in fixes]
    csv = folder / "town.csv"
    csv.write_text("\n".join(lines) + "\n")
    path = folder / "h.db"
    with hb.open(str(path)) as db:
        db.import_([csv])
        assert sorted(db.entity_names()) == ["alice", "bob", "carol"]
    return path


def test_database_together_and_near(db_path: Path) -> None:
    with hb.open(str(db_path)) as db:
        ep = db.together("alice", "bob")
        assert ep.num_rows == 1
        r = ep.to_pylist()[0]
        assert r["other"] == "bob"
        assert abs((r["start"] - (DAY + timedelta(hours=18))).total_seconds()) <= 180
        assert abs((r["end"] - (DAY + timedelta(hours=19))).total_seconds()) <= 180
        assert haversine(r["lat"], r["lon"], *CAFE) < 30
        assert db.together("alice", "carol").num_rows == 0
        # a window that ends half way through the meeting cuts the episode
        cut = db.together("alice", "bob", DAY, DAY + timedelta(hours=18, minutes=30)).to_pylist()[0]
        assert cut["end"] == DAY + timedelta(hours=18, minutes=30)
        assert db.near("alice").column("other").to_pylist() == ["bob"]
        assert db.near("carol").num_rows == 0
        with pytest.raises(hb.HereaboutsError, match="no entity named"):
            db.together("alice", "zed")
        graph = db.copresence_graph()
        assert graph.nodes.column("entity").to_pylist() == ["alice", "bob", "carol"]
        edge = graph.edges.to_pylist()
        assert [(e["source"], e["target"]) for e in edge] == [("alice", "bob")]
        assert edge[0]["is_tie"] is False  # one meeting is never a tie
        assert 0.9 <= edge[0]["weight_h"] <= 1.1


def haversine(la1: float, lo1: float, la2: float, lo2: float) -> float:
    from hereabouts.analysis._geo import haversine_m

    return float(haversine_m(la1, lo1, la2, lo2))


def test_ask_were_two_entities_together(db_path: Path) -> None:
    with hb.open(str(db_path)) as db:
        a = db.ask("were alice and bob together yesterday?", now=NOW, tz="UTC")
    assert a.available
    assert a.query.kind == "together"
    assert "alice and bob were within 50 m of each other 1 time" in a.text
    assert "18:0" in a.text and "never what the company means" in a.text
    assert "p = " in a.text  # the significance caveat for a pair
    assert a.evidence.num_rows == 1 and a.evidence.column("kind").to_pylist() == ["copresence"]
    assert a.confidence is not None and a.confidence > 0.8
    assert a.coverage.n_fixes > 600 and a.coverage.fraction > 0.4
    assert a.result.column("other").to_pylist() == ["bob"]
    d = a.to_dict()
    json.dumps(d)
    assert d["evidence"][0]["start"].startswith("2025-03-04T18:0")


def test_ask_when_they_were_not_together(db_path: Path) -> None:
    with hb.open(str(db_path)) as db:
        a = db.ask("did alice meet carol yesterday?", now=NOW, tz="UTC")
    assert a.query.kind == "together"
    assert a.result.num_rows == 0
    assert "never within 50 m" in a.text and "Gaps in the data" in a.text
    assert a.coverage.n_fixes > 0


def test_ask_who_was_near(db_path: Path) -> None:
    with hb.open(str(db_path)) as db:
        a = db.ask("who was with alice yesterday?", now=NOW, tz="UTC")
        b = db.ask("who was with carol yesterday?", now=NOW, tz="UTC")
    assert a.query.kind == "together" and a.query.entity_b is None
    assert "1 entity was within 50 m of alice" in a.text and "bob" in a.text
    assert a.result.column("other").to_pylist() == ["bob"]
    assert "Nobody was near carol" in b.text


def test_cli_together_near_ties(db_path: Path) -> None:
    res = runner.invoke(
        app, ["--db", str(db_path), "together", "alice", "bob", "--json"], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["episodes"]) == 1 and 55 <= out["episodes"][0]["minutes"] <= 65
    assert "never what the company means" in out["caveat"]
    res = runner.invoke(app, ["--db", str(db_path), "near", "bob", "--json"], catch_exceptions=False)
    assert [e["other"] for e in json.loads(res.stdout)["episodes"]] == ["alice"]
    res = runner.invoke(app, ["--db", str(db_path), "ties", "--json"], catch_exceptions=False)
    g = json.loads(res.stdout)
    assert [(e["source"], e["target"], e["is_tie"]) for e in g["edges"]] == [("alice", "bob", False)]
    assert len(g["nodes"]) == 3
    res = runner.invoke(app, ["--db", str(db_path), "together", "alice", "bob", "--from", "2025-03-05"])
    assert res.exit_code == 0 and "never within" in res.stdout
    res = runner.invoke(app, ["--db", str(db_path), "together", "alice", "bob", "--from", "yesterdayish"])
    assert res.exit_code != 0 and isinstance(res.exception, hb.InputError) and "--from" in str(res.exception)
