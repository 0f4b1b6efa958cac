"""Stays and places stay current as fixes arrive: the background analysis after the writer's commits."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import hereabouts as hb
from hereabouts.accounts import Accounts
from hereabouts.analysis import incremental
from hereabouts.server import create_app

PG_URL = os.environ.get("HEREABOUTS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

T0 = 1_740_000_000  # 2025-02-19T21:20:00Z
HOME = (52.09, 5.12)
WORK = (52.11, 5.15)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema on the test PostgreSQL (as in test_server_postgres), skipped when unreachable."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=5) as con:
            con.execute("SELECT 1").fetchall()
    except Exception as exc:
        if os.environ.get("HEREABOUTS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is not reachable at {PG_URL}: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL}")
    schema = f"hb_test_{uuid.uuid4().hex[:12]}"
    yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["duckdb", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if request.param == "postgres":
        db = hb.open(request.getfixturevalue("pg_schema"))
    else:
        db = hb.open(tmp_path / "analysis.db")
    acc = Accounts(db.store)
    acc.add_user("alice", "alice-password")
    ingest, _ = acc.add_device("alice", "phone")
    api = acc.add_api_token("alice")
    app = create_app(db, accounts=acc, analysis_delay_s=0.2)
    runner = asyncio.Runner()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hb.test")

    def post(tst: int, at: tuple[float, float]) -> httpx.Response:
        msg = {"_type": "location", "tst": tst, "lat": at[0], "lon": at[1], "acc": 8, "tid": "ap"}
        return runner.run(http.post("/ingest/owntracks", json=msg, auth=("alice", ingest)))

    def get(path: str) -> dict[str, Any]:
        r = runner.run(
            http.get(f"/api/v1/workspaces/alice/{path}", headers={"Authorization": f"Bearer {api}"})
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    yield {"db": db, "app": app, "post": post, "get": get}
    runner.run(http.aclose())
    runner.close()
    app.state.ingest.writer.close()
    app.state.analysis.close()
    db.close()


def _stay(post: Any, t0: int, at: tuple[float, float], minutes: int = 60) -> None:
    for i in range(0, minutes * 60 + 1, 120):
        assert post(t0 + i, at).status_code == 200


def test_a_stay_posted_over_http_is_analysed_without_asking(world: dict[str, Any]) -> None:
    db, post, get, analysis = world["db"], world["post"], world["get"], world["app"].state.analysis
    _stay(post, T0, HOME)
    assert post(T0 + 3700, WORK).status_code == 200  # it left: the stay at home has ended
    assert analysis.wait_idle(30)
    # analysed in the background: the stored stays are current before anyone reads them
    assert analysis.runs >= 1 and analysis.failures == 0
    assert incremental.is_current(db.store, "alice/phone")
    stored = incremental.stored_stays(db.store, "alice/phone")
    assert stored.num_rows == 1

    stays = get("stays?entity=alice/phone")["stays"]
    assert len(stays) == 1
    assert stays[0]["lat"] == pytest.approx(HOME[0], abs=1e-4)
    assert stays[0]["start"] == "2025-02-19T21:20:00Z"
    places = get("places?entity=alice/phone")["places"]
    assert len(places) == 1 and places[0]["lat"] == pytest.approx(HOME[0], abs=1e-4)

    # a second stay, at work, then back home: both are current again, through the same API
    _stay(post, T0 + 3700, WORK)
    assert post(T0 + 7500, HOME).status_code == 200
    assert analysis.wait_idle(30)
    assert incremental.is_current(db.store, "alice/phone")
    stays = get("stays?entity=alice/phone")["stays"]
    assert [round(s["lat"], 2) for s in stays] == [HOME[0], WORK[0]]
    assert len(get("places?entity=alice/phone")["places"]) == 2
    # exactly what a full analysis of every fix finds
    full = db.stays("alice/phone").to_pylist()
    assert [(s["start"], s["end"]) for s in full] == [
        (s["start"], s["end"]) for s in incremental.stored_stays(db.store, "alice/phone").to_pylist()
    ]


def test_acknowledgements_never_wait_for_the_analysis(world: dict[str, Any]) -> None:
    db, post, analysis = world["db"], world["post"], world["app"].state.analysis
    started, release = threading.Event(), threading.Event()
    real = db.analyze

    def slow(*args: Any, **kw: Any) -> Any:
        started.set()
        release.wait(30)
        return real(*args, **kw)

    db.analyze = slow  # type: ignore[method-assign]
    try:
        _stay(post, T0, HOME, minutes=10)
        assert started.wait(10)  # the analysis is running (and held up) ...
        t = time.perf_counter()
        assert post(T0 + 4000, WORK).status_code == 200  # ... and a new fix is still acknowledged at once
        assert time.perf_counter() - t < 2.0
        assert db.fixes("alice/phone").num_rows == 7
    finally:
        release.set()
        db.analyze = real  # type: ignore[method-assign]
    assert analysis.wait_idle(30)
    assert incremental.is_current(db.store, "alice/phone")


def test_the_analysis_can_be_turned_off(tmp_path: Path) -> None:
    db = hb.open(tmp_path / "off.db")
    app = create_app(db, tokens={"t": "jane/phone"}, analysis_delay_s=None)
    assert app.state.analysis is None
    db.close()
