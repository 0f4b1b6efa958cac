"""Co-presence scored against the simulator's truth."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from hereabouts.evaluate.copresence import score_copresence, true_copresence
from hereabouts.sim import simulate

T0 = datetime(2025, 3, 3, 8, tzinfo=UTC)


def _truth(rows: list[tuple[str, str, float, float, int, int]]) -> pa.Table:
    return pa.table(
        {
            "agent": [r[0] for r in rows],
            "place_id": [r[1] for r in rows],
            "lat": [r[2] for r in rows],
            "lon": [r[3] for r in rows],
            "start": pa.array([T0 + timedelta(minutes=r[4]) for r in rows], pa.timestamp("us", tz="UTC")),
            "end": pa.array([T0 + timedelta(minutes=r[5]) for r in rows], pa.timestamp("us", tz="UTC")),
        }
    )


def test_true_copresence_pairs_overlapping_stays_at_nearby_places() -> None:
    truth = _truth(
        [
            ("a", "p1", 52.0, 5.0, 0, 60),
            ("b", "p1", 52.0, 5.0, 30, 90),  # a and b: 30 min at p1
            ("c", "p2", 52.0002, 5.0, 40, 120),  # p2 is 22 m from p1: with a 10 min, with b 50 min
            ("d", "p3", 52.01, 5.0, 0, 120),  # 1.1 km away: nobody
            ("a", "p1", 52.0, 5.0, 100, 105),  # 5 min with c: too short
        ]
    )
    got = true_copresence(truth, radius_m=50.0, min_duration_s=600.0)
    us = 60_000_000
    t0 = int(T0.timestamp() * 1e6)
    assert got[("a", "b")] == [(t0 + 30 * us, t0 + 60 * us, "p1")]
    assert got[("a", "c")] == [(t0 + 40 * us, t0 + 60 * us, "p1")]
    assert got[("b", "c")] == [(t0 + 40 * us, t0 + 90 * us, "p1")]
    assert not any("d" in k for k in got)
    assert set(true_copresence(truth, radius_m=10.0)) == {("a", "b")}


@pytest.fixture(scope="module")
def scores() -> dict[str, float]:
    sim = simulate(agents=30, days=4, seed=5, profile="gps-1min")
    return score_copresence(sim)


@pytest.mark.slow
def test_scores_on_a_small_town(scores: dict[str, float]) -> None:
    for k in (
        "copresence.episode_precision",
        "copresence.episode_recall",
        "copresence.false_ties_per_stranger_pair_month",
        "copresence.tie_precision",
        "copresence.tie_recall",
        "copresence.tie_recall_no_cell",
        "copresence.tie_recall_gps",
    ):
        assert k in scores
    assert scores["copresence.n_true"] > 50
    # minute-by-minute GPS: episodes are right and most true co-presence is found
    assert scores["copresence.episode_precision"] > 0.9
    assert scores["copresence.episode_recall"] > 0.6
    assert scores["copresence.episode_recall_gps"] == scores["copresence.episode_recall"]
    assert 0.0 <= scores["copresence.false_ties_per_stranger_pair_month"] < 0.01
    n = scores["copresence.n_stranger_pairs"]
    assert 0 < n < 30 * 29 / 2
    for k in ("copresence.tie_precision", "copresence.tie_recall"):
        assert math.isnan(scores[k]) or 0.0 <= scores[k] <= 1.0


def test_a_simulated_folder_scores_like_the_simulation(tmp_path: Path) -> None:
    from hereabouts.evaluate.copresence import load_folder
    from hereabouts.model.errors import InputError

    sim = simulate(agents=8, days=2, seed=2, profile="gps-1min", out=tmp_path / "town")
    a = score_copresence(sim)
    b = score_copresence(load_folder(tmp_path / "town"))
    details: dict[str, float] = {}
    c = score_copresence(tmp_path / "town", details=details)
    assert c.keys() == b.keys() and details["radius_m"] == 50.0 and details["alpha"] == 0.1
    assert all(c[k] == b[k] or (math.isnan(c[k]) and math.isnan(b[k])) for k in b)
    assert a["copresence.n_true"] == b["copresence.n_true"] > 0
    assert a["copresence.n_detected"] == b["copresence.n_detected"]
    with pytest.raises(InputError, match=r"fixes\.parquet"):
        load_folder(tmp_path)
