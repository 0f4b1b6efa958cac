"""The ASGI app: ingest endpoints that unmodified tracking apps report to.

* ``POST /ingest/owntracks``: OwnTracks in HTTP mode, one JSON message (or an array) per request;
  replies ``[]``, or with accounts the friends' cards and last positions (:mod:`._friends`).
* ``GET|POST /ingest/osmand``: OsmAnd and Traccar Client (query string, form body, or Traccar Client's
  JSON body); replies 200 with an empty body.
* ``GET|POST /ingest/gpslogger``: GPSLogger's "custom URL" (query string, form or JSON body); replies 200
  with an empty body.
* ``POST /ingest/overland``: Overland, ``{"locations": [GeoJSON Point features]}``; replies
  ``{"result": "ok", ...}`` (the app deletes its queue only on that reply).

Every record goes through the same validation as a file import (:class:`hereabouts.io.Sink`) and into
the store through the single writer (:mod:`hereabouts.server._writer`); a 2xx is sent only after the
transaction holding the request's records has committed. Replays are de-duplicated by the store (same
device, time and position). A request whose records are all invalid gets a 422 naming the field of the
first reject (and nothing is stored); a batch with some bad records stores the good ones, records the
rejects in the store and says how many in the ``X-Hereabouts-Accepted`` / ``X-Hereabouts-Rejected``
headers (and, for Overland, in the reply). Every error has one shape, ``{"error": {"code", "message", "field"}}`` (see ``_errors``).

Records without a time take none from the server, except OsmAnd queries without ``timestamp``, which
(as in Traccar) are stamped with their arrival time. OsmAnd ``speed`` is in knots (converted to m/s);
Traccar Client's JSON ``coords.speed`` and GPSLogger's ``spd`` are m/s. A zero or negative accuracy or
HDOP means unknown; ``hdop`` gives an accuracy of ``5 × hdop`` metres when no accuracy is sent. An
OsmAnd query without a position but with ``cell``/``wifi`` parameters is kept as scans.

**Devices.** OwnTracks: ``user/device`` from the ``X-Limit-U`` / ``X-Limit-D`` headers (the Basic auth
user when ``X-Limit-U`` is missing), else the message's topic or ``tid``. OsmAnd: ``id`` / ``deviceid``
(required, as Traccar requires it: 400 without). GPSLogger: ``dev``/``device``/``id``, else the Android id
(``aid``/``androidId``), else the serial (``ser``/``serial``), else ``gpslogger``. Overland: each
location's ``device_id``, else ``overland``.

**Tokens** (``tokens={token: device}``): when given, every request must carry a token, as
``Authorization: Bearer <token>``, as the password of Basic auth (what OwnTracks sends), or as a
``token=`` (or ``access_token=``) query parameter (for apps that only take a URL: OsmAnd, Traccar
Client, GPSLogger, Overland);
a missing token is a 401, an unknown one a 403, and every record of the request is stored under the
token's device (device names in the request are ignored). Without tokens every request is accepted: a
development mode, logged as a warning when the app is created.

**Encryption** (OwnTracks): ``owntracks_keys={device: secret}`` opens ``_type: encrypted`` messages of
that device (libsodium secretbox, the secret zero-padded to 32 bytes as the apps do); an encrypted
message from a device without a key is refused with a 400 saying so.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import parse_qs

import duckdb
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .._db import Database
from ..accounts import Accounts
from ..io import ReadOptions
from ..model.errors import HereaboutsError
from ._errors import ApiError, error_response
from ._protocols import (
    Parsed,
    gpslogger_device,
    lower_keys,
    osmand_device,
    parse_gpslogger,
    parse_osmand,
    parse_overland,
    parse_owntracks,
)
from ._writer import GroupWriter, Job, WriterBusy

log = logging.getLogger("hereabouts.server")

#: Query parameters that carry the ingest token.
_TOKEN_PARAMS = ("token", "access_token")
#: Largest request body accepted (an Overland batch of a few thousand points fits).
MAX_BODY_BYTES = 8 << 20
#: Bodies up to this size are parsed on the event loop (a worker thread hop costs more than they do).
_INLINE_BODY_BYTES = 4096


class IngestConfig:
    def __init__(
        self,
        db: Database,
        tokens: Mapping[str, str] | None,
        owntracks_keys: Mapping[str, str] | None,
        max_body_bytes: int,
        writer: GroupWriter,
        accounts: Accounts | None = None,
    ) -> None:
        self.db = db
        self.accounts = accounts
        self.tokens = dict(tokens) if tokens is not None else None
        self.owntracks_keys = dict(owntracks_keys or {})
        self.max_body_bytes = max_body_bytes
        self.writer = writer


def create_app(
    db: Database,
    *,
    tokens: Mapping[str, str] | None = None,
    owntracks_keys: Mapping[str, str] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_group: int = 1000,
    max_queue: int = 10_000,
    mqtt: str | None = None,
    accounts: Accounts | bool | None = None,
    analysis_delay_s: float | None = 2.0,
    owntracks_friends: int = 50,
) -> Starlette:
    """The ingest server for ``db`` (see the module documentation for endpoints, tokens and keys).

    ``max_group`` caps how many waiting requests the writer commits in one transaction; past
    ``max_queue`` waiting requests the server answers 503 (busy) until the store catches up. The writer
    thread starts with the first request and stops when the app shuts down (or on
    ``app.state.ingest.writer.close()``).

    ``mqtt`` (``mqtt://[user:password@]host[:port][/base]``) also subscribes to OwnTracks topics on that
    broker while the app runs (:mod:`hereabouts.server._mqtt`), storing through the same writer.

    ``accounts`` (an :class:`~hereabouts.accounts.Accounts`, or True for the database's own) turns on
    the REST API (:mod:`hereabouts.server._api`) and makes ingest take the per-device tokens made by
    ``hereabouts device add`` (besides any static ``tokens``).

    ``analysis_delay_s`` (None turns it off): stays are analysed again in the background once a
    device's fixes have paused that long (:mod:`hereabouts.server._analysis`).

    ``owntracks_friends``: with accounts, an OwnTracks HTTP reply tells of up to this many other
    devices of the sender's workspace (:mod:`hereabouts.server._friends`; 0 replies ``[]``).
    """
    if accounts is True:
        accounts = Accounts(db.store)
    elif accounts is False:
        accounts = None
    if tokens is None and accounts is None:
        log.warning(
            "no ingest tokens configured: every request is accepted (development mode); "
            "give tokens={token: device} to require them"
        )
    elif not tokens:
        log.warning("an empty token table: every ingest request will be refused")
    writer = GroupWriter(db, max_group=max_group, max_queue=max_queue)
    if accounts is not None and tokens is None:
        tokens = {}  # the accounts' ingest tokens, and no static ones
    cfg = IngestConfig(db, tokens, owntracks_keys, max_body_bytes, writer, accounts)

    analysis = _live_analysis(db, writer, analysis_delay_s)
    subscriber = None
    if mqtt is not None:
        from ._mqtt import OwnTracksSubscriber, parse_mqtt_url

        subscriber = OwnTracksSubscriber(writer, owntracks_keys=owntracks_keys, **parse_mqtt_url(mqtt))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if subscriber is not None:
            await asyncio.to_thread(subscriber.start)
        try:
            yield
        finally:
            if subscriber is not None:
                await asyncio.to_thread(subscriber.stop)
            if hub is not None:
                hub.close()
            await asyncio.to_thread(writer.close)
            if analysis is not None:
                await asyncio.to_thread(analysis.close)

    routes: list[BaseRoute] = _ingest_routes()
    hub = None
    if accounts is not None:
        from ._api import Api
        from ._live import LiveHub

        hub = LiveHub(accounts, db.store)
        writer.on_commit.append(_geofence_listener(hub, writer))
        api = Api(db, accounts, hub)
        routes += api.routes()
        from ._ui import ui_routes

        routes += ui_routes()  # the web UI at "/"
    app = IngestApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    app.state.ingest = cfg
    app.state.mqtt = subscriber
    app.state.live = hub
    app.state.analysis = analysis
    if accounts is not None:
        from ._friends import Friends

        app.state.friends = Friends(accounts, db.store, hub, max_friends=owntracks_friends)
    return app


def _ingest_routes() -> list[BaseRoute]:
    return [
        Route("/ingest/owntracks", _owntracks, methods=["POST"]),
        Route("/ingest/osmand", _osmand, methods=["GET", "POST"]),
        Route("/ingest/gpslogger", _gpslogger, methods=["GET", "POST"]),
        Route("/ingest/overland", _overland, methods=["POST"]),
    ]


class IngestApp(Starlette):
    """The Starlette app with a fast path for ingest: a request to one of the ``/ingest/*`` routes goes
    straight to its endpoint (the same handler, request and error replies, without the router and
    middleware layers, which cost as much as parsing a fix). Any other request, or an ingest path
    with a method its route does not take, goes through Starlette, or to ``fallback`` when one is
    set (an ingest worker process sends it on to the main process)."""

    fallback: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            fast = self._ingest_routes().get(scope["path"])
            if fast is not None and scope["method"] in fast[1]:
                scope["app"] = self
                request = Request(scope, receive)
                try:
                    response = await fast[0](request)
                except ApiError as exc:
                    response = await _api_error(request, exc)
                except HTTPException as exc:
                    response = await _http_error(request, exc)
                except Exception as exc:
                    response = await _internal_error(request, exc)
                await response(scope, receive, send)
                return
            if self.fallback is not None:
                await self.fallback(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _ingest_routes(self) -> dict[str, tuple[Callable[[Request], Awaitable[Response]], set[str]]]:
        table: dict[str, tuple[Callable[[Request], Awaitable[Response]], set[str]]] | None = getattr(
            self, "_fast_routes", None
        )
        if table is None:
            table = {
                r.path: (r.endpoint, set(r.methods or ()))
                for r in self.routes
                if isinstance(r, Route) and r.path.startswith("/ingest/")
            }
            self._fast_routes = table
        return table


def _live_analysis(db: Database, writer: GroupWriter, delay_s: float | None) -> Any:
    """The background analysis hooked to the writer's commits, for stores that keep stays."""
    from ..store import DuckDBStore, PostgresStore

    if delay_s is None or not isinstance(db.store, DuckDBStore | PostgresStore):
        return None
    from ._analysis import LiveAnalysis

    analysis = LiveAnalysis(db, delay_s=delay_s)
    writer.on_commit.append(analysis.committed)
    return analysis


def _geofence_listener(hub: Any, writer: GroupWriter) -> Any:
    """After each commit: update the live hub, then store the geofence events it produced."""

    def listener(tables: list[tuple[str, Any]]) -> None:
        hub.committed(tables)
        if hub.pending_events:
            import pyarrow as pa

            from ..io._base import Counts

            events, hub.pending_events = hub.pending_events, []
            table = pa.concat_tables(events)
            try:
                writer.submit(Job("geofence", [("event", table)], Counts(read=table.num_rows)))
            except (WriterBusy, RuntimeError):
                log.error("%d geofence events could not be queued for storing", table.num_rows)

    return listener


# ------------------------------------------------------------------ errors
async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
    return error_response(exc)


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "bad_request")
    message = {
        "not_found": f"no endpoint {request.url.path}; expected /ingest/owntracks, /ingest/osmand, "
        "/ingest/gpslogger, /ingest/overland or the REST API under /api/v1 (see /api/v1/openapi.json)",
        "method_not_allowed": f"{request.method} is not accepted by {request.url.path}",
    }.get(code, str(exc.detail))
    return error_response(ApiError(code, message, headers=dict(exc.headers) if exc.headers else None))


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(ApiError("internal_error", "the server failed on this request; see its log"))


# ---------------------------------------------------------------- plumbing
def _cfg(request: Request) -> IngestConfig:
    cfg = request.app.state.ingest
    assert isinstance(cfg, IngestConfig)
    return cfg


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError("payload_too_large", f"the body is {declared} bytes; at most {limit} are accepted")
    chunks: list[bytes] = []
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > limit:
            raise ApiError("payload_too_large", f"the body is larger than {limit} bytes, the most accepted")
        chunks.append(chunk)
    return b"".join(chunks)


#: Decoded Basic credentials by Authorization header (each phone sends the same one every time).
_BASIC_CACHE: dict[str, tuple[str, str]] = {}


def _basic(request: Request) -> tuple[str, str] | None:
    auth = request.headers.get("authorization", "")
    cached = _BASIC_CACHE.get(auth)
    if cached is not None:
        return cached
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        raise ApiError(
            "unauthorized", "the Authorization header is not valid Basic credentials", field="Authorization"
        ) from None
    if len(_BASIC_CACHE) >= 10_000:
        _BASIC_CACHE.clear()
    _BASIC_CACHE[auth] = (user, password)
    return user, password


def _token_device(request: Request, cfg: IngestConfig) -> str | None:
    """The device named by the request's token, or None in development mode (no token table)."""
    if cfg.tokens is None:
        return None
    token: str | None = None
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        token = value.strip()
    else:
        basic = _basic(request)
        if basic is not None and basic[1]:
            token = basic[1]
    if token is None:
        token = request.query_params.get("token") or request.query_params.get("access_token") or None
    if token is None:
        raise ApiError(
            "unauthorized",
            "an ingest token is required: send it as 'Authorization: Bearer <token>', as the Basic auth "
            "password, or as a 'token' query parameter",
            field="token",
            headers={"WWW-Authenticate": 'Basic realm="hereabouts"'},
        )
    device = cfg.tokens.get(token)
    if device is None and cfg.accounts is not None:
        grant = cfg.accounts.ingest_grant(token)
        device = grant.device if grant is not None else None
    if device is None:
        raise ApiError("forbidden", "this ingest token is not known to the server", field="token")
    return device


async def _store(cfg: IngestConfig, parsed: Parsed) -> dict[str, str]:
    """Hand the request's records to the writer and wait for the commit; the reply headers."""
    c = parsed.counts
    if parsed.accepted == 0 and c.rejected > 0:
        first = parsed.rejects[0] if parsed.rejects else {"field": None, "reason": "invalid record"}
        raise ApiError(
            "invalid_record",
            f"nothing stored: {first['reason']}",
            field=first["field"],
            details={"rejected": c.rejected, "rejects": parsed.rejects},
        )
    headers = {"X-Hereabouts-Accepted": str(parsed.accepted), "X-Hereabouts-Rejected": str(c.rejected)}
    if not parsed.has_rows:
        return headers  # nothing to store (an OwnTracks lwt, card, status...)
    job = Job(parsed.protocol, parsed.tables, c)
    try:
        future = cfg.writer.submit(job)
    except WriterBusy as exc:
        raise ApiError(
            "busy", f"the store is busy ({exc}); try again shortly", headers={"Retry-After": "5"}
        ) from exc
    try:
        await (future if isinstance(future, asyncio.Future) else asyncio.wrap_future(future))
    except WriterBusy as exc:  # from a writer in another process (ingest workers)
        raise ApiError(
            "busy", f"the store is busy ({exc}); try again shortly", headers={"Retry-After": "5"}
        ) from exc
    except (HereaboutsError, duckdb.Error) as exc:
        raise ApiError(
            "store_error", f"the records could not be stored ({exc}); nothing was kept, try again"
        ) from exc
    return headers


def _params(request: Request, body: bytes) -> tuple[dict[str, list[str]], dict[str, Any] | None]:
    """Query parameters merged with a form body (body values win); a JSON object body is returned
    apart (None when the body is not JSON)."""
    params: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        if k not in _TOKEN_PARAMS:  # a credential, not data: kept out of rejects' raw text
            params.setdefault(k, []).append(v)
    text = body.strip()
    ctype = request.headers.get("content-type", "").lower()
    if text.startswith(b"{") or (text and "json" in ctype):
        try:
            obj = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(
                "invalid_json", f"the body is not valid JSON ({str(exc)[:120]})", field="body"
            ) from exc
        if not isinstance(obj, dict):
            raise ApiError("invalid_json", "expected a JSON object", field="body")
        return params, obj
    if text:
        try:
            form = parse_qs(text.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise ApiError("bad_request", "the form body is not UTF-8", field="body") from exc
        for k, vs in form.items():
            if k not in _TOKEN_PARAMS:
                params.setdefault(k, []).extend(vs)
    return params, None


# ---------------------------------------------------------------- endpoints
async def _owntracks(request: Request) -> Response:
    cfg = _cfg(request)
    forced = _token_device(request, cfg)
    body = await _body(request, cfg.max_body_bytes)
    user = request.headers.get("x-limit-u") or None
    dev = request.headers.get("x-limit-d") or None
    if user is None:
        basic = _basic(request)
        user = basic[0] if basic is not None and basic[0] else None
    header_device = f"{user}/{dev}" if user and dev else user
    device = forced or header_device
    key = cfg.owntracks_keys.get(device) if device else None
    options = ReadOptions(device=forced, default_device="owntracks")
    if len(body) <= _INLINE_BODY_BYTES:  # a message or two: parsing costs less than a thread hop
        parsed = parse_owntracks(body, device=device, options=options, key=key)
    else:
        parsed = await asyncio.to_thread(parse_owntracks, body, device=device, options=options, key=key)
    headers = await _store(cfg, parsed)
    return JSONResponse(await _owntracks_reply(request, forced), headers=headers)


async def _owntracks_reply(request: Request, device: str | None) -> list[dict[str, Any]]:
    """What the app is told after its records are stored: its friends' positions (``_friends``; in an
    ingest worker, ``areply`` asks the main process for them, :class:`._workers.RemoteFriends`)."""
    friends = getattr(request.app.state, "friends", None)
    if friends is None:
        return []
    areply = getattr(friends, "areply", None)
    if areply is not None:
        reply: list[dict[str, Any]] = await areply(device)
        return reply
    return cast(list[dict[str, Any]], friends.reply(device))


async def _osmand(request: Request) -> Response:
    cfg = _cfg(request)
    forced = _token_device(request, cfg)
    body = await _body(request, cfg.max_body_bytes)
    params, obj = _params(request, body)
    device = osmand_device(params, obj)
    if device is None and forced is None:
        raise ApiError(
            "missing_device",
            "no device id: expected an 'id' (or 'deviceid') parameter, or 'device_id' in a JSON body",
            field="id",
        )
    options = ReadOptions(device=forced or device, default_device="osmand")
    parsed = parse_osmand(params, obj, options=options)
    headers = await _store(cfg, parsed)
    return Response(status_code=200, headers=headers)


async def _gpslogger(request: Request) -> Response:
    cfg = _cfg(request)
    forced = _token_device(request, cfg)
    body = await _body(request, cfg.max_body_bytes)
    params, obj = _params(request, body)
    if obj is not None:
        for k, v in obj.items():
            if isinstance(v, str | int | float) and not isinstance(v, bool):
                params.setdefault(k, []).append(str(v))
    params = lower_keys(params)
    options = ReadOptions(device=forced or gpslogger_device(params), default_device="gpslogger")
    parsed = parse_gpslogger(params, options=options)
    headers = await _store(cfg, parsed)
    return Response(status_code=200, headers=headers)


async def _overland(request: Request) -> Response:
    cfg = _cfg(request)
    forced = _token_device(request, cfg)
    body = await _body(request, cfg.max_body_bytes)
    options = ReadOptions(device=forced, default_device="overland")
    if len(body) <= _INLINE_BODY_BYTES:
        parsed = parse_overland(body, options=options)
    else:
        parsed = await asyncio.to_thread(parse_overland, body, options=options)
    headers = await _store(cfg, parsed)
    reply: dict[str, Any] = {"result": "ok", "saved": parsed.accepted}
    if parsed.counts.rejected:
        reply["rejected"] = parsed.counts.rejected
        reply["rejects"] = parsed.rejects
    return JSONResponse(reply, headers=headers)
