"""Local time of places: zone lookup and DST-correct UTC ➜ local conversion."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from hereabouts.analysis._localtime import (
    day_of_week,
    local_day,
    seconds_of_day,
    to_local_us,
    utc_offsets_s,
    week_of,
    zone,
    zones_at,
)
from hereabouts.model.errors import InputError


def _us(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()) * 1_000_000


def _offset(t_us: int, name: str) -> int:
    off = datetime.fromtimestamp(t_us / 1e6, UTC).astimezone(ZoneInfo(name)).utcoffset()
    assert off is not None
    return int(off.total_seconds())


def test_amsterdam_across_spring_change_2025() -> None:
    # every 15 minutes from 2025-03-29 22:00 to 2025-03-30 04:00 UTC
    t = np.arange(_us(2025, 3, 29, 22), _us(2025, 3, 30, 4), 900 * 1_000_000, dtype=np.int64)
    off = utc_offsets_s(t, "Europe/Amsterdam")
    expect = [_offset(v, "Europe/Amsterdam") for v in t.tolist()]
    assert off.tolist() == expect
    change = _us(2025, 3, 30, 1)  # 02:00 CET becomes 03:00 CEST at 01:00 UTC
    assert set(off[t < change].tolist()) == {3600}
    assert set(off[t >= change].tolist()) == {7200}
    local = to_local_us(t, np.zeros(t.shape[0], np.int64), ["Europe/Amsterdam"])
    hours = (seconds_of_day(local) // 3600).tolist()
    assert 2 not in hours  # 02:xx does not exist that night
    i = int(np.searchsorted(t, change))
    assert hours[i - 1] == 1 and seconds_of_day(local)[i - 1] == 1 * 3600 + 45 * 60
    assert hours[i] == 3 and seconds_of_day(local)[i] == 3 * 3600


def test_autumn_change_and_two_zones() -> None:
    t = np.array([_us(2025, 10, 26, 0, 30), _us(2025, 10, 26, 1, 30), _us(2025, 7, 1, 12)], np.int64)
    assert utc_offsets_s(t, "Europe/Amsterdam").tolist() == [7200, 3600, 7200]
    local = to_local_us(
        np.concatenate([t, t]), np.array([0, 0, 0, 1, 1, 1]), ["Europe/Amsterdam", "America/New_York"]
    )
    assert (seconds_of_day(local) // 3600).tolist() == [2, 2, 14, 20, 21, 8]


def test_zones_at_and_calendar() -> None:
    assert zones_at(np.array([52.0907, -33.87]), np.array([5.1214, 151.21])) == [
        "Europe/Amsterdam",
        "Australia/Sydney",
    ]
    days = local_day(np.array([_us(2025, 3, 3, 12), _us(2025, 3, 9, 23)], np.int64))
    assert day_of_week(days).tolist() == [0, 6]  # Monday, Sunday
    assert week_of(days)[0] == week_of(days)[1]
    assert week_of(days + 1)[1] == week_of(days)[1] + 1
    with pytest.raises(InputError, match="unknown time zone"):
        zone("Mars/Olympus")


def test_empty() -> None:
    assert utc_offsets_s(np.zeros(0, np.int64), "UTC").shape == (0,)
