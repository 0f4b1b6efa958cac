"""Google Takeout Semantic Location History: the monthly ``YYYY_MONTH.json`` files
(``{"timelineObjects": [{"placeVisit": {...}}, {"activitySegment": {...}}]}``).

These hold Google's own interpretation of the raw records, kept to compare with ours:

- ``placeVisit`` → a reported stay: ``location.latitudeE7/longitudeE7`` (or the visit's
  ``centerLatE7/centerLngE7``), ``location.name`` (else ``address``) as label, ``location.placeId`` as
  place reference, ``duration.startTimestamp/endTimestamp`` (ISO, newer exports) or
  ``startTimestampMs/endTimestampMs`` (older ones), and ``visitConfidence`` (else
  ``location.locationConfidence``), both percentages, as confidence 0..1. ``childVisits`` (a shop inside a
  mall visited during the parent visit) are not imported: they overlap their parent.
- ``activitySegment`` → a reported trip: ``startLocation``/``endLocation``, ``distance`` (m),
  ``activityType`` as mode (lower case: ``walking``, ``in_passenger_vehicle``...) and as confidence the
  probability Google gave that type in ``activities`` (a percentage, as 0..1). The coarse
  ``confidence`` label (LOW/MEDIUM/HIGH) is not a probability and is not imported.
- ``simplifiedRawPath.points`` (in either object) are positions Google kept from the raw records, each
  with a time and often an accuracy: they become fixes with provider ``reported``, at the position of
  their timeline object. ``waypointPath.waypoints`` carry no time (they are the route Google snapped to
  roads), so they are not imported: a fix without a time would have to be invented.

Times end in ``Z`` (UTC) and name no local offset, so ``tz_offset_s`` stays empty. The device is the
``sourceInfo.deviceTag`` of the location when present. Positions count the ``timelineObjects`` from 1
(unit ``record``); a timeline object that is neither a visit nor a segment is rejected.
"""

from __future__ import annotations

from typing import IO, Any

from ._base import Format, ReadContext, register
from ._json import dig, e7, iso_time, ms_time, number, stream_items

_LAT_WRAP = 900_000_000
_LON_WRAP = 1_800_000_000


def _sniff(head: bytes, name: str) -> float:
    if b'"timelineObjects"' in head:
        return 0.95
    return 0.0


def _time(ctx: ReadContext, obj: Any, key: str) -> tuple[int, int | None] | str:
    """``(t_us, offset)`` from ``obj[key]`` (ISO) or ``obj[key + 'Ms']``; a reason string when unusable."""
    iso = obj.get(key) if isinstance(obj, dict) else None
    if iso is not None:
        try:
            return iso_time(iso, ctx)
        except (ValueError, OverflowError):
            return f"'{key}' is not an ISO 8601 time: {str(iso)[:40]!r}"
    ms = obj.get(key + "Ms") if isinstance(obj, dict) else None
    if ms is not None:
        try:
            return ms_time(ms), None
        except ValueError as exc:
            return f"'{key}Ms' is not a time: {exc}"
    return f"missing '{key}' (ISO 8601) or '{key}Ms'"


def _interval(ctx: ReadContext, pos: int, kind: str, obj: dict[str, Any]) -> tuple[int, int] | None:
    duration = obj.get("duration")
    start = _time(ctx, duration, "startTimestamp")
    if isinstance(start, str):
        ctx.sink.reject(pos, f"{kind}.duration.startTimestamp", f"{kind} {start}; expected its start time")
        return None
    end = _time(ctx, duration, "endTimestamp")
    if isinstance(end, str):
        ctx.sink.reject(pos, f"{kind}.duration.endTimestamp", f"{kind} {end}; expected its end time")
        return None
    return start[0], end[0]


def _latlon(obj: Any, lat_key: str = "latitudeE7", lon_key: str = "longitudeE7") -> tuple[Any, Any]:
    """Degrees from an object's E7 fields; ``(None, None)`` when it has none, the raw value when bad."""
    if not isinstance(obj, dict):
        return None, None
    la, lo = obj.get(lat_key), obj.get(lon_key)
    if la is None and lo is None:
        return None, None
    lat = e7(la, _LAT_WRAP)
    lon = e7(lo, _LON_WRAP)
    return (la if lat is None else lat), (lo if lon is None else lon)


def _device(*objs: Any) -> str | None:
    for o in objs:
        tag = dig(o, "sourceInfo", "deviceTag")
        if tag is not None:
            return str(tag)
    return None


def _percent(v: Any) -> float | None:
    f = number(v)
    return None if f is None else f / 100.0


def _points(ctx: ReadContext, pos: int, kind: str, obj: dict[str, Any], device: str | None) -> None:
    points = dig(obj, "simplifiedRawPath", "points")
    if not isinstance(points, list):
        return
    for i, p in enumerate(points):
        where = f"{kind}.simplifiedRawPath.points[{i}]"
        if not isinstance(p, dict):
            ctx.sink.reject(pos, where, "expected a point object with latE7, lngE7 and a time", p)
            continue
        t = _time(ctx, p, "timestamp")
        if isinstance(t, str):
            ctx.sink.reject(pos, where + ".timestamp", f"path point {t}", p)
            continue
        lat, lon = _latlon(p, "latE7", "lngE7")
        if not isinstance(lat, float) or not isinstance(lon, float):
            ctx.sink.reject(
                pos, where + ".latE7", "path point without a position; expected latE7 and lngE7", p
            )
            continue
        ctx.sink.fix(
            pos,
            t[0],
            lat,
            lon,
            device=device,
            tz_offset_s=t[1],
            accuracy_m=number(p.get("accuracyMeters")),
            provider="reported",
        )


def _place_visit(ctx: ReadContext, pos: int, pv: Any) -> None:
    if not isinstance(pv, dict):
        ctx.sink.reject(pos, "placeVisit", "expected 'placeVisit' to be an object", pv)
        return
    loc = pv.get("location")
    loc = loc if isinstance(loc, dict) else {}
    device = _device(loc)
    span = _interval(ctx, pos, "placeVisit", pv)
    if span is not None:
        lat, lon = _latlon(loc)
        if lat is None and lon is None:
            lat, lon = _latlon(pv, "centerLatE7", "centerLngE7")
        confidence = _percent(pv.get("visitConfidence"))
        if confidence is None:
            confidence = _percent(loc.get("locationConfidence"))
        label = loc.get("name") or loc.get("address")
        place = loc.get("placeId")
        ctx.sink.reported_stay(
            pos,
            span[0],
            span[1],
            lat=lat,
            lon=lon,
            label=str(label) if label is not None else None,
            place_ref=str(place) if place is not None else None,
            confidence=confidence,
            device=device,
        )
    _points(ctx, pos, "placeVisit", pv, device)


def _activity_segment(ctx: ReadContext, pos: int, seg: Any) -> None:
    if not isinstance(seg, dict):
        ctx.sink.reject(pos, "activitySegment", "expected 'activitySegment' to be an object", seg)
        return
    start_loc, end_loc = seg.get("startLocation"), seg.get("endLocation")
    device = _device(start_loc, end_loc)
    span = _interval(ctx, pos, "activitySegment", seg)
    if span is not None:
        from_lat, from_lon = _latlon(start_loc)
        to_lat, to_lon = _latlon(end_loc)
        activities = seg.get("activities")
        mode = seg.get("activityType")
        if mode is None and isinstance(activities, list) and activities and isinstance(activities[0], dict):
            mode = activities[0].get("activityType")
        confidence = None
        if isinstance(activities, list):
            for a in activities:
                if isinstance(a, dict) and a.get("activityType") == mode:
                    confidence = _percent(a.get("probability"))
                    break
        ctx.sink.reported_trip(
            pos,
            span[0],
            span[1],
            from_lat=from_lat,
            from_lon=from_lon,
            to_lat=to_lat,
            to_lon=to_lon,
            distance_m=number(seg.get("distance")),
            mode=normalise_mode(mode),
            confidence=confidence,
            device=device,
        )
    _points(ctx, pos, "activitySegment", seg, device)


def normalise_mode(mode: Any) -> str | None:
    """Google's activity type in our spelling: lower case, words joined by ``_``.

    >>> normalise_mode("IN_PASSENGER_VEHICLE"), normalise_mode("in passenger vehicle")
    ('in_passenger_vehicle', 'in_passenger_vehicle')
    """
    if not isinstance(mode, str) or not mode.strip():
        return None
    return "_".join(mode.strip().lower().replace("-", " ").split())


def _read(stream: IO[bytes], ctx: ReadContext) -> None:
    for _, pos, obj in stream_items(stream, ctx, ("timelineObjects.item",)):
        if isinstance(obj, dict) and "placeVisit" in obj:
            _place_visit(ctx, pos, obj["placeVisit"])
        elif isinstance(obj, dict) and "activitySegment" in obj:
            _activity_segment(ctx, pos, obj["activitySegment"])
        else:
            ctx.sink.reject(
                pos, None, "timeline object is neither a 'placeVisit' nor an 'activitySegment'", obj
            )


FORMAT = register(
    Format(
        name="google_semantic",
        description="Google Takeout Semantic Location History (monthly placeVisit/activitySegment files)",
        sniff=_sniff,
        read=_read,
        unit="record",
        extensions=(".json",),
        aliases=("semantic_location_history", "takeout_semantic"),
    )
)
