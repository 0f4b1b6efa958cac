"""The population: households, roles (jobs), habits, ties between agents and the devices they carry."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._town import Town

ROLES = ("day_worker", "night_worker", "remote_worker", "no_work", "student")
#: Nights on which night workers start a shift (0 = Monday ... 6 = Sunday): Sunday to Thursday nights.
NIGHT_SHIFT_DOWS = (6, 0, 1, 2, 3)


@dataclass
class Agent:
    index: int
    id: str
    household: int
    role: str
    work: int = -1  # place index of work or school
    start_s: float = 8 * 3600.0  # habitual local time of leaving home for work/school
    hours_s: float = 8.5 * 3600.0
    gym: int = -1
    gym_dows: tuple[int, ...] = ()
    shop: int = -1  # usual supermarket
    cafe: int = -1  # usual café
    second_home: int = -1  # a weekday flat (Monday to Thursday nights) for people with two homes
    driver: bool = False
    bike: bool = False
    transit: bool = False
    friends: list[int] = field(default_factory=list)


@dataclass
class Household:
    index: int
    members: list[int]
    home: int
    move_day: int = -1  # the day (0-based) the household moves; it sleeps at new_home from that night
    new_home: int = -1
    car: bool = False
    drivers: list[int] = field(default_factory=list)  # driver of the family car per day, -1 = parked

    def home_at(self, day: int) -> int:
        return self.new_home if 0 <= self.move_day <= day else self.home


@dataclass
class Tie:
    a: int
    b: int
    kind: str  # household | friend | family
    meetings: int = 0


@dataclass
class Appointment:
    day: int
    start_s: float  # local seconds since midnight of ``day``
    end_s: float
    place: int
    kind: str  # "evening" | "afternoon" | "family"
    host_home: bool = False


@dataclass
class Device:
    id: str
    kind: str  # phone | watch | car
    agent: int  # -1 for a car
    household: int
    profile: str


@dataclass
class Population:
    agents: list[Agent]
    households: list[Household]
    ties: list[Tie]
    appointments: list[dict[int, Appointment]]
    devices: list[Device]


def household_count(agents: int) -> int:
    return max(1, round(agents / 2.2))


def _nearest_by_weight(
    rng: np.random.Generator, town: Town, candidates: np.ndarray, x: float, y: float, scale: float
) -> int:
    px = np.asarray(town.places.x)[candidates]
    py = np.asarray(town.places.y)[candidates]
    w = np.exp(-np.hypot(px - x, py - y) / scale) + 1e-12
    return int(candidates[int(rng.choice(len(candidates), p=w / w.sum()))])


def build_population(
    rng: np.random.Generator,
    town: Town,
    *,
    agents: int,
    days: int,
    start_dow: int,
    profile: str,
    mixed: dict[str, dict[str, float]],
) -> Population:
    pl = town.places
    homes = pl.of_kind("home")
    perm = rng.permutation(len(homes))
    free_homes = [int(homes[i]) for i in perm]
    work = [
        i
        for i, n in enumerate(pl.name)
        if pl.kind[i] == "work" and n not in ("hospital", "distribution depot")
    ]
    night_sites = [i for i, n in enumerate(pl.name) if n in ("hospital", "distribution depot")]
    other_jobs = pl.of_kind("shop", "school", "cafe", "gym")
    schools = pl.of_kind("school")
    shops = pl.of_kind("shop")
    cafes = pl.of_kind("cafe")
    gyms = pl.of_kind("gym")

    sizes: list[int] = []
    while sum(sizes) < agents:
        sizes.append(int(rng.choice([1, 2, 3, 4], p=[0.34, 0.34, 0.16, 0.16])))
    sizes[-1] -= sum(sizes) - agents
    if sizes[-1] <= 0:
        sizes.pop()
    while sum(sizes) < agents:  # the trim above can leave one short
        sizes.append(1)

    agent_list: list[Agent] = []
    households: list[Household] = []
    for h, size in enumerate(sizes):
        # when the random household sizes outrun the town's homes, households start sharing homes
        # (flats of one building) rather than failing
        home = free_homes.pop() if free_homes else int(homes[h % len(homes)])
        members = []
        for m in range(size):
            idx = len(agent_list)
            if m >= 2:
                role = "student"
            else:
                role = str(
                    rng.choice(
                        ["day_worker", "night_worker", "remote_worker", "no_work", "student"],
                        p=[0.55, 0.08, 0.13, 0.19, 0.05],
                    )
                )
            a = Agent(index=idx, id=f"agent-{idx + 1:04d}", household=h, role=role)
            hx, hy = pl.x[home], pl.y[home]
            if role == "day_worker":
                if rng.random() < 0.8:
                    a.work = int(work[int(rng.integers(len(work)))])
                else:
                    a.work = int(other_jobs[int(rng.integers(len(other_jobs)))])
                a.start_s = float(rng.uniform(7.0, 9.0) * 3600)
                a.hours_s = float(rng.uniform(8.0, 9.5) * 3600)
                if rng.random() < 0.05:
                    a.second_home = free_homes.pop() if free_homes else -1
            elif role == "night_worker":
                a.work = int(night_sites[int(rng.integers(len(night_sites)))])
                a.start_s = float(rng.uniform(21.0, 21.6) * 3600)
                a.hours_s = 8.25 * 3600
            elif role == "student":
                a.work = _nearest_by_weight(rng, town, schools, hx, hy, 800.0)
                a.start_s = float(rng.uniform(7.8, 8.2) * 3600)
                a.hours_s = float(rng.uniform(6.5, 7.5) * 3600)
            a.shop = _nearest_by_weight(rng, town, shops, hx, hy, 500.0)
            a.cafe = _nearest_by_weight(rng, town, cafes, hx, hy, 700.0)
            if rng.random() < 0.3:
                a.gym = _nearest_by_weight(rng, town, gyms, hx, hy, 1200.0)
                a.gym_dows = tuple(sorted(int(d) for d in rng.choice(5, size=2, replace=False)))
            adult = m < 2 and role != "student"
            a.driver = adult and role != "night_worker" and a.second_home < 0 and rng.random() < 0.85
            a.bike = rng.random() < 0.45
            a.transit = rng.random() < 0.6
            agent_list.append(a)
            members.append(idx)
        hh = Household(index=h, members=members, home=home)
        drivers = [i for i in members if agent_list[i].driver]
        hh.car = bool(drivers) and rng.random() < 0.6
        if rng.random() < 0.06 and days >= 4 and free_homes:
            hh.move_day = int(rng.integers(days // 4, max(days // 4 + 1, 3 * days // 4)))
            hh.new_home = free_homes.pop()
        if hh.car:
            hh.drivers = [
                int(drivers[int(rng.integers(len(drivers)))]) if rng.random() < 0.8 else -1
                for _ in range(days)
            ]
            if hh.move_day >= 0:
                hh.drivers[hh.move_day] = drivers[0]
        households.append(hh)

    # Ties: household members, friends anywhere in town, and family in another household.
    ties: list[Tie] = []
    seen: set[tuple[int, int]] = set()

    def tie(a: int, b: int, kind: str) -> None:
        key = (min(a, b), max(a, b))
        if a != b and key not in seen:
            seen.add(key)
            ties.append(Tie(key[0], key[1], kind))

    for hh in households:
        for i in range(len(hh.members)):
            for j in range(i + 1, len(hh.members)):
                tie(hh.members[i], hh.members[j], "household")
    n = len(agent_list)
    if n > 1:
        for a in agent_list:
            for _ in range(int(rng.integers(1, 3))):
                b = int(rng.integers(n))
                if agent_list[b].household != a.household:
                    tie(a.index, b, "friend")
        for hh in households:
            if rng.random() < 0.35 and len(households) > 1:
                other = households[int(rng.integers(len(households)))]
                if other.index != hh.index:
                    tie(hh.members[0], other.members[0], "family")

    # Appointments: friends meet at a café or park, family for Sunday lunch at the host's home.
    appts: list[dict[int, Appointment]] = [{} for _ in agent_list]
    venues = np.concatenate([cafes, pl.of_kind("park")])
    for t in ties:
        if t.kind == "household":
            continue
        ag_a, ag_b = agent_list[t.a], agent_list[t.b]
        for week in range(0, days, 7):
            if t.kind == "friend" and rng.random() < 0.45:
                day = week + int(rng.integers(7))
                if day >= days or day in appts[t.a] or day in appts[t.b]:
                    continue
                dow = (start_dow + day) % 7
                if dow >= 5:
                    kind, start = "afternoon", float(rng.uniform(14.0, 15.5) * 3600)
                    dur = float(rng.uniform(1.5, 2.5) * 3600)
                else:
                    if any(x.role == "night_worker" and dow in NIGHT_SHIFT_DOWS for x in (ag_a, ag_b)):
                        continue
                    kind, start = "evening", float(rng.uniform(19.0, 20.0) * 3600)
                    dur = float(rng.uniform(1.25, 2.0) * 3600)
                ha = pl.x[households[ag_a.household].home], pl.y[households[ag_a.household].home]
                hb = pl.x[households[ag_b.household].home], pl.y[households[ag_b.household].home]
                mx, my = (ha[0] + hb[0]) / 2, (ha[1] + hb[1]) / 2
                place = _nearest_by_weight(rng, town, venues, mx, my, 900.0)
                ap = Appointment(day, start, start + dur, place, kind)
                appts[t.a][day] = ap
                appts[t.b][day] = ap
                t.meetings += 1
            elif t.kind == "family" and rng.random() < 0.5:
                day = week + (6 - start_dow) % 7  # the Sunday of this week of the period
                if day >= days or day in appts[t.a] or day in appts[t.b]:
                    continue
                host = households[ag_a.household]
                start = float(rng.uniform(12.0, 13.0) * 3600)
                ap = Appointment(
                    day, start, start + float(rng.uniform(2.5, 3.5) * 3600), host.home_at(day), "family"
                )
                appts[t.a][day] = Appointment(ap.day, ap.start_s, ap.end_s, ap.place, ap.kind, host_home=True)
                appts[t.b][day] = ap
                t.meetings += 1

    # Devices: a phone each, a watch for some, a tracker in each family car.
    def pick(kind: str) -> str:
        if profile != "mixed":
            return profile
        weights = mixed[kind]
        names = sorted(weights)
        p = np.array([weights[k] for k in names], dtype=np.float64)
        return names[int(rng.choice(len(names), p=p / p.sum()))]

    used: set[str] = set()

    def dev_id() -> str:
        while True:
            d = f"dev-{int(rng.integers(0, 16**8)):08x}"
            if d not in used:
                used.add(d)
                return d

    devices: list[Device] = []
    for a in agent_list:
        devices.append(Device(dev_id(), "phone", a.index, a.household, pick("phone")))
        if rng.random() < 0.2:
            devices.append(Device(dev_id(), "watch", a.index, a.household, pick("watch")))
    for hh in households:
        if hh.car:
            devices.append(Device(dev_id(), "car", -1, hh.index, pick("car")))
    return Population(agent_list, households, ties, appts, devices)
