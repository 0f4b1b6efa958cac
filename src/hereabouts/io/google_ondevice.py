"""Google Maps Timeline exported from the phone ("on-device" Timeline, since 2024), Android and iOS.

Android writes one object, ``{"semanticSegments": [...], "rawSignals": [...], "userLocationProfile":
{...}}``, with positions as ``"52.5121303°, 13.4309551°"`` strings. iOS writes a top-level array of
segments in which every value is a string and positions are ``"geo:52.512130,13.430955"``.

Semantic segments (``startTime``/``endTime`` with the local offset, e.g. ``+10:00``, which is kept as
``tz_offset_s``):

- ``visit`` → a reported stay: ``topCandidate.placeLocation`` (``.latLng`` on Android, the string
  itself on iOS), ``topCandidate.placeId`` (``placeID`` on iOS) as place reference, ``semanticType``
  (HOME, WORK...; not UNKNOWN) as label, the visit's ``probability`` as confidence. Visits with a
  ``hierarchyLevel`` above 0 are nested inside another visit and are not imported (they overlap it).
- ``activity`` → a reported trip: ``start``/``end``, ``distanceMeters``, ``topCandidate.type`` as mode
  (``cycling``, ``in_passenger_vehicle``...) and its ``probability`` as confidence.
- ``timelinePath`` → one fix per point with provider ``reported``: Android gives each ``point`` a
  ``time``; iOS gives ``durationMinutesOffsetFromStartTime``, minutes after the segment's start.
- ``timelineMemory`` (a summary of a trip's destinations) is not imported.

Raw signals (Android only):

- ``position`` → a fix: ``LatLng``, ``accuracyMeters``, ``altitudeMeters``, ``speedMetersPerSecond``,
  ``timestamp``, ``source`` (GPS/WIFI/CELL/UNKNOWN → gps/wifi/cell/unknown; none → unknown).
- ``wifiScan`` → one Wi-Fi scan per ``devicesRecords`` entry (``mac`` as an integer → BSSID,
  ``rawRssi`` → ``rssi_dbm``) at ``deliveryTime``. A scan that saw no access point yields nothing.
- ``activityRecord`` (the phone's guess of the activity: STILL, WALKING...) is not imported: a
  classifier's opinion, not an observation. ``userLocationProfile`` is not imported either.

Positions count the records of ``semanticSegments`` and ``rawSignals`` together, in file order, from 1
(on iOS, the elements of the top-level array); the fixes of a segment's path share its position and a
reject names the point (``timelinePath[3].point``).
"""

from __future__ import annotations

from typing import IO, Any

from ._base import Format, ReadContext, register
from ._json import dig, iso_time, mac_to_bssid, number, parse_latlng, stream_items
from .google_semantic import normalise_mode

_PROVIDERS = {"GPS": "gps", "WIFI": "wifi", "CELL": "cell", "UNKNOWN": "unknown", "FUSED": "fused"}
_PREFIXES = ("semanticSegments.item", "rawSignals.item", "item")


def _sniff(head: bytes, name: str) -> float:
    if b'"semanticSegments"' in head or b'"rawSignals"' in head:
        return 0.95
    start = head.lstrip()[:1]
    if start == b"[" and b'"startTime"' in head and b'"endTime"' in head:
        if b'"geo:' in head or "°".encode() in head:
            return 0.9
        if b'"visit"' in head or b'"activity"' in head or b'"timelinePath"' in head:
            return 0.7
    return 0.0


def _reject(ctx: ReadContext, pos: int, field: str | None, reason: str, raw: object = None) -> None:
    ctx.sink.reject(pos, field, reason, raw)


def _time(
    ctx: ReadContext, pos: int, obj: dict[str, Any], key: str, field: str
) -> tuple[int, int | None] | None:
    value = obj.get(key)
    if value is None:
        _reject(ctx, pos, field, f"missing '{key}'; expected an ISO 8601 time")
        return None
    try:
        return iso_time(value, ctx)
    except (ValueError, OverflowError):
        _reject(ctx, pos, field, f"'{key}' is not an ISO 8601 time (e.g. 2024-05-02T12:12:04+10:00)", value)
        return None


def _offset(seg: dict[str, Any], key: str, parsed: int | None) -> int | None:
    minutes = number(seg.get(key))
    if minutes is not None and abs(minutes) <= 18 * 60:
        return int(minutes * 60)
    return parsed


def _location(value: Any) -> tuple[float | None, float | None] | str:
    """A location that is either a ``"lat°, lon°"``/``geo:`` string or ``{"latLng": ...}``; None, None
    when absent; a reason when unusable."""
    if isinstance(value, dict):
        value = value.get("latLng", value.get("LatLng"))
    if value is None:
        return None, None
    try:
        return parse_latlng(value)
    except ValueError as exc:
        return str(exc)


def _segment(ctx: ReadContext, pos: int, seg: Any) -> None:
    if not isinstance(seg, dict):
        _reject(ctx, pos, None, "expected a semantic segment (a JSON object)", seg)
        return
    kinds = [k for k in ("visit", "activity", "timelinePath") if k in seg]
    if not kinds:
        if "timelineMemory" not in seg:
            ctx.sink.reject(pos, None, "segment has no 'visit', 'activity' or 'timelinePath'", seg)
        return
    start = _time(ctx, pos, seg, "startTime", "startTime")
    if start is None:
        return
    end = _time(ctx, pos, seg, "endTime", "endTime") if "visit" in seg or "activity" in seg else None
    offset = _offset(seg, "startTimeTimezoneUtcOffsetMinutes", start[1])
    if "visit" in seg and end is not None:
        _visit(ctx, pos, seg["visit"], start[0], end[0], offset)
    if "activity" in seg and end is not None:
        _activity(ctx, pos, seg["activity"], start[0], end[0], offset)
    if "timelinePath" in seg:
        _path(ctx, pos, seg["timelinePath"], start[0], offset)


def _visit(ctx: ReadContext, pos: int, visit: Any, start: int, end: int, offset: int | None) -> None:
    if not isinstance(visit, dict):
        _reject(ctx, pos, "visit", "expected 'visit' to be an object", visit)
        return
    level = number(visit.get("hierarchyLevel"))
    if level is not None and level > 0:
        return  # nested inside another visit
    top = visit.get("topCandidate")
    top = top if isinstance(top, dict) else {}
    where = _location(top.get("placeLocation"))
    if isinstance(where, str):
        _reject(ctx, pos, "visit.topCandidate.placeLocation", where, top.get("placeLocation"))
        return
    kind = top.get("semanticType")
    label = str(kind) if kind is not None and str(kind).upper() != "UNKNOWN" else None
    place = top.get("placeId", top.get("placeID"))
    ctx.sink.reported_stay(
        pos,
        start,
        end,
        lat=where[0],
        lon=where[1],
        label=label,
        place_ref=None if place is None else str(place),
        confidence=number(visit.get("probability")),
        tz_offset_s=offset,
    )


def _activity(ctx: ReadContext, pos: int, act: Any, start: int, end: int, offset: int | None) -> None:
    if not isinstance(act, dict):
        _reject(ctx, pos, "activity", "expected 'activity' to be an object", act)
        return
    a = _location(act.get("start"))
    if isinstance(a, str):
        _reject(ctx, pos, "activity.start", a, act.get("start"))
        return
    b = _location(act.get("end"))
    if isinstance(b, str):
        _reject(ctx, pos, "activity.end", b, act.get("end"))
        return
    top = act.get("topCandidate")
    ctx.sink.reported_trip(
        pos,
        start,
        end,
        from_lat=a[0],
        from_lon=a[1],
        to_lat=b[0],
        to_lon=b[1],
        distance_m=number(act.get("distanceMeters")),
        mode=normalise_mode(dig(top, "type")),
        confidence=number(dig(top, "probability")),
        tz_offset_s=offset,
    )


def _path(ctx: ReadContext, pos: int, path: Any, start: int, offset: int | None) -> None:
    if not isinstance(path, list):
        _reject(ctx, pos, "timelinePath", "expected 'timelinePath' to be a list of points", path)
        return
    for i, p in enumerate(path):
        field = f"timelinePath[{i}]"
        if not isinstance(p, dict):
            _reject(ctx, pos, field, "expected a path point object with 'point' and a time", p)
            continue
        where = _location(p.get("point"))
        if isinstance(where, str) or where[0] is None or where[1] is None:
            reason = where if isinstance(where, str) else "path point has no 'point'; expected 'lat°, lon°'"
            _reject(ctx, pos, field + ".point", reason, p)
            continue
        if "time" in p:
            t = _time(ctx, pos, p, "time", field + ".time")
            if t is None:
                continue
            t_us, off = t
        else:
            minutes = number(p.get("durationMinutesOffsetFromStartTime"))
            if minutes is None or abs(minutes) > 1e7:
                _reject(
                    ctx,
                    pos,
                    field + ".durationMinutesOffsetFromStartTime",
                    "path point has no time; expected 'time' or 'durationMinutesOffsetFromStartTime'",
                    p,
                )
                continue
            t_us, off = start + round(minutes * 60_000_000), offset
        ctx.sink.fix(pos, t_us, where[0], where[1], tz_offset_s=off, provider="reported")


def _raw_signal(ctx: ReadContext, pos: int, sig: Any) -> None:
    if not isinstance(sig, dict):
        _reject(ctx, pos, None, "expected a raw signal (a JSON object)", sig)
        return
    if "position" in sig:
        _position(ctx, pos, sig["position"])
    elif "wifiScan" in sig:
        _wifi(ctx, pos, sig["wifiScan"])
    # activityRecord and other kinds: not imported (see the module docstring)


def _position(ctx: ReadContext, pos: int, p: Any) -> None:
    if not isinstance(p, dict):
        _reject(ctx, pos, "position", "expected 'position' to be an object", p)
        return
    where = _location(p.get("LatLng", p.get("latLng", p.get("point"))))
    if isinstance(where, str) or where[0] is None or where[1] is None:
        reason = where if isinstance(where, str) else "position has no 'LatLng'; expected 'lat°, lon°'"
        _reject(ctx, pos, "position.LatLng", reason, p)
        return
    t = _time(ctx, pos, p, "timestamp", "position.timestamp")
    if t is None:
        return
    src = p.get("source")
    ctx.sink.fix(
        pos,
        t[0],
        where[0],
        where[1],
        tz_offset_s=t[1],
        accuracy_m=number(p.get("accuracyMeters")),
        altitude_m=number(p.get("altitudeMeters")),
        speed_mps=number(p.get("speedMetersPerSecond")),
        provider=_PROVIDERS.get(src, "unknown") if isinstance(src, str) else "unknown",
    )


def _wifi(ctx: ReadContext, pos: int, scan: Any) -> None:
    if not isinstance(scan, dict):
        _reject(ctx, pos, "wifiScan", "expected 'wifiScan' to be an object", scan)
        return
    records = scan.get("devicesRecords")
    if not records:
        return  # a scan that saw no access point
    if not isinstance(records, list):
        _reject(ctx, pos, "wifiScan.devicesRecords", "expected a list of access points", records)
        return
    t = _time(ctx, pos, scan, "deliveryTime", "wifiScan.deliveryTime")
    if t is None:
        return
    for i, rec in enumerate(records):
        bssid = mac_to_bssid(rec.get("mac") if isinstance(rec, dict) else None)
        if bssid is None:
            _reject(
                ctx,
                pos,
                f"wifiScan.devicesRecords[{i}].mac",
                "access point without a MAC address; expected 'mac' as a 48-bit integer",
                rec,
            )
            continue
        ctx.sink.scan(pos, t[0], "wifi", bssid, rssi_dbm=number(rec.get("rawRssi")))


def _read(stream: IO[bytes], ctx: ReadContext) -> None:
    for prefix, pos, rec in stream_items(stream, ctx, _PREFIXES):
        if prefix == "rawSignals.item":
            _raw_signal(ctx, pos, rec)
        else:
            _segment(ctx, pos, rec)


FORMAT = register(
    Format(
        name="google_ondevice",
        description="Google Maps Timeline exported from the phone (Android semanticSegments/rawSignals, iOS)",
        sniff=_sniff,
        read=_read,
        unit="record",
        extensions=(".json",),
        aliases=("google_timeline", "timeline_json", "ondevice_timeline"),
    )
)
