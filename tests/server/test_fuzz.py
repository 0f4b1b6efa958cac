"""Whatever a client sends, the server answers with a 2xx or a 4xx in the one error shape: never a 500."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
_json = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_owntracks = st.fixed_dictionaries(
    {"_type": st.sampled_from(["location", "transition", "waypoint", "waypoints", "encrypted", "lwt", "x"])},
    optional={
        "tst": _scalar,
        "lat": _scalar,
        "lon": _scalar,
        "acc": _scalar,
        "vel": _scalar,
        "data": _scalar,
        "waypoints": _json,
    },
)
_param_names = st.sampled_from(
    [
        "id",
        "lat",
        "lon",
        "location",
        "timestamp",
        "time",
        "timeoff",
        "speed",
        "spd",
        "acc",
        "hdop",
        "cell",
        "wifi",
        "valid",
    ]
)
_params = st.lists(st.tuples(_param_names, st.text(max_size=15)), max_size=6)
_overland = st.fixed_dictionaries({"locations": st.lists(_json, max_size=3)})

_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _check(r: Any) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        err = r.json()["error"]
        assert set(err) >= {"code", "message", "field"} and err["message"]


@_SETTINGS
@given(body=st.one_of(_owntracks, _json))
def test_owntracks_never_fails(api: Any, body: Any) -> None:
    _check(api.post("/ingest/owntracks", content=json.dumps(body).encode(), headers={"X-Limit-U": "fz"}))


@_SETTINGS
@given(params=_params, path=st.sampled_from(["/ingest/osmand", "/ingest/gpslogger"]))
def test_query_protocols_never_fail(api: Any, params: list[tuple[str, str]], path: str) -> None:
    _check(api.get(path, params=params))


@_SETTINGS
@given(body=st.one_of(_overland, _json), raw=st.binary(max_size=40))
def test_overland_never_fails(api: Any, body: Any, raw: bytes) -> None:
    _check(api.post("/ingest/overland", content=json.dumps(body).encode()))
    _check(api.post("/ingest/overland", content=raw))
