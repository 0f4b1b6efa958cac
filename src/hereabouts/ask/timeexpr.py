"""A small grammar of English time expressions, resolved against an explicit reference time and zone.

Three kinds of value come out of it:

* :class:`Period` — one or more UTC intervals plus the phrase they came from ("yesterday",
  "in October", "between 3 March and 10 March", "in the last 7 days");
* :class:`Moment` — one instant ("at 10:00 on Friday", "tomorrow at 9", "at 9:00 UTC", "now");
* :class:`Recurrence` — days of the week times local time-of-day windows ("on Tuesdays",
  "weekday mornings", "at night").

A day is always a *local calendar day* of the zone: "yesterday" in Europe/Berlin on 2025-03-31 is
23 hours long, on 2025-10-27 it is 25 hours. Local times that do not exist (the hour skipped in
spring) move forward by the gap; local times that happen twice (autumn) take the first occurrence.

Parts of the day: mornings 06–12, afternoons 12–18, evenings 18–22, nights 22–06. A night belongs
to the day it starts on ("Friday night" is Friday 22:00 to Saturday 06:00); "last night" is
yesterday 18:00 to today 06:00 (evening and night together).

A month or weekday named without a year or "next" is the most recent one that is not in the future
("in October" asked in March 2025 is October 2024) unless the question is about the future
(``prefer="future"``), where it is the next one.

>>> from datetime import datetime, UTC
>>> p = parse_period("yesterday", now=datetime(2025, 3, 31, 12, tzinfo=UTC), tz="Europe/Berlin")
>>> p.describe(), p.hours()
('yesterday (2025-03-30, Europe/Berlin)', 23.0)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..model.errors import InputError

__all__ = [
    "PARTS_OF_DAY",
    "Interval",
    "Moment",
    "Period",
    "Recurrence",
    "TimeMatch",
    "extract",
    "parse_moment",
    "parse_period",
    "parse_recurrence",
    "zone",
]

Prefer = Literal["past", "future"]

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WD: dict[str, int] = {}
for _i, _n in enumerate(WEEKDAY_NAMES):
    _low = _n.lower()
    for _k in (_low, _low[:3]):
        _WD[_k] = _i
_WD.update({"tues": 1, "wed": 2, "weds": 2, "thur": 3, "thurs": 3})
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MON: dict[str, int] = {}
for _i, _n in enumerate(MONTH_NAMES, start=1):
    _MON[_n.lower()] = _i
    _MON[_n.lower()[:3]] = _i
_MON["sept"] = 9
del _MON["may"]  # only the full name, handled below ("may" is also a verb)
_MON["may"] = 5

#: name -> (start minute, end minute) of local time; end < start spans midnight.
PARTS_OF_DAY: dict[str, tuple[int, int]] = {
    "morning": (6 * 60, 12 * 60),
    "afternoon": (12 * 60, 18 * 60),
    "evening": (18 * 60, 22 * 60),
    "night": (22 * 60, 6 * 60),
}

#: a few place names people say for zones ("at 9:00 in Tokyo time")
CITY_ZONES: dict[str, str] = {
    "utc": "UTC",
    "gmt": "UTC",
    "z": "UTC",
    "zulu": "UTC",
    "tokyo": "Asia/Tokyo",
    "london": "Europe/London",
    "berlin": "Europe/Berlin",
    "paris": "Europe/Paris",
    "new york": "America/New_York",
    "los angeles": "America/Los_Angeles",
    "chicago": "America/Chicago",
    "sydney": "Australia/Sydney",
}


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; an :class:`InputError` that says what was expected otherwise."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"unknown time zone {name!r}; expected an IANA zone name such as 'Europe/Berlin' or 'UTC'"
        ) from exc


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise InputError(f"reference time {dt.isoformat()} has no zone; expected an aware datetime")
    return dt.astimezone(UTC)


def localize(naive: datetime, z: ZoneInfo) -> datetime:
    """A local wall time in ``z`` as an aware UTC datetime (gap times move forward, repeated take the first)."""
    return naive.replace(tzinfo=z, fold=0).astimezone(UTC)


def _midnight(d: date, z: ZoneInfo) -> datetime:
    return localize(datetime.combine(d, time()), z)


def _fmt_local(dt: datetime, z: ZoneInfo) -> str:
    return dt.astimezone(z).strftime("%Y-%m-%d %H:%M")


def _fmt_minutes(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


# ------------------------------------------------------------------ values


@dataclass(frozen=True)
class Interval:
    """A half-open UTC interval ``[start, end)``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InputError("interval bounds must be aware datetimes (UTC)")
        if self.end < self.start:
            raise InputError(f"interval ends ({self.end}) before it starts ({self.start})")

    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    def describe(self, tz: str) -> str:
        z = zone(tz)
        s, e = self.start.astimezone(z), self.end.astimezone(z)
        whole_days = s.time() == time() and e.time() == time() and e.date() > s.date()
        if whole_days:
            last = e.date() - timedelta(days=1)
            if last == s.date():
                return s.date().isoformat()
            return f"{s.date().isoformat()} to {last.isoformat()}"
        return f"{_fmt_local(self.start, z)} to {_fmt_local(self.end, z)}"


@dataclass(frozen=True)
class Period:
    """Resolved UTC intervals plus the phrase they came from and the zone they were read in."""

    phrase: str
    intervals: tuple[Interval, ...]
    tz: str

    @property
    def start(self) -> datetime:
        return min(iv.start for iv in self.intervals)

    @property
    def end(self) -> datetime:
        return max(iv.end for iv in self.intervals)

    def hours(self) -> float:
        return sum(iv.hours() for iv in self.intervals)

    def describe(self) -> str:
        spans = "; ".join(iv.describe(self.tz) for iv in self.intervals)
        return f"{self.phrase} ({spans}, {self.tz})"


@dataclass(frozen=True)
class Moment:
    """One instant (UTC) plus the phrase it came from and the zone it is said back in."""

    phrase: str
    at: datetime
    tz: str

    def describe(self) -> str:
        return f"{self.phrase} ({_fmt_local(self.at, zone(self.tz))} {self.tz})"


@dataclass(frozen=True)
class Recurrence:
    """Days of the week (0 = Monday) times local time-of-day windows in minutes.

    ``windows`` empty means the whole day; a window whose end is before its start spans midnight and
    belongs to the day it starts on.
    """

    phrase: str
    days: tuple[int, ...]
    windows: tuple[tuple[int, int], ...]
    tz: str

    def __post_init__(self) -> None:
        if not self.days or any(d < 0 or d > 6 for d in self.days):
            raise InputError(f"recurrence days must be 0 (Monday) to 6 (Sunday), got {self.days}")
        for a, b in self.windows:
            if not (0 <= a < 1440 and 0 <= b <= 1440) or a == b:
                raise InputError(f"recurrence window {a}-{b} must be minutes of the day, start != end")

    def describe(self) -> str:
        days = _describe_days(self.days)
        if not self.windows:
            return f"{days} ({self.tz})"
        wins = ", ".join(f"{_fmt_minutes(a)}–{_fmt_minutes(b % 1440)}" for a, b in self.windows)
        return f"{days}, {wins} local time ({self.tz})"

    def contains(self, t: datetime) -> bool:
        """Whether the instant ``t`` falls in the recurrence (in its zone)."""
        local = t.astimezone(zone(self.tz))
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if not self.windows:
            return day in self.days
        for a, b in self.windows:
            if a < b and day in self.days and a <= minute < b:
                return True
            if b < a and ((day in self.days and minute >= a) or ((day - 1) % 7 in self.days and minute < b)):
                return True
        return False

    def intervals(self, start: datetime, end: datetime) -> tuple[Interval, ...]:
        """The recurrence's UTC intervals that overlap ``[start, end)``, clipped to it (DST-correct)."""
        z = zone(self.tz)
        out: list[Interval] = []
        d = start.astimezone(z).date() - timedelta(days=1)
        last = end.astimezone(z).date()
        wins = self.windows or ((0, 1440),)
        while d <= last:
            if d.weekday() in self.days:
                for a, b in wins:
                    s = localize(datetime.combine(d, time()) + timedelta(minutes=a), z)
                    e_day = d if b > a else d + timedelta(days=1)
                    e = localize(datetime.combine(e_day, time()) + timedelta(minutes=b), z)
                    s, e = max(s, start), min(e, end)
                    if e > s:
                        out.append(Interval(s, e))
            d += timedelta(days=1)
        return tuple(out)


def _describe_days(days: tuple[int, ...]) -> str:
    s = set(days)
    if s == set(range(7)):
        return "every day"
    if s == {0, 1, 2, 3, 4}:
        return "on weekdays"
    if s == {5, 6}:
        return "on weekends"
    names = [WEEKDAY_NAMES[d] + "s" for d in sorted(s)]
    return "on " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1])


@dataclass(frozen=True)
class TimeMatch:
    """One time expression found in a question: its value and the character span it covered."""

    value: Period | Moment | Recurrence
    start: int
    end: int


# ------------------------------------------------------------------ grammar pieces

_WDN = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thur?s?|fri|sat|sun)"
_MONN = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)"
)
_ORD = r"(?:\d{1,2})(?:st|nd|rd|th)?"
_NUMWORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "fourteen": 14,
    "twenty": 20,
    "thirty": 30,
}
_NUM = r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fourteen|twenty|thirty)"

# a single calendar day
_DAY = (
    r"(?:the\s+day\s+before\s+yesterday|today|yesterday|tomorrow"
    rf"|(?:last|this|next|on|past)\s+{_WDN}(?!s\b)\b"
    rf"|{_WDN}(?!s\b)\b"
    r"|\d{4}-\d{2}-\d{2}"
    rf"|(?:on\s+)?the\s+{_ORD}(?:\s+of\s+{_MONN}(?:\s+\d{{4}})?)?"
    rf"|(?:on\s+)?{_ORD}\s+(?:of\s+)?{_MONN}\b(?:,?\s+\d{{4}})?"
    rf"|(?:on\s+)?{_MONN}\s+{_ORD}\b(?:,?\s+\d{{4}})?)"
)
_MONTH = rf"(?:{_MONN}(?:\s+\d{{4}})?)"
_YEAR = r"(?:\d{4})"
_ENDPOINT = rf"(?:{_DAY}|{_MONTH}|{_YEAR})"
_TIME = r"(?:noon|midday|midnight|\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.|h|o'clock)?)"
_ZONE = r"(?:utc|gmt|z|zulu|[a-z]+/[a-z_]+(?:/[a-z_]+)?|in\s+[a-z ]+?\s+time|(?:tokyo|london|berlin|paris|new york|los angeles|chicago|sydney)\s+time)"
_PART = r"(?:morning|afternoon|evening|night)"


def _prefer_day(target_wd: int, today: date, prefer: Prefer, mode: str) -> date:
    delta = (today.weekday() - target_wd) % 7
    if mode == "last":
        return today - timedelta(days=delta or 7)
    if mode == "next":
        ahead = (target_wd - today.weekday()) % 7
        return today + timedelta(days=ahead or 7)
    if mode == "this":  # the one in the current ISO week
        return today - timedelta(days=today.weekday()) + timedelta(days=target_wd)
    if prefer == "future":
        return today + timedelta(days=(target_wd - today.weekday()) % 7)
    return today - timedelta(days=delta)


def _shift_month(y: int, m: int, k: int) -> tuple[int, int]:
    idx = y * 12 + (m - 1) + k
    return idx // 12, idx % 12 + 1


def _resolve_dom(dom: int, month: int | None, year: int | None, today: date, prefer: Prefer) -> date:
    def make(y: int, m: int) -> date | None:
        try:
            return date(y, m, dom)
        except ValueError:
            return None

    if month is not None and year is not None:
        d = make(year, month)
        if d is None:
            raise InputError(f"there is no day {dom} in {MONTH_NAMES[month - 1]} {year}")
        return d
    if month is not None:
        for k in range(0, 9):
            y = today.year - k if prefer == "past" else today.year + k
            d = make(y, month)
            if d is not None and ((prefer == "past" and d <= today) or (prefer == "future" and d >= today)):
                return d
        raise InputError(f"there is no day {dom} in {MONTH_NAMES[month - 1]}")
    step = -1 if prefer == "past" else 1
    for k in range(0, 13):
        y, m = _shift_month(today.year, today.month, step * k)
        d = make(y, m)
        if d is not None and ((prefer == "past" and d <= today) or (prefer == "future" and d >= today)):
            return d
    raise InputError(f"there is no day {dom} in any month")


def _ordinal(s: str) -> int:
    return int(re.sub(r"(st|nd|rd|th)$", "", s))


def resolve_day(text: str, today: date, prefer: Prefer = "past") -> date:
    """The calendar date named by one day expression (see ``_DAY``)."""
    s = re.sub(r"\s+", " ", text.strip().lower())
    s = re.sub(r"^on ", "", s)
    if s == "today":
        return today
    if s == "yesterday":
        return today - timedelta(days=1)
    if s == "the day before yesterday":
        return today - timedelta(days=2)
    if s == "tomorrow":
        return today + timedelta(days=1)
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", s)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError as exc:
            raise InputError(f"{s!r} is not a calendar date; expected YYYY-MM-DD") from exc
    m = re.fullmatch(rf"(?:(last|this|next|past) )?({_WDN})", s)
    if m:
        mode = {"past": "last"}.get(m[1] or "", m[1] or "")
        return _prefer_day(_WD[m[2]], today, prefer, mode)
    m = re.fullmatch(rf"the ({_ORD})(?: of ({_MONN})(?: (\d{{4}}))?)?", s)
    if m:
        return _resolve_dom(
            _ordinal(m[1]), _MON[m[2]] if m[2] else None, int(m[3]) if m[3] else None, today, prefer
        )
    m = re.fullmatch(rf"({_ORD}) (?:of )?({_MONN}),?(?: (\d{{4}}))?", s)
    if m:
        return _resolve_dom(_ordinal(m[1]), _MON[m[2]], int(m[3]) if m[3] else None, today, prefer)
    m = re.fullmatch(rf"({_MONN}) ({_ORD}),?(?: (\d{{4}}))?", s)
    if m:
        return _resolve_dom(_ordinal(m[2]), _MON[m[1]], int(m[3]) if m[3] else None, today, prefer)
    raise InputError(f"cannot read {text!r} as a day; expected e.g. 'yesterday', 'last Tuesday', '3 March'")


def _month_range(y: int, m: int, z: ZoneInfo) -> Interval:
    ny, nm = _shift_month(y, m, 1)
    return Interval(_midnight(date(y, m, 1), z), _midnight(date(ny, nm, 1), z))


def _resolve_month(text: str, today: date, prefer: Prefer, z: ZoneInfo) -> Interval:
    m = re.fullmatch(rf"({_MONN})(?: (\d{{4}}))?", text)
    if not m:
        raise InputError(f"cannot read {text!r} as a month")
    month = _MON[m[1]]
    if m[2]:
        return _month_range(int(m[2]), month, z)
    if prefer == "past":
        y = today.year if month <= today.month else today.year - 1
    else:
        y = today.year if month >= today.month else today.year + 1
    return _month_range(y, month, z)


def _endpoint(text: str, today: date, prefer: Prefer, z: ZoneInfo) -> Interval:
    s = re.sub(r"\s+", " ", text.strip().lower())
    s = re.sub(r"^(?:on|in) ", "", s)
    if re.fullmatch(_YEAR, s):
        y = int(s)
        return Interval(_midnight(date(y, 1, 1), z), _midnight(date(y + 1, 1, 1), z))
    if re.fullmatch(_MONTH, s):
        return _resolve_month(s, today, prefer, z)
    d = resolve_day(s, today, prefer)
    return Interval(_midnight(d, z), _midnight(d + timedelta(days=1), z))


def _num(s: str) -> int:
    return int(s) if s.isdigit() else _NUMWORDS[s]


def _clock(text: str) -> tuple[int, int]:
    s = text.strip().lower().replace(".", "")
    if s in ("noon", "midday"):
        return 12, 0
    if s == "midnight":
        return 0, 0
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm|h|o'clock)?", s)
    if not m:
        raise InputError(f"cannot read {text!r} as a time of day; expected e.g. '9', '9:30', '3pm'")
    h, mi = int(m[1]), int(m[2] or 0)
    if m[3] == "pm" and h < 12:
        h += 12
    if m[3] == "am" and h == 12:
        h = 0
    if h > 23 or mi > 59:
        raise InputError(f"{text!r} is not a time of day; expected hours 0-23 and minutes 0-59")
    return h, mi


def _zone_of(text: str | None, default: str) -> str:
    if not text:
        return default
    s = re.sub(r"\s+", " ", text.strip().lower())
    s = re.sub(r"^in ", "", s)
    s = re.sub(r" time$", "", s)
    if s in CITY_ZONES:
        return CITY_ZONES[s]
    if "/" in s:
        name = "/".join(p.title() if p != p.upper() else p for p in s.split("/"))
        name = re.sub(r"_([a-z])", lambda mm: "_" + mm[1].upper(), name)
        zone(name)
        return name
    raise InputError(f"unknown time zone {text!r}; expected UTC, an IANA name or a city such as Tokyo")


# ------------------------------------------------------------------ rules


@dataclass(frozen=True)
class _Ctx:
    now: datetime
    tz: str
    z: ZoneInfo
    today: date
    prefer: Prefer


Resolver = Callable[["re.Match[str]", _Ctx], Period | Moment | Recurrence]


def _period(m: re.Match[str], c: _Ctx, *ivs: Interval) -> Period:
    return Period(_phrase(m), tuple(ivs), c.tz)


def _phrase(m: re.Match[str]) -> str:
    return re.sub(r"\s+", " ", m.group(0).strip())


def _r_between(m: re.Match[str], c: _Ctx) -> Period:
    a = _endpoint(m["a"], c.today, c.prefer, c.z)
    b = _endpoint(m["b"], c.today, c.prefer, c.z)
    if b.end <= a.start:  # "between October and March": the second one after the first
        b = _endpoint(m["b"], a.start.astimezone(c.z).date() + timedelta(days=400), "past", c.z)
    return _period(m, c, Interval(a.start, max(a.end, b.end)))


def _r_since(m: re.Match[str], c: _Ctx) -> Period:
    a = _endpoint(m["a"], c.today, "past", c.z)
    return _period(m, c, Interval(a.start, max(a.start, c.now)))


def _r_before_after(m: re.Match[str], c: _Ctx) -> Period:
    a = _endpoint(m["a"], c.today, c.prefer, c.z)
    if m["op"] == "before":
        return _period(m, c, Interval(datetime(1970, 1, 1, tzinfo=UTC), a.start))
    return _period(m, c, Interval(a.end, max(a.end, c.now)))


def _r_lastn(m: re.Match[str], c: _Ctx) -> Period:
    n = _num(m["n"])
    unit = m["unit"].rstrip("s")
    local_now = c.now.astimezone(c.z).replace(tzinfo=None)
    if unit == "hour":
        start = c.now - timedelta(hours=n)
    elif unit == "minute":
        start = c.now - timedelta(minutes=n)
    elif unit in ("day", "week"):
        start = localize(local_now - timedelta(days=n * (7 if unit == "week" else 1)), c.z)
    elif unit == "month":
        y, mo = _shift_month(local_now.year, local_now.month, -n)
        start = localize(local_now.replace(year=y, month=mo, day=min(local_now.day, 28)), c.z)
    else:
        start = localize(local_now.replace(year=local_now.year - n, day=min(local_now.day, 28)), c.z)
    return _period(m, c, Interval(start, c.now))


def _r_unit(m: re.Match[str], c: _Ctx) -> Period:
    which, unit = m["which"], m["unit"]
    k = {"this": 0, "current": 0, "last": -1, "previous": -1, "next": 1}[which]
    t = c.today
    if unit == "week":
        monday = t - timedelta(days=t.weekday()) + timedelta(days=7 * k)
        return _period(m, c, Interval(_midnight(monday, c.z), _midnight(monday + timedelta(days=7), c.z)))
    if unit == "month":
        y, mo = _shift_month(t.year, t.month, k)
        return _period(m, c, _month_range(y, mo, c.z))
    y = t.year + k
    return _period(m, c, Interval(_midnight(date(y, 1, 1), c.z), _midnight(date(y + 1, 1, 1), c.z)))


def _part_interval(d: date, part: str, z: ZoneInfo) -> Interval:
    a, b = PARTS_OF_DAY[part]
    s = localize(datetime.combine(d, time()) + timedelta(minutes=a), z)
    e_day = d if b > a else d + timedelta(days=1)
    return Interval(s, localize(datetime.combine(e_day, time()) + timedelta(minutes=b), z))


def _r_last_night(m: re.Match[str], c: _Ctx) -> Period:
    y = c.today - timedelta(days=1)
    s = localize(datetime.combine(y, time(18)), c.z)
    return _period(m, c, Interval(s, localize(datetime.combine(c.today, time(6)), c.z)))


def _r_this_part(m: re.Match[str], c: _Ctx) -> Period:
    part = "night" if m["part"] in ("tonight",) else m["part"]
    return _period(m, c, _part_interval(c.today, part, c.z))


def _r_day_part(m: re.Match[str], c: _Ctx) -> Period:
    d = resolve_day(m["day"], c.today, c.prefer)
    return _period(m, c, _part_interval(d, m["part"], c.z))


def _r_month(m: re.Match[str], c: _Ctx) -> Period:
    return _period(m, c, _resolve_month(re.sub(r"\s+", " ", m["mon"]), c.today, c.prefer, c.z))


def _r_year(m: re.Match[str], c: _Ctx) -> Period:
    y = int(m["y"])
    return _period(m, c, Interval(_midnight(date(y, 1, 1), c.z), _midnight(date(y + 1, 1, 1), c.z)))


def _r_day(m: re.Match[str], c: _Ctx) -> Period:
    d = resolve_day(m["day"], c.today, c.prefer)
    return _period(m, c, Interval(_midnight(d, c.z), _midnight(d + timedelta(days=1), c.z)))


def _moment(m: re.Match[str], c: _Ctx, day: date | None) -> Moment:
    tzname = _zone_of(m["zone"], c.tz)
    z = zone(tzname)
    h, mi = _clock(m["time"])
    if day is None:
        day = c.now.astimezone(z).date()
    at = localize(datetime.combine(day, time(h, mi)), z)
    return Moment(_phrase(m), at, tzname)


def _r_moment_day(m: re.Match[str], c: _Ctx) -> Moment:
    return _moment(m, c, resolve_day(m["day"], c.today, c.prefer))


def _r_moment_today(m: re.Match[str], c: _Ctx) -> Moment:
    return _moment(m, c, None)


def _r_now(m: re.Match[str], c: _Ctx) -> Moment:
    return Moment(_phrase(m), c.now, c.tz)


_DAYSETS = {"weekday": (0, 1, 2, 3, 4), "weekend": (5, 6)}


def _days_of(words: str) -> tuple[int, ...]:
    out: set[int] = set()
    for w in re.findall(rf"weekday|weekend|{_WDN}", words):
        out.update(_DAYSETS.get(w, (_WD.get(w, -1),)))
    out.discard(-1)
    return tuple(sorted(out)) or tuple(range(7))


def _r_recurrence(m: re.Match[str], c: _Ctx) -> Recurrence:
    gd = m.groupdict()
    days = _days_of(gd.get("days") or "") if gd.get("days") else tuple(range(7))
    part = gd.get("part")
    windows = (PARTS_OF_DAY[part.rstrip("s")],) if part else ()
    return Recurrence(_phrase(m), days, windows, c.tz)


_WDS = rf"(?:{_WDN}s|weekdays|weekends)"
_DAYLIST = rf"(?P<days>{_WDS}(?:(?:\s*,\s*|\s+and\s+|\s+or\s+){_WDS})*)"
_DAYLIST1 = (
    rf"(?P<days>(?:{_WDN}|weekday|weekend)(?:(?:\s*,\s*|\s+and\s+|\s+or\s+)(?:{_WDN}|weekday|weekend))*)"
)
_B = r"(?<![\w/])"
_E = r"(?![\w/])"


def _r_lastn_one(m: re.Match[str], c: _Ctx) -> Period:
    unit = m["unit"]
    fake = re.fullmatch(r"(?P<n>\w+) (?P<unit>\w+)", f"1 {unit}")
    assert fake is not None
    p = _r_lastn(fake, c)
    return Period(_phrase(m), p.intervals, c.tz)


def _r_weekdays(m: re.Match[str], c: _Ctx) -> Recurrence:
    return Recurrence(_phrase(m), (0, 1, 2, 3, 4), (), c.tz)


def _r_weekend(m: re.Match[str], c: _Ctx) -> Recurrence:
    return Recurrence(_phrase(m), (5, 6), (), c.tz)


def _r_parts(m: re.Match[str], c: _Ctx) -> Recurrence:
    part = (m["part"] or m["part1"] or m["part2"]).rstrip("s")
    return Recurrence(_phrase(m), tuple(range(7)), (PARTS_OF_DAY[part],), c.tz)


def _r_this(m: re.Match[str], c: _Ctx) -> Period:
    part = "night" if m["tn"] else m["part"]
    return _period(m, c, _part_interval(c.today, part, c.z))


def _r_mon(m: re.Match[str], c: _Ctx) -> Period:
    text = m["mon"] or m["mon2"]
    return _period(m, c, _resolve_month(re.sub(r"\s+", " ", text), c.today, c.prefer, c.z))


# a month or year right after a comparison word is a period, but the word stays for the parser
_AFTER_LINK = (
    r"(?:(?<=\bor )|(?<=\bvs )|(?<=\bvs\. )|(?<=\bversus )|(?<=\bthan )|(?<=\bwith )|(?<=\band )|(?<=\bto ))"
)


_HOLIDAYS = {
    "christmas eve": (12, 24),
    "christmas day": (12, 25),
    "christmas": (12, 25),
    "xmas": (12, 25),
    "new years eve": (12, 31),
    "new years day": (1, 1),
    "new years": (1, 1),
    "boxing day": (12, 26),
    "halloween": (10, 31),
}


def _r_holiday(m: re.Match[str], c: _Ctx) -> Period:
    key = re.sub(r"\s+", " ", m["hol"].replace("'", ""))
    month, dom = _HOLIDAYS[key]
    d = _resolve_dom(dom, month, None, c.today, c.prefer)
    return _period(m, c, Interval(_midnight(d, c.z), _midnight(d + timedelta(days=1), c.z)))


def _r_time_range(m: re.Match[str], c: _Ctx) -> Period:
    d = resolve_day(m["day"] or m["day2"], c.today, c.prefer) if (m["day"] or m["day2"]) else c.today
    (h1, m1), (h2, m2) = _clock(m["t1"]), _clock(m["t2"])
    s = localize(datetime.combine(d, time(h1, m1)), c.z)
    e_day = d if (h2, m2) > (h1, m1) else d + timedelta(days=1)
    return _period(m, c, Interval(s, localize(datetime.combine(e_day, time(h2, m2)), c.z)))


def _r_weekend_period(m: re.Match[str], c: _Ctx) -> Period:
    """this / last / next weekend: Saturday 00:00 to Monday 00:00 local. On a weekend day "this
    weekend" is the current one and "next weekend" the following one; on a weekday "next weekend" is
    the coming one, and "this weekend" in a question about the past the one just gone."""
    which = m["which"] or "this"  # "over the weekend": this weekend, or in the past the one just gone
    k = {"this": 0, "current": 0, "coming": 1, "last": -1, "previous": -1, "past": -1, "next": 1}[which]
    t = c.today
    if which == "this" and c.prefer == "past" and t.weekday() < 5:  # "where was I this weekend"
        k = -1
    if which in ("next", "coming") and t.weekday() < 5:  # on a weekday: the coming one
        k = 0
    sat = t - timedelta(days=t.weekday()) + timedelta(days=5 + 7 * k)
    return _period(m, c, Interval(_midnight(sat, c.z), _midnight(sat + timedelta(days=2), c.z)))


_WEEK_ORD = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3}


def _r_week_of_month(m: re.Match[str], c: _Ctx) -> Period:
    """The first (second, third, fourth) week of a month: its days 1-7 (8-14, ...); the last week:
    its last seven days."""
    month = _resolve_month(re.sub(r"\s+", " ", m["mon"]), c.today, c.prefer, c.z)
    first = month.start.astimezone(c.z).date()
    if m["ord"] == "last":
        end = month.end.astimezone(c.z).date()
        return _period(m, c, Interval(_midnight(end - timedelta(days=7), c.z), _midnight(end, c.z)))
    a = first + timedelta(days=7 * _WEEK_ORD[m["ord"]])
    return _period(m, c, Interval(_midnight(a, c.z), _midnight(a + timedelta(days=7), c.z)))


_SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}


def _r_season(m: re.Match[str], c: _Ctx) -> Period:
    """A meteorological season (spring March-May, summer June-August, autumn September-November,
    winter December-February): the one of the year given, else the most recent one that has
    begun ("last": the most recent one that has ended; "next": the coming one)."""
    first = _SEASONS[m["season"]]
    if m["y"]:
        y = int(m["y"])
    else:
        t = c.today
        y = t.year if (t.year, t.month) >= (t.year, first) else t.year - 1
        if first == 12 and t.month < 3:
            y = t.year - 1
        which = m["which"] or ""
        ended = _midnight(date(*_shift_month(y, first, 3), 1), c.z) <= c.now
        if which in ("last", "previous", "past") and not ended:
            y -= 1
        elif which == "next" or (which == "" and c.prefer == "future" and (t.year, t.month) != (y, first)):
            y += 1
    ey, em = _shift_month(y, first, 3)
    return _period(m, c, Interval(_midnight(date(y, first, 1), c.z), _midnight(date(ey, em, 1), c.z)))


_RULES: list[tuple[str, Resolver]] = [
    (
        rf"(?:(?P<day2>{_DAY})\s+)?(?:between|from)\s+(?P<t1>{_TIME})\s+(?:and|to|until|till|-)\s+(?P<t2>{_TIME})"
        rf"(?:\s+(?:on\s+)?(?P<day>{_DAY}))?",
        _r_time_range,
    ),
    (
        rf"(?:between|from)\s+(?P<a>{_ENDPOINT})\s+(?:and|to|until|till|through)\s+(?P<b>{_ENDPOINT})",
        _r_between,
    ),
    (rf"since\s+(?P<a>{_ENDPOINT})", _r_since),
    (rf"(?<!day )(?P<op>before|after)\s+(?P<a>{_ENDPOINT})", _r_before_after),
    (
        rf"(?:(?:in|over|during|for|within)\s+)?(?:the\s+)?(?:last|past|previous)\s+(?P<n>{_NUM})\s+"
        r"(?P<unit>minutes?|hours?|days?|weeks?|months?|years?)",
        _r_lastn,
    ),
    (
        r"(?:(?:in|over|during)\s+)?the\s+past\s+(?P<n>)(?P<unit>hour|day|week|month|year)",
        _r_lastn_one,
    ),
    (
        rf"(?:(?:at|on)\s+)?(?P<time>{_TIME})(?:\s+(?P<zone>{_ZONE}))?\s+(?:on\s+)?(?P<day>{_DAY})",
        _r_moment_day,
    ),
    (rf"(?P<day>{_DAY})\s+at\s+(?P<time>{_TIME})(?:\s+(?P<zone>{_ZONE}))?", _r_moment_day),
    (rf"at\s+(?P<time>{_TIME})(?:\s+(?P<zone>{_ZONE}))?", _r_moment_today),
    (r"right\s+now|now|currently|at\s+the\s+moment|at\s+present", _r_now),
    # recurrences
    (
        rf"(?:(?:on|every|each|during|at)\s+)?(?:the\s+)?{_DAYLIST1}\s+(?P<part>mornings|afternoons|evenings|nights)",
        _r_recurrence,
    ),
    (
        rf"(?:every|each)\s+{_DAYLIST1}(?:\s+(?:in\s+the\s+)?(?P<part>morning|afternoon|evening|night))?",
        _r_recurrence,
    ),
    (rf"(?:(?:on|during|at)\s+(?:the\s+)?)?{_DAYLIST}", _r_recurrence),
    (r"(?:during|in)\s+the\s+(?P<days>week)(?=\s+(?:or|vs|versus|and|compared))", _r_weekdays),
    (
        r"(?:(?:on|over|during|at)\s+)?(?P<which>this|last|next|previous|current|coming|past)\s+weekend"
        r"|(?:over|during)\s+the\s+weekend(?!s)",
        _r_weekend_period,
    ),
    (
        rf"(?:(?:in|during|over|for)\s+)?the\s+(?P<ord>first|second|third|fourth|last|1st|2nd|3rd|4th)\s+week"
        rf"\s+of\s+(?P<mon>{_MONTH})",
        _r_week_of_month,
    ),
    (
        r"(?:(?:in|during|over|for)\s+)?(?:the\s+)?(?:(?P<which>this|last|next|previous|past)\s+)?"
        r"(?P<season>spring|summer|autumn|fall|winter)(?:\s+(?:of\s+)?(?P<y>\d{4}))?",
        _r_season,
    ),
    (r"(?:at|on)\s+the\s+(?P<days>weekend)", _r_weekend),
    (
        r"(?:(?:in|during)\s+the\s+|at\s+|on\s+|every\s+|)(?P<part>mornings|afternoons|evenings|nights)"
        r"|(?:in|during)\s+the\s+(?P<part1>morning|afternoon|evening)s?|at\s+(?P<part2>night)",
        _r_parts,
    ),
    (r"last\s+night", _r_last_night),
    (rf"(?:on\s+|in\s+)?the\s+(?P<part>{_PART})\s+of\s+(?P<day>{_DAY})", _r_day_part),
    (
        r"(?:on\s+|at\s+|over\s+)?(?P<hol>christmas\s+eve|christmas\s+day|christmas|xmas"
        r"|new\s+year'?s\s+eve|new\s+year'?s\s+day|new\s+year'?s|boxing\s+day|halloween)",
        _r_holiday,
    ),
    (r"(?:this\s+(?P<part>morning|afternoon|evening)|(?P<tn>tonight))", _r_this),
    (rf"(?P<day>{_DAY})\s+(?:in\s+the\s+)?(?P<part>{_PART})", _r_day_part),
    (r"(?P<which>this|last|next|previous|current)\s+(?P<unit>week|month|year)", _r_unit),
    (
        rf"(?:(?:in|during|of|for)\s+|{_AFTER_LINK})(?P<mon>{_MONTH})|(?P<mon2>{_MONN}\s+\d{{4}})",
        _r_mon,
    ),
    (rf"(?:(?:in|during|for)\s+(?:the\s+year\s+)?|{_AFTER_LINK})(?P<y>\d{{4}})", _r_year),
    (rf"(?P<day>{_DAY})", _r_day),
]


_COMPILED = [(re.compile(_B + "(?:" + pat + ")" + _E), fn) for pat, fn in _RULES]


def extract(text: str, *, now: datetime, tz: str, prefer: Prefer = "past") -> list[TimeMatch]:
    """Every time expression in ``text`` (lower-cased English), leftmost-longest by rule priority,
    without overlaps, in order of position. Recurrences next to each other are merged
    ("on weekdays in the morning" is one recurrence)."""
    z = zone(tz)
    now_utc = _utc(now)
    c = _Ctx(now_utc, tz, z, now_utc.astimezone(z).date(), prefer)
    low = text.lower()
    taken: list[TimeMatch] = []
    for rx, fn in _COMPILED:
        for m in rx.finditer(low):
            if not m.group(0).strip():
                continue
            if any(m.start() < t.end and t.start < m.end() for t in taken):
                continue
            taken.append(TimeMatch(fn(m, c), m.start(), m.end()))
    taken.sort(key=lambda t: t.start)
    return _merge_recurrences(taken, low, tz)


def _merge_recurrences(items: list[TimeMatch], text: str, tz: str) -> list[TimeMatch]:
    out: list[TimeMatch] = []
    for it in items:
        prev = out[-1] if out else None
        if (
            prev is not None
            and isinstance(prev.value, Recurrence)
            and isinstance(it.value, Recurrence)
            and re.fullmatch(r"[\s,]*(?:and\s+)?", text[prev.end : it.start])
        ):
            a, b = prev.value, it.value
            days = a.days if len(a.days) < 7 else b.days
            wins = a.windows or b.windows
            phrase = re.sub(r"\s+", " ", text[prev.start : it.end].strip())
            out[-1] = TimeMatch(Recurrence(phrase, days, wins, tz), prev.start, it.end)
        else:
            out.append(it)
    return out


def _only(text: str, now: datetime, tz: str, prefer: Prefer, kind: type) -> Period | Moment | Recurrence:
    found = extract(text, now=now, tz=tz, prefer=prefer)
    low = text.strip().lower()
    if (
        len(found) == 1
        and isinstance(found[0].value, kind)
        and not low[: found[0].start].strip()
        and not low[found[0].end :].strip()
    ):
        return found[0].value
    raise InputError(
        f"cannot read {text!r} as a {kind.__name__.lower()}; see docs/questions.md for the forms"
    )


def parse_period(text: str, *, now: datetime, tz: str, prefer: Prefer = "past") -> Period:
    """``text`` read whole as a period; :class:`InputError` if it is not one."""
    v = _only(text, now, tz, prefer, Period)
    assert isinstance(v, Period)
    return v


def parse_moment(text: str, *, now: datetime, tz: str, prefer: Prefer = "past") -> Moment:
    """``text`` read whole as an instant; :class:`InputError` if it is not one."""
    v = _only(text, now, tz, prefer, Moment)
    assert isinstance(v, Moment)
    return v


def parse_recurrence(text: str, *, tz: str, now: datetime | None = None) -> Recurrence:
    """``text`` read whole as a recurrence; :class:`InputError` if it is not one."""
    v = _only(text, now or datetime(2000, 1, 1, tzinfo=UTC), tz, "past", Recurrence)
    assert isinstance(v, Recurrence)
    return v
