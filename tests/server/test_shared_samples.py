"""Conformance: what real apps send (samples in ../shared/fixtures) is accepted and answered as the apps
expect. Skipped when the samples are absent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import hereabouts as hb
from hereabouts.io.csv_ import KNOT_MPS

pytestmark = pytest.mark.conformance

OT_HEADERS = {"X-Limit-U": "jane", "X-Limit-D": "phone"}


def post_owntracks(api: Any, path: Path) -> Any:
    return api.post("/ingest/owntracks", content=path.read_bytes(), headers=OT_HEADERS)


def test_owntracks_samples(api: Any, db: hb.Database, shared_fixtures: Path) -> None:
    ot = shared_fixtures / "owntracks"
    r = post_owntracks(api, ot / "location_extended.json")
    assert r.status_code == 200 and r.json() == []
    (f,) = db.fixes().to_pylist()
    assert (f["device"], f["lat"], f["lon"], f["accuracy_m"], f["course_deg"]) == (
        "jane/phone",
        52.3153748,
        5.0408462,
        1600,
        56,
    )
    for name in ("transition.json", "waypoint.json"):
        r = post_owntracks(api, ot / name)
        assert r.status_code == 200 and r.json() == [], name
    assert sorted(e["kind"] for e in db.events().to_pylist()) == ["transition", "waypoint"]
    # an array (what a server answers with): its location is kept, its card skipped
    r = post_owntracks(api, ot / "http_response_friends.json")
    assert r.status_code == 200 and r.json() == []
    assert db.fixes().num_rows == 2
    # the app's test messages sit at 0,0, the "no fix" placeholder: refused, naming the field
    for name in ("location_valid.json", "location_with_topic.json"):
        r = post_owntracks(api, ot / name)
        assert r.status_code == 422, name
        assert r.json()["error"]["field"] == "lat"
        assert "placeholder" in r.json()["error"]["message"]
    assert db.fixes().num_rows == 2


def test_owntracks_encrypted_sample(make_api: Any, shared_fixtures: Path) -> None:
    path = shared_fixtures / "owntracks" / "encrypted.json"
    r = post_owntracks(make_api(), path)
    assert r.status_code == 400 and r.json()["error"]["code"] == "undecryptable"
    assert "no key is configured" in r.json()["error"]["message"]
    # with a key, its dummy ciphertext still cannot be opened: a clear 400, not a crash
    r = post_owntracks(make_api(owntracks_keys={"jane/phone": "secret"}), path)
    assert r.status_code == 400 and r.json()["error"]["code"] == "undecryptable"
    assert r.json()["error"]["field"] == "data"


def _osmand_lines(shared: Path) -> list[str]:
    text = (shared / "traccar" / "osmand_query_examples.txt").read_text()
    return [ln.strip() for ln in text.splitlines() if ln.startswith("/?")]


def test_osmand_samples(api: Any, db: hb.Database, shared_fixtures: Path) -> None:
    lines = _osmand_lines(shared_fixtures)
    assert len(lines) == 11
    statuses = []
    for line in lines:
        query = urlsplit(line).query
        r = api.post(f"/ingest/osmand?{query}")  # Traccar Client: POST, empty body, params in the query
        statuses.append(r.status_code)
        if r.status_code == 200:
            assert r.content == b""
    # the sample's expected outcome: line 2 (no id) is a 400, every other line a 200
    assert statuses == [200, 400] + [200] * 9
    fixes = db.fixes().to_pylist()
    # lines 3-11 carry a position (line 1 only cell and Wi-Fi scans); lines 6, 7 and 10 are one fix
    # (same device, time and position) sent three times
    assert len(fixes) == 7
    assert sum(s["n_duplicates"] for s in db.sources().to_pylist()) == 2
    assert db.scans().num_rows == 4
    by_device: dict[str, list[dict[str, Any]]] = {}
    for f in fixes:
        by_device.setdefault(f["device"], []).append(f)
    assert by_device["123456789012345"][0]["speed_mps"] == pytest.approx(40 * KNOT_MPS)
    assert by_device["123456789012345"][0]["course_deg"] == pytest.approx(7.19889788244)
    assert (by_device["861001000719969"][0]["lat"], by_device["861001000719969"][0]["lon"]) == (
        41.666667,
        -0.883333,
    )
    assert {(f["lat"], f["lon"]) for f in by_device["123456"]} == {(60.0, 30.0)}
    times = sorted(int(f["t"].timestamp()) for f in by_device["902064"])
    assert times == [1442068686, 1453920947]  # epoch ms and ISO 8601
    assert int(by_device["353861053849681"][0]["t"].timestamp()) == 1401873011  # "2014-06-04 09:10:11"
    # a replay of every line adds nothing
    for line in lines:
        api.post(f"/ingest/osmand?{urlsplit(line).query}")
    # ... but for the two lines without a timestamp, stamped with their (new) arrival time
    assert db.fixes().num_rows == 9


def _gpslogger_urls(shared: Path) -> list[str]:
    text = (shared / "gpslogger" / "customurl_examples.txt").read_text()
    return [ln.split(" ", 1)[1] for ln in text.splitlines() if ln.startswith("EXPANDED ")]


def test_gpslogger_samples(api: Any, db: hb.Database, shared_fixtures: Path) -> None:
    urls = _gpslogger_urls(shared_fixtures)
    assert len(urls) == 3
    for url in urls:
        r = api.get(f"/ingest/gpslogger?{urlsplit(url).query}")
        assert r.status_code == 200, r.text
    fixes = sorted(db.fixes().to_pylist(), key=lambda f: (f["device"], f["lon"]))
    assert [(f["device"], f["lat"], f["lon"]) for f in fixes] == [
        ("22", 12.193, 19.111),
        ("gpslogger", 12.193, 19.456),
    ]
    first = fixes[0]
    assert (first["accuracy_m"], first["altitude_m"], first["course_deg"], first["speed_mps"]) == (
        8,
        45,
        359,
        9005,
    )
    assert first["provider"] == "unknown"  # MOCK
    assert int(first["t"].timestamp() * 1000) == 1457205869949
    # the third sample is the second's position and time (with its local offset): a duplicate
    assert db.sources().to_pylist()[-1]["n_duplicates"] == 1


def test_overland_sample(api: Any, db: hb.Database, shared_fixtures: Path) -> None:
    body = (shared_fixtures / "overland" / "overland_batch_dawarich.json").read_bytes()
    r = api.post("/ingest/overland", content=body)
    assert r.status_code == 200
    assert r.json()["result"] == "ok"
    (f,) = db.fixes().to_pylist()
    assert (f["lat"], f["lon"], f["accuracy_m"], f["speed_mps"]) == (37.3318, -122.030581, 30, 4)
    assert f["tz_offset_s"] == -7 * 3600
    (e,) = db.events().to_pylist()
    assert e["kind"] == "will_terminate" and e["device"] == "iphone"
    assert json.loads(e["data"])["battery_state"] == "unplugged"
