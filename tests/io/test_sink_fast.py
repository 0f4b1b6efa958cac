"""The sink's scalar path for small batches against its vectorised path: same rows, same rejects."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from hereabouts.io import ReadOptions, Sink, _base
from hereabouts.io._base import MIN_T_US, MemoryWriter, Rows

NOW_US = 1_750_000_000_000_000

_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-200, max_value=200),
    st.sampled_from([0.0, -0.0, 90.0, -90.0, 180.0, -180.0, 90.000001, math.nan, math.inf]),
    st.integers(min_value=-200, max_value=200),
)
_times = st.one_of(
    st.integers(min_value=MIN_T_US - 10, max_value=MIN_T_US + 10),
    st.integers(min_value=MIN_T_US, max_value=NOW_US),
    st.integers(min_value=MIN_T_US, max_value=NOW_US + 3 * 86_400_000_000),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
_optional = st.one_of(st.none(), _floats)
_record = st.fixed_dictionaries(
    {
        "pos": st.one_of(st.none(), st.integers(min_value=1, max_value=10**6)),
        "t_us": _times,
        "lat": _floats,
        "lon": _floats,
        "device": st.sampled_from([None, "", "a", "b/c"]),
        "tz_offset_s": st.one_of(st.none(), st.integers(min_value=-50_400, max_value=50_400)),
        "accuracy_m": _optional,
        "altitude_m": _optional,
        "speed_mps": _optional,
        "course_deg": _optional,
        "provider": st.sampled_from([None, "gps", "network"]),
    }
)
# values the scalar path leaves to the vectorised one (the whole batch then goes that way)
_odd = st.fixed_dictionaries(
    {
        "pos": st.just(1),
        "t_us": st.sampled_from([True, 2**64, "1700000000", 1.7e15]),
        "lat": st.sampled_from([True, "52.1", 2**60, None]),
        "lon": st.just(5.0),
    }
)


def _run(records: list[dict[str, Any]], scalar: bool, *, writer: Any = None) -> tuple[Any, Sink]:
    out = writer if writer is not None else MemoryWriter()
    sink = Sink(out, member="m", options=ReadOptions(now_us=NOW_US, default_device="dflt"))
    saved = _base.SCALAR_ROWS
    _base.SCALAR_ROWS = saved if scalar else 0
    try:
        for r in records:
            r = dict(r)
            sink.fix(r.pop("pos"), r.pop("t_us"), r.pop("lat"), r.pop("lon"), **r)
        sink.close()
    finally:
        _base.SCALAR_ROWS = saved
    return out, sink


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    def norm(v: Any) -> Any:
        return "nan" if isinstance(v, float) and math.isnan(v) else v

    return [{k: norm(v) for k, v in r.items()} for r in a] == [{k: norm(v) for k, v in r.items()} for r in b]


@settings(max_examples=120, deadline=None)
@given(
    st.one_of(
        st.lists(_record, min_size=1, max_size=40),
        st.lists(_record, min_size=1, max_size=40),
        st.lists(st.one_of(_record, _odd), min_size=1, max_size=40),
    )
)
def test_scalar_path_matches_vectorised_path(records: list[dict[str, Any]]) -> None:
    fast, fast_sink = _run(records, scalar=True)
    slow, slow_sink = _run(records, scalar=False)
    assert fast_sink.counts == slow_sink.counts
    assert fast_sink.reject_samples == slow_sink.reject_samples
    for tier in ("fix", "reject"):
        ft, st_ = fast.table(tier), slow.table(tier)
        assert ft.schema.equals(st_.schema), tier
        assert _same(ft.to_pylist(), st_.to_pylist()), tier
    assert fast_sink.counts.read == len(records)


def test_small_batches_take_the_scalar_path_and_hand_rows_to_writers_that_take_them() -> None:
    class RowsWriter(MemoryWriter):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[Rows] = []

        def write_rows(self, tier: str, rows: Rows) -> int:
            self.rows.append(rows)
            return rows.num_rows

    good = {"pos": 1, "t_us": 1_700_000_000_000_000, "lat": 52.1, "lon": 5.1, "accuracy_m": -1.0}
    bad = {"pos": 2, "t_us": 1_700_000_000_000_000, "lat": 0.0, "lon": 0.0}
    out, sink = _run([good, bad], scalar=True, writer=RowsWriter())
    assert len(out.rows) == 1 and out.rows[0].num_rows == 1
    table = out.rows[0].to_table()
    assert table.column("accuracy_m").to_pylist() == [None]  # OwnTracks -1 means unknown
    assert table.column("device").to_pylist() == ["dflt"]
    assert table.schema.field("t").type == pa.timestamp("us", tz="UTC")
    assert sink.counts.fixes == 1 and sink.counts.rejected == 1
    assert out.table("reject").column("reason").to_pylist() == [
        "position 0,0 is a placeholder for 'no fix'; expected a real position"
    ]
    # the same through the vectorised path: one Arrow table, same row
    vec, _ = _run([good, bad], scalar=False)
    assert vec.table("fix").to_pylist() == table.to_pylist()


def test_rows_concat_keeps_order() -> None:
    a = Rows({k: [i] for i, k in enumerate(_base.FIX_COLUMNS)}, 1)
    b = Rows({k: [i + 100] for i, k in enumerate(_base.FIX_COLUMNS)}, 1)
    merged = Rows.concat([a, b])
    assert merged.num_rows == 2
    assert merged.columns["lat"] == [3, 103]


@settings(max_examples=40, deadline=None)
@given(st.lists(_record, min_size=0, max_size=50), st.integers(min_value=1, max_value=40), st.booleans())
def test_bulk_fixes_equal_one_call_per_fix(
    records: list[dict[str, Any]], batch_rows: int, forced: bool
) -> None:
    """``Sink.fixes`` (lists) is the same as calling ``Sink.fix`` per record, batch boundaries included."""
    opts = ReadOptions(now_us=NOW_US, default_device="dflt", device="forced" if forced else None)
    one, bulk = MemoryWriter(), MemoryWriter()
    a = Sink(one, member="m", options=opts, batch_rows=batch_rows)
    b = Sink(bulk, member="m", options=opts, batch_rows=batch_rows)
    for r in records:
        r = {**r, "provider": None}
        a.fix(r["pos"], r["t_us"], r["lat"], r["lon"], **{k: v for k, v in r.items() if k not in _POSITIONAL})
    b.fixes(
        [r["pos"] for r in records],
        [r["t_us"] for r in records],
        [r["lat"] for r in records],
        [r["lon"] for r in records],
        **{k: [r[k] for r in records] for k in _KEYWORDS},
    )
    assert a.close() == b.close()
    for tier in ("fix", "reject"):
        assert [t.num_rows for t in one.tables.get(tier, [])] == [
            t.num_rows for t in bulk.tables.get(tier, [])
        ]
        assert _same(one.table(tier).to_pylist(), bulk.table(tier).to_pylist())


_POSITIONAL = ("pos", "t_us", "lat", "lon")
_KEYWORDS = ("device", "tz_offset_s", "accuracy_m", "altitude_m", "speed_mps", "course_deg")
