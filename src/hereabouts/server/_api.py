"""The REST API (``/api/v1``): workspaces, entities, positions, analysis, profiles, questions, shares,
geofences.

Authentication: ``Authorization: Bearer <api token>`` (``hereabouts token add USER``), or the session
cookie set by ``POST /api/v1/login`` (the web UI), or a share token (``Bearer hbs_...`` or
``?share=...``) for the ``/api/v1/shared/...`` endpoints only. Every workspace endpoint checks the
caller's role in that workspace (see :mod:`hereabouts.accounts`) and answers only about the
workspace's entities: an entity of another workspace is "not found", exactly like one that does not
exist. Questions, exports, profiles and share links are written to the audit log with the user and an
optional stated ``purpose``. Stays, places and anchors come from the stays the server keeps analysed as
fixes arrive (:mod:`hereabouts.server._analysis`). Errors have the one shape ``{"error": {"code", "message", "field"}}``.

The OpenAPI 3.1 schema is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._db import Database
from ..accounts import Accounts, Principal
from ..model.errors import HereaboutsError
from ._errors import ApiError
from ._live import LiveHub, json_default

SESSION_COOKIE = "hb_session"
#: the earliest and latest times a profile's period may name (its local-day arithmetic needs margin)
_PROFILE_FIRST = datetime(1970, 1, 1, tzinfo=UTC)
_PROFILE_LAST = datetime(2200, 1, 1, tzinfo=UTC)
SESSION_HOURS = 12
_MAX_ROWS = 50_000

Handler = Callable[[Request], Awaitable[Response]]


# ------------------------------------------------------------------ helpers
def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class ApiJSON(JSONResponse):
    """JSON with ISO 8601 UTC times and NaN written as null."""

    def render(self, content: Any) -> bytes:
        return json.dumps(_clean(content), default=json_default, ensure_ascii=False).encode("utf-8")


def _rows(table: pa.Table, limit: int = _MAX_ROWS) -> list[dict[str, Any]]:
    drop = [c for c in table.column_names if c in ("geometry", "path_wkb")]
    if drop:
        table = table.drop_columns(drop)
    return table.slice(0, limit).to_pylist()


def _time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            "bad_request",
            f"{name}={raw!r} is not an ISO 8601 time; expected e.g. 2025-03-01T00:00:00Z",
            field=name,
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > 1 << 20:
        raise ApiError("payload_too_large", "the body is larger than 1 MiB")
    try:
        obj = json.loads(body or b"{}")
    except ValueError as exc:
        raise ApiError("invalid_json", f"the body is not valid JSON ({exc})", field="body") from exc
    if not isinstance(obj, dict):
        raise ApiError("invalid_json", "expected a JSON object", field="body")
    return obj


def _str_field(obj: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError("bad_request", f"'{name}' must be a non-empty string", field=name)
    return value


class Api:
    """The API's state: the database and its accounts."""

    def __init__(self, db: Database, accounts: Accounts, hub: LiveHub | None = None) -> None:
        self.db = db
        self.accounts = accounts
        self.hub = hub

    # ------------------------------------------------------------ auth
    def _bearer(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None

    def principal(self, request: Request) -> Principal:
        token = self._bearer(request) or request.cookies.get(SESSION_COOKIE)
        if not token:
            raise ApiError(
                "unauthorized",
                "sign in: send 'Authorization: Bearer <api token>' or log in at POST /api/v1/login",
                field="Authorization",
            )
        who = self.accounts.principal(token)
        if who is None or who.kind != "user":
            raise ApiError(
                "unauthorized", "the token is not valid (unknown, revoked or expired)", field="Authorization"
            )
        return who

    def share_principal(self, request: Request) -> Principal:
        token = self._bearer(request) or request.query_params.get("share")
        who = self.accounts.principal(token) if token else None
        if who is None or who.kind != "share":
            raise ApiError(
                "unauthorized", "a valid share token is required (unknown, revoked or expired)", field="share"
            )
        return who

    def member(self, request: Request, role: str) -> tuple[Principal, str]:
        who = self.principal(request)
        ws = request.path_params["ws"]
        have = who.role_in(ws)
        if have is None:
            # a workspace the caller is not in looks like one that does not exist
            raise ApiError("not_found", f"no workspace {ws!r}", field="workspace")
        if not who.can(ws, role):
            raise ApiError(
                "forbidden", f"this needs the {role} role in {ws!r}; you are {have}", field="workspace"
            )
        return who, ws

    def entity(self, request: Request, ws: str, *, required: bool = True) -> str | None:
        name = request.query_params.get("entity")
        if not name:
            if required:
                raise ApiError("bad_request", "the 'entity' query parameter is required", field="entity")
            return None
        if self.accounts.workspace_of_entity(name) != ws:
            raise ApiError("not_found", f"no entity {name!r} in workspace {ws!r}", field="entity")
        return name

    # ------------------------------------------------------------ endpoints: session
    async def login(self, request: Request) -> Response:
        obj = await _json_body(request)
        name = _str_field(obj, "user")
        password = _str_field(obj, "password")
        assert name is not None and password is not None
        who = await asyncio.to_thread(self.accounts.authenticate, name, password)
        if who is None:
            raise ApiError("unauthorized", "unknown user or wrong password", field="password")
        expires = datetime.now(UTC) + timedelta(hours=SESSION_HOURS)
        token = await asyncio.to_thread(
            self.accounts.add_api_token, name, label="web session", expires=expires
        )
        resp = ApiJSON({"user": name, "workspaces": who.roles, "expires": expires})
        resp.set_cookie(
            SESSION_COOKIE, token, max_age=SESSION_HOURS * 3600, httponly=True, samesite="strict", path="/"
        )
        return resp

    async def logout(self, request: Request) -> Response:
        who = self.principal(request)
        if who.token_id and who.username:
            await asyncio.to_thread(self.accounts.revoke, who.username, who.token_id)
        resp = ApiJSON({"ok": True})
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    async def me(self, request: Request) -> Response:
        who = self.principal(request)
        return ApiJSON({"user": who.username, "workspaces": who.roles})

    # ------------------------------------------------------------ endpoints: data
    async def entities(self, request: Request) -> Response:
        _who, ws = self.member(request, "viewer")
        names = set(self.accounts.entities_of(ws))
        table = await asyncio.to_thread(self.db.entities)
        rows = [r for r in _rows(table) if r.get("entity") in names]
        known = {r["entity"] for r in rows}
        rows += [
            {"entity": n, "n_fixes": 0} for n in sorted(names - known)
        ]  # registered, nothing received yet
        return ApiJSON({"workspace": ws, "entities": rows})

    def _latest(self, names: list[str]) -> list[dict[str, Any]]:
        """The latest position of each entity (its most recent device fix) with its age."""
        names = [n for n in names if n in set(self.db.entity_names())]
        store_latest = getattr(self.db.store, "latest_fixes", None)
        rows: list[dict[str, Any]] = []
        if store_latest is not None:
            rows = store_latest(names).to_pylist()
        else:  # a store without the query: read the fixes
            for name in names:
                fixes = self.db.fixes(name)
                if fixes.num_rows:
                    rows += fixes.sort_by([("t", "descending")]).slice(0, 1).to_pylist()
        now = datetime.now(UTC)
        best: dict[str, dict[str, Any]] = {}
        for r in rows:
            cur = best.get(r["entity"])
            if cur is None or r["t"] > cur["t"]:
                best[r["entity"]] = r
        return [
            {
                "entity": e,
                "device": r.get("device"),
                "t": r["t"],
                "lat": r["lat"],
                "lon": r["lon"],
                "accuracy_m": r.get("accuracy_m"),
                "age_s": max(0.0, (now - r["t"]).total_seconds()),
            }
            for e, r in sorted(best.items())
        ]

    async def latest(self, request: Request) -> Response:
        _who, ws = self.member(request, "viewer")
        names = self.accounts.entities_of(ws)
        return ApiJSON({"workspace": ws, "latest": await asyncio.to_thread(self._latest, names)})

    async def fixes(self, request: Request) -> Response:
        _who, ws = self.member(request, "viewer")
        entity = self.entity(request, ws)
        start, end = _time_param(request, "from"), _time_param(request, "to")
        table = await asyncio.to_thread(self._fixes, entity, start, end)
        return ApiJSON({"entity": entity, "fixes": _rows(table), "truncated": table.num_rows > _MAX_ROWS})

    def _fixes(self, entity: str | None, start: datetime | None, end: datetime | None) -> pa.Table:
        if entity not in self.db.entity_names():
            from ..model import schemas

            return schemas.FIX.empty_table()
        return self.db.fixes(entity, start=start, end=end)

    def _analysis(self, kind: str, entity: str, start: datetime | None, end: datetime | None) -> pa.Table:
        if entity not in self.db.entity_names():
            return pa.table({})
        if kind == "trips":
            return self.db.trips(entity, start=start, end=end)
        # the stored stays, kept current as fixes arrive (``_analysis``); brought up to date here if
        # the background analysis has not reached them yet
        stored = self._stored_stays()
        if kind == "stays":
            return self.db.stays(entity, start=start, end=end, stored=stored)
        stays = self.db.stays(entity, stored=stored)
        places = self.db.places(entity, stays=stays)
        if kind == "places":
            return places
        from ..analysis import infer_anchors

        return infer_anchors(stays, places, fixes=self.db.fixes(entity))

    def _stored_stays(self) -> bool:
        from ..store import DuckDBStore, PostgresStore

        return isinstance(self.db.store, DuckDBStore | PostgresStore)

    def analysis(self, kind: str) -> Handler:
        async def handler(request: Request) -> Response:
            _who, ws = self.member(request, "viewer" if kind != "anchors" else "analyst")
            entity = self.entity(request, ws)
            assert entity is not None
            start, end = _time_param(request, "from"), _time_param(request, "to")
            table = await asyncio.to_thread(self._analysis, kind, entity, start, end)
            return ApiJSON({"entity": entity, kind: _rows(table)})

        return handler

    async def ask(self, request: Request) -> Response:
        who, ws = self.member(request, "analyst")
        obj = await _json_body(request)
        question = _str_field(obj, "question")
        purpose = _str_field(obj, "purpose", required=False)
        entity = obj.get("entity")
        if entity is not None and (
            not isinstance(entity, str) or self.accounts.workspace_of_entity(entity) != ws
        ):
            raise ApiError("not_found", f"no entity {entity!r} in workspace {ws!r}", field="entity")
        assert question is not None
        allowed = set(self.accounts.entities_of(ws))
        answer = await asyncio.to_thread(self._ask, question, entity, allowed, who.actor, purpose, ws)
        return ApiJSON(answer)

    def _ask(
        self, question: str, entity: str | None, allowed: set[str], actor: str, purpose: str | None, ws: str
    ) -> dict[str, Any]:
        from ..ask import ask as run_ask

        self.db._audit(
            "ask", {"question": question, "entity": entity, "workspace": ws}, actor=actor, purpose=purpose
        )
        answer = run_ask(_Scoped(self.db, allowed), question, default_entity=entity)  # type: ignore[arg-type]
        return {"answer": answer.text, **answer.to_dict()}

    async def export(self, request: Request) -> Response:
        who, ws = self.member(request, "analyst")
        entity = self.entity(request, ws)
        start, end = _time_param(request, "from"), _time_param(request, "to")
        purpose = request.query_params.get("purpose")

        def run() -> bytes:
            self.db._audit(
                "export",
                {"entity": entity, "workspace": ws, "format": "geojson", "from": start, "to": end},
                actor=who.actor,
                purpose=purpose,
            )
            table = self._fixes(entity, start, end)
            feats = [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                    "properties": {k: v for k, v in r.items() if k not in ("lat", "lon")},
                }
                for r in _rows(table, limit=table.num_rows)
            ]
            return json.dumps({"type": "FeatureCollection", "features": feats}, default=json_default).encode()

        body = await asyncio.to_thread(run)
        return Response(body, media_type="application/geo+json")

    async def profile(self, request: Request) -> Response:
        """The entity's profile (what ``hereabouts profile`` reports) as JSON; audited like an export."""
        who, ws = self.member(request, "analyst")
        entity = self.entity(request, ws)
        assert entity is not None
        start, end = _time_param(request, "from"), _time_param(request, "to")
        if start is not None and end is not None and end <= start:
            raise ApiError("bad_request", "'to' must be after 'from'", field="to")
        for name, t in (("from", start), ("to", end)):
            if t is not None and not _PROFILE_FIRST <= t <= _PROFILE_LAST:
                raise ApiError(
                    "bad_request", f"'{name}' must lie between 1970 and 2200 for a profile", field=name
                )
        purpose = request.query_params.get("purpose")
        body = await asyncio.to_thread(self._profile, entity, start, end, who.actor, purpose, ws)
        return ApiJSON(body)

    def _profile(
        self,
        entity: str,
        start: datetime | None,
        end: datetime | None,
        actor: str,
        purpose: str | None,
        ws: str,
    ) -> dict[str, Any]:
        from ..model.errors import NotFoundError

        if entity not in self.db.entity_names():  # registered, nothing received yet
            raise ApiError("not_found", f"no data for {entity!r} yet", field="entity")
        try:
            p = self.db.profile(entity, start=start, end=end, actor=actor, purpose=purpose)
        except NotFoundError as exc:
            raise ApiError("not_found", exc.message, field="entity") from exc
        except HereaboutsError as exc:
            raise ApiError("bad_request", exc.message, field="entity") from exc
        except (OverflowError, ValueError) as exc:  # a period the calendar arithmetic cannot handle
            raise ApiError("bad_request", f"this period cannot be profiled ({exc})", field="from") from exc
        places = p.places.sort_by([("dwell_s", "descending")]) if p.places.num_rows else p.places
        return {
            "workspace": ws,
            "entity": p.entity,
            "tz": p.tz,
            "from": p.start,
            "to": p.end,
            "generated": p.generated,
            "n_fixes": p.n_fixes,
            "first_fix": p.first_fix,
            "last_fix": p.last_fix,
            "coverage": p.coverage.to_dict(),
            "days": [
                {"day": d.day, "hours": d.hours, "hours_with_data": d.hours_with_data, "n_fixes": d.n_fixes}
                for d in p.days
            ],
            "stats": [{"label": st.label, "value": st.value, "method": st.method} for st in p.stats],
            "places": _rows(places),
            "anchors": _rows(p.anchors),
            "n_stays": p.stays.num_rows,
            "n_trips": p.trips.num_rows,
            "n_routes": p.routes.num_rows,
            "regularity": p.regularity,
            "fix_interval_s": p.fix_interval_s,
            "fix_accuracy_m": p.fix_accuracy_m,
        }

    # ------------------------------------------------------------ endpoints: administration
    async def devices(self, request: Request) -> Response:
        _who, ws = self.member(request, "viewer")
        tokens = await asyncio.to_thread(self.accounts.tokens, ws, "ingest")
        return ApiJSON({"workspace": ws, "devices": tokens})

    async def add_device(self, request: Request) -> Response:
        who, ws = self.member(request, "owner")
        obj = await _json_body(request)
        device = _str_field(obj, "device")
        assert device is not None and who.username is not None
        try:
            token, full = await asyncio.to_thread(
                self.accounts.add_device, who.username, device, workspace=ws
            )
        except HereaboutsError as exc:
            raise ApiError("bad_request", exc.message, field="device") from exc
        return ApiJSON({"device": full, "ingest_token": token}, status_code=201)

    async def members(self, request: Request) -> Response:
        _who, ws = self.member(request, "viewer")
        return ApiJSON({"workspace": ws, "members": self.accounts.members(ws)})

    async def set_member(self, request: Request) -> Response:
        _who, ws = self.member(request, "owner")
        obj = await _json_body(request)
        user = _str_field(obj, "user")
        role = obj.get("role")
        if role is not None and not isinstance(role, str):
            raise ApiError("bad_request", "'role' must be viewer, analyst, owner or null", field="role")
        assert user is not None
        try:
            await asyncio.to_thread(self.accounts.set_member, ws, user, role)
        except HereaboutsError as exc:
            raise ApiError("bad_request", exc.message, field="role") from exc
        return ApiJSON({"workspace": ws, "members": self.accounts.members(ws)})

    async def shares(self, request: Request) -> Response:
        _who, ws = self.member(request, "owner")
        return ApiJSON({"workspace": ws, "shares": self.accounts.tokens(ws, "share")})

    async def add_share(self, request: Request) -> Response:
        who, ws = self.member(request, "owner")
        obj = await _json_body(request)
        entity = _str_field(obj, "entity")
        assert entity is not None
        live_only = bool(obj.get("live_only", False))

        def when(name: str, required: bool) -> datetime | None:
            raw = obj.get(name)
            if raw is None and not required:
                return None
            if not isinstance(raw, str):
                raise ApiError("bad_request", f"'{name}' must be an ISO 8601 time", field=name)
            try:
                t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                raise ApiError("bad_request", f"'{name}' must be an ISO 8601 time", field=name) from None
            return t if t.tzinfo else t.replace(tzinfo=UTC)

        expires = when("expires", True)
        assert expires is not None
        start, end = when("from", not live_only), when("to", not live_only)
        purpose = obj.get("purpose") if isinstance(obj.get("purpose"), str) else None
        try:
            token, token_id = await asyncio.to_thread(
                self.accounts.add_share,
                ws,
                entity,
                created_by=who.actor,
                expires=expires,
                live_only=live_only,
                period_start=start,
                period_end=end,
                label=obj.get("label") if isinstance(obj.get("label"), str) else None,
            )
        except HereaboutsError as exc:
            code = "not_found" if exc.message.startswith("no entity") else "bad_request"
            raise ApiError(code, exc.message, field="entity") from exc
        self.db._audit(
            "share",
            {"workspace": ws, "entity": entity, "id": token_id, "live_only": live_only, "from": start, "to": end,
             "expires": expires},
            actor=who.actor,
            purpose=purpose,
        )  # fmt: skip
        return ApiJSON({"id": token_id, "token": token, "url": f"/share/{token}"}, status_code=201)

    async def revoke_token(self, request: Request) -> Response:
        _who, ws = self.member(request, "owner")
        token_id = request.path_params["token_id"]
        if not await asyncio.to_thread(self.accounts.revoke, ws, token_id):
            raise ApiError("not_found", f"no live token {token_id!r} in workspace {ws!r}", field="token_id")
        return ApiJSON({"revoked": token_id})

    async def audit(self, request: Request) -> Response:
        _who, ws = self.member(request, "owner")
        rows = [r for r in _rows(self.db.audit_log()) if f'"workspace": "{ws}"' in str(r.get("what", ""))]
        return ApiJSON({"workspace": ws, "audit": rows})

    # ------------------------------------------------------------ endpoints: geofences and live events
    async def geofences(self, request: Request) -> Response:
        _who, ws = self.member(request, "viewer")
        return ApiJSON({"workspace": ws, "geofences": self.accounts.geofences(ws)})

    async def add_geofence(self, request: Request) -> Response:
        _who, ws = self.member(request, "analyst")
        obj = await _json_body(request)
        name = _str_field(obj, "name")
        nums = {}
        for key in ("lat", "lon", "radius_m"):
            v = obj.get(key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ApiError("bad_request", f"'{key}' must be a number", field=key)
            nums[key] = float(v)
        webhook = obj.get("webhook")
        if webhook is not None and not isinstance(webhook, str):
            raise ApiError("bad_request", "'webhook' must be a URL string", field="webhook")
        assert name is not None
        try:
            gid = self.accounts.add_geofence(ws, name, nums["lat"], nums["lon"], nums["radius_m"], webhook)
        except HereaboutsError as exc:
            raise ApiError("bad_request", exc.message, field="geofence") from exc
        if self.hub is not None:
            self.hub.reload()
        return ApiJSON({"id": gid}, status_code=201)

    async def remove_geofence(self, request: Request) -> Response:
        _who, ws = self.member(request, "analyst")
        gid = request.path_params["gid"]
        if not self.accounts.remove_geofence(ws, gid):
            raise ApiError("not_found", f"no geofence {gid!r} in workspace {ws!r}", field="gid")
        if self.hub is not None:
            self.hub.reload()
        return ApiJSON({"removed": gid})

    async def stream(self, request: Request) -> Response:
        """Server-Sent Events: ``position`` (each new latest position) and ``geofence`` (enter/leave)."""
        from starlette.responses import StreamingResponse

        from ._live import sse

        _who, ws = self.member(request, "viewer")
        if self.hub is None:
            raise ApiError("not_found", "live events are not available on this server")
        hub = self.hub
        sub = hub.subscribe(ws)
        latest = await asyncio.to_thread(self._latest, self.accounts.entities_of(ws))

        async def events() -> Any:
            try:
                yield ": connected\n\n"
                for p in latest:
                    yield sse("position", {"type": "position", **p})
                while True:
                    try:
                        item = await asyncio.wait_for(sub.queue.get(), 15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if item is None:
                        return
                    kind, data = item
                    yield sse(kind, data)
            finally:
                hub.unsubscribe(sub)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # ------------------------------------------------------------ endpoints: share links
    async def shared(self, request: Request) -> Response:
        who = self.share_principal(request)
        entity = who.entity
        assert entity is not None
        latest = await asyncio.to_thread(self._latest, [entity])
        body: dict[str, Any] = {
            "entity": entity,
            "live_only": who.live_only,
            "expires": who.expires,
            "latest": latest,
        }
        if not who.live_only:
            start, end = who.period_start, who.period_end
            table = await asyncio.to_thread(self._fixes, entity, start, end)
            body.update({"from": start, "to": end, "fixes": _rows(table)})
            # the latest position is shown only when it falls inside the shared period
            body["latest"] = [
                p for p in latest if start is not None and end is not None and start <= p["t"] < end
            ]
        return ApiJSON(body)

    # ------------------------------------------------------------ routes
    def routes(self) -> list[Route]:
        w = "/api/v1/workspaces/{ws}"
        return [
            Route("/api/v1/login", self.login, methods=["POST"]),
            Route("/api/v1/logout", self.logout, methods=["POST"]),
            Route("/api/v1/me", self.me, methods=["GET"]),
            Route("/api/v1/openapi.json", openapi, methods=["GET"]),
            Route(f"{w}/entities", self.entities, methods=["GET"]),
            Route(f"{w}/latest", self.latest, methods=["GET"]),
            Route(f"{w}/fixes", self.fixes, methods=["GET"]),
            Route(f"{w}/stays", self.analysis("stays"), methods=["GET"]),
            Route(f"{w}/places", self.analysis("places"), methods=["GET"]),
            Route(f"{w}/trips", self.analysis("trips"), methods=["GET"]),
            Route(f"{w}/anchors", self.analysis("anchors"), methods=["GET"]),
            Route(f"{w}/profile", self.profile, methods=["GET"]),
            Route(f"{w}/ask", self.ask, methods=["POST"]),
            Route(f"{w}/export", self.export, methods=["GET"]),
            Route(f"{w}/devices", self.devices, methods=["GET"]),
            Route(f"{w}/devices", self.add_device, methods=["POST"]),
            Route(f"{w}/members", self.members, methods=["GET"]),
            Route(f"{w}/members", self.set_member, methods=["PUT"]),
            Route(f"{w}/shares", self.shares, methods=["GET"]),
            Route(f"{w}/shares", self.add_share, methods=["POST"]),
            Route(w + "/tokens/{token_id}", self.revoke_token, methods=["DELETE"]),
            Route(f"{w}/audit", self.audit, methods=["GET"]),
            Route(f"{w}/geofences", self.geofences, methods=["GET"]),
            Route(f"{w}/geofences", self.add_geofence, methods=["POST"]),
            Route(w + "/geofences/{gid}", self.remove_geofence, methods=["DELETE"]),
            Route(f"{w}/stream", self.stream, methods=["GET"]),
            Route("/api/v1/shared", self.shared, methods=["GET"]),
        ]


class _Scoped:
    """A view of a Database limited to some entities: what a question in a workspace may see."""

    def __init__(self, db: Database, allowed: set[str]) -> None:
        self._db = db
        self._allowed = allowed

    def entity_names(self) -> list[str]:
        return [n for n in self._db.entity_names() if n in self._allowed]

    def entities(self) -> pa.Table:
        t = self._db.entities()
        keep = [n in self._allowed for n in t.column("entity").to_pylist()]
        return t.filter(pa.array(keep, type=pa.bool_()))

    def _check(self, entity: str) -> None:
        if entity not in self._allowed:
            raise ApiError("not_found", f"no entity {entity!r} in this workspace", field="entity")

    def _each(self, method: str, entity: str | None, kw: dict[str, Any]) -> pa.Table:
        """``method`` for one allowed entity, or, for ``entity=None`` ("everyone"), for every entity of
        the view, concatenated."""
        fn = getattr(self._db, method)
        if entity is not None:
            self._check(entity)
            return fn(entity, **kw)
        parts = [fn(name, **kw) for name in self.entity_names()]
        parts = [p for p in parts if p.num_rows]
        if not parts:
            return fn(None, **kw).slice(0, 0)
        return pa.concat_tables(parts, promote_options="default")

    def fixes(self, entity: str | None = None, **kw: Any) -> pa.Table:
        return self._each("fixes", entity, kw)

    def stays(self, entity: str | None = None, **kw: Any) -> pa.Table:
        return self._each("stays", entity, kw)

    def places(self, entity: str | None = None, **kw: Any) -> pa.Table:
        return self._each("places", entity, kw)

    def trips(self, entity: str | None = None, **kw: Any) -> pa.Table:
        return self._each("trips", entity, kw)

    @property
    def store(self) -> Any:
        # not the DuckDB store itself: the executor's whole-store fast paths (every entity near a
        # point...) do not apply, and it answers from this view's entities only
        return _StoreView(self._db.store)

    def __getattr__(self, name: str) -> Any:
        if name in ("import_", "assign_device", "export", "ask", "audit_log", "close"):
            raise AttributeError(f"{name} is not available to a workspace question")
        return getattr(self._db, name)


class _StoreView:
    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name in ("con", "fixes", "iter_fixes", "table", "latest_fixes"):
            raise AttributeError(f"{name} is not available to a workspace question")
        return getattr(self._store, name)


# ------------------------------------------------------------------ OpenAPI
def _op(summary: str, *, role: str | None, params: tuple[str, ...] = (), body: dict[str, Any] | None = None,
        ok: int = 200, content: str = "application/json") -> dict[str, Any]:  # fmt: skip
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            str(ok): {"description": "OK", "content": {content: {"schema": {"type": "object"}}}},
            "default": {
                "description": "an error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if role:
        op["description"] = f"Needs the {role} role in the workspace."
        op["security"] = [{"bearer": []}, {"session": []}]
    parameters = []
    for p in params:
        if p == "ws":
            parameters.append({"name": "ws", "in": "path", "required": True, "schema": {"type": "string"}})
        elif p == "token_id":
            parameters.append(
                {"name": "token_id", "in": "path", "required": True, "schema": {"type": "string"}}
            )
        elif p == "entity":
            parameters.append(
                {"name": "entity", "in": "query", "required": True, "schema": {"type": "string"}}
            )
        else:
            parameters.append(
                {"name": p, "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"}
                 if p in ("from", "to") else {"type": "string"}}
            )  # fmt: skip
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _obj(required: list[str], **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


_S = {"type": "string"}
_T = {"type": "string", "format": "date-time"}


def openapi_schema() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the REST API and the ingest endpoints."""
    w = "/api/v1/workspaces/{ws}"
    data = ("ws", "entity", "from", "to")
    paths: dict[str, Any] = {
        "/api/v1/login": {"post": _op("Log in; sets the session cookie", role=None,
                                      body=_obj(["user", "password"], user=_S, password=_S))},
        "/api/v1/logout": {"post": _op("Log out (revokes the session)", role="any")},
        "/api/v1/me": {"get": _op("The caller and their workspaces", role="any")},
        f"{w}/entities": {"get": _op("Entities of the workspace", role="viewer", params=("ws",))},
        f"{w}/latest": {"get": _op("Latest position per entity, with its age", role="viewer", params=("ws",))},
        f"{w}/fixes": {"get": _op("Fixes of an entity in a period", role="viewer", params=data)},
        f"{w}/stays": {"get": _op("Stays of an entity", role="viewer", params=data)},
        f"{w}/places": {"get": _op("Places of an entity", role="viewer", params=data)},
        f"{w}/trips": {"get": _op("Trips of an entity", role="viewer", params=data)},
        f"{w}/anchors": {"get": _op("Home, work and regular places", role="analyst", params=data)},
        f"{w}/profile": {"get": _op("The entity's profile: places by category, anchors, statistics, "
                                    "coverage (audited)", role="analyst", params=(*data, "purpose"))},
        f"{w}/ask": {"post": _op("Ask a question (audited)", role="analyst", params=("ws",),
                                 body=_obj(["question"], question=_S, entity=_S, purpose=_S))},
        f"{w}/export": {"get": _op("Export fixes as GeoJSON (audited)", role="analyst",
                                   params=(*data, "purpose"), content="application/geo+json")},
        f"{w}/devices": {
            "get": _op("Devices and their ingest tokens' metadata", role="viewer", params=("ws",)),
            "post": _op("Add a device; returns its ingest token once", role="owner", params=("ws",),
                        body=_obj(["device"], device=_S), ok=201),
        },
        f"{w}/members": {
            "get": _op("Members and roles", role="viewer", params=("ws",)),
            "put": _op("Set a member's role (null removes)", role="owner", params=("ws",),
                       body=_obj(["user"], user=_S, role={"type": ["string", "null"],
                                                          "enum": ["viewer", "analyst", "owner", None]})),
        },
        f"{w}/shares": {
            "get": _op("Share links (metadata)", role="owner", params=("ws",)),
            "post": _op("Make a share link for one entity (audited)", role="owner", params=("ws",),
                        body=_obj(["entity", "expires"], entity=_S, expires=_T, live_only={"type": "boolean"},
                                  **{"from": _T, "to": _T}, label=_S, purpose=_S), ok=201),
        },
        w + "/tokens/{token_id}": {"delete": _op("Revoke a token", role="owner", params=("ws", "token_id"))},
        f"{w}/audit": {"get": _op("The workspace's audit entries", role="owner", params=("ws",))},
        f"{w}/geofences": {
            "get": _op("Geofences", role="viewer", params=("ws",)),
            "post": _op("Add a circular geofence (optional webhook)", role="analyst", params=("ws",),
                        body=_obj(["name", "lat", "lon", "radius_m"], name=_S, lat={"type": "number"},
                                  lon={"type": "number"}, radius_m={"type": "number"}, webhook=_S), ok=201),
        },
        w + "/geofences/{gid}": {"delete": _op("Remove a geofence", role="analyst", params=("ws", "gid"))},
        f"{w}/stream": {"get": _op("Live positions and geofence events (Server-Sent Events)", role="viewer",
                                   params=("ws",), content="text/event-stream")},
        "/api/v1/shared": {"get": _op("What a share link shows", role=None, params=("share",))},
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": "hereabouts", "version": "1", "description": __doc__ or ""},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
            },
            "schemas": {
                "Error": _obj(
                    ["error"],
                    error=_obj(["code", "message"], code=_S, message=_S, field={"type": ["string", "null"]}),
                )
            },
        },
    }


async def openapi(request: Request) -> Response:
    return ApiJSON(openapi_schema())
