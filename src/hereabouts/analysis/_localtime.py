"""Local time of a place: the IANA zone at its coordinates and vectorised UTC ➜ local conversion.

Routines, nights and weekdays are computed in the local time of the *place*, never the server's.

* :func:`zones_at` names the IANA zone of each point with ``timezonefinder`` (offline polygons; one
  lookup per distinct point, cached). Points at sea get the nautical ``Etc/GMT±h`` zone it returns;
  a point it cannot place gets ``UTC``.
* :func:`utc_offsets_s` gives the UTC offset of many instants in one zone without a Python call per
  instant: the zone's offset is sampled with :mod:`zoneinfo` every 6 hours across the instants'
  range, each change of offset is pinned to the second by bisection, and the instants are then
  looked up with :func:`numpy.searchsorted`. Summer time (DST) is therefore exact: 00:30 UTC on
  2025-03-30 is 01:30 in Amsterdam, 01:30 UTC is 03:30.
* :func:`to_local_us` applies the offsets to instants that each carry a zone code;
  :func:`local_day`, :func:`day_of_week` and :func:`seconds_of_day` split local microseconds.

Days are counted from 1970-01-01 (a Thursday); ``day_of_week`` is 0 for Monday ... 6 for Sunday.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

from ..model.errors import InputError, MissingDependencyError

__all__ = [
    "US_PER_DAY",
    "day_of_week",
    "local_day",
    "seconds_of_day",
    "to_local_us",
    "utc_offsets_s",
    "week_of",
    "zone",
    "zones_at",
]

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]

US_PER_S = 1_000_000
US_PER_DAY = 86_400 * US_PER_S
_SAMPLE_S = 6 * 3600


@functools.lru_cache(maxsize=1)
def _finder() -> object:
    try:
        from timezonefinder import TimezoneFinder
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "local time of a place needs the offline time-zone lookup 'timezonefinder'",
            hint="pip install timezonefinder, or pass tz='Area/City' to use one zone for every place",
        ) from exc
    return TimezoneFinder()


@functools.lru_cache(maxsize=65536)
def _zone_at(lat: float, lon: float) -> str:
    name = _finder().timezone_at(lng=lon, lat=lat)  # type: ignore[attr-defined]
    return str(name) if name else "UTC"


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The :class:`zoneinfo.ZoneInfo` named ``name``; :class:`InputError` for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"unknown time zone {name!r}; expected an IANA name such as 'Europe/Amsterdam'"
        ) from exc


def zones_at(lat: F64, lon: F64) -> list[str]:
    """IANA zone names of points (degrees), one lookup per distinct point (rounded to 1e-4°).

    >>> zones_at(np.array([52.09, 40.71]), np.array([5.12, -74.0]))
    ['Europe/Amsterdam', 'America/New_York']
    """
    la = np.round(np.asarray(lat, np.float64), 4)
    lo = np.round(np.asarray(lon, np.float64), 4)
    return [_zone_at(float(a), float(b)) for a, b in zip(la.tolist(), lo.tolist(), strict=True)]


def _offset_at(tz: ZoneInfo, t_s: int) -> int:
    off = datetime.fromtimestamp(t_s, UTC).astimezone(tz).utcoffset()
    return 0 if off is None else int(off.total_seconds())


@functools.lru_cache(maxsize=4096)
def _transitions(name: str, lo_s: int, hi_s: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Change instants (s) and the offsets from each of them on, covering [lo_s, hi_s]."""
    tz = zone(name)
    grid = list(range(lo_s, hi_s + _SAMPLE_S, _SAMPLE_S))
    offs = [_offset_at(tz, g) for g in grid]
    starts = [lo_s - 10**12]  # the first offset holds from long before
    values = [offs[0]]
    for k in range(1, len(grid)):
        if offs[k] != offs[k - 1]:
            a, b = grid[k - 1], grid[k]  # offset(a) = offs[k-1], offset(b) = offs[k]
            while b - a > 1:
                mid = (a + b) // 2
                if _offset_at(tz, mid) == offs[k - 1]:
                    a = mid
                else:
                    b = mid
            starts.append(b)
            values.append(offs[k])
    return tuple(starts), tuple(values)


def utc_offsets_s(t_us: I64, name: str) -> I64:
    """UTC offsets (seconds east) in zone ``name`` at each instant (µs since the epoch, UTC).

    >>> t = np.array([1743294600, 1743298200]) * 1_000_000  # 2025-03-30 00:30 and 01:30 UTC
    >>> utc_offsets_s(t, "Europe/Amsterdam").tolist()
    [3600, 7200]
    """
    t = np.asarray(t_us, np.int64)
    if t.shape[0] == 0:
        return np.zeros(0, np.int64)
    t_s = t // US_PER_S
    # align the sample window to whole days so the cache is shared by nearby calls
    lo = int(t_s.min()) // 86_400 * 86_400
    hi = (int(t_s.max()) // 86_400 + 1) * 86_400
    starts, values = _transitions(name, lo, hi)
    idx = np.searchsorted(np.asarray(starts, np.int64), t_s, side="right") - 1
    return np.asarray(np.asarray(values, np.int64)[idx], np.int64)


def to_local_us(t_us: I64, zone_code: I64, zone_names: Sequence[str]) -> I64:
    """Local wall-clock microseconds of each instant, ``zone_code`` indexing ``zone_names``
    (vectorised per zone).

    >>> t = np.array([1743294600, 1743298200]) * 1_000_000
    >>> (to_local_us(t, np.array([0, 0]), ["Europe/Amsterdam"]) // 3_600_000_000 % 24).tolist()
    [1, 3]
    """
    t = np.asarray(t_us, np.int64)
    codes = np.asarray(zone_code, np.int64)
    out = t.copy()
    for c in np.unique(codes).tolist():
        sel = np.flatnonzero(codes == c)
        out[sel] = t[sel] + utc_offsets_s(t[sel], zone_names[c]) * US_PER_S
    return out


def local_day(local_us: I64) -> I64:
    """Local calendar day (days since 1970-01-01) of local microseconds."""
    return np.asarray(np.floor_divide(local_us, US_PER_DAY), np.int64)


def day_of_week(day: I64) -> I64:
    """0 = Monday ... 6 = Sunday, of days since 1970-01-01 (a Thursday)."""
    return np.asarray((np.asarray(day, np.int64) + 3) % 7, np.int64)


def week_of(day: I64) -> I64:
    """Monday-based week number of days since 1970-01-01 (weeks since Monday 1969-12-29)."""
    return np.asarray((np.asarray(day, np.int64) + 3) // 7, np.int64)


def seconds_of_day(local_us: I64) -> I64:
    """Seconds since local midnight."""
    return np.asarray(np.mod(local_us, US_PER_DAY) // US_PER_S, np.int64)
