"""Scoring next-place predictions against the simulator's true stays.

:func:`run_predictions` holds out the last ``test_days`` (7) of the town, fits
:func:`~hereabouts.analysis.predict.fit_predictor` on the detected stays and places before that
(``until``), and asks it, for every agent and every hour of the held-out week (at half past), where
the agent is. The truth is the **simulator's true stay** covering that time: its true place, matched
to one of the agent's detected places (nearest within 100 m, one to one, as ``places.*`` is scored);
*elsewhere* when no true stay covers the hour (travelling), when the true place matched no detected
place, or when the matched place was not among the places the predictor knew for the agent (a place
first visited in the held-out week cannot be predicted by name).

:func:`summarize` turns the per-query outcomes of a set of agents into the ``predict.*`` metrics and
the ``(top-1 probability, top-1 right)`` calibration samples. The predictability bounds are computed
from the true stays too: the hourly sequence of true places (``""`` when none) over the whole span,
and the sequence of distinct true places (consecutive repeats removed), each through the Lempel-Ziv
entropy rate and Fano's inequality (Song et al. 2010).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ..analysis.predict import fano_bound, fit_predictor, lz_entropy_rate
from .metrics import _f64, _str, _us, match_nearest

__all__ = ["PredictionRun", "run_predictions", "summarize"]

F64 = NDArray[np.float64]
_US = 1_000_000
_HOUR_US = 3600 * _US
_DAY_US = 24 * _HOUR_US

#: Minimum length of the town (days) to hold out ``test_days``; shorter towns are not scored.
MIN_DAYS = 14.0


@dataclass
class _Agent:
    top_p: F64
    correct: NDArray[np.bool_]
    baseline: NDArray[np.bool_]
    brier: F64
    pi_hourly: float
    pi_distinct: float


@dataclass
class PredictionRun:
    """Per-agent outcomes of the held-out queries (empty with ``skipped`` set when not scored)."""

    agents: dict[str, _Agent] = field(default_factory=dict)
    skipped: str | None = None
    test_days: float = 7.0
    origin: str | None = None
    method: str | None = None


def _true_place_at(
    t_us: NDArray[np.int64], start: NDArray[np.int64], end: NDArray[np.int64], place: list[str | None]
) -> list[str | None]:
    idx = np.searchsorted(start, t_us, side="right") - 1
    out: list[str | None] = []
    for t, i in zip(t_us.tolist(), idx.tolist(), strict=True):
        out.append(place[i] if i >= 0 and end[i] > t else None)
    return out


def _bound(seq: list[str]) -> float:
    return fano_bound(lz_entropy_rate(seq), len(set(seq))) if len(seq) > 10 else math.nan


def run_predictions(
    stays: pa.Table,
    places: pa.Table,
    true_stays: pa.Table,
    true_places: pa.Table,
    agents: set[str],
    *,
    test_days: float = 7.0,
    min_days: float = MIN_DAYS,
    max_distance_m: float = 100.0,
) -> PredictionRun:
    """Fit on everything before the last ``test_days`` and query every hour after (see the module docs)."""
    ts_start, ts_end = _us(true_stays, "start"), _us(true_stays, "end")
    if ts_start.size == 0:
        return PredictionRun(skipped="no true stays", test_days=test_days)
    t0, t1 = int(ts_start.min()), int(ts_end.max())
    span_days = (t1 - t0) / _DAY_US
    if span_days < min_days - 1e-6:
        return PredictionRun(
            skipped=f"the town spans {span_days:.1f} days; holding out {test_days:g} needs at least {min_days:g}",
            test_days=test_days,
        )
    origin = t1 - int(test_days * _DAY_US)
    until = datetime.fromtimestamp(origin / _US, UTC)
    pred = fit_predictor(stays, places, until=until)
    run = PredictionRun(test_days=test_days, origin=until.isoformat(), method=pred.method)
    known = set(pred.entities)

    coords = {
        p: (la, lo)
        for p, la, lo in zip(
            _str(true_places, "place_id"), _f64(true_places, "lat"), _f64(true_places, "lon"), strict=True
        )
    }
    t_agent = _str(true_stays, "agent")
    t_place = _str(true_stays, "place_id")
    rows_of: dict[str, list[int]] = {}
    for i, a in enumerate(t_agent):
        if a is not None and a in agents:
            rows_of.setdefault(a, []).append(i)
    p_ent = _str(places, "entity")
    p_id = _str(places, "place_id")
    p_lat, p_lon = _f64(places, "lat"), _f64(places, "lon")
    places_of: dict[str, list[int]] = {}
    for i, e in enumerate(p_ent):
        if e is not None and e in agents:
            places_of.setdefault(e, []).append(i)
    place_ids = [str(p) for p in places.column("place_id").to_pylist()]
    q_times = np.arange(origin + _HOUR_US // 2, t1, _HOUR_US, dtype=np.int64)
    seq_times = np.arange(t0 + _HOUR_US // 2, t1, _HOUR_US, dtype=np.int64)

    for a in sorted(agents):
        rows = np.asarray(rows_of.get(a, []), np.int64)
        if rows.size == 0:
            continue
        rows = rows[np.argsort(ts_start[rows], kind="stable")]
        st, en = ts_start[rows], ts_end[rows]
        tp = [t_place[i] for i in rows.tolist()]
        # the agent's true places matched to its detected places
        tru = sorted({p for p in tp if p is not None and p in coords})
        det = np.asarray(places_of.get(a, []), np.int64)
        to_det: dict[str, str] = {}
        if tru and det.size:
            tlat = np.array([coords[p][0] for p in tru])
            tlon = np.array([coords[p][1] for p in tru])
            for i, j, _ in match_nearest(p_lat[det], p_lon[det], tlat, tlon, max_distance_m):
                pid = p_id[int(det[i])]
                if pid is not None:
                    to_det[tru[j]] = pid
        # predictability of the true hourly and distinct-place sequences
        hourly = [p or "" for p in _true_place_at(seq_times, st, en, tp)]
        distinct: list[str] = []
        for p in tp:
            if p is not None and (not distinct or distinct[-1] != p):
                distinct.append(p)
        pi_h, pi_d = _bound(hourly), _bound(distinct)
        if a not in known:
            continue
        probs, _, cols = pred.probabilities(a, q_times)
        k = cols.shape[0]
        local = {place_ids[int(c)]: j for j, c in enumerate(cols.tolist())}
        truth = np.array(
            [
                local.get(to_det.get(p, ""), k) if p is not None else k
                for p in _true_place_at(q_times, st, en, tp)
            ],
            np.int64,
        )
        n = q_times.shape[0]
        guess = np.argmax(probs, axis=1)
        onehot = np.zeros_like(probs)
        onehot[np.arange(n), truth] = 1.0
        base = int(np.argmax(pred._model(a).totals))
        run.agents[a] = _Agent(
            top_p=np.asarray(probs[np.arange(n), guess], np.float64),
            correct=guess == truth,
            baseline=truth == base,
            brier=np.asarray(((probs - onehot) ** 2).sum(axis=1), np.float64),
            pi_hourly=pi_h,
            pi_distinct=pi_d,
        )
    return run


def summarize(run: PredictionRun, agents: set[str]) -> tuple[dict[str, float], tuple[F64, NDArray[np.bool_]]]:
    """The ``predict.*`` metrics of ``agents`` (NaN when none was scored) and their calibration samples
    ``(top-1 probability, top-1 right)``."""
    from .calibration import reliability

    ags = [run.agents[a] for a in sorted(agents) if a in run.agents]
    nan = math.nan
    if not ags:
        keys = ("top1", "baseline_top1", "brier", "ece", "fano_bound", "fano_bound_distinct")
        out = {f"predict.{k}": nan for k in keys}
        out["predict.n_queries"] = 0.0
        return out, (np.zeros(0), np.zeros(0, np.bool_))
    c = np.concatenate([g.top_p for g in ags])
    y = np.concatenate([g.correct for g in ags])
    hourly = [g.pi_hourly for g in ags if not math.isnan(g.pi_hourly)]
    distinct = [g.pi_distinct for g in ags if not math.isnan(g.pi_distinct)]
    out = {
        "predict.top1": float(y.mean()) if y.size else nan,
        "predict.baseline_top1": float(np.concatenate([g.baseline for g in ags]).mean()) if y.size else nan,
        "predict.brier": float(np.concatenate([g.brier for g in ags]).mean()) if y.size else nan,
        "predict.ece": reliability(c, y).ece,
        "predict.fano_bound": float(np.mean(hourly)) if hourly else nan,
        "predict.fano_bound_distinct": float(np.mean(distinct)) if distinct else nan,
        "predict.n_queries": float(y.size),
    }
    return out, (c, y)
