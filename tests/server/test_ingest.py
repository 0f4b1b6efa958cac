"""The ingest endpoints, with payloads written from the apps' public descriptions."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from nacl.secret import SecretBox
from nacl.utils import random as nacl_random

import hereabouts as hb
from hereabouts.io.csv_ import KNOT_MPS
from hereabouts.server import owntracks_key
from hereabouts.server._errors import STATUS, ApiError, error_response

T0 = 1718447400  # 2024-06-15T10:30:00Z


def loc(**kw: Any) -> bytes:
    msg = {"_type": "location", "tst": T0, "lat": 52.5, "lon": 13.4, "acc": 12, "vel": 36, "tid": "jp"}
    msg.update(kw)
    return json.dumps(msg).encode()


def fixes(db: hb.Database) -> list[dict[str, Any]]:
    return db.fixes().sort_by([("device", "ascending"), ("t", "ascending")]).to_pylist()


def assert_error(r: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == code
    assert isinstance(err["message"], str) and err["message"]
    assert err["field"] == field
    return err


# ------------------------------------------------------------------ OwnTracks
def test_owntracks_location_is_stored_under_user_and_device(api: Any, db: hb.Database) -> None:
    r = api.post("/ingest/owntracks", content=loc(), headers={"X-Limit-U": "jane", "X-Limit-D": "phone"})
    assert r.status_code == 200
    assert r.json() == []
    assert r.headers["x-hereabouts-accepted"] == "1"
    (f,) = fixes(db)
    assert f["device"] == "jane/phone"
    assert f["lat"] == 52.5 and f["lon"] == 13.4 and f["accuracy_m"] == 12
    assert f["speed_mps"] == pytest.approx(10.0)  # 36 km/h
    assert int(f["t"].timestamp()) == T0


def test_owntracks_basic_auth_user_names_the_device_without_limit_headers(api: Any, db: hb.Database) -> None:
    r = api.post("/ingest/owntracks", content=loc(), auth=("mike", "pw"), headers={"X-Limit-D": "tab"})
    assert r.status_code == 200
    assert fixes(db)[0]["device"] == "mike/tab"


def test_owntracks_without_headers_falls_back_to_topic(api: Any, db: hb.Database, fixtures_dir: Path) -> None:
    r = api.post("/ingest/owntracks", content=(fixtures_dir / "owntracks" / "single.json").read_bytes())
    assert r.status_code == 200 and r.json() == []
    (f,) = fixes(db)
    assert f["device"] == "dee/watch"
    assert f["course_deg"] == 45 and f["altitude_m"] == 10


def test_owntracks_transition_and_waypoint_become_events(api: Any, db: hb.Database) -> None:
    h = {"X-Limit-U": "jane", "X-Limit-D": "phone"}
    tr = {
        "_type": "transition",
        "tst": T0,
        "event": "enter",
        "desc": "home",
        "lat": 52.5,
        "lon": 13.4,
        "wtst": 1,
    }
    wp = {"_type": "waypoint", "tst": T0 - 60, "desc": "home", "lat": 52.5, "lon": 13.4, "rad": 80}
    assert api.post("/ingest/owntracks", json=tr, headers=h).json() == []
    assert api.post("/ingest/owntracks", json=wp, headers=h).json() == []
    ev = db.events().sort_by("t").to_pylist()
    assert [e["kind"] for e in ev] == ["waypoint", "transition"]
    assert json.loads(ev[1]["data"])["event"] == "enter"
    assert fixes(db) == []


@pytest.mark.parametrize("typ", ["lwt", "card", "status", "cmd", "steps"])
def test_owntracks_messages_without_position_are_acknowledged_and_not_stored(
    api: Any, db: hb.Database, typ: str
) -> None:
    r = api.post("/ingest/owntracks", json={"_type": typ, "tst": T0}, headers={"X-Limit-U": "u"})
    assert r.status_code == 200 and r.json() == []
    assert db.sources().num_rows == 0  # nothing to commit, no empty source


def test_owntracks_replay_is_deduplicated(api: Any, db: hb.Database) -> None:
    h = {"X-Limit-U": "jane", "X-Limit-D": "phone"}
    for _ in range(3):
        assert api.post("/ingest/owntracks", content=loc(), headers=h).status_code == 200
    assert len(fixes(db)) == 1
    src = db.sources().to_pylist()
    assert [s["n_fixes"] for s in src] == [1, 0, 0]
    assert [s["n_duplicates"] for s in src] == [0, 1, 1]
    assert {s["kind"] for s in src} == {"owntracks_http"}


def test_owntracks_invalid_location_is_a_422_naming_the_field(api: Any, db: hb.Database) -> None:
    r = api.post("/ingest/owntracks", content=loc(lat=95.0), headers={"X-Limit-U": "u"})
    err = assert_error(r, 422, "invalid_record", "lat")
    assert "[-90, 90]" in err["message"]
    assert err["rejected"] == 1
    r = api.post("/ingest/owntracks", content=loc(tst="yesterday"), headers={"X-Limit-U": "u"})
    assert_error(r, 422, "invalid_record", "tst")
    r = api.post("/ingest/owntracks", content=loc(lat=0.0, lon=0.0), headers={"X-Limit-U": "u"})
    err = assert_error(r, 422, "invalid_record", "lat")
    assert "placeholder" in err["message"]
    assert fixes(db) == []


def test_owntracks_broken_json_is_a_400(api: Any) -> None:
    r = api.post("/ingest/owntracks", content=b'{"_type": "location", "lat": ', headers={"X-Limit-U": "u"})
    assert_error(r, 400, "invalid_json", "body")


def _encrypt(msg: dict[str, Any], secret: str) -> dict[str, Any]:
    nonce = nacl_random(SecretBox.NONCE_SIZE)
    box = SecretBox(owntracks_key(secret)).encrypt(json.dumps(msg).encode(), nonce)
    return {"_type": "encrypted", "data": base64.b64encode(box).decode()}


def test_owntracks_key_is_the_secret_zero_padded_to_32_bytes() -> None:
    assert owntracks_key("abc") == b"abc" + b"\0" * 29
    assert owntracks_key("x" * 40) == b"x" * 32


def test_owntracks_encrypted_message_is_opened_with_the_device_key(make_api: Any, db: hb.Database) -> None:
    api = make_api(owntracks_keys={"jane/phone": "correct horse"})
    h = {"X-Limit-U": "jane", "X-Limit-D": "phone"}
    env = _encrypt(json.loads(loc(lat=48.1)), "correct horse")
    r = api.post("/ingest/owntracks", json=env, headers=h)
    assert r.status_code == 200 and r.json() == []
    assert [f["lat"] for f in fixes(db)] == [48.1]
    # the wrong secret, and a device without a key: refused, nothing stored
    bad = _encrypt(json.loads(loc(lat=48.2)), "wrong")
    err = assert_error(api.post("/ingest/owntracks", json=bad, headers=h), 400, "undecryptable", "data")
    assert "key" in err["message"]
    err = assert_error(
        api.post("/ingest/owntracks", json=env, headers={"X-Limit-U": "bob", "X-Limit-D": "x"}),
        400,
        "undecryptable",
        "data",
    )
    assert "no key is configured for device 'bob/x'" in err["message"]
    assert len(fixes(db)) == 1


# ------------------------------------------------------------- OsmAnd / Traccar
def test_osmand_query_converts_knots_and_keeps_fields(api: Any, db: hb.Database) -> None:
    r = api.get(
        f"/ingest/osmand?id=van7&lat=60.1&lon=30.2&timestamp={T0}&speed=10&bearing=90"
        "&altitude=12.5&accuracy=8&batt=80"
    )
    assert r.status_code == 200 and r.content == b""
    (f,) = fixes(db)
    assert f["device"] == "van7"
    assert f["speed_mps"] == pytest.approx(10 * KNOT_MPS)
    assert (f["course_deg"], f["altitude_m"], f["accuracy_m"]) == (90, 12.5, 8)


def test_osmand_timestamp_forms(api: Any, db: hb.Database) -> None:
    for i, ts in enumerate([str(T0), str(T0 * 1000 + 500), "2024-06-15T10:30:02Z", "2024-06-15 10:30:03"]):
        r = api.post(f"/ingest/osmand?id=a&lat=60.{i}&lon=30.0&timestamp={ts}")
        assert r.status_code == 200, r.text
    got = [f["t"].timestamp() for f in fixes(db)]
    assert got == [T0, T0 + 0.5, T0 + 2, T0 + 3]


def test_osmand_location_parameter_and_form_body(api: Any, db: hb.Database) -> None:
    assert api.post(f"/ingest/osmand?id=a&timestamp={T0}&location=61.5,31.5").status_code == 200
    r = api.post(
        "/ingest/osmand",
        content=f"id=b&lat=62&lon=32&timestamp={T0}".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    assert [(f["device"], f["lat"], f["lon"]) for f in fixes(db)] == [("a", 61.5, 31.5), ("b", 62.0, 32.0)]


def test_osmand_json_body_of_traccar_client(api: Any, db: hb.Database) -> None:
    body = {
        "device_id": "pixel",
        "location": {
            "timestamp": "2024-06-15T10:30:00.000Z",
            "coords": {
                "latitude": 45.5,
                "longitude": 9.2,
                "accuracy": 6,
                "speed": 2.5,
                "heading": 180,
                "altitude": 120,
            },
            "is_moving": True,
            "battery": {"level": 0.5, "is_charging": False},
        },
    }
    r = api.post("/ingest/osmand", json=body)
    assert r.status_code == 200 and r.content == b""
    (f,) = fixes(db)
    assert f["device"] == "pixel"
    assert (f["lat"], f["lon"], f["accuracy_m"], f["course_deg"], f["altitude_m"]) == (45.5, 9.2, 6, 180, 120)
    assert f["speed_mps"] == 2.5  # JSON speeds are m/s already
    assert int(f["t"].timestamp()) == T0


def test_osmand_without_position_keeps_cell_and_wifi_scans(api: Any, db: hb.Database) -> None:
    r = api.get(f"/ingest/osmand?id=1&timestamp={T0}&cell=257,02,16,2224&wifi=00-14-22-01-23-45,-80")
    assert r.status_code == 200
    scans = db.scans().sort_by("kind").to_pylist()
    assert [(s["kind"], s["ident"], s["rssi_dbm"]) for s in scans] == [
        ("cell", "257,2,16,2224", None),
        ("wifi", "00:14:22:01:23:45", -80.0),
    ]


def test_osmand_bad_input(api: Any, db: hb.Database) -> None:
    assert_error(api.get(f"/ingest/osmand?lat=60&lon=30&timestamp={T0}"), 400, "missing_device", "id")
    assert_error(api.get(f"/ingest/osmand?id=a&lat=abc&lon=30&timestamp={T0}"), 422, "invalid_record", "lat")
    assert_error(api.get(f"/ingest/osmand?id=a&timestamp={T0}"), 422, "invalid_record", "lat")
    assert_error(
        api.get("/ingest/osmand?id=a&lat=60&lon=30&timestamp=soon"), 422, "invalid_record", "timestamp"
    )
    assert_error(api.get("/ingest/osmand?id=a&lat=60&lon=30&timestamp=100"), 422, "invalid_record", "t")
    assert_error(
        api.get(f"/ingest/osmand?id=a&lat=60&lon=30&timestamp={T0}&valid=false"),
        422,
        "invalid_record",
        "valid",
    )
    assert_error(
        api.post("/ingest/osmand", json={"device_id": "x", "location": {"coords": {}}}),
        422,
        "invalid_record",
        "location.coords.latitude",
    )
    assert fixes(db) == []


def test_osmand_without_timestamp_uses_the_arrival_time(api: Any, db: hb.Database) -> None:
    import time

    before = time.time()
    assert api.get("/ingest/osmand?id=a&lat=60&lon=30").status_code == 200
    (f,) = fixes(db)
    assert before - 1 <= f["t"].timestamp() <= time.time() + 1


# ------------------------------------------------------------------ GPSLogger
def test_gpslogger_custom_url(api: Any, db: hb.Database) -> None:
    r = api.get(
        "/ingest/gpslogger?lat=47.1&lon=8.5&time=2024-06-15T10:30:00.000Z&acc=4&alt=400&spd=1.5&dir=270"
        "&prov=gps&aid=abc123&batt=77"
    )
    assert r.status_code == 200
    (f,) = fixes(db)
    assert f["device"] == "abc123" and f["provider"] == "gps"
    assert (f["accuracy_m"], f["altitude_m"], f["speed_mps"], f["course_deg"]) == (4, 400, 1.5, 270)
    assert int(f["t"].timestamp()) == T0


def test_gpslogger_timeoff_keeps_the_local_offset_and_post_body_works(api: Any, db: hb.Database) -> None:
    r = api.post(
        "/ingest/gpslogger",
        content=b"lat=47.2&lon=8.6&timeoff=2024-06-15T12%3A30%3A00.000%2B02%3A00&spd_kph=36&ser=S1",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    (f,) = fixes(db)
    assert f["device"] == "S1" and f["tz_offset_s"] == 7200 and int(f["t"].timestamp()) == T0
    assert f["speed_mps"] == pytest.approx(10.0)


def test_gpslogger_bad_input(api: Any, db: hb.Database) -> None:
    assert_error(api.get("/ingest/gpslogger?lat=47&lon=8"), 422, "invalid_record", "time")
    assert_error(api.get(f"/ingest/gpslogger?lon=8&timestamp={T0}"), 422, "invalid_record", "lat")
    assert_error(
        api.get(f"/ingest/gpslogger?lat=47&lon=8&timestamp={T0}&acc=x"), 422, "invalid_record", "acc"
    )
    assert fixes(db) == []


# -------------------------------------------------------------------- Overland
def test_overland_batch_replies_ok(api: Any, db: hb.Database, fixtures_dir: Path) -> None:
    body = (fixtures_dir / "geojson" / "overland_batch.json").read_bytes()
    r = api.post("/ingest/overland", content=body)
    assert r.status_code == 200
    assert r.json()["result"] == "ok"
    got = fixes(db)
    assert [(f["device"], f["lat"]) for f in got] == [("iphone", 37.7749), ("iphone", 37.775)]
    assert got[1]["speed_mps"] is None and got[1]["course_deg"] is None  # -1 = unknown
    assert [e["kind"] for e in db.events().to_pylist()] == ["app_terminated"]
    # the app resends a batch it did not see acknowledged: nothing doubles
    assert api.post("/ingest/overland", content=body).json()["result"] == "ok"
    assert len(fixes(db)) == 2 and db.events().num_rows == 1


def _feature(lat: Any, ts: str = "2024-06-15T10:30:00Z") -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [13.4, lat]},
        "properties": {"timestamp": ts, "device_id": "ph"},
    }


def test_overland_partial_batch_stores_the_good_and_reports_the_rejects(api: Any, db: hb.Database) -> None:
    body = {
        "locations": [
            _feature(52.5),
            _feature(123.0, "2024-06-15T10:31:00Z"),
            _feature(52.6, "2024-06-15T10:32:00Z"),
        ]
    }
    r = api.post("/ingest/overland", json=body)
    assert r.status_code == 200
    reply = r.json()
    assert reply["result"] == "ok" and reply["saved"] == 2 and reply["rejected"] == 1
    assert reply["rejects"][0]["position"] == 2 and reply["rejects"][0]["field"] == "lat"
    assert r.headers["x-hereabouts-rejected"] == "1"
    assert [f["lat"] for f in fixes(db)] == [52.5, 52.6]
    rej = db.rejects().to_pylist()
    assert [(x["position"], x["field"], x["member"]) for x in rej] == [(2, "lat", "http:overland")]


def test_overland_bad_input(api: Any, db: hb.Database) -> None:
    assert_error(
        api.post("/ingest/overland", json={"locations": [_feature(95.0)]}), 422, "invalid_record", "lat"
    )
    assert_error(api.post("/ingest/overland", json={"points": []}), 400, "bad_request", "locations")
    assert_error(api.post("/ingest/overland", content=b"[1, 2"), 400, "invalid_json", "body")
    assert fixes(db) == [] and db.rejects().num_rows == 0


# --------------------------------------------------------------- tokens
def test_tokens_required_when_configured(make_api: Any, db: hb.Database) -> None:
    api = make_api(tokens={"tok-1": "jane/phone", "tok-2": "van7"})
    q = f"id=spoof&lat=60&lon=30&timestamp={T0}"
    r = api.get(f"/ingest/osmand?{q}")
    assert_error(r, 401, "unauthorized", "token")
    assert "Basic" in r.headers["www-authenticate"]
    assert_error(api.get(f"/ingest/osmand?{q}&token=nope"), 403, "forbidden", "token")
    assert api.get(f"/ingest/osmand?{q}&token=tok-2").status_code == 200
    assert api.get(f"/ingest/osmand?{q}&access_token=tok-2&timestamp={T0 + 9}").status_code == 200
    r = api.post("/ingest/owntracks", content=loc(tst=T0 + 1), auth=("jane", "tok-1"))
    assert r.status_code == 200 and r.json() == []
    r = api.post(
        "/ingest/overland", json={"locations": [_feature(52.7)]}, headers={"Authorization": "Bearer tok-1"}
    )
    assert r.json()["result"] == "ok"
    # every record goes to the token's device, whatever the request names
    assert sorted((f["device"], f["lat"]) for f in fixes(db)) == [
        ("jane/phone", 52.5),
        ("jane/phone", 52.7),
        ("van7", 60.0),
        ("van7", 60.0),
    ]


def test_without_tokens_the_app_warns_of_development_mode(
    make_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="hereabouts.server"):
        make_api()
    assert any("development mode" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------- error shape
def test_one_error_shape_for_routing_and_size_errors(make_api: Any) -> None:
    api = make_api(max_body_bytes=100)
    assert_error(api.get("/ingest/nowhere"), 404, "not_found")
    assert_error(api.get("/ingest/owntracks"), 405, "method_not_allowed")
    assert_error(api.post("/ingest/overland", content=b"x" * 500), 413, "payload_too_large")


def test_error_response_renders_every_code() -> None:
    for code, status in STATUS.items():
        resp = error_response(ApiError(code, "what was wrong", field="f"))
        assert resp.status_code == status
        assert json.loads(bytes(resp.body)) == {
            "error": {"code": code, "message": "what was wrong", "field": "f"}
        }
    with pytest.raises(ValueError, match="unknown API error code"):
        ApiError("teapot", "x")


def test_non_finite_numbers_are_refused(api: Any, db: hb.Database) -> None:
    r = api.get(f"/ingest/osmand?id=a&lat=60&lon=30&timestamp={T0}&speed=nan")
    assert_error(r, 422, "invalid_record", "speed")
    assert db.fixes().num_rows == 0


def test_a_query_token_is_not_kept_in_rejects(make_api: Any, db: hb.Database) -> None:
    api = make_api(tokens={"sekrit-token": "van7"})
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/ingest/osmand?token=sekrit-token&location=1,2,3&cell=1,2,3,4&timestamp={T0}", {})
    ]
    calls.append(("GET", "/ingest/osmand?token=sekrit-token&cell=1,2,x,4&wifi=00-14-22-01-23-45,-80", {}))
    rs = api.concurrently(calls)
    assert [r.status_code for r in rs] == [200, 200]
    rej = db.rejects().to_pylist()
    assert [x["field"] for x in rej] == ["cell"]
    assert all("sekrit" not in (x["raw"] or "") for x in rej)
    assert db.scans().num_rows == 1  # the Wi-Fi scan of the position-less request
    assert db.fixes().column("device").to_pylist() == ["van7"]


def test_empty_json_content_type_on_a_get_is_not_an_error(api: Any, db: hb.Database) -> None:
    r = api.get(
        f"/ingest/osmand?id=a&lat=60&lon=30&timestamp={T0}", headers={"content-type": "application/json"}
    )
    assert r.status_code == 200
    assert db.fixes().num_rows == 1


def test_serve_runs_the_app_with_uvicorn(db: hb.Database, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from hereabouts.server import serve

    seen: dict[str, Any] = {}

    def fake_run(app: Any, **kw: Any) -> None:
        seen.update(kw, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    serve(db, port=9999, tokens={"t": "d"}, max_body_bytes=1234)
    assert seen["port"] == 9999 and seen["host"] == "127.0.0.1"
    cfg = seen["app"].state.ingest
    assert cfg.tokens == {"t": "d"} and cfg.max_body_bytes == 1234 and cfg.db is db
