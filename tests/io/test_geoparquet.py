"""GeoParquet / Parquet reader: files built here with pyarrow (WKB written by hand from the OGC layout)."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts.io.geoparquet as gp
from hereabouts.io import Counts, ReadContext, ReadOptions, Sink, detect, read
from hereabouts.io._base import MemoryWriter
from hereabouts.io.writers import write_geoparquet
from hereabouts.model import schemas
from hereabouts.model.errors import FormatError, HereaboutsError

NOW_US = 1_800_000_000_000_000
T0 = 1_718_438_400_000_000  # 2024-06-15T08:00:00Z


def _balanced(c: Counts) -> bool:
    others = c.scans + c.reported_stays + c.reported_trips + c.events
    return c.read == c.fixes + c.rejected + c.duplicates + others


def wkb_point(
    x: float, y: float, *, big: bool = False, z: float | None = None, srid: int | None = None
) -> bytes:
    end = ">" if big else "<"
    kind = 1
    if z is not None:
        kind |= 0x80000000
    if srid is not None:
        kind |= 0x20000000
    out = bytes([0 if big else 1]) + struct.pack(end + "I", kind)
    if srid is not None:
        out += struct.pack(end + "I", srid)
    out += struct.pack(end + "dd", x, y)
    if z is not None:
        out += struct.pack(end + "d", z)
    return out


def wkb_linestring(points: list[tuple[float, float]]) -> bytes:
    out = bytes([1]) + struct.pack("<II", 2, len(points))
    for x, y in points:
        out += struct.pack("<dd", x, y)
    return out


def _geo(crs: Any = None, encoding: str = "WKB") -> dict[bytes, bytes]:
    col: dict[str, Any] = {"encoding": encoding, "geometry_types": ["Point"]}
    if crs is not None:
        col["crs"] = crs
    return {
        b"geo": json.dumps(
            {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": col}}
        ).encode()
    }


def _write(path: Path, cols: dict[str, Any], metadata: dict[bytes, bytes] | None = None, **kw: Any) -> Path:
    table = pa.table(cols)
    if metadata is not None:
        table = table.replace_schema_metadata(metadata)
    pq.write_table(table, path, **kw)
    return path


def _fix_table(n: int) -> pa.Table:
    rng = np.random.default_rng(7)
    return schemas.validate(
        pa.table(
            {
                "device": pa.array([f"d{i % 3}" for i in range(n)]),
                "t": pa.array(T0 + np.arange(n, dtype=np.int64) * 1_000_003, pa.int64()).cast(schemas.UTC_US),
                "lat": rng.uniform(-89, 89, n),
                "lon": rng.uniform(-179, 179, n),
                "accuracy_m": pa.array(
                    [None if i % 4 == 0 else float(i % 50) for i in range(n)], pa.float64()
                ),
                "provider": pa.array(["gps" if i % 2 else None for i in range(n)], pa.string()),
            }
        ),
        "fix",
    )


# ------------------------------------------------------------------ good files
def test_reads_what_the_writer_writes_exactly(tmp_path: Path) -> None:
    fixes = _fix_table(1000)
    p = tmp_path / "out.parquet"
    assert write_geoparquet(fixes, p) == 1000
    r = read(p, now_us=NOW_US)
    assert r.members[0].format == "geoparquet"
    assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (1000, 1000, 0)
    for name in ("device", "t", "lat", "lon", "accuracy_m", "provider"):
        assert r.fixes.column(name).to_pylist() == fixes.column(name).to_pylist(), name


def test_geometry_is_the_position_even_when_lat_lon_columns_disagree(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "g.parquet",
        {
            "geometry": pa.array([wkb_point(13.4, 52.5), wkb_point(2.35, 48.85)], pa.binary()),
            "lat": [0.5, 0.6],
            "lon": [0.5, 0.6],
            "timestamp": pa.array([T0, T0 + 1], pa.timestamp("us", tz="UTC")),
        },
        _geo(),
    )
    r = read(p, now_us=NOW_US)
    assert r.fixes.column("lat").to_pylist() == [52.5, 48.85]
    assert r.fixes.column("lon").to_pylist() == [13.4, 2.35]


def test_plain_parquet_with_lat_lon_and_epoch_seconds(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "plain.parquet",
        {
            "Latitude": [52.5, 52.6, 95.0, float("nan"), 52.7],
            "Longitude": [13.4, 13.5, 13.6, 13.7, 13.8],
            "time": pa.array([1718438400, 1718438401, 1718438402, 1718438403, 0], pa.int64()),
            "device_id": ["a", "b", "a", "a", "a"],
            "speed": [1.0, None, 2.0, 3.0, 4.0],
            "course": [10.0, 20.0, 30.0, 40.0, 50.0],
            "altitude": pa.array([1, 2, 3, 4, 5], pa.int32()),
        },
    )
    r = read(p, now_us=NOW_US)
    assert (r.counts.fixes, r.counts.rejected) == (2, 3)
    assert r.fixes.column("device").to_pylist() == ["a", "b"]
    assert r.fixes.column("speed_mps").to_pylist() == [1.0, None]
    assert r.fixes.column("course_deg").to_pylist() == [10.0, 20.0]
    assert r.fixes.column("altitude_m").to_pylist() == [1.0, 2.0]
    assert r.fixes.column("t").cast(pa.int64()).to_pylist() == [T0, T0 + 1_000_000]
    rej = sorted((x["position"], x["field"], x["unit"]) for x in r.rejects.to_pylist())
    # |lat| > 90, NaN latitude, epoch 0 (before 1980)
    assert rej == [(3, "lat", "record"), (4, "lat", "record"), (5, "t", "record")]


def test_epoch_milliseconds_and_iso_text_times(tmp_path: Path) -> None:
    ms = _write(
        tmp_path / "ms.parquet", {"lat": [1.0], "lon": [2.0], "t": pa.array([1718438400123], pa.int64())}
    )
    assert read(ms, now_us=NOW_US).fixes.column("t").cast(pa.int64()).to_pylist() == [T0 + 123_000]
    iso = _write(
        tmp_path / "iso.parquet",
        {"lat": [1.0, 1.1, 1.2], "lon": [2.0, 2.1, 2.2], "time": ["2024-06-15T08:00:00Z", "yesterday", None]},
    )
    r = read(iso, now_us=NOW_US)
    assert r.fixes.column("t").cast(pa.int64()).to_pylist() == [T0]
    assert sorted(r.rejects.column("position").to_pylist()) == [2, 3]
    assert set(r.rejects.column("field").to_pylist()) == {"t"}


def test_naive_timestamps_are_read_in_the_import_zone(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "naive.parquet", {"lat": [1.0], "lon": [2.0], "t": pa.array([T0], pa.timestamp("us"))}
    )
    assert read(p, now_us=NOW_US).fixes.column("t").cast(pa.int64()).to_pylist() == [T0]
    got = read(p, tz="Europe/Berlin", now_us=NOW_US).fixes.column("t").cast(pa.int64()).to_pylist()
    assert got == [T0 - 2 * 3600 * 1_000_000]


def test_wkb_slow_path_and_bad_geometries(tmp_path: Path) -> None:
    geoms = [
        wkb_point(1.0, 2.0),  # fast path
        wkb_point(3.0, 4.0, big=True),  # big-endian
        wkb_point(5.0, 6.0, z=7.5),  # EWKB Z: altitude
        wkb_point(8.0, 9.0, srid=4326),  # EWKB with SRID
        wkb_linestring([(1.0, 1.0), (2.0, 2.0)]),  # not a point
        b"\x01\x01\x00",  # too short
        None,  # null geometry, no lat/lon columns
        b"\x07" + b"\x00" * 20,  # 21 bytes, bad byte order
    ]
    p = _write(
        tmp_path / "mixed.parquet",
        {"geometry": pa.array(geoms, pa.binary()), "t": pa.array([T0 + i for i in range(8)], pa.int64())},
        _geo(),
    )
    r = read(p, now_us=NOW_US)
    assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (8, 4, 4)
    assert r.fixes.column("lon").to_pylist() == [1.0, 3.0, 5.0, 8.0]
    assert r.fixes.column("lat").to_pylist() == [2.0, 4.0, 6.0, 9.0]
    assert r.fixes.column("altitude_m").to_pylist() == [None, None, 7.5, None]
    rej = {x["position"]: x for x in r.rejects.to_pylist()}
    assert sorted(rej) == [5, 6, 7, 8]
    assert "LineString" in rej[5]["reason"]
    assert rej[5]["field"] == "geometry"


def test_null_geometry_falls_back_on_lat_lon(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "fallback.parquet",
        {
            "geometry": pa.array([None, wkb_point(1.0, 2.0)], pa.binary()),
            "lat": [10.0, 99.0],
            "lon": [20.0, 99.0],
            "t": pa.array([T0, T0 + 1], pa.int64()),
        },
        _geo(),
    )
    r = read(p, now_us=NOW_US)
    assert r.fixes.column("lat").to_pylist() == [10.0, 2.0]


def test_geoarrow_point_struct(tmp_path: Path) -> None:
    pts = pa.array(
        [{"x": 1.5, "y": 2.5}, {"x": 3.5, "y": 4.5}], pa.struct([("x", pa.float64()), ("y", pa.float64())])
    )
    p = _write(
        tmp_path / "ga.parquet",
        {"geometry": pts, "t": pa.array([T0, T0 + 1], pa.int64())},
        _geo(encoding="point"),
    )
    r = read(p, now_us=NOW_US)
    assert r.fixes.column("lon").to_pylist() == [1.5, 3.5]
    assert r.fixes.column("lat").to_pylist() == [2.5, 4.5]


def test_projected_crs_is_refused(tmp_path: Path) -> None:
    crs = {"id": {"authority": "EPSG", "code": 3857}, "name": "WGS 84 / Pseudo-Mercator"}
    p = _write(
        tmp_path / "merc.parquet",
        {"geometry": pa.array([wkb_point(1e6, 6e6)], pa.binary()), "t": pa.array([T0], pa.int64())},
        _geo(crs=crs),
    )
    with pytest.raises(FormatError, match="reproject"):
        read(p, now_us=NOW_US)
    ok = {"id": {"authority": "OGC", "code": "CRS84"}}
    p2 = _write(
        tmp_path / "crs84.parquet",
        {"geometry": pa.array([wkb_point(1.0, 2.0)], pa.binary()), "t": pa.array([T0], pa.int64())},
        _geo(crs=ok),
    )
    assert read(p2, now_us=NOW_US).counts.fixes == 1


def test_missing_columns_raise(tmp_path: Path) -> None:
    p = _write(tmp_path / "notime.parquet", {"lat": [1.0], "lon": [2.0]})
    with pytest.raises(FormatError, match="time"):
        read(p, now_us=NOW_US)
    p = _write(tmp_path / "nopos.parquet", {"t": pa.array([T0], pa.int64()), "name": ["x"]})
    with pytest.raises(FormatError, match="position"):
        read(p, now_us=NOW_US)


def test_truncated_file_raises_format_error(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    write_geoparquet(_fix_table(50), good)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(FormatError):
        read(cut, now_us=NOW_US)


def test_corrupt_row_group_is_one_reject_and_others_are_kept(tmp_path: Path) -> None:
    good = tmp_path / "groups.parquet"
    pq.write_table(
        pa.table({"lat": np.full(300, 10.0), "lon": np.full(300, 20.0), "t": pa.array(T0 + np.arange(300))}),
        good,
        row_group_size=100,
        compression="snappy",
        use_dictionary=False,
    )
    meta = pq.read_metadata(good)
    start = meta.row_group(1).column(0).data_page_offset
    size = meta.row_group(1).column(0).total_compressed_size
    data = bytearray(good.read_bytes())
    data[start : start + size] = b"\xff" * size
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(bytes(data))
    r = read(bad, now_us=NOW_US)
    # the damaged row group (rows 101-200) is skipped; the row groups before and after it are kept
    assert r.counts.fixes == 200
    assert r.counts.rejected == 1
    assert _balanced(r.counts)
    (rej,) = r.rejects.to_pylist()
    assert rej["position"] == 101


class _Unseekable(io.RawIOBase):
    """A stream that cannot seek, like a member of a zip archive."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b: Any) -> int:
        chunk = self._buf.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def test_unseekable_stream_is_spooled(tmp_path: Path) -> None:
    p = tmp_path / "in.parquet"
    write_geoparquet(_fix_table(20), p)
    sink = Sink(MemoryWriter(), member="in.parquet", options=ReadOptions(now_us=NOW_US), unit="record")
    ctx = ReadContext(sink=sink, options=sink.options, member="in.parquet")
    stream = io.BufferedReader(_Unseekable(p.read_bytes()))
    assert not stream.seekable()
    gp._read(stream, ctx)
    assert sink.close().fixes == 20


def test_large_file_is_read_in_batches(tmp_path: Path) -> None:
    n = 150_000
    p = tmp_path / "big.parquet"
    write_geoparquet(_fix_table(n), p)
    r = read(p, now_us=NOW_US)
    assert r.counts.fixes == n
    assert r.fixes.column("lat").to_pylist()[-1] == _fix_table(n).column("lat").to_pylist()[-1]


# ------------------------------------------------------------------ detection
def test_detected_by_content(tmp_path: Path) -> None:
    p = tmp_path / "x.parquet"
    write_geoparquet(_fix_table(5), p)
    data = p.read_bytes()
    fmt = detect(data[:65536], "renamed.bin")
    assert fmt is not None and fmt.name == "geoparquet"
    assert gp._sniff(b"device,t,lat,lon\n1,2,3,4\n", "x.parquet") == 0.0
    assert gp._sniff(b'{"type":"FeatureCollection"}', "x.parquet") == 0.0


# ------------------------------------------------------------------ fuzz
def _small_file() -> bytes:
    buf = io.BytesIO()
    t = _fix_table(30)
    geom = pa.array(
        [wkb_point(x, y) for x, y in zip(t["lon"].to_pylist(), t["lat"].to_pylist(), strict=True)]
    )
    pq.write_table(t.append_column("geometry", geom).replace_schema_metadata(_geo()), buf, compression="none")
    return buf.getvalue()


_GOOD = _small_file()


@settings(max_examples=50, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(min_value=0, max_value=len(_GOOD)),
    flips=st.lists(st.tuples(st.integers(0, len(_GOOD) - 1), st.integers(0, 255)), max_size=4),
)
def test_fuzzed_parquet_never_crashes(tmp_path: Path, cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(_GOOD[:cut] if cut > 8 else _GOOD)
    for at, val in flips:
        if at < len(data):
            data[at] = val
    p = tmp_path / "fuzz.parquet"
    p.write_bytes(bytes(data))
    try:
        r = read(p, format="geoparquet", now_us=NOW_US)
    except HereaboutsError:
        return
    assert _balanced(r.counts)
