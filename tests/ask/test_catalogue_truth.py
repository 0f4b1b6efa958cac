"""Every catalogue form, asked of a store imported from a simulated town, against the simulator's truth.

For each form of :data:`hereabouts.ask.parse.FORMS` the test asks the form's first example with its
names mapped to the simulation: the entity names of the examples are aliases of two simulated day
workers who share an office block ("van 7", "alice" and "I": ``A``; "device B", "bob", "van 9": ``B``),
"the depot" is A's true workplace, "the lake" a café A goes to, the towns of the examples are the
town of the data, and months or years the simulation does not cover are mapped to the ones it does.
The mapped question must still parse to the form's kind; the answer is then compared with the true
stays, places, anchors and trips (positions within 150 m, times within 15 minutes, totals within
the tolerances written next to each check).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

import hereabouts as hb
from hereabouts.analysis._geo import haversine_m
from hereabouts.analysis.gazetteer import lookup_towns
from hereabouts.ask import query as q
from hereabouts.ask.execute import Answer, ask
from hereabouts.ask.parse import FORMS, parse
from hereabouts.sim import simulate

pytestmark = pytest.mark.slow

A, B = "agent-0003", "agent-0002"  # day workers at the same office block (seed 5)
NOW = datetime(2025, 3, 14, 17, tzinfo=UTC)  # Friday 18:00 in Utrecht; the data ends that night
TZ = ZoneInfo("Europe/Amsterdam")
NEAR_M = 150.0
TIME_TOL = timedelta(minutes=15)
# detected trip distances run about 20 % short of the true path here: a fix a minute cuts the corners
# of five-minute car trips on the street grid, and the walk from building to kerb sits inside stays
DISTANCE_TOL = 0.25
ALIASES = {A: ("van 7", "alice"), B: ("device B", "bob", "van 9")}
# months, years and towns the examples use, mapped onto the simulated fortnight and its town
MAPPED = [
    (r"\bin october with september\b", "last week with this week"),
    (r"\bin october\b", "in march"),
    (r"\bin 2024\b", "in 2025"),
    (r"\blast month\b", "this month"),
    (r"\blast year\b", "this year"),
    (r"\bpotsdam\b", "Utrecht"),
]


@dataclass
class Town:
    db: hb.Database
    stays: pd.DataFrame  # true stays, with duration_s
    trips: pd.DataFrame
    places: pd.DataFrame
    anchors: pd.DataFrame
    phone: dict[str, str]  # agent -> phone device
    named: dict[str, tuple[float, float, float]]
    true_position: Callable[[str, list[int]], tuple[Any, Any]]


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Town:
    folder: Path = tmp_path_factory.mktemp("truthtown")
    sim = simulate(agents=8, days=12, seed=5, profile="gps-1min", out=folder)
    db = hb.open(":memory:")
    db.import_(folder / "fixes.parquet")
    phone = {}
    for d in sim.devices.to_pylist():
        if d["agent"]:
            db.assign_device(d["device"], d["agent"])
            if d["kind"] == "phone":
                phone[d["agent"]] = d["device"]
    for agent, names in ALIASES.items():
        for name in names:
            db.store.add_alias(agent, name)  # type: ignore[attr-defined]
    stays = sim.true_stays.to_pandas()
    stays["duration_s"] = (stays["end"] - stays["start"]).dt.total_seconds()
    places = sim.true_places.to_pandas().set_index("place_id")
    anchors = sim.true_anchors.to_pandas()
    work = anchors[(anchors.agent == A) & (anchors.kind == "work")].iloc[0]
    cafe = (
        stays[(stays.agent == A) & (stays.place_kind == "cafe")]
        .groupby("place_id")
        .size()
        .sort_values()
        .index[-1]
    )
    named = {
        "depot": (float(work.lat), float(work.lon), 100.0),
        "lake": (float(places.loc[cafe, "lat"]), float(places.loc[cafe, "lon"]), 100.0),
    }
    return Town(db, stays, sim.true_trips.to_pandas(), places, anchors, phone, named, sim.true_position)


def example(form_id: str) -> str:
    form = next(f for f in FORMS if f.id == form_id)
    s = form.examples[0]
    for rx, new in MAPPED:
        s = re.sub(rx, new, s, flags=re.IGNORECASE)
    return s


def answer(town: Town, form_id: str, now: datetime = NOW) -> Answer:
    """The answer to the form's first example, mapped; its query must be of the form's kind."""
    question = example(form_id)
    original = next(f for f in FORMS if f.id == form_id).examples[0]
    want_kind = parse(
        original,
        entities=["van 7", "device B", "alice", "bob", "van 9"],
        places={"lake": 1, "depot": 2},
        towns={"potsdam": "Potsdam"}.get,
        now=NOW,
        tz="Europe/Amsterdam",
        default_entity="me",
    ).kind
    a = ask(town.db, question, now=now, default_entity=A, places=town.named)
    assert a.query.kind == want_kind, f"{question!r} became {a.query.describe()}"
    assert a.available, a.text
    return a


# ------------------------------------------------------------------ truth helpers


def _day(d: int) -> tuple[datetime, datetime]:
    """Local day ``d`` of March 2025 as UTC [start, end)."""
    s = datetime(2025, 3, d, tzinfo=TZ)
    return s.astimezone(UTC), (s + timedelta(days=1)).astimezone(UTC)


LAST_WEEK = (_day(3)[0], _day(10)[0])
THIS_WEEK = (_day(10)[0], _day(17)[0])
YESTERDAY = _day(13)
TODAY = _day(14)
MARCH = (_day(1)[0], datetime(2025, 4, 1, tzinfo=TZ).astimezone(UTC))


def true_stays(town: Town, agent: str, span: tuple[datetime, datetime] | None = None) -> pd.DataFrame:
    """The agent's true stays, cut to ``span``, with ``duration_s`` inside it."""
    s = town.stays[town.stays.agent == agent].copy()
    if span is not None:
        lo, hi = pd.Timestamp(span[0]), pd.Timestamp(span[1])
        s["start"] = s["start"].clip(lower=lo)
        s["end"] = s["end"].clip(upper=hi)
        s = s[s["end"] > s["start"]].copy()
        s["duration_s"] = (s["end"] - s["start"]).dt.total_seconds()
    return s


def true_trips(town: Town, agent: str, span: tuple[datetime, datetime] | None = None) -> pd.DataFrame:
    """The agent's true trips starting in ``span``, except one into a stay still going on when the
    data ends (a stay in progress is not detected, so neither is the trip into it)."""
    t = town.trips[town.trips.agent == agent]
    st = town.stays[town.stays.agent == agent].set_index("stay_id")
    t = t[~st.loc[t.to_stay, "truncated"].to_numpy()]
    if span is not None:
        t = t[(t.start >= pd.Timestamp(span[0])) & (t.start < pd.Timestamp(span[1]))]
    return t


def dist_m(lat: float, lon: float, lat2: float, lon2: float) -> float:
    return float(haversine_m(np.array([lat]), np.array([lon]), lat2, lon2)[0])


def near_place(town: Town, lat: float, lon: float, place_id: str, radius_m: float = NEAR_M) -> bool:
    p = town.places.loc[place_id]
    return dist_m(lat, lon, float(p.lat), float(p.lon)) <= radius_m


def at_place(town: Town, stays: pd.DataFrame, where: tuple[float, float, float]) -> pd.DataFrame:
    lat, lon, r = where
    d = np.asarray(haversine_m(stays.lat.to_numpy(), stays.lon.to_numpy(), lat, lon))
    return stays[d <= r]


def rows(a: Answer) -> list[dict[str, Any]]:
    return a.result.to_pylist()


def matched(true_stay_rows: pd.DataFrame, got: list[dict[str, Any]]) -> float:
    """The share of true stays that an answered stay overlaps in time within 150 m."""
    if true_stay_rows.empty:
        return 1.0
    hit = 0
    for t in true_stay_rows.itertuples():
        for g in got:
            overlap = min(g["end"], t.end.to_pydatetime()) - max(g["start"], t.start.to_pydatetime())
            if overlap > timedelta(0) and dist_m(g["lat"], g["lon"], t.lat, t.lon) <= NEAR_M:
                hit += 1
                break
    return hit / len(true_stay_rows)


def close(got: float, want: float, rel: float, abs_: float = 0.0) -> bool:
    return abs(got - want) <= max(rel * abs(want), abs_)


# ------------------------------------------------------------------ where


def test_where_at(town: Town) -> None:
    a = answer(town, "where_at")  # where was van 7 at 10:00 on Friday?
    at = a.query.at.at  # type: ignore[union-attr]
    lat, lon = town.true_position(town.phone[A], [int(at.timestamp() * 1e6)])
    r = rows(a)[0]
    assert dist_m(r["lat"], r["lon"], float(lat[0]), float(lon[0])) <= NEAR_M


def test_where_now(town: Town) -> None:
    a = answer(town, "where_now")  # where is van 7?
    lat, lon = town.true_position(town.phone[A], [int(NOW.timestamp() * 1e6)])
    r = rows(a)[0]
    assert dist_m(r["lat"], r["lon"], float(lat[0]), float(lon[0])) <= NEAR_M


def test_where_during(town: Town) -> None:
    a = answer(town, "where_during")  # where was van 7 yesterday?
    truth = true_stays(town, A, YESTERDAY)
    truth = truth[truth.duration_s >= 600]
    assert matched(truth, rows(a)) >= 0.9
    # and nothing answered is far from every true stay of that day
    for g in rows(a):
        assert any(dist_m(g["lat"], g["lon"], t.lat, t.lon) <= NEAR_M for t in truth.itertuples())


# ------------------------------------------------------------------ places


def _true_top(town: Town, stays: pd.DataFrame) -> str:
    return str(stays.groupby("place_id").duration_s.sum().sort_values().index[-1])


def test_top_places(town: Town) -> None:
    a = answer(town, "top_places")  # where does van 7 usually stop on Tuesdays?
    tue = pd.concat([true_stays(town, A, _day(d)) for d in (4, 11)])  # cut to each Tuesday of the data
    top = rows(a)[0]
    assert near_place(town, top["lat"], top["lon"], _true_top(town, tue))
    assert close(top["dwell_s"], tue.groupby("place_id").duration_s.sum().max(), 0.1, 1800)


def test_usual_when(town: Town) -> None:
    a = answer(town, "usual_when")  # where is bob usually at 10am on weekdays?
    parts = []
    for d in (3, 4, 5, 6, 7, 10, 11, 12, 13, 14):
        s = _day(d)[0] + timedelta(hours=10)
        parts.append(true_stays(town, B, (s, s + timedelta(hours=1))))
    top = rows(a)[0]
    assert near_place(town, top["lat"], top["lon"], _true_top(town, pd.concat(parts)))


def test_routine(town: Town) -> None:
    a = answer(town, "routine")  # what is van 7's routine on weekdays?
    days = (3, 4, 5, 6, 7, 10, 11, 12, 13, 14)
    weekdays = pd.concat([true_stays(town, A, _day(d)) for d in days])
    dwell = weekdays.groupby("place_id").duration_s.sum().sort_values()
    top = rows(a)[0]
    assert near_place(town, top["lat"], top["lon"], str(dwell.index[-1]))
    # its share of the weekday hours: the data run from the first fix (Monday 3 March) to Friday night
    assert abs(top["share"] - dwell.iloc[-1] / weekdays.duration_s.sum()) <= 0.05


def test_places_list(town: Town) -> None:
    a = answer(town, "places_list")  # what places did van 7 visit yesterday?
    truth = true_stays(town, A, YESTERDAY)
    truth = truth[truth.duration_s >= 600]
    got = rows(a)
    for pid in set(truth.place_id):  # every true place is listed...
        assert any(near_place(town, g["lat"], g["lon"], pid) for g in got), pid
    for g in got:  # ...and nothing else
        assert any(near_place(town, g["lat"], g["lon"], pid) for pid in set(truth.place_id))


def test_in_area(town: Town) -> None:
    a = answer(town, "in_area")  # who was at the depot yesterday?
    everyone = true_stays_all(town, YESTERDAY)
    truth = at_place(town, everyone[everyone.duration_s >= 600], town.named["depot"])
    got = {r["entity"] for r in rows(a) if r["entity"].startswith("agent-")}
    assert set(truth.agent) == got and {A, B} <= got


def true_stays_all(town: Town, span: tuple[datetime, datetime]) -> pd.DataFrame:
    return pd.concat([true_stays(town, ag, span) for ag in sorted(set(town.stays.agent))])


# ------------------------------------------------------------------ together


def true_copresence(
    town: Town, a: str, b: str, span: tuple[datetime, datetime] | None
) -> list[tuple[Any, Any]]:
    """(start, end) of the times two agents truly stayed within 50 m of each other for 10 minutes or more."""
    out = []
    sb = true_stays(town, b, span)
    for x in true_stays(town, a, span).itertuples():
        for y in sb.itertuples():
            lo, hi = max(x.start, y.start), min(x.end, y.end)
            if hi - lo >= pd.Timedelta(minutes=10) and dist_m(x.lat, x.lon, y.lat, y.lon) <= 50:
                out.append((lo.to_pydatetime(), hi.to_pydatetime()))
    return out


def _overlaps(g: dict[str, Any], t: tuple[Any, Any]) -> bool:
    return bool(min(g["end"], t[1]) > max(g["start"], t[0]))


def test_together_pair(town: Town) -> None:
    a = answer(town, "together_pair")  # when was van 7 with device B?
    truth = true_copresence(town, A, B, None)
    got = rows(a)
    assert len(truth) >= 10
    for t in truth:  # every true meeting of half an hour or more is found...
        if t[1] - t[0] >= timedelta(minutes=30):
            assert any(_overlaps(g, t) for g in got), t
    for g in got:  # ...and nothing else
        assert any(_overlaps(g, t) for t in truth), g
    true_s = sum((t[1] - t[0]).total_seconds() for t in truth)
    assert close(sum(g["duration_s"] for g in got), true_s, 0.1)


def test_together_any(town: Town) -> None:
    a = answer(town, "together_any")  # who was with device B on the 3rd?
    day = _day(3)
    others = sorted(set(town.stays.agent) - {B})
    truth = {o for o in others if true_copresence(town, B, o, day)}
    got = {r["other"] for r in rows(a) if r["other"].startswith("agent-")}  # cars are entities too
    assert A in truth and got == truth


# ------------------------------------------------------------------ routine breaks and predictions


def test_anomalies_unusual_places(town: Town) -> None:
    a = answer(town, "anomalies")  # was there anything unusual about van 7 last week?
    everything = true_stays(town, A)
    once = set(everything.groupby("place_id").size().loc[lambda n: n == 1].index)
    week = true_stays(town, A, LAST_WEEK)
    truth = week[week.place_id.isin(once) & (week.duration_s >= 1800)]
    want = {(t.start.tz_convert(TZ).date(), t.place_id) for t in truth.itertuples()}
    got = [r for r in rows(a) if r["kind"] == "unusual_place"]
    assert len(want) >= 2 and len(got) == len(want)
    for day, pid in want:  # every long visit to a place visited once is flagged that day, and only those
        assert any(r["day"] == day and near_place(town, r["lat"], r["lon"], pid) for r in got), (day, pid)


def test_predict(town: Town) -> None:
    # asked on Wednesday 12 March: "tomorrow at 9" is Thursday 13 March 09:00, inside the data; the
    # prediction uses only the stays before that instant
    a = answer(
        town, "predict", now=datetime(2025, 3, 12, 17, tzinfo=UTC)
    )  # where will van 7 be tomorrow at 9?
    at = a.query.at.at  # type: ignore[union-attr]
    assert at == datetime(2025, 3, 13, 8, tzinfo=UTC)
    lat, lon = town.true_position(town.phone[A], [int(at.timestamp() * 1e6)])
    top = rows(a)[0]
    assert top["probability"] >= 0.5
    assert dist_m(top["lat"], top["lon"], float(lat[0]), float(lon[0])) <= NEAR_M


# ------------------------------------------------------------------ anchors


def _anchor(town: Town, agent: str, kind: str) -> tuple[float, float]:
    r = town.anchors[(town.anchors.agent == agent) & (town.anchors.kind == kind) & town.anchors.primary].iloc[
        0
    ]
    return float(r.lat), float(r.lon)


def _answered_anchor(a: Answer, kind: str) -> tuple[float, float]:
    r = next(r for r in rows(a) if r["label"] == kind and not r.get("abstained"))
    return r["lat"], r["lon"]


@pytest.mark.parametrize(
    ("form_id", "kinds"),
    [
        ("anchors", ("home", "work")),
        ("anchors_home", ("home",)),
        ("anchors_nights", ("home",)),
        ("anchors_work", ("work",)),
    ],
)
def test_anchors(town: Town, form_id: str, kinds: tuple[str, ...]) -> None:
    a = answer(town, form_id)
    for kind in kinds:
        assert dist_m(*_answered_anchor(a, kind), *_anchor(town, A, kind)) <= NEAR_M, kind


# ------------------------------------------------------------------ visits


def _visits_truth(town: Town, name: str, span: tuple[datetime, datetime] | None) -> pd.DataFrame:
    return at_place(town, true_stays(town, A, span), town.named[name])


def test_visits_count(town: Town) -> None:
    a = answer(town, "visits_count")  # how often did van 7 visit the depot this month?
    truth = _visits_truth(town, "depot", MARCH)
    assert abs(a.result.num_rows - len(truth)) <= max(1, round(0.1 * len(truth)))
    assert matched(truth, rows(a)) >= 0.9


def test_visited(town: Town) -> None:
    a = answer(town, "visited")  # did I go to the lake last week?
    truth = _visits_truth(town, "lake", LAST_WEEK)
    assert len(truth) >= 1 and a.result.num_rows == len(truth)
    assert matched(truth, rows(a)) == 1.0


def test_visits_list(town: Town) -> None:
    a = answer(town, "visits_list")  # when did van 7 visit the depot?
    truth = _visits_truth(town, "depot", None)
    assert matched(truth, rows(a)) >= 0.9
    assert a.result.num_rows <= len(truth) + 2


def test_time_spent(town: Town) -> None:
    a = answer(town, "time_spent")  # how long did van 7 spend at the depot last week?
    truth = _visits_truth(town, "depot", LAST_WEEK)
    assert close(rows(a)[0]["total_s"], truth.duration_s.sum(), 0.05, 1800)


@pytest.mark.parametrize("form_id", ["first_visit", "last_visit"])
def test_first_and_last_visit(town: Town, form_id: str) -> None:
    a = answer(town, form_id)  # when did I first / last visit the lake?
    truth = _visits_truth(town, "lake", None).sort_values("start")
    want = truth.iloc[0] if form_id == "first_visit" else truth.iloc[-1]
    got = rows(a)[0]
    assert abs(got["start"] - want.start.to_pydatetime()) <= TIME_TOL
    assert abs(got["end"] - want.end.to_pydatetime()) <= TIME_TOL


# ------------------------------------------------------------------ trips


def _trip_starts_match(got: list[dict[str, Any]], truth: pd.DataFrame) -> bool:
    return all(
        any(abs(g["start"] - t.start.to_pydatetime()) <= TIME_TOL for g in got) for t in truth.itertuples()
    )


def test_trips(town: Town) -> None:
    a = answer(town, "trips")  # what trips did van 7 make yesterday?
    truth = true_trips(town, A, YESTERDAY)
    assert a.result.num_rows == len(truth) and _trip_starts_match(rows(a), truth)


def test_trips_between(town: Town) -> None:
    a = answer(town, "trips_between")  # show van 7's trips from the depot to <the town>
    work = town.anchors[(town.anchors.agent == A) & (town.anchors.kind == "work")].iloc[0].place_id
    truth = true_trips(town, A)
    dest = town.places.loc[truth.to_place]
    in_town = lookup_towns(dest.lat.to_numpy(), dest.lon.to_numpy()).column("town").to_pylist()
    truth = truth[(truth.from_place == work).to_numpy() & (np.array(in_town) == "Utrecht")]
    assert len(truth) >= 5
    assert a.result.num_rows == len(truth) and _trip_starts_match(rows(a), truth)


def test_departures(town: Town) -> None:
    a = answer(town, "departures")  # when did van 7 leave the depot on Tuesday?
    work = town.anchors[(town.anchors.agent == A) & (town.anchors.kind == "work")].iloc[0].place_id
    truth = true_trips(town, A, _day(11))
    truth = truth[truth.from_place == work]
    assert a.result.num_rows == len(truth) >= 1 and _trip_starts_match(rows(a), truth)


def test_arrivals(town: Town) -> None:
    a = answer(town, "arrivals")  # when did I get to work today?
    work = town.anchors[(town.anchors.agent == A) & (town.anchors.kind == "work")].iloc[0].place_id
    truth = true_trips(town, A, TODAY)
    truth = truth[truth.to_place == work]
    got = rows(a)
    assert len(got) == len(truth) >= 1
    for t in truth.itertuples():
        assert any(abs(g["end"] - t.end.to_pydatetime()) <= TIME_TOL for g in got)


# ------------------------------------------------------------------ stats


def test_n_trips(town: Town) -> None:
    a = answer(town, "n_trips")  # how many trips did van 7 make last week?
    assert rows(a)[0]["n_trips"] == len(true_trips(town, A, LAST_WEEK))


def test_distance(town: Town) -> None:
    a = answer(town, "distance")  # how far did van 7 travel last week?
    want = float(true_trips(town, A, LAST_WEEK).distance_m.sum())
    assert close(rows(a)[0]["distance_m"], want, DISTANCE_TOL)


def test_n_places(town: Town) -> None:
    a = answer(town, "n_places")  # how many places did van 7 visit last week?
    s = true_stays(town, A, LAST_WEEK)
    want = s[s.duration_s >= 600].place_id.nunique()
    assert abs(rows(a)[0]["n_places"] - want) <= 1


def _gyration_m(stays: pd.DataFrame) -> float:
    w = stays.duration_s.to_numpy()
    c_lat, c_lon = np.average(stays.lat, weights=w), np.average(stays.lon, weights=w)
    d = np.asarray(haversine_m(stays.lat.to_numpy(), stays.lon.to_numpy(), c_lat, c_lon))
    return float(np.sqrt(np.average(d**2, weights=w)))


def test_gyration(town: Town) -> None:
    a = answer(town, "gyration")  # what is van 7's radius of gyration this month?
    assert close(rows(a)[0]["radius_of_gyration_m"], _gyration_m(true_stays(town, A, MARCH)), 0.1, 50)


def test_stats_summary(town: Town) -> None:
    a = answer(town, "stats")  # give me a summary of van 7's movement this month
    r = rows(a)[0]
    s = true_stays(town, A, MARCH)
    assert close(r["distance_m"], float(true_trips(town, A, MARCH).distance_m.sum()), DISTANCE_TOL)
    assert close(r["radius_of_gyration_m"], _gyration_m(s), 0.1, 50)
    assert abs(r["n_places"] - s[s.duration_s >= 600].place_id.nunique()) <= 1


def test_compare(town: Town) -> None:
    a = answer(town, "compare")  # compare van 7's distance last week with this week
    assert isinstance(a.query, q.Compare)
    got = {r["period"]: r["distance_m"] for r in rows(a)}
    for period, span in ((a.query.period_a, LAST_WEEK), (a.query.period_b, THIS_WEEK)):
        assert (period.start, period.end) == span
        assert close(got[period.phrase], float(true_trips(town, A, span).distance_m.sum()), DISTANCE_TOL)


# ------------------------------------------------------------------ coverage of the catalogue

CHECKED = {
    "where_at",
    "where_now",
    "where_during",
    "top_places",
    "usual_when",
    "routine",
    "places_list",
    "in_area",
    "anchors",
    "anchors_home",
    "anchors_nights",
    "anchors_work",
    "visits_count",
    "visited",
    "visits_list",
    "time_spent",
    "first_visit",
    "last_visit",
    "trips",
    "trips_between",
    "departures",
    "arrivals",
    "n_trips",
    "distance",
    "n_places",
    "gyration",
    "stats",
    "compare",
    "together_pair",
    "together_any",
    "anomalies",
    "predict",
}


def test_every_form_is_checked_against_truth() -> None:
    assert {f.id for f in FORMS} == CHECKED
