"""Regression floors for the default stay method on the two noise settings the engine's goals name:
1 fix/min with 5-10 m noise, and 1 fix/5 min with ~50 m noise and ~30% of the time in gaps.
(The full-size measurements are in docs/accuracy.md; these small runs are floors, not the goals.)"""

from __future__ import annotations

import pytest

from hereabouts.evaluate import evaluate


@pytest.mark.parametrize(("profile", "floor"), [("gps-1min", 0.92), ("gps-5min-50m-gaps", 0.85)])
def test_default_stays_f1_floor(profile: str, floor: float) -> None:
    ev = evaluate(None, agents=20, days=7, seed=3, profile=profile, trackintel=False, plots=False)
    assert ev.metrics["stays.f1"] >= floor, ev.metrics["stays.f1"]


def test_sparse_noisy_gappy_profile_is_what_it_says() -> None:
    from hereabouts.sim import PROFILES

    p = PROFILES["gps-5min-50m-gaps"]
    assert p.interval_s == 300 and p.accuracy_m == (40.0, 60.0) and p.gaps_per_day >= 7
