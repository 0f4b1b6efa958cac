"""Co-presence: when two entities were within ``radius_m`` of each other, for how long, and whether
that is more than chance.

What it finds
-------------
:func:`copresence_episodes` reads a fix table holding many entities and returns the *episodes* in
which two of them were within ``radius_m`` for at least ``min_duration_s``:

1. **Epochs.** Time is cut into epochs of ``epoch_s`` (60 s). An entity has a position at an epoch
   only when two consecutive fixes bracket it less than ``max_gap_s`` apart: the position is
   interpolated between them, and nothing is claimed inside a longer gap. Fixes less accurate than
   what could ever support "within ``radius_m``" are dropped first (see below), which can open gaps.
2. **Runs.** Consecutive brackets of an entity whose fixes all fall in one grid cell (cells of
   ``radius_m``) form a *static run*: one position (the mean of its fixes) and one accuracy (the
   larger of the scatter of its fixes and their accuracy shrunk by √n). A bracket whose ends lie in
   different cells is *moving*: each of its epochs is a run of its own, at the interpolated position,
   with an accuracy that grows towards the middle of the bracket by a quarter of the distance between
   its fixes (where it went between two fixes is not known).
3. **Spatio-temporal index.** Runs are sorted by cell and start epoch; a compiled sweep compares each
   run with the runs of its own and the 13 "forward" neighbouring cells (3-D cells on Earth-centred
   coordinates: no seam, no distortion) whose epochs overlap, instead of all pairs of entities.
4. **Accuracy.** Each fix's ``accuracy_m`` is the RMS of its horizontal error, so each axis of the
   difference of two positions has variance ``(acc_a² + acc_b²) / 2``. The probability that the two
   were truly within ``radius_m`` given the observed distance ``d`` is a non-central χ² (2 degrees of
   freedom) probability; an epoch counts as "within" when it is at least ``min_probability`` (0.5).
   At 0.5 this needs ``d ≤ radius_m`` and a combined accuracy small enough: two 75 m Wi-Fi fixes
   can never show two people within 50 m, and say so by finding nothing.
5. **Episodes.** Within-epochs of a pair are stitched into episodes; a hole of at most
   ``max_hole_s`` is bridged only when neither entity's stream had a gap there. Episodes shorter
   than ``min_duration_s`` are dropped. ``confidence`` is the mean probability over the episode's
   span (holes count as 0).

Significance
------------
Strangers coincide all the time: at a shared office block, a gym at the same hours, the same
supermarket, the same bus. :func:`pair_significance` asks, for each pair, whether its co-presence
*away from both entities' home and work* is more than strangers with the same places and hours
would show. Each entity's stays give its occupancy: on how many days of each kind (weekday,
weekend) it was at each grid cell (``cell_m``). The null model shuffles days: two strangers who
are at a cell on ``n_a`` and ``n_b`` of ``D`` days share ``X ~ Hypergeometric(D, n_a, n_b)`` of
them (the observed ``x`` counts days both were there in a common local hour, so the test is
conservative), so co-presence at a place both frequent is expected, and a few meetings at places
one of them rarely visits are not. The p-value is the probability that strangers would be together
on at least as many days over all (cell, kind of day) both used away from home and work: the exact
upper tail of the sum of those hypergeometric counts (``test="count"``; Fisher's combination of
per-place p-values, ``test="fisher"``, was used before and is kept for comparison: each place both
used on different days adds a p-value of 1 and drowns a few meetings). Cells both visit on the same
weekday in two or more weeks are routine (a gym at fixed hours) and carry no evidence.

Days together away from home and work come from the episodes and, with ``stay_pairs`` (default),
from *stays* of two entities that overlap for at least 10 minutes with centres within
``stay_radius_m``, each centre as accurate as its fixes' spread over their number allows: a phone
positioned by Wi-Fi (about 75 m per fix) never shows an episode within 50 m, but its stay at a café
averages 20 fixes to a place. Both count as presence at their place for the test. The pair is
called a tie when the p-value is at most ``alpha`` (:data:`DEFAULT_ALPHA`, 0.1) and it had at least
``min_away`` (3) days (or episodes) together away from home and work. The p-value is a score, not
a calibrated error rate: the threshold was chosen on two simulated towns and the false-tie rate, tie
precision and recall are measured on others (``docs/accuracy.md``). Cell-tower positions (about
600 m) place nobody at a café: pairs with such a phone cannot be linked.

What it cannot tell
-------------------
Co-presence reports times and places, never what the company means. Household members and
neighbours in one building look alike (both are at home at night); colleagues who are also friends
look like colleagues; a weekly meeting at a fixed hour looks like a shared routine. Published work
finds ties inferred from co-location barely better than chance outside such structure; the numbers
measured here say how much can be told on the simulator.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..kernels import jit
from ..model.errors import InputError, SchemaError
from ._geo import from_xyz, to_xyz_m

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_MAX_GAP_S",
    "EPISODE",
    "PAIR",
    "CopresenceGraph",
    "candidate_reference",
    "copresence_episodes",
    "copresence_graph",
    "pair_significance",
    "probability_within",
    "segment_reference",
    "who_was_near",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

UTC_US = pa.timestamp("us", tz="UTC")
US = 1_000_000

#: Default longest interval between two fixes across which a position is interpolated: 20 minutes,
#: so that devices sampling every 15 minutes (with jitter) are not cut into pieces at every fix.
DEFAULT_MAX_GAP_S = 1200.0

#: Default p-value threshold of a tie (with at least ``min_away`` days together away from home and
#: work): chosen on simulator seeds 11 and 12 (150 agents x 28 days) as the largest value of the grid
#: 0.001-0.5 at which tie precision over both was at least 0.95; measured on seeds 1 and 3
#: (docs/accuracy.md).
DEFAULT_ALPHA = 0.1

#: One co-presence episode of two entities (``entity_a < entity_b``).
EPISODE = pa.schema(
    [
        pa.field("entity_a", pa.string(), nullable=False),
        pa.field("entity_b", pa.string(), nullable=False),
        pa.field("start", UTC_US, nullable=False),
        pa.field("end", UTC_US, nullable=False),
        pa.field("duration_s", pa.float64()),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("distance_median_m", pa.float64()),
        pa.field("n_epochs", pa.int64()),
        pa.field("confidence", pa.float64()),
    ],
    metadata={"tier": "copresence_episode"},
)

#: One pair of entities with its co-presence and its significance against chance.
PAIR = pa.schema(
    [
        pa.field("entity_a", pa.string(), nullable=False),
        pa.field("entity_b", pa.string(), nullable=False),
        pa.field("n_episodes", pa.int64()),
        pa.field("total_s", pa.float64()),
        pa.field("n_away", pa.int64()),  # episodes away from both entities' home and work
        pa.field("away_s", pa.float64()),
        pa.field("days_away", pa.int64()),  # days together away from home and work (episodes, stays)
        pa.field("observed", pa.float64()),  # shared (day, hour, cell) slots away from home and work
        pa.field("expected", pa.float64()),  # the same under the day-shuffling null
        pa.field("p_value", pa.float64()),
        pa.field("tie_score", pa.float64()),  # -log10(p_value)
        pa.field("is_tie", pa.bool_()),
        pa.field("first", UTC_US),
        pa.field("last", UTC_US),
        pa.field("away_episodes", pa.list_(pa.int64())),  # rows of the episode table
        pa.field("method", pa.string()),
    ],
    metadata={"tier": "copresence_pair"},
)

#: The 13 neighbouring cells "after" a cell (plus the cell itself): each unordered pair of
#: neighbouring cells is visited once.
_OFFSETS = np.array(
    [(0, 0, 0)]
    + [
        (dx, dy, dz)
        for dx in (-1, 0, 1)
        for dy in (-1, 0, 1)
        for dz in (-1, 0, 1)
        if (dx, dy, dz) > (0, 0, 0)
    ],
    dtype=np.int64,
)
_BIAS = 1 << 20
_CHUNK_ROWS = 2_000_000
_SHIFT = 21


# --------------------------------------------------------------------------------------------------
# probability that two noisy positions are within a radius


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(96)


def _ncx2_cdf(x: F64, nc: F64) -> F64:
    """CDF at ``x`` of a non-central χ² with 2 degrees of freedom and non-centrality ``nc``: the
    probability that a 2-D standard normal vector centred ``sqrt(nc)`` from the origin lies within
    ``sqrt(x)`` of it (Gauss-Legendre quadrature of the Rice density over the part of ``[0, sqrt(x)]``
    within 9 of ``sqrt(nc)``, where all of the mass lies)."""
    from scipy.special import i0e

    a = np.sqrt(np.asarray(x, np.float64))
    b = np.sqrt(np.asarray(nc, np.float64))
    lo = np.clip(b - 9.0, 0.0, a)
    hi = np.clip(b + 9.0, 0.0, a)
    half = 0.5 * (hi - lo)
    r = (0.5 * (hi + lo))[..., None] + half[..., None] * _NODES
    bb = b[..., None]
    f = r * np.exp(-0.5 * (r - bb) ** 2) * i0e(r * bb)
    return np.asarray(np.clip((f * _WEIGHTS).sum(axis=-1) * half, 0.0, 1.0), np.float64)


@functools.lru_cache(maxsize=1)
def _table() -> tuple[F64, F64, F64]:
    """P(within r) on a grid of s = σ/r (0..1) and q = d/r (0..1.2), for bilinear lookup."""
    s = np.linspace(0.0, 1.0, 101)
    q = np.linspace(0.0, 1.2, 121)
    ss, qq = np.meshgrid(np.maximum(s, 1e-3), q, indexing="ij")
    p = _ncx2_cdf(1.0 / ss**2, qq**2 / ss**2)
    return s, q, p


def probability_within(distance_m: F64, sigma_m: F64, radius_m: float) -> F64:
    """Probability that two positions observed ``distance_m`` apart were truly within ``radius_m``,
    when each axis of their difference has standard deviation ``sigma_m`` (a flat prior on the true
    difference: a non-central χ² with 2 degrees of freedom). Looked up in a precomputed table
    (bilinear; error below 0.03 when σ is at least 5 % of ``radius_m``, and below that except within
    3σ of ``radius_m``, where the probability steps from 1 to 0); computed exactly beyond the table
    (σ over ``radius_m`` or a distance over 1.2 ``radius_m``); a step at ``radius_m`` below σ = 1 mm."""
    d = np.asarray(distance_m, np.float64)
    sig = np.asarray(sigma_m, np.float64)
    s_axis, q_axis, table = _table()
    s = np.clip(sig / radius_m, 0.0, 1.0)
    q = np.clip(d / radius_m, 0.0, 1.2)
    fs = s / (s_axis[1] - s_axis[0])
    fq = q / (q_axis[1] - q_axis[0])
    i = np.minimum(np.floor(fs).astype(np.int64), s_axis.shape[0] - 2)
    j = np.minimum(np.floor(fq).astype(np.int64), q_axis.shape[0] - 2)
    u, v = fs - i, fq - j
    p = (
        table[i, j] * (1 - u) * (1 - v)
        + table[i + 1, j] * u * (1 - v)
        + table[i, j + 1] * (1 - u) * v
        + table[i + 1, j + 1] * u * v
    )
    p = np.where((sig / radius_m > 1.0) | (d / radius_m > 1.2), _far(d, sig, radius_m), p)
    p = np.where(sig < 1e-3, (d <= radius_m).astype(np.float64), p)
    return np.asarray(np.clip(p, 0.0, 1.0), np.float64)


def _far(d: F64, sig: F64, radius_m: float) -> F64:
    big = (sig / radius_m > 1.0) | (d / radius_m > 1.2)
    out = np.zeros(d.shape, np.float64)
    if big.any():
        out[big] = _ncx2_cdf(radius_m**2 / sig[big] ** 2, d[big] ** 2 / sig[big] ** 2)
    return out


def _max_sigma(radius_m: float, min_probability: float) -> float:
    """Largest per-axis σ of a difference for which P(within r) can reach ``min_probability``
    (at distance 0 it is ``1 - exp(-r² / 2σ²)``)."""
    if min_probability <= 0.0:
        return math.inf
    return radius_m / math.sqrt(-2.0 * math.log(1.0 - min(min_probability, 0.999999)))


# --------------------------------------------------------------------------------------------------
# fixes -> runs


@dataclass
class _Runs:
    entity: I64  # entity code (index into names)
    cell: I64  # packed 3-D cell key
    k0: I64  # first epoch
    k1: I64  # one past the last epoch
    xyz: F64  # (n, 3) position
    acc: F64  # accuracy (RMS horizontal error), metres
    win: I64  # gap-free window id (global)
    names: list[str]
    epoch_s: float


def _pack(c: I64) -> I64:
    return np.asarray(
        ((c[:, 0] + _BIAS) << (2 * _SHIFT)) | ((c[:, 1] + _BIAS) << _SHIFT) | (c[:, 2] + _BIAS), np.int64
    )


def _column(table: pa.Table, name: str, *, what: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise SchemaError(
            f"{what} has no {name!r} column (it has {', '.join(table.column_names) or 'none'})",
            hint="pass a fix table with entity (or device), t, lat and lon",
        )
    return table.column(name)


def _times_us(col: pa.ChunkedArray, name: str) -> I64:
    if not pa.types.is_timestamp(col.type):
        raise SchemaError(f"column {name!r} must be a timestamp, not {col.type}")
    if col.null_count:
        raise SchemaError(f"column {name!r} has {col.null_count} missing values")
    return np.asarray(col.cast(pa.timestamp("us", tz=col.type.tz)).cast(pa.int64()).to_numpy(), np.int64)


def _floats(col: pa.ChunkedArray, name: str, fill: float | None = None) -> F64:
    if fill is None and col.null_count:
        raise SchemaError(f"column {name!r} has {col.null_count} missing values")
    a = col.cast(pa.float64())
    if fill is not None:
        a = a.fill_null(fill)
    return np.asarray(a.to_numpy(), np.float64)


def _entity_codes(table: pa.Table, what: str) -> tuple[I64, list[str]]:
    name = "entity" if "entity" in table.column_names else "device"
    col = _column(table, name, what=what)
    if col.null_count:
        raise SchemaError(f"{what}: column {name!r} has {col.null_count} missing values")
    enc = pc.dictionary_encode(col.cast(pa.string())).combine_chunks()
    names = [str(x) for x in enc.dictionary.to_pylist()]
    order = np.argsort(np.array(names, dtype=object), kind="stable")
    rank = np.empty(len(names), np.int64)
    rank[order] = np.arange(len(names))
    codes = rank[np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64)]
    return codes, [names[i] for i in order]


def _check(radius_m: float, min_duration_s: float, max_gap_s: float, epoch_s: float, p_min: float) -> None:
    for n, v in (("radius_m", radius_m), ("max_gap_s", max_gap_s), ("epoch_s", epoch_s)):
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise InputError(
                f"{n} must be a positive number of {'metres' if n == 'radius_m' else 'seconds'}, not {v!r}"
            )
    if not (isinstance(min_duration_s, int | float) and min_duration_s >= 0):
        raise InputError(f"min_duration_s must be >= 0 seconds, not {min_duration_s!r}")
    if epoch_s * 2 > max_gap_s:
        raise InputError(
            f"epoch_s ({epoch_s:g}) must be at most half of max_gap_s ({max_gap_s:g})",
            hint="a gap must hide at least one epoch so that nothing is claimed across it",
        )
    if not 0.0 < p_min < 1.0:
        raise InputError(f"min_probability must be between 0 and 1 (exclusive), not {p_min!r}")


def _chunk_runs(
    code: I64,
    t: I64,
    lat: F64,
    lon: F64,
    acc: F64,
    *,
    cell_m: float,
    max_gap_s: float,
    epoch_s: float,
    static_m: float,
) -> tuple[list[dict[str, Any]], int]:
    """Static and moving runs of the fixes of whole entities (sorted by entity and time), and the
    number of gap-free windows they span (window ids start at 0)."""
    n = t.shape[0]
    xyz = to_xyz_m(lat, lon)
    e_us = round(epoch_s * US)
    # brackets: fixes i, i+1 of one entity, less than max_gap_s apart (and not at the same instant)
    same = code[1:] == code[:-1] if n > 1 else np.zeros(0, np.bool_)
    dt = (t[1:] - t[:-1]) if n > 1 else np.zeros(0, np.int64)
    ok = same & (dt > 0) & (dt <= int(max_gap_s * US))
    # a new window starts at every break
    brk = np.ones(max(n - 1, 0), np.bool_)
    brk[1:] = ~ok[:-1]
    win_b = np.cumsum(brk) - 1  # window id of each bracket
    # epochs in [t_i, t_{i+1})
    k_lo = -(-t[:-1] // e_us) if n > 1 else np.zeros(0, np.int64)
    k_hi = -(-t[1:] // e_us) if n > 1 else np.zeros(0, np.int64)
    has = ok & (k_hi > k_lo)
    run_of = _segment(xyz, ok, static_m) if n else np.zeros(0, np.int64)
    static = ok & (run_of[1:] == run_of[:-1]) if n > 1 else np.zeros(0, np.bool_)
    moving = has & ~static

    # ---- static runs: fixes f0..f1 of one segment (all within static_m of its first fix)
    parts: list[dict[str, Any]] = []
    if n > 1 and static.any():
        bounds = np.flatnonzero(np.concatenate(([True], run_of[1:] != run_of[:-1], [True])))
        f0, f1 = bounds[:-1], bounds[1:] - 1
        multi = f1 > f0
        f0, f1 = f0[multi], f1[multi]
        k0s, k1s = k_lo[f0], k_hi[f1 - 1]
        nonempty = k1s > k0s
        f0, f1, k0s, k1s = f0[nonempty], f1[nonempty], k0s[nonempty], k1s[nonempty]
        nr = f0.shape[0]
        nfix = f1 - f0 + 1
        idx = np.repeat(np.arange(nr), nfix)
        members = np.arange(int(nfix.sum())) - np.repeat(np.cumsum(nfix) - nfix, nfix) + np.repeat(f0, nfix)
        # each run's mean from its own fixes only (not from sums over the chunk): the runs, and so the
        # episodes of a pair, do not change in the last bits with the other entities read with it
        ref = xyz[f0]
        rel = xyz[members] - ref[idx]
        mean = np.stack([np.bincount(idx, rel[:, c], nr) for c in range(3)], axis=1) / nfix[:, None] + ref
        dev = xyz[members] - mean[idx]
        scat = np.sqrt(np.bincount(idx, (dev**2).sum(axis=1), nr) / nfix)
        acc2 = np.bincount(idx, acc[members] ** 2, nr) / nfix
        racc = np.maximum(np.sqrt(acc2 / nfix), scat)
        parts.append(
            {
                "entity": code[f0],
                "cell": _pack(np.floor(mean / cell_m).astype(np.int64)),
                "k0": k0s,
                "k1": k1s,
                "xyz": mean,
                "acc": racc,
                "win": win_b[f0],
            }
        )
    # ---- moving brackets: one run per epoch
    mi = np.flatnonzero(moving)
    if mi.size:
        cnt = (k_hi - k_lo)[mi]
        b = np.repeat(mi, cnt)
        k = k_lo[b] + (np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        f = (k * e_us - t[b]) / (t[b + 1] - t[b]).astype(np.float64)
        p = xyz[b] + (xyz[b + 1] - xyz[b]) * f[:, None]
        step = np.sqrt(((xyz[b + 1] - xyz[b]) ** 2).sum(axis=1))
        a = acc[b] + (acc[b + 1] - acc[b]) * f + 0.25 * step * (1.0 - np.abs(2.0 * f - 1.0))
        parts.append(
            {
                "entity": code[b],
                "cell": _pack(np.floor(p / cell_m).astype(np.int64)),
                "k0": k,
                "k1": k + 1,
                "xyz": p,
                "acc": a,
                "win": win_b[b],
            }
        )
    return parts, int(win_b[-1]) + 1 if win_b.size else 0


def _runs(
    fixes: pa.Table,
    *,
    radius_m: float,
    max_gap_s: float,
    epoch_s: float,
    max_accuracy_m: float,
    missing_accuracy_m: float,
    entities: Iterable[str] | None,
    static_m: float | None = None,
) -> _Runs:
    what = "the fix table"
    if entities is not None:
        want = sorted({str(e) for e in entities})
        name = "entity" if "entity" in fixes.column_names else "device"
        fixes = fixes.filter(
            pc.is_in(_column(fixes, name, what=what).cast(pa.string()), pa.array(want, pa.string()))
        )
    code, names = _entity_codes(fixes, what)
    t = _times_us(_column(fixes, "t", what=what), "t")
    lat_col = _column(fixes, "lat", what=what)
    lon_col = _column(fixes, "lon", what=what)
    acc_col = fixes.column("accuracy_m") if "accuracy_m" in fixes.column_names else None
    for name, col in (("lat", lat_col), ("lon", lon_col)):
        if col.null_count:
            raise SchemaError(f"column {name!r} has {col.null_count} missing values")
    n = t.shape[0]
    order: I64 | None = None
    if n and not bool(np.all((code[1:] > code[:-1]) | ((code[1:] == code[:-1]) & (t[1:] >= t[:-1])))):
        order = np.lexsort((t, code))
        code, t = code[order], t[order]
    cell_m = max(float(radius_m), 10.0)  # packed cell keys need cells of at least ~6 m
    if static_m is None:
        static_m = 0.5 * radius_m
    # work on chunks of whole entities: the position columns are read a chunk at a time and the
    # temporaries stay bounded whatever the size of the table
    parts: list[dict[str, Any]] = []
    if n:
        cuts = np.unique(np.searchsorted(code, code[np.arange(0, n, _CHUNK_ROWS)], side="left"))
        cuts = np.concatenate((cuts, [n]))
        win_off = 0
        for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            rows = pa.array(order[lo:hi]) if order is not None else None

            def part(
                col: pa.ChunkedArray, rows: pa.Array | None = rows, lo: int = lo, hi: int = hi
            ) -> pa.ChunkedArray:
                return col.take(rows) if rows is not None else col.slice(lo, hi - lo)

            lat = _floats(part(lat_col), "lat")
            lon = _floats(part(lon_col), "lon")
            acc = (
                _floats(part(acc_col), "accuracy_m", fill=missing_accuracy_m)
                if acc_col is not None
                else np.full(hi - lo, missing_accuracy_m)
            )
            bad = ~(np.isfinite(lat) & np.isfinite(lon)) | (np.abs(lat) > 90) | (np.abs(lon) > 180)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                row = int(order[lo + i]) if order is not None else lo + i
                raise InputError(
                    f"fix row {row} has an invalid position ({lat[i]}, {lon[i]})", hint="expected degrees"
                )
            keep = acc <= max_accuracy_m
            c_code, c_t = code[lo:hi], t[lo:hi]
            if not keep.all():
                c_code, c_t, lat, lon, acc = c_code[keep], c_t[keep], lat[keep], lon[keep], acc[keep]
            got, n_win = _chunk_runs(
                c_code,
                c_t,
                lat,
                lon,
                acc,
                cell_m=cell_m,
                max_gap_s=max_gap_s,
                epoch_s=epoch_s,
                static_m=static_m,
            )
            for q in got:
                q["win"] = q["win"] + win_off
            parts += got
            win_off += n_win
    del code, t  # no longer needed: free them before the runs grow
    if parts:
        cat = {key: np.concatenate([q[key] for q in parts]) for key in parts[0]}
        del parts
    else:
        cat = {
            "entity": np.zeros(0, np.int64),
            "cell": np.zeros(0, np.int64),
            "k0": np.zeros(0, np.int64),
            "k1": np.zeros(0, np.int64),
            "xyz": np.zeros((0, 3)),
            "acc": np.zeros(0),
            "win": np.zeros(0, np.int64),
        }
    order = np.lexsort((cat["k0"], cat["cell"]))
    for key in list(cat):  # one column at a time: the unsorted copy is freed as the sorted one is made
        cat[key] = np.ascontiguousarray(cat[key][order])
    return _Runs(
        entity=cat["entity"].astype(np.int64, copy=False),
        cell=cat["cell"].astype(np.int64, copy=False),
        k0=cat["k0"].astype(np.int64, copy=False),
        k1=cat["k1"].astype(np.int64, copy=False),
        xyz=cat["xyz"].astype(np.float64, copy=False),
        acc=cat["acc"].astype(np.float64, copy=False),
        win=cat["win"].astype(np.int64, copy=False),
        names=names,
        epoch_s=epoch_s,
    )


@jit
def _segment_kernel(xyz: F64, ok: NDArray[np.bool_], static_m: float) -> I64:  # pragma: no cover - compiled
    n = xyz.shape[0]
    run = np.empty(n, np.int64)
    r = 0
    anchor = 0
    lim = static_m * static_m
    for i in range(n):
        if i > 0:
            dx = xyz[i, 0] - xyz[anchor, 0]
            dy = xyz[i, 1] - xyz[anchor, 1]
            dz = xyz[i, 2] - xyz[anchor, 2]
            if not (ok[i - 1] and dx * dx + dy * dy + dz * dz <= lim):
                r += 1
                anchor = i
        run[i] = r
    return run


def _segment(xyz: F64, ok: NDArray[np.bool_], static_m: float) -> I64:
    """Segment number of each fix: a segment grows while the next fix is within ``static_m`` of the
    segment's first fix and the bracket to it is gap-free (``ok[i - 1]``)."""
    return np.asarray(_segment_kernel(np.ascontiguousarray(xyz), np.ascontiguousarray(ok), float(static_m)))


def segment_reference(
    points: Sequence[tuple[float, float, float]], ok: Sequence[bool], static_m: float
) -> list[int]:
    """Plain-Python definition of :func:`_segment`."""
    out: list[int] = []
    r, anchor = 0, 0
    for i, p in enumerate(points):
        if i > 0:
            d2 = sum((p[c] - points[anchor][c]) ** 2 for c in range(3))
            if not (ok[i - 1] and d2 <= static_m * static_m):
                r += 1
                anchor = i
        out.append(r)
    return out


# --------------------------------------------------------------------------------------------------
# the sweep (compiled) and its plain-Python reference


@jit
def _search(keys: I64, value: int) -> int:  # pragma: no cover - compiled
    lo, hi = 0, keys.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@jit
def _sweep_kernel(
    cell: I64,
    k0: I64,
    k1: I64,
    entity: I64,
    xyz: F64,
    acc: F64,
    ukeys: I64,
    bounds: I64,
    maxlen: I64,
    offsets: I64,
    radius_m: float,
    max_var: float,
) -> tuple[I64, I64, I64, I64, F64]:  # pragma: no cover - compiled
    cap = 1024
    out_a = np.empty(cap, np.int64)
    out_b = np.empty(cap, np.int64)
    out_lo = np.empty(cap, np.int64)
    out_hi = np.empty(cap, np.int64)
    out_d = np.empty(cap, np.float64)
    m = 0
    r2 = radius_m * radius_m
    sh = np.int64(1) << np.int64(21)
    for g in range(ukeys.shape[0]):
        lo_g, hi_g = bounds[g], bounds[g + 1]
        for o in range(offsets.shape[0]):
            key = ukeys[g] + offsets[o, 0] * sh * sh + offsets[o, 1] * sh + offsets[o, 2]
            if o == 0:
                h = g
            else:
                h = _search(ukeys, key)
                if h >= ukeys.shape[0] or ukeys[h] != key:
                    continue
            lo_h, hi_h = bounds[h], bounds[h + 1]
            for i in range(lo_g, hi_g):
                # runs of h overlapping [k0[i], k1[i]): start before k1[i], end after k0[i];
                # a run of h lasts at most maxlen[h] epochs, so it starts after k0[i] - maxlen[h]
                first = lo_h + _search(k0[lo_h:hi_h], k0[i] - maxlen[h] + 1)
                if o == 0:
                    first = max(first, i + 1)
                for j in range(first, hi_h):
                    if k0[j] >= k1[i]:
                        break
                    if k1[j] <= k0[i] or entity[j] == entity[i]:
                        continue
                    dx = xyz[i, 0] - xyz[j, 0]
                    dy = xyz[i, 1] - xyz[j, 1]
                    dz = xyz[i, 2] - xyz[j, 2]
                    d2 = dx * dx + dy * dy + dz * dz
                    if d2 > r2:
                        continue
                    var = 0.5 * (acc[i] * acc[i] + acc[j] * acc[j])
                    if var > max_var:
                        continue
                    if m == cap:
                        cap *= 2
                        na = np.empty(cap, np.int64)
                        nb = np.empty(cap, np.int64)
                        nl = np.empty(cap, np.int64)
                        nh = np.empty(cap, np.int64)
                        nd = np.empty(cap, np.float64)
                        na[:m] = out_a[:m]
                        nb[:m] = out_b[:m]
                        nl[:m] = out_lo[:m]
                        nh[:m] = out_hi[:m]
                        nd[:m] = out_d[:m]
                        out_a, out_b, out_lo, out_hi, out_d = na, nb, nl, nh, nd
                    out_a[m] = i
                    out_b[m] = j
                    out_lo[m] = max(k0[i], k0[j])
                    out_hi[m] = min(k1[i], k1[j])
                    out_d[m] = math.sqrt(d2)
                    m += 1
    return out_a[:m].copy(), out_b[:m].copy(), out_lo[:m].copy(), out_hi[:m].copy(), out_d[:m].copy()


def _sweep(runs: _Runs, radius_m: float, max_var: float) -> tuple[I64, I64, I64, I64, F64]:
    """Every pair of runs of two entities that overlap in time, lie within ``radius_m`` and whose
    combined per-axis variance is at most ``max_var``: run rows i, j, overlap [lo, hi), distance."""
    n = runs.cell.shape[0]
    if n == 0:
        z = np.zeros(0, np.int64)
        return z, z, z, z, np.zeros(0)
    change = np.flatnonzero(runs.cell[1:] != runs.cell[:-1]) + 1
    bounds = np.concatenate(([0], change, [n])).astype(np.int64)
    ukeys = np.ascontiguousarray(runs.cell[bounds[:-1]])
    length = runs.k1 - runs.k0
    maxlen = np.maximum.reduceat(length, bounds[:-1]).astype(np.int64)
    return _sweep_kernel(
        runs.cell,
        runs.k0,
        runs.k1,
        runs.entity,
        runs.xyz,
        runs.acc,
        ukeys,
        bounds,
        maxlen,
        _OFFSETS,
        float(radius_m),
        float(max_var),
    )


def candidate_reference(
    entity: Sequence[int],
    k0: Sequence[int],
    k1: Sequence[int],
    xyz: Sequence[tuple[float, float, float]],
    acc: Sequence[float],
    radius_m: float,
    max_var: float,
) -> set[tuple[int, int, int, int]]:
    """Plain-Python, all-pairs definition of what the compiled sweep finds: for every two runs of
    different entities whose epoch ranges ``[k0, k1)`` overlap, within ``radius_m`` (Euclidean) and
    with ``(acc_i² + acc_j²) / 2 <= max_var``: ``(min(i, j), max(i, j), overlap start, overlap end)``."""
    out: set[tuple[int, int, int, int]] = set()
    n = len(entity)
    for i in range(n):
        for j in range(i + 1, n):
            if entity[i] == entity[j]:
                continue
            lo, hi = max(k0[i], k0[j]), min(k1[i], k1[j])
            if hi <= lo:
                continue
            d2 = sum((xyz[i][c] - xyz[j][c]) ** 2 for c in range(3))
            if d2 > radius_m * radius_m or 0.5 * (acc[i] ** 2 + acc[j] ** 2) > max_var:
                continue
            out.add((i, j, lo, hi))
    return out


# --------------------------------------------------------------------------------------------------
# episodes


def _empty_episodes() -> pa.Table:
    return EPISODE.empty_table()


def copresence_episodes(
    fixes: pa.Table,
    *,
    radius_m: float = 50.0,
    min_duration_s: float = 600.0,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    entities: Iterable[str] | None = None,
    epoch_s: float = 60.0,
    min_probability: float = 0.5,
    max_hole_s: float = 180.0,
    missing_accuracy_m: float = 20.0,
) -> pa.Table:
    """Episodes in which two entities were within ``radius_m`` of each other for at least
    ``min_duration_s`` (see the module documentation for the method).

    Parameters
    ----------
    fixes
        A fix table with ``entity`` (or ``device``), ``t``, ``lat``, ``lon`` and, when known,
        ``accuracy_m`` (RMS horizontal error; a missing value counts as ``missing_accuracy_m``).
        Not modified.
    radius_m
        How close two entities must be.
    min_duration_s
        Shortest episode reported.
    max_gap_s
        Longest interval between two fixes of an entity across which its position is interpolated;
        nothing is claimed inside a longer gap of either entity (default 20 minutes: devices that
        sample every 15 minutes keep their position between fixes).
    entities
        Only these entities (default: all in ``fixes``).
    epoch_s
        Time step at which positions are compared (at most half of ``max_gap_s``).
    min_probability
        An epoch counts when the two were within ``radius_m`` with at least this probability given
        both fixes' accuracy.
    max_hole_s
        Within-epochs of a pair this close are one episode when neither entity had a gap between.

    Returns
    -------
    pyarrow.Table
        :data:`EPISODE` rows, sorted by ``entity_a``, ``entity_b`` and ``start``.
    """
    _check(radius_m, min_duration_s, max_gap_s, epoch_s, min_probability)
    sig_max = _max_sigma(radius_m, min_probability)
    runs = _runs(
        fixes,
        radius_m=radius_m,
        max_gap_s=max_gap_s,
        epoch_s=epoch_s,
        max_accuracy_m=math.sqrt(2.0) * sig_max,
        missing_accuracy_m=missing_accuracy_m,
        entities=entities,
    )
    return _episodes(runs, radius_m, sig_max**2, min_probability, min_duration_s, max_hole_s)


def _episodes(
    runs: _Runs, radius_m: float, max_var: float, p_min: float, min_duration_s: float, max_hole_s: float
) -> pa.Table:
    ia, ib, lo, hi, d = _sweep(runs, radius_m, max_var)
    if ia.size == 0:
        return _empty_episodes()
    sig = np.sqrt(0.5 * (runs.acc[ia] ** 2 + runs.acc[ib] ** 2))
    p = probability_within(d, sig, radius_m)
    keep = p >= p_min
    ia, ib, lo, hi, d, p = ia[keep], ib[keep], lo[keep], hi[keep], d[keep], p[keep]
    if ia.size == 0:
        return _empty_episodes()
    ea, eb = runs.entity[ia], runs.entity[ib]
    swap = ea > eb
    ia, ib = np.where(swap, ib, ia), np.where(swap, ia, ib)
    ea, eb = np.minimum(ea, eb), np.maximum(ea, eb)
    n_ent = len(runs.names)
    pair = ea * n_ent + eb
    # one sort on (pair, first epoch): an entity has one run per epoch, so the keys are unique
    lo0 = int(lo.min())
    order = np.argsort(pair * (int(lo.max()) - lo0 + 1) + (lo - lo0))
    ia, ib, lo, hi, d, p, pair = ia[order], ib[order], lo[order], hi[order], d[order], p[order], pair[order]
    ea, eb = ea[order], eb[order]
    wa, wb = runs.win[ia], runs.win[ib]
    hole = int(max_hole_s // runs.epoch_s)
    new = np.ones(ia.size, np.bool_)
    new[1:] = (pair[1:] != pair[:-1]) | (lo[1:] - hi[:-1] > hole) | (wa[1:] != wa[:-1]) | (wb[1:] != wb[:-1])
    eid = np.cumsum(new) - 1
    ne = int(eid[-1]) + 1
    w = (hi - lo).astype(np.float64)
    starts = np.flatnonzero(new)
    ends = np.concatenate((starts[1:], [ia.size])) - 1
    e_lo = lo[starts]
    e_hi = hi[ends]  # pieces of one episode are disjoint and in order
    span = (e_hi - e_lo).astype(np.float64)
    n_ep = np.bincount(eid, w, ne)
    conf = np.bincount(eid, w * p, ne) / span
    mid = 0.5 * (runs.xyz[ia] + runs.xyz[ib])
    pos = np.stack([np.bincount(eid, w * mid[:, c], ne) / n_ep for c in range(3)], axis=1)
    lat, lon = from_xyz(pos)
    # length-weighted median distance (d <= radius_m: episode number + d / radius orders by both)
    o2 = np.argsort(eid + d / (radius_m * 1.001))
    cw = np.cumsum(w[o2])
    base = np.concatenate(([0.0], cw))[starts]
    at = np.searchsorted(cw, base + 0.5 * n_ep, side="left")
    dmed = d[o2][np.minimum(at, o2.size - 1)]
    e_us = round(runs.epoch_s * US)
    dur = span * runs.epoch_s
    ok = dur >= min_duration_s
    names = np.array(runs.names, dtype=object)
    ea_e, eb_e = ea[starts], eb[starts]
    out = pa.table(
        {
            "entity_a": pa.array(names[ea_e[ok]].tolist(), pa.string()),
            "entity_b": pa.array(names[eb_e[ok]].tolist(), pa.string()),
            "start": pa.array(e_lo[ok] * e_us, pa.int64()).cast(UTC_US),
            "end": pa.array(e_hi[ok] * e_us, pa.int64()).cast(UTC_US),
            "duration_s": pa.array(dur[ok], pa.float64()),
            "lat": pa.array(lat[ok], pa.float64()),
            "lon": pa.array(lon[ok], pa.float64()),
            "distance_median_m": pa.array(dmed[ok], pa.float64()),
            "n_epochs": pa.array(n_ep[ok].astype(np.int64), pa.int64()),
            "confidence": pa.array(np.round(conf[ok], 4), pa.float64()),
        },
        schema=EPISODE,
    )
    return out


# --------------------------------------------------------------------------------------------------
# significance against chance


def _zone_name(lat: F64, lon: F64, tz: str | None) -> str:
    if tz is not None:
        from ._localtime import zone

        zone(tz)  # raises InputError for an unknown name
        return tz
    if lat.shape[0] == 0:
        return "UTC"
    try:
        from ._localtime import zones_at

        return zones_at(np.array([float(np.median(lat))]), np.array([float(np.median(lon))]))[0]
    except Exception:
        return "UTC"


def _presence(
    stays: pa.Table, names: list[str], tz: str | None, cell_m: float
) -> tuple[pa.Table, F64, F64, I64, str]:
    """Hours each entity spent at each grid cell: rows (entity code, cell, local day, hour of day),
    unique; plus the mean position (xyz) and dwell of each (entity, cell) and the zone used."""
    what = "the stay table"
    code_of = {n: i for i, n in enumerate(names)}
    ent_col = _column(stays, "entity", what=what).cast(pa.string()).to_pylist()
    keep = np.array([e in code_of for e in ent_col], np.bool_)
    code = np.array([code_of.get(e, -1) for e in ent_col], np.int64)[keep]
    s = _times_us(_column(stays, "start", what=what), "start")[keep]
    e = _times_us(_column(stays, "end", what=what), "end")[keep]
    lat = _floats(_column(stays, "lat", what=what), "lat")[keep]
    lon = _floats(_column(stays, "lon", what=what), "lon")[keep]
    zname = _zone_name(lat, lon, tz)
    from ._localtime import utc_offsets_s

    off = utc_offsets_s(s, zname) * US if s.size else np.zeros(0, np.int64)
    ls, le = s + off, e + off
    h0 = ls // (3600 * US)
    h1 = np.maximum((le - 1) // (3600 * US), h0)
    h1 = np.minimum(h1, h0 + 24 * 14)
    cnt = h1 - h0 + 1
    xyz = to_xyz_m(lat, lon)
    cells = _pack(np.floor(xyz / cell_m).astype(np.int64))
    idx = np.repeat(np.arange(code.shape[0]), cnt)
    hour = np.repeat(h0, cnt) + (np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    table = pa.table(
        {
            "entity": code[idx],
            "cell": cells[idx],
            "day": hour // 24,
            "hod": hour % 24,
        }
    )
    dwell = ((e - s) / US).astype(np.float64)
    return table, xyz, dwell, np.stack([code, cells], axis=1), zname


def _episode_presence(
    a_code: I64, b_code: I64, st: I64, en: I64, xyz: F64, zname: str, cell_m: float
) -> tuple[pa.Table, I64]:
    """Presence rows (as :func:`_presence`) of both entities of each episode at its place for the
    local hours it spans, and its (entity, cell) keys (the ``a`` rows, then the ``b`` rows)."""
    from ._localtime import utc_offsets_s

    off = utc_offsets_s(st, zname) * US if st.size else np.zeros(0, np.int64)
    h0 = (st + off) // (3600 * US)
    h1 = np.maximum((en + off - 1) // (3600 * US), h0)
    cnt = h1 - h0 + 1
    cells = _pack(np.floor(xyz / cell_m).astype(np.int64))
    idx = np.repeat(np.arange(st.shape[0]), cnt)
    hour = np.repeat(h0, cnt) + (np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    table = pa.table(
        {
            "entity": np.concatenate([a_code[idx], b_code[idx]]),
            "cell": np.concatenate([cells[idx], cells[idx]]),
            "day": np.concatenate([hour // 24, hour // 24]),
            "hod": np.concatenate([hour % 24, hour % 24]),
        }
    )
    keys = np.concatenate([np.stack([a_code, cells], axis=1), np.stack([b_code, cells], axis=1)])
    return table, keys


def _anchor_points(
    anchors: pa.Table | None, presence: pa.Table, keyed: I64, xyz: F64, dwell: F64, names: list[str]
) -> dict[int, list[tuple[float, float, float]]]:
    """Home and work points (xyz) of each entity: from ``anchors`` (label home/work) when given, else
    the cell with most night hours (22-06 local) and the other cell with most weekday daytime hours
    (09-17, at least 20 hours) with the dwell-weighted centre of the stays there."""
    out: dict[int, list[tuple[float, float, float]]] = {}
    if anchors is not None:
        code_of = {n: i for i, n in enumerate(names)}
        for r in anchors.to_pylist():
            if r.get("label", r.get("kind")) in ("home", "work", "school") and not r.get("abstained"):
                if r.get("lat") is None or r.get("entity", r.get("agent")) not in code_of:
                    continue
                p = to_xyz_m(np.array([r["lat"]], np.float64), np.array([r["lon"]], np.float64))[0]
                out.setdefault(code_of[r.get("entity", r.get("agent"))], []).append(
                    (float(p[0]), float(p[1]), float(p[2]))
                )
        return out
    if presence.num_rows == 0:
        return out
    ent = presence.column("entity").to_numpy()
    cell = presence.column("cell").to_numpy()
    day = presence.column("day").to_numpy()
    hod = presence.column("hod").to_numpy()
    dow = (day + 3) % 7
    night = (hod >= 22) | (hod < 6)
    workh = (dow < 5) & (hod >= 9) & (hod < 17)
    # centre of each (entity, cell): dwell-weighted mean of the stays there
    key_e, key_c = keyed[:, 0], keyed[:, 1]
    uniq, inv = np.unique(np.stack([key_e, key_c], axis=1), axis=0, return_inverse=True)
    inv = inv.ravel()
    wsum = np.bincount(inv, dwell, uniq.shape[0]) + 1e-9
    centre = np.stack([np.bincount(inv, dwell * xyz[:, c], uniq.shape[0]) / wsum for c in range(3)], axis=1)
    where = {(int(a), int(b)): i for i, (a, b) in enumerate(uniq.tolist())}

    def best(mask: NDArray[np.bool_], exclude: dict[int, int], least: int) -> dict[int, int]:
        if not mask.any():
            return {}
        pairs, counts = np.unique(np.stack([ent[mask], cell[mask]], axis=1), axis=0, return_counts=True)
        res: dict[int, int] = {}
        top: dict[int, int] = {}
        for (e_, c_), n_ in zip(pairs.tolist(), counts.tolist(), strict=True):
            if exclude.get(e_) == c_ or n_ < least:
                continue
            if n_ > top.get(e_, 0):
                top[e_] = n_
                res[e_] = c_
        return res

    home = best(night, {}, 1)
    work = best(workh, home, 20)
    for d in (home, work):
        for e_, c_ in d.items():
            i = where.get((e_, c_))
            if i is not None:
                out.setdefault(e_, []).append((float(centre[i, 0]), float(centre[i, 1]), float(centre[i, 2])))
    return out


def pair_significance(
    episodes: pa.Table,
    stays: pa.Table,
    *,
    anchors: pa.Table | None = None,
    tz: str | None = None,
    cell_m: float = 100.0,
    away_m: float = 150.0,
    alpha: float = DEFAULT_ALPHA,
    min_away: int = 3,
    test: str = "count",
    stay_pairs: bool = True,
    stay_radius_m: float = 50.0,
) -> pa.Table:
    """Per pair of entities with co-presence: how much of it was away from both entities' home and
    work, and whether that is more than strangers with the same places and hours would show.

    Parameters
    ----------
    episodes
        :func:`copresence_episodes` output.
    stays
        A ``stay`` tier table of the same entities (``entity``, ``start``, ``end``, ``lat``,
        ``lon``): each entity's occupancy of grid cells by local hour and day.
    anchors
        Home and work (rows with ``entity``, ``label`` home/work/school, ``lat``, ``lon``, as from
        :func:`hereabouts.analysis.anchors.infer_anchors`). ``None``: per entity, the cell with most
        night hours and the other cell with most weekday daytime hours.
    tz
        IANA zone of local hours (default: looked up at the median stay).
    cell_m
        Grid cell of the occupancy (a place).
    away_m
        An episode (or a cell) this close to a home or work of either entity is not "away".
    alpha
        A pair is a tie when its p-value is at most this and it has ``min_away`` days (or
        episodes) together away from home and work.
    min_away
        Fewest days (or episodes) together away from home and work for a tie.
    test
        How the places are combined: ``"count"`` (default), the upper tail of the number of days
        together over all of them (a sum of independent hypergeometric counts, computed exactly);
        ``"fisher"``, Fisher's combination of per-place p-values (the earlier method: places both
        used on different days each add a p-value of 1, which dilutes a few meetings).
    stay_pairs
        Also count days on which the two entities' stays overlapped at one place (see the module
        documentation), and test pairs that have enough of them but no episode (their rows have
        ``n_episodes`` 0 and no ``first``/``last``).
    stay_radius_m
        How close two stays' centres must be (given their accuracy) to be at one place.

    The null model (see the module documentation): per (cell, kind of day) both entities used away
    from home and work, days are shuffled: the overlap is hypergeometric. Cells both visit on the
    same weekday in two or more weeks are routine and carry no evidence (p = 1). Overlaps are
    counted on days (both there in a common local hour), which makes the test conservative. A place
    is away when the centre of both entities' stays in it is farther than ``away_m`` from their
    homes and work, the rule the episodes follow. The p-value is the probability that strangers
    with the same places would be together on at least as many days (``test``).

    Returns
    -------
    pyarrow.Table
        :data:`PAIR` rows, sorted by ``tie_score`` (highest first).
    """
    from scipy.stats import chi2, hypergeom

    if not (0.0 < alpha < 1.0):
        raise InputError(f"alpha must be between 0 and 1, not {alpha!r}")
    if test not in ("count", "fisher"):
        raise InputError(f"test must be 'count' or 'fisher', not {test!r}")
    for n, v in (("cell_m", cell_m), ("away_m", away_m), ("stay_radius_m", stay_radius_m)):
        if not (math.isfinite(v) and v > 0):
            raise InputError(f"{n} must be a positive number of metres, not {v!r}")
    for c in ("entity_a", "entity_b", "start", "end", "lat", "lon", "duration_s"):
        _column(episodes, c, what="the episode table")
    if episodes.num_rows == 0 and not (stay_pairs and stays.num_rows):
        return PAIR.empty_table()
    ea = episodes.column("entity_a").cast(pa.string()).to_pylist()
    eb = episodes.column("entity_b").cast(pa.string()).to_pylist()
    stay_names = set(_column(stays, "entity", what="the stay table").cast(pa.string()).to_pylist())
    names = sorted(set(ea) | set(eb) | stay_names)
    code_of = {n: i for i, n in enumerate(names)}
    a_code = np.array([code_of[x] for x in ea], np.int64)
    b_code = np.array([code_of[x] for x in eb], np.int64)
    presence, sxyz, dwell, keyed, zname = _presence(stays, names, tz, cell_m)
    anchor_pts = _anchor_points(anchors, presence, keyed, sxyz, dwell, names)

    # which episodes are away from both entities' home and work
    exyz = to_xyz_m(_floats(episodes.column("lat"), "lat"), _floats(episodes.column("lon"), "lon"))

    # anchors as an (entity, k, xyz) array, NaN where an entity has fewer than k
    n_anchor = max((len(v) for v in anchor_pts.values()), default=0)
    anchor_xyz = np.full((len(names), max(n_anchor, 1), 3), np.nan)
    for e_, pts_ in anchor_pts.items():
        anchor_xyz[e_, : len(pts_)] = np.asarray(pts_, np.float64)

    def near_anchor(codes: I64, pts: F64) -> NDArray[np.bool_]:
        hit = np.zeros(codes.shape[0], np.bool_)
        for lo in range(0, codes.shape[0], 1 << 20):
            sl = slice(lo, lo + (1 << 20))
            d2 = ((anchor_xyz[codes[sl]] - pts[sl, None, :]) ** 2).sum(axis=2)
            hit[sl] = (d2 <= away_m * away_m).any(axis=1)  # NaN compares False
        return hit

    away = ~(near_anchor(a_code, exyz) | near_anchor(b_code, exyz))
    n_ent = len(names)
    pair = a_code * n_ent + b_code
    upair, pinv = np.unique(pair, return_inverse=True)
    pinv = pinv.ravel()
    npairs = upair.shape[0]
    dur = _floats(episodes.column("duration_s"), "duration_s")
    st = _times_us(episodes.column("start"), "start")
    en = _times_us(episodes.column("end"), "end")
    n_ep = np.bincount(pinv, minlength=npairs)
    tot = np.bincount(pinv, dur, npairs)
    n_away = np.bincount(pinv, away.astype(np.float64), npairs).astype(np.int64)
    away_s = np.bincount(pinv, dur * away, npairs)
    first = np.full(npairs, np.iinfo(np.int64).max)
    last = np.full(npairs, np.iinfo(np.int64).min)
    np.minimum.at(first, pinv, st)
    np.maximum.at(last, pinv, en)
    away_rows: list[list[int]] = [[] for _ in range(npairs)]
    for r in np.flatnonzero(away).tolist():
        away_rows[int(pinv[r])].append(r)

    observed = np.zeros(npairs)
    expected = np.zeros(npairs)
    pval = np.ones(npairs)
    tested = np.flatnonzero(n_away > 0)
    if test == "count" and away.any():
        # an away episode shows both entities at its place on its day, whether or not their stays
        # (noisier, and cut at other points) fell in the same cell at the same hour
        sel = np.flatnonzero(away & (dur <= 4 * 3600.0))
        pres_e, key_e = _episode_presence(
            a_code[sel], b_code[sel], st[sel], en[sel], exyz[sel], zname, cell_m
        )
        presence = pa.concat_tables([presence, pres_e.cast(presence.schema)])
        keyed = np.concatenate([keyed, key_e])
        sxyz = np.concatenate([sxyz, exyz[sel], exyz[sel]])
        dwell = np.concatenate([dwell, dur[sel], dur[sel]])
    centres = _cell_centres(keyed, sxyz, dwell)
    from ._localtime import utc_offsets_s

    def local_day(t: I64) -> I64:
        return np.asarray((t + utc_offsets_s(t, zname) * US) // (24 * 3600 * US), np.int64) if t.size else t

    # days together away from home and work: of the away episodes, and with stay_pairs of stays at
    # one place at one time (positions too coarse for an episode, such as Wi-Fi at about 75 m,
    # average to a place over a stay)
    day_keys = [np.stack([pair[away], local_day(st[away])], axis=1)]
    if stay_pairs and stays.num_rows:
        sa, sb, ss, se, sxyz_e = _stay_copresence(stays, code_of, stay_radius_m)
        s_away = ~(near_anchor(sa, sxyz_e) | near_anchor(sb, sxyz_e))
        sa, sb, ss, se, sxyz_e = sa[s_away], sb[s_away], ss[s_away], se[s_away], sxyz_e[s_away]
        pres_s, key_s = _episode_presence(sa, sb, ss, se, sxyz_e, zname, cell_m)
        presence = pa.concat_tables([presence, pres_s.cast(presence.schema)])
        centres = _cell_centres(
            np.concatenate([keyed, key_s]),
            np.concatenate([sxyz, sxyz_e, sxyz_e]),
            np.concatenate([dwell, (se - ss) / US, (se - ss) / US]),
        )
        day_keys.append(np.stack([sa * n_ent + sb, local_day(ss)], axis=1))
    key3 = np.unique(np.concatenate(day_keys), axis=0)
    cand, cnt = np.unique(key3[:, 0], return_counts=True)
    # pairs with enough days together are tested, with or without an away episode
    enough = cand[cnt >= min_away]
    tested = np.union1d(tested, np.flatnonzero(np.isin(upair, enough)))
    new = np.setdiff1d(enough, upair)
    if new.size:
        k = new.shape[0]
        upair = np.concatenate([upair, new])
        n_ep = np.concatenate([n_ep, np.zeros(k, n_ep.dtype)])
        tot = np.concatenate([tot, np.zeros(k)])
        n_away = np.concatenate([n_away, np.zeros(k, n_away.dtype)])
        away_s = np.concatenate([away_s, np.zeros(k)])
        first = np.concatenate([first, np.full(k, np.iinfo(np.int64).max)])
        last = np.concatenate([last, np.full(k, np.iinfo(np.int64).min)])
        away_rows += [[] for _ in range(k)]
        tested = np.concatenate([tested, np.arange(npairs, npairs + k)])
        npairs += k
        observed, expected, pval = np.zeros(npairs), np.zeros(npairs), np.ones(npairs)
    days_away = np.zeros(npairs, np.int64)
    if cand.size:
        where = np.searchsorted(cand, upair).clip(0, cand.shape[0] - 1)
        hit = cand[where] == upair
        days_away[hit] = cnt[where[hit]]
    if tested.size and presence.num_rows:
        observed, expected, pval = _null_test(
            upair[tested] // n_ent,
            upair[tested] % n_ent,
            presence,
            anchor_pts,
            cell_m,
            away_m,
            npairs,
            tested,
            hypergeom,
            chi2,
            centres=centres,
            combine=test,
        )
    score = -np.log10(np.maximum(pval, 1e-300))
    is_tie = (pval <= alpha) & (np.maximum(n_away, days_away) >= min_away)
    names_arr = np.array(names, dtype=object)
    method = (
        f"copresence.significance(cell_m={cell_m:g}, away_m={away_m:g}, alpha={alpha:g}, min_away={min_away}"
        f", test={test})"
    )
    out = pa.table(
        {
            "entity_a": pa.array(names_arr[upair // n_ent].tolist(), pa.string()),
            "entity_b": pa.array(names_arr[upair % n_ent].tolist(), pa.string()),
            "n_episodes": pa.array(n_ep.astype(np.int64)),
            "total_s": pa.array(tot),
            "n_away": pa.array(n_away),
            "away_s": pa.array(away_s),
            "days_away": pa.array(days_away),
            "observed": pa.array(observed),
            "expected": pa.array(np.round(expected, 6)),
            "p_value": pa.array(pval),
            "tie_score": pa.array(np.round(score, 4)),
            "is_tie": pa.array(is_tie),
            "first": pa.array(first, pa.int64(), mask=n_ep == 0).cast(UTC_US),
            "last": pa.array(last, pa.int64(), mask=n_ep == 0).cast(UTC_US),
            "away_episodes": pa.array(away_rows, pa.list_(pa.int64())),
            "method": pa.array([method] * npairs, pa.string()),
        },
        schema=PAIR,
    )
    order = np.lexsort((np.arange(npairs), -score))
    return out.take(pa.array(order))


def _null_test(
    pa_code: I64,
    pb_code: I64,
    presence: pa.Table,
    anchor_pts: dict[int, list[tuple[float, float, float]]],
    cell_m: float,
    away_m: float,
    npairs: int,
    rows: I64,
    hypergeom: Any,
    chi2: Any,
    *,
    centres: tuple[I64, F64] | None = None,
    combine: str = "fisher",
) -> tuple[F64, F64, F64]:
    """Observed and expected shared days and the combined p-value of each tested pair. ``centres``
    (from :func:`_cell_centres`): a place is near a home or work when the mean of both entities'
    stay centres in it is within ``away_m`` of one; without them, when its cell's centre is within
    ``away_m`` plus half a cell's diagonal. ``combine``: ``"count"`` or ``"fisher"`` (see
    :func:`pair_significance`)."""
    import duckdb

    con = duckdb.connect()
    try:
        _pres = presence
        _pairs = pa.table({"pid": pa.array(rows, pa.int64()), "a": pa_code, "b": pb_code})
        # per entity, cell and kind of day (0 weekday, 1 weekend): days there, regular weekday use
        con.execute(
            """
            CREATE TABLE pres AS SELECT entity, cell, day, hod,
                   CASE WHEN (day + 3) % 7 >= 5 THEN 1 ELSE 0 END AS tau,
                   (day + 3) % 7 AS dow, (day + 3) // 7 AS week FROM _pres
            """
        )
        con.execute(
            """
            CREATE TABLE ndays AS SELECT entity, tau, count(DISTINCT day) AS d FROM pres GROUP BY ALL
            """
        )
        con.execute(
            """
            CREATE TABLE occ AS
            SELECT entity, cell, tau, count(DISTINCT day) AS n,
                   max(weeks_same_dow) >= 2 AS regular
            FROM (SELECT entity, cell, tau, day,
                         count(DISTINCT week) OVER (PARTITION BY entity, cell, dow) AS weeks_same_dow
                  FROM pres)
            GROUP BY ALL
            """
        )
        units = con.sql(
            """
            WITH shared AS (
              SELECT p.pid, p.a, p.b, oa.cell, oa.tau, oa.n AS na, ob.n AS nb,
                     oa.regular AND ob.regular AS routine
              FROM _pairs p JOIN occ oa ON oa.entity = p.a JOIN occ ob
                ON ob.entity = p.b AND ob.cell = oa.cell AND ob.tau = oa.tau
            ),
            together AS (
              SELECT s.pid, s.cell, s.tau, count(DISTINCT xa.day) AS x
              FROM shared s JOIN pres xa ON xa.entity = s.a AND xa.cell = s.cell AND xa.tau = s.tau
              JOIN pres xb ON xb.entity = s.b AND xb.cell = s.cell AND xb.day = xa.day AND xb.hod = xa.hod
              GROUP BY ALL
            )
            SELECT s.pid, s.a, s.b, s.cell, s.tau, s.na, s.nb, s.routine,
                   coalesce(t.x, 0) AS x, least(da.d, db.d) AS d
            FROM shared s LEFT JOIN together t USING (pid, cell, tau)
            JOIN ndays da ON da.entity = s.a AND da.tau = s.tau
            JOIN ndays db ON db.entity = s.b AND db.tau = s.tau
            ORDER BY s.pid, s.cell, s.tau
            """
        ).to_arrow_table()
    finally:
        con.close()
    observed = np.zeros(npairs)
    expected = np.zeros(npairs)
    pval = np.ones(npairs)
    if units.num_rows == 0:
        return observed, expected, pval
    pid = units.column("pid").to_numpy()
    ua = units.column("a").to_numpy()
    ub = units.column("b").to_numpy()
    cell = units.column("cell").to_numpy()
    na = units.column("na").to_numpy().astype(np.int64)
    nb = units.column("nb").to_numpy().astype(np.int64)
    x = units.column("x").to_numpy().astype(np.int64)
    d = np.maximum(units.column("d").to_numpy().astype(np.int64), np.maximum(na, nb))
    routine = units.column("routine").to_numpy(zero_copy_only=False).astype(np.bool_)
    # cells near a home or work of either entity are not "away"
    if centres is not None:
        centre = 0.5 * (_centre_of(centres, ua, cell) + _centre_of(centres, ub, cell))
        reach = away_m
    else:
        centre = (_unpack(cell) + 0.5) * cell_m
        reach = away_m + cell_m * math.sqrt(3) / 2
    near = np.zeros(pid.shape[0], np.bool_)
    for i in range(pid.shape[0]):
        for e in (int(ua[i]), int(ub[i])):
            for p in anchor_pts.get(e, ()):
                if float(np.sum((centre[i] - np.asarray(p)) ** 2)) <= reach * reach:
                    near[i] = True
                    break
            if near[i]:
                break
    use = ~near
    mu = na * nb / np.maximum(d, 1)
    if combine == "count":
        # routine places carry no evidence either way: left out of the count and of its null
        use &= ~routine
        np.add.at(observed, pid[use], x[use].astype(np.float64))
        np.add.at(expected, pid[use], mu[use])
        tested = np.flatnonzero(observed > 0)
        pval[tested] = _count_tail(pid[use], x[use], na[use], nb[use], d[use], observed, tested, hypergeom)
        return observed, expected, pval
    p_unit = np.where(routine, 1.0, hypergeom.sf(x - 1, d, na, nb))
    p_unit = np.clip(np.where(x > 0, p_unit, 1.0), 1e-300, 1.0)
    np.add.at(observed, pid[use], x[use].astype(np.float64))
    np.add.at(expected, pid[use], mu[use])
    stat = np.zeros(npairs)
    k = np.zeros(npairs)
    np.add.at(stat, pid[use], -2.0 * np.log(p_unit[use]))
    np.add.at(k, pid[use], 1.0)
    has = k > 0
    pval[has] = chi2.sf(stat[has], 2.0 * k[has])
    return observed, expected, pval


def _stay_copresence(
    stays: pa.Table, code_of: dict[str, int], radius_m: float
) -> tuple[I64, I64, I64, I64, F64]:
    """Co-presence of stays: two entities' stays that overlap for at least 10 minutes with centres
    within ``radius_m``, each centre as accurate as its fixes' spread allows (90 % radius over the
    square root of the number of fixes, at least 10 m). Entity codes ``a < b``, start, end (µs) and
    position (xyz) of each."""
    n = stays.num_rows
    z = np.zeros(0, np.int64)
    if n == 0:
        return z, z, z, z, np.zeros((0, 3))
    ent = np.array([code_of.get(e, -1) for e in stays.column("entity").cast(pa.string()).to_pylist()])
    rad = (
        _floats(stays.column("radius_m"), "radius_m", fill=50.0)
        if "radius_m" in stays.column_names
        else np.full(n, 50.0)
    )
    nfix = (
        _floats(stays.column("n_fixes"), "n_fixes", fill=1.0)
        if "n_fixes" in stays.column_names
        else np.ones(n)
    )
    acc = np.maximum(0.82 * rad / np.sqrt(np.maximum(nfix, 1.0)), 10.0)
    s = _times_us(stays.column("start"), "start")
    e = _times_us(stays.column("end"), "end")
    ok = (ent >= 0) & (e > s)
    rows = np.flatnonzero(ok)
    # one pseudo-entity per stay, a fix at each end: each stay is one static run
    names = np.array([f"{i:012d}" for i in rows.tolist()], dtype=object)
    pseudo = pa.table(
        {
            "entity": pa.array(np.repeat(names, 2).tolist(), pa.string()),
            "t": pa.array(np.stack([s[rows], e[rows]], axis=1).ravel(), pa.int64()).cast(UTC_US),
            "lat": np.repeat(_floats(stays.column("lat"), "lat")[rows], 2),
            "lon": np.repeat(_floats(stays.column("lon"), "lon")[rows], 2),
            "accuracy_m": np.repeat(acc[rows], 2),
        }
    )
    longest = float((e[rows] - s[rows]).max()) / US + 120.0
    ep = copresence_episodes(
        pseudo, radius_m=radius_m, min_duration_s=600.0, max_gap_s=longest, max_hole_s=0.0
    )
    if ep.num_rows == 0:
        return z, z, z, z, np.zeros((0, 3))
    ia = np.array([int(x) for x in ep.column("entity_a").to_pylist()], np.int64)
    ib = np.array([int(x) for x in ep.column("entity_b").to_pylist()], np.int64)
    a, b = ent[ia], ent[ib]
    keep = a != b
    lo, hi = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    xyz = to_xyz_m(_floats(ep.column("lat"), "lat")[keep], _floats(ep.column("lon"), "lon")[keep])
    return (
        lo,
        hi,
        _times_us(ep.column("start"), "start")[keep],
        _times_us(ep.column("end"), "end")[keep],
        xyz,
    )


def _count_tail(
    pid: I64, x: I64, na: I64, nb: I64, d: I64, observed: F64, tested: I64, hypergeom: Any
) -> F64:
    """P(X >= observed) for each ``tested`` pair, X the sum over its places (rows with that ``pid``)
    of independent hypergeometric counts (``d`` days, ``na`` and ``nb`` of them at the place):
    the exact convolution of their probabilities below the observed count."""
    out = np.ones(tested.shape[0])
    order = np.argsort(pid, kind="stable")
    pid, na, nb, d = pid[order], na[order], nb[order], d[order]
    lo = np.searchsorted(pid, tested, side="left")
    hi = np.searchsorted(pid, tested, side="right")
    # the probabilities of 0 .. (observed count of the pair, or the most possible) - 1 days of
    # every place, in one call: row r holds cnt[r] of them from start[r]
    want = np.zeros(pid.shape[0], np.int64)
    for i in range(tested.shape[0]):
        want[lo[i] : hi[i]] = int(observed[tested[i]])
    cnt = np.minimum(want, np.minimum(na, nb) + 1)
    start = np.cumsum(cnt) - cnt
    rep = np.repeat(np.arange(pid.shape[0]), cnt)
    grid = np.arange(int(cnt.sum())) - np.repeat(start, cnt)
    pmf = np.asarray(hypergeom.pmf(grid, d[rep], na[rep], nb[rep]), np.float64) if rep.size else np.zeros(0)
    for i in range(tested.shape[0]):
        k = int(observed[tested[i]])
        if k <= 0:
            continue
        dist = np.zeros(k)
        dist[0] = 1.0
        for r in range(int(lo[i]), int(hi[i])):
            dist = np.convolve(dist, pmf[start[r] : start[r] + cnt[r]])[:k]
        out[i] = max(1.0 - float(dist.sum()), 0.0)
    return np.clip(out, 1e-300, 1.0)


def _cell_centres(keyed: I64, xyz: F64, dwell: F64) -> tuple[I64, F64]:
    """Dwell-weighted centre (xyz) of each entity's stays in each cell: sorted (entity, cell) keys
    (rows of ``keyed``) and their centres."""
    if keyed.shape[0] == 0:
        return np.zeros((0, 2), np.int64), np.zeros((0, 3))
    uniq, inv = np.unique(keyed, axis=0, return_inverse=True)
    inv = inv.ravel()
    w = np.bincount(inv, dwell, uniq.shape[0]) + 1e-9
    centre = np.stack([np.bincount(inv, dwell * xyz[:, c], uniq.shape[0]) / w for c in range(3)], axis=1)
    return uniq, centre


def _centre_of(centres: tuple[I64, F64], entity: I64, cell: I64) -> F64:
    """The centres of ``(entity, cell)`` (every pair present in ``centres``)."""
    keys, centre = centres  # rows sorted by (entity, cell), as np.unique(axis=0) leaves them
    cells = np.unique(keys[:, 1])
    flat = keys[:, 0] * cells.shape[0] + np.searchsorted(cells, keys[:, 1])  # increasing
    j = np.searchsorted(flat, entity * cells.shape[0] + np.searchsorted(cells, cell))
    return np.asarray(centre[j], np.float64)


def _unpack(key: I64) -> F64:
    mask = (1 << _SHIFT) - 1
    cx = ((key >> (2 * _SHIFT)) & mask) - _BIAS
    cy = ((key >> _SHIFT) & mask) - _BIAS
    cz = (key & mask) - _BIAS
    return np.stack([cx, cy, cz], axis=1).astype(np.float64)


# --------------------------------------------------------------------------------------------------
# graph and "who was near"


@dataclass(frozen=True)
class CopresenceGraph:
    """Entities (nodes) and pairs with co-presence (edges), with weights and significance."""

    nodes: pa.Table
    edges: pa.Table

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"nodes": [...], "edges": [...]}`` (times as ISO 8601)."""

        def rows(t: pa.Table) -> list[dict[str, Any]]:
            return [
                {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}
                for r in t.to_pylist()
            ]

        return {"nodes": rows(self.nodes), "edges": rows(self.edges)}


def copresence_graph(
    episodes: pa.Table,
    significance: pa.Table | None = None,
    *,
    entities: Iterable[str] | None = None,
    ties_only: bool = False,
) -> CopresenceGraph:
    """The co-presence graph: one node per entity (``entities``, else those in ``episodes``), one
    edge per pair with co-presence. Edge ``weight_h`` is the hours together; with ``significance``
    (:func:`pair_significance` output) edges carry ``n_away``, ``p_value``, ``tie_score`` and
    ``is_tie``; ``ties_only`` keeps only ties."""
    for c in ("entity_a", "entity_b", "duration_s"):
        _column(episodes, c, what="the episode table")
    ea = episodes.column("entity_a").cast(pa.string()).to_pylist()
    eb = episodes.column("entity_b").cast(pa.string()).to_pylist()
    dur = _floats(episodes.column("duration_s"), "duration_s") if episodes.num_rows else np.zeros(0)
    agg: dict[tuple[str, str], list[float]] = {}
    for a, b, s in zip(ea, eb, dur.tolist(), strict=True):
        v = agg.setdefault((a, b), [0.0, 0.0])
        v[0] += 1
        v[1] += s
    sig: dict[tuple[str, str], dict[str, Any]] = {}
    if significance is not None:
        for r in significance.to_pylist():
            sig[(r["entity_a"], r["entity_b"])] = r
    edges: list[dict[str, Any]] = []
    for (a, b), (n, s) in sorted(agg.items()):
        r = sig.get((a, b), {})
        e = {
            "source": a,
            "target": b,
            "n_episodes": int(n),
            "weight_h": round(s / 3600.0, 4),
            "n_away": r.get("n_away"),
            "p_value": r.get("p_value"),
            "tie_score": r.get("tie_score"),
            "is_tie": r.get("is_tie"),
        }
        if ties_only and not e["is_tie"]:
            continue
        edges.append(e)
    edge_schema = pa.schema(
        [
            ("source", pa.string()),
            ("target", pa.string()),
            ("n_episodes", pa.int64()),
            ("weight_h", pa.float64()),
            ("n_away", pa.int64()),
            ("p_value", pa.float64()),
            ("tie_score", pa.float64()),
            ("is_tie", pa.bool_()),
        ]
    )
    names = sorted(set(entities) if entities is not None else (set(ea) | set(eb)))
    deg: dict[str, list[float]] = {n: [0, 0, 0.0] for n in names}
    for e in edges:
        for who in (str(e["source"]), str(e["target"])):
            if who in deg:
                deg[who][0] += 1
                deg[who][1] += 1 if e["is_tie"] else 0
                deg[who][2] += float(e["weight_h"])
    nodes = pa.table(
        {
            "entity": pa.array(names, pa.string()),
            "degree": pa.array([int(deg[n][0]) for n in names], pa.int64()),
            "n_ties": pa.array([int(deg[n][1]) for n in names], pa.int64()),
            "weight_h": pa.array([round(deg[n][2], 4) for n in names], pa.float64()),
        }
    )
    return CopresenceGraph(nodes, pa.Table.from_pylist(edges, schema=edge_schema))


def who_was_near(
    fixes: pa.Table,
    entity: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    radius_m: float = 50.0,
    min_duration_s: float = 600.0,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    missing_ok: bool = False,
    **params: Any,
) -> pa.Table:
    """The co-presence episodes of ``entity`` with any other entity in ``[start, end)`` (episodes
    that overlap it, cut to it), as :data:`EPISODE` rows plus ``other`` (the other entity),
    sorted by start. ``params`` go to :func:`copresence_episodes`. An entity without fixes in
    ``fixes`` is :class:`NotFoundError` unless ``missing_ok`` (then: no episodes)."""
    name = "entity" if "entity" in fixes.column_names else "device"
    col = _column(fixes, name, what="the fix table").cast(pa.string())
    if not pc.any(pc.equal(col, entity)).as_py():
        if missing_ok:
            return EPISODE.empty_table().append_column("other", pa.array([], pa.string()))
        from ..model.errors import NotFoundError

        raise NotFoundError(f"no fixes of an entity named {entity!r}", hint="check the entity name")
    t = _times_us(_column(fixes, "t", what="the fix table"), "t")
    pad = int(max_gap_s * US)
    keep = np.ones(t.shape[0], np.bool_)
    lo = _dt_us(start)
    hi = _dt_us(end)
    if lo is not None:
        keep &= t >= lo - pad
    if hi is not None:
        keep &= t < hi + pad
    sub = fixes.filter(pa.array(keep))
    ep = copresence_episodes(sub, radius_m=radius_m, min_duration_s=0.0, max_gap_s=max_gap_s, **params)
    a = ep.column("entity_a").to_pylist()
    b = ep.column("entity_b").to_pylist()
    mine = np.array([x == entity or y == entity for x, y in zip(a, b, strict=True)], np.bool_)
    ep = ep.filter(pa.array(mine)) if ep.num_rows else ep
    other = [
        y if x == entity else x
        for x, y in zip(ep.column("entity_a").to_pylist(), ep.column("entity_b").to_pylist(), strict=True)
    ]
    s = _times_us(ep.column("start"), "start") if ep.num_rows else np.zeros(0, np.int64)
    e = _times_us(ep.column("end"), "end") if ep.num_rows else np.zeros(0, np.int64)
    cs = np.maximum(s, lo) if lo is not None else s
    ce = np.minimum(e, hi) if hi is not None else e
    ok = (ce - cs) / US >= min_duration_s
    ep = ep.set_column(ep.schema.get_field_index("start"), "start", pa.array(cs, pa.int64()).cast(UTC_US))
    ep = ep.set_column(ep.schema.get_field_index("end"), "end", pa.array(ce, pa.int64()).cast(UTC_US))
    ep = ep.set_column(
        ep.schema.get_field_index("duration_s"), "duration_s", pa.array((ce - cs) / US, pa.float64())
    )
    ep = ep.append_column("other", pa.array(other, pa.string())).filter(pa.array(ok))
    return (
        ep.take(pa.array(np.argsort(_times_us(ep.column("start"), "start"), kind="stable")))
        if ep.num_rows
        else ep
    )


def _dt_us(t: datetime | None) -> int | None:
    if t is None:
        return None
    if t.tzinfo is None:
        raise InputError(f"time {t.isoformat()} has no time zone", hint="pass an aware datetime (UTC)")
    return round(t.timestamp() * US)
