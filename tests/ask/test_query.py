"""The query algebra: JSON round trip of every kind (hypothesis), the schema, plain-words describe()."""

from __future__ import annotations

import functools
import json
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hereabouts.ask import query as q
from hereabouts.ask.timeexpr import Interval, Moment, Period, Recurrence
from hereabouts.model.errors import InputError

TZ = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"])
T = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
TEXT = st.text(min_size=1, max_size=20)
ENT = st.text(min_size=1, max_size=12)


@st.composite
def periods(draw: st.DrawFn) -> Period:
    start = draw(T)
    hours = draw(st.integers(0, 10_000))
    return Period(draw(TEXT), (Interval(start, start + timedelta(hours=hours)),), draw(TZ))


moments = st.builds(Moment, TEXT, T, TZ)
recurrences = st.builds(
    Recurrence,
    TEXT,
    st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True).map(lambda x: tuple(sorted(x))),
    st.lists(st.sampled_from([(360, 720), (1320, 360), (0, 1440)]), max_size=2, unique=True).map(tuple),
    TZ,
)
base_refs = st.one_of(
    st.builds(q.NamedPlace, TEXT),
    st.builds(q.AnchorRef, st.sampled_from(["home", "work"])),
    st.builds(q.PlaceId, TEXT),
    st.builds(q.Coordinates, st.floats(-90, 90), st.floats(-180, 180)),
    st.builds(q.Town, TEXT),
)
refs = st.one_of(base_refs, st.builds(q.Near, base_refs, st.floats(1, 50_000)))
opt_p = st.none() | periods()
opt_r = st.none() | recurrences
measures = st.lists(
    st.sampled_from(["distance", "radius_of_gyration", "n_places", "n_trips"]), min_size=1, unique=True
).map(tuple)
simple = st.one_of(
    st.builds(q.WhereAt, ENT, moments),
    st.builds(q.WhereDuring, ENT, periods()),
    st.builds(q.Anchors, ENT, st.sampled_from([("home",), ("work",), ("home", "work")])),
    st.builds(q.TopPlaces, ENT, opt_p, st.integers(1, 50), opt_r),
    st.builds(q.Visits, ENT, refs, opt_p, opt_r),
    st.builds(q.TimeSpent, ENT, refs, opt_p, opt_r),
    st.builds(q.FirstVisit, ENT, refs),
    st.builds(q.LastVisit, ENT, refs),
    st.builds(q.Trips, ENT, st.none() | refs, st.none() | refs, opt_p, opt_r),
    st.builds(q.Routine, ENT, opt_r),
    st.builds(q.Anomalies, ENT, opt_p),
    st.builds(q.Predict, ENT, moments),
    st.builds(q.Stats, ENT, opt_p, measures, opt_r),
    st.builds(q.InArea, refs, opt_p),
    st.builds(q.Together, ENT, st.none() | ENT, opt_p),
    st.builds(q.Refusal, TEXT, TEXT),
    st.builds(q.NotUnderstood, TEXT, st.lists(TEXT, max_size=3).map(tuple), TEXT),
)
queries = st.one_of(simple, st.builds(q.Compare, simple, periods(), periods()))


@settings(max_examples=100, deadline=None)
@given(queries)
def test_json_round_trip(query: q.Query) -> None:
    d = query.to_dict()
    back = q.from_dict(json.loads(json.dumps(d)))
    assert back == query
    assert isinstance(query.describe(), str) and query.describe()


def test_every_kind_is_in_the_schema_and_strategies() -> None:
    schema = q.json_schema()
    names = {c.__name__ for c in typing.get_args(q.Query)}
    assert names <= set(schema["$defs"])
    assert len(schema["oneOf"]) == len(names) == len(q.QUERY_KINDS)
    assert schema["$defs"]["Stats"]["properties"]["measures"]["items"]["enum"] == [
        "distance",
        "radius_of_gyration",
        "n_places",
        "n_trips",
    ]
    assert schema["$defs"]["Visits"]["required"] == ["kind", "entity", "place"]
    json.dumps(schema)


def test_describe_says_the_query_back() -> None:
    p = Period(
        "in October",
        (Interval(datetime(2024, 9, 30, 22, tzinfo=UTC), datetime(2024, 10, 31, 23, tzinfo=UTC)),),
        "Europe/Berlin",
    )
    r = Recurrence("on Tuesdays", (1,), (), "Europe/Berlin")
    assert q.TopPlaces("van 7", p, 5, r).describe() == (
        "the 5 places where van 7 stayed longest, on Tuesdays (Europe/Berlin), "
        "in October (2024-10-01 to 2024-10-31, Europe/Berlin)"
    )
    assert q.Visits("me", q.Near(q.AnchorRef("home"), 500), None).describe() == (
        "the visits of me to within 500 m of home, over all the data"
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"kind": "nope"}, "unknown kind"),
        ({"kind": "visits", "entity": "a"}, "missing field 'place'"),
        ({"kind": "top_places", "entity": "a", "n": "five"}, "must be an integer"),
        ({"kind": "stats", "entity": "a", "measures": ["speed"]}, "is not one of"),
        (
            {"kind": "where_at", "entity": "a", "at": {"phrase": "x", "tz": "UTC", "at": "2025-01-01T00:00"}},
            "no UTC offset",
        ),
        (
            {"kind": "visits", "entity": "a", "place": {"kind": "coordinates", "lat": 91, "lon": 0}},
            "out of range",
        ),
    ],
)
def test_from_dict_rejects_bad_input_with_a_message(bad: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        q.from_dict(bad)


@functools.cache
def _validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft202012Validator(q.json_schema())


@settings(max_examples=60, deadline=None)
@given(queries)
def test_to_dict_validates_against_the_json_schema(query: q.Query) -> None:
    _validator().validate(json.loads(json.dumps(query.to_dict())))


def test_schema_rejects_a_wrong_kind_and_extra_fields() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = q.json_schema()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"kind": "top_places", "entity": "a", "colour": "red"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"kind": "teleport", "entity": "a"}, schema)
