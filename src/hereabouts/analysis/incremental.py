"""Incremental stay analysis: new fixes re-analyse only the part of an entity's history they can change,
and the stored stays then equal those of a full analysis of all fixes, exactly.

How it works
------------
Every import records, per entity, the time range ``[a, b]`` of each fix batch that added rows (the
store's ``analysis_dirty`` table; a re-import that adds nothing records nothing). :func:`analyze`
keeps, per entity and *method key* (the method and all its parameters, defaults filled in — see
:func:`method_key`; other parameters are another analysis, stored beside it), the stays found, each
with two times of the detector's run that produced it:

``sync_t``
    the *restart point* of the stay: the fix at which the detector's state was "nothing but this fix"
    — the window start (trackintel) or candidate start (default) that grew into the stay;
``horizon_t``
    the latest fix the detector had looked at before it arrived at that restart point.

For an entity with new fixes since its last analysis, with ``a`` the earliest new fix time, the
restart is the latest stored stay with ``sync_t < a`` and ``horizon_t < a`` whose ``sync_t`` is the
time of one fix only (a tie in time would leave the fix order at the restart in doubt); if there is
none, the start of the entity's data. The stays restarting there or later are deleted and the
detector runs on the fixes from the restart to the end of the entity's data; its stays replace them.

Why the result equals a full analysis
-------------------------------------
Fixes are read in one canonical order (time, position, accuracy, device), the order of a full run.
Both detectors work forwards through one entity's fixes, and at certain fixes their whole state is
just "a new window/candidate starts at this fix":

* ``"trackintel"`` (:func:`hereabouts.kernels.stays.sliding_stays`): the state is the index of the
  window's first fix, and the only history a step reads is the previous fix (the gap test). A stay
  is the window ``start..curr-1`` when fix ``curr`` leaves it, so every stay's first fix is a window
  start, decided by fixes up to that fix only (the horizon is the fix itself). Run from that fix on
  any data that agrees with the full data from it onwards, the detector goes through exactly the
  same states and emits exactly the same stays.
* ``"default"`` (:func:`hereabouts.kernels.stays.robust_stays`): the state at the top of the outer
  loop is the candidate start ``p`` alone; everything after depends on the fixes from ``p`` on. But a
  stay's first fix is *not* always a candidate start (leading members that do not fit the final
  centre are trimmed) and the state after a closed stay is not empty (the next candidate starts at
  the first trimmed trailing member, which may lie after skipped outliers). So the restart point of a
  stay is recorded by :func:`robust_sync_points`, which replays the kernel's control flow and reports,
  for each stay, the candidate start that produced it and the furthest fix examined before (members,
  outlier look-ahead and the end of the data count as examined; a decision that met the end of the
  data makes every later restart point unusable until a full run, because appended fixes could
  change it). The replay checks that it finds the very stays the kernel found. A run that starts
  at a restart point inherits that point's horizon: what the full run had examined before it still
  counts for every later restart point.

New fixes all have times ``>= a``, so they sort after every fix ``<= horizon_t < a``: the full run on
the new data passes through the same states up to the restart point ``x`` (its decisions so far read
fixes before ``a`` only), and is at state "start at ``x``" there. The stays it emitted before are
those of candidates/windows before ``x``, whose fixes all lie before ``x`` (they restart before it);
they are unchanged and kept. From ``x`` on, the run on the fixes from ``x`` is the full run. The
window always extends to the end of the entity's data, so there is no right-hand boundary to
reconcile; for the common case (new data appended at the end) that is also the smallest window.
(Fixes inserted far back in the history re-analyse from there to the end: correct, not minimal.)

A change of an entity's devices (``assign_device``) is detected by comparing the device list with the
one analysed; that entity is analysed again in full.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..kernels import jit
from ..kernels.stays import _fits, _robust_centre
from ..model.errors import HereaboutsError, InputError
from ..model.schemas import STAY, UTC_US
from ..store.duckdb_store import DuckDBStore
from ..store.postgres_store import PostgresStore
from .stays import (
    DEFAULT_MAX_ACCURACY_M,
    DEFAULT_MAX_GAP_S,
    DEFAULT_MAX_OUTLIERS,
    DEFAULT_MIN_FIXES,
    StayMethod,
    detect_stays,
)

__all__ = ["AnalysisError", "AnalyzeResult", "Window", "analyze", "method_key", "robust_sync_points"]

#: ``horizon_t`` of a stay whose restart point depended on the end of the data (never usable).
_NEVER_US = 253_402_300_799_000_000  # 9999-12-31T23:59:59Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AnalysisError(HereaboutsError):
    """The incremental analysis met an internal inconsistency (a bug); a full analysis avoids it."""


@dataclass(frozen=True)
class Window:
    """A stretch of one entity's fixes that was analysed: from ``start`` (None: its first fix) to the
    end of its data."""

    entity: str
    start: datetime | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "start": None if self.start is None else self.start.isoformat(),
            "reason": self.reason,
        }


@dataclass
class AnalyzeResult:
    """What :func:`analyze` did: the entities and windows analysed again, stays replaced, time taken."""

    method_key: str
    entities: list[str] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    stays_deleted: int = 0
    stays_written: int = 0
    fixes_read: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "method_key": self.method_key,
            "entities": list(self.entities),
            "windows": [w.as_dict() for w in self.windows],
            "stays_deleted": self.stays_deleted,
            "stays_written": self.stays_written,
            "fixes_read": self.fixes_read,
            "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------------------------------
# parameters


_NOT_KEY = ("threads",)  # parameters that do not change the result


def method_key(method: str = "default", **params: Any) -> str:
    """A canonical string naming a stay analysis: the method and every parameter that changes its
    result, defaults filled in (``threads`` is left out). Two calls that find the same stays give the
    same key; the parameters are checked as :func:`~hereabouts.analysis.stays.detect_stays` checks them.

    >>> method_key("trackintel", radius_m=50)
    'trackintel{"exclude_duplicates":true,"include_last":false,"max_gap_s":900.0,"min_duration_s":300.0,"radius_m":50.0}'
    """
    _check_params(method, params)
    m = StayMethod(method)
    p = {k: v for k, v in params.items() if k not in _NOT_KEY}
    gap = p.get("max_gap_s")
    out: dict[str, Any] = {
        "radius_m": float(p.get("radius_m", 100.0)),
        "min_duration_s": float(p.get("min_duration_s", 300.0)),
        "max_gap_s": float(DEFAULT_MAX_GAP_S[m] if gap is None else gap),
        "include_last": bool(p.get("include_last", False)),
    }
    if m is StayMethod.TRACKINTEL:
        dedup = p.get("exclude_duplicates")
        out["exclude_duplicates"] = True if dedup is None else bool(dedup)
    else:
        for name, default in (
            ("max_outliers", DEFAULT_MAX_OUTLIERS),
            ("max_accuracy_m", DEFAULT_MAX_ACCURACY_M),
            ("min_fixes", DEFAULT_MIN_FIXES),
        ):
            v = p.get(name)
            out[name] = default if v is None else v
        out["max_outliers"] = int(out["max_outliers"])
        out["min_fixes"] = int(out["min_fixes"])
        out["max_accuracy_m"] = float(out["max_accuracy_m"])
    return m.value + json.dumps(out, sort_keys=True, separators=(",", ":"))


def _check_params(method: str, params: dict[str, Any]) -> None:
    """Raise what detect_stays raises for these parameters (it checks them on an empty table)."""
    known = {
        "radius_m",
        "min_duration_s",
        "max_gap_s",
        "include_last",
        "max_outliers",
        "max_accuracy_m",
        "min_fixes",
        "exclude_duplicates",
        "threads",
    }
    unknown = sorted(set(params) - known)
    if unknown:
        raise InputError(
            f"unknown stay parameter {', '.join(unknown)}; expected some of {', '.join(sorted(known))}"
        )
    detect_stays(_fix_table("x", np.empty(0, np.int64), pa.table({})), method=method, **params)


# --------------------------------------------------------------------------------------------------
# the default method's restart points


@jit
def robust_sync_points(
    t_us: NDArray[np.int64],
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
    acc_m: NDArray[np.float64],
    radius_m: float,
    min_duration_us: int,
    max_gap_us: int,
    max_outliers: int,
    max_accuracy_m: float,
    min_fixes: int,
    include_last: bool,
) -> NDArray[np.int64]:
    """For one entity's fixes (sorted), the control flow of
    :func:`hereabouts.kernels.stays.robust_stays` replayed: one row per stay it emits, holding the
    stay's first fix, the candidate start that produced it, and the furthest fix examined before that
    candidate started (-1: none; ``len(t_us)``: the end of the data)."""
    n = t_us.shape[0]
    pos = np.empty(n, np.int64)
    mem = np.empty(n, np.int64)
    la_buf = np.empty(n, np.float64)
    lo_buf = np.empty(n, np.float64)
    out = np.empty((n, 3), np.int64)
    ns = 0
    m = 0
    for i in range(n):
        if not acc_m[i] > max_accuracy_m:
            pos[m] = i
            m += 1
    seen = -1  # furthest position in pos examined so far; m = the end of the data
    p = 0
    while p < m:
        horizon = seen
        s = p
        nm = 1
        mem[0] = s
        r0 = pos[s]
        seen = max(seen, s)
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
            seen = max(seen, q)
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
                        seen = m
                        break
                    seen = max(seen, u)
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
        if q >= m and not closed:
            seen = m
        if nm < min_fixes or t_us[pos[last]] - t_us[r0] < min_duration_us:
            p = brk
            continue
        clat, clon, ccos = _robust_centre(pos, mem, 0, nm - 1, lat, lon, acc_m, radius_m, la_buf, lo_buf)
        lo = 0
        while lo < nm - 1 and not _fits(pos[mem[lo]], lat, lon, acc_m, clat, clon, ccos, radius_m):
            lo += 1
        hi = nm - 1
        while hi > lo and not _fits(pos[mem[hi]], lat, lon, acc_m, clat, clon, ccos, radius_m):
            hi -= 1
        first = pos[mem[lo]]
        lastr = pos[mem[hi]]
        if (
            t_us[lastr] - t_us[first] >= min_duration_us
            and hi - lo + 1 >= min_fixes
            and (closed or include_last)
        ):
            out[ns, 0] = first
            out[ns, 1] = r0
            out[ns, 2] = -1 if horizon < 0 else (n if horizon >= m else pos[horizon])
            ns += 1
        p = mem[hi + 1] if hi < nm - 1 else brk
    res = np.empty((ns, 3), np.int64)
    for k in range(ns):
        for j in range(3):
            res[k, j] = out[k, j]
    return res


# --------------------------------------------------------------------------------------------------
# running the detector on a stretch of one entity


def _fix_table(name: str, t_us: NDArray[np.int64], fixes: pa.Table) -> pa.Table:
    n = len(t_us)
    cols: dict[str, Any] = {
        "entity": pa.array([name] * n, pa.string()),
        "t": pa.array(t_us, pa.int64()).view(UTC_US),
        "lat": fixes.column("lat") if n else pa.array([], pa.float64()),
        "lon": fixes.column("lon") if n else pa.array([], pa.float64()),
    }
    if n:
        cols["accuracy_m"] = fixes.column("accuracy_m")
    return pa.table(cols)


def _params(key: str) -> dict[str, Any]:
    _, _, rest = key.partition("{")
    return dict(json.loads("{" + rest))


def _detect(
    name: str, fixes: pa.Table, method: str, key: str, threads: int | None, base_horizon_us: int
) -> pa.Table:
    """Stays of one entity's (canonically sorted) fixes, as rows for the store's ``stays`` table.
    ``base_horizon_us``: the horizon of the restart point the fixes start at (what a full run had
    looked at before reaching it), which every later restart point inherits."""
    t_us = np.asarray(fixes.column("t").to_numpy(), dtype=np.int64)
    params = _params(key)
    stays = detect_stays(_fix_table(name, t_us, fixes), method=method, threads=threads, **params)
    n = stays.num_rows
    first = np.asarray(stays.column("evidence_first").to_numpy(), dtype=np.int64)
    last = np.asarray(stays.column("evidence_last").to_numpy(), dtype=np.int64)
    if method == StayMethod.TRACKINTEL:
        # a stay's first fix is the start of the window that grew into it, decided by fixes up to it
        sync = first
        horizon_t = t_us[first]
    else:
        acc = fixes.column("accuracy_m").fill_null(np.nan).to_numpy()
        trace = robust_sync_points(
            np.ascontiguousarray(t_us),
            np.ascontiguousarray(fixes.column("lat").to_numpy(), dtype=np.float64),
            np.ascontiguousarray(fixes.column("lon").to_numpy(), dtype=np.float64),
            np.ascontiguousarray(acc, dtype=np.float64),
            float(params["radius_m"]),
            # as detect_stays turns them into integer microseconds
            min(math.ceil(Fraction(params["min_duration_s"]) * 1_000_000), 2**63 - 1),
            min(math.floor(Fraction(params["max_gap_s"]) * 1_000_000), 2**63 - 1),
            int(params["max_outliers"]),
            float(params["max_accuracy_m"]),
            int(params["min_fixes"]),
            bool(params["include_last"]),
        )
        if trace.shape[0] != n or not np.array_equal(trace[:, 0], first):
            raise AnalysisError(
                f"the restart points of entity {name!r} do not match its stays ({trace.shape[0]} vs {n})",
                hint="run the analysis with full=True and report this",
            )
        sync = trace[:, 1]
        h = trace[:, 2]
        own = np.where(h < 0, t_us[sync], t_us[np.clip(h, 0, len(t_us) - 1)])
        horizon_t = np.where(h >= len(t_us), _NEVER_US, np.maximum(own, base_horizon_us))
    ts = pa.array(t_us[first], pa.int64()).view(UTC_US) if n else pa.array([], UTC_US)
    return pa.table(
        {
            "start": stays.column("start"),
            "end": stays.column("end"),
            "lat": stays.column("lat"),
            "lon": stays.column("lon"),
            "radius_m": stays.column("radius_m"),
            "n_fixes": stays.column("n_fixes"),
            "confidence": stays.column("confidence"),
            "evidence_first_t": ts,
            "evidence_last_t": pa.array(t_us[last], pa.int64()).view(UTC_US),
            "method": stays.column("method"),
            "sync_t": pa.array(t_us[sync], pa.int64()).view(UTC_US),
            "horizon_t": pa.array(np.asarray(horizon_t, dtype=np.int64), pa.int64()).view(UTC_US),
        }
    )


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


# --------------------------------------------------------------------------------------------------
# the analysis


def analyze(
    store: DuckDBStore | PostgresStore,
    entity: str | None = None,
    *,
    method: str = "default",
    full: bool = False,
    threads: int | None = None,
    concurrent: bool = False,
    **params: Any,
) -> AnalyzeResult:
    """Bring the stored stays of one entity (or of every entity) up to date with its fixes.

    Only entities with fixes added since their last analysis with the same method and parameters are
    analysed, each from a restart point before its earliest new fix (see the module documentation);
    an entity never analysed with them, or whose devices changed, is analysed in full, and so is
    every entity when ``full``. The stored stays afterwards equal ``detect_stays`` on all the
    entity's fixes.

    ``concurrent``: read and detect outside the store's analysis transaction (which, in the embedded
    store, also holds back imports), then write in a short one if no other analysis of the entity
    was stored meanwhile (else analyse again inside it). Fixes committed while it reads may or may not
    be included; either way their batches are recorded after the analysed one, so the next analysis
    takes them in and the stored stays again equal a full analysis. For a server analysing while
    fixes arrive.
    """
    t0 = time.perf_counter()
    if not isinstance(store, DuckDBStore | PostgresStore):
        raise InputError(
            f"stored analysis needs the DuckDB or PostgreSQL store, not {type(store).__name__}",
            hint="use stored=False to detect stays on the fly",
        )
    key = method_key(method, **params)
    result = AnalyzeResult(key)
    if entity is not None:
        names = [entity]
    elif not full and isinstance(store, DuckDBStore):
        names = _stale(store, key)  # one query, not a transaction per entity
    else:
        names = [str(n) for n in store.entities().column("entity").to_pylist()]
    for name in names:
        if not (concurrent and _analyze_entity_concurrently(store, name, method, key, full, threads, result)):
            _analyze_entity(store, name, method, key, full, threads, result)
    result.seconds = time.perf_counter() - t0
    return result


def _stale(store: DuckDBStore, key: str) -> list[str]:
    """The entities :func:`_analyze_entity` would analyse (by name): never analysed with ``key``,
    devices changed since, or fixes added since (a batch recorded after the analysis). The others it
    would leave as they are."""
    rows = store.con.execute(
        """WITH dev AS (SELECT entity_id, string_agg(device_id::VARCHAR, ',' ORDER BY device_id) AS devs
                        FROM devices GROUP BY entity_id)
           SELECT e.name FROM entities e LEFT JOIN dev USING (entity_id)
           LEFT JOIN analysis_state s ON s.entity_id = e.entity_id AND s.method_key = ?
           WHERE s.entity_id IS NULL OR s.devices <> coalesce(dev.devs, '') OR EXISTS (
                 SELECT 1 FROM analysis_dirty d WHERE d.entity_id = e.entity_id AND d.dirty_id > s.last_dirty_id)
           ORDER BY e.name""",
        [key],
    ).fetchall()
    return [str(r[0]) for r in rows]


@dataclass
class _Plan:
    """What one entity's analysis will redo: from ``start_us`` (None: all of it), and why; ``reason``
    is None when no fixes arrived since the stored state (only the state may need recording)."""

    eid: int
    devices: Any
    dev_key: str
    state: Any
    last_id: int
    reason: str | None
    start_us: int | None = None
    base_horizon_us: int = -(2**63)


def _plan(store: DuckDBStore | PostgresStore, name: str, key: str, full: bool) -> _Plan:
    eid, devices = store.entity_ref(name)
    dev_key = ",".join(str(d) for d in devices)
    state = store.analysis_state(eid, key)
    last_id = store.last_dirty_id()  # read before the fixes: later batches are left for the next run
    plan = _Plan(eid, devices, dev_key, state, last_id, None)
    if full:
        plan.reason = "full"
    elif state is None:
        plan.reason = "first analysis"
    elif state[0] != dev_key:
        plan.reason = "devices changed"
    else:
        dirty = store.dirty_windows(eid, state[1])
        if not dirty:
            return plan
        plan.reason = "new fixes"
        a = min(w[1] for w in dirty)
        for s, h in store.sync_points(eid, key, a):
            if store.count_fixes_at(devices, s) == 1:
                plan.start_us, plan.base_horizon_us = s, h
                break
    return plan


def _record(result: AnalyzeResult, name: str, plan: _Plan, deleted: int, new: Any, fixes: pa.Table) -> None:
    result.entities.append(name)
    start = None if plan.start_us is None else _dt(plan.start_us)
    result.windows.append(Window(name, start, plan.reason or "new fixes"))
    result.stays_deleted += deleted
    result.stays_written += 0 if new is None else new.num_rows
    result.fixes_read += fixes.num_rows


def _analyze_entity(
    store: DuckDBStore | PostgresStore,
    name: str,
    method: str,
    key: str,
    full: bool,
    threads: int | None,
    result: AnalyzeResult,
) -> None:
    with store.analysis_transaction():
        plan = _plan(store, name, key, full)
        if plan.reason is None:
            if plan.state[1] != plan.last_id:
                store.set_analysis_state(plan.eid, key, plan.dev_key, plan.last_id)
            return
        deleted = store.delete_stays(plan.eid, key, plan.start_us)
        fixes = store.analysis_fixes(plan.devices, plan.start_us)
        new = _detect(name, fixes, method, key, threads, plan.base_horizon_us) if fixes.num_rows else None
        if new is not None:
            store.write_stays(plan.eid, key, new)
        store.set_analysis_state(plan.eid, key, plan.dev_key, plan.last_id)
    _record(result, name, plan, deleted, new, fixes)


def _analyze_entity_concurrently(
    store: DuckDBStore | PostgresStore,
    name: str,
    method: str,
    key: str,
    full: bool,
    threads: int | None,
    result: AnalyzeResult,
) -> bool:
    """:func:`_analyze_entity` with the reading and detecting done before its transaction; False when
    another analysis of the entity was stored in between (the caller then analyses in the usual way)."""
    # the same decisions as _analyze_entity, on what is committed now (no transaction held)
    plan = _plan(store, name, key, full)
    if plan.reason is None:
        return False  # nothing to detect: the usual way only records the state, at once
    fixes = store.analysis_fixes(plan.devices, plan.start_us)
    new = _detect(name, fixes, method, key, threads, plan.base_horizon_us) if fixes.num_rows else None
    with store.analysis_transaction():
        # stored only if the entity's devices and analysis state are still those it started from
        if (
            store.entity_ref(name) != (plan.eid, plan.devices)
            or store.analysis_state(plan.eid, key) != plan.state
        ):
            return False
        deleted = store.delete_stays(plan.eid, key, plan.start_us)
        if new is not None:
            store.write_stays(plan.eid, key, new)
        store.set_analysis_state(plan.eid, key, plan.dev_key, plan.last_id)
    _record(result, name, plan, deleted, new, fixes)
    return True


def is_current(
    store: DuckDBStore | PostgresStore, entity: str, method: str = "default", **params: Any
) -> bool:
    """Whether the stored stays of ``entity`` for this method and parameters reflect all its fixes."""
    key = method_key(method, **params)
    eid, devices = store.entity_ref(entity)
    state = store.analysis_state(eid, key)
    if state is None or state[0] != ",".join(str(d) for d in devices):
        return False
    return not store.dirty_windows(eid, state[1])


def stored_stays(
    store: DuckDBStore | PostgresStore,
    entity: str,
    *,
    method: str = "default",
    start: datetime | None = None,
    end: datetime | None = None,
    **params: Any,
) -> pa.Table:
    """The stored stays of ``entity`` (a ``stay`` tier table), those overlapping ``[start, end)``
    when given. ``evidence_first``/``evidence_last`` are rows of the entity's fixes sorted by time,
    as :func:`~hereabouts.analysis.stays.detect_stays` numbers them (with fixes tied in time, the
    first/last of the tie)."""
    key = method_key(method, **{k: v for k, v in params.items() if k not in _NOT_KEY})
    eid, devices = store.entity_ref(entity)
    rows = store.stored_stays(eid, key)
    if start is not None:
        rows = rows.filter(pc.greater(rows.column("end"), pa.scalar(start, UTC_US)))
    if end is not None:
        rows = rows.filter(pc.less(rows.column("start"), pa.scalar(end, UTC_US)))
    n = rows.num_rows
    times = np.asarray(store.analysis_fixes(devices).column("t").to_numpy(), dtype=np.int64) if n else None
    first = last = np.empty(0, np.int64)
    if times is not None:
        ft = np.asarray(rows.column("evidence_first_t").cast(UTC_US).cast(pa.int64()).to_numpy(), np.int64)
        lt = np.asarray(rows.column("evidence_last_t").cast(UTC_US).cast(pa.int64()).to_numpy(), np.int64)
        first = np.searchsorted(times, ft, side="left").astype(np.int64)
        last = (np.searchsorted(times, lt, side="right") - 1).astype(np.int64)
    return pa.Table.from_arrays(
        [
            pa.array([entity] * n, pa.string()),
            rows.column("start").cast(UTC_US),
            rows.column("end").cast(UTC_US),
            rows.column("lat"),
            rows.column("lon"),
            rows.column("radius_m"),
            rows.column("n_fixes"),
            rows.column("confidence"),
            pa.array(first, pa.int64()),
            pa.array(last, pa.int64()),
            rows.column("method"),
        ],
        schema=STAY,
    )
