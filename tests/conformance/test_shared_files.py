"""Conformance: real-world GeoJSON, FIT and Overland samples in ../shared/fixtures (read, never copied)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hereabouts.io import read

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
NOW_US = 2_000_000_000_000_000  # 2033: the FIT sample is dated 2026

pytestmark = pytest.mark.conformance


def _sample(rel: str) -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/fixtures is not present")
    p = SHARED / rel
    if not p.is_file():
        pytest.skip(f"{rel} is not in ../shared/fixtures")
    return p


def _utc(row: dict[str, Any]) -> datetime:
    t: datetime = row["t"]
    return t.astimezone(UTC)


def test_dawarich_geojson_various_fields() -> None:
    r = read(_sample("files/dawarich_geojson_various_fields.geojson"), now_us=NOW_US)
    assert r.members[0].format == "geojson"
    c = r.counts
    assert (c.read, c.fixes, c.rejected) == (3, 3, 0)
    a, b, d = r.fixes.to_pylist()
    # "datetime", OwnTracks-style "vel" in km/h, "acc", "bearing", "tid"
    assert _utc(a) == datetime(2024, 6, 15, 10, 30, tzinfo=UTC)
    assert (a["device"], a["lat"], a["lon"], a["altitude_m"]) == ("T1", 52.52, 13.405, 34.0)
    assert (a["accuracy_m"], a["course_deg"]) == (8.0, 90.0)
    assert a["speed_mps"] == pytest.approx(1.5 / 3.6)
    # "when", "speed_kmh", "hdop" (x 5 m), "cog", "deviceId"
    assert _utc(b) == datetime(2024, 6, 15, 10, 31, tzinfo=UTC)
    assert (b["device"], b["altitude_m"], b["accuracy_m"], b["course_deg"]) == ("phone1", 35.0, 60.0, 95.0)
    assert b["speed_mps"] == pytest.approx(1.5)
    # "recorded_at", "speed" (m/s), "precision", "height", "course", "device"; 2D coordinates
    assert _utc(d) == datetime(2024, 6, 15, 10, 32, tzinfo=UTC)
    assert (d["device"], d["altitude_m"], d["accuracy_m"], d["speed_mps"], d["course_deg"]) == (
        "phone1",
        36.0,
        5.0,
        1.8,
        100.0,
    )


def test_overland_batch_dawarich() -> None:
    r = read(_sample("overland/overland_batch_dawarich.json"), now_us=NOW_US)
    assert r.members[0].format == "geojson"
    c = r.counts
    # one location, and one "will_terminate" notice without a position (kept as an event)
    assert (c.read, c.fixes, c.events, c.rejected) == (2, 1, 1, 0)
    (fix,) = r.fixes.to_pylist()
    assert _utc(fix) == datetime(2015, 10, 1, 15, 0, tzinfo=UTC)
    assert fix["tz_offset_s"] == -7 * 3600
    assert (fix["lat"], fix["lon"]) == (37.3318, -122.030581)
    assert (fix["accuracy_m"], fix["altitude_m"], fix["speed_mps"]) == (30.0, 0.0, 4.0)
    assert fix["device"] == "overland_batch_dawarich"  # device_id "" names no device: the file name
    (ev,) = r.events.to_pylist()
    assert (ev["kind"], ev["device"]) == ("will_terminate", "iphone")
    assert _utc(ev) == datetime(2024, 7, 7, 17, 46, 39, tzinfo=UTC)


def test_reitti_sample_fit() -> None:
    r = read(_sample("files/reitti_sample.fit"), now_us=NOW_US)
    assert r.members[0].format == "fit"
    c = r.counts
    assert (c.read, c.fixes, c.rejected) == (591, 591, 0)
    rows = r.fixes.to_pylist()
    first, last = rows[0], rows[-1]
    assert _utc(first) == datetime(2026, 6, 28, 11, 51, 10, tzinfo=UTC)
    assert _utc(last) == datetime(2026, 6, 28, 12, 5, 45, tzinfo=UTC)
    assert first["lat"] == 642612992 * 180 / 2**31
    assert first["lon"] == 127668074 * 180 / 2**31
    assert first["speed_mps"] == pytest.approx(0.243)
    assert first["altitude_m"] == pytest.approx(12.4)
    assert {x["provider"] for x in rows} == {"gps"}
    # a short activity near Lübeck: every fix within a few hundred metres
    lats = [x["lat"] for x in rows]
    assert min(lats) > 53.86 and max(lats) < 53.87
