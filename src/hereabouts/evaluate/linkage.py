"""Scoring stream linkage against the simulator's truth: which device streams one person carries.

A *true pair* is two devices of one agent (a phone and a watch; the ``devices`` truth table). A pair
is *proposed* when :func:`hereabouts.analysis.linkage.score_links` calls it ``same_carrier`` with a
probability of at least the threshold (0.5). Over the first ``days`` days of a simulation:

- ``linkage.precision``: share of proposed pairs that are true pairs (1.0 when nothing is proposed);
- ``linkage.recall``: share of *all* true pairs that are proposed;
- ``linkage.recall_linkable``: the same over the *linkable* true pairs: both devices report a
  median accuracy within the engine's ``max_coarse_accuracy_m`` (2.5 km; cell-tower phones are
  within it), not both worse than ``max_accuracy_m`` (250 m: two cell-tower streams are never
  paired), and both recorded on at least two days;
- ``linkage.false_merge_rate_household``: share of pairs of devices of two people of one household
  that are proposed; ``linkage.false_merge_rate_bus``: the same for two people who rode the same
  bus (passed a junction of a line at the same instant, as the simulator counts it);
  ``linkage.false_merge_rate_car``: car trackers proposed with a person's device;
- ``linkage.ece``: expected calibration error of the probability over every scored candidate pair;
- ``linkage.recall@<kind>:<profile>+<kind>:<profile>``: recall per pair of device profiles.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..analysis.linkage import LinkParams, default_params, link_candidates, score_links
from ..model.errors import InputError
from .calibration import ece

__all__ = ["LinkageTruth", "bus_pairs", "label_pairs", "linkage_truth", "score_linkage", "scored_links"]


@dataclass
class LinkageTruth:
    """What the simulator says about devices: owner, household, kind and profile of each."""

    agent: dict[str, str | None]
    household: dict[str, str | None]
    kind: dict[str, str]
    profile: dict[str, str]
    bus: set[tuple[str, str]]  # agent pairs who rode one bus

    def true_pairs(self) -> set[tuple[str, str]]:
        by_agent: dict[str, list[str]] = defaultdict(list)
        for d, a in self.agent.items():
            if a:
                by_agent[a].append(d)
        out: set[tuple[str, str]] = set()
        for devs in by_agent.values():
            for x, y in itertools.combinations(sorted(devs), 2):
                out.add((x, y))
        return out

    def label(self, a: str, b: str) -> str:
        """``same``, ``car`` (a tracker with anything), ``household``, ``bus`` or ``other``."""
        aa, ab = self.agent.get(a), self.agent.get(b)
        if aa and aa == ab:
            return "same"
        if self.kind.get(a) == "car" or self.kind.get(b) == "car":
            return "car"
        if self.household.get(a) and self.household.get(a) == self.household.get(b):
            return "household"
        if aa and ab and (min(aa, ab), max(aa, ab)) in self.bus:
            return "bus"
        return "other"

    def pair_profile(self, a: str, b: str) -> str:
        ka = f"{self.kind.get(a)}:{self.profile.get(a)}"
        kb = f"{self.kind.get(b)}:{self.profile.get(b)}"
        return "+".join(sorted([ka, kb], key=lambda k: (k.split(":")[0] != "phone", k)))


def bus_pairs(true_trips: pa.Table) -> set[tuple[str, str]]:
    """Agent pairs who rode one bus: passed a junction of the line at the same instant (ms)."""
    if true_trips.num_rows == 0:
        return set()
    tt = true_trips.filter(pc.is_valid(true_trips.column("transit_line")))
    rides: dict[tuple[str, int, int], set[str]] = defaultdict(set)
    for r in tt.select(["agent", "transit_line", "path_t", "path_node"]).to_pylist():
        for node, when in zip(r["path_node"] or [], r["path_t"] or [], strict=False):
            if node is not None and node >= 0 and when is not None:
                ms = int(when.timestamp() * 1000) if hasattr(when, "timestamp") else int(when) // 1000
                rides[(str(r["transit_line"]), int(node), ms)].add(str(r["agent"]))
    out: set[tuple[str, str]] = set()
    for agents in rides.values():
        if len(agents) > 1:
            for x, y in itertools.combinations(sorted(agents), 2):
                out.add((x, y))
    return out


def linkage_truth(devices: pa.Table, true_agents: pa.Table, true_trips: pa.Table) -> LinkageTruth:
    """The truth :func:`score_linkage` needs, from the simulator's tables."""
    hh = {str(r["agent"]): r["household"] for r in true_agents.select(["agent", "household"]).to_pylist()}
    agent: dict[str, str | None] = {}
    household: dict[str, str | None] = {}
    kind: dict[str, str] = {}
    profile: dict[str, str] = {}
    for d in devices.to_pylist():
        dev = str(d["device"])
        agent[dev] = d.get("agent")
        household[dev] = d.get("household") or (hh.get(d["agent"]) if d.get("agent") else None)
        kind[dev] = str(d.get("kind"))
        profile[dev] = str(d.get("profile"))
    return LinkageTruth(agent, household, kind, profile, bus_pairs(true_trips))


def _tables(sim: Any) -> dict[str, pa.Table]:
    if isinstance(sim, str | Path):
        folder = Path(sim)
        if not (folder / "fixes.parquet").is_file() or not (folder / "truth").is_dir():
            raise InputError(
                f"{folder} is not a simulated folder: expected fixes.parquet and truth/ in it",
                hint="make one with `hereabouts simulate OUT`",
            )
        fixes = pq.read_table(folder / "fixes.parquet", columns=None)
        if "geometry" in fixes.column_names:
            fixes = fixes.drop(["geometry"])
        out = {"fixes": fixes}
        for name in ("devices", "true_agents", "true_trips"):
            out[name] = pq.read_table(folder / "truth" / f"{name}.parquet")
        return out
    try:
        return {n: getattr(sim, n) for n in ("fixes", "devices", "true_agents", "true_trips")}
    except AttributeError as exc:
        raise InputError(
            f"expected a Simulation (hereabouts.sim.simulate) or a simulated folder, got {type(sim).__name__}"
        ) from exc


def _first_days(fixes: pa.Table, days: float | None) -> pa.Table:
    if days is None or fixes.num_rows == 0:
        return fixes
    t = fixes.column("t").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    t0 = pc.min(t).as_py()
    return fixes.filter(pc.less(t, t0 + int(days * 86400 * 1_000_000)))


def scored_links(sim: Any, *, days: float | None = 7, params: LinkParams | None = None) -> pa.Table:
    """Every candidate pair of a simulation (its first ``days`` days) scored, with truth columns
    ``label`` (same, household, bus, car, other) and ``profiles``."""
    tables = _tables(sim)
    truth = linkage_truth(tables["devices"], tables["true_agents"], tables["true_trips"])
    fixes = _first_days(tables["fixes"], days)
    p = params or default_params()
    scored = score_links(fixes, link_candidates(fixes, params=p), params=p)
    a = scored.column("device_a").to_pylist()
    b = scored.column("device_b").to_pylist()
    scored = scored.append_column("label", pa.array([truth.label(x, y) for x, y in zip(a, b, strict=True)]))
    return scored.append_column(
        "profiles", pa.array([truth.pair_profile(x, y) for x, y in zip(a, b, strict=True)])
    )


def _linkable(fixes: pa.Table, max_accuracy_m: float, max_coarse_accuracy_m: float) -> dict[str, bool]:
    """Devices whose median accuracy is within ``max_coarse_accuracy_m`` and that recorded on two
    days, each with whether it is coarse (median accuracy worse than ``max_accuracy_m``)."""
    import duckdb

    _f = fixes.select(["device", "t", "accuracy_m"])
    con = duckdb.connect()
    try:
        rows = con.sql(
            f"""SELECT device, coalesce(median(accuracy_m), 0) > {float(max_accuracy_m)} FROM _f
                GROUP BY device
                HAVING coalesce(median(accuracy_m), 0) <= {float(max_coarse_accuracy_m)}
                   AND count(DISTINCT date_trunc('day', t)) >= 2"""
        ).fetchall()
    finally:
        con.close()
    return {str(r[0]): bool(r[1]) for r in rows}


def score_linkage(
    sim: Any,
    *,
    days: float | None = 7,
    threshold: float = 0.5,
    params: LinkParams | None = None,
    scored: pa.Table | None = None,
) -> dict[str, float]:
    """Linkage metrics (see the module docstring) of a :class:`hereabouts.sim.Simulation` or a
    simulated folder, over its first ``days`` days, at probability ``threshold``."""
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"threshold must be within [0, 1], got {threshold}")
    tables = _tables(sim)
    truth = linkage_truth(tables["devices"], tables["true_agents"], tables["true_trips"])
    p = params or default_params()
    if scored is None:
        scored = scored_links(sim, days=days, params=p)
    fixes = _first_days(tables["fixes"], days)
    rows = scored.select(["device_a", "device_b", "probability", "relation", "label"]).to_pylist()
    proposed = {
        (r["device_a"], r["device_b"])
        for r in rows
        if r["relation"] == "same_carrier" and r["probability"] >= threshold
    }
    true = truth.true_pairs()
    linkable_dev = _linkable(fixes, p.max_accuracy_m, p.max_coarse_accuracy_m)
    linkable = {
        pr
        for pr in true
        if pr[0] in linkable_dev
        and pr[1] in linkable_dev
        and not (linkable_dev[pr[0]] and linkable_dev[pr[1]])
    }
    m: dict[str, float] = {}
    tp = len(proposed & true)
    m["linkage.precision"] = tp / len(proposed) if proposed else 1.0
    m["linkage.recall"] = tp / len(true) if true else float("nan")
    m["linkage.recall_linkable"] = len(proposed & linkable) / len(linkable) if linkable else float("nan")
    m["linkage.n_true"] = float(len(true))
    m["linkage.n_linkable"] = float(len(linkable))
    m["linkage.n_proposed"] = float(len(proposed))
    m["linkage.n_candidates"] = float(scored.num_rows)
    # hard negatives: every pair of person devices in the category, proposed or not
    devs = sorted(truth.agent)
    hh_pairs: set[tuple[str, str]] = set()
    bus: set[tuple[str, str]] = set()
    car: set[tuple[str, str]] = set()
    for x, y in itertools.combinations(devs, 2):
        lab = truth.label(x, y)
        if lab == "household":
            hh_pairs.add((x, y))
        elif lab == "bus":
            bus.add((x, y))
        elif lab == "car" and (truth.kind[x] == "car") != (truth.kind[y] == "car"):
            car.add((x, y))
    for name, group in (("household", hh_pairs), ("bus", bus), ("car", car)):
        m[f"linkage.false_merge_rate_{name}"] = len(proposed & group) / len(group) if group else float("nan")
        m[f"linkage.n_{name}_pairs"] = float(len(group))
    conf = np.array([r["probability"] for r in rows], np.float64)
    ok = np.array([r["label"] == "same" for r in rows], np.bool_)
    m["linkage.ece"] = ece(conf, ok) if conf.size else float("nan")
    # recall per pair of profiles
    by_prof: dict[str, list[bool]] = defaultdict(list)
    for pr in sorted(true):
        by_prof[truth.pair_profile(*pr)].append(pr in proposed)
    for prof, hits in sorted(by_prof.items()):
        m[f"linkage.recall@{prof}"] = float(np.mean(hits))
        m[f"linkage.n_true@{prof}"] = float(len(hits))
    m["linkage.threshold"] = float(threshold)
    m["linkage.days"] = float(days) if days is not None else float("nan")
    return m


def label_pairs(scored: pa.Table, truth: LinkageTruth) -> list[str]:
    """The truth label of each scored pair (see :meth:`LinkageTruth.label`)."""
    return [
        truth.label(a, b)
        for a, b in zip(
            scored.column("device_a").to_pylist(), scored.column("device_b").to_pylist(), strict=True
        )
    ]
