"""Time parsing shared by the readers: everything becomes microseconds since the epoch, UTC.

Readers call these and turn a ``ValueError`` into a reject naming the field.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..model.errors import InputError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FRACTION = re.compile(r"(\.\d+)")
_SPACE_T = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d)")


@lru_cache(maxsize=64)
def zone(name: str | None) -> tzinfo:
    """The time zone called ``name`` (IANA, or ``UTC``); raises InputError naming the bad zone."""
    if name is None or name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    m = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?", name.strip())
    if m:
        sign = -1 if m.group(1) == "-" else 1
        from datetime import timezone

        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"unknown time zone {name!r}",
            hint="use an IANA name such as 'Europe/Berlin' or an offset '+02:00'",
        ) from exc


def to_us(dt: datetime) -> int:
    """Microseconds since the epoch for an aware datetime."""
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(t_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(t_us))


def iso_fast(s: str, default_tz: tzinfo = UTC) -> tuple[int, int | None] | None:
    """The common ISO 8601 shapes straight through ``datetime.fromisoformat``, with the same result as
    :func:`parse_iso` (faster); None when ``fromisoformat`` does not accept the text."""
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
        off = dt.utcoffset()
        return to_us(dt), None if default_tz is UTC or off is None else int(off.total_seconds())
    if s[-1:] in ("Z", "z"):
        return to_us(dt), None  # a time written in UTC says nothing of the local offset
    off = dt.utcoffset()
    return to_us(dt), None if off is None else int(off.total_seconds())


def parse_iso(text: str, default_tz: tzinfo = UTC) -> tuple[int, int | None]:
    """Parse an ISO 8601 timestamp; return ``(t_us, tz_offset_s)``.

    ``tz_offset_s`` is the offset the text carried: ``None`` for ``Z`` (a time written in UTC says
    nothing of the local offset) and for naive times read in UTC; naive times read in another
    ``default_tz`` get that zone's offset. Fractions of any length are accepted.

    >>> parse_iso("2024-06-15T10:30:00+02:00")
    (1718440200000000, 7200)
    >>> parse_iso("2013-04-15T06:31:26.860Z")[0]
    1366007486860000
    """
    s = text.strip()
    if not s or len(s) > 64:
        raise ValueError(f"not an ISO 8601 time: {text[:40]!r}")
    fast = iso_fast(s, default_tz)
    if fast is not None:
        return fast
    zulu = s.endswith(("Z", "z"))
    if zulu:
        s = s[:-1] + "+00:00"
    m = _FRACTION.search(s)
    if m and len(m.group(1)) != 7:  # fromisoformat wants exactly 3 or 6 digits on some versions
        frac = (m.group(1)[1:] + "000000")[:6]
        s = s[: m.start()] + "." + frac + s[m.end() :]
    s = _SPACE_T.sub(r"\1T\2", s)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text[:40]!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
        off = dt.utcoffset()
        return to_us(dt), None if default_tz is UTC else (
            int(off.total_seconds()) if off is not None else None
        )
    off = dt.utcoffset()
    if zulu:
        return to_us(dt), None
    return to_us(dt), int(off.total_seconds()) if off is not None else None


def epoch_to_us(value: float | int | str) -> int:
    """Epoch seconds, milliseconds, microseconds or nanoseconds (chosen by magnitude) to microseconds.

    >>> epoch_to_us(1377177267), epoch_to_us(1442068686579)
    (1377177267000000, 1442068686579000)
    """
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"not a finite epoch time: {value!r}")
    a = abs(v)
    if a >= 1e17:
        return int(v // 1000)
    if a >= 1e14:
        return int(v)
    if a >= 1e11:
        return round(v * 1000)
    return round(v * 1_000_000)


def parse_time(value: object, default_tz: tzinfo = UTC) -> tuple[int, int | None]:
    """An ISO string, an epoch number (s/ms/us by magnitude) or a numeric string; ``(t_us, offset)``."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        return epoch_to_us(value), None
    if isinstance(value, str):
        s = value.strip()
        if s and (s[0].isdigit() or s[0] in "+-") and s.replace(".", "", 1).lstrip("+-").isdigit():
            return epoch_to_us(s), None
        return parse_iso(s, default_tz)
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=default_tz)
        off = dt.utcoffset()
        return to_us(dt), int(off.total_seconds()) if off is not None and value.tzinfo else None
    raise ValueError(f"not a time: {value!r}")
