"""GeoLife .plt reader."""

from __future__ import annotations

import io
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts.io.geolife as geolife
from hereabouts.io import detect, read
from hereabouts.io._base import Counts, MemoryWriter, ReadContext, ReadOptions, Sink
from hereabouts.io._detect import get
from hereabouts.model.errors import FormatError, HereaboutsError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "geolife"
GOOD = FIX / "20081023025304.plt"
S = 1_000_000


def at(y: int, mo: int, d: int, h: int, mi: int, s: int) -> int:
    return int(datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()) * S


def read_bytes(data: bytes, member: str = "mem.plt", **options: Any) -> tuple[Counts, pa.Table, pa.Table]:
    f = get("geolife")
    opts = ReadOptions(**options)
    writer = MemoryWriter()
    sink = Sink(writer, member=member, options=opts, unit=f.unit)
    f.read(io.BytesIO(data), ReadContext(sink=sink, options=opts, member=member))
    counts = sink.close()
    return counts, writer.table("fix"), writer.table("reject")


def col(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist()


def balanced(c: Counts) -> bool:
    return (
        c.read
        == c.fixes + c.rejected + c.duplicates + c.scans + c.reported_stays + c.reported_trips + c.events
    )


def test_good_file() -> None:
    r = read(GOOD)
    assert r.members[0].format == "geolife"
    assert (r.counts.fixes, r.counts.rejected) == (4, 0)
    f = r.fixes
    assert f.column("t").cast(pa.int64()).to_pylist() == [
        at(2008, 10, 23, 2, 53, 4),
        at(2008, 10, 23, 2, 53, 10),
        at(2008, 10, 23, 2, 53, 15),
        at(2008, 10, 23, 2, 53, 20),
    ]
    assert col(f, "lat")[0] == 39.984702 and col(f, "lon")[0] == 116.318417
    # feet to metres; -777 = unknown
    assert col(f, "altitude_m") == [
        pytest.approx(149.9616),
        pytest.approx(149.9616),
        None,
        pytest.approx(30.6324),
    ]
    assert col(f, "provider") == ["gps"] * 4
    assert col(f, "tz_offset_s") == [None] * 4


def test_malformed_file_exact_counts_and_positions() -> None:
    r = read(FIX / "malformed.plt")
    assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (9, 3, 6)
    assert balanced(r.counts)
    rej = sorted(zip(col(r.rejects, "position"), col(r.rejects, "field"), strict=True), key=lambda x: x[0])
    assert rej == [(8, "lat"), (9, "lat"), (10, "lat"), (11, "t"), (12, None), (16, None)]
    times = r.fixes.column("t").cast(pa.int64()).to_pylist()
    # line 13 has no date/time text: the day count gives the time (to the millisecond)
    assert times[1] == at(2008, 10, 23, 2, 53, 25)
    assert col(r.fixes, "lat")[2] == 39.98469


def test_device_from_the_data_set_layout(tmp_path: Path) -> None:
    d = tmp_path / "Geolife Trajectories 1.3" / "Data" / "042" / "Trajectory"
    d.mkdir(parents=True)
    shutil.copy(GOOD, d / GOOD.name)
    assert set(col(read(d / GOOD.name).fixes, "device")) == {"geolife/042"}
    assert set(col(read(GOOD).fixes, "device")) == {GOOD.stem}


def test_gigantic_line_and_undecodable_bytes() -> None:
    head = GOOD.read_bytes().split(b"\r\n")
    data = b"\n".join([*head[:7], b"1" * 3000, b"\xff,\xfe", head[7]]) + b"\n"
    c, _, rejects = read_bytes(data, max_record_bytes=500)
    assert (c.fixes, c.rejected) == (2, 2)
    assert col(rejects, "position") == [8, 9]
    assert "longer than 500" in col(rejects, "reason")[0]


def test_not_geolife_is_a_format_error() -> None:
    with pytest.raises(FormatError):
        read_bytes(b"a\nb\nc\nd\ne\nf\nhello world\nnot,a,point\n")


def test_detection_by_content(tmp_path: Path) -> None:
    dst = tmp_path / "track.txt"
    shutil.copy(GOOD, dst)
    assert read(dst).members[0].format == "geolife"
    found = detect(GOOD.read_bytes(), "x.dat")
    assert found is not None and found.name == "geolife"


@pytest.mark.parametrize(
    "content",
    [
        b"time,lat,lon\n2024-06-15T10:30:00Z,1,2\n",
        b'{"_type":"location","lat":1,"lon":2,"tst":1}',
        b'<?xml version="1.0"?><gpx version="1.1"></gpx>',
        b"OziExplorer Track Point File Version 2.1\nWGS 84\n",
    ],
)
def test_other_formats_are_not_taken_for_geolife(content: bytes) -> None:
    assert geolife._sniff(content, "x.plt") < 0.5


_SEEDS = [GOOD.read_bytes(), (FIX / "malformed.plt").read_bytes()]


@settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SEEDS),
    st.lists(st.tuples(st.integers(min_value=0, max_value=800), st.binary(max_size=4)), max_size=6),
    st.integers(min_value=0, max_value=800),
)
def test_mutated_files_never_crash_and_counts_balance(
    seed: bytes, edits: list[tuple[int, bytes]], cut: int
) -> None:
    data = bytearray(seed)
    for pos, junk in edits:
        pos = pos % (len(data) + 1)
        data[pos : pos + len(junk)] = junk
    data = data[: max(cut, len(data) // 3)]
    try:
        c, fixes, rejects = read_bytes(bytes(data), max_record_bytes=200)
    except HereaboutsError:
        return
    assert balanced(c)
    assert (fixes.num_rows, rejects.num_rows) == (c.fixes, c.rejected)
