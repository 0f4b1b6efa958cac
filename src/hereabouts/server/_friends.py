"""The reply to an OwnTracks HTTP request: the last positions of the device's friends.

In HTTP mode the OwnTracks apps learn about other devices only from the replies to their own POSTs:
the body is a JSON array of OwnTracks messages, ``[]`` when there is nothing to tell. The apps
identify each friend by its ``tid`` (they file it under a made-up topic built from it), so every
message carries one, and the friends' ``tid`` values in one reply are distinct. For each friend the
reply holds a ``card`` (its name, shown instead of the initials) and a ``location`` (``tid``,
``lat``, ``lon``, ``tst`` and, when known, ``acc``), as the OwnTracks Recorder does.

**Which friends:** the other entities of the workspace the sending device belongs to, and only while
the device's user (``user`` of ``user/device``) is still a member of that workspace. Nothing crosses
workspaces. Without accounts (static tokens, or development mode) there are no workspaces, so the
reply is ``[]``.

Positions come from the live hub (the latest fix of each device committed since the server started,
kept in memory) over the store's latest fixes, read at most once every :data:`CACHE_S` seconds per
workspace: building the reply reads nothing from the store on most requests, and their ranking is
reused for :data:`REPLY_S` (a :class:`View` of the workspace: its members, ranked positions and
tracker ids; with ``serve --workers`` the main process sends it to the ingest workers, which keep it
for as long and build their replies from it, :mod:`._workers`). A reply tells of at most ``max_friends`` friends (50 by default, the most
recently seen, so that a fleet in one workspace does not make every reply grow with its size;
``create_app(owntracks_friends=0)`` turns replies back to ``[]``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: seconds a workspace's entities, membership and stored latest positions are reused
CACHE_S = 5.0
#: seconds a workspace's ranked positions (stored and live together) are reused
REPLY_S = 1.0


@dataclass(frozen=True)
class View:
    """What the replies to the devices of one workspace are made of, for :data:`REPLY_S`: its members,
    its entities with a position (the most recently seen first) and their tracker ids. The main process
    sends it to the ingest workers (:mod:`._workers`), which build their replies from it."""

    workspace: str
    #: the users who are members of the workspace
    members: frozenset[str]
    #: (entity, {t, lat, lon, acc}), the most recently seen first
    ranked: tuple[tuple[str, dict[str, Any]], ...]
    #: entity -> tracker id, over the whole workspace (a friend keeps its tid from reply to reply)
    tids: dict[str, str]
    max_friends: int = 50
    #: when it was made (``time.monotonic()``, the same clock in every process of the machine)
    made: float = 0.0

    def reply(self, device: str, max_friends: int | None = None) -> list[dict[str, Any]]:
        """The reply to ``device``, an entity of this workspace: ``[]`` when its user is no longer a
        member (they see no one through it) or ``max_friends`` is 0."""
        if device.split("/", 1)[0] not in self.members:
            return []
        limit = self.max_friends if max_friends is None else max_friends
        if limit <= 0:
            return []
        friends = [(n, p) for n, p in self.ranked if n != device][:limit]
        return messages(dict(friends), self.tids)

    def trimmed(self, max_friends: int) -> View:
        """This view with only what a reply under ``max_friends`` can use (the device itself being
        one of the ranked), to send to another process."""
        ranked = self.ranked[: max_friends + 1] if max_friends > 0 else ()
        return View(
            self.workspace,
            self.members,
            ranked,
            {n: self.tids[n] for n, _ in ranked if n in self.tids},
            max_friends,
            self.made,
        )


class Friends:
    """Builds OwnTracks HTTP replies for one server (its accounts, store and live hub)."""

    def __init__(self, accounts: Any, store: Any, hub: Any | None, *, max_friends: int = 50) -> None:
        self.accounts = accounts
        self.store = store
        self.hub = hub
        self.max_friends = max_friends
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Any]] = {}

    def _cached(self, key: str, make: Any, ttl: float | None = None) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = make()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + (CACHE_S if ttl is None else min(ttl, CACHE_S)), value)
        return value

    def reply(self, device: str | None) -> list[dict[str, Any]]:
        """The messages to send back to ``device`` (``user/device``): cards and locations of its
        friends, ``[]`` when it has none (or is not known to the accounts)."""
        if device is None or self.max_friends <= 0:
            return []
        view = self.view(device)
        return view.reply(device, self.max_friends) if view is not None else []

    def view(self, device: str) -> View | None:
        """The view of the workspace ``device`` belongs to, None when it belongs to none (or there are
        no accounts)."""
        if self.accounts is None:
            return None
        ws: str | None = self._cached(f"ws:{device}", lambda: self.accounts.workspace_of_entity(device))
        if ws is None:
            return None
        view: View = self._cached(f"view:{ws}", lambda: self._view(ws), REPLY_S)
        return view

    def shipped_view(self, device: str) -> View | None:
        """:meth:`view`, trimmed to this server's ``max_friends``: what an ingest worker is sent."""
        if self.accounts is None:
            return None
        if self.max_friends <= 0:  # nothing to tell: the workspace is not read
            ws = self._cached(f"ws:{device}", lambda: self.accounts.workspace_of_entity(device))
            return View(ws, frozenset(), (), {}, 0, time.monotonic()) if ws is not None else None
        view = self.view(device)
        return view.trimmed(self.max_friends) if view is not None else None

    def _view(self, ws: str) -> View:
        members = self._cached(
            f"members:{ws}", lambda: frozenset(m["user"] for m in self.accounts.members(ws))
        )
        tids: dict[str, str] = self._cached(f"tids:{ws}", lambda: tids_for(self.accounts.entities_of(ws)))
        made = time.monotonic()
        return View(ws, members, tuple(self._ranked(ws)), tids, self.max_friends, made)

    def _ranked(self, ws: str) -> list[tuple[str, dict[str, Any]]]:
        """The workspace's entities with a position, the most recently seen first."""
        names: list[str] = self._cached(f"ents:{ws}", lambda: self.accounts.entities_of(ws))
        if len(names) < 2:
            return []
        latest: dict[str, dict[str, Any]] = dict(self._cached(f"latest:{ws}", lambda: self._stored(names)))
        if self.hub is not None:
            live = self.hub.latest
            for n in names:
                pos = live.get(n)
                if pos is not None and (n not in latest or pos["t"] > latest[n]["t"]):
                    latest[n] = {
                        "t": pos["t"],
                        "lat": pos["lat"],
                        "lon": pos["lon"],
                        "acc": pos["accuracy_m"],
                    }
        return sorted(latest.items(), key=lambda kv: kv[1]["t"], reverse=True)

    def _stored(self, names: list[str]) -> dict[str, dict[str, Any]]:
        fn = getattr(self.store, "latest_fixes", None)
        if fn is None:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for r in fn(names).to_pylist():
            cur = out.get(r["entity"])
            if cur is None or r["t"] > cur["t"]:
                out[r["entity"]] = {"t": r["t"], "lat": r["lat"], "lon": r["lon"], "acc": r.get("accuracy_m")}
        return out


def tid_for(name: str, taken: set[str]) -> str:
    """A two-character tracker id for ``name`` (``user/device``) not in ``taken``: the initials of
    user and device, else the user's first two letters, else an initial and a digit."""
    user, _, dev = name.partition("/")
    letters = [c for c in user if c.isalnum()] or ["x"]
    firsts = [c for c in dev if c.isalnum()]
    candidates = []
    if firsts:
        candidates.append(letters[0] + firsts[0])
    if len(letters) > 1:
        candidates.append(letters[0] + letters[1])
    candidates += [letters[0] + str(i) for i in range(10)]
    candidates += [f"{i:02d}" for i in range(100)]
    for c in candidates:
        if c.lower() not in taken:
            taken.add(c.lower())
            return c.lower()
    return name  # more than a hundred friends: the name itself is unique


def tids_for(names: list[str]) -> dict[str, str]:
    """Distinct tracker ids for ``names``, given in name order (see :func:`tid_for`)."""
    taken: set[str] = set()
    return {n: tid_for(n, taken) for n in sorted(names)}


def messages(latest: dict[str, dict[str, Any]], tids: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """OwnTracks ``card`` and ``location`` messages for the positions ``latest`` (name -> t, lat, lon,
    acc), in name order, each friend with its own ``tid`` (from ``tids``, else made here)."""
    out: list[dict[str, Any]] = []
    taken: set[str] = set(tids.values()) if tids else set()
    for name in sorted(latest):
        p = latest[name]
        t = p["t"]
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        tid = tids[name] if tids and name in tids else tid_for(name, taken)
        out.append({"_type": "card", "tid": tid, "name": name})
        loc: dict[str, Any] = {
            "_type": "location",
            "tid": tid,
            "lat": float(p["lat"]),
            "lon": float(p["lon"]),
            "tst": int((t - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()),
        }
        acc = p.get("acc")
        if acc is not None and acc == acc and acc > 0:
            loc["acc"] = round(float(acc))
        out.append(loc)
    return out
