"""Export with each writer, read back with :func:`hereabouts.io.read`: every fix comes back.

What each format carries (and so what is compared):

=============  ======  ==========================================================================
format         device  optional columns compared
=============  ======  ==========================================================================
geoparquet     yes     all: tz_offset_s, accuracy, altitude, speed, course, provider
geojson        yes     all
csv            yes     accuracy, altitude, speed, course, provider (the CSV reader does not read a
                       ``tz_offset_s`` column)
gpx            no      all, except that an unknown ``tz_offset_s`` comes back as 0 (the GPX reader
                       reads a ``Z`` time as offset 0); the GPX reader takes the device from the
                       import, not from ``<trk><name>``
owntracks_rec  yes*    accuracy, altitude, course; speed within 1e-12 (OwnTracks sends km/h);
                       (*) ``dev`` comes back as ``hereabouts/dev`` (OwnTracks names streams
                       ``user/device``); a device already named ``user/device`` comes back as is
=============  ======  ==========================================================================
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hereabouts.io import read
from hereabouts.io.writers import WRITERS
from hereabouts.model import schemas

NOW_US = 1_900_000_000_000_000
T_MIN = 946_684_800_000_000  # 2000-01-01
T_MAX = 1_893_456_000_000_000  # 2030-01-01

EXT = {"geoparquet": "parquet", "geojson": "geojson", "gpx": "gpx", "csv": "csv", "owntracks_rec": "rec"}
OPTIONAL = ("tz_offset_s", "accuracy_m", "altitude_m", "speed_mps", "course_deg", "provider")
CARRIES: dict[str, tuple[str, ...]] = {
    "geoparquet": OPTIONAL,
    "geojson": OPTIONAL,
    "csv": ("accuracy_m", "altitude_m", "speed_mps", "course_deg", "provider"),
    "gpx": OPTIONAL,
    "owntracks_rec": ("accuracy_m", "altitude_m", "speed_mps", "course_deg"),
}
DEVICES = ("alpha", "bravo-2", "c_3 x", "jane/phone")


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


_row = st.fixed_dictionaries(
    {
        "device": st.sampled_from(DEVICES),
        "t": st.integers(min_value=T_MIN, max_value=T_MAX),
        "lat": st.floats(min_value=-90.0, max_value=90.0, allow_nan=False),
        "lon": st.floats(min_value=-180.0, max_value=180.0, allow_nan=False),
        "tz_offset_s": _opt(st.integers(min_value=-12 * 3600, max_value=14 * 3600)),
        "accuracy_m": _opt(st.floats(min_value=0.0, max_value=1e5, allow_nan=False)),
        "altitude_m": _opt(st.floats(min_value=-500.0, max_value=1e4, allow_nan=False)),
        "speed_mps": _opt(st.floats(min_value=0.0, max_value=400.0, allow_nan=False)),
        "course_deg": _opt(st.floats(min_value=0.0, max_value=360.0, allow_nan=False, exclude_max=True)),
        "provider": _opt(st.sampled_from(schemas.PROVIDERS)),
    }
).filter(lambda r: not (r["lat"] == 0.0 and r["lon"] == 0.0))  # 0,0 is the "no fix" placeholder

fix_rows = st.lists(_row, min_size=1, max_size=25)


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    cols: dict[str, Any] = {k: [r[k] for r in rows] for k in rows[0]}
    table = pa.table(
        {
            "device": pa.array(cols["device"], pa.string()),
            "t": pa.array(cols["t"], pa.int64()).cast(schemas.UTC_US),
            "tz_offset_s": pa.array(cols["tz_offset_s"], pa.int32()),
            "lat": pa.array(cols["lat"], pa.float64()),
            "lon": pa.array(cols["lon"], pa.float64()),
            **{
                k: pa.array(cols[k], pa.float64())
                for k in ("accuracy_m", "altitude_m", "speed_mps", "course_deg")
            },
            "provider": pa.array(cols["provider"], pa.string()),
        }
    )
    return schemas.validate(table, "fix")


def expected_device(fmt: str, device: str, stem: str) -> str:
    if fmt == "owntracks_rec" and "/" not in device:
        return f"hereabouts/{device}"
    return device


def _key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["device"], r["t"], r["lat"], r["lon"])


def _same(fmt: str, col: str, want: Any, got: Any) -> bool:
    if fmt == "owntracks_rec" and col == "speed_mps" and want is not None and got is not None:
        return math.isclose(want, got, rel_tol=1e-12, abs_tol=1e-12)
    return bool(want == got)


def roundtrip(fmt: str, table: pa.Table, directory: Path, source: Any = None) -> None:
    path = directory / f"rt.{EXT[fmt]}"
    n = WRITERS[fmt](table if source is None else source, path)
    assert n == table.num_rows
    result = read(path, now_us=NOW_US)
    assert result.members[0].format == fmt
    c = result.counts
    assert (c.read, c.fixes, c.rejected) == (table.num_rows, table.num_rows, 0), result.rejects.to_pylist()
    want = []
    for r in table.to_pylist():
        r = dict(r)
        r["device"] = expected_device(fmt, r["device"], path.stem)
        r["t"] = _us(r["t"])
        want.append(r)
    got = []
    for r in result.fixes.to_pylist():
        r = dict(r)
        r["t"] = _us(r["t"])
        got.append(r)
    want.sort(key=_key)
    got.sort(key=_key)
    assert [_key(r) for r in got] == [_key(r) for r in want]
    for w, g in zip(want, got, strict=True):
        for col in CARRIES[fmt]:
            assert _same(fmt, col, w[col], g[col]), (fmt, col, w[col], g[col], w)


def _us(t: Any) -> int:
    return int(pa.scalar(t, schemas.UTC_US).cast(pa.int64()).as_py())


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@settings(max_examples=30, deadline=5000)
@given(rows=fix_rows)
def test_roundtrip_property(fmt: str, rows: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory(prefix="hereabouts-rt-") as tmp:
        roundtrip(fmt, to_table(rows), Path(tmp))


def _batches(table: pa.Table, size: int) -> Iterator[pa.RecordBatch]:
    yield from table.to_batches(max_chunksize=size)


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_roundtrip_streamed_batches_with_interleaved_devices(fmt: str, tmp_path: Path) -> None:
    n = 3000
    rows = [
        {
            "device": DEVICES[i % len(DEVICES)],
            "t": T_MIN + i * 1_000_001,
            "lat": -60.0 + i * 0.0371234567891,
            "lon": -170.0 + i * 0.1123456789012,
            "tz_offset_s": (i % 5) * 1800 if i % 3 else None,
            "accuracy_m": i / 7 if i % 4 else None,
            "altitude_m": -100 + i / 3 if i % 6 else None,
            "speed_mps": i / 11 if i % 2 else None,
            "course_deg": (i * 7.3) % 360 if i % 5 else None,
            "provider": schemas.PROVIDERS[i % len(schemas.PROVIDERS)] if i % 7 else None,
        }
        for i in range(n)
    ]
    table = to_table(rows)
    roundtrip(fmt, table, tmp_path, source=_batches(table, 700))
