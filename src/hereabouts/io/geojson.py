"""GeoJSON reader (format ``geojson``): FeatureCollections, single Features, bare geometries, and the
Overland batch shape ``{"locations": [Point features]}``.

The document is streamed with ``ijson`` (its C backend when built): one feature is held in memory at a
time, so a file of millions of points is read in bounded memory. When the first 64 KiB show where the
array of features is (``features``, ``locations`` or a top-level array), ijson's C code builds each
feature (the fast path); otherwise (a single Feature or geometry, or a collection whose ``features`` come
after a long preamble) the document is walked event by event.

What becomes a fix:

* a ``Point`` feature (or a ``MultiPoint``/``LineString``/``MultiLineString`` with one time per vertex in
  ``properties.coordTimes`` or ``properties.coordinateProperties.times``, as togeojson writes them: one fix
  per vertex, all at the feature's position);
* the time comes from the first property of :data:`TIME_KEYS` (case-insensitive) that is present: an ISO
  8601 text (its offset is kept in ``tz_offset_s``), or epoch seconds/milliseconds/microseconds;
* optional properties, by name (case-insensitive; the first present wins):
  accuracy (:data:`ACCURACY_KEYS`, metres; ``hdop`` × :data:`HDOP_METRES` only when no accuracy in metres
  is given), altitude (:data:`ALTITUDE_KEYS`, else the third coordinate), speed (:data:`SPEED_KEYS`,
  converted to m/s from the unit the name says: ``vel`` and ``speed_kmh`` are km/h as OwnTracks and
  Dawarich write them, ``speed_mph`` miles per hour, ``speed_knots`` knots; plain ``speed`` is m/s),
  course (:data:`COURSE_KEYS`), device (:data:`DEVICE_KEYS`; an empty value means "not given"), the
  local offset ``tz_offset_s`` and ``provider`` (when it names one of ours).

Positions (unit ``record``) count the features of the document from 1; every vertex of a line shares its
feature's position. A feature without a usable time or position is rejected; an Overland feature without
geometry that names an ``action`` (``"will_terminate"``: the app reporting it stopped) is kept as an event.
Times in UTC (``Z``) leave ``tz_offset_s`` unknown: they say nothing of the local offset.

Features larger than ``max_record_bytes`` are rejected and skipped (lines, whose vertices are records of
their own, may be :data:`LINE_FACTOR` times larger). On the fast path a feature is measured once built,
and one that grows past ``LINE_FACTOR × max_record_bytes`` stops the read with one reject (the features
before it are kept), so memory stays bounded. A truncated or broken document keeps every feature before
the damage and records one reject at the feature where it broke.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from typing import IO, Any

import ijson

from ..model.schemas import PROVIDERS
from ._base import Format, ReadContext, Sink, register
from ._time import parse_time

try:
    _BACKEND: Any = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - depends on how ijson was built
    _BACKEND = ijson

#: Bytes asked of the stream per read.
BUF_SIZE = 64 * 1024
#: Bytes read first to find the array of features.
HEAD_BYTES = 64 * 1024
#: A feature holding a line (whose vertices are records of their own) may be this many times larger;
#: past that the read stops (memory bound).
LINE_FACTOR = 16
#: Metres per unit of HDOP (a typical user-equivalent range error), as in the GPX reader.
HDOP_METRES = 5.0

TIME_KEYS = (
    "time",
    "timestamp",
    "datetime",
    "date_time",
    "date",
    "when",
    "recorded_at",
    "recordedat",
    "created_at",
    "createdat",
    "tst",
    "fixtime",
    "fix_time",
    "devicetime",
    "device_time",
    "gps_time",
    "utc",
    "timestamp_ms",
)
ACCURACY_KEYS = (
    "accuracy_m",
    "accuracy",
    "horizontal_accuracy",
    "horizontalaccuracy",
    "hacc",
    "acc",
    "precision",
)
ALTITUDE_KEYS = ("altitude_m", "altitude", "alt", "ele", "elevation", "height")
#: Speed property names and the factor that turns their unit into metres per second.
SPEED_KEYS: tuple[tuple[str, float], ...] = (
    ("speed_mps", 1.0),
    ("speed_ms", 1.0),
    ("speed", 1.0),
    ("velocity", 1.0),
    ("speed_kmh", 1 / 3.6),
    ("speed_kph", 1 / 3.6),
    ("speed_km_h", 1 / 3.6),
    ("vel", 1 / 3.6),
    ("speed_mph", 0.44704),
    ("speed_knots", 1852 / 3600),
    ("speed_kn", 1852 / 3600),
)
COURSE_KEYS = ("course_deg", "course", "bearing", "heading", "cog", "direction")
DEVICE_KEYS = ("device", "device_id", "deviceid", "tid", "name")

_POINTLIKE = ("Point", "MultiPoint", "LineString", "MultiLineString")
_GEOMETRY_TYPES = (*_POINTLIKE, "Polygon", "MultiPolygon", "GeometryCollection")
_TOP_KEEP = frozenset({"type", "geometry", "properties", "coordinates", "geometries"})


# ------------------------------------------------------------------ sniffing
_RE_COLLECTION = re.compile(rb'"type"\s*:\s*"FeatureCollection"')
_RE_FEATURE = re.compile(rb'"type"\s*:\s*"Feature"')
_RE_GEOMETRY = re.compile(rb'"type"\s*:\s*"(?:Multi)?(?:Point|LineString)"')
_RE_COORDS = re.compile(rb'"coordinates"\s*:\s*\[')
_RE_GEOM_KEY = re.compile(rb'"(?:geometry|properties)"\s*:')
_RE_LOCATIONS = re.compile(rb'^\s*\{\s*"locations"\s*:\s*\[')


def _sniff(head: bytes, name: str) -> float:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith((b"{", b"[")):
        return 0.0
    bonus = 0.04 if name.endswith((".geojson", ".geo.json")) else 0.0
    if _RE_COLLECTION.search(text):
        return 0.9 + bonus
    feature = _RE_FEATURE.search(text) is not None
    coords = _RE_COORDS.search(text) is not None
    if feature and _RE_LOCATIONS.match(text):
        return 0.85 + bonus  # Overland batch
    if feature and coords:
        return 0.8 + bonus
    if feature and _RE_GEOM_KEY.search(text):  # a long line whose properties come before its geometry
        return 0.7 + bonus
    if coords and _RE_GEOMETRY.search(text):
        return 0.6 + bonus
    return 0.0


# ------------------------------------------------------------------ streaming
class _RecordTooLarge(Exception):
    """Raised from inside the parser's read when one feature grows past the hard cap."""


class _Counter:
    """The stream (after the ``head`` already read from it) as the parser sees it: counts the bytes
    read, and with ``hard_cap`` stops the parser when more than that many bytes pass without a feature
    boundary (``mark``), so one huge feature cannot exhaust memory."""

    def __init__(self, raw: IO[bytes], head: bytes = b"", hard_cap: int | None = None) -> None:
        self.raw = raw
        self.head = head
        self.pos = 0
        self.mark = 0
        self.hard_cap = hard_cap

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = BUF_SIZE
        if self.head:
            data, self.head = self.head[:n], self.head[n:]
        else:
            data = self.raw.read(n)
        self.pos += len(data)
        if self.hard_cap is not None and self.pos - self.mark > self.hard_cap:
            raise _RecordTooLarge
        return data


class _TooBig:
    """Returned by :func:`_build` for a value past the size limit (its events were skipped)."""

    def __init__(self, size: int) -> None:
        self.size = size


_OPEN = frozenset({"start_map", "start_array"})
_CLOSE = frozenset({"end_map", "end_array"})


def _build(events: Iterator[tuple[str, Any]], first: str, counter: _Counter, limit: int) -> Any:
    """Build the container whose opening event ``first`` was just read; :class:`_TooBig` (after skipping
    to its end) when it grows past ``limit`` bytes, or past ``limit * LINE_FACTOR`` once it shows to be a
    line (nested coordinate arrays, or a ``coordTimes``/``times`` array)."""
    start = counter.pos
    deadline = start + limit
    raised = False
    root: Any = {} if first == "start_map" else []
    stack: list[Any] = [root]
    coord_depth = -1  # depth of the array under a "coordinates" key, when inside one
    key: Any = None
    for event, value in events:
        if event == "map_key":
            key = value
            continue
        if event in _OPEN:
            top = stack[-1]
            new: Any = {} if event == "start_map" else []
            if type(top) is dict:
                top[key] = new
                if event == "start_array" and not raised:
                    if key == "coordinates":
                        coord_depth = len(stack)
                    elif key in ("coordTimes", "times"):
                        raised = True
                        deadline = start + limit * LINE_FACTOR
            else:
                top.append(new)
                if not raised and coord_depth == len(stack) - 1 and event == "start_array":
                    raised = True
                    deadline = start + limit * LINE_FACTOR
            stack.append(new)
        elif event in _CLOSE:
            stack.pop()
            if len(stack) == coord_depth:
                coord_depth = -1
            if not stack:
                return root
        else:
            top = stack[-1]
            if type(top) is dict:
                top[key] = value
            else:
                top.append(value)
        if counter.pos > deadline:
            depth = len(stack)
            for ev, _ in events:
                if ev in _OPEN:
                    depth += 1
                elif ev in _CLOSE:
                    depth -= 1
                    if depth == 0:
                        break
            return _TooBig(counter.pos - start)
    raise ijson.IncompleteJSONError("document ends inside a value")


def _skip(events: Iterator[tuple[str, Any]]) -> None:
    depth = 1
    for ev, _ in events:
        if ev in _OPEN:
            depth += 1
        elif ev in _CLOSE:
            depth -= 1
            if depth == 0:
                return


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    if text.startswith(("b'", 'b"')):
        text = text[2:]
    first = text.splitlines()[0] if text else type(exc).__name__
    return first.rstrip(".")[:120]


def _read(stream: IO[bytes], ctx: ReadContext) -> None:
    head = stream.read(HEAD_BYTES)
    prefix = _array_prefix(head)
    limit = ctx.options.max_record_bytes
    counter = _Counter(stream, head, hard_cap=limit * LINE_FACTOR + BUF_SIZE if prefix else None)
    reader = _Reader(ctx, counter)
    try:
        if prefix is not None:
            reader.recognised = True
            reader.fast_items(prefix)
        else:
            events: Iterator[tuple[str, Any]] = iter(
                _BACKEND.basic_parse(counter, use_float=True, buf_size=BUF_SIZE)
            )
            reader.document(events)
    except _RecordTooLarge:
        n = reader.pos + 1
        ctx.sink.reject(
            n,
            None,
            f"feature {n} is larger than {counter.hard_cap} bytes; the read stopped here to keep memory "
            f"bounded (the {n - 1} features before it were read)",
        )
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
        if not reader.recognised:
            raise ctx.error(
                f"not a GeoJSON document ({_error_text(exc)}); expected a FeatureCollection, a Feature, "
                "a geometry or an Overland batch"
            ) from exc
        n = reader.pos if reader.in_item else reader.pos + 1
        ctx.sink.reject(
            n,
            None,
            f"the JSON document is truncated or broken at feature {n} ({_error_text(exc)}); "
            f"expected complete JSON (the {n - 1} features before it were read)",
        )


def _array_prefix(head: bytes) -> str | None:
    """The ijson prefix of the array of features (``features.item``, ``locations.item`` or ``item``),
    when the head of the document shows it; None for anything else (a single Feature or geometry, or a
    collection whose ``features`` key comes after a long preamble), which takes the general path."""
    try:
        for prefix, event, value in _BACKEND.parse(io.BytesIO(head), use_float=True):
            if prefix == "" and event == "start_array":
                return "item"
            if event == "map_key" and prefix == "" and value in ("features", "locations"):
                continue
            if prefix in ("features", "locations") and event == "start_array":
                return f"{prefix}.item"
            if prefix == "" and event == "end_map":
                return None
    except (ijson.JSONError, UnicodeDecodeError, ValueError):
        return None
    return None


class _Reader:
    def __init__(self, ctx: ReadContext, counter: _Counter) -> None:
        self.ctx = ctx
        self.sink: Sink = ctx.sink
        self.counter = counter
        self.limit = ctx.options.max_record_bytes
        self.tz = ctx.options.tzinfo
        self.pos = 0
        self.in_item = False
        self.recognised = False

    def fast_items(self, prefix: str) -> None:
        """Features of one array, each built by ijson's C backend; sizes checked between features."""
        counter = self.counter
        limit = self.limit + BUF_SIZE
        last = 0
        for item in _BACKEND.items(counter, prefix, use_float=True, buf_size=BUF_SIZE):
            self.pos += 1
            size = counter.pos - last
            last = counter.mark = counter.pos
            if size > limit and not (size <= limit * LINE_FACTOR and _is_line(item)):
                self.sink.reject(
                    self.pos,
                    None,
                    f"feature is larger than {self.limit} bytes (the most one record may hold); skipped",
                    f"about {size} bytes",
                )
                continue
            self.feature(item, self.pos)

    def document(self, events: Iterator[tuple[str, Any]]) -> None:
        try:
            event, _value = next(events)
        except StopIteration:
            raise self.ctx.error("empty document; expected a GeoJSON FeatureCollection") from None
        if event == "start_array":  # a bare array of features
            self.recognised = True
            self.items(events)
            return
        if event != "start_map":
            raise self.ctx.error("not a GeoJSON document; expected a JSON object such as a FeatureCollection")
        top: dict[str, Any] = {}
        collection = False
        for event, value in events:
            if event == "end_map":
                break
            key = value  # event is map_key at the top level
            event, value = next(events)
            if key in ("features", "locations") and event == "start_array":
                self.recognised = collection = True
                self.items(events)
            elif event in _OPEN:
                if key in _TOP_KEEP:
                    top[key] = _build(events, event, self.counter, self.limit)
                else:
                    _skip(events)
            else:
                top[key] = value
                if key == "type" and value in ("FeatureCollection", "Feature", *_GEOMETRY_TYPES):
                    self.recognised = True
        if collection:
            return
        kind = top.get("type")
        if kind == "Feature" or kind in _GEOMETRY_TYPES:
            self.pos = 1
            if any(isinstance(v, _TooBig) for v in top.values()):
                self.sink.reject(1, None, f"feature is larger than {self.limit} bytes; skipped")
                return
            self.feature(top, 1)
            return
        raise self.ctx.error(
            "no GeoJSON features found; expected a FeatureCollection, a Feature, a geometry or an "
            'Overland batch {"locations": [...]}'
        )

    def items(self, events: Iterator[tuple[str, Any]]) -> None:
        for event, value in events:
            if event == "end_array":
                return
            self.pos += 1
            pos = self.pos
            if event in _OPEN:
                self.in_item = True
                item = _build(events, event, self.counter, self.limit)
                self.in_item = False
                if isinstance(item, _TooBig):
                    self.sink.reject(
                        pos,
                        None,
                        f"feature is larger than {self.limit} bytes (the most one record may hold); skipped",
                        f"about {item.size} bytes",
                    )
                    continue
                self.feature(item, pos)
            else:
                self.sink.reject(pos, None, "not a GeoJSON Feature object; expected {...}", repr(value))

    # -------------------------------------------------------------- one feature
    def feature(self, feat: Any, pos: int) -> None:
        sink = self.sink
        if type(feat) is not dict:
            sink.reject(pos, None, "not a GeoJSON Feature object; expected {...}", feat)
            return
        if feat.get("type") in _GEOMETRY_TYPES:
            geom: Any = feat
            props: dict[str, Any] = {}
        else:
            geom = feat.get("geometry")
            raw_props = feat.get("properties")
            props = raw_props if type(raw_props) is dict else {}
        found = _scan(props)
        dev = found.get("device")
        device = dev[1] if dev is not None else None
        t_found = found.get("time")
        t_raw = t_found[1] if t_found is not None else None
        if type(geom) is not dict:
            act = found.get("action")
            if act is not None and t_raw is not None:
                try:
                    t_us, _off = _parse_time(t_raw, self.tz)
                except (ValueError, OverflowError):
                    sink.reject(pos, "time", f"time {t_raw!r} is not an ISO 8601 or epoch time", feat)
                    return
                sink.event(pos, t_us, act[1], data=props, device=device)
                return
            sink.reject(pos, "geometry", "feature has no geometry; expected a Point or a LineString", feat)
            return
        gtype = geom.get("type")
        coords = geom.get("coordinates")
        if gtype not in _POINTLIKE:
            sink.reject(
                pos,
                "geometry",
                f"geometry type {gtype!r} is not a point or a line; expected Point, MultiPoint, "
                "LineString or MultiLineString",
                _clip(feat),
            )
            return
        if type(coords) is not list:
            sink.reject(pos, "coordinates", "geometry has no coordinates array", _clip(feat))
            return
        opt = _optional(found)
        if gtype == "Point":
            if t_raw is None:
                sink.reject(
                    pos,
                    "time",
                    "feature has no time; expected a property such as time, timestamp, datetime or when",
                    _clip(feat),
                )
                return
            self.vertex(pos, coords, t_raw, device, opt, "time", feat)
            return
        # lines and multi-points: one time per vertex
        times = _times_of(props)
        if gtype == "MultiLineString":
            verts = [v for part in coords if isinstance(part, list) for v in part]
            times = [t for part in times if isinstance(part, list) for t in part] if _nested(times) else times
        else:
            verts = coords
        if times is None:
            sink.reject(
                pos,
                "coordTimes",
                f"{gtype} has no times; expected properties.coordTimes (or coordinateProperties.times) "
                "with one time per vertex",
                _clip(feat),
            )
            return
        if len(times) != len(verts):
            sink.reject(
                pos,
                "coordTimes",
                f"{gtype} has {len(verts)} vertices but {len(times)} times; expected one time per vertex",
                _clip(feat),
            )
            return
        for v, t_v in zip(verts, times, strict=True):
            self.vertex(pos, v, t_v, device, opt, "coordTimes", None)

    def vertex(
        self,
        pos: int,
        coords: Any,
        t_raw: Any,
        device: str | None,
        opt: tuple[float | None, float | None, float | None, float | None, int | None, str | None],
        time_field: str,
        feat: Any,
    ) -> None:
        sink = self.sink
        if type(coords) is not list or len(coords) < 2:
            sink.reject(pos, "coordinates", "expected coordinates [lon, lat] or [lon, lat, alt]", _clip(feat))
            return
        lon = coords[0]
        lat = coords[1]
        if type(lon) is not float:
            lon = _number(lon)
        if type(lat) is not float:
            lat = _number(lat)
        if lon is None or lat is None:
            fld = "lon" if lon is None else "lat"
            sink.reject(pos, fld, "coordinates are not numbers; expected [lon, lat]", repr(coords)[:200])
            return
        try:
            t_us, off = _parse_time(t_raw, self.tz)
        except (ValueError, OverflowError):
            sink.reject(
                pos,
                time_field,
                f"time {t_raw!r} is not an ISO 8601 or epoch time",
                _clip(feat) if feat is not None else repr(t_raw),
            )
            return
        acc, alt, speed, course, tz_off, provider = opt
        if alt is None and len(coords) > 2:
            alt = _number(coords[2])
        sink.fix(
            pos,
            t_us,
            lat,
            lon,
            device=device,
            tz_offset_s=tz_off if tz_off is not None else off,
            accuracy_m=acc,
            altitude_m=alt,
            speed_mps=speed,
            course_deg=course,
            provider=provider,
        )


# ------------------------------------------------------------------ helpers
#: lower-cased property name → (field, rank (lower wins), unit factor)
_KEYS: dict[str, tuple[str, int, float]] = {}
for _field, _names in (
    ("time", TIME_KEYS),
    ("accuracy", ACCURACY_KEYS),
    ("altitude", ALTITUDE_KEYS),
    ("course", COURSE_KEYS),
    ("device", DEVICE_KEYS),
):
    for _rank, _name in enumerate(_names):
        _KEYS[_name] = (_field, _rank, 1.0)
for _rank, (_name, _factor) in enumerate(SPEED_KEYS):
    _KEYS[_name] = ("speed", _rank, _factor)
_KEYS["hdop"] = ("hdop", 0, HDOP_METRES)
_KEYS["tz_offset_s"] = ("tz", 0, 1.0)
_KEYS["provider"] = ("provider", 0, 1.0)
_KEYS["action"] = ("action", 0, 1.0)
_NUMERIC = frozenset({"accuracy", "altitude", "course", "speed", "hdop"})


def _scan(props: dict[str, Any]) -> dict[str, tuple[int, Any]]:
    """One pass over the properties: for each field, ``(rank, value)`` of its best-ranked usable key
    (numbers already converted to metres, m/s and degrees)."""
    found: dict[str, tuple[int, Any]] = {}
    for k, v in props.items():
        spec = _KEYS.get(k)
        if spec is None:
            if type(k) is not str:
                continue
            spec = _KEYS.get(k.lower())
            if spec is None:
                continue
        if v is None or v == "":
            continue
        fld, rank, factor = spec
        cur = found.get(fld)
        if cur is not None and cur[0] <= rank:
            continue
        if fld in _NUMERIC:
            num = v if type(v) is float else _number(v)
            if num is None:
                continue
            v = num * factor if factor != 1.0 else num
        elif fld == "device":
            if isinstance(v, bool) or not isinstance(v, str | int):
                continue
            v = str(v)
        elif fld == "tz":
            if type(v) is not int or abs(v) > 18 * 3600:
                continue
        elif fld == "provider":
            if v not in PROVIDERS:
                continue
        elif fld == "action" and type(v) is not str:
            continue
        found[fld] = (rank, v)
    return found


def _optional(
    found: dict[str, tuple[int, Any]],
) -> tuple[float | None, float | None, float | None, float | None, int | None, str | None]:
    """(accuracy_m, altitude_m, speed_mps, course_deg, tz_offset_s, provider) from :func:`_scan`."""
    acc = found.get("accuracy") or found.get("hdop")
    alt = found.get("altitude")
    speed = found.get("speed")
    course = found.get("course")
    tz = found.get("tz")
    prov = found.get("provider")
    return (
        acc[1] if acc is not None and acc[1] >= 0 else None,
        alt[1] if alt is not None else None,
        speed[1] if speed is not None else None,
        course[1] if course is not None else None,
        tz[1] if tz is not None else None,
        prov[1] if prov is not None else None,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _parse_time(value: Any, tz: tzinfo) -> tuple[int, int | None]:
    """``(t_us, tz_offset_s)`` from an ISO text or an epoch number; a time in UTC (``Z``) gives
    offset None: it says nothing of the local offset."""
    return parse_time(value, tz)


def _is_line(item: Any) -> bool:
    if type(item) is not dict:
        return False
    geom = item.get("geometry") if item.get("type") == "Feature" else item
    return type(geom) is dict and geom.get("type") in ("LineString", "MultiLineString", "MultiPoint")


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _times_of(props: dict[str, Any]) -> Any:
    times = props.get("coordTimes")
    if times is None:
        cp = props.get("coordinateProperties")
        if isinstance(cp, dict):
            times = cp.get("times")
    if times is None:
        times = props.get("times")
    return times if isinstance(times, list) else None


def _nested(times: Any) -> bool:
    return isinstance(times, list) and bool(times) and all(isinstance(t, list) for t in times)


def _clip(feat: Any) -> Any:
    """The feature for a reject's raw text, without its (possibly long) vertex arrays."""
    if not isinstance(feat, dict):
        return feat
    out = dict(feat)
    geom = out.get("geometry")
    if isinstance(geom, dict) and geom.get("type") not in (None, "Point"):
        out["geometry"] = {"type": geom.get("type"), "coordinates": "…"}
    return out


register(
    Format(
        name="geojson",
        description="GeoJSON points and timed lines (FeatureCollection, Feature, Overland batch)",
        sniff=_sniff,
        read=_read,
        unit="record",
        extensions=(".geojson", ".json"),
        aliases=("overland",),
    )
)
