"""The simulator's entry point: town → population → plans → trajectories → devices → tables (→ files)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from .._version import __version__
from ..model.errors import InputError
from ..model.schemas import FIX, SCAN, validate
from ._activity import EPR_GAMMA, EPR_RHO, Activity, Planner, Realiser, Trajectory, car_trajectory
from ._geo import UTRECHT, Clock, Frame
from ._population import Population, build_population, household_count
from ._sensors import (
    MIXED,
    PATH_LOSS_EXPONENT,
    PROFILES,
    RSSI_FLOOR_DBM,
    SHADOWING_DB,
    ApIndex,
    gaps,
    merge_intervals,
    observe,
    outside,
    sample_times,
)
from ._town import (
    BIKE_MPS,
    BUS_HEADWAY_S,
    BUS_MPS,
    CAR_ARTERIAL_MPS,
    CAR_STREET_MPS,
    WALK_MPS,
    Town,
    build_town,
)

F64 = NDArray[np.float64]
ProgressFn = Callable[[str, int, int], None]

#: Output formats for fixes and the file name each is written to under ``out``.
FIX_FILES = {
    "geoparquet": "fixes.parquet",
    "csv": "fixes.csv",
    "gpx": "fixes.gpx",
    "geojson": "fixes.geojson",
    "owntracks_rec": "fixes.rec",
}

TRUTH_TABLES = (
    "true_stays",
    "true_places",
    "true_anchors",
    "true_trips",
    "true_agents",
    "true_roads",
    "true_access_points",
    "true_device_gaps",
    "devices",
    "ties",
    "fix_truth",
)

UTC_US = pa.timestamp("us", tz="UTC")


@dataclass(repr=False)
class Simulation:
    """What :func:`simulate` made: observed tables (``fixes``, ``scans``) and the ground truth behind them."""

    fixes: pa.Table
    scans: pa.Table
    true_stays: pa.Table
    true_places: pa.Table
    true_anchors: pa.Table
    true_trips: pa.Table
    true_agents: pa.Table
    true_roads: pa.Table
    true_access_points: pa.Table
    true_device_gaps: pa.Table
    devices: pa.Table
    ties: pa.Table
    fix_truth: pa.Table
    manifest: dict[str, Any]
    out: Path | None = None
    _frame: Frame | None = field(default=None, repr=False)
    _device_traj: dict[str, Trajectory] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        p = self.manifest.get("parameters", {})
        return (
            f"Simulation(agents={p.get('agents')}, days={p.get('days')}, seed={self.manifest.get('seed')}, "
            f"fixes={self.fixes.num_rows}, scans={self.scans.num_rows}, stays={self.true_stays.num_rows}, "
            f"trips={self.true_trips.num_rows}, out={self.out})"
        )

    def tables(self) -> dict[str, pa.Table]:
        """Every table by name: ``fixes``, ``scans`` and the ground-truth tables."""
        out = {"fixes": self.fixes, "scans": self.scans}
        out.update({name: getattr(self, name) for name in TRUTH_TABLES})
        return out

    def true_position(self, device: str, t_us: Sequence[int] | NDArray[np.int64]) -> tuple[F64, F64]:
        """(lat, lon) of the true position of the carrier of ``device`` at UTC microseconds ``t_us``."""
        tr = self._device_traj.get(device)
        if tr is None or self._frame is None:
            raise InputError(f"no device named {device!r} in this simulation", hint="see the devices table")
        t = np.asarray(t_us, dtype=np.float64) / 1e6
        return self._frame.to_latlon(np.interp(t, tr.t, tr.x), np.interp(t, tr.t, tr.y))


def _us(seconds: F64) -> NDArray[np.int64]:
    """UTC epoch seconds to whole microseconds, rounded to the millisecond."""
    return np.rint(np.asarray(seconds, dtype=np.float64) * 1000.0).astype(np.int64) * 1000


def _ts(seconds: F64 | Sequence[float]) -> pa.Array:
    us = _us(np.asarray(seconds, dtype=np.float64))
    return pa.Array.from_buffers(UTC_US, us.size, [None, pa.py_buffer(us)])


def _repeat_strings(labels: Sequence[str], counts: Sequence[int]) -> pa.Array:
    """A string array holding ``labels[k]`` ``counts[k]`` times in turn, built without per-row work."""
    encoded = [lab.encode() for lab in labels]
    data = b"".join(e * c for e, c in zip(encoded, counts, strict=True))
    lengths = np.repeat(
        np.array([len(e) for e in encoded], dtype=np.int64), np.asarray(counts, dtype=np.int64)
    )
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] < 2**31:
        return pa.Array.from_buffers(
            pa.string(), lengths.size, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
        )
    big = pa.Array.from_buffers(
        pa.large_string(), lengths.size, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return big.cast(pa.string())


def _fixed_strings(labels: Sequence[str], codes: NDArray[np.int64]) -> pa.Array:
    """A string array of ``labels[codes]`` when every label has the same length in bytes."""
    encoded = [lab.encode() for lab in labels]
    width = len(encoded[0])
    if any(len(e) != width for e in encoded):
        return pa.array([labels[c] for c in codes.tolist()], pa.string())
    table = np.frombuffer(b"".join(encoded), dtype=np.uint8).reshape(len(encoded), width)
    data = table[codes].tobytes()
    offsets = np.arange(codes.size + 1, dtype=np.int64) * width
    return pa.Array.from_buffers(
        pa.string(), int(codes.size), [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    )


def _list(offsets: Sequence[int] | NDArray[np.int64], values: pa.Array) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.asarray(offsets, dtype=np.int32), type=pa.int32()), values)


def _check_args(agents: int, days: int, profile: str, formats: Sequence[str]) -> None:
    if not isinstance(agents, int) or agents < 1:
        raise InputError(f"agents must be a positive whole number, got {agents!r}")
    if not isinstance(days, int) or days < 1:
        raise InputError(f"days must be a positive whole number, got {days!r}")
    if profile != "mixed" and profile not in PROFILES:
        raise InputError(
            f"unknown noise profile {profile!r}", hint=f"expected 'mixed' or one of {', '.join(PROFILES)}"
        )
    for f in formats:
        if f not in FIX_FILES:
            raise InputError(f"unknown output format {f!r}", hint=f"expected one of {', '.join(FIX_FILES)}")


def simulate(
    *,
    agents: int,
    days: int,
    seed: int,
    out: Path | None = None,
    start: date = date(2025, 3, 3),
    profile: str = "mixed",
    formats: Sequence[str] = ("geoparquet",),
    progress: ProgressFn | None = None,
) -> Simulation:
    """Simulate ``agents`` people for ``days`` days in a synthetic town laid over Utrecht.

    Deterministic per ``seed``: the same arguments give equal tables and byte-identical files. With
    ``out``, fixes are written in each of ``formats`` (see :data:`FIX_FILES`), Wi-Fi scans and the
    ground truth as Parquet under ``out/truth/``, and a ``manifest.json``. ``profile`` is ``"mixed"``
    or one of :data:`PROFILES`, forced on every device. ``progress(stage, done, total)`` is called as
    the work advances.

    >>> sim = simulate(agents=3, days=1, seed=1)
    >>> sim.true_anchors.num_rows >= 3
    True
    """
    formats = tuple(formats)
    _check_args(agents, days, profile, formats)

    def tick(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    seq = np.random.SeedSequence(seed)
    r_town, r_pop, r_plan, r_route = (np.random.default_rng(s) for s in seq.spawn(4))
    city = UTRECHT
    frame = Frame(city.lat, city.lon)
    clock = Clock(city.tz, start, days)

    tick("town", 0, 1)
    n_households = household_count(agents)
    town = build_town(r_town, agents=agents, households=n_households)
    pop = build_population(
        r_pop, town, agents=agents, days=days, start_dow=start.weekday(), profile=profile, mixed=MIXED
    )
    tick("town", 1, 1)

    planner = Planner(town, pop, clock, r_plan)
    realiser = Realiser(town, pop, clock, r_route)
    act = Activity()
    for a in pop.agents:
        items = planner.plan_agent(a, days)
        realiser.realise(a, items, planner.known_places(a), act)
        if a.index % 50 == 0 or a.index == len(pop.agents) - 1:
            tick("agents", a.index + 1, len(pop.agents))

    # Devices observe their carrier's trajectory.
    traj: dict[str, Trajectory] = {}
    for dv in pop.devices:
        if dv.kind == "car":
            traj[dv.id] = car_trajectory(pop, dv.household, act, clock, town)
        else:
            traj[dv.id] = act.trajectories[dv.agent]
    dev_order = sorted(pop.devices, key=lambda d: d.id)
    apx = ApIndex(town)
    fix_parts: dict[str, list[Any]] = {
        k: [] for k in ("t_us", "tz", "lat", "lon", "err", "acc", "spd", "crs", "out", "prov")
    }
    scan_parts: dict[str, list[Any]] = {k: [] for k in ("dev", "t", "ap", "rssi")}
    gap_rows: list[tuple[str, float, float, str]] = []
    for k, dv in enumerate(dev_order):
        prof = PROFILES[dv.profile]
        rng = np.random.default_rng([seed, 7, k])
        tr = traj[dv.id]
        t = sample_times(rng, prof, tr, clock)
        dgaps = gaps(rng, prof, dv.kind, clock)
        gap_rows.extend((dv.id, s, e, why) for s, e, why in dgaps)
        if dgaps:
            t = t[outside(t, *merge_intervals([(g[0], g[1]) for g in dgaps]))]
        obs = observe(rng, prof, tr, t)
        n = t.size
        # Convert per device, while the arrays are small: whole-table passes are memory-bound.
        lat, lon = frame.to_latlon(obs.x, obs.y)
        fix_parts["t_us"].append(_us(obs.t))
        fix_parts["tz"].append(clock.offset_at(obs.t))
        fix_parts["lat"].append(lat)
        fix_parts["lon"].append(lon)
        fix_parts["err"].append((np.rint(obs.error * 100) / 100).astype(np.float32))
        fix_parts["acc"].append(np.rint(obs.accuracy * 10) / 10)
        fix_parts["spd"].append(np.rint(obs.speed * 100) / 100)
        fix_parts["crs"].append(np.rint(obs.course * 10) / 10)
        fix_parts["out"].append(obs.outlier)
        fix_parts["prov"].append(prof.provider)
        if prof.scans and n:
            row, ap, rssi = apx.scan(rng, obs.true_x, obs.true_y)
            if row.size:
                scan_parts["dev"].append(np.full(row.size, k, dtype=np.int32))
                scan_parts["t"].append(obs.t[row])
                scan_parts["ap"].append(ap)
                scan_parts["rssi"].append(rssi)
        if k % 50 == 0 or k == len(dev_order) - 1:
            tick("devices", k + 1, len(dev_order))

    tick("tables", 0, 1)
    dev_ids = np.array([d.id for d in dev_order], dtype=object)
    fixes, fix_truth = _fix_tables(fix_parts, dev_ids)
    scans = _scan_table(scan_parts, dev_ids, town)
    files: _Files | None = None
    if out is not None:
        # The big files are written in threads while the ground truth is assembled (Arrow's encoders
        # release the GIL), so the second core helps.
        files = _Files(Path(out), progress)
        files.submit_fixes(fixes, formats)
        files.submit("scans", files.out / "scans.parquet", scans)
        files.submit("fix_truth", files.out / "truth" / "fix_truth.parquet", fix_truth)
    try:
        truth = _truth_tables(town, pop, act, frame, clock, dev_order, gap_rows)
    except BaseException:
        if files is not None:
            files.abort()
        raise
    manifest = _manifest(
        seed=seed,
        agents=agents,
        days=days,
        start=start,
        profile=profile,
        formats=formats,
        clock=clock,
        act=act,
        tables={"fixes": fixes, "scans": scans, "fix_truth": fix_truth, **truth},
        pop=pop,
        town_kinds=town.places.kind,
    )
    sim = Simulation(
        fixes=fixes,
        scans=scans,
        fix_truth=fix_truth,
        manifest=manifest,
        _frame=frame,
        _device_traj=traj,
        **truth,
    )
    tick("tables", 1, 1)
    if files is not None:
        for name in TRUTH_TABLES:
            if name != "fix_truth":
                files.submit(name, files.out / "truth" / f"{name}.parquet", getattr(sim, name))
        files.finish(sim)
    return sim


# -------------------------------------------------------------------------------- tables
def _fix_tables(parts: dict[str, list[Any]], dev_ids: NDArray[Any]) -> tuple[pa.Table, pa.Table]:
    def cat(name: str, dtype: Any) -> NDArray[Any]:
        return np.concatenate(parts[name]) if parts[name] else np.zeros(0, dtype=dtype)

    counts = [len(a) for a in parts["t_us"]]
    n = sum(counts)
    device_col = _repeat_strings([str(d) for d in dev_ids], counts)
    t_us = cat("t_us", np.int64)
    t_arr = pa.Array.from_buffers(UTC_US, n, [None, pa.py_buffer(t_us)])
    spd = cat("spd", np.float64)
    crs = cat("crs", np.float64)
    fixes = pa.Table.from_arrays(
        [
            device_col,
            t_arr,
            pa.array(cat("tz", np.int32), pa.int32()),
            pa.array(cat("lat", np.float64)),
            pa.array(cat("lon", np.float64)),
            pa.array(cat("acc", np.float64)),
            pa.nulls(n, pa.float64()),
            pa.array(spd, from_pandas=True),
            pa.array(crs, from_pandas=True),
            _repeat_strings(parts["prov"], counts),
            pa.nulls(n, pa.int64()),
        ],
        schema=FIX,
    )
    fix_truth = pa.table(
        {
            "device": device_col,
            "t": t_arr,
            "error_m": pa.array(cat("err", np.float32)),
            "outlier": pa.array(cat("out", np.bool_)),
        }
    )
    return fixes, fix_truth


def _scan_table(parts: dict[str, list[Any]], dev_ids: NDArray[Any], town: Town) -> pa.Table:
    if not parts["dev"]:
        return validate(SCAN.empty_table(), "scan")
    ap = np.concatenate(parts["ap"])
    devs = [int(d[0]) for d in parts["dev"]]
    counts = [len(d) for d in parts["dev"]]
    tbl = pa.table(
        {
            "device": _repeat_strings([str(dev_ids[k]) for k in devs], counts),
            "t": _ts(np.concatenate(parts["t"])),
            "kind": _repeat_strings(["wifi"], [int(ap.size)]),
            "ident": _fixed_strings(town.ap_bssid, ap),
            "rssi_dbm": pa.array(np.concatenate(parts["rssi"])),
            "frequency_mhz": pa.array(town.ap_freq_mhz[ap]),
        }
    )
    return validate(tbl, "scan")


def _place_ids(n: int) -> list[str]:
    return [f"place-{i + 1:05d}" for i in range(n)]


def _truth_tables(
    town: Town,
    pop: Population,
    act: Activity,
    frame: Frame,
    clock: Clock,
    devices: Sequence[Any],
    gap_rows: list[tuple[str, float, float, str]],
) -> dict[str, pa.Table]:
    pl = town.places
    pid = _place_ids(len(pl.kind))
    plat, plon = frame.to_latlon(np.asarray(pl.x), np.asarray(pl.y))
    agent_ids = [a.id for a in pop.agents]
    owner: list[str | None] = [None] * len(pid)
    for hh in pop.households:
        owner[hh.home] = f"household-{hh.index + 1:04d}"
        if hh.new_home >= 0:
            owner[hh.new_home] = f"household-{hh.index + 1:04d}"
    for a in pop.agents:
        if a.second_home >= 0:
            owner[a.second_home] = a.id
    places = pa.table(
        {
            "place_id": pa.array(pid, pa.string()),
            "kind": pa.array(pl.kind, pa.string()),
            "name": pa.array(pl.name, pa.string()),
            "building_id": pa.array(
                [f"building-{b + 1:05d}" if b >= 0 else None for b in pl.building], pa.string()
            ),
            "lat": pa.array(plat),
            "lon": pa.array(plon),
            "node": pa.array(pl.node, pa.int32()),
            "owner": pa.array(owner, pa.string()),
        }
    )

    # Stays
    st = act.stays
    s_place = np.array([s.place for s in st], dtype=np.int64)
    s_start = np.array([s.start for s in st])
    stays = pa.table(
        {
            "agent": pa.array([agent_ids[s.agent] for s in st], pa.string()),
            "stay_id": pa.array(np.arange(len(st), dtype=np.int64)),
            "start": _ts(s_start),
            "end": _ts([s.end for s in st]),
            "tz_offset_s": pa.array(clock.offset_at(s_start), pa.int32()),
            "place_id": pa.array([pid[p] for p in s_place.tolist()], pa.string()),
            "place_kind": pa.array([pl.kind[p] for p in s_place.tolist()], pa.string()),
            "lat": pa.array(plat[s_place] if len(st) else np.zeros(0)),
            "lon": pa.array(plon[s_place] if len(st) else np.zeros(0)),
            "activity": pa.array([s.activity for s in st], pa.string()),
            "truncated": pa.array([s.truncated for s in st], pa.bool_()),
        }
    )

    # Trips: stays and trips alternate per agent, so trip j of an agent joins its stays j and j + 1.
    trips = act.trips
    stay_first: dict[int, int] = {}
    for i, s in enumerate(st):
        stay_first.setdefault(s.agent, i)
    trip_no: dict[int, int] = {}
    from_stay: list[int] = []
    for tr in trips:
        j = trip_no.get(tr.agent, 0)
        trip_no[tr.agent] = j + 1
        from_stay.append(stay_first[tr.agent] + j)
    offsets = [0]
    pt: list[F64] = []
    px: list[F64] = []
    py: list[F64] = []
    pn: list[Any] = []
    for tr in trips:
        tj = act.trajectories[tr.agent]
        sl = slice(tr.knot_start, tr.knot_end)
        pt.append(tj.t[sl])
        px.append(tj.x[sl])
        py.append(tj.y[sl])
        pn.append(tj.node[sl])
        offsets.append(offsets[-1] + tr.knot_end - tr.knot_start)
    cat = np.concatenate
    if trips:
        lat, lon = frame.to_latlon(cat(px), cat(py))
        path_t, path_n = _ts(cat(pt)), pa.array(cat(pn).astype(np.int32))
    else:
        lat, lon = np.zeros(0), np.zeros(0)
        path_t, path_n = pa.array([], UTC_US), pa.array([], pa.int32())
    trip_tbl = pa.table(
        {
            "agent": pa.array([agent_ids[t.agent] for t in trips], pa.string()),
            "trip_id": pa.array(np.arange(len(trips), dtype=np.int64)),
            "start": _ts([t.start for t in trips]),
            "end": _ts([t.end for t in trips]),
            "from_stay": pa.array(np.asarray(from_stay, dtype=np.int64)),
            "to_stay": pa.array(np.asarray(from_stay, dtype=np.int64) + 1),
            "from_place": pa.array([pid[t.from_place] for t in trips], pa.string()),
            "to_place": pa.array([pid[t.to_place] for t in trips], pa.string()),
            "mode": pa.array([t.mode for t in trips], pa.string()),
            "distance_m": pa.array(np.round([t.distance_m for t in trips], 1)),
            "new_place": pa.array([t.new_place for t in trips], pa.bool_()),
            "first_visit_in_period": pa.array([t.first_visit for t in trips], pa.bool_()),
            "transit_line": pa.array([t.line for t in trips], pa.string()),
            "path_t": _list(offsets, path_t),
            "path_lat": _list(offsets, pa.array(lat)),
            "path_lon": _list(offsets, pa.array(lon)),
            "path_node": _list(offsets, path_n),
        }
    )

    # Anchors: home(s) with validity intervals, work or school.
    t0, t_end = clock.t0, clock.t_end
    an: dict[str, list[Any]] = {k: [] for k in ("agent", "kind", "place", "from", "to", "primary", "note")}

    def anchor(
        agent: str, kind: str, place: int, a: float, b: float, primary: bool, note: str | None
    ) -> None:
        for k, v in zip(an, (agent, kind, place, a, b, primary, note), strict=True):
            an[k].append(v)

    for a in pop.agents:
        hh = pop.households[a.household]
        if hh.move_day >= 0:
            move = float(clock.to_utc(np.array([hh.move_day * 86400.0 + 12 * 3600.0]))[0])
            anchor(a.id, "home", hh.home, t0, move, True, "moved out")
            anchor(a.id, "home", hh.new_home, move, t_end, True, "moved in")
        else:
            anchor(a.id, "home", hh.home, t0, t_end, True, None)
        if a.second_home >= 0:
            anchor(a.id, "home", a.second_home, t0, t_end, False, "weekday flat: Monday to Thursday nights")
        if a.role in ("day_worker", "night_worker"):
            anchor(
                a.id, "work", a.work, t0, t_end, True, "night shifts" if a.role == "night_worker" else None
            )
        elif a.role == "student":
            anchor(a.id, "school", a.work, t0, t_end, True, None)
    ap_ = np.asarray(an["place"], dtype=np.int64)
    anchors = pa.table(
        {
            "agent": pa.array(an["agent"], pa.string()),
            "kind": pa.array(an["kind"], pa.string()),
            "place_id": pa.array([pid[p] for p in ap_.tolist()], pa.string()),
            "lat": pa.array(plat[ap_]),
            "lon": pa.array(plon[ap_]),
            "valid_from": _ts(an["from"]),
            "valid_to": _ts(an["to"]),
            "primary": pa.array(an["primary"], pa.bool_()),
            "note": pa.array(an["note"], pa.string()),
        }
    )

    agents_tbl = pa.table(
        {
            "agent": pa.array(agent_ids, pa.string()),
            "household": pa.array([f"household-{a.household + 1:04d}" for a in pop.agents], pa.string()),
            "role": pa.array([a.role for a in pop.agents], pa.string()),
            "two_homes": pa.array([a.second_home >= 0 for a in pop.agents], pa.bool_()),
            "moves_house": pa.array(
                [pop.households[a.household].move_day >= 0 for a in pop.agents], pa.bool_()
            ),
            "gym_place": pa.array([pid[a.gym] if a.gym >= 0 else None for a in pop.agents], pa.string()),
            "drives_family_car": pa.array(
                [a.index in pop.households[a.household].drivers for a in pop.agents], pa.bool_()
            ),
            "cycles": pa.array([a.bike for a in pop.agents], pa.bool_()),
            "takes_transit": pa.array([a.transit for a in pop.agents], pa.bool_()),
        }
    )

    # Roads: every edge, with the bus lines that run along it.
    ulat, ulon = frame.to_latlon(town.node_x[town.edge_u], town.node_y[town.edge_u])
    vlat, vlon = frame.to_latlon(town.node_x[town.edge_v], town.node_y[town.edge_v])
    on_line: dict[tuple[int, int], list[str]] = {}
    for line in town.lines:
        for u, v in zip(line.nodes[:-1], line.nodes[1:], strict=True):
            on_line.setdefault((min(u, v), max(u, v)), []).append(line.name)
    roads = pa.table(
        {
            "edge_id": pa.array(np.arange(len(town.edge_u), dtype=np.int32)),
            "u": pa.array(town.edge_u.astype(np.int32)),
            "v": pa.array(town.edge_v.astype(np.int32)),
            "u_lat": pa.array(ulat),
            "u_lon": pa.array(ulon),
            "v_lat": pa.array(vlat),
            "v_lon": pa.array(vlon),
            "kind": pa.array(np.where(town.edge_arterial, "arterial", "street").tolist(), pa.string()),
            "length_m": pa.array(np.round(town.edge_len, 2)),
            "car_speed_mps": pa.array(town.edge_speed_car()),
            "bus_lines": pa.array(
                [
                    on_line.get((min(int(u), int(v)), max(int(u), int(v))), [])
                    for u, v in zip(town.edge_u, town.edge_v, strict=True)
                ],
                pa.list_(pa.string()),
            ),
        }
    )

    alat, alon = frame.to_latlon(town.ap_x, town.ap_y)
    blat, blon = frame.to_latlon(town.ap_building_x, town.ap_building_y)
    aps = pa.table(
        {
            "bssid": pa.array(town.ap_bssid, pa.string()),
            "place_id": pa.array([pid[p] for p in town.ap_place.tolist()], pa.string()),
            "building_id": pa.array(
                [f"building-{pl.building[p] + 1:05d}" for p in town.ap_place.tolist()], pa.string()
            ),
            "lat": pa.array(alat),
            "lon": pa.array(alon),
            "building_lat": pa.array(blat),
            "building_lon": pa.array(blon),
            "placement_error_m": pa.array(
                np.round(np.hypot(town.ap_x - town.ap_building_x, town.ap_y - town.ap_building_y), 2)
            ),
            "tx_dbm_at_1m": pa.array(np.round(town.ap_tx_dbm, 1)),
            "path_loss_exponent": pa.array(np.full(len(town.ap_bssid), PATH_LOSS_EXPONENT)),
            "frequency_mhz": pa.array(town.ap_freq_mhz),
        }
    )

    dev_tbl = pa.table(
        {
            "device": pa.array([d.id for d in devices], pa.string()),
            "kind": pa.array([d.kind for d in devices], pa.string()),
            "agent": pa.array([agent_ids[d.agent] if d.agent >= 0 else None for d in devices], pa.string()),
            "household": pa.array([f"household-{d.household + 1:04d}" for d in devices], pa.string()),
            "profile": pa.array([d.profile for d in devices], pa.string()),
            "provider": pa.array([PROFILES[d.profile].provider for d in devices], pa.string()),
            "users": pa.array(
                [
                    [agent_ids[d.agent]]
                    if d.agent >= 0
                    else sorted({agent_ids[x] for x in pop.households[d.household].drivers if x >= 0})
                    for d in devices
                ],
                pa.list_(pa.string()),
            ),
        }
    )
    gap_rows = sorted(gap_rows)
    gaps_tbl = pa.table(
        {
            "device": pa.array([g[0] for g in gap_rows], pa.string()),
            "start": _ts([g[1] for g in gap_rows]),
            "end": _ts([min(g[2], t_end) for g in gap_rows]),
            "reason": pa.array([g[3] for g in gap_rows], pa.string()),
        }
    )
    ties = pa.table(
        {
            "agent_a": pa.array([agent_ids[t.a] for t in pop.ties], pa.string()),
            "agent_b": pa.array([agent_ids[t.b] for t in pop.ties], pa.string()),
            "kind": pa.array([t.kind for t in pop.ties], pa.string()),
            "meetings": pa.array([t.meetings for t in pop.ties], pa.int32()),
        }
    )
    return {
        "true_stays": stays,
        "true_places": places,
        "true_anchors": anchors,
        "true_trips": trip_tbl,
        "true_agents": agents_tbl,
        "true_roads": roads,
        "true_access_points": aps,
        "true_device_gaps": gaps_tbl,
        "devices": dev_tbl,
        "ties": ties,
    }


# -------------------------------------------------------------------------------- manifest
#: What each column of each table means; written into the manifest and the docs.
COLUMN_DOCS: dict[str, dict[str, str]] = {
    "fixes": {
        "device": "device id (devices table)",
        "t": "time of the fix (UTC, millisecond resolution)",
        "tz_offset_s": "local UTC offset at t, as a phone app records it",
        "lat": "observed latitude (WGS 84), with the profile's noise",
        "lon": "observed longitude",
        "accuracy_m": "reported accuracy: RMS of the horizontal error",
        "altitude_m": "not simulated (null)",
        "speed_mps": "GPS speed (null for wifi and cell fixes)",
        "course_deg": "GPS course, degrees clockwise from north (null when still)",
        "provider": "gps, wifi or cell",
        "source_id": "null (set when imported into a store)",
    },
    "scans": {
        "device": "device id",
        "t": "time of the scan (the time of the wifi fix it came with)",
        "kind": "wifi",
        "ident": "BSSID of an access point heard (true_access_points)",
        "rssi_dbm": "received signal strength, whole dBm, >= -90",
        "frequency_mhz": "2437 or 5180",
    },
    "true_agents": {
        "role": "day_worker, night_worker, remote_worker, no_work or student",
        "two_homes": "has a weekday flat besides the household home",
        "moves_house": "the household moves during the period",
        "drives_family_car": "drives the household car on some days",
    },
    "true_roads": {
        "u": "node at one end (path_node in true_trips)",
        "v": "node at the other end",
        "kind": "arterial or street",
        "car_speed_mps": "car travel speed used for routing",
        "bus_lines": "bus lines running along the segment",
    },
    "true_stays": {
        "agent": "agent id",
        "stay_id": "0-based id, in agent then time order",
        "start": "arrival (UTC)",
        "end": "departure (UTC)",
        "tz_offset_s": "local UTC offset at the start",
        "place_id": "the place stayed at (true_places)",
        "place_kind": "home, work, school, shop, cafe, gym, park",
        "lat": "the place's latitude",
        "lon": "the place's longitude",
        "activity": "home, work, school, shopping, eat_out, leisure, explore, sport, social",
        "truncated": "the stay was cut by the start or end of the period",
    },
    "true_trips": {
        "trip_id": "0-based id",
        "from_stay": "stay_id before the trip",
        "to_stay": "stay_id after the trip",
        "mode": "walk, bike, car or transit (transit trips include the walks to and from the stops)",
        "distance_m": "length of the path",
        "new_place": "the destination was not known to the agent before (EPR exploration)",
        "first_visit_in_period": "the destination had not been visited earlier in the period",
        "transit_line": "bus line ridden, if any",
        "path_t": "time at each path point (UTC)",
        "path_lat": "latitude of each path point",
        "path_lon": "longitude of each path point",
        "path_node": "road-graph node of each point, -1 for the building and the kerb at each end",
    },
    "true_places": {
        "place_id": "id",
        "kind": "home, work, school, shop, cafe, gym, park, transit_stop",
        "building_id": "the building; several places share an office block or an apartment block",
        "node": "road-graph node the place is reached from",
        "owner": "household (homes) or agent (a second home)",
    },
    "true_anchors": {
        "kind": "home, work or school",
        "valid_from": "start of validity (UTC); homes change when a household moves",
        "valid_to": "end of validity (UTC)",
        "primary": "false for a second home",
        "note": "moved out / moved in / weekday flat / night shifts",
    },
    "devices": {
        "device": "device id as it appears in fixes and scans",
        "kind": "phone, watch or car",
        "agent": "the carrier (null for a car)",
        "profile": "noise profile name (see noise_profiles)",
        "users": "agents who carry or drive it",
    },
    "ties": {"kind": "household, friend or family", "meetings": "planned meetings in the period"},
    "true_access_points": {
        "lat": "true position of the access point",
        "building_lat": "centroid of the building it belongs to",
        "placement_error_m": "distance between the two",
        "tx_dbm_at_1m": "RSSI at 1 m in the log-distance path-loss model",
    },
    "true_device_gaps": {
        "reason": "battery (died, recharged next morning), gap (not recording), not worn (watch)"
    },
    "fix_truth": {
        "error_m": "distance of the fix from the truth (Simulation.true_position gives the truth itself)",
        "outlier": "an injected outlier (200 m to 3 km off)",
    },
}


def _schema_doc(name: str, table: pa.Table) -> list[dict[str, str]]:
    docs = COLUMN_DOCS.get(name, {})
    return [{"name": f.name, "type": str(f.type), "description": docs.get(f.name, "")} for f in table.schema]


def _copresence(act: Activity, kinds: Sequence[str], days: int) -> dict[str, Any]:
    """Pairs of overlapping stays of different agents at the same place, per day, by kind of place;
    and pairs of agents riding the same bus (passing a junction of a line at the same second)."""
    place = np.array([s.place for s in act.stays], dtype=np.int64)
    start = np.array([s.start for s in act.stays])
    end = np.array([s.end for s in act.stays])
    agent = np.array([s.agent for s in act.stays], dtype=np.int64)
    pairs: dict[str, int] = {}
    order = np.lexsort((start, place))
    place, start, end, agent = place[order], start[order], end[order], agent[order]
    bounds = np.flatnonzero(np.diff(place)) + 1
    for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [place.size]]), strict=True):
        kind = kinds[int(place[lo])]
        if kind == "home" or hi - lo < 2:
            continue
        st, en = start[lo:hi], end[lo:hi]
        later = np.searchsorted(st, en, side="left") - np.arange(
            1, hi - lo + 1
        )  # stays starting before i ends
        pairs[kind] = pairs.get(kind, 0) + int(np.maximum(later, 0).sum())
    by_ride: dict[tuple[str, int, float], set[int]] = {}
    for tr in act.trips:
        if tr.line is None:
            continue
        tj = act.trajectories[tr.agent]
        t = tj.t[tr.knot_start : tr.knot_end]
        n = tj.node[tr.knot_start : tr.knot_end]
        for node, when in zip(n.tolist(), t.tolist(), strict=True):
            if node >= 0:
                by_ride.setdefault((tr.line, node, round(when, 3)), set()).add(tr.agent)
    seen: set[tuple[int, int]] = set()
    for agents in by_ride.values():
        if len(agents) > 1:
            ordered = sorted(agents)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1 :]:
                    seen.add((a, b))
    return {
        "stay_pairs_per_day_by_place_kind": {k: round(v / days, 2) for k, v in sorted(pairs.items())},
        "agent_pairs_sharing_a_bus": len(seen),
        "note": "overlapping stays of two agents at one place (homes left out), ties included",
    }


def _manifest(
    *,
    seed: int,
    agents: int,
    days: int,
    start: date,
    profile: str,
    formats: Sequence[str],
    clock: Clock,
    act: Activity,
    tables: Mapping[str, pa.Table],
    pop: Population,
    town_kinds: Sequence[str],
) -> dict[str, Any]:
    n_trips = max(len(act.trips), 1)
    modes: dict[str, int] = {}
    for t in act.trips:
        modes[t.mode] = modes.get(t.mode, 0) + 1
    iso = datetime.fromtimestamp
    return {
        "generator": f"hereabouts.sim {__version__}",
        "seed": seed,
        "parameters": {
            "agents": agents,
            "days": days,
            "start": start.isoformat(),
            "profile": profile,
            "formats": list(formats),
        },
        "city": {"name": UTRECHT.name, "country": UTRECHT.country, "lat": UTRECHT.lat, "lon": UTRECHT.lon},
        "timezone": clock.tz,
        "period": {
            "start_utc": iso(clock.t0, tz=UTC).isoformat(),
            "end_utc": iso(clock.t_end, tz=UTC).isoformat(),
            "dst_changes": clock.transitions(),
        },
        "counts": {name: t.num_rows for name, t in tables.items()},
        "devices_by_profile": {
            p: sum(1 for d in pop.devices if d.profile == p) for p in sorted({d.profile for d in pop.devices})
        },
        "exploration": {
            "model": "EPR: P(new) = rho * S^-gamma per discretionary activity, S = distinct places known",
            "rho": EPR_RHO,
            "gamma": EPR_GAMMA,
            "new_place_trip_share": round(act.new_trips / n_trips, 4),
            "first_visit_in_period_trip_share": round(act.first_visit_trips / n_trips, 4),
        },
        "mode_shares": {m: round(c / n_trips, 4) for m, c in sorted(modes.items())},
        "copresence": _copresence(act, town_kinds, days),
        "speeds_mps": {
            "walk": WALK_MPS,
            "bike": round(BIKE_MPS, 3),
            "car_street": round(CAR_STREET_MPS, 3),
            "car_arterial": round(CAR_ARTERIAL_MPS, 3),
            "bus": round(BUS_MPS, 3),
        },
        "bus_headway_s": BUS_HEADWAY_S,
        "wifi_model": {
            "rssi": "tx_dbm_at_1m - 10 * n * log10(d) + Normal(0, shadowing)",
            "path_loss_exponent": PATH_LOSS_EXPONENT,
            "shadowing_db": SHADOWING_DB,
            "floor_dbm": RSSI_FLOOR_DBM,
        },
        "noise_profiles": {name: p.describe() for name, p in PROFILES.items()},
        "mixed_profile_weights": MIXED,
        "schemas": {name: _schema_doc(name, t) for name, t in tables.items()},
    }


# -------------------------------------------------------------------------------- files
class _Files:
    """Writes the output files in two threads; each file is written by one thread alone, so its bytes do
    not depend on timing. Progress is reported from the calling thread, in submission order."""

    def __init__(self, out: Path, progress: ProgressFn | None) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "truth").mkdir(exist_ok=True)
        self.out = out
        self.progress = progress
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hereabouts-sim-write")
        self.jobs: list[tuple[str, Path, Future[object]]] = []

    def submit_fixes(self, fixes: pa.Table, formats: Sequence[str]) -> None:
        from ..io.writers import WRITERS

        for f in formats:
            path = self.out / FIX_FILES[f]
            self.jobs.append((f"fixes:{f}", path, self.pool.submit(WRITERS[f], fixes, path)))

    def submit(self, name: str, path: Path, table: pa.Table) -> None:
        self.jobs.append((name, path, self.pool.submit(pq.write_table, table, path, compression="zstd")))

    def abort(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def finish(self, sim: Simulation) -> dict[str, Path]:
        total = len(self.jobs) + 1
        try:
            for k, (_name, _path, fut) in enumerate(self.jobs):
                fut.result()
                if self.progress is not None:
                    self.progress("write", k + 1, total)
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
        written = {name: path for name, path, _fut in self.jobs}
        manifest = dict(sim.manifest)
        manifest["files"] = {k: str(p.relative_to(self.out)) for k, p in sorted(written.items())}
        text = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
        (self.out / "manifest.json").write_text(text, encoding="utf-8")
        sim.out = self.out
        if self.progress is not None:
            self.progress("write", total, total)
        return written


def write(
    sim: Simulation,
    out: Path,
    *,
    formats: Sequence[str] = ("geoparquet",),
    progress: ProgressFn | None = None,
) -> dict[str, Path]:
    """Write fixes in ``formats``, scans and ground truth as Parquet, and ``manifest.json`` under ``out``.

    :func:`simulate` does this itself when given ``out``; use this to write a simulation made in memory.
    Returns the paths written by name (``fixes:geoparquet``, ``scans``, ``true_stays``...).
    """
    for f in formats:
        if f not in FIX_FILES:
            raise InputError(f"unknown output format {f!r}", hint=f"expected one of {', '.join(FIX_FILES)}")
    files = _Files(Path(out), progress)
    files.submit_fixes(sim.fixes, formats)
    files.submit("scans", Path(out) / "scans.parquet", sim.scans)
    for name in TRUTH_TABLES:
        files.submit(name, Path(out) / "truth" / f"{name}.parquet", getattr(sim, name))
    return files.finish(sim)
