"""The analysis commands: stays, places and trips, as JSON, agree with the library."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import hereabouts as hb
from hereabouts.analysis import detect_stays
from hereabouts.cli import app
from hereabouts.sim import simulate

runner = CliRunner()


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("town")
    simulate(agents=4, days=4, seed=3, out=d, profile="gps-1min")
    path = str(d / "h.db")
    db = hb.open(path)
    db.import_(d / "fixes.parquet")
    db.close()
    return path


def _json(*args: str) -> list[dict]:  # type: ignore[type-arg]
    r = runner.invoke(app, list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_stays_trackintel_command_matches_library(db_path: str) -> None:
    out = _json(
        "--db",
        db_path,
        "stays",
        "--all",
        "--method",
        "trackintel",
        "--radius-m",
        "100",
        "--min-duration-s",
        "300",
        "--max-gap-s",
        "900",
        "--json",
    )
    assert out and {"entity", "start", "end", "lat", "lon"} <= set(out[0])
    assert all(s["start"].endswith("Z") and s["end"].endswith("Z") for s in out)
    db = hb.open(db_path, read_only=True)
    expected = []
    for name in db.entity_names():
        f = db.fixes(name)
        f = f.set_column(0, "entity", pa.array([name] * f.num_rows))
        expected.append(detect_stays(f, method="trackintel", radius_m=100, min_duration_s=300, max_gap_s=900))
    db.close()
    exp = pa.concat_tables(expected)
    assert len(out) == exp.num_rows
    assert [s["entity"] for s in out] == exp.column("entity").to_pylist()
    got_starts = [s["start"] for s in out]
    exp_starts = [t.isoformat().replace("+00:00", "Z") for t in exp.column("start").to_pylist()]
    assert got_starts == exp_starts


def test_places_and_trips_commands(db_path: str) -> None:
    places = _json("--db", db_path, "places", "--all", "--json")
    assert places and all(p["place_id"] and p["n_visits"] >= 1 for p in places)
    trips = _json("--db", db_path, "trips", "--all", "--json")
    assert trips and all(t["mode"] in {"walk", "bike", "vehicle", "train", "flight"} for t in trips)
    known = {p["place_id"] for p in places}
    assert {t["from_place"] for t in trips if t["from_place"]} <= known
    with_path = _json("--db", db_path, "trips", "--all", "--path", "--json")
    assert "path" in with_path[0] and "path" not in trips[0]


def test_entity_or_all_is_required(db_path: str) -> None:
    r = runner.invoke(app, ["--db", db_path, "stays"])
    assert r.exit_code != 0
    assert isinstance(r.exception, hb.InputError) and "--all" in str(r.exception)


@pytest.fixture(scope="module")
def three_weeks(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, dict]]:  # type: ignore[type-arg]
    d = tmp_path_factory.mktemp("weeks")
    sim = simulate(agents=5, days=21, seed=4, out=d, profile="gps-1min")
    path = str(d / "h.db")
    db = hb.open(path)
    db.import_(d / "fixes.parquet")
    for dev in sim.devices.to_pylist():
        if dev["agent"]:
            db.assign_device(dev["device"], dev["agent"])
    db.close()
    homes: dict[str, dict] = {}  # type: ignore[type-arg]
    for a in sorted(sim.true_anchors.to_pylist(), key=lambda a: a["valid_from"]):
        if a["kind"] == "home" and a["primary"]:
            homes[a["agent"]] = a  # the latest primary home (people may move)
    return path, homes


def test_anchors_command_finds_true_homes(three_weeks: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    from hereabouts.analysis._geo import haversine_m

    path, homes = three_weeks
    rows_ = _json("--db", path, "anchors", "--all", "--json")
    found = {}
    for r in rows_:  # the latest home row of each entity
        if r["label"] == "home" and not r["abstained"] and r["entity"] not in found:
            found[r["entity"]] = r
    checked = 0
    for agent, truth in homes.items():
        if agent in found:
            d = float(haversine_m(found[agent]["lat"], found[agent]["lon"], truth["lat"], truth["lon"]))
            assert d < 100, (agent, d)
            checked += 1
    assert checked >= 3


def test_routine_and_predict_commands(three_weeks: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    path, homes = three_weeks
    agent = sorted(homes)[0]
    r = runner.invoke(app, ["--db", path, "routine", agent, "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    routine = json.loads(r.stdout)
    assert routine["regularity"]["n_places"] >= 2 and 0 < routine["regularity"]["predictability_max"] <= 1
    assert routine["occupancy"] and all(0 < o["share"] <= 1 for o in routine["occupancy"])
    pred = _json("--db", path, "predict", agent, "--at", "2025-03-25T03:00", "--top", "1000", "--json")
    assert abs(sum(p["probability"] for p in pred) - 1) < 1e-6
    assert pred[0]["rank"] == 1


def test_ask_command_answers_with_evidence_and_refuses_labels(three_weeks: tuple[str, dict]) -> None:  # type: ignore[type-arg]
    path, homes = three_weeks
    agent = sorted(homes)[0]
    r = runner.invoke(
        app,
        ["--db", path, "ask", f"where was {agent} on 2025-03-18 at 03:00?", "--json"],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)
    assert {"answer", "query", "confidence", "evidence", "coverage"} <= set(a)
    assert a["query"]["kind"] == "where_at" and a["query"]["entity"] == agent
    assert a["coverage"]["n_fixes"] > 0 and a["evidence"]
    r = runner.invoke(
        app, ["--db", path, "ask", f"what religion is {agent}?", "--json"], catch_exceptions=False
    )
    refused = json.loads(r.stdout)
    assert refused["query"]["kind"] == "refusal" and "out of scope" in refused["answer"]


def test_ask_shell_reads_questions_from_the_prompt(three_weeks: tuple[str, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    path, homes = three_weeks
    agent = sorted(homes)[0]
    r = runner.invoke(
        app,
        ["--db", path, "ask", "--json"],
        input=f"where was {agent} on 2025-03-18 at 03:00?\nhow far did {agent} travel last week?\n\n",
        env={"HOME": str(tmp_path)},
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    text = r.stdout.replace("? ", "")
    answers, pos, dec = [], 0, json.JSONDecoder()
    while (start := text.find("{", pos)) >= 0:
        obj, pos = dec.raw_decode(text, start)
        answers.append(obj)
    assert len(answers) == 2 and answers[0]["query"]["kind"] == "where_at"
    assert answers[1]["query"]["kind"] == "stats"


def test_analyze_command_is_incremental(three_weeks: tuple[str, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    import shutil

    path = str(tmp_path / "copy.db")
    shutil.copy(three_weeks[0], path)
    first = _json_obj("--db", path, "analyze", "--json")
    assert first["stays_written"] > 0 and first["entities"]
    again = _json_obj("--db", path, "analyze", "--json")
    assert again["stays_written"] == 0 and again["windows"] == []
    db = hb.open(path, read_only=True)
    agent = sorted(three_weeks[1])[0]
    stored = db.stays(agent, stored=False)
    db.close()
    assert stored.num_rows > 0
    db = hb.open(path)
    answer = db.ask(f"where was {agent} on 2025-03-18 at 03:00?")
    db.close()
    assert answer.query.to_dict()["kind"] == "where_at" and answer.evidence.num_rows > 0


def _json_obj(*args: str) -> dict:  # type: ignore[type-arg]
    r = runner.invoke(app, list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)  # type: ignore[no-any-return]
