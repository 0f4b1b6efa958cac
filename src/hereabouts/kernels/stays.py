"""Stay-detection kernels (numba) over the entities of a fix table sorted by (entity, t), and the sort.

Both kernels take the fix columns as NumPy arrays and ``bounds``: ``bounds[e]:bounds[e + 1]`` are the
rows of entity ``e`` (so a slice of ``bounds`` runs a kernel on some of the entities; the kernels
release the GIL, so slices can run in threads). They return ``(ints, floats)``, one row per stay,
columns named by :data:`INT_COLUMNS` and :data:`FLOAT_COLUMNS`. Times are int64 microseconds;
distances metres.

* :func:`sliding_stays` is trackintel 1.4's ``generate_staypoints(method="sliding")`` (Li et al. 2008),
  reproduced step by step, including its haversine (acos form, earth radius 6 371 000 m) so that a
  fix exactly at the distance threshold is judged the same way.
* :func:`robust_stays` is hereabouts' own detector: accuracy-aware, tolerant of short runs of outliers,
  robust (median) centre, and bridges recording gaps when the device is at the same place on both
  sides.

The plain-Python equivalents in :mod:`hereabouts.kernels.reference` define the same results and are
what the tests compare these kernels with.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import jit

#: Earth radius of every distance here (trackintel's ``point_haversine_dist`` default), in metres.
EARTH_RADIUS_M = 6_371_000.0
#: Metres per degree of latitude on that sphere.
DEG_M = EARTH_RADIUS_M * math.pi / 180.0
#: An interval between consecutive supporting fixes longer than this counts as a recording gap.
GAP_REF_US = 600_000_000
#: Quantile of the supporting fixes' distances from the centre reported as a stay's ``radius_m``.
RADIUS_QUANTILE = 0.9

INT_COLUMNS = ("entity", "first_row", "last_row", "start_us", "end_us", "n_fixes", "gap_us")
FLOAT_COLUMNS = ("lat", "lon", "radius_m")

_I_ENTITY, _I_FIRST, _I_LAST, _I_START, _I_END, _I_N, _I_GAP = range(7)
_F_LAT, _F_LON, _F_RADIUS = range(3)

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


# --------------------------------------------------------------------------------------------------
# small helpers


@jit
def ti_haversine_m(lon_1: float, lat_1: float, lon_2: float, lat_2: float) -> float:
    """trackintel's ``point_haversine_dist(..., float_flag=True)``, operation for operation."""
    lon_1 = math.radians(lon_1)
    lat_1 = math.radians(lat_1)
    lon_2 = math.radians(lon_2)
    lat_2 = math.radians(lat_2)
    cos_lat2 = math.cos(lat_2)
    cos_lat1 = math.cos(lat_1)
    cos_lat_d = math.cos(lat_1 - lat_2)
    cos_lon_d = math.cos(lon_1 - lon_2)
    return EARTH_RADIUS_M * math.acos(cos_lat_d - cos_lat1 * cos_lat2 * (1.0 - cos_lon_d))


@jit
def _wrap_lon(d: float) -> float:
    """A longitude difference of two values in [-180, 180], brought into [-180, 180]."""
    if d > 180.0:
        return d - 360.0
    if d < -180.0:
        return d + 360.0
    return d


@jit
def select_inplace(a: FloatArray, k: int) -> None:
    """Reorder ``a`` so that ``a[k]`` is its k-th smallest value, no larger value before it and no
    smaller one after it (quickselect, median-of-three; heapsort past an iteration budget, so never
    quadratic)."""
    lo = 0
    hi = a.shape[0] - 1
    budget = 64
    while hi > lo:
        if budget == 0:
            sort_inplace(a[lo : hi + 1])
            return
        budget -= 1
        mid = (lo + hi) // 2
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[hi] < a[mid]:
            a[hi], a[mid] = a[mid], a[hi]
        pivot = a[mid]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return


@jit
def median_inplace(v: FloatArray) -> float:
    """Median (mean of the two middle values for an even count); reorders ``v``."""
    n = v.shape[0]
    h = n // 2
    select_inplace(v, h)
    if n % 2 == 1:
        return float(v[h])
    below = v[0]
    for i in range(1, h):
        if v[i] > below:
            below = v[i]
    return 0.5 * (below + v[h])


@jit
def quantile_inplace(v: FloatArray, q: float) -> float:
    """Quantile with linear interpolation between order statistics (NumPy's default); reorders ``v``."""
    n = v.shape[0]
    pos = q * (n - 1)
    lo = math.floor(pos)
    select_inplace(v, lo)
    v_lo = v[lo]
    v_hi = v_lo
    if lo + 1 < n:
        v_hi = v[lo + 1]
        for i in range(lo + 2, n):
            if v[i] < v_hi:
                v_hi = v[i]
    return float(v_lo + (v_hi - v_lo) * (pos - lo))


@jit
def _grow(ibuf: IntArray, fbuf: FloatArray) -> tuple[IntArray, FloatArray]:
    cap = ibuf.shape[0] * 2
    return _take_rows(ibuf, fbuf, ibuf.shape[0], cap)


@jit
def _longest(bounds: IntArray) -> int:
    """Rows of the longest entity (scratch space of the kernels is that long)."""
    w = 0
    for e in range(bounds.shape[0] - 1):
        w = max(w, bounds[e + 1] - bounds[e])
    return w


@jit
def _take_rows(ibuf: IntArray, fbuf: FloatArray, n: int, cap: int) -> tuple[IntArray, FloatArray]:
    """The first ``n`` rows of both buffers, in new buffers of ``cap`` rows (explicit loops compile
    much faster than numba's slice assignment)."""
    ni = np.empty((cap, ibuf.shape[1]), np.int64)
    nf = np.empty((cap, fbuf.shape[1]), np.float64)
    for i in range(n):
        for j in range(ibuf.shape[1]):
            ni[i, j] = ibuf[i, j]
        for j in range(fbuf.shape[1]):
            nf[i, j] = fbuf[i, j]
    return ni, nf


@jit
def _sift(a: FloatArray, root: int, end: int) -> None:
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        if child + 1 < end and a[child] < a[child + 1]:
            child += 1
        if a[root] < a[child]:
            a[root], a[child] = a[child], a[root]
            root = child
        else:
            return


@jit
def sort_inplace(a: FloatArray) -> None:
    """Heapsort (numba's own sorts take seconds to compile; this takes a fraction of one)."""
    n = a.shape[0]
    for root in range(n // 2 - 1, -1, -1):
        _sift(a, root, n)
    for end in range(n - 1, 0, -1):
        a[0], a[end] = a[end], a[0]
        _sift(a, 0, end)


@jit
def _pair_less(a: FloatArray, b: FloatArray, i: int, j: int) -> bool:
    return a[i] < a[j] or (a[i] == a[j] and b[i] < b[j])


@jit
def _sift_pairs(a: FloatArray, b: FloatArray, root: int, end: int) -> None:
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        if child + 1 < end and _pair_less(a, b, child, child + 1):
            child += 1
        if _pair_less(a, b, root, child):
            a[root], a[child] = a[child], a[root]
            b[root], b[child] = b[child], b[root]
            root = child
        else:
            return


@jit
def sort_pairs_inplace(a: FloatArray, b: FloatArray) -> None:
    """Heapsort of the pairs ``(a[i], b[i])`` in lexicographic order."""
    n = a.shape[0]
    for root in range(n // 2 - 1, -1, -1):
        _sift_pairs(a, b, root, n)
    for end in range(n - 1, 0, -1):
        a[0], a[end] = a[end], a[0]
        b[0], b[end] = b[end], b[0]
        _sift_pairs(a, b, 0, end)


@jit
def _radius_gap(
    rows: IntArray,
    lo: int,
    hi: int,
    t_us: IntArray,
    lat: FloatArray,
    lon: FloatArray,
    clat: float,
    clon: float,
) -> tuple[float, int]:
    """Quantile distance (equirectangular, exact enough at stay scale) of ``rows[lo..hi]`` from the
    centre, and the time spent in gaps between them.

    The quantile is :func:`quantile_inplace`'s, computed without sorting: with ``k`` the order
    statistic below the quantile's position, a min-heap keeps the ``n - k`` largest squared distances
    seen, so its root is the k-th smallest and the smaller of the root's children the next one; the
    square root of each (monotonic, correctly rounded) is the k-th smallest distance exactly."""
    n = hi - lo + 1
    pos = RADIUS_QUANTILE * (n - 1)
    k = math.floor(pos)
    size = n - k
    heap = np.empty(size, np.float64)
    ccos = math.cos(math.radians(clat))
    gap = 0
    for j in range(n):
        r = rows[lo + j]
        dy = (lat[r] - clat) * DEG_M
        dx = _wrap_lon(lon[r] - clon) * ccos * DEG_M
        sq = dx * dx + dy * dy
        if j < size:
            heap[j] = sq
            if j == size - 1:
                for root in range(size // 2 - 1, -1, -1):
                    _sift_min(heap, root, size)
        elif sq > heap[0]:
            heap[0] = sq
            _sift_min(heap, 0, size)
        if j > 0:
            dt = t_us[r] - t_us[rows[lo + j - 1]]
            if dt > GAP_REF_US:
                gap += dt
    v_lo = math.sqrt(heap[0])
    v_hi = v_lo
    if size >= 2:
        nxt = heap[1]
        if size >= 3 and heap[2] < nxt:
            nxt = heap[2]
        v_hi = math.sqrt(nxt)
    return float(v_lo + (v_hi - v_lo) * (pos - k)), gap


@jit
def _sift_min(a: FloatArray, root: int, end: int) -> None:
    """Sift ``a[root]`` down the min-heap ``a[:end]``."""
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        if child + 1 < end and a[child + 1] < a[child]:
            child += 1
        if a[child] < a[root]:
            a[root], a[child] = a[child], a[root]
            root = child
        else:
            return


# --------------------------------------------------------------------------------------------------
# trackintel's sliding window


@jit
def _ti_centroid(rows: IntArray, lo: int, hi: int, lat: FloatArray, lon: FloatArray) -> tuple[float, float]:
    """trackintel's staypoint geometry: mean latitude and circular-mean longitude of the *distinct*
    points of ``rows[lo..hi]`` (it unions the points first), summed in order of first appearance.
    Distinct points are found with an open-addressing hash table of row numbers."""
    w = hi - lo + 1
    cap = 2
    while cap < 2 * w:
        cap *= 2
    mask = cap - 1
    table = np.full(cap, -1, np.int64)
    lat_bits = lat.view(np.int64)
    lon_bits = lon.view(np.int64)
    s_lat = 0.0
    s_sin = 0.0
    s_cos = 0.0
    cnt = 0
    for k in range(lo, hi + 1):
        r = rows[k]
        la = lat[r]
        lo_ = lon[r]
        # hash of the bit patterns; -0.0 == 0.0, so zeros hash alike
        hb = 0 if la == 0.0 else lat_bits[r]
        ho = 0 if lo_ == 0.0 else lon_bits[r]
        h = (hb * -7046029254386353131) ^ (ho * -4658895280553007687)
        idx = (h ^ (h >> 31)) & mask
        seen = False
        while table[idx] >= 0:
            r2 = table[idx]
            if lat[r2] == la and lon[r2] == lo_:
                seen = True
                break
            idx = (idx + 1) & mask
        if not seen:
            table[idx] = r
            s_lat += la
            x = math.radians(lo_)
            s_sin += math.sin(x)
            s_cos += math.cos(x)
            cnt += 1
    return s_lat / cnt, math.degrees(math.atan2(s_sin / cnt, s_cos / cnt))


@jit
def _ti_far(x: float, x0: float, fast: bool, dist_threshold_m: float) -> bool:
    """``EARTH_RADIUS_M * acos(x) >= dist_threshold_m``, deciding without acos when x is clearly apart
    from ``x0 = cos(dist_threshold_m / EARTH_RADIUS_M)`` (acos is decreasing; the 1e-12 margin is far
    wider than any rounding of acos or of the product, so the answer equals the exact one)."""
    if fast:
        if x < x0 - 1e-12:
            return True
        if x > x0 + 1e-12:
            return False
    return EARTH_RADIUS_M * math.acos(x) >= dist_threshold_m


@jit
def sliding_stays(
    t_us: IntArray,
    lat: FloatArray,
    lon: FloatArray,
    bounds: IntArray,
    dist_threshold_m: float,
    min_duration_us: int,
    max_gap_us: int,
    include_last: bool,
    exclude_duplicates: bool,
) -> tuple[IntArray, FloatArray]:
    """trackintel 1.4 ``_generate_staypoints_sliding_user``, for every entity.

    Per entity (rows sorted by time, ties in input order), after dropping rows identical in
    (t, lat, lon) to an earlier row when ``exclude_duplicates``: a window starts at fix ``start``;
    each next fix ``curr`` either follows a gap ``t[curr] - t[curr-1] > max_gap_us`` (the window is
    dropped and restarts at ``curr``), or is at haversine distance ``>= dist_threshold_m`` from the
    window's first fix (the window ``start..curr-1`` is a stay when ``t[curr] - t[start] >=
    min_duration_us``, ending at ``t[curr]``; a new window starts at ``curr``), or joins the window.
    With ``include_last`` the remaining window is a stay when ``t[last] - t[start] >=
    min_duration_us``, ending at ``t[last]``.
    """
    cap = 64
    ibuf = np.empty((cap, 7), np.int64)
    fbuf = np.empty((cap, 3), np.float64)
    ns = 0
    kept = np.empty(_longest(bounds), np.int64)
    state = np.zeros(3, np.int64)
    for e in range(bounds.shape[0] - 1):
        m = _ti_kept(t_us, lat, lon, bounds[e], bounds[e + 1], exclude_duplicates, kept)
        if m == 0:
            continue
        # the scan stops when the buffers are full and resumes where it stopped once they have grown
        # (growing them inside the scan's loop would cost numba reference counting on every fix)
        state[0] = 1
        state[1] = 0
        state[2] = ns
        while not _ti_scan(
            t_us, lat, lon, kept, m, e, dist_threshold_m, min_duration_us, max_gap_us, state, ibuf, fbuf
        ):
            ibuf, fbuf = _grow(ibuf, fbuf)
        ns = state[2]
        start = state[1]
        # trackintel's loop variable ends on the last fix (on the first when there is only one)
        if include_last and t_us[kept[m - 1]] - t_us[kept[start]] >= min_duration_us:
            if ns == ibuf.shape[0]:
                ibuf, fbuf = _grow(ibuf, fbuf)
            _ti_emit(ibuf, fbuf, ns, e, kept, start, m - 1, t_us[kept[m - 1]], t_us, lat, lon)
            ns += 1
    return _take_rows(ibuf, fbuf, ns, ns)


@jit
def _ti_kept(
    t_us: IntArray, lat: FloatArray, lon: FloatArray, a: int, b: int, exclude_duplicates: bool, kept: IntArray
) -> int:
    """Rows ``a..b-1`` into ``kept``, without those equal in (t, lat, lon) to an earlier one when
    ``exclude_duplicates``; returns how many."""
    m = 0
    g0 = a
    for i in range(a, b):
        if i > a and t_us[i] != t_us[i - 1]:
            g0 = i
        dup = False
        if exclude_duplicates:
            for j in range(g0, i):
                if lat[j] == lat[i] and lon[j] == lon[i]:
                    dup = True
                    break
        if not dup:
            kept[m] = i
            m += 1
    return m


@jit
def _ti_scan(
    t_us: IntArray,
    lat: FloatArray,
    lon: FloatArray,
    kept: IntArray,
    m: int,
    e: int,
    dist_threshold_m: float,
    min_duration_us: int,
    max_gap_us: int,
    state: IntArray,
    ibuf: IntArray,
    fbuf: FloatArray,
) -> bool:
    """trackintel's sliding window over ``kept[:m]`` (one entity), from ``curr = state[0]`` with the
    window starting at ``state[1]``, writing stays to the buffers from row ``state[2]``. Returns True
    at the end of the rows, False when a stay does not fit in the buffers; ``state`` then holds where
    to resume (the fix that left, not yet handled), and on True the last window's start."""
    deg = math.pi / 180.0
    ratio = dist_threshold_m / EARTH_RADIUS_M
    fast = 0.0 < ratio < 3.0
    x0 = math.cos(ratio) if fast else 0.0
    bounded = 10.0 <= dist_threshold_m <= 1e6
    near_lim = dist_threshold_m - 1.0
    far_lim = dist_threshold_m + 1.0
    ns = state[2]
    start = state[1]
    r = kept[start]
    s_lat = lat[r] * deg
    s_lon = lon[r] * deg
    s_cos = math.cos(s_lat)
    for curr in range(state[0], m):
        ic = kept[curr]
        if t_us[ic] - t_us[kept[curr - 1]] > max_gap_us:
            start = curr
            s_lat = lat[ic] * deg
            s_lon = lon[ic] * deg
            s_cos = math.cos(s_lat)
            continue
        c_lat = lat[ic] * deg
        c_lon = lon[ic] * deg
        # Cheap bounds first. The true distance d lies between R·|Δlat| (the meridian arc) and
        # R·(|Δlat| + cos(lat_start)·|Δlon|) (along the start's parallel, then the meridian);
        # trackintel's acos formula computes d to within 0.25 m (its argument is exact to a few
        # ulp of 1, and acos(1 - u) = sqrt(2u)), so outside a 1 m margin the bound decides.
        dlat = abs(s_lat - c_lat)
        dlon = abs(s_lon - c_lon)
        if dlon > math.pi:
            dlon = 2.0 * math.pi - dlon
        if bounded and EARTH_RADIUS_M * (dlat + s_cos * dlon) < near_lim:
            far = False
        elif bounded and EARTH_RADIUS_M * dlat > far_lim:
            far = True
        else:
            x = math.cos(s_lat - c_lat) - s_cos * math.cos(c_lat) * (1.0 - math.cos(s_lon - c_lon))
            far = _ti_far(x, x0, fast, dist_threshold_m)
        if far:
            if t_us[ic] - t_us[kept[start]] >= min_duration_us:
                if ns == ibuf.shape[0]:
                    state[0] = curr
                    state[1] = start
                    state[2] = ns
                    return False
                _ti_emit(ibuf, fbuf, ns, e, kept, start, curr - 1, t_us[ic], t_us, lat, lon)
                ns += 1
            start = curr
            s_lat = c_lat
            s_lon = c_lon
            s_cos = math.cos(s_lat)
    state[0] = m
    state[1] = start
    state[2] = ns
    return True


@jit
def _ti_emit(
    ibuf: IntArray,
    fbuf: FloatArray,
    k: int,
    e: int,
    kept: IntArray,
    lo: int,
    hi: int,
    end_us: int,
    t_us: IntArray,
    lat: FloatArray,
    lon: FloatArray,
) -> None:
    clat, clon = _ti_centroid(kept, lo, hi, lat, lon)
    radius, gap = _radius_gap(kept, lo, hi, t_us, lat, lon, clat, clon)
    ibuf[k, _I_ENTITY] = e
    ibuf[k, _I_FIRST] = kept[lo]
    ibuf[k, _I_LAST] = kept[hi]
    ibuf[k, _I_START] = t_us[kept[lo]]
    ibuf[k, _I_END] = end_us
    ibuf[k, _I_N] = hi - lo + 1
    ibuf[k, _I_GAP] = gap
    fbuf[k, _F_LAT] = clat
    fbuf[k, _F_LON] = clon
    fbuf[k, _F_RADIUS] = radius


# --------------------------------------------------------------------------------------------------
# hereabouts' robust detector


@jit
def _robust_centre(
    pos: IntArray,
    mem: IntArray,
    lo: int,
    hi: int,
    lat: FloatArray,
    lon: FloatArray,
    acc_m: FloatArray,
    radius_m: float,
    la: FloatArray,
    lo_: FloatArray,
) -> tuple[float, float, float]:
    """Median latitude and median longitude (relative to the first member, so the antimeridian is
    harmless) of the *precise* members of ``mem[lo..hi]`` — accuracy within ``radius_m`` or unknown —
    or of all of them when none is precise; returns (lat, lon, cos(lat)). Imprecise fixes support a
    stay but do not place it. ``la`` and ``lo_`` are scratch space of at least ``hi - lo + 1``."""
    w = hi - lo + 1
    ref = lon[pos[mem[0]]]
    c = 0
    for k in range(w):
        r = pos[mem[lo + k]]
        if not acc_m[r] > radius_m:
            la[c] = lat[r]
            lo_[c] = _wrap_lon(lon[r] - ref)
            c += 1
    if c == 0:
        for k in range(w):
            r = pos[mem[lo + k]]
            la[k] = lat[r]
            lo_[k] = _wrap_lon(lon[r] - ref)
        c = w
    clat = median_inplace(la[:c])
    clon = _wrap_lon(ref + median_inplace(lo_[:c]))
    return clat, clon, math.cos(math.radians(clat))


@jit
def _fits(
    r: int,
    lat: FloatArray,
    lon: FloatArray,
    acc_m: FloatArray,
    clat: float,
    clon: float,
    ccos: float,
    radius_m: float,
) -> bool:
    """Whether fix ``r``'s accuracy disc overlaps the disc of ``radius_m`` around the centre
    (equirectangular distance: exact enough at stay scale and cheap)."""
    dy = (lat[r] - clat) * DEG_M
    dx = _wrap_lon(lon[r] - clon) * ccos * DEG_M
    a = acc_m[r]
    lim = radius_m + a if a > 0.0 else radius_m
    return dx * dx + dy * dy <= lim * lim


@jit
def robust_stays(
    t_us: IntArray,
    lat: FloatArray,
    lon: FloatArray,
    acc_m: FloatArray,
    bounds: IntArray,
    radius_m: float,
    min_duration_us: int,
    max_gap_us: int,
    max_outliers: int,
    max_accuracy_m: float,
    min_fixes: int,
    include_last: bool,
) -> tuple[IntArray, FloatArray]:
    """hereabouts' stay detector, for every entity. See :func:`.reference.robust_stays_entity` for the
    algorithm in plain words; this kernel computes exactly the same."""
    cap = 64
    ibuf = np.empty((cap, 7), np.int64)
    fbuf = np.empty((cap, 3), np.float64)
    ns = 0
    w = _longest(bounds)
    pos = np.empty(w, np.int64)
    mem = np.empty(w, np.int64)
    la_buf = np.empty(w, np.float64)
    lo_buf = np.empty(w, np.float64)
    for e in range(bounds.shape[0] - 1):
        m = 0
        for i in range(bounds[e], bounds[e + 1]):
            a = acc_m[i]
            if not a > max_accuracy_m:  # NaN (unknown accuracy) is eligible
                pos[m] = i
                m += 1
        p = 0
        while p < m:
            s = p
            nm = 1
            mem[0] = s
            r0 = pos[s]
            clat = lat[r0]
            clon = lon[r0]
            ccos = math.cos(math.radians(clat))
            next_centre = 4
            last = s
            q = s + 1
            closed = False
            brk = m
            while q < m:
                rq = pos[q]
                if t_us[rq] - t_us[pos[last]] > max_gap_us:
                    closed = True
                    brk = q
                    break
                nxt = -1
                if _fits(rq, lat, lon, acc_m, clat, clon, ccos, radius_m):
                    nxt = q
                else:
                    for u in range(q + 1, q + max_outliers + 1):
                        if u >= m:
                            break
                        ru = pos[u]
                        if t_us[ru] - t_us[pos[last]] > max_gap_us:
                            break
                        if t_us[pos[u - 1]] - t_us[rq] >= min_duration_us:
                            break
                        if _fits(ru, lat, lon, acc_m, clat, clon, ccos, radius_m):
                            nxt = u
                            break
                if nxt < 0:
                    closed = True
                    brk = q
                    break
                mem[nm] = nxt
                nm += 1
                last = nxt
                q = nxt + 1
                if nm == next_centre:
                    clat, clon, ccos = _robust_centre(
                        pos, mem, 0, nm - 1, lat, lon, acc_m, radius_m, la_buf, lo_buf
                    )
                    next_centre *= 2
            if nm < min_fixes or t_us[pos[last]] - t_us[r0] < min_duration_us:
                # too short even before trimming: no stay; the next candidate starts at the break
                p = brk
                continue
            # finalise: centre of all members, trim members at either end that do not fit it
            clat, clon, ccos = _robust_centre(pos, mem, 0, nm - 1, lat, lon, acc_m, radius_m, la_buf, lo_buf)
            lo = 0
            while lo < nm - 1 and not _fits(pos[mem[lo]], lat, lon, acc_m, clat, clon, ccos, radius_m):
                lo += 1
            hi = nm - 1
            while hi > lo and not _fits(pos[mem[hi]], lat, lon, acc_m, clat, clon, ccos, radius_m):
                hi -= 1
            if lo > 0 or hi < nm - 1:
                clat, clon, ccos = _robust_centre(pos, mem, lo, hi, lat, lon, acc_m, radius_m, la_buf, lo_buf)
            first = pos[mem[lo]]
            lastr = pos[mem[hi]]
            n_fix = hi - lo + 1
            ok = (
                t_us[lastr] - t_us[first] >= min_duration_us
                and n_fix >= min_fixes
                and (closed or include_last)
            )
            if ok:
                rows = np.empty(n_fix, np.int64)
                for k in range(n_fix):
                    rows[k] = pos[mem[lo + k]]
                radius, gap = _radius_gap(rows, 0, n_fix - 1, t_us, lat, lon, clat, clon)
                if ns == ibuf.shape[0]:
                    ibuf, fbuf = _grow(ibuf, fbuf)
                ibuf[ns, _I_ENTITY] = e
                ibuf[ns, _I_FIRST] = first
                ibuf[ns, _I_LAST] = lastr
                ibuf[ns, _I_START] = t_us[first]
                ibuf[ns, _I_END] = t_us[lastr]
                ibuf[ns, _I_N] = n_fix
                ibuf[ns, _I_GAP] = gap
                fbuf[ns, _F_LAT] = clat
                fbuf[ns, _F_LON] = clon
                fbuf[ns, _F_RADIUS] = radius
                ns += 1
            p = mem[hi + 1] if hi < nm - 1 else brk
    return _take_rows(ibuf, fbuf, ns, ns)


# --------------------------------------------------------------------------------------------------
# sorting support


@jit
def is_sorted(codes: IntArray, t_us: IntArray) -> bool:
    """Whether rows are sorted by (codes, t_us)."""
    for i in range(1, codes.shape[0]):
        if codes[i] < codes[i - 1] or (codes[i] == codes[i - 1] and t_us[i] < t_us[i - 1]):
            return False
    return True


@jit
def segment_bounds(codes: IntArray) -> IntArray:
    """Start rows of the runs of equal ``codes`` (sorted), plus ``len(codes)`` at the end."""
    n = codes.shape[0]
    out = np.empty(n + 1, np.int64)
    k = 0
    for i in range(n):
        if i == 0 or codes[i] != codes[i - 1]:
            out[k] = i
            k += 1
    out[k] = n
    res = np.empty(k + 1, np.int64)
    for i in range(k + 1):
        res[i] = out[i]
    return res


@jit
def group_by_code(codes: IntArray, n_codes: int) -> tuple[IntArray, IntArray]:
    """Stable counting sort of the rows by ``codes`` (0..n_codes-1): the order and the bounds of
    each code's rows."""
    n = codes.shape[0]
    bounds = np.zeros(n_codes + 1, np.int64)
    for i in range(n):
        bounds[codes[i] + 1] += 1
    for c in range(n_codes):
        bounds[c + 1] += bounds[c]
    fill = bounds[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        c = codes[i]
        order[fill[c]] = i
        fill[c] += 1
    return order, bounds


@jit
def sort_segments(order: IntArray, t_us: IntArray, bounds: IntArray, t_out: IntArray) -> None:
    """Sort each segment ``order[bounds[e]:bounds[e + 1]]`` stably by ``t_us`` (in place), and write
    the sorted times to ``t_out``. Segments already in order are left alone; short ones get an
    insertion sort, long ones an LSD radix sort (8-bit digits, 16-bit from 65 536 rows)."""
    w = _longest(bounds)
    keys = np.empty(w, np.int64)
    tmp_k = np.empty(w, np.int64)
    tmp_o = np.empty(w, np.int64)
    for e in range(bounds.shape[0] - 1):
        a = bounds[e]
        m = bounds[e + 1] - a
        ordered = True
        for i in range(m):
            keys[i] = t_us[order[a + i]]
            if i > 0 and keys[i] < keys[i - 1]:
                ordered = False
        if not ordered:
            if m <= 32:
                for i in range(1, m):
                    k = keys[i]
                    o = order[a + i]
                    j = i - 1
                    while j >= 0 and keys[j] > k:
                        keys[j + 1] = keys[j]
                        order[a + j + 1] = order[a + j]
                        j -= 1
                    keys[j + 1] = k
                    order[a + j + 1] = o
            else:
                _radix_segment(order, a, m, keys, tmp_k, tmp_o)
        for i in range(m):
            t_out[a + i] = keys[i]


@jit
def _radix_segment(order: IntArray, a: int, m: int, keys: IntArray, tmp_k: IntArray, tmp_o: IntArray) -> None:
    t0 = keys[0]
    t1 = keys[0]
    for i in range(m):
        t0 = min(t0, keys[i])
        t1 = max(t1, keys[i])
    span = t1 - t0
    bits = 0
    while bits < 63 and (span >> bits) > 0:
        bits += 1
    width = 16 if m >= 65536 else 8
    size = 1 << width
    mask = size - 1
    count = np.empty(size + 1, np.int64)
    for i in range(m):
        tmp_o[i] = order[a + i]
    src_o = tmp_o
    src_k = keys
    dst_o = np.empty(m, np.int64)
    dst_k = tmp_k
    shift = 0
    while shift < bits:
        for d in range(size + 1):
            count[d] = 0
        for i in range(m):
            count[((src_k[i] - t0) >> shift & mask) + 1] += 1
        trivial = False
        for d in range(size + 1):
            if count[d] == m:
                trivial = True
        if not trivial:
            for d in range(size):
                count[d + 1] += count[d]
            for i in range(m):
                d = (src_k[i] - t0) >> shift & mask
                j = count[d]
                count[d] = j + 1
                dst_o[j] = src_o[i]
                dst_k[j] = src_k[i]
            src_o, dst_o = dst_o, src_o
            src_k, dst_k = dst_k, src_k
        shift += width
    for i in range(m):
        order[a + i] = src_o[i]
        keys[i] = src_k[i]


@jit
def gather_segments(src: FloatArray, order: IntArray, bounds: IntArray, out: FloatArray) -> None:
    """``out[i] = src[order[i]]`` for the rows of the segments in ``bounds``."""
    for i in range(bounds[0], bounds[bounds.shape[0] - 1]):
        out[i] = src[order[i]]


# A table in no order (say, shuffled rows) is sorted in two steps that keep every column in cache-sized
# pieces: its rows are moved to their entity's range of the output (a stable counting sort over row
# ranges in threads: :func:`count_codes`, then :func:`scatter_rows`), and each entity's rows are sorted
# by time where they lie (:func:`sort_rows`, entities in threads).


@jit
def count_codes(codes: NDArray[Any], n_codes: int) -> IntArray:
    """How many rows have each code (0..n_codes-1)."""
    out = np.zeros(n_codes, np.int64)
    for i in range(codes.shape[0]):
        out[codes[i]] += 1
    return out


@jit
def scatter_rows(
    codes: NDArray[Any],
    base: int,
    cmap: IntArray,
    fill: IntArray,
    t_us: IntArray,
    lat: FloatArray,
    lon: FloatArray,
    acc: FloatArray,
    t_out: IntArray,
    lat_out: FloatArray,
    lon_out: FloatArray,
    acc_out: FloatArray,
) -> None:
    """Row ``base + i`` (for each ``codes[i]``) goes to row ``fill[e]`` of the outputs, with
    ``e = cmap[codes[i]]``, and ``fill[e]`` moves on by one: rows of one entity keep their order.
    ``acc`` is moved too unless it is empty."""
    with_acc = acc.shape[0] > 0
    for i in range(codes.shape[0]):
        e = cmap[codes[i]]
        j = fill[e]
        fill[e] = j + 1
        r = base + i
        t_out[j] = t_us[r]
        lat_out[j] = lat[r]
        lon_out[j] = lon[r]
        if with_acc:
            acc_out[j] = acc[r]


@jit
def sort_rows(t_us: IntArray, lat: FloatArray, lon: FloatArray, acc: FloatArray, bounds: IntArray) -> None:
    """Sort the rows of each segment ``bounds[e]:bounds[e + 1]`` stably by ``t_us``, in place, moving
    ``lat``, ``lon`` and ``acc`` (unless it is empty) along.

    Rows already in order are left alone. Otherwise the times (less the segment's earliest) go to
    about m / 2 buckets by their top bits (a stable counting pass); buckets of up to 32 rows get an
    insertion sort, bigger ones (clustered times) an LSD radix sort on the bits below the bucket's;
    the positions follow through a scratch array."""
    w = _longest(bounds)
    with_acc = acc.shape[0] > 0
    keys = np.empty(w, np.int64)
    rows = np.empty(w, np.int64)
    tmp_k = np.empty(w, np.int64)
    tmp_r = np.empty(w, np.int64)
    tmp_f = np.empty(w, np.float64)
    nb = 1
    while 2 * nb < w:
        nb *= 2
    count = np.empty(nb + 1, np.int64)
    for e in range(bounds.shape[0] - 1):
        a = bounds[e]
        m = bounds[e + 1] - a
        ordered = True
        for i in range(a + 1, a + m):
            if t_us[i] < t_us[i - 1]:
                ordered = False
                break
        if ordered:
            continue
        t0 = t_us[a]
        t1 = t_us[a]
        for i in range(a, a + m):
            t0 = min(t0, t_us[i])
            t1 = max(t1, t_us[i])
        n_buckets = 1
        while 2 * n_buckets < m:
            n_buckets *= 2
        shift = 0
        while ((t1 - t0) >> shift) >= n_buckets:
            shift += 1
        used = ((t1 - t0) >> shift) + 1
        for d in range(used + 1):
            count[d] = 0
        for i in range(a, a + m):
            count[((t_us[i] - t0) >> shift) + 1] += 1
        for d in range(used):
            count[d + 1] += count[d]
        for i in range(m):
            key = t_us[a + i] - t0
            d = key >> shift
            j = count[d]
            count[d] = j + 1
            keys[j] = key
            rows[j] = i
        # count[d] is now the end of bucket d
        lo = 0
        for d in range(used):
            hi = count[d]
            if hi - lo > 32:
                _radix_rows(keys, rows, tmp_k, tmp_r, lo, hi, d << shift)
            else:
                for i in range(lo + 1, hi):
                    k = keys[i]
                    r = rows[i]
                    j = i - 1
                    while j >= lo and keys[j] > k:
                        keys[j + 1] = keys[j]
                        rows[j + 1] = rows[j]
                        j -= 1
                    keys[j + 1] = k
                    rows[j + 1] = r
            lo = hi
        for i in range(m):
            t_us[a + i] = keys[i] + t0
        _permute(lat, a, m, rows, tmp_f)
        _permute(lon, a, m, rows, tmp_f)
        if with_acc:
            _permute(acc, a, m, rows, tmp_f)


@jit
def _permute(v: FloatArray, a: int, m: int, rows: IntArray, tmp: FloatArray) -> None:
    """``v[a + i] = v[a + rows[i]]`` for i < m, through ``tmp``."""
    for i in range(m):
        tmp[i] = v[a + rows[i]]
    for i in range(m):
        v[a + i] = tmp[i]


@jit
def _radix_rows(
    keys: IntArray, rows: IntArray, tmp_k: IntArray, tmp_r: IntArray, lo: int, hi: int, base: int
) -> None:
    """Stable LSD radix sort of ``keys[lo:hi]`` (all at least ``base``), carrying ``rows``."""
    top = 0
    for i in range(lo, hi):
        top = max(top, keys[i] - base)
    bits = 0
    while bits < 63 and (top >> bits) > 0:
        bits += 1
    if bits == 0:
        return  # all equal: already in order
    width = 11 if hi - lo >= 4096 else 8
    passes = (bits + width - 1) // width
    width = (bits + passes - 1) // passes
    size = 1 << width
    mask = size - 1
    count = np.empty(size, np.int64)
    src_k = keys
    src_r = rows
    dst_k = tmp_k
    dst_r = tmp_r
    for p in range(passes):
        shift = p * width
        for d in range(size):
            count[d] = 0
        for i in range(lo, hi):
            count[((src_k[i] - base) >> shift) & mask] += 1
        total = lo
        for d in range(size):
            c = count[d]
            count[d] = total
            total += c
        for i in range(lo, hi):
            d = ((src_k[i] - base) >> shift) & mask
            j = count[d]
            count[d] = j + 1
            dst_k[j] = src_k[i]
            dst_r[j] = src_r[i]
        src_k, dst_k = dst_k, src_k
        src_r, dst_r = dst_r, src_r
    if passes % 2 == 1:
        for i in range(lo, hi):
            keys[i] = tmp_k[i]
            rows[i] = tmp_r[i]
