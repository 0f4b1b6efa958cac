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
    maps = sorted(folder.glob("*.json"))
    assert maps, "no calibration map is shipped"
    for p in maps:
        d = json.loads(p.read_text())
        assert d["kind"] in cal.KINDS and p.stem == d["kind"]
        m = cal.CalibrationMap.from_dict(d)
        ys = m(np.linspace(0, 1, 101))
        assert np.all(np.diff(ys) >= 0) and ys.min() >= 0 and ys.max() <= 1
