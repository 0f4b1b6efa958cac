"""Plain English questions ➜ typed queries, deterministically (regular expressions, no learned model).

The question is read in stages, each replacing what it recognised with a placeholder so the next
stage sees a simpler sentence (the *skeleton*):

1. entity names and aliases (case-insensitive, longest first; "I", "me", "my" ➜ the default entity);
2. refusals: questions that ask to label people by affiliation, ethnicity, religion, politics,
   sexuality or group membership, or to score a person's threat, risk or suspiciousness;
3. coordinates and place ids, then time expressions (:mod:`hereabouts.ask.timeexpr`), then named
   places, home/work, "within 500 m of ...", and towns of the gazetteer;
4. the catalogue of question forms (:data:`FORMS`), tried in order; the first that matches builds
   the query. A question that matches none becomes :class:`~hereabouts.ask.query.NotUnderstood`
   with the three forms whose examples share the most words with it.

The catalogue is documented, with examples and the query each becomes, in ``docs/questions.md``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from ..model.errors import InputError
from . import timeexpr as te
from .query import (
    AnchorRef,
    Anchors,
    Anomalies,
    Compare,
    Coordinates,
    FirstVisit,
    InArea,
    LastVisit,
    Measure,
    NamedPlace,
    Near,
    NotUnderstood,
    PlaceId,
    PlaceRef,
    Predict,
    Query,
    Refusal,
    Routine,
    Stats,
    TimeSpent,
    Together,
    TopPlaces,
    Town,
    Trips,
    Visits,
    WhereAt,
    WhereDuring,
)
from .timeexpr import Moment, Period, Recurrence

__all__ = ["FORMS", "Form", "parse", "refusal_reason"]

TownLookup = Callable[[str], Any]

# ------------------------------------------------------------------ refusals

_LABEL_REASON = (
    "hereabouts does not label people by {what}. Such labels inferred from where someone goes and whom "
    "they are near are barely better than chance, and the harm of a wrong one falls on a person; this is "
    "out of scope by design. Questions about places, visits, trips and time spent are answered."
)
_THREAT_REASON = (
    "hereabouts does not score people for threat, risk, suspicion or dangerousness. Such scores built "
    "from movement and co-location are barely better than chance, and the harm of a wrong one falls on "
    "a person; this is out of scope by design. Questions about places, visits, trips and time spent "
    "are answered."
)
_LABELS: list[tuple[str, str]] = [
    (
        "religion",
        r"religio\w*|faith|devout|believer|churchgoer|pray(?:s|ing)?|worshipp?er|atheist|muslim|moslem|islamic"
        r"|christian|catholic|protestant|evangelical|jewish|jew|hindu|sikh|buddhist|mormon",
    ),
    (
        "ethnicity",
        r"ethnic\w*|what race|which race|race of|by race|racial\w*|nationality|nationalities|immigra\w*|migrant"
        r"|foreigner|arab|asian|african|hispanic|latino|gypsy|skin colou?r|origin of (?:the )?(?:person|people|driver)"
        r"|undocumented|illegal (?:immigrant|alien|migrant)s?|illegals|citizenship|residency status|asylum seeker",
    ),
    (
        "politics",
        r"politic\w*|vot(?:e|es|ed|ing) for|voters?|voting (?:intention|preference)|left[- ]wing|right[- ]wing|liberal"
        r"|conservative|democrat\w*|republican|communist|socialist|fascist|activist|protest(?:er|ers|or|ors)"
        r"|partisan|union member|vot(?:e|es|ed|ing) (?:labou?r|tory|tories|green|liberal|conservative|left|right)"
        r"|(?:which|what) (?:political )?part(?:y|ies) (?:\w+ ){1,3}(?:supports?|backs?|votes?|belongs?|favou?rs?|join(?:s|ed)?)"
        r"|supports? (?:the )?\w+ party|party (?:member\w*|affiliation|supporters?|politics)",
    ),
    (
        "sexuality",
        r"gay|lesbian|bisexual|homosexual|heterosexual|sexual orientation|sexuality|sexually|lgbt\w*|queer"
        r"|transgender|sleeping with|having an affair|an affair|sexual \w+|orientation|cheating on|unfaithful"
        r"|infidelity|hooking up|romantic(?:ally)?|lovers?",
    ),
    (
        "affiliation or group membership",
        r"affiliat\w*|member(?:s|ship)? of|belongs? to (?:a|an|the|which|what)|gang\w*|cult|sect|terroris\w*"
        r"|extremis\w*|militant\w*|radicali[sz]\w*|associates?|accomplices?|faction"
        r"|in (?:the )?same (?:group|gang|network|cell|organi[sz]ation|party)|which group|what group|network of"
        r"|(?:an?|the|which|what) (?:\w+ )?organi[sz]ation (?:is|are|does|do)|part of (?:a|an|the) (?:\w+ )?(?:group|network|cell)",
    ),
]
# a label word right before one of these names a kind of place or thing, not a person
_PLACE_NOUNS = (
    r"church|churches|mosque|temple|synagogue|chapel|cathedral|restaurant|restaurants|supermarket|shop|store"
    r"|market|quarter|museum|centre|center|school|cemetery|festival|bakery|food|grocery|district|neighbou?rhood"
    r"|embassy|consulate|cafe|café|club|bar|office|hall|headquarters|hq|library|memorial|street|square"
)


def _label_hit(rx: str, text: str) -> bool:
    for m in re.finditer(rf"\b(?:{rx})s?\b", text):
        after = text[m.end() :]
        if re.match(rf"\s+(?:\w+\s+)?(?:{_PLACE_NOUNS})\b", after) and not re.search(
            r"\b(?:is|are|was|were)\s+(?:\S+\s+)?(?:an?\s+)?$", text[: m.start()]
        ):
            continue
        return True
    return False


_THREAT = (
    r"threat\w*|dangerous\w*|danger to|suspicious\w*|suspicion|suspect\w*|criminal\w*|crimes?|violent"
    r"|(?:re)?offend\w*|trust(?:worthy|worthiness)|untrustworthy|risk(?:y|iest|ier|s)?|risk (?:score|level|rating)"
    r"|high[- ]risk|watch ?list|up to no good|shady|sketchy|guilty|likely to (?:attack|commit|steal|harm)"
    r"|danger|poses? a|drugs?|dealing|dealer|traffick\w*|smuggl\w*|involved in|illegal activit\w*|wrongdoing"
)
_ROUTE_WORDS = r"route|road|roads|trip|trips|journey|drive|commute|path|street|streets|area|neighbou?rhood|crossing|junction|way|weather|traffic"
_PERSON_SUBJECT = (
    r"\b(?:is|are|was|were|seem|seems|looks?)\s+(?:\S+\s+)?(?:xent[a-z]|he|she|they|someone|anyone|this person|the driver)\b"
    r"|\bwho\b|\bwhich (?:of|people|persons?|entities|devices|users|drivers|employees|ones)\b|\bpeople\b|\bpersons?\b"
    r"|\b(?:score|rank|rate|assess|flag|classify|label|profile)\b"
)


def refusal_reason(skeleton: str) -> tuple[str, str] | None:
    """(category, reason) when the (entity-substituted) question must be refused, else None."""
    for what, rx in _LABELS:
        if _label_hit(rx, skeleton):
            return what, _LABEL_REASON.format(what=what)
    if re.search(rf"\b(?:{_THREAT})\b", skeleton):
        about_route = re.search(rf"\b(?:{_ROUTE_WORDS})\b", skeleton)
        if about_route and not re.search(_PERSON_SUBJECT, skeleton):
            return None
        return "threat scoring", _THREAT_REASON
    return None


# ------------------------------------------------------------------ context


@dataclass
class Ctx:
    """What the stages found in one question."""

    question: str
    skeleton: str
    ents: list[str]
    periods: list[Period]
    moments: list[Moment]
    recs: list[Recurrence]
    places: list[tuple[str, PlaceRef]]  # (preposition before it, ref)
    default_entity: str | None
    now: datetime
    tz: str
    number: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def entity(self) -> str:
        if self.ents:
            return self.ents[0]
        if self.default_entity is not None:
            return self.default_entity
        raise _NoEntity()

    @property
    def period(self) -> Period | None:
        if not self.periods:
            return None
        if len(self.periods) == 1:
            return self.periods[0]
        ivs = tuple(iv for p in self.periods for iv in p.intervals)
        return Period(" and ".join(p.phrase for p in self.periods), ivs, self.tz)

    @property
    def rec(self) -> Recurrence | None:
        return self.recs[0] if self.recs else None

    def place(self) -> PlaceRef:
        if self.places:
            return self.places[0][1]
        raise _NoPlace()

    def moment(self) -> Moment:
        if self.moments:
            return self.moments[0]
        if self.periods:  # a day without a time: its local noon; a part of a day: its middle
            p = self.periods[0]
            z = te.zone(self.tz)
            local_start = p.start.astimezone(z)
            if local_start.time() == time() and p.hours() >= 23:
                noon = te.localize(datetime.combine(local_start.date(), time(12)), z)
                return Moment(p.phrase, noon, self.tz)
            return Moment(p.phrase, p.start + (p.end - p.start) / 2, self.tz)
        return Moment("now", self.now, self.tz)


class _NoEntity(Exception):
    pass


class _NoPlace(Exception):
    pass


# ------------------------------------------------------------------ forms


@dataclass(frozen=True)
class Form:
    """One supported question form: a pattern over the skeleton and how to build its query."""

    id: str
    title: str
    pattern: str
    build: Callable[[Ctx], Query]
    examples: tuple[str, ...]

    def matches(self, skeleton: str) -> bool:
        return re.search(self.pattern, skeleton) is not None


E = r"xent[a-z]"
P = r"xplc[a-z]"
_WHO = (
    r"(?:who\b|(?:which|what)\s+(?:other\s+)?(?:entit(?:y|ies)|devices?|vehicles?|vans?|cars?|people|persons?"
    r"|users?|trackers?|ones?)\b)"
)


def _n(c: Ctx, default: int) -> int:
    return c.number if c.number is not None else default


def _stats(*measures: Measure) -> Callable[[Ctx], Query]:
    def build(c: Ctx) -> Query:
        return Stats(c.entity, c.period, tuple(measures), c.rec)

    return build


_FROM = (
    "from",
    "between",
    "leave",
    "leaves",
    "left",
    "leaving",
    "depart",
    "departed",
    "departs",
    "departing",
    "exit",
    "exits",
    "exited",
    "exiting",
)


def _trips(c: Ctx) -> Query:
    origin = next((r for prep, r in c.places if prep in _FROM), None)
    dest = next((r for prep, r in c.places if prep not in _FROM), None)
    return Trips(c.entity, origin, dest, c.period, c.rec)


def _together(c: Ctx) -> Query:
    if len(c.ents) >= 2:
        return Together(c.ents[0], c.ents[1], c.period)
    if (
        len(c.ents) == 1
        and c.default_entity is not None
        and c.ents[0] != c.default_entity
        and re.search(r"\b(?:i|me|my|we|us)\b", c.question.lower())
    ):
        return Together(c.default_entity, c.ents[0], c.period)
    return Together(c.entity, None, c.period)


def _compare(c: Ctx) -> Query:
    inner_ctx = Ctx(
        c.question,
        re.sub(r"\bcompare[ds]?\b", " ", c.skeleton),
        c.ents,
        [],
        c.moments,
        c.recs,
        c.places,
        c.default_entity,
        c.now,
        c.tz,
        c.number,
    )
    inner = _classify(inner_ctx, skip=("compare",))
    if isinstance(inner, NotUnderstood | Refusal | Compare):
        inner = Stats(c.entity, None, ("distance", "radius_of_gyration", "n_places"), None)
    return Compare(inner, c.periods[0], c.periods[1])


def _where_at(c: Ctx) -> Query:
    return WhereAt(c.entity, c.moment())


def _where_during(c: Ctx) -> Query:
    p = c.period
    assert p is not None
    return WhereDuring(c.entity, p)


_VISIT = r"(?:visit(?:s|ed|ing)?|go(?:es)?\s+to|went\s+to|gone\s+to|been\s+(?:to|at)|come\s+to|came\s+to|stop(?:ped)?\s+at|stay(?:ed)?\s+at|at|to|in|near|around)"
_PLACE_Q = rf"{P}"

FORMS: tuple[Form, ...] = (
    Form(
        "compare",
        "Compare a measure or query between two periods",
        r"\b(?:compare[ds]?|differ\w*|change[ds]?|comparison)\b.*xtimep.*xtimep"
        r"|xtimep.*\b(?:than|vs|versus|compared?|compares|against|or|and)\b.*xtimep",
        _compare,
        (
            "compare van 7's distance in October with September",
            "did I travel more this month than last month?",
            "how many places did van 7 visit last week versus this week?",
        ),
    ),
    Form(
        "together_pair",
        "When two entities were together",
        rf"{E}.*\b(?:with|together|meet|met|meeting|same place|co-?located|cross(?:ed)? paths|overlap\w*|run into|ran into|see|saw|near)\b.*{E}"
        rf"|{E}\s+(?:and|&)\s+{E}.*\b(?:together|meet|met|same place|co-?located|cross(?:ed)? paths|overlap\w*|near each other)\b",
        _together,
        (
            "when was van 7 with device B?",
            "were alice and bob together last week?",
            "did van 7 meet van 9 on the 3rd?",
        ),
    ),
    Form(
        "together_any",
        "Who was with an entity",
        rf"\bwho\b.*\b(?:with|together|meet|met|near|accompan\w*|alongside|next to)\b"
        rf"|\b(?:with|meet|met|near)\s+(?:whom|anyone|anybody|someone|somebody|others?)\b"
        rf"|\b(?:meet|met|meeting|see|saw|seen)\s+(?:any|another|other)\b"
        rf"|\bwho\s+(?:did|does|has)\s+{E}\s+(?:meet|see|spend time with|travel with)",
        _together,
        (
            "who was with device B on the 3rd?",
            "who did van 7 meet yesterday?",
            "was I with anyone last night?",
        ),
    ),
    Form(
        "in_area",
        "Who was at a place",
        rf"^(?:{_WHO})\b.*{P}|\b(?:anyone|anybody|someone|somebody|everyone|everybody|any (?:entity|device|vehicle|van)"
        rf"|all (?:entities|devices|vehicles|vans))\b.*{P}"
        rf"|\bwho\b.*\b(?:visit\w*|been|was|were|came|stopped|passed)\b.*{P}",
        lambda c: InArea(c.place(), c.period),
        (
            "who was at the depot yesterday?",
            "which devices were in Potsdam last week?",
            "was anyone near home on Sunday?",
        ),
    ),
    Form(
        "anomalies",
        "Unusual movements of an entity",
        r"\b(?:unusual\w*|anomal\w*|out of the ordinary|strange\w*|odd|weird|irregular\w*|deviat\w*|abnormal\w*"
        r"|unexpected\w*|out of character|different from usual|off routine|outlier\w*)\b"
        r"|\b(?:break|broke|breaking|depart\w*|stray\w*) from (?:\S+ )?(?:routine|usual|normal)\b"
        r"|\b(?:break|breaks|broke|breaking|broken|leave|leaves|left|leaving|abandon\w*)\s+(?:\S+\s+)?"
        r"(?:routine|(?:usual|normal|regular) (?:pattern|routine|habits?)|pattern|habits?)\b"
        r"|\b(?:doesn't|does not|don't|do not|didn't|did not|isn't|is not|aren't|wasn't|never|rarely|seldom)\s+"
        r"(?:normally|usually|typically|ordinarily|generally|often|regularly)\b"
        r"|\b(?:never|not) (?:been|gone|visited) (?:\w+ )?before\b|\b(?:new|unfamiliar) (?:places?|locations?|spots?)\b"
        r"|\b(?:somewhere|anywhere|any place|places?) (?:new|unusual|different)\b",
        lambda c: Anomalies(c.entity, c.period),
        (
            "was there anything unusual about van 7 last week?",
            "any anomalies in my movements this month?",
            "did van 7 deviate from its routine yesterday?",
        ),
    ),
    Form(
        "predict",
        "Where an entity is likely to be at a time",
        r"\b(?:will|predict\w*|forecast\w*|expect\w*|likely|going to be|gonna be|should .*be|probably be|guess\w*"
        r"|best guess|anticipat\w*)\b|\b(?:might|may|could|would)\s+(?:xent\w\s+)?(?:probably\s+)?be\b"
        r"|\bwhere\b.*\bbe\b.*\b(?:tomorrow|next)\b",
        lambda c: Predict(c.entity, c.moment()),
        (
            "where will van 7 be tomorrow at 9?",
            "where is van 7 likely to be on Friday at 10:00?",
            "predict where I will be next Monday morning",
        ),
    ),
    Form(
        "routine",
        "An entity's usual routine",
        r"\b(?:routine\w*|typical (?:day|week|weekday|weekend|morning|evening)|schedule|pattern\w*|habit\w*"
        r"|(?:usual|normal|typical|regular|ordinary) (?:whereabouts|movements?|day|days|week|weekends?)"
        r"|(?:usually|normally|typically|generally) do|daily life|day look like|week look like)\b",
        lambda c: Routine(c.entity, c.rec),
        (
            "what is van 7's routine on weekdays?",
            "what does my typical day look like?",
            "what does van 7 usually do on Tuesday evenings?",
        ),
    ),
    Form(
        "trips_between",
        "Trips from one place to another",
        rf"\bfrom\s+{P}\b.*\bto\s+{P}|\bbetween\s+{P}\s+and\s+{P}",
        _trips,
        (
            "show van 7's trips from the depot to Potsdam",
            "how did I get from home to work yesterday?",
            "trips between home and the lake last month",
        ),
    ),
    Form(
        "first_visit",
        "The first visit to a place",
        rf"\b(?:first|earliest)\b.*{P}|{P}.*\b(?:first|earliest)\b|\bstart(?:ed)? (?:going|visiting|coming)\b.*{P}",
        lambda c: FirstVisit(c.entity, c.place()),
        (
            "when did I first visit the lake?",
            "when was van 7's first visit to the depot?",
            "when did van 7 start going to Potsdam?",
        ),
    ),
    Form(
        "last_visit",
        "The most recent visit to a place",
        rf"\b(?:last|latest|most recent\w*|recently|previous)\b.*{P}|{P}.*\b(?:last|latest|most recently)\b",
        lambda c: LastVisit(c.entity, c.place()),
        (
            "when did I last visit the lake?",
            "when was van 7 last at the depot?",
            "what was my most recent visit to Potsdam?",
        ),
    ),
    Form(
        "time_spent",
        "Time spent at a place",
        rf"\b(?:how long|how much time|how many (?:hours|minutes)|time spent|total time|spend|spent|hours"
        rf"|durations?|length of (?:\w+ )?(?:stays?|visits?))\b.*{P}|(?<!what )\btime (?:at|in|inside) {P}"
        rf"|{P}.*\b(?:how long|time spent|hours)\b",
        lambda c: TimeSpent(c.entity, c.place(), c.period, c.rec),
        (
            "how long did van 7 spend at the depot last week?",
            "how much time did I spend at work in October?",
            "how many hours was I at home on weekends?",
        ),
    ),
    Form(
        "visits_count",
        "How often an entity visited a place",
        rf"\b(?:how often|how many times|how many visits|number of visits|how frequently|frequency"
        rf"|every time|each time|all the times|(?:all|every one of) (?:\w+ )?visits)\b.*{P}"
        rf"|{P}.*\b(?:how often|how many times)\b",
        lambda c: Visits(c.entity, c.place(), c.period, c.rec),
        (
            "how often did van 7 visit the depot this month?",
            "how many times did I go to the lake in 2024?",
            "how many visits to Potsdam did van 7 make?",
        ),
    ),
    Form(
        "n_trips",
        "How many trips",
        r"\bhow many (?:trips|journeys|drives|rides)\b|\bnumber of (?:trips|journeys)\b",
        _stats("n_trips"),
        ("how many trips did van 7 make last week?", "how many journeys did I take in October?"),
    ),
    Form(
        "n_places",
        "Number of distinct places",
        r"\bhow many (?:different |distinct |unique |separate )?(?:places|locations|stops|spots)\b"
        r"|\bnumber of (?:different |distinct |unique )?(?:places|locations)\b",
        _stats("n_places"),
        ("how many places did van 7 visit last week?", "how many different places did I go to in October?"),
    ),
    Form(
        "distance",
        "Distance travelled",
        r"\b(?:how far|distance\w*|km|kilomet\w*|miles?|mileage|how much (?:did|has) .*(?:travel|drive|move|walk)\w*"
        r"|total travel|how much ground|ground (?:did|does|has|have|was)|ground covered|cover(?:ed|s)? (?:\w+ )?ground)\b",
        _stats("distance"),
        (
            "how far did van 7 travel last week?",
            "what distance did I cover in October?",
            "how many km did van 7 drive today?",
        ),
    ),
    Form(
        "gyration",
        "Radius of gyration (how widely an entity ranges)",
        r"\b(?:radius of gyration|gyration|how widely|range of movement|how spread out|how far .*roam\w*|roam\w*|mobility range)\b",
        _stats("radius_of_gyration"),
        ("what is van 7's radius of gyration this month?", "how widely did I roam last year?"),
    ),
    Form(
        "departures",
        "When an entity left a place (its trips from there)",
        rf"\b(?:leave|leaves|leaving|left|depart\w*)\b.*{P}|\b(?:go|goes|went) from {P}",
        _trips,
        (
            "when did van 7 leave the depot on Tuesday?",
            "what time did I leave home this morning?",
        ),
    ),
    Form(
        "arrivals",
        "When an entity got to a place (its trips there)",
        rf"\b(?:arriv\w*|get to|gets to|got to|reach\w*|come to|came to|get|got)\b\s+(?:at\s+|in\s+)?{P}",
        _trips,
        (
            "when did I get to work today?",
            "when did van 7 arrive at the depot yesterday?",
        ),
    ),
    Form(
        "trips",
        "Trips of an entity (optionally to or from a place)",
        r"\b(?:trips?|journeys?|drives?|drove|commut\w*|routes?|roads?|rides?|travel(?:l?ed|s)? (?:to|from)|get to|got to"
        r"|go from|went from|came from|come from|leave|leaves|leaving|left|depart\w*|arriv\w*|way (?:to|home))\b"
        r"|\bhow (?:did|does|do)\b.*\b(?:get|got|go|went|come|came|travel\w*)\b",
        _trips,
        (
            "what trips did van 7 make yesterday?",
            "show my commute to work on weekday mornings",
            "show van 9's journeys last week",
        ),
    ),
    Form(
        "anchors",
        "An entity's anchor places (home and work)",
        r"\b(?:anchors?|anchor places|home and work|work and home|(?<!most )(?<!top )key places|(?<!most )important places"
        r"|home ?base|base of operations)\b|\bwhere\b.*\b(?:based|stationed|headquartered)\b",
        lambda c: Anchors(c.entity, ("home", "work")),
        ("what are van 7's anchors?", "where are my home and work?"),
    ),
    Form(
        "anchors_home",
        "Where an entity lives (its home anchor)",
        rf"\bwhere\b.*\b(?:live[sd]?|living|sleeps?|stays? (?:overnight|at night)|home|reside\w*)\b"
        rf"|{E}(?:'s)? (?:home|house|address|residence)\b|\bhome (?:address|location)\b",
        lambda c: Anchors(c.entity, ("home",)),
        ("where does van 7's driver live?", "where is my home?", "where does device B sleep?"),
    ),
    Form(
        "anchors_nights",
        "Where an entity spends its nights (its home anchor)",
        r"\bwhere\b.*\b(?:spends?|spent|pass(?:es)?)\b.*(?:xtimer|\bnights?\b)",
        lambda c: Anchors(c.entity, ("home",)),
        ("where does van 7 spend the night?", "where do I spend my nights?"),
    ),
    Form(
        "anchors_work",
        "Where an entity works (its work anchor)",
        rf"\bwhere\b.*\b(?:works?|working|job|office|workplace|employ\w*)\b"
        rf"|{E}(?:'s)? (?:work ?place|work (?:location|address)|office|job)\b",
        lambda c: Anchors(c.entity, ("work",)),
        ("where does van 7 work?", "where is my workplace?", "where's alice's office?"),
    ),
    Form(
        "visited",
        "Whether an entity went to a place (its visits there)",
        rf"^(?:did|has|have|was|were|is|am|are)\b.*{P}|\b(?:ever been|ever go|ever went|ever visit\w*)\b.*{P}",
        lambda c: Visits(c.entity, c.place(), c.period, c.rec),
        (
            "did I go to the lake last week?",
            "was van 7 in Potsdam in October?",
            "has van 7 ever been to the depot?",
        ),
    ),
    Form(
        "visits_list",
        "The visits of an entity to a place",
        rf"\b(?:when|which days?|what days?|what times?|list|show|visits?)\b.*{P}",
        lambda c: Visits(c.entity, c.place(), c.period, c.rec),
        (
            "when did van 7 visit the depot?",
            "which days did I go to the lake in March?",
            "list van 7's visits to Potsdam",
        ),
    ),
    Form(
        "stats",
        "A summary of an entity's movement",
        r"\b(?:stats|statistics|summary|summari[sz]e|overview|how much did .* move|movement summary|mobility)\b",
        _stats("distance", "radius_of_gyration", "n_places"),
        ("give me a summary of van 7's movement last month", "stats for van 7 this week"),
    ),
    Form(
        "usual_when",
        "Where an entity usually is (at a time of day, on some days): its routine then",
        r"\bwhere\b.*\b(?:usually|normally|typically|generally|tend to|tends to|most days)\b"
        r"|\b(?:usually|normally|typically|generally)\b.*\bwhere\b",
        lambda c: Routine(c.entity, c.rec),
        (
            "where is bob usually at 10am on weekdays?",
            "where am I normally on Friday evenings?",
            "where does van 7 usually stop on Tuesdays?",
        ),
    ),
    Form(
        "top_places",
        "The places an entity stays at most",
        r"\b(?:usually|normally|typically|regularly|most|often|frequent\w*|favou?rite\w*|top|main|longest|hang(?:s)? out"
        r"|spends? (?:most|a lot|its|his|her|their|my)|stop(?:s|ped)?|park(?:s|ed)?)\b"
        r"|\b(?:which|what)\b(?:\s+\w+)?\s+(?:places?|locations?|spots?|stops?|\w+)\s+(?:did|does|do|has|have)\s+xent\w*\s+(?:visit|go|been|stop|stay)",
        lambda c: TopPlaces(c.entity, c.period, _n(c, 5), c.rec),
        (
            "where does van 7 stop most on Tuesdays?",
            "what are my top 3 places this month?",
            "which church did I visit last week?",
        ),
    ),
    Form(
        "places_list",
        "The places an entity went to in a period",
        r"\b(?:which|what)\s+(?:places?|locations?|spots?)\b|\bwhere (?:all )?(?:did|has|have|does|do)\b.*\b(?:go|goes|gone|been|visit\w*|stop\w*)\b"
        r"|\b(?:go|went|gone|been|travel\w*|drive|drove)\s+(?:anywhere|somewhere|places)\b",
        lambda c: TopPlaces(c.entity, c.period, _n(c, 20), c.rec),
        (
            "what places did van 7 visit yesterday?",
            "where did I go last week?",
            "where has van 7 been since March?",
        ),
    ),
    Form(
        "where_at",
        "Where an entity was at one instant",
        r"\bwhere\b.*xtimem|xtimem.*\bwhere\b|\b(?:location|position|whereabouts)\b.*xtimem"
        r"|\b(?:doing|moving|driving|walking|parked|stopped|staying)\b.*xtimem",
        _where_at,
        ("where was van 7 at 10:00 on Friday?", "where was I yesterday at 3pm?", "where is van 7 right now?"),
    ),
    Form(
        "where_during",
        "Where an entity stayed during a period",
        r"\bwhere\b.*xtimep|xtimep.*\bwhere\b|\b(?:whereabouts|movements?|stays?|locations?)\b.*xtimep",
        _where_during,
        ("where was van 7 yesterday?", "where was I last night?", "van 7's whereabouts on the 3rd"),
    ),
    Form(
        "where_now",
        "Where an entity is now (its last known position)",
        rf"\bwhere(?:'s| is| are| am)\b.*{E}|\b(?:last known|latest|current) (?:location|position)\b|\bwhereabouts\b",
        lambda c: WhereAt(c.entity, Moment("now", c.now, c.tz)),
        ("where is van 7?", "what is van 7's last known position?", "where am I?"),
    ),
)


_RANKING = r"\b(?:most|top|favou?rite\w*|main|longest|frequent\w*|often)\b"


def _one_day_where(c: Ctx) -> bool:
    """ "Where did X go (stop) on <a day>": the stays of that day in order, not a ranking of places."""
    p = c.period
    if p is None or c.rec is not None:
        return False
    # the span with data so far: "this week" on a Wednesday is two and a half days of stays to list
    elapsed = (min(p.end, c.now) - p.start).total_seconds() / 3600 if p.start < c.now else p.hours()
    # "what places did I stop at", "what stops did X make": the stays
    stops = r"\b(?:stop(?:s|ped)?|stay(?:s|ed)?) (?:at|in|over)\b|\bstops (?:did|does|has|have|xent\w)\b"
    asks_rank = _RANKING + r"|\b(?:usually|normally|typically)\b"
    if not re.search(stops, c.skeleton):
        asks_rank += r"|\b(?:which|what)\b"
    return (
        min(p.hours(), elapsed) <= 66
        and re.search(r"\bwhere\b|\bstops\b|" + stops, c.skeleton) is not None
        and re.search(asks_rank, c.skeleton) is None
    )


def _classify(c: Ctx, skip: tuple[str, ...] = ()) -> Query:
    for form in FORMS:
        if form.id in skip or not form.matches(c.skeleton):
            continue
        if form.id == "compare" and len(c.periods) < 2:
            continue
        if (
            form.id in ("together_pair",)
            and len(c.ents) < 2
            and not (len(c.ents) == 1 and c.default_entity is not None and c.ents[0] != c.default_entity)
        ):
            continue
        if form.id in ("where_at",) and not c.moments:
            continue
        if (
            form.id == "together_any"
            and not c.ents
            and re.search(r"\b(?:near|next to|close to|around|by|at|in)\s+(?:the\s+)?xplc", c.skeleton)
            and not re.search(
                r"\b(?:with|together|meet|met|see|saw|seen|accompan\w*|alongside)\b", c.skeleton
            )
        ):
            continue  # "who was near the lake": who was in that area, not who was with someone
        if form.id == "n_trips" and c.places:
            continue  # "how many trips to the gym": the trips there, which count themselves
        if form.id == "usual_when" and re.search(_RANKING, c.skeleton):
            continue
        if form.id in ("top_places", "places_list"):
            if c.moments:  # one instant has no top places: "where did van 7 park at 3pm"
                continue
            if _one_day_where(c):
                return WhereDuring(c.entity, c.period)  # type: ignore[arg-type]
        if (
            form.id == "anchors_work"
            and re.search(r"\b(?:after|before|from|to) (?:work|xplc\w)", c.skeleton)
            and not re.search(r"\bwhere (?:do|does|did) xent\w (?:work|works|worked)\b", c.skeleton)
        ):
            continue
        if form.id == "anchors_nights" and not (
            c.rec is None or (c.rec.windows == (te.PARTS_OF_DAY["night"],) and len(c.rec.days) == 7)
        ):
            continue
        try:
            return form.build(c)
        except _NoPlace:
            continue
        except _NoEntity:
            return NotUnderstood(
                c.question,
                (),
                "it does not name an entity and there is no default one; name one of the known entities",
            )
    return _not_understood(c.question, basis=c.skeleton)


# ------------------------------------------------------------------ suggestions

_STOP = {
    "the",
    "a",
    "an",
    "did",
    "does",
    "do",
    "was",
    "is",
    "on",
    "in",
    "at",
    "to",
    "of",
    "i",
    "my",
    "me",
    "?",
}


def _tokens(s: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9']+", s.lower()) if w not in _STOP}


# names in the examples: not words of a question form
_EXAMPLE_NAMES = {"van", "7", "9", "device", "b", "alice", "alice's", "bob", "van 7's"}


def suggestions(question: str, k: int = 3) -> tuple[str, ...]:
    """The best example of the ``k`` forms whose examples share most words with ``question``
    (Jaccard similarity of word sets, ignoring the names used in the examples and placeholders)."""
    q = {w for w in _tokens(question) if not re.fullmatch(r"x(?:ent|plc|time)[a-z]", w)} - _EXAMPLE_NAMES
    scored: list[tuple[float, int, str]] = []
    for i, form in enumerate(FORMS):
        best, best_ex = -1.0, form.examples[0]
        for ex in form.examples:
            t = _tokens(ex.replace("van 7's", "")) - _EXAMPLE_NAMES
            sim = len(q & t) / len(q | t) if q | t else 0.0
            if sim > best:
                best, best_ex = sim, ex
        scored.append((-best, i, best_ex))
    scored.sort()
    return tuple(ex for _, _, ex in scored[:k])


def _not_understood(question: str, detail: str = "", basis: str | None = None) -> NotUnderstood:
    """``basis``: the text to compare with the examples (the skeleton, so entity names do not count)."""
    return NotUnderstood(
        question,
        suggestions(basis if basis is not None else question),
        detail or "no supported question form matched",
    )


# ------------------------------------------------------------------ stages

_PRONOUNS = r"(?<!give )(?<!show )(?<!tell )(?<!let )\b(?:i|me|my|mine|myself|i've|i'm|i'd|i'll|we|us|our)\b"
_NAME_CHARS = r"[\w'-]"


def _norm(q: str) -> str:
    s = q.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    s = re.sub(r"[?!]+", " ", s)
    s = re.sub(r"\s+", " ", s).strip().lower()
    return re.sub(r"[.,;:]+$", "", s)


def _tok(prefix: str, i: int) -> str:
    return f" {prefix}{chr(ord('a') + min(i, 25))} "


@functools.lru_cache(maxsize=16)
def _name_table(
    entities: tuple[str, ...], aliases: tuple[tuple[str, str], ...]
) -> tuple[dict[str, str], re.Pattern[str] | None]:
    """``lower-cased name or alias -> entity`` and one pattern for all of them (longest first, so the
    longest name wins where several start at the same place), built once per set of names."""
    names: dict[str, str] = {}
    for e in entities:
        names[e.lower()] = e
    for a, e in aliases:
        names[a.lower()] = e
    ordered = sorted((n for n in names if n.strip()), key=lambda n: (-len(n), n))
    if not ordered:
        return names, None
    alts = "|".join(re.escape(n) for n in ordered)
    return names, re.compile(rf"(?<!{_NAME_CHARS})(?P<name>{alts})(?:'s|')?(?!\w)")


def _sub_entities(
    s: str, entities: Sequence[str], aliases: Mapping[str, str], default_entity: str | None
) -> tuple[str, list[str]]:
    names, rx = _name_table(tuple(entities), tuple(aliases.items()))
    found: list[tuple[int, str]] = []
    if rx is not None:

        def mask(m: re.Match[str]) -> str:
            found.append((m.start(), names[m["name"]]))
            return "\x00" * (m.end() - m.start())

        s = rx.sub(mask, s)
    if default_entity is not None:
        for m in re.finditer(_PRONOUNS, s):
            found.append((m.start(), default_entity))
        s = re.sub(_PRONOUNS, lambda m: "\x01" * len(m.group(0)), s)
    found.sort(key=lambda t: (t[1] == default_entity, t[0]))
    ents: list[str] = []
    for _, e in found:
        if e not in ents:
            ents.append(e)
    # one token per run of masked characters, in order
    out: list[str] = []
    i = 0
    k = 0
    pos_to_ent = {p: e for p, e in found}
    while i < len(s):
        if s[i] in "\x00\x01":
            j = i
            while j < len(s) and s[j] == s[i]:
                j += 1
            hit = pos_to_ent.get(i)
            idx = ents.index(hit) if hit is not None else k
            out.append(_tok("xent", idx))
            k += 1
            i = j
        else:
            out.append(s[i])
            i += 1
    return re.sub(r"\s+", " ", "".join(out)).strip(), ents


_FUTURE = (
    r"\b(?:will|going to|gonna|tomorrow|next|likely|expect\w*|predict\w*|forecast\w*|probably|guess\w*|anticipat\w*)\b"
    r"|\b(?:might|may|could|would)\s+(?:xent[a-z]\s+)?be\b"
)
_NUMWORD = r"\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty"
_NUMBER_RX = (
    rf"\b(?:top|best|first)\s+({_NUMWORD})\b|\b({_NUMWORD})\s+(?:most|top|main)\b"
    rf"|\b(?:which|what|the|my|xent[a-z](?:'s)?|its|his|her|their)\s+({_NUMWORD})\s+"
    rf"(?:(?:\w+\s+)?places|locations|spots|stops)\b"
)
# kinds of place a question may name without "the" ("how often does bob go to church")
_PLACE_KINDS = (
    _PLACE_NOUNS + r"|gym|pub|park|beach|hospital|clinic|doctor|dentist|pharmacy|station|airport|mall|pool"
    r"|swimming pool|stadium|cinema|theatre|theater|gas station|petrol station|garage|warehouse|depot|hotel"
    r"|university|college|kindergarten|nursery|playground|lake|forest|woods|factory|port|harbour|harbor"
)
_UNIT_M = {
    "m": 1.0,
    "meter": 1.0,
    "meters": 1.0,
    "metre": 1.0,
    "metres": 1.0,
    "km": 1000.0,
    "kilometer": 1000.0,
    "kilometers": 1000.0,
    "kilometre": 1000.0,
    "kilometres": 1000.0,
    "mile": 1609.344,
    "miles": 1609.344,
}


def parse(
    question: str,
    *,
    entities: Sequence[str],
    aliases: Mapping[str, str] | None = None,
    places: Mapping[str, Any] | None = None,
    towns: TownLookup | None = None,
    now: datetime,
    tz: str,
    default_entity: str | None = None,
) -> Query:
    """Read ``question`` into a typed query.

    ``entities`` are the known entity names and ``aliases`` maps other names to them (matched
    case-insensitively, longest first); "I", "me" and "my" mean ``default_entity``. ``places`` maps
    the names of named places (the values are not used here); ``towns(name)`` returns the canonical
    town name (or a truthy value) when the gazetteer knows ``name``. Times resolve against ``now``
    (aware) in the zone ``tz``. Never raises for an unreadable question: it becomes
    :class:`NotUnderstood`; a question that asks to profile people becomes :class:`Refusal`.
    """
    if now.tzinfo is None:
        raise InputError(f"now={now.isoformat()} has no zone; expected an aware datetime")
    te.zone(tz)
    try:
        return _parse(question, entities, aliases or {}, places, towns, now, tz, default_entity)
    except InputError as exc:  # a value out of range inside the question ("within 0 m", "the 32nd")
        return _not_understood(question, str(exc))


def _parse(
    question: str,
    entities: Sequence[str],
    aliases: Mapping[str, str],
    places: Mapping[str, Any] | None,
    towns: TownLookup | None,
    now: datetime,
    tz: str,
    default_entity: str | None,
) -> Query:
    original = question
    s = _norm(question)
    if not s:
        return NotUnderstood(original, suggestions(""), "the question is empty")
    s, ents = _sub_entities(s, entities, aliases, default_entity)

    # named places first so a place called "Church Lane" is not read as a label
    plc: list[tuple[int, str, PlaceRef]] = []

    def put_place(m: re.Match[str], ref: PlaceRef, text: str) -> str:
        before = text[: m.start()].rstrip().split(" ")
        prep = before[-1] if before else ""
        if prep == "the" and len(before) > 1:
            prep = before[-2]
            before = before[:-1]
        if prep == "of" and len(before) > 1 and before[-2] == "out":  # "out of Amersfoort": an origin
            prep = "from"
        if (
            prep in ("at", "in", "from")
            and len(before) > 1
            and before[-2] in ("starting", "started", "starts", "start")
        ):
            prep = "from"  # "starting at Zeist": an origin
        plc.append((m.start(), prep, ref))
        return text[: m.start()] + " xplcq " + text[m.end() :]

    for name in sorted(places or {}, key=len, reverse=True):
        rx = re.compile(rf"(?<!\w)(?:the\s+)?{re.escape(name.lower())}(?!\w)")
        m = rx.search(s)
        while m is not None:
            s = put_place(m, NamedPlace(name), s)
            m = rx.search(s)

    refused = refusal_reason(s)
    if refused is not None:
        return Refusal(refused[1], refused[0])

    # coordinates and place ids before times (their digits are not clock times)
    rx_near = re.compile(
        r"(?:within|in a radius of|less than|under)\s+(\d+(?:\.\d+)?)\s*(m|meters?|metres?|km|kilomet(?:er|re)s?|miles?)\s+(?:of|from|around)\s+"
    )
    near_marks: list[tuple[int, float]] = []
    for m in list(rx_near.finditer(s)):
        near_marks.append((m.start(), float(m[1]) * _UNIT_M[m[2]]))
    s = rx_near.sub(lambda m: " xnear ", s)
    rx_coord = re.compile(r"(-?\d{1,2}\.\d+)\s*,\s*(-?\d{1,3}\.\d+)")
    m = rx_coord.search(s)
    while m is not None:
        try:
            ref: PlaceRef = Coordinates(float(m[1]), float(m[2]))
        except InputError:
            return _not_understood(original, f"coordinates {m.group(0)} are out of range")
        s = put_place(m, ref, s)
        m = rx_coord.search(s)
    rx_id = re.compile(r"\bplace\s+(?:id\s+)?#?([a-z0-9_:-]*\d[a-z0-9_:-]*)\b")
    m = rx_id.search(s)
    while m is not None:
        s = put_place(m, PlaceId(m[1]), s)
        m = rx_id.search(s)

    number: int | None = None
    mn = re.search(_NUMBER_RX, s)
    if mn:
        w = mn[1] or mn[2] or mn[3]
        number = int(w) if w.isdigit() else te._NUMWORDS.get(w, 5)
        if mn[3]:  # "which 7 places": the number alone becomes "top"
            s = s[: mn.start(3)] + " top " + s[mn.end(3) :]
        else:
            s = s[: mn.start()] + (" top " if mn[1] else " most ") + s[mn.end() :]

    # "how far on a typical Saturday": on Saturdays; "a typical Monday for bob": the routine on Mondays
    typical = (
        r"(?:typical|usual|normal|average|ordinary|regular)\s+"
        r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekday|weekend)s?\b"
    )
    s = re.sub(rf"\bon\s+(?:an?\s+)?{typical}", r"on \1s", s)
    s = re.sub(rf"\b(?:an?\s+)?{typical}", r"typical day on \1s", s)

    # "where is X most Wednesdays": where X usually is on Wednesdays
    s = re.sub(
        r"\b(?:on\s+)?most\s+((?:mon|tues|wednes|thurs|fri|satur|sun|week)days|weekends)\b",
        r"usually on \1",
        s,
    )

    prefer: te.Prefer = "future" if re.search(_FUTURE, s) else "past"
    try:
        found = te.extract(s, now=now, tz=tz, prefer=prefer)
    except InputError as exc:
        return _not_understood(original, str(exc))
    periods: list[Period] = []
    moments: list[Moment] = []
    recs: list[Recurrence] = []
    for tm in reversed(found):
        v = tm.value
        if isinstance(v, Period):
            periods.insert(0, v)
            tok = " xtimep "
        elif isinstance(v, Moment):
            moments.insert(0, v)
            tok = " xtimem "
        else:
            recs.insert(0, v)
            tok = " xtimer "
        s = s[: tm.start] + tok + s[tm.end :]

    # "usually at 10am (on weekdays)": the clock time is a window of the recurrence, not an instant
    if moments and re.search(r"\b(?:usually|normally|typically|generally|tend to|tends to|most days)\b", s):
        m0 = moments[0]
        if m0.tz == tz and re.fullmatch(r"at\s+\S+(?:\s*(?:am|pm))?", m0.phrase):
            local = m0.at.astimezone(te.zone(tz))
            a = local.hour * 60 + local.minute
            win = ((a, min(a + 60, 1440)),)
            base = recs[0] if recs else None
            days = base.days if base is not None else tuple(range(7))
            phrase = (base.phrase + " " if base is not None else "") + m0.phrase
            recs = [Recurrence(phrase, days, win, tz), *recs[1:]]
            moments = moments[1:]
            s = s.replace(" xtimem ", " xtimer ", 1) if base is None else s.replace(" xtimem ", " ", 1)

    # home / work ("where is my home" / "where does X work" ask for the anchor itself: no reference)
    asks_anchor = (
        re.match(
            r"^(?:where|what(?:'s| is| are| was)|which is|show|list|find|tell me|(?:home|work)\b"
            r"|(?:which|what) (?:place|location|address|one) (?:is|was|are)\b)",
            s,
        )
        is not None
    )
    for anchor_rx, anchor in (
        (r"\b(?:home|my place|my house|(?:his|her|their|its) house)\b", "home"),
        (r"\b(?:work|the office|office|workplace|work place|my job)\b", "work"),
    ):
        pos = 0
        while (m := re.compile(anchor_rx).search(s, pos)) is not None:
            prefix = s[: m.start()].rstrip()
            if asks_anchor and not re.search(
                r"\b(?:to|from|at|near|around|leave|left|leaving|arriv\w*|reach\w*|between|trips?|journeys?"
                r"|drives?|drove|rides?|way|commute|walk(?:ed)?|head(?:ed|ing)?|went|go(?:es|ing)?|come|came"
                r"|back|return(?:ed)?)$",
                prefix,
            ):
                pos = m.end()
                continue
            s = put_place(m, AnchorRef(anchor), s)  # type: ignore[arg-type]

    # towns of the gazetteer: after a preposition, up to three words
    if towns is not None:
        rx_town = re.compile(
            r"\b(?:to|from|in|at|near|around|visit(?:ed|ing)?|through|of|reach(?:ed)?|between"
            r"|leav(?:e|es|ing)|left|depart(?:s|ed|ing)?|exit(?:s|ed|ing)?)\s+"
            r"([a-z][a-z'-]*(?:\s+[a-z][a-z'-]*){0,2})"
        )
        pos = 0
        while True:
            m = rx_town.search(s, pos)
            if m is None:
                break
            words = m[1].split()
            hit = None
            for k in range(len(words), 0, -1):
                cand = " ".join(words[:k])
                if cand.startswith(("xent", "xtime", "xplc", "xnear", "the ")) or cand in _STOP:
                    continue
                canon = towns(cand)
                if canon:
                    hit = (cand, canon if isinstance(canon, str) else cand.title())
                    break
            if hit is None:
                pos = m.start(1)
                continue
            start = m.start(1)
            mm = re.compile(re.escape(hit[0])).match(s, start)
            assert mm is not None
            s = put_place(mm, Town(hit[1]), s)
            pos = start

    # a place the question needs but nobody knows: the noun phrase after a visit verb
    if not plc:
        m = re.search(
            r"\b(?:visit(?:ed|s)?|go(?:ne)? to|went to|been to|been at|get to|got to|at|to)\s+(the\s+(?!x(?:ent|time|plc|near))[a-z][a-z'-]*(?:\s+(?!x(?:ent|time|plc|near)|on\b|in\b|at\b|last\b|this\b|since\b|during\b|and\b|with\b|when\b)[a-z][a-z'-]*)?)(?=\s|$)",
            s,
        )
        if m and not re.search(r"\bx(?:ent|time|plc)", m[1]):
            name = re.split(r"\s+(?:on|in|at|last|this|since|during|yesterday|today|and|with)\b", m[1])[0]
            name = re.sub(r"^the\s+", "", name).strip()
            if name and not name.startswith(("same", "most", "moment", "way")):
                mm = re.compile(rf"the\s+{re.escape(name)}").search(s, m.start(1))
                if mm is not None:
                    s = put_place(mm, NamedPlace(name), s)
    # a kind of place without "the": "visit a church", "go to church", "at a gym"
    if not plc:
        m = re.search(
            r"\b(?:visit(?:s|ed|ing)?|go(?:es|ing)?\s+to|went\s+to|gone\s+to|been\s+(?:to|at|in)|at|to|in)\s+"
            rf"(?P<ref>(?:an?\s+)?(?P<kind>{_PLACE_KINDS}))\b",
            s,
        )
        if m is not None:
            mm = re.compile(re.escape(m["ref"])).search(s, m.start("ref"))
            assert mm is not None
            s = put_place(mm, NamedPlace(m["kind"]), s)

    # apply "within N m of <ref>" to the reference that follows it
    plc.sort(key=lambda t: t[0])
    refs: list[tuple[str, PlaceRef]] = []
    for _start, prep, ref in plc:
        refs.append((prep, ref))
    near_tokens = [m.start() for m in re.finditer(r"xnear", s)]
    if near_tokens and refs:
        # the place after each xnear becomes Near(ref, radius)
        plc_positions = [m.start() for m in re.finditer(r"xplc[a-z]", s)]
        radii = [r for _, r in sorted(near_marks)]
        new: list[tuple[str, PlaceRef]] = []
        for i, (prep, ref) in enumerate(refs):
            p = plc_positions[i] if i < len(plc_positions) else -1
            prior = [t for t in near_tokens if t < p and re.fullmatch(r"\s*(?:the\s+)?", s[t + 5 : p])]
            if prior:
                k = near_tokens.index(prior[-1])
                new.append(("near", Near(ref, radii[min(k, len(radii) - 1)])))
            else:
                new.append((prep, ref))
        refs = new
    elif re.search(r"\b(?:near|around|close to|nearby)\s+xplc", s):
        new = []
        for i, (prep, ref) in enumerate(refs):
            new.append(
                ("near", Near(ref, 500.0))
                if prep in ("near", "around", "to")
                and re.search(r"\b(?:near|around|close to|nearby)\s+xplc", s)
                and i == 0
                else (prep, ref)
            )
        refs = new
    s = re.sub(r"\s+", " ", s).strip()
    c = Ctx(original, s, ents, periods, moments, recs, refs, default_entity, now, tz, number)
    if (
        not ents
        and default_entity is None
        and not re.search(r"\b(?:who|which|anyone|anybody|someone|somebody|everyone|everybody)\b", s)
    ):
        nu = _classify(c)
        if isinstance(nu, InArea):
            return nu
        return NotUnderstood(
            original,
            suggestions(original),
            f"it names no known entity; name one of: {', '.join(list(entities)[:10]) or '(none imported)'}",
        )
    return _classify(c)
