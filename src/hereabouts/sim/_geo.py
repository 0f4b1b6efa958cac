"""The town's metric frame and its local clock (wall time in the town's IANA zone, across DST changes)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

EARTH_RADIUS_M = 6_371_008.8

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class City:
    """A real city centre the synthetic town is laid over (so an offline gazetteer names it)."""

    name: str
    country: str
    lat: float
    lon: float
    tz: str


#: Utrecht, the Netherlands: the Domtoren square. Europe/Amsterdam changes to summer time on 2025-03-30.
UTRECHT = City(name="Utrecht", country="NL", lat=52.0907, lon=5.1214, tz="Europe/Amsterdam")


@dataclass(frozen=True)
class Frame:
    """An equirectangular frame in metres (x east, y north) centred on the city (error < 0.1 % over 5 km)."""

    lat0: float
    lon0: float

    def to_latlon(self, x: F64, y: F64) -> tuple[F64, F64]:
        k_lat = 180.0 / (np.pi * EARTH_RADIUS_M)
        k_lon = k_lat / float(np.cos(np.radians(self.lat0)))
        lat = np.asarray(y, dtype=np.float64) * k_lat + self.lat0
        lon = np.asarray(x, dtype=np.float64) * k_lon + self.lon0
        return lat, lon

    def to_xy(self, lat: F64, lon: F64) -> tuple[F64, F64]:
        y = np.radians(np.asarray(lat, dtype=np.float64) - self.lat0) * EARTH_RADIUS_M
        x = (
            np.radians(np.asarray(lon, dtype=np.float64) - self.lon0)
            * EARTH_RADIUS_M
            * np.cos(np.radians(self.lat0))
        )
        return x, y


class Clock:
    """Converts local wall time (seconds since local midnight of the first day) to UTC epoch seconds.

    Offsets are looked up per hour, so a DST change at 02:00 or 03:00 local is honoured to the hour.
    Wall times that do not exist (the skipped hour in spring) map as if the old offset still held.
    """

    def __init__(self, tz: str, start: date, days: int) -> None:
        self.tz = tz
        zone = ZoneInfo(tz)
        self.start = start
        self.days = days
        hours = (days + 3) * 24
        base = datetime(start.year, start.month, start.day)
        self.wall0 = calendar.timegm(base.timetuple())
        wall_off = np.empty(hours, dtype=np.int64)
        for h in range(hours):
            off = (base + timedelta(hours=h)).replace(tzinfo=zone).utcoffset()
            wall_off[h] = int(off.total_seconds()) if off is not None else 0
        self._wall_off = wall_off
        #: UTC epoch seconds of the period's start (local midnight of ``start``) and end.
        self.t0 = float(self.wall0 - wall_off[0])
        self.t_end = float(self.to_utc(np.array([days * 86400.0]))[0])
        utc_hours = hours + 2
        first = int(self.t0) // 3600 * 3600 - 3600
        self._utc_first = first
        utc_off = np.empty(utc_hours, dtype=np.int64)
        for h in range(utc_hours):
            moment = datetime.fromtimestamp(first + h * 3600, tz=zone)
            off = moment.utcoffset()
            utc_off[h] = int(off.total_seconds()) if off is not None else 0
        self._utc_off = utc_off
        self._utc_off_list = [int(v) for v in utc_off.tolist()]

    def to_utc(self, wall_s: F64) -> F64:
        """UTC epoch seconds of local wall times given in seconds since local midnight of day 0."""
        w = np.asarray(wall_s, dtype=np.float64)
        idx = np.clip((w // 3600).astype(np.int64), 0, len(self._wall_off) - 1)
        return self.wall0 + w - self._wall_off[idx]

    def offset_at(self, t_utc: F64) -> NDArray[np.int32]:
        """The zone's UTC offset in seconds at UTC epoch seconds ``t_utc``."""
        t = np.asarray(t_utc, dtype=np.float64)
        out = np.full(t.shape, self._utc_off[0], dtype=np.int32)
        for h in np.nonzero(np.diff(self._utc_off))[0].tolist():
            # the offset changes at the start of UTC hour h + 1 of the table
            out[t >= self._utc_first + (h + 1) * 3600] = self._utc_off[h + 1]
        return out

    def wall_of(self, t_utc: F64) -> F64:
        """Local wall seconds since local midnight of day 0 for UTC epoch seconds."""
        t = np.asarray(t_utc, dtype=np.float64)
        return t + self.offset_at(t) - self.wall0

    def wall_of_scalar(self, t_utc: float) -> float:
        """:meth:`wall_of` for one time, without NumPy overhead."""
        idx = min(max(int((t_utc - self._utc_first) // 3600), 0), len(self._utc_off_list) - 1)
        return t_utc + self._utc_off_list[idx] - self.wall0

    def transitions(self) -> list[dict[str, object]]:
        """The DST changes inside the period (UTC instant and the offsets before and after)."""
        out: list[dict[str, object]] = []
        offs = self._utc_off
        for h in range(1, len(offs)):
            if offs[h] != offs[h - 1]:
                t = self._utc_first + h * 3600
                if self.t0 <= t <= self.t_end:
                    out.append(
                        {
                            "utc": datetime.fromtimestamp(t, tz=ZoneInfo("UTC")).isoformat(),
                            "offset_before_s": int(offs[h - 1]),
                            "offset_after_s": int(offs[h]),
                        }
                    )
        return out
