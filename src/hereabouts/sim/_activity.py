"""Daily plans (weekly routines plus EPR exploration) and their realisation as stays and routed trips."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ._geo import Clock
from ._population import NIGHT_SHIFT_DOWS, Agent, Appointment, Population
from ._town import BIKE_MPS, BUS_HEADWAY_S, WALK_MPS, Router, Town

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

HOUR = 3600.0
DAY = 86400.0
MIN_DWELL_S = 300.0
DRIVEWAY_CAR_MPS = 3.0
#: EPR exploration (Song et al. 2010): P(new place) = RHO * S ** -GAMMA, S = distinct places known.
EPR_RHO = 1.0
EPR_GAMMA = 0.21
PURPOSE_KINDS = {
    "shopping": ("shop",),
    "eat_out": ("cafe",),
    "leisure": ("park", "cafe"),
    "explore": ("shop", "cafe", "park"),
}


@dataclass
class Trip:
    agent: int
    start: float
    end: float
    from_place: int
    to_place: int
    mode: str
    distance_m: float
    new_place: bool
    first_visit: bool
    line: str | None
    knot_start: int  # offsets into the agent's trajectory knots
    knot_end: int


@dataclass
class Stay:
    agent: int
    start: float
    end: float
    place: int
    activity: str
    truncated: bool


@dataclass
class Trajectory:
    t: F64
    x: F64
    y: F64
    node: I64
    moving: F64  # (n, 2) start/end of movement intervals


@dataclass
class Activity:
    stays: list[Stay] = field(default_factory=list)
    trips: list[Trip] = field(default_factory=list)
    trajectories: list[Trajectory] = field(default_factory=list)
    new_trips: int = 0
    first_visit_trips: int = 0


@dataclass
class PlanItem:
    """Go to ``place`` for ``activity``; leave at local wall time ``leave`` (inf: not planned yet)."""

    place: int
    activity: str
    leave: float = math.inf


class _Plan:
    """A running list of plan items; the last item's leave time stays open until the next departure."""

    def __init__(self, place: int, activity: str) -> None:
        self.items: list[PlanItem] = [PlanItem(place, activity)]

    @property
    def here(self) -> int:
        return self.items[-1].place

    def go(self, leave_wall: float, place: int, activity: str) -> None:
        if place == self.here:
            return
        self.items[-1].leave = leave_wall
        self.items.append(PlanItem(place, activity))


class Planner:
    def __init__(self, town: Town, pop: Population, clock: Clock, rng: np.random.Generator) -> None:
        self.town = town
        self.pop = pop
        self.clock = clock
        self.rng = rng
        pl = town.places
        self.px = np.asarray(pl.x)
        self.py = np.asarray(pl.y)
        self.kind_idx = {k: pl.of_kind(k) for k in ("shop", "cafe", "park")}
        self.start_dow = clock.start.weekday()

    def known_places(self, a: Agent) -> dict[int, int]:
        hh = self.pop.households[a.household]
        known = {hh.home: 10}
        for p, c in ((a.work, 10), (a.second_home, 10), (a.gym, 3), (a.shop, 5), (a.cafe, 3)):
            if p >= 0:
                known[p] = known.get(p, 0) + c
        return known

    def choose(self, visited: dict[int, int], purpose: str, x: float, y: float) -> int:
        rng = self.rng
        kinds = PURPOSE_KINDS[purpose]
        cands = np.concatenate([self.kind_idx[k] for k in kinds])
        known = [p for p in visited if self.town.places.kind[p] in kinds]
        p_new = min(1.0, EPR_RHO * len(visited) ** (-EPR_GAMMA))
        fresh = np.array([c for c in cands.tolist() if c not in visited], dtype=np.int64)
        if fresh.size and (not known or rng.random() < p_new):
            w = np.exp(-np.hypot(self.px[fresh] - x, self.py[fresh] - y) / 1200.0) + 1e-12
            place = int(fresh[int(rng.choice(fresh.size, p=w / w.sum()))])
        else:
            counts = np.array([visited[p] for p in known], dtype=np.float64)
            place = int(known[int(rng.choice(len(known), p=counts / counts.sum()))])
        visited[place] = visited.get(place, 0) + 1
        return place

    def plan_agent(self, a: Agent, days: int) -> list[PlanItem]:
        rng = self.rng
        hh = self.pop.households[a.household]
        appts = self.pop.appointments[a.index]
        visited = self.known_places(a)

        def evening_home(d: int) -> int:
            dow = (self.start_dow + d) % 7
            if a.second_home >= 0 and dow <= 3:
                return a.second_home
            return hh.home_at(d)

        plan = _Plan(evening_home(-1), "home")

        def jit(sd_min: float) -> float:
            return float(rng.normal(0, sd_min * 60))

        def out_and_back(t: float, purpose: str, dur_h: tuple[float, float], back: int, act: str) -> float:
            place = self.choose(visited, purpose, self.px[plan.here], self.py[plan.here])
            plan.go(t, place, purpose)
            t2 = t + float(rng.uniform(*dur_h)) * HOUR
            plan.go(t2, back, act)
            return t2

        for d in range(days):
            base = d * DAY
            dow = (self.start_dow + d) % 7
            weekend = dow >= 5
            morning_home = plan.here if d == 0 else evening_home(d - 1)
            home = evening_home(d)
            appt: Appointment | None = appts.get(d)

            def evening(
                t_free: float, appt: Appointment | None = appt, home: int = home, base: float = base
            ) -> None:
                if appt is not None and appt.kind == "evening":
                    plan.go(base + appt.start_s - 0.3 * HOUR, appt.place, "social")
                    plan.go(base + appt.end_s, home, "home")
                elif rng.random() < 0.14:
                    t = max(t_free + 0.5 * HOUR, base + 19.0 * HOUR + jit(30))
                    out_and_back(t, "explore", (0.75, 1.75), home, "home")

            if a.role == "night_worker" and dow in NIGHT_SHIFT_DOWS:
                if rng.random() < 0.4:
                    out_and_back(base + 15.5 * HOUR + jit(30), "shopping", (0.3, 0.7), morning_home, "home")
                plan.go(base + 18.0 * HOUR, home, "home")
                plan.go(base + a.start_s - 0.6 * HOUR + jit(5), a.work, "work")
                plan.go(base + a.start_s + a.hours_s + jit(10), home, "home")
            elif not weekend and a.role in ("day_worker", "student"):
                act = "work" if a.role == "day_worker" else "school"
                plan.go(base + a.start_s + jit(12), a.work, act)
                if a.role == "day_worker" and rng.random() < 0.25:
                    out_and_back(base + 12.2 * HOUR + jit(15), "eat_out", (0.5, 0.8), a.work, act)
                t = base + a.start_s + a.hours_s + jit(15)
                if a.gym >= 0 and dow in a.gym_dows:
                    plan.go(t, a.gym, "sport")
                    t += (1.0 + float(rng.uniform(0, 0.5))) * HOUR
                elif rng.random() < 0.25:
                    place = self.choose(visited, "shopping", self.px[plan.here], self.py[plan.here])
                    plan.go(t, place, "shopping")
                    t += float(rng.uniform(0.3, 0.6)) * HOUR
                plan.go(t, home, "home")
                evening(t)
            elif not weekend and a.role == "remote_worker":
                if rng.random() < 0.5:
                    purpose = "leisure" if rng.random() < 0.5 else "eat_out"
                    out_and_back(base + 12.3 * HOUR + jit(20), purpose, (0.5, 1.0), morning_home, "home")
                if a.gym >= 0 and dow in a.gym_dows:
                    plan.go(base + 17.5 * HOUR + jit(20), a.gym, "sport")
                    plan.go(base + 18.75 * HOUR + jit(10), home, "home")
                plan.go(base + 18.9 * HOUR, home, "home")
                evening(base + 19 * HOUR)
            elif not weekend:
                if rng.random() < 0.6:
                    out_and_back(base + 10.0 * HOUR + jit(40), "shopping", (0.4, 1.0), morning_home, "home")
                if rng.random() < 0.4:
                    out_and_back(base + 14.5 * HOUR + jit(40), "leisure", (0.75, 2.0), morning_home, "home")
                if a.gym >= 0 and dow in a.gym_dows:
                    plan.go(base + 16.0 * HOUR + jit(20), a.gym, "sport")
                    plan.go(base + 17.25 * HOUR + jit(10), home, "home")
                plan.go(base + 18.9 * HOUR, home, "home")
                evening(base + 19 * HOUR)
            else:  # weekend
                if appt is not None and appt.kind == "family":
                    if not appt.host_home:
                        plan.go(base + appt.start_s - 0.4 * HOUR, appt.place, "social")
                        plan.go(base + appt.end_s, home, "home")
                    else:
                        plan.go(base + appt.start_s - 2 * HOUR, home, "home")
                    evening(base + appt.end_s)
                    continue
                if rng.random() < (0.7 if dow == 5 else 0.45):
                    out_and_back(base + 10.5 * HOUR + jit(45), "shopping", (0.3, 0.8), morning_home, "home")
                if appt is not None and appt.kind == "afternoon":
                    plan.go(base + appt.start_s - 0.3 * HOUR, appt.place, "social")
                    plan.go(base + appt.end_s, home, "home")
                elif rng.random() < 0.45:
                    out_and_back(base + 14.5 * HOUR + jit(45), "leisure", (1.0, 2.5), morning_home, "home")
                plan.go(base + 18.9 * HOUR, home, "home")
                evening(base + 19 * HOUR)
        return plan.items


@dataclass
class _Geom:
    x: F64
    y: F64
    rel_t: F64
    node: I64
    dist: float


class Realiser:
    """Turns plans into stays, routed trips and a piecewise-linear true trajectory per agent."""

    def __init__(self, town: Town, pop: Population, clock: Clock, rng: np.random.Generator) -> None:
        self.town = town
        self.pop = pop
        self.clock = clock
        self.rng = rng
        self.router = Router(town)
        pl = town.places
        self.px = np.asarray(pl.x)
        self.py = np.asarray(pl.y)
        self.pxl, self.pyl = list(pl.x), list(pl.y)
        self.fx = np.asarray(pl.foot_x)
        self.fy = np.asarray(pl.foot_y)
        self.pnode = np.asarray(pl.node, dtype=np.int64)
        self.edge_of: dict[tuple[int, int], int] = {}
        for k in range(len(town.edge_u)):
            u, v = int(town.edge_u[k]), int(town.edge_v[k])
            self.edge_of[(u, v)] = k
            self.edge_of[(v, u)] = k
        self.edge_time = town.edge_len / town.edge_speed_car()
        self._cache: dict[tuple[int, int, str], _Geom] = {}
        self._transit_cache: dict[tuple[int, int], tuple[int, int, int] | None] = {}
        # Bus timetables: cumulative running time from each terminal, per line and direction.
        self.line_cum: list[tuple[F64, F64]] = []
        for line in town.lines:
            seg = np.asarray(line.seg_s)
            dwell = np.zeros(len(seg))
            stops = set(line.stops)
            dwell[[k for k in range(len(seg)) if k in stops]] = 20.0
            fwd = np.concatenate([[0.0], np.cumsum(seg + dwell)])
            back_dwell = np.zeros(len(seg))
            back_dwell[[k - 1 for k in range(1, len(seg) + 1) if k in stops]] = 20.0
            bwd = np.concatenate([np.cumsum((seg + back_dwell)[::-1])[::-1], [0.0]])
            self.line_cum.append((fwd, bwd))
        self.stop_xy = [
            (
                np.asarray([town.node_x[line.nodes[s]] for s in line.stops]),
                np.asarray([town.node_y[line.nodes[s]] for s in line.stops]),
            )
            for line in town.lines
        ]
        # nearest stop of each line to each place: (stop index, distance)
        self.near_stop: list[list[tuple[int, float]]] = []
        for sx, sy in self.stop_xy:
            dist = np.hypot(sx[None, :] - self.px[:, None], sy[None, :] - self.py[:, None])
            best = np.argmin(dist, axis=1)
            self.near_stop.append(
                list(zip(best.tolist(), dist[np.arange(len(best)), best].tolist(), strict=True))
            )

    # -- geometry ---------------------------------------------------------------------------------
    def _network(self, metric: str, a: int, b: int) -> list[int]:
        return self.router.path(metric, a, b)

    def _geom(self, o: int, d: int, mode: str) -> _Geom:
        key = (o, d, mode)
        g = self._cache.get(key)
        if g is not None:
            return g
        nodes = self._network("time" if mode == "car" else "length", int(self.pnode[o]), int(self.pnode[d]))
        tn = self.town
        x = np.concatenate([[self.px[o], self.fx[o]], tn.node_x[nodes], [self.fx[d], self.px[d]]])
        y = np.concatenate([[self.py[o], self.fy[o]], tn.node_y[nodes], [self.fy[d], self.py[d]]])
        node = np.concatenate([[-1, -1], np.asarray(nodes, dtype=np.int64), [-1, -1]])
        seg = np.hypot(np.diff(x), np.diff(y))
        if mode == "car":
            dt = seg / DRIVEWAY_CAR_MPS
            for i in range(len(nodes) - 1):
                dt[2 + i] = self.edge_time[self.edge_of[(nodes[i], nodes[i + 1])]]
        else:
            dt = seg / (WALK_MPS if mode == "walk" else BIKE_MPS)
        dt = np.maximum(dt, 0.5)
        g = _Geom(x, y, np.concatenate([[0.0], np.cumsum(dt)]), node, float(seg.sum()))
        self._cache[key] = g
        return g

    def _walk_to_node(self, o: int, node: int, reverse: bool) -> _Geom:
        """Walking leg between place ``o`` and a graph node (``reverse``: from the node to the place)."""
        key = (o, -1 - node, "walk-r" if reverse else "walk-f")
        g = self._cache.get(key)
        if g is not None:
            return g
        tn = self.town
        if not reverse:
            nodes = self._network("length", int(self.pnode[o]), node)
            x = np.concatenate([[self.px[o], self.fx[o]], tn.node_x[nodes]])
            y = np.concatenate([[self.py[o], self.fy[o]], tn.node_y[nodes]])
            nd = np.concatenate([[-1, -1], np.asarray(nodes, dtype=np.int64)])
        else:
            nodes = self._network("length", node, int(self.pnode[o]))
            x = np.concatenate([tn.node_x[nodes], [self.fx[o], self.px[o]]])
            y = np.concatenate([tn.node_y[nodes], [self.fy[o], self.py[o]]])
            nd = np.concatenate([np.asarray(nodes, dtype=np.int64), [-1, -1]])
        seg = np.hypot(np.diff(x), np.diff(y))
        dt = np.maximum(seg / WALK_MPS, 0.5)
        g = _Geom(x, y, np.concatenate([[0.0], np.cumsum(dt)]), nd, float(seg.sum()))
        self._cache[key] = g
        return g

    def _transit_option(self, o: int, d: int) -> tuple[int, int, int] | None:
        """(line, stop index at origin, stop index at destination) when one bus line serves the trip."""
        key = (o, d)
        if key in self._transit_cache:
            return self._transit_cache[key]
        best: tuple[float, int, int, int] | None = None
        for li in range(len(self.stop_xy)):
            i, do = self.near_stop[li][o]
            j, dd = self.near_stop[li][d]
            if do > 550 or dd > 550 or abs(i - j) < 2:
                continue
            cost = do + dd
            if best is None or cost < best[0]:
                best = (cost, li, i, j)
        opt = None if best is None else best[1:]
        self._transit_cache[key] = opt
        return opt

    def _transit(self, o: int, d: int, opt: tuple[int, int, int], t_dep: float) -> tuple[_Geom, float, str]:
        li, i, j = opt
        line = self.town.lines[li]
        si, sj = line.stops[i], line.stops[j]
        walk1 = self._walk_to_node(o, line.nodes[si], reverse=False)
        walk2 = self._walk_to_node(d, line.nodes[sj], reverse=True)
        fwd, bwd = self.line_cum[li]
        cum = fwd if sj > si else bwd
        phase = self.clock.t0 + 97.0 * li + (0.0 if sj > si else 300.0)
        at_stop = t_dep + walk1.rel_t[-1]
        k = math.ceil((at_stop - cum[si] - phase) / BUS_HEADWAY_S)
        board = phase + k * BUS_HEADWAY_S + cum[si]
        step = 1 if sj > si else -1
        ride_idx = list(range(si, sj + step, step))
        ride_nodes = np.asarray([line.nodes[m] for m in ride_idx], dtype=np.int64)
        ride_t = board + np.abs(cum[ride_idx] - cum[si]) - t_dep
        tn = self.town
        x = np.concatenate([walk1.x, tn.node_x[ride_nodes], walk2.x[1:]])
        y = np.concatenate([walk1.y, tn.node_y[ride_nodes], walk2.y[1:]])
        node = np.concatenate([walk1.node, ride_nodes, walk2.node[1:]])
        rel = np.concatenate([walk1.rel_t, ride_t, ride_t[-1] + walk2.rel_t[1:]])
        ride_len = float(np.hypot(np.diff(tn.node_x[ride_nodes]), np.diff(tn.node_y[ride_nodes])).sum())
        return _Geom(x, y, rel, node, walk1.dist + ride_len + walk2.dist), board, line.name

    # -- realisation --------------------------------------------------------------------------------
    def _mode(self, a: Agent, o: int, d: int, driving: bool) -> tuple[str, tuple[int, int, int] | None]:
        if driving:
            return "car", None
        crow = math.hypot(self.pxl[o] - self.pxl[d], self.pyl[o] - self.pyl[d])
        if crow < 700:
            return "walk", None
        if a.bike and crow < 3000:
            return "bike", None
        opt = self._transit_option(o, d) if a.transit else None
        if opt is not None and crow > 900:
            return "transit", opt
        if a.bike:
            return "bike", None
        return ("walk" if crow < 1800 else "bike"), None

    def realise(self, a: Agent, items: list[PlanItem], planner_known: dict[int, int], out: Activity) -> None:
        """Route the plan: departures never before ``MIN_DWELL_S`` after arrival; cut at the period's end."""
        clock = self.clock
        hh = self.pop.households[a.household]
        wall = np.array([it.leave for it in items])
        open_ = ~np.isfinite(wall)
        leave = np.where(open_, math.inf, clock.to_utc(np.where(open_, 0.0, wall)))
        t0, t_end = clock.t0, clock.t_end
        known = set(planner_known)
        seen_in_period: set[int] = set()
        place, act = items[0].place, items[0].activity
        seen_in_period.add(place)
        arrive = t0
        planned = float(leave[0])
        kx: list[F64] = [np.array([self.px[place]])]
        ky: list[F64] = [np.array([self.py[place]])]
        kt: list[F64] = [np.array([t0])]
        kn: list[I64] = [np.array([-1], dtype=np.int64)]
        n_knots = 1
        moving: list[tuple[float, float]] = []
        truncated_start = True
        for idx in range(1, len(items)):
            nxt, nact = items[idx].place, items[idx].activity
            dep = max(planned, arrive + MIN_DWELL_S)
            if dep >= t_end:
                break
            wall_day = int((clock.wall_of_scalar(dep) - 4 * HOUR) // DAY)
            driving = hh.car and 0 <= wall_day < len(hh.drivers) and hh.drivers[wall_day] == a.index
            mode, opt = self._mode(a, place, nxt, driving)
            line: str | None = None
            if mode == "transit" and opt is not None:
                g, _board, line = self._transit(place, nxt, opt, dep)
            else:
                g = self._geom(place, nxt, mode)
            end = dep + float(g.rel_t[-1])
            if end >= t_end:
                break
            out.stays.append(Stay(a.index, arrive, dep, place, act, truncated_start))
            truncated_start = False
            is_new = nxt not in known
            first = nxt not in seen_in_period
            known.add(nxt)
            seen_in_period.add(nxt)
            out.new_trips += is_new
            out.first_visit_trips += first
            kx.append(g.x)
            ky.append(g.y)
            kt.append(dep + g.rel_t)
            kn.append(g.node)
            out.trips.append(
                Trip(
                    a.index,
                    dep,
                    end,
                    place,
                    nxt,
                    mode,
                    g.dist,
                    is_new,
                    first,
                    line,
                    n_knots,
                    n_knots + len(g.x),
                )
            )
            n_knots += len(g.x)
            moving.append((dep, end))
            place, act, arrive, planned = nxt, nact, end, float(leave[idx])
        out.stays.append(Stay(a.index, arrive, t_end, place, act, truncated=True))  # cut at the end
        kx.append(np.array([self.px[place]]))
        ky.append(np.array([self.py[place]]))
        kt.append(np.array([t_end]))
        kn.append(np.array([-1], dtype=np.int64))
        out.trajectories.append(
            Trajectory(
                t=np.concatenate(kt),
                x=np.concatenate(kx),
                y=np.concatenate(ky),
                node=np.concatenate(kn),
                moving=np.asarray(moving, dtype=np.float64).reshape(-1, 2),
            )
        )


def car_trajectory(pop: Population, hh_index: int, act: Activity, clock: Clock, town: Town) -> Trajectory:
    """The family car follows its driver of the day (04:00 to 04:00 local) and is parked otherwise."""
    hh = pop.households[hh_index]
    px, py = np.asarray(town.places.x), np.asarray(town.places.y)
    days = len(hh.drivers)
    bounds = clock.to_utc(np.arange(days + 1, dtype=np.float64) * DAY + 4 * HOUR)
    bounds[0] = clock.t0
    bounds[-1] = clock.t_end
    ts: list[F64] = []
    xs: list[F64] = []
    ys: list[F64] = []
    moving: list[F64] = []
    for d in range(days):
        w0, w1 = float(bounds[d]), float(bounds[d + 1])
        drv = hh.drivers[d]
        if drv >= 0:
            tr = act.trajectories[drv]
            inside = (tr.t > w0) & (tr.t < w1)
            ts.append(np.concatenate([[w0], tr.t[inside], [w1]]))
            xs.append(
                np.concatenate([[np.interp(w0, tr.t, tr.x)], tr.x[inside], [np.interp(w1, tr.t, tr.x)]])
            )
            ys.append(
                np.concatenate([[np.interp(w0, tr.t, tr.y)], tr.y[inside], [np.interp(w1, tr.t, tr.y)]])
            )
            mv = tr.moving
            moving.append(mv[(mv[:, 0] >= w0) & (mv[:, 1] <= w1)])
        else:
            home = hh.home_at(d - 1) if d > 0 else hh.home
            ts.append(np.array([w0, w1]))
            xs.append(np.array([px[home], px[home]]))
            ys.append(np.array([py[home], py[home]]))
    t = np.concatenate(ts)
    return Trajectory(
        t=t,
        x=np.concatenate(xs),
        y=np.concatenate(ys),
        node=np.full(len(t), -1, dtype=np.int64),
        moving=np.concatenate(moving) if moving else np.zeros((0, 2)),
    )
