"""GeoLife trajectories (``.plt``), the Microsoft Research Asia GPS data set.

A ``.plt`` file starts with six header lines (``Geolife trajectory``, ``WGS 84``, ``Altitude is in Feet``,
``Reserved 3``, a track descriptor, ``0``) and then holds one point per line::

    lat,lon,0,altitude_feet,days_since_1899-12-30,date,time
    39.984702,116.318417,0,492,39744.1201851852,2008-10-23,02:53:04

Altitude is in feet (``-777`` means unknown) and converted to metres; the date and time columns are UTC
(the data set's guide calls them GMT). When the date/time text is absent or broken, the fractional
day count (days since 1899-12-30, UTC, rounded to the millisecond) is used instead. Positions are line
numbers (the first point is on line 7). The data set stores each user's files as
``Data/<user>/Trajectory/<start>.plt``; when a file sits in that layout, its device is
``geolife/<user>``, else the default device (the file name).
"""

from __future__ import annotations

import re
from typing import IO

from ._base import Format, ReadContext, register
from ._lines import iter_lines
from ._time import parse_iso

HEADER_LINES = 6
FOOT_M = 0.3048
UNKNOWN_ALTITUDE = -777.0
#: Days between 1899-12-30 (the day count's origin) and 1970-01-01.
DAYS_TO_EPOCH = 25569
_USER_PATH = re.compile(r"(?:^|[/\\!])([^/\\!]+)[/\\]Trajectory[/\\][^/\\]+\.plt$", re.IGNORECASE)


def _device(member: str) -> str | None:
    m = _USER_PATH.search(member)
    return f"geolife/{m.group(1)}" if m else None


def _time(fields: list[str]) -> int | None:
    if len(fields) >= 7 and fields[5].strip() and fields[6].strip():
        try:
            return parse_iso(f"{fields[5].strip()}T{fields[6].strip()}")[0]
        except ValueError:
            pass
    if len(fields) >= 5:
        try:
            days = float(fields[4])
        except ValueError:
            return None
        if days != days or abs(days) > 1e7:
            return None
        # the day count carries about 10 decimals (~9 µs): round to the millisecond
        return round((days - DAYS_TO_EPOCH) * 86_400_000) * 1000
    return None


def _read(stream: IO[bytes], ctx: ReadContext) -> None:
    sink = ctx.sink
    device = _device(ctx.member)
    header_ok = False
    for line in iter_lines(stream, ctx.options.max_record_bytes):
        n = line.number
        if n <= HEADER_LINES:
            if (
                n == 1
                and line.text is not None
                and line.text.strip().lower().startswith("geolife trajectory")
            ):
                header_ok = True
            if n == 2 and line.text is not None and "wgs" in line.text.lower():
                header_ok = True
            continue
        if line.text is None:
            sink.reject(n, None, line.error or "unreadable line")
            continue
        text = line.text.strip()
        if not text:
            continue
        fields = [f.strip() for f in text.split(",")]
        if len(fields) < 5:
            sink.reject(
                n,
                None,
                f"line has {len(fields)} field(s); expected 'lat,lon,0,altitude_feet,days,date,time'",
                text,
            )
            continue
        coords: list[float] = []
        for i, name in ((0, "lat"), (1, "lon")):
            try:
                coords.append(float(fields[i]))
            except ValueError:
                sink.reject(
                    n, name, f"{name} {fields[i][:30]!r} is not a number; expected decimal degrees", text
                )
                break
        if len(coords) < 2:
            continue
        t_us = _time(fields)
        if t_us is None:
            sink.reject(
                n,
                "t",
                "date/time is not 'YYYY-MM-DD','HH:MM:SS' and the day count is not a number; expected a time",
                text,
            )
            continue
        alt: float | None
        try:
            feet = float(fields[3])
            alt = None if feet == UNKNOWN_ALTITUDE or feet != feet else feet * FOOT_M
        except ValueError:
            alt = None
        sink.fix(n, t_us, coords[0], coords[1], device=device, altitude_m=alt, provider="gps")
    if not header_ok and sink.counts.fixes == 0 and sink.counts.read == sink.counts.rejected:
        raise ctx.error(
            "no GeoLife header ('Geolife trajectory', 'WGS 84') and no points; expected a .plt file"
        )


def _sniff(head: bytes, name: str) -> float:
    body = head.lstrip(b"\xef\xbb\xbf")
    lines = body[:512].splitlines()
    if not lines:
        return 0.0
    if lines[0].strip().lower().startswith(b"geolife trajectory"):
        return 0.95
    if (
        name.endswith(".plt")
        and len(lines) > 2
        and lines[1].strip().upper() == b"WGS 84"
        and lines[2].strip().lower().startswith(b"altitude is in feet")
    ):
        return 0.7
    return 0.0


register(
    Format(
        name="geolife",
        description="GeoLife trajectory (.plt; altitude in feet, times UTC)",
        sniff=_sniff,
        read=_read,
        unit="line",
        extensions=(".plt",),
        aliases=("plt",),
    )
)
