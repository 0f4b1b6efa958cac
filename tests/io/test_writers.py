"""Writers: the exact shape of each export format (round trips are in test_roundtrip.py)."""

from __future__ import annotations

import csv
import json
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from hereabouts.io.writers import (
    CSV_COLUMNS,
    GPX_EXT_NS,
    WRITERS,
    iso_times,
    owntracks_topic,
    write_csv,
    write_geojson,
    write_geoparquet,
    write_gpx,
    write_owntracks_rec,
)
from hereabouts.model import schemas
from hereabouts.model.errors import SchemaError

T0 = 1_718_440_200_000_000  # 2024-06-15T08:30:00Z
GPX_NS = "http://www.topografix.com/GPX/1/1"


def fixes(n: int = 3, *, entity: bool = False) -> pa.Table:
    base = {
        "device": ["a", "b", "a"],
        "t": pa.array([T0, T0 + 1, T0 + 60_123_456], pa.int64()).cast(schemas.UTC_US),
        "tz_offset_s": pa.array([3600, None, 0], pa.int32()),
        "lat": [52.1, 52.2, -33.123456789012345],
        "lon": [13.1, 13.2, 151.0],
        "accuracy_m": [5.0, None, 3.3],
        "altitude_m": [None, 34.5, 1.0],
        "speed_mps": [1.1, None, 0.1],
        "course_deg": [None, 3.0, 359.9],
        "provider": ["gps", None, "wifi"],
    }
    table = schemas.validate(pa.table(base), "fix").slice(0, n)
    if entity:
        table = table.append_column("entity", pa.array(["ann", "ann", "bob"][:n]))
    return table


def test_writers_registry() -> None:
    assert {
        "geoparquet": write_geoparquet,
        "geojson": write_geojson,
        "gpx": write_gpx,
        "csv": write_csv,
        "owntracks_rec": write_owntracks_rec,
    } == WRITERS


def test_iso_times() -> None:
    t = pa.array([T0, T0 + 1, T0 + 500_000, None], pa.int64())
    assert iso_times(t) == [
        "2024-06-15T08:30:00Z",
        "2024-06-15T08:30:00.000001Z",
        "2024-06-15T08:30:00.500000Z",
        None,
    ]
    # before the epoch: the fraction stays positive
    assert iso_times(pa.array([-1], pa.int64())) == ["1969-12-31T23:59:59.999999Z"]


# ------------------------------------------------------------------ GeoParquet
def test_geoparquet_metadata_and_wkb(tmp_path: Path) -> None:
    p = tmp_path / "f.parquet"
    assert write_geoparquet(fixes(entity=True), p) == 3
    pf = pq.ParquetFile(p)
    geo = json.loads(pf.schema_arrow.metadata[b"geo"])
    assert geo["version"] == "1.1.0"
    assert geo["primary_column"] == "geometry"
    col = geo["columns"]["geometry"]
    assert col["encoding"] == "WKB"
    assert col["geometry_types"] == ["Point"]
    assert "crs" not in col  # omitted: OGC:CRS84
    table = pf.read()
    assert table.column_names == [*schemas.FIX.names, "entity", "geometry"]
    assert table.column("entity").to_pylist() == ["ann", "ann", "bob"]
    wkb = table.column("geometry").to_pylist()
    assert wkb[0] == b"\x01" + struct.pack("<I", 1) + struct.pack("<dd", 13.1, 52.1)
    assert all(len(w) == 21 for w in wkb)
    assert table.column("t").type == schemas.UTC_US


def test_geoparquet_fills_missing_fix_columns(tmp_path: Path) -> None:
    minimal = pa.table({"device": ["a"], "t": pa.array([T0], pa.int64()), "lat": [1.0], "lon": [2.0]})
    p = tmp_path / "min.parquet"
    write_geoparquet(minimal, p)
    t = pq.read_table(p)
    assert t.column_names == [*schemas.FIX.names, "geometry"]
    assert t.column("t").type == schemas.UTC_US
    assert t.column("accuracy_m").to_pylist() == [None]


def test_geoparquet_empty_input_writes_a_readable_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.parquet"
    assert write_geoparquet(iter([]), p) == 0
    t = pq.read_table(p)
    assert t.num_rows == 0
    assert "geometry" in t.column_names


# ------------------------------------------------------------------ GeoJSON
def test_geojson_structure(tmp_path: Path) -> None:
    p = tmp_path / "f.geojson"
    assert write_geojson(fixes(entity=True), p) == 3
    doc = json.loads(p.read_text())
    assert doc["type"] == "FeatureCollection"
    f0, f1, f2 = doc["features"]
    assert f0["geometry"] == {"type": "Point", "coordinates": [13.1, 52.1]}
    assert f0["properties"] == {
        "device": "a",
        "time": "2024-06-15T08:30:00Z",
        "tz_offset_s": 3600,
        "accuracy_m": 5.0,
        "speed_mps": 1.1,
        "provider": "gps",
        "entity": "ann",
    }
    assert f1["geometry"]["coordinates"] == [13.2, 52.2, 34.5]  # altitude as the third coordinate
    assert f1["properties"]["time"] == "2024-06-15T08:30:00.000001Z"
    assert f2["geometry"]["coordinates"][1] == -33.123456789012345  # full precision


def test_geojson_empty_and_many_batches(tmp_path: Path) -> None:
    p = tmp_path / "empty.geojson"
    assert write_geojson(fixes().slice(0, 0), p) == 0
    assert json.loads(p.read_text()) == {"type": "FeatureCollection", "features": []}
    t = fixes()
    one_row = t.to_batches(max_chunksize=1)
    empty = pa.RecordBatch.from_pylist([], schema=t.schema)
    p2 = tmp_path / "batches.geojson"
    assert write_geojson(iter([one_row[0], empty, one_row[1], one_row[2]]), p2) == 3
    doc = json.loads(p2.read_text())
    assert [f["properties"]["device"] for f in doc["features"]] == ["a", "b", "a"]


# ------------------------------------------------------------------ GPX
def test_gpx_one_track_per_device_with_extensions(tmp_path: Path) -> None:
    p = tmp_path / "f.gpx"
    assert write_gpx(fixes(), p) == 3
    root = ET.parse(p).getroot()
    assert root.tag == f"{{{GPX_NS}}}gpx"
    assert root.get("version") == "1.1"
    trks = root.findall(f"{{{GPX_NS}}}trk")
    assert [t.findtext(f"{{{GPX_NS}}}name") for t in trks] == ["a", "b"]
    pts_a = trks[0].findall(f"{{{GPX_NS}}}trkseg/{{{GPX_NS}}}trkpt")
    assert [(pt.get("lat"), pt.get("lon")) for pt in pts_a] == [
        ("52.1", "13.1"),
        ("-33.123456789012344", "151"),  # shortest text that reads back exactly
    ]
    first = pts_a[0]
    assert first.findtext(f"{{{GPX_NS}}}time") == "2024-06-15T08:30:00Z"
    assert first.find(f"{{{GPX_NS}}}ele") is None
    ext = first.find(f"{{{GPX_NS}}}extensions")
    assert ext is not None
    assert ext.findtext(f"{{{GPX_EXT_NS}}}speed") == "1.1"
    assert ext.findtext(f"{{{GPX_EXT_NS}}}accuracy") == "5"
    assert ext.findtext(f"{{{GPX_EXT_NS}}}tz_offset_s") == "3600"
    assert ext.findtext(f"{{{GPX_EXT_NS}}}provider") == "gps"
    assert ext.find(f"{{{GPX_EXT_NS}}}course") is None
    pt_b = trks[1].find(f"{{{GPX_NS}}}trkseg/{{{GPX_NS}}}trkpt")
    assert pt_b is not None
    assert pt_b.findtext(f"{{{GPX_NS}}}ele") == "34.5"
    assert pt_b.findtext(f"{{{GPX_NS}}}time") == "2024-06-15T08:30:00.000001Z"


def test_gpx_escapes_device_names(tmp_path: Path) -> None:
    t = fixes(1).set_column(0, "device", pa.array(["<van & 7>"]))
    p = tmp_path / "esc.gpx"
    write_gpx(t, p)
    root = ET.parse(p).getroot()
    assert root.findtext(f"{{{GPX_NS}}}trk/{{{GPX_NS}}}name") == "<van & 7>"


def test_gpx_interleaved_batches_group_by_device(tmp_path: Path) -> None:
    t = fixes()
    p = tmp_path / "inter.gpx"
    write_gpx(iter(t.to_batches(max_chunksize=1)), p)
    root = ET.parse(p).getroot()
    trks = root.findall(f"{{{GPX_NS}}}trk")
    assert len(trks) == 2
    assert len(trks[0].findall(f".//{{{GPX_NS}}}trkpt")) == 2


# ------------------------------------------------------------------ CSV
def test_csv_header_and_values(tmp_path: Path) -> None:
    p = tmp_path / "f.csv"
    assert write_csv(fixes(), p) == 3
    rows = list(csv.reader(p.read_text().splitlines()))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0] == [
        "device",
        "t",
        "tz_offset_s",
        "lat",
        "lon",
        "accuracy_m",
        "altitude_m",
        "speed_mps",
        "course_deg",
        "provider",
    ]
    assert rows[1] == ["a", "2024-06-15T08:30:00Z", "3600", "52.1", "13.1", "5", "", "1.1", "", "gps"]
    assert rows[2][1] == "2024-06-15T08:30:00.000001Z"
    assert rows[3][3] == "-33.123456789012344"
    assert rows[3][1] == "2024-06-15T08:31:00.123456Z"


def test_csv_quotes_and_entity(tmp_path: Path) -> None:
    t = fixes(1, entity=True).set_column(0, "device", pa.array(['van, "7"']))
    p = tmp_path / "q.csv"
    write_csv(t, p)
    rows = list(csv.reader(p.read_text().splitlines()))
    assert rows[0][-1] == "entity"
    assert rows[1][0] == 'van, "7"'
    assert rows[1][-1] == "ann"


def test_csv_empty_input_is_a_header(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    assert write_csv(iter([]), p) == 0
    assert p.read_text() == ",".join(CSV_COLUMNS) + "\n"


# ------------------------------------------------------------------ OwnTracks
def test_owntracks_rec_lines(tmp_path: Path) -> None:
    p = tmp_path / "f.rec"
    assert write_owntracks_rec(fixes(), p) == 3
    lines = p.read_text().splitlines()
    assert len(lines) == 3
    when, topic, body = lines[0].split("\t")
    assert (when, topic) == ("2024-06-15T08:30:00Z", "owntracks/hereabouts/a")
    msg = json.loads(body)
    assert msg["_type"] == "location"
    assert msg["tst"] == 1718440200 and isinstance(msg["tst"], int)
    assert (msg["lat"], msg["lon"], msg["acc"]) == (52.1, 13.1, 5.0)
    assert msg["vel"] == pytest.approx(1.1 * 3.6)  # km/h
    assert "alt" not in msg and "cog" not in msg
    msg2 = json.loads(lines[1].split("\t")[2])
    assert msg2["tst"] == pytest.approx(1718440200.000001)
    assert (msg2["alt"], msg2["cog"]) == (34.5, 3.0)


def test_owntracks_topic() -> None:
    assert owntracks_topic("jane/phone") == "owntracks/jane/phone"
    assert owntracks_topic("van 7") == "owntracks/hereabouts/van 7"
    assert owntracks_topic("van", "fleet") == "owntracks/fleet/van"
    assert owntracks_topic("a/b/c") == "owntracks/hereabouts/a_b_c"
    assert owntracks_topic("x+#") == "owntracks/hereabouts/x__"


# ------------------------------------------------------------------ shared behaviour
@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_missing_required_column_is_a_schema_error(fmt: str, tmp_path: Path) -> None:
    t = pa.table({"device": ["a"], "lat": [1.0], "lon": [2.0]})
    with pytest.raises(SchemaError, match="t"):
        WRITERS[fmt](t, tmp_path / "x.out")


def _peak_while_writing(fmt: str, path: Path, n_batches: int, rows: int = 10_000) -> int:
    """Arrow memory in use (above the start) at each batch the writer pulls, at its highest."""
    peak = 0
    base = pa.total_allocated_bytes()

    def gen() -> Iterator[pa.RecordBatch]:
        nonlocal peak
        for b in range(n_batches):
            t = T0 + (b * rows + np.arange(rows, dtype=np.int64)) * 1_000_000
            batch = pa.RecordBatch.from_pydict(
                {
                    "device": pa.array(np.full(rows, "dev").astype(object), pa.string()),
                    "t": pa.array(t, pa.int64()).cast(schemas.UTC_US),
                    # computed by Arrow so that its memory pool counts them (numpy buffers it would not)
                    "lat": pc.multiply(pa.array(np.linspace(-10, 10, rows)), 1.0),
                    "lon": pc.multiply(pa.array(np.linspace(-20, 20, rows)), 1.0),
                    "accuracy_m": pc.multiply(pa.array(np.full(rows, 5.0)), 1.0),
                }
            )
            peak = max(peak, pa.total_allocated_bytes() - base)
            yield batch

    assert WRITERS[fmt](gen(), path) == rows * n_batches
    return peak


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_streaming_keeps_memory_bounded(fmt: str, tmp_path: Path) -> None:
    """The writer consumes batches one at a time: memory does not grow with the number of batches."""
    few = _peak_while_writing(fmt, tmp_path / f"few.{fmt}", 3)
    many = _peak_while_writing(fmt, tmp_path / f"many.{fmt}", 15)
    assert many < 1.5 * few + (1 << 20), f"{fmt}: {few} bytes held for 3 batches, {many} for 15"
