"""Stay detection: fixes ➜ stays, the first stage of the pattern-of-life engine.

:func:`detect_stays` is a pure function from a fix table to a stay table. It sorts the fixes by
(entity, time) — stably, so fixes with equal times keep their input order — takes the columns as
NumPy arrays (zero-copy when the input is already sorted) and runs a compiled kernel over the
entities (in threads over groups of entities for big tables). Two methods:

``"default"``
    hereabouts' own detector: a fix counts when its accuracy disc overlaps the stay disc; a robust
    (median) centre; a short run of outlying fixes (jitter, a multipath jump) does not split a visit;
    a recording gap of up to ``max_gap_s`` is bridged when the device is at the same place on both
    sides (a gap between two different places ends the stay). A stay starts and ends at the times of
    its first and last supporting fix. The algorithm is spelt out in
    :func:`hereabouts.kernels.reference.robust_stays_entity`.
``"trackintel"``
    trackintel 1.4's ``generate_staypoints(method="sliding", distance_metric="haversine")`` reproduced
    exactly: same stays (count, start, end) for the same parameters, with ``radius_m`` =
    ``dist_threshold``, ``min_duration_s`` = 60 × ``time_threshold``, ``max_gap_s`` = 60 ×
    ``gap_threshold``, ``include_last`` and ``exclude_duplicates`` = ``exclude_duplicate_pfs``. Like
    trackintel, a stay ends at the time of the first fix *after* it (the fix that left), or at its last
    fix for the stay kept by ``include_last``.

Every stay row carries its evidence (``evidence_first``/``evidence_last``: row numbers of its first
and last supporting fix in the input sorted by (entity, t)), a ``confidence`` — the raw score of
:func:`stay_confidence`, which for the default method goes through the shipped calibration map
(:func:`hereabouts.evaluate.calibration.apply`, with the map of the stay's sensor class —
:func:`hereabouts.evaluate.calibration.row_classes`, from its own spread and rate of fixes —, so it
is the measured probability that the stay is real;
``raw_confidences("stays")`` turns that off) and for the trackintel method, whose stays are
not calibrated, is left raw —, ``radius_m``
(the distance from the centre within which 90 % of its supporting fixes lie) and ``method`` (name
and parameters, e.g. ``default(radius_m=100, min_duration_s=300, ...)``).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from fractions import Fraction
from numbers import Integral, Real
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..model import validate
from ..model.errors import InputError, SchemaError
from ..model.schemas import STAY, UTC_US

__all__ = ["DEFAULT_MAX_GAP_S", "StayMethod", "detect_stays", "stay_confidence"]


class StayMethod(StrEnum):
    """The stay detectors :func:`detect_stays` offers."""

    DEFAULT = "default"
    TRACKINTEL = "trackintel"


#: ``max_gap_s`` when none is given: trackintel's 15 minutes for its method; for ours, 6 hours, so
#: that a phone which stops reporting while it lies still (overnight at home) keeps one stay.
DEFAULT_MAX_GAP_S = {StayMethod.DEFAULT: 6 * 3600.0, StayMethod.TRACKINTEL: 15 * 60.0}

_INT64_MAX = 2**63 - 1

#: Defaults of the parameters only the default method uses.
DEFAULT_MAX_OUTLIERS = 3
DEFAULT_MAX_ACCURACY_M = 200.0
DEFAULT_MIN_FIXES = 2
_DEFAULT_ONLY = ("max_outliers", "max_accuracy_m", "min_fixes")
#: Parameters only the trackintel method uses (``exclude_duplicates`` defaults to True).
_TRACKINTEL_ONLY = ("exclude_duplicates",)


def detect_stays(
    fixes: pa.Table,
    *,
    method: str = "default",
    radius_m: float = 100.0,
    min_duration_s: float = 300.0,
    max_gap_s: float | None = None,
    include_last: bool = False,
    max_outliers: int | None = None,
    max_accuracy_m: float | None = None,
    min_fixes: int | None = None,
    exclude_duplicates: bool | None = None,
    threads: int | None = None,
) -> pa.Table:
    """Find the stays (dwell episodes) in a fix table.

    Parameters
    ----------
    fixes
        A fix table (schema ``hereabouts.model.schemas.FIX``): ``t``, ``lat``, ``lon`` and an
        ``entity`` column, or ``device`` when there is no ``entity``; ``accuracy_m`` is used by the
        default method when present. Not modified.
    method
        ``"default"`` or ``"trackintel"`` (see the module documentation).
    radius_m
        Default: radius of the stay disc around its centre. trackintel: the distance from the
        window's first fix at which a fix leaves it (``dist_threshold``).
    min_duration_s
        Shortest stay. Default: from first to last supporting fix. trackintel: from the first fix to
        the fix that left (``time_threshold`` × 60).
    max_gap_s
        Longest interval between fixes that a stay may span (``gap_threshold`` × 60 for trackintel,
        where a longer gap discards the open window). ``None``: :data:`DEFAULT_MAX_GAP_S`.
    include_last
        Keep a stay still open at the end of an entity's fixes (one it has not been seen to leave).
    max_outliers
        Default method only (default 3): how many consecutive non-fitting fixes may lie between two
        fitting ones without ending the stay.
    max_accuracy_m
        Default method only (default 200): fixes less accurate than this are ignored; a missing
        accuracy counts as exact.
    min_fixes
        Default method only (default 2): fewest supporting fixes of a stay.
    exclude_duplicates
        trackintel method only (default True): drop fixes equal in entity, t, lat and lon to an
        earlier one, as trackintel's ``exclude_duplicate_pfs`` does.
    threads
        Threads that detect stays of different entities at once (the results do not depend on it).
        ``None``: one per CPU, up to 8, for tables of at least 100 000 fixes; else 1.

    Returns
    -------
    pyarrow.Table
        A ``stay`` tier table (``hereabouts.model.schemas.STAY``), sorted by entity and start.

    Raises
    ------
    InputError
        An unknown method, a parameter out of range or one the chosen method does not use.
    SchemaError
        A fix table without the needed columns, of the wrong types, or with nulls in them.

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = [0, 60, 120, 180, 240, 300, 360, 3600, 3660]
    >>> fixes = pa.table({
    ...     "device": ["phone"] * 9,
    ...     "t": pa.array([s * 1_000_000 for s in t], pa.timestamp("us", tz="UTC")),
    ...     "lat": [47.0, 47.0001, 47.0, 47.0002, 47.0, 47.0001, 47.05, 47.05, 47.0501],
    ...     "lon": [8.0] * 9,
    ... })
    >>> stays = detect_stays(fixes, radius_m=50, min_duration_s=300)
    >>> stays.num_rows, stays.column("n_fixes").to_pylist(), stays.column("end").to_pylist()[0].second
    (1, [6], 0)
    >>> detect_stays(fixes, method="sliding")
    Traceback (most recent call last):
    ...
    hereabouts.model.errors.InputError: unknown stay method 'sliding'; expected one of 'default', 'trackintel'
    """
    m = _method(method)
    _check_positive("radius_m", radius_m)
    _check_non_negative("min_duration_s", min_duration_s)
    gap_s = DEFAULT_MAX_GAP_S[m] if max_gap_s is None else max_gap_s
    _check_non_negative("max_gap_s", gap_s)
    given = {
        "max_outliers": max_outliers,
        "max_accuracy_m": max_accuracy_m,
        "min_fixes": min_fixes,
        "exclude_duplicates": exclude_duplicates,
    }
    foreign = _TRACKINTEL_ONLY if m is StayMethod.DEFAULT else _DEFAULT_ONLY
    wrong = [name for name in foreign if given[name] is not None]
    if wrong:
        raise InputError(
            f"the {m.value!r} stay method does not use {', '.join(wrong)}",
            hint=f"leave {', '.join(wrong)} unset or choose the method that uses it",
        )

    if threads is not None:
        _check_count("threads", threads, 1)
    # rows in no order are sorted by each group's thread right before its kernel runs
    cols = _columns(fixes, threads, accuracy=m is StayMethod.DEFAULT, defer_sort=True)
    # ">= min_duration_s" and "> max_gap_s" on integer microseconds, exact for the float given
    min_duration_us = min(math.ceil(Fraction(min_duration_s) * 1_000_000), _INT64_MAX)
    max_gap_us = min(math.floor(Fraction(gap_s) * 1_000_000), _INT64_MAX)

    from ..kernels import stays as kernels

    if m is StayMethod.TRACKINTEL:
        dedup = True if exclude_duplicates is None else bool(exclude_duplicates)
        ints, floats = _per_entity_groups(
            lambda b: kernels.sliding_stays(
                cols.t_us,
                cols.lat,
                cols.lon,
                b,
                float(radius_m),
                min_duration_us,
                max_gap_us,
                bool(include_last),
                dedup,
            ),
            cols.bounds,
            threads,
            before=cols.pending,
        )
        label = _label(
            "trackintel",
            radius_m=radius_m,
            min_duration_s=min_duration_s,
            max_gap_s=gap_s,
            include_last=include_last,
            exclude_duplicates=dedup,
        )
    else:
        k = DEFAULT_MAX_OUTLIERS if max_outliers is None else max_outliers
        acc_cap = DEFAULT_MAX_ACCURACY_M if max_accuracy_m is None else max_accuracy_m
        nmin = DEFAULT_MIN_FIXES if min_fixes is None else min_fixes
        _check_count("max_outliers", k, 0)
        _check_count("min_fixes", nmin, 1)
        _check_non_negative("max_accuracy_m", acc_cap)
        acc = cols.accuracy_m()
        ints, floats = _per_entity_groups(
            lambda b: kernels.robust_stays(
                cols.t_us,
                cols.lat,
                cols.lon,
                acc,
                b,
                float(radius_m),
                min_duration_us,
                max_gap_us,
                int(k),
                float(acc_cap),
                int(nmin),
                bool(include_last),
            ),
            cols.bounds,
            threads,
            before=cols.pending,
        )
        label = _label(
            "default",
            radius_m=radius_m,
            min_duration_s=min_duration_s,
            max_gap_s=gap_s,
            max_outliers=k,
            max_accuracy_m=acc_cap,
            min_fixes=nmin,
            include_last=include_last,
        )
    return _stay_table(
        ints, floats, cols, label, float(radius_m), float(min_duration_s), calibrate=m is StayMethod.DEFAULT
    )


_Kernel = Callable[[NDArray[np.int64]], tuple[NDArray[np.int64], NDArray[np.float64]]]
T = TypeVar("T")


def _in_groups(
    fn: Callable[[NDArray[np.int64]], T], bounds: NDArray[np.int64], threads: int | None
) -> list[T]:
    """``fn`` on slices of ``bounds`` holding groups of whole entities of about equal numbers of
    fixes, in threads (the kernels release the GIL); results in entity order, one per group."""
    n_rows = int(bounds[-1])
    n_ent = len(bounds) - 1
    threads = max(1, min(_thread_count(n_rows, threads), n_ent))
    cuts = np.unique(np.searchsorted(bounds, np.linspace(0, n_rows, threads + 1)[1:-1]))
    edges = [0, *[int(c) for c in cuts if 0 < c < n_ent], n_ent]
    groups = [(a, b) for a, b in itertools.pairwise(edges) if b > a]
    if len(groups) <= 1:
        return [fn(bounds)]
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        return list(pool.map(lambda g: fn(bounds[g[0] : g[1] + 1]), groups))


def _per_entity_groups(
    kernel: _Kernel,
    bounds: NDArray[np.int64],
    threads: int | None,
    before: Callable[[NDArray[np.int64]], None] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Run a stay kernel over groups of entities (see :func:`_in_groups`) and join the results; the
    kernels number entities from the start of their slice. ``before``, when given, runs on each
    group's slice of ``bounds`` in the group's thread before the kernel (the deferred sort)."""

    def run(b: NDArray[np.int64]) -> tuple[int, tuple[NDArray[np.int64], NDArray[np.float64]]]:
        if before is not None:
            before(b)
        return int(np.searchsorted(bounds, b[0])), kernel(b)

    parts = _in_groups(run, bounds, threads)
    if len(parts) == 1:
        return parts[0][1]
    for first, (ints, _) in parts:
        ints[:, 0] += first
    return np.concatenate([p[1][0] for p in parts]), np.concatenate([p[1][1] for p in parts])


def stay_confidence(
    n_fixes: NDArray[np.int64],
    duration_s: NDArray[np.float64],
    gap_s: NDArray[np.float64],
    radius_m: NDArray[np.float64],
    *,
    radius_param_m: float,
    min_duration_s: float,
) -> NDArray[np.float64]:
    """A heuristic confidence in 0..1 that a stay is real (to be calibrated on the simulator).

    The product of four factors, each 1 for a stay beyond doubt:

    * support: ``sqrt(f_n · f_d)`` with ``f_n = 1 − exp(−n_fixes / 4)`` (2 fixes: 0.39, 8: 0.86) and
      ``f_d = 1 − exp(−duration / max(min_duration_s, 60 s))`` (at the minimum duration: 0.63);
    * coverage: ``1 − gap_fraction / 2``, where ``gap_fraction`` is the share of the stay's duration
      spent in intervals of more than 10 minutes between its fixes (bridged recording gaps);
    * spread: ``1 − clip(radius_m / radius_param_m − 0.5, 0, 1) / 2`` — no penalty while 90 % of the
      fixes lie within half the stay radius, half the confidence at 1.5 × the radius.

    >>> import numpy as np
    >>> c = stay_confidence(np.array([30, 2]), np.array([3600.0, 300.0]), np.array([0.0, 0.0]),
    ...                     np.array([20.0, 90.0]), radius_param_m=100, min_duration_s=300)
    >>> [round(float(x), 2) for x in c]
    [1.0, 0.4]
    """
    n = np.asarray(n_fixes, dtype=np.float64)
    dur = np.asarray(duration_s, dtype=np.float64)
    f_n = 1.0 - np.exp(-n / 4.0)
    f_d = 1.0 - np.exp(-dur / max(float(min_duration_s), 60.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        gap_fraction = np.where(dur > 0, np.asarray(gap_s, dtype=np.float64) / dur, 0.0)
    f_g = 1.0 - 0.5 * np.clip(gap_fraction, 0.0, 1.0)
    f_s = 1.0 - 0.5 * np.clip(np.asarray(radius_m, dtype=np.float64) / radius_param_m - 0.5, 0.0, 1.0)
    return np.asarray(np.clip(np.sqrt(f_n * f_d) * f_g * f_s, 0.0, 1.0), dtype=np.float64)


# --------------------------------------------------------------------------------------------------
# input


class _Columns:
    """The fix columns sorted by (entity, t), as read-only NumPy arrays."""

    def __init__(
        self,
        table: pa.Table,
        entities: pa.Array,
        bounds: NDArray[np.int64],
        order: NDArray[np.int64] | None,
        t_us: NDArray[np.int64],
        lat: NDArray[np.float64],
        lon: NDArray[np.float64],
        threads: int | None,
        *,
        gathered: bool = False,
        acc: NDArray[np.float64] | None = None,
        pending: Callable[[NDArray[np.int64]], None] | None = None,
    ) -> None:
        self.table = table
        self.entities = entities  # sorted distinct names; entity e has rows bounds[e]:bounds[e + 1]
        self.bounds = bounds
        self.order = order  # input row of each sorted row, or None when the input was sorted
        self.threads = threads
        self.t_us = _readonly(t_us)
        # ``gathered``: lat and lon (and ``acc``, the accuracies, when given) are already in the sorted
        # order; the input order of the rows is then not kept (``order`` is None)
        self.gathered = gathered
        self.lat = _readonly(lat) if gathered else self._sorted(lat)
        self.lon = _readonly(lon) if gathered else self._sorted(lon)
        self._acc = None if acc is None else _readonly(acc)
        # with ``pending``, the rows of each entity are in place but not yet sorted by time: the
        # columns hold their sorted values only once ``pending`` has run on every slice of ``bounds``
        self.pending = pending

    def _sorted(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.order is None:
            return _readonly(values)
        from ..kernels.stays import gather_segments

        src = _readonly(values)
        out = np.empty(len(src), np.float64)
        order = self.order
        _in_groups(lambda b: gather_segments(src, order, b, out), self.bounds, self.threads)
        return _readonly(out)

    def accuracy_m(self) -> NDArray[np.float64]:
        if self._acc is not None:
            return self._acc
        if self.gathered:
            raise RuntimeError("the accuracies were not sorted with the rows: ask _columns for them")
        if "accuracy_m" not in self.table.column_names:
            return _readonly(np.full(self.t_us.shape[0], np.nan))
        return self._sorted(_numeric(self.table, "accuracy_m", nullable=True))


def _readonly(a: NDArray[Any]) -> NDArray[Any]:
    """Arrays reach the kernels read-only, whether they are Arrow's buffers or our copies: numba
    compiles one specialisation per writability, and compiling takes seconds."""
    a = np.ascontiguousarray(a)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def _columns(
    fixes: pa.Table, threads: int | None = None, *, accuracy: bool = False, defer_sort: bool = False
) -> _Columns:
    """The fix columns sorted by (entity, t), stably; with ``accuracy``, the accuracies too. With
    ``defer_sort``, rows in no order are only grouped by entity, and ``pending`` of the result sorts
    the rows of a slice of its bounds by time (the caller runs it on every slice before reading)."""
    if not isinstance(fixes, pa.Table):
        raise InputError(f"detect_stays needs a pyarrow Table of fixes, got {type(fixes).__name__}")
    entity = "entity" if "entity" in fixes.column_names else "device"
    missing = [c for c in (entity, "t", "lat", "lon") if c not in fixes.column_names]
    if missing:
        raise SchemaError(
            f"fix table lacks column {', '.join(missing)}",
            hint="stay detection needs t, lat, lon and entity (or device)",
        )
    t_col = fixes.column("t")
    if not pa.types.is_timestamp(t_col.type):
        raise SchemaError(f"column 't' of the fix table has type {t_col.type}, expected {UTC_US}")
    t_arr = _single(t_col.cast(UTC_US) if t_col.type != UTC_US else t_col, "t")
    t_us = np.asarray(t_arr.view(pa.int64()).to_numpy(zero_copy_only=True))
    lat = _numeric(fixes, "lat", nullable=False)
    lon = _numeric(fixes, "lon", nullable=False)

    ent_col = fixes.column(entity)
    if not (pa.types.is_string(ent_col.type) or pa.types.is_large_string(ent_col.type)):
        raise SchemaError(f"column {entity!r} of the fix table has type {ent_col.type}, expected string")
    ent_arr = _single(ent_col, entity)
    # entities usually come in runs (one device's track after another): then encode the runs, not the
    # rows; rows in no order (a shuffled table) are encoded row by row, in threads over row ranges
    head = ent_arr.slice(0, min(len(ent_arr), 65_536))
    changes = pc.sum(pc.not_equal(head.slice(1), head.slice(0, max(len(head) - 1, 0)))).as_py() or 0
    run_ends: NDArray[np.int64] | None = None
    pieces: list[tuple[int, NDArray[Any], NDArray[np.int64], NDArray[np.int64]]] = []
    if len(ent_arr) and changes * 16 <= len(head):
        ree = pc.run_end_encode(ent_arr, run_end_type=pa.int64())
        run_ends = np.asarray(ree.run_ends.to_numpy(zero_copy_only=False), np.int64)
        enc = ree.values.dictionary_encode()
        names = enc.dictionary
        run_codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    elif not len(ent_arr):
        run_ends = np.zeros(0, np.int64)
        names = pa.array([], ent_arr.type)
        run_codes = np.zeros(0, np.int64)
    else:
        names, pieces = _encode_rows(ent_arr, _thread_count(len(ent_arr), threads))
    rank = np.empty(len(names), np.int64)
    rank[np.asarray(pc.array_sort_indices(names).to_numpy(), dtype=np.int64)] = np.arange(len(names))
    entities = names.take(pa.array(np.argsort(rank, kind="stable")))

    for name, arr in (("lat", lat), ("lon", lon)):
        if np.isnan(arr).any():
            raise SchemaError(f"column {name!r} of the fix table holds NaN; every fix needs a position")

    if len(t_us) and int(t_us.max()) - int(t_us.min()) >= 2**62:
        raise SchemaError(
            "column 't' of the fix table spans more than 146 000 years; times are microseconds since 1970",
            hint="check the times for a wrong unit or a placeholder value",
        )
    from ..kernels.stays import count_codes
    from ..kernels.trips import count_pieces, run_order

    if run_ends is not None:
        if len(run_ends) == 0:
            return _Columns(fixes, entities, _readonly(np.zeros(1, np.int64)), None, t_us, lat, lon, threads)
        run_codes = rank[run_codes]
        if count_pieces(run_ends, t_us) * 16 <= t_us.shape[0]:
            # long time-sorted pieces (the usual case): merge each entity's pieces; nothing to do when
            # the rows are already in (entity, t) order. The same stable order as the sort below.
            in_order, order, t_sorted, bounds = run_order(run_ends, run_codes, t_us, len(names))
            bounds = _readonly(bounds)
            if in_order:
                return _Columns(fixes, entities, bounds, None, t_us, lat, lon, threads)
            return _Columns(fixes, entities, bounds, order, t_sorted, lat, lon, threads)
        # many short pieces: the rows' codes, sorted below like a table in no order
        codes = _readonly(np.repeat(run_codes, np.diff(run_ends, prepend=0)))
        pieces = [(0, codes, np.arange(len(names), dtype=np.int64), count_codes(codes, len(names)))]
    else:
        pieces = [(lo, idx, rank[local], counts) for lo, idx, local, counts in pieces]
    acc = None
    if accuracy:
        acc = (
            _numeric(fixes, "accuracy_m", nullable=True)
            if "accuracy_m" in fixes.column_names
            else np.full(len(t_us), np.nan)
        )
    t_s, lat_s, lon_s, acc_s, bounds, sort = _sort_rows(pieces, len(names), t_us, lat, lon, acc)
    if not defer_sort:
        _in_groups(sort, bounds, threads)
    return _Columns(
        fixes,
        entities,
        bounds,
        None,
        t_s,
        lat_s,
        lon_s,
        threads,
        gathered=True,
        acc=acc_s,
        pending=sort if defer_sort else None,
    )


def _thread_count(n_rows: int, threads: int | None) -> int:
    """Threads to use: ``threads``, or one per CPU (up to 8) for at least 100 000 rows."""
    if threads is None:
        return min(os.cpu_count() or 1, 8) if n_rows >= 100_000 else 1
    return threads


def _threaded(fn: Callable[[Any], T], items: list[Any]) -> list[T]:
    """``fn`` on each item, in threads when there are several (the kernels release the GIL)."""
    if len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(fn, items))


def _encode_rows(
    ent_arr: pa.Array, threads: int
) -> tuple[pa.Array, list[tuple[int, NDArray[Any], NDArray[np.int64], NDArray[np.int64]]]]:
    """Entity names of rows in no order, dictionary-encoded in ``threads`` row ranges at once.

    Returns the distinct names and, per range, ``(first row, codes, code -> name number, rows per
    code)``; the codes are those of the range's own dictionary."""
    from ..kernels.stays import count_codes

    n = len(ent_arr)
    cuts = sorted({0, n, *(n * k // threads for k in range(1, threads))})

    def encode(lo_hi: tuple[int, int]) -> tuple[int, pa.Array, NDArray[Any], NDArray[np.int64]]:
        lo, hi = lo_hi
        enc = ent_arr.slice(lo, hi - lo).dictionary_encode()
        idx = _readonly(np.asarray(enc.indices.to_numpy(zero_copy_only=False)))
        return lo, enc.dictionary, idx, count_codes(idx, len(enc.dictionary))

    parts = _threaded(encode, list(itertools.pairwise(cuts)))
    if len(parts) == 1:
        lo, names, idx, counts = parts[0]
        return names, [(lo, idx, np.arange(len(names), dtype=np.int64), counts)]
    joined = pa.concat_arrays([p[1] for p in parts]).dictionary_encode()
    number = np.asarray(joined.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    splits = np.cumsum([len(p[1]) for p in parts])[:-1]
    return joined.dictionary, [
        (lo, idx, local, counts)
        for (lo, _, idx, counts), local in zip(parts, np.split(number, splits), strict=True)
    ]


def _sort_rows(
    pieces: list[tuple[int, NDArray[Any], NDArray[np.int64], NDArray[np.int64]]],
    n_entities: int,
    t_us: NDArray[np.int64],
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
    acc: NDArray[np.float64] | None,
) -> tuple[
    NDArray[np.int64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64] | None,
    NDArray[np.int64],
    Callable[[NDArray[np.int64]], None],
]:
    """The rows sorted stably by (entity, t), for rows in no useful order. ``pieces`` are row ranges
    ``(first row, codes, code -> entity number, rows per code)``. Each range's rows move to their
    entity's part of the output (ranges in threads; a range's rows follow those of the ranges before
    it, so ties keep the input order). Returns the t, lat, lon and accuracies (None when not given),
    the bounds of the entities and the function that sorts the rows of a slice of the bounds by time
    in place (run it on every slice, say groups of entities in threads)."""
    from ..kernels.stays import scatter_rows, sort_rows

    per_piece = np.zeros((len(pieces), n_entities), np.int64)
    for k, (_, _, cmap, counts) in enumerate(pieces):
        per_piece[k, cmap] = counts
    bounds = np.zeros(n_entities + 1, np.int64)
    np.cumsum(per_piece.sum(axis=0), out=bounds[1:])
    fills = bounds[:-1] + np.cumsum(per_piece, axis=0) - per_piece
    n = len(t_us)
    t_s = np.empty(n, np.int64)
    lat_s = np.empty(n, np.float64)
    lon_s = np.empty(n, np.float64)
    acc_s = np.empty(n if acc is not None else 0, np.float64)
    src = (_readonly(t_us), _readonly(lat), _readonly(lon), _readonly(acc if acc is not None else acc_s))

    def scatter(k: int) -> None:
        lo, codes, cmap, _ = pieces[k]
        scatter_rows(codes, lo, _readonly(cmap), fills[k].copy(), *src, t_s, lat_s, lon_s, acc_s)

    _threaded(scatter, list(range(len(pieces))))
    bounds = _readonly(bounds)

    def sort(b: NDArray[np.int64]) -> None:
        sort_rows(t_s, lat_s, lon_s, acc_s, b)

    return t_s, lat_s, lon_s, (acc_s if acc is not None else None), bounds, sort


def _single(col: pa.ChunkedArray, name: str) -> pa.Array:
    """One contiguous array (no copy when the column has one chunk); nulls refused."""
    if col.null_count:
        raise SchemaError(
            f"column {name!r} of the fix table has {col.null_count} null values; it is required"
        )
    if col.num_chunks == 1:
        return col.chunk(0)
    if col.num_chunks == 0:
        return pa.array([], type=col.type)
    return col.combine_chunks()


def _numeric(table: pa.Table, name: str, *, nullable: bool) -> NDArray[np.float64]:
    col = table.column(name)
    if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
        raise SchemaError(f"column {name!r} of the fix table has type {col.type}, expected float64")
    if col.type != pa.float64():
        col = col.cast(pa.float64())
    if nullable:
        col = col.fill_null(np.nan) if col.null_count else col
        arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    else:
        arr = _single(col, name)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)


# --------------------------------------------------------------------------------------------------
# output


def _stay_table(
    ints: NDArray[np.int64],
    floats: NDArray[np.float64],
    cols: _Columns,
    label: str,
    radius_param_m: float,
    min_duration_s: float,
    *,
    calibrate: bool,
) -> pa.Table:
    ent, first, last, start, end, n_fixes, gap = (np.ascontiguousarray(ints[:, k]) for k in range(7))
    lat, lon, radius = (np.ascontiguousarray(floats[:, k]) for k in range(3))
    conf = stay_confidence(
        n_fixes,
        (end - start) / 1e6,
        gap / 1e6,
        radius,
        radius_param_m=radius_param_m,
        min_duration_s=min_duration_s,
    )
    if calibrate:
        from ..evaluate.calibration import apply, row_classes

        # each stay's own class, so an incremental analysis gives it the confidence a full one does
        conf = apply("stays", conf, row_classes(n_fixes, (end - start) / 1e6, radius))
    names = cols.entities.take(pa.array(ent, pa.int64()))
    if not pa.types.is_string(names.type):
        names = names.cast(pa.string())
    table = pa.Table.from_arrays(
        [
            names,
            pa.array(start, pa.int64()).view(UTC_US),
            pa.array(end, pa.int64()).view(UTC_US),
            pa.array(lat),
            pa.array(lon),
            pa.array(radius),
            pa.array(n_fixes),
            pa.array(conf),
            pa.array(first),
            pa.array(last),
            pa.array(np.full(len(ent), label, dtype=object), pa.string())
            if len(ent)
            else pa.array([], pa.string()),
        ],
        schema=STAY,
    )
    return validate(table, "stay")


# --------------------------------------------------------------------------------------------------
# parameters


def _method(method: str) -> StayMethod:
    try:
        return StayMethod(method)
    except ValueError:
        valid = ", ".join(repr(m.value) for m in StayMethod)
        raise InputError(f"unknown stay method {method!r}; expected one of {valid}") from None


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not (isinstance(value, Real) and math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a finite number greater than 0, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if isinstance(value, bool) or not (isinstance(value, Real) and math.isfinite(value) and value >= 0):
        raise InputError(f"{name} must be a finite number of at least 0, got {value!r}")


def _check_count(name: str, value: int, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < least:
        raise InputError(f"{name} must be a whole number of at least {least}, got {value!r}")


def _label(name: str, **params: object) -> str:
    def fmt(v: object) -> str:
        return f"{v:g}" if isinstance(v, float) else str(v)

    return f"{name}({', '.join(f'{k}={fmt(v)}' for k, v in params.items())})"
