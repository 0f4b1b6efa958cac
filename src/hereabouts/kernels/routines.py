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
    that ``seq[j:j + k] == seq[i:i + k]`` for some ``j`` with ``j + k <= i``, i.e. the largest
    ``min(lcp(i − d, i), d)`` over shifts ``d``. Going from the end, the common prefix length at each
    shift extends the one at ``i + 1``, so a sequence of ``n`` symbols costs O(n²) time and O(n)
    memory.
    """
    ne = bounds.shape[0] - 1
    out = np.zeros(ne, np.int64)
    w = 0
    for e in range(ne):
        w = max(w, bounds[e + 1] - bounds[e])
    run = np.zeros(w + 1, np.int64)  # run[d]: common prefix of seq[i:] and seq[i - d:]
    for e in range(ne):
        a = bounds[e]
        n = bounds[e + 1] - a
        for d in range(n + 1):
            run[d] = 0
        tot = 0
        # i from the end, so run[d] at i extends run[d] at i + 1; the loop over d carries no
        # dependency but the maximum, so it vectorises
        for i in range(n - 1, -1, -1):
            x = seq[a + i]
            best = 0
            for d in range(1, i + 1):
                r = run[d] + 1 if seq[a + i - d] == x else 0
                run[d] = r
                m = r if r < d else d
                if m > best:
                    best = m
            tot += best + 1
        out[e] = tot
    return out
