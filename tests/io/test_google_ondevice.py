"""Google Maps Timeline exported from the phone: Android (semanticSegments, rawSignals) and iOS."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts.io as hio
from hereabouts.io import _detect
from hereabouts.io._base import Counts, MemoryWriter, ReadContext, ReadOptions, Sink
from hereabouts.io._json import parse_latlng
from hereabouts.model.errors import FormatError, HereaboutsError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "google"
FMT = "google_ondevice"


def ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def read_bytes(data: bytes, **opts: Any) -> Counts:
    options = ReadOptions(default_device="dev", **opts)
    sink = Sink(MemoryWriter(), member="mem.json", options=options, unit="record")
    hio.get(FMT).read(io.BytesIO(data), ReadContext(sink=sink, options=options, member="mem.json"))
    return sink.close()


def balanced(c: Counts) -> bool:
    return c.read == (
        c.fixes + c.duplicates + c.rejected + c.scans + c.reported_stays + c.reported_trips + c.events
    )


# ---------------------------------------------------------------- Android
def test_android_counts_and_rejects() -> None:
    r = hio.read(FIXTURES / "Timeline.json")
    c = r.counts
    assert [m.format for m in r.members] == [FMT]
    assert (c.reported_stays, c.reported_trips, c.fixes, c.scans, c.rejected, c.read) == (1, 1, 5, 2, 5, 14)
    assert balanced(c)
    # positions count segments (1-6) then raw signals (7-13) in file order
    rejects = sorted((x["position"], x["field"]) for x in r.rejects.to_pylist())
    assert rejects == [
        (4, "timelinePath[2].point"),  # "somewhere"
        (6, "startTime"),  # a visit without a start
        (8, "wifiScan.devicesRecords[2].mac"),  # an access point without a MAC
        (12, "position.timestamp"),  # a position without a time
        (13, "lat"),  # 95° north
    ]


def test_android_visit_and_activity() -> None:
    r = hio.read(FIXTURES / "Timeline.json")
    stay = r.reported_stays.to_pylist()[0]
    assert (stay["lat"], stay["lon"]) == (pytest.approx(52.51637), pytest.approx(13.3777))
    assert (stay["label"], stay["place_ref"], stay["confidence"]) == ("INFERRED_HOME", "ChIJhome", 0.87)
    assert stay["tz_offset_s"] == 7200  # local offset kept
    assert stay["start"].timestamp() == ts("2024-05-02T08:00:00+02:00")
    assert stay["end"].timestamp() == ts("2024-05-02T09:00:00+02:00")
    # the nested visit (hierarchyLevel 1) is not imported
    assert "ChIJnested" not in r.reported_stays.column("place_ref").to_pylist()
    trip = r.reported_trips.to_pylist()[0]
    assert (trip["mode"], trip["confidence"], trip["distance_m"]) == ("in_passenger_vehicle", 0.83, 2150.5)
    assert (trip["to_lat"], trip["to_lon"]) == (pytest.approx(52.52), pytest.approx(13.4049))
    assert trip["tz_offset_s"] == 7200


def test_android_paths_and_raw_positions() -> None:
    r = hio.read(FIXTURES / "Timeline.json")
    fixes = r.fixes.to_pylist()
    path = [f for f in fixes if f["provider"] == "reported"]
    assert [f["t"].timestamp() for f in path] == [
        ts("2024-05-02T09:08:00+02:00"),
        ts("2024-05-02T09:16:00+02:00"),
        ts("2024-05-02T09:25:00+02:00"),
    ]
    raw = [f for f in fixes if f["provider"] != "reported"]
    assert [f["provider"] for f in raw] == ["wifi", "gps"]
    wifi = raw[0]
    assert (wifi["accuracy_m"], wifi["altitude_m"], wifi["speed_mps"]) == (11.0, 46.7, 0.0)
    assert wifi["tz_offset_s"] == 7200
    assert raw[1]["t"].timestamp() == ts("2024-05-02T09:08:00.500+02:00")
    assert raw[1]["speed_mps"] == 11.5


def test_android_wifi_scans() -> None:
    r = hio.read(FIXTURES / "Timeline.json")
    scans = r.scans.to_pylist()
    assert [(s["ident"], s["rssi_dbm"]) for s in scans] == [
        ("1a:51:f7:94:30:10", -59.0),
        ("a3:cc:3e:e9:12:a1", -77.0),
    ]
    assert {s["t"].timestamp() for s in scans} == {ts("2024-05-02T08:31:36+02:00")}


# ---------------------------------------------------------------- iOS
def test_ios_export() -> None:
    r = hio.read(FIXTURES / "location-history.json")
    c = r.counts
    assert [m.format for m in r.members] == [FMT]
    assert (c.reported_trips, c.reported_stays, c.fixes, c.rejected, c.read) == (1, 1, 2, 2, 6)
    trip = r.reported_trips.to_pylist()[0]
    assert (trip["mode"], trip["confidence"], trip["distance_m"]) == ("in_passenger_vehicle", 0.64, 1881.0)
    assert (trip["from_lat"], trip["from_lon"]) == (pytest.approx(55.596349), pytest.approx(24.740515))
    assert trip["tz_offset_s"] == 3600
    stay = r.reported_stays.to_pylist()[0]
    assert (stay["label"], stay["place_ref"], stay["confidence"]) == ("Home", "ChIJhome-ios", 0.95)
    fixes = r.fixes.to_pylist()
    # path point times are minutes after the segment's start
    assert [f["t"].timestamp() for f in fixes] == [
        ts("2023-12-28T06:00:00+01:00"),
        ts("2023-12-28T06:12:00+01:00"),
    ]
    assert {f["tz_offset_s"] for f in fixes} == {3600}
    assert sorted((x["position"], x["field"]) for x in r.rejects.to_pylist()) == [
        (3, "timelinePath[2].durationMinutesOffsetFromStartTime"),
        (4, "visit.topCandidate.placeLocation"),
    ]


def test_latlng_strings() -> None:
    assert parse_latlng("52.5°, 13.4°") == (52.5, 13.4)
    assert parse_latlng("geo:-33.86,151.2") == (-33.86, 151.2)
    for bad in ("52.5", "geo:north", "", "52.5°; 13.4°"):
        with pytest.raises(ValueError):
            parse_latlng(bad)


# ---------------------------------------------------------------- damage
def test_truncated_android_export(tmp_path: Path) -> None:
    data = (FIXTURES / "Timeline.json").read_bytes()
    cut = data.index(b'"accuracyMeters": 4')
    p = tmp_path / "Timeline.json"
    p.write_bytes(data[:cut])
    r = hio.read(p)
    c = r.counts
    # segments 1-6 and raw signals 7-10 were read whole; the 11th record broke
    assert (c.reported_stays, c.reported_trips, c.fixes, c.scans) == (1, 1, 4, 2)
    broken = [x for x in r.rejects.to_pylist() if x["field"] is None]
    assert len(broken) == 1 and broken[0]["position"] == 11


def test_gigantic_segment_is_rejected(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "location-history.json").read_text())
    doc[1]["visit"]["topCandidate"]["semanticType"] = "H" * (2 * 1024 * 1024)
    p = tmp_path / "location-history.json"
    p.write_text(json.dumps(doc))
    r = hio.read(p)
    assert (r.counts.reported_stays, r.counts.reported_trips) == (0, 1)
    assert [x["position"] for x in r.rejects.to_pylist() if x["field"] is None] == [2]


def test_forced_on_something_else_is_a_format_error(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text('{"hello": "world"}')
    with pytest.raises(FormatError):
        hio.read(p, format=FMT)


# ---------------------------------------------------------------- detection
@pytest.mark.parametrize("name", ["Timeline.json", "location-history.json"])
def test_detected_by_content_under_another_name(tmp_path: Path, name: str) -> None:
    p = tmp_path / "export.txt"
    shutil.copy(FIXTURES / name, p)
    assert [m.format for m in hio.read(p).members] == [FMT]


@pytest.mark.parametrize(
    "content",
    [
        (FIXTURES / "records_takeout.json").read_bytes(),
        (FIXTURES / "2023_JANUARY.json").read_bytes(),
        b'[{"lat": 1, "lon": 2, "time": "2024-01-01T00:00:00Z"}]',
        b'[{"startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-01T01:00:00Z", "name": "meeting"}]',
        b'{"type": "FeatureCollection", "features": []}',
    ],
)
def test_not_taken_for_other_formats(content: bytes) -> None:
    assert hio.get(FMT).sniff(content[:65536], "timeline.json") < 0.5


def test_detect_picks_ondevice() -> None:
    for name in ("Timeline.json", "location-history.json"):
        fmt = _detect.detect((FIXTURES / name).read_bytes(), "x.json")
        assert fmt is not None and fmt.name == FMT


# ---------------------------------------------------------------- fuzz
_SEEDS = [(FIXTURES / "Timeline.json").read_bytes(), (FIXTURES / "location-history.json").read_bytes()]


@settings(max_examples=80, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from([0, 1]),
    cut=st.floats(min_value=0.0, max_value=1.0),
    edits=st.lists(st.tuples(st.floats(0.0, 0.999), st.binary(min_size=0, max_size=3)), max_size=4),
)
def test_mutations_never_crash_and_counts_balance(
    which: int, cut: float, edits: list[tuple[float, bytes]]
) -> None:
    data = bytearray(_SEEDS[which])
    for at, repl in edits:
        i = int(at * len(data))
        data[i : i + 1] = repl
    try:
        c = read_bytes(bytes(data[: int(cut * len(data))]))
    except HereaboutsError:
        return
    assert balanced(c)


_KEYS = [
    "startTime",
    "endTime",
    "visit",
    "activity",
    "timelinePath",
    "topCandidate",
    "placeLocation",
    "latLng",
    "point",
    "time",
    "durationMinutesOffsetFromStartTime",
    "position",
    "LatLng",
    "timestamp",
    "wifiScan",
    "devicesRecords",
    "mac",
    "deliveryTime",
    "hierarchyLevel",
]
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.sampled_from(["2024-05-02T08:00:00+02:00", "52.5°, 13.4°", "geo:1,2", "x"]),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), kids, max_size=4),
    max_leaves=14,
)


@settings(max_examples=60, deadline=2000)
@given(_JSON)
def test_odd_shapes_in_valid_json_never_crash(obj: Any) -> None:
    for doc in ({"semanticSegments": [obj], "rawSignals": [obj]}, [obj]):
        c = read_bytes(json.dumps(doc).encode())
        assert balanced(c)
