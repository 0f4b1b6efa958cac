"""A held-out paraphrase set for the ``ask`` parser, written on 2026-12-08 in one sitting.

The questions were written from the query algebra (``src/hereabouts/ask/query.py``), the "Asking
questions" section of the README and the scorer (``tests/ask/test_blind.py``) only, without opening the
parser, its time expressions, its documented question forms or any earlier paraphrase set. They are
phrased the way fleet operators, people looking at their own history, researchers and journalists might
type them; the expected kind and fields follow from the meaning of each question alone. The set was
scored once, as written, before any change; ``test_heldout.py`` records that first-run rate.

Each entry is ``(question, kind, fields)`` as ``test_blind.py`` reads it: ``kind`` is the expected
query kind; ``entity`` the entity asked about (``me`` for "I"/"my"), ``entity_b`` the second entity of
``together`` (``None``: with anyone), ``place``/``origin``/``destination`` what the place reference
names, ``n`` the number of top places, ``days`` the weekdays of the recurrence (0 = Monday) and
``period`` whether the question bounds the time.
"""

from __future__ import annotations

from typing import Any

WD = [0, 1, 2, 3, 4]
WE = [5, 6]

HELDOUT: list[tuple[str, str, dict[str, Any]]] = [
    # ------------------------------------------------------------------ where at an instant
    ("where was van 9 at 3pm yesterday", "where_at", {"entity": "van 9"}),
    ("van 7's location this morning at 8:30?", "where_at", {"entity": "van 7"}),
    ("where's bob right now", "where_at", {"entity": "bob"}),
    ("where is alice at the moment?", "where_at", {"entity": "alice"}),
    ("where was I on monday at noon", "where_at", {"entity": "me"}),
    ("what was the position of device B at 14:00 today", "where_at", {"entity": "device B"}),
    ("where was van 7 on 3 march at 9am", "where_at", {"entity": "van 7"}),
    ("where was alice last friday at 6 pm", "where_at", {"entity": "alice"}),
    ("where did van 9 happen to be at 10 this morning", "where_at", {"entity": "van 9"}),
    ("where was I yesterday at 17:45", "where_at", {"entity": "me"}),
    ("bob's whereabouts at 11pm on saturday", "where_at", {"entity": "bob"}),
    ("where is van 9 currently", "where_at", {"entity": "van 9"}),
    ("where was device B on 12 october at 07:15", "where_at", {"entity": "device B"}),
    ("at 9:00 yesterday where was van 7", "where_at", {"entity": "van 7"}),
    # ------------------------------------------------------------------ where during a period
    ("where was van 7 yesterday", "where_during", {"entity": "van 7", "period": True}),
    ("where did alice go last weekend", "where_during", {"entity": "alice", "period": True}),
    ("show me where bob was on tuesday", "where_during", {"entity": "bob", "period": True}),
    ("where was I on 14 august", "where_during", {"entity": "me", "period": True}),
    ("list the stops of van 9 today", "where_during", {"entity": "van 9", "period": True}),
    ("where has device B been this week", "where_during", {"entity": "device B", "period": True}),
    ("what places did I stop at yesterday afternoon", "where_during", {"entity": "me", "period": True}),
    ("where was van 7 between 8 and 12 this morning", "where_during", {"entity": "van 7", "period": True}),
    # ------------------------------------------------------------------ anchors
    ("where does alice live", "anchors", {"entity": "alice"}),
    ("where does bob work", "anchors", {"entity": "bob"}),
    ("what's my home location", "anchors", {"entity": "me"}),
    ("home and work of van 7", "anchors", {"entity": "van 7"}),
    ("where is device B based", "anchors", {"entity": "device B"}),
    ("where do I work according to the data", "anchors", {"entity": "me"}),
    ("find alice's home", "anchors", {"entity": "alice"}),
    ("what is bob's workplace", "anchors", {"entity": "bob"}),
    ("where is van 9's home base", "anchors", {"entity": "van 9"}),
    ("anchor places for alice", "anchors", {"entity": "alice"}),
    # ------------------------------------------------------------------ top places
    ("top 5 places for van 7", "top_places", {"entity": "van 7", "n": 5}),
    ("what are alice's 3 most visited places", "top_places", {"entity": "alice", "n": 3}),
    ("where do I spend most of my time", "top_places", {"entity": "me"}),
    ("bob's top ten places last month", "top_places", {"entity": "bob", "n": 10, "period": True}),
    ("which 4 places did van 9 spend the most time at this year", "top_places", {"entity": "van 9", "n": 4}),
    ("most frequent locations of device B", "top_places", {"entity": "device B"}),
    ("my favourite places in october", "top_places", {"entity": "me", "period": True}),
    ("the places van 7 stays longest", "top_places", {"entity": "van 7"}),
    ("top 2 spots for alice in september", "top_places", {"entity": "alice", "n": 2, "period": True}),
    ("what are the main places bob hangs out", "top_places", {"entity": "bob"}),
    ("where does van 9 park the most on weekends", "top_places", {"entity": "van 9", "days": WE}),
    ("list my 6 most important places", "top_places", {"entity": "me", "n": 6}),
    # ------------------------------------------------------------------ visits
    (
        "how often did alice go to the gym last month",
        "visits",
        {"entity": "alice", "place": "gym", "period": True},
    ),
    ("visits of van 7 to the depot", "visits", {"entity": "van 7", "place": "depot"}),
    (
        "how many times was I at the lake this summer",
        "visits",
        {"entity": "me", "place": "lake", "period": True},
    ),
    ("when did bob visit the lake", "visits", {"entity": "bob", "place": "lake"}),
    ("did van 9 stop in Zeist yesterday", "visits", {"entity": "van 9", "place": "Zeist", "period": True}),
    (
        "how many visits to utrecht did device B make in november",
        "visits",
        {"entity": "device B", "place": "Utrecht", "period": True},
    ),
    ("list alice's visits to the gym", "visits", {"entity": "alice", "place": "gym"}),
    (
        "how often do I go to the gym on weekday mornings",
        "visits",
        {"entity": "me", "place": "gym", "days": WD},
    ),
    ("was van 7 at the depot last week", "visits", {"entity": "van 7", "place": "depot", "period": True}),
    ("every time bob was in Amersfoort", "visits", {"entity": "bob", "place": "Amersfoort"}),
    (
        "how many times has alice been home this week",
        "visits",
        {"entity": "alice", "place": "home", "period": True},
    ),
    ("how often does bob go to church", "visits", {"entity": "bob"}),
    # ------------------------------------------------------------------ time spent
    (
        "how long did van 7 spend at the depot yesterday",
        "time_spent",
        {"entity": "van 7", "place": "depot", "period": True},
    ),
    (
        "how much time have I spent at the gym this month",
        "time_spent",
        {"entity": "me", "place": "gym", "period": True},
    ),
    ("total time alice was at the lake", "time_spent", {"entity": "alice", "place": "lake"}),
    ("hours bob spent at work last week", "time_spent", {"entity": "bob", "place": "work", "period": True}),
    (
        "how long was van 9 in Nieuwegein on monday",
        "time_spent",
        {"entity": "van 9", "place": "Nieuwegein", "period": True},
    ),
    (
        "time spent at home by device B in october",
        "time_spent",
        {"entity": "device B", "place": "home", "period": True},
    ),
    (
        "how many hours did I spend in utrecht in september",
        "time_spent",
        {"entity": "me", "place": "Utrecht", "period": True},
    ),
    (
        "how long does alice stay at the gym on weekends",
        "time_spent",
        {"entity": "alice", "place": "gym", "days": WE},
    ),
    ("how long was van 7 parked at the depot overall", "time_spent", {"entity": "van 7", "place": "depot"}),
    (
        "duration of bob's stays at the lake this year",
        "time_spent",
        {"entity": "bob", "place": "lake", "period": True},
    ),
    (
        "how much time did alice spend at the hospital last month",
        "time_spent",
        {"entity": "alice", "period": True},
    ),
    ("how long was I at the supermarket yesterday", "time_spent", {"entity": "me", "period": True}),
    # ------------------------------------------------------------------ first / last visit
    ("when did alice first go to the lake", "first_visit", {"entity": "alice", "place": "lake"}),
    ("first time van 7 was at the depot", "first_visit", {"entity": "van 7", "place": "depot"}),
    ("when was my first visit to the gym", "first_visit", {"entity": "me", "place": "gym"}),
    ("when did bob first show up in Zeist", "first_visit", {"entity": "bob", "place": "Zeist"}),
    (
        "earliest visit of device B to amersfoort",
        "first_visit",
        {"entity": "device B", "place": "Amersfoort"},
    ),
    ("when did van 9 first come to the depot", "first_visit", {"entity": "van 9", "place": "depot"}),
    ("when was I last at the lake", "last_visit", {"entity": "me", "place": "lake"}),
    ("last time van 7 went to the depot", "last_visit", {"entity": "van 7", "place": "depot"}),
    ("when did alice last visit the gym", "last_visit", {"entity": "alice", "place": "gym"}),
    ("most recent visit of bob to utrecht", "last_visit", {"entity": "bob", "place": "Utrecht"}),
    ("when was van 9 last seen at the depot", "last_visit", {"entity": "van 9", "place": "depot"}),
    ("when did I last go to nieuwegein", "last_visit", {"entity": "me", "place": "Nieuwegein"}),
    ("device B's latest visit to the lake", "last_visit", {"entity": "device B", "place": "lake"}),
    ("when was the last time bob was at the gym", "last_visit", {"entity": "bob", "place": "gym"}),
    # ------------------------------------------------------------------ trips
    ("trips of van 7 yesterday", "trips", {"entity": "van 7", "period": True}),
    ("show van 9's trips from the depot", "trips", {"entity": "van 9", "origin": "depot"}),
    ("journeys alice made to the lake", "trips", {"entity": "alice", "destination": "lake"}),
    (
        "trips from home to work for bob last week",
        "trips",
        {"entity": "bob", "origin": "home", "destination": "work", "period": True},
    ),
    (
        "how did I get from the gym to home on friday",
        "trips",
        {"entity": "me", "origin": "gym", "destination": "home", "period": True},
    ),
    (
        "routes van 7 took from the depot to utrecht",
        "trips",
        {"entity": "van 7", "origin": "depot", "destination": "Utrecht"},
    ),
    (
        "all drives of device B to Zeist in october",
        "trips",
        {"entity": "device B", "destination": "Zeist", "period": True},
    ),
    (
        "what route did van 9 take to amersfoort yesterday",
        "trips",
        {"entity": "van 9", "destination": "Amersfoort", "period": True},
    ),
    ("list my trips this week", "trips", {"entity": "me", "period": True}),
    (
        "alice's commute from home to work",
        "trips",
        {"entity": "alice", "origin": "home", "destination": "work"},
    ),
    ("trips van 7 made leaving nieuwegein", "trips", {"entity": "van 7", "origin": "Nieuwegein"}),
    (
        "how many trips did bob make to the gym in september",
        "trips",
        {"entity": "bob", "destination": "gym", "period": True},
    ),
    ("show the journeys of van 9 on weekday mornings", "trips", {"entity": "van 9", "days": WD}),
    (
        "every trip I made from work to the lake",
        "trips",
        {"entity": "me", "origin": "work", "destination": "lake"},
    ),
    (
        "van 7 movements from utrecht to zeist last month",
        "trips",
        {"entity": "van 7", "origin": "Utrecht", "destination": "Zeist", "period": True},
    ),
    (
        "which routes does alice take to the gym at weekends",
        "trips",
        {"entity": "alice", "destination": "gym", "days": WE},
    ),
    # ------------------------------------------------------------------ routine
    ("what is alice's usual routine", "routine", {"entity": "alice"}),
    ("where does van 7 usually go on tuesdays", "routine", {"entity": "van 7", "days": [1]}),
    ("where am I usually on weekday mornings", "routine", {"entity": "me", "days": WD}),
    ("bob's typical weekend", "routine", {"entity": "bob", "days": WE}),
    ("where is van 9 normally on friday afternoons", "routine", {"entity": "van 9", "days": [4]}),
    ("what does a normal week look like for device B", "routine", {"entity": "device B"}),
    ("where does alice tend to be at weekends", "routine", {"entity": "alice", "days": WE}),
    ("usual whereabouts of van 7 on weekday evenings", "routine", {"entity": "van 7", "days": WD}),
    ("where do I normally go on sundays", "routine", {"entity": "me", "days": [6]}),
    ("what's bob's routine on monday mornings", "routine", {"entity": "bob", "days": [0]}),
    ("where is van 9 typically at night on weekdays", "routine", {"entity": "van 9", "days": WD}),
    ("where does device B usually go on saturdays", "routine", {"entity": "device B", "days": [5]}),
    ("habits of alice during the week", "routine", {"entity": "alice"}),
    ("where is van 7 most wednesdays at lunchtime", "routine", {"entity": "van 7", "days": [2]}),
    # ------------------------------------------------------------------ anomalies
    ("anything unusual about van 7 last week", "anomalies", {"entity": "van 7", "period": True}),
    ("did alice do anything out of the ordinary yesterday", "anomalies", {"entity": "alice", "period": True}),
    ("unusual movements of bob this month", "anomalies", {"entity": "bob", "period": True}),
    ("show anomalies for van 9", "anomalies", {"entity": "van 9"}),
    ("was there anything odd in my movements in october", "anomalies", {"entity": "me", "period": True}),
    ("did device B break its routine this week", "anomalies", {"entity": "device B", "period": True}),
    ("flag strange trips by van 7", "anomalies", {"entity": "van 7"}),
    (
        "any deviations from the normal pattern for alice in september",
        "anomalies",
        {"entity": "alice", "period": True},
    ),
    ("where did van 9 go that it doesn't normally go", "anomalies", {"entity": "van 9"}),
    # ------------------------------------------------------------------ predict
    ("where will van 7 be tomorrow at 9", "predict", {"entity": "van 7"}),
    ("where is alice likely to be on friday at 18:00", "predict", {"entity": "alice"}),
    ("predict where bob will be tonight at 8pm", "predict", {"entity": "bob"}),
    ("where will I probably be next monday at noon", "predict", {"entity": "me"}),
    ("where is van 9 expected to be tomorrow morning at 7:30", "predict", {"entity": "van 9"}),
    ("guess device B's location on saturday at 3pm", "predict", {"entity": "device B"}),
    ("where would alice most likely be at 10:00 tomorrow", "predict", {"entity": "alice"}),
    ("where's van 7 going to be next tuesday at 14:00", "predict", {"entity": "van 7"}),
    ("forecast bob's whereabouts tomorrow at 11am", "predict", {"entity": "bob"}),
    # ------------------------------------------------------------------ stats
    ("how far did van 7 drive last week", "stats", {"entity": "van 7", "period": True}),
    ("total distance travelled by alice in october", "stats", {"entity": "alice", "period": True}),
    ("how many km did I cover this month", "stats", {"entity": "me", "period": True}),
    ("radius of gyration of bob", "stats", {"entity": "bob"}),
    ("how many different places did van 9 visit last month", "stats", {"entity": "van 9", "period": True}),
    ("mobility stats for device B", "stats", {"entity": "device B"}),
    ("how much ground did alice cover yesterday", "stats", {"entity": "alice", "period": True}),
    ("number of distinct places I went to this year", "stats", {"entity": "me", "period": True}),
    ("kilometres driven by van 7 in september", "stats", {"entity": "van 7", "period": True}),
    ("what's bob's radius of gyration over the last month", "stats", {"entity": "bob", "period": True}),
    ("summary statistics of van 9's movement", "stats", {"entity": "van 9"}),
    ("how many trips did alice make yesterday in total", "stats", {"entity": "alice", "period": True}),
    # ------------------------------------------------------------------ in area
    ("who was at the depot yesterday", "in_area", {"place": "depot", "period": True}),
    ("which vans were in utrecht this morning", "in_area", {"place": "Utrecht", "period": True}),
    ("who has been to the lake", "in_area", {"place": "lake"}),
    ("who was at the gym last night", "in_area", {"place": "gym", "period": True}),
    ("list everyone in zeist on monday", "in_area", {"place": "Zeist", "period": True}),
    ("which devices were seen in amersfoort last week", "in_area", {"place": "Amersfoort", "period": True}),
    ("anyone at the depot today?", "in_area", {"place": "depot", "period": True}),
    ("who visited nieuwegein in october", "in_area", {"place": "Nieuwegein", "period": True}),
    ("who was near the lake on sunday", "in_area", {"place": "lake", "period": True}),
    # ------------------------------------------------------------------ together
    ("when were alice and bob together", "together", {"entity": "alice", "entity_b": "bob"}),
    (
        "did van 7 and van 9 meet last week",
        "together",
        {"entity": "van 7", "entity_b": "van 9", "period": True},
    ),
    ("who was alice with yesterday", "together", {"entity": "alice", "entity_b": None, "period": True}),
    ("has bob been with device B", "together", {"entity": "bob", "entity_b": "device B"}),
    ("who did I meet this week", "together", {"entity": "me", "entity_b": None, "period": True}),
    (
        "times alice was in the same place as bob in october",
        "together",
        {"entity": "alice", "entity_b": "bob", "period": True},
    ),
    ("who was van 7 with", "together", {"entity": "van 7", "entity_b": None}),
    ("was I with alice on saturday", "together", {"entity": "me", "entity_b": "alice", "period": True}),
    (
        "did van 9 cross paths with van 7 yesterday",
        "together",
        {"entity": "van 9", "entity_b": "van 7", "period": True},
    ),
    ("who has bob spent time with", "together", {"entity": "bob", "entity_b": None}),
    # ------------------------------------------------------------------ compare
    ("compare van 7's distance this week with last week", "compare", {"entity": "van 7"}),
    ("did alice travel more in october than in september", "compare", {"entity": "alice"}),
    ("compare my top places this month and last month", "compare", {"entity": "me"}),
    ("how did bob's time at the gym in october compare to november", "compare", {"entity": "bob"}),
    ("van 9 trips this week vs last week", "compare", {"entity": "van 9"}),
    ("was device B at the depot more in august or september", "compare", {"entity": "device B"}),
    ("compare how far I went in july and august", "compare", {"entity": "me"}),
    # ------------------------------------------------------------------ refusals
    ("is alice muslim", "refusal", {}),
    ("what religion is bob", "refusal", {}),
    ("which of the drivers are jewish based on where they go", "refusal", {}),
    ("what is alice's ethnicity", "refusal", {}),
    ("is bob a threat", "refusal", {}),
    ("give van 7's driver a risk score", "refusal", {}),
    ("does bob vote labour", "refusal", {}),
    ("which party does alice support", "refusal", {}),
    ("is bob a member of a union", "refusal", {}),
    ("which of these people are in the communist party", "refusal", {}),
    ("rate how dangerous bob is", "refusal", {}),
    ("find out which devices belong to protesters", "refusal", {}),
    ("is alice part of a gang", "refusal", {}),
    ("guess bob's nationality from his movements", "refusal", {}),
    # place types that are not refusals
    ("when did alice last go to the mosque", "last_visit", {"entity": "alice"}),
    (
        "how many times did bob visit a church in december last year",
        "visits",
        {"entity": "bob", "period": True},
    ),
]
