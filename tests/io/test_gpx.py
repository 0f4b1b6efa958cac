"""GPX 1.0/1.1 reader: track points, route points, waypoints, damage, detection, fuzzing."""

from __future__ import annotations

import io
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts.io.gpx as gpx
from hereabouts.io import read
from hereabouts.io._base import Counts, MemoryWriter, ReadContext, ReadOptions, Sink
from hereabouts.model.errors import FormatError, HereaboutsError, UnknownFormatError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "gpx"
FULL = FIX / "gpx11_full.gpx"
NOW = 1_800_000_000_000_000  # 2027-01-15: fixes are checked against a fixed "now"
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
    sink = Sink(writer, member="mem.gpx", options=opts, unit="line")
    gpx.FORMAT.read(io.BytesIO(data), ReadContext(sink=sink, options=opts, member="mem.gpx"))
    counts = sink.close()
    return counts, writer.table("fix"), writer.table("reject")


def doc(*points: str, version: str = "1.1") -> bytes:
    ns = "http://www.topografix.com/GPX/1/1" if version == "1.1" else "http://www.topografix.com/GPX/1/0"
    body = "\n".join(points)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="{version}" xmlns="{ns}">\n<trk><trkseg>\n'
        f"{body}\n</trkseg></trk>\n</gpx>\n"
    ).encode()


def pt(lat: float, lon: float, time: str, extra: str = "") -> str:
    return f'<trkpt lat="{lat}" lon="{lon}"><time>{time}</time>{extra}</trkpt>'


# ---------------------------------------------------------------------------- good files
def test_full_gpx11_every_feature() -> None:
    r = read(FULL, now_us=NOW)
    assert r.members[0].format == "gpx"
    c = r.counts
    assert (c.read, c.fixes, c.rejected) == (10, 7, 3)
    f = r.fixes
    assert col(f, "t") == [
        at(2024, 6, 15, 8, 5, 0),  # timed waypoint
        at(2024, 6, 15, 8, 6, 0),  # timed route point
        at(2024, 6, 15, 8, 0, 0),  # 10:00+02:00
        at(2024, 6, 15, 8, 0, 5.25),
        at(2024, 6, 15, 8, 0, 10),  # time in CDATA
        at(2024, 6, 15, 8, 0, 15),  # naive time, read in UTC
        at(2024, 6, 15, 8, 0, 20),
    ]
    assert col(f, "lat") == [48.137, 48.142, 48.1371, 48.1372, 48.1373, 48.1374, 48.1375]
    assert col(f, "lon") == [11.575, 11.562, 11.5751, 11.5752, 11.5753, 11.5754, 11.5755]
    assert col(f, "altitude_m") == [519.0, None, 520.5, 521.0, None, None, None]
    # the offset the time carried; the hereabouts extension's tz_offset_s wins over a naive time
    assert col(f, "tz_offset_s") == [None, None, 7200, None, None, 7200, None]  # Z: offset unknown
    assert col(f, "speed_mps") == [None, None, 1.4, None, None, 2.5, None]
    assert col(f, "course_deg") == [None, None, 90.5, None, None, 180.0, None]
    # hdop 1.8 -> 9 m, an explicit accuracy extension (4.5 m) is used as is, hdop 3 -> 15 m
    assert col(f, "accuracy_m") == [None, None, 9.0, None, None, 4.5, 15.0]
    assert col(f, "provider") == [None, None, "gps", None, "gps", "fused", "wifi"]
    # the track is named "Forerunner": that is not a device, the device is the file's stem
    assert set(col(f, "device")) == {"gpx11_full"}


def test_full_gpx11_rejects_name_line_and_field() -> None:
    r = read(FULL, now_us=NOW)
    assert rejects(r) == [(15, "time"), (20, "time"), (61, "fix")]
    reasons = col(r.rejects, "reason")
    assert "<wpt> has no <time>" in reasons[0]
    assert "<rtept> has no <time>" in reasons[1]
    assert "fix>none" in reasons[2]
    assert set(col(r.rejects, "unit")) == {"line"}
    assert set(col(r.rejects, "member")) == {str(FULL)}


def test_gpx10_latin1_speed_course_fix() -> None:
    r = read(FIX / "gpx10.gpx", now_us=NOW)
    assert (r.counts.fixes, r.counts.rejected) == (3, 0)
    f = r.fixes
    assert col(f, "lat") == [-33.8688, -33.869, -33.8692]
    assert col(f, "speed_mps") == [3.5, 3.6, None]
    assert col(f, "course_deg") == [45.0, 46.0, None]
    assert col(f, "accuracy_m") == [10.0, None, None]  # hdop 2.0 * 5 m
    assert col(f, "provider") == ["gps", None, None]  # <fix>2d</fix>
    assert col(f, "altitude_m") == [12.0, 12.5, None]


def test_device_option_and_time_zone_for_naive_times() -> None:
    data = doc(pt(48.1, 11.5, "2024-06-15T10:00:00"), pt(48.1, 11.5, "2024-01-15T10:00:00Z"))
    c, f, _ = read_bytes(data, tz="Europe/Berlin", device="bike")
    assert c.fixes == 2
    # naive summer time in Berlin is UTC+2; an explicit Z stays UTC
    assert col(f, "t") == [at(2024, 6, 15, 8, 0, 0), at(2024, 1, 15, 10, 0, 0)]
    assert col(f, "tz_offset_s") == [7200, None]
    assert col(f, "device") == ["bike", "bike"]


# ---------------------------------------------------------------------------- malformed input
def test_malformed_points_each_rejected_with_field() -> None:
    r = read(FIX / "malformed.gpx", now_us=NOW)
    c = r.counts
    assert (c.read, c.fixes, c.rejected) == (13, 3, 10)
    assert rejects(r) == [
        (5, "lat"),  # "forty-seven"
        (6, "lat"),  # 95
        (7, "lat"),  # NaN
        (8, "time"),  # month 13
        (9, "t"),  # 1970: before the GPS epoch
        (10, "time"),  # no <time>
        (11, "lon"),  # no lon attribute
        (12, "lat"),  # 0,0 placeholder
        (14, "lon"),  # 190
        (15, "time"),  # a bare date is not a time of observation
    ]
    # a bad optional value (<ele>high</ele>, <speed>fast</speed>) drops the value, not the fix
    assert col(r.fixes, "t") == [at(2024, 1, 1, 0, 0, 0), at(2024, 1, 1, 0, 0, 9), at(2024, 1, 1, 0, 0, 12)]
    assert col(r.fixes, "altitude_m") == [None, None, None]
    assert col(r.fixes, "speed_mps") == [None, None, None]
    assert col(r.fixes, "lat")[2] == 47.5  # spaces around the attribute value are tolerated
    raws = dict(zip(col(r.rejects, "position"), col(r.rejects, "raw"), strict=True))
    assert raws[5] == "forty-seven"
    assert raws[8] == "2024-13-45T99:00:00Z"


def test_truncated_file_keeps_points_before_the_break() -> None:
    r = read(FIX / "truncated.gpx", now_us=NOW)
    c = r.counts
    assert (c.read, c.fixes, c.rejected) == (4, 3, 1)
    assert col(r.fixes, "lat") == [47.0, 47.1, 47.2]
    assert rejects(r) == [(7, None)]
    assert "breaks off" in col(r.rejects, "reason")[0]


def test_broken_markup_mid_file_keeps_points_before_it() -> None:
    data = doc(
        pt(47.0, 8.0, "2024-01-01T00:00:00Z"), "<trkpt lat='1' lon='2'><time>x</oops>", pt(47.1, 8.1, "x")
    )
    c, _f, rj = read_bytes(data)
    assert (c.fixes, c.rejected) == (1, 1)
    assert col(rj, "position") == [5]
    assert "mismatched tag" in col(rj, "reason")[0]


def test_gigantic_time_text_rejects_that_point_only() -> None:
    big = "2" * (1 << 21)  # 2 MiB of text inside <time>
    data = doc(
        pt(47.0, 8.0, "2024-01-01T00:00:00Z"), pt(47.1, 8.1, big), pt(47.2, 8.2, "2024-01-01T00:00:02Z")
    )
    c, f, rj = read_bytes(data)
    assert (c.read, c.fixes, c.rejected) == (3, 2, 1)
    assert col(rj, "position") == [5]
    assert col(rj, "field") == ["time"]
    assert "longer than" in col(rj, "reason")[0]
    assert col(f, "lat") == [47.0, 47.2]


def test_small_record_cap_applies_to_text() -> None:
    data = doc(pt(47.0, 8.0, "2024-01-01T00:00:00Z", "<ele>" + "1" * 200 + "</ele>"))
    c, _, rj = read_bytes(data, max_record_bytes=100)
    assert (c.fixes, c.rejected) == (0, 1)
    assert col(rj, "field") == ["ele"]


def test_gigantic_uncaptured_text_is_skipped() -> None:
    desc = "<desc>" + "blah " * 600_000 + "</desc>"  # 3 MB of description inside a point
    data = doc(pt(47.0, 8.0, "2024-01-01T00:00:00Z", desc), pt(47.1, 8.1, "2024-01-01T00:00:01Z"))
    c, _f, _ = read_bytes(data)
    assert (c.fixes, c.rejected) == (2, 0)


def test_gigantic_attribute_stops_reading_with_one_reject() -> None:
    data = doc(
        pt(47.0, 8.0, "2024-01-01T00:00:00Z"),
        '<trkpt lat="47.1" lon="8.1" junk="'
        + "x" * (3 << 20)
        + '"><time>2024-01-01T00:00:01Z</time></trkpt>',
        pt(47.2, 8.2, "2024-01-01T00:00:02Z"),
    )
    c, f, rj = read_bytes(data)
    assert (c.read, c.fixes, c.rejected) == (2, 1, 1)
    assert col(f, "lat") == [47.0]
    assert col(rj, "position") == [5]
    assert "longer than" in col(rj, "reason")[0]


def test_nested_point_is_rejected_and_inner_kept() -> None:
    data = doc('<trkpt lat="1" lon="1">' + pt(47.0, 8.0, "2024-01-01T00:00:00Z") + "</trkpt>")
    c, _f, rj = read_bytes(data)
    assert (c.fixes, c.rejected) == (1, 1)
    assert col(rj, "field") == ["trkpt"]


def test_not_gpx_when_forced_is_a_format_error(tmp_path: Path) -> None:
    csv = tmp_path / "points.csv"
    csv.write_text("time,lat,lon\n2024-01-01T00:00:00Z,47,8\n")
    with pytest.raises(FormatError, match=r"points\.csv.*expected a GPX document"):
        read(csv, format="gpx")
    kml = tmp_path / "t.kml"
    kml.write_text('<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"/>')
    with pytest.raises(FormatError, match="root element is <kml>"):
        read(kml, format="gpx")


def test_empty_gpx_reads_nothing_without_error() -> None:
    c, f, rj = read_bytes(doc())
    assert (c.read, f.num_rows, rj.num_rows) == (0, 0, 0)


def test_many_points_cross_batches_in_order() -> None:
    n = 70_000  # more than one batch handed to the sink
    pts = [
        pt(40 + i * 1e-5, 8.0, f"2024-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z")
        for i in range(n)
    ]
    c, f, _ = read_bytes(doc(*pts))
    assert c.fixes == n
    t = col(f, "t")
    assert t[0] == at(2024, 1, 1, 0, 0, 0)
    assert t[-1] == at(2024, 1, 1, 0, 0, n - 1)
    assert t == sorted(t)


def test_utf16_gpx_is_detected_and_read(tmp_path: Path) -> None:
    text = (
        doc(pt(47.0, 8.0, "2024-01-01T00:00:00Z")).decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    )
    p = tmp_path / "track.dat"
    p.write_bytes(text.encode("utf-16"))
    r = read(p, now_us=NOW)
    assert r.members[0].format == "gpx"
    assert r.counts.fixes == 1


def test_round_trip_through_the_gpx_writer(tmp_path: Path) -> None:
    from hereabouts.io.writers import write_gpx

    first = read(FULL, now_us=NOW)
    out = tmp_path / "again.gpx"
    write_gpx(first.fixes, out)
    second = read(out, now_us=NOW)
    assert second.counts.fixes == first.counts.fixes
    for name in ("t", "lat", "lon", "altitude_m", "speed_mps", "course_deg", "accuracy_m", "provider"):
        assert col(second.fixes, name) == col(first.fixes, name), name


# ---------------------------------------------------------------------------- detection
def test_detected_by_content_not_name(tmp_path: Path) -> None:
    renamed = tmp_path / "export.txt"
    shutil.copy(FULL, renamed)
    r = read(renamed, now_us=NOW)
    assert r.members[0].format == "gpx"
    assert r.counts.fixes == 7


def test_csv_named_gpx_is_not_read_as_gpx(tmp_path: Path) -> None:
    fake = tmp_path / "track.gpx"
    fake.write_text("time,lat,lon\n2024-01-01T00:00:00Z,47.0,8.0\n")
    try:
        r = read(fake, now_us=NOW)
    except UnknownFormatError:
        return
    assert r.members[0].format != "gpx"


def test_sniff_scores() -> None:
    s = gpx.FORMAT.sniff
    assert s(FULL.read_bytes()[:65536], "x.gpx") == 1.0
    assert s(FULL.read_bytes()[:65536], "x.txt") >= 0.5
    assert s(b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2">', "x.gpx") == 0.0
    assert s(b"<TrainingCenterDatabase>", "x.gpx") == 0.0
    assert s(b'{"type":"FeatureCollection"}', "x.gpx") == 0.0
    assert s(b"", "x.gpx") == 0.0
    assert s(b"\xff\xfe\x00garbage\x00", "x.gpx") == 0.0
    # a GPX mentioned inside another document is not a GPX
    assert s(b"<html><body>&lt;gpx&gt;</body></html>", "x.gpx") == 0.0


# ---------------------------------------------------------------------------- fuzzing
_SEED = FULL.read_bytes()
_TMP = Path(tempfile.mkdtemp(prefix="hereabouts-gpx-fuzz-"))


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(_SEED)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cut", "delete", "insert", "flip"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "cut":
            del data[i:]
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 40))]
        elif op == "insert":
            data[i:i] = draw(
                st.sampled_from([b"<", b">", b"&", b'"', b"</trkpt>", b"<trkpt>", b"\x00", b"\xff", b"]]>"])
            )
        elif data:
            data[i] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=80, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_fuzzed_gpx_never_crashes_and_counts_balance(data: bytes) -> None:
    p = _TMP / "fuzz.gpx"
    p.write_bytes(data)
    try:
        r = read(p, format="gpx", now_us=NOW)
    except HereaboutsError:
        return
    c = r.counts
    assert balanced(c)
    # never more records than the seed's 10 points, plus one per inserted tag and the damage reject
    assert c.read <= 16


def test_truncated_gzip_keeps_points_read_before_the_damage(tmp_path: Path) -> None:
    import gzip

    n = 20_000  # several read chunks, so some arrive before the damage
    pts = [
        pt(40 + i * 1e-5, 8.0, f"2024-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z")
        for i in range(n)
    ]
    packed = gzip.compress(doc(*pts))
    p = tmp_path / "track.gpx.gz"
    p.write_bytes(packed[: len(packed) * 2 // 3])
    r = read(p, now_us=NOW)
    assert r.members[0].format == "gpx"
    assert 0 < r.counts.fixes < n
    assert r.counts.rejected == 1
    assert col(r.fixes, "t") == [at(2024, 1, 1, 0, 0, i) for i in range(r.counts.fixes)]


def test_own_export_keeps_one_device_per_track_at_any_chunk_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa

    from hereabouts.io import _xml
    from hereabouts.io.writers import write_gpx

    t0 = 1_700_000_000_000_000
    table = pa.table(
        {
            "device": ["van 7", "van 7", "jane/phone", "Straße"],
            "t": pa.array([t0, t0 + 60_000_000, t0, t0], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "lat": [48.1, 48.2, 48.1, 48.3],
            "lon": [11.5, 11.6, 11.5, 11.7],
        }
    )
    path = tmp_path / "export.gpx"
    write_gpx(table, path)
    for size in (1, 7, 100, 1 << 18):
        monkeypatch.setattr(_xml, "CHUNK_BYTES", size)
        got = sorted(
            read(path).fixes.select(["device", "lat"]).to_pylist(), key=lambda r: (r["device"], r["lat"])
        )
        assert got == sorted(
            [
                {"device": d, "lat": la}
                for d, la in zip(table["device"].to_pylist(), table["lat"].to_pylist(), strict=True)
            ],
            key=lambda r: (r["device"], r["lat"]),
        ), size
    # a GPX from any other creator never takes devices from track names
    other = tmp_path / "other.gpx"
    other.write_text(path.read_text().replace('creator="hereabouts"', 'creator="hereabouts tests"'))
    assert set(read(other).fixes.column("device").to_pylist()) == {"other"}
