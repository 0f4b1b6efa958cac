"""FIT reader: fixtures written by our own encoder (tests/fixtures/fit/make_fit.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts.io.fit as fit_reader
from hereabouts.io import detect, read
from hereabouts.model.errors import FormatError, HereaboutsError

FIT_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "fit"


def _load_make_fit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hereabouts_test_make_fit", FIT_DIR / "make_fit.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


mf = _load_make_fit()
NOW_US = 1_800_000_000_000_000


def _deg(semis: int) -> float:
    return semis * 180.0 / 2**31


def test_committed_fixtures_are_what_the_generator_writes() -> None:
    for name, make in mf.FILES.items():
        assert (FIT_DIR / name).read_bytes() == make(), f"{name} is stale: run make_fit.py"


def test_encoder_crc_matches_the_published_check_value() -> None:
    # the FIT CRC is CRC-16/ARC: its check value over "123456789" is 0xBB3D
    assert mf.crc16(b"123456789") == 0xBB3D


def test_activity_fixes_exact() -> None:
    r = read(FIT_DIR / "activity.fit", now_us=NOW_US)
    assert r.members[0].format == "fit"
    c = r.counts
    # the heart-rate-only record and the event message are not location records: not counted
    assert (c.read, c.fixes, c.rejected) == (7, 7, 0)
    expected = mf.expected_fixes()
    got = r.fixes.to_pylist()
    assert [int(f["t"].timestamp()) for f in got] == [e[0] for e in expected]
    assert [f["lat"] for f in got] == [_deg(e[1]) for e in expected]
    assert [f["lon"] for f in got] == [_deg(e[2]) for e in expected]
    assert [f["altitude_m"] for f in got] == pytest.approx([e[3] for e in expected], abs=1e-9)
    assert [f["speed_mps"] for f in got] == pytest.approx([e[4] for e in expected], abs=1e-9)
    assert [f["accuracy_m"] for f in got] == [e[5] for e in expected]
    assert {f["provider"] for f in got} == {"gps"}
    assert {f["device"] for f in got} == {"activity"}
    assert all(f["tz_offset_s"] is None for f in got)


def test_reject_position_is_the_offset_of_the_record(tmp_path: Path) -> None:
    data, offsets = mf.activity()
    bad = bytearray(data)
    at = offsets[2] + 1 + 4  # record header byte, timestamp, then position_lat
    bad[at : at + 4] = int(95 * 2**31 / 180).to_bytes(4, "little", signed=True)
    p = tmp_path / "lat95.fit"
    p.write_bytes(bytes(bad))
    r = read(p, now_us=NOW_US)
    rej = r.rejects.to_pylist()
    assert r.counts.fixes == 6
    by_field = {x["field"]: x for x in rej}
    assert by_field["lat"]["position"] == offsets[2]
    assert by_field["lat"]["unit"] == "offset"
    assert "crc" in by_field  # the edit broke the file checksum
    assert r.counts.read == r.counts.fixes + r.counts.rejected


def test_bad_crc_keeps_records_and_rejects_once() -> None:
    r = read(FIT_DIR / "activity_bad_crc.fit", now_us=NOW_US)
    assert (r.counts.fixes, r.counts.rejected) == (7, 1)
    (rej,) = r.rejects.to_pylist()
    assert rej["field"] == "crc"
    assert rej["position"] == len(mf.activity()[0]) - 2
    assert "checksum" in rej["reason"]


def test_truncated_keeps_records_before_the_break() -> None:
    data = (FIT_DIR / "activity_truncated.fit").read_bytes()
    r = read(FIT_DIR / "activity_truncated.fit", now_us=NOW_US)
    assert (r.counts.fixes, r.counts.rejected) == (5, 1)
    (rej,) = r.rejects.to_pylist()
    assert rej["position"] == len(data)
    assert "truncated" in rej["reason"]
    assert r.fixes.column("lat").to_pylist() == [_deg(e[1]) for e in mf.expected_fixes()[:5]]


def test_record_with_position_but_no_timestamp_is_rejected() -> None:
    r = read(FIT_DIR / "no_timestamp.fit", now_us=NOW_US)
    assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (3, 2, 1)
    (rej,) = r.rejects.to_pylist()
    assert rej["field"] == "timestamp"
    assert rej["position"] > 14
    assert r.fixes.column("lat").to_pylist() == [_deg(mf.semicircles(10.0)), _deg(mf.semicircles(10.2))]


def test_out_of_range_latitude_and_relative_time() -> None:
    r = read(FIT_DIR / "out_of_range.fit", now_us=NOW_US)
    assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (3, 1, 2)
    fields = sorted(r.rejects.column("field").to_pylist())
    assert fields == ["lat", "timestamp"]


def test_invalid_position_values_are_not_location_records(tmp_path: Path) -> None:
    enc = mf.Encoder()
    enc.define(0, mf.RECORD, [(253, mf.UINT32), (0, mf.SINT32), (1, mf.SINT32)])
    enc.data(0, [mf.fit_time(mf.T0), None, None])  # 0x7FFFFFFF: "invalid", no GPS fix yet
    enc.data(0, [mf.fit_time(mf.T0 + 1), mf.semicircles(1.5), mf.semicircles(2.5)])
    p = tmp_path / "nofix.fit"
    p.write_bytes(enc.file())
    r = read(p, now_us=NOW_US)
    assert (r.counts.read, r.counts.fixes, r.counts.rejected) == (1, 1, 0)


def test_chained_fit_files_are_all_read(tmp_path: Path) -> None:
    p = tmp_path / "chained.fit"
    p.write_bytes(mf.activity()[0] + mf.activity()[0])
    r = read(p, now_us=NOW_US)
    assert (r.counts.fixes, r.counts.rejected) == (14, 0)


def test_garbage_after_a_fit_file_is_one_reject(tmp_path: Path) -> None:
    p = tmp_path / "trailing.fit"
    p.write_bytes(mf.activity()[0] + b"this is not a FIT header at all")
    r = read(p, now_us=NOW_US)
    assert (r.counts.fixes, r.counts.rejected) == (7, 1)


def test_not_a_fit_file_raises_format_error(tmp_path: Path) -> None:
    p = tmp_path / "fake.fit"
    p.write_bytes(b"\x0e\x20\x00\x00\x00\x00\x00\x00NOPE" + b"\x00" * 40)
    with pytest.raises(FormatError):
        read(p, format="fit", now_us=NOW_US)


def test_detected_by_content_not_name(tmp_path: Path) -> None:
    data = mf.activity()[0]
    assert detect(data[:65536], "renamed.bin") is not None
    assert detect(data[:65536], "renamed.bin").name == "fit"  # type: ignore[union-attr]
    p = tmp_path / "activity.dat"
    p.write_bytes(data)
    assert read(p, now_us=NOW_US).counts.fixes == 7
    # other content named .fit is not FIT
    assert fit_reader._sniff(b'{"type":"FeatureCollection","features":[]}', "x.fit") == 0.0
    assert fit_reader._sniff(b"device,t,lat,lon\n", "x.fit") == 0.0
    assert fit_reader._sniff(b'<?xml version="1.0"?><gpx></gpx>', "x.fit") == 0.0
    assert fit_reader._sniff(data[:64], "x.bin") == 1.0
    assert fit_reader._sniff(data[:10], "x.fit") == 0.0


_GOOD = mf.activity()[0]


@settings(max_examples=80, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(min_value=0, max_value=len(_GOOD)),
    flips=st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(_GOOD) - 1), st.integers(0, 255)), max_size=6
    ),
)
def test_fuzzed_fit_never_crashes(tmp_path: Path, cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(_GOOD[:cut] if cut >= 14 else _GOOD)
    for at, val in flips:
        if at < len(data):
            data[at] = val
    p = tmp_path / "fuzz.fit"
    p.write_bytes(bytes(data))
    try:
        r = read(p, format="fit", now_us=NOW_US)
    except HereaboutsError:
        return
    c = r.counts
    assert (
        c.read
        == c.fixes + c.rejected + c.duplicates + c.scans + c.reported_stays + c.reported_trips + c.events
    )
    assert c.fixes <= 7 * 2
