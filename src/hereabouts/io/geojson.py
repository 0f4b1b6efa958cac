"""GeoJSON reader (format ``geojson``): FeatureCollections, single Features, bare geometries, and the
Overland batch shape ``{"locations": [Point features]}``.

The document is streamed with ``ijson`` (its C backend when built): one feature is held in memory at a
time, so a file of millions of points is read in bounded memory.

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
Features larger than ``max_record_bytes`` are rejected and skipped (lines, whose vertices are records of
their own, may be :data:`LINE_FACTOR` times larger). A truncated or broken document keeps every feature
before the damage and records one reject at the feature where it broke.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
#: A feature holding a line (whose vertices are records of their own) may be this many times larger.
LINE_FACTOR = 64
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
class _Counter:
    """A binary stream that counts the bytes the parser has read from it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n if n is not None and n >= 0 else BUF_SIZE)
        self.pos += len(data)
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
    counter = _Counter(stream)
    events: Iterator[tuple[str, Any]] = iter(_BACKEND.basic_parse(counter, use_float=True, buf_size=BUF_SIZE))
    reader = _Reader(ctx, counter)
    try:
        reader.document(events)
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
                        f"{item.size} bytes",
                    )
                    continue
                self.feature(item, pos)
            else:
                self.sink.reject(pos, None, "not a GeoJSON Feature object; expected {...}", repr(value))

    # -------------------------------------------------------------- one feature
    def feature(self, feat: Any, pos: int) -> None:
        sink = self.sink
        if not isinstance(feat, dict):
            sink.reject(pos, None, "not a GeoJSON Feature object; expected {...}", feat)
            return
        if feat.get("type") in _GEOMETRY_TYPES:
            geom: Any = feat
            props: dict[str, Any] = {}
        else:
            geom = feat.get("geometry")
            raw_props = feat.get("properties")
            props = raw_props if isinstance(raw_props, dict) else {}
        low = {str(k).lower(): v for k, v in props.items()}
        device = _first_text(low, DEVICE_KEYS)
        if not isinstance(geom, dict):
            action = low.get("action")
            if isinstance(action, str) and action:
                t_raw = _first(low, TIME_KEYS)
                if t_raw is not None:
                    try:
                        t_us, _off = parse_time(t_raw, self.tz)
                    except ValueError:
                        sink.reject(pos, "time", f"time {t_raw!r} is not an ISO 8601 or epoch time", feat)
                        return
                    sink.event(pos, t_us, action, data=props, device=device)
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
        if not isinstance(coords, list):
            sink.reject(pos, "coordinates", "geometry has no coordinates array", _clip(feat))
            return
        opt = self.optional(low)
        if gtype == "Point":
            t_raw = _first(low, TIME_KEYS)
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
        if gtype in ("MultiLineString",):
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
        opt_line = dict(opt)
        for v, t_raw in zip(verts, times, strict=True):
            self.vertex(pos, v, t_raw, device, opt_line, "coordTimes", None)

    def vertex(
        self,
        pos: int,
        coords: Any,
        t_raw: Any,
        device: str | None,
        opt: dict[str, Any],
        time_field: str,
        feat: Any,
    ) -> None:
        sink = self.sink
        if not isinstance(coords, list) or len(coords) < 2:
            sink.reject(pos, "coordinates", "expected coordinates [lon, lat] or [lon, lat, alt]", _clip(feat))
            return
        lon = _number(coords[0])
        lat = _number(coords[1])
        if lon is None or lat is None:
            fld = "lon" if lon is None else "lat"
            sink.reject(pos, fld, "coordinates are not numbers; expected [lon, lat]", repr(coords)[:200])
            return
        try:
            t_us, off = parse_time(t_raw, self.tz)
        except (ValueError, OverflowError):
            sink.reject(
                pos,
                time_field,
                f"time {t_raw!r} is not an ISO 8601 or epoch time",
                _clip(feat) if feat is not None else repr(t_raw),
            )
            return
        if off == 0 and isinstance(t_raw, str) and t_raw.rstrip()[-1:] in ("Z", "z"):
            off = None  # UTC says nothing of the local offset
        alt = opt["altitude_m"]
        if alt is None and len(coords) > 2:
            alt = _number(coords[2])
        tz_off = opt["tz_offset_s"]
        sink.fix(
            pos,
            t_us,
            lat,
            lon,
            device=device,
            tz_offset_s=tz_off if tz_off is not None else off,
            accuracy_m=opt["accuracy_m"],
            altitude_m=alt,
            speed_mps=opt["speed_mps"],
            course_deg=opt["course_deg"],
            provider=opt["provider"],
        )

    def optional(self, low: dict[str, Any]) -> dict[str, Any]:
        acc = _first_number(low, ACCURACY_KEYS)
        if acc is None:
            hdop = _number(low.get("hdop"))
            if hdop is not None and hdop > 0:
                acc = hdop * HDOP_METRES
        speed = None
        for key, factor in SPEED_KEYS:
            v = _number(low.get(key))
            if v is not None:
                speed = v if factor == 1.0 else v * factor
                break
        tz = low.get("tz_offset_s")
        tz_off = tz if isinstance(tz, int) and not isinstance(tz, bool) and abs(tz) <= 18 * 3600 else None
        prov = low.get("provider")
        return {
            "accuracy_m": acc,
            "altitude_m": _first_number(low, ALTITUDE_KEYS),
            "speed_mps": speed,
            "course_deg": _first_number(low, COURSE_KEYS),
            "tz_offset_s": tz_off,
            "provider": prov if isinstance(prov, str) and prov in PROVIDERS else None,
        }


# ------------------------------------------------------------------ helpers
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


def _first(low: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        v = low.get(k)
        if v is not None and v != "":
            return v
    return None


def _first_number(low: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for k in keys:
        v = _number(low.get(k))
        if v is not None:
            return v
    return None


def _first_text(low: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = low.get(k)
        if isinstance(v, str | int) and not isinstance(v, bool) and str(v) != "":
            return str(v)
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
