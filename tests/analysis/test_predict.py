"""Tests of hereabouts.analysis.predict: the time-of-week predictor, its evaluation and the Fano bound."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from hereabouts.analysis._geo import haversine_m
from hereabouts.analysis.places import cluster_places
from hereabouts.analysis.predict import (
    PredictionEvaluation,
    Predictor,
    evaluate_predictions,
    fano_bound,
    fit_predictor,
    hourly_sequence,
    lz_entropy_rate,
)
from hereabouts.analysis.stays import detect_stays
from hereabouts.model.errors import InputError, NotFoundError, SchemaError
from hereabouts.sim import simulate

AMS = ZoneInfo("Europe/Amsterdam")
TS = pa.timestamp("us", tz="UTC")
H = 3600

# ---------------------------------------------------------------------------------------------
# the predictability bound


def test_fano_bound_edges_and_round_trip() -> None:
    assert fano_bound(0.0, 7) == 1.0
    assert fano_bound(5.0, 1) == 1.0
    assert fano_bound(3.0, 8) == pytest.approx(1 / 8)  # S = log2 N: no better than a guess
    assert fano_bound(9.0, 8) == pytest.approx(1 / 8)
    for p, n in ((0.7, 10), (0.93, 50), (0.4, 3)):
        s = -p * math.log2(p) - (1 - p) * math.log2(1 - p) + (1 - p) * math.log2(n - 1)
        assert fano_bound(s, n) == pytest.approx(p, abs=1e-9)
    # more entropy, less predictable
    assert fano_bound(0.5, 20) > fano_bound(1.0, 20) > fano_bound(2.0, 20)
    with pytest.raises(InputError, match="entropy_bits"):
        fano_bound(-1.0, 3)


def test_lz_entropy_constant_sequence_is_fully_predictable() -> None:
    s = lz_entropy_rate(["home"] * 800)
    assert s < 0.06
    assert fano_bound(s, 2) > 0.99  # the constant sequence → Π_max = 1
    assert lz_entropy_rate([]) == 0.0 and lz_entropy_rate(["x"]) == 0.0


def test_lz_entropy_periodic_sequence_is_low() -> None:
    seq = (["home"] * 8 + ["work"] * 9 + ["home"] * 7) * 60
    s = lz_entropy_rate(seq)
    assert s < 0.1
    assert fano_bound(s, 2) > 0.98


@pytest.mark.parametrize(("n_symbols", "most"), [(2, 0.55), (4, 0.42)])
def test_lz_entropy_iid_uniform_gives_about_one_over_n(n_symbols: int, most: float) -> None:
    rng = np.random.default_rng(7)
    seq = rng.integers(0, n_symbols, 3000).tolist()
    s = lz_entropy_rate(seq)
    # the estimator converges to log2 N from below (a finite-sample bias: 1.95 bits for N = 4 and
    # 3000 symbols); Fano is steep near log2 N, so Π_max lands a little above 1/N (0.38 for N = 4)
    assert s == pytest.approx(math.log2(n_symbols), rel=0.04)
    assert 1 / n_symbols <= fano_bound(s, n_symbols) < most
    # and an i.i.d. sequence is far less predictable than a periodic one of the same symbols
    periodic = [i % n_symbols for i in range(3000)]
    assert lz_entropy_rate(periodic) < 0.1 * s


# ---------------------------------------------------------------------------------------------
# a hand-made routine


def _routine(weeks: int, *, entity: str = "ann", home: tuple[float, float] = (52.09, 5.10)) -> pa.Table:
    """Home 19:00–08:00 every night; work 09:00–17:00 on weekdays (Amsterdam wall time)."""
    work = (52.10, 5.13)
    rows: list[tuple[str, datetime, datetime, float, float]] = []
    day0 = datetime(2025, 1, 6, tzinfo=AMS)  # a Monday
    for d in range(weeks * 7):
        day = day0 + timedelta(days=d)
        rows.append((entity, day.replace(hour=0), day.replace(hour=8), *home))
        if day.weekday() < 5:
            rows.append((entity, day.replace(hour=9), day.replace(hour=17), *work))
        rows.append((entity, day.replace(hour=19), day.replace(hour=23, minute=59), *home))
    return pa.table(
        {
            "entity": [r[0] for r in rows],
            "start": pa.array([r[1].astimezone(UTC) for r in rows], TS),
            "end": pa.array([r[2].astimezone(UTC) for r in rows], TS),
            "lat": [r[3] for r in rows],
            "lon": [r[4] for r in rows],
        }
    )


def _place_near(places: pa.Table, lat: float, lon: float) -> str:
    d = haversine_m(
        np.asarray(places.column("lat").to_numpy()), np.asarray(places.column("lon").to_numpy()), lat, lon
    )
    return str(places.column("place_id")[int(np.argmin(d))].as_py())


def test_routine_predictions_table_shape_and_meaning() -> None:
    stays = _routine(4)
    places = cluster_places(stays, towns=False)
    home, work = _place_near(places, 52.09, 5.10), _place_near(places, 52.10, 5.13)
    pred = fit_predictor(stays, places, tz="Europe/Amsterdam")
    tue10 = datetime(2025, 2, 4, 10, tzinfo=AMS)
    sat10 = datetime(2025, 2, 8, 10, tzinfo=AMS)
    tue18 = datetime(2025, 2, 4, 18, 30, tzinfo=AMS)
    out = pred.predict("ann", [tue10, sat10, tue18, datetime(2025, 2, 5, 3, tzinfo=AMS)])
    assert out.column_names == [
        "entity",
        "at",
        "place_id",
        "lat",
        "lon",
        "probability",
        "rank",
        "support",
        "tz",
        "method",
    ]
    assert out.num_rows == 4 * 3  # two places and elsewhere for each query
    sums = out.group_by("at").aggregate([("probability", "sum")])
    np.testing.assert_allclose(sums.column("probability_sum").to_numpy(), 1.0, atol=1e-9)
    first = out.filter(pc.equal(out.column("rank"), 1))
    # Saturday 10:00 and 18:30 fall between stays: elsewhere (no place id) is the best answer
    assert first.column("place_id").to_pylist() == [work, None, None, home]
    # elsewhere has no position; places have theirs
    lost = out.filter(pc.is_null(out.column("place_id")))
    assert lost.num_rows == 4 and lost.column("lat").null_count == 4
    assert first.column("lat")[0].as_py() == pytest.approx(52.10, abs=1e-3)
    # four weeks of history behind every hour of the week
    assert set(out.column("support").to_pylist()) == {4.0}
    assert first.column("probability")[0].as_py() > 0.85
    assert out.column("at")[0].as_py() == tue10.astimezone(UTC)
    assert "Europe/Amsterdam (given)" in out.column("method")[0].as_py()
    # ranks are 1..3 in order of probability
    q = out.filter(pc.equal(out.column("at"), pa.scalar(tue10.astimezone(UTC), TS)))
    assert q.column("rank").to_pylist() == [1, 2, 3]
    p = q.column("probability").to_pylist()
    assert p == sorted(p, reverse=True)


def test_naive_times_are_local_wall_time_and_top_limits_rows() -> None:
    stays = _routine(2)
    places = cluster_places(stays, towns=False)
    pred = fit_predictor(stays, places, tz="Europe/Amsterdam")
    naive = pred.predict("ann", datetime(2025, 2, 4, 10), top=1)
    aware = pred.predict("ann", datetime(2025, 2, 4, 9, tzinfo=UTC), top=1)
    assert naive.num_rows == 1
    assert naive.column("at").to_pylist() == aware.column("at").to_pylist()
    assert naive.column("place_id").to_pylist() == aware.column("place_id").to_pylist()


def test_time_zone_defaults_to_the_most_visited_place() -> None:
    stays = _routine(2)
    places = cluster_places(stays, towns=False)
    pred = fit_predictor(stays, places)
    zone, how = pred.tz("ann")
    if how == "timezonefinder":
        assert zone == "Europe/Amsterdam"
    else:
        assert (zone, how) == ("UTC", "utc-fallback")
    # in UTC the same wall-clock query would fall in another hour; with the right zone 10:00 is work
    first = pred.predict("ann", datetime(2025, 2, 4, 10, tzinfo=AMS), top=1)
    assert first.column("lat")[0].as_py() == pytest.approx(52.10, abs=1e-3) or how != "timezonefinder"


def test_recency_weighting_follows_a_house_move() -> None:
    old = _routine(3, home=(52.07, 5.08))
    new = _routine(5, home=(52.11, 5.15))
    cut = datetime(2025, 1, 27, tzinfo=AMS).astimezone(UTC)
    new = new.filter(pc.greater_equal(new.column("start"), pa.scalar(cut, TS)))
    stays = pa.concat_tables([old, new])
    places = cluster_places(stays, towns=False)
    new_home = _place_near(places, 52.11, 5.15)
    old_home = _place_near(places, 52.07, 5.08)
    night = datetime(2025, 2, 12, 3, tzinfo=AMS)
    short = fit_predictor(stays, places, tz="Europe/Amsterdam", half_life_days=5).predict("ann", night)
    assert short.column("place_id")[0].as_py() == new_home
    long_ = fit_predictor(stays, places, tz="Europe/Amsterdam", half_life_days=1e6).predict("ann", night)
    p_old = long_.filter(pc.equal(long_.column("place_id"), old_home)).column("probability")[0].as_py()
    p_old_short = short.filter(pc.equal(short.column("place_id"), old_home)).column("probability")[0].as_py()
    # 3 weeks old vs 2 weeks new: without decay the old home is close behind; with it, far behind
    assert p_old > 0.35 and p_old_short < 0.2 and p_old_short < p_old / 2.5


def test_context_term_raises_the_current_place_for_the_next_hours() -> None:
    stays = _routine(4)
    places = cluster_places(stays, towns=False)
    work = _place_near(places, 52.10, 5.13)
    pred = fit_predictor(stays, places, tz="Europe/Amsterdam")
    seen = datetime(2025, 2, 4, 16, tzinfo=AMS)  # at work at 16:00
    ask = [seen + timedelta(hours=1), seen + timedelta(hours=6)]
    plain = pred.predict("ann", ask)
    ctx = pred.predict("ann", ask, context=(work, seen))

    def p_work(t: pa.Table, i: int) -> float:
        at = pa.scalar(ask[i].astimezone(UTC), TS)
        sel = t.filter(pc.and_(pc.equal(t.column("at"), at), pc.equal(t.column("place_id"), work)))
        return float(sel.column("probability")[0].as_py())

    assert p_work(ctx, 0) > p_work(plain, 0) + 0.05  # 17:00 next to "at work at 16:00"
    assert p_work(ctx, 1) == pytest.approx(p_work(plain, 1))  # beyond the horizon: no effect
    sums = ctx.group_by("at").aggregate([("probability", "sum")]).column("probability_sum").to_numpy()
    np.testing.assert_allclose(sums, 1.0, atol=1e-9)


def test_errors_name_the_problem() -> None:
    stays = _routine(1)
    places = cluster_places(stays, towns=False)
    pred = fit_predictor(stays, places, tz="UTC")
    with pytest.raises(NotFoundError, match="bob"):
        pred.predict("bob", datetime(2025, 1, 7, tzinfo=UTC))
    with pytest.raises(InputError, match="time zone"):
        fit_predictor(stays, places, tz="Mars/Olympus")
    with pytest.raises(InputError, match="half_life_days"):
        fit_predictor(stays, places, half_life_days=0)
    with pytest.raises(SchemaError, match="entity"):
        fit_predictor(stays.drop_columns(["entity"]), places)
    with pytest.raises(InputError, match="folds"):
        evaluate_predictions(stays, places, folds=0)


# ---------------------------------------------------------------------------------------------
# the simulated town


@dataclass(frozen=True)
class Town:
    stays: pa.Table
    places: pa.Table
    agents: pa.Table
    anchors: pa.Table
    predictor: Predictor
    evaluation: PredictionEvaluation


@pytest.fixture(scope="module")
def town() -> Town:
    sim = simulate(agents=20, days=28, seed=3, profile="gps-1min")
    phones = sim.devices.filter(pc.equal(sim.devices.column("kind"), "phone"))
    owner = dict(zip(phones.column("device").to_pylist(), phones.column("agent").to_pylist(), strict=True))
    fixes = sim.fixes.filter(pc.is_in(sim.fixes.column("device"), value_set=phones.column("device")))
    fixes = fixes.append_column("entity", pa.array([owner[d] for d in fixes.column("device").to_pylist()]))
    stays = detect_stays(fixes)
    places = cluster_places(stays, towns=False)
    return Town(
        stays,
        places,
        sim.true_agents,
        sim.true_anchors,
        fit_predictor(stays, places),
        evaluate_predictions(stays, places),
    )


def _anchor(town: Town, agent: str, kind: str) -> tuple[float, float]:
    a = town.anchors.filter(
        pc.and_(
            pc.and_(
                pc.equal(town.anchors.column("agent"), agent), pc.equal(town.anchors.column("kind"), kind)
            ),
            pc.equal(town.anchors.column("primary"), True),
        )
    )
    return float(a.column("lat")[0].as_py()), float(a.column("lon")[0].as_py())


def _agents(town: Town, role: str) -> list[str]:
    a = town.agents
    sel = pc.and_(
        pc.equal(a.column("role"), role),
        pc.and_(pc.invert(a.column("two_homes")), pc.invert(a.column("moves_house"))),
    )
    return [str(x) for x in a.filter(sel).column("agent").to_pylist()]


def test_sim_day_workers_are_at_work_on_tuesday_morning_and_home_at_night(town: Town) -> None:
    workers = _agents(town, "day_worker")
    assert len(workers) >= 4
    tue10 = datetime(2025, 3, 25, 10)  # naive: local wall time of each entity
    tue03 = datetime(2025, 3, 25, 3)
    for agent in workers:
        out = town.predictor.predict(agent, [tue10, tue03], top=1)
        assert town.predictor.tz(agent)[0] in ("Europe/Amsterdam", "UTC")
        lat, lon = out.column("lat").to_pylist(), out.column("lon").to_pylist()
        wlat, wlon = _anchor(town, agent, "work")
        hlat, hlon = _anchor(town, agent, "home")
        assert haversine_m(lat[0], lon[0], wlat, wlon) < 100, agent
        assert haversine_m(lat[1], lon[1], hlat, hlon) < 100, agent
        assert out.column("probability")[0].as_py() > 0.5


def test_sim_probabilities_sum_to_one_for_every_query(town: Town) -> None:
    times = [datetime(2025, 3, 31, tzinfo=UTC) + timedelta(minutes=37 * i) for i in range(40)]
    for agent in town.predictor.entities[:6]:
        out = town.predictor.predict(agent, times)
        sums = out.group_by("at").aggregate([("probability", "sum")]).column("probability_sum").to_numpy()
        assert sums.shape[0] == len(times)
        np.testing.assert_allclose(sums, 1.0, atol=1e-9)
        assert pc.min(out.column("probability")).as_py() > 0


def test_sim_held_out_week_accuracy_beats_baseline_and_is_calibrated(town: Town) -> None:
    ev = town.evaluation
    assert ev.n == 20 * 168  # every hour of the held-out week for every agent
    assert ev.accuracy >= ev.baseline_accuracy + 0.05  # measured: 0.86 vs 0.67
    assert ev.accuracy > 0.75
    assert ev.ece < 0.1  # measured: about 0.05
    rel = ev.reliability
    assert int(pc.sum(rel.column("n")).as_py()) == ev.n
    assert 0 < ev.brier < 0.5 and 0 < ev.log_loss < 1.0
    per = ev.per_entity
    acc = np.asarray(per.column("accuracy").to_numpy())
    base = np.asarray(per.column("baseline_accuracy").to_numpy())
    assert (acc >= base - 0.02).mean() >= 0.9


def test_sim_accuracy_stays_under_the_fano_bound(town: Town) -> None:
    per = town.evaluation.per_entity
    acc = np.asarray(per.column("accuracy").to_numpy())
    pi = np.asarray(per.column("pi_max").to_numpy())
    assert ((pi > 0.5) & (pi < 1.0)).all()
    assert (acc <= pi + 0.03).mean() >= 0.8
    assert town.evaluation.pi_max == pytest.approx(float(pi.mean()))
    # the sequence the bound is computed from: one symbol an hour over the 28 days
    seq = hourly_sequence(town.stays, town.places, "agent-0002")
    assert 26 * 24 <= len(seq) <= 28 * 24
    assert lz_entropy_rate(seq) == pytest.approx(float(per.column("entropy_bits")[1].as_py()))


def test_sim_context_improves_probabilistic_scores(town: Town) -> None:
    ev = evaluate_predictions(town.stays, town.places, context_lag_s=3600)
    assert ev.n == town.evaluation.n
    assert ev.log_loss < town.evaluation.log_loss
    assert ev.brier < town.evaluation.brier


def test_until_cuts_the_history_and_a_regular_routine_is_predicted_exactly() -> None:
    stays = _routine(4)
    places = cluster_places(stays, towns=False)
    cut = datetime(2025, 1, 20, tzinfo=AMS)  # after two weeks
    pred = fit_predictor(stays, places, tz="Europe/Amsterdam", until=cut)
    out = pred.predict("ann", datetime(2025, 1, 21, 10), top=1)
    assert out.column("support").to_pylist() == [2.0]
    ev = evaluate_predictions(stays, places, tz="Europe/Amsterdam", folds=2)
    assert ev.n == 2 * 168
    assert ev.accuracy == 1.0 > ev.baseline_accuracy
    rel = ev.reliability.to_pylist()
    # every answer was right, so the calibration error is the mean shortfall of the top probability
    conf = sum(r["n"] * r["mean_probability"] for r in rel if r["n"]) / ev.n
    assert ev.ece == pytest.approx(1.0 - conf)
    assert all(r["observed_accuracy"] == 1.0 for r in rel if r["n"])
    seq = hourly_sequence(stays, places, "ann")
    assert fano_bound(lz_entropy_rate(seq), len(set(seq))) > 0.9


def test_docstring_examples_run() -> None:
    import doctest

    import hereabouts.analysis.predict as module

    result = doctest.testmod(module)
    assert result.attempted >= 4 and result.failed == 0


def test_first_visits_after_the_burn_in_count_as_elsewhere() -> None:
    stays = _routine(4)
    visit = (datetime(2025, 1, 25, 12, tzinfo=AMS), datetime(2025, 1, 25, 14, tzinfo=AMS))  # week 3, Sat
    one_off = pa.table(
        {
            "entity": ["ann"],
            "start": pa.array([visit[0].astimezone(UTC)], TS),
            "end": pa.array([visit[1].astimezone(UTC)], TS),
            "lat": [52.05],
            "lon": [5.20],
        }
    )
    stays = pa.concat_tables([stays, one_off])
    places = cluster_places(stays, towns=False)
    shop = _place_near(places, 52.05, 5.20)
    sat13 = datetime(2025, 2, 8, 13, tzinfo=AMS)

    def p(novelty: float | None) -> tuple[float, float]:
        pred = fit_predictor(stays, places, tz="Europe/Amsterdam", novelty_burn_in_days=novelty)
        out = pred.predict("ann", sat13)
        prob = dict(
            zip(out.column("place_id").to_pylist(), out.column("probability").to_pylist(), strict=True)
        )
        return prob[shop], prob[None]

    shop_new, away_new = p(7.0)
    shop_old, away_old = p(None)
    assert shop_new < shop_old / 3 and away_new > away_old  # the place stays an outcome, with less weight
    assert p(30.0) == pytest.approx((shop_old, away_old))  # a burn-in longer than the history: no effect
    with pytest.raises(InputError, match="novelty_burn_in_days"):
        fit_predictor(stays, places, novelty_burn_in_days=-1.0)
