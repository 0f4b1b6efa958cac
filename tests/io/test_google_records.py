"""Google Takeout Records.json: every field, the E7 overflow quirk, Wi-Fi scans, damage, size limits."""

from __future__ import annotations

import io
import json
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts.io as hio
from hereabouts.io import _detect
from hereabouts.io._base import Counts, MemoryWriter, ReadContext, ReadOptions, Sink
from hereabouts.io._json import BUF_SIZE, HARD_CAP_FACTOR
from hereabouts.model.errors import FormatError, HereaboutsError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "google"
FMT = "google_records"


def us(iso: str) -> int:
    from datetime import datetime

    d = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int(d.timestamp() * 1_000_000)


def read_bytes(data: bytes, *, fmt: str = FMT, **opts: Any) -> tuple[Counts, MemoryWriter]:
    """Read ``data`` with one format straight into memory (no detection, no file)."""
    options = ReadOptions(default_device="dev", **opts)
    writer = MemoryWriter()
    sink = Sink(writer, member="mem.json", options=options, unit="record")
    hio.get(fmt).read(io.BytesIO(data), ReadContext(sink=sink, options=options, member="mem.json"))
    return sink.close(), writer


def balanced(c: Counts) -> bool:
    return c.read == (
        c.fixes + c.duplicates + c.rejected + c.scans + c.reported_stays + c.reported_trips + c.events
    )


def records_file(tmp_path: Path, records: list[Any], name: str = "Records.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps({"locations": records}))
    return p


# ---------------------------------------------------------------- good file
def test_every_field_of_a_takeout_file() -> None:
    r = hio.read(FIXTURES / "records_takeout.json")
    c = r.counts
    assert (c.read, c.fixes, c.scans, c.rejected) == (8, 6, 2, 0)
    assert [m.format for m in r.members] == [FMT]
    fx = r.fixes.to_pylist()
    first = fx[0]
    assert first["device"] == "335552189"
    assert first["t"].timestamp() == pytest.approx(us("2022-01-12T17:18:24.190Z") / 1e6)
    assert first["tz_offset_s"] is None  # Google writes UTC and no local offset
    assert (first["lat"], first["lon"]) == (pytest.approx(52.5121303), pytest.approx(13.4309551))
    assert (first["accuracy_m"], first["altitude_m"], first["speed_mps"], first["course_deg"]) == (
        12,
        41,
        2,
        270,
    )
    assert first["provider"] == "gps"
    # providers: WIFI, no source (fused), CELL, UNKNOWN, an unlisted value
    assert [f["provider"] for f in fx] == ["gps", "wifi", "fused", "cell", "unknown", "unknown"]
    # timestampMs (older exports), no deviceTag -> the file's default device
    old = fx[2]
    assert old["t"].timestamp() == pytest.approx(1422461249.107)
    assert old["device"] == "records_takeout"
    assert (old["lat"], old["lon"]) == (pytest.approx(29.953381), pytest.approx(-90.171792))
    # unsigned 32-bit overflow: 4294067296 is -900000 wrapped around
    wrapped = fx[3]
    assert (wrapped["lat"], wrapped["lon"]) == (pytest.approx(-0.09), pytest.approx(-0.09))
    assert wrapped["device"] == "-1722931553"
    # an explicit offset is kept
    assert fx[4]["tz_offset_s"] == 3600
    assert fx[4]["t"].timestamp() == pytest.approx(us("2022-01-12T17:20:31.5Z") / 1e6)
    assert fx[5]["accuracy_m"] is None


def test_wifi_scans_become_scans_with_bssids() -> None:
    r = hio.read(FIXTURES / "records_takeout.json")
    scans = r.scans.to_pylist()
    assert [(s["ident"], s["rssi_dbm"], s["frequency_mhz"], s["kind"]) for s in scans] == [
        ("1a:51:f7:94:30:10", -64.0, 2437.0, "wifi"),
        ("a3:cc:3e:e9:12:a1", -81.0, 5180.0, "wifi"),
    ]
    assert all(s["t"].timestamp() == pytest.approx(us("2022-01-12T17:19:24Z") / 1e6) for s in scans)
    assert {s["device"] for s in scans} == {"335552189"}


def test_forced_device_wins_over_device_tag() -> None:
    r = hio.read(FIXTURES / "records_takeout.json", device="pixel")
    assert set(r.fixes.column("device").to_pylist()) == {"pixel"}
    assert set(r.scans.column("device").to_pylist()) == {"pixel"}


def test_activity_is_not_imported() -> None:
    r = hio.read(FIXTURES / "records_takeout.json")
    assert r.events.num_rows == 0 and r.reported_trips.num_rows == 0


def test_byte_order_mark_and_leading_space_are_accepted(tmp_path: Path) -> None:
    p = tmp_path / "Records.json"
    p.write_bytes(b"\xef\xbb\xbf\n  " + (FIXTURES / "records_takeout.json").read_bytes())
    r = hio.read(p, format=FMT)
    assert (r.counts.fixes, r.counts.scans, r.counts.rejected) == (6, 2, 0)


def test_empty_locations_array_reads_nothing(tmp_path: Path) -> None:
    r = hio.read(records_file(tmp_path, []), format=FMT)
    assert r.counts.read == 0


# ---------------------------------------------------------------- bad records
def test_bad_records_are_rejected_by_position_and_field() -> None:
    r = hio.read(FIXTURES / "records_bad.json")
    c = r.counts
    assert (c.fixes, c.scans, c.rejected, c.read) == (2, 1, 11, 14)
    assert balanced(c)
    rejects = sorted(
        ((x["position"], x["field"]) for x in r.rejects.to_pylist()), key=lambda pf: (pf[0], pf[1] or "")
    )
    assert rejects == [
        (2, "timestamp"),  # no time at all
        (3, "latitudeE7"),  # no latitude
        (4, "latitudeE7"),  # a string where a number belongs
        (5, "timestamp"),  # month 13
        (6, "timestampMs"),  # not digits
        (7, "t"),  # 1970: before the GPS epoch
        (8, "lat"),  # out of range even after unwrapping
        (9, "lat"),  # 0,0 placeholder
        (10, "activeWifiScan.accessPoints[0].mac"),
        (11, None),  # not an object
        (12, "t"),  # in the future
    ]
    assert all(x["unit"] == "record" for x in r.rejects.to_pylist())
    reasons = {x["position"]: x["reason"] for x in r.rejects.to_pylist()}
    assert "expected an integer" in reasons[4]
    assert "timestamp" in reasons[2] and "timestampMs" in reasons[2]
    # the NaN accuracy is dropped, the fix kept
    assert r.fixes.to_pylist()[1]["accuracy_m"] is None
    assert r.scans.column("ident").to_pylist() == ["00:00:00:00:00:01"]


def test_truncated_file_keeps_records_before_the_break(tmp_path: Path) -> None:
    data = (FIXTURES / "records_takeout.json").read_bytes()
    cut = data.index(b'"timestampMs": "1422461309107"')  # inside the 4th record
    p = tmp_path / "Records.json"
    p.write_bytes(data[:cut])
    r = hio.read(p)
    c = r.counts
    assert (c.fixes, c.scans, c.rejected) == (3, 2, 1)
    rej = r.rejects.to_pylist()[0]
    assert rej["position"] == 4 and rej["field"] is None
    assert "truncated or broken after record 3" in rej["reason"]


def test_corrupt_byte_in_the_middle(tmp_path: Path) -> None:
    data = (FIXTURES / "records_takeout.json").read_bytes()
    i = data.index(b'"accuracy": 39')
    p = tmp_path / "Records.json"
    p.write_bytes(data[:i] + b'"accuracy": 3@9' + data[i + 14 :])
    r = hio.read(p)
    assert (r.counts.fixes, r.counts.rejected) == (2, 1)
    assert r.rejects.column("position").to_pylist() == [3]


def test_not_records_at_all_with_forced_format_is_a_format_error(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text("this is not json")
    with pytest.raises(FormatError):
        hio.read(p, format=FMT)
    p.write_text('{"something": [1, 2]}')
    with pytest.raises(FormatError):
        hio.read(p, format=FMT)


# ---------------------------------------------------------------- size limits
def _big_record(size: int) -> dict[str, Any]:
    return {
        "latitudeE7": 525121303,
        "longitudeE7": 134309551,
        "timestamp": "2022-01-12T17:30:00Z",
        "note": "x" * size,
    }


def _small(i: int) -> dict[str, Any]:
    return {"latitudeE7": 525121303 + i, "longitudeE7": 134309551, "timestamp": f"2022-01-12T17:{i:02d}:00Z"}


def test_gigantic_record_is_rejected_and_reading_goes_on(tmp_path: Path) -> None:
    recs = [_small(1), _small(2), _big_record(5 * 1024 * 1024), _small(3)]
    r = hio.read(records_file(tmp_path, recs))
    assert (r.counts.fixes, r.counts.rejected) == (3, 1)
    rej = r.rejects.to_pylist()[0]
    assert rej["position"] == 3
    assert "larger than 1048576 bytes" in rej["reason"]
    assert balanced(r.counts)


class _CountingStream(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self.inner = io.BytesIO(data)
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        out = self.inner.read(n)
        self.consumed += len(out)
        return out


def test_record_past_the_hard_cap_stops_the_read_without_consuming_it() -> None:
    limit = 64 * 1024
    data = json.dumps({"locations": [_small(1), _big_record(6 * 1024 * 1024), _small(2)]}).encode()
    options = ReadOptions(default_device="dev", max_record_bytes=limit)
    writer = MemoryWriter()
    sink = Sink(writer, member="m", options=options)
    stream = _CountingStream(data)
    hio.get(FMT).read(stream, ReadContext(sink=sink, options=options, member="m"))  # type: ignore[arg-type]
    c = sink.close()
    assert (c.fixes, c.rejected) == (1, 1)
    hard_cap = max(limit * HARD_CAP_FACTOR, 4 * BUF_SIZE)
    # the parser was never fed more than the cap: the 6 MB string was not read whole
    assert stream.consumed <= hard_cap + 2 * BUF_SIZE < len(data)
    reason = writer.table("reject").column("reason").to_pylist()[0]
    assert "memory bounded" in reason


def test_memory_stays_flat_as_the_file_grows(tmp_path: Path) -> None:
    """Python memory while reading 4x more records stays about the same (the sink flushes every 300)."""

    def peak(n: int) -> int:
        data = json.dumps({"locations": [_small(i % 60) for i in range(n)]}).encode()

        class Discard:
            def write(self, tier: str, table: Any) -> int:
                return int(table.num_rows)

        options = ReadOptions(default_device="d")
        sink = Sink(Discard(), member="m", options=options, batch_rows=300)
        stream = io.BytesIO(data)
        tracemalloc.start()
        try:
            hio.get(FMT).read(stream, ReadContext(sink=sink, options=options, member="m"))
            sink.close()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(3_000), peak(12_000)
    assert large < small * 1.5 + 256 * 1024


# ---------------------------------------------------------------- detection
def test_detected_by_content_under_any_name(tmp_path: Path) -> None:
    p = tmp_path / "export.txt"
    shutil.copy(FIXTURES / "records_takeout.json", p)
    r = hio.read(p)
    assert [m.format for m in r.members] == [FMT]
    assert r.counts.fixes == 6


@pytest.mark.parametrize(
    "content",
    [
        b'{"locations": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}]}',
        b'{"type": "FeatureCollection", "features": []}',
        b'{"_type": "location", "lat": 52.5, "lon": 13.4, "tst": 1700000000}',
        b"time,lat,lon\n2022-01-01T00:00:00Z,52.5,13.4\n",
        b'<?xml version="1.0"?><gpx version="1.1"><trk></trk></gpx>',
        b'{"timelineObjects": []}',
    ],
)
def test_other_formats_are_not_taken_for_records(content: bytes) -> None:
    assert hio.get(FMT).sniff(content, "records.json") < 0.5


def test_detect_picks_records_for_records() -> None:
    head = (FIXTURES / "records_takeout.json").read_bytes()[:65536]
    fmt = _detect.detect(head, "whatever.bin")
    assert fmt is not None and fmt.name == FMT


# ---------------------------------------------------------------- fuzz
_SEED = (FIXTURES / "records_takeout.json").read_bytes()


@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(_SEED)),
    edits=st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.binary(min_size=0, max_size=3)), max_size=4),
)
def test_mutations_never_crash_and_counts_balance(cut: int, edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(_SEED)
    for at, repl in edits:
        data[at : at + 1] = repl
    data = data[:cut]
    try:
        c, _ = read_bytes(bytes(data))
    except HereaboutsError:
        return  # nothing of the format left: a whole-file error is fine
    assert balanced(c)


# ---------------------------------------------------------------- throughput
def _generate(path: Path, n: int) -> None:
    with open(path, "w") as f:
        f.write('{"locations": [')
        for i in range(n):
            rec = {
                "latitudeE7": 525121303 + (i % 1000),
                "longitudeE7": 134309551 - (i % 700),
                "accuracy": 5 + i % 40,
                "source": ("GPS", "WIFI", "CELL")[i % 3],
                "deviceTag": 335552189,
                "timestamp": f"2020-09-{13 + i // 86400:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
                f"{i % 60:02d}.{i % 1000:03d}Z",
            }
            if i % 3 == 0:
                rec.update(velocity=3, heading=120, altitude=45)
            f.write(("," if i else "") + "\n  " + json.dumps(rec))
        f.write("\n]}\n")
