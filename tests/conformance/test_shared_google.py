"""Real-world Google samples in the shared fixtures folder (read only; skipped when it is absent).

Expected counts were worked out by reading each sample:

- records_reitti_trimmed.json: 6 location records, all with time and position (1 GPS, 5 WIFI), one
  deviceTag; their ``activity`` lists are not imported.
- semantic_location_history_zdimension_blog.json: one placeVisit (Nexedi, visitConfidence 99), one
  activitySegment (WALKING, 973 m, 97.8 %) whose simplifiedRawPath holds 1 timed point; its 5
  waypoints carry no time and are not imported.
- timeline_android_ondevice_reitti_trimmed.json: 6 segments (3 timelinePath segments with 1 + 1 + 15
  points, 2 visits, 1 activity) and 5 raw signals (3 positions, 2 empty Wi-Fi scans, which yield nothing).
- timeline_ios_ondevice_reitti_trimmed.json: 2 activities and 2 visits, values as strings, offset +01:00.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import hereabouts.io as hio

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "google"

pytestmark = pytest.mark.conformance


def sample(name: str) -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared fixtures not present at {SHARED}")
    p = SHARED / name
    if not p.is_file():
        pytest.skip(f"shared sample {name} not present")
    return p


def test_records_sample() -> None:
    r = hio.read(sample("records_reitti_trimmed.json"))
    c = r.counts
    assert [m.format for m in r.members] == ["google_records"]
    assert (c.read, c.fixes, c.rejected, c.scans) == (6, 6, 0, 0)
    assert r.fixes.column("provider").to_pylist() == ["gps"] + ["wifi"] * 5
    assert set(r.fixes.column("device").to_pylist()) == {"335552189"}
    first = r.fixes.to_pylist()[0]
    assert (first["lat"], first["lon"], first["accuracy_m"]) == (
        pytest.approx(52.5121303),
        pytest.approx(13.4309551),
        25.0,
    )
    assert first["t"].timestamp() == pytest.approx(1366007486.860)


def test_semantic_sample() -> None:
    r = hio.read(sample("semantic_location_history_zdimension_blog.json"))
    c = r.counts
    assert [m.format for m in r.members] == ["google_semantic"]
    assert (c.reported_stays, c.reported_trips, c.fixes, c.rejected) == (1, 1, 1, 0)
    stay = r.reported_stays.to_pylist()[0]
    assert (stay["label"], stay["place_ref"]) == ("Nexedi", "ChIJD-fhtSEqw0cRkCuIhwJPMx8")
    assert stay["confidence"] == pytest.approx(0.99)
    assert (stay["lat"], stay["lon"]) == (pytest.approx(50.6443503), pytest.approx(3.0774789))
    trip = r.reported_trips.to_pylist()[0]
    assert (trip["mode"], trip["distance_m"]) == ("walking", 973.0)
    assert trip["confidence"] == pytest.approx(0.9782699942588806)
    fix = r.fixes.to_pylist()[0]
    assert (fix["provider"], fix["accuracy_m"]) == ("reported", 6.0)


def test_android_ondevice_sample() -> None:
    r = hio.read(sample("timeline_android_ondevice_reitti_trimmed.json"))
    c = r.counts
    assert [m.format for m in r.members] == ["google_ondevice"]
    assert (c.reported_stays, c.reported_trips, c.fixes, c.scans, c.rejected) == (2, 1, 20, 0, 0)
    providers = r.fixes.column("provider").to_pylist()
    assert providers.count("reported") == 17
    assert providers[-3:] == ["wifi", "unknown", "gps"]
    assert set(r.fixes.column("tz_offset_s").to_pylist()) == {36000}
    trip = r.reported_trips.to_pylist()[0]
    assert (trip["mode"], trip["distance_m"]) == ("cycling", 8856.0)
    assert r.reported_stays.column("place_ref").to_pylist() == [
        "ChIJ7czCIfZYkWsRpWBJ8NUZOIs",
        "ChIJiQ4RvNPjk2sRPVyJqJ7gDbE",
    ]


def test_ios_ondevice_sample() -> None:
    r = hio.read(sample("timeline_ios_ondevice_reitti_trimmed.json"))
    c = r.counts
    assert [m.format for m in r.members] == ["google_ondevice"]
    assert (c.reported_stays, c.reported_trips, c.fixes, c.rejected) == (2, 2, 0, 0)
    assert r.reported_trips.column("mode").to_pylist() == ["in_passenger_vehicle", "walking"]
    assert r.reported_trips.column("distance_m").to_pylist() == [1881.0, 2996.0]
    assert r.reported_stays.column("label").to_pylist() == ["Home", "Home"]
    assert r.reported_stays.column("confidence").to_pylist() == [0.95, 0.96]
    assert set(r.reported_stays.column("tz_offset_s").to_pylist()) == {3600}
