"""Streaming JSON for readers of large JSON documents (the Google exports), with bounded memory.

:func:`stream_items` walks the arrays of records in a JSON document with ``ijson`` (its C backend
``yajl2_c`` when built, the best other backend otherwise) and yields one record at a time, so a 1 GB
``Records.json`` is read in constant memory. It also takes care of what every such reader must do:

- *Damage*: a truncated or corrupt document keeps every record before the damage and records one reject
  at the position of the record where it broke (ijson cannot resynchronise inside a broken document).
- *Oversized records*: the bytes consumed between two records are counted. A record larger than
  ``options.max_record_bytes`` is rejected and skipped. ijson's parser holds one whole JSON value
  (a long string) in memory while it reads it, so a record cannot be refused before it has been read;
  instead a record that grows past :data:`HARD_CAP_FACTOR` times the limit stops the read with one
  reject, so memory stays bounded however large the file or the record is (the records before it are
  kept). The count is taken per read chunk, so the limit holds to within one chunk (64 KiB).

The small conversions the Google formats share live here too: E7 coordinates with the int32 overflow
quirk, ``"lat°, lon°"`` and ``geo:lat,lon`` strings, Wi-Fi MAC integers, and fast ISO times.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import repeat
from typing import IO, Any

import ijson

from ._base import ReadContext
from ._time import parse_iso, parse_time

try:
    BACKEND: Any = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - depends on how ijson was built
    BACKEND = ijson

#: Bytes asked of the stream per read.
BUF_SIZE = 64 * 1024
#: Bytes of the document kept to tell an empty array from a document without one.
HEAD_KEEP = 64 * 1024
#: A record growing past this many times ``max_record_bytes`` stops the read (see the module docstring).
HARD_CAP_FACTOR = 16

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT32 = 1 << 32


class _RecordTooLarge(Exception):
    """Raised from inside the parser's read when one record grows past the hard cap."""


class CountingReader:
    """Wraps a binary stream: counts the bytes read, keeps the first :data:`HEAD_KEEP` bytes, and stops
    the parser when more than ``hard_cap`` bytes pass without a record boundary (``mark``)."""

    def __init__(self, raw: IO[bytes], hard_cap: int) -> None:
        self.raw = raw
        self.count = 0
        self.mark = 0
        self.hard_cap = hard_cap
        self.head = bytearray()
        self._pending = b""

    def read(self, n: int = -1) -> bytes:
        n = n if n is not None and n >= 0 else BUF_SIZE
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        data = self.raw.read(n)
        self.count += len(data)
        if len(self.head) < HEAD_KEEP:
            self.head += data[: HEAD_KEEP - len(self.head)]
        if self.count - self.mark > self.hard_cap:
            raise _RecordTooLarge
        return data

    def first_byte(self) -> bytes:
        """The first byte of the document that is not white space (a UTF-8 byte-order mark is dropped);
        the bytes read to find it are handed out again by :meth:`read`."""
        buf = b""
        while True:
            data = self.read(BUF_SIZE)
            buf += data
            if buf.startswith(b"\xef\xbb\xbf"):
                buf = buf[3:]
            stripped = buf.lstrip(b" \t\r\n")
            if stripped or not data or len(buf) > self.hard_cap:
                self._pending = buf
                return stripped[:1]


def _error_text(exc: BaseException) -> str:
    """The first line of a parser error, without the excerpt of the document the parser appends."""
    text = str(exc)
    if text.startswith(("b'", 'b"')):
        text = text[2:]
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first.rstrip(".")[:120]


def stream_items(
    stream: IO[bytes], ctx: ReadContext, prefixes: tuple[str, ...]
) -> Iterator[tuple[str, int, Any]]:
    """Yield ``(prefix, position, record)`` for every item of the arrays at ``prefixes`` (ijson prefixes
    such as ``"locations.item"``, or ``"item"`` for a top-level array), in document order.

    ``position`` counts the records of all the arrays together, from 1, in document order. Oversized
    records and damage are turned into rejects here (see the module docstring); the caller only sees
    whole records. Raises ``FormatError`` when the document holds none of the arrays at all.
    """
    limit = ctx.options.max_record_bytes
    reader = CountingReader(stream, max(limit * HARD_CAP_FACTOR, 4 * BUF_SIZE))
    sink = ctx.sink
    pos = 0
    seen = False
    threshold = limit + BUF_SIZE
    last = 0
    try:
        # a top-level array ("item") and arrays inside an object exclude each other: look at the first byte
        top_array = reader.first_byte() == b"["
        wanted = tuple(p for p in prefixes if (p == "item") == top_array) or prefixes
        if len(wanted) == 1:
            # one array: ijson builds the records in C; pair them with their prefix without another generator
            items = BACKEND.items(reader, wanted[0], use_float=True, buf_size=BUF_SIZE)
            source: Iterator[tuple[str, Any]] = zip(repeat(wanted[0]), items)
        else:
            source = _multi_items(reader, wanted)
        for prefix, item in source:
            pos += 1
            seen = True
            count = reader.count
            if count - last > threshold:
                size = count - last
                last = reader.mark = count
                sink.reject(
                    pos,
                    None,
                    f"record is larger than {limit} bytes (about {size} bytes); expected at most "
                    f"{limit} bytes per record, so it was skipped",
                )
                continue
            last = reader.mark = count
            yield prefix, pos, item
    except _RecordTooLarge:
        sink.reject(
            pos + 1,
            None,
            f"record is larger than {reader.hard_cap} bytes; the read stopped here to keep memory bounded "
            f"(records before it were kept)",
        )
        return
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
        if not seen and not _mentions(reader.head, prefixes):
            raise ctx.error(
                f"not a JSON document of this format ({_error_text(exc)}); expected " + _describe(prefixes)
            ) from exc
        sink.reject(
            pos + 1,
            None,
            f"the JSON document is truncated or broken after record {pos} ({_error_text(exc)}); "
            f"expected complete JSON (the {pos} records before the break were kept)",
        )
        return
    if not seen and not _mentions(reader.head, prefixes):
        raise ctx.error(f"no records found; expected {_describe(prefixes)}")


def _mentions(head: bytes | bytearray, prefixes: tuple[str, ...]) -> bool:
    """Whether the head of the document names one of the arrays (an empty array is a valid document)."""
    for p in prefixes:
        key = p.rsplit(".item", 1)[0].rsplit(".", 1)[-1]
        if key == "item":
            if bytes(head).removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"["):
                return True
        elif f'"{key}"'.encode() in head:
            return True
    return False


def _describe(prefixes: tuple[str, ...]) -> str:
    names = []
    for p in prefixes:
        key = p[: -len(".item")] if p.endswith(".item") else ""
        names.append(f"an array '{key}'" if key else "a top-level array")
    return " or ".join(names) + " of records"


def _multi_items(reader: CountingReader, prefixes: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """Like ``ijson.items`` for several arrays of one document at once, in document order. (ijson's
    push interface, one C parser per array fed the same chunks, measured no faster than this.)"""
    wanted = frozenset(prefixes)
    events = BACKEND.parse(reader, use_float=True, buf_size=BUF_SIZE)
    for prefix, event, value in events:
        if prefix not in wanted:
            continue
        if event in ("start_map", "start_array"):
            builder = ijson.ObjectBuilder()
            builder.event(event, value)
            depth = 1
            for _, ev2, val2 in events:
                if ev2 in ("start_map", "start_array"):
                    depth += 1
                elif ev2 in ("end_map", "end_array"):
                    depth -= 1
                builder.event(ev2, val2)
                if depth == 0:
                    break
            else:
                return  # the parser raises on a document that ends inside a value
            yield prefix, builder.value
        elif event not in ("end_map", "end_array", "map_key"):
            yield prefix, value


# ------------------------------------------------------------------ conversions
def e7(value: Any, wrap_at: int) -> float | None:
    """Degrees from an E7 integer (degrees × 10⁷); None when it is not a number.

    Some Google exports wrote E7 values as *unsigned* 32-bit integers, so a negative coordinate shows up
    as a large positive one (e.g. ``4294967295`` for ``-1``). Values above ``wrap_at`` (900000000 for
    latitude, 1800000000 for longitude, the largest valid E7 values) have wrapped around and get 2³²
    subtracted; what is still out of range after that is left for the sink to reject.

    >>> e7(525121303, 900000000), e7(4294967296 - 1234567, 900000000)
    (52.5121303, -0.1234567)
    """
    if type(value) is int:
        if value > wrap_at:
            value -= _INT32
        return value / 1e7
    if type(value) is float:
        if value > wrap_at:
            value -= _INT32
        return value / 1e7
    return None


_LATLNG = re.compile(r"\s*(?:geo:)?\s*([-+]?\d+(?:\.\d*)?)\s*°?\s*,\s*([-+]?\d+(?:\.\d*)?)\s*°?\s*")


def parse_latlng(text: Any) -> tuple[float, float]:
    """``"52.5°, 13.4°"`` (Android on-device export) or ``"geo:52.5,13.4"`` (iOS) to ``(lat, lon)``.

    >>> parse_latlng("-27.4127738°, 163.5638958°"), parse_latlng("geo:55.6054870,24.7648727")
    ((-27.4127738, 163.5638958), (55.605487, 24.7648727))
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a 'lat°, lon°' or 'geo:lat,lon' string, got {type(text).__name__}")
    m = _LATLNG.fullmatch(text)
    if not m:
        raise ValueError(f"expected a 'lat°, lon°' or 'geo:lat,lon' string, got {text[:40]!r}")
    return float(m.group(1)), float(m.group(2))


def mac_to_bssid(mac: Any) -> str | None:
    """A MAC address written as an integer (or a decimal string) to a lower-case ``aa:bb:cc:dd:ee:ff``;
    None when it is not a 48-bit number.

    >>> mac_to_bssid(0x1A2B3C4D5E6F), mac_to_bssid("1")
    ('1a:2b:3c:4d:5e:6f', '00:00:00:00:00:01')
    """
    if isinstance(mac, bool):
        return None
    if isinstance(mac, str):
        s = mac.strip()
        if not s.isdigit() or len(s) > 16:
            return None
        mac = int(s)
    if not isinstance(mac, int) or not 0 <= mac < (1 << 48):
        return None
    h = f"{mac:012x}"
    return f"{h[0:2]}:{h[2:4]}:{h[4:6]}:{h[6:8]}:{h[8:10]}:{h[10:12]}"


def iso_time(value: Any, ctx: ReadContext) -> tuple[int, int | None]:
    """``(t_us, tz_offset_s)`` from an ISO time; ValueError when it is not one.

    A time ending in ``Z`` gives offset None: Google writes UTC there and says nothing of the local
    offset. A time with an explicit offset (``+10:00``) keeps it. Naive times are read in the user's zone.
    """
    if type(value) is str:
        return parse_iso(value, ctx.options.tzinfo)
    return parse_time(value, ctx.options.tzinfo)


def ms_time(value: Any) -> int:
    """Microseconds from Google's ``timestampMs`` (milliseconds since the epoch, usually a string)."""
    if isinstance(value, bool):
        raise ValueError("expected milliseconds since the epoch, got a boolean")
    if isinstance(value, int):
        return value * 1000
    if isinstance(value, str):
        s = value.strip()
        if s.lstrip("-").isdigit() and len(s) <= 18:
            return int(s) * 1000
        raise ValueError(f"expected milliseconds since the epoch, got {value[:40]!r}")
    if isinstance(value, float) and value == value and abs(value) < 1e18:
        return round(value * 1000)
    raise ValueError(f"expected milliseconds since the epoch, got {type(value).__name__}")


def number(value: Any) -> float | None:
    """A JSON number (or a numeric string, as the iOS export writes them) as float; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def dig(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]...`` through dicts; None where a level is missing or not an object."""
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj
