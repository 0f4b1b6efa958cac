"""The REST API: accounts, roles, workspace isolation (an authorization matrix), tokens and shares."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import hereabouts as hb
from hereabouts.accounts import Accounts, check_password, hash_password
from hereabouts.server import create_app

T0 = 1_740_000_000  # 2025-02-19


class Client:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.runner = asyncio.Runner()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hb.test")

    def req(self, method: str, url: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.runner.run(self.http.request(method, url, headers=headers, **kw))

    def close(self) -> None:
        self.runner.run(self.http.aclose())
        self.runner.close()
        self.app.state.ingest.writer.close()
        if getattr(self.app.state, "analysis", None) is not None:
            self.app.state.analysis.close()


def _world(folder: Path) -> Iterator[dict[str, Any]]:
    """Two workspaces (alice's and bob's); carol is an analyst and dave a viewer in alice's."""
    db = hb.open(folder / "api.db")
    acc = Accounts(db.store)
    for name in ("alice", "bob", "carol", "dave"):
        acc.add_user(name, f"{name}-password")
    acc.set_member("alice", "carol", "analyst")
    acc.set_member("alice", "dave", "viewer")
    ingest = {
        "alice/phone": acc.add_device("alice", "phone")[0],
        "bob/phone": acc.add_device("bob", "phone")[0],
    }
    tokens = {n: acc.add_api_token(n) for n in ("alice", "bob", "carol", "dave")}
    app = create_app(db, accounts=acc)
    c = Client(app)
    # each phone reports an hour at one place, then one fix 2 km away (it left: a stay ended), by
    # OwnTracks HTTP with its own ingest token
    for dev, lat in (("alice/phone", 52.09), ("bob/phone", 52.10)):
        for i in [*range(0, 3600, 120), 3700]:
            here = lat if i < 3600 else lat + 0.02
            msg = {"_type": "location", "tst": T0 + i, "lat": here, "lon": 5.12, "acc": 8, "tid": "ph"}
            r = c.req("POST", "/ingest/owntracks", json=msg, auth=("ignored", ingest[dev]))
            assert r.status_code == 200, r.text
    yield {"db": db, "acc": acc, "c": c, "tokens": tokens, "ingest": ingest}
    c.close()
    db.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    yield from _world(tmp_path)


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One world for the matrix (its calls change nothing that another call's outcome depends on)."""
    yield from _world(tmp_path_factory.mktemp("matrix"))


def test_passwords_are_salted_scrypt_hashes() -> None:
    h1, h2 = hash_password("correct horse"), hash_password("correct horse")
    assert h1 != h2 and h1.startswith("scrypt$")
    assert check_password("correct horse", h1) and not check_password("wrong horse", h1)


def test_tokens_are_stored_only_as_hashes(world: dict[str, Any]) -> None:
    db = world["db"]
    stored = db.store.con.execute("SELECT * FROM acct_tokens").fetchall()
    flat = json.dumps(stored, default=str)
    for token in [*world["tokens"].values(), *world["ingest"].values()]:
        assert token not in flat


def test_ingest_tokens_fix_the_device(world: dict[str, Any]) -> None:
    db, c = world["db"], world["c"]
    assert db.fixes("alice/phone").num_rows == 31 and db.fixes("bob/phone").num_rows == 31
    # the device named in the request is ignored: the token decides
    msg = {"_type": "location", "tst": T0 + 9000, "lat": 52.0, "lon": 5.0, "acc": 5}
    r = c.req("POST", "/ingest/owntracks", json=msg, auth=("bob", world["ingest"]["alice/phone"]),
              headers={"X-Limit-U": "bob", "X-Limit-D": "phone"})  # fmt: skip
    assert r.status_code == 200
    assert db.fixes("alice/phone").num_rows == 32 and db.fixes("bob/phone").num_rows == 31
    assert c.req("POST", "/ingest/owntracks", json=msg, auth=("x", "hbi_nope")).status_code == 403
    assert c.req("POST", "/ingest/owntracks", json=msg).status_code == 401
    # an API token is not an ingest token
    assert (
        c.req("POST", "/ingest/owntracks", json=msg, auth=("x", world["tokens"]["alice"])).status_code == 403
    )


def test_revoked_ingest_token_is_refused(world: dict[str, Any]) -> None:
    c, acc = world["c"], world["acc"]
    assert acc.revoke_device("bob/phone")
    msg = {"_type": "location", "tst": T0 + 9000, "lat": 52.0, "lon": 5.0, "acc": 5}
    assert (
        c.req("POST", "/ingest/owntracks", json=msg, auth=("x", world["ingest"]["bob/phone"])).status_code
        == 403
    )


# every endpoint: (method, path, body or None, least role)
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/entities", None, "viewer"),
    ("GET", "/latest", None, "viewer"),
    ("GET", "/fixes?entity={e}", None, "viewer"),
    ("GET", "/stays?entity={e}", None, "viewer"),
    ("GET", "/places?entity={e}", None, "viewer"),
    ("GET", "/trips?entity={e}", None, "viewer"),
    ("GET", "/anchors?entity={e}", None, "analyst"),
    ("POST", "/ask", {"question": "where was {e} at 2025-02-19 21:30 UTC?", "purpose": "test"}, "analyst"),
    ("GET", "/export?entity={e}&purpose=test", None, "analyst"),
    ("GET", "/devices", None, "viewer"),
    ("GET", "/members", None, "viewer"),
    ("GET", "/shares", None, "owner"),
    ("POST", "/shares", {"entity": "{e}", "expires": "2999-01-01T00:00:00Z", "live_only": True}, "owner"),
    ("GET", "/audit", None, "owner"),
    ("POST", "/devices", {"device": "tablet"}, "owner"),
    ("PUT", "/members", {"user": "dave", "role": "viewer"}, "owner"),
    ("GET", "/profile?entity={e}&purpose=test", None, "analyst"),
    ("GET", "/geofences", None, "viewer"),
    ("POST", "/geofences", {"name": "Lake", "lat": 52.0, "lon": 5.0, "radius_m": 100}, "analyst"),
    ("DELETE", "/geofences/{gid}", None, "analyst"),
    ("DELETE", "/tokens/{token_id}", None, "owner"),
]
#: routes the matrix leaves to other tests: the event stream never ends (``test_live`` checks that a
#: workspace's stream carries nothing of another's); the rest need no workspace role
NOT_IN_MATRIX = {"/stream"}
RANK = {"viewer": 0, "analyst": 1, "owner": 2}
CALLERS = {"alice": "owner", "carol": "analyst", "dave": "viewer", "bob": None, "anonymous": None}


def _bobs_position(text: str) -> bool:
    """Whether ``text`` holds one of bob's latitudes (52.10 while he stayed, 52.12 when he left)."""
    return any(f"52.1{end}" in text for end in (",", "}", "]", "2")) or "52.10" in text


def _fill(value: Any, entity: str) -> Any:
    return json.loads(json.dumps(value).replace("{e}", entity)) if value is not None else None


@pytest.mark.parametrize(
    ("method", "path", "body", "least"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _b, _l in ENDPOINTS]
)
def test_authorization_matrix(
    shared_world: dict[str, Any], method: str, path: str, body: Any, least: str
) -> None:
    """Every endpoint x role x workspace: allowed roles get 2xx about their workspace only; lower roles
    403; outsiders 404 (the workspace is invisible); no token 401; another workspace's entity 404."""
    c, tokens, acc = shared_world["c"], shared_world["tokens"], shared_world["acc"]

    def fresh(ws: str, p: str) -> str:
        """``p`` with a new geofence or share token of ``ws`` for ``{gid}`` / ``{token_id}``."""
        if "{gid}" in p:
            p = p.replace("{gid}", acc.add_geofence(ws, "Gone soon", 52.0, 5.0, 50.0))
        if "{token_id}" in p:
            _token, tid = acc.add_share(ws, f"{ws}/phone", created_by=ws,
                                        expires=datetime.now(UTC) + timedelta(days=1), live_only=True)  # fmt: skip
            p = p.replace("{token_id}", tid)
        return p

    for caller, role in CALLERS.items():
        token = tokens.get(caller)
        url = "/api/v1/workspaces/alice" + fresh("alice", path).replace("{e}", "alice/phone")
        r = c.req(method, url, token, json=_fill(body, "alice/phone"))
        if caller == "anonymous":
            assert r.status_code == 401, (caller, r.text)
        elif role is None:
            assert r.status_code == 404, (caller, r.text)  # bob cannot even see that alice's workspace exists
        elif RANK[role] >= RANK[least]:
            assert r.status_code in (200, 201), (caller, r.status_code, r.text)
            assert not _bobs_position(r.text)
            if not path.startswith("/audit"):  # (the audit log may quote a question that named bob's phone)
                assert "bob/phone" not in r.text
        else:
            assert r.status_code == 403, (caller, r.text)
        assert set(r.json()) == {"error"} if r.status_code >= 400 else True
        if r.status_code >= 400:
            assert set(r.json()["error"]) >= {"code", "message", "field"}
    # alice, owner of her workspace, cannot reach bob's entity through it, nor bob's workspace
    if "{e}" in path or (body and "{e}" in json.dumps(body)):
        url = "/api/v1/workspaces/alice" + path.replace("{e}", "bob/phone")
        r = c.req(method, url, tokens["alice"], json=_fill(body, "bob/phone"))
        if path == "/ask":  # bob's entity is as unknown as one that does not exist: nothing of it leaks
            assert r.status_code == 200 and r.json()["available"] is False, r.text
            assert r.json()["query"]["kind"] == "not_understood", r.text
            assert (
                not _bobs_position(r.text)
                and r.json()["evidence"] == []
                and r.json()["coverage"]["n_fixes"] == 0
            )
        else:
            assert r.status_code == 404, r.text
    r = c.req(method, "/api/v1/workspaces/bob" + fresh("bob", path).replace("{e}", "bob/phone"), tokens["alice"],
              json=_fill(body, "bob/phone"))  # fmt: skip
    assert r.status_code == 404, r.text
    if "{gid}" in path or "{token_id}" in path:
        # bob's geofence or token named through alice's own workspace is not found either
        r = c.req(method, "/api/v1/workspaces/alice" + fresh("bob", path), tokens["alice"])
        assert r.status_code == 404, r.text


def test_the_matrix_covers_every_workspace_route(shared_world: dict[str, Any]) -> None:
    from starlette.routing import Route

    covered = {(m, "/api/v1/workspaces/{ws}" + p.split("?")[0]) for m, p, _b, _l in ENDPOINTS}
    for route in shared_world["c"].app.routes:
        if not isinstance(route, Route) or not route.path.startswith("/api/v1/workspaces/{ws}"):
            continue
        if route.path.removeprefix("/api/v1/workspaces/{ws}") in NOT_IN_MATRIX:
            continue
        for method in route.methods or ():
            if method != "HEAD":
                assert (method, route.path) in covered, (method, route.path)


def test_ask_cannot_reach_another_workspace_by_name(world: dict[str, Any]) -> None:
    c, tokens = world["c"], world["tokens"]
    r = c.req("POST", "/api/v1/workspaces/alice/ask", tokens["alice"],
              json={"question": "where was bob/phone at 2025-02-19 21:30 UTC?"})  # fmt: skip
    assert "52.1" not in r.text
    assert r.status_code in (200, 404)
    r = c.req("POST", "/api/v1/workspaces/alice/ask", tokens["carol"],
              json={"question": "where was alice/phone at 2025-02-19 21:30 UTC?", "purpose": "audit test"})  # fmt: skip
    assert r.status_code == 200
    assert r.json()["query"]["entity"] == "alice/phone" and r.json()["coverage"]["n_fixes"] > 0
    log = world["db"].audit_log().to_pylist()
    assert any(e["actor"] == "carol" and e["purpose"] == "audit test" for e in log)


def test_who_was_there_lists_only_the_workspace_s_entities(world: dict[str, Any]) -> None:
    c, tokens = world["c"], world["tokens"]
    seen = {}
    for where in ("52.10, 5.12", "52.09, 5.12"):  # bob's spot, then alice's
        r = c.req("POST", "/api/v1/workspaces/alice/ask", tokens["alice"],
                  json={"question": f"who was within 200 m of {where} on 2025-02-19?"})  # fmt: skip
        assert r.status_code == 200, r.text
        body = r.json()
        assert "bob/phone" not in r.text
        assert body["coverage"]["n_fixes"] <= 31  # alice's phone's fixes only
        seen[where] = {row.get("entity") for row in body["result"]}
    assert seen["52.10, 5.12"] == set()
    assert seen["52.09, 5.12"] == {"alice/phone"}


def test_login_sets_a_session_cookie_and_logout_revokes_it(world: dict[str, Any]) -> None:
    c = world["c"]
    assert c.req("POST", "/api/v1/login", json={"user": "dave", "password": "nope-nope"}).status_code == 401
    r = c.req("POST", "/api/v1/login", json={"user": "dave", "password": "dave-password"})
    assert r.status_code == 200 and r.json()["workspaces"] == {"alice": "viewer", "dave": "owner"}
    cookie = r.cookies.get("hb_session")
    assert cookie and "httponly" in r.headers["set-cookie"].lower()
    c.http.cookies.set("hb_session", cookie)
    r = c.req("GET", "/api/v1/me")
    assert r.status_code == 200 and r.json()["user"] == "dave"
    assert c.req("POST", "/api/v1/logout").status_code == 200
    c.http.cookies.set("hb_session", cookie)  # the browser would drop it; a replay is refused
    assert c.req("GET", "/api/v1/me").status_code == 401


def test_share_links_are_scoped_and_expire(world: dict[str, Any]) -> None:
    c, tokens, acc = world["c"], world["tokens"], world["acc"]
    start = datetime.fromtimestamp(T0, UTC)
    r = c.req("POST", "/api/v1/workspaces/alice/shares", tokens["alice"], json={
        "entity": "alice/phone", "expires": "2999-01-01T00:00:00Z",
        "from": start.isoformat(), "to": (start + timedelta(minutes=30)).isoformat(), "purpose": "family"})  # fmt: skip
    assert r.status_code == 201, r.text
    share = r.json()["token"]
    body = c.req("GET", f"/api/v1/shared?share={share}").json()
    assert body["entity"] == "alice/phone" and len(body["fixes"]) == 15  # only the shared half hour
    assert body["latest"] == []  # the latest fix is outside the shared period
    # a share token opens nothing else
    assert c.req("GET", "/api/v1/workspaces/alice/entities", share).status_code == 401
    assert c.req("GET", "/api/v1/me", share).status_code == 401
    # live-only share: the latest position, no history
    r = c.req("POST", "/api/v1/workspaces/alice/shares", tokens["alice"],
              json={"entity": "alice/phone", "expires": "2999-01-01T00:00:00Z", "live_only": True})  # fmt: skip
    live = c.req("GET", "/api/v1/shared", r.json()["token"]).json()
    assert "fixes" not in live and len(live["latest"]) == 1
    # revoked, and expired, shares are refused
    assert (
        c.req("DELETE", f"/api/v1/workspaces/alice/tokens/{r.json()['id']}", tokens["alice"]).status_code
        == 200
    )
    assert c.req("GET", "/api/v1/shared", r.json()["token"]).status_code == 401
    token, _id = acc.add_share("alice", "alice/phone", created_by="alice",
                               expires=datetime.now(UTC) + timedelta(seconds=1), live_only=True)  # fmt: skip
    assert c.req("GET", "/api/v1/shared", token).status_code == 200
    import time

    time.sleep(1.2)
    assert c.req("GET", "/api/v1/shared", token).status_code == 401
    actions = [e["action"] for e in world["db"].audit_log().to_pylist()]
    assert actions.count("share") == 2


def test_latest_positions_carry_their_age(world: dict[str, Any]) -> None:
    c, tokens = world["c"], world["tokens"]
    latest = c.req("GET", "/api/v1/workspaces/alice/latest", tokens["dave"]).json()["latest"]
    assert [p["entity"] for p in latest] == ["alice/phone"]
    assert latest[0]["t"] == "2025-02-19T22:21:40Z"
    assert latest[0]["age_s"] > 365 * 86400


def test_openapi_schema_lists_every_route(world: dict[str, Any]) -> None:
    c = world["c"]
    schema = c.req("GET", "/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for method, path, _b, _l in ENDPOINTS:
        p = "/api/v1/workspaces/{ws}" + path.split("?")[0]
        assert p in paths and method.lower() in schema["paths"][p]


def test_profile_shows_places_and_statistics_and_is_audited(world: dict[str, Any]) -> None:
    c, tokens = world["c"], world["tokens"]
    url = "/api/v1/workspaces/alice/profile?entity=alice/phone&purpose=review"
    r = c.req("GET", url, tokens["carol"])
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["entity"] == "alice/phone" and p["n_fixes"] == 31 and p["n_stays"] == 1
    assert [round(pl["lat"], 2) for pl in p["places"]] == [52.09]
    assert p["places"][0]["category"] in ("home", "work", "regular", "other")
    assert {s["label"] for s in p["stats"]} >= {"Fixes", "Stays", "Places"}
    assert p["coverage"]["n_fixes"] == 31 and "geometry" not in p["places"][0]
    log = [e for e in world["db"].audit_log().to_pylist() if e["action"] == "profile"]
    assert [(e["actor"], e["purpose"]) for e in log] == [("carol", "review")]
    # a viewer may not; a bad period is the caller's error, not the server's
    assert c.req("GET", url, tokens["dave"]).status_code == 403
    for q in (
        "&from=0001-01-01T00:00:00Z",
        "&to=9999-12-31T00:00:00Z",
        "&from=2025-02-20T00:00:00Z&to=2025-02-19T00:00:00Z",
    ):
        r = c.req("GET", url + q, tokens["alice"])
        assert r.status_code == 400 and set(r.json()["error"]) >= {"code", "message", "field"}, r.text
