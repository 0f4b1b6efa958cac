"""`hereabouts serve --workers N`: worker processes read ingest requests, the main process writes.

The workers answer exactly as the single-process server does (the same handlers: tokens of the
accounts, errors, replies); the REST API reaches the main process through them; nothing a worker
acknowledged is missing after a graceful stop; a dead worker is replaced."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

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
    proc = subprocess.Popen(
        [sys.executable, "-m", "hereabouts", "-q", "--db", str(db_path), "serve", "--port", str(port),
         "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
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
