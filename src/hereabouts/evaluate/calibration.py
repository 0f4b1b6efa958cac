"""Calibration: how far the engine's confidences are from measured probabilities, and maps that fix it.

A confidence ``c`` is *calibrated* when, among all inferences given ``c``, a share ``c`` is right.
:func:`reliability` bins confidences into 10 equal-width bins over [0, 1] and compares, in each bin,
the mean confidence with the share of correct inferences; the expected calibration error (ECE) is the
mean of ``|accuracy − confidence|`` over the bins, weighted by their share of the inferences.

Calibration maps are monotone functions from a raw engine confidence to a measured probability of
being right, fitted on simulations (``scripts/fit_calibration.py``) by isotonic regression
(pool-adjacent-violators) and shipped as JSON in ``hereabouts/calibration/<kind>.json``. The engine
calls :func:`apply` on the raw score it computed, so every confidence it emits is calibrated; a kind
without a shipped map is returned unchanged.

One map fitted on a mix of sensors is miscalibrated on each of them (a mode guessed from fixes 15
minutes apart is wrong far more often than the same raw score from fixes a minute apart), so a map
may hold one map per **sensor class** besides its pooled map: a stay's class comes from its own
spread (fine GPS, about 50 m, Wi-Fi-like) and rate of fixes (dense, medium, sparse;
:func:`row_classes`), the class of a place, trip or mode guess from its entity's stays (the medians
of the same two, :func:`sensor_classes`), and each stage passes the class of every row to
:func:`apply`. A class without a map of its own (too few training
samples, or data of no known class) uses the pooled map.

Raw scores stay reachable: inside ``with raw_confidences():`` (or ``raw_confidences("stays")`` for
some kinds) :func:`apply` returns its input, so the stages emit their raw scores. Maps are fitted on
raw scores only and never applied twice. A stage whose raw score is computed from another stage's
emitted confidence (a place's from its stays', a trip's from its two stays') is fitted with the
upstream maps on and its own off — the order is :data:`FIT_ORDER` — so a map always sees the same
kind of input in fitting as in use.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..model.errors import InputError

__all__ = [
    "FIT_ORDER",
    "KINDS",
    "SENSOR_CLASSES",
    "CalibrationMap",
    "Reliability",
    "apply",
    "ece",
    "fit_isotonic",
    "load_map",
    "raw_confidences",
    "reliability",
    "row_classes",
    "sensor_classes",
    "stay_sensor_classes",
    "use_maps",
]

F64 = NDArray[np.float64]

#: The confidences the engine emits, each with its own map: a stay, a place, a trip (that it is a
#: real trip), a trip's mode guess, an anchor (home/work/regular place), the probability of a
#: prediction's most likely outcome (``predict``; the other outcomes share the rest in proportion).
KINDS = ("stays", "places", "trips", "modes", "anchors", "predict")

#: The order maps are fitted in: kinds of one group depend on no confidence of the same or a later
#: group (places and trips are computed from their stays' emitted confidences).
FIT_ORDER: tuple[tuple[str, ...], ...] = (("stays", "modes", "anchors", "predict"), ("places", "trips"))

N_BINS = 10

#: Spread classes: the median ``radius_m`` of an entity's stays (metres) below each bound. Measured
#: on the simulator's profiles: GPS 11-40 m, 40-60 m accuracy about 75 m, Wi-Fi positions about 115 m.
SPREAD_CLASSES: tuple[tuple[float, str], ...] = ((45.0, "fine"), (95.0, "mid"), (math.inf, "coarse"))
#: Rate classes: the median rate of fixes during an entity's stays (fixes per hour) below each bound.
#: Fixes every 15 minutes (or on movement only) give about 4, every 5 minutes or duty-cycled 10-17,
#: every minute 60.
RATE_CLASSES: tuple[tuple[float, str], ...] = ((8.0, "sparse"), (24.0, "medium"), (math.inf, "dense"))
#: Every sensor class :func:`sensor_classes` can name, ``"<spread>-<rate>"``.
SENSOR_CLASSES: tuple[str, ...] = tuple(f"{s}-{r}" for _, s in SPREAD_CLASSES for _, r in RATE_CLASSES)
#: The class of rows whose entity has no stay to measure its sensor by.
UNKNOWN_CLASS = "unknown"

#: Kinds whose maps are switched off in this context (see :func:`raw_confidences`).
_RAW: ContextVar[frozenset[str]] = ContextVar("hereabouts_raw_confidences", default=frozenset())
#: Maps used instead of the shipped ones in this context (see :func:`use_maps`).
_OVERRIDE: ContextVar[Mapping[str, CalibrationMap | None] | None] = ContextVar(
    "hereabouts_calibration_maps", default=None
)


def _check_kinds(kinds: tuple[str, ...]) -> None:
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise InputError(f"unknown confidence kind {bad[0]!r}; expected one of: {', '.join(KINDS)}")


@contextlib.contextmanager
def raw_confidences(*kinds: str) -> Iterator[None]:
    """Within this block the stages emit raw scores of ``kinds`` (all kinds when none is named):
    :func:`apply` returns its input unchanged for them. For fitting maps and for comparing raw with
    calibrated confidences.

    >>> with raw_confidences("stays"):
    ...     apply("stays", 0.3)
    0.3
    """
    _check_kinds(kinds)
    token = _RAW.set(_RAW.get() | frozenset(kinds or KINDS))
    try:
        yield
    finally:
        _RAW.reset(token)


@contextlib.contextmanager
def use_maps(maps: Mapping[str, CalibrationMap | None]) -> Iterator[None]:
    """Within this block :func:`apply` uses ``maps`` (kind → map; None: no map) instead of the
    shipped maps for the kinds named; other kinds keep their shipped maps. For fitting (a map just
    fitted is used for the kinds computed from it) without writing it into the package."""
    _check_kinds(tuple(maps))
    token = _OVERRIDE.set({**(_OVERRIDE.get() or {}), **maps})
    try:
        yield
    finally:
        _OVERRIDE.reset(token)


@dataclass(frozen=True)
class Reliability:
    """A reliability curve: per bin, the count, mean confidence and share correct (NaN when empty)."""

    edges: list[float]
    count: list[int]
    confidence: list[float]
    accuracy: list[float]
    ece: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        def clean(xs: list[float]) -> list[float | None]:
            return [None if math.isnan(x) else round(x, 6) for x in xs]

        return {
            "edges": self.edges,
            "count": self.count,
            "confidence": clean(self.confidence),
            "accuracy": clean(self.accuracy),
            "ece": None if math.isnan(self.ece) else self.ece,
            "n": self.n,
        }


def _arrays(conf: ArrayLike, correct: ArrayLike) -> tuple[F64, NDArray[np.bool_]]:
    c = np.asarray(conf, np.float64).ravel()
    y = np.asarray(correct, np.bool_).ravel()
    if c.shape != y.shape:
        raise InputError(f"confidences and outcomes differ in length ({c.size} and {y.size}); expected equal")
    keep = np.isfinite(c)
    return np.clip(c[keep], 0.0, 1.0), y[keep]


def reliability(conf: ArrayLike, correct: ArrayLike, *, bins: int = N_BINS) -> Reliability:
    """The reliability curve and ECE of confidences ``conf`` against outcomes ``correct`` (booleans).

    Non-finite confidences are left out. Bin ``k`` holds ``k/bins <= c < (k+1)/bins`` (the last bin
    includes 1).

    >>> r = reliability([0.9, 0.9, 0.1, 0.1], [True, False, False, False], bins=10)
    >>> round(r.ece, 2)
    0.25
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise InputError(f"bins must be a whole number of at least 1, got {bins!r}")
    c, y = _arrays(conf, correct)
    idx = np.minimum((c * bins).astype(np.int64), bins - 1)
    count = np.bincount(idx, minlength=bins)
    s_conf = np.bincount(idx, weights=c, minlength=bins)
    s_acc = np.bincount(idx, weights=y.astype(np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        m_conf = np.where(count > 0, s_conf / np.maximum(count, 1), np.nan)
        m_acc = np.where(count > 0, s_acc / np.maximum(count, 1), np.nan)
    n = int(c.size)
    if n:
        gap = np.abs(np.nan_to_num(m_acc) - np.nan_to_num(m_conf))
        e = float(np.sum(gap * count) / n)
    else:
        e = float("nan")
    return Reliability(
        edges=[k / bins for k in range(bins + 1)],
        count=[int(x) for x in count],
        confidence=[float(x) for x in m_conf],
        accuracy=[float(x) for x in m_acc],
        ece=e,
        n=n,
    )


def ece(conf: ArrayLike, correct: ArrayLike, *, bins: int = N_BINS) -> float:
    """Expected calibration error (NaN when there is nothing to score); see :func:`reliability`.

    >>> ece([1.0, 1.0, 0.0], [True, True, False])
    0.0
    """
    return reliability(conf, correct, bins=bins).ece


def _bucket(value: F64, bounds: tuple[tuple[float, str], ...]) -> NDArray[np.int64]:
    edges = np.asarray([b for b, _ in bounds[:-1]], np.float64)
    return np.asarray(np.searchsorted(edges, value, side="right"), np.int64)


def row_classes(n_fixes: ArrayLike, duration_s: ArrayLike, radius_m: ArrayLike) -> NDArray[Any]:
    """The sensor class of each stay from its own spread (``radius_m``) and rate of fixes
    (``(n_fixes - 1) / duration``): what a stay's confidence is calibrated by, as it depends on that
    stay alone (an incremental analysis gives every stay the confidence a full one gives it). A stay
    with no duration is :data:`UNKNOWN_CLASS`.

    >>> row_classes([61, 5, 2], [3600.0, 3600.0, 0.0], [12.0, 75.0, 5.0]).tolist()
    ['fine-dense', 'mid-sparse', 'unknown']
    """
    n = np.asarray(n_fixes, np.float64).ravel()
    dur = np.asarray(duration_s, np.float64).ravel()
    rad = np.asarray(radius_m, np.float64).ravel()
    if not (n.shape == dur.shape == rad.shape):
        raise InputError("row_classes needs one fix count, duration and radius per stay")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(dur > 0, (n - 1.0) / dur * 3600.0, np.nan)
    ok = np.isfinite(rate) & np.isfinite(rad)
    idx = _bucket(np.where(ok, rad, 0.0), SPREAD_CLASSES) * len(RATE_CLASSES) + _bucket(
        np.where(ok, rate, 0.0), RATE_CLASSES
    )
    out = np.asarray(SENSOR_CLASSES, dtype=object)[idx]
    out[~ok] = UNKNOWN_CLASS
    return np.asarray(out, dtype=object)


def sensor_classes(
    entity: ArrayLike, n_fixes: ArrayLike, duration_s: ArrayLike, radius_m: ArrayLike
) -> NDArray[Any]:
    """The sensor class of each stay row's entity (see :data:`SENSOR_CLASSES`), from the entity's
    stays: the median ``radius_m`` (the spread of a stay's fixes: how accurate they are) and the
    median rate of fixes per hour during them (``(n_fixes - 1) / duration``). ``entity`` holds one
    code (or name) per row; rows whose entity has no usable stay get :data:`UNKNOWN_CLASS`.

    >>> sensor_classes([0, 0, 1], [61, 31, 5], [3600.0, 1800.0, 3600.0], [12.0, 11.0, 110.0]).tolist()
    ['fine-dense', 'fine-dense', 'coarse-sparse']
    """
    ent = np.asarray(entity).ravel()
    n = np.asarray(n_fixes, np.float64).ravel()
    dur = np.asarray(duration_s, np.float64).ravel()
    rad = np.asarray(radius_m, np.float64).ravel()
    if not (ent.shape == n.shape == dur.shape == rad.shape):
        raise InputError("sensor_classes needs one entity, fix count, duration and radius per stay")
    out = np.full(ent.shape[0], UNKNOWN_CLASS, dtype=object)
    if ent.shape[0] == 0:
        return out
    _, code = np.unique(ent, return_inverse=True)
    code = np.asarray(code, np.int64).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(dur > 0, (n - 1.0) / dur * 3600.0, np.nan)
    names = np.asarray(SENSOR_CLASSES, dtype=object)
    order = np.argsort(code, kind="stable")
    bounds = np.searchsorted(code[order], np.arange(int(code.max()) + 2))
    for k in range(bounds.shape[0] - 1):
        rows = order[bounds[k] : bounds[k + 1]]
        r, sp = rate[rows], rad[rows]
        r, sp = r[np.isfinite(r)], sp[np.isfinite(sp)]
        if r.size == 0 or sp.size == 0:
            continue
        si = int(_bucket(np.array([np.median(sp)]), SPREAD_CLASSES)[0])
        ri = int(_bucket(np.array([np.median(r)]), RATE_CLASSES)[0])
        out[rows] = names[si * len(RATE_CLASSES) + ri]
    return out


def stay_sensor_classes(stays: Any) -> NDArray[Any]:
    """:func:`sensor_classes` of the rows of a stay table (``entity``, ``start``, ``end``,
    ``n_fixes``, ``radius_m``); every row :data:`UNKNOWN_CLASS` when a column is missing."""
    import pyarrow as pa

    need = ("entity", "start", "end", "n_fixes", "radius_m")
    if any(c not in stays.column_names for c in need):
        return np.full(stays.num_rows, UNKNOWN_CLASS, dtype=object)

    def col(name: str) -> F64:
        c = stays.column(name)
        if pa.types.is_timestamp(c.type):
            c = c.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        return np.asarray(c.cast(pa.float64()).fill_null(np.nan).to_numpy(), np.float64)

    ent = np.asarray(stays.column("entity").cast(pa.string()).fill_null("").to_numpy(zero_copy_only=False))
    dur = (col("end") - col("start")) / 1e6
    return sensor_classes(ent, col("n_fixes"), dur, col("radius_m"))


@dataclass(frozen=True)
class CalibrationMap:
    """A monotone piecewise-linear map from raw confidence to calibrated probability.

    ``x`` (increasing) and ``y`` (non-decreasing) are its knots; below ``x[0]`` and above ``x[-1]``
    it is flat. ``classes`` optionally holds one map per sensor class (:data:`SENSOR_CLASSES`), or per
    finer key ``"<class>/<more>"`` (a mode guess and a distance band: ``"fine-sparse/walk/long"``),
    used for the rows of that key when the caller names them (a key without a map falls back to its
    coarser prefix, see :meth:`resolve`); every other row (and every call without classes) uses the
    pooled knots ``x``, ``y``.
    """

    kind: str
    x: list[float]
    y: list[float]
    method: str = "isotonic"
    meta: dict[str, Any] = field(default_factory=dict)
    classes: dict[str, CalibrationMap] = field(default_factory=dict)

    def __call__(self, raw: ArrayLike, classes: ArrayLike | str | None = None) -> F64:
        r = np.asarray(raw, np.float64)
        out = np.asarray(np.interp(np.clip(r, 0.0, 1.0), self.x, self.y), np.float64)
        if classes is not None and self.classes and r.ndim > 0:
            cls = np.broadcast_to(np.asarray(classes, dtype=object), r.shape)
            for name in set(cls.ravel().tolist()):
                sub = self.resolve(name)
                if sub is not None:
                    sel = cls == name
                    out[sel] = np.interp(np.clip(r[sel], 0.0, 1.0), sub.x, sub.y)
        elif classes is not None and self.classes and isinstance(classes, str):
            sub = self.resolve(classes)
            if sub is not None:
                out = np.asarray(np.interp(np.clip(r, 0.0, 1.0), sub.x, sub.y), np.float64)
        return np.asarray(np.where(np.isfinite(r), out, np.nan), np.float64)

    def resolve(self, key: object) -> CalibrationMap | None:
        """The map of ``key`` (``"<class>"`` or a finer ``"<class>/<more>/..."``): its own, else that of
        the longest prefix ending before a ``/`` that has one, else None (the pooled map applies)."""
        name = str(key)
        while name:
            if name in self.classes:
                return self.classes[name]
            name = name.rpartition("/")[0]
        return None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "method": self.method, "x": self.x, "y": self.y}
        if self.classes:
            d["classes"] = {k: {"x": m.x, "y": m.y, "meta": m.meta} for k, m in sorted(self.classes.items())}
        d["meta"] = self.meta
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CalibrationMap:
        def knots(e: dict[str, Any], name: str) -> tuple[list[float], list[float]]:
            x = [float(v) for v in e["x"]]
            y = [float(v) for v in e["y"]]
            if not x or len(x) != len(y) or any(b < a for a, b in itertools.pairwise(x)):
                raise InputError(
                    f"calibration map {name!r} is malformed; expected equal-length knots x (increasing) and y"
                )
            return x, y

        kind = str(d["kind"])
        x, y = knots(d, kind)
        subs = {}
        for name, e in dict(d.get("classes", {})).items():
            sx, sy = knots(e, f"{kind}/{name}")
            subs[str(name)] = cls(kind, sx, sy, str(d.get("method", "isotonic")), dict(e.get("meta", {})))
        return cls(kind, x, y, str(d.get("method", "isotonic")), dict(d.get("meta", {})), subs)


def fit_isotonic(
    conf: ArrayLike, correct: ArrayLike, *, kind: str = "custom", min_block: int = 20
) -> CalibrationMap:
    """Fit a non-decreasing map from ``conf`` to the probability of ``correct`` by pool-adjacent-violators.

    Blocks with fewer than ``min_block`` samples are pooled with a neighbour, so a handful of samples
    at an extreme confidence cannot pin the map to 0 or 1. The map is flat over each block (knots at
    its lowest and highest confidence) at the block's share correct, smoothed by Laplace's rule
    (``(right + 1) / (n + 2)``), and linear between blocks: every confidence of a block gets the share
    measured on the block (interpolating between the blocks' means instead would move the block's
    edges towards its neighbours' shares, which they do not have).

    >>> m = fit_isotonic([0.2] * 50 + [0.9] * 50, [True] * 25 + [False] * 25 + [True] * 40 + [False] * 10)
    >>> [round(float(v), 2) for v in m([0.2, 0.9])]
    [0.5, 0.79]
    """
    c, y = _arrays(conf, correct)
    if c.size == 0:
        raise InputError("cannot fit a calibration map to no samples; expected at least one confidence")
    order = np.argsort(c, kind="stable")
    c, yf = c[order], y[order].astype(np.float64)
    # initial blocks: one per distinct confidence
    uniq, start = np.unique(c, return_index=True)
    ends = np.append(start[1:], c.size)
    blocks: list[list[float]] = []  # [sum_y, n, lowest conf, highest conf]
    for a, b in zip(start, ends, strict=True):
        blocks.append([float(yf[a:b].sum()), float(b - a), float(c[a]), float(c[a])])

    def merge(lo: list[float], hi: list[float]) -> list[float]:
        return [lo[0] + hi[0], lo[1] + hi[1], lo[2], hi[3]]

    stack: list[list[float]] = []
    for blk in blocks:
        stack.append(blk)
        while len(stack) > 1 and (
            stack[-2][0] / stack[-2][1] >= stack[-1][0] / stack[-1][1] or stack[-2][1] < min_block
        ):
            top = stack.pop()
            stack[-1] = merge(stack[-1], top)
    while len(stack) > 1 and stack[-1][1] < min_block:
        top = stack.pop()
        stack[-1] = merge(stack[-1], top)
    # Laplace's rule of succession: a block of n inferences all right is worth (n + 1) / (n + 2), not
    # certainty; pooling with min_block may leave equal neighbours: keep the shares non-decreasing
    share = np.maximum.accumulate(np.asarray([(b[0] + 1.0) / (b[1] + 2.0) for b in stack]))
    xs: list[float] = []
    ys: list[float] = []
    for b, v in zip(stack, share.tolist(), strict=True):
        for x in (b[2], b[3]) if b[3] > b[2] else (b[2],):
            xs.append(round(x, 6))
            ys.append(round(float(v), 6))
    # rounding may make neighbouring knots equal: keep x non-decreasing (np.interp takes steps)
    xs = list(np.maximum.accumulate(np.asarray(xs)))
    return CalibrationMap(
        kind,
        [float(v) for v in xs],
        ys,
        meta={"n": int(c.size), "n_distinct": int(uniq.size)},
    )


def _maps_dir() -> Path:
    return Path(str(resources.files("hereabouts") / "calibration"))


@cache
def load_map(kind: str) -> CalibrationMap | None:
    """The shipped calibration map of ``kind`` (one of :data:`KINDS`), or None when none is shipped."""
    if kind not in KINDS:
        raise InputError(f"unknown confidence kind {kind!r}; expected one of: {', '.join(KINDS)}")
    path = _maps_dir() / f"{kind}.json"
    if not path.is_file():
        return None
    return CalibrationMap.from_dict(json.loads(path.read_text()))


@overload
def apply(kind: str, raw_conf: float, classes: str | None = None) -> float: ...
@overload
def apply(kind: str, raw_conf: ArrayLike, classes: ArrayLike | str | None = None) -> F64: ...
def apply(kind: str, raw_conf: ArrayLike | float, classes: ArrayLike | str | None = None) -> F64 | float:
    """Calibrated confidences for raw engine confidences of ``kind`` (one of :data:`KINDS`).

    A float gives a float, anything else a float64 array; NaN stays NaN. ``classes`` names the sensor
    class of each value (or one for all; see :func:`sensor_classes`): a map with a map of that class
    uses it, else its pooled map. A kind without a shipped map is returned unchanged, and so is every
    kind switched off by :func:`raw_confidences`.

    >>> 0.0 <= apply("stays", 0.7) <= 1.0
    True
    """
    if kind not in KINDS:
        raise InputError(f"unknown confidence kind {kind!r}; expected one of: {', '.join(KINDS)}")
    override = _OVERRIDE.get()
    if kind in _RAW.get():
        m = None
    elif override is not None and kind in override:
        m = override[kind]
    else:
        m = load_map(kind)
    if isinstance(raw_conf, float | int) and not isinstance(raw_conf, bool):
        one = classes if isinstance(classes, str) else None
        return float(raw_conf) if m is None else float(m(float(raw_conf), one))
    arr = np.asarray(raw_conf, np.float64)
    return arr.copy() if m is None else m(arr, classes)
