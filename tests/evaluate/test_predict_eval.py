"""Next-place prediction scoring in ``evaluate``: a perfectly regular agent, a town too short to hold a
week out, and floors on a small simulated town of 14 days (the last 7 held out)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from hereabouts.analysis.predict import _calibrated, fit_predictor
from hereabouts.evaluate import Evaluation, evaluate
from hereabouts.evaluate import calibration as cal
from hereabouts.evaluate.predict import run_predictions, summarize

KEYS = (
    "predict.top1",
    "predict.baseline_top1",
    "predict.brier",
    "predict.ece",
    "predict.fano_bound",
    "predict.fano_bound_distinct",
    "predict.n_queries",
)

HOME = ("p-home", 52.5200, 13.4050)
WORK = ("p-work", 52.5300, 13.3800)
GYM = ("p-gym", 52.5100, 13.4200)


def _regular(days: int) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """One agent: home overnight, work 9-17 on weekdays, the gym 18-19 on Tuesdays; detected stays and
    places equal to the truth (place ids differ, coordinates a few metres apart)."""
    t0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
    rows: list[tuple[datetime, datetime, str]] = []
    cur = t0
    for d in range(days):
        day = t0 + timedelta(days=d)
        plan = []
        if day.weekday() < 5:
            plan.append((day + timedelta(hours=9), day + timedelta(hours=17), WORK[0]))
        if day.weekday() == 1:
            plan.append((day + timedelta(hours=18), day + timedelta(hours=19), GYM[0]))
        for s, e, p in plan:
            rows.append((cur, s - timedelta(minutes=10), HOME[0]))
            rows.append((s, e, p))
            cur = e + timedelta(minutes=10)
    rows.append((cur, t0 + timedelta(days=days), HOME[0]))
    ts = pa.timestamp("us", tz="UTC")
    true_stays = pa.table(
        {
            "agent": ["a1"] * len(rows),
            "start": pa.array([r[0] for r in rows], ts),
            "end": pa.array([r[1] for r in rows], ts),
            "place_id": [r[2] for r in rows],
        }
    )
    true_places = pa.table(
        {"place_id": [p[0] for p in (HOME, WORK, GYM)], "lat": [p[1] for p in (HOME, WORK, GYM)]}
    ).append_column("lon", pa.array([p[2] for p in (HOME, WORK, GYM)]))
    stays = pa.table(
        {
            "entity": ["a1"] * len(rows),
            "start": pa.array([r[0] for r in rows], ts),
            "end": pa.array([r[1] for r in rows], ts),
            "lat": [dict((p[0], p[1]) for p in (HOME, WORK, GYM))[r[2]] + 2e-5 for r in rows],
            "lon": [dict((p[0], p[2]) for p in (HOME, WORK, GYM))[r[2]] for r in rows],
        }
    )
    places = pa.table(
        {
            "place_id": ["d0", "d1", "d2"],
            "entity": ["a1"] * 3,
            "lat": [p[1] + 2e-5 for p in (HOME, WORK, GYM)],
            "lon": [p[2] for p in (HOME, WORK, GYM)],
            "radius_m": [30.0] * 3,
            "extent_m": [30.0] * 3,
        }
    )
    return stays, places, true_stays, true_places


def test_a_regular_agent_is_predicted_almost_always() -> None:
    stays, places, ts, tp = _regular(21)
    run = run_predictions(stays, places, ts, tp, {"a1"})
    assert run.skipped is None and set(run.agents) == {"a1"}
    m, (c, y) = summarize(run, {"a1"})
    assert set(m) == set(KEYS)
    assert m["predict.n_queries"] == 7 * 24 == c.size == y.size
    assert m["predict.top1"] >= 0.97, m
    assert m["predict.baseline_top1"] < m["predict.top1"]
    assert m["predict.brier"] < 0.1
    assert m["predict.fano_bound"] >= 0.9
    assert 0.0 <= m["predict.fano_bound_distinct"] <= 1.0
    assert ((c >= 0) & (c <= 1)).all()


def test_truth_is_the_true_place_not_the_detected_stay() -> None:
    """With the detected places moved 500 m from the truth, no true place matches a detected one: every
    hour's truth is elsewhere, so a predictor naming home and work is wrong nearly every hour."""
    stays, places, ts, tp = _regular(21)
    far = places.set_column(places.schema.get_field_index("lat"), "lat", pa.array([52.0, 52.01, 52.02]))
    far_stays = stays.set_column(
        stays.schema.get_field_index("lat"),
        "lat",
        pa.array(np.asarray(stays.column("lat").to_numpy()) - 0.52 + 0.0),
    )
    run = run_predictions(far_stays, far, ts, tp, {"a1"})
    m, _ = summarize(run, {"a1"})
    assert m["predict.top1"] < 0.2, m


def test_a_town_shorter_than_two_weeks_is_skipped_with_a_reason() -> None:
    stays, places, ts, tp = _regular(10)
    run = run_predictions(stays, places, ts, tp, {"a1"})
    assert run.skipped and "14" in run.skipped and not run.agents
    m, (c, _) = summarize(run, {"a1"})
    assert math.isnan(m["predict.top1"]) and m["predict.n_queries"] == 0 and c.size == 0


def test_calibrated_probabilities_keep_the_ranking_and_sum_to_one() -> None:
    p = np.array([[0.6, 0.3, 0.1], [0.4, 0.35, 0.25], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    squash = cal.CalibrationMap("predict", [0.0, 1.0], [0.2, 0.2])  # every top-1 to 0.2
    with cal.use_maps({"predict": squash}):
        out = _calibrated(p)
    assert np.allclose(out.sum(axis=1), 1.0)
    assert (np.argmax(out, axis=1) == np.argmax(p, axis=1)).all()
    assert out[0, 1] / out[0, 2] == pytest.approx(3.0)  # the rest shared in proportion
    # 0.2 would fall below the rescaled runner-up: the top-1 is held level with it instead
    assert out[1, 0] == pytest.approx(out[1, 1]) and out[1, 0] < 0.4
    with cal.raw_confidences("predict"):
        assert np.array_equal(_calibrated(p), p)
    lift = cal.CalibrationMap("predict", [0.0, 1.0], [0.9, 0.9])
    with cal.use_maps({"predict": lift}):
        out = _calibrated(p)
    assert out[0, 0] == pytest.approx(0.9) and out[0, 1] == pytest.approx(0.1 * 0.75)


def test_the_map_reaches_time_of_week_queries_not_those_with_recent_context() -> None:
    stays, places, _, _ = _regular(21)
    pred = fit_predictor(stays, places, tz="UTC")
    t0 = int(datetime(2025, 3, 20, 10, tzinfo=UTC).timestamp() * 1e6)
    t = np.array([t0, t0 + 6 * 3600 * 10**6], np.int64)
    ctx = (np.array(0, np.int64), np.array(t0 - 3600 * 10**6, np.int64))  # 1 h before the first query only
    squash = cal.CalibrationMap("predict", [0.0, 1.0], [0.5, 0.5])
    with cal.raw_confidences("predict"):
        raw, _, _ = pred.probabilities("a1", t, context=ctx)
    with cal.use_maps({"predict": squash}):
        got, _, _ = pred.probabilities("a1", t, context=ctx)
    assert np.allclose(got[0], raw[0])  # within the context horizon: raw
    assert got[1].max() == pytest.approx(0.5) and raw[1].max() > 0.5  # 6 h later, beyond it: mapped


@pytest.fixture(scope="module")
def town() -> Evaluation:
    return evaluate(None, agents=8, days=14, seed=3, trackintel=False, plots=False, signals=())


#: floors (ceilings for Brier, ECE) a little below (above) what this town measured when they were set
#: (8 agents x 14 days, seed 3, mixed profiles; 4 duty-cycled phones)
PREDICT_FLOORS = {
    "predict.top1": 0.90,  # 0.941
    "predict.baseline_top1": 0.70,  # 0.778
    "predict.top1@duty-cycled": 0.90,  # 0.957
    "predict.fano_bound": 0.90,  # 0.940
    "predict.fano_bound_distinct": 0.55,  # 0.641
}
PREDICT_CEILINGS = {
    "predict.brier": 0.16,  # 0.113
    "predict.ece": 0.10,  # 0.066 (7 days of training only; 0.066 raw too)
    "calibration.ece.predict": 0.10,
}


def test_evaluate_scores_predictions(town: Evaluation) -> None:
    m = town.metrics
    for k in KEYS:
        assert k in m, k
    assert m["predict.n_queries"] >= 7 * 24 * 5
    for k in ("predict.top1", "predict.baseline_top1", "predict.ece", "predict.fano_bound"):
        assert 0.0 <= m[k] <= 1.0, (k, m[k])
    assert 0.0 <= m["predict.brier"] <= 2.0
    assert m["predict.top1"] > m["predict.baseline_top1"]
    low = {k: m[k] for k, f in PREDICT_FLOORS.items() if not m[k] >= f}
    high = {k: m[k] for k, c in PREDICT_CEILINGS.items() if not m[k] <= c}
    assert not low and not high, (low, high)
    # calibration covers the prediction probabilities, per profile too
    assert m["calibration.ece.predict"] == pytest.approx(m["predict.ece"])
    assert m["calibration.ece"] >= m["calibration.ece.predict"]
    assert town.details["calibration"]["predict"]["n"] == m["predict.n_queries"]
    assert town.details["predict"]["available"] is True
    profiles = [p for p, n in town.details["run"]["agents_by_profile"].items() if n]
    assert any(not math.isnan(m.get(f"predict.top1@{p}", math.nan)) for p in profiles)
