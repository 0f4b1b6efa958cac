"""Reliability curves, ECE and calibration maps on predictors whose calibration is known."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from hereabouts.evaluate import calibration as cal
from hereabouts.model.errors import InputError


def _perfect() -> tuple[np.ndarray, np.ndarray]:
    """Confidence c = 0.05, 0.15, ... 0.95, 100 predictions each, exactly 100·c of them right."""
    conf, ok = [], []
    for k in range(10):
        c = 0.05 + 0.1 * k
        n_right = round(100 * c)
        conf += [c] * 100
        ok += [True] * n_right + [False] * (100 - n_right)
    return np.array(conf), np.array(ok)


def test_ece_of_a_perfectly_calibrated_predictor_is_zero() -> None:
    c, y = _perfect()
    r = cal.reliability(c, y)
    assert r.ece == pytest.approx(0.0, abs=1e-12)
    assert r.count == [100] * 10
    assert r.accuracy == pytest.approx([0.05 + 0.1 * k for k in range(10)])


def test_ece_of_an_overconfident_predictor() -> None:
    # says 0.95 every time, right 60 % of the time: ECE 0.35
    c = np.full(200, 0.95)
    y = np.array([True] * 120 + [False] * 80)
    assert cal.ece(c, y) == pytest.approx(0.35)
    # half the time 0.9 (right 50 %), half the time 0.3 (right 30 %): ECE (0.4 + 0) / 2
    c2 = np.array([0.9] * 100 + [0.3] * 100)
    y2 = np.array([True] * 50 + [False] * 50 + [True] * 30 + [False] * 70)
    r = cal.reliability(c2, y2)
    assert r.ece == pytest.approx(0.2)
    assert r.count[9] == 100 and r.count[3] == 100 and sum(r.count) == 200
    assert math.isnan(r.accuracy[0])


def test_reliability_edges_nan_and_bad_input() -> None:
    r = cal.reliability([0.0, 1.0, float("nan")], [False, True, True])
    assert r.n == 2 and r.count[0] == 1 and r.count[9] == 1 and r.ece == 0.0
    assert math.isnan(cal.ece([], []))
    with pytest.raises(InputError, match="differ in length"):
        cal.ece([0.5], [True, False])
    with pytest.raises(InputError, match="bins"):
        cal.reliability([0.5], [True], bins=0)


def test_isotonic_map_is_monotone_and_fixes_overconfidence() -> None:
    rng = np.random.default_rng(5)
    raw = rng.uniform(0, 1, 5000)
    truth_p = 0.2 + 0.5 * raw  # the real chance of being right
    y = rng.uniform(0, 1, raw.size) < truth_p
    m = cal.fit_isotonic(raw, y, kind="stays")
    assert all(b >= a for a, b in zip(m.y, m.y[1:], strict=False))
    assert all(b > a for a, b in zip(m.x, m.x[1:], strict=False))
    before, after = cal.ece(raw, y), cal.ece(m(raw), y)
    assert before > 0.1 and after < 0.03
    assert float(m(np.array([0.9]))[0]) == pytest.approx(0.65, abs=0.06)
    back = cal.CalibrationMap.from_dict(json.loads(json.dumps(m.as_dict())))
    assert np.allclose(back(raw[:50]), m(raw[:50]))


def test_map_from_dict_rejects_malformed_knots() -> None:
    with pytest.raises(InputError, match="malformed"):
        cal.CalibrationMap.from_dict({"kind": "stays", "x": [0.5, 0.2], "y": [0.1, 0.2]})
    with pytest.raises(InputError, match="no samples"):
        cal.fit_isotonic([], [])


def test_apply_unknown_kind_and_types() -> None:
    with pytest.raises(InputError, match="expected one of"):
        cal.apply("weather", 0.5)
    out = cal.apply("stays", np.array([0.1, 0.5, np.nan]))
    assert isinstance(out, np.ndarray) and out.shape == (3,) and math.isnan(out[2])
    assert isinstance(cal.apply("modes", 0.5), float)


def test_apply_uses_the_shipped_map(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "trips.json").write_text(json.dumps({"kind": "trips", "x": [0.2, 0.8], "y": [0.5, 0.9]}))
    monkeypatch.setattr(cal, "_maps_dir", lambda: tmp_path)
    cal.load_map.cache_clear()
    try:
        assert cal.apply("trips", 0.5) == pytest.approx(0.7)
        assert cal.apply("trips", 0.0) == pytest.approx(0.5)
        assert cal.apply("places", 0.42) == 0.42  # no map shipped: unchanged
    finally:
        cal.load_map.cache_clear()


def test_shipped_maps_are_valid() -> None:
    folder = Path(str(resources.files("hereabouts") / "calibration"))
    # the folder also holds other stages' files (linkage.json, measured.json): the maps are <kind>.json
    maps = sorted(p for p in folder.glob("*.json") if p.stem in cal.KINDS)
    assert [p.stem for p in maps] == sorted(cal.KINDS), "a calibration map is missing"
    for p in maps:
        d = json.loads(p.read_text())
        assert d["kind"] in cal.KINDS and p.stem == d["kind"]
        m = cal.CalibrationMap.from_dict(d)
        ys = m(np.linspace(0, 1, 101))
        assert np.all(np.diff(ys) >= 0) and ys.min() >= 0 and ys.max() <= 1


def test_sensor_classes_from_the_entities_own_stays() -> None:
    """An entity's class comes from the median spread and rate of fixes of its own stays, one class per
    entity; entities with no usable stay are unknown."""
    ent = np.array(["a", "a", "a", "b", "b", "c", "d"])
    n = np.array([61, 61, 2, 5, 4, 13, 1])
    dur = np.array([3600.0, 3600.0, 600.0, 3600.0, 3600.0, 3600.0, 0.0])
    rad = np.array([12.0, 11.0, 300.0, 75.0, 70.0, 118.0, 5.0])
    got = cal.sensor_classes(ent, n, dur, rad).tolist()
    assert got == ["fine-dense"] * 3 + ["mid-sparse"] * 2 + ["coarse-medium", cal.UNKNOWN_CLASS]
    assert set(got) - {cal.UNKNOWN_CLASS} <= set(cal.SENSOR_CLASSES)
    assert cal.sensor_classes([], [], [], []).shape == (0,)
    with pytest.raises(InputError, match="one entity"):
        cal.sensor_classes([1, 2], [1], [1.0], [1.0])


def test_map_per_class_and_pooled_fallback() -> None:
    pooled = {"kind": "modes", "x": [0.0, 1.0], "y": [0.5, 0.5]}
    d = {**pooled, "classes": {"fine-sparse": {"x": [0.0, 1.0], "y": [0.1, 0.3]}}}
    m = cal.CalibrationMap.from_dict(d)
    assert cal.CalibrationMap.from_dict(m.as_dict()) == m
    out = m(np.array([0.0, 1.0, 0.5, np.nan]), np.array(["fine-sparse", "fine-sparse", "fine-dense", "x"]))
    assert np.allclose(out[:3], [0.1, 0.3, 0.5]) and math.isnan(out[3])
    assert float(m(0.5, "fine-sparse")) == pytest.approx(0.2) and float(m(0.5)) == 0.5
    with cal.use_maps({"modes": m}):
        assert cal.apply("modes", 1.0, "fine-sparse") == pytest.approx(0.3)
        assert cal.apply("modes", 1.0, "unknown") == 0.5
        assert cal.apply("modes", 1.0) == 0.5
        assert np.allclose(cal.apply("modes", [1.0, 1.0], ["fine-sparse", "mid-dense"]), [0.3, 0.5])
    bad = {**pooled, "classes": {"fine-sparse": {"x": [0.5, 0.1], "y": [0.1, 0.3]}}}
    with pytest.raises(InputError, match="malformed"):
        cal.CalibrationMap.from_dict(bad)


def test_raw_confidences_and_use_maps_switches() -> None:
    m = cal.CalibrationMap("stays", [0.0, 1.0], [0.5, 0.5])
    shipped = cal.apply("stays", 0.3)
    with cal.raw_confidences("stays"):
        assert cal.apply("stays", 0.3) == 0.3
        trips_map = cal.load_map("trips")
        assert trips_map is not None and cal.apply("trips", 0.3) == float(trips_map(0.3)) != 0.3
        with cal.raw_confidences():
            assert cal.apply("trips", 0.3) == 0.3
        assert cal.apply("stays", np.array([0.2]))[0] == 0.2
    assert cal.apply("stays", 0.3) == shipped  # switched back on leaving the block
    with cal.use_maps({"stays": m}):
        assert cal.apply("stays", 0.9) == 0.5
        with cal.raw_confidences("stays"):  # raw wins over any map
            assert cal.apply("stays", 0.9) == 0.9
    with cal.use_maps({"stays": None}):
        assert cal.apply("stays", 0.3) == 0.3
    with pytest.raises(InputError, match="expected one of"), cal.raw_confidences("weather"):
        pass
    # every kind is fitted exactly once, each after the kinds its raw score is computed from
    order = [k for group in cal.FIT_ORDER for k in group]
    assert sorted(order) == sorted(cal.KINDS)
    assert order.index("stays") < order.index("places") and order.index("stays") < order.index("trips")


@pytest.fixture(scope="module")
def pipeline() -> dict[str, object]:
    from hereabouts.sim import simulate

    sim = simulate(agents=6, days=4, seed=11, profile="gps-15min")
    return {"fixes": sim.fixes}


@pytest.mark.slow  # runs three stages twice on a small town
def test_stages_emit_calibrated_confidences(pipeline: dict[str, object]) -> None:
    """Each stage's emitted confidence is its own raw score through its shipped map, and a place's or
    trip's raw score is computed from the stays' emitted (calibrated) confidences."""
    from hereabouts.analysis.places import cluster_places
    from hereabouts.analysis.stays import detect_stays
    from hereabouts.analysis.trips import build_trips, mode_calibration_keys

    fixes = pipeline["fixes"]

    def col(t: object, name: str) -> np.ndarray:
        return np.asarray(t.column(name).to_numpy(zero_copy_only=False), np.float64)  # type: ignore[attr-defined]

    stays = detect_stays(fixes)
    with cal.raw_confidences("stays"):
        raw_stays = detect_stays(fixes)
    assert stays.num_rows > 20
    # every entity of this town samples every 15 minutes with GPS: one sensor class, with its own map
    classes = cal.stay_sensor_classes(stays)
    assert set(classes.tolist()) == {"fine-sparse"}
    cls_of = dict(zip(stays.column("entity").to_pylist(), classes.tolist(), strict=True))
    # a stay's map is that of its own class
    rows = cal.row_classes(
        col(stays, "n_fixes"),
        np.asarray(
            [(r["end"] - r["start"]).total_seconds() for r in stays.select(["start", "end"]).to_pylist()]
        ),
        col(stays, "radius_m"),
    )
    assert "fine-sparse" in set(rows.tolist())
    assert np.allclose(col(stays, "confidence"), cal.apply("stays", col(raw_stays, "confidence"), rows))
    assert not np.allclose(col(stays, "confidence"), col(raw_stays, "confidence"))
    for kind in ("stays", "places", "trips", "modes"):
        shipped = cal.load_map(kind)
        assert shipped is not None and "fine-sparse" in shipped.classes, kind
    # the comparison method's stays are not calibrated
    ti = detect_stays(fixes, method="trackintel")
    with cal.raw_confidences():
        assert np.array_equal(
            col(detect_stays(fixes, method="trackintel"), "confidence"), col(ti, "confidence")
        )

    places = cluster_places(stays, towns=False)
    with cal.raw_confidences("places"):
        raw_places = cluster_places(stays, towns=False)
    p_cls = [cls_of[e] for e in places.column("entity").to_pylist()]
    assert np.allclose(col(places, "confidence"), cal.apply("places", col(raw_places, "confidence"), p_cls))

    trips = build_trips(fixes, stays, places=places)
    with cal.raw_confidences("trips", "modes"):
        raw_trips = build_trips(fixes, stays, places=places)
    assert trips.num_rows > 10
    t_cls = [cls_of[e] for e in trips.column("entity").to_pylist()]
    assert np.allclose(col(trips, "confidence"), cal.apply("trips", col(raw_trips, "confidence"), t_cls))
    raw_modes = col(raw_trips, "mode_confidence")
    keys = mode_calibration_keys(
        t_cls,
        trips.column("mode").to_pylist(),
        col(trips, "distance_m"),
        col(trips, "n_fixes"),
        col(trips, "duration_s"),
    )
    assert np.allclose(col(trips, "mode_confidence"), cal.apply("modes", raw_modes, keys))
    # the map of the class, guess and length is used, not the pooled one nor the class's alone
    assert not np.allclose(col(trips, "mode_confidence"), cal.apply("modes", raw_modes))
    assert not np.allclose(col(trips, "mode_confidence"), cal.apply("modes", raw_modes, t_cls))


def test_measured_record_is_valid() -> None:
    """``measured.json`` (written by scripts/measure_accuracy.py) says how it was measured and holds
    numbers under dotted metric names with the profile after ``@``."""
    path = Path(str(resources.files("hereabouts") / "calibration" / "measured.json"))
    d = json.loads(path.read_text())
    assert d["command"].startswith("python scripts/measure_accuracy.py") and d["date"][:2] == "20"
    assert d["metrics"], "no metric recorded"
    for k, v in d["metrics"].items():
        name, _, profile = k.partition("@")
        assert "." in name and profile, k
        assert isinstance(v, int | float) and math.isfinite(v), (k, v)
    for k in ("home.top1@gps-1min", "home.top1@cell", "calibration.ece@mixed"):
        assert k in d["metrics"], k
