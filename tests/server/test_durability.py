"""Durability: the server is killed (SIGKILL) during sustained ingest; every acknowledged fix survives.

With ``--workers`` the main process (the store's single writer) is the one killed: its worker processes
die with it, and every fix a worker acknowledged was committed by the main process first."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import hereabouts as hb

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(db_path: Path, port: int, tokens: Path, workers: int = 0) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hereabouts", "-q", "--db", str(db_path), "serve", "--port", str(port),
         "--tokens", str(tokens), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            assert proc.poll() is None, "the server exited while starting"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)


@pytest.mark.parametrize("workers", [0, 2])
def test_every_acknowledged_fix_survives_kill_9(tmp_path: Path, workers: int) -> None:
    db_path = tmp_path / "live.db"
    tokens = tmp_path / "tokens.json"
    devices = [f"dev{i}" for i in range(4)]
    tokens.write_text(json.dumps({f"tok-{d}": f"user/{d}" for d in devices}))
    port = _free_port()
    proc = _start(db_path, port, tokens, workers)

    acked: dict[str, list[int]] = {d: [] for d in devices}
    sent = {d: 0 for d in devices}
    stop = threading.Event()

    def client(dev: str) -> None:
        # sustained ingest: each device posts OwnTracks fixes back to back, as a phone catching up would
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            tst = 1_700_000_000
            while not stop.is_set():
                tst += 1
                msg = {
                    "_type": "location",
                    "tst": tst,
                    "lat": 52.09 + (tst % 1000) * 1e-5,
                    "lon": 5.12,
                    "acc": 9,
                }
                sent[dev] += 1  # counted before sending: a request in flight may be stored, unacknowledged
                try:
                    r = http.post("/ingest/owntracks", json=msg, auth=("user", f"tok-{dev}"))
                except httpx.HTTPError:
                    return  # the server is gone: whatever was not acknowledged may be lost
                if r.status_code == 200:
                    acked[dev].append(tst)

    threads = [threading.Thread(target=client, args=(d,)) for d in devices]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while sum(map(len, acked.values())) < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: requests are in flight
        proc.wait(timeout=30)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        if proc.poll() is None:
            proc.kill()
    n_acked = sum(map(len, acked.values()))
    assert n_acked >= 100, f"only {n_acked} fixes were acknowledged before the kill"
    if workers:  # the workers died with the main process: nothing answers on the port any more
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("a worker outlived the main process")

    # after a restart (recovery from the write-ahead log) every acknowledged fix is there
    restarted = _start(db_path, port, tokens, workers)
    restarted.send_signal(signal.SIGINT)
    restarted.wait(timeout=60)
    db = hb.open(db_path, read_only=True)
    try:
        for dev in devices:
            stored = db.fixes(device=f"user/{dev}").column("t").to_pylist()
            stored_s = {int(t.timestamp()) for t in stored}
            missing = set(acked[dev]) - stored_s
            assert not missing, f"{len(missing)} acknowledged fixes of user/{dev} were lost"
            assert len(stored_s) <= sent[dev]  # nothing invented
    finally:
        db.close()
