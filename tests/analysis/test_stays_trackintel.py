"""detect_stays(method="trackintel") finds exactly the staypoints of the real trackintel 1.4.2.

Needs trackintel (``pip install trackintel==1.4.2``); skipped, and reported as skipped, without it.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # trackintel's dependencies may warn on import
    ti = pytest.importorskip("trackintel")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import _peers

from hereabouts.analysis import detect_stays


def random_fixes(seed: int, n_users: int = 5, per_user: int = 700) -> tuple[np.ndarray, ...]:
    """Users hopping between a few places with noise, trips, gaps, equal times and exact repeats;
    the rows come shuffled."""
    rng = np.random.default_rng(seed)
    users, ts, lats, lons = [], [], [], []
    for u in range(n_users):
        places = rng.uniform(-0.02, 0.02, size=(5, 2)) + np.array([47.37, 8.54])
        t = 1_700_000_000.0
        here = 0
        for _ in range(per_user):
            t += float(rng.choice([0, 20, 60, 60, 60, 120, 300, 1200]))
            if rng.random() < 0.05:
                here = int(rng.integers(5))
            jitter = rng.normal(0, rng.choice([5e-5, 4e-4, 9e-4]), 2)
            if rng.random() < 0.05:
                jitter[:] = 0.0  # exact repeats: duplicates when the time repeats too
            users.append(f"u{u}")
            ts.append(round(t) * 1_000_000)
            lats.append(places[here, 0] + jitter[0])
            lons.append(places[here, 1] + jitter[1])
    order = rng.permutation(len(ts))
    return (
        np.array(users)[order],
        np.array(ts, np.int64)[order],
        np.array(lats)[order],
        np.array(lons)[order],
    )


@pytest.mark.parametrize(
    ("seed", "dist", "time_min", "gap_min", "include_last"),
    [
        (1, 100, 5, 15, False),
        (2, 50, 10, 30, True),
        (3, 200, 3, 5, False),
    ],
)
def test_same_staypoints_as_trackintel(
    seed: int, dist: float, time_min: float, gap_min: float, include_last: bool
) -> None:
    user, t_us, lat, lon = random_fixes(seed)
    theirs = _peers.trackintel_staypoints(
        user,
        t_us,
        lat,
        lon,
        dist_threshold=dist,
        time_threshold=time_min,
        gap_threshold=gap_min,
        include_last=include_last,
    )
    stays = detect_stays(
        _peers.fixes_table(user, t_us, lat, lon),
        method="trackintel",
        radius_m=dist,
        min_duration_s=time_min * 60,
        max_gap_s=gap_min * 60,
        include_last=include_last,
    )
    ours = _peers.hereabouts_frame(stays)
    assert len(theirs) > 50
    assert len(ours) == len(theirs)
    for col in ("user_id", "started_at", "finished_at"):
        np.testing.assert_array_equal(ours[col].to_numpy(), theirs[col].to_numpy())
    # the centre: trackintel's mean of the distinct points (summed in another order)
    np.testing.assert_allclose(ours["lat"], theirs["lat"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["lon"], theirs["lon"], rtol=0, atol=1e-12)
    assert stays.column("n_fixes").to_numpy().min() >= 1


def test_same_staypoints_with_duplicates_kept() -> None:
    user, t_us, lat, lon = random_fixes(4, n_users=3, per_user=500)
    kwargs = {"dist_threshold": 100, "time_threshold": 5, "gap_threshold": 15}
    theirs = _peers.trackintel_staypoints(user, t_us, lat, lon, exclude_duplicate_pfs=False, **kwargs)
    stays = detect_stays(
        _peers.fixes_table(user, t_us, lat, lon), method="trackintel", exclude_duplicates=False
    )
    ours = _peers.hereabouts_frame(stays)
    assert len(ours) == len(theirs) > 20
    for col in ("user_id", "started_at", "finished_at"):
        np.testing.assert_array_equal(ours[col].to_numpy(), theirs[col].to_numpy())


def test_fixes_table_helper_round_trips_times() -> None:
    t = _peers.fixes_table(
        np.array(["a"]), np.array([1_700_000_000_123_456]), np.array([1.0]), np.array([2.0])
    )
    assert t.column("t").type == pa.timestamp("us", tz="UTC")
    assert t.column("t").cast(pa.int64()).to_pylist() == [1_700_000_000_123_456]
