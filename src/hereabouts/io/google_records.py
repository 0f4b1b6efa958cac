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

from ._base import Format, ReadContext, register
from ._json import e7, iso_time, mac_to_bssid, ms_time, stream_items

_PROVIDERS = {"GPS": "gps", "WIFI": "wifi", "CELL": "cell", "UNKNOWN": "unknown", "FUSED": "fused"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAT_WRAP = 900_000_000
_LON_WRAP = 1_800_000_000
_INT32 = 1 << 32


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


def _read(stream: IO[bytes], ctx: ReadContext) -> None:
    sink = ctx.sink
    fix = sink.fix
    reject = sink.reject
    providers = _PROVIDERS
    fromiso = datetime.fromisoformat
    epoch = _EPOCH
    last_tag: Any = None
    last_dev: str | None = None
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
                reject(pos, "timestamp", "'timestamp' is not an ISO 8601 time (e.g. 2022-01-12T17:18:24Z)", ts)
                continue
        else:
            ms = get("timestampMs")
            if ms is None:
                reject(pos, "timestamp", "record has no time; expected 'timestamp' (ISO 8601) or 'timestampMs'")
                continue
            try:
                t_us = ms_time(ms)
            except ValueError as exc:
                reject(pos, "timestampMs", f"'timestampMs' is not a time: {exc}", ms)
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
            fix(
                pos,
                t_us,
                lat,
                lon,
                device=last_dev,
                tz_offset_s=off,
                accuracy_m=get("accuracy"),
                altitude_m=get("altitude"),
                speed_mps=get("velocity"),
                course_deg=get("heading"),
                provider="fused" if src is None else providers.get(src, "unknown"),
            )
        scan = get("activeWifiScan")
        if scan:
            _scans(ctx, pos, t_us, scan, last_dev)


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
