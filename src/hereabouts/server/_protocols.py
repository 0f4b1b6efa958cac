"""Parsing of what tracking apps send, into a :class:`~hereabouts.io.Sink`.

Each protocol turns one request into sink calls, reusing the file readers' parsers (OwnTracks messages
through :mod:`hereabouts.io.owntracks`, Overland batches through the GeoJSON reader's per-feature rules,
with the common Overland point read in bulk by the same rules) so that HTTP and file imports read a
payload the same way. The sink validates every record (time, latitude, longitude, the
``0,0`` placeholder...) exactly as for file imports; its output is collected in memory (:class:`Parsed`)
and handed to the single writer.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..io import REGISTRY, ReadContext, ReadOptions, Sink
from ..io import geojson as _geojson
from ..io import owntracks as _owntracks
from ..io._base import Counts, Rows
from ..io._time import parse_time
from ..io.csv_ import KNOT_MPS, provider_name
from ..io.geojson import HDOP_METRES
from ..model.errors import FormatError
from ._errors import ApiError

KMH_MPS = 1 / 3.6


class _Collect:
    """A :class:`~hereabouts.io._base.Writer` that keeps the sink's validated tables for the writer
    (small fix batches as plain :class:`~hereabouts.io._base.Rows`, which the writer gathers into one
    table per commit group)."""

    def __init__(self) -> None:
        self.tables: list[tuple[str, pa.Table | Rows]] = []

    def write(self, tier: str, table: pa.Table) -> int:
        self.tables.append((tier, table))
        return table.num_rows

    def write_rows(self, tier: str, rows: Rows) -> int:
        self.tables.append((tier, rows))
        return rows.num_rows


@dataclass
class Parsed:
    """One request's validated records: tables by tier, counts (``fixes`` etc. before de-duplication)
    and the first rejects (member, position, field, reason)."""

    protocol: str
    tables: list[tuple[str, pa.Table | Rows]]
    counts: Counts
    rejects: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        c = self.counts
        return c.fixes + c.scans + c.events + c.reported_stays + c.reported_trips

    @property
    def has_rows(self) -> bool:
        return any(t.num_rows for _tier, t in self.tables)


def collect(
    protocol: str, options: ReadOptions, fill: Callable[[Sink, ReadContext], None], *, unit: str = "record"
) -> Parsed:
    """Run ``fill`` against a fresh sink and collect what it validated."""
    out = _Collect()
    member = f"http:{protocol}"
    sink = Sink(out, member=member, options=options, unit=unit)
    ctx = ReadContext(sink=sink, options=options, member=member)
    fill(sink, ctx)
    counts = sink.close()
    return Parsed(protocol, out.tables, counts, list(sink.reject_samples))


def _loads(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(
            "invalid_json", f"the body is not valid JSON ({str(exc)[:120]}); expected {what}", field="body"
        ) from exc


# ------------------------------------------------------------------ OwnTracks
def owntracks_key(secret: str | bytes) -> bytes:
    """The 32-byte secretbox key the OwnTracks apps derive from their secret: its UTF-8 bytes, padded
    with zero bytes (or cut) to 32."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    return raw[:32].ljust(32, b"\0")


def owntracks_decrypt(data: Any, secret: str | bytes) -> Any:
    """The message inside an OwnTracks ``encrypted`` envelope: ``data`` is base64 of a 24-byte nonce
    followed by the libsodium secretbox ciphertext."""
    try:
        from nacl.exceptions import CryptoError
        from nacl.secret import SecretBox
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ApiError(
            "undecryptable",
            "encrypted OwnTracks payloads need PyNaCl on the server: pip install 'hereabouts[server]'",
            field="data",
        ) from exc
    if not isinstance(data, str):
        raise ApiError(
            "undecryptable", "'data' of an encrypted message must be a base64 string", field="data"
        )
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError("undecryptable", "'data' is not valid base64", field="data") from exc
    if len(blob) <= SecretBox.NONCE_SIZE + SecretBox.MACBYTES:
        raise ApiError(
            "undecryptable", "'data' is too short; expected a 24-byte nonce and the ciphertext", field="data"
        )
    try:
        plain = SecretBox(owntracks_key(secret)).decrypt(
            blob[SecretBox.NONCE_SIZE :], blob[: SecretBox.NONCE_SIZE]
        )
    except CryptoError as exc:
        raise ApiError(
            "undecryptable",
            "the encrypted payload does not open with this device's key; expected the secret configured "
            "in the app (Settings > Encryption key)",
            field="data",
        ) from exc
    return _loads(plain, "an OwnTracks message inside the encrypted payload")


def parse_owntracks(body: bytes, *, device: str | None, options: ReadOptions, key: str | None) -> Parsed:
    """One OwnTracks HTTP-mode message (or an array of them). ``device`` (``user/device`` from the
    headers) wins over the message's ``topic`` and ``tid``; ``key`` opens ``encrypted`` messages."""
    obj = _loads(body, 'an OwnTracks JSON message such as {"_type": "location", ...}')
    items = obj if isinstance(obj, list) else [obj]
    opened: list[Any] = []
    for item in items:
        if isinstance(item, dict) and item.get("_type") == "encrypted":
            if key is None:
                raise ApiError(
                    "undecryptable",
                    f"encrypted OwnTracks message but no key is configured for device {device or '(unnamed)'!r}; "
                    "configure the device's secret on the server, or turn payload encryption off in the app",
                    field="data",
                )
            inner = owntracks_decrypt(item.get("data"), key)
            if isinstance(inner, dict) and inner.get("_type") == "encrypted":
                raise ApiError(
                    "undecryptable", "an encrypted message inside an encrypted message", field="data"
                )
            opened.append(inner)
        else:
            opened.append(item)

    def fill(sink: Sink, ctx: ReadContext) -> None:
        reader = _owntracks._Reader(ctx)
        for pos, msg in enumerate(opened, 1):
            reader.message(msg, pos, topic_device=device)

    return collect("owntracks", options, fill)


# ------------------------------------------------------------- OsmAnd / Traccar
def _first(params: Mapping[str, list[str]], *names: str) -> str | None:
    for n in names:
        vals = params.get(n)
        if vals:
            v = vals[-1].strip()
            if v != "":
                return v
    return None


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class _FieldError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _num_field(params: Mapping[str, list[str]], *names: str) -> float | None:
    """The first present parameter of ``names`` as a number; a present non-number is an error."""
    for n in names:
        v = _first(params, n)
        if v is not None:
            f = _float(v)
            if f is None:
                raise _FieldError(n, f"{n}={v[:40]!r} is not a number")
            return f
    return None


def _time_param(value: str, name: str) -> tuple[int, int | None]:
    """Epoch seconds or milliseconds (by magnitude), ISO 8601, or ``YYYY-MM-DD hh:mm:ss`` (UTC)."""
    v = value.strip()
    try:
        return parse_time(v)
    except (ValueError, OverflowError):
        pass
    try:
        return parse_time(v.replace(" ", "T", 1))
    except (ValueError, OverflowError) as exc:
        raise _FieldError(
            name, f"{name}={v[:40]!r} is not a time; expected epoch seconds or milliseconds, or ISO 8601"
        ) from exc


def _positive(v: float | None) -> float | None:
    return v if v is not None and v > 0 else None


def osmand_record(sink: Sink, pos: int, params: Mapping[str, list[str]], now_us: int) -> None:
    """One OsmAnd / Traccar Client query (``id``, ``lat``/``lon`` or ``location``, ``timestamp``, speed in
    knots...) into the sink. Without a position, its ``cell`` and ``wifi`` parameters become scans."""
    raw = "&".join(f"{k}={v}" for k, vs in params.items() for v in vs)[:300]
    try:
        ts = _first(params, "timestamp")
        t_us, off = _time_param(ts, "timestamp") if ts is not None else (now_us, None)
        loc = _first(params, "location")
        lat = _num_field(params, "lat")
        lon = _num_field(params, "lon")
        if loc is not None and (lat is None or lon is None):
            parts = loc.split(",")
            la, lo = (_float(parts[0]), _float(parts[1])) if len(parts) >= 2 else (None, None)
            if la is None or lo is None:
                raise _FieldError("location", f"location={loc[:40]!r}; expected 'lat,lon' in decimal degrees")
            lat, lon = la, lo
        speed = _num_field(params, "speed")
        course = _num_field(params, "bearing", "heading")
        alt = _num_field(params, "altitude")
        acc = _positive(_num_field(params, "accuracy", "hacc"))
        hdop = _positive(_num_field(params, "hdop"))
        valid = _first(params, "valid")
    except _FieldError as err:
        sink.reject(pos, err.field, err.reason, raw)
        return
    if lat is None or lon is None:
        if _osmand_scans(sink, pos, params, t_us):
            return
        fld = "lat" if lat is None else "lon"
        sink.reject(pos, fld, "no position: expected 'lat' and 'lon' (or 'location=lat,lon') parameters", raw)
        return
    if valid is not None and valid.lower() in ("false", "0"):
        sink.reject(pos, "valid", "the device marked this position as not valid (valid=false)", raw)
        return
    if acc is None and hdop is not None:
        acc = hdop * HDOP_METRES
    sink.fix(
        pos,
        t_us,
        lat,
        lon,
        tz_offset_s=off,
        accuracy_m=acc,
        altitude_m=alt,
        speed_mps=None if speed is None else speed * KNOT_MPS,
        course_deg=course,
    )


def _osmand_scans(sink: Sink, pos: int, params: Mapping[str, list[str]], t_us: int) -> bool:
    """``cell=mcc,mnc,lac,cid[,rssi]`` and ``wifi=mac,rssi`` parameters as scans; False when none."""
    found = False
    for value in params.get("cell", []):
        parts = [p.strip() for p in value.split(",")]
        if len(parts) < 4 or not all(p.lstrip("-").isdigit() for p in parts[:4]):
            sink.reject(pos, "cell", f"cell={value[:40]!r}; expected 'mcc,mnc,lac,cid[,rssi]'", value)
        else:
            rssi = _float(parts[4]) if len(parts) > 4 else None
            sink.scan(pos, t_us, "cell", ",".join(str(int(p)) for p in parts[:4]), rssi_dbm=rssi)
        found = True
    for value in params.get("wifi", []):
        parts = [p.strip() for p in value.split(",")]
        mac = parts[0].replace("-", ":").lower()
        if len(mac) != 17 or mac.count(":") != 5:
            sink.reject(pos, "wifi", f"wifi={value[:40]!r}; expected 'mac,rssi'", value)
        else:
            sink.scan(pos, t_us, "wifi", mac, rssi_dbm=_float(parts[1]) if len(parts) > 1 else None)
        found = True
    return found


def osmand_json_records(sink: Sink, obj: Mapping[str, Any], now_us: int) -> None:
    """Traccar Client's JSON body: ``{"device_id": ..., "location": {"timestamp": ISO, "coords":
    {"latitude", "longitude", "accuracy", "speed" (m/s), "heading", "altitude"}, ...}}``; ``location``
    may also be a list of such objects."""
    locs = obj.get("location")
    items = locs if isinstance(locs, list) else [locs]
    for pos, loc in enumerate(items, 1):
        if not isinstance(loc, dict):
            sink.reject(
                pos, "location", "expected 'location' to be an object with 'timestamp' and 'coords'", loc
            )
            continue
        coords = loc.get("coords")
        if not isinstance(coords, dict):
            sink.reject(pos, "location.coords", "expected 'coords' with 'latitude' and 'longitude'", loc)
            continue
        ts = loc.get("timestamp")
        try:
            t_us, off = parse_time(ts) if ts is not None else (now_us, None)
        except (ValueError, OverflowError):
            sink.reject(pos, "location.timestamp", f"timestamp {str(ts)[:40]!r} is not an ISO 8601 time", loc)
            continue
        lat, lon = _float(coords.get("latitude")), _float(coords.get("longitude"))
        if lat is None or lon is None:
            fld = "location.coords.latitude" if lat is None else "location.coords.longitude"
            sink.reject(pos, fld, "expected a number in decimal degrees", loc)
            continue
        sink.fix(
            pos,
            t_us,
            lat,
            lon,
            tz_offset_s=off,
            accuracy_m=_positive(_float(coords.get("accuracy"))),
            altitude_m=_float(coords.get("altitude")),
            speed_mps=_float(coords.get("speed")),
            course_deg=_float(coords.get("heading")),
        )


def osmand_device(params: Mapping[str, list[str]], obj: Mapping[str, Any] | None) -> str | None:
    if obj is not None:
        d = obj.get("device_id", obj.get("id"))
        if isinstance(d, str | int) and not isinstance(d, bool) and str(d).strip():
            return str(d).strip()
        return None
    return _first(params, "id", "deviceid")


def parse_osmand(
    params: Mapping[str, list[str]], obj: Mapping[str, Any] | None, *, options: ReadOptions
) -> Parsed:
    now_us = int(time.time() * 1e6)
    if obj is not None:
        return collect("osmand", options, lambda sink, _ctx: osmand_json_records(sink, obj, now_us))
    return collect("osmand", options, lambda sink, _ctx: osmand_record(sink, 1, params, now_us))


# ------------------------------------------------------------------ GPSLogger
_GPSLOGGER_DEVICE = ("dev", "device", "deviceid", "device_id", "id", "aid", "androidid", "ser", "serial")


def gpslogger_device(params: Mapping[str, list[str]]) -> str | None:
    return _first(params, *_GPSLOGGER_DEVICE)


def gpslogger_record(sink: Sink, params: Mapping[str, list[str]], now_us: int) -> None:
    """GPSLogger's custom URL: ``lat``, ``lon``, ``timeoff`` (ISO with the local offset, kept),
    ``time`` (ISO UTC) or ``timestamp``/``epoch`` (epoch seconds), ``acc``, ``alt``, ``spd`` (m/s; else
    ``spd_kph``), ``dir``, ``prov``... Names are matched case-insensitively."""
    raw = "&".join(f"{k}={v}" for k, vs in params.items() for v in vs)[:300]
    try:
        t_us: int | None = None
        off: int | None = None
        for name in ("timeoff", "time", "timestamp", "epoch", "date"):
            v = _first(params, name)
            if v is not None:
                t_us, off = _time_param(v, name)
                break
        if t_us is None:
            sink.reject(
                1, "time", "no time: expected 'time' (%TIME), 'timestamp' (%TIMESTAMP) or 'timeoff'", raw
            )
            return
        lat = _num_field(params, "lat", "latitude")
        lon = _num_field(params, "lon", "lng", "longitude")
        acc = _positive(_num_field(params, "acc", "accuracy"))
        alt = _num_field(params, "alt", "altitude")
        spd = _num_field(params, "spd", "speed", "s")
        if spd is None:
            kph = _num_field(params, "spd_kph")
            spd = None if kph is None else kph * KMH_MPS
        course = _num_field(params, "dir", "bearing", "heading")
        hdop = _positive(_num_field(params, "hdop"))
    except _FieldError as err:
        sink.reject(1, err.field, err.reason, raw)
        return
    if lat is None or lon is None:
        fld = "lat" if lat is None else "lon"
        sink.reject(1, fld, "no position: expected 'lat' (%LAT) and 'lon' (%LON) parameters", raw)
        return
    if acc is None and hdop is not None:
        acc = hdop * HDOP_METRES
    sink.fix(
        1,
        t_us,
        lat,
        lon,
        tz_offset_s=off,
        accuracy_m=acc,
        altitude_m=alt,
        speed_mps=spd,
        course_deg=course,
        provider=provider_name(_first(params, "prov", "provider")),
    )


def parse_gpslogger(params: Mapping[str, list[str]], *, options: ReadOptions) -> Parsed:
    now_us = int(time.time() * 1e6)
    return collect("gpslogger", options, lambda sink, _ctx: gpslogger_record(sink, params, now_us))


# -------------------------------------------------------------------- Overland
def parse_overland(body: bytes, *, options: ReadOptions) -> Parsed:
    """An Overland batch ``{"locations": [GeoJSON Point features]}``, read by the GeoJSON reader's rules
    (in memory with :func:`overland_features` when the body allows, else streamed by the reader)."""
    constants: list[str] = []

    def constant(name: str) -> float:
        constants.append(name)
        return math.nan

    try:
        obj = json.loads(body, parse_constant=constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(
            "invalid_json",
            f"the body is not valid JSON ({str(exc)[:120]}); expected an Overland batch "
            '{"locations": [...]}',
            field="body",
        ) from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("locations"), list):
        raise ApiError(
            "bad_request",
            "expected an Overland batch: a JSON object with a 'locations' array",
            field="locations",
        )
    items = None if constants else _overland_items(body, obj, options)
    if items is not None:
        return collect("overland", options, lambda sink, ctx: overland_features(items, ctx))
    read = REGISTRY["geojson"].read

    def fill(sink: Sink, ctx: ReadContext) -> None:
        try:
            read(io.BytesIO(body), ctx)
        except FormatError as exc:
            raise ApiError("bad_request", str(exc), field="locations") from exc

    return collect("overland", options, fill)


def _overland_items(body: bytes, obj: dict[str, Any], options: ReadOptions) -> list[Any] | None:
    """The features of an Overland batch already parsed by :func:`json.loads` (``obj``, which held no
    NaN/Infinity, not JSON to the streaming reader), when they are what the streaming GeoJSON reader
    would read: one top-level ``locations`` array (no ``features``, which that reader would prefer,
    and no second ``locations`` key, whose items it would also read) starting in the first 32 KiB, in
    a body no larger than one record may be (so no feature can exceed the size limit). None
    otherwise."""
    if len(body) > options.max_record_bytes or body.count(b'"locations"') != 1:
        return None
    if body.find(b'"locations"') > _geojson.HEAD_BYTES // 2 or "features" in obj:
        return None
    items = obj.get("locations")
    return items if isinstance(items, list) else None


#: Properties Overland sends that the GeoJSON reader maps to a field (all in their unit already).
_OVERLAND_MAPPED: dict[str, str] = {
    k: _geojson._KEYS[k][0]
    for k in ("timestamp", "altitude", "speed", "horizontal_accuracy", "device_id", "course")
    if k in _geojson._KEYS and _geojson._KEYS[k][2] == 1.0
}
#: Properties Overland sends that the GeoJSON reader ignores.
_OVERLAND_IGNORED = frozenset(
    k
    for k in (
        "vertical_accuracy", "speed_accuracy", "course_accuracy", "motion", "battery_state",
        "battery_level", "wifi", "unique_id", "pauses", "activity", "desired_accuracy", "deferred",
        "significant_change", "locations_in_payload", "floor",
    )
    if k not in _geojson._KEYS and k.lower() not in _geojson._KEYS
)  # fmt: skip


_ZULU_SECONDS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"


def overland_features(items: list[Any], ctx: ReadContext) -> None:
    """Overland's features (already parsed) with the GeoJSON reader's per-feature rules; positions
    count the features from 1, as for a file.

    The common shape (a Point feature with float coordinates and only Overland's own properties, one
    per field, with a readable time) is read in bulk with the same rules: its times in one vectorised
    parse when all are ``YYYY-MM-DDThh:mm:ssZ`` (else one by one), its fixes handed to the sink in
    runs (:meth:`~hereabouts.io.Sink.fixes`). Every other feature, and any feature that would be
    rejected, goes through the reader itself, in order."""
    reader = _geojson._Reader(ctx, _geojson._Counter(io.BytesIO(b"")))
    sink = ctx.sink
    tz = reader.tz
    mapped = _OVERLAND_MAPPED
    ignored = _OVERLAND_IGNORED
    number = _geojson._number
    common: list[tuple[Any, ...] | None] = [
        _overland_point(item, mapped, ignored, number) if type(item) is dict else None for item in items
    ]
    times = _overland_times([c[0] for c in common if c is not None], tz)
    cols: tuple[list[Any], ...] = tuple([] for _ in range(10))
    k = 0
    for pos, (item, rec) in enumerate(zip(items, common, strict=True), 1):
        parsed_t = None
        if rec is not None:
            parsed_t = times[k]
            k += 1
        if parsed_t is None:
            if cols[0]:
                _push(sink, cols)
                cols = tuple([] for _ in range(10))
            reader.pos = pos
            reader.feature(item, pos)
            continue
        assert rec is not None
        cols[0].append(pos)
        cols[1].append(parsed_t[0])
        cols[2].append(parsed_t[1])
        for j in range(1, 8):
            cols[j + 2].append(rec[j])
    if cols[0]:
        _push(sink, cols)
    reader.pos = len(items)


def _push(sink: Sink, cols: tuple[list[Any], ...]) -> None:
    pos, t_us, off, lat, lon, device, acc, alt, speed, course = cols
    sink.fixes(
        pos,
        t_us,
        lat,
        lon,
        device=device,
        tz_offset_s=off,
        accuracy_m=acc,
        altitude_m=alt,
        speed_mps=speed,
        course_deg=course,
    )


def _overland_times(raw: list[Any], tz: Any) -> list[tuple[int, int | None] | None]:
    """``(t_us, tz_offset_s)`` of each time as :func:`~hereabouts.io._time.parse_time` reads it (None
    where it cannot). Times all written ``YYYY-MM-DDThh:mm:ssZ`` (what Overland sends) are parsed in
    one vectorised cast; anything else, or any failure of the cast, is parsed one by one."""
    if not raw:
        return []
    if all(type(v) is str for v in raw):
        arr = pa.array(raw, pa.string())
        if pc.all(pc.match_substring_regex(arr, _ZULU_SECONDS)).as_py():
            try:
                us = arr.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
            else:
                return [(t, None) for t in us]  # a time in UTC says nothing of the local offset
    out: list[tuple[int, int | None] | None] = []
    for v in raw:
        try:
            out.append(parse_time(v, tz))
        except (ValueError, OverflowError):
            out.append(None)
    return out


def _overland_point(
    item: dict[str, Any],
    mapped: dict[str, str],
    ignored: frozenset[str],
    number: Callable[[Any], float | None],
) -> tuple[Any, float, float, str | None, Any, Any, Any, Any] | None:
    """``(raw time, lat, lon, device, accuracy_m, altitude_m, speed_mps, course_deg)`` of a feature of
    the common shape that the GeoJSON reader reads as one fix (given a readable time); None for
    anything else."""
    if item.get("type") != "Feature":
        return None
    geom = item.get("geometry")
    props = item.get("properties")
    if type(geom) is not dict or type(props) is not dict or geom.get("type") != "Point":
        return None
    coords = geom.get("coordinates")
    if type(coords) is not list or len(coords) < 2:
        return None
    lon = coords[0]
    lat = coords[1]
    if type(lon) is not float or type(lat) is not float:
        return None
    t_raw = acc = alt = speed = course = device = None
    for k, v in props.items():
        if k in ignored:
            continue
        fld = mapped.get(k)
        if fld is None:
            return None
        if v is None or v == "":
            continue
        if fld == "time":
            t_raw = v
        elif fld == "device":
            if not isinstance(v, bool) and isinstance(v, str | int):
                device = str(v)
        else:
            num = v if type(v) is float else number(v)
            if num is None:
                continue
            if fld == "accuracy":
                acc = num
            elif fld == "altitude":
                alt = num
            elif fld == "speed":
                speed = num
            else:
                course = num
    if t_raw is None:
        return None
    if alt is None and len(coords) > 2:
        alt = number(coords[2])
    return (t_raw, lat, lon, device, acc if acc is not None and acc >= 0 else None, alt, speed, course)


def lower_keys(params: Mapping[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, vs in params.items():
        out.setdefault(k.lower(), []).extend(vs)
    return out


__all__ = [
    "Parsed",
    "gpslogger_device",
    "lower_keys",
    "osmand_device",
    "owntracks_decrypt",
    "owntracks_key",
    "parse_gpslogger",
    "parse_osmand",
    "parse_overland",
    "parse_owntracks",
]
