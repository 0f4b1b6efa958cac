"""GPX and KML samples from other projects (../shared/fixtures/files), read as a user would."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from hereabouts.io import read

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "files"
NOW_US = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
S = 1_000_000

pytestmark = pytest.mark.conformance


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/fixtures/files is not present")
    return SHARED


def col(table: pa.Table, name: str) -> list[Any]:
    if name == "t":
        return table.column("t").cast(pa.int64()).to_pylist()
    return table.column(name).to_pylist()


def utc(y: int, mo: int, d: int, h: int, mi: int, s: int) -> int:
    return int(datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()) * S


def test_gpslogger_gpx_with_garmin_extension(shared: Path) -> None:
    r = read(shared / "dawarich_gpx_garmin_example.gpx", now_us=NOW_US)
    assert r.members[0].format == "gpx"
    # one trkpt in the first segment; the second segment is empty
    assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (1, 1, 0)
    f = r.fixes
    assert col(f, "lat") == [10.758321212464024]
    assert col(f, "lon") == [106.64234449272531]
    # 16:30:11.331 at +07:00 is 09:30:11.331 UTC; the local offset is kept
    assert col(f, "t") == [utc(2024, 11, 3, 9, 30, 11) + 331_000]
    assert col(f, "tz_offset_s") == [7 * 3600]
    assert col(f, "altitude_m") == [17.634344400269068]
    assert col(f, "speed_mps") == [2.8]  # gpxtpx:speed inside TrackPointExtension
    assert col(f, "accuracy_m") == [1.9 * 5]  # hdop 1.9, the documented hdop x 5 m approximation
    assert col(f, "provider") == ["gps"]  # <src>gps</src>
    # the track is named "20241103": a date, not a device
    assert col(f, "device") == ["dawarich_gpx_garmin_example"]


def test_google_earth_gx_track(shared: Path) -> None:
    r = read(shared / "dawarich_kml_gx_track.kml", now_us=NOW_US)
    assert r.members[0].format == "kml"
    # four <when> paired in order with four <gx:coord>
    assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (4, 4, 0)
    f = r.fixes
    assert col(f, "t") == [utc(2024, 1, 20, 8, m, 0) for m in range(4)]
    assert col(f, "lon") == [-122.0841, -122.0851, -122.0861, -122.0871]
    assert col(f, "lat") == [37.4220, 37.4230, 37.4240, 37.4250]
    assert col(f, "altitude_m") == [10.0, 12.0, 14.0, 16.0]
    assert col(f, "device") == ["dawarich_kml_gx_track"] * 4


def test_samples_detected_by_content_when_renamed(shared: Path, tmp_path: Path) -> None:
    for name, fmt, fixes in (
        ("dawarich_gpx_garmin_example.gpx", "gpx", 1),
        ("dawarich_kml_gx_track.kml", "kml", 4),
    ):
        renamed = tmp_path / (name + ".txt")
        shutil.copy(shared / name, renamed)
        r = read(renamed, now_us=NOW_US)
        assert r.members[0].format == fmt
        assert r.counts.fixes == fixes
