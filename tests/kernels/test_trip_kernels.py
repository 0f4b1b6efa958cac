"""The compiled (entity, time) order of the trips stage equals its reference, ``np.lexsort``."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hereabouts.kernels.trips import count_pieces, run_order

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: runs of one code each: times sorted (a device's track), reversed, or in no order; ties included
run = st.tuples(
    st.integers(0, 3),
    st.lists(st.integers(0, 50), max_size=25),
    st.sampled_from(["sorted", "reversed", "as drawn"]),
)


def _rows(runs: list[tuple[int, list[int], str]]) -> tuple[np.ndarray, np.ndarray]:
    codes: list[int] = []
    times: list[int] = []
    for c, ts, how in runs:
        ts = sorted(ts) if how == "sorted" else sorted(ts)[::-1] if how == "reversed" else ts
        codes += [c] * len(ts)
        times += ts
    return np.array(codes, np.int64), np.array(times, np.int64)


@SETTINGS
@given(st.lists(run, max_size=8))
def test_run_order_equals_lexsort(runs: list[tuple[int, list[int], str]]) -> None:
    codes, t = _rows(runs)
    n = codes.shape[0]
    # runs as run_end_encode gives them: maximal stretches of one code
    ends = np.flatnonzero(np.diff(codes)) + 1 if n else np.zeros(0, np.int64)
    ends = np.concatenate((ends, [n] if n else [])).astype(np.int64)
    run_codes = codes[ends - 1] if n else np.zeros(0, np.int64)
    in_order, order, t_sorted, bounds = run_order(ends, run_codes, t, 4)
    ref = np.lexsort((t, codes))
    if in_order:
        assert ref.tolist() == list(range(n))
        assert order.shape[0] == 0
    else:
        assert order.tolist() == ref.tolist()
        assert t_sorted.tolist() == t[ref].tolist()
    assert bounds.tolist() == np.searchsorted(codes[ref], np.arange(5)).tolist()
    # pieces: each run cut where its time goes backwards
    starts = [0, *ends[:-1].tolist()] if n else []
    pieces = sum(1 + int(np.sum(np.diff(t[a:b]) < 0)) for a, b in zip(starts, ends.tolist(), strict=True))
    assert count_pieces(ends, t) == pieces


def test_two_devices_of_one_entity_are_merged() -> None:
    # entity 1 carries a phone (even seconds) and a watch (odd seconds, one tie with the phone)
    phone = np.arange(0, 20, 2, dtype=np.int64)
    watch = np.array([1, 3, 4, 7, 9], np.int64)
    t = np.concatenate((np.array([5, 6], np.int64), phone, watch))
    codes = np.array([0, 0] + [1] * 10 + [1] * 5, np.int64)
    ends = np.array([2, 17], np.int64)  # one run of entity 0, one of entity 1 (two sorted pieces)
    in_order, order, t_sorted, bounds = run_order(ends, np.array([0, 1], np.int64), t, 2)
    assert not in_order
    assert count_pieces(ends, t) == 3
    assert order.tolist() == np.lexsort((t, codes)).tolist()
    assert t_sorted.tolist() == [5, 6, 0, 1, 2, 3, 4, 4, 6, 7, 8, 9, 10, 12, 14, 16, 18]
    assert order[6:8].tolist() == [4, 14]  # the tie at 4 s: the phone's row (earlier in input) first
    assert bounds.tolist() == [0, 2, 17]
