from __future__ import annotations

from datetime import date

import pytest

from hereabouts.sim import Simulation, simulate


@pytest.fixture(scope="session")
def small_sim() -> Simulation:
    """20 agents for 7 days, mixed devices."""
    return simulate(agents=20, days=7, seed=11)


@pytest.fixture(scope="session")
def dst_sim() -> Simulation:
    """60 agents for 14 days across the 2025-03-30 change to summer time in Europe/Amsterdam."""
    return simulate(agents=60, days=14, seed=5, start=date(2025, 3, 24), profile="gps-15min")
