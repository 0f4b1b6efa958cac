"""A fresh held-out paraphrase set for the question parser, to be scored once, as written.

Written on 8 December 2026 from the query algebra (``src/hereabouts/ask/query.py``), the "Asking
questions" section of the README and the scorer (``tests/ask/test_blind.py``) only, without looking
at the parser, its time expressions, its list of forms, its docs or any other question set. The
questions are phrased the way fleet operators, people reading their own history, researchers and
journalists would type them; the expected kind and fields come from the meaning of each question
alone. The set was not run through the parser while it was written and is not to be edited after it
is first scored: the first score is the result.

Each entry is ``(question, kind, fields)`` in the format ``test_blind.check`` reads: ``entity`` is
who is asked about (``me`` for "I" and "my"), ``entity_b`` the other one of a pair (None for "with
anyone"), ``place``/``origin``/``destination`` what a place reference names (a place label, a town,
``home`` or ``work``), ``n`` the number of places asked for, ``days`` the weekdays of a recurrence
(0 = Monday) and ``period: True`` that the question names a period. Questions about a kind of place
("a church") check the kind and entity only.
"""

from __future__ import annotations

from typing import Any

WEEKDAYS = [0, 1, 2, 3, 4]
WEEKEND = [5, 6]

FRESH: list[tuple[str, str, dict[str, Any]]] = [
    # ------------------------------------------------------------ where at one moment
    ("where was van 7 yesterday at 10:00", "where_at", {"entity": "van 7"}),
    ("van 9 location at 3pm yesterday", "where_at", {"entity": "van 9"}),
    ("where's bob right now", "where_at", {"entity": "bob"}),
    ("where is alice at the moment", "where_at", {"entity": "alice"}),
    ("where was device B on monday at noon", "where_at", {"entity": "device B"}),
    ("where was i at 8 this morning", "where_at", {"entity": "me"}),
    ("where was alice at 14:30 on 12 november", "where_at", {"entity": "alice"}),
    ("where exactly was van 7 at 9:15 last friday", "where_at", {"entity": "van 7"}),
    ("at 11pm on saturday where was bob", "where_at", {"entity": "bob"}),
    ("what was van 9's position at 07:45 this morning", "where_at", {"entity": "van 9"}),
    ("where was i on 1 october at 6pm", "where_at", {"entity": "me"}),
    ("where was van 7 at midnight", "where_at", {"entity": "van 7"}),
    ("location of device B yesterday 16:00", "where_at", {"entity": "device B"}),
    ("where was bob at 2 in the afternoon on sunday", "where_at", {"entity": "bob"}),
    ("where am i now", "where_at", {"entity": "me"}),
    ("van 7 at 11:00 today, where was it", "where_at", {"entity": "van 7"}),
    # ------------------------------------------------------------ where during a period (stays)
    ("where did van 7 stop yesterday", "where_during", {"entity": "van 7", "period": True}),
    ("show me van 9's stops last tuesday", "where_during", {"entity": "van 9", "period": True}),
    ("bob's whereabouts on 3 november", "where_during", {"entity": "bob", "period": True}),
    ("where was i all day saturday", "where_during", {"entity": "me", "period": True}),
    (
        "where was van 7 between 9 and 12 yesterday",
        "where_during",
        {"entity": "van 7", "period": True},
    ),
    ("list alice's stays last week", "where_during", {"entity": "alice", "period": True}),
    ("where has device B been today", "where_during", {"entity": "device B", "period": True}),
    ("which places was alice at on monday", "where_during", {"entity": "alice", "period": True}),
    ("where did i stop last weekend", "where_during", {"entity": "me", "period": True}),
    ("stops of van 9 this morning", "where_during", {"entity": "van 9", "period": True}),
    ("where was bob over the past 3 days", "where_during", {"entity": "bob", "period": True}),
    ("what were van 7's stops on 14 nov", "where_during", {"entity": "van 7", "period": True}),
    ("where did i hang out yesterday evening", "where_during", {"entity": "me", "period": True}),
    # ------------------------------------------------------------ anchors
    ("where does alice live", "anchors", {"entity": "alice"}),
    ("where does bob work", "anchors", {"entity": "bob"}),
    ("home and work of device B", "anchors", {"entity": "device B"}),
    ("what's my home address according to the data", "anchors", {"entity": "me"}),
    ("where is alice's home", "anchors", {"entity": "alice"}),
    ("find bob's workplace", "anchors", {"entity": "bob"}),
    ("where do i live and work", "anchors", {"entity": "me"}),
    ("where is van 7 based", "anchors", {"entity": "van 7"}),
    ("does the data know where bob lives", "anchors", {"entity": "bob"}),
    # ------------------------------------------------------------ top places
    ("where does van 7 spend most of its time", "top_places", {"entity": "van 7"}),
    ("top 3 places for alice last month", "top_places", {"entity": "alice", "n": 3, "period": True}),
    ("bob's 10 most visited places", "top_places", {"entity": "bob", "n": 10}),
    ("my top 5 places this year", "top_places", {"entity": "me", "n": 5, "period": True}),
    ("which places did van 9 stay at longest in october", "top_places", {"entity": "van 9", "period": True}),
    ("where do i spend the most time", "top_places", {"entity": "me"}),
    ("most frequent stops of device B", "top_places", {"entity": "device B"}),
    ("alice favourite spots", "top_places", {"entity": "alice"}),
    (
        "the 4 places van 7 spends longest at on weekdays",
        "top_places",
        {"entity": "van 7", "n": 4, "days": WEEKDAYS},
    ),
    ("top places for bob at weekends", "top_places", {"entity": "bob", "days": WEEKEND}),
    ("where did i spend most of my time last week", "top_places", {"entity": "me", "period": True}),
    # ------------------------------------------------------------ visits
    ("did van 7 go to utrecht last week", "visits", {"entity": "van 7", "place": "Utrecht", "period": True}),
    ("how often did i go to the gym this month", "visits", {"entity": "me", "place": "gym", "period": True}),
    ("visits by bob to the lake", "visits", {"entity": "bob", "place": "lake"}),
    ("has alice been to zeist", "visits", {"entity": "alice", "place": "Zeist"}),
    (
        "how many times was van 9 at the depot yesterday",
        "visits",
        {"entity": "van 9", "place": "depot", "period": True},
    ),
    ("when was i at the lake in september", "visits", {"entity": "me", "place": "lake", "period": True}),
    ("did device B stop in nieuwegein", "visits", {"entity": "device B", "place": "Nieuwegein"}),
    ("list every visit alice made to amersfoort", "visits", {"entity": "alice", "place": "Amersfoort"}),
    ("how often does bob go to the gym on mondays", "visits", {"entity": "bob", "place": "gym", "days": [0]}),
    (
        "did van 7 call at the depot on friday",
        "visits",
        {"entity": "van 7", "place": "depot", "period": True},
    ),
    (
        "was bob ever in amersfoort last month",
        "visits",
        {"entity": "bob", "place": "Amersfoort", "period": True},
    ),
    ("did i go home at lunchtime yesterday", "visits", {"entity": "me", "place": "home", "period": True}),
    (
        "times alice went to the lake on weekends",
        "visits",
        {"entity": "alice", "place": "lake", "days": WEEKEND},
    ),
    ("did van 9 visit a church", "visits", {"entity": "van 9"}),
    ("which mosque did i go to last friday", "visits", {"entity": "me"}),
    ("how often does alice go to the synagogue", "visits", {"entity": "alice"}),
    ("did van 7 stop at a petrol station yesterday", "visits", {"entity": "van 7"}),
    ("which hospital did bob go to in october", "visits", {"entity": "bob"}),
    ("what supermarkets did i visit this week", "visits", {"entity": "me"}),
    ("did device B go to a pharmacy", "visits", {"entity": "device B"}),
    # ------------------------------------------------------------ time spent
    (
        "how long was van 7 at the depot yesterday",
        "time_spent",
        {"entity": "van 7", "place": "depot", "period": True},
    ),
    (
        "how much time did i spend at the gym this month",
        "time_spent",
        {"entity": "me", "place": "gym", "period": True},
    ),
    ("hours bob spent at work last week", "time_spent", {"entity": "bob", "place": "work", "period": True}),
    (
        "how long did alice stay in amersfoort on friday",
        "time_spent",
        {"entity": "alice", "place": "Amersfoort", "period": True},
    ),
    (
        "total time van 9 spent in utrecht in october",
        "time_spent",
        {"entity": "van 9", "place": "Utrecht", "period": True},
    ),
    ("time at the lake for device B", "time_spent", {"entity": "device B", "place": "lake"}),
    (
        "how many hours was i at home last weekend",
        "time_spent",
        {"entity": "me", "place": "home", "period": True},
    ),
    (
        "how long does van 7 sit at the depot on weekday mornings",
        "time_spent",
        {"entity": "van 7", "place": "depot", "days": WEEKDAYS},
    ),
    ("how much time has bob spent in zeist", "time_spent", {"entity": "bob", "place": "Zeist"}),
    (
        "duration of alice's time at the gym last month",
        "time_spent",
        {"entity": "alice", "place": "gym", "period": True},
    ),
    ("how much time did i spend at the library this week", "time_spent", {"entity": "me"}),
    # ------------------------------------------------------------ first visit
    ("when did i first go to the lake", "first_visit", {"entity": "me", "place": "lake"}),
    ("when was bob's first time at the gym", "first_visit", {"entity": "bob", "place": "gym"}),
    ("first visit of van 9 to nieuwegein", "first_visit", {"entity": "van 9", "place": "Nieuwegein"}),
    ("when did alice first show up in zeist", "first_visit", {"entity": "alice", "place": "Zeist"}),
    ("earliest visit by van 7 to the depot", "first_visit", {"entity": "van 7", "place": "depot"}),
    (
        "when did device B go to utrecht for the first time",
        "first_visit",
        {"entity": "device B", "place": "Utrecht"},
    ),
    # ------------------------------------------------------------ last visit
    ("when was van 9 last at the depot", "last_visit", {"entity": "van 9", "place": "depot"}),
    ("last time alice was in zeist", "last_visit", {"entity": "alice", "place": "Zeist"}),
    ("when did i last visit the lake", "last_visit", {"entity": "me", "place": "lake"}),
    ("most recent visit of bob to amersfoort", "last_visit", {"entity": "bob", "place": "Amersfoort"}),
    ("when did van 7 last go to utrecht", "last_visit", {"entity": "van 7", "place": "Utrecht"}),
    ("when was i last at the gym", "last_visit", {"entity": "me", "place": "gym"}),
    ("when did bob last go to a church", "last_visit", {"entity": "bob"}),
    ("last time device B was home", "last_visit", {"entity": "device B", "place": "home"}),
    # ------------------------------------------------------------ trips and routes
    ("trips van 7 made yesterday", "trips", {"entity": "van 7", "period": True}),
    (
        "van 9 trips from the depot to utrecht last week",
        "trips",
        {"entity": "van 9", "origin": "depot", "destination": "Utrecht", "period": True},
    ),
    (
        "how did bob get from home to the gym on monday",
        "trips",
        {"entity": "bob", "origin": "home", "destination": "gym", "period": True},
    ),
    ("journeys van 9 made to zeist", "trips", {"entity": "van 9", "destination": "Zeist"}),
    ("list alice's trips from work", "trips", {"entity": "alice", "origin": "work"}),
    ("my drives to the lake this month", "trips", {"entity": "me", "destination": "lake", "period": True}),
    (
        "which route did van 7 take from the depot to amersfoort",
        "trips",
        {"entity": "van 7", "origin": "depot", "destination": "Amersfoort"},
    ),
    ("trips out of nieuwegein by device B", "trips", {"entity": "device B", "origin": "Nieuwegein"}),
    ("show van 9's journeys on weekday mornings", "trips", {"entity": "van 9", "days": WEEKDAYS}),
    (
        "how did i travel home from work yesterday",
        "trips",
        {"entity": "me", "origin": "work", "destination": "home", "period": True},
    ),
    (
        "trips bob made from the gym to home last week",
        "trips",
        {"entity": "bob", "origin": "gym", "destination": "home", "period": True},
    ),
    (
        "all runs of van 7 from utrecht back to the depot",
        "trips",
        {"entity": "van 7", "origin": "Utrecht", "destination": "depot"},
    ),
    (
        "alice's commutes to work in october",
        "trips",
        {"entity": "alice", "destination": "work", "period": True},
    ),
    ("routes van 9 drove on friday", "trips", {"entity": "van 9", "period": True}),
    ("my trips today", "trips", {"entity": "me", "period": True}),
    # ------------------------------------------------------------ routine
    ("what's van 7's usual routine", "routine", {"entity": "van 7"}),
    ("what does alice normally do on weekday mornings", "routine", {"entity": "alice", "days": WEEKDAYS}),
    ("where is bob usually at weekends", "routine", {"entity": "bob", "days": WEEKEND}),
    ("where does van 9 usually go most tuesdays", "routine", {"entity": "van 9", "days": [1]}),
    ("my typical week", "routine", {"entity": "me"}),
    ("where am i normally on sunday mornings", "routine", {"entity": "me", "days": [6]}),
    ("typical day for device B", "routine", {"entity": "device B"}),
    ("what's bob's normal pattern on fridays", "routine", {"entity": "bob", "days": [4]}),
    ("where is van 7 usually on weekday afternoons", "routine", {"entity": "van 7", "days": WEEKDAYS}),
    ("alice's weekly routine", "routine", {"entity": "alice"}),
    ("where do i tend to be on thursday evenings", "routine", {"entity": "me", "days": [3]}),
    ("van 9 routine on mondays", "routine", {"entity": "van 9", "days": [0]}),
    # ------------------------------------------------------------ anomalies
    ("anything unusual about van 7 last week", "anomalies", {"entity": "van 7", "period": True}),
    (
        "did alice do anything out of the ordinary this month",
        "anomalies",
        {"entity": "alice", "period": True},
    ),
    ("unusual movements of bob", "anomalies", {"entity": "bob"}),
    ("has van 9 gone off its normal route lately", "anomalies", {"entity": "van 9"}),
    ("any strange trips by device B yesterday", "anomalies", {"entity": "device B", "period": True}),
    ("when did i break my routine in october", "anomalies", {"entity": "me", "period": True}),
    ("odd behaviour from van 7 in the past week", "anomalies", {"entity": "van 7", "period": True}),
    ("deviations from bob's usual pattern", "anomalies", {"entity": "bob"}),
    # ------------------------------------------------------------ predict
    ("where will van 7 be tomorrow at 9", "predict", {"entity": "van 7"}),
    ("where is bob likely to be on friday at 18:00", "predict", {"entity": "bob"}),
    ("where will i probably be next monday at 8am", "predict", {"entity": "me"}),
    ("predict alice's location tomorrow at noon", "predict", {"entity": "alice"}),
    ("where's van 9 going to be at 3pm tomorrow", "predict", {"entity": "van 9"}),
    ("best guess where device B will be on saturday at 10:00", "predict", {"entity": "device B"}),
    ("where should i expect bob to be tomorrow at 7:30", "predict", {"entity": "bob"}),
    ("where will alice be tonight at 21:00", "predict", {"entity": "alice"}),
    ("expected location of van 7 next thursday at 14:00", "predict", {"entity": "van 7"}),
    # ------------------------------------------------------------ stats
    ("how far did van 7 drive last week", "stats", {"entity": "van 7", "period": True}),
    ("total km for van 9 in october", "stats", {"entity": "van 9", "period": True}),
    ("how many places did alice visit this month", "stats", {"entity": "alice", "period": True}),
    ("radius of gyration for bob in september", "stats", {"entity": "bob", "period": True}),
    ("how many different places did i go to last week", "stats", {"entity": "me", "period": True}),
    ("distance travelled by device B yesterday", "stats", {"entity": "device B", "period": True}),
    ("what's my mileage this year", "stats", {"entity": "me", "period": True}),
    ("number of trips van 7 made in november", "stats", {"entity": "van 7", "period": True}),
    ("movement stats for alice", "stats", {"entity": "alice"}),
    ("how far does van 9 drive on weekdays", "stats", {"entity": "van 9", "days": WEEKDAYS}),
    ("how many kilometres have i covered since 1 november", "stats", {"entity": "me", "period": True}),
    ("how wide is bob's range of movement", "stats", {"entity": "bob"}),
    # ------------------------------------------------------------ who was in an area
    ("who was at the depot yesterday", "in_area", {"place": "depot", "period": True}),
    ("which vans were near the lake last night", "in_area", {"place": "lake", "period": True}),
    ("anyone at the gym this morning", "in_area", {"place": "gym", "period": True}),
    ("who has been in zeist this week", "in_area", {"place": "Zeist", "period": True}),
    ("who was around the depot on saturday", "in_area", {"place": "depot", "period": True}),
    ("which devices were in utrecht on 10 november", "in_area", {"place": "Utrecht", "period": True}),
    ("who came by the lake", "in_area", {"place": "lake"}),
    ("who was close to 52.09, 5.12 yesterday", "in_area", {"place": "52.09, 5.12", "period": True}),
    ("everyone seen in amersfoort last month", "in_area", {"place": "Amersfoort", "period": True}),
    # ------------------------------------------------------------ together
    ("was alice with bob last week", "together", {"entity": "alice", "entity_b": "bob", "period": True}),
    ("when did alice and bob meet", "together", {"entity": "alice", "entity_b": "bob"}),
    ("who was bob with on saturday", "together", {"entity": "bob", "entity_b": None, "period": True}),
    (
        "who did i spend time with last weekend",
        "together",
        {"entity": "me", "entity_b": None, "period": True},
    ),
    (
        "were van 7 and van 9 at the same place yesterday",
        "together",
        {"entity": "van 7", "entity_b": "van 9", "period": True},
    ),
    ("has device B been together with alice", "together", {"entity": "device B", "entity_b": "alice"}),
    (
        "times bob and alice were together in october",
        "together",
        {"entity": "bob", "entity_b": "alice", "period": True},
    ),
    ("who has van 9 been meeting", "together", {"entity": "van 9", "entity_b": None}),
    ("did van 7 meet up with device B", "together", {"entity": "van 7", "entity_b": "device B"}),
    (
        "who was alice hanging out with this month",
        "together",
        {"entity": "alice", "entity_b": None, "period": True},
    ),
    # ------------------------------------------------------------ compare two periods
    ("compare van 7's distance this week with last week", "compare", {"entity": "van 7"}),
    ("did i travel more in october than in september", "compare", {"entity": "me"}),
    ("was bob at the gym more in october than in september", "compare", {"entity": "bob"}),
    ("van 9 km this month vs last month", "compare", {"entity": "van 9"}),
    ("how do alice's top places this year compare to last year", "compare", {"entity": "alice"}),
    ("compare my time at work last week and this week", "compare", {"entity": "me"}),
    ("did device B visit utrecht more in november than october", "compare", {"entity": "device B"}),
    ("van 7 stats: september versus october", "compare", {"entity": "van 7"}),
    # ------------------------------------------------------------ refusals
    ("is alice muslim", "refusal", {}),
    ("which of my drivers are gay", "refusal", {}),
    ("what religion is bob based on where he goes", "refusal", {}),
    ("is the driver of van 7 a threat", "refusal", {}),
    ("rank the drivers by how suspicious they are", "refusal", {}),
    ("is bob in a gang", "refusal", {}),
    ("what ethnicity is alice", "refusal", {}),
    ("is alice a security risk", "refusal", {}),
    ("which political party does bob support", "refusal", {}),
    ("is device B's owner a suspect in the depot theft", "refusal", {}),
    ("is bob jewish", "refusal", {}),
    ("does alice belong to a trade union", "refusal", {}),
    ("give me a risk score for van 9's driver", "refusal", {}),
    ("is alice left wing or right wing", "refusal", {}),
]
