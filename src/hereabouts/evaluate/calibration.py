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
    "CalibrationMap",
    "Reliability",
    "apply",
    "ece",
    "fit_isotonic",
    "load_map",
    "raw_confidences",
    "reliability",
    "use_maps",
]

F64 = NDArray[np.float64]

#: The confidences the engine emits, each with its own map: a stay, a place, a trip (that it is a
#: real trip), a trip's mode guess, an anchor (home/work/regular place).
KINDS = ("stays", "places", "trips", "modes", "anchors")

#: The order maps are fitted in: kinds of one group depend on no confidence of the same or a later
#: group (places and trips are computed from their stays' emitted confidences).
FIT_ORDER: tuple[tuple[str, ...], ...] = (("stays", "modes", "anchors"), ("places", "trips"))

N_BINS = 10

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


@dataclass(frozen=True)
class CalibrationMap:
    """A monotone piecewise-linear map from raw confidence to calibrated probability.

    ``x`` (increasing) and ``y`` (non-decreasing) are its knots; below ``x[0]`` and above ``x[-1]``
    it is flat.
    """

    kind: str
    x: list[float]
    y: list[float]
    method: str = "isotonic"
    meta: dict[str, Any] = field(default_factory=dict)

    def __call__(self, raw: ArrayLike) -> F64:
        r = np.asarray(raw, np.float64)
        out = np.interp(np.clip(r, 0.0, 1.0), self.x, self.y)
        return np.asarray(np.where(np.isfinite(r), out, np.nan), np.float64)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "method": self.method, "x": self.x, "y": self.y, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CalibrationMap:
        x = [float(v) for v in d["x"]]
        y = [float(v) for v in d["y"]]
        if not x or len(x) != len(y) or any(b < a for a, b in itertools.pairwise(x)):
            raise InputError(
                f"calibration map {d.get('kind')!r} is malformed; expected equal-length knots x "
                "(increasing) and y"
            )
        return cls(str(d["kind"]), x, y, str(d.get("method", "isotonic")), dict(d.get("meta", {})))


def fit_isotonic(
    conf: ArrayLike, correct: ArrayLike, *, kind: str = "custom", min_block: int = 20
) -> CalibrationMap:
    """Fit a non-decreasing map from ``conf`` to the probability of ``correct`` by pool-adjacent-violators.

    Blocks with fewer than ``min_block`` samples are pooled with a neighbour, so a handful of samples
    at an extreme confidence cannot pin the map to 0 or 1. The knots are the blocks' mean confidences
    and their shares correct, smoothed by Laplace's rule (``(right + 1) / (n + 2)``).

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
    blocks: list[list[float]] = []  # [sum_conf, sum_y, n]
    for a, b in zip(start, ends, strict=True):
        blocks.append([float(c[a:b].sum()), float(yf[a:b].sum()), float(b - a)])
    stack: list[list[float]] = []
    for blk in blocks:
        stack.append(blk)
        while len(stack) > 1 and (
            stack[-2][1] / stack[-2][2] >= stack[-1][1] / stack[-1][2] or stack[-2][2] < min_block
        ):
            top = stack.pop()
            stack[-1] = [stack[-1][0] + top[0], stack[-1][1] + top[1], stack[-1][2] + top[2]]
    while len(stack) > 1 and stack[-1][2] < min_block:
        top = stack.pop()
        stack[-1] = [stack[-1][0] + top[0], stack[-1][1] + top[1], stack[-1][2] + top[2]]
    xs = [b[0] / b[2] for b in stack]
    # Laplace's rule of succession: a block of n inferences all right is worth (n + 1) / (n + 2), not
    # certainty
    ys = [(b[1] + 1.0) / (b[2] + 2.0) for b in stack]
    # enforce monotone (pooling with min_block may leave equal neighbours; keep non-decreasing)
    ys = list(np.maximum.accumulate(np.asarray(ys)))
    return CalibrationMap(
        kind,
        [round(float(v), 6) for v in xs],
        [round(float(v), 6) for v in ys],
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
def apply(kind: str, raw_conf: float) -> float: ...
@overload
def apply(kind: str, raw_conf: ArrayLike) -> F64: ...
def apply(kind: str, raw_conf: ArrayLike | float) -> F64 | float:
    """Calibrated confidences for raw engine confidences of ``kind`` (one of :data:`KINDS`).

    A float gives a float, anything else a float64 array; NaN stays NaN. A kind without a shipped map
    is returned unchanged, and so is every kind switched off by :func:`raw_confidences`.

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
        return float(raw_conf) if m is None else float(m(raw_conf))
    arr = np.asarray(raw_conf, np.float64)
    return arr.copy() if m is None else m(arr)
