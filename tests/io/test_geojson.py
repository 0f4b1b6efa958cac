"""GeoJSON reader: our own fixtures in tests/fixtures/geojson/ and generated files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts.io.geojson as gj
from hereabouts.io import Counts, ReadContext, ReadOptions, Sink, detect, read
from hereabouts.io._base import MemoryWriter
from hereabouts.model.errors import FormatError, HereaboutsError

GJ_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "geojson"
NOW_US = 1_800_000_000_000_000


def _us(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(dt.timestamp()) * 1_000_000 + dt.microsecond


def _t_us(row: dict[str, Any]) -> int:
    t: datetime = row["t"]
    return int(t.replace(tzinfo=UTC).timestamp()) * 1_000_000 + t.microsecond


def _balanced(c: Counts) -> bool:
    others = c.scans + c.reported_stays + c.reported_trips + c.events
    return c.read == c.fixes + c.rejected + c.duplicates + others


def _write(tmp_path: Path, name: str, doc: Any) -> Path:
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return p


def _feature(lon: float, lat: float, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


# ------------------------------------------------------------------ the main fixture
def test_collection_counts_and_rejects() -> None:
    r = read(GJ_DIR / "collection.geojson", now_us=NOW_US)
    assert r.members[0].format == "geojson"
    c = r.counts
    assert (c.read, c.fixes, c.rejected) == (23, 13, 10)
    assert _balanced(c)
    rej = {x["position"]: x for x in r.rejects.to_pylist()}
    assert {p: rej[p]["field"] for p in sorted(rej)} == {
        8: "time",  # no time property
        9: "geometry",  # Polygon
        10: "geometry",  # null geometry
        11: "lat",  # latitude 95
        12: "lon",  # "NaN" longitude
        13: "time",  # 2024-13-45
        14: "t",  # epoch 0: before 1980
        15: "coordTimes",  # 2 vertices, 1 time
        16: "coordinates",  # [13.57]
        18: None,  # 42 is not a feature
    }
    assert {x["unit"] for x in r.rejects.to_pylist()} == {"record"}


def test_collection_point_properties_by_name_and_unit() -> None:
    r = read(GJ_DIR / "collection.geojson", now_us=NOW_US)
    rows = r.fixes.to_pylist()
    first, second, third, fourth = rows[:4]
    assert (first["device"], first["lat"], first["lon"], first["altitude_m"]) == ("phone", 52.5, 13.4, 34.5)
    assert (first["accuracy_m"], first["speed_mps"], first["course_deg"]) == (5.0, 1.5, 90.0)
    assert _t_us(first) == _us("2024-06-15T10:30:00Z")
    assert first["tz_offset_s"] is None  # "Z" says nothing of the local offset
    # epoch seconds; OwnTracks-style "vel" in km/h; "tid" as device
    assert _t_us(second) == 1718447460 * 1_000_000
    assert (second["device"], second["accuracy_m"], second["course_deg"]) == ("ph", 8.0, 180.0)
    assert second["speed_mps"] == pytest.approx(5.0)
    # local offset kept; hdop x 5 m; speed_kmh; heading; deviceId
    assert _t_us(third) == _us("2024-06-15T10:32:00Z")
    assert third["tz_offset_s"] == 7200
    assert (third["device"], third["accuracy_m"], third["course_deg"]) == ("phone", 10.0, 10.0)
    assert third["speed_mps"] == pytest.approx(10.0)
    # epoch milliseconds, case-insensitive key; altitude property; mph; no device: the file name
    assert _t_us(fourth) == 1718447580000 * 1000
    assert (fourth["device"], fourth["altitude_m"], fourth["accuracy_m"]) == ("collection", 40.0, 3.0)
    assert fourth["speed_mps"] == pytest.approx(4.4704)
    last = rows[-1]
    assert (last["provider"], last["tz_offset_s"], last["device"]) == ("wifi", 3600, "phone")


def test_lines_give_one_fix_per_vertex() -> None:
    r = read(GJ_DIR / "collection.geojson", now_us=NOW_US)
    rows = r.fixes.to_pylist()
    walk = [x for x in rows if x["device"] == "walk"]
    assert [(x["lon"], x["lat"], x["altitude_m"]) for x in walk] == [
        (13.44, 52.54, 10.0),
        (13.45, 52.55, 11.0),
        (13.46, 52.56, 12.0),
    ]
    assert _t_us(walk[2]) == _us("2024-06-15T11:00:20.500000Z")
    bike = [x for x in rows if x["device"] == "bike"]  # MultiLineString + coordinateProperties.times
    assert [x["lat"] for x in bike] == [52.57, 52.58, 52.59, 52.60, 52.61]
    assert [_t_us(x) for x in bike] == [
        _us("2024-06-15T12:00:00Z"),
        _us("2024-06-15T12:00:05Z"),
        _us("2024-06-15T12:10:00Z"),
        1718453400 * 1_000_000,
        1718453410 * 1_000_000,
    ]


def test_single_feature_document() -> None:
    r = read(GJ_DIR / "single_feature.geojson", now_us=NOW_US)
    (row,) = r.fixes.to_pylist()
    assert (row["device"], row["lat"], row["lon"], row["altitude_m"]) == ("solo", 51.5072, -0.1276, 12.5)
    assert _t_us(row) == _us("2024-06-15T10:30:00.123456Z")


def test_overland_batch() -> None:
    r = read(GJ_DIR / "overland_batch.json", now_us=NOW_US)
    assert r.members[0].format == "geojson"
    c = r.counts
    assert (c.read, c.fixes, c.events, c.rejected) == (3, 2, 1, 0)
    a, b = r.fixes.to_pylist()
    assert (a["device"], a["accuracy_m"], a["altitude_m"], a["speed_mps"], a["course_deg"]) == (
        "iphone",
        10.0,
        12.0,
        3.0,
        45.0,
    )
    assert a["tz_offset_s"] == -7 * 3600
    assert _t_us(a) == _us("2024-06-15T15:00:00Z")
    # Overland writes -1 for an unknown speed and course
    assert (b["speed_mps"], b["course_deg"]) == (None, None)
    (ev,) = r.events.to_pylist()
    assert ev["kind"] == "app_terminated"


def test_truncated_document_keeps_features_before_the_damage() -> None:
    r = read(GJ_DIR / "truncated.geojson", now_us=NOW_US)
    assert (r.counts.fixes, r.counts.rejected) == (3, 1)
    (rej,) = r.rejects.to_pylist()
    assert rej["position"] == 4
    assert "truncated" in rej["reason"]


def test_bare_point_geometry_without_time_is_one_reject(tmp_path: Path) -> None:
    p = _write(tmp_path, "bare.geojson", {"type": "Point", "coordinates": [1.0, 2.0]})
    r = read(p, now_us=NOW_US)
    assert (r.counts.fixes, r.counts.rejected) == (0, 1)
    assert r.rejects.column("field").to_pylist() == ["time"]


def test_top_level_array_of_features(tmp_path: Path) -> None:
    doc = [_feature(1.0, 2.0, time="2024-06-15T10:00:00Z"), _feature(1.1, 2.1, time="2024-06-15T10:01:00Z")]
    r = read(_write(tmp_path, "arr.json", doc), now_us=NOW_US)
    assert r.counts.fixes == 2


def test_naive_times_use_the_import_time_zone(tmp_path: Path) -> None:
    doc = {"type": "FeatureCollection", "features": [_feature(1.0, 2.0, time="2024-06-15T10:00:00")]}
    p = _write(tmp_path, "naive.geojson", doc)
    (row,) = read(p, tz="Europe/Berlin", now_us=NOW_US).fixes.to_pylist()
    assert _t_us(row) == _us("2024-06-15T08:00:00Z")
    assert row["tz_offset_s"] == 7200


def test_forced_device_wins(tmp_path: Path) -> None:
    r = read(GJ_DIR / "collection.geojson", device="mine", now_us=NOW_US)
    assert set(r.fixes.column("device").to_pylist()) == {"mine"}


def test_gigantic_feature_is_rejected_and_skipped(tmp_path: Path) -> None:
    big = _feature(5.0, 6.0, time="2024-06-15T10:01:00Z", note="x" * (3 << 20))
    doc = {
        "type": "FeatureCollection",
        "features": [
            _feature(1.0, 2.0, time="2024-06-15T10:00:00Z"),
            big,
            _feature(3.0, 4.0, time="2024-06-15T10:02:00Z"),
        ],
    }
    r = read(_write(tmp_path, "big.geojson", doc), now_us=NOW_US)
    assert (r.counts.fixes, r.counts.rejected) == (2, 1)
    (rej,) = r.rejects.to_pylist()
    assert rej["position"] == 2
    assert "larger than" in rej["reason"]
    assert r.fixes.column("lat").to_pylist() == [2.0, 4.0]


def test_long_line_is_not_a_gigantic_record(tmp_path: Path) -> None:
    n = 40_000  # about 2.5 MB: past the 1 MiB record limit, but each vertex is a record
    coords = [[10.0 + i * 1e-6, 50.0 + i * 1e-6] for i in range(n)]
    times = [f"2024-06-15T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z" for i in range(n)]
    doc = {
        "type": "Feature",
        "properties": {"coordTimes": times},
        "geometry": {"type": "LineString", "coordinates": coords},
    }
    p = _write(tmp_path, "long.geojson", doc)
    assert p.stat().st_size > (1 << 20)
    r = read(p, now_us=NOW_US)
    assert (r.counts.fixes, r.counts.rejected) == (n, 0)


def _read_with_limit(path: Path, max_record_bytes: int) -> tuple[Counts, list[dict[str, Any]]]:
    writer = MemoryWriter()
    options = ReadOptions(now_us=NOW_US, max_record_bytes=max_record_bytes, default_device="d")
    sink = Sink(writer, member=path.name, options=options, unit="record")
    with path.open("rb") as fh:
        gj._read(fh, ReadContext(sink=sink, options=options, member=path.name))
    counts = sink.close()
    return counts, writer.table("reject").to_pylist()


def test_long_preamble_takes_the_event_path(tmp_path: Path) -> None:
    # "features" comes after 100 KB of metadata: not visible in the head, read event by event
    feats = [_feature(1.0 + i / 100, 2.0, time=f"2024-06-15T10:{i:02d}:00Z") for i in range(5)]
    # larger than the limit used below (sizes are measured per 64 KiB read, so by more than that)
    feats[2]["properties"]["note"] = "y" * (4096 + 2 * gj.BUF_SIZE)
    doc = {"type": "FeatureCollection", "description": "x" * 100_000, "features": feats}
    p = _write(tmp_path, "preamble.geojson", doc)
    assert gj._array_prefix(p.read_bytes()[: gj.HEAD_BYTES]) is None
    assert read(p, now_us=NOW_US).counts.fixes == 5
    counts, rejects = _read_with_limit(p, 4096)
    assert (counts.fixes, counts.rejected) == (4, 1)
    assert rejects[0]["position"] == 3
    assert "larger than 4096 bytes" in rejects[0]["reason"]


def test_fast_path_prefix_detection() -> None:
    assert gj._array_prefix(b'{"type": "FeatureCollection", "features": [') == "features.item"
    assert gj._array_prefix(b'{"locations": [{"type": "Feature"') == "locations.item"
    assert gj._array_prefix(b'[{"type": "Feature"}]') == "item"
    assert gj._array_prefix(b'{"type": "Feature", "properties": {"features": [1]}, "geometry": null}') is None


def test_feature_past_the_hard_cap_stops_the_read(tmp_path: Path) -> None:
    limit = 16 * 1024
    huge = _feature(5.0, 6.0, time="2024-06-15T10:01:00Z", note="z" * (limit * gj.LINE_FACTOR + 300_000))
    doc = {
        "type": "FeatureCollection",
        "features": [
            _feature(1.0, 2.0, time="2024-06-15T10:00:00Z"),
            _feature(1.5, 2.5, time="2024-06-15T10:00:30Z", note="n" * (limit + 2 * gj.BUF_SIZE)),  # skipped
            huge,
            _feature(3.0, 4.0, time="2024-06-15T10:02:00Z"),
        ],
    }
    p = _write(tmp_path, "huge.geojson", doc)
    counts, rejects = _read_with_limit(p, limit)
    assert (counts.fixes, counts.rejected) == (1, 2)
    assert [r["position"] for r in rejects] == [2, 3]
    assert "read stopped" in rejects[1]["reason"]
    assert _balanced(counts)


def test_not_geojson_raises(tmp_path: Path) -> None:
    with pytest.raises(FormatError):
        read(_write(tmp_path, "x.geojson", '{"hello": [1, 2, 3]}'), format="geojson", now_us=NOW_US)
    with pytest.raises(FormatError):
        read(_write(tmp_path, "y.geojson", "this is not json"), format="geojson", now_us=NOW_US)


# ------------------------------------------------------------------ detection
def test_detected_by_content(tmp_path: Path) -> None:
    text = (GJ_DIR / "collection.geojson").read_bytes()
    fmt = detect(text, "renamed.txt")
    assert fmt is not None and fmt.name == "geojson"
    p = tmp_path / "renamed.txt"
    p.write_bytes(text)
    assert read(p, now_us=NOW_US).counts.fixes == 13
    overland = (GJ_DIR / "overland_batch.json").read_bytes()
    assert gj._sniff(overland, "batch.json") >= 0.5
    single = (GJ_DIR / "single_feature.geojson").read_bytes()
    assert gj._sniff(single, "x.json") >= 0.5


def test_other_json_is_not_geojson() -> None:
    google = b'{"locations": [{"latitudeE7": 525000000, "longitudeE7": 134000000, "timestampMs": "1"}]}'
    owntracks = b'{"_type": "location", "lat": 52.5, "lon": 13.4, "tst": 1718440200}'
    semantic = b'{"timelineObjects": [{"placeVisit": {"location": {"latitudeE7": 1}}}]}'
    for head in (google, owntracks, semantic, b"device,t,lat,lon\n", b"<?xml version='1.0'?><gpx/>"):
        assert gj._sniff(head, "x.geojson") < 0.5


# ------------------------------------------------------------------ fuzz
_GOOD = (GJ_DIR / "collection.geojson").read_bytes()


@settings(max_examples=60, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(min_value=0, max_value=len(_GOOD)),
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(_GOOD) - 1), st.sampled_from(list(b'{}[]",:0aZ- '))),
        max_size=5,
    ),
)
def test_fuzzed_geojson_never_crashes(tmp_path: Path, cut: int, edits: list[tuple[int, int]]) -> None:
    data = bytearray(_GOOD[:cut])
    for at, val in edits:
        if at < len(data):
            data[at] = val
    p = tmp_path / "fuzz.geojson"
    p.write_bytes(bytes(data))
    try:
        r = read(p, format="geojson", now_us=NOW_US)
    except HereaboutsError:
        return
    assert _balanced(r.counts)
    assert r.counts.fixes <= 13
