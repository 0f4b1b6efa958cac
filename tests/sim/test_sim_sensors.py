"""Sensor models measured on the generated fixes and scans against the truth."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from hereabouts.sim import PROFILES, Simulation, simulate

TZ = ZoneInfo("Europe/Amsterdam")
R = 6_371_008.8


def _dist_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    k = np.cos(np.radians(52.09))
    return np.hypot(np.radians(lat1 - lat2) * R, np.radians(lon1 - lon2) * R * k)


def _per_device(sim: Simulation) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    fx = sim.fixes
    dev = fx.column("device").to_numpy(zero_copy_only=False)
    t = fx.column("t").cast(pa.int64()).to_numpy()
    lat = fx.column("lat").to_numpy()
    lon = fx.column("lon").to_numpy()
    acc = fx.column("accuracy_m").to_numpy()
    outlier = sim.fix_truth.column("outlier").to_numpy(zero_copy_only=False)
    err_truth = sim.fix_truth.column("error_m").to_numpy()
    for d in np.unique(dev):
        m = dev == d
        tlat, tlon = sim.true_position(str(d), t[m])
        out[str(d)] = {
            "t": t[m],
            "err": _dist_m(lat[m], lon[m], tlat, tlon),
            "acc": acc[m],
            "outlier": outlier[m],
            "err_truth": err_truth[m],
        }
    return out


TARGET_MEDIAN_ACCURACY = {"gps": (5.0, 10.0), "wifi": (64.0, 86.0), "cell": (510.0, 690.0)}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_noise_matches_the_profile(profile: str) -> None:
    sim = simulate(agents=6, days=2, seed=31, profile=profile)
    prof = PROFILES[profile]
    devs = _per_device(sim)
    err = np.concatenate([d["err"] for d in devs.values()])
    acc = np.concatenate([d["acc"] for d in devs.values()])
    out = np.concatenate([d["outlier"] for d in devs.values()])
    truth = np.concatenate([d["err_truth"] for d in devs.values()])
    assert err.size > 50
    # the recorded error is the error measured here, to rounding of the coordinates
    assert np.allclose(err, truth, atol=0.1)
    good = ~out
    ratio = np.sqrt(np.mean(err[good] ** 2)) / np.sqrt(np.mean(acc[good] ** 2))
    assert 0.85 <= ratio <= 1.15, ratio
    lo, hi = TARGET_MEDIAN_ACCURACY[prof.provider]
    if prof.provider == "gps":
        lo, hi = prof.accuracy_m
    assert lo <= np.median(acc) <= hi
    # outliers are far off: hundreds of metres to kilometres
    if out.any():
        assert (err[out] >= 199).all() and (err[out] <= 3001).all()
    assert out.mean() <= 5 * prof.outlier_rate + 0.01


def test_outliers_happen_at_their_rate() -> None:
    sim = simulate(agents=20, days=7, seed=2, profile="wifi")
    out = sim.fix_truth.column("outlier").to_numpy(zero_copy_only=False)
    assert 0.005 <= out.mean() <= 0.02


def _intervals(sim: Simulation) -> dict[str, np.ndarray]:
    return {k: np.diff(v["t"]) / 1e6 for k, v in _per_device(sim).items()}


def test_sampling_rules() -> None:
    for profile, expect in (("gps-1min", 60), ("gps-15min", 900), ("wifi", 300), ("cell", 600)):
        sim = simulate(agents=3, days=2, seed=4, profile=profile)
        gaps = np.concatenate(list(_intervals(sim).values()))
        assert abs(np.median(gaps) - expect) < 3, profile
    # duty cycling: bursts of four fixes 15 s apart every 15 minutes, on 6.7 % of the time
    sim = simulate(agents=3, days=2, seed=4, profile="duty-cycled")
    gaps = np.concatenate(list(_intervals(sim).values()))
    short = gaps[gaps < 100]
    assert abs(np.median(short) - 15) < 2
    assert np.median(gaps[gaps >= 100]) == pytest.approx(900 - 45, abs=5)
    on_fraction = 60 / 900
    assert on_fraction <= 0.10
    # significant change: never more than 15 minutes apart (outside gaps), and more often when moving
    sim = simulate(agents=6, days=2, seed=4, profile="significant-change")
    iv = _intervals(sim)
    all_iv = np.concatenate(list(iv.values()))
    # the timer restarts with each fix: still stretches give exactly 15 minutes, movement shorter gaps
    assert np.median(all_iv) == pytest.approx(900, abs=0.01)
    assert (all_iv[all_iv < 899] > 0).sum() > 20
    gaps_by_device: dict[str, list[tuple[int, int]]] = {}
    for g in sim.true_device_gaps.to_pylist():
        gaps_by_device.setdefault(g["device"], []).append(
            (int(g["start"].timestamp() * 1e6), int(g["end"].timestamp() * 1e6))
        )
    per = _per_device(sim)
    for dev, d in per.items():
        t = d["t"]
        for a, b in itertools.pairwise(t):
            if b - a > 905e6:
                assert any(s <= a + 905e6 and e >= a for s, e in gaps_by_device.get(dev, [])), dev
    moving_share = []
    for dev, d in per.items():
        tr_rows = [r for r in sim.devices.to_pylist() if r["device"] == dev]
        agent = tr_rows[0]["agent"]
        trips = [r for r in sim.true_trips.to_pylist() if r["agent"] == agent]
        in_trip = np.zeros(d["t"].size, dtype=bool)
        for r in trips:
            in_trip |= (d["t"] >= r["start"].timestamp() * 1e6) & (d["t"] <= r["end"].timestamp() * 1e6)
        moving_time = sum((r["end"] - r["start"]).total_seconds() for r in trips)
        if moving_time > 1800:
            moving_share.append(in_trip.sum() / moving_time * 900)  # fixes per 15 minutes moving
    assert moving_share and np.median(moving_share) > 3


def test_no_fixes_inside_recorded_gaps(small_sim: Simulation) -> None:
    gaps = small_sim.true_device_gaps.to_pylist()
    assert {g["reason"] for g in gaps} >= {"gap"}
    fx = small_sim.fixes
    dev = fx.column("device").to_numpy(zero_copy_only=False)
    t = fx.column("t").cast(pa.int64()).to_numpy()
    for g in gaps:
        s, e = int(g["start"].timestamp() * 1e6), int(g["end"].timestamp() * 1e6)
        assert not ((dev == g["device"]) & (t >= s) & (t < e)).any()


def test_watches_are_off_the_wrist_at_night() -> None:
    sim = simulate(agents=40, days=2, seed=6, profile="gps-1min")
    watches = [d["device"] for d in sim.devices.to_pylist() if d["kind"] == "watch"]
    assert watches
    fx = sim.fixes.filter(pc.is_in(sim.fixes.column("device"), pa.array(watches)))
    hours = [t.astimezone(TZ).hour + t.astimezone(TZ).minute / 60 for t in fx.column("t").to_pylist()]
    assert hours and all(7.0 <= h < 22.5 for h in hours)


def test_gps_speed_and_course_follow_the_movement() -> None:
    sim = simulate(agents=6, days=2, seed=9, profile="gps-1min")
    spd = sim.fixes.column("speed_mps").to_numpy(zero_copy_only=False)
    crs = sim.fixes.column("course_deg").to_numpy(zero_copy_only=False)
    moving = spd > 0.5
    assert 0.01 < moving.mean() < 0.5
    assert np.isfinite(crs[moving]).all() and ((crs[moving] >= 0) & (crs[moving] < 360)).all()
    assert np.median(spd[~np.isnan(spd)]) == 0.0  # people mostly stay put


def test_wifi_scans_follow_log_distance_path_loss() -> None:
    sim = simulate(agents=20, days=2, seed=12, profile="wifi")
    scans = sim.scans
    assert scans.num_rows > 1000
    aps = {r["bssid"]: r for r in sim.true_access_points.to_pylist()}
    assert set(pc.unique(scans.column("ident")).to_pylist()) <= set(aps)
    assert set(scans.column("kind").to_pylist()) == {"wifi"}
    dev = scans.column("device").to_numpy(zero_copy_only=False)
    t = scans.column("t").cast(pa.int64()).to_numpy()
    ident = scans.column("ident").to_pylist()
    rssi = scans.column("rssi_dbm").to_numpy()
    dist = np.empty(len(ident))
    for d in np.unique(dev):
        m = np.nonzero(dev == d)[0]
        lat, lon = sim.true_position(str(d), t[m])
        alat = np.array([aps[ident[i]]["lat"] for i in m])
        alon = np.array([aps[ident[i]]["lon"] for i in m])
        dist[m] = _dist_m(lat, lon, alat, alon)
    assert rssi.min() >= -90 and rssi.max() <= -20
    bins = [0, 15, 30, 60, 120, 400]
    medians = [np.median(rssi[(dist >= a) & (dist < b)]) for a, b in itertools.pairwise(bins)]
    assert all(x > y for x, y in itertools.pairwise(medians)), medians
    rank = np.corrcoef(np.argsort(np.argsort(dist)), np.argsort(np.argsort(rssi)))[0, 1]
    assert rank < -0.6
    # the placement error recorded is the distance between the access point and its building
    pe = np.array([r["placement_error_m"] for r in aps.values()])
    d_b = _dist_m(
        np.array([r["lat"] for r in aps.values()]),
        np.array([r["lon"] for r in aps.values()]),
        np.array([r["building_lat"] for r in aps.values()]),
        np.array([r["building_lon"] for r in aps.values()]),
    )
    assert np.allclose(pe, d_b, atol=0.05) and 5 < np.median(pe) < 20


def test_fix_times_carry_the_local_offset(dst_sim: Simulation) -> None:
    t = dst_sim.fixes.column("t").to_pylist()[:5000]
    off = dst_sim.fixes.column("tz_offset_s").to_pylist()[:5000]
    assert {int(x.astimezone(TZ).utcoffset().total_seconds()) == o for x, o in zip(t, off, strict=True)} == {
        True
    }
    assert set(pc.unique(dst_sim.fixes.column("tz_offset_s")).to_pylist()) == {3600, 7200}
    assert datetime(2025, 3, 24, tzinfo=TZ) <= min(t)
