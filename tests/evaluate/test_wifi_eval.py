"""Wi-Fi positioning scored against the simulator's truth."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from hereabouts.evaluate.wifi import GOAL_RATIO_TO_PLACEMENT, score_wifi, true_positions_from_folder
from hereabouts.model.errors import InputError
from hereabouts.sim import Simulation, simulate


@pytest.fixture(scope="module")
def gps_wifi(tmp_path_factory: pytest.TempPathFactory) -> tuple[Simulation, Path]:
    out = tmp_path_factory.mktemp("gps-wifi")
    return simulate(agents=6, days=4, seed=3, profile="gps-wifi", out=out), out


def test_positioning_meets_the_goal_on_a_small_town(gps_wifi: tuple[Simulation, Path]) -> None:
    sim, _ = gps_wifi
    details: dict[str, object] = {}
    m = score_wifi(sim, details=details)
    assert m["wifi.n_scans"] > 1000
    assert m["wifi.coverage"] > 0.9
    assert m["wifi.placement_error_median_m"] == pytest.approx(
        float(np.median(sim.true_access_points.column("placement_error_m").to_numpy()))
    )
    assert m["wifi.ratio_to_placement"] <= GOAL_RATIO_TO_PLACEMENT, m
    assert m["wifi.error_median_m"] <= m["wifi.error_p90_m"]
    assert m["wifi.ratio_to_placement"] == pytest.approx(
        m["wifi.error_median_m"] / m["wifi.placement_error_median_m"]
    )
    # learned access points are where their users are: about as far from the true ones as placement
    assert m["wifi.ap_error_median_m"] < 3 * m["wifi.placement_error_median_m"]
    assert 0.5 < m["wifi.ap_usable_share"] <= 1.0
    assert m["wifi.ap_usable_error_median_m"] < 3 * m["wifi.placement_error_median_m"]
    assert 0.5 < m["wifi.ap_learned_share"] <= 1.0
    # the positioning step alone, from the true access-point positions
    assert m["wifi.true_table.coverage"] == 1.0
    assert m["wifi.true_table.error_median_m"] < 2 * m["wifi.placement_error_median_m"]
    assert details["scan_devices_by_profile"] == {"gps-wifi": sim.devices.num_rows}
    # scans during true stays and on the way are scored apart; cars are neither
    assert 0.5 < m["wifi.stay.share"] < 1.0 and 0.0 < m["wifi.trip.share"] < 0.2
    assert m["wifi.stay.error_median_m"] <= m["wifi.trip.error_median_m"]
    # positioned scans feed stays like any other fix
    assert m["wifi.stays.f1"] > 0.6 and m["wifi.stays.f1_gps"] > 0.8


def test_a_folder_scores_like_the_simulation(gps_wifi: tuple[Simulation, Path]) -> None:
    sim, out = gps_wifi
    pos = true_positions_from_folder(out)
    phones = sim.devices.filter(pc.equal(sim.devices.column("kind"), "phone")).column("device").to_pylist()
    t = np.linspace(
        sim.scans.column("t").cast("int64").to_numpy().min(),
        sim.scans.column("t").cast("int64").to_numpy().max(),
        500,
    ).astype(np.int64)
    for dev in phones[:3]:
        a = pos(dev, t)
        b = sim.true_position(dev, t)
        assert np.allclose(a[0], b[0], atol=2e-6) and np.allclose(a[1], b[1], atol=2e-6)
    m = score_wifi(out)
    assert m["wifi.ratio_to_placement"] <= GOAL_RATIO_TO_PLACEMENT
    assert m["wifi.coverage"] > 0.9
    with pytest.raises(InputError, match="not a simulated folder"):
        score_wifi(out / "truth")


def test_without_gps_scans_nothing_is_learned_but_the_true_table_still_scores() -> None:
    sim = simulate(agents=4, days=2, seed=4, profile="wifi")  # Wi-Fi fixes only: nothing to learn from
    m = score_wifi(sim)
    assert m["wifi.coverage"] == 0.0 and math.isnan(m["wifi.error_median_m"])
    assert m["wifi.true_table.coverage"] == 1.0
    assert m["wifi.true_table.error_median_m"] < 3 * m["wifi.placement_error_median_m"]


def test_scans_away_from_where_the_table_was_taught_are_scored_apart(
    gps_wifi: tuple[Simulation, Path],
) -> None:
    """``wifi.unvisited.*``: the scans whose carrier stood more than 30 m from every teaching fix of
    the learning fold (free of the simulator's people-at-the-centroid artefact); in a gps-wifi town
    the teaching phones stand everywhere the scans are taken, so there are few or none."""
    sim, _ = gps_wifi
    m = score_wifi(sim)
    assert 0.0 <= m["wifi.unvisited.share"] < 0.2
    if m["wifi.unvisited.share"] > 0:
        assert m["wifi.unvisited.error_median_m"] <= m["wifi.unvisited.error_p90_m"]
        assert m["wifi.unvisited.ratio_to_placement"] == pytest.approx(
            m["wifi.unvisited.error_median_m"] / m["wifi.placement_error_median_m"]
        )
    else:
        assert math.isnan(m["wifi.unvisited.error_median_m"])


def test_pairing_by_person_scores_too(gps_wifi: tuple[Simulation, Path]) -> None:
    sim, _ = gps_wifi
    m = score_wifi(sim, pair_by="entity")
    assert m["wifi.coverage"] > 0.9 and m["wifi.ratio_to_placement"] <= GOAL_RATIO_TO_PLACEMENT
    assert m["wifi.stays.f1"] > 0.6
