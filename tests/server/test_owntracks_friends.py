"""OwnTracks HTTP replies: the friends' cards and last positions, from the device's workspace only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import hereabouts as hb
from hereabouts.accounts import Accounts
from hereabouts.server import _friends, create_app
from hereabouts.server._friends import messages, tid_for
from hereabouts.server._friends import tids_for as tids_for_names

T0 = 1_740_000_000  # 2025-02-19T21:20:00Z


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setattr(_friends, "CACHE_S", 0.0)  # every reply reads the accounts and store afresh
    db = hb.open(tmp_path / "friends.db")
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
    app = create_app(db, accounts=acc)
    runner = asyncio.Runner()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hb.test")

    def post(device: str, tst: int, lat: float, lon: float = 5.12, acc_m: float = 8) -> list[dict[str, Any]]:
        msg = {"_type": "location", "tst": tst, "lat": lat, "lon": lon, "acc": acc_m, "tid": "zz"}
        r = runner.run(
            http.post("/ingest/owntracks", json=msg, auth=(device.split("/")[0], tokens[device]),
                      headers={"X-Limit-U": device.split("/")[0], "X-Limit-D": device.split("/")[1]})
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert isinstance(body, list)
        return body

    yield {"post": post, "acc": acc, "db": db, "app": app}
    runner.run(http.aclose())
    runner.close()
    app.state.ingest.writer.close()
    app.state.analysis.close()
    db.close()


def test_reply_holds_the_friends_cards_and_last_positions(world: dict[str, Any]) -> None:
    post = world["post"]
    assert post("alice/phone", T0, 52.09) == []  # nobody else has reported yet
    reply = post("alice/tablet", T0 + 60, 52.10, acc_m=12.4)
    assert reply == [
        {"_type": "card", "tid": "ap", "name": "alice/phone"},
        {"_type": "location", "tid": "ap", "lat": 52.09, "lon": 5.12, "tst": T0, "acc": 8},
    ]
    # the phone moves; the tablet then hears of its newest position, the phone of the tablet's
    reply = post("alice/phone", T0 + 120, 52.11)
    assert [m for m in reply if m["_type"] == "location"] == [
        {"_type": "location", "tid": "at", "lat": 52.10, "lon": 5.12, "tst": T0 + 60, "acc": 12},
    ]
    reply = post("alice/tablet", T0 + 180, 52.10)
    assert {(m["tid"], m.get("lat"), m.get("tst")) for m in reply if m["_type"] == "location"} == {
        ("ap", 52.11, T0 + 120)
    }
    # carol's watch is in alice's workspace: it sees both of alice's devices, each with its own tid
    reply = post("carol/watch", T0 + 200, 52.2)
    locs = {m["tid"]: m for m in reply if m["_type"] == "location"}
    cards = {m["tid"]: m["name"] for m in reply if m["_type"] == "card"}
    assert cards == {"ap": "alice/phone", "at": "alice/tablet"} and set(locs) == set(cards)
    assert all(
        set(m) <= {"_type", "tid", "lat", "lon", "tst", "acc"} for m in reply if m["_type"] == "location"
    )


def test_reply_never_crosses_workspaces(world: dict[str, Any]) -> None:
    post = world["post"]
    post("alice/phone", T0, 52.09)
    post("alice/tablet", T0, 52.10)
    # bob's phone is alone in bob's workspace: nothing of alice's reaches it
    assert post("bob/phone", T0 + 60, 52.3) == []
    for device in ("alice/phone", "alice/tablet", "carol/watch"):
        reply = post(device, T0 + 120, 52.09)
        assert all(m["name"] != "bob/phone" for m in reply if m["_type"] == "card")
        assert all(m["lat"] != 52.3 for m in reply if m["_type"] == "location")


def test_a_user_removed_from_the_workspace_no_longer_sees_it(world: dict[str, Any]) -> None:
    post, acc = world["post"], world["acc"]
    post("alice/phone", T0, 52.09)
    assert [m["name"] for m in post("carol/watch", T0, 52.2) if m["_type"] == "card"] == ["alice/phone"]
    acc.set_member("alice", "carol", None)
    assert post("carol/watch", T0 + 60, 52.2) == []  # its fixes are still stored: the token still works
    assert world["db"].fixes("carol/watch").num_rows == 2


def test_replies_without_accounts_stay_empty(make_api: Any) -> None:
    api = make_api(tokens={"tok": "jane/phone"})
    msg = {"_type": "location", "tst": T0, "lat": 52.0, "lon": 5.0, "tid": "jp"}
    assert api.post("/ingest/owntracks", json=msg, auth=("jane", "tok")).json() == []


def test_tids_are_two_characters_and_distinct() -> None:
    taken: set[str] = set()
    assert [tid_for(n, taken) for n in ("alice/phone", "anna/pad", "an/p", "a/p")] == ["ap", "an", "a0", "a1"]
    from datetime import UTC, datetime

    t = datetime(2025, 2, 19, 21, 20, tzinfo=UTC)
    out = messages({"z/a": {"t": t, "lat": 1.0, "lon": 2.0, "acc": None}})
    assert out[1] == {"_type": "location", "tid": "za", "lat": 1.0, "lon": 2.0, "tst": T0}


def test_replies_tell_of_the_most_recently_seen_friends_with_stable_tids(world: dict[str, Any]) -> None:
    post = world["post"]
    post("alice/tablet", T0, 52.10)
    post("carol/watch", T0 + 60, 52.2)
    world["app"].state.friends.max_friends = 1
    reply = post("alice/phone", T0 + 120, 52.09)
    assert [m["name"] for m in reply if m["_type"] == "card"] == ["carol/watch"]  # the later of the two
    post("alice/tablet", T0 + 180, 52.11)
    reply = post("alice/phone", T0 + 240, 52.09)
    assert [(m["name"], m["tid"]) for m in reply if m["_type"] == "card"] == [("alice/tablet", "at")]
    world["app"].state.friends.max_friends = 0
    assert post("alice/phone", T0 + 300, 52.09) == []


def test_the_view_sent_to_workers_replies_as_the_whole_one() -> None:
    from datetime import UTC, datetime, timedelta

    from hereabouts.server._friends import View

    t = datetime(2025, 2, 19, 21, 20, tzinfo=UTC)
    names = ["a/1", "a/2", "a/3", "a/4"]
    ranked = tuple(
        (n, {"t": t - timedelta(minutes=i), "lat": 52.0 + i, "lon": 5.0, "acc": 5.0})
        for i, n in enumerate(names)
    )
    whole = View("a", frozenset({"a"}), ranked, tids_for_names(names), 50)
    for limit in (1, 2, 3):
        sent = whole.trimmed(limit)
        assert len(sent.ranked) == limit + 1 and set(sent.tids) == {n for n, _ in sent.ranked}
        for device in names:
            assert sent.reply(device) == whole.reply(device, limit)
    assert whole.trimmed(0).reply("a/1") == []
    assert View("a", frozenset({"b"}), ranked, whole.tids).reply("a/1") == []  # user a left
