"""Sensor models: how devices sample their carrier's true trajectory, with noise, outliers and gaps.

Every profile is a sampling rule plus a noise model. ``accuracy_m`` is the reported horizontal accuracy
and is the RMS of the true error (each axis Normal with sigma = accuracy / sqrt 2), except for outliers,
which keep a normal-looking accuracy but are displaced by 200 m to 3 km.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray

from ._activity import DAY, HOUR, Trajectory
from ._geo import Clock
from ._town import Town

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    provider: str  # gps | wifi | cell
    accuracy_m: tuple[float, float]  # gps: uniform range; wifi/cell: (median, log-sd)
    outlier_rate: float
    interval_s: float = 0.0  # periodic sampling
    duty_period_s: float = 0.0  # duty cycling: on for duty_on_s every duty_period_s
    duty_on_s: float = 0.0
    min_move_m: float = 0.0  # significant change: a fix each min_move_m moved ...
    heartbeat_s: float = 0.0  # ... and one every heartbeat_s regardless
    moving_interval_s: float = 0.0  # tracker: while moving
    battery_death_per_day: float = 0.03
    gaps_per_day: float = 0.3
    scans: bool = False  # Wi-Fi scans recorded with each fix

    def describe(self) -> dict[str, object]:
        d = asdict(self)
        d["accuracy_m"] = list(self.accuracy_m)
        return d


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "gps-1min", "GPS fix every minute, 5-10 m accuracy", "gps", (5.0, 10.0), 0.002, interval_s=60
        ),
        Profile(
            "gps-5min-50m-gaps",
            "fix every 5 minutes, 40-60 m accuracy, about 30% of the time in recording gaps",
            "gps",
            (40.0, 60.0),
            0.002,
            interval_s=300,
            gaps_per_day=7.5,
        ),
        Profile(
            "gps-15min",
            "GPS fix every 15 minutes, 5-10 m accuracy",
            "gps",
            (5.0, 10.0),
            0.002,
            interval_s=900,
        ),
        Profile(
            "wifi",
            "Wi-Fi positioning every 5 minutes (about 75 m) with the Wi-Fi scan behind each fix",
            "wifi",
            (75.0, 0.25),
            0.01,
            interval_s=300,
            scans=True,
        ),
        Profile(
            "gps-wifi",
            "GPS fix every 2 minutes, 5-10 m accuracy, with a Wi-Fi scan at each fix",
            "gps",
            (5.0, 10.0),
            0.002,
            interval_s=120,
            scans=True,
        ),
        Profile(
            "cell",
            "cell-tower positioning every 10 minutes (about 600 m)",
            "cell",
            (600.0, 0.25),
            0.01,
            interval_s=600,
        ),
        Profile(
            "duty-cycled",
            "GPS on for 60 s every 15 minutes (6.7 % of the time), a fix every 15 s while on",
            "gps",
            (5.0, 10.0),
            0.003,
            duty_period_s=900,
            duty_on_s=60,
            interval_s=15,
            battery_death_per_day=0.01,
        ),
        Profile(
            "significant-change",
            "OwnTracks-style: a GPS fix after moving 100 m, else 15 minutes after the last fix",
            "gps",
            (5.0, 10.0),
            0.003,
            min_move_m=100,
            heartbeat_s=900,
            battery_death_per_day=0.015,
        ),
        Profile(
            "tracker",
            "vehicle tracker: a GPS fix every 30 s while moving, a heartbeat every hour",
            "gps",
            (4.0, 8.0),
            0.001,
            moving_interval_s=30,
            heartbeat_s=3600,
            battery_death_per_day=0.0,
            gaps_per_day=0.05,
        ),
    )
}

#: Profile weights per device kind for ``profile="mixed"``.
MIXED: dict[str, dict[str, float]] = {
    "phone": {
        "gps-1min": 0.12,
        "gps-15min": 0.2,
        "wifi": 0.1,
        "cell": 0.08,
        "duty-cycled": 0.2,
        "significant-change": 0.30,
    },
    "watch": {"gps-1min": 0.15, "duty-cycled": 0.5, "significant-change": 0.35},
    "car": {"tracker": 1.0},
}

RSSI_FLOOR_DBM = -90.0
PATH_LOSS_EXPONENT = 3.0
SHADOWING_DB = 4.0
SCAN_RADIUS_M = 160.0


def merge_intervals(intervals: list[tuple[float, float]]) -> tuple[F64, F64]:
    """Sorted, disjoint (starts, ends) covering the union of ``intervals``."""
    if not intervals:
        return np.zeros(0), np.zeros(0)
    iv = sorted(intervals)
    out = [list(iv[0])]
    for s, e in iv[1:]:
        if s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    arr = np.asarray(out, dtype=np.float64)
    return arr[:, 0], arr[:, 1]


def outside(t: F64, starts: F64, ends: F64) -> NDArray[np.bool_]:
    """Mask of the times ``t`` outside every interval [start, end) of a merged set."""
    if starts.size == 0:
        return np.ones(t.shape, dtype=np.bool_)
    i = np.searchsorted(starts, t, side="right") - 1
    inside = (i >= 0) & (t < ends[np.clip(i, 0, None)])
    return ~inside


def gaps(rng: np.random.Generator, prof: Profile, kind: str, clock: Clock) -> list[tuple[float, float, str]]:
    """Battery deaths, recording gaps, and (for watches) nights off the wrist, as UTC intervals."""
    days = clock.days
    out: list[tuple[float, float, str]] = []
    for d in range(days):
        if rng.random() < prof.battery_death_per_day:
            w0 = d * DAY + float(rng.uniform(17, 23)) * HOUR
            w1 = (d + 1) * DAY + float(rng.uniform(7, 8)) * HOUR
            a, b = clock.to_utc(np.array([w0, w1]))
            out.append((float(a), float(b), "battery"))
    if kind == "watch":
        for d in range(-1, days):
            a, b = clock.to_utc(np.array([max(d * DAY + 22.5 * HOUR, 0.0), (d + 1) * DAY + 7 * HOUR]))
            out.append((float(a), float(b), "not worn"))
    for _ in range(int(rng.poisson(prof.gaps_per_day * days))):
        s = float(rng.uniform(clock.t0, clock.t_end))
        dur = float(np.clip(rng.lognormal(math.log(2700), 0.8), 300, 36000))
        out.append((s, s + dur, "gap"))
    return out


def sample_times(rng: np.random.Generator, prof: Profile, tr: Trajectory, clock: Clock) -> F64:
    t0, t1 = clock.t0, clock.t_end
    parts: list[F64] = []
    if prof.duty_period_s:
        phase = float(rng.uniform(0, prof.duty_period_s))
        starts = np.arange(t0 + phase, t1, prof.duty_period_s)
        on = np.arange(0, prof.duty_on_s, prof.interval_s)
        parts.append((starts[:, None] + on[None, :]).ravel() + rng.uniform(-0.5, 0.5, starts.size * on.size))
    elif prof.interval_s:
        phase = float(rng.uniform(0, prof.interval_s))
        base = np.arange(t0 + phase, t1, prof.interval_s)
        parts.append(base + rng.uniform(-1.5, 1.5, base.size))
    if prof.min_move_m:
        # OwnTracks-style: a fix each time the carrier has moved min_move_m since the last one, and a
        # fix heartbeat_s after the last fix when it has not (the timer restarts with every fix).
        seg = np.hypot(np.diff(tr.x), np.diff(tr.y))
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        marks = np.arange(prof.min_move_m, cum[-1], prof.min_move_m)
        moves = np.zeros(0)
        if marks.size:
            # cum is flat during stays; each mark falls inside a segment where it strictly increases.
            j = np.searchsorted(cum, marks, side="left")
            j = np.clip(j, 1, len(cum) - 1)
            frac = (marks - cum[j - 1]) / np.maximum(cum[j] - cum[j - 1], 1e-9)
            moves = tr.t[j - 1] + frac * (tr.t[j] - tr.t[j - 1]) + rng.uniform(0, 2, marks.size)
        anchors = np.concatenate([[t0 + float(rng.uniform(0, prof.heartbeat_s))], np.sort(moves)])
        span = np.diff(np.concatenate([anchors, [t1]]))
        n_fill = np.maximum(np.ceil(span / prof.heartbeat_s) - 1, 0).astype(np.int64)
        first = np.repeat(np.cumsum(n_fill) - n_fill, n_fill)
        step = np.arange(int(n_fill.sum())) - first + 1
        parts.append(anchors)
        parts.append(np.repeat(anchors, n_fill) + step * prof.heartbeat_s)
    elif prof.heartbeat_s:
        phase = float(rng.uniform(0, prof.heartbeat_s))
        parts.append(np.arange(t0 + phase, t1, prof.heartbeat_s))
    if prof.moving_interval_s and tr.moving.size:
        for s, e in tr.moving:
            parts.append(
                np.arange(s + float(rng.uniform(0, prof.moving_interval_s)), e, prof.moving_interval_s)
            )
    t = np.concatenate(parts) if parts else np.zeros(0)
    t = t[(t >= t0) & (t < t1)]
    t = np.unique(np.round(t, 3))
    return t


@dataclass
class DeviceFixes:
    t: F64
    x: F64
    y: F64
    true_x: F64
    true_y: F64
    error: F64
    accuracy: F64
    speed: F64
    course: F64
    outlier: NDArray[np.bool_]


def observe(rng: np.random.Generator, prof: Profile, tr: Trajectory, t: F64) -> DeviceFixes:
    """Positions seen by a device with profile ``prof`` at times ``t`` on trajectory ``tr``."""
    n = t.size
    tx = np.interp(t, tr.t, tr.x)
    ty = np.interp(t, tr.t, tr.y)
    if prof.provider == "gps":
        acc = rng.uniform(prof.accuracy_m[0], prof.accuracy_m[1], n)
    else:
        acc = prof.accuracy_m[0] * np.exp(rng.normal(0, prof.accuracy_m[1], n))
    sigma = acc / math.sqrt(2)
    ex = rng.normal(0, 1, n) * sigma
    ey = rng.normal(0, 1, n) * sigma
    out = rng.random(n) < prof.outlier_rate
    k = int(out.sum())
    if k:
        dist = 10 ** rng.uniform(math.log10(200), math.log10(3000), k)
        ang = rng.uniform(0, 2 * math.pi, k)
        ex[out] = dist * np.cos(ang)
        ey[out] = dist * np.sin(ang)
    speed = np.full(n, np.nan)
    course = np.full(n, np.nan)
    if prof.provider == "gps" and n:
        i = np.clip(np.searchsorted(tr.t, t, side="right") - 1, 0, len(tr.t) - 2)
        dt = tr.t[i + 1] - tr.t[i]
        dx = tr.x[i + 1] - tr.x[i]
        dy = tr.y[i + 1] - tr.y[i]
        v = np.where(dt > 0, np.hypot(dx, dy) / np.maximum(dt, 1e-9), 0.0)
        speed = np.maximum(v + rng.normal(0, 0.3, n), 0.0)
        speed = np.where(v < 0.05, 0.0, speed)
        course = np.where(v >= 0.05, np.degrees(np.arctan2(dx, dy)) % 360.0, np.nan)
    return DeviceFixes(t, tx + ex, ty + ey, tx, ty, np.hypot(ex, ey), acc, speed, course, out)


class ApIndex:
    """Access points bucketed in a square grid for radius queries."""

    def __init__(self, town: Town) -> None:
        self.town = town
        self.cell = SCAN_RADIUS_M
        self.xmin = float(town.ap_x.min()) - 1
        self.ymin = float(town.ap_y.min()) - 1
        gx = ((town.ap_x - self.xmin) // self.cell).astype(np.int64)
        gy = ((town.ap_y - self.ymin) // self.cell).astype(np.int64)
        self.width = int(gy.max()) + 3
        key = (gx + 1) * self.width + (gy + 1)
        self.order = np.argsort(key, kind="stable")
        self.sorted_key = key[self.order]
        self.max_per_cell = int(np.bincount(key).max())

    def scan(self, rng: np.random.Generator, x: F64, y: F64) -> tuple[I64, I64, F64]:
        """(scan row, AP index, RSSI dBm) for every access point heard at positions (x, y)."""
        tn = self.town
        rows: list[I64] = []
        aps: list[I64] = []
        rssis: list[F64] = []
        chunk = 20000
        for c0 in range(0, x.size, chunk):
            cx, cy = x[c0 : c0 + chunk], y[c0 : c0 + chunk]
            gx = ((cx - self.xmin) // self.cell).astype(np.int64) + 1
            gy = ((cy - self.ymin) // self.cell).astype(np.int64) + 1
            for ox in (-1, 0, 1):
                for oy in (-1, 0, 1):
                    key = (gx + ox) * self.width + (gy + oy)
                    lo = np.searchsorted(self.sorted_key, key, side="left")
                    hi = np.searchsorted(self.sorted_key, key, side="right")
                    k = np.arange(self.max_per_cell)
                    pos = lo[:, None] + k[None, :]
                    valid = pos < hi[:, None]
                    r, kk = np.nonzero(valid)
                    ap = self.order[pos[r, kk]]
                    d = np.hypot(tn.ap_x[ap] - cx[r], tn.ap_y[ap] - cy[r])
                    rssi = (
                        tn.ap_tx_dbm[ap]
                        - 10 * PATH_LOSS_EXPONENT * np.log10(np.maximum(d, 1.0))
                        + rng.normal(0, SHADOWING_DB, ap.size)
                    )
                    keep = rssi >= RSSI_FLOOR_DBM
                    rows.append(r[keep] + c0)
                    aps.append(ap[keep])
                    rssis.append(np.round(rssi[keep]))
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        r = np.concatenate(rows)
        a = np.concatenate(aps)
        s = np.concatenate(rssis)
        o = np.lexsort((a, r))
        return r[o], a[o], s[o]
