"""Incremental stay analysis: after any sequence of imports, the stored stays equal a full analysis of
all fixes (both methods), and only the windows new fixes can change are analysed again."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hereabouts as hb
from hereabouts.analysis import incremental
from hereabouts.analysis.incremental import method_key, robust_sync_points
from hereabouts.analysis.stays import detect_stays
from hereabouts.io._base import ReadOptions, Sink
from hereabouts.kernels import reference
from hereabouts.model.errors import InputError
from hereabouts.model.schemas import UTC_US
from hereabouts.sim import simulate
from hereabouts.store import DuckDBStore

T0 = 1_700_000_000_000_000
Fix = tuple[str, int, float, float, float | None]  # device, t_us, lat, lon, accuracy_m

# small parameters, so that short random streams hold several stays, outliers and gaps
PARAMS: dict[str, dict[str, Any]] = {
    "default": {"radius_m": 60.0, "min_duration_s": 120.0, "max_gap_s": 900.0, "max_outliers": 2},
    "trackintel": {"radius_m": 60.0, "min_duration_s": 120.0, "max_gap_s": 600.0},
}


def _import(db: hb.Database, fixes: list[Fix]) -> None:
    """One import transaction, as a reader would push the fixes (in the given order)."""
    with db.store.begin_import(origin="test", checksum=None, options={}) as txn:
        sink = Sink(txn, member="test", options=ReadOptions(default_device="x"), batch_rows=37)
        for i, (dev, t, lat, lon, acc) in enumerate(fixes):
            sink.fix(i + 1, t, lat, lon, device=dev, accuracy_m=acc)
        txn.finish(sink.close().as_dict(), "test")


def _full(fixes: list[Fix], entity: str, method: str, **params: Any) -> pa.Table:
    """The oracle: detect_stays on every distinct fix of one entity, in time order (ties broken by
    position and accuracy, as the store reads them)."""
    mine = sorted(
        {(t, lat, lon, acc) for dev, t, lat, lon, acc in fixes if dev == entity},
        key=lambda f: (f[0], f[1], f[2], -np.inf if f[3] is None else f[3]),
    )
    table = pa.table(
        {
            "entity": pa.array([entity] * len(mine), pa.string()),
            "t": pa.array([f[0] for f in mine], pa.int64()).view(UTC_US),
            "lat": pa.array([f[1] for f in mine], pa.float64()),
            "lon": pa.array([f[2] for f in mine], pa.float64()),
            "accuracy_m": pa.array([f[3] for f in mine], pa.float64()),
        }
    )
    stays = detect_stays(table, method=method, **params)
    t = np.array([f[0] for f in mine], dtype=np.int64)
    ev_first = t[np.asarray(stays.column("evidence_first").to_numpy(), dtype=np.int64)]
    ev_last = t[np.asarray(stays.column("evidence_last").to_numpy(), dtype=np.int64)]
    return (
        stays.drop_columns(["entity", "evidence_first", "evidence_last"])
        .append_column("ev_first", pa.array(ev_first))
        .append_column("ev_last", pa.array(ev_last))
    )


def _stored(db: hb.Database, entity: str, method: str, **params: Any) -> pa.Table:
    store = db.store
    assert isinstance(store, DuckDBStore)
    eid, _ = store.entity_ref(entity)
    rows = store.stored_stays(eid, method_key(method, **params))
    cols = ["start", "end", "lat", "lon", "radius_m", "n_fixes", "confidence", "method"]
    out = pa.table(
        {c: rows.column(c).cast(UTC_US) if c in ("start", "end") else rows.column(c) for c in cols}
    )
    for name, col in (("ev_first", "evidence_first_t"), ("ev_last", "evidence_last_t")):
        out = out.append_column(name, rows.column(col).cast(UTC_US).cast(pa.int64()))
    return out


def _assert_same(db: hb.Database, fixes: list[Fix], method: str, **params: Any) -> None:
    for entity in sorted({f[0] for f in fixes}):
        want = _full(fixes, entity, method, **params)
        got = _stored(db, entity, method, **params)
        assert got.to_pylist() == want.to_pylist(), (entity, method)


# --------------------------------------------------------------------------------------------------
# random streams


def _stream(rng: np.random.Generator, device: str, n: int) -> list[Fix]:
    """Dwells and slow moves with jitter of about the stay radius (so candidates start while arriving
    and end with outliers), inaccurate fixes, unknown accuracies, gaps and repeated times."""
    out: list[Fix] = []
    t = T0 + int(rng.integers(0, 3600)) * 1_000_000
    lat, lon = 47.0 + rng.uniform(0, 0.01), 8.0 + rng.uniform(0, 0.01)
    moving = False
    for _ in range(n):
        r = rng.random()
        if r < 0.03:
            t += int(rng.integers(600, 2400)) * 1_000_000  # a recording gap
        elif r < 0.15:
            pass  # another fix at the same time
        else:
            t += int(rng.integers(10, 90)) * 1_000_000
        if rng.random() < 0.1:
            moving = not moving
        if moving:
            lat += rng.uniform(-1, 1) * 0.0005
            lon += rng.uniform(-1, 1) * 0.0005
        q = rng.random()
        acc = (
            None if q < 0.1 else float(rng.choice([350.0, 120.0])) if q < 0.2 else float(rng.integers(3, 40))
        )
        jit_lat = round(float(lat + rng.normal(0, 0.0003)), 7)
        jit_lon = round(float(lon + rng.normal(0, 0.0003)), 7)
        out.append((device, t, jit_lat, jit_lon, acc))
    return out


def _batches(rng: np.random.Generator, fixes: list[Fix], n_batches: int, mode: int) -> list[list[Fix]]:
    if mode == 0:  # contiguous pieces of the history, imported in a random order
        cuts = sorted(rng.choice(np.arange(1, len(fixes)), size=n_batches - 1, replace=False).tolist())
        pieces = [fixes[a:b] for a, b in zip([0, *cuts], [*cuts, len(fixes)], strict=True)]
        return [pieces[i] for i in rng.permutation(len(pieces))]
    if mode == 1:  # every fix in a random batch: batches overlap in time, each out of order
        which = rng.integers(0, n_batches, size=len(fixes))
        out = [[f for f, w in zip(fixes, which, strict=True) if w == b] for b in range(n_batches)]
        for b in out:
            rng.shuffle(b)  # type: ignore[arg-type,unused-ignore]
        return out
    if mode == 3:  # the history with a few narrow holes near each other first, then the holes filled
        which = np.zeros(len(fixes), dtype=int)
        centre = int(rng.integers(0, len(fixes)))
        for k in range(1, n_batches):
            h = max(0, centre + int(rng.integers(-8, 9)))
            which[h : h + int(rng.integers(1, 4))] = k
        return [[f for f, w in zip(fixes, which, strict=True) if w == b] for b in range(n_batches)]
    # mode 2: each batch one device's next stretch (repeating the last 5 fixes of its previous one)
    devices = sorted({f[0] for f in fixes})
    owners = [devices[b % len(devices)] for b in range(n_batches)]
    parts: list[list[list[Fix]]] = []
    for dev in devices:
        mine = [f for f in fixes if f[0] == dev]
        edges = [int(e) for e in np.linspace(0, len(mine), owners.count(dev) + 1)]
        parts.append([mine[max(0, lo - 5) : hi] for lo, hi in itertools.pairwise(edges)])
    return [parts[devices.index(owner)].pop(0) for owner in owners]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_devices=st.integers(1, 3),
    n_batches=st.integers(2, 4),
    mode=st.integers(0, 3),
    include_last=st.booleans(),
)
def test_incremental_equals_full_after_every_import(
    seed: int, n_devices: int, n_batches: int, mode: int, include_last: bool
) -> None:
    rng = np.random.default_rng(seed)
    fixes: list[Fix] = []
    for d in range(n_devices):
        fixes.extend(_stream(rng, f"dev{d}", int(rng.integers(20, 160))))
    db = hb.open(":memory:")
    seen: list[Fix] = []
    for batch in _batches(rng, fixes, n_batches, mode):
        if not batch:
            continue
        _import(db, batch)
        seen.extend(batch)
        for method, params in PARAMS.items():
            p = {**params, "include_last": include_last}
            db.analyze(method=method, **p)
            _assert_same(db, seen, method, **p)


@pytest.mark.parametrize("method", ["default", "trackintel"])
@pytest.mark.parametrize("seed", [9, 22, 109, 264, 402])
def test_holes_filled_one_by_one(seed: int, method: str) -> None:
    """Fixes arriving inside the history, next to each other, several times over: the cases where
    restarting at a stay's first fix instead of its candidate start, forgetting what the detector
    had looked at before a restart point, or restarting at a time shared by two fixes gives stays
    that differ from a full analysis (these seeds are ones where it did)."""
    rng = np.random.default_rng(seed)
    fixes = _stream(rng, "d", int(rng.integers(50, 300)))
    params = {**PARAMS[method], "include_last": bool(rng.integers(0, 2))}
    db = hb.open(":memory:")
    seen: list[Fix] = []
    restarts = 0
    for batch in _batches(rng, fixes, int(rng.integers(2, 6)), 3):
        if not batch:
            continue
        _import(db, batch)
        seen.extend(batch)
        r = db.analyze(method=method, **params)
        restarts += sum(w.start is not None for w in r.windows)
        _assert_same(db, seen, method, **params)
    assert restarts >= 1  # the incremental path ran, not only full analyses


def test_sync_replay_finds_the_kernels_stays() -> None:
    """The default method's restart points come from a replay of the kernel; on random streams it
    finds exactly the stays the plain-Python reference finds, and every restart point precedes its
    stay."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        fixes = sorted(_stream(rng, "d", 200), key=lambda f: f[1])
        t = np.array([f[1] for f in fixes], dtype=np.int64)
        lat = np.array([f[2] for f in fixes])
        lon = np.array([f[3] for f in fixes])
        acc = np.array([np.nan if f[4] is None else f[4] for f in fixes])
        args = (60.0, 120_000_000, 900_000_000, 2, 200.0, 2, False)
        trace = robust_sync_points(t, lat, lon, acc, *args)
        ints, _ = reference.robust_stays(t, lat, lon, acc, np.array([0, len(t)]), *args)
        assert trace[:, 0].tolist() == ints[:, 1].tolist()
        sync, horizon = trace[:, 1], trace[:, 2]
        assert (sync <= trace[:, 0]).all()
        # the detector looked at least at the restart fix before restarting there (none: the first)
        assert ((horizon >= sync) | (horizon == -1)).all()
        assert (horizon[1:] >= 0).all()


# --------------------------------------------------------------------------------------------------
# hand-made


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days of two simulated people, split into days 1-2 and day 3 (GeoParquet files)."""
    d = tmp_path_factory.mktemp("town")
    simulate(agents=2, days=3, seed=5, out=d, profile="gps-1min")
    fixes = pq.read_table(d / "fixes.parquet")
    t = fixes.column("t")
    cut = pc.min(t).as_py() + timedelta(days=2)
    pq.write_table(fixes.filter(pc.less(t, pa.scalar(cut, UTC_US))), d / "days12.parquet")
    day3 = fixes.filter(pc.greater_equal(t, pa.scalar(cut, UTC_US)))
    first_dev = day3.column("device")[0].as_py()
    pq.write_table(day3.filter(pc.equal(day3.column("device"), first_dev)), d / "day3.parquet")
    pq.write_table(fixes, d / "all.parquet")
    return d


@pytest.mark.parametrize("method", ["default", "trackintel"])
def test_new_day_reanalyses_one_entity_near_the_new_data(town: Path, method: str) -> None:
    db = hb.open(":memory:")
    db.import_(town / "days12.parquet")
    first = db.analyze(method=method)
    assert sorted(first.entities) == sorted(db.entity_names())
    assert {w.reason for w in first.windows} == {"first analysis"}
    assert all(w.start is None for w in first.windows)
    day3 = pq.read_table(town / "day3.parquet")
    (device,) = set(day3.column("device").to_pylist())
    new_from = pc.min(day3.column("t")).as_py()
    total = db.fixes(device).num_rows + day3.num_rows

    db.import_(town / "day3.parquet")
    again = db.analyze(method=method)
    assert again.entities == [device]
    (w,) = again.windows
    assert w.reason == "new fixes" and w.start is not None
    # the restart is the last usable stay before the new fixes: within a day of them, not the start
    assert new_from - timedelta(days=1) < w.start < new_from
    assert day3.num_rows <= again.fixes_read < total
    assert again.stays_deleted >= 0 and again.stays_written >= 1
    # and what is stored equals a full analysis of all the fixes, for both entities
    ref = hb.open(":memory:")
    ref.import_([town / "days12.parquet", town / "day3.parquet"])
    for name in db.entity_names():
        got = db.stays(name, method=method, stored=True)
        assert got.num_rows > 3
        assert got.equals(detect_stays(ref.fixes(name), method=method))


def test_reimport_marks_nothing_dirty(town: Path, tmp_path: Path) -> None:
    db = hb.open(str(tmp_path / "h.db"))
    db.import_(town / "days12.parquet")
    db.analyze()
    store = db.store
    assert isinstance(store, DuckDBStore)
    marks = store.last_dirty_id()
    (r,) = db.import_(town / "days12.parquet")
    assert r.skipped
    # the same fixes under another file name: every one a duplicate, so no new rows and nothing dirty
    copy = tmp_path / "copy.parquet"
    pq.write_table(pq.read_table(town / "days12.parquet").slice(10), copy)
    (r2,) = db.import_(copy)
    assert r2.counts.fixes == 0 and r2.counts.duplicates > 0
    assert store.last_dirty_id() == marks
    again = db.analyze()
    assert again.entities == [] and again.windows == [] and again.fixes_read == 0


def test_full_rebuilds_and_parameters_are_separate_analyses(town: Path) -> None:
    db = hb.open(":memory:")
    db.import_(town / "all.parquet")
    first = db.analyze(method="trackintel", radius_m=80)
    assert first.stays_written > 0
    rebuilt = db.analyze(method="trackintel", radius_m=80, full=True)
    assert rebuilt.stays_deleted == first.stays_written == rebuilt.stays_written
    assert {w.reason for w in rebuilt.windows} == {"full"}
    assert rebuilt.fixes_read == db.fixes().num_rows
    other = db.analyze(method="trackintel", radius_m=120)  # other parameters: another analysis
    assert {w.reason for w in other.windows} == {"first analysis"} and other.stays_deleted == 0
    assert db.analyze(method="trackintel", radius_m=80.0).entities == []  # 80 and 80.0 are one key
    a = db.stays(method="trackintel", radius_m=80, stored=True)
    b = db.stays(method="trackintel", radius_m=120, stored=True)
    assert a.num_rows != b.num_rows or a.column("end").to_pylist() != b.column("end").to_pylist()


def test_device_moved_to_another_entity_is_analysed_again() -> None:
    db = hb.open(":memory:")
    rng = np.random.default_rng(3)
    fixes = _stream(rng, "a", 150) + _stream(rng, "b", 150)
    _import(db, fixes)
    db.analyze(method="trackintel", **PARAMS["trackintel"])
    db.assign_device("b", "a")
    r = db.analyze(method="trackintel", **PARAMS["trackintel"])
    assert ("a", "devices changed") in [(w.entity, w.reason) for w in r.windows]
    merged = [("a", *f[1:]) for f in fixes]
    _assert_same(db, merged, "trackintel", **PARAMS["trackintel"])


def test_stored_stays_read_without_analysing_when_current() -> None:
    db = hb.open(":memory:")
    rng = np.random.default_rng(11)
    fixes = _stream(rng, "p", 300)
    _import(db, fixes)
    store = db.store
    assert isinstance(store, DuckDBStore)
    assert not incremental.is_current(store, "p")
    live = db.stays("p")
    stored = db.stays("p", stored=True)  # analyses first, then reads
    assert incremental.is_current(store, "p")
    ordered = db.fixes("p")
    assert stored.drop_columns(["evidence_first", "evidence_last"]).equals(
        live.drop_columns(["evidence_first", "evidence_last"])
    )
    # evidence rows point at the fixes at the stays' first and last times
    t = ordered.column("t")
    assert [t[i].as_py() for i in stored.column("evidence_first").to_pylist()] == [
        t[i].as_py() for i in live.column("evidence_first").to_pylist()
    ]
    window = db.stays(
        "p",
        stored=True,
        start=datetime.fromtimestamp(T0 / 1e6, UTC) + timedelta(hours=1),
        end=datetime.fromtimestamp(T0 / 1e6, UTC) + timedelta(hours=2),
    )
    assert window.num_rows < stored.num_rows
    for s, e in zip(window.column("start").to_pylist(), window.column("end").to_pylist(), strict=True):
        assert e > datetime.fromtimestamp(T0 / 1e6, UTC) + timedelta(hours=1)
        assert s < datetime.fromtimestamp(T0 / 1e6, UTC) + timedelta(hours=2)


def test_bad_parameters_are_refused_with_the_detectors_messages() -> None:
    db = hb.open(":memory:")
    with pytest.raises(InputError, match="unknown stay method"):
        db.analyze(method="sliding")
    with pytest.raises(InputError, match="does not use max_outliers"):
        db.analyze(method="trackintel", max_outliers=2)
    with pytest.raises(InputError, match="unknown stay parameter"):
        db.analyze(radius=5)
    with pytest.raises(InputError, match="radius_m"):
        db.analyze(radius_m=-1)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), mode=st.integers(0, 3), include_last=st.booleans())
def test_concurrent_analysis_with_imports_between_its_read_and_its_write(
    seed: int, mode: int, include_last: bool
) -> None:
    """``concurrent=True`` reads and detects before its transaction. A batch imported in between is
    left out of that run but taken in by the next, and an analysis stored in between makes the run
    analyse again the usual way: after each run that saw everything, the stays equal a full one."""
    from collections.abc import Iterator
    from contextlib import contextmanager

    rng = np.random.default_rng(seed)
    fixes = _stream(rng, "d", int(rng.integers(40, 200)))
    batches = [b for b in _batches(rng, fixes, int(rng.integers(3, 6)), mode) if b]
    db = hb.open(":memory:")
    store = db.store
    assert isinstance(store, DuckDBStore)
    real = store.analysis_transaction
    between: list[Any] = []  # what to do just before the next analysis transaction

    @contextmanager
    def txn() -> Iterator[None]:
        while between:
            between.pop(0)()
        with real():
            yield

    store.analysis_transaction = txn  # type: ignore[method-assign]
    method = ["default", "trackintel"][seed % 2]
    params = {**PARAMS[method], "include_last": include_last}
    imported: list[Fix] = []
    i = 0
    while i < len(batches):
        _import(db, batches[i])
        imported.extend(batches[i])
        late = i % 2 == 1 and i + 1 < len(batches)
        if late:  # the next batch arrives while this run reads: the run stores stays without it
            nxt = batches[i + 1]
            between.append(lambda b=nxt: _import(db, b))
            imported.extend(nxt)
            i += 1
        raced = i % 3 == 2
        if raced:  # another analysis is stored first: this run's own result must not be
            between.append(lambda: incremental.analyze(store, "d", method=method, **params))
        db.analyze("d", method=method, concurrent=True, **params)
        if late:
            if not raced:  # (the other analysis took the late batch in)
                assert not incremental.is_current(store, "d", method, **params)  # it is pending
            db.analyze("d", method=method, concurrent=True, **params)
        _assert_same(db, imported, method, **params)
        i += 1
    store.analysis_transaction = real  # type: ignore[method-assign]
    _assert_same(db, fixes, method, **params)
