"""Predictions: where an entity is likely to be at a given time (pattern-of-life, stage 6).

:func:`fit_predictor` learns, per entity, P(place | local time of week) from its stays mapped to
places; :meth:`Predictor.predict` answers "where will (or would) this entity be at time t?" with a
probability for every known place and for *elsewhere*. :func:`evaluate_predictions` measures the
model on the entity's own history (rolling origin), reporting accuracy against the Fano
predictability bound computed from the same data (:func:`lz_entropy_rate`, :func:`fano_bound`).

The model
---------
Time is read in the entity's local time (an IANA zone given as ``tz``, else the zone of the place the
entity spent most time at, looked up offline with ``timezonefinder`` when installed, else UTC; the
output says which). A week has 168 hourly bins. The observed span of an entity (first stay start to
last stay end, cut at ``until``) is sampled every 10 minutes; each sample is the place of the stay
covering it, or **elsewhere** when no stay covers it (travelling, at a place seen once and not
clustered, or without data: a stay table cannot tell these apart) or the stay has no place, or is
the first visit to its place after the first ``novelty_burn_in_days`` (7) of history: a future
week's first visit to a new place will be elsewhere, and counting past first visits the same way
keeps that share honest (on the simulator it lowered log-loss from 0.72 to 0.68). Each
sample adds ``1/6 · 0.5 ** (age / half_life_days)`` to its bin and outcome, so a fully observed bin
of a recent week weighs about one "week".

Bins are smoothed hierarchically (a Dirichlet back-off, each level the prior of the one below)::

    global     g(x)    = (Σ_b C[b, x] + κ / K) / (Σ C + κ)
    pool       q_b(x)  = (Σ_{b' same hour, same day type} C[b', x] + γ g(x)) / (n + γ)
    bin        p_b(x)  = (C[b, x] + ν (C[b-1, x] + C[b+1, x]) + α q_b(x)) / (n + α)

where the day types are weekdays (Mon–Fri) and weekend days, ``ν = neighbour_weight``,
``α = pool_strength``, ``γ = global_strength``, ``κ = 0.05`` weeks spread uniformly over the
``K`` outcomes (so no outcome ever has probability 0 and log-loss stays finite). A bin with many
weeks of history speaks for itself; a bin seen once leans on the same hour of similar days.
``support`` in the output is how many weeks of observation the bin had (sampled hours / 1 h,
not recency-weighted).

Calibration
-----------
The probability of each query's most likely outcome goes through the shipped ``predict`` calibration
map (``hereabouts/calibration/predict.json``, fitted by ``scripts/fit_calibration.py`` on simulated
towns, see ``docs/accuracy.md``); the other outcomes are rescaled to share the rest in their
proportions, and the most likely outcome stays the most likely. Queries blended with recent
context (below) are left raw: the map, fitted without context, raised their ECE from 0.054 to 0.073
(``benchmarks/predict.py``). Inside
``hereabouts.evaluate.calibration.raw_confidences("predict")`` the model's own (raw) probabilities
are returned.

Recent context (Markov term)
----------------------------
When the caller knows where the entity was at a recent time (``context=(place_id or None, t0)``),
queries at most ``markov_horizon_h`` hours after ``t0`` blend in the entity's own lag-k transition
row ``T_k(x | place at t0)`` (hourly lags ``k = round(Δ/1 h)``, counted on the training samples and
smoothed towards the time-of-week distribution with strength 1)::

    p(x) = w · T_k(x | current) + (1 − w) · p_b(x),   w = exp(−Δ / markov_tau_h)

so an hour ahead the current place counts a lot and a few hours ahead almost nothing. The rows are
not conditioned on the time of day: a variant counting only transitions from the same time of day
(± 1 h, same day type) was tried and scored a worse log-loss on the simulator (0.45 against 0.42
an hour ahead), its rows being too sparse for a few weeks of history. :func:`evaluate_predictions`
measures the term with ``context_lag_s``.

Evaluation
----------
:func:`evaluate_predictions` holds out the last ``folds`` windows of ``test_days`` (rolling
origin: each fitted on everything before it) and scores hourly queries against where the entity
really was (the place of the covering stay if the entity had been there before the window, else
elsewhere): top-1 accuracy beside a "most frequent outcome" baseline, the multi-class Brier score,
log-loss, a 10-bin reliability table of the top-1 probability with its ECE, and the Fano bound of
each entity's hourly sequence, so accuracy is read against the best any predictor could do.

Measured (``python benchmarks/predict.py``)
-------------------------------------------
On a simulated town of 100 agents over 28 days (seed 1, phones sampling GPS every minute, stays
detected from the fixes), holding out the last week: top-1 accuracy 0.836 against 0.676 for always
answering the most frequent place, Brier 0.265, log-loss 0.68 nats, ECE 0.058 (the top bin is
over-confident: 0.97 predicted, 0.91 observed); with the true state an hour before each query,
accuracy 0.843, Brier 0.236, log-loss 0.55, ECE 0.054. The agents' mean Fano bound is 0.946, so
accuracy reaches 88 % of the best any predictor could do. Fitting takes about 6 ms per entity, a
query under 1 ms. Those were the raw probabilities; through the ``predict`` calibration map
(8 December 2026) the time-of-week ECE is 0.054 (accuracy, and the context row, unchanged). The map
was fitted against the simulator's true places (``hereabouts evaluate``), where its held-out ECE is
0.011-0.030 per profile (``docs/accuracy.md``); this benchmark's truth is the detected stays.

Predictability (Song et al. 2010)
---------------------------------
The hourly location sequence (one symbol per hour: place or elsewhere) has an entropy rate
estimated with the Lempel-Ziv estimator of Kontoyiannis et al. (1998) as used by Song, Qu,
Blumm & Barabási, *Limits of predictability in human mobility*, Science 327 (2010):
``S ≈ (1/n Σ Λ_i)^-1 log2 n``, ``Λ_i`` the length of the shortest substring starting at ``i``
that does not occur in ``x[0:i]``. Fano's inequality then bounds the accuracy of *any* predictor:
``S = H(Π) + (1 − Π) log2(N − 1)`` solved for ``Π_max`` (``N`` distinct symbols). Song et al.
found ``Π_max ≈ 0.93`` for hourly cell-tower locations; for the next distinct place (a sequence
without repeats) later studies report about 0.71.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..model.errors import InputError, NotFoundError, SchemaError
from .places import assign_places

__all__ = [
    "PredictionEvaluation",
    "Predictor",
    "evaluate_predictions",
    "fano_bound",
    "fit_predictor",
    "hourly_sequence",
    "lz_entropy_rate",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

_US = 1_000_000
_HOUR_US = 3600 * _US
_DAY_US = 24 * _HOUR_US
_WEEK_US = 7 * _DAY_US
_BINS = 168
_SAMPLE_US = 600 * _US  # training samples every 10 minutes
_KAPPA = 0.05

_PREDICT_SCHEMA = pa.schema(
    [
        ("entity", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("place_id", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("probability", pa.float64()),
        ("rank", pa.int32()),
        ("support", pa.float64()),
        ("tz", pa.string()),
        ("method", pa.string()),
    ]
)


# --------------------------------------------------------------------------------------------------
# local time


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"unknown time zone {name!r}, expected an IANA name such as 'Europe/Amsterdam'"
        ) from exc


@lru_cache(maxsize=1)
def _tz_finder() -> Any:
    try:
        from timezonefinder import TimezoneFinder
    except ImportError:
        return None
    return TimezoneFinder()


def _zone_at(lat: float, lon: float) -> tuple[str, str]:
    """(zone name, how it was found) for a position: timezonefinder when installed, else UTC."""
    finder = _tz_finder()
    if finder is not None and math.isfinite(lat) and math.isfinite(lon):
        name = finder.timezone_at(lng=lon, lat=lat)
        if name:
            return str(name), "timezonefinder"
    return "UTC", "utc-fallback"


def _offsets_s(t_us: I64, zone: tzinfo) -> I64:
    """UTC offset (seconds) of ``zone`` at each time; looked up once per quarter hour of UTC."""
    if t_us.shape[0] == 0:
        return np.zeros(0, np.int64)
    slots = t_us // (900 * _US)
    uniq, inv = np.unique(slots, return_inverse=True)
    offs = np.empty(uniq.shape[0], np.int64)
    for i, s in enumerate(uniq.tolist()):
        try:
            off = datetime.fromtimestamp(s * 900, zone).utcoffset()
        except (OverflowError, OSError, ValueError) as exc:
            raise InputError(f"time {s * 900} s since 1970 is out of range, expected years 1..9999") from exc
        offs[i] = 0 if off is None else int(off.total_seconds())
    return offs[inv.reshape(-1)]


def _week_bins(t_us: I64, zone: tzinfo) -> I64:
    """Local hour of week (0 = Monday 00:00–01:00) of each UTC time."""
    local_s = t_us // _US + _offsets_s(t_us, zone)
    days = local_s // 86400
    hour = (local_s - days * 86400) // 3600
    return np.asarray(((days + 3) % 7) * 24 + hour, np.int64)  # 1970-01-01 was a Thursday


# --------------------------------------------------------------------------------------------------
# predictability


def lz_entropy_rate(sequence: Sequence[Any] | NDArray[Any]) -> float:
    """Entropy rate (bits per symbol) of a sequence by the Lempel-Ziv estimator of Song et al. 2010.

    ``S = n log2(n) / Σ Λ_i``, where ``Λ_i`` is the length of the shortest substring starting at
    position ``i`` that does not occur anywhere in ``x[0:i]`` (``n − i + 1`` when every substring
    to the end occurs). It converges to the entropy rate of a stationary ergodic source
    (Kontoyiannis et al. 1998); on a short sequence it overestimates a little. Symbols may be any
    hashable values.

    >>> round(lz_entropy_rate([0] * 500), 3)  # a constant sequence carries (almost) no information
    0.071
    >>> lz_entropy_rate([])
    0.0
    """
    n = len(sequence)
    if n < 2:
        return 0.0
    codes: dict[Any, int] = {}
    text = "".join(chr(0x100 + codes.setdefault(x, len(codes))) for x in list(sequence))
    total = 0
    for i in range(n):
        # Λ_i is monotone: if x[i:i+k] occurs in x[0:i], so does every shorter prefix -> bisection
        lo, hi = 1, n - i + 1  # the answer lies in [lo, hi]; hi = n - i + 1 means "never new"
        while lo < hi:
            mid = (lo + hi) // 2
            if mid <= n - i and text.find(text[i : i + mid], 0, i) >= 0:
                lo = mid + 1
            else:
                hi = mid
        total += lo
    return float(n * math.log2(n) / total)


def fano_bound(entropy_bits: float, n_symbols: int) -> float:
    """Maximum predictability Π_max from Fano's inequality (Song et al. 2010).

    Solves ``S = H(Π) + (1 − Π) log2(N − 1)`` for ``Π`` in ``[1/N, 1]``, with ``H`` the binary
    entropy in bits, by bisection (the right side falls from ``log2 N`` at ``Π = 1/N`` to 0 at
    ``Π = 1``). ``S ≥ log2 N`` gives ``1/N`` (no better than guessing); ``S ≤ 0`` or ``N ≤ 1``
    gives 1.

    >>> fano_bound(0.0, 5), fano_bound(2.0, 4)
    (1.0, 0.25)
    >>> round(fano_bound(0.8, 50), 3)
    0.926
    """
    if not math.isfinite(entropy_bits) or entropy_bits < 0:
        raise InputError(f"entropy_bits must be a finite number of at least 0, got {entropy_bits!r}")
    if n_symbols <= 1 or entropy_bits <= 0:
        return 1.0
    if entropy_bits >= math.log2(n_symbols):
        return 1.0 / n_symbols

    def rhs(p: float) -> float:
        h = 0.0 if p >= 1.0 else -p * math.log2(p) - (1 - p) * math.log2(1 - p)
        return h + (1 - p) * math.log2(n_symbols - 1)

    lo, hi = 1.0 / n_symbols, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if rhs(mid) > entropy_bits:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# --------------------------------------------------------------------------------------------------
# stays -> states


@dataclass(frozen=True)
class _History:
    """One entity's stays, sorted by start, with a place code (-1 = no place)."""

    start: I64
    end: I64
    code: I64

    def state_at(self, t_us: I64, elsewhere: int) -> I64:
        idx = np.searchsorted(self.start, t_us, side="right") - 1
        ok = idx >= 0
        safe = np.where(ok, idx, 0)
        inside = ok & (self.end[safe] > t_us) if self.start.shape[0] else np.zeros(t_us.shape, np.bool_)
        out = np.full(t_us.shape, elsewhere, np.int64)
        if self.start.shape[0]:
            c = self.code[safe]
            good = inside & (c >= 0)
            out[good] = c[good]
        return out


def _times(table: pa.Table, name: str) -> I64:
    col = table.column(name)
    if not pa.types.is_timestamp(col.type):
        raise SchemaError(f"column {name!r} has type {col.type}, expected timestamp[us, UTC]")
    col = col.cast(pa.timestamp("us", tz="UTC"))
    if col.null_count:
        raise SchemaError(f"column {name!r} has {col.null_count} nulls, expected none")
    return np.asarray(col.combine_chunks().view(pa.int64()).to_numpy(zero_copy_only=False), np.int64)


def _prepare(stays: pa.Table, places: pa.Table) -> tuple[dict[str, _History], pa.Table, list[str]]:
    """Histories per entity (place codes index ``place_ids``), and the place table used."""
    for c in ("entity", "start", "end"):
        if c not in stays.column_names:
            raise SchemaError(f"stay table lacks column {c!r}", hint="pass the table detect_stays returned")
    if "place_id" not in places.column_names:
        raise SchemaError(
            "place table lacks column 'place_id'", hint="pass the table cluster_places returned"
        )
    start, end = _times(stays, "start"), _times(stays, "end")
    pid = assign_places(stays, places)
    place_ids = [str(p) for p in places.column("place_id").to_pylist()]
    index = {p: i for i, p in enumerate(place_ids)}
    code = np.array([-1 if p is None else index[p] for p in pid.to_pylist()], np.int64)
    ents = stays.column("entity").cast(pa.string()).to_pylist()
    out: dict[str, list[int]] = {}
    for i, e in enumerate(ents):
        if e is None:
            raise SchemaError("column 'entity' has nulls, expected an entity name on every stay")
        out.setdefault(e, []).append(i)
    hist: dict[str, _History] = {}
    for e, rows in out.items():
        r = np.asarray(rows, np.int64)
        r = r[np.argsort(start[r], kind="stable")]
        hist[e] = _History(start[r], end[r], code[r])
    return hist, places, place_ids


# --------------------------------------------------------------------------------------------------
# the model


@dataclass(frozen=True)
class _EntityModel:
    places: I64  # indexes into the place table; outcome k < K is places[k], K is elsewhere
    prob: F64  # (168, K + 1) smoothed P(outcome | bin)
    support: F64  # (168,) weeks of observation per bin
    transition: F64  # (H, K + 1, K + 1) lag-k transition counts (k = 1..H)
    totals: F64  # (K + 1,) recency-weighted time per outcome
    zone: tzinfo
    tz: str
    tz_source: str
    trained_until_us: int


@dataclass(frozen=True)
class Predictor:
    """A fitted per-entity model of where each entity is by local time of week (see the module docs).

    Use :meth:`predict`; ``method`` names the model and its parameters.
    """

    method: str
    markov_horizon_h: int
    markov_tau_h: float
    _models: dict[str, _EntityModel] = field(repr=False)
    _place_ids: list[str] = field(repr=False)
    _lat: F64 = field(repr=False)
    _lon: F64 = field(repr=False)

    @property
    def entities(self) -> list[str]:
        """The entities the predictor knows, sorted."""
        return sorted(self._models)

    def tz(self, entity: str) -> tuple[str, str]:
        """(IANA zone, how it was chosen: ``given``, ``timezonefinder`` or ``utc-fallback``) of an entity."""
        m = self._model(entity)
        return m.tz, m.tz_source

    def _model(self, entity: str) -> _EntityModel:
        try:
            return self._models[entity]
        except KeyError:
            raise NotFoundError(
                f"no history for entity {entity!r}", hint=f"known entities: {', '.join(self.entities[:10])}"
            ) from None

    def probabilities(
        self, entity: str, t_us: I64, *, context: tuple[I64, I64] | None = None
    ) -> tuple[F64, F64, I64]:
        """Raw form of :meth:`predict`: (probabilities (n, K + 1), support (n,), place index (K,)).

        Column ``K`` is elsewhere, columns ``k < K`` are the place table rows ``places[k]``;
        ``context`` gives per query the outcome column and time (µs) of a recent observation.
        """
        m = self._model(entity)
        t = np.asarray(t_us, np.int64)
        bins = _week_bins(t, m.zone)
        raw = m.prob[bins]
        p = _calibrated(raw.copy())  # the map was fitted on time-of-week probabilities only
        if context is not None and m.transition.shape[0]:
            cur = np.broadcast_to(np.asarray(context[0], np.int64), t.shape)
            t0 = np.broadcast_to(np.asarray(context[1], np.int64), t.shape)
            dt_h = (t - t0) / _HOUR_US
            near = (dt_h > 0) & (dt_h <= self.markov_horizon_h)
            if near.any():
                lag = np.clip(np.rint(dt_h[near]).astype(np.int64), 1, self.markov_horizon_h) - 1
                row = m.transition[lag, cur[near], :]  # (n_near, K + 1) weighted counts
                n = row.sum(axis=1, keepdims=True)
                tr = (row + raw[near]) / (n + 1.0)
                w = np.exp(-dt_h[near] / self.markov_tau_h)[:, None]
                # blended with recent context: raw (the map made these worse: ECE 0.054 -> 0.073)
                p[near] = w * tr + (1 - w) * raw[near]
        return p, m.support[bins], m.places

    def predict(
        self,
        entity: str,
        at: datetime | Sequence[datetime],
        *,
        top: int | None = None,
        context: tuple[str | None, datetime] | None = None,
    ) -> pa.Table:
        """Where ``entity`` is likely to be at each time of ``at``.

        Parameters
        ----------
        entity
            An entity of the stays the predictor was fitted on.
        at
            One time or several. Aware datetimes are converted; naive ones are read as wall time in
            the entity's zone (``Predictor.tz(entity)``), so ``datetime(2025, 4, 1, 10)`` means
            10:00 where the entity lives.
        top
            Keep the ``top`` most likely outcomes per query (default: all, summing to 1).
        context
            ``(place_id or None for elsewhere, time)``: where the entity was seen recently; queries
            within ``markov_horizon_h`` hours after it blend in the transition term. A place the
            entity had not been at in training counts as elsewhere.

        Returns
        -------
        pyarrow.Table
            One row per query and outcome, most likely first: entity, at (UTC), place_id, lat, lon
            (null for *elsewhere*: not at any known place), probability, rank (1 = most likely),
            support (weeks of history behind the query's hour of week), tz, method.
        """
        m = self._model(entity)
        times = [at] if isinstance(at, datetime) else list(at)
        t_us = np.array([_to_us(t, m.zone) for t in times], np.int64)
        ctx: tuple[I64, I64] | None = None
        if context is not None:
            cplace, ct = context
            k = m.places.shape[0]
            col = k
            if cplace is not None:
                hits = [j for j, pi in enumerate(m.places.tolist()) if self._place_ids[pi] == cplace]
                col = hits[0] if hits else k
            ctx = (np.array(col, np.int64), np.array(_to_us(ct, m.zone), np.int64))
        p, support, places = self.probabilities(entity, t_us, context=ctx)
        k = places.shape[0]
        order = np.argsort(-p, axis=1, kind="stable")
        keep = order.shape[1] if top is None else max(0, min(int(top), order.shape[1]))
        order = order[:, :keep]
        n = t_us.shape[0]
        q = np.repeat(np.arange(n), keep)
        o = order.reshape(-1)
        is_place = o < k
        pidx = places[np.where(is_place, o, 0)] if k else np.zeros(o.shape, np.int64)
        ids = pa.array(
            [
                self._place_ids[j] if ok else None
                for j, ok in zip(pidx.tolist(), is_place.tolist(), strict=True)
            ]
        )
        lat = np.where(is_place, self._lat[pidx] if k else np.nan, np.nan)
        lon = np.where(is_place, self._lon[pidx] if k else np.nan, np.nan)
        return pa.table(
            {
                "entity": pa.array([entity] * q.shape[0], pa.string()),
                "at": pa.array(t_us[q], pa.timestamp("us", tz="UTC")),
                "place_id": ids.cast(pa.string()),
                "lat": pa.array(lat, pa.float64(), from_pandas=True),
                "lon": pa.array(lon, pa.float64(), from_pandas=True),
                "probability": pa.array(p[q, o], pa.float64()),
                "rank": pa.array(np.tile(np.arange(1, keep + 1), n), pa.int32()),
                "support": pa.array(support[q], pa.float64()),
                "tz": pa.array([m.tz] * q.shape[0], pa.string()),
                "method": pa.array([f"{self.method}, tz={m.tz} ({m.tz_source})"] * q.shape[0], pa.string()),
            },
            schema=_PREDICT_SCHEMA,
        )


def _calibrated(p: F64) -> F64:
    """Each row's top-1 probability through the shipped ``predict`` calibration map
    (:mod:`hereabouts.evaluate.calibration`; unchanged inside ``raw_confidences("predict")``), the
    other outcomes rescaled to share the rest in their proportions. The most likely outcome stays the
    most likely: its probability is kept at least as large as the runner-up's after rescaling."""
    from ..evaluate.calibration import apply

    n = p.shape[0]
    if n == 0 or p.shape[1] < 2:
        return p
    rows = np.arange(n)
    top = np.argmax(p, axis=1)
    raw = p[rows, top]
    mapped = np.asarray(apply("predict", raw), np.float64)
    if np.array_equal(mapped, raw):
        return p
    second = np.partition(p, -2, axis=1)[:, -2]
    # the runner-up after rescaling is second·(1 − t)/(1 − raw); t >= that when t >= s / (1 − raw + s)
    floor = np.where(second > 0, second / np.maximum(1.0 - raw + second, 1e-12), 0.0)
    t = np.clip(np.maximum(mapped, floor), 0.0, 1.0)
    rest = 1.0 - raw
    scale = np.where(rest > 1e-12, (1.0 - t) / np.maximum(rest, 1e-12), 0.0)
    out = p * scale[:, None]
    out[rows, top] = t
    with np.errstate(invalid="ignore", divide="ignore"):
        out /= out.sum(axis=1, keepdims=True)
    return out


def _to_us(t: datetime, zone: tzinfo) -> int:
    if not isinstance(t, datetime):
        raise InputError(f"expected a datetime, got {type(t).__name__}")
    if t.tzinfo is None or t.tzinfo.utcoffset(t) is None:
        t = t.replace(tzinfo=zone)
    delta = t.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * _US + delta.microseconds


def _check_positive(name: str, value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InputError(f"{name} must be a finite number above 0, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InputError(f"{name} must be a finite number of at least 0, got {value!r}")


def fit_predictor(
    stays: pa.Table,
    places: pa.Table,
    *,
    tz: str | None = None,
    half_life_days: float = 28.0,
    until: datetime | None = None,
    neighbour_weight: float = 0.5,
    pool_strength: float = 4.0,
    global_strength: float = 1.0,
    markov_horizon_h: int = 3,
    markov_tau_h: float = 1.0,
    novelty_burn_in_days: float | None = 7.0,
) -> Predictor:
    """Fit a per-entity model of P(place | local hour of week) from stays and their places.

    Parameters
    ----------
    stays
        A ``stay`` tier table (``entity``, ``start``, ``end``, ``lat``, ``lon``). Not modified.
    places
        A ``place`` tier table (:func:`~hereabouts.analysis.places.cluster_places`); each stay is
        given the place :func:`~hereabouts.analysis.places.assign_places` finds for it.
    tz
        IANA zone for local time, for every entity; ``None``: the zone at each entity's most visited
        place (``timezonefinder``), or UTC when that package is missing (the output says which).
    half_life_days
        Recency weighting: a sample this long before the end of the history counts half.
    until
        Train only on history before this time (stays crossing it are cut there).
    neighbour_weight, pool_strength, global_strength
        Smoothing: weight of the two neighbouring hours; pseudo-weeks of the same hour on days of the
        same type (weekdays, weekend); pseudo-weeks of the entity's overall distribution.
    markov_horizon_h, markov_tau_h
        The transition term used with ``predict(..., context=...)``: up to this many hours ahead,
        with weight ``exp(−Δ/τ)``.
    novelty_burn_in_days
        A stay that is the entity's first visit to its place, more than this many days after the
        history starts, is counted as elsewhere (see the module documentation); ``None``: never.

    Returns
    -------
    Predictor
    """
    _check_positive("half_life_days", half_life_days)
    _check_non_negative("neighbour_weight", neighbour_weight)
    _check_positive("pool_strength", pool_strength)
    _check_positive("global_strength", global_strength)
    _check_positive("markov_tau_h", markov_tau_h)
    if novelty_burn_in_days is not None:
        _check_non_negative("novelty_burn_in_days", novelty_burn_in_days)
    if isinstance(markov_horizon_h, bool) or not isinstance(markov_horizon_h, int) or markov_horizon_h < 0:
        raise InputError(f"markov_horizon_h must be a whole number of at least 0, got {markov_horizon_h!r}")
    given_zone = None if tz is None else _zone(tz)
    until_us = None if until is None else _to_us(until, UTC)
    hist, places, place_ids = _prepare(stays, places)
    lat = np.asarray(places.column("lat").cast(pa.float64()).fill_null(np.nan).to_numpy(), np.float64)
    lon = np.asarray(places.column("lon").cast(pa.float64()).fill_null(np.nan).to_numpy(), np.float64)
    models: dict[str, _EntityModel] = {}
    for ent, h in hist.items():
        model = _fit_entity(
            h,
            lat,
            lon,
            given_zone=given_zone,
            tz=tz,
            half_life_us=half_life_days * _DAY_US,
            until_us=until_us,
            nu=neighbour_weight,
            alpha=pool_strength,
            gamma=global_strength,
            horizon_h=markov_horizon_h,
            novelty_after_us=None if novelty_burn_in_days is None else novelty_burn_in_days * _DAY_US,
        )
        if model is not None:
            models[ent] = model
    method = (
        f"time-of-week(half_life_days={half_life_days:g}, neighbour_weight={neighbour_weight:g}, "
        f"pool_strength={pool_strength:g}, global_strength={global_strength:g}, "
        f"markov_horizon_h={markov_horizon_h}, markov_tau_h={markov_tau_h:g}, "
        f"novelty_burn_in_days={novelty_burn_in_days})"
    )
    return Predictor(method, markov_horizon_h, float(markov_tau_h), models, place_ids, lat, lon)


def _fit_entity(
    h: _History,
    lat: F64,
    lon: F64,
    *,
    given_zone: tzinfo | None,
    tz: str | None,
    half_life_us: float,
    until_us: int | None,
    nu: float,
    alpha: float,
    gamma: float,
    horizon_h: int,
    novelty_after_us: float | None,
) -> _EntityModel | None:
    if h.start.shape[0] == 0:
        return None
    t0 = int(h.start[0])
    t1 = int(h.end.max())
    if until_us is not None:
        t1 = min(t1, until_us)
    if t1 <= t0:
        return None
    end = np.minimum(h.end, t1)
    code = h.code
    if novelty_after_us is not None:
        # a first visit after the burn-in counts as elsewhere: a future week's new place is elsewhere too
        valid = np.flatnonzero(code >= 0)
        _, first = np.unique(code[valid], return_index=True)
        novel = valid[first]
        novel = novel[h.start[novel] > t0 + novelty_after_us]
        code = code.copy()
        code[novel] = -1
    hh = _History(h.start, end, code)
    # outcomes: the places this entity has been at before t1, most time first
    dwell = np.zeros(lat.shape[0])
    known = (h.code >= 0) & (h.start < t1)
    np.add.at(dwell, h.code[known], (end[known] - h.start[known]).astype(np.float64))
    visited = np.flatnonzero(dwell > 0)
    visited = visited[np.argsort(-dwell[visited], kind="stable")]
    k = visited.shape[0]
    local = np.full(lat.shape[0], -1, np.int64)
    local[visited] = np.arange(k)
    if given_zone is not None and tz is not None:
        zone, zname, zsource = given_zone, tz, "given"
    elif k:
        zname, zsource = _zone_at(float(lat[visited[0]]), float(lon[visited[0]]))
        zone = _zone(zname)
    else:
        zone, zname, zsource = _zone("UTC"), "UTC", "utc-fallback"

    ts = np.arange(t0 + _SAMPLE_US // 2, t1, _SAMPLE_US, dtype=np.int64)
    glob_state = hh.state_at(ts, -1)
    state = np.where(glob_state >= 0, local[np.maximum(glob_state, 0)], k)
    state = np.where(state < 0, k, state)
    bins = _week_bins(ts, zone)
    w = 0.5 ** ((t1 - ts) / half_life_us) * (_SAMPLE_US / _HOUR_US)
    counts = np.zeros((_BINS, k + 1))
    np.add.at(counts, (bins, state), w)
    support = np.asarray(np.bincount(bins, minlength=_BINS) * (_SAMPLE_US / _HOUR_US), np.float64)

    g_counts = counts.sum(axis=0)
    g = (g_counts + _KAPPA / (k + 1)) / (g_counts.sum() + _KAPPA)
    hour = np.arange(_BINS) % 24
    weekend = np.arange(_BINS) >= 5 * 24
    pool = np.zeros((_BINS, k + 1))
    for hr in range(24):
        for we in (False, True):
            sel = (hour == hr) & (weekend == we)
            pool[sel] = counts[sel].sum(axis=0)
    q = (pool + gamma * g) / (pool.sum(axis=1, keepdims=True) + gamma)
    loc = counts + nu * (np.roll(counts, 1, axis=0) + np.roll(counts, -1, axis=0))
    prob = (loc + alpha * q) / (loc.sum(axis=1, keepdims=True) + alpha)
    prob /= prob.sum(axis=1, keepdims=True)

    # lag-k transitions on hourly samples (every 6th ten-minute sample)
    trans = np.zeros((horizon_h, k + 1, k + 1))
    hourly = state[::6]
    hw = w[::6]
    for lag in range(1, horizon_h + 1):
        if hourly.shape[0] > lag:
            np.add.at(trans[lag - 1], (hourly[:-lag], hourly[lag:]), hw[lag:])
    return _EntityModel(visited, prob, support, trans, g_counts, zone, zname, zsource, t1)


# --------------------------------------------------------------------------------------------------
# evaluation


def hourly_sequence(stays: pa.Table, places: pa.Table, entity: str, *, step_s: float = 3600.0) -> list[str]:
    """The entity's location every ``step_s`` from its first stay to its last: a place id, or ``""``
    (elsewhere) when no stay with a place covers that time. The input of :func:`lz_entropy_rate`."""
    _check_positive("step_s", step_s)
    hist, _, place_ids = _prepare(stays, places)
    if entity not in hist:
        raise NotFoundError(f"no stays for entity {entity!r}")
    return _sequence(hist[entity], place_ids, int(step_s * _US))


@dataclass(frozen=True)
class PredictionEvaluation:
    """Scores of a rolling-origin evaluation (see :func:`evaluate_predictions`).

    ``accuracy`` is top-1 accuracy over all queries of all entities; ``baseline_accuracy`` that of
    always answering the entity's most frequent outcome in training; ``brier`` the multi-class Brier
    score (sum over outcomes of squared error, 0 best, 2 worst); ``log_loss`` in nats; ``ece`` the
    expected calibration error of the top-1 probability over 10 equal-width bins, whose rows are in
    ``reliability`` (bin, lower, upper, n, mean_probability, observed_accuracy); ``pi_max`` the mean
    over entities of the Fano bound of their hourly sequence. ``per_entity`` has one row per entity.
    """

    n: int
    accuracy: float
    baseline_accuracy: float
    brier: float
    log_loss: float
    ece: float
    pi_max: float
    reliability: pa.Table
    per_entity: pa.Table
    method: str


def evaluate_predictions(
    stays: pa.Table,
    places: pa.Table,
    *,
    test_days: float = 7.0,
    folds: int = 1,
    step_s: float = 3600.0,
    entities: Sequence[str] | None = None,
    context_lag_s: float | None = None,
    fit: Callable[..., Predictor] = fit_predictor,
    **fit_options: Any,
) -> PredictionEvaluation:
    """Rolling-origin evaluation of :func:`fit_predictor` on the entities' own history.

    The last ``folds · test_days`` of the data (up to the latest stay end of all entities) are cut
    into ``folds`` test windows. For each window, a predictor is fitted on everything before it
    (``until`` = window start) and asked about every ``step_s`` in the window (at half-steps);
    the truth is the place of the stay covering that time if the entity had been at that place
    before the window, else *elsewhere* (a new place cannot be predicted by name).

    ``context_lag_s``: give each query the true state ``context_lag_s`` earlier as context (the
    Markov term; "where will they be in an hour, knowing where they are now").
    ``fit_options`` go to ``fit`` (e.g. ``tz``, ``half_life_days``).
    """
    _check_positive("test_days", test_days)
    _check_positive("step_s", step_s)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
        raise InputError(f"folds must be a whole number of at least 1, got {folds!r}")
    hist, _, place_ids = _prepare(stays, places)
    names = sorted(hist) if entities is None else list(entities)
    for e in names:
        if e not in hist:
            raise NotFoundError(f"no stays for entity {e!r}")
    if not names:
        raise InputError("no entities to evaluate: the stay table is empty")
    t_end = max(int(hist[e].end.max()) for e in names)
    window = int(test_days * _DAY_US)
    step = int(step_s * _US)
    top_p: list[F64] = []
    hit: list[NDArray[np.bool_]] = []
    rows: dict[str, list[Any]] = {
        k: []
        for k in (
            "entity",
            "n",
            "accuracy",
            "baseline_accuracy",
            "brier",
            "log_loss",
            "entropy_bits",
            "n_symbols",
            "pi_max",
        )
    }
    sub = stays.filter(pc.is_in(stays.column("entity").cast(pa.string()), pa.array(names, pa.string())))
    predictors = []
    for j in range(folds, 0, -1):
        origin = t_end - j * window
        until = datetime.fromtimestamp(origin / _US, UTC)
        predictors.append((origin, fit(sub, places, until=until, **fit_options)))
    method = predictors[0][1].method
    for e in names:
        h = hist[e]
        e_n = e_hit = e_base = 0
        e_brier = e_ll = 0.0
        for origin, pred in predictors:
            if e not in pred._models:
                continue
            ts = np.arange(origin + step // 2, origin + window, step, dtype=np.int64)
            ts = ts[(ts >= h.start[0]) & (ts < t_end)]
            if ts.shape[0] == 0:
                continue
            m = pred._models[e]
            k = m.places.shape[0]
            local = np.full(len(place_ids), k, np.int64)
            local[m.places] = np.arange(k)
            gs = h.state_at(ts, -1)
            truth = np.where(gs >= 0, local[np.maximum(gs, 0)], k)
            if context_lag_s is None:
                p, _, _ = pred.probabilities(e, ts)
            else:
                lag = int(context_lag_s * _US)
                gprev = h.state_at(ts - lag, -1)
                prev = np.where(gprev >= 0, local[np.maximum(gprev, 0)], k)
                p, _, _ = pred.probabilities(e, ts, context=(prev, ts - lag))
            n = ts.shape[0]
            guess = np.argmax(p, axis=1)
            onehot = np.zeros_like(p)
            onehot[np.arange(n), truth] = 1.0
            base = int(np.argmax(m.totals))
            e_n += n
            e_hit += int((guess == truth).sum())
            e_base += int((truth == base).sum())
            e_brier += float(((p - onehot) ** 2).sum())
            e_ll += float(-np.log(np.maximum(p[np.arange(n), truth], 1e-15)).sum())
            top_p.append(p[np.arange(n), guess])
            hit.append(guess == truth)
        seq = _sequence(h, place_ids, step)
        s_bits = lz_entropy_rate(seq)
        n_sym = len(set(seq))
        rows["entity"].append(e)
        rows["n"].append(e_n)
        rows["accuracy"].append(e_hit / e_n if e_n else math.nan)
        rows["baseline_accuracy"].append(e_base / e_n if e_n else math.nan)
        rows["brier"].append(e_brier / e_n if e_n else math.nan)
        rows["log_loss"].append(e_ll / e_n if e_n else math.nan)
        rows["entropy_bits"].append(s_bits)
        rows["n_symbols"].append(n_sym)
        rows["pi_max"].append(fano_bound(s_bits, n_sym))
    per_entity = pa.table(rows)
    conf = np.concatenate(top_p) if top_p else np.zeros(0)
    ok = np.concatenate(hit) if hit else np.zeros(0, np.bool_)
    reliability, ece = _reliability(conf, ok)
    nq = np.asarray(rows["n"], np.float64)
    total = float(nq.sum())

    def pooled(name: str) -> float:
        v = np.asarray(rows[name], np.float64)
        return float(np.nansum(v * nq) / total) if total else math.nan

    return PredictionEvaluation(
        n=int(total),
        accuracy=pooled("accuracy"),
        baseline_accuracy=pooled("baseline_accuracy"),
        brier=pooled("brier"),
        log_loss=pooled("log_loss"),
        ece=ece,
        pi_max=float(np.mean(rows["pi_max"])),
        reliability=reliability,
        per_entity=per_entity,
        method=method,
    )


def _sequence(h: _History, place_ids: list[str], step_us: int) -> list[str]:
    ts = np.arange(int(h.start[0]) + step_us // 2, int(h.end.max()), step_us, dtype=np.int64)
    st = h.state_at(ts, -1)
    return [place_ids[s] if s >= 0 else "" for s in st.tolist()]


def _reliability(conf: F64, ok: NDArray[np.bool_], bins: int = 10) -> tuple[pa.Table, float]:
    idx = np.minimum((conf * bins).astype(np.int64), bins - 1)
    n = np.bincount(idx, minlength=bins)
    sp = np.bincount(idx, weights=conf, minlength=bins)
    so = np.bincount(idx, weights=ok.astype(np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mp = np.where(n > 0, sp / np.maximum(n, 1), np.nan)
        mo = np.where(n > 0, so / np.maximum(n, 1), np.nan)
    total = int(n.sum())
    ece = float(np.nansum(n * np.abs(mp - mo)) / total) if total else math.nan
    table = pa.table(
        {
            "bin": pa.array(np.arange(bins), pa.int32()),
            "lower": np.arange(bins) / bins,
            "upper": np.arange(1, bins + 1) / bins,
            "n": pa.array(n, pa.int64()),
            "mean_probability": pa.array(mp, pa.float64(), from_pandas=True),
            "observed_accuracy": pa.array(mo, pa.float64(), from_pandas=True),
        }
    )
    return table, ece
