"""TCX reader: activity track points, position-less samples, courses, damage, detection, fuzzing."""

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

import hereabouts.io.tcx as tcx
from hereabouts.io import read
from hereabouts.io._base import Counts, MemoryWriter, ReadContext, ReadOptions, Sink
from hereabouts.model.errors import FormatError, HereaboutsError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "tcx"
ACTIVITY = FIX / "activity.tcx"
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
    sink = Sink(writer, member="mem.tcx", options=opts, unit="line")
    tcx.FORMAT.read(io.BytesIO(data), ReadContext(sink=sink, options=opts, member="mem.tcx"))
    counts = sink.close()
    return counts, writer.table("fix"), writer.table("reject")


def activity(*trackpoints: str) -> bytes:
    return (
        '<?xml version="1.0"?>\n<TrainingCenterDatabase '
        'xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">\n'
        "<Activities><Activity><Lap><Track>\n"
        + "\n".join(trackpoints)
        + "\n</Track></Lap></Activity></Activities>\n"
        "</TrainingCenterDatabase>\n"
    ).encode()


def tp(time: str, lat: str, lon: str) -> str:
    return (
        f"<Trackpoint><Time>{time}</Time><Position><LatitudeDegrees>{lat}</LatitudeDegrees>"
        f"<LongitudeDegrees>{lon}</LongitudeDegrees></Position></Trackpoint>"
    )


def test_activity_points_speed_and_altitude() -> None:
    r = read(ACTIVITY, now_us=NOW)
    assert r.members[0].format == "tcx"
    c = r.counts
    # 8 activity trackpoints: 1 heart-rate-only sample skipped silently, 3 fixes, 4 rejected; + 1 course
    assert (c.read, c.fixes, c.rejected) == (8, 3, 5)
    f = r.fixes
    assert col(f, "t") == [at(2024, 5, 1, 6, 0, 0), at(2024, 5, 1, 6, 0, 2), at(2024, 5, 1, 6, 1, 7.5)]
    assert col(f, "lat") == [52.52, 52.5201, 52.5206]
    assert col(f, "lon") == [13.405, 13.4051, 13.4056]
    assert col(f, "altitude_m") == [34.2, None, 35.0]
    assert col(f, "speed_mps") == [3.1, None, 2.9]  # ns3:TPX/ns3:Speed and an unprefixed TPX
    assert col(f, "tz_offset_s") == [None, 7200, None]  # Z: offset unknown
    assert col(f, "provider") == [None, None, None]
    assert set(col(f, "device")) == {"activity"}  # not the <Creator> name


def test_rejects_name_line_and_field() -> None:
    r = read(ACTIVITY, now_us=NOW)
    assert rejects(r) == [
        (35, "Time"),  # a position without a time
        (38, "LatitudeDegrees"),  # "north"
        (42, "LongitudeDegrees"),  # missing
        (46, "lat"),  # -91
        (62, "Course"),  # a planned course, not observations
    ]
    reasons = dict(zip(col(r.rejects, "position"), col(r.rejects, "reason"), strict=True))
    assert "no <Time>" in reasons[35]
    assert "planned route" in reasons[62]


def test_position_less_samples_are_not_records() -> None:
    hr_only = "<Trackpoint><Time>2024-05-01T06:00:01Z</Time><HeartRateBpm><Value>99</Value></HeartRateBpm></Trackpoint>"
    c, _f, _rj = read_bytes(activity(hr_only, hr_only, tp("2024-05-01T06:00:02Z", "52.5", "13.4"), hr_only))
    assert (c.read, c.fixes, c.rejected) == (1, 1, 0)


def test_truncated_tcx_keeps_points_before_the_break() -> None:
    pts = [tp(f"2024-05-01T06:00:0{i}Z", f"52.5{i}", "13.4") for i in range(4)]
    data = activity(*pts)
    cut = data[: data.index(b"52.53")]  # inside the fourth point
    c, f, rj = read_bytes(cut)
    assert (c.read, c.fixes, c.rejected) == (4, 3, 1)
    assert col(f, "lat") == [52.5, 52.51, 52.52]
    assert col(rj, "position") == [7]
    assert col(rj, "field") == [None]


def test_gigantic_value_rejects_that_point() -> None:
    c, _f, rj = read_bytes(
        activity(
            tp("2024-05-01T06:00:00Z", "5" * (1 << 21), "13.4"), tp("2024-05-01T06:00:01Z", "52.5", "13.4")
        )
    )
    assert (c.fixes, c.rejected) == (1, 1)
    assert col(rj, "field") == ["LatitudeDegrees"]
    assert "longer than" in col(rj, "reason")[0]


def test_wrong_root_is_a_format_error(tmp_path: Path) -> None:
    p = tmp_path / "x.tcx"
    p.write_text('<?xml version="1.0"?><gpx version="1.1"></gpx>')
    with pytest.raises(FormatError, match="expected a TCX document"):
        read(p, format="tcx")


def test_detected_by_content_not_name(tmp_path: Path) -> None:
    renamed = tmp_path / "run.xml"
    shutil.copy(ACTIVITY, renamed)
    r = read(renamed, now_us=NOW)
    assert r.members[0].format == "tcx"
    assert r.counts.fixes == 3


def test_sniff_scores() -> None:
    s = tcx.FORMAT.sniff
    assert s(ACTIVITY.read_bytes(), "a.tcx") == 1.0
    assert s(ACTIVITY.read_bytes(), "a.bin") >= 0.5
    assert s(b'<?xml version="1.0"?><gpx version="1.1">', "a.tcx") == 0.0
    assert s(b'<kml xmlns="http://www.opengis.net/kml/2.2">', "a.tcx") == 0.0
    assert s(b"Time,Lat,Lon\n", "a.tcx") == 0.0


_SEED = ACTIVITY.read_bytes()
_TMP = Path(tempfile.mkdtemp(prefix="hereabouts-tcx-fuzz-"))


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
                st.sampled_from([b"<", b"&", b"</Trackpoint>", b"<Position>", b"<Course>", b"\xc3"])
            )
        elif data:
            data[i] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=80, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_fuzzed_tcx_never_crashes_and_counts_balance(data: bytes) -> None:
    p = _TMP / "fuzz.tcx"
    p.write_bytes(data)
    try:
        r = read(p, format="tcx", now_us=NOW)
    except HereaboutsError:
        return
    assert balanced(r.counts)
