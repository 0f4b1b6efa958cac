"""FIT reader (format ``fit``): activity files from Garmin and other sports devices, decoded with
``fitdecode``.

What becomes a fix: every ``record`` message that carries a position. ``position_lat`` and
``position_long`` are in semicircles (degrees = semicircles × 180 / 2³¹); the time is the record's
``timestamp`` (also when it comes from a compressed timestamp header); ``enhanced_altitude`` (else
``altitude``) gives ``altitude_m``, ``enhanced_speed`` (else ``speed``) gives ``speed_mps``, ``heading``
(when a device writes it) gives ``course_deg`` and ``gps_accuracy`` gives ``accuracy_m``. The provider is
``gps``. The device comes from the import options: FIT names a product, not a device stream.

What is skipped silently: records without a position (indoor activities, the heart-rate-only records
written before a GPS fix) are not location records, and every message other than ``record`` (laps,
sessions, device info...) is not read at all. Neither is counted as read. A record with a position but
no timestamp is rejected.

Positions (unit ``offset``) are the byte offsets (from 0, as a hex viewer shows them) of the record
messages in the file. A truncated file keeps every record before the break and records one reject at
the offset where it broke; a file whose CRC does not match keeps its records and records one reject
for the checksum. Chained FIT files (several FIT files one after the other) are all read.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import IO, Any

import fitdecode

from ._base import Format, ReadContext, register
from ._time import to_us

#: Degrees per semicircle.
SEMICIRCLE_DEG = 180.0 / 2**31
#: Seconds between the Unix epoch and the FIT epoch (1989-12-31T00:00:00Z).
FIT_EPOCH_S = 631_065_600


def _sniff(head: bytes, name: str) -> float:
    if len(head) >= 12 and head[8:12] == b".FIT" and head[0] in (12, 14):
        return 1.0
    return 0.0


def _value(msg: fitdecode.FitDataMessage, *names: str) -> Any:
    for name in names:
        if msg.has_field(name):
            v = msg.get_value(name, fallback=None)
            if v is not None:
                return v
    return None


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, tuple | list) and v:  # array fields: take the first element
        return _number(v[0])
    return None


def _t_us(v: Any) -> int | str:
    """Microseconds, or the reason the record's time is not usable."""
    if isinstance(v, datetime) and v.tzinfo is not None:
        return to_us(v)
    if isinstance(v, int | float) and not isinstance(v, bool):
        # below FIT_DATETIME_MIN a FIT time counts seconds since the device was switched on
        return (
            f"timestamp {v} counts seconds since the device was switched on; expected a date (>= 0x10000000)"
        )
    return "record has a position but no timestamp; expected a FIT date_time"


def _read(stream: IO[bytes], ctx: ReadContext) -> None:
    sink = ctx.sink
    reader = fitdecode.FitReader(
        stream,
        check_crc=fitdecode.CrcCheck.READONLY,
        error_handling=fitdecode.ErrorHandling.IGNORE,
        keep_raw_chunks=True,
    )
    headers = 0
    offset = 0
    try:
        for frame in reader:
            chunk = frame.chunk
            if chunk is not None:
                offset = chunk.offset + len(chunk.bytes)
            if frame.frame_type == fitdecode.FIT_FRAME_HEADER:
                headers += 1
                continue
            if frame.frame_type == fitdecode.FIT_FRAME_CRC:
                if not frame.matched:
                    pos = chunk.offset if chunk is not None else None
                    sink.reject(
                        pos,
                        "crc",
                        f"file checksum does not match (read {frame.crc:#06x}); the file is corrupt, records "
                        "before the checksum were kept",
                    )
                continue
            if frame.frame_type != fitdecode.FIT_FRAME_DATA or frame.name != "record":
                continue
            _record(frame, ctx)
    except fitdecode.FitHeaderError as exc:
        if headers == 0:
            raise ctx.error(f"not a FIT file ({exc}); expected a header with the '.FIT' signature") from exc
        sink.reject(offset, None, f"bytes after the last FIT file are not a FIT header ({exc})")
    except fitdecode.FitEOFError as exc:
        if headers == 0:
            raise ctx.error(f"not a FIT file: it ends inside its header ({exc})") from exc
        sink.reject(
            offset,
            None,
            f"file is truncated at byte {offset} ({exc}); expected a complete FIT file "
            "(records before it were kept)",
        )
    except (fitdecode.FitError, struct.error, ValueError, KeyError, IndexError, TypeError) as exc:
        if headers == 0:
            raise ctx.error(f"not a readable FIT file ({exc})") from exc
        sink.reject(
            offset,
            None,
            f"file is corrupt at byte {offset} ({type(exc).__name__}: {exc}); records before it were kept",
        )
    finally:
        reader.close()


def _record(msg: fitdecode.FitDataMessage, ctx: ReadContext) -> None:
    lat_sc = _number(_value(msg, "position_lat"))
    lon_sc = _number(_value(msg, "position_long"))
    if lat_sc is None or lon_sc is None:
        return  # not a location record
    pos = msg.chunk.offset if msg.chunk is not None else None
    t_us = _t_us(_value(msg, "timestamp"))
    if isinstance(t_us, str):
        ctx.sink.reject(pos, "timestamp", t_us, f"position_lat={lat_sc:.0f} position_long={lon_sc:.0f}")
        return
    ctx.sink.fix(
        pos,
        t_us,
        lat_sc * SEMICIRCLE_DEG,
        lon_sc * SEMICIRCLE_DEG,
        altitude_m=_number(_value(msg, "enhanced_altitude", "altitude")),
        speed_mps=_number(_value(msg, "enhanced_speed", "speed")),
        course_deg=_number(_value(msg, "heading")),
        accuracy_m=_number(_value(msg, "gps_accuracy")),
        provider="gps",
    )


register(
    Format(
        name="fit",
        description="FIT activity files (Garmin and other sports devices)",
        sniff=_sniff,
        read=_read,
        unit="offset",
        extensions=(".fit",),
    )
)
