"""Stay detection scored as events: each detected stay is matched to at most one true stay.

A detected stay matches a true stay of the same entity when their time intervals overlap by at least
``min_overlap`` of the shorter one and their centres lie within ``max_distance_m``. Matching is greedy
by overlap (largest first), one-to-one. Precision is matched / detected, recall is matched / true
(true stays shorter than ``min_duration_s`` are not counted: no method is asked to find them), F1 their
harmonic mean. Boundary error is the absolute difference of start (and end) times of matched pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from ..analysis._geo import haversine_m


@dataclass(frozen=True)
class StayScore:
    n_detected: int
    n_true: int
    n_matched: int
    precision: float
    recall: float
    f1: float
    start_error_median_s: float
    end_error_median_s: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _col_us(t: pa.Table, name: str) -> np.ndarray:
    return t.column(name).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()


def match_stays(
    detected: pa.Table,
    truth: pa.Table,
    *,
    entity_map: dict[str, str] | None = None,
    max_distance_m: float = 150.0,
    min_overlap: float = 0.5,
    min_duration_s: float = 300.0,
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Pairs ``(detected_row, true_row)`` of matched stays, and the mask of true stays that count.

    ``detected`` has ``entity``, ``start``, ``end``, ``lat``, ``lon``; ``truth`` has the same with the
    entity in ``agent`` (or ``entity``). ``entity_map`` renames detected entities to truth's names.
    """
    d_ent = [str(x) for x in detected.column("entity").to_pylist()]
    if entity_map:
        d_ent = [entity_map.get(e, e) for e in d_ent]
    t_col = "agent" if "agent" in truth.column_names else "entity"
    t_ent = [str(x) for x in truth.column(t_col).to_pylist()]
    ds, de = _col_us(detected, "start"), _col_us(detected, "end")
    ts, te = _col_us(truth, "start"), _col_us(truth, "end")
    dlat, dlon = detected.column("lat").to_numpy(), detected.column("lon").to_numpy()
    tlat, tlon = truth.column("lat").to_numpy(), truth.column("lon").to_numpy()
    counts = (te - ts) >= min_duration_s * 1e6
    by_entity: dict[str, list[int]] = {}
    for j, e in enumerate(t_ent):
        if counts[j]:
            by_entity.setdefault(e, []).append(j)
    candidates: list[tuple[float, int, int]] = []
    for i, e in enumerate(d_ent):
        js = by_entity.get(e)
        if not js:
            continue
        idx = np.asarray(js)
        ov = np.minimum(de[i], te[idx]) - np.maximum(ds[i], ts[idx])
        shorter = np.minimum(de[i] - ds[i], te[idx] - ts[idx])
        frac = np.where(shorter > 0, ov / np.maximum(shorter, 1), 0.0)
        ok = (ov > 0) & (frac >= min_overlap)
        if not ok.any():
            continue
        dist = haversine_m(
            np.full(ok.sum(), dlat[i]), np.full(ok.sum(), dlon[i]), tlat[idx[ok]], tlon[idx[ok]]
        )
        for j, f, dd in zip(idx[ok], frac[ok], dist, strict=True):
            if dd <= max_distance_m:
                candidates.append((float(f), i, int(j)))
    candidates.sort(reverse=True)
    used_d: set[int] = set()
    used_t: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i in used_d or j in used_t:
            continue
        used_d.add(i)
        used_t.add(j)
        pairs.append((i, j))
    return sorted(pairs), counts


def score_stays(
    detected: pa.Table,
    truth: pa.Table,
    *,
    entity_map: dict[str, str] | None = None,
    max_distance_m: float = 150.0,
    min_overlap: float = 0.5,
    min_duration_s: float = 300.0,
) -> StayScore:
    """Event precision, recall and F1 of ``detected`` stays against ``truth``, with boundary errors."""
    pairs, counts = match_stays(
        detected,
        truth,
        entity_map=entity_map,
        max_distance_m=max_distance_m,
        min_overlap=min_overlap,
        min_duration_s=min_duration_s,
    )
    n_d, n_t, n_m = detected.num_rows, int(counts.sum()), len(pairs)
    p = n_m / n_d if n_d else 0.0
    r = n_m / n_t if n_t else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    if pairs:
        di = np.array([i for i, _ in pairs])
        tj = np.array([j for _, j in pairs])
        se = np.abs(_col_us(detected, "start")[di] - _col_us(truth, "start")[tj]) / 1e6
        ee = np.abs(_col_us(detected, "end")[di] - _col_us(truth, "end")[tj]) / 1e6
        sm, em = float(np.median(se)), float(np.median(ee))
    else:
        sm = em = float("nan")
    return StayScore(n_d, n_t, n_m, p, r, f1, sm, em)
