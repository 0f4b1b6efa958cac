"""The parser: the catalogue, a separate paraphrase set, refusals, suggestions, entities and places."""

from __future__ import annotations

import importlib.util
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hereabouts.ask import query as q
from hereabouts.ask.parse import FORMS, parse

NOW = datetime(2025, 3, 31, 12, tzinfo=UTC)
ENTITIES = ["van 7", "device B", "alice", "bob", "van 9"]
ALIASES = {"the red van": "van 7"}
PLACES = {"lake": 1, "depot": 2, "gym": 3, "St Mary's church": 4}
TOWNS = {"potsdam": "Potsdam", "berlin": "Berlin"}


def ask(question: str, default_entity: str | None = "me") -> q.Query:
    return parse(
        question,
        entities=ENTITIES,
        aliases=ALIASES,
        places=PLACES,
        towns=TOWNS.get,
        now=NOW,
        tz="Europe/Berlin",
        default_entity=default_entity,
    )


def _load_paraphrases() -> list[tuple[str, str, dict[str, Any]]]:
    spec = importlib.util.spec_from_file_location(
        "ask_paraphrases", Path(__file__).with_name("paraphrases.py")
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    data: list[tuple[str, str, dict[str, Any]]] = mod.PARAPHRASES
    return data


def _place_name(ref: object) -> str | None:
    if isinstance(ref, q.Near):
        return _place_name(ref.ref)
    for attr in ("name", "anchor", "place_id"):
        if hasattr(ref, attr):
            return str(getattr(ref, attr))
    return None


def check(question: str, kind: str, fields: dict[str, Any]) -> str | None:
    """None when ``question`` parses to ``kind`` with ``fields``, else what differed."""
    got = ask(question)
    if got.kind != kind:
        return f"{question!r}: kind {got.kind} != {kind} ({got.describe()})"
    for key, want in fields.items():
        if key == "entity":
            have: Any = getattr(got, "entity", None) or getattr(got, "entity_a", None)
        elif key in ("place", "origin", "destination"):
            have = _place_name(getattr(got, "area" if isinstance(got, q.InArea) and key == "place" else key))
        elif key == "days":
            rec = getattr(got, "recurrence", None)
            have = rec.days if rec is not None else None
        elif key == "period":
            have = getattr(got, "period", None) is not None
        else:
            have = getattr(got, key)
        if have != want:
            return f"{question!r}: {key} {have!r} != {want!r} ({got.describe()})"
    return None


# ------------------------------------------------------------------ catalogue


def test_catalogue_has_at_least_30_forms_with_unique_ids() -> None:
    ids = [f.id for f in FORMS]
    assert len(ids) == len(set(ids))
    assert sum(len(f.examples) for f in FORMS) >= 30
    assert len(FORMS) >= 30
    examples = [ex for f in FORMS for ex in f.examples]
    assert len(examples) == len(set(examples))


CATALOGUE: list[tuple[str, str, dict[str, Any]]] = [
    ("where was van 7 at 10:00 on Friday?", "where_at", {"entity": "van 7"}),
    ("where is van 7?", "where_at", {"entity": "van 7"}),
    ("where was van 7 yesterday?", "where_during", {"entity": "van 7"}),
    ("where does van 7 usually stop on Tuesdays?", "routine", {"entity": "van 7", "days": (1,)}),
    ("where does van 7 stop most on Tuesdays?", "top_places", {"entity": "van 7", "days": (1,), "n": 5}),
    ("what are my top 3 places this month?", "top_places", {"entity": "me", "n": 3, "period": True}),
    ("where did I go last week?", "top_places", {"entity": "me", "n": 20}),
    ("where does van 7 work?", "anchors", {"entity": "van 7", "kinds": ("work",)}),
    ("where is my home?", "anchors", {"entity": "me", "kinds": ("home",)}),
    ("what are van 7's anchors?", "anchors", {"entity": "van 7", "kinds": ("home", "work")}),
    ("how often did van 7 visit the depot this month?", "visits", {"place": "depot", "period": True}),
    ("when did van 7 visit the depot?", "visits", {"place": "depot", "period": False}),
    ("how long did van 7 spend at the depot last week?", "time_spent", {"place": "depot"}),
    ("when did I first visit the lake?", "first_visit", {"entity": "me", "place": "lake"}),
    ("when did I last visit the lake?", "last_visit", {"entity": "me", "place": "lake"}),
    ("how did I get from home to work yesterday?", "trips", {"origin": "home", "destination": "work"}),
    ("what trips did van 7 make yesterday?", "trips", {"entity": "van 7", "origin": None}),
    ("when did van 7 leave the depot on Tuesday?", "trips", {"origin": "depot", "destination": None}),
    ("when did I get to work today?", "trips", {"origin": None, "destination": "work"}),
    ("has van 7 ever been to the depot?", "visits", {"place": "depot"}),
    ("where is bob usually at 10am on weekdays?", "routine", {"entity": "bob", "days": (0, 1, 2, 3, 4)}),
    ("where did alice go on Saturday?", "where_during", {"entity": "alice", "period": True}),
    ("where did van 7 park at 3pm yesterday?", "where_at", {"entity": "van 7"}),
    ("how many trips did van 7 make last week?", "stats", {"measures": ("n_trips",)}),
    ("how far did van 7 travel last week?", "stats", {"measures": ("distance",)}),
    ("what is van 7's radius of gyration this month?", "stats", {"measures": ("radius_of_gyration",)}),
    ("how many places did van 7 visit last week?", "stats", {"measures": ("n_places",)}),
    ("stats for van 7 this week", "stats", {"measures": ("distance", "radius_of_gyration", "n_places")}),
    ("who was at the depot yesterday?", "in_area", {"place": "depot"}),
    ("who was with device B on the 3rd?", "together", {"entity": "device B", "entity_b": None}),
    ("were alice and bob together last week?", "together", {"entity": "alice", "entity_b": "bob"}),
    ("what does van 7 usually do on Tuesday evenings?", "routine", {"entity": "van 7", "days": (1,)}),
    ("was there anything unusual about van 7 last week?", "anomalies", {"entity": "van 7"}),
    ("where will van 7 be tomorrow at 9?", "predict", {"entity": "van 7"}),
    ("did I travel more this month than last month?", "compare", {}),
]


@pytest.mark.parametrize(("question", "kind", "fields"), CATALOGUE)
def test_catalogue_forms(question: str, kind: str, fields: dict[str, Any]) -> None:
    assert check(question, kind, fields) is None, check(question, kind, fields)


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.id)
def test_every_form_example_parses_to_its_form(form: Any) -> None:
    for ex in form.examples:
        got = ask(ex)
        assert not isinstance(got, q.NotUnderstood | q.Refusal), (ex, got)


def test_predict_resolves_time_and_wording() -> None:
    got = ask("where will van 7 be tomorrow at 9?")
    assert isinstance(got, q.Predict)
    assert got.at.at == datetime(2025, 4, 1, 7, tzinfo=UTC)
    assert got.describe() == "where van 7 is likely to be tomorrow at 9 (2025-04-01 09:00 Europe/Berlin)"


def test_compare_keeps_both_periods_and_the_inner_measure() -> None:
    got = ask("compare van 7's distance in October with September")
    assert isinstance(got, q.Compare)
    assert isinstance(got.query, q.Stats) and got.query.measures == ("distance",)
    assert got.period_a.start == datetime(2024, 9, 30, 22, tzinfo=UTC)
    assert got.period_b.start == datetime(2024, 8, 31, 22, tzinfo=UTC)


def test_near_radius_and_coordinates() -> None:
    got = ask("who was within 1 km of 52.52, 13.40 yesterday")
    assert isinstance(got, q.InArea) and isinstance(got.area, q.Near)
    assert got.area.radius_m == 1000.0 and got.area.ref == q.Coordinates(52.52, 13.40)


def test_entities_are_case_insensitive_and_longest_first() -> None:
    got = ask("WHERE IS VAN 7?")
    assert isinstance(got, q.WhereAt) and got.entity == "van 7"
    got = ask("where is the red van")
    assert isinstance(got, q.WhereAt) and got.entity == "van 7"
    got = parse("where is van 70", entities=["van 7", "van 70"], aliases={}, now=NOW, tz="UTC")
    assert isinstance(got, q.WhereAt) and got.entity == "van 70"


def test_pronouns_need_a_default_entity() -> None:
    got = ask("where was I yesterday?", default_entity=None)
    assert isinstance(got, q.NotUnderstood) and "entity" in got.detail


# ------------------------------------------------------------------ paraphrases


def test_paraphrase_set_is_understood() -> None:
    data = _load_paraphrases()
    assert len(data) >= 150
    catalogue_examples = {ex.lower() for f in FORMS for ex in f.examples}
    assert not any(question.lower() in catalogue_examples for question, _, _ in data)
    failures = [msg for msg in (check(*row) for row in data) if msg is not None]
    rate = 1 - len(failures) / len(data)
    assert rate >= 0.95, f"{rate:.1%} understood; failures:\n" + "\n".join(failures)


# ------------------------------------------------------------------ refusals

REFUSE = [
    "is van 7 a threat?",
    "How dangerous is alice?",
    "give bob a risk score",
    "rank my contacts by suspiciousness",
    "which of the drivers is most suspicious?",
    "Is device B a suspect?",
    "who is the most dangerous person in the area",
    "what threat level is van 9",
    "is alice likely to commit a crime",
    "flag high-risk people who visited the depot",
    "is bob trustworthy",
    "is alice a criminal",
    "what religion is alice?",
    "is bob muslim",
    "Is van 7's driver Jewish?",
    "Which people at the lake are Christians?",
    "is alice religious given she visits St Mary's church",
    "does bob pray at the mosque, is he devout",
    "what is alice's ethnicity",
    "what race is bob",
    "is device B's owner an immigrant",
    "what are alice's politics",
    "who did bob vote for",
    "is alice left-wing",
    "is van 9's driver a conservative",
    "which protesters were at the square",
    "is bob gay",
    "what is alice's sexual orientation",
    "is alice having an affair with bob",
    "is bob a member of a gang",
    "which group does alice belong to",
    "is device B affiliated with an extremist organisation",
    "are alice and bob in the same cell",
    "who are bob's associates",
    "Is van 7 part of a terrorist network?",
    "classify the people at the depot by nationality",
    "is alice a muslim",
    "which political party does bob support",
    "are alice and bob in the same party",
    "does bob look suspicious",
    "is alice dangerous to be around",
    "which of my contacts are Muslims",
    "is van 7 part of a criminal network",
    "does alice's travel pattern suggest she's a believer",
    "infer bob's sexual preferences from where he goes",
    "guess the ethnic background of device B's owner",
    "which of the vans' drivers might be radicalised",
    "tell me if van 9's driver belongs to any political group",
    "estimate the probability that alice is a criminal",
    "who among these people poses a danger",
    "profile alice: religion, politics, orientation",
    "is device B's owner undocumented",
    "score each person by how suspicious their movements are",
    "could van 7 be involved in drug dealing",
    "is alice cheating on bob",
    "which users should we put on a watchlist",
    # party politics without the word "politics" or "vote for"
    "does bob vote labour",
    "which party does alice support",
    "is van 9's driver a party member",
    "does alice support the green party",
]


@pytest.mark.parametrize("question", REFUSE)
def test_refusals(question: str) -> None:
    got = ask(question)
    assert isinstance(got, q.Refusal), got
    assert "out of scope by design" in got.reason and "barely better than chance" in got.reason
    assert got.describe().startswith("a refused question")


NOT_REFUSED = [
    ("which church did I visit last week?", q.TopPlaces),
    ("when did alice last go to St Mary's church?", q.LastVisit),
    ("how risky is the route to work", q.Trips),
    ("how long was bob at the gym", q.TimeSpent),
    ("who was at the depot yesterday", q.InArea),
    ("were alice and bob together on friday", q.Together),
    ("did van 7 do anything unusual", q.Anomalies),
    ("how far did I walk yesterday", q.Stats),
    ("when did I visit the Asian supermarket", q.Visits),
    ("did I drive straight home", q.Trips),
    ("when was I at the jewish museum", q.Visits),
    ("which mosque did alice go to", q.TopPlaces),
    ("was I at the protest on saturday", q.Visits),
    ("which route is the safest to the depot", q.Trips),
    ("is the road to the depot dangerous", q.Trips),
    ("when did I go to the drugstore", q.Visits),
    ("how long was I at the pharmacy", q.TimeSpent),
    ("which party did bob go to last week", q.TopPlaces),
]


@pytest.mark.parametrize(("question", "kind"), NOT_REFUSED)
def test_ordinary_questions_are_not_refused(question: str, kind: type) -> None:
    assert isinstance(ask(question), kind)


# ------------------------------------------------------------------ not understood


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("what colour is van 7", "what is van 7's routine on weekdays?"),
        ("van 7 radius gyration thing", "what is van 7's radius of gyration this month?"),
        ("tell me a joke about van 7", None),
        ("van 7 banana", None),
    ],
)
def test_not_understood_suggests_the_nearest_three_forms(question: str, expected: str | None) -> None:
    got = ask(question)
    if expected is not None and "gyration" in expected:
        # understood as a stats question: the suggestion ranking is checked directly
        from hereabouts.ask.parse import suggestions

        assert suggestions(question)[0] == expected
        return
    assert isinstance(got, q.NotUnderstood), got
    assert len(got.suggestions) == 3 and len(set(got.suggestions)) == 3
    example_set = {ex for f in FORMS for ex in f.examples}
    assert set(got.suggestions) <= example_set
    if expected is not None:
        assert got.suggestions[0] == expected


def test_nonsense_is_not_understood_with_suggestions() -> None:
    got = ask("the quick brown fox jumps")
    assert isinstance(got, q.NotUnderstood)
    assert len(got.suggestions) == 3 and got.describe().startswith("a question that was not understood")


def test_empty_question() -> None:
    got = ask("   ?")
    assert isinstance(got, q.NotUnderstood) and got.detail == "the question is empty"


def test_docs_are_generated_from_the_catalogue() -> None:
    from hereabouts.ask._docs import questions_markdown

    doc = (Path(__file__).resolve().parents[2] / "docs" / "questions.md").read_text(encoding="utf-8")
    assert doc == questions_markdown(), "regenerate: python -m hereabouts.ask._docs > docs/questions.md"
    for form in FORMS:
        assert f"### `{form.id}`" in doc


def test_parser_days_are_local_and_dst_correct() -> None:
    got = ask("where was I yesterday?")  # 2025-03-30 in Berlin lost an hour
    assert isinstance(got, q.WhereDuring) and got.period.hours() == 23.0
    ny = parse(
        "where was van 7 yesterday",
        entities=["van 7"],
        now=datetime(2025, 3, 10, 16, tzinfo=UTC),
        tz="America/New_York",
    )
    assert isinstance(ny, q.WhereDuring) and ny.period.hours() == 23.0
    autumn = parse(
        "how far did van 7 travel on 26 October",
        entities=["van 7"],
        now=datetime(2025, 11, 1, tzinfo=UTC),
        tz="Europe/Berlin",
    )
    assert isinstance(autumn, q.Stats) and autumn.period is not None and autumn.period.hours() == 25.0


def test_clock_ranges_and_zones_in_questions() -> None:
    got = ask("where was van 7 between 9:00 and 11:00 yesterday")
    assert isinstance(got, q.WhereDuring)
    assert got.period.start == datetime(2025, 3, 30, 7, tzinfo=UTC) and got.period.hours() == 2.0
    utc = ask("where was alice at 9:00 UTC on Friday?")
    assert (
        isinstance(utc, q.WhereAt)
        and utc.at.at == datetime(2025, 3, 28, 9, tzinfo=UTC)
        and utc.at.tz == "UTC"
    )


def test_period_and_recurrence_together() -> None:
    got = ask("how much time did bob spend in Berlin on weekday afternoons in March")
    assert isinstance(got, q.TimeSpent) and got.place == q.Town("Berlin")
    assert got.recurrence is not None and got.recurrence.days == (0, 1, 2, 3, 4)
    assert got.recurrence.windows == ((720, 1080),)
    assert got.period is not None and got.period.start == datetime(2025, 2, 28, 23, tzinfo=UTC)


WORDS = [
    "where",
    "when",
    "who",
    "how",
    "long",
    "often",
    "far",
    "was",
    "is",
    "did",
    "van",
    "7",
    "alice",
    "bob",
    "at",
    "on",
    "in",
    "the",
    "to",
    "from",
    "between",
    "and",
    "last",
    "next",
    "this",
    "week",
    "month",
    "year",
    "yesterday",
    "tomorrow",
    "10:00",
    "3pm",
    "32nd",
    "2025-02-30",
    "99:99",
    "tuesdays",
    "mornings",
    "nights",
    "within",
    "500",
    "m",
    "km",
    "of",
    "52.5,",
    "13.4",
    "home",
    "work",
    "lake",
    "depot",
    "potsdam",
    "usually",
    "first",
    "since",
    "compare",
    "than",
    "vs",
    "risk",
    "threat",
    "church",
    "place",
    "p1",
    "'",
    "?",
    ",",
    ".",
    "-",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=14), st.text(max_size=30))
def test_parse_never_raises(words: list[str], noise: str) -> None:
    for text in (" ".join(words), noise, " ".join(words) + noise):
        got = ask(text)
        assert isinstance(got, typing.get_args(q.Query))
        assert isinstance(got.describe(), str)
        assert q.from_dict(got.to_dict()) == got


def test_predict_for_a_day_means_local_noon_even_on_a_dst_day() -> None:
    got = parse(
        "where will van 7 be tomorrow?",
        entities=["van 7"],
        now=datetime(2025, 3, 29, 12, tzinfo=UTC),
        tz="Europe/Berlin",
    )
    assert isinstance(got, q.Predict) and got.at.at == datetime(2025, 3, 30, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("question", "kind", "fields"),
    [
        # one day of "where did X go / stop": its stays in order; a week, or "which places": a ranking
        ("where did bob stop on Monday?", "where_during", {"entity": "bob", "period": True}),
        ("where has alice been today", "where_during", {"entity": "alice", "period": True}),
        ("where did bob go last week?", "top_places", {"entity": "bob"}),
        ("which places did bob visit yesterday?", "top_places", {"entity": "bob"}),
        ("where did bob park at 9:15 on Monday", "where_at", {"entity": "bob"}),
        # "which N places", "longest"
        ("which 4 places did alice spend longest at in March?", "top_places", {"entity": "alice", "n": 4}),
        ("bob's twenty most visited places", "top_places", {"entity": "bob", "n": 20}),
        # trip ends written without "to" / "from"
        ("show me alice's drive home yesterday", "trips", {"entity": "alice", "destination": "home"}),
        ("van 9 journeys out of Potsdam", "trips", {"origin": "Potsdam"}),
        (
            "trips alice made between Berlin and the depot",
            "trips",
            {"origin": "Berlin", "destination": "depot"},
        ),
        ("how often did bob drive from home to the gym", "trips", {"origin": "home", "destination": "gym"}),
        # anchors asked with the anchor first
        ("home and work of bob", "anchors", {"entity": "bob", "kinds": ("home", "work")}),
        ("which place is alice's home?", "anchors", {"entity": "alice", "kinds": ("home",)}),
        # routines and their breaks, "a typical Tuesday"
        ("did bob break his usual routine last week?", "anomalies", {"entity": "bob", "period": True}),
        ("a typical Tuesday for alice", "routine", {"entity": "alice", "days": (1,)}),
        ("how far does bob drive on a normal Friday", "stats", {"entity": "bob", "days": (4,)}),
        # co-presence with "any other", everyone at a place, seasons
        ("did alice meet any other driver this month?", "together", {"entity": "alice", "entity_b": None}),
        ("everybody who was at the depot on Monday", "in_area", {"place": "depot"}),
        ("how did bob's distance change between spring and summer?", "compare", {}),
    ],
)
def test_general_rules(question: str, kind: str, fields: dict[str, Any]) -> None:
    assert check(question, kind, fields) is None, check(question, kind, fields)


@pytest.mark.parametrize(
    ("question", "kind", "fields"),
    [
        # a short span asked "where did X go / where has X been / what places did X stop at": its stays
        ("where did bob go last weekend", "where_during", {"entity": "bob", "period": True}),
        ("where has alice been this week", "where_during", {"entity": "alice", "period": True}),
        ("which places did bob stop at this morning", "where_during", {"entity": "bob", "period": True}),
        ("what places did alice stay at yesterday", "where_during", {"entity": "alice", "period": True}),
        ("where has alice been over the weekend", "where_during", {"entity": "alice", "period": True}),
        ("what stops did alice make yesterday", "where_during", {"entity": "alice", "period": True}),
        ("where did alice go last month", "top_places", {"entity": "alice", "period": True}),
        # bases and anchors; "the N most important places" is a ranking
        ("where is alice based", "anchors", {"entity": "alice"}),
        ("where's van 7 stationed", "anchors", {"entity": "van 7"}),
        ("where does bob work according to the data", "anchors", {"entity": "bob", "kinds": ("work",)}),
        ("show my 3 most important places", "top_places", {"entity": "me", "n": 3}),
        ("what are bob's important places", "anchors", {"entity": "bob"}),
        # visits: every time, a kind of place without "the"
        ("every time alice went to the gym", "visits", {"entity": "alice", "place": "gym"}),
        ("each time van 7 was in Potsdam last month", "visits", {"place": "Potsdam", "period": True}),
        ("how often does alice go to the pub", "visits", {"entity": "alice", "place": "pub"}),
        ("did bob visit a hospital last week", "visits", {"entity": "bob", "place": "hospital"}),
        ("how many times did bob visit a church in december", "visits", {"place": "church", "period": True}),
        # time spent: durations and lengths of stays, "X's time at P"
        ("length of alice's visits to the gym", "time_spent", {"entity": "alice", "place": "gym"}),
        ("duration of my stays at the depot last week", "time_spent", {"place": "depot", "period": True}),
        # trip origins: leaving, departing from, out of, starting at; counts of trips to a place
        ("trips of van 9 departing from potsdam", "trips", {"entity": "van 9", "origin": "Potsdam"}),
        ("bob's journeys starting at the depot", "trips", {"entity": "bob", "origin": "depot"}),
        ("drives van 7 made leaving berlin", "trips", {"entity": "van 7", "origin": "Berlin"}),
        ("how many journeys did alice take to the lake", "trips", {"entity": "alice", "destination": "lake"}),
        ("how many trips did bob make last week", "stats", {"entity": "bob", "measures": ("n_trips",)}),
        # routines with days: a typical weekend, usual whereabouts, "most Mondays"
        ("alice's typical weekend", "routine", {"entity": "alice", "days": (5, 6)}),
        ("bob's usual movements on weekday mornings", "routine", {"entity": "bob", "days": (0, 1, 2, 3, 4)}),
        ("where is bob most mondays", "routine", {"entity": "bob", "days": (0,)}),
        ("where is van 7 on most fridays at noon", "routine", {"entity": "van 7", "days": (4,)}),
        # places off the usual round
        ("did bob go somewhere he doesn't usually go", "anomalies", {"entity": "bob"}),
        ("did van 7 go anywhere new last week", "anomalies", {"entity": "van 7", "period": True}),
        ("places alice has never been before", "anomalies", {"entity": "alice"}),
        # guesses about a time are predictions; a plain past day stays a past question
        ("guess where bob will be tomorrow", "predict", {"entity": "bob"}),
        ("where is van 7 expected to be on friday at 9", "predict", {"entity": "van 7"}),
        ("best guess for alice's location on monday at 8am", "predict", {"entity": "alice"}),
        ("where might alice be tomorrow morning", "predict", {"entity": "alice"}),
        ("where could bob be on friday at 10", "predict", {"entity": "bob"}),
        ("where was bob on saturday at 3pm", "where_at", {"entity": "bob"}),
        # distance as ground covered
        ("how much ground did van 7 cover last week", "stats", {"measures": ("distance",), "period": True}),
        ("ground covered by bob yesterday", "stats", {"entity": "bob", "measures": ("distance",)}),
        # "who was near <place>": who was in that area; "who was near <entity>": together
        ("who was near the depot yesterday", "in_area", {"place": "depot", "period": True}),
        ("who was around Berlin on monday", "in_area", {"place": "Berlin"}),
        ("who was near bob yesterday", "together", {"entity": "bob", "entity_b": None}),
        # two periods: "compare to", "more in A or B"
        ("how did alice's time at the lake in july compare to august", "compare", {}),
        ("did bob go to the gym more in october or november", "compare", {}),
        ("was van 7 in Potsdam more in june or july", "compare", {}),
    ],
)
def test_general_rules_from_heldout_misses(question: str, kind: str, fields: dict[str, Any]) -> None:
    assert check(question, kind, fields) is None, check(question, kind, fields)
