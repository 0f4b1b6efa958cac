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
reused for :data:`REPLY_S`. A reply tells of at most ``max_friends`` friends (50 by default, the most
recently seen, so that a fleet in one workspace does not make every reply grow with its size;
``create_app(owntracks_friends=0)`` turns replies back to ``[]``).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

#: seconds a workspace's entities, membership and stored latest positions are reused
CACHE_S = 5.0
#: seconds a workspace's ranked positions (stored and live together) are reused
REPLY_S = 1.0


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
        if device is None or self.accounts is None:
            return []
        ws = self._cached(f"ws:{device}", lambda: self.accounts.workspace_of_entity(device))
        if ws is None:
            return []
        user = device.split("/", 1)[0]
        roles = self._cached(f"roles:{user}", lambda: self.accounts.workspaces_of(user))
        if ws not in roles:
            return []  # the device's user has left the workspace: they see no one through it
        if self.max_friends <= 0:
            return []
        ranked: list[tuple[str, dict[str, Any]]] = self._cached(
            f"ranked:{ws}", lambda: self._ranked(ws), REPLY_S
        )
        friends = [(n, p) for n, p in ranked if n != device][: self.max_friends]
        # tracker ids from the whole workspace's names: a friend keeps its tid from reply to reply
        tids: dict[str, str] = self._cached(f"tids:{ws}", lambda: tids_for(self.accounts.entities_of(ws)))
        return messages(dict(friends), tids)

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
