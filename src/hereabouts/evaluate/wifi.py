"""Scoring Wi-Fi positioning against a simulation's truth.

:func:`score_wifi` learns the access points from the simulated devices' own scans and GPS fixes and
positions scans that the learning did not see, by two-fold cross-validation over days: the access
points learned from the scans and fixes of even days position the scans of odd days, and the other way
round (a user whose GPS was on some days and off on others). The positions are compared with the
carrier's true position at the scan's time.

Only devices that record scans together with GPS fixes teach the table: the simulator's ``gps-wifi``
profile. ``wifi``-profile devices record scans with Wi-Fi fixes (themselves positioned from
networks), which are never learned from, but their scans are positioned and scored too. A simulation
without ``gps-wifi`` devices therefore learns nothing (``wifi.coverage`` 0); the ``wifi.true_table.*``
metrics still measure the positioning step alone, with the simulator's true access-point positions as
the supplied table.

Metrics (NaN where there was nothing to score):

- ``wifi.error_median_m``, ``wifi.error_p90_m``: distance from the true position, positioned scans
- ``wifi.stay.error_median_m``, ``wifi.stay.error_p90_m``, ``wifi.stay.share`` and the same for
  ``wifi.trip``: the positioned scans taken during the carrier's true stays, and on the way
- ``wifi.stays.precision``, ``wifi.stays.recall``, ``wifi.stays.f1``: default stays found in the
  positioned scans alone (carriers' devices), against the true stays; ``wifi.stays.f1_gps``: the same
  from the GPS fixes of every device those people carry, for comparison
- ``wifi.coverage``: share of scans positioned
- ``wifi.n_scans``: scans scored (distinct device and time)
- ``wifi.accuracy_share``: share of positioned scans whose error is within their ``accuracy_m``
- ``wifi.ap_error_median_m``, ``wifi.ap_error_p90_m``: learned (from every day) vs true access point
- ``wifi.ap_uncertainty_share``: share of learned access points within their ``uncertainty_m``
- ``wifi.ap_usable_error_median_m``, ``wifi.ap_usable_share``: the same error over the learned
  access points positioning uses (heard from at least ``min_ap_positions`` distinct positions), and
  their share of the learned ones
- ``wifi.ap_learned_share``: share of the access points heard in the scans that were learned
- ``wifi.placement_error_median_m``: the simulator's access-point placement error (from the building)
- ``wifi.ratio_to_placement``: ``error_median_m`` / ``placement_error_median_m`` (goal: at most 1.5)
- ``wifi.unvisited.error_median_m``, ``wifi.unvisited.error_p90_m``, ``wifi.unvisited.share``,
  ``wifi.unvisited.ratio_to_placement``: the positioned scans whose carrier stood more than
  :data:`VISITED_M` from every fix that could teach the table in the learning fold. The simulator
  puts people at a building's centroid during stays, so a scan taken where the table was taught is
  re-found almost exactly; these scans are free of that artefact (and are few when the same people
  teach and scan everywhere)
- ``wifi.true_table.error_median_m``, ``wifi.true_table.error_p90_m``, ``wifi.true_table.coverage``
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from ..analysis._geo import enu_m, haversine_m
from ..analysis.wifi import learn_access_points, position_scans
from ..model import schemas
from ..model.errors import InputError

if TYPE_CHECKING:
    from ..sim import Simulation

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
TruePosition = Callable[[str, I64], tuple[F64, F64]]

__all__ = ["GOAL_RATIO_TO_PLACEMENT", "score_wifi", "true_positions_from_folder"]

#: The goal: median positioning error at most this multiple of the median access-point placement error.
GOAL_RATIO_TO_PLACEMENT = 1.5
#: A scan is at a spot the learning fold *visited* when its carrier's true position is within this of
#: a fix that could teach the table in that fold (see ``wifi.unvisited.*``).
VISITED_M = 30.0
_DAY_US = 86_400_000_000


def _us(col: pa.ChunkedArray | pa.Array) -> I64:
    return np.asarray(col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(), dtype=np.int64)


def true_positions_from_folder(folder: str | Path) -> TruePosition:
    """A function ``(device, t_us) -> (lat, lon)`` giving the true position of a device's carrier from
    a simulated folder's ``truth/`` tables: at the place of the current true stay, or along the
    current true trip's path (linear between path points). Only devices carried by an agent (phones,
    watches); a car's position is not in the tables and raises :class:`InputError`."""
    truth = Path(folder) / "truth"
    devices = pq.read_table(truth / "devices.parquet")
    stays = pq.read_table(truth / "true_stays.parquet", columns=["agent", "start", "end", "lat", "lon"])
    trips = pq.read_table(truth / "true_trips.parquet", columns=["agent", "path_t", "path_lat", "path_lon"])
    agent_of = dict(
        zip(devices.column("device").to_pylist(), devices.column("agent").to_pylist(), strict=True)
    )
    cache: dict[str, tuple[I64, F64, F64]] = {}

    def track(agent: str) -> tuple[I64, F64, F64]:
        if agent in cache:
            return cache[agent]
        s = stays.filter(pc.equal(stays.column("agent"), agent))
        tr = trips.filter(pc.equal(trips.column("agent"), agent))
        t_parts = [_us(s.column("start")), _us(s.column("end"))]
        lat_parts = [s.column("lat").to_numpy(), s.column("lat").to_numpy()]
        lon_parts = [s.column("lon").to_numpy(), s.column("lon").to_numpy()]
        if tr.num_rows:
            t_parts.append(_us(pc.list_flatten(tr.column("path_t"))))
            lat_parts.append(np.asarray(pc.list_flatten(tr.column("path_lat")).to_numpy(), np.float64))
            lon_parts.append(np.asarray(pc.list_flatten(tr.column("path_lon")).to_numpy(), np.float64))
        t = np.concatenate(t_parts)
        order = np.argsort(t, kind="stable")
        out = (t[order], np.concatenate(lat_parts)[order], np.concatenate(lon_parts)[order])
        cache[agent] = out
        return out

    def position(device: str, t_us: I64) -> tuple[F64, F64]:
        agent = agent_of.get(device)
        if not agent:
            raise InputError(f"device {device!r} is not carried by an agent; its true position is not stored")
        t, lat, lon = track(str(agent))
        tq = np.asarray(t_us, dtype=np.float64)
        return np.interp(tq, t.astype(np.float64), lat), np.interp(tq, t.astype(np.float64), lon)

    return position


def _load(
    sim: Simulation | str | Path,
) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table, pa.Table, TruePosition, dict[str, Any]]:
    """(fixes, scans, true access points, devices, true stays, true position function, notes)."""
    from ..sim import Simulation

    if isinstance(sim, Simulation):
        return (
            sim.fixes,
            sim.scans,
            sim.true_access_points,
            sim.devices,
            sim.true_stays,
            lambda d, t: sim.true_position(d, t),
            {"source": "simulation"},
        )
    folder = Path(sim)
    need = [
        folder / "fixes.parquet",
        folder / "scans.parquet",
        folder / "truth" / "true_access_points.parquet",
    ]
    missing = [str(p) for p in need if not p.is_file()]
    if missing:
        raise InputError(
            f"{folder} is not a simulated folder with Wi-Fi scans: missing {', '.join(missing)}",
            hint="make one with `hereabouts simulate --profile gps-wifi --out FOLDER`",
        )
    fixes = pq.read_table(need[0])
    fixes = fixes.select([c for c in fixes.column_names if c in schemas.FIX.names])
    devices = pq.read_table(folder / "truth" / "devices.parquet")
    # a car's true position is not stored in the folder: its scans cannot be scored from files
    carried = {
        d
        for d, a in zip(
            devices.column("device").to_pylist(), devices.column("agent").to_pylist(), strict=True
        )
        if a
    }
    scans = pq.read_table(need[1])
    scans = scans.filter(pc.is_in(scans.column("device"), pa.array(sorted(carried), pa.string())))
    notes: dict[str, Any] = {"source": str(folder), "scored_devices": "carried by an agent (cars left out)"}
    manifest = folder / "manifest.json"
    if manifest.is_file():
        notes["profile"] = json.loads(manifest.read_text()).get("parameters", {}).get("profile")
    stays = pq.read_table(folder / "truth" / "true_stays.parquet")
    return fixes, scans, pq.read_table(need[2]), devices, stays, true_positions_from_folder(folder), notes


def _scan_keys(scans: pa.Table) -> tuple[NDArray[np.object_], I64]:
    g = scans.select(["device", "t"]).group_by(["device", "t"]).aggregate([])
    return np.asarray(g.column("device").to_pylist(), dtype=object), _us(g.column("t"))


def _errors(
    positioned: pa.Table,
    true_position: TruePosition,
    stay_intervals: Mapping[str, tuple[I64, I64]],
    true_out: list[F64] | None = None,
) -> tuple[F64, F64, NDArray[np.bool_], NDArray[np.bool_]]:
    """(error m, accuracy m, during a true stay, carried by an agent) of every positioned scan, grouped
    by device; ``true_out``, when given, receives the true latitudes and longitudes in that order."""
    if positioned.num_rows == 0:
        if true_out is not None:
            true_out.extend([np.zeros(0), np.zeros(0)])
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    errs: list[F64] = []
    accs: list[F64] = []
    staying: list[NDArray[np.bool_]] = []
    carried: list[NDArray[np.bool_]] = []
    tlats: list[F64] = []
    tlons: list[F64] = []
    devs = positioned.column("device")
    for dev in pc.unique(devs).to_pylist():
        part = positioned.filter(pc.equal(devs, dev))
        t = _us(part.column("t"))
        tlat, tlon = true_position(str(dev), t)
        tlats.append(np.asarray(tlat, np.float64))
        tlons.append(np.asarray(tlon, np.float64))
        errs.append(haversine_m(part.column("lat").to_numpy(), part.column("lon").to_numpy(), tlat, tlon))
        accs.append(np.asarray(part.column("accuracy_m").fill_null(np.nan).to_numpy(), np.float64))
        starts, ends = stay_intervals.get(str(dev), (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        i = np.searchsorted(starts, t, side="right") - 1
        staying.append((i >= 0) & (t < ends[np.clip(i, 0, None)]) if starts.size else np.zeros(t.size, bool))
        carried.append(np.full(t.size, str(dev) in stay_intervals))
    if true_out is not None:
        true_out.extend([np.concatenate(tlats), np.concatenate(tlons)])
    return np.concatenate(errs), np.concatenate(accs), np.concatenate(staying), np.concatenate(carried)


def _teaching_positions(fixes: pa.Table, scans: pa.Table, key: str, max_accuracy_m: float) -> pa.Table:
    """The fixes that could teach the access-point table: of a device (or entity, ``key``) that
    scans, not positioned from networks, accurate enough."""
    f = fixes.filter(pc.is_in(fixes.column(key), pc.unique(scans.column(key))))
    if "provider" in f.column_names:
        f = f.filter(
            pc.invert(
                pc.fill_null(pc.is_in(f.column("provider"), pa.array(["wifi", "cell", "reported"])), False)
            )
        )
    if "accuracy_m" in f.column_names:
        f = f.filter(pc.fill_null(pc.less_equal(f.column("accuracy_m"), max_accuracy_m), True))
    return f.select(["lat", "lon"])


def _visited(lat: F64, lon: F64, teach: pa.Table, radius_m: float) -> NDArray[np.bool_]:
    """Whether each point is within ``radius_m`` of a teaching fix."""
    from scipy.spatial import cKDTree

    if lat.size == 0 or teach.num_rows == 0:
        return np.zeros(lat.size, dtype=bool)
    flat = np.asarray(teach.column("lat").to_numpy(), np.float64)
    flon = np.asarray(teach.column("lon").to_numpy(), np.float64)
    lat0, lon0 = float(np.median(flat)), float(np.median(flon))
    fx, fy = enu_m(flat, flon, lat0, lon0)
    px, py = enu_m(lat, lon, lat0, lon0)
    d, _ = cKDTree(np.column_stack([fx, fy])).query(
        np.column_stack([px, py]), k=1, distance_upper_bound=radius_m
    )
    return np.asarray(np.isfinite(d), dtype=bool)


def _stay_intervals(devices: pa.Table, stays: pa.Table) -> dict[str, tuple[I64, I64]]:
    """Per device carried by an agent, the sorted (start, end) microseconds of its agent's true stays."""
    by_agent: dict[str, tuple[I64, I64]] = {}
    agents = stays.column("agent").to_pylist()
    starts, ends = _us(stays.column("start")), _us(stays.column("end"))
    idx: dict[str, list[int]] = {}
    for i, a in enumerate(agents):
        idx.setdefault(str(a), []).append(i)
    for a, rows in idx.items():
        r = np.asarray(rows, np.int64)
        o = np.argsort(starts[r], kind="stable")
        by_agent[a] = (starts[r][o], ends[r][o])
    out: dict[str, tuple[I64, I64]] = {}
    for d, a in zip(devices.column("device").to_pylist(), devices.column("agent").to_pylist(), strict=True):
        if a and str(a) in by_agent:
            out[str(d)] = by_agent[str(a)]
    return out


def _q(x: F64, q: float) -> float:
    return float(np.quantile(x, q)) if x.size else math.nan


def score_wifi(
    sim: Simulation | str | Path,
    *,
    learn_options: Mapping[str, Any] | None = None,
    position_options: Mapping[str, Any] | None = None,
    pair_by: str = "device",
    details: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Score Wi-Fi positioning on a :class:`hereabouts.sim.Simulation` or a folder written by
    :func:`hereabouts.sim.simulate` (``scans.parquet`` and ``truth/``): the ``wifi.*`` metrics of this
    module's description. ``learn_options`` and ``position_options`` go to
    :func:`hereabouts.analysis.wifi.learn_access_points` and
    :func:`~hereabouts.analysis.wifi.position_scans`. ``pair_by="entity"`` learns from the fixes of
    any device of the same person (a phone's scans with a watch's GPS), as ``pair_by`` of
    :func:`~hereabouts.analysis.wifi.learn_access_points`. ``details``, when given, receives the
    counts behind the numbers."""
    fixes, scans, true_aps, devices, true_stays, true_position, notes = _load(sim)
    intervals = _stay_intervals(devices, true_stays)
    lo = dict(learn_options or {})
    if pair_by == "entity":
        owner = {
            str(d): str(a or d)
            for d, a in zip(
                devices.column("device").to_pylist(), devices.column("agent").to_pylist(), strict=True
            )
        }
        fixes = fixes.append_column(
            "entity", pa.array([owner[d] for d in fixes.column("device").to_pylist()])
        )
        scans = scans.append_column(
            "entity", pa.array([owner[d] for d in scans.column("device").to_pylist()])
        )
        lo["pair_by"] = "entity"
    po = dict(position_options or {})
    nan = math.nan
    metrics: dict[str, float] = {}
    placement = np.asarray(true_aps.column("placement_error_m").to_numpy(), np.float64)
    metrics["wifi.placement_error_median_m"] = float(np.median(placement)) if placement.size else nan
    _, scan_t = _scan_keys(scans)
    n_scans = int(scan_t.size)
    metrics["wifi.n_scans"] = float(n_scans)
    fday = (_us(fixes.column("t")) // _DAY_US) % 2
    sday = (_us(scans.column("t")) // _DAY_US) % 2
    positioned: list[pa.Table] = []
    n_tables: list[int] = []
    unvisited: list[F64] = []
    key = "entity" if pair_by == "entity" else "device"
    for k in (0, 1):
        learn_fixes = fixes.filter(pa.array(fday == k))
        learn_scans = scans.filter(pa.array(sday == k))
        table = learn_access_points(learn_fixes, learn_scans, **lo)
        n_tables.append(table.num_rows)
        test = scans.filter(pa.array(sday != k))
        if table.num_rows and test.num_rows:
            part = position_scans(test, table, **po)
            positioned.append(part)
            # the scans at spots the teaching devices never stood at in the learning fold
            true_ll: list[F64] = []
            e_part, _, _, _ = _errors(part, true_position, intervals, true_ll)
            teach = _teaching_positions(
                learn_fixes, learn_scans, key, float(lo.get("max_fix_accuracy_m", 30.0))
            )
            unvisited.append(e_part[~_visited(true_ll[0], true_ll[1], teach, VISITED_M)])
    pos = pa.concat_tables(positioned) if positioned else schemas.FIX.empty_table()
    err, acc, staying, carried = _errors(pos, true_position, intervals)
    far = np.concatenate(unvisited) if unvisited else np.zeros(0)
    metrics["wifi.coverage"] = pos.num_rows / n_scans if n_scans else nan
    metrics["wifi.error_median_m"] = float(np.median(err)) if err.size else nan
    metrics["wifi.error_p90_m"] = _q(err, 0.9)
    metrics["wifi.accuracy_share"] = float(np.mean(err <= acc)) if err.size else nan
    # during true stays (the carrier still, in a building) and on the way (cars are neither)
    moving = ~staying & carried
    for name, sel in (("stay", staying), ("trip", moving)):
        e = err[sel] if err.size else err
        metrics[f"wifi.{name}.error_median_m"] = float(np.median(e)) if e.size else nan
        metrics[f"wifi.{name}.error_p90_m"] = _q(e, 0.9)
        metrics[f"wifi.{name}.share"] = float(sel.mean()) if err.size else nan
    pm = metrics["wifi.placement_error_median_m"]
    metrics["wifi.ratio_to_placement"] = metrics["wifi.error_median_m"] / pm if pm and pm > 0 else nan
    # away from where the table was taught: free of the simulator's standing-at-the-centroid artefact
    metrics["wifi.unvisited.error_median_m"] = float(np.median(far)) if far.size else nan
    metrics["wifi.unvisited.error_p90_m"] = _q(far, 0.9)
    metrics["wifi.unvisited.share"] = far.size / err.size if err.size else nan
    metrics["wifi.unvisited.ratio_to_placement"] = (
        metrics["wifi.unvisited.error_median_m"] / pm if pm and pm > 0 else nan
    )
    # stays found in the positioned scans alone, beside those found in the same carriers' GPS fixes
    metrics.update(_stay_scores(pos, fixes, devices, true_stays))
    # the access points learned from every day, against their true positions
    full = learn_access_points(fixes, scans, **lo)
    truth_by_id = {b: i for i, b in enumerate(true_aps.column("bssid").to_pylist())}
    wifi_rows = full.filter(pc.equal(full.column("kind"), "wifi"))
    idx = [truth_by_id.get(b) for b in wifi_rows.column("ident").to_pylist()]
    ok = np.asarray([i is not None for i in idx], dtype=bool)
    ti = np.asarray([i for i in idx if i is not None], dtype=np.int64)
    ap_err = haversine_m(
        wifi_rows.column("lat").to_numpy()[ok],
        wifi_rows.column("lon").to_numpy()[ok],
        true_aps.column("lat").to_numpy()[ti],
        true_aps.column("lon").to_numpy()[ti],
    )
    unc = wifi_rows.column("uncertainty_m").to_numpy()[ok]
    usable = wifi_rows.column("n_positions").to_numpy()[ok] >= int(po.get("min_ap_positions", 3))
    heard = len(set(scans.filter(pc.equal(scans.column("kind"), "wifi")).column("ident").to_pylist()))
    metrics["wifi.ap_error_median_m"] = float(np.median(ap_err)) if ap_err.size else nan
    metrics["wifi.ap_error_p90_m"] = _q(ap_err, 0.9)
    metrics["wifi.ap_uncertainty_share"] = float(np.mean(ap_err <= unc)) if ap_err.size else nan
    metrics["wifi.ap_usable_error_median_m"] = float(np.median(ap_err[usable])) if usable.any() else nan
    metrics["wifi.ap_usable_share"] = float(np.mean(usable)) if ap_err.size else nan
    metrics["wifi.ap_learned_share"] = wifi_rows.num_rows / heard if heard else nan
    # the positioning step alone, from the true access-point positions
    oracle = pa.table(
        {
            "kind": pa.array(["wifi"] * true_aps.num_rows, pa.string()),
            "ident": true_aps.column("bssid"),
            "lat": true_aps.column("lat"),
            "lon": true_aps.column("lon"),
        }
    )
    opos = position_scans(scans, oracle, **po) if scans.num_rows else schemas.FIX.empty_table()
    oerr, _, _, _ = _errors(opos, true_position, intervals)
    metrics["wifi.true_table.error_median_m"] = float(np.median(oerr)) if oerr.size else nan
    metrics["wifi.true_table.error_p90_m"] = _q(oerr, 0.9)
    metrics["wifi.true_table.coverage"] = opos.num_rows / n_scans if n_scans else nan
    if details is not None:
        details.update(
            {
                **notes,
                "n_scans": n_scans,
                "n_positioned": pos.num_rows,
                "n_access_points_per_fold": n_tables,
                "n_access_points": full.num_rows,
                "n_access_points_heard": heard,
                "goal_ratio_to_placement": GOAL_RATIO_TO_PLACEMENT,
                "scan_devices_by_profile": _profiles(devices, scans),
            }
        )
    return metrics


def _stay_scores(
    positioned: pa.Table, fixes: pa.Table, devices: pa.Table, true_stays: pa.Table
) -> dict[str, float]:
    """``wifi.stays.f1`` (and precision, recall) of the default stays found in the positioned scans of
    the devices carried by agents, and ``wifi.stays.f1_gps`` of those found in the GPS fixes of every
    device those agents carry, both against the true stays of those agents."""
    from ..analysis.stays import detect_stays
    from .metrics import filter_entities
    from .stays import score_stays

    agent_of = {
        str(d): str(a)
        for d, a in zip(
            devices.column("device").to_pylist(), devices.column("agent").to_pylist(), strict=True
        )
        if a
    }
    out: dict[str, float] = {}
    scan_devices = set(pc.unique(positioned.column("device")).to_pylist()) if positioned.num_rows else set()
    carried = sorted(d for d in scan_devices if d in agent_of)
    if not carried:
        return {
            k: math.nan
            for k in ("wifi.stays.precision", "wifi.stays.recall", "wifi.stays.f1", "wifi.stays.f1_gps")
        }
    agents = {agent_of[d] for d in carried}
    truth = filter_entities(true_stays, "agent", agents)
    # the GPS of the same people: every device they carry
    theirs = sorted(d for d, a in agent_of.items() if a in agents)
    for key, table, devs in (("", positioned, carried), ("_gps", fixes, theirs)):
        t = table.filter(pc.is_in(table.column("device"), pa.array(devs, pa.string())))
        if key == "_gps" and "provider" in t.column_names:
            t = t.filter(pc.equal(t.column("provider"), "gps"))
        if "entity" in t.column_names:
            t = t.drop_columns(["entity"])
        ent = pa.array([agent_of[d] for d in t.column("device").to_pylist()], pa.string())
        found = detect_stays(t.append_column("entity", ent)) if t.num_rows else schemas.STAY.empty_table()
        score = score_stays(found, truth)
        if key == "":
            out["wifi.stays.precision"] = score.precision
            out["wifi.stays.recall"] = score.recall
        out[f"wifi.stays.f1{key}"] = score.f1
    return out


def _profiles(devices: pa.Table, scans: pa.Table) -> dict[str, int]:
    have = set(pc.unique(scans.column("device")).to_pylist()) if scans.num_rows else set()
    out: dict[str, int] = {}
    for d, p in zip(devices.column("device").to_pylist(), devices.column("profile").to_pylist(), strict=True):
        if d in have:
            out[str(p)] = out.get(str(p), 0) + 1
    return out
