"""The one-sort grouping of the anchors stage and the run-merging fix order of stay detection against
their plain references in :mod:`hereabouts.kernels.reference` (keys, order and sums bit for bit)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from hereabouts.analysis.anchors import group_min, group_sum
from hereabouts.analysis.stays import _columns
from hereabouts.kernels.reference import (
    entity_time_order_reference,
    group_min_reference,
    group_sum_reference,
)
from hereabouts.model.schemas import UTC_US

_rows = st.lists(
    st.tuples(
        st.integers(-3, 5),
        st.integers(0, 4),
        st.integers(-2, 2),
        st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(_rows, st.sampled_from(["small", "huge", "one key"]))
def test_group_sum_and_min_equal_the_lexicographic_reference(
    rows: list[tuple[int, int, int, float]], keys: str
) -> None:
    """Packed keys (and the lexicographic fallback for keys too wide to pack) give the keys, order,
    sums and minima of one lexicographic sort, bit for bit; the sums add in input order."""
    a = np.array([r[0] for r in rows], np.int64)
    b = np.array([r[1] for r in rows], np.int64) * (2**61 if keys == "huge" else 1)
    c = np.array([r[2] for r in rows], np.int64)
    v = np.array([r[3] for r in rows], np.float64)
    cols = (a,) if keys == "one key" else (a, b, c)
    got_keys, got_sums = group_sum(v, *cols)
    ref_keys, ref_sums = group_sum_reference(v, *cols)
    assert [k.tolist() for k in got_keys] == [k.tolist() for k in ref_keys]
    assert got_sums.tobytes() == ref_sums.tobytes()
    t = np.array([int(r[3]) for r in rows], np.int64)
    assert group_min(t, *cols).tolist() == group_min_reference(t, *cols).tolist()


@st.composite
def _runs(draw: st.DrawFn) -> tuple[list[str], list[int]]:
    """A fix table's entity and time columns as runs of one entity each (an entity may come back
    in a later run), with repeated times: already in (entity, t) order, as long time-sorted runs
    (merged) or in no useful order (sorted from scratch)."""
    mode = draw(st.sampled_from(["in order", "long sorted runs", "any"]))
    n_runs = draw(st.integers(0, 6))
    ents: list[str] = []
    ts: list[int] = []
    for _ in range(n_runs):
        name = draw(st.sampled_from(["a", "b", "c", "d"]))
        least = 16 if mode == "long sorted runs" else 1
        times = draw(st.lists(st.integers(0, 40), min_size=least, max_size=least + 30))
        if mode != "any":
            times = sorted(times)
        ents += [name] * len(times)
        ts += [t * 1_000_000 for t in times]
    if mode == "in order":
        rows = sorted(zip(ents, ts, strict=True))
        ents, ts = [r[0] for r in rows], [r[1] for r in rows]
    return ents, ts


@settings(max_examples=200, deadline=None)
@given(_runs())
def test_fix_order_equals_the_reference(data: tuple[list[str], list[int]]) -> None:
    """Whether rows come in (entity, t) order, as long sorted pieces or in no order, the columns the
    stay kernels see are sorted by (entity, t) with ties in input order, with the entity bounds."""
    ents, ts = data
    n = len(ts)
    table = pa.table(
        {
            "entity": pa.array(ents, pa.string()),
            "t": pa.array(ts, pa.int64()).cast(UTC_US),
            "lat": pa.array(np.arange(n, dtype=np.float64)),
            "lon": pa.array(np.zeros(n)),
            "accuracy_m": pa.array(np.arange(n, dtype=np.float64) + 0.5),
        }
    )
    order, bounds = entity_time_order_reference(ents, ts)
    for accuracy in (False, True):
        cols = _columns(table, accuracy=accuracy)
        if cols.order is not None:
            assert cols.order.tolist() == order
        assert cols.bounds.tolist() == bounds
        assert cols.entities.to_pylist() == sorted(set(ents))
        assert cols.t_us.tolist() == [ts[i] for i in order]
        assert cols.lat.tolist() == [float(i) for i in order]  # the row numbers, in sorted order
        if accuracy:  # asked for, the accuracies move with the rows
            assert cols.accuracy_m().tolist() == [i + 0.5 for i in order]
