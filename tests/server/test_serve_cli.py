"""`hereabouts serve` runs the real server (uvicorn) and an OwnTracks app can report to it."""

from __future__ import annotations

import inspect
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import hereabouts as hb
from hereabouts.accounts import Accounts
from hereabouts.cli import app as cli_app
from hereabouts.server import create_app


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


def _served_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, Any]:
    """Run ``hereabouts serve ARGS`` in this process up to the point uvicorn would take over; what the
    app it was given holds (with a user, so the REST API and OwnTracks friends are on)."""
    import uvicorn

    from hereabouts.server import _workers

    db_path = tmp_path / "live.db"
    if not db_path.exists():
        db = hb.open(db_path)
        Accounts(db.store).add_user("jane", "jane-password")
        db.close()
    seen: dict[str, Any] = {}

    def capture(app: Any, **kw: Any) -> None:
        seen["friends"] = app.state.friends.max_friends
        analysis = app.state.analysis
        seen["analysis_delay_s"] = analysis.delay_s if analysis is not None else None
        seen["workers"] = kw.get("workers", 0)
        app.state.ingest.writer.close()
        if analysis is not None:
            analysis.close()

    monkeypatch.setattr(uvicorn, "run", capture)
    monkeypatch.setattr(_workers, "serve_workers", capture)
    result = CliRunner().invoke(cli_app, ["--db", str(db_path), "serve", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return seen


def test_serve_flags_reach_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = inspect.signature(create_app).parameters
    seen = _served_app(tmp_path, monkeypatch)
    assert seen == {
        "friends": defaults["owntracks_friends"].default,
        "analysis_delay_s": defaults["analysis_delay_s"].default,
        "workers": 0,
    }
    seen = _served_app(tmp_path, monkeypatch, "--owntracks-friends", "3", "--analysis-delay-s", "0.5")
    assert seen == {"friends": 3, "analysis_delay_s": 0.5, "workers": 0}
    seen = _served_app(tmp_path, monkeypatch, "--owntracks-friends", "0", "--no-analysis", "--workers", "2")
    assert seen == {"friends": 0, "analysis_delay_s": None, "workers": 2}
    result = CliRunner().invoke(
        cli_app, ["--db", str(tmp_path / "live.db"), "serve", "--owntracks-friends", "-1"]
    )
    assert result.exit_code != 0  # a negative count is refused
