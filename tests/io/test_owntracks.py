"""OwnTracks readers: Recorder .rec files and JSON messages."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts.io.owntracks as ot
from hereabouts.io import detect, read
from hereabouts.io._base import Counts, MemoryWriter, ReadContext, ReadOptions, Sink
from hereabouts.io._detect import get
from hereabouts.model.errors import FormatError, HereaboutsError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "owntracks"
T0 = 1718447400  # 2024-06-15T10:30:00Z
S = 1_000_000


def read_bytes(
    data: bytes, fmt: str, member: str = "mem", **options: Any
) -> tuple[Counts, pa.Table, pa.Table, pa.Table]:
    f = get(fmt)
    opts = ReadOptions(**options)
    writer = MemoryWriter()
    sink = Sink(writer, member=member, options=opts, unit=f.unit)
    f.read(io.BytesIO(data), ReadContext(sink=sink, options=opts, member=member))
    counts = sink.close()
    return counts, writer.table("fix"), writer.table("reject"), writer.table("event")


def col(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist()


def secs(table: pa.Table) -> list[int]:
    return [t // S for t in table.column("t").cast(pa.int64()).to_pylist()]


def balanced(c: Counts) -> bool:
    return (
        c.read
        == c.fixes + c.rejected + c.duplicates + c.scans + c.reported_stays + c.reported_trips + c.events
    )


# ------------------------------------------------------------------ .rec
def test_rec_file_every_message_type() -> None:
    r = read(FIX / "sample.rec")
    assert r.members[0].format == "owntracks_rec"
    c = r.counts
    # 19 lines: 6 fixes, 4 events (transition, waypoint, 2 from waypoints), 7 rejects,
    # lwt and card skipped uncounted, one blank line
    assert (c.read, c.fixes, c.events, c.rejected) == (17, 6, 4, 7)
    assert balanced(c)
    f = r.fixes
    assert col(f, "device") == ["jane/phone", "jane/phone", "jane/tablet", "NE", "sample", "jane/phone"]
    assert secs(f) == [T0, T0 + 60, T0 + 480, T0 + 540, T0 + 600, T0 + 845]  # last: no tst, line time
    assert col(f, "accuracy_m")[:2] == [12.0, None]  # acc -1 = unknown
    assert col(f, "speed_mps")[:2] == [10.0, None]  # 36 km/h; vel -1 = unknown
    assert col(f, "course_deg")[:2] == [270.0, None]
    assert col(f, "altitude_m")[0] == 34.0
    assert col(f, "provider") == [None] * 6


def test_rec_rejects_name_line_and_field() -> None:
    r = read(FIX / "sample.rec")
    rej = sorted(
        zip(col(r.rejects, "position"), col(r.rejects, "field"), col(r.rejects, "reason"), strict=True)
    )
    assert [(p, f) for p, f, _ in rej] == [
        (8, "data"),  # encrypted
        (12, None),  # truncated JSON
        (13, None),  # not a record
        (14, "lat"),  # lat missing
        (16, "lat"),  # 95 degrees
        (17, "tst"),  # not a number
        (19, None),  # JSON but not an object
    ]
    assert "secret key" in rej[0][2]
    assert "broken" in rej[1][2]


def test_rec_events() -> None:
    r = read(FIX / "sample.rec")
    ev = r.events
    assert col(ev, "kind") == ["transition", "waypoint", "waypoint", "waypoint"]
    assert col(ev, "device") == ["jane/phone"] * 4
    data = [json.loads(d) for d in col(ev, "data")]
    assert data[0]["event"] == "enter" and data[0]["desc"] == "home" and data[0]["wtst"] == 1700000000
    assert [d["desc"] for d in data[1:]] == ["home", "work", "gym"]
    assert data[2]["rad"] == 50
    assert secs(ev)[0] == T0 + 120
    assert col(ev, "lat")[3] == 52.7


def test_rec_in_the_recorder_store_layout_names_user_and_device(tmp_path: Path) -> None:
    d = tmp_path / "store" / "rec" / "kim" / "pixel"
    d.mkdir(parents=True)
    (d / "2024-06.rec").write_bytes(
        b'2024-06-15T10:30:05Z\t*\t{"_type":"location","tst":1718447400,"lat":52.5,"lon":13.4,"tid":"KP"}\n'
        b'2024-06-15T10:31:05Z\towntracks/kim/other\t{"_type":"location","tst":1718447460,"lat":52.5,"lon":13.4}\n'
    )
    r = read(d / "2024-06.rec")
    assert col(r.fixes, "device") == ["kim/pixel", "kim/other"]
    assert col(read(d / "2024-06.rec", device="forced").fixes, "device") == ["forced", "forced"]


def test_rec_gigantic_line_and_bad_bytes() -> None:
    good = b'2024-06-15T10:30:05Z\t*\t{"_type":"location","tst":1718447400,"lat":52.5,"lon":13.4}\n'
    data = good + b"2024-06-15T10:30:05Z\t*\t{" + b" " * 5000 + b"}\n" + b"\xff\xfe\n" + good
    c, _fixes, rejects, _ = read_bytes(data, "owntracks_rec", max_record_bytes=1000)
    assert (c.fixes, c.rejected) == (2, 2)
    assert col(rejects, "position") == [2, 3]
    assert "longer than 1000" in col(rejects, "reason")[0]


def test_rec_without_any_owntracks_message_is_a_format_error() -> None:
    with pytest.raises(FormatError):
        read_bytes(b"time,lat,lon\n2024-06-15T10:30:00Z,1,2\n", "owntracks_rec")


# ------------------------------------------------------------------ JSON
def test_json_lines() -> None:
    r = read(FIX / "messages.jsonl")
    assert r.members[0].format == "owntracks_json"
    c = r.counts
    assert (c.read, c.fixes, c.events, c.rejected) == (5, 2, 1, 2)  # status skipped
    assert col(r.fixes, "device") == ["bob/car", "bc"]
    assert col(r.fixes, "speed_mps") == [20.0, None]
    assert col(r.events, "device") == ["bob/car"] and col(r.events, "kind") == ["transition"]
    assert sorted(zip(col(r.rejects, "position"), col(r.rejects, "field"), strict=True)) == [
        (4, None),
        (6, "_type"),
    ]


def test_json_array_keeps_people_apart_by_tid_or_topic() -> None:
    r = read(FIX / "friends.json")
    assert (r.counts.read, r.counts.fixes) == (3, 3)  # cards skipped
    assert col(r.fixes, "device") == ["AN", "BO", "cy/phone"]
    assert secs(r.fixes) == [T0, T0 + 60, T0 + 120]
    assert col(r.fixes, "accuracy_m") == [20.0, None, None]


def test_single_pretty_printed_message() -> None:
    r = read(FIX / "single.json")
    assert r.counts.fixes == 1
    f = r.fixes
    assert col(f, "device") == ["dee/watch"]
    assert (col(f, "lat"), col(f, "lon"), col(f, "speed_mps"), col(f, "course_deg")) == (
        [40.7],
        [-74.0],
        [5.0],
        [45.0],
    )


def test_truncated_array_keeps_records_before_the_damage() -> None:
    r = read(FIX / "truncated.json")
    assert (r.counts.fixes, r.counts.rejected) == (2, 1)
    assert col(r.rejects, "position") == [3]
    assert "truncated" in col(r.rejects, "reason")[0]


def test_concatenated_pretty_messages_and_truncated_single() -> None:
    one = (FIX / "single.json").read_bytes()
    c, fixes, _, _ = read_bytes(one + one.replace(b"1718447400", b"1718447460"), "owntracks_json")
    assert c.fixes == 2 and secs(fixes) == [T0, T0 + 60]
    c, _, rejects, _ = read_bytes(one + one[:40], "owntracks_json")
    assert (c.fixes, c.rejected) == (1, 1) and col(rejects, "position") == [2]


def test_recorder_api_reply_is_streamed() -> None:
    data = (
        b'{"count": 3, "data": [\n'
        b'{"_type":"location","tst":1718447400,"lat":1.5,"lon":2.5,"tid":"aa","isotst":"2024-06-15T10:30:00Z"},\n'
        b'{"_type":"location","tst":1718447460,"lat":1.6,"lon":2.6,"topic":"owntracks/ann/phone"},\n'
        b'{"_type":"location","tst":1718447520,"lat":"x","lon":2.7}\n'
        b'], "status": 200}'
    )
    c, fixes, rejects, _ = read_bytes(data, "owntracks_json")
    assert (c.read, c.fixes, c.rejected) == (3, 2, 1)
    assert col(fixes, "device") == ["aa", "ann/phone"] and secs(fixes) == [T0, T0 + 60]
    assert col(rejects, "position") == [3] and col(rejects, "field") == ["lat"]
    assert ot._sniff_json(data, "locations.json") >= 0.5


def test_encrypted_message_is_rejected_with_a_reason() -> None:
    c, _, rejects, _ = read_bytes(b'{"_type":"encrypted","data":"abc"}', "owntracks_json")
    assert (c.read, c.rejected) == (1, 1)
    assert "secret key" in col(rejects, "reason")[0] and col(rejects, "field") == ["data"]


def test_string_coordinates_and_time() -> None:
    c, fixes, _, _ = read_bytes(
        b'{"_type":"location","tst":"1718447400","lat":"52.5","lon":"13.4"}', "owntracks_json"
    )
    assert c.fixes == 1 and secs(fixes) == [T0] and col(fixes, "lat") == [52.5]


def test_json_that_is_not_owntracks_is_a_format_error() -> None:
    with pytest.raises(FormatError):
        read_bytes(b'{"type": "FeatureCollection", "features": []}', "owntracks_json")
    with pytest.raises(FormatError):
        read_bytes(b"time,lat,lon\n", "owntracks_json")


def test_oversized_single_document_is_rejected() -> None:
    data = b'{"_type":"location","tst":1718447400,\n"pad":"' + b"x" * 3000 + b'","lat":1,"lon":2}'
    c, _, rejects, _ = read_bytes(data, "owntracks_json", max_record_bytes=1000)
    assert (c.read, c.rejected) == (1, 1) and "larger than 1000" in col(rejects, "reason")[0]


def test_device_from_topic() -> None:
    assert ot.device_from_topic("owntracks/jane/phone") == "jane/phone"
    assert ot.device_from_topic("owntracks/jane/phone/event") == "jane/phone"
    assert ot.device_from_topic("home/tracks/jane/phone/waypoints") == "jane/phone"
    assert ot.device_from_topic("*") is None and ot.device_from_topic("-") is None
    assert ot.device_from_topic(None) is None


# ------------------------------------------------------------------ detection
def test_detection_by_content(tmp_path: Path) -> None:
    for src, fmt in (
        ("sample.rec", "owntracks_rec"),
        ("messages.jsonl", "owntracks_json"),
        ("friends.json", "owntracks_json"),
        ("single.json", "owntracks_json"),
    ):
        dst = tmp_path / (src + ".txt")
        shutil.copy(FIX / src, dst)
        assert read(dst).members[0].format == fmt
        found = detect((FIX / src).read_bytes(), "renamed.dat")
        assert found is not None and found.name == fmt


@pytest.mark.parametrize(
    "content",
    [
        b"time,lat,lon\n2024-06-15T10:30:00Z,1,2\n",
        b'{"type": "FeatureCollection", "features": [{"type": "Feature"}]}',
        b'{"locations": [{"latitudeE7": 1, "longitudeE7": 2, "timestamp": "2024-06-15T10:30:00Z"}]}',
        b'<?xml version="1.0"?><gpx version="1.1"></gpx>',
        b"Geolife trajectory\nWGS 84\n",
    ],
)
def test_other_formats_are_not_taken_for_owntracks(content: bytes) -> None:
    assert ot._sniff_rec(content, "x.rec") < 0.5
    assert ot._sniff_json(content, "x.json") < 0.5


# ------------------------------------------------------------------ fuzzing
_SEEDS = [(FIX / n).read_bytes() for n in ("sample.rec", "messages.jsonl", "friends.json", "single.json")]


@settings(max_examples=80, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_SEEDS),
    st.lists(st.tuples(st.integers(min_value=0, max_value=3000), st.binary(max_size=4)), max_size=6),
    st.integers(min_value=0, max_value=3000),
)
def test_mutated_files_never_crash_and_counts_balance(
    seed: bytes, edits: list[tuple[int, bytes]], cut: int
) -> None:
    data = bytearray(seed)
    for at, junk in edits:
        at = at % (len(data) + 1)
        data[at : at + len(junk)] = junk
    data = data[: max(cut, len(data) // 3)]
    for fmt in ("owntracks_rec", "owntracks_json"):
        try:
            c, fixes, rejects, events = read_bytes(bytes(data), fmt, max_record_bytes=700)
        except HereaboutsError:
            continue
        assert balanced(c)
        assert (fixes.num_rows, rejects.num_rows, events.num_rows) == (c.fixes, c.rejected, c.events)
