"""`hereabouts serve --workers N`: worker processes read ingest requests, the main process writes.

The workers answer exactly as the single-process server does (the same handlers: tokens of the
accounts, errors, replies); the REST API reaches the main process through them; nothing a worker
acknowledged is missing after a graceful stop; a dead worker is replaced."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import httpx
import psutil
import pytest

import hereabouts as hb
from hereabouts.accounts import Accounts

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_with_workers(db_path: Path, port: int, workers: int = 2) -> subprocess.Popen[bytes]:
    """``hereabouts serve --workers`` on ``db_path`` in a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "hereabouts", "-q", "--db", str(db_path), "serve", "--port", str(port),
         "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            assert proc.poll() is None, "the server exited while starting"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)


def _workers(proc: subprocess.Popen[bytes], n: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 60
    while True:
        kids = []
        for p in psutil.Process(proc.pid).children():
            try:
                if p.status() != psutil.STATUS_ZOMBIE and "worker_main" in " ".join(p.cmdline()):
                    kids.append(p)
            except psutil.Error:
                continue
        if len(kids) >= n or time.monotonic() > deadline:
            return kids
        time.sleep(0.1)


def test_workers_serve_ingest_and_pass_the_api_on(tmp_path: Path) -> None:
    db_path = tmp_path / "live.db"
    db = hb.open(db_path)
    acc = Accounts(db.store)
    acc.add_user("jane", "jane-password")
    token, device = acc.add_device("jane", "phone")
    db.close()
    port = _free_port()
    proc = _serve_with_workers(db_path, port)
    acked: list[int] = []
    try:
        _wait(port, proc)
        workers = _workers(proc, 2)
        assert len(workers) == 2
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for i in range(40):  # new connections each time: the kernel spreads them over the workers
                tst = 1_714_550_400 + i
                msg = {"_type": "location", "tst": tst, "lat": 48.1371, "lon": 11.5754, "acc": 8}
                r = httpx.post(
                    f"http://127.0.0.1:{port}/ingest/owntracks", json=msg, auth=("jane", token), timeout=30
                )
                assert r.status_code == 200 and r.json() == [], r.text
                acked.append(tst)
            locs = [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [11.5754, 48.1371 + i * 1e-4]},
                    "properties": {
                        "timestamp": dt.datetime.fromtimestamp(1_714_560_000 + i, dt.UTC).strftime(
                            "%Y-%m-%dT%H:%M:%SZ"
                        ),
                        "horizontal_accuracy": 5,
                    },
                }
                for i in range(50)
            ]
            r = http.post(f"/ingest/overland?token={token}", json={"locations": locs})
            assert r.status_code == 200 and r.json()["saved"] == 50
            # the same errors as one process
            r = http.post("/ingest/owntracks", json={"_type": "location", "tst": 1, "lat": 1, "lon": 1})
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
            r = http.post("/ingest/owntracks", content=b"{}", auth=("jane", "not-a-token"))
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
            r = http.post("/ingest/owntracks", content=b"{nope", auth=("jane", token))
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
            # the REST API and unknown paths are answered by the main process, through a worker
            r = http.get("/api/v1/openapi.json")
            assert r.status_code == 200 and "paths" in r.json()
            r = http.get("/no/such/thing")
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
            r = http.get("/ingest/owntracks")
            assert r.status_code == 405
        # a worker that dies is replaced
        os.kill(workers[0].pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = _workers(proc, 2)
            if len(now) == 2 and workers[0].pid not in {p.pid for p in now}:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the killed worker was not replaced")
        time.sleep(3)  # the new worker listens
        msg = {"_type": "location", "tst": 1_714_600_000, "lat": 48.1, "lon": 11.5, "acc": 8}
        for _ in range(4):
            r = httpx.post(
                f"http://127.0.0.1:{port}/ingest/owntracks", json=msg, auth=("jane", token), timeout=30
            )
            assert r.status_code == 200
        acked.append(1_714_600_000)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers[1:])
    db = hb.open(db_path, read_only=True)
    try:
        stored = {int(t.timestamp()) for t in db.fixes(device=device).column("t").to_pylist()}
        assert set(acked) <= stored
        assert len(stored) == len(acked) + 50  # the Overland batch; replays de-duplicated
    finally:
        db.close()


def _locations(reply: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The friends of an OwnTracks reply: name -> its location message."""
    names = {m["tid"]: m["name"] for m in reply if m["_type"] == "card"}
    return {names[m["tid"]]: m for m in reply if m["_type"] == "location"}


def test_workers_reply_to_owntracks_with_the_friends_of_the_workspace(tmp_path: Path) -> None:
    db_path = tmp_path / "live.db"
    db = hb.open(db_path)
    acc = Accounts(db.store)
    for name in ("alice", "bob", "carol"):
        acc.add_user(name, f"{name}-password")
    acc.set_member("alice", "carol", "owner")
    tokens = {
        "alice/phone": acc.add_device("alice", "phone")[0],
        "alice/tablet": acc.add_device("alice", "tablet")[0],
        "carol/watch": acc.add_device("carol", "watch", workspace="alice")[0],
        "bob/phone": acc.add_device("bob", "phone")[0],
    }
    api_token = acc.add_api_token("alice")
    db.close()
    port = _free_port()
    proc = _serve_with_workers(db_path, port)

    def post(device: str, tst: int, lat: float) -> list[dict[str, Any]]:
        msg = {"_type": "location", "tst": tst, "lat": lat, "lon": 5.12, "acc": 8, "tid": "zz"}
        user = device.split("/")[0]
        r = httpx.post(  # a new connection each time: the kernel spreads them over the workers
            f"http://127.0.0.1:{port}/ingest/owntracks",
            json=msg,
            auth=(user, tokens[device]),
            headers={"X-Limit-U": user, "X-Limit-D": device.split("/")[1]},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert isinstance(body, list)
        return body

    def until(check: Any, what: str, seconds: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while True:
            reply = check()
            if reply is not None:
                return cast(list[dict[str, Any]], reply)
            assert time.monotonic() < deadline, what
            time.sleep(0.3)

    t0 = 1_740_000_000
    try:
        _wait(port, proc)
        assert len(_workers(proc, 2)) == 2
        assert post("alice/tablet", t0, 52.10) == []  # nobody else has a position yet
        assert post("bob/phone", t0, 52.30) == []  # alone in bob's workspace
        # the phone hears of the tablet (within a second of caching), never of bob's phone
        n = iter(range(1, 1000))
        reply = until(
            lambda: (
                r if "alice/tablet" in _locations(r := post("alice/phone", t0 + next(n), 52.09)) else None
            ),
            "the phone was never told of the tablet",
        )
        locs = _locations(reply)
        assert set(locs) == {"alice/tablet"}
        assert {k: locs["alice/tablet"][k] for k in ("lat", "lon", "tst", "acc")} == {
            "lat": 52.10, "lon": 5.12, "tst": t0, "acc": 8,
        }  # fmt: skip
        assert all(m["tid"] != "zz" for m in reply)  # the workspace's own tracker ids
        # the tablet moves: the phone hears of the newer position
        post("alice/tablet", t0 + 2000, 52.12)
        until(
            lambda: (
                r
                if _locations(r := post("alice/phone", t0 + 3000 + next(n), 52.09))
                .get("alice/tablet", {})
                .get("tst")
                == t0 + 2000
                else None
            ),
            "the phone was never told of the tablet's newer position",
        )
        # bob's phone is still told of no one, however often it asks, on whichever worker
        for i in range(6):
            assert post("bob/phone", t0 + 10 + i, 52.30) == []
        # carol's watch is in alice's workspace: it sees alice's devices, not bob's
        reply = until(
            lambda: r if len(_locations(r := post("carol/watch", t0 + 4000 + next(n), 52.2))) == 2 else None,
            "the watch was never told of alice's devices",
        )
        assert set(_locations(reply)) == {"alice/phone", "alice/tablet"}
        # carol leaves alice's workspace (through the API, which the main process serves): the watch's
        # replies turn to [] (its fixes are still stored)
        r = httpx.put(
            f"http://127.0.0.1:{port}/api/v1/workspaces/alice/members",
            json={"user": "carol", "role": None},
            headers={"Authorization": f"Bearer {api_token}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        until(
            lambda: [] if post("carol/watch", t0 + 5000 + next(n), 52.2) == [] else None,
            "the watch still sees alice's workspace after carol left it",
        )
        for i in range(4):
            assert post("carol/watch", t0 + 6000 + i, 52.2) == []
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def test_a_worker_asks_the_main_process_once_a_second_per_workspace(tmp_path: Path) -> None:
    """RemoteFriends against the main process's RPC socket (WriterService): the views of a workspace
    serve all its devices for REPLY_S; devices of other workspaces never see them."""
    from datetime import UTC, datetime

    from hereabouts.server._friends import REPLY_S, View
    from hereabouts.server._workers import RemoteFriends, WriterService

    t = datetime(2025, 2, 19, 21, 20, tzinfo=UTC)
    pos = {"t": t, "lat": 52.1, "lon": 5.1, "acc": 8.0}
    views = {
        "alice": View("alice", frozenset({"alice"}), (("alice/tablet", pos), ("alice/phone", pos)),
                      {"alice/phone": "ap", "alice/tablet": "at"}),
        "bob": View("bob", frozenset({"bob"}), (("bob/phone", pos),), {"bob/phone": "bp"}),
    }  # fmt: skip
    ws_of = {"alice/phone": "alice", "alice/tablet": "alice", "carol/watch": "alice", "bob/phone": "bob"}
    asked: list[str] = []

    def shipped_view(device: str) -> View | None:
        asked.append(device)
        ws = ws_of.get(device)
        if ws is None:
            return None
        v = views[ws]
        return View(v.workspace, v.members, v.ranked, v.tids, v.max_friends, time.monotonic())

    path = str(tmp_path / "rpc.sock")
    service = WriterService(cast(Any, None), path, lambda _t: None, shipped_view)
    friends = RemoteFriends(path)

    async def go() -> None:
        replies = await asyncio.gather(*(friends.areply("alice/phone") for _ in range(20)))
        assert all(r == replies[0] for r in replies)
        assert [m["name"] for m in replies[0] if m["_type"] == "card"] == ["alice/tablet"]
        assert asked == ["alice/phone"]  # twenty replies, one look-up
        tablet = await friends.areply("alice/tablet")
        assert [m["name"] for m in tablet if m["_type"] == "card"] == ["alice/phone"]
        assert await friends.areply("carol/watch") == []  # carol is not a member of alice's workspace
        assert asked == ["alice/phone", "alice/tablet", "carol/watch"]  # a device's workspace: asked once
        await friends.areply("alice/tablet")
        await friends.areply("alice/phone")
        assert len(asked) == 3
        assert await friends.areply("bob/phone") == []  # alone in bob's workspace
        assert await friends.areply("stranger/phone") == []  # in no workspace
        assert await friends.areply("stranger/phone") == []
        assert await friends.areply(None) == []
        assert asked[3:] == ["bob/phone", "stranger/phone"]
        await asyncio.sleep(REPLY_S + 0.1)
        await asyncio.gather(friends.areply("alice/tablet"), friends.areply("alice/phone"))
        assert len(asked) == 6  # a second later the workspace is asked about again, once
        await friends.close()

    try:
        asyncio.run(go())
    finally:
        service.close()
