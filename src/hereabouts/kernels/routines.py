"""Compiled kernels of the routines stage, each defined by a plain-Python reference in
:mod:`.reference` (the tests require identical results).

* :func:`lz_match_totals`: the Lempel-Ziv sums Σ Λ_i of many symbol sequences at once (the input
  of the entropy estimate of :func:`hereabouts.analysis.routines.lz_entropy`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from . import jit

__all__ = ["lz_match_totals"]

IntArray = NDArray[np.int64]


@jit
def lz_match_totals(seq: IntArray, bounds: IntArray) -> IntArray:  # pragma: no cover - compiled
    """Σ Λ_i of each sequence ``seq[bounds[e]:bounds[e + 1]]``.

    Λ_i is the length of the shortest substring starting at ``i`` that does not occur inside the
    sequence before ``i`` (``n − i + 1`` when there is none): one more than the longest ``k`` such
    that ``seq[j:j + k] == seq[i:i + k]`` for some ``j`` with ``j + k <= i``. For each shift
    ``d = i − j`` the common prefix lengths are run backwards along the diagonal, so a sequence of
    ``n`` symbols costs O(n²) time and O(n) memory.
    """
    ne = bounds.shape[0] - 1
    out = np.zeros(ne, np.int64)
    w = 0
    for e in range(ne):
        w = max(w, bounds[e + 1] - bounds[e])
    best = np.empty(w, np.int64)
    for e in range(ne):
        a = bounds[e]
        n = bounds[e + 1] - a
        for i in range(n):
            best[i] = 0
        for d in range(1, n):
            run = 0
            for i in range(n - 1, d - 1, -1):
                if seq[a + i] == seq[a + i - d]:
                    run += 1
                else:
                    run = 0
                m = run if run < d else d
                if m > best[i]:
                    best[i] = m
        tot = 0
        for i in range(n):
            tot += best[i] + 1
        out[e] = tot
    return out
