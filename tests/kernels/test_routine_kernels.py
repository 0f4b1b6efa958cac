"""The compiled Lempel-Ziv kernel of the routines stage computes exactly what its plain-Python
reference (the substring search of the definition) computes."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hereabouts.analysis.routines import lz_entropy
from hereabouts.kernels import reference as ref
from hereabouts.kernels.routines import lz_match_totals

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# small alphabets make long repeats (the hard case); runs of one symbol are the common one in life
symbols = st.integers(0, 3)
sequence = st.one_of(
    st.lists(symbols, max_size=60),
    st.lists(st.tuples(symbols, st.integers(1, 12)), max_size=12).map(
        lambda runs: [s for s, k in runs for _ in range(k)]
    ),
    st.lists(st.integers(0, 40), max_size=40),
)


@SETTINGS
@given(st.lists(sequence, max_size=6))
def test_lz_match_totals_equal_the_reference(seqs: list[list[int]]) -> None:
    flat = np.array([v for s in seqs for v in s], np.int64)
    bounds = np.concatenate(([0], np.cumsum([len(s) for s in seqs]))).astype(np.int64)
    got = lz_match_totals(flat, bounds)
    assert got.tolist() == [ref.lz_match_total_reference(s) for s in seqs]


@SETTINGS
@given(sequence)
def test_lz_entropy_equals_the_reference_bit_for_bit(seq: list[int]) -> None:
    assert lz_entropy(seq) == ref.lz_entropy_reference(seq)


def test_lz_known_values() -> None:
    # 'abab': Λ = 1, 1, 3 ('aba' is not in 'ab'), 2 (n - i + 1: 'b' occurs, nothing longer is left)
    assert ref.lz_match_total_reference([0, 1, 0, 1]) == 7
    assert lz_match_totals(np.array([0, 1, 0, 1], np.int64), np.array([0, 4], np.int64)).tolist() == [7]
    # an occurrence must lie wholly before i: in 'aaaa' only 'a' lies before i = 1 (Λ = 2), and at
    # i = 2 'aa' does, so the rest of the sequence occurs (Λ = n - i + 1 = 3): 1 + 2 + 3 + 2
    assert lz_match_totals(np.array([0, 0, 0, 0], np.int64), np.array([0, 4], np.int64)).tolist() == [8]
    assert ref.lz_match_total_reference([0, 0, 0, 0]) == 8
