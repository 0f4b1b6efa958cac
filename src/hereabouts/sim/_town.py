"""The synthetic town: a grid-ish road graph with arterials, buildings and points of interest, bus
lines along the arterials, and Wi-Fi access points at buildings. Everything is in the metric frame of
:mod:`._geo` (x east, y north, metres from the city centre)."""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

#: Speeds in metres per second.
WALK_MPS = 1.35
BIKE_MPS = 4.4
CAR_STREET_MPS = 30 / 3.6 * 0.8  # 30 km/h zones, with junction slow-downs
CAR_ARTERIAL_MPS = 50 / 3.6 * 0.8
BUS_MPS = 30 / 3.6
BUS_DWELL_S = 20.0
BUS_HEADWAY_S = 600.0

GRID_N = 27  # nodes per side
BLOCK_M = 150.0  # street spacing
ARTERIAL_EVERY = 6  # every 6th street is an arterial

PLACE_KINDS = ("home", "work", "school", "shop", "cafe", "gym", "park", "transit_stop")


@dataclass
class Places:
    kind: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    building: list[int] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    node: list[int] = field(default_factory=list)  # access node on the road graph
    foot_x: list[float] = field(default_factory=list)  # where the driveway meets the street
    foot_y: list[float] = field(default_factory=list)

    def add(
        self, kind: str, name: str, building: int, x: float, y: float, node: int, fx: float, fy: float
    ) -> int:
        self.kind.append(kind)
        self.name.append(name)
        self.building.append(building)
        self.x.append(x)
        self.y.append(y)
        self.node.append(node)
        self.foot_x.append(fx)
        self.foot_y.append(fy)
        return len(self.kind) - 1

    def of_kind(self, *kinds: str) -> I64:
        return np.array([i for i, k in enumerate(self.kind) if k in kinds], dtype=np.int64)


@dataclass
class Line:
    """A bus line running both ways along one arterial; ``stops`` index into ``nodes``."""

    name: str
    nodes: list[int]
    stops: list[int]
    stop_places: list[int]
    seg_s: list[float]  # running time between consecutive nodes


@dataclass
class Town:
    node_x: F64
    node_y: F64
    edge_u: I64
    edge_v: I64
    edge_len: F64
    edge_arterial: NDArray[np.bool_]
    adj: list[list[tuple[int, int]]]  # node -> [(neighbour, edge index)]
    places: Places
    lines: list[Line]
    ap_x: F64
    ap_y: F64
    ap_building_x: F64
    ap_building_y: F64
    ap_place: I64
    ap_bssid: list[str]
    ap_tx_dbm: F64
    ap_freq_mhz: F64
    n_buildings: int

    def edge_speed_car(self) -> F64:
        return np.where(self.edge_arterial, CAR_ARTERIAL_MPS, CAR_STREET_MPS)


def _connected(n: int, adj: list[dict[int, int]]) -> bool:
    seen = [False] * n
    seen[0] = True
    todo = deque([0])
    count = 1
    while todo:
        u = todo.popleft()
        for v in adj[u]:
            if not seen[v]:
                seen[v] = True
                count += 1
                todo.append(v)
    return count == n


def build_town(rng: np.random.Generator, *, agents: int, households: int) -> Town:
    """Lay out streets, arterials, buildings, points of interest, bus lines and access points."""
    n = GRID_N
    half = (n - 1) * BLOCK_M / 2
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")  # i: column (x), j: row (y)
    node_x = (ii.ravel() * BLOCK_M - half + rng.uniform(-12, 12, n * n)).astype(np.float64)
    node_y = (jj.ravel() * BLOCK_M - half + rng.uniform(-12, 12, n * n)).astype(np.float64)
    arterial_idx = set(range(1, n, ARTERIAL_EVERY))

    def nid(i: int, j: int) -> int:
        return i * n + j

    edges: list[tuple[int, int, bool]] = []
    for i in range(n):
        for j in range(n):
            if i + 1 < n:
                edges.append((nid(i, j), nid(i + 1, j), j in arterial_idx))
            if j + 1 < n:
                edges.append((nid(i, j), nid(i, j + 1), i in arterial_idx))
    # Drop some residential street segments (dead ends, parks, canals) while keeping the graph connected.
    adjd: list[dict[int, int]] = [{} for _ in range(n * n)]
    for k, (u, v, _a) in enumerate(edges):
        adjd[u][v] = k
        adjd[v][u] = k
    removed: set[int] = set()
    candidates = [k for k, (_u, _v, a) in enumerate(edges) if not a]
    order = rng.permutation(len(candidates))[: int(0.08 * len(candidates))]
    for c in order:
        k = candidates[int(c)]
        u, v, _a = edges[k]
        if len(adjd[u]) <= 2 or len(adjd[v]) <= 2:
            continue
        del adjd[u][v]
        del adjd[v][u]
        if _connected(n * n, adjd):
            removed.add(k)
        else:
            adjd[u][v] = k
            adjd[v][u] = k
    kept = [e for k, e in enumerate(edges) if k not in removed]
    edge_u = np.array([e[0] for e in kept], dtype=np.int64)
    edge_v = np.array([e[1] for e in kept], dtype=np.int64)
    edge_art = np.array([e[2] for e in kept], dtype=np.bool_)
    edge_len = np.hypot(node_x[edge_u] - node_x[edge_v], node_y[edge_u] - node_y[edge_v])
    adj: list[list[tuple[int, int]]] = [[] for _ in range(n * n)]
    for k in range(len(kept)):
        u, v = int(edge_u[k]), int(edge_v[k])
        adj[u].append((v, k))
        adj[v].append((u, k))

    # Buildings stand beside street segments, set back from the street; each has an access node.
    mid_x = (node_x[edge_u] + node_x[edge_v]) / 2
    mid_y = (node_y[edge_u] + node_y[edge_v]) / 2
    radius = np.hypot(mid_x, mid_y)
    central = np.exp(-((radius / 900.0) ** 2))  # weight of the centre for shops, cafés, offices
    residential = 0.25 + (1 - central) * np.where(edge_art, 0.4, 1.0)

    places = Places()
    building_count = 0

    def new_building(weights: F64) -> tuple[float, float, int, float, float]:
        nonlocal building_count
        p = weights / weights.sum()
        k = int(rng.choice(len(p), p=p))
        u, v = int(edge_u[k]), int(edge_v[k])
        f = float(rng.uniform(0.2, 0.8))
        fx = float(node_x[u] + f * (node_x[v] - node_x[u]))
        fy = float(node_y[u] + f * (node_y[v] - node_y[u]))
        dx, dy = node_x[v] - node_x[u], node_y[v] - node_y[u]
        length = float(np.hypot(dx, dy))
        side = 1.0 if rng.random() < 0.5 else -1.0
        setback = float(rng.uniform(12, 30))
        bx = fx + side * (-dy / length) * setback
        by = fy + side * (dx / length) * setback
        node = u if f < 0.5 else v
        building_count += 1
        return bx, by, node, fx, fy

    def add_places(kind: str, count: int, weights: F64, per_building: tuple[int, int] = (1, 1)) -> None:
        made = 0
        while made < count:
            bx, by, node, fx, fy = new_building(weights)
            units = int(rng.integers(per_building[0], per_building[1] + 1))
            for _ in range(min(units, count - made)):
                places.add(kind, f"{kind} {made + 1}", building_count - 1, bx, by, node, fx, fy)
                made += 1

    n_homes = int(households * 1.2) + 8
    n_flats = int(n_homes * 0.45)
    add_places("home", n_homes - n_flats, residential)
    add_places("home", n_flats, residential + central, per_building=(3, 10))  # apartment blocks
    n_employers = max(4, agents // 14)
    add_places(
        "work", n_employers, central * 3 + 0.05 * edge_art, per_building=(1, 6)
    )  # shared office blocks
    for site in ("hospital", "distribution depot"):
        bx, by, node, fx, fy = new_building(0.2 + (1 - central))
        places.add("work", site, building_count - 1, bx, by, node, fx, fy)
    add_places("school", max(1, agents // 250), residential)
    add_places("shop", 50 + agents // 20, central * 2 + 0.1 * edge_art + 0.05)
    add_places("cafe", 50 + agents // 20, central * 3 + 0.05)
    add_places("gym", 4 + agents // 200, central + 0.2 * edge_art + 0.05)
    add_places("park", 12, residential)
    # Name homes/work sequentially per kind for readability.
    counters: dict[str, int] = {}
    for i, kind_name in enumerate(places.kind):
        if kind_name != "transit_stop" and not places.name[i].endswith(("hospital", "depot")):
            counters[kind_name] = counters.get(kind_name, 0) + 1
            places.name[i] = f"{kind_name} {counters[kind_name]}"

    # Bus lines along two north-south and two east-west arterials, stops every third junction.
    lines: list[Line] = []
    art = sorted(arterial_idx)
    chosen = art[1:-1] if len(art) >= 3 else art
    for orient in ("north-south", "east-west"):
        for a in chosen:
            nodes = (
                [nid(a, j) for j in range(n)] if orient == "north-south" else [nid(i, a) for i in range(n)]
            )
            stops = list(range(0, n, 3))
            if stops[-1] != n - 1:
                stops.append(n - 1)
            name = f"bus {len(lines) + 1}"
            stop_places = []
            for s_i, s in enumerate(stops):
                nd = nodes[s]
                stop_places.append(
                    places.add(
                        "transit_stop",
                        f"{name} stop {s_i + 1}",
                        -1,
                        float(node_x[nd]),
                        float(node_y[nd]),
                        nd,
                        float(node_x[nd]),
                        float(node_y[nd]),
                    )
                )
            seg = [
                float(
                    np.hypot(node_x[nodes[k + 1]] - node_x[nodes[k]], node_y[nodes[k + 1]] - node_y[nodes[k]])
                )
                / BUS_MPS
                for k in range(n - 1)
            ]
            lines.append(Line(name=name, nodes=nodes, stops=stops, stop_places=stop_places, seg_s=seg))

    # Wi-Fi access points: one per home, several per office block and school, one per shop/café/gym.
    per_kind = {"home": 1, "work": 3, "school": 2, "shop": 1, "cafe": 1, "gym": 1}
    ap_place: list[int] = []
    for i, kind_name in enumerate(places.kind):
        ap_place.extend([i] * per_kind.get(kind_name, 0))
    ap_place_arr = np.array(ap_place, dtype=np.int64)
    px = np.array(places.x)[ap_place_arr]
    py = np.array(places.y)[ap_place_arr]
    # Placement error: the access point sits somewhere in or beside its building, not at its centroid.
    ap_x = px + rng.normal(0, 10, len(ap_place_arr))
    ap_y = py + rng.normal(0, 10, len(ap_place_arr))
    macs = rng.integers(0, 2**40, len(ap_place_arr))
    bssids = []
    for m in macs.tolist():
        v = (0x02 << 40) | int(m)  # locally administered unicast addresses: never a real vendor's
        bssids.append(":".join(f"{(v >> s) & 0xFF:02x}" for s in range(40, -8, -8)))
    ap_tx = rng.uniform(-38, -30, len(ap_place_arr))
    ap_freq = np.where(rng.random(len(ap_place_arr)) < 0.6, 2437.0, 5180.0)
    return Town(
        node_x=node_x,
        node_y=node_y,
        edge_u=edge_u,
        edge_v=edge_v,
        edge_len=edge_len,
        edge_arterial=edge_art,
        adj=adj,
        places=places,
        lines=lines,
        ap_x=ap_x,
        ap_y=ap_y,
        ap_building_x=px,
        ap_building_y=py,
        ap_place=ap_place_arr,
        ap_bssid=bssids,
        ap_tx_dbm=ap_tx,
        ap_freq_mhz=ap_freq,
        n_buildings=building_count,
    )


class Router:
    """Shortest paths on the road graph, by length (walk, bike) or by car travel time; cached per source."""

    def __init__(self, town: Town) -> None:
        self.town = town
        car_time = town.edge_len / town.edge_speed_car()
        self._weights = {"length": town.edge_len.tolist(), "time": car_time.tolist()}
        self._pred: dict[tuple[str, int], list[int]] = {}
        self._paths: dict[tuple[str, int, int], list[int]] = {}

    def _sssp(self, metric: str, src: int) -> list[int]:
        key = (metric, src)
        pred = self._pred.get(key)
        if pred is not None:
            return pred
        w = self._weights[metric]
        adj = self.town.adj
        n = len(adj)
        dist = [float("inf")] * n
        pred = [-1] * n
        dist[src] = 0.0
        heap = [(0.0, src)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            for v, k in adj[u]:
                nd = d + w[k]
                if nd < dist[v]:
                    dist[v] = nd
                    pred[v] = u
                    heapq.heappush(heap, (nd, v))
        self._pred[key] = pred
        return pred

    def path(self, metric: str, src: int, dst: int) -> list[int]:
        """Node sequence from ``src`` to ``dst`` (both included)."""
        key = (metric, src, dst)
        p = self._paths.get(key)
        if p is not None:
            return p
        pred = self._sssp(metric, src)
        out = [dst]
        while out[-1] != src:
            out.append(pred[out[-1]])
        out.reverse()
        self._paths[key] = out
        return out
