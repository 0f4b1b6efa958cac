"""The ingest server on PostgreSQL + PostGIS: requests round-trip into the server store, in process and
through ``hereabouts serve --database postgresql://...``; and the whole ingest suite (test_ingest.py) runs
again here, its ``db`` fixture overridden by the PostgreSQL one below.

PostgreSQL is found at ``HEREABOUTS_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
without it these tests are skipped, or fail when ``HEREABOUTS_REQUIRE_POSTGRES=1`` (as in CI).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_ingest import *  # noqa: F403  # every ingest test again, on PostgreSQL

import hereabouts as hb

pytestmark = pytest.mark.slow  # about forty tests, a fresh schema each

PG_URL = os.environ.get("HEREABOUTS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
T0 = 1718447400  # 2024-06-15T10:30:00Z


def _require_postgres() -> None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=5) as con:
            con.execute("SELECT 1").fetchall()
    except Exception as exc:
        problem = f"PostgreSQL is not reachable at {PG_URL}: {str(exc).strip()}"
        if os.environ.get("HEREABOUTS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{problem} (HEREABOUTS_REQUIRE_POSTGRES=1 requires it)", pytrace=False)
        pytest.skip(problem)


@pytest.fixture
def pg_url() -> Iterator[str]:
    _require_postgres()
    import psycopg

    schema = f"hb_test_{uuid.uuid4().hex[:12]}"
    yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def db(pg_url: str) -> Iterator[hb.Database]:
    """The ``db`` of tests/server/conftest.py, on PostgreSQL: ``api`` and ``make_api`` serve it."""
    database = hb.open(pg_url)
    yield database
    database.close()


def _loc(**kw: Any) -> bytes:
    msg = {"_type": "location", "tst": T0, "lat": 52.5, "lon": 13.4, "acc": 12, "vel": 36, "tid": "jp"}
    msg.update(kw)
    return json.dumps(msg).encode()


def test_owntracks_location_round_trips_into_postgres(api: Any, db: hb.Database) -> None:
    assert type(db.store).__name__ == "PostgresStore"
    h = {"X-Limit-U": "jane", "X-Limit-D": "phone"}
    r = api.post("/ingest/owntracks", content=_loc(), headers=h)
    assert r.status_code == 200 and r.json() == []
    (f,) = db.fixes().to_pylist()
    assert f["device"] == "jane/phone" and f["entity"] == "jane/phone"
    assert (f["lat"], f["lon"], f["accuracy_m"]) == (52.5, 13.4, 12)
    assert f["speed_mps"] == pytest.approx(10.0)
    assert int(f["t"].timestamp()) == T0
    # a replay is acknowledged and counted as a duplicate, not stored twice
    assert api.post("/ingest/owntracks", content=_loc(), headers=h).status_code == 200
    assert db.fixes().num_rows == 1
    src = db.sources().to_pylist()
    assert [(s["kind"], s["n_fixes"], s["n_duplicates"]) for s in src] == [
        ("owntracks_http", 1, 0),
        ("owntracks_http", 0, 1),
    ]


def test_transitions_and_waypoints_round_trip_as_events(api: Any, db: hb.Database) -> None:
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
    ev = db.events().to_pylist()
    assert [(e["device"], e["kind"]) for e in ev] == [
        ("jane/phone", "waypoint"),
        ("jane/phone", "transition"),
    ]
    assert json.loads(ev[1]["data"])["event"] == "enter"
    assert db.fixes().num_rows == 0


def test_concurrent_requests_are_all_stored_in_postgres(api: Any, db: hb.Database) -> None:
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/ingest/osmand?id=d{i % 4}&lat={50 + i / 1000}&lon=8&timestamp={T0 + i}", {})
        for i in range(40)
    ]
    rs = api.concurrently(calls)
    assert [r.status_code for r in rs] == [200] * 40
    assert db.fixes().num_rows == 40
    assert sorted(db.devices().column("n_fixes").to_pylist()) == [10, 10, 10, 10]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_with_database_url_stores_an_owntracks_post(pg_url: str) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hereabouts", "serve", "--database", pg_url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        msg = {"_type": "location", "tst": 1714550400, "lat": 48.1371, "lon": 11.5754, "acc": 8, "tid": "jp"}
        r = httpx.post(
            f"http://127.0.0.1:{port}/ingest/owntracks",
            json=msg,
            headers={"X-Limit-U": "jane", "X-Limit-D": "phone"},
            timeout=30,
        )
        assert r.status_code == 200 and r.json() == []
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        stderr = proc.stderr.read() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    assert "serving postgresql://postgres@127.0.0.1:5432/test" in stderr
    db = hb.open(pg_url, read_only=True)
    try:
        fixes = db.fixes(device="jane/phone")
        assert fixes.num_rows == 1 and fixes.column("lat")[0].as_py() == 48.1371
    finally:
        db.close()
