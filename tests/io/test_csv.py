"""CSV reader: generic delimited text and Traccar's positions export."""

from __future__ import annotations

import io
import math
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts.io.csv_ as csv_
from hereabouts.io import _lines, detect, read
from hereabouts.io._base import Counts, MemoryWriter, ReadContext, ReadOptions, Sink
from hereabouts.io._detect import get
from hereabouts.io._time import parse_iso
from hereabouts.model.errors import FormatError, HereaboutsError, InputError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "csv"
T0 = int(datetime(2024, 6, 15, 10, 30, tzinfo=UTC).timestamp() * 1_000_000)
S = 1_000_000


def read_bytes(data: bytes, fmt: str = "csv", **options: Any) -> tuple[Counts, pa.Table, pa.Table]:
    f = get(fmt)
    opts = ReadOptions(**options)
    writer = MemoryWriter()
    sink = Sink(writer, member="mem.csv", options=opts, unit=f.unit)
    f.read(io.BytesIO(data), ReadContext(sink=sink, options=opts, member="mem.csv"))
    counts = sink.close()
    return counts, writer.table("fix"), writer.table("reject")


def col(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist()


def t_us(table: pa.Table) -> list[int]:
    return table.column("t").cast(pa.int64()).to_pylist()


def balanced(c: Counts) -> bool:
    return (
        c.read
        == c.fixes + c.rejected + c.duplicates + c.scans + c.reported_stays + c.reported_trips + c.events
    )


# ------------------------------------------------------------------ good files
def test_full_file_reads_every_column() -> None:
    r = read(FIX / "full.csv")
    assert r.members[0].format == "csv"
    assert (r.counts.fixes, r.counts.rejected) == (4, 0)
    f = r.fixes
    assert col(f, "device") == ["van-7", "van-7", "van-8", "full"]  # empty device -> file name
    assert t_us(f) == [T0, T0 + 10 * S, T0 + 20 * S, T0 + 30 * S]
    assert col(f, "tz_offset_s") == [None, None, 7200, None]  # 'Z' says nothing of the local offset
    assert col(f, "lat")[0] == 52.520008 and col(f, "lon")[3] == 13.407954
    assert col(f, "accuracy_m") == [5.0, 8.0, None, 12.0]
    assert col(f, "altitude_m") == [34.5, 35.0, None, 36.0]
    assert col(f, "speed_mps") == [12.5, 13.0, None, 0.0]
    assert col(f, "course_deg") == [90.0, 91.0, None, 359.5]
    assert col(f, "provider") == ["gps", "fused", None, "wifi"]


def test_epoch_seconds_milliseconds_and_fractions() -> None:
    r = read(FIX / "epoch.csv")
    assert t_us(r.fixes) == [1718447400 * S, 1718447460 * S, 1718447520 * S + 500_000]
    assert col(r.fixes, "tz_offset_s") == [None, None, None]


def test_german_semicolon_file_with_split_date_time_units_bom_and_crlf() -> None:
    r = read(FIX / "german.csv")
    assert (r.counts.fixes, r.counts.rejected) == (2, 0)
    f = r.fixes
    assert col(f, "lat") == [52.5, 52.6] and col(f, "lon") == [13.4, 13.5]
    assert t_us(f) == [T0, T0 - 3600 * S + 60 * S]  # 9:31 (one-digit hour) read too
    assert col(f, "altitude_m")[0] == pytest.approx(30.48)  # 100 ft
    assert col(f, "altitude_m")[1] is None
    assert col(f, "speed_mps") == pytest.approx([10.0, 20.0])  # km/h


def test_split_date_time_in_a_zone_keeps_the_offset() -> None:
    r = read(FIX / "german.csv", tz="Europe/Berlin")
    assert t_us(r.fixes)[0] == T0 - 2 * 3600 * S
    assert col(r.fixes, "tz_offset_s") == [7200, 7200]


def test_tab_file_with_mph() -> None:
    r = read(FIX / "tabbed.tsv")
    assert col(r.fixes, "lon") == [-74.0, -74.1]
    assert col(r.fixes, "speed_mps") == pytest.approx([4.4704, 8.9408])


def test_pipe_file_with_x_y_heading_and_user_streams() -> None:
    r = read(FIX / "pipes.csv")
    assert col(r.fixes, "lat") == [40.7, 40.8] and col(r.fixes, "lon") == [-74.0, -74.1]
    assert col(r.fixes, "course_deg") == [180.0, 190.0]
    assert col(r.fixes, "device") == ["ann", "bob"]


def test_excel_sep_line() -> None:
    r = read(FIX / "excel_sep.csv")
    assert (r.counts.fixes, col(r.fixes, "lat")) == (1, [1.5])


def test_naive_times_read_in_the_given_zone_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"time,lat,lon\n2024-06-15 12:30:00,52.5,13.4\n2024-01-15 12:30:00,52.5,13.4\n"
    fast = read_bytes(data, tz="Europe/Berlin")
    monkeypatch.setattr(csv_, "_fast_block", lambda *a: False)
    slow = read_bytes(data, tz="Europe/Berlin")
    for _, fixes, _ in (fast, slow):
        jan = int(datetime(2024, 1, 15, 11, 30, tzinfo=UTC).timestamp()) * S
        assert t_us(fixes) == [T0, jan]
        assert col(fixes, "tz_offset_s") == [7200, 3600]


def test_quoted_fields_with_delimiters() -> None:
    data = b'"time","lat","lon","name"\n"2024-06-15T10:30:00Z","52.5","13.4","Smith, Ann"\n'
    c, fixes, _ = read_bytes(data)
    assert c.fixes == 1 and col(fixes, "device") == ["Smith, Ann"]


def test_e7_columns_and_hdop_as_accuracy() -> None:
    data = b"time,latitudeE7,longitudeE7,hdop\n2024-06-15T10:30:00Z,525000000,134000000,1.2\n"
    _, fixes, _ = read_bytes(data)
    assert col(fixes, "lat") == [pytest.approx(52.5)] and col(fixes, "lon") == [pytest.approx(13.4)]
    assert col(fixes, "accuracy_m") == [pytest.approx(6.0)]


def test_knots_column_and_speed_in_metres_per_second_by_default() -> None:
    data = b"time,lat,lon,speed_knots,vel\n2024-06-15T10:30:00Z,52.5,13.4,10,3\n"
    _, fixes, _ = read_bytes(data)
    assert col(fixes, "speed_mps") == [pytest.approx(10 * 1852 / 3600)]
    data = b"time,lat,lon,velocity\n2024-06-15T10:30:00Z,52.5,13.4,3\n"
    _, fixes, _ = read_bytes(data)
    assert col(fixes, "speed_mps") == [3.0]


def test_header_styles_units_and_languages() -> None:
    cols = csv_.match_columns(
        [
            "Time (UTC)",
            "Latitude [deg]",
            "Longitude [deg]",
            "speed_m_s",
            "Altitude_ft",
            "Heading",
            "Device Name",
        ]
    )
    assert {k: (c.index, c.scale) for k, c in cols.items()} == {
        "t": (0, 1.0),
        "lat": (1, 1.0),
        "lon": (2, 1.0),
        "speed_mps": (3, 1.0),
        "altitude_m": (4, pytest.approx(0.3048)),
        "course_deg": (5, 1.0),
        "device": (6, 1.0),
    }
    cols = csv_.match_columns(["fecha", "hora", "latitud", "longitud", "velocidad (km/h)", "rumbo"])
    assert {k: c.index for k, c in cols.items()} == {
        "date": 0,
        "time": 1,
        "lat": 2,
        "lon": 3,
        "speed_mps": 4,
        "course_deg": 5,
    }
    assert cols["speed_mps"].scale == pytest.approx(1 / 3.6)
    # an accuracy column wins over hdop; GPSLogger's header
    gpslogger = [
        "time",
        "lat",
        "lon",
        "elevation",
        "accuracy",
        "bearing",
        "speed",
        "satellites",
        "provider",
        "hdop",
        "timestamp_ms",
    ]
    cols = csv_.match_columns(gpslogger)
    assert {k: c.name for k, c in cols.items()} == {
        "t": "time",
        "lat": "lat",
        "lon": "lon",
        "altitude_m": "elevation",
        "accuracy_m": "accuracy",
        "course_deg": "bearing",
        "speed_mps": "speed",
        "provider": "provider",
    }


# ------------------------------------------------------------ column mapping
def test_column_mapping_overrides_detection() -> None:
    data = b"when,north,east,who,latitude\n2024-06-15T10:30:00Z,52.5,13.4,cat,1.0\n"
    c, fixes, _ = read_bytes(data, columns={"t": "when", "lat": "North", "lon": "east", "device": "who"})
    assert c.fixes == 1
    assert (col(fixes, "lat"), col(fixes, "device")) == ([52.5], ["cat"])


def test_column_mapping_with_date_and_time_pair() -> None:
    data = b"d,clock,lat,lon\n2024-06-15,10:30:00,52.5,13.4\n"
    _, fixes, _ = read_bytes(data, columns={"date": "d", "time": "clock"})
    assert t_us(fixes) == [T0]


def test_unknown_column_in_mapping_names_it_and_lists_the_files_columns() -> None:
    with pytest.raises(InputError) as exc:
        read(FIX / "full.csv", columns={"t": "zeit"})
    msg = str(exc.value)
    assert "'zeit'" in msg and "'timestamp'" in msg and "'latitude'" in msg


def test_unknown_field_in_mapping_lists_our_fields() -> None:
    with pytest.raises(InputError, match=r"unknown field 'when'.*accuracy_m"):
        read(FIX / "full.csv", columns={"when": "timestamp"})


def test_headerless_file_with_numbered_mapping() -> None:
    with pytest.raises(HereaboutsError):
        read(FIX / "headerless.csv", format="csv")
    r = read(FIX / "headerless.csv", format="csv", columns={"t": "1", "lat": "2", "lon": "3"})
    assert col(r.fixes, "lat") == [52.1, 52.2]
    assert col(r.rejects, "position") == []


def test_file_without_coordinates_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="no column for lat, lon"):
        read_bytes(b"time,speed,name\n2024-06-15T10:30:00Z,1,a\n")


# ------------------------------------------------------------- malformed files
def test_malformed_lines_are_rejected_with_position_and_field() -> None:
    r = read(FIX / "malformed.csv")
    assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (11, 3, 8)
    assert balanced(r.counts)
    rej = sorted(
        zip(col(r.rejects, "position"), col(r.rejects, "field"), col(r.rejects, "reason"), strict=True)
    )
    assert [(p, f) for p, f, _ in rej] == [
        (3, "lat"),  # 'abc'
        (4, "lat"),  # 95
        (5, "lat"),  # NaN
        (6, "t"),  # 25:99
        (7, "lon"),  # missing field
        (8, "t"),  # before 1980
        (12, "lat"),  # 0,0
        (13, "lat"),  # truncated last line
    ]
    assert "'abc' is not a number" in rej[0][2]
    assert "missing" in rej[4][2]
    assert col(r.fixes, "device") == ["a", "a", "x"]


def test_gigantic_line_is_rejected_and_the_rest_kept() -> None:
    data = (
        b"time,lat,lon\n2024-06-15T10:30:00Z,52.5,13.4\n"
        + b"9" * 5000
        + b"\n2024-06-15T10:31:00Z,52.6,13.5\n"
    )
    c, _fixes, rejects = read_bytes(data, max_record_bytes=1000)
    assert (c.fixes, c.rejected) == (2, 1)
    assert col(rejects, "position") == [3]
    assert "longer than 1000 bytes" in col(rejects, "reason")[0]


def test_undecodable_line_is_rejected() -> None:
    data = b"time,lat,lon,name\n2024-06-15T10:30:00Z,52.5,13.4,caf\xe9\n2024-06-15T10:31:00Z,52.6,13.5,ok\n"
    c, _fixes, rejects = read_bytes(data)
    assert (c.fixes, c.rejected) == (1, 1)
    assert col(rejects, "position") == [2] and "UTF-8" in col(rejects, "reason")[0]


def test_empty_file_is_a_format_error() -> None:
    with pytest.raises(FormatError):
        read_bytes(b"")


# ---------------------------------------------------- fast path and fallback
def _generated(n: int, bad_at: set[int]) -> bytes:
    out = ["time,lat,lon,device,speed,accuracy"]
    for i in range(n):
        if i + 2 in bad_at:  # line numbers
            out.append(f"2024-06-15T10:30:00Z,not-a-number,13.{i},d{i % 3},1,2")
            continue
        t = datetime(2024, 6, 15, tzinfo=UTC) + timedelta(seconds=i)
        ts = t.isoformat().replace("+00:00", "Z") if i % 2 else t.isoformat()
        out.append(f"{ts},{50 + i / 1e4},{8 + i / 1e4},d{i % 3},{i % 7},{(i % 5) or ''}")
    return ("\n".join(out) + "\n").encode()


def test_bad_line_in_a_large_file_is_rejected_and_block_neighbours_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_lines, "BLOCK_BYTES", 8192)
    data = _generated(3000, {1500, 2999})
    c, _fixes, rejects = read_bytes(data)
    assert (c.read, c.fixes, c.rejected) == (3000, 2998, 2)
    assert sorted(col(rejects, "position")) == [1500, 2999]
    assert set(col(rejects, "field")) == {"lat"}


def test_fast_path_and_line_path_give_the_same_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lines, "BLOCK_BYTES", 8192)
    data = _generated(1200, set())
    _, fast, _ = read_bytes(data, tz="America/New_York")
    monkeypatch.setattr(csv_, "_fast_block", lambda *a: False)
    _, slow, _ = read_bytes(data, tz="America/New_York")
    assert fast.num_rows == slow.num_rows == 1200
    assert fast.equals(slow)


def test_clean_file_uses_the_vectorised_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object) -> None:
        raise AssertionError("per-line path used for a clean file")

    monkeypatch.setattr(csv_, "_read_block_lines", boom)
    c, _, _ = read_bytes(_generated(500, set()))
    assert c.fixes == 500
    c, _, _ = read_bytes(b"t,lat,lon\n" + b"".join(b"%d,1.5,2.5\n" % (1718440200 + i) for i in range(100)))
    assert c.fixes == 100


_zones = st.sampled_from([None, "+05:30", "-08:00", "Z"])


@settings(max_examples=60, deadline=3000)
@given(
    st.lists(
        st.tuples(
            st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 1, 1)),
            st.sampled_from([0, 3, 6]),
        ),
        min_size=1,
        max_size=20,
    ),
    _zones,
    st.sampled_from(["iso", "space", "epoch_s", "epoch_ms"]),
)
def test_vector_time_agrees_with_the_line_parser(
    stamps: list[tuple[datetime, int]], zone: str | None, style: str
) -> None:
    texts = []
    for dt, digits in stamps:
        dt = dt.replace(
            microsecond=dt.microsecond // 10 ** (6 - digits) * 10 ** (6 - digits) if digits else 0
        )
        if style.startswith("epoch"):
            secs = int(dt.replace(tzinfo=UTC).timestamp())
            texts.append(str(secs * 1000 if style == "epoch_ms" else secs))
            continue
        fmt = "%Y-%m-%dT%H:%M:%S" if style == "iso" else "%Y-%m-%d %H:%M:%S"
        s = dt.strftime(fmt) + (dt.strftime(".%f")[: digits + 1] if digits else "")
        texts.append(s + (zone or ""))
    got = csv_.vector_time(pa.array(texts), None)
    assert got is not None
    t, off = got
    want = [csv_.parse_csv_time(s, UTC) for s in texts]
    assert t.to_pylist() == [w[0] for w in want]
    assert (off.to_pylist() if off is not None else [None] * len(texts)) == [w[1] for w in want]


def test_vector_time_gives_up_on_mixed_styles() -> None:
    assert csv_.vector_time(pa.array(["2024-06-15T10:30:00Z", "1718440200"]), None) is None
    assert csv_.vector_time(pa.array(["2024-06-15T10:30:00Z", "2024-06-15T10:30:00"]), None) is None
    assert csv_.vector_time(pa.array(["2024-06-15T10:30:00Z", None]), None) is None


def test_other_date_styles() -> None:
    tz = timezone(timedelta(hours=2))
    assert csv_.parse_csv_time("15.06.2024 12:30:00", tz) == (T0, 7200)
    assert csv_.parse_csv_time("2024/06/15 10:30:00", UTC)[0] == T0
    assert parse_iso("2024-06-15T10:30:00Z")[0] == T0
    with pytest.raises(ValueError):
        csv_.parse_csv_time("06/15/2024 10:30", UTC)


# ------------------------------------------------------------------- Traccar
def test_traccar_export() -> None:
    r = read(FIX / "traccar.csv")
    assert r.members[0].format == "traccar_csv"
    assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (4, 3, 1)
    f = r.fixes
    assert col(f, "device") == ["7", "7", "9"]
    assert t_us(f) == [T0, T0 + 60 * S, T0 + 180 * S]
    assert col(f, "speed_mps") == pytest.approx([10 * 1852 / 3600, 0.0, 20 * 1852 / 3600])
    # accuracy 0 means unknown; the address with commas does not shift the columns after it
    assert col(f, "accuracy_m") == [None, 15.0, 5.0]
    assert col(f, "altitude_m") == [34.0, 35.0, 500.0]
    assert col(f, "course_deg") == [90.0, 91.0, 180.0]
    assert col(r.rejects, "position") == [4] and col(r.rejects, "field") == ["valid"]


def test_traccar_times_are_in_the_accounts_zone() -> None:
    r = read(FIX / "traccar.csv", tz="Europe/Berlin")
    assert t_us(r.fixes)[0] == T0 - 2 * 3600 * S
    assert col(r.fixes, "tz_offset_s")[0] == 7200


def test_csv_with_traccar_field_names_is_read_as_traccar() -> None:
    data = b"deviceId,fixTime,latitude,longitude,speed,course\n12,2024-06-15 10:30:00,48.1,11.5,10,90\n"
    found = detect(data, "positions.csv")
    assert found is not None and found.name == "traccar_csv"
    c, fixes, _ = read_bytes(data, "traccar_csv")
    assert c.fixes == 1 and col(fixes, "device") == ["12"] and t_us(fixes) == [T0]
    assert col(fixes, "speed_mps") == [pytest.approx(10 * 1852 / 3600)]


def test_traccar_header_read_as_generic_csv_still_uses_knots() -> None:
    r = read(FIX / "traccar.csv", format="csv")
    assert col(r.fixes, "speed_mps")[0] == pytest.approx(10 * 1852 / 3600)


# ------------------------------------------------------------------ detection
def test_detection_by_content_not_name(tmp_path: Path) -> None:
    for src, fmt in (("full.csv", "csv"), ("traccar.csv", "traccar_csv"), ("german.csv", "csv")):
        dst = tmp_path / (src + ".dat")
        shutil.copy(FIX / src, dst)
        assert read(dst).members[0].format == fmt
        head = (FIX / src).read_bytes()
        found = detect(head, "renamed.txt")
        assert found is not None and found.name == fmt


@pytest.mark.parametrize(
    "content",
    [
        b'<?xml version="1.0"?><gpx version="1.1"><trk><trkseg><trkpt lat="1" lon="2"/></trkseg></trk></gpx>',
        b'{"type": "FeatureCollection", "features": []}',
        b'[{"_type": "location", "lat": 1, "lon": 2, "tst": 1718440200}]',
        b"Geolife trajectory\nWGS 84\nAltitude is in Feet\nReserved 3\n0,2,255,My Track,0,0,2,8421376\n0\n"
        b"39.9,116.3,0,492,39744.12,2008-10-23,02:53:04\n",
        b'2015-08-24T05:55:07Z\t*\t{"_type":"location","lat":52.3,"lon":10.0,"tst":1440395361}\n',
        b"just some text, with commas\nand more, text\n",
    ],
)
def test_other_formats_are_not_taken_for_csv(content: bytes) -> None:
    assert csv_._sniff_generic(content, "x.csv") < 0.5
    assert csv_._sniff_traccar(content, "x.csv") < 0.5


# ------------------------------------------------------------------ fuzzing
_SEEDS = [(FIX / n).read_bytes() for n in ("full.csv", "malformed.csv", "traccar.csv", "german.csv")]


@settings(max_examples=80, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SEEDS),
    st.lists(st.tuples(st.integers(min_value=0, max_value=2000), st.binary(max_size=4)), max_size=6),
    st.integers(min_value=0, max_value=2000),
)
def test_mutated_files_never_crash_and_counts_balance(
    seed: bytes, edits: list[tuple[int, bytes]], cut: int
) -> None:
    data = bytearray(seed)
    for at, junk in edits:
        at = at % (len(data) + 1)
        data[at : at + len(junk)] = junk
    data = data[: max(cut, len(data) // 2)]
    for fmt in ("csv", "traccar_csv"):
        try:
            c, fixes, rejects = read_bytes(bytes(data), fmt, max_record_bytes=512)
        except HereaboutsError:
            continue
        assert balanced(c)
        assert fixes.num_rows == c.fixes and rejects.num_rows == c.rejected
        for lat in col(fixes, "lat"):
            assert not math.isnan(lat) and -90 <= lat <= 90
