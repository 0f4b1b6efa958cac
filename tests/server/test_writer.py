"""The single writer: acknowledgement after commit, durability, group commit, failure isolation."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import hereabouts as hb
from hereabouts.io import ReadOptions
from hereabouts.server import GroupWriter
from hereabouts.server._protocols import parse_osmand
from hereabouts.server._writer import Job

T0 = 1718447400


@contextmanager
def store_held(db: hb.Database) -> Iterator[threading.Event]:
    """Another thread holds the store's lock (as a long import would) until the event is set."""
    release = threading.Event()
    held = threading.Event()

    def hold() -> None:
        with db.store._lock:  # type: ignore[attr-defined]
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    try:
        yield release
    finally:
        release.set()
        t.join()


def osmand_job(device: str, lat: float) -> Job:
    params = {"id": [device], "lat": [str(lat)], "lon": ["30"], "timestamp": [str(T0)]}
    p = parse_osmand(params, None, options=ReadOptions(device=device))
    return Job(p.protocol, p.tables, p.counts)


def fix_count(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=False)
    try:
        return int(con.execute("SELECT count(*) FROM fixes").fetchall()[0][0])
    finally:
        con.close()


def test_the_reply_waits_for_the_commit(api: Any, db: hb.Database) -> None:
    async def go(release: threading.Event) -> int:
        task = asyncio.create_task(api.client.get(f"/ingest/osmand?id=a&lat=60&lon=30&timestamp={T0}"))
        await asyncio.sleep(0.3)
        assert not task.done(), "replied before the records were committed"
        release.set()
        r = await task
        return r.status_code

    with store_held(db) as release:
        status = api.runner.run(go(release))
    assert status == 200
    assert db.fixes().num_rows == 1


def test_a_fix_is_durable_when_acknowledged(api: Any, db: hb.Database, db_path: Path, tmp_path: Path) -> None:
    r = api.get(f"/ingest/osmand?id=a&lat=60&lon=30&timestamp={T0}")
    assert r.status_code == 200
    # a fresh connection to the same file sees it at once
    assert fix_count(db_path) == 1
    # and it is on disk: a copy of the files as they are now (as after a crash) holds it
    crash = tmp_path / "crash"
    crash.mkdir()
    for p in db_path.parent.glob(db_path.name + "*"):
        shutil.copy(p, crash / p.name)
    assert fix_count(crash / db_path.name) == 1


def test_requests_waiting_together_are_committed_in_one_group(db: hb.Database) -> None:
    writer = GroupWriter(db)
    try:
        with store_held(db) as release:
            first = writer.submit(osmand_job("d0", 60.0))
            deadline = time.monotonic() + 5
            while writer._queue.qsize() and time.monotonic() < deadline:  # the writer took the first
                time.sleep(0.01)
            rest = [writer.submit(osmand_job(f"d{i}", 60.0 + i / 100)) for i in range(1, 30)]
            time.sleep(0.1)
            assert not first.done() and not any(f.done() for f in rest)
            release.set()
            for f in [first, *rest]:
                assert f.result(10).fixes == 1
    finally:
        writer.close()
    assert writer.stats.groups == 2 and writer.stats.requests == 30
    assert db.fixes().num_rows == 30
    src = db.sources().to_pylist()
    assert [s["n_fixes"] for s in src] == [1, 29]


def test_a_failing_request_does_not_fail_its_group(db: hb.Database) -> None:
    writer = GroupWriter(db)
    good = osmand_job("ok", 60.0)
    broken = osmand_job("bad", 61.0)
    broken.tables = [("fix", pa.table({"device": ["bad"], "nonsense": [1]}))]
    try:
        with store_held(db) as release:
            blocker = writer.submit(osmand_job("first", 59.0))
            time.sleep(0.1)
            futures = [writer.submit(good), writer.submit(broken), writer.submit(osmand_job("ok2", 62.0))]
            release.set()
            assert blocker.result(10).fixes == 1
            assert futures[0].result(10).fixes == 1
            assert futures[2].result(10).fixes == 1
            with pytest.raises(Exception):  # noqa: B017 - whatever the store raised reaches the request
                futures[1].result(10)
    finally:
        writer.close()
    assert sorted(db.fixes().column("device").to_pylist()) == ["first", "ok", "ok2"]
    assert writer.stats.retried_alone == 3


def test_store_failure_is_a_503_with_the_error_shape(api: Any, db: hb.Database, monkeypatch: Any) -> None:
    from hereabouts.model.errors import StoreError

    def fail(*a: Any, **k: Any) -> Any:
        raise StoreError("disk full")

    monkeypatch.setattr(db.store, "begin_import", fail)
    r = api.get(f"/ingest/osmand?id=a&lat=60&lon=30&timestamp={T0}")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "store_error"
    assert "disk full" in r.json()["error"]["message"]


def test_concurrent_requests_are_all_stored(api: Any, db: hb.Database) -> None:
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/ingest/osmand?id=d{i % 4}&lat={50 + i / 1000}&lon=8&timestamp={T0 + i}", {})
        for i in range(40)
    ]
    rs = api.concurrently(calls)
    assert [r.status_code for r in rs] == [200] * 40
    assert db.fixes().num_rows == 40
    assert api.app.state.ingest.writer.stats.requests == 40


def test_closed_writer_refuses_work(db: hb.Database) -> None:
    writer = GroupWriter(db)
    f = writer.submit(osmand_job("a", 60.0))
    assert f.result(10).fixes == 1
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(osmand_job("b", 60.0))


def test_a_full_queue_is_a_503_busy(make_api: Any, db: hb.Database) -> None:
    api = make_api(max_queue=2)
    writer = api.app.state.ingest.writer
    q = "/ingest/osmand?id=a&lon=30&timestamp={}&lat={}"

    async def go(release: threading.Event) -> list[int]:
        first = asyncio.create_task(api.client.get(q.format(T0, 60)))
        deadline = time.monotonic() + 5
        while (writer._thread is None or writer._queue.qsize()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # until the writer holds the first request
        waiting = [asyncio.create_task(api.client.get(q.format(T0 + i, 60 + i))) for i in (1, 2)]
        await asyncio.sleep(0.1)
        busy = await api.client.get(q.format(T0 + 3, 63))
        release.set()
        return [r.status_code for r in [busy, await first, *(await asyncio.gather(*waiting))]]

    with store_held(db) as release:
        statuses = api.runner.run(go(release))
    assert statuses == [503, 200, 200, 200]
    assert db.fixes().num_rows == 3
