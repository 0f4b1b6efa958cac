"""Real time: latest positions and geofence enter/leave events, pushed as they are committed.

The single writer calls :meth:`LiveHub.committed` after each commit with the fixes it stored. The hub
keeps the latest position of each device, and for each geofence of the device's workspace whether the
device is inside (a fix is inside when its distance to the centre is at most the radius; an unknown
state becomes known with the first fix, without an event). A change of state is an ``enter`` or
``leave`` event with the fix that showed it. Events are:

* pushed to every open event stream of the workspace (``GET /api/v1/workspaces/{ws}/stream``, Server-Sent
  Events: ``event: position`` and ``event: geofence``);
* stored in the ``event`` tier (kind ``geofence``) so they are evidence like any other record;
* POSTed as JSON to the geofence's webhook, if it has one (from a background thread, three tries with
  back-off; a failure is logged, never blocks ingest).

Fixes arriving out of order (older than the device's latest) update neither the latest position nor
geofence states.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from ..accounts import Accounts
from ..analysis._geo import haversine_m
from ..model import schemas

log = logging.getLogger("hereabouts.server.live")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Geofence:
    id: str
    workspace: str
    name: str
    lat: float
    lon: float
    radius_m: float
    webhook: str | None = None

    def contains(self, lat: float, lon: float) -> bool:
        return float(haversine_m(self.lat, self.lon, lat, lon)) <= self.radius_m


class _Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop, workspace: str) -> None:
        self.loop = loop
        self.workspace = workspace
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue(1000)

    def push(self, item: tuple[str, dict[str, Any]] | None) -> None:
        def put() -> None:
            if self.queue.full():  # a slow reader loses the oldest, never blocks the writer
                self.queue.get_nowait()
            self.queue.put_nowait(item)

        self.loop.call_soon_threadsafe(put)


class LiveHub:
    """Latest positions, geofence states and event streams of a running server."""

    def __init__(self, accounts: Accounts, store: Any) -> None:
        self.accounts = accounts
        self.store = store
        self.latest: dict[str, dict[str, Any]] = {}
        self._inside: dict[tuple[str, str], bool] = {}
        self._geofences: list[Geofence] | None = None
        self._workspace_of: dict[str, str | None] = {}
        self._subs: list[_Subscriber] = []
        self._lock = threading.Lock()
        self._hooks: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(10_000)
        self._hook_thread: threading.Thread | None = None
        self.pending_events: list[pa.Table] = []
        self.webhook_failures = 0

    # ------------------------------------------------------------ geofences
    def geofences(self) -> list[Geofence]:
        if self._geofences is None:
            self._geofences = [Geofence(**g) for g in self.accounts.geofences()]
        return self._geofences

    def reload(self) -> None:
        """Re-read the geofences (after one was added or removed)."""
        with self._lock:
            self._geofences = None
            self.geofences()

    def _workspace(self, device: str, entity: str | None) -> str | None:
        key = entity or device
        if key not in self._workspace_of:
            self._workspace_of[key] = self.accounts.workspace_of_entity(key)
        return self._workspace_of[key]

    # ------------------------------------------------------------ the writer's callback
    def committed(self, tables: Iterable[tuple[str, pa.Table]]) -> None:
        """Called by the writer after a commit with what it stored."""
        events: list[tuple[str, dict[str, Any]]] = []
        with self._lock:
            for tier, table in tables:
                if tier != "fix" or table.num_rows == 0:
                    continue
                if hasattr(table, "to_table"):  # rows the writer has not made a table of
                    table = table.to_table()
                # integers, not datetimes: building a datetime per fix cost more than the rest
                t_us = table.column("t").cast(pa.int64()).to_numpy()
                dev = table.column("device").to_pylist()
                fenced = {g.workspace for g in self.geofences()}
                # only the newest fix of a device matters, unless its workspace has geofences
                last: dict[str, int] = {}
                for i, d in enumerate(dev):
                    j = last.get(d)
                    if j is None or t_us[i] >= t_us[j]:
                        last[d] = i
                rows: list[int] = []
                for d, j in last.items():
                    ws = self._workspace(d, d)
                    if ws is not None and ws in fenced:
                        rows += [i for i in range(len(dev)) if dev[i] == d]
                    else:
                        rows.append(j)
                rows.sort(key=lambda i: (dev[i], t_us[i]))
                lat = table.column("lat").to_numpy()
                lon = table.column("lon").to_numpy()
                acc = table.column("accuracy_m").to_pylist()
                for i in rows:
                    t = _EPOCH + timedelta(microseconds=int(t_us[i]))
                    events += self._fix(dev[i], t, float(lat[i]), float(lon[i]), acc[i])
        for ws, event in events:
            self._publish(ws, event)

    def _fix(
        self, device: str, t: datetime, lat: float, lon: float, acc: float | None
    ) -> list[tuple[str, dict[str, Any]]]:
        prev = self.latest.get(device)
        if prev is not None and t <= prev["t"]:
            return []
        ws = self._workspace(device, device)
        pos = {
            "type": "position",
            "device": device,
            "entity": device,
            "t": t,
            "lat": lat,
            "lon": lon,
            "accuracy_m": acc,
        }
        self.latest[device] = pos
        if ws is None:
            return []
        out: list[tuple[str, dict[str, Any]]] = [(ws, pos)]
        for g in self.geofences():
            if g.workspace != ws:
                continue
            inside = g.contains(lat, lon)
            was = self._inside.get((g.id, device))
            self._inside[(g.id, device)] = inside
            if was is None or was == inside:
                continue
            event = {
                "type": "geofence",
                "event": "enter" if inside else "leave",
                "geofence": g.id,
                "name": g.name,
                "device": device,
                "entity": device,
                "t": t,
                "lat": lat,
                "lon": lon,
            }
            out.append((ws, event))
            self.pending_events.append(_event_row(event))
            if g.webhook:
                self._webhook(g.webhook, event)
        return out

    # ------------------------------------------------------------ streams
    def subscribe(self, workspace: str) -> _Subscriber:
        sub = _Subscriber(asyncio.get_running_loop(), workspace)
        with self._lock:
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: _Subscriber) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def _publish(self, workspace: str, event: dict[str, Any]) -> None:
        if not self._subs:
            return
        with self._lock:
            subs = [s for s in self._subs if s.workspace == workspace]
        for s in subs:
            try:
                s.push((event["type"], event))
            except RuntimeError:  # its loop has closed
                self.unsubscribe(s)

    def close(self) -> None:
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            try:
                s.push(None)
            except RuntimeError:
                pass
        if self._hook_thread is not None:
            self._hooks.put(None)
            self._hook_thread.join(10)

    # ------------------------------------------------------------ webhooks
    def _webhook(self, url: str, event: dict[str, Any]) -> None:
        if self._hook_thread is None:
            self._hook_thread = threading.Thread(
                target=self._run_hooks, name="hereabouts-webhooks", daemon=True
            )
            self._hook_thread.start()
        try:
            self._hooks.put_nowait((url, event))
        except queue.Full:
            self.webhook_failures += 1
            log.error("webhook queue full; geofence event for %s dropped from the webhook", url)

    def _run_hooks(self) -> None:
        import time

        import httpx

        with httpx.Client(timeout=5) as http:
            while True:
                item = self._hooks.get()
                if item is None:
                    return
                url, event = item
                body = json.dumps(event, default=json_default)
                for attempt in range(3):
                    try:
                        r = http.post(url, content=body, headers={"Content-Type": "application/json"})
                        if r.status_code < 300:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.2 * 2**attempt)
                else:
                    self.webhook_failures += 1
                    log.error("webhook %s failed three times for a geofence event", url)


def json_default(value: Any) -> Any:
    """JSON for what ``json`` cannot write itself: times as ISO 8601 UTC ('Z'), NumPy scalars as
    numbers, sets and tuples as lists (the server's one rule, for the API and the event streams)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _event_row(event: dict[str, Any]) -> pa.Table:
    """One geofence event as a row of the event tier (kind ``geofence``)."""
    data = {"event": event["event"], "geofence": event["geofence"], "name": event["name"]}
    row = {
        "device": event["device"],
        "t": event["t"],
        "kind": "geofence",
        "lat": event["lat"],
        "lon": event["lon"],
        "data": json.dumps(data),
        "source_id": None,
    }
    return pa.Table.from_pylist([row], schema=schemas.EVENT)


def sse(event: str, data: dict[str, Any]) -> str:
    """One Server-Sent Events message."""
    return f"event: {event}\ndata: {json.dumps(data, default=json_default)}\n\n"
