"""Geometry helpers and their kernels against plain-Python references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hereabouts.analysis._geo import (
    EARTH_RADIUS_M,
    douglas_peucker_keep,
    douglas_peucker_reference,
    enu_m,
    frechet_m,
    frechet_reference,
    from_enu,
    from_xyz,
    geohash,
    grouped_quantile,
    haversine_m,
    resample_path,
    segment_bounds,
    to_xyz_m,
)


def test_haversine_known_distances() -> None:
    # Paris – London about 344 km; a degree of latitude about 111.2 km
    assert haversine_m(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343_560, rel=0.002)
    assert haversine_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(math.pi / 180 * EARTH_RADIUS_M)
    # across the antimeridian: 0.002° of longitude at the equator, not 359.998°
    assert haversine_m(0.0, 179.999, 0.0, -179.999) == pytest.approx(222.4, rel=0.01)
    assert haversine_m(np.array([10.0, 20.0]), 5.0, 10.0, 5.0).tolist() == [
        0.0,
        pytest.approx(1_111_950, rel=1e-3),
    ]


@settings(max_examples=50, deadline=None)
@given(st.floats(-89.9, 89.9), st.floats(-180, 179.999), st.floats(-2000, 2000), st.floats(-2000, 2000))
def test_projections_round_trip(lat: float, lon: float, east: float, north: float) -> None:
    la, lo = from_enu(np.array([east]), np.array([north]), lat, lon)
    e, n = enu_m(la, lo, lat, lon)
    assert e[0] == pytest.approx(east, abs=1e-6) and n[0] == pytest.approx(north, abs=1e-6)
    back = from_xyz(to_xyz_m(np.array([lat]), np.array([lon])))
    assert back[0][0] == pytest.approx(lat, abs=1e-9)
    assert (back[1][0] - lon + 180) % 360 - 180 == pytest.approx(0.0, abs=1e-9)
    # the chord between nearby points is the ground distance
    xyz = to_xyz_m(np.array([lat, la[0]]), np.array([lon, lo[0]]))
    chord = float(np.linalg.norm(xyz[0] - xyz[1]))
    assert chord == pytest.approx(float(haversine_m(lat, lon, la[0], lo[0])), rel=1e-6, abs=1e-6)


def test_geohash_known_values() -> None:
    assert geohash(np.array([57.64911]), np.array([10.40744]), 11) == ["u4pruydqqvj"]
    assert geohash(np.array([48.8566, -33.8688]), np.array([2.3522, 151.2093]), 5) == ["u09tv", "r3gx2"]
    assert geohash(np.array([90.0, -90.0]), np.array([180.0, -180.0]), 3) == ["zzz", "000"]


def test_grouped_quantile_and_bounds() -> None:
    rng = np.random.default_rng(0)
    codes = np.sort(rng.integers(0, 5, 200))
    bounds = segment_bounds(codes)
    assert bounds[0] == 0 and bounds[-1] == 200 and (np.diff(bounds) > 0).all()
    values = rng.normal(size=200)
    order = np.lexsort((values, codes))
    got = grouped_quantile(values[order], bounds, 0.9)
    expect = [np.quantile(values[codes == c], 0.9) for c in np.unique(codes)]
    np.testing.assert_allclose(got, expect)
    assert np.isnan(grouped_quantile(np.zeros(0), np.array([0, 0]), 0.5)).all()
    assert segment_bounds(np.zeros(0, np.int64)).tolist() == [0]


def test_resample_path_even_spacing() -> None:
    x, y = resample_path(np.array([0.0, 100.0, 100.0]), np.array([0.0, 0.0, 50.0]), 4)
    assert x.tolist() == [0.0, 50.0, 100.0, 100.0]
    assert y.tolist() == [0.0, 0.0, 0.0, 50.0]
    x, y = resample_path(np.array([3.0]), np.array([4.0]), 3)
    assert x.tolist() == [3.0] * 3


points3 = st.lists(
    st.tuples(st.floats(-500, 500), st.floats(-500, 500), st.floats(-5, 5)), min_size=0, max_size=30
)


@settings(max_examples=80, deadline=None)
@given(st.lists(points3, min_size=1, max_size=4), st.sampled_from([0.5, 5.0, 40.0]))
def test_douglas_peucker_kernel_matches_reference(
    lines: list[list[tuple[float, float, float]]], tol: float
) -> None:
    flat = [p for line in lines for p in line]
    xyz = np.array(flat, np.float64).reshape(-1, 3)
    bounds = np.concatenate(([0], np.cumsum([len(line) for line in lines]))).astype(np.int64)
    keep = douglas_peucker_keep(xyz, bounds, tol)
    expect = [k for line in lines for k in douglas_peucker_reference(line, tol)]
    assert keep.tolist() == expect


def test_douglas_peucker_keeps_corners_drops_collinear() -> None:
    line = [(0.0, 0.0, 0.0), (50.0, 1.0, 0.0), (100.0, 0.0, 0.0), (100.0, 100.0, 0.0), (100.0, 200.0, 0.0)]
    keep = douglas_peucker_keep(np.array(line), np.array([0, 5]), 5.0)
    assert keep.tolist() == [True, False, True, False, True]


points2 = st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)), min_size=1, max_size=15)


@settings(max_examples=80, deadline=None)
@given(points2, points2)
def test_frechet_kernel_matches_reference(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> None:
    got = frechet_m(
        np.array([p[0] for p in a]),
        np.array([p[1] for p in a]),
        np.array([p[0] for p in b]),
        np.array([p[1] for p in b]),
    )
    assert got == frechet_reference(a, b)


def test_frechet_sees_a_detour() -> None:
    x = np.linspace(0, 1000, 50)
    straight = (x, np.zeros(50))
    detour = (x, np.where((x > 400) & (x < 600), 300.0, 0.0))
    assert frechet_m(*straight, *straight) == 0.0
    assert frechet_m(*straight, *detour) == pytest.approx(300.0)
    assert frechet_m(np.zeros(0), np.zeros(0), *straight) == math.inf
