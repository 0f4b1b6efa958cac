"""Ingest fast paths: Overland bodies read in memory against the streaming GeoJSON reader, small fix
batches gathered by the writer into one table per commit group, and the server settings."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import math
import socket
import threading
import time
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hereabouts as hb
from hereabouts.io import REGISTRY, ReadOptions
from hereabouts.io._base import Rows
from hereabouts.server import _protocols as P
from hereabouts.server import create_app
from hereabouts.server._serve import server_options

NOW_US = 1_750_000_000_000_000
OPTS = ReadOptions(now_us=NOW_US, default_device="overland")

_iso = st.datetimes(
    min_value=dt.datetime(1975, 1, 1), max_value=dt.datetime(2025, 12, 31), timezones=st.just(dt.UTC)
)
_timestamp = st.one_of(
    _iso.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
    _iso.map(lambda d: d.isoformat()),
    _iso.map(lambda d: d.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()),
    _iso.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"),
    st.integers(min_value=0, max_value=2_000_000_000),
    st.sampled_from(
        [
            *("yesterday", "", None, "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z"),
            *("2024-01-01T24:00:00Z", "2016-12-31T23:59:60Z", "1700000000", "1700000000000", True),
            " 2024-01-01T00:00:00Z",
        ]
    ),
)
_coord = st.one_of(
    st.floats(min_value=-181, max_value=181),
    st.floats(min_value=-89, max_value=89),
    st.integers(min_value=-5, max_value=5),
    st.sampled_from([0.0, "52.1", None, 90.0]),
)
_number = st.one_of(
    st.none(),
    st.floats(min_value=-50, max_value=5000),
    st.integers(-5, 50),
    st.sampled_from([0, 0.0, -0.0, -1, "8", "x", ""]),
)
_props = st.fixed_dictionaries(
    {"timestamp": _timestamp},
    optional={
        "horizontal_accuracy": _number,
        "vertical_accuracy": _number,
        "altitude": _number,
        "speed": _number,
        "course": _number,
        "device_id": st.sampled_from(["", "phone", 7, True, None]),
        "motion": st.just(["driving"]),
        "battery_level": st.just(0.5),
        "wifi": st.just(""),
    },
)
# keys outside Overland's own: such features are not of the common shape
_extra = st.one_of(
    st.just({}),
    st.just({}),
    st.just({}),
    st.fixed_dictionaries({"time": _timestamp}),
    st.fixed_dictionaries({"provider": st.sampled_from(["gps", "nope"])}),
)
_point = st.builds(
    lambda lon, lat, alt, props, extra: {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat, *alt]},
        "properties": {**props, **extra},
    },
    _coord,
    _coord,
    st.one_of(st.just([]), st.tuples(_number).map(list)),
    _props,
    _extra,
)
_odd = st.one_of(
    st.just("not a feature"),
    st.just(
        {"type": "Feature", "properties": {"action": "will_terminate", "timestamp": "2024-01-01T00:00:00Z"}}
    ),
    st.just({"type": "Feature", "geometry": None, "properties": {}}),
    st.just({"type": "Point", "coordinates": [5.0, 52.0]}),
    st.just(
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[5.0, 52.0], [5.1, 52.1]]},
            "properties": {"coordTimes": ["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"]},
        }
    ),
    st.just({"type": "Feature", "geometry": {"type": "Point", "coordinates": [5.0]}, "properties": {}}),
)


def _streamed(body: bytes) -> P.Parsed:
    """What the streaming GeoJSON reader makes of the body (the path taken before the fast one)."""
    read = REGISTRY["geojson"].read
    return P.collect("overland", OPTS, lambda _sink, ctx: read(io.BytesIO(body), ctx))


def _tiers(parsed: P.Parsed) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[pa.Table]] = {}
    for tier, t in parsed.tables:
        out.setdefault(tier, []).append(t.to_table() if isinstance(t, Rows) else t)

    def norm(v: Any) -> Any:
        return "nan" if isinstance(v, float) and math.isnan(v) else v

    return {
        tier: [{k: norm(v) for k, v in r.items()} for r in pa.concat_tables(ts).to_pylist()]
        for tier, ts in out.items()
    }


_zulu_point = st.builds(
    lambda lon, lat, ts, acc: {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"timestamp": ts, "horizontal_accuracy": acc, "motion": []},
    },
    _coord,
    _coord,
    st.one_of(
        _iso.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
        st.sampled_from(["2024-02-30T00:00:00Z", "2024-01-01T24:00:00Z", "2016-12-31T23:59:60Z"]),
    ),
    _number,
)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.lists(st.one_of(_point, _point, _point, _odd), min_size=1, max_size=60),
        st.lists(_zulu_point, min_size=1, max_size=60),
        st.lists(st.one_of(_zulu_point, _odd), min_size=1, max_size=60),
    )
)
def test_overland_in_memory_reads_like_the_streaming_reader(features: list[Any]) -> None:
    body = json.dumps({"locations": features}).encode()
    assert P._overland_items(body, json.loads(body), OPTS) is not None  # the fast path is taken
    fast = P.parse_overland(body, options=OPTS)
    slow = _streamed(body)
    assert fast.counts == slow.counts
    assert fast.rejects == slow.rejects
    assert _tiers(fast) == _tiers(slow)


def test_the_common_overland_shape_is_read_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain Overland point never reaches the general per-feature reader; other features do."""
    calls: list[int] = []
    original = P._geojson._Reader.feature

    def counting(self: Any, feat: Any, pos: int) -> None:
        calls.append(pos)
        original(self, feat, pos)

    monkeypatch.setattr(P._geojson._Reader, "feature", counting)
    good = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [5.1, 52.1]},
        "properties": {"timestamp": "2024-05-01T10:00:00Z", "horizontal_accuracy": 8, "battery_level": 0.5},
    }
    other = {**good, "properties": {"time": "2024-05-01T10:00:01Z"}}
    parsed = P.parse_overland(json.dumps({"locations": [good, other]}).encode(), options=OPTS)
    assert calls == [2]
    assert parsed.counts.fixes == 2 and parsed.counts.rejected == 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"locations": [], "features": []}',  # the reader would read "features"
        b'{"locations": [{"type": "Point", "coordinates": [NaN, 52]}]}',  # not JSON for the reader
        b'{"locations": [], "current": {"locations": 1}}',  # a second "locations"
    ],
)
def test_bodies_the_reader_would_read_differently_take_the_streaming_path(body: bytes) -> None:
    obj = json.loads(body)
    if b"NaN" in body:
        parsed = P.parse_overland(body, options=OPTS)  # the streaming reader's reject, as before
        assert parsed.counts.rejected == 1 and parsed.rejects[0]["reason"].startswith("the JSON document")
    else:
        assert P._overland_items(body, obj, OPTS) is None


def test_a_large_overland_body_takes_the_streaming_path() -> None:
    small = ReadOptions(now_us=NOW_US, max_record_bytes=100)
    body = json.dumps({"locations": [{"type": "Point", "coordinates": [5.0, 52.0]}] * 10}).encode()
    assert P._overland_items(body, json.loads(body), small) is None


# --------------------------------------------------- the writer gathers rows
def test_single_fix_requests_are_stored_from_one_table_per_group(db: hb.Database) -> None:
    from tests.server.conftest import Api

    api = Api(create_app(db, max_group=1000))
    committed: list[list[tuple[str, pa.Table]]] = []
    api.app.state.ingest.writer.on_commit.append(committed.append)
    try:
        n = 60
        calls = []
        for i in range(n):
            msg = {
                "_type": "location",
                "tst": 1_700_000_000 + i,
                "lat": 52.0 + i * 1e-4,
                "lon": 5.0,
                "acc": 8,
            }
            if i % 10 == 9:
                msg["lat"] = 0.0
                msg["lon"] = 0.0  # a placeholder: 422, nothing stored
            calls.append(
                ("POST", "/ingest/owntracks", {"json": msg, "headers": {"X-Limit-U": "u", "X-Limit-D": "p"}})
            )
        replies = api.concurrently(calls)
        codes = [r.status_code for r in replies]
        assert codes.count(200) == 54 and codes.count(422) == 6
        assert all(
            r.json()["error"]["field"] == "lat" for r in replies if r.status_code == 422
        )  # the sink's reject names the field
        fixes = db.fixes(device="u/p")
        assert fixes.num_rows == 54
        stored = sorted(fixes.column("lat").to_pylist())
        assert stored == sorted(52.0 + i * 1e-4 for i in range(n) if i % 10 != 9)
        writer = api.app.state.ingest.writer
        assert writer.stats.requests == 54
        # every commit handed its listeners one fix table for all its requests
        assert len(committed) == writer.stats.groups
        assert all(len([t for tier, t in group if tier == "fix"]) == 1 for group in committed)
        assert sum(t.num_rows for group in committed for _tier, t in group) == 54
    finally:
        api.close()


# ------------------------------------------------------------ server settings
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_once(db: hb.Database, options: dict[str, Any], url: str) -> int:
    import uvicorn

    app = create_app(db, tokens={"s3cret-token-xyz": "phone"})
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        end = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < end, "the server did not start"
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:  # no client-side logging
            sock.sendall(f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        return int(reply.split(b" ", 2)[1])
    finally:
        server.should_exit = True
        thread.join(30)


def test_served_requests_never_log_their_token(db: hb.Database, caplog: pytest.LogCaptureFixture) -> None:
    opts = server_options()
    assert opts["access_log"] is False
    url = "/ingest/osmand?id=x&lat=52.1&lon=5.1&timestamp=1700000000&token=s3cret-token-xyz"
    # a uvicorn started earlier in the session may have raised its loggers' levels or stopped them
    # propagating to the root logger, where the check reads: undo that for this test
    loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.access", "uvicorn.error")]
    saved = [(lg.propagate, lg.disabled, lg.level) for lg in loggers]
    for lg in loggers:
        lg.propagate, lg.disabled = True, False
        lg.setLevel(logging.NOTSET)
    try:
        # the check can see a token: uvicorn's access log (off in our settings) would print it
        with caplog.at_level(logging.INFO):
            assert _serve_once(db, {**opts, "access_log": True}, url) == 200
        assert "s3cret-token-xyz" in caplog.text
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert _serve_once(db, opts, url) == 200
        assert "Started server process" in caplog.text  # the server's own log is captured...
        assert "s3cret-token-xyz" not in caplog.text  # ...and holds no token
    finally:
        for lg, (prop, disabled, level) in zip(loggers, saved, strict=True):
            lg.propagate, lg.disabled = prop, disabled
            lg.setLevel(level)


def test_server_options_use_the_fast_loop_and_parser() -> None:
    opts = server_options()
    assert opts["loop"] == "uvloop" and opts["http"] == "httptools"  # both are installed here
    asyncio.run(asyncio.sleep(0))


def test_a_group_mixing_rows_and_tables_is_stored_whole(db: hb.Database) -> None:
    """One-fix requests (plain rows) and an Overland batch (an Arrow table) in one transaction."""
    from hereabouts.server._writer import GroupWriter, Job

    opts = ReadOptions(device="mix/phone", default_device="x")
    single = [
        P.parse_owntracks(
            json.dumps({"_type": "location", "tst": 1_700_000_000 + i, "lat": 52.0, "lon": 5.0 + i * 1e-3})
            .encode(), device=None, options=opts, key=None
        )
        for i in range(3)
    ]  # fmt: skip
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [5.5, 52.0 + i * 1e-4]},
            "properties": {"timestamp": f"2024-05-01T10:{i // 60:02d}:{i % 60:02d}Z"},
        }
        for i in range(100)
    ]
    batch = P.parse_overland(json.dumps({"locations": feats}).encode(), options=opts)
    assert any(isinstance(t, Rows) for p in single for _tier, t in p.tables)
    assert all(isinstance(t, pa.Table) for _tier, t in batch.tables)
    writer = GroupWriter(db)
    counts, stored = writer._commit([Job(p.protocol, p.tables, p.counts) for p in [*single, batch]])
    assert [c.fixes for c in counts] == [1, 1, 1, 100]
    assert [(tier, t.num_rows) for tier, t in stored] == [("fix", 103)]
    assert db.fixes(device="mix/phone").num_rows == 103
    assert db.sources().num_rows == 1  # one transaction, one source
