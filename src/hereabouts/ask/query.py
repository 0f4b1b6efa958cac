"""The query algebra of ``ask``: one frozen dataclass per kind of question.

Every query says itself back in plain words (:meth:`describe`), round-trips through JSON
(:func:`to_dict` / :func:`from_dict`) and the whole algebra has one JSON Schema (:func:`json_schema`),
generated from the same dataclass declarations, so a tool-calling translator and the parser produce
the same objects.

>>> q = TopPlaces(entity="van 7", period=None, n=5)
>>> q.describe()
'the 5 places where van 7 stayed longest, over all the data'
>>> from_dict(q.to_dict()) == q
True
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal, Union

from ..model.errors import InputError
from .timeexpr import Interval, Moment, Period, Recurrence

__all__ = [
    "QUERY_KINDS",
    "AnchorRef",
    "Anchors",
    "Anomalies",
    "Compare",
    "Coordinates",
    "FirstVisit",
    "InArea",
    "LastVisit",
    "NamedPlace",
    "Near",
    "NotUnderstood",
    "PlaceId",
    "PlaceRef",
    "Predict",
    "Query",
    "Refusal",
    "Routine",
    "Stats",
    "TimeSpent",
    "Together",
    "TopPlaces",
    "Town",
    "Trips",
    "Visits",
    "WhereAt",
    "WhereDuring",
    "from_dict",
    "json_schema",
]

Measure = Literal["distance", "radius_of_gyration", "n_places", "n_trips"]
AnchorKind = Literal["home", "work"]
MEASURE_WORDS: dict[str, str] = {
    "distance": "distance travelled",
    "radius_of_gyration": "radius of gyration",
    "n_places": "number of places",
    "n_trips": "number of trips",
}


class _Node:
    """Shared behaviour: ``kind`` tag, JSON round trip."""

    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        out = _encode(self)
        assert isinstance(out, dict)
        return out


def _when(period: Period | None, recurrence: Recurrence | None = None) -> str:
    parts = []
    if recurrence is not None:
        parts.append(recurrence.describe())
    parts.append(period.describe() if period is not None else "over all the data")
    return ", ".join(parts)


# ------------------------------------------------------------------ place references


@dataclass(frozen=True)
class NamedPlace(_Node):
    """A place the user named (a label in the places table)."""

    kind: ClassVar[str] = "named_place"
    name: str

    def describe(self) -> str:
        return f"the place named {self.name!r}"


@dataclass(frozen=True)
class AnchorRef(_Node):
    """The entity's home or work place (from the anchors stage)."""

    kind: ClassVar[str] = "anchor"
    anchor: AnchorKind

    def describe(self) -> str:
        return self.anchor


@dataclass(frozen=True)
class PlaceId(_Node):
    """A place by its stable id."""

    kind: ClassVar[str] = "place_id"
    place_id: str

    def describe(self) -> str:
        return f"place {self.place_id}"


@dataclass(frozen=True)
class Coordinates(_Node):
    """A point (WGS 84 degrees)."""

    kind: ClassVar[str] = "coordinates"
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise InputError(f"coordinates {self.lat}, {self.lon} out of range; expected lat ±90, lon ±180")

    def describe(self) -> str:
        return f"{self.lat:.5f}, {self.lon:.5f}"


@dataclass(frozen=True)
class Town(_Node):
    """A town of the offline gazetteer."""

    kind: ClassVar[str] = "town"
    name: str

    def describe(self) -> str:
        return f"the town {self.name}"


@dataclass(frozen=True)
class Near(_Node):
    """Anywhere within ``radius_m`` of another place reference."""

    kind: ClassVar[str] = "near"
    ref: PlaceRef
    radius_m: float

    def __post_init__(self) -> None:
        if not self.radius_m > 0:
            raise InputError(f"radius must be positive, got {self.radius_m} m")

    def describe(self) -> str:
        return f"within {self.radius_m:g} m of {self.ref.describe()}"


PlaceRef = Union[NamedPlace, AnchorRef, PlaceId, Coordinates, Town, Near]  # noqa: UP007


_NOW_WORDS = ("now", "right now", "currently", "at the moment", "at present")


def _place(entity: str | None, ref: PlaceRef) -> str:
    if isinstance(ref, AnchorRef) and entity:
        return f"{entity}'s {ref.anchor}"
    return ref.describe()


# ------------------------------------------------------------------ queries


@dataclass(frozen=True)
class WhereAt(_Node):
    """Where an entity was (or is) at one instant."""

    kind: ClassVar[str] = "where_at"
    entity: str
    at: Moment

    def describe(self) -> str:
        verb = "is" if self.at.phrase in _NOW_WORDS else "was"
        return f"where {self.entity} {verb} {self.at.describe()}"


@dataclass(frozen=True)
class WhereDuring(_Node):
    """Where an entity stayed during a period (its stays, in order)."""

    kind: ClassVar[str] = "where_during"
    entity: str
    period: Period

    def describe(self) -> str:
        return f"the stays of {self.entity}, {self.period.describe()}"


@dataclass(frozen=True)
class Anchors(_Node):
    """An entity's anchor places (home, work)."""

    kind: ClassVar[str] = "anchors"
    entity: str
    kinds: tuple[AnchorKind, ...] = ("home", "work")

    def __post_init__(self) -> None:
        if not self.kinds:
            raise InputError("anchors need at least one kind: home, work")

    def describe(self) -> str:
        return f"the {' and '.join(self.kinds)} place{'s' if len(self.kinds) > 1 else ''} of {self.entity}"


@dataclass(frozen=True)
class TopPlaces(_Node):
    """The places an entity stayed at longest."""

    kind: ClassVar[str] = "top_places"
    entity: str
    period: Period | None = None
    n: int = 5
    recurrence: Recurrence | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise InputError(f"the number of places must be at least 1, got {self.n}")

    def describe(self) -> str:
        return (
            f"the {self.n} places where {self.entity} stayed longest, {_when(self.period, self.recurrence)}"
        )


@dataclass(frozen=True)
class Visits(_Node):
    """The visits of an entity to a place."""

    kind: ClassVar[str] = "visits"
    entity: str
    place: PlaceRef
    period: Period | None = None
    recurrence: Recurrence | None = None

    def describe(self) -> str:
        return f"the visits of {self.entity} to {_place(self.entity, self.place)}, {_when(self.period, self.recurrence)}"


@dataclass(frozen=True)
class TimeSpent(_Node):
    """How long an entity spent at a place."""

    kind: ClassVar[str] = "time_spent"
    entity: str
    place: PlaceRef
    period: Period | None = None
    recurrence: Recurrence | None = None

    def describe(self) -> str:
        return f"the time {self.entity} spent at {_place(self.entity, self.place)}, {_when(self.period, self.recurrence)}"


@dataclass(frozen=True)
class FirstVisit(_Node):
    """The first visit of an entity to a place."""

    kind: ClassVar[str] = "first_visit"
    entity: str
    place: PlaceRef

    def describe(self) -> str:
        return f"the first visit of {self.entity} to {_place(self.entity, self.place)}"


@dataclass(frozen=True)
class LastVisit(_Node):
    """The most recent visit of an entity to a place."""

    kind: ClassVar[str] = "last_visit"
    entity: str
    place: PlaceRef

    def describe(self) -> str:
        return f"the most recent visit of {self.entity} to {_place(self.entity, self.place)}"


@dataclass(frozen=True)
class Trips(_Node):
    """Trips of an entity, optionally from and/or to a place."""

    kind: ClassVar[str] = "trips"
    entity: str
    origin: PlaceRef | None = None
    destination: PlaceRef | None = None
    period: Period | None = None
    recurrence: Recurrence | None = None

    def describe(self) -> str:
        s = f"the trips of {self.entity}"
        if self.origin is not None:
            s += f" from {_place(self.entity, self.origin)}"
        if self.destination is not None:
            s += f" to {_place(self.entity, self.destination)}"
        return f"{s}, {_when(self.period, self.recurrence)}"


@dataclass(frozen=True)
class Routine(_Node):
    """An entity's usual whereabouts during a recurrence (or its week)."""

    kind: ClassVar[str] = "routine"
    entity: str
    recurrence: Recurrence | None = None

    def describe(self) -> str:
        when = self.recurrence.describe() if self.recurrence is not None else "through the week"
        return f"the usual routine of {self.entity} {when}"


@dataclass(frozen=True)
class Anomalies(_Node):
    """Departures from an entity's routine."""

    kind: ClassVar[str] = "anomalies"
    entity: str
    period: Period | None = None

    def describe(self) -> str:
        return f"unusual movements of {self.entity}, {_when(self.period)}"


@dataclass(frozen=True)
class Predict(_Node):
    """Where an entity is likely to be at a future (or unobserved) instant."""

    kind: ClassVar[str] = "predict"
    entity: str
    at: Moment

    def describe(self) -> str:
        return f"where {self.entity} is likely to be {self.at.describe()}"


@dataclass(frozen=True)
class Stats(_Node):
    """Summary measures of an entity's movement."""

    kind: ClassVar[str] = "stats"
    entity: str
    period: Period | None = None
    measures: tuple[Measure, ...] = ("distance", "radius_of_gyration", "n_places")
    recurrence: Recurrence | None = None

    def __post_init__(self) -> None:
        if not self.measures:
            raise InputError(f"stats need at least one measure: {', '.join(MEASURE_WORDS)}")

    def describe(self) -> str:
        words = ", ".join(MEASURE_WORDS[m] for m in self.measures)
        return f"the {words} of {self.entity}, {_when(self.period, self.recurrence)}"


@dataclass(frozen=True)
class InArea(_Node):
    """Which entities were at a place (or area)."""

    kind: ClassVar[str] = "in_area"
    area: PlaceRef
    period: Period | None = None

    def describe(self) -> str:
        return f"the entities seen at {self.area.describe()}, {_when(self.period)}"


@dataclass(frozen=True)
class Together(_Node):
    """When two entities were at the same place at the same time (``entity_b`` None: with anyone)."""

    kind: ClassVar[str] = "together"
    entity_a: str
    entity_b: str | None = None
    period: Period | None = None

    def describe(self) -> str:
        other = self.entity_b if self.entity_b is not None else "any other entity"
        return f"the times {self.entity_a} was together with {other}, {_when(self.period)}"


@dataclass(frozen=True)
class Compare(_Node):
    """The same query over two periods."""

    kind: ClassVar[str] = "compare"
    query: Query
    period_a: Period
    period_b: Period

    def describe(self) -> str:
        return (
            f"{self.query.describe()} — compared between {self.period_a.describe()} "
            f"and {self.period_b.describe()}"
        )


@dataclass(frozen=True)
class Refusal(_Node):
    """A question outside the scope of hereabouts by design; ``reason`` says why."""

    kind: ClassVar[str] = "refusal"
    reason: str
    category: str = "profiling"

    def describe(self) -> str:
        return f"a refused question: {self.reason}"


@dataclass(frozen=True)
class NotUnderstood(_Node):
    """A question the parser could not read, with the nearest supported forms."""

    kind: ClassVar[str] = "not_understood"
    question: str
    suggestions: tuple[str, ...] = ()
    detail: str = ""

    def describe(self) -> str:
        s = f"a question that was not understood ({self.question!r})"
        if self.detail:
            s += f": {self.detail}"
        return s


Query = Union[  # noqa: UP007
    WhereAt,
    WhereDuring,
    Anchors,
    TopPlaces,
    Visits,
    TimeSpent,
    FirstVisit,
    LastVisit,
    Trips,
    Routine,
    Anomalies,
    Predict,
    Stats,
    InArea,
    Together,
    Compare,
    Refusal,
    NotUnderstood,
]

QUERY_KINDS: dict[str, type[_Node]] = {c.kind: c for c in typing.get_args(Query)}
_PLACE_KINDS: dict[str, type[_Node]] = {c.kind: c for c in typing.get_args(PlaceRef)}
_ALL: dict[str, type[_Node]] = {**QUERY_KINDS, **_PLACE_KINDS}


# ------------------------------------------------------------------ JSON


def _encode(v: object) -> object:
    if isinstance(v, _Node):
        out: dict[str, object] = {"kind": v.kind}
        for f in dataclasses.fields(v):  # type: ignore[arg-type]
            out[f.name] = _encode(getattr(v, f.name))
        return out
    if isinstance(v, Period):
        return {
            "phrase": v.phrase,
            "tz": v.tz,
            "intervals": [[iv.start.isoformat(), iv.end.isoformat()] for iv in v.intervals],
        }
    if isinstance(v, Moment):
        return {"phrase": v.phrase, "tz": v.tz, "at": v.at.isoformat()}
    if isinstance(v, Recurrence):
        return {"phrase": v.phrase, "tz": v.tz, "days": list(v.days), "windows": [list(w) for w in v.windows]}
    if isinstance(v, tuple):
        return [_encode(x) for x in v]
    return v


def _dt(s: object) -> datetime:
    if not isinstance(s, str):
        raise InputError(f"expected an ISO 8601 time string, got {s!r}")
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        raise InputError(f"time {s!r} has no UTC offset; expected e.g. 2025-03-30T00:00:00+00:00")
    return dt


def _need(d: object, what: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise InputError(f"expected an object for {what}, got {type(d).__name__}")
    return d


def _decode(tp: Any, v: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if v is None:
            if type(None) in args:
                return None
            raise InputError(f"{where} must not be null")
        nodes = [a for a in args if isinstance(a, type) and issubclass(a, _Node)]
        if nodes:
            d = _need(v, where)
            cls = _ALL.get(str(d.get("kind")))
            if cls is None or cls not in nodes:
                raise InputError(
                    f"{where}: unknown kind {d.get('kind')!r}; expected one of {', '.join(c.kind for c in nodes)}"
                )
            return _decode(cls, d, where)
        rest = [a for a in args if a is not type(None)]
        return _decode(rest[0], v, where)
    if origin is Literal:
        if v not in typing.get_args(tp):
            raise InputError(f"{where}: {v!r} is not one of {', '.join(map(repr, typing.get_args(tp)))}")
        return v
    if origin is tuple:
        (inner, *_) = typing.get_args(tp)
        if not isinstance(v, list | tuple):
            raise InputError(f"{where} must be a list")
        return tuple(_decode(inner, x, where) for x in v)
    if tp is Period:
        d = _need(v, where)
        return Period(
            str(d["phrase"]), tuple(Interval(_dt(a), _dt(b)) for a, b in d["intervals"]), str(d["tz"])
        )
    if tp is Moment:
        d = _need(v, where)
        return Moment(str(d["phrase"]), _dt(d["at"]), str(d["tz"]))
    if tp is Recurrence:
        d = _need(v, where)
        return Recurrence(
            str(d["phrase"]),
            tuple(int(x) for x in d["days"]),
            tuple((int(a), int(b)) for a, b in d["windows"]),
            str(d["tz"]),
        )
    if isinstance(tp, type) and issubclass(tp, _Node):
        d = _need(v, where)
        hints = _hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):  # type: ignore[arg-type]
            if f.name in d:
                kwargs[f.name] = _decode(hints[f.name], d[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING:
                raise InputError(f"{where}: missing field {f.name!r} for kind {tp.kind!r}")
        return tp(**kwargs)
    if tp is float:
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise InputError(f"{where} must be a number, got {v!r}")
        return float(v)
    if tp is int:
        if not isinstance(v, int) or isinstance(v, bool):
            raise InputError(f"{where} must be an integer, got {v!r}")
        return v
    if tp is str:
        if not isinstance(v, str):
            raise InputError(f"{where} must be a string, got {v!r}")
        return v
    raise InputError(f"{where}: cannot decode a value of type {tp!r}")  # pragma: no cover


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(sys.modules[__name__]))


def from_dict(d: dict[str, Any]) -> Query:
    """The query a :meth:`to_dict` produced (or an LLM wrote following :func:`json_schema`)."""
    q = _decode(Query, d, "query")
    return typing.cast(Query, q)


# ------------------------------------------------------------------ JSON Schema

_DT = {"type": "string", "format": "date-time"}
_TIME_SCHEMAS: dict[str, dict[str, Any]] = {
    "Period": {
        "type": "object",
        "description": "UTC intervals [start, end) plus the phrase they came from and the zone",
        "properties": {
            "phrase": {"type": "string"},
            "tz": {"type": "string", "description": "IANA zone"},
            "intervals": {
                "type": "array",
                "items": {"type": "array", "items": _DT, "minItems": 2, "maxItems": 2},
            },
        },
        "required": ["phrase", "tz", "intervals"],
    },
    "Moment": {
        "type": "object",
        "properties": {"phrase": {"type": "string"}, "tz": {"type": "string"}, "at": _DT},
        "required": ["phrase", "tz", "at"],
    },
    "Recurrence": {
        "type": "object",
        "description": "days of week (0 = Monday) x local windows in minutes (end < start spans midnight)",
        "properties": {
            "phrase": {"type": "string"},
            "tz": {"type": "string"},
            "days": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 6}},
            "windows": {
                "type": "array",
                "items": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 1440}},
            },
        },
        "required": ["phrase", "tz", "days", "windows"],
    },
}


def _schema_of(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        alts = [_schema_of(a) for a in args]
        one = alts[0] if len(alts) == 1 else {"oneOf": alts}
        if type(None) in typing.get_args(tp):
            return {"anyOf": [one, {"type": "null"}]}
        return one
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin is tuple:
        return {"type": "array", "items": _schema_of(typing.get_args(tp)[0])}
    if tp in (Period, Moment, Recurrence):
        return {"$ref": f"#/$defs/{tp.__name__}"}
    if isinstance(tp, type) and issubclass(tp, _Node):
        return {"$ref": f"#/$defs/{tp.__name__}"}
    return {"type": {str: "string", int: "integer", float: "number", bool: "boolean"}[tp]}


def json_schema() -> dict[str, Any]:
    """A JSON Schema (2020-12) of every query kind, for tool calling; generated from the dataclasses."""
    defs: dict[str, Any] = dict(_TIME_SCHEMAS)
    for cls in _ALL.values():
        hints = _hints(cls)
        props: dict[str, Any] = {"kind": {"const": cls.kind}}
        required = ["kind"]
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            props[f.name] = _schema_of(hints[f.name])
            if f.default is dataclasses.MISSING:
                required.append(f.name)
        defs[cls.__name__] = {
            "type": "object",
            "description": (cls.__doc__ or "").strip().splitlines()[0],
            "properties": props,
            "required": required,
            "additionalProperties": False,
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "hereabouts query",
        "oneOf": [{"$ref": f"#/$defs/{c.__name__}"} for c in QUERY_KINDS.values()],
        "$defs": defs,
    }
