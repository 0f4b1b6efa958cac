"""The time grammar: days are local calendar days (DST-correct), recurrences, moments and zones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hereabouts.ask.timeexpr import extract, parse_moment, parse_period, parse_recurrence
from hereabouts.model.errors import InputError

BERLIN = "Europe/Berlin"
NY = "America/New_York"


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "tz", "hours", "start"),
    [
        (utc(2025, 3, 31, 12), BERLIN, 23.0, utc(2025, 3, 29, 23)),  # 2025-03-30 lost an hour
        (utc(2025, 10, 27, 12), BERLIN, 25.0, utc(2025, 10, 25, 22)),  # 2025-10-26 gained one
        (utc(2025, 3, 10, 16), NY, 23.0, utc(2025, 3, 9, 5)),  # 2025-03-09 in New York
        (utc(2025, 3, 12, 16), NY, 24.0, utc(2025, 3, 11, 4)),
    ],
)
def test_yesterday_is_a_local_calendar_day(now: datetime, tz: str, hours: float, start: datetime) -> None:
    p = parse_period("yesterday", now=now, tz=tz)
    assert p.hours() == hours
    assert p.start == start
    assert p.describe().startswith("yesterday (")


def test_week_across_spring_change_is_167_hours() -> None:
    p = parse_period("last week", now=utc(2025, 4, 2, 12), tz=BERLIN)
    assert p.start == utc(2025, 3, 23, 23)
    assert p.hours() == 167.0
    assert "2025-03-24 to 2025-03-30" in p.describe()


def test_month_across_autumn_change_is_one_hour_longer() -> None:
    p = parse_period("in october", now=utc(2025, 11, 5), tz=BERLIN)
    assert p.hours() == 31 * 24 + 1
    assert p.start == utc(2025, 9, 30, 22)


def test_gap_time_moves_forward_and_repeated_time_takes_first() -> None:
    m = parse_moment("at 2:30 on 2025-03-30", now=utc(2025, 4, 1), tz=BERLIN)
    assert m.at == utc(2025, 3, 30, 1, 30)  # 03:30 CEST
    m2 = parse_moment("at 2:30 on 2025-10-26", now=utc(2025, 11, 1), tz=BERLIN)
    assert m2.at == utc(2025, 10, 26, 0, 30)  # first 02:30 (CEST)
    m3 = parse_moment("at 2:30 on 2025-03-09", now=utc(2025, 4, 1), tz=NY)
    assert m3.at == utc(2025, 3, 9, 7, 30)  # 03:30 EDT


NOW = utc(2025, 3, 31, 12)  # Monday 14:00 in Berlin


@pytest.mark.parametrize(
    ("text", "first_day", "last_day"),
    [
        ("today", "2025-03-31", "2025-03-31"),
        ("the day before yesterday", "2025-03-29", "2025-03-29"),
        ("this week", "2025-03-31", "2025-04-06"),
        ("last month", "2025-02-01", "2025-02-28"),
        ("next month", "2025-04-01", "2025-04-30"),
        ("this year", "2025-01-01", "2025-12-31"),
        ("last year", "2024-01-01", "2024-12-31"),
        ("last tuesday", "2025-03-25", "2025-03-25"),
        ("on tuesday", "2025-03-25", "2025-03-25"),
        ("on monday", "2025-03-31", "2025-03-31"),
        ("last monday", "2025-03-24", "2025-03-24"),
        ("on the 3rd", "2025-03-03", "2025-03-03"),
        ("on 3 march", "2025-03-03", "2025-03-03"),
        ("on march 3rd 2024", "2024-03-03", "2024-03-03"),
        ("2025-01-15", "2025-01-15", "2025-01-15"),
        ("in october", "2024-10-01", "2024-10-31"),
        ("in march", "2025-03-01", "2025-03-31"),
        ("in 2023", "2023-01-01", "2023-12-31"),
        ("between 3 march and 10 march", "2025-03-03", "2025-03-10"),
        ("from 2025-01-01 to 2025-01-31", "2025-01-01", "2025-01-31"),
        ("between october and december", "2024-10-01", "2024-12-31"),
    ],
)
def test_whole_day_periods(text: str, first_day: str, last_day: str) -> None:
    p = parse_period(text, now=NOW, tz=BERLIN)
    span = p.describe()
    expected = first_day if first_day == last_day else f"{first_day} to {last_day}"
    assert f"({expected}, {BERLIN})" in span, span


def test_on_the_31st_skips_months_without_one() -> None:
    p = parse_period("on the 31st", now=utc(2025, 4, 15), tz=BERLIN)
    assert "2025-03-31" in p.describe()


def test_since_and_rolling_windows_end_now() -> None:
    p = parse_period("since march", now=NOW, tz=BERLIN)
    assert p.start == utc(2025, 2, 28, 23) and p.end == NOW
    q = parse_period("in the last 7 days", now=NOW, tz=BERLIN)
    assert q.end == NOW and q.hours() == 167.0  # same wall time a week ago, across the change
    h = parse_period("in the past 3 hours", now=NOW, tz=BERLIN)
    assert h.hours() == 3.0
    w = parse_period("over the last two weeks", now=NOW, tz=BERLIN)
    assert w.hours() == 14 * 24 - 1


def test_parts_of_day() -> None:
    ln = parse_period("last night", now=NOW, tz=BERLIN)
    assert "2025-03-30 18:00 to 2025-03-31 06:00" in ln.describe()
    fn = parse_period("friday night", now=NOW, tz=BERLIN)
    assert "2025-03-28 22:00 to 2025-03-29 06:00" in fn.describe()
    ym = parse_period("yesterday morning", now=NOW, tz=BERLIN)
    assert ym.hours() == 6.0 and "2025-03-30 06:00" in ym.describe()


@pytest.mark.parametrize(
    ("text", "local", "zone"),
    [
        ("at 10:00 on friday", "2025-03-28 10:00", BERLIN),
        ("tomorrow at 9", "2025-04-01 09:00", BERLIN),
        ("at 3pm yesterday", "2025-03-30 15:00", BERLIN),
        ("at noon", "2025-03-31 12:00", BERLIN),
        ("at 9:00 utc", "2025-03-31 09:00", "UTC"),
        ("at 9 in tokyo time", "2025-03-31 09:00", "Asia/Tokyo"),
    ],
)
def test_moments(text: str, local: str, zone: str) -> None:
    m = parse_moment(text, now=NOW, tz=BERLIN)
    assert m.tz == zone
    assert f"({local} {zone})" in m.describe()


def test_future_preference_picks_the_next_weekday() -> None:
    m = parse_moment("at 10:00 on friday", now=NOW, tz=BERLIN, prefer="future")
    assert m.at == utc(2025, 4, 4, 8)
    p = parse_period("in october", now=NOW, tz=BERLIN, prefer="future")
    assert p.start == utc(2025, 9, 30, 22)


@pytest.mark.parametrize(
    ("text", "days", "windows"),
    [
        ("on weekdays", (0, 1, 2, 3, 4), ()),
        ("weekends", (5, 6), ()),
        ("on tuesdays", (1,), ()),
        ("every tuesday", (1,), ()),
        ("on mondays and fridays", (0, 4), ()),
        ("mornings", tuple(range(7)), ((360, 720),)),
        ("in the afternoons", tuple(range(7)), ((720, 1080),)),
        ("evenings", tuple(range(7)), ((1080, 1320),)),
        ("at night", tuple(range(7)), ((1320, 360),)),
        ("weekday mornings", (0, 1, 2, 3, 4), ((360, 720),)),
        ("tuesday evenings", (1,), ((1080, 1320),)),
        ("on weekdays in the morning", (0, 1, 2, 3, 4), ((360, 720),)),
        ("on weekend nights", (5, 6), ((1320, 360),)),
    ],
)
def test_recurrences(text: str, days: tuple[int, ...], windows: tuple[tuple[int, int], ...]) -> None:
    r = parse_recurrence(text, tz=BERLIN)
    assert r.days == days and r.windows == windows


def test_night_recurrence_spans_midnight_and_belongs_to_its_start_day() -> None:
    r = parse_recurrence("friday nights", tz=BERLIN)
    assert r.contains(utc(2025, 3, 28, 22))  # Fri 23:00 local
    assert r.contains(utc(2025, 3, 29, 3))  # Sat 04:00 local
    assert not r.contains(utc(2025, 3, 29, 22))  # Sat 23:00 local
    ivs = r.intervals(utc(2025, 3, 24), utc(2025, 4, 7))
    assert len(ivs) == 2 and all(iv.hours() == 8.0 for iv in ivs)


def test_recurrence_intervals_across_dst_keep_local_hours() -> None:
    r = parse_recurrence("sunday nights", tz=BERLIN)
    (iv,) = r.intervals(utc(2025, 3, 29), utc(2025, 3, 31))  # night of Sat 29 is not Sunday
    assert iv.start == utc(2025, 3, 30, 20)  # 22:00 CEST
    r2 = parse_recurrence("saturday nights", tz=BERLIN)
    (iv2,) = r2.intervals(utc(2025, 3, 29), utc(2025, 3, 31))
    assert iv2.hours() == 7.0  # 22:00 CET to 06:00 CEST


def test_extract_finds_several_expressions_and_ignores_words_containing_them() -> None:
    found = extract("where was x known between 3 march and 10 march or now", now=NOW, tz=BERLIN)
    assert [type(f.value).__name__ for f in found] == ["Period", "Moment"]
    assert extract("what is the last known position", now=NOW, tz=BERLIN) == []


@pytest.mark.parametrize("bad", ["on the 32nd", "at 25:00", "2025-02-30", "in blursday"])
def test_bad_expressions_raise_input_error(bad: str) -> None:
    with pytest.raises(InputError):
        parse_period(bad, now=NOW, tz=BERLIN)


def test_unknown_zone_is_an_input_error() -> None:
    with pytest.raises(InputError, match="IANA"):
        parse_period("yesterday", now=NOW, tz="Mars/Olympus")
    with pytest.raises(InputError, match="no zone"):
        parse_period("yesterday", now=datetime(2025, 1, 1), tz=BERLIN)


WED = utc(2025, 11, 19, 12)  # a Wednesday
SAT = utc(2025, 11, 22, 12)  # a Saturday


@pytest.mark.parametrize(
    ("text", "now", "start", "end"),
    [
        ("last weekend", WED, utc(2025, 11, 14, 23), utc(2025, 11, 16, 23)),
        (
            "this weekend",
            WED,
            utc(2025, 11, 14, 23),
            utc(2025, 11, 16, 23),
        ),  # the past one, asked of the past
        ("this weekend", SAT, utc(2025, 11, 21, 23), utc(2025, 11, 23, 23)),
        ("next weekend", WED, utc(2025, 11, 21, 23), utc(2025, 11, 23, 23)),
        ("in the first week of march", WED, utc(2025, 2, 28, 23), utc(2025, 3, 7, 23)),
        ("the second week of october", WED, utc(2025, 10, 7, 22), utc(2025, 10, 14, 22)),
        ("the last week of february", WED, utc(2025, 2, 21, 23), utc(2025, 2, 28, 23)),
        ("in summer", WED, utc(2025, 5, 31, 22), utc(2025, 8, 31, 22)),
        ("last summer", WED, utc(2025, 5, 31, 22), utc(2025, 8, 31, 22)),  # the most recent one ended
        ("last autumn", WED, utc(2024, 8, 31, 22), utc(2024, 11, 30, 23)),  # this one has not ended
        ("winter", WED, utc(2024, 11, 30, 23), utc(2025, 2, 28, 23)),
        ("in spring 2024", WED, utc(2024, 2, 29, 23), utc(2024, 5, 31, 22)),
    ],
)
def test_weekends_weeks_of_a_month_and_seasons(
    text: str, now: datetime, start: datetime, end: datetime
) -> None:
    p = parse_period(text, now=now, tz=BERLIN)
    assert (p.start, p.end) == (start, end)


def test_between_two_seasons_is_two_periods() -> None:
    found = [m.value for m in extract("change between summer and winter", now=WED, tz=BERLIN)]
    assert [type(v).__name__ for v in found] == ["Period", "Period"]


def test_next_weekend_on_a_weekend_day_is_the_following_one() -> None:
    p = parse_period("next weekend", now=SAT, tz=BERLIN)
    assert (p.start, p.end) == (utc(2025, 11, 28, 23), utc(2025, 11, 30, 23))
