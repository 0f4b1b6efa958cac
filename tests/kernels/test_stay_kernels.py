"""The compiled stay kernels compute exactly what their plain-Python references compute."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from hereabouts.kernels import jit
from hereabouts.kernels import reference as ref
from hereabouts.kernels import stays as k

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# places ~300 m apart, one on each side of the antimeridian
PLACES = [(47.0, 8.0), (47.0027, 8.0), (47.0, 8.004), (-33.0, 179.9995), (-33.0, -179.9995)]
# offsets in degrees: repeats (0), jitter, and offsets straddling 50/100/150 m
OFFSETS = [0.0, 0.0, 3e-5, -3e-5, 2e-4, 4.5e-4, -8.99e-4, 9e-4, 1.35e-3, -2e-3]
STEPS_S = [0, 0, 1, 30, 60, 60, 120, 299, 300, 301, 899, 900, 901, 3600, 7200]
ACCURACIES = [math.nan, 0.0, 5.0, 20.0, 60.0, 150.0, 250.0]


def ro(*arrays: NDArray) -> list[NDArray]:
    """Read-only contiguous copies, as detect_stays passes them (one compiled specialisation)."""
    out = []
    for a in arrays:
        a = np.ascontiguousarray(a).copy()
        a.flags.writeable = False
        out.append(a)
    return out


fix = st.tuples(
    st.sampled_from(STEPS_S),
    st.integers(0, 999_999),  # microseconds
    st.sampled_from(range(len(PLACES))),
    st.sampled_from(OFFSETS),
    st.sampled_from(OFFSETS),
    st.sampled_from(ACCURACIES),
)


@st.composite
def fix_sets(draw: st.DrawFn) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray]:
    """Fixes of 1–3 entities sorted by (entity, t): duplicates, equal times, gaps, jumps, outliers."""
    entities = draw(st.lists(st.lists(fix, max_size=45), min_size=1, max_size=3))
    t_us, lat, lon, acc, bounds = [], [], [], [], [0]
    for fixes in entities:
        t = 1_700_000_000 * 1_000_000
        sticky = draw(st.sampled_from(range(len(PLACES))))
        for step, micro, place, dlat, dlon, a in fixes:
            t += step * 1_000_000 + (micro if step else 0)
            # mostly stay at one place, so that stays form
            p = sticky if place < 3 else place
            if place == 2:
                sticky = draw(st.sampled_from(range(len(PLACES))))
            t_us.append(t)
            lat.append(PLACES[p][0] + dlat)
            lon.append(((PLACES[p][1] + dlon + 180.0) % 360.0) - 180.0)
            acc.append(a)
        bounds.append(len(t_us))
    return (
        np.array(t_us, np.int64),
        np.array(lat, np.float64),
        np.array(lon, np.float64),
        np.array(acc, np.float64),
        np.array(bounds, np.int64),
    )


def assert_same(got: tuple[NDArray, NDArray], want: tuple[NDArray, NDArray]) -> None:
    assert got[0].shape == want[0].shape
    np.testing.assert_array_equal(got[0], want[0])
    # floats bit for bit (same operations in the same order)
    np.testing.assert_array_equal(got[1], want[1])


@SETTINGS
@given(
    data=fix_sets(),
    dist=st.one_of(st.sampled_from([10.0, 50.0, 100.0, 150.0, 1000.0]), st.just(-1.0)),
    min_duration_s=st.sampled_from([0, 60, 300, 900]),
    max_gap_s=st.sampled_from([0, 300, 900, 3600]),
    include_last=st.booleans(),
    dedup=st.booleans(),
    pick=st.integers(0, 10_000),
)
def test_sliding_kernel_equals_reference(
    data: tuple[NDArray, ...],
    dist: float,
    min_duration_s: int,
    max_gap_s: int,
    include_last: bool,
    dedup: bool,
    pick: int,
) -> None:
    t_us, lat, lon, _, bounds = data
    if dist < 0:  # the exact distance between the first fix and another: a fix right at the threshold
        if len(t_us) < 2:
            dist = 100.0
        else:
            j = 1 + pick % (len(t_us) - 1)
            dist = ref.ti_haversine_m(lon[0], lat[0], lon[j], lat[j]) or 100.0
    args = (dist, min_duration_s * 1_000_000, max_gap_s * 1_000_000, include_last, dedup)
    want = ref.sliding_stays(t_us, lat, lon, bounds, *args)
    got = k.sliding_stays(*ro(t_us, lat, lon), *ro(bounds), *args)
    assert_same(got, want)


@SETTINGS
@given(
    data=fix_sets(),
    radius_m=st.sampled_from([30.0, 50.0, 100.0, 200.0]),
    min_duration_s=st.sampled_from([0, 60, 300]),
    max_gap_s=st.sampled_from([0, 900, 7200]),
    max_outliers=st.integers(0, 4),
    max_accuracy_m=st.sampled_from([0.0, 100.0, 200.0, math.inf]),
    min_fixes=st.integers(1, 4),
    include_last=st.booleans(),
)
def test_robust_kernel_equals_reference(
    data: tuple[NDArray, ...],
    radius_m: float,
    min_duration_s: int,
    max_gap_s: int,
    max_outliers: int,
    max_accuracy_m: float,
    min_fixes: int,
    include_last: bool,
) -> None:
    t_us, lat, lon, acc, bounds = data
    args = (
        radius_m,
        min_duration_s * 1_000_000,
        max_gap_s * 1_000_000,
        max_outliers,
        max_accuracy_m,
        min_fixes,
        include_last,
    )
    want = ref.robust_stays(t_us, lat, lon, acc, bounds, *args)
    got = k.robust_stays(*ro(t_us, lat, lon, acc, bounds), *args)
    assert_same(got, want)


def test_robust_kernel_on_long_random_walk_equals_reference() -> None:
    """Long stays exercise the re-centring at every power of two and the selection on big arrays."""
    rng = np.random.default_rng(3)
    n = 5000
    t_us = np.cumsum(rng.integers(1, 90, n)).astype(np.int64) * 1_000_000
    place = np.repeat(rng.integers(0, 3, n // 500), 500)
    lat = 47.0 + place * 0.003 + rng.normal(0, 2e-4, n)
    lon = 8.0 + rng.normal(0, 3e-4, n)
    lat[rng.random(n) < 0.02] += 0.01  # outliers
    acc = rng.uniform(0, 40, n)
    bounds = np.array([0, 2000, n], np.int64)
    args = (80.0, 300_000_000, 3_600_000_000, 3, 200.0, 2, True)
    want = ref.robust_stays(t_us, lat, lon, acc, bounds, *args)
    got = k.robust_stays(*ro(t_us, lat, lon, acc, bounds), *args)
    assert len(want[0]) >= 5
    assert_same(got, want)
    dist_args = (100.0, 300_000_000, 900_000_000, True, True)
    assert_same(
        k.sliding_stays(*ro(t_us, lat, lon, bounds), *dist_args),
        ref.sliding_stays(t_us, lat, lon, bounds, *dist_args),
    )


def test_sliding_kernel_with_more_stays_than_its_first_buffers_hold() -> None:
    """Hundreds of stays per entity: the scan stops when the buffers are full and resumes after they
    grow; the stays are those of the reference, none lost or repeated at the seams."""
    rng = np.random.default_rng(5)
    n = 6000
    t_us = np.cumsum(rng.integers(20, 40, n)).astype(np.int64) * 1_000_000
    t_us[1000:1010] = t_us[1000]  # equal times and duplicates
    place = np.repeat(rng.integers(0, 4, n // 12), 12)  # a new place every 12 fixes (~6 min)
    lat = 47.0 + place * 0.003 + rng.normal(0, 1e-4, n)
    lon = 8.0 + rng.normal(0, 1e-4, n)
    lat[1000:1005] = lat[1000]
    lon[1000:1005] = lon[1000]
    for bounds in (np.array([0, n], np.int64), np.array([0, 100, 4000, 4001, n], np.int64)):
        for args in (
            (100.0, 300_000_000, 900_000_000, True, True),
            (50.0, 60_000_000, 45_000_000, False, False),
        ):
            want = ref.sliding_stays(t_us, lat, lon, bounds, *args)
            got = k.sliding_stays(*ro(t_us, lat, lon, bounds), *args)
            assert len(want[0]) > 200
            assert_same(got, want)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-89.9, 89.9),
    st.floats(-180, 180),
    st.floats(-0.01, 0.01),
    st.floats(-0.01, 0.01),
)
def test_trackintel_haversine_bit_for_bit(lat: float, lon: float, dlat: float, dlon: float) -> None:
    lat2 = max(-90.0, min(90.0, lat + dlat))
    lon2 = lon + dlon
    assert k.ti_haversine_m(lon, lat, lon2, lat2) == ref.ti_haversine_m(lon, lat, lon2, lat2)


def test_trackintel_haversine_matches_trackintel_itself() -> None:
    geogr = pytest.importorskip("trackintel.geogr")
    rng = np.random.default_rng(5)
    for _ in range(500):
        lat, lon = rng.uniform(-80, 80), rng.uniform(-179, 179)
        lat2, lon2 = lat + rng.normal(0, 1e-3), lon + rng.normal(0, 1e-3)
        theirs = geogr.point_haversine_dist(lon, lat, lon2, lat2, float_flag=True)
        assert ref.ti_haversine_m(lon, lat, lon2, lat2) == theirs
        assert k.ti_haversine_m(lon, lat, lon2, lat2) == theirs


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(-(2**40), 2**40) | st.sampled_from([0, 1, 2**62])),
        max_size=400,
    )
)
def test_group_and_segment_sort_is_a_stable_sort(pairs: list[tuple[int, int]]) -> None:
    codes = np.array([p[0] for p in pairs], np.int64)
    t = np.array([p[1] for p in pairs], np.int64)
    order, bounds = k.group_by_code(codes, 5)
    t_out = np.empty_like(t)
    k.sort_segments(order, *ro(t, bounds), t_out)
    want = np.lexsort((t, codes))
    np.testing.assert_array_equal(order, want)
    np.testing.assert_array_equal(t_out, t[want])
    np.testing.assert_array_equal(bounds, np.searchsorted(codes[want], np.arange(6)))
    out = np.empty(len(t))
    k.gather_segments(*ro(t.astype(np.float64), order, bounds), out)
    np.testing.assert_array_equal(out, t[want].astype(np.float64))


def test_segment_sort_of_long_segments() -> None:
    rng = np.random.default_rng(11)
    codes = np.repeat([0, 1, 2], [70_000, 1_000, 5])
    t = rng.integers(0, 2**45, len(codes))
    t[70_000:70_500] = 7  # ties keep their order
    order, bounds = k.group_by_code(codes, 3)
    t_out = np.empty_like(t)
    k.sort_segments(order, *ro(t, bounds), t_out)
    np.testing.assert_array_equal(order, np.lexsort((t, codes)))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.0, 1e-5, -1e-5, 3e-4, 1e-3]), st.sampled_from([0.0, 2e-5, -7e-4])),
        min_size=1,
        max_size=120,
    ),
    st.integers(0, 3),
)
def test_radius_quantile_equals_the_sorted_quantile(offsets: list[tuple[float, float]], skip: int) -> None:
    """The heap selection of the stay radius gives the reference's sorted quantile bit for bit (ties,
    one row, two rows, long windows)."""
    n = len(offsets)
    lat = np.array([47.0 + o[0] for o in offsets])
    lon = np.array([8.0 + o[1] for o in offsets])
    t = np.arange(n, dtype=np.int64) * 700_000_000
    rows = np.arange(n, dtype=np.int64)
    lo = min(skip, n - 1)
    centre = (47.0001, 8.0)
    got = k._radius_gap(*ro(rows), lo, n - 1, *ro(t, lat, lon), *centre)
    want = ref._radius_gap(list(rows[lo:]), t, lat, lon, centre)
    assert got == want


def _scatter_and_sort(codes: NDArray, t: NDArray, n_codes: int, pieces: int, acc: bool) -> tuple:
    """detect_stays' sort of rows in no order: ``pieces`` row ranges moved to their code's part of the
    output, then each code's rows sorted by time in place."""
    n = len(t)
    lat = np.arange(n, dtype=np.float64) * 0.5
    lon = -lat
    acc_in = lat + 0.25 if acc else np.empty(0)
    cuts = sorted({0, n, *(n * p // pieces for p in range(1, pieces))})
    per_piece = np.array([np.bincount(codes[a:b], minlength=n_codes) for a, b in itertools.pairwise(cuts)])
    per_piece = per_piece.reshape(-1, n_codes).astype(np.int64)
    bounds = np.zeros(n_codes + 1, np.int64)
    bounds[1:] = np.cumsum(per_piece.sum(axis=0))
    fills = bounds[:-1] + np.cumsum(per_piece, axis=0) - per_piece
    out = (np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(n if acc else 0))
    src = ro(t, lat, lon, acc_in)
    for k_, (a, b) in enumerate(itertools.pairwise(cuts)):
        assert k.count_codes(*ro(codes[a:b]), n_codes).tolist() == per_piece[k_].tolist()
        k.scatter_rows(*ro(codes[a:b]), a, *ro(np.arange(n_codes)), fills[k_].copy(), *src, *out)
    k.sort_rows(*out, *ro(bounds))
    return out, bounds, lat, lon, acc_in


times = (
    st.integers(-(2**40), 2**40)
    | st.sampled_from([0, 1, 2, 2**61, 2**62 - 1])
    | st.integers(5_000, 5_100)  # clustered: buckets of more than 32 rows
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), times), max_size=600),
    st.integers(1, 4),
    st.booleans(),
)
def test_scatter_and_sort_rows_is_a_stable_sort(pairs: list[tuple[int, int]], pieces: int, acc: bool) -> None:
    codes = np.array([p[0] for p in pairs], np.int64)
    t = np.array([p[1] for p in pairs], np.int64)
    if len(t) and int(t.max()) - int(t.min()) >= 2**62:  # detect_stays refuses such spans
        t = t // 2
    (t_s, lat_s, lon_s, acc_s), bounds, lat, lon, acc_in = _scatter_and_sort(codes, t, 5, pieces, acc)
    want = np.lexsort((t, codes))
    np.testing.assert_array_equal(bounds, np.searchsorted(codes[want], np.arange(6)))
    np.testing.assert_array_equal(t_s, t[want])
    np.testing.assert_array_equal(lat_s, lat[want])
    np.testing.assert_array_equal(lon_s, lon[want])
    np.testing.assert_array_equal(acc_s, acc_in[want] if acc else np.empty(0))


def test_sort_rows_of_long_and_clustered_segments() -> None:
    rng = np.random.default_rng(12)
    codes = np.repeat([0, 1, 2, 3], [70_000, 9_000, 1_000, 5])
    t = rng.integers(0, 2**45, len(codes))
    t[70_000:78_000] = rng.integers(10**9, 10**9 + 10**6, 8_000)  # one bucket of 8 000 rows
    t[78_000:78_500] = 7  # ties keep their order
    t[79_000:80_000] = rng.integers(0, 100, 1_000)
    t[:1000] = np.arange(1000)  # a sorted run inside a shuffled segment
    perm = rng.permutation(len(codes))
    codes, t = codes[perm], t[perm]
    for pieces in (1, 3):
        (t_s, lat_s, _, acc_s), _, lat, _, acc_in = _scatter_and_sort(codes, t, 4, pieces, True)
        want = np.lexsort((t, codes))
        np.testing.assert_array_equal(t_s, t[want])
        np.testing.assert_array_equal(lat_s, lat[want])
        np.testing.assert_array_equal(acc_s, acc_in[want])
    # rows already in order are left as they are
    srt = np.lexsort((t, codes))
    (t_s, lat_s, _, _), _, lat, _, _ = _scatter_and_sort(codes[srt], t[srt], 4, 2, False)
    np.testing.assert_array_equal(t_s, t[srt])
    np.testing.assert_array_equal(lat_s, lat)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200)
    | st.lists(st.sampled_from([0.0, 1.0, 2.0]), min_size=1, max_size=200),
    st.floats(0, 1),
)
def test_selection_matches_numpy(values: list[float], q: float) -> None:
    a = np.array(values)
    med = a.copy()
    assert k.median_inplace(med) == np.median(a)
    assert sorted(med.tolist()) == sorted(values)  # a permutation
    got = k.quantile_inplace(a.copy(), q)
    assert got == ref._quantile(values, q)
    assert got == pytest.approx(float(np.quantile(values, q)), rel=1e-12, abs=1e-9)


def test_selection_never_goes_quadratic() -> None:
    a = np.concatenate([np.arange(100_000.0), np.arange(100_000.0)[::-1]])
    assert k.median_inplace(a.copy()) == np.median(a)


def test_segment_bounds_and_is_sorted() -> None:
    codes = np.array([0, 0, 1, 1, 1, 3], np.int64)
    np.testing.assert_array_equal(k.segment_bounds(codes), [0, 2, 5, 6])
    assert k.is_sorted(codes, np.array([1, 2, 0, 0, 5, 1], np.int64))
    assert not k.is_sorted(codes, np.array([2, 1, 0, 0, 5, 1], np.int64))
    assert not k.is_sorted(codes[::-1].copy(), np.zeros(6, np.int64))


def test_jit_falls_back_when_no_cache_location_exists() -> None:
    # a function without a source file has no cache locator: numba refuses cache=True for it
    ns: dict[str, object] = {}
    exec("def f(x):\n    return x * 2 + 1\n", ns)
    compiled = jit(ns["f"])  # type: ignore[arg-type]
    assert compiled(20) == 41
    assert type(compiled._cache).__name__ == "NullCache"  # type: ignore[attr-defined]


def test_kernels_cache_on_disk() -> None:
    assert type(k.sliding_stays._cache).__name__ == "FunctionCache"  # type: ignore[attr-defined]
