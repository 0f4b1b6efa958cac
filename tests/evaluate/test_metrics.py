"""The metrics on hand-made tables whose answers are worked out by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from hereabouts.evaluate import score_stays
from hereabouts.evaluate.metrics import (
    match_nearest,
    match_trips,
    prf,
    score_anchors,
    score_places,
    score_routes,
    score_trips,
)

T0 = datetime(2025, 3, 3, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
LAT, LON = 52.09, 5.12
M_LAT = 1 / 111_195  # degrees of latitude per metre


def h(x: float) -> datetime:
    return T0 + timedelta(hours=x)


def north(m: float) -> float:
    return LAT + m * M_LAT


def test_prf_known_values() -> None:
    assert prf(8, 10, 16) == pytest.approx({"precision": 0.8, "recall": 0.5, "f1": 2 * 0.4 / 1.3})
    assert prf(0, 0, 5) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert prf(3, 3, 3)["f1"] == 1.0


def test_score_stays_counts_and_boundaries() -> None:
    truth = pa.table(
        {
            "agent": ["a", "a", "a", "b"],
            "start": pa.array([h(0), h(2), h(5), h(0)], TS),
            "end": pa.array([h(1), h(4), h(5.05), h(3)], TS),  # the third lasts 3 min: not counted
            "lat": [LAT, north(1000), north(2000), LAT],
            "lon": [LON] * 4,
        }
    )
    detected = pa.table(
        {
            "entity": ["a", "a", "a", "b"],
            "start": pa.array([h(0) + timedelta(seconds=60), h(2.5), h(7), h(0)], TS),
            "end": pa.array([h(1) - timedelta(seconds=120), h(4), h(8), h(3)], TS),
            # right place; right place; nothing true then; right time but 500 m off
            "lat": [LAT, north(1000), LAT, north(500)],
            "lon": [LON] * 4,
        }
    )
    s = score_stays(detected, truth)
    assert (s.n_detected, s.n_true, s.n_matched) == (4, 3, 2)
    assert s.precision == pytest.approx(0.5)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    # start errors 60 s and 1800 s, end errors 120 s and 0 s
    assert s.start_error_median_s == pytest.approx(930.0)
    assert s.end_error_median_s == pytest.approx(60.0)


def test_match_nearest_is_one_to_one_nearest_first() -> None:
    a_lat = np.array([north(0), north(30), north(500)])
    b_lat = np.array([north(20), north(410)])
    pairs = match_nearest(a_lat, np.full(3, LON), b_lat, np.full(2, LON), 100.0)
    # A1 (10 m from B0) wins B0 over A0 (20 m); A2 is 90 m from B1: within
    assert [(i, j) for i, j, _ in pairs] == [(1, 0), (2, 1)]
    assert pairs[0][2] == pytest.approx(10.0, abs=0.05)


def _true_places() -> pa.Table:
    return pa.table(
        {
            "place_id": ["P1", "P2", "P3", "P4"],
            "lat": [LAT, north(1000), north(2000), north(3000)],
            "lon": [LON] * 4,
        }
    )


def test_score_places_precision_recall() -> None:
    true_stays = pa.table(
        {
            "agent": ["a", "a", "a", "b"],
            "place_id": ["P1", "P2", "P3", "P4"],
            "start": pa.array([h(0), h(2), h(4), h(0)], TS),
            # P3 visited for 2 minutes only: not a place the agent must be credited with
            "end": pa.array([h(1), h(3), h(4) + timedelta(minutes=2), h(5)], TS),
        }
    )
    places = pa.table(
        {
            "place_id": ["x1", "x2", "x3", "x4", "y1"],
            "entity": ["a", "a", "a", "a", "b"],
            # 50 m from P1 (match); 150 m from P2 (no); 30 m from P1 too (a duplicate: no); far; P4
            "lat": [north(50), north(1150), north(-30), north(5000), north(3000)],
            "lon": [LON] * 5,
            "confidence": [0.9, 0.8, 0.7, 0.2, 0.95],
        }
    )
    m, (conf, ok) = score_places(places, true_stays, _true_places(), entities={"a"})
    assert m["n_detected"] == 4 and m["n_true"] == 2 and m["n_matched"] == 1
    assert m["precision"] == pytest.approx(0.25)
    assert m["recall"] == pytest.approx(0.5)
    # the nearer detected place (30 m) takes P1, one-to-one
    assert m["distance_median_m"] == pytest.approx(30.0, abs=0.1)
    assert conf.tolist() == [0.9, 0.8, 0.7, 0.2]
    assert ok.tolist() == [False, False, True, False]
    m_all, _ = score_places(places, true_stays, _true_places())
    assert m_all["precision"] == pytest.approx(2 / 5) and m_all["recall"] == pytest.approx(2 / 3)


def _anchor_table(rows: list[dict[str, object]]) -> pa.Table:
    return pa.table(
        {
            "entity": [r["entity"] for r in rows],
            "label": [r["label"] for r in rows],
            "place_id": [None] * len(rows),
            "lat": [r["lat"] for r in rows],
            "lon": [LON] * len(rows),
            "confidence": [r["confidence"] for r in rows],
            "valid_from": pa.array([r.get("valid_from") for r in rows], TS),
            "valid_to": pa.array([r.get("valid_to") for r in rows], TS),
            "evidence": [None] * len(rows),
            "method": ["test"] * len(rows),
            "abstained": [r.get("abstained", False) for r in rows],
        }
    )


def test_score_anchors_top1_abstention_confident_wrong_and_false_work() -> None:
    day = 24.0
    true_anchors = pa.table(
        {
            "agent": ["a", "a", "a", "b", "c", "d"],
            "kind": ["home", "home", "work", "home", "home", "home"],
            "lat": [LAT, north(2000), north(5000), north(800), north(900), north(300)],
            "lon": [LON] * 6,
            # a moves house on day 7
            "valid_from": pa.array([h(0), h(7 * day), h(0), h(0), h(0), h(0)], TS),
            "valid_to": pa.array(
                [h(7 * day), h(14 * day), h(14 * day), h(14 * day), h(14 * day), h(14 * day)], TS
            ),
        }
    )
    anchors = _anchor_table(
        [
            # a: right before the move (60 m off), right after it; work 400 m off (wrong, confident)
            {"entity": "a", "label": "home", "lat": north(60), "confidence": 0.9, "valid_to": h(7 * day)},
            {"entity": "a", "label": "home", "lat": north(2000), "confidence": 0.6, "valid_from": h(7 * day)},
            {
                "entity": "a",
                "label": "home",
                "lat": north(4000),
                "confidence": 0.5,
            },  # open, less sure: not top-1
            {"entity": "a", "label": "work", "lat": north(5400), "confidence": 0.92},
            # b: abstains
            {"entity": "b", "label": "home", "lat": north(800), "confidence": 0.3, "abstained": True},
            # c: wrong but not confident; and a work place though it has none
            {"entity": "c", "label": "home", "lat": north(1500), "confidence": 0.7},
            {"entity": "c", "label": "work", "lat": north(3000), "confidence": 0.7},
            # d: nothing at all
        ]
    )
    m, samples = score_anchors(anchors, true_anchors, ["a", "b", "c", "d"])
    # checks: a×2, b, c, d = 5; right: a×2
    assert m["home.n"] == 5
    assert m["home.top1"] == pytest.approx(2 / 5)
    assert m["home.abstention"] == pytest.approx(2 / 5)  # b abstained, d said nothing
    assert m["home.top1_answered"] == pytest.approx(2 / 3)
    assert m["home.confident_wrong"] == 0.0
    assert samples["home"][0].tolist() == [0.9, 0.6, 0.7]
    assert samples["home"][1].tolist() == [True, True, False]
    assert m["work.n"] == 1
    assert m["work.top1"] == 0.0
    assert m["work.confident_wrong"] == 1.0
    # b, c, d have no work; c was given one
    assert m["work.n_without"] == 3
    assert m["work.false_rate"] == pytest.approx(1 / 3)


def _trips(rows: list[tuple[str, float, float, str, float]], agent_col: str = "entity") -> pa.Table:
    return pa.table(
        {
            agent_col: [r[0] for r in rows],
            "start": pa.array([h(r[1]) for r in rows], TS),
            "end": pa.array([h(r[2]) for r in rows], TS),
            "mode": [r[3] for r in rows],
            "mode_confidence": [r[4] for r in rows],
            "confidence": [r[4] for r in rows],
        }
    )


def test_match_and_score_trips_with_modes() -> None:
    truth = _trips(
        [("a", 1, 2, "car", 0), ("a", 3, 4, "walk", 0), ("a", 5, 6, "transit", 0), ("b", 1, 2, "bike", 0)],
        agent_col="agent",
    )
    detected = _trips(
        [
            ("a", 1.1, 1.9, "vehicle", 0.9),  # car seen as vehicle: right
            ("a", 3.5, 5.4, "walk", 0.8),  # overlaps walk by 0.5 h, transit by 0.4 h: takes walk
            ("a", 7, 8, "bike", 0.5),  # no true trip
            ("b", 1.5, 2.5, "walk", 0.6),  # bike seen as walk: wrong
        ]
    )
    pairs = match_trips(detected, truth)
    assert pairs[0] == (0, 0) and pairs[-1] == (3, 3) and len(pairs) == 3
    m, samples, confusion = score_trips(detected, truth)
    assert m["trips.precision"] == pytest.approx(3 / 4)
    assert m["trips.recall"] == pytest.approx(3 / 4)
    assert m["modes.n"] == 3
    assert samples["trips"][1].tolist() == [True, True, False, True]
    assert confusion["car"] == {"vehicle": 1}
    assert confusion["walk"] == {"walk": 1}
    assert "transit" not in confusion
    assert confusion["bike"] == {"walk": 1}
    assert m["modes.recall.car"] == 1.0 and m["modes.recall.bike"] == 0.0
    assert m["modes.accuracy"] == pytest.approx(2 / 3)
    assert math.isnan(m["modes.recall.transit"])


def test_score_routes_recall_and_precision() -> None:
    true_trips = pa.table(
        {
            "agent": ["a"] * 5 + ["b"] * 2,
            "from_place": ["P1", "P1", "P2", "P1", "P3", "P1", "P1"],
            "to_place": ["P2", "P2", "P1", "P3", "P1", "P4", "P4"],
        }
    )
    # repeated pairs: a P1→P2 (twice), b P1→P4 (twice); the rest once
    places = pa.table(
        {
            "place_id": ["q1", "q2", "q3", "r1", "r4"],
            "lat": [north(20), north(1040), north(2000), LAT, north(3500)],  # r4 is 500 m from P4
            "lon": [LON] * 5,
        }
    )
    routes = pa.table(
        {"entity": ["a", "a", "b"], "from_place": ["q1", "q1", "r1"], "to_place": ["q2", "q3", "r4"]}
    )
    m = score_routes(routes, places, true_trips, _true_places())
    assert m["routes.n_true"] == 2
    assert m["routes.recall"] == pytest.approx(0.5)
    assert m["routes.precision"] == pytest.approx(1 / 3)
    empty = score_routes(routes.slice(0, 0), places, true_trips, _true_places())
    assert empty["routes.recall"] == 0.0 and math.isnan(empty["routes.precision"])
