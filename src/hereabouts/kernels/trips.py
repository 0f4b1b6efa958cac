"""Compiled kernels of the trips stage, each defined by a plain-Python reference (the tests require
identical results).

* :func:`run_order`: the stable (entity, time) order of fix rows that arrive as runs — the usual
  shape of a fix table, one device's track after another, each already in time order — by merging
  each entity's sorted runs instead of sorting all rows. Its reference is
  ``np.lexsort((t_us, codes))``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from . import jit

__all__ = ["count_pieces", "run_order"]

IntArray = NDArray[np.int64]


@jit
def count_pieces(run_ends: IntArray, t_us: IntArray) -> int:  # pragma: no cover - compiled
    """Number of pieces :func:`run_order` would merge: runs cut where their times go backwards."""
    n_pieces = 0
    start = 0
    for r in range(run_ends.shape[0]):
        end = run_ends[r]
        if end > start:
            n_pieces += 1
            for i in range(start + 1, end):
                if t_us[i] < t_us[i - 1]:
                    n_pieces += 1
        start = end
    return n_pieces


@jit
def run_order(
    run_ends: IntArray, run_codes: IntArray, t_us: IntArray, n_codes: int
) -> tuple[bool, IntArray, IntArray, IntArray]:  # pragma: no cover - compiled
    """Stable order of rows by (code, time), for rows given as runs of one code each.

    ``run_ends[r]`` is the end row (exclusive) of run ``r`` and ``run_codes[r]`` its code
    (0..n_codes-1). Returns ``(already_sorted, order, t_sorted, bounds)``: whether the rows are
    already in order (then ``order`` and ``t_sorted`` are empty), the order (ties keep input order,
    as ``np.lexsort((t_us, codes))``), the times in that order, and the first row of each code in it
    (``n_codes + 1`` bounds).

    Each run is cut where its times go backwards, so every piece is sorted; an entity's pieces are
    merged pairwise in input order (on equal times the earlier piece wins, which keeps the sort
    stable). An entity with one piece costs one copy; k pieces cost O(m log k).
    """
    n = t_us.shape[0]
    n_runs = run_ends.shape[0]
    # pieces: runs cut where time decreases
    n_pieces = 0
    start = 0
    for r in range(n_runs):
        end = run_ends[r]
        if end > start:
            n_pieces += 1
            for i in range(start + 1, end):
                if t_us[i] < t_us[i - 1]:
                    n_pieces += 1
        start = end
    p_start = np.empty(n_pieces, np.int64)
    p_code = np.empty(n_pieces, np.int64)
    k = 0
    start = 0
    for r in range(n_runs):
        end = run_ends[r]
        if end > start:
            p_start[k] = start
            p_code[k] = run_codes[r]
            k += 1
            for i in range(start + 1, end):
                if t_us[i] < t_us[i - 1]:
                    p_start[k] = i
                    p_code[k] = run_codes[r]
                    k += 1
        start = end
    # rows per code, and whether the pieces already come in code order with one piece per code
    bounds = np.zeros(n_codes + 1, np.int64)
    pieces_of = np.zeros(n_codes + 1, np.int64)
    ordered = True
    for p in range(n_pieces):
        c = p_code[p]
        p_end = p_start[p + 1] if p + 1 < n_pieces else n
        bounds[c + 1] += p_end - p_start[p]
        pieces_of[c + 1] += 1
        if p > 0 and p_code[p - 1] >= c:
            ordered = False
    for c in range(n_codes):
        bounds[c + 1] += bounds[c]
        pieces_of[c + 1] += pieces_of[c]
    if ordered:
        return True, np.zeros(0, np.int64), np.zeros(0, np.int64), bounds
    # the pieces of each code, in input order (counting sort of the pieces by code)
    by_code = np.empty(n_pieces, np.int64)
    fill = pieces_of[:-1].copy()
    for p in range(n_pieces):
        c = p_code[p]
        by_code[fill[c]] = p
        fill[c] += 1
    order = np.empty(n, np.int64)
    t_out = np.empty(n, np.int64)
    # segment boundaries (relative to the code's first output row) of the pieces of one code
    seg = np.empty(n_pieces + 1, np.int64)
    for c in range(n_codes):
        a = bounds[c]
        b = bounds[c + 1]
        q0 = pieces_of[c]
        q1 = pieces_of[c + 1]
        # copy the code's pieces, in input order, into its output range
        w = a
        for q in range(q0, q1):
            p = by_code[q]
            p_end = p_start[p + 1] if p + 1 < n_pieces else n
            seg[q - q0] = w - a
            for i in range(p_start[p], p_end):
                order[w] = i
                t_out[w] = t_us[i]
                w += 1
        m = q1 - q0
        seg[m] = w - a
        if m < 2:
            continue
        # merge adjacent segments pairwise (bottom-up) until one is left
        src_o = order[a:b]
        src_t = t_out[a:b]
        dst_o = np.empty(b - a, np.int64)
        dst_t = np.empty(b - a, np.int64)
        swapped = False
        width = 1
        while width < m:
            s = 0
            while s < m:
                lo = seg[s]
                mid = seg[min(s + width, m)]
                hi = seg[min(s + 2 * width, m)]
                i, j, o = lo, mid, lo
                while i < mid and j < hi:
                    if src_t[j] < src_t[i]:
                        dst_o[o] = src_o[j]
                        dst_t[o] = src_t[j]
                        j += 1
                    else:
                        dst_o[o] = src_o[i]
                        dst_t[o] = src_t[i]
                        i += 1
                    o += 1
                while i < mid:
                    dst_o[o] = src_o[i]
                    dst_t[o] = src_t[i]
                    i += 1
                    o += 1
                while j < hi:
                    dst_o[o] = src_o[j]
                    dst_t[o] = src_t[j]
                    j += 1
                    o += 1
                s += 2 * width
            src_o, dst_o = dst_o, src_o
            src_t, dst_t = dst_t, src_t
            swapped = not swapped
            width *= 2
        if swapped:
            for x in range(b - a):
                order[a + x] = src_o[x]
                t_out[a + x] = src_t[x]
    return False, order, t_out, bounds
