"""KML/KMZ reader: Placemark points with TimeStamp/TimeSpan, gx:Track, gx:MultiTrack, damage, detection."""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts.io.kml as kml
from hereabouts.io import read
from hereabouts.io._base import Counts, MemoryWriter, ReadContext, ReadOptions, Sink
from hereabouts.model.errors import FormatError, HereaboutsError, UnsafeInputError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "kml"
PLACEMARKS = FIX / "placemarks.kml"
TRACKS = FIX / "tracks.kml"
NOW = 1_800_000_000_000_000
S = 1_000_000


def at(y: int, mo: int, d: int, h: int, mi: int, s: float) -> int:
    return round(datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp() * S + s * S)


def col(table: pa.Table, name: str) -> list[Any]:
    if name == "t":
        return table.column("t").cast(pa.int64()).to_pylist()
    return table.column(name).to_pylist()


def rejects(r: Any) -> list[tuple[int | None, str | None]]:
    return sorted(
        zip(col(r.rejects, "position"), col(r.rejects, "field"), strict=True), key=lambda x: x[0] or 0
    )


def balanced(c: Counts) -> bool:
    return c.read == (
        c.fixes + c.rejected + c.duplicates + c.scans + c.reported_stays + c.reported_trips + c.events
    )


def read_bytes(data: bytes, **options: Any) -> tuple[Counts, pa.Table, pa.Table]:
    opts = ReadOptions(now_us=NOW, **options)
    writer = MemoryWriter()
    sink = Sink(writer, member="mem.kml", options=opts, unit="line")
    kml.FORMAT.read(io.BytesIO(data), ReadContext(sink=sink, options=opts, member="mem.kml"))
    counts = sink.close()
    return counts, writer.table("fix"), writer.table("reject")


def track(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2" '
        'xmlns:gx="http://www.google.com/kml/ext/2.2">\n<Placemark><gx:Track>\n'
        + "\n".join(items)
        + "\n</gx:Track></Placemark>\n</kml>\n"
    ).encode()


# ---------------------------------------------------------------------------- placemarks
def test_placemarks_timestamp_timespan_multigeometry() -> None:
    r = read(PLACEMARKS, now_us=NOW)
    assert r.members[0].format == "kml"
    c = r.counts
    assert (c.read, c.fixes, c.rejected) == (10, 5, 5)
    f = r.fixes
    assert col(f, "t") == [
        at(2024, 6, 15, 7, 30, 0),  # 09:30+02:00
        at(2024, 6, 15, 10, 0, 0),  # TimeSpan: its begin
        at(2024, 6, 15, 13, 0, 0),  # TimeSpan with only an end
        at(2024, 6, 15, 15, 0, 0),  # MultiGeometry: both points at the placemark's time
        at(2024, 6, 15, 15, 0, 0),
    ]
    # KML coordinates are lon,lat[,alt]; spaces around the comma are tolerated
    assert col(f, "lat") == [48.137, 48.14, 48.15, 48.19, 48.2]
    assert col(f, "lon") == [11.575, 11.58, 11.59, 11.63, 11.64]
    assert col(f, "altitude_m") == [519.0, None, None, None, 30.5]
    assert col(f, "tz_offset_s") == [7200, None, None, None, None]  # Z: offset unknown
    assert set(col(f, "device")) == {"placemarks"}  # not the placemark or document name


def test_placemark_rejects_name_line_and_field() -> None:
    r = read(PLACEMARKS, now_us=NOW)
    assert rejects(r) == [
        (30, "when"),  # a Point without any time
        (35, "LineString"),  # a path has no time per point
        (48, "coordinates"),  # "east,north"
        (53, "when"),  # "yesterday"
        (58, "lat"),  # latitude 98.21
    ]
    reasons = dict(zip(col(r.rejects, "position"), col(r.rejects, "reason"), strict=True))
    assert "no time" in reasons[30]
    assert "LineString" in reasons[35]
    assert "lon,lat" in reasons[48]


# ---------------------------------------------------------------------------- tracks
def test_multitrack_pairs_when_and_coord_in_order() -> None:
    r = read(TRACKS, now_us=NOW)
    c = r.counts
    assert (c.read, c.fixes, c.rejected) == (9, 5, 4)
    f = r.fixes
    assert col(f, "t") == [
        at(2024, 3, 10, 7, 0, 0),
        at(2024, 3, 10, 7, 0, 10),
        at(2024, 3, 10, 7, 0, 0),  # 08:00+01:00, interleaved when/coord
        at(2024, 3, 10, 7, 0, 5),
        at(2024, 3, 10, 9, 0, 0),
    ]
    assert col(f, "lon") == [-0.1276, -0.1277, -0.2, -0.2001, -0.3]
    assert col(f, "lat") == [51.5072, 51.5073, 51.6, 51.6001, 51.7]
    assert col(f, "altitude_m") == [11.0, 12.0, None, 5.0, 1.0]
    assert col(f, "tz_offset_s") == [None, None, 3600, 3600, None]
    assert rejects(r) == [
        (12, "when"),  # "not a time": its pair (the third coord) goes with it
        (17, "coord"),  # a coord with only a longitude
        (25, "coord"),  # a when left without a coord
        (33, "when"),  # a coord left without a when
    ]


def test_track_with_all_coords_before_whens() -> None:
    coords = [f"<gx:coord>{8 + i / 1000} {47 + i / 1000} {i}</gx:coord>" for i in range(5)]
    whens = [f"<when>2024-01-01T00:00:0{i}Z</when>" for i in range(5)]
    c, f, _ = read_bytes(track(*coords, *whens))
    assert (c.fixes, c.rejected) == (5, 0)
    assert col(f, "t") == [at(2024, 1, 1, 0, 0, i) for i in range(5)]
    assert col(f, "altitude_m") == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_long_track_streams_pairs() -> None:
    n = 20_000
    whens = [f"<when>2024-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z</when>" for i in range(n)]
    coords = [f"<gx:coord>8.{i:05d} 47.{i:05d} 400</gx:coord>" for i in range(n)]
    c, f, _ = read_bytes(track(*whens, *coords))
    assert c.fixes == n
    assert col(f, "t")[-1] == at(2024, 1, 1, 0, 0, n - 1)
    assert col(f, "lat")[-1] == float(f"47.{n - 1:05d}")


def test_naive_when_read_in_the_import_time_zone() -> None:
    c, f, _ = read_bytes(
        track("<when>2024-06-15T12:00:00</when>", "<gx:coord>8 47</gx:coord>"), tz="Europe/Zurich"
    )
    assert c.fixes == 1
    assert col(f, "t") == [at(2024, 6, 15, 10, 0, 0)]
    assert col(f, "tz_offset_s") == [7200]


# ---------------------------------------------------------------------------- damage
def test_truncated_kml_keeps_completed_pairs() -> None:
    r = read(FIX / "truncated.kml", now_us=NOW)
    c = r.counts
    assert (c.read, c.fixes, c.rejected) == (5, 2, 3)
    assert rejects(r) == [(12, "when"), (17, "coord"), (18, None)]
    reasons = dict(zip(col(r.rejects, "position"), col(r.rejects, "reason"), strict=True))
    assert "breaks off" in reasons[18]


def test_gigantic_when_rejects_its_pair() -> None:
    c, f, rj = read_bytes(
        track(
            "<when>2024-01-01T00:00:00Z</when>",
            "<when>" + "9" * (1 << 21) + "</when>",
            "<when>2024-01-01T00:00:02Z</when>",
            "<gx:coord>8.0 47.0</gx:coord>",
            "<gx:coord>8.1 47.1</gx:coord>",
            "<gx:coord>8.2 47.2</gx:coord>",
        )
    )
    assert (c.read, c.fixes, c.rejected) == (3, 2, 1)
    assert col(rj, "field") == ["when"]
    assert col(f, "lat") == [47.0, 47.2]


def test_gigantic_point_coordinates_are_rejected() -> None:
    data = (
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><TimeStamp><when>2024-01-01T00:00:00Z</when>'
        "</TimeStamp><Point><coordinates>" + "1," * 600_000 + "</coordinates></Point></Placemark></kml>"
    ).encode()
    c, _, rj = read_bytes(data)
    assert (c.fixes, c.rejected) == (0, 1)
    assert col(rj, "field") == ["coordinates"]


def test_wrong_root_is_a_format_error(tmp_path: Path) -> None:
    p = tmp_path / "x.kml"
    p.write_text('<?xml version="1.0"?><gpx version="1.1"></gpx>')
    with pytest.raises(FormatError, match="expected a KML document"):
        read(p, format="kml")


# ---------------------------------------------------------------------------- KMZ
def test_kmz_imports_through_the_zip_layer(tmp_path: Path) -> None:
    kmz = tmp_path / "trip.kmz"
    with zipfile.ZipFile(kmz, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("doc.kml", TRACKS.read_bytes())
        z.writestr("files/icon.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    r = read(kmz, now_us=NOW)
    kml_members = [m for m in r.members if m.format == "kml"]
    assert [m.member for m in kml_members] == [f"{kmz}!doc.kml"]
    assert (r.counts.fixes, r.counts.rejected) == (5, 4)
    assert set(col(r.rejects, "member")) == {f"{kmz}!doc.kml"}
    assert set(col(r.fixes, "device")) == {"trip"}


def test_unsafe_kml_inside_kmz_is_refused_naming_the_member(tmp_path: Path) -> None:
    kmz = tmp_path / "evil.kmz"
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        b'<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>&b;</name></Document></kml>'
    )
    with zipfile.ZipFile(kmz, "w") as z:
        z.writestr("doc.kml", bomb)
    with pytest.raises(UnsafeInputError, match=r"evil\.kmz!doc\.kml.*entit"):
        read(kmz, now_us=NOW)


# ---------------------------------------------------------------------------- detection
def test_detected_by_content_not_name(tmp_path: Path) -> None:
    renamed = tmp_path / "history.xml"
    shutil.copy(PLACEMARKS, renamed)
    r = read(renamed, now_us=NOW)
    assert r.members[0].format == "kml"
    assert r.counts.fixes == 5


def test_sniff_scores() -> None:
    s = kml.FORMAT.sniff
    head = PLACEMARKS.read_bytes()
    assert s(head, "a.kml") == 1.0
    assert s(head, "a.txt") >= 0.5
    assert s(b'<?xml version="1.0"?><gpx version="1.1">', "a.kml") == 0.0
    assert s(b"<TrainingCenterDatabase>", "a.kml") == 0.0
    assert s(b"lon,lat\n1,2\n", "a.kml") == 0.0


# ---------------------------------------------------------------------------- fuzzing
_SEEDS = [PLACEMARKS.read_bytes(), TRACKS.read_bytes()]
_TMP = Path(tempfile.mkdtemp(prefix="hereabouts-kml-fuzz-"))


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cut", "delete", "insert", "flip"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "cut":
            del data[i:]
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 40))]
        elif op == "insert":
            data[i:i] = draw(
                st.sampled_from(
                    [b"<", b"&", b"</gx:Track>", b"<when>", b"<gx:coord>1 2</gx:coord>", b"<Point>"]
                )
            )
        elif data:
            data[i] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=80, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_fuzzed_kml_never_crashes_and_counts_balance(data: bytes) -> None:
    p = _TMP / "fuzz.kml"
    p.write_bytes(data)
    try:
        r = read(p, format="kml", now_us=NOW)
    except HereaboutsError:
        return
    assert balanced(r.counts)
