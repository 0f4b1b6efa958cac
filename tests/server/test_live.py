"""Real time over a real uvicorn server: the SSE stream, geofence enter/leave events and webhooks."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import uvicorn

import hereabouts as hb
from hereabouts.accounts import Accounts
from hereabouts.server import create_app

T0 = 1_740_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Hooks(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hooks.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    db = hb.open(tmp_path / "live.db")
    acc = Accounts(db.store)
    acc.add_user("alice", "alice-password")
    acc.add_user("bob", "bob-password")
    ingest, _ = acc.add_device("alice", "phone")
    bob_ingest, _ = acc.add_device("bob", "phone")
    api = acc.add_api_token("alice")
    bob_api = acc.add_api_token("bob")

    hooks = HTTPServer(("127.0.0.1", 0), _Hooks)
    _Hooks.received = []
    threading.Thread(target=hooks.serve_forever, daemon=True).start()

    port = _free_port()
    app = create_app(db, accounts=acc)
    srv = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield {
        "db": db, "url": f"http://127.0.0.1:{port}", "ingest": ingest, "bob_ingest": bob_ingest, "api": api,
        "bob_api": bob_api, "hook_url": f"http://127.0.0.1:{hooks.server_address[1]}/hook", "app": app,
    }  # fmt: skip
    app.state.live.close()  # ends the open event streams, so the server can stop at once
    srv.should_exit = True
    thread.join(30)
    hooks.shutdown()
    hooks.server_close()
    db.close()


def _collect(url: str, token: str, out: list[tuple[str, dict[str, Any]]], stop: threading.Event) -> None:
    with (
        httpx.Client(timeout=httpx.Timeout(5, read=30)) as http,
        http.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        assert r.status_code == 200
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event:
                out.append((event, json.loads(line[6:])))
            if stop.is_set():
                return


def _post(base: str, token: str, tst: int, lat: float) -> None:
    msg = {"_type": "location", "tst": tst, "lat": lat, "lon": 5.12, "acc": 8}
    r = httpx.post(f"{base}/ingest/owntracks", json=msg, auth=("x", token), timeout=30)
    assert r.status_code == 200, r.text


def test_stream_pushes_positions_and_geofence_events_and_calls_the_webhook(server: dict[str, Any]) -> None:
    base, api = server["url"], server["api"]
    r = httpx.post(f"{base}/api/v1/workspaces/alice/geofences", headers={"Authorization": f"Bearer {api}"},
                   json={"name": "Office", "lat": 52.09, "lon": 5.12, "radius_m": 100, "webhook": server["hook_url"]})  # fmt: skip
    assert r.status_code == 201, r.text

    alice_events: list[tuple[str, dict[str, Any]]] = []
    bob_events: list[tuple[str, dict[str, Any]]] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_collect, args=(f"{base}/api/v1/workspaces/alice/stream", api, alice_events, stop)),
        threading.Thread(target=_collect, args=(f"{base}/api/v1/workspaces/bob/stream", server["bob_api"], bob_events, stop)),
    ]  # fmt: skip
    for t in threads:
        t.daemon = True
        t.start()
    time.sleep(0.5)
    # outside (1.1 km north), inside, inside, outside: one enter, one leave
    for i, lat in enumerate((52.10, 52.0901, 52.0899, 52.10)):
        _post(base, server["ingest"], T0 + 60 * i, lat)
    _post(base, server["bob_ingest"], T0, 52.0900)  # bob's phone in the same spot: not alice's geofence

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (
        sum(1 for e, _d in alice_events if e == "geofence") < 2 or len(_Hooks.received) < 2
    ):
        time.sleep(0.05)
    stop.set()
    fences = [d for e, d in alice_events if e == "geofence"]
    assert [(f["event"], f["name"], f["device"]) for f in fences] == [
        ("enter", "Office", "alice/phone"),
        ("leave", "Office", "alice/phone"),
    ]
    assert fences[0]["t"] == "2025-02-19T21:21:00Z"
    positions = [d for e, d in alice_events if e == "position"]
    assert len(positions) >= 4 and {p["device"] for p in positions} == {"alice/phone"}
    assert [h["event"] for h in _Hooks.received] == ["enter", "leave"]
    assert all(e != "geofence" for e, _d in bob_events)  # bob sees nothing of alice's
    assert all(d.get("device") != "alice/phone" for _e, d in bob_events)

    # the events are stored like any other record
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server["db"].events().num_rows < 2:
        time.sleep(0.05)
    stored = server["db"].events().to_pylist()
    assert [(e["kind"], json.loads(e["data"])["event"]) for e in stored] == [
        ("geofence", "enter"),
        ("geofence", "leave"),
    ]


def test_geofence_validation_and_roles(server: dict[str, Any]) -> None:
    base, api = server["url"], server["api"]
    h = {"Authorization": f"Bearer {api}"}
    bad = httpx.post(f"{base}/api/v1/workspaces/alice/geofences", headers=h,
                     json={"name": "x", "lat": 95, "lon": 5, "radius_m": 50})  # fmt: skip
    assert bad.status_code == 400 and "latitude" in bad.json()["error"]["message"]
    bad = httpx.post(f"{base}/api/v1/workspaces/alice/geofences", headers=h, json={"name": "x", "lat": "52"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "lat"
    ok = httpx.post(f"{base}/api/v1/workspaces/alice/geofences", headers=h,
                    json={"name": "Lake", "lat": 52.1, "lon": 5.1, "radius_m": 300})  # fmt: skip
    gid = ok.json()["id"]
    listed = httpx.get(f"{base}/api/v1/workspaces/alice/geofences", headers=h).json()["geofences"]
    assert [g["name"] for g in listed] == ["Lake"]
    other = httpx.get(
        f"{base}/api/v1/workspaces/bob/geofences", headers={"Authorization": f"Bearer {server['bob_api']}"}
    )
    assert other.json()["geofences"] == []
    gone = httpx.delete(
        f"{base}/api/v1/workspaces/bob/geofences/{gid}",
        headers={"Authorization": f"Bearer {server['bob_api']}"},
    )
    assert gone.status_code == 404  # bob cannot remove alice's geofence through his own workspace
    assert httpx.delete(f"{base}/api/v1/workspaces/alice/geofences/{gid}", headers=h).status_code == 200
