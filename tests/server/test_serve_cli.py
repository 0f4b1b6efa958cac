"""`hereabouts serve` runs the real server (uvicorn) and an OwnTracks app can report to it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

import hereabouts as hb


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_accepts_an_owntracks_post_and_stores_it(tmp_path: Path) -> None:
    db_path = tmp_path / "live.db"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hereabouts", "--db", str(db_path), "serve", "--port", str(port)],
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
        if proc.stderr:
            proc.stderr.close()
    db = hb.open(db_path, read_only=True)
    try:
        fixes = db.fixes(device="jane/phone")
        assert fixes.num_rows == 1 and fixes.column("lat")[0].as_py() == 48.1371
    finally:
        db.close()
