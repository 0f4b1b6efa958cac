"""Wi-Fi and cell positioning: learning access points, positioning scans, supplied tables, the store."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import hereabouts as hb
from hereabouts.analysis import wifi
from hereabouts.analysis._geo import enu_m, from_enu, haversine_m
from hereabouts.model import schemas
from hereabouts.model.errors import InputError

LAT0, LON0 = 52.09, 5.12
T0 = int(datetime(2025, 3, 3, 8, tzinfo=UTC).timestamp() * 1_000_000)
S = 1_000_000


def _latlon(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    return from_enu(np.asarray(x, float), np.asarray(y, float), LAT0, LON0)


def _bssid(i: int) -> str:
    return ":".join(f"{b:02x}" for b in (2, 0, 0, 0, i // 256, i % 256))


def _rssi(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.round(-35.0 - 30.0 * np.log10(np.maximum(d, 1.0)) + rng.normal(0, 3, d.size))


def _walk(
    rng: np.random.Generator, n: int, *, step_m: float = 8.0, box_m: float = 400.0
) -> tuple[np.ndarray, np.ndarray]:
    """A random walk that stays inside a square of ``box_m`` around the origin."""
    x = np.zeros(n)
    y = np.zeros(n)
    for i in range(1, n):
        a = rng.uniform(0, 2 * math.pi)
        x[i] = np.clip(x[i - 1] + step_m * math.cos(a), -box_m / 2, box_m / 2)
        y[i] = np.clip(y[i - 1] + step_m * math.sin(a), -box_m / 2, box_m / 2)
    return x, y


def _survey(
    ap_x: np.ndarray,
    ap_y: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    device: str = "phone",
    hear_m: float = 90.0,
    gps_noise_m: float = 4.0,
    with_fixes: bool = True,
    t0: int = T0,
    interval_s: int = 10,
) -> tuple[pa.Table, pa.Table]:
    """GPS fixes (accuracy 5 m) and scans at the positions (x, y), every ``interval_s`` seconds."""
    n = x.size
    t = t0 + np.arange(n, dtype=np.int64) * interval_s * S
    lat, lon = _latlon(x + rng.normal(0, gps_noise_m, n), y + rng.normal(0, gps_noise_m, n))
    fixes = schemas.validate(
        pa.table(
            {
                "device": pa.array([device] * n),
                "t": pa.array(t, pa.int64()).cast(schemas.UTC_US),
                "lat": pa.array(lat),
                "lon": pa.array(lon),
                "accuracy_m": pa.array(np.full(n, 5.0)),
                "provider": pa.array(["gps"] * n),
            }
        ),
        "fix",
    )
    d = np.hypot(ap_x[None, :] - x[:, None], ap_y[None, :] - y[:, None])
    r, a = np.nonzero(d <= hear_m)
    scans = schemas.validate(
        pa.table(
            {
                "device": pa.array([device] * r.size),
                "t": pa.array(t[r], pa.int64()).cast(schemas.UTC_US),
                "kind": pa.array(["wifi"] * r.size),
                "ident": pa.array([_bssid(int(i)) for i in a]),
                "rssi_dbm": pa.array(_rssi(d[r, a], rng)),
            }
        ),
        "scan",
    )
    return (fixes if with_fixes else schemas.FIX.empty_table()), scans


def _ap_error(table: pa.Table, ap_x: np.ndarray, ap_y: np.ndarray) -> np.ndarray:
    idx = [
        int(b.split(":")[4], 16) * 256 + int(b.split(":")[5], 16) for b in table.column("ident").to_pylist()
    ]
    tlat, tlon = _latlon(ap_x[idx], ap_y[idx])
    return haversine_m(table.column("lat").to_numpy(), table.column("lon").to_numpy(), tlat, tlon)


@pytest.fixture(scope="module")
def town() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    ap_x = rng.uniform(-150, 150, 25)
    ap_y = rng.uniform(-150, 150, 25)
    x = rng.uniform(-250, 250, 3000)  # a survey of the whole square around the access points
    y = rng.uniform(-250, 250, 3000)
    fixes, scans = _survey(ap_x, ap_y, x, y, rng=rng)
    return {"ap_x": ap_x, "ap_y": ap_y, "fixes": fixes, "scans": scans, "rng": rng}


# ----------------------------------------------------------------------------------------- learning
def test_learning_recovers_known_access_points(town: dict[str, Any]) -> None:
    table = wifi.learn_access_points(town["fixes"], town["scans"])
    assert table.schema.equals(wifi.AP_TABLE, check_metadata=False)
    assert table.num_rows == 25
    err = _ap_error(table, town["ap_x"], town["ap_y"])
    assert np.median(err) < 6.0, np.median(err)
    assert err.max() < 20.0, err.max()
    # heard up to 90 m away: the coverage radius says so
    radius = table.column("radius_m").to_numpy()
    assert np.median(radius) == pytest.approx(80, abs=15)
    assert (table.column("n_positions").to_numpy() >= 3).all()
    assert (table.column("origin").to_numpy(zero_copy_only=False) == "learned").all()


def test_gps_outliers_are_trimmed(town: dict[str, Any]) -> None:
    fixes = town["fixes"]
    n = fixes.num_rows
    bad = np.zeros(n, dtype=bool)
    bad[::10] = True  # every tenth fix 1.5 km away, still claiming 5 m accuracy
    lat = fixes.column("lat").to_numpy() + np.where(bad, 0.0135, 0.0)
    moved = fixes.set_column(fixes.schema.get_field_index("lat"), "lat", pa.array(lat))
    table = wifi.learn_access_points(moved, town["scans"])
    err = _ap_error(table, town["ap_x"], town["ap_y"])
    assert np.median(err) < 7.0 and err.max() < 25.0
    # without trimming, loud observations from the outliers drag access points 1.5 km away
    plain = wifi.learn_access_points(moved, town["scans"], trim_factor=1e9, min_kept_share=0.0)
    assert _ap_error(plain, town["ap_x"], town["ap_y"]).max() > 500.0


def test_an_access_point_heard_from_one_spot_stays_uncertain() -> None:
    rng = np.random.default_rng(3)
    x = np.full(40, 7.0)  # standing still for 40 scans
    fixes, scans = _survey(np.array([30.0]), np.array([0.0]), x, x.copy(), rng=rng, gps_noise_m=1.0)
    table = wifi.learn_access_points(fixes, scans)
    row = table.to_pylist()[0]
    assert row["n_positions"] == 1 and row["n_obs"] == 40
    assert row["uncertainty_m"] >= row["radius_m"] >= 10.0
    spread = wifi.learn_access_points(fixes, scans, min_positions=1).to_pylist()[0]
    assert spread["uncertainty_m"] <= row["uncertainty_m"]
    assert row["uncertainty_m"] >= wifi.AP_OFFSET_M["wifi"]


def test_an_access_point_heard_from_one_spot_positions_no_scan_elsewhere() -> None:
    """An access point heard only by someone standing 60 m from it is learned where they stood: a
    scan beside the access point that hears nothing else known is not positioned there (it would be
    60 m off with a claimed accuracy of about 30 m), unless asked for with ``min_ap_positions=1``;
    beside an access point learned from many positions, it is ignored."""
    rng = np.random.default_rng(5)
    ap_x, ap_y = np.array([60.0, -200.0]), np.array([0.0, 0.0])
    still = np.zeros(40)  # one spot, 60 m from the first access point, far from the second
    f1, s1 = _survey(ap_x, ap_y, still, still.copy(), rng=rng, gps_noise_m=1.0)
    wx, wy = _walk(rng, 800, box_m=120)  # a walk around the second
    f2, s2 = _survey(ap_x, ap_y, wx - 200.0, wy, rng=rng, t0=T0 + 3600 * S)
    table = wifi.learn_access_points(pa.concat_tables([f1, f2]), pa.concat_tables([s1, s2]))
    rows = {r["ident"]: r for r in table.to_pylist()}
    one, many = rows[_bssid(0)], rows[_bssid(1)]
    assert one["n_positions"] == 1 and many["n_positions"] >= 3
    beside = _scan([(0, "wifi", _bssid(0), -40.0)])
    assert wifi.position_scans(beside, table).num_rows == 0
    forced = wifi.position_scans(beside, table, min_ap_positions=1).to_pylist()[0]
    x, _ = enu_m(np.array([forced["lat"]]), np.array([forced["lon"]]), LAT0, LON0)
    assert abs(x[0]) < 10.0  # where it was heard, 60 m from where it is
    # heard with a well-learned one: the position is the well-learned one's alone
    both = _scan([(0, "wifi", _bssid(0), -80.0), (0, "wifi", _bssid(1), -80.0)])
    alone = _scan([(0, "wifi", _bssid(1), -80.0)])
    a = wifi.position_scans(both, table).to_pylist()[0]
    b = wifi.position_scans(alone, table).to_pylist()[0]
    assert (a["lat"], a["lon"]) == pytest.approx((b["lat"], b["lon"]))
    # a supplied table says nothing of positions: every access point of it is used
    supplied = table.drop_columns(["n_positions"])
    assert wifi.position_scans(beside, supplied).num_rows == 1
    with pytest.raises(InputError, match="min_ap_positions"):
        wifi.position_scans(beside, table, min_ap_positions=0)


def test_a_moving_hotspot_is_dropped() -> None:
    rng = np.random.default_rng(4)
    x = np.linspace(0, 2000, 200)  # a 2 km walk; the hotspot walks along (heard at every scan)
    fixes, _ = _survey(np.array([0.0]), np.array([0.0]), x, np.zeros(200), rng=rng)
    t = fixes.column("t")
    scans = schemas.validate(
        pa.table(
            {
                "device": pa.array(["phone"] * 200),
                "t": t,
                "kind": pa.array(["wifi"] * 200),
                "ident": pa.array(["aa:bb:cc:00:00:01"] * 200),
                "rssi_dbm": pa.array(np.full(200, -40.0)),
            }
        ),
        "scan",
    )
    assert wifi.learn_access_points(fixes, scans).num_rows == 0


def test_only_good_gps_fixes_close_in_time_teach(town: dict[str, Any]) -> None:
    fixes = town["fixes"]
    as_wifi = fixes.set_column(
        fixes.schema.get_field_index("provider"), "provider", pa.array(["wifi"] * fixes.num_rows)
    )
    assert wifi.learn_access_points(as_wifi, town["scans"]).num_rows == 0
    coarse = fixes.set_column(
        fixes.schema.get_field_index("accuracy_m"), "accuracy_m", pa.array(np.full(fixes.num_rows, 80.0))
    )
    assert wifi.learn_access_points(coarse, town["scans"]).num_rows == 0
    assert wifi.learn_access_points(coarse, town["scans"], max_fix_accuracy_m=100).num_rows == 25
    # fixes a day away from every scan pair with nothing
    late = fixes.set_column(
        1, "t", pa.array(fixes.column("t").cast(pa.int64()).to_numpy() + 86400 * S).cast(schemas.UTC_US)
    )
    assert wifi.learn_access_points(late, town["scans"], max_dt_s=30).num_rows == 0
    # another device's fixes are not this device's
    other = fixes.set_column(0, "device", pa.array(["watch"] * fixes.num_rows))
    assert wifi.learn_access_points(other, town["scans"]).num_rows == 0


def test_a_scan_between_two_fixes_is_placed_between_them() -> None:
    # fixes at x=0 (t=0) and x=100 m (t=20 s); an access point heard only at t=5 s, x should be 25 m
    lat, lon = _latlon([0.0, 100.0], [0.0, 0.0])
    fixes = schemas.validate(
        pa.table(
            {
                "device": ["d", "d"],
                "t": pa.array([T0, T0 + 20 * S], pa.int64()).cast(schemas.UTC_US),
                "lat": lat,
                "lon": lon,
                "accuracy_m": [4.0, 4.0],
                "provider": ["gps", "gps"],
            }
        ),
        "fix",
    )
    scans = schemas.validate(
        pa.table(
            {
                "device": ["d"],
                "t": pa.array([T0 + 5 * S], pa.int64()).cast(schemas.UTC_US),
                "kind": ["wifi"],
                "ident": ["aa:bb:cc:dd:ee:01"],
                "rssi_dbm": [-60.0],
            }
        ),
        "scan",
    )
    row = wifi.learn_access_points(fixes, scans, min_positions=1).to_pylist()[0]
    x, y = enu_m(np.array([row["lat"]]), np.array([row["lon"]]), LAT0, LON0)
    assert x[0] == pytest.approx(25.0, abs=0.01) and abs(y[0]) < 0.01


# ----------------------------------------------------------------------------------------- positioning
def test_positioning_error_is_bounded(town: dict[str, Any]) -> None:
    table = wifi.learn_access_points(town["fixes"], town["scans"])
    rng = np.random.default_rng(11)
    x, y = _walk(rng, 600, box_m=300)
    _, scans = _survey(town["ap_x"], town["ap_y"], x, y, rng=rng, device="other", with_fixes=False)
    fixes = wifi.position_scans(scans, table)
    assert fixes.schema.equals(schemas.FIX, check_metadata=False)
    assert set(fixes.column("provider").to_pylist()) == {"wifi"}
    assert set(fixes.column("device").to_pylist()) == {"other"}
    t_pos = (fixes.column("t").cast(pa.int64()).to_numpy() - T0) // (10 * S)
    tlat, tlon = _latlon(x[t_pos], y[t_pos])
    err = haversine_m(fixes.column("lat").to_numpy(), fixes.column("lon").to_numpy(), tlat, tlon)
    heard = len(set(scans.column("t").cast(pa.int64()).to_pylist()))
    assert fixes.num_rows == heard
    assert np.median(err) < 35.0 and np.quantile(err, 0.9) < 60.0, (np.median(err), np.quantile(err, 0.9))
    acc = fixes.column("accuracy_m").to_numpy()
    assert (acc > 0).all()
    assert np.mean(err <= acc) > 0.6  # the accuracy is an honest bound most of the time


def _scan(
    rows: list[tuple[int, str, str, float | None]], device: str = "d", source_id: int | None = 9
) -> pa.Table:
    return schemas.validate(
        pa.table(
            {
                "device": [device] * len(rows),
                "t": pa.array([T0 + r[0] * S for r in rows], pa.int64()).cast(schemas.UTC_US),
                "kind": [r[1] for r in rows],
                "ident": [r[2] for r in rows],
                "rssi_dbm": pa.array([r[3] for r in rows], pa.float64()),
                "source_id": pa.array([source_id] * len(rows), pa.int64()),
            }
        ),
        "scan",
    )


def _aps(rows: list[tuple[str, str, float, float, float, float]]) -> pa.Table:
    lat, lon = _latlon([r[2] for r in rows], [r[3] for r in rows])
    return wifi.validate_ap_table(
        pa.table(
            {
                "kind": [r[0] for r in rows],
                "ident": [r[1] for r in rows],
                "lat": lat,
                "lon": lon,
                "radius_m": [r[4] for r in rows],
                "uncertainty_m": [r[5] for r in rows],
            }
        )
    )


def test_weighted_centre_wifi_before_cell_and_disagreeing_aps_dropped() -> None:
    aps = _aps(
        [
            ("wifi", "aa:00:00:00:00:01", 0.0, 0.0, 50.0, 5.0),
            ("wifi", "aa:00:00:00:00:02", 40.0, 0.0, 50.0, 5.0),
            ("wifi", "aa:00:00:00:00:03", 3000.0, 0.0, 50.0, 5.0),  # moved across town since
            ("cell", "204,8,100,7", 900.0, 900.0, 2000.0, 400.0),
        ]
    )
    scans = _scan(
        [
            (0, "wifi", "aa:00:00:00:00:01", -60.0),
            (0, "wifi", "aa:00:00:00:00:02", -60.0),
            (0, "wifi", "aa:00:00:00:00:03", -60.0),
            (0, "cell", "204,8,100,7", -70.0),
            (0, "wifi", "ff:00:00:00:00:09", -40.0),  # unknown: ignored
            (60, "cell", "204,8,100,7", -70.0),  # cell only
            (120, "wifi", "ff:00:00:00:00:09", -40.0),  # nothing known: not positioned
        ]
    )
    fixes = wifi.position_scans(scans, aps).to_pylist()
    assert len(fixes) == 2
    first, second = fixes
    x, y = enu_m(np.array([first["lat"]]), np.array([first["lon"]]), LAT0, LON0)
    assert x[0] == pytest.approx(20.0, abs=0.5) and abs(y[0]) < 0.5  # equal weights: the midpoint
    assert first["provider"] == "wifi" and first["source_id"] == 9
    assert 5.0 < first["accuracy_m"] < 60.0
    assert second["provider"] == "cell" and second["accuracy_m"] > 400.0
    x, y = enu_m(np.array([second["lat"]]), np.array([second["lon"]]), LAT0, LON0)
    assert (x[0], y[0]) == (pytest.approx(900.0, abs=1), pytest.approx(900.0, abs=1))
    # a stronger signal pulls the position towards its access point
    strong = wifi.position_scans(
        _scan([(0, "wifi", "aa:00:00:00:00:01", -45.0), (0, "wifi", "aa:00:00:00:00:02", -80.0)]), aps
    ).to_pylist()[0]
    x, _ = enu_m(np.array([strong["lat"]]), np.array([strong["lon"]]), LAT0, LON0)
    assert x[0] < 5.0
    assert wifi.position_scans(scans, aps, min_aps=3).num_rows == 0
    # heard far weaker than at its strongest, an access point may be far away: a larger accuracy
    loud = aps.set_column(aps.schema.get_field_index("rssi_max_dbm"), "rssi_max_dbm", pa.array([-40.0] * 4))
    near = wifi.position_scans(_scan([(0, "wifi", "aa:00:00:00:00:01", -42.0)]), loud).to_pylist()[0]
    weak = wifi.position_scans(_scan([(0, "wifi", "aa:00:00:00:00:01", -88.0)]), loud).to_pylist()[0]
    assert near["accuracy_m"] < 60.0 < 150.0 < weak["accuracy_m"]


# ----------------------------------------------------------------------------------------- kernels
@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.floats(-1e4, 1e4, allow_nan=False), st.floats(0.01, 100.0)),
        min_size=1,
        max_size=60,
    )
)
def test_weighted_median_matches_a_plain_reference(rows: list[tuple[int, float, float]]) -> None:
    codes = np.asarray([r[0] for r in rows], np.int64)
    values = np.asarray([r[1] for r in rows], np.float64)
    weights = np.asarray([r[2] for r in rows], np.float64)
    got = wifi._weighted_median(codes, values, weights, 5)
    for g in range(5):
        m = codes == g
        if not m.any():
            assert math.isnan(got[g])
            continue
        # reference: the smallest value whose cumulative weight (values in order) reaches half
        pairs = sorted(zip(values[m].tolist(), weights[m].tolist(), strict=True))
        total = sum(w for _, w in pairs)
        acc = 0.0
        for v, w in pairs:
            acc += w
            if acc >= total / 2 * (1 - 1e-12):
                ref = v
                break
        # ties of equal values may sort either way; the value is what counts
        below = sum(w for v, w in pairs if v < got[g])
        upto = sum(w for v, w in pairs if v <= got[g])
        assert below <= total / 2 * (1 + 1e-9) and upto >= total / 2 * (1 - 1e-9), (got[g], ref)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 600)), min_size=1, max_size=30),
    st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 600)), max_size=30),
    st.integers(0, 120),
)
def test_scans_without_fix_matches_a_plain_reference(
    scan_rows: list[tuple[str, int]], fix_rows: list[tuple[str, int]], window_s: int
) -> None:
    scans = _scan([(t, "wifi", "aa:00:00:00:00:01", -50.0) for _, t in scan_rows])
    scans = scans.set_column(0, "device", pa.array([d for d, _ in scan_rows]))
    fixes = schemas.validate(
        pa.table(
            {
                "device": pa.array([d for d, _ in fix_rows], pa.string()),
                "t": pa.array([T0 + t * S for _, t in fix_rows], pa.int64()).cast(schemas.UTC_US),
                "lat": pa.array([LAT0] * len(fix_rows), pa.float64()),
                "lon": pa.array([LON0] * len(fix_rows), pa.float64()),
            }
        ),
        "fix",
    )
    got = wifi.scans_without_fix(scans, fixes, window_s=window_s)
    want = [
        (d, t) for d, t in scan_rows if not any(fd == d and abs(ft - t) <= window_s for fd, ft in fix_rows)
    ]
    got_rows = list(
        zip(
            got.column("device").to_pylist(),
            ((x - T0) // S for x in got.column("t").cast(pa.int64()).to_pylist()),
            strict=True,
        )
    )
    assert got_rows == want


# ----------------------------------------------------------------------------------------- supplied tables
def test_reading_a_supplied_table(tmp_path: Path) -> None:
    p = tmp_path / "aps.csv"
    p.write_text(
        "BSSID,lat,lon,radius_m\n"
        "00-1C-B3-09-85-15,52.1,5.1,45\n"
        "001cb3098516,52.2,5.2,\n"
        "\n"
        '"aa:bb:cc:dd:ee:ff",-33.9,151.2,30\n'
    )
    table = wifi.read_ap_table(p)
    rows = table.to_pylist()
    assert [r["ident"] for r in rows] == ["00:1c:b3:09:85:15", "00:1c:b3:09:85:16", "aa:bb:cc:dd:ee:ff"]
    assert [r["radius_m"] for r in rows] == [45.0, wifi.DEFAULT_RADIUS_M["wifi"], 30.0]
    assert {r["kind"] for r in rows} == {"wifi"} and {r["origin"] for r in rows} == {"supplied"}
    semi = tmp_path / "semi.csv"
    semi.write_text("kind;ident;lat;lon\ncell;204,8,100,7;52.1;5.1\n")
    cell = wifi.read_ap_table(semi).to_pylist()[0]
    assert (cell["kind"], cell["ident"], cell["radius_m"]) == ("cell", "204,8,100,7", 2000.0)
    pq.write_table(table, tmp_path / "aps.parquet")
    assert (
        wifi.read_ap_table(tmp_path / "aps.parquet").column("ident").to_pylist()
        == table.column("ident").to_pylist()
    )


def test_bad_rows_of_a_supplied_table_are_named(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(
        "bssid,lat,lon,radius_m\n"
        "00:1c:b3:09:85:15,52.1,5.1,45\n"
        "00:1c:b3:09:85:16,95.2,5.1,45\n"
        "00:1c:b3:09:85:17,52.1,,45\n"
        "not-a-mac,52.1,5.1,45\n"
        "00:1c:b3:09:85:18,52.1,5.1,-3\n"
        "00:1C:B3:09:85:15,52.1,5.1,45\n"
    )
    with pytest.raises(InputError) as exc:
        wifi.read_ap_table(p)
    msg = str(exc.value)
    assert "bad.csv" in msg and "5 bad access-point rows" in msg
    assert "line 3: field 'lat' is '95.2'" in msg
    assert "line 4: field 'lon' is empty" in msg
    assert "line 5: field 'bssid' is 'not-a-mac'" in msg
    assert "line 6: field 'radius_m' is '-3'" in msg
    assert "line 7: wifi 00:1c:b3:09:85:15 is given twice (first on line 2)" in msg
    missing = tmp_path / "missing.csv"
    missing.write_text("mac_address,latitude,lon\n00:1c:b3:09:85:15,52.1,5.1\n")
    with pytest.raises(InputError, match="no column bssid, lat"):
        wifi.read_ap_table(missing)
    pq.write_table(
        pa.table({"bssid": ["00:1c:b3:09:85:15", "x"], "lat": [1.0, 2.0], "lon": [3.0, 4.0]}),
        tmp_path / "b.parquet",
    )
    with pytest.raises(InputError, match="row 2: field 'bssid' is 'x'"):
        wifi.read_ap_table(tmp_path / "b.parquet")
    with pytest.raises(InputError, match="no such file"):
        wifi.read_ap_table(tmp_path / "absent.csv")
    # a table given to the Python API is checked too
    with pytest.raises(InputError, match=r"row 2 has lat nan"):
        wifi.validate_ap_table(pa.table({"ident": ["a", "b"], "lat": [1.0, None], "lon": [2.0, 3.0]}))
    with pytest.raises(InputError, match="lacks the columns lon"):
        wifi.position_scans(
            _scan([(0, "wifi", "aa:00:00:00:00:01", -50.0)]), pa.table({"ident": ["a"], "lat": [1.0]})
        )


# ----------------------------------------------------------------------------------------- the store
def _stay_scans(
    aps_xy: list[tuple[float, float]], visits: list[tuple[int, int, float, float]], rng: np.random.Generator
) -> pa.Table:
    """Scans every minute of visits (start minute, end minute, x, y) hearing the nearby access points."""
    parts = []
    ax = np.array([a[0] for a in aps_xy])
    ay = np.array([a[1] for a in aps_xy])
    for m0, m1, x, y in visits:
        n = m1 - m0
        _, scans = _survey(
            ax,
            ay,
            np.full(n, x),
            np.full(n, y),
            rng=rng,
            with_fixes=False,
            t0=T0 + m0 * 60 * S,
            interval_s=60,
        )
        parts.append(scans)
    return pa.concat_tables(parts)


def test_positioned_scans_alone_make_stays_and_positioning_is_atomic(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    aps_xy = [(0.0, 0.0), (30.0, 10.0), (-20.0, 25.0), (1500.0, 0.0), (1530.0, 20.0)]
    scans = _stay_scans(aps_xy, [(0, 120, 5.0, 5.0), (150, 300, 1510.0, 5.0)], rng)
    ap_lat, ap_lon = _latlon([a[0] for a in aps_xy], [a[1] for a in aps_xy])
    ap_file = tmp_path / "aps.csv"
    ap_file.write_text(
        "bssid,lat,lon,radius_m\n"
        + "".join(
            f"{_bssid(i)},{la},{lo},60\n" for i, (la, lo) in enumerate(zip(ap_lat, ap_lon, strict=True))
        )
    )
    db = hb.open(tmp_path / "h.db")
    assert wifi.store_scans(db, scans, origin="scan log", entity="me") == scans.num_rows
    assert db.fixes("me").num_rows == 0 and db.stays("me").num_rows == 0

    # a failure before the commit leaves nothing behind: no fixes, no source
    from hereabouts.store import duckdb_store

    def boom(self: Any, counts: Any, kind: str) -> None:
        raise RuntimeError("disk full")

    original = duckdb_store._Import.finish
    duckdb_store._Import.finish = boom  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            db.position_scans("me", ap_table=ap_file)
    finally:
        duckdb_store._Import.finish = original  # type: ignore[method-assign]
    assert db.fixes("me").num_rows == 0 and db.sources().num_rows == 1

    result = db.position_scans("me", ap_table=ap_file)
    assert (result.n_scans, result.n_with_fix, result.n_positioned, result.n_added) == (270, 0, 270, 270)
    assert result.source_id == 2 and result.ap_origin == str(ap_file.resolve())
    fixes = db.fixes("me")
    assert fixes.num_rows == 270 and set(fixes.column("provider").to_pylist()) == {"wifi"}
    assert db.sources().to_pylist()[-1]["kind"] == "wifi_positioning"
    stays = db.stays("me", include_last=True).to_pylist()
    assert len(stays) == 2
    for s, (x, y) in zip(stays, [(5.0, 5.0), (1510.0, 5.0)], strict=True):
        tlat, tlon = _latlon([x], [y])
        assert haversine_m(s["lat"], s["lon"], tlat[0], tlon[0]) < 25.0
    assert stays[0]["start"] == datetime.fromtimestamp(T0 / S, UTC)
    # positioning again adds nothing: every scan has its fix now
    again = db.position_scans("me", ap_table=ap_file)
    assert (again.n_with_fix, again.n_added, again.source_id) == (270, 0, None)
    assert db.fixes("me").num_rows == 270 and db.sources().num_rows == 2
    db.close()


def test_learned_from_gps_days_then_positioning_the_days_without(
    tmp_path: Path, town: dict[str, Any]
) -> None:
    db = hb.open(":memory:")
    fixes, scans = town["fixes"], town["scans"]
    t = fixes.column("t").cast(pa.int64()).to_numpy()
    first_half = t < np.median(t)
    pq.write_table(fixes.filter(pa.array(first_half)), tmp_path / "gps.parquet")
    db.import_(tmp_path / "gps.parquet", entity="me", device="phone")
    wifi.store_scans(db, scans, origin="scans", entity="me")
    aps = db.access_points("me")
    assert aps.num_rows == 25
    dry = db.position_scans("me", write=False)
    assert dry.n_positioned > 900 and dry.source_id is None and db.fixes("me").num_rows == first_half.sum()
    result = db.position_scans("me")
    assert result.n_added == dry.n_positioned
    got = db.fixes("me").filter(pa.compute.equal(db.fixes("me").column("provider"), "wifi"))
    k = (got.column("t").cast(pa.int64()).to_numpy() - T0) // (10 * S)
    # the walk of the town fixture, from its fixes (4 m GPS noise): positions within tens of metres
    lat_true = fixes.column("lat").to_numpy()[k]
    lon_true = fixes.column("lon").to_numpy()[k]
    err = haversine_m(got.column("lat").to_numpy(), got.column("lon").to_numpy(), lat_true, lon_true)
    assert np.median(err) < 35.0
    with pytest.raises(hb.HereaboutsError, match="no entity named 'nobody'"):
        db.position_scans("nobody")
    db.close()


def test_cli_learn_and_position(tmp_path: Path, town: dict[str, Any]) -> None:
    from hereabouts.cli import app

    dbp = tmp_path / "c.db"
    db = hb.open(dbp)
    fixes, scans = town["fixes"], town["scans"]
    t = fixes.column("t").cast(pa.int64()).to_numpy()
    pq.write_table(fixes.filter(pa.array(t < np.median(t))), tmp_path / "gps.parquet")
    db.import_(tmp_path / "gps.parquet", entity="me", device="phone")
    wifi.store_scans(db, scans, origin="scans", entity="me")
    db.close()
    runner = CliRunner()
    r = runner.invoke(
        app, ["--db", str(dbp), "wifi", "learn", "--entity", "me", "--json", "--out", str(tmp_path / "a.csv")]
    )
    assert r.exit_code == 0, r.output
    learned = json.loads(r.output)
    assert len(learned) == 25 and {"ident", "lat", "lon", "radius_m", "uncertainty_m"} <= set(learned[0])
    assert wifi.read_ap_table(tmp_path / "a.csv").num_rows == 25
    r = runner.invoke(app, ["--db", str(dbp), "wifi", "learn", "--pair-by", "entity", "--json"])
    assert r.exit_code == 0 and len(json.loads(r.output)) == 25
    r = runner.invoke(app, ["--db", str(dbp), "wifi", "position", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["n_added"] > 900 and out["source_id"] == 3
    r = runner.invoke(app, ["--db", str(dbp), "wifi", "position", "--ap-table", str(tmp_path / "a.csv")])
    assert r.exit_code == 0 and "added 0 fixes" in r.output
    (tmp_path / "bad.csv").write_text("bssid,lat,lon\nzz,1,2\n")
    r = runner.invoke(app, ["--db", str(dbp), "wifi", "position", "--ap-table", str(tmp_path / "bad.csv")])
    assert r.exit_code != 0


def test_osmand_sample_scans_become_a_fix(tmp_path: Path) -> None:
    """Conformance: the Wi-Fi and cell parameters of a real OsmAnd / Traccar Client query, received by the
    live ingest endpoint, are positioned from a supplied table."""
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "traccar"
    sample = shared / "osmand_query_examples.txt"
    if not sample.is_file():
        pytest.skip("../shared/fixtures is not present")
    import asyncio
    from urllib.parse import urlsplit

    import httpx

    from hereabouts.server import create_app

    line = next(ln.strip() for ln in sample.read_text().splitlines() if ln.startswith("/?") and "wifi=" in ln)
    db = hb.open(tmp_path / "live.db")
    app = create_app(db)

    async def send() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hb.test") as c:
            return (await c.post(f"/ingest/osmand?{urlsplit(line).query}")).status_code

    try:
        assert asyncio.run(send()) == 200
    finally:
        app.state.ingest.writer.close()
    scans = db.scans()
    assert scans.num_rows == 4 and db.fixes().num_rows == 0
    (tmp_path / "aps.csv").write_text(
        "kind,bssid,lat,lon,radius_m\n"
        "wifi,00-14-22-01-23-45,60.0000,30.0000,50\n"
        "wifi,00-1C-B3-09-85-15,60.0004,30.0000,50\n"
        'cell,"257,02,16,2224",60.01,30.01,3000\n'
    )
    result = db.position_scans(ap_table=tmp_path / "aps.csv")
    assert (result.n_scans, result.n_added) == (1, 1)
    fix = db.fixes().to_pylist()[0]
    assert fix["provider"] == "wifi" and fix["device"] == "123456"
    assert int(fix["t"].timestamp()) == 1377177267
    # between the two access points, nearer the louder one (-70 dBm against -80)
    assert 60.0002 < fix["lat"] < 60.0004 and fix["lon"] == pytest.approx(30.0, abs=1e-9)
    # with only the cell tower known, the tower places it (provider cell)
    (tmp_path / "cells.csv").write_text('kind,ident,lat,lon\ncell,"257,2,16,2224",60.01,30.01\n')
    cell_only = wifi.position_scans(scans, wifi.read_ap_table(tmp_path / "cells.csv")).to_pylist()
    assert [f["provider"] for f in cell_only] == ["cell"]
    assert (cell_only[0]["lat"], cell_only[0]["lon"]) == (pytest.approx(60.01), pytest.approx(30.01))
    assert cell_only[0]["accuracy_m"] > 500.0
    db.close()


def test_takeout_wifi_fixes_never_teach(shared_fixtures: Path) -> None:
    """Conformance: in a real Takeout ``Records.json`` most records were positioned from Wi-Fi
    (``source: WIFI``); a scan heard with each record is learned from the one GPS record only."""
    db = hb.open(":memory:")
    db.import_(shared_fixtures / "google" / "records_reitti_trimmed.json", entity="me")
    fixes = db.fixes("me")
    providers = fixes.column("provider").to_pylist()
    assert providers.count("gps") == 1 and providers.count("wifi") == 5
    n = fixes.num_rows
    scans = schemas.validate(
        pa.table(
            {
                "device": fixes.column("device"),
                "t": fixes.column("t"),
                "kind": pa.array(["wifi"] * n),
                "ident": pa.array(["aa:bb:cc:dd:ee:01"] * n),
                "rssi_dbm": pa.array([-60.0] * n),
            }
        ),
        "scan",
    )
    wifi.store_scans(db, scans, origin="scans heard with the records", entity="me")
    row = db.access_points("me").to_pylist()[0]
    gps = fixes.filter(pa.compute.equal(fixes.column("provider"), "gps")).to_pylist()[0]
    assert row["n_obs"] == 1 and (row["lat"], row["lon"]) == (
        pytest.approx(gps["lat"]),
        pytest.approx(gps["lon"]),
    )
    # every scan came with a fix: nothing to position
    assert db.position_scans("me").n_with_fix == n


def test_a_phone_scans_and_a_watch_records_gps(town: dict[str, Any]) -> None:
    """pair_by='entity': one person's watch GPS teaches the access points heard by the phone."""
    fixes = town["fixes"].set_column(0, "device", pa.array(["watch"] * town["fixes"].num_rows))
    scans = town["scans"]
    assert wifi.learn_access_points(fixes, scans).num_rows == 0
    with pytest.raises(InputError, match="needs an 'entity' column"):
        wifi.learn_access_points(fixes, scans, pair_by="entity")
    f = fixes.append_column("entity", pa.array(["me"] * fixes.num_rows))
    s = scans.append_column("entity", pa.array(["me"] * scans.num_rows))
    table = wifi.learn_access_points(f, s, pair_by="entity")
    assert table.num_rows == 25 and np.median(_ap_error(table, town["ap_x"], town["ap_y"])) < 6.0
