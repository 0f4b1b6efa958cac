"""Google Takeout Location History ``Records.json``: the raw location records (``{"locations": [...]}``).

One record of the ``locations`` array becomes one fix:

- time: ``timestamp`` (ISO 8601, newer exports) or ``timestampMs`` (milliseconds as a string, older ones).
  Google writes these in UTC (``Z``) and records no local offset, so ``tz_offset_s`` stays empty.
- position: ``latitudeE7`` / ``longitudeE7`` (degrees × 10⁷). Some exports wrote them as unsigned 32-bit
  integers, so negative coordinates appear as values above 900000000 (latitude) or 1800000000
  (longitude); those have wrapped around and get 2³² subtracted (see :func:`hereabouts.io._json.e7`).
- ``accuracy`` → ``accuracy_m``, ``altitude`` → ``altitude_m``, ``velocity`` (m/s) → ``speed_mps``,
  ``heading`` → ``course_deg``.
- ``source`` → provider: ``GPS``/``WIFI``/``CELL``/``UNKNOWN`` → gps/wifi/cell/unknown. A record naming
  no source (most records before 2016) came from Android's fused location provider, which blends GPS,
  Wi-Fi and cell: its provider is ``fused``. Any other value is ``unknown``.
- ``deviceTag`` → the device stream (a number, kept as text), unless the import forces one device.
- ``activeWifiScan.accessPoints``: each access point becomes one Wi-Fi scan at the record's time
  (``mac``, an integer, as a lower-case ``aa:bb:cc:dd:ee:ff`` BSSID; ``strength`` → ``rssi_dbm``;
  ``frequencyMhz``).
- ``activity`` (Google's guess of what the person was doing: STILL, WALKING...) is not imported: it is
  a classifier's opinion, not an observation, and our own trip modes are measured against ground truth.
  Other fields (``platformType``, ``batteryCharging``, ``serverTimestamp``...) are ignored too.

Positions count records of the ``locations`` array from 1 (unit ``record``). A record without a usable
time or position is rejected, naming the field. The file is streamed (see :mod:`hereabouts.io._json`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute  # Sink.fix_table uses pa.compute

from ._base import Format, ReadContext, register
from ._json import e7, iso_time, mac_to_bssid, ms_time, number, stream_items

_PROVIDERS = {"GPS": "gps", "WIFI": "wifi", "CELL": "cell", "UNKNOWN": "unknown", "FUSED": "fused"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAT_WRAP = 900_000_000
_LON_WRAP = 1_800_000_000
_INT32 = 1 << 32
#: Times beyond ±2^62 µs cannot be held in an int64 column; they are rejected here.
_T_LIMIT = 1 << 62


def _sniff(head: bytes, name: str) -> float:
    if b'"locations"' not in head:
        return 0.0
    if b'"latitudeE7"' in head or b'"longitudeE7"' in head:
        return 0.95
    if b'"timestampMs"' in head and name.endswith(".json"):
        return 0.6
    # an empty Takeout file: {"locations": []}
    compact = b"".join(head[:200].split())
    if compact.startswith(b'{"locations":[]') and "records" in name:
        return 0.6
    return 0.0


def _reject_coord(ctx: ReadContext, pos: int, field: str, value: Any) -> None:
    if value is None:
        ctx.sink.reject(
            pos, field, f"record has no '{field}'; expected latitudeE7 and longitudeE7 (degrees × 10^7)"
        )
    else:
        ctx.sink.reject(
            pos,
            field,
            f"'{field}' is {type(value).__name__} {str(value)[:40]!r}; expected an integer (degrees × 10^7)",
        )


class _Batch:
    """Fixes gathered column by column and handed to the sink as one Arrow table (``Sink.fix_table``):
    a list append per field costs far less than a keyword call per record."""

    SIZE = 50_000
    FLOATS = ("accuracy_m", "altitude_m", "speed_mps", "course_deg")

    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {
            k: [] for k in ("pos", "t", "lat", "lon", "device", "tz_offset_s", *self.FLOATS, "provider")
        }

    def flush(self, sink: Any) -> None:
        c = self.cols
        if not c["t"]:
            return
        arrays = {
            "pos": pa.array(c["pos"], pa.int64()),
            "t": pa.array(c["t"], pa.int64()),
            "lat": pa.array(c["lat"], pa.float64()),
            "lon": pa.array(c["lon"], pa.float64()),
            "device": pa.array(c["device"], pa.string()),
            "tz_offset_s": pa.array(c["tz_offset_s"], pa.int32()),
            "provider": pa.array(c["provider"], pa.string()),
        }
        for name in self.FLOATS:
            arrays[name] = _floats(c[name])
        for values in c.values():
            values.clear()  # in place: the reader holds their bound append methods
        sink.fix_table(pa.table(arrays))


def _floats(values: list[Any]) -> pa.Array:
    """Optional numbers as float64; anything that is not a finite number (a string, NaN...) is null."""
    try:
        return pa.array(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return pa.array([number(v) for v in values], pa.float64())


def _read(stream: IO[bytes], ctx: ReadContext) -> None:
    sink = ctx.sink
    reject = sink.reject
    providers = _PROVIDERS
    fromiso = datetime.fromisoformat
    epoch = _EPOCH
    last_tag: Any = None
    last_dev: str | None = None
    batch = _Batch()
    c = batch.cols
    a_pos, a_t, a_lat, a_lon = c["pos"].append, c["t"].append, c["lat"].append, c["lon"].append
    a_dev, a_off, a_prov = c["device"].append, c["tz_offset_s"].append, c["provider"].append
    a_acc, a_alt = c["accuracy_m"].append, c["altitude_m"].append
    a_spd, a_crs = c["speed_mps"].append, c["course_deg"].append
    n = 0
    size = min(_Batch.SIZE, sink.batch_rows)
    for _, pos, rec in stream_items(stream, ctx, ("locations.item",)):
        if type(rec) is not dict:
            reject(pos, None, "expected a location record (a JSON object)", rec)
            continue
        get = rec.get
        # ---- time
        off: int | None = None
        ts = get("timestamp")
        if ts is not None:
            try:
                if type(ts) is str and ts[-1:] == "Z":  # the common case: "2022-01-12T17:18:24.190Z"
                    d = fromiso(ts) - epoch
                    t_us = (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds
                else:
                    t_us, off = iso_time(ts, ctx)
            except (ValueError, OverflowError):
                reject(
                    pos, "timestamp", "'timestamp' is not an ISO 8601 time (e.g. 2022-01-12T17:18:24Z)", ts
                )
                continue
        else:
            ms = get("timestampMs")
            if ms is None:
                reject(
                    pos, "timestamp", "record has no time; expected 'timestamp' (ISO 8601) or 'timestampMs'"
                )
                continue
            try:
                t_us = ms_time(ms)
            except ValueError as exc:
                reject(pos, "timestampMs", f"'timestampMs' is not a time: {exc}", ms)
                continue
        if not -_T_LIMIT < t_us < _T_LIMIT:
            field = "timestamp" if ts is not None else "timestampMs"
            reject(pos, field, f"'{field}' is far outside any real time; expected a time after 1980")
            continue
        # ---- device
        tag = get("deviceTag")
        if tag != last_tag:
            last_tag = tag
            last_dev = None if tag is None else str(tag)
        # ---- position
        la = get("latitudeE7")
        lo = get("longitudeE7")
        if type(la) is int and type(lo) is int:
            if la > _LAT_WRAP:
                la -= _INT32
            if lo > _LON_WRAP:
                lo -= _INT32
            lat: float | None = la / 1e7
            lon: float | None = lo / 1e7
        else:
            lat = e7(la, _LAT_WRAP)
            lon = e7(lo, _LON_WRAP)
        if lat is None:
            _reject_coord(ctx, pos, "latitudeE7", la)
        elif lon is None:
            _reject_coord(ctx, pos, "longitudeE7", lo)
        else:
            src = get("source")
            a_pos(pos)
            a_t(t_us)
            a_lat(lat)
            a_lon(lon)
            a_dev(last_dev)
            a_off(off)
            a_acc(get("accuracy"))
            a_alt(get("altitude"))
            a_spd(get("velocity"))
            a_crs(get("heading"))
            a_prov("fused" if src is None else providers.get(src, "unknown"))
            n += 1
            if n >= size:
                batch.flush(sink)
                n = 0
        scan = get("activeWifiScan")
        if scan:
            _scans(ctx, pos, t_us, scan, last_dev)
    batch.flush(sink)


def _scans(ctx: ReadContext, pos: int, t_us: int, scan: Any, device: str | None) -> None:
    aps = scan.get("accessPoints") if isinstance(scan, dict) else None
    if not isinstance(aps, list):
        ctx.sink.reject(pos, "activeWifiScan", "expected 'activeWifiScan' with a list 'accessPoints'", scan)
        return
    for i, ap in enumerate(aps):
        mac = ap.get("mac") if isinstance(ap, dict) else None
        bssid = mac_to_bssid(mac)
        if bssid is None:
            ctx.sink.reject(
                pos,
                f"activeWifiScan.accessPoints[{i}].mac",
                "access point without a MAC address; expected 'mac' as a 48-bit integer",
                ap,
            )
            continue
        ctx.sink.scan(
            pos,
            t_us,
            "wifi",
            bssid,
            rssi_dbm=ap.get("strength"),
            frequency_mhz=ap.get("frequencyMhz"),
            device=device,
        )


FORMAT = register(
    Format(
        name="google_records",
        description="Google Takeout Location History Records.json (raw location records)",
        sniff=_sniff,
        read=_read,
        unit="record",
        extensions=(".json",),
        aliases=("records", "records_json", "takeout_records", "location_history"),
    )
)
