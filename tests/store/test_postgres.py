"""What only the PostgreSQL + PostGIS store has: the spatial column and its index, COPY imports, several
writers at once, schema migrations in a shared database, and the same answers as the embedded store."""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pytest

import hereabouts as hb
from hereabouts import audit
from hereabouts.io._base import ReadOptions, Sink
from hereabouts.store.postgres_store import SCHEMA_VERSION, PostgresStore, split_schema

T0 = 1_700_000_000_000_000  # 2023-11-14


@pytest.fixture
def pg(pg_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(pg_url)
    yield store
    store.close()


@pytest.fixture
def sql(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A plain connection to the test's schema, for looking at what the store wrote."""
    dsn, schema = split_schema(pg_url)
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f'SET search_path TO "{schema}", public')
        yield con


def _fixes(device: str, n: int, *, start_us: int = T0, step_s: int = 60, lat0: float = 52.5) -> pa.Table:
    """``n`` fixes, one every ``step_s``; the position is a function of time, so overlaps are duplicates."""
    t = start_us + np.arange(n, dtype=np.int64) * step_s * 1_000_000
    k = (t - T0) // 1_000_000
    return pa.table(
        {
            "device": pa.array([device] * n, pa.string()),
            "t": pa.array(t).cast(pa.timestamp("us", tz="UTC")),
            "tz_offset_s": pa.nulls(n, pa.int32()),
            "lat": pa.array(lat0 + k * 1e-7),
            "lon": pa.array(13.4 + k * 1e-7),
            "accuracy_m": pa.array(np.full(n, 10.0)),
            "altitude_m": pa.nulls(n, pa.float64()),
            "speed_mps": pa.nulls(n, pa.float64()),
            "course_deg": pa.nulls(n, pa.float64()),
            "provider": pa.array(["gps"] * n, pa.string()),
        }
    )


def _import(store: Any, table: pa.Table, *, checksum: str = "c", batch_rows: int = 10_000) -> int:
    """Write ``table`` through one import transaction in batches, as a reader would; the new fixes."""
    with store.begin_import(origin="test", checksum=checksum, options={}) as txn:
        new = 0
        for off in range(0, table.num_rows, batch_rows):
            new += txn.write("fix", table.slice(off, batch_rows))
        txn.finish({"read": table.num_rows, "fixes": new, "duplicates": table.num_rows - new}, "test")
    return new


# ------------------------------------------------------------------ schema
def test_fixes_have_an_indexed_postgis_geography(pg: PostgresStore, sql: psycopg.Connection[Any]) -> None:
    (typ,) = sql.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'fixes'::regclass AND attname = 'geog'"
    ).fetchone() or (None,)
    assert typ == "geography(Point,4326)"
    indexes = dict(
        sql.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'fixes'").fetchall()
    )
    assert "USING gist (geog)" in indexes["fixes_geog"]
    assert (
        "UNIQUE INDEX fixes_key" in indexes["fixes_key"]
        and "(device_id, t, lat, lon)" in indexes["fixes_key"]
    )
    assert "USING brin (t)" in indexes["fixes_t"]
    # the column follows lat/lon of every stored fix
    _import(pg, _fixes("phone", 3))
    lat, lon = sql.execute(
        "SELECT ST_Y(geog::geometry), ST_X(geog::geometry) FROM fixes ORDER BY t LIMIT 1"
    ).fetchone() or (0, 0)
    assert (lat, lon) == (52.5, 13.4)


def test_spatial_query_uses_the_gist_index_and_measures_metres(
    pg: PostgresStore, sql: psycopg.Connection[Any]
) -> None:
    # a ring of fixes at known distances from the centre: 50 m ... 500 m, every 50 m
    lat0, lon0 = 48.137, 11.575
    n = 10
    dists = 50.0 * (1 + np.arange(n))
    m_per_deg_lat = 111_132.0  # near 48 deg N (within 0.1 %: the radii are 20 m from any fix)
    lat = lat0 + dists / m_per_deg_lat
    t = pa.array(T0 + np.arange(n, dtype=np.int64) * 60_000_000).cast(pa.timestamp("us", tz="UTC"))
    table = (
        _fixes("ring", n)
        .set_column(1, "t", t)
        .set_column(3, "lat", pa.array(lat))
        .set_column(4, "lon", pa.array(np.full(n, lon0)))
    )
    _import(pg, table)
    _import(pg, _fixes("far", 500, lat0=40.0), checksum="far")
    near = pg.fixes_near(lat0, lon0, 270.0)
    assert near.column("device").to_pylist() == ["ring"] * 5  # 50, 100, 150, 200, 250 m
    assert near.column("lat").to_pylist() == lat[:5].tolist()
    assert near.schema.field("t").type == pa.timestamp("us", tz="UTC")
    sql.execute("ANALYZE fixes")
    sql.execute("SET enable_seqscan = off")  # the table is tiny; ask whether the index *can* serve it
    plan = "\n".join(
        r[0]
        for r in sql.execute(
            "EXPLAIN SELECT * FROM fixes WHERE ST_DWithin(geog, "
            "ST_SetSRID(ST_MakePoint(11.575, 48.137), 4326)::geography, 270)"
        ).fetchall()
    )
    assert "fixes_geog" in plan


def test_reopening_does_not_migrate_again_and_newer_schema_is_refused(
    pg_url: str, sql: psycopg.Connection[Any]
) -> None:
    PostgresStore(pg_url).close()
    store = PostgresStore(pg_url)
    assert store.schema_version() == SCHEMA_VERSION
    store.close()
    sql.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(hb.SchemaVersionError, match="newer than this hereabouts"):
        PostgresStore(pg_url)


def test_workers_starting_together_migrate_once(pg_url: str, sql: psycopg.Connection[Any]) -> None:
    errors: list[BaseException] = []
    stores: list[PostgresStore] = []
    go = threading.Barrier(3)

    def start() -> None:
        go.wait()
        try:
            stores.append(PostgresStore(pg_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for s in stores:
        s.close()
    assert errors == []
    assert sql.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [
        (str(SCHEMA_VERSION),)
    ]


def test_unreachable_server_is_a_clear_store_error() -> None:
    with pytest.raises(
        hb.StoreError, match=re.escape("cannot connect to PostgreSQL at postgresql://u:***@127.0.0.1:1/x")
    ) as info:
        PostgresStore("postgresql://u:secret@127.0.0.1:1/x")
    assert "secret" not in str(info.value)
    with pytest.raises(hb.StoreError, match=re.escape("port=1 password=*** dbname=x")) as info:
        PostgresStore("host=127.0.0.1 port=1 password=secret dbname=x")
    assert "secret" not in str(info.value)


def test_bad_schema_name_is_refused(pg_url: str) -> None:
    with pytest.raises(hb.InputError, match="not a plain identifier"):
        PostgresStore(pg_url, schema='x"; DROP TABLE y; --')


# ------------------------------------------------------------------ imports
@pytest.mark.slow
def test_copy_import_of_100k_fixes_equals_the_embedded_store(pg_url: str, tmp_path: Path) -> None:
    n = 100_000
    rng = np.random.default_rng(7)
    t = 1_600_000_000 + np.arange(n) * 5
    lat = 48.1 + np.cumsum(rng.normal(0, 1e-5, n))
    lon = 11.5 + np.cumsum(rng.normal(0, 1e-5, n))
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        fh.write("timestamp,latitude,longitude,accuracy,provider\n")
        fh.write(
            "".join(
                f"{a},{b:.7f},{c:.7f},{5 + i % 7},{'gps' if i % 3 else ''}\n"
                for i, (a, b, c) in enumerate(zip(t, lat, lon, strict=True))
            )
        )
    pg_db, duck = hb.open(pg_url), hb.open(":memory:")
    try:
        t0 = time.perf_counter()
        (res,) = pg_db.import_(path, device="big")
        seconds = time.perf_counter() - t0
        assert (res.counts.read, res.counts.fixes, res.counts.duplicates) == (n, n, 0)
        duck.import_(path, device="big")
        got, want = pg_db.fixes(device="big"), duck.fixes(device="big")
        assert got.schema == want.schema
        assert got.drop_columns(["source_id"]).equals(want.drop_columns(["source_id"]))
        assert (
            pg_db.entities()
            .drop_columns(["first", "last"])
            .equals(duck.entities().drop_columns(["first", "last"]))
        )
        # the same file again under other options: every row is a duplicate, nothing added
        (again,) = pg_db.import_(path, device="big", tz="UTC")
        assert (again.counts.fixes, again.counts.duplicates) == (0, n)
        assert pg_db.store.count("fix") == n
        print(f"PostgreSQL COPY import of {n} fixes: {seconds:.1f} s")
    finally:
        pg_db.close()
        duck.close()


def test_failed_import_leaves_nothing(pg: PostgresStore, sql: psycopg.Connection[Any]) -> None:
    with (
        pytest.raises(RuntimeError, match="reader crashed"),
        pg.begin_import(origin="x", checksum="y", options={}) as txn,
    ):
        for off in range(0, 6000, 2000):
            txn.write("fix", _fixes("phone", 2000, start_us=T0 + off * 60_000_000))
        scan = {
            "device": ["phone"],
            "t": _fixes("phone", 1).column("t"),
            "kind": ["wifi"],
            "ident": ["aa:bb"],
        }
        txn.write(
            "scan",
            pa.table(scan)
            .append_column("rssi_dbm", pa.array([-50.0]))
            .append_column("frequency_mhz", pa.nulls(1, pa.float64())),
        )
        raise RuntimeError("reader crashed")
    for table in ("fixes", "scans", "sources", "devices", "entities", "analysis_dirty", "rejects"):
        assert sql.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)], table
    # and the store still works afterwards, on the same pooled connections
    assert _import(pg, _fixes("phone", 100)) == 100


def test_a_database_error_inside_an_import_rolls_it_back_as_a_store_error(
    pg: PostgresStore, sql: psycopg.Connection[Any]
) -> None:
    with (
        pytest.raises(hb.StoreError, match="the import of x failed in PostgreSQL"),
        pg.begin_import(origin="x", checksum="y", options={}) as txn,
    ):
        txn.write("fix", _fixes("phone", 100))
        txn.con.execute("SELECT 1/0")
    assert sql.execute("SELECT count(*) FROM fixes").fetchall() == [(0,)]


def test_concurrent_imports_are_both_kept_and_deduplicated(pg_url: str) -> None:
    """Two imports of overlapping fixes at the same time, from two threads and two stores (as two server
    workers would): every distinct fix is stored once, and the second import counts the overlap as
    duplicates even though the first had not committed when it started."""
    a_store, b_store = PostgresStore(pg_url), PostgresStore(pg_url)
    a_wrote = threading.Event()
    results: dict[str, int] = {}
    errors: list[BaseException] = []
    first = _fixes("phone", 6000)  # minutes 0..5999
    second = _fixes("phone", 6000, start_us=T0 + 3000 * 60_000_000)  # minutes 3000..8999

    def a() -> None:
        try:
            with a_store.begin_import(origin="a", checksum="a", options={}) as txn:
                results["a"] = txn.write("fix", first)
                a_wrote.set()
                time.sleep(0.5)  # b is now waiting for us
                txn.finish({}, "test")
        except BaseException as exc:
            errors.append(exc)
            a_wrote.set()

    def b() -> None:
        try:
            a_wrote.wait()
            t0 = time.perf_counter()
            with b_store.begin_import(origin="b", checksum="b", options={}) as txn:
                results["b"] = txn.write("fix", second)
                results["waited_ms"] = int((time.perf_counter() - t0) * 1000)
                txn.finish({}, "test")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == []
        assert results["a"] == 6000 and results["b"] == 3000  # the overlap was seen as duplicates
        assert results["waited_ms"] >= 300  # b waited for a's commit instead of inserting twins
        fixes = a_store.fixes(device="phone")
        assert fixes.num_rows == 9000
        ts = fixes.column("t").cast(pa.int64()).to_numpy()
        assert len(np.unique(ts)) == 9000
        assert a_store.sources().column("source_id").to_pylist() == [1, 2]
    finally:
        a_store.close()
        b_store.close()


def test_threads_sharing_one_store_import_different_devices_in_parallel(pg: PostgresStore) -> None:
    errors: list[BaseException] = []
    go = threading.Barrier(4)

    def run(i: int) -> None:
        try:
            go.wait()
            _import(pg, _fixes(f"dev-{i}", 2000), checksum=str(i), batch_rows=500)
            _import(pg, _fixes(f"dev-{i}", 2000), checksum=f"again-{i}", batch_rows=500)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert pg.devices().column("n_fixes").to_pylist() == [2000] * 4
    assert pg.count("source") == 8


# ------------------------------------------------------------------ the same answers as DuckDB
def _same_content(store: Any) -> None:
    with store.begin_import(origin="t", checksum="r", options={}, entity="alice") as txn:
        sink = Sink(txn, member='f "1".csv', options=ReadOptions(default_device="phone"), unit="line")
        for i in range(50):
            sink.fix(i + 2, T0 + i * 60_000_000, 52.5 + i * 1e-4, 13.4, accuracy_m=5.0, provider="gps")
        sink.fix(90, T0, 91.0, 13.0)
        sink.reject(91, "lon", "not a number: 'abc'", raw='a,"b"\nc\x00d')
        sink.scan(92, T0, "wifi", "aa:bb:cc", rssi_dbm=-60.0)
        sink.scan(93, T0, "wifi", "aa:bb:cc", rssi_dbm=-61.0)  # the same observation
        sink.reported_stay(94, T0, T0 + 3_600_000_000, lat=None, lon=None, label="Home, sweet")
        sink.reported_stay(
            95, T0, T0 + 3_600_000_000, lat=None, lon=None, label="again"
        )  # same (NULLs match)
        sink.event(96, T0, "enter", lat=52.5, lon=13.4, data={"desc": "home"})
        txn.finish(sink.close().as_dict(), "test")
    store.add_alias("alice", "ally")


def test_every_read_has_the_embedded_stores_schema_and_rows(pg: PostgresStore) -> None:
    duck = hb.open(":memory:").store
    try:
        _same_content(duck)
        _same_content(pg)
        reads = {
            "fixes": lambda s: s.fixes(entity="ally"),
            "entities": lambda s: s.entities().drop_columns(["first", "last"]),
            "devices": lambda s: s.devices(),
            "rejects": lambda s: s.rejects(),
            "sources": lambda s: s.sources().drop_columns(["imported_at"]),
            "scan": lambda s: s.table("scan"),
            "reported_stay": lambda s: s.table("reported_stay", entity="alice"),
            "event": lambda s: s.table("event"),
            "reported_trip": lambda s: s.table("reported_trip"),
            "analysis_fixes": lambda s: s.analysis_fixes([1]),
        }
        for name, read in reads.items():
            got, want = read(pg), read(duck)
            assert got.schema == want.schema, name
            if name == "rejects":  # PostgreSQL text cannot hold NUL: it becomes U+FFFD
                got = got.set_column(
                    6,
                    "raw",
                    pa.array(
                        [r.replace("\ufffd", "\x00") if r else r for r in got.column("raw").to_pylist()]
                    ),
                )
            assert got.equals(want), name
        assert pg.count("scan") == 1 and pg.count("reported_stay") == 1
        assert pg.sources().schema == duck.sources().schema
    finally:
        duck.close()


def test_audit_chain_stays_whole_with_two_writers(pg_url: str) -> None:
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    go = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(store: PostgresStore, who: str) -> None:
        try:
            go.wait()
            for i in range(15):
                audit.record(store, "ask", {"question": f"{who} {i}"}, actor=who, purpose="test")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s, w)) for s, w in ((a, "a"), (b, "b"))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == []
        check = audit.verify(a)
        assert check.ok and check.n_rows == 30, check
        assert a.audit_rows().column("seq").to_pylist() == list(range(1, 31))
        # and the chain is checked for real: editing a row breaks it
        with a._con() as con:
            con.execute("UPDATE audit SET purpose = 'other' WHERE seq = 7")
        assert audit.verify(a).first_bad_seq == 7
    finally:
        a.close()
        b.close()


@pytest.mark.slow
def test_incremental_analysis_on_postgres_equals_the_embedded_store(pg: PostgresStore) -> None:
    from hereabouts.analysis import incremental
    from hereabouts.sim import simulate

    sim = simulate(agents=1, days=3, seed=5)
    table = sim.fixes.drop_columns(["source_id"]).sort_by([("device", "ascending"), ("t", "ascending")])
    half = table.num_rows // 2
    duck = hb.open(":memory:").store
    try:
        for store in (duck, pg):
            _import(store, table.slice(0, half), checksum="1")
        ent = pg.entities().column("entity")[0].as_py()
        key = incremental.method_key("default")
        results = {}
        for label, store in (("duck", duck), ("pg", pg)):
            first = incremental.AnalyzeResult(key)
            incremental._analyze_entity(store, ent, "default", key, False, None, first)  # type: ignore[arg-type]
            _import(store, table.slice(half), checksum="2")
            second = incremental.AnalyzeResult(key)
            incremental._analyze_entity(store, ent, "default", key, False, None, second)  # type: ignore[arg-type]
            assert second.windows[0].reason == "new fixes"
            assert incremental.is_current(store, ent)  # type: ignore[arg-type]
            results[label] = incremental.stored_stays(store, ent)  # type: ignore[arg-type]
        assert results["pg"].num_rows > 0
        assert results["pg"].equals(results["duck"])
    finally:
        duck.close()


def test_read_only_store_refuses_writes(pg_url: str, pg: PostgresStore) -> None:
    _import(pg, _fixes("phone", 10))
    ro = PostgresStore(pg_url, read_only=True)
    try:
        assert ro.fixes(device="phone").num_rows == 10
        with pytest.raises(hb.StoreError, match="read-only"):
            _import(ro, _fixes("phone", 10, start_us=T0 + 10**12))
    finally:
        ro.close()


def test_iter_fixes_pages_through_ties_in_time(pg: PostgresStore) -> None:
    table = _fixes("phone", 1000)
    # 1000 more fixes at the same times, elsewhere: pages must split ties by position, not lose them
    twin = table.set_column(3, "lat", pa.array(np.asarray(table.column("lat").to_numpy()) + 1.0))
    _import(pg, pa.concat_tables([table, twin]))
    batches = list(pg.iter_fixes(device="phone", batch_rows=300))
    got = pa.Table.from_batches(batches)
    assert got.num_rows == 2000
    assert got.equals(pg.fixes(device="phone"))
    start = datetime.fromtimestamp(T0 / 1e6 + 600, tz=UTC)
    assert (
        pa.Table.from_batches(list(pg.iter_fixes(device="phone", start=start, batch_rows=7))).num_rows
        == 2 * 990
    )
    assert math.isclose(got.column("lat")[1].as_py() - got.column("lat")[0].as_py(), 1.0)


def test_connection_for_other_modules_sees_the_store_schema(pg: PostgresStore) -> None:
    _import(pg, _fixes("phone", 5))
    with pg.connection() as con, con.transaction():
        con.execute("CREATE TABLE extra_things (x INTEGER)")  # beside the store's own tables
        assert con.execute("SELECT count(*) FROM fixes").fetchall() == [(5,)]
    assert con.closed
    with pg._con() as c:
        assert c.execute("SELECT count(*) FROM extra_things").fetchall() == [(0,)]


def test_cli_db_option_takes_a_postgres_url(pg_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hereabouts.cli import app

    path = tmp_path / "f.csv"
    path.write_text("timestamp,latitude,longitude\n1700000000,52.5,13.4\n1700000060,52.6,13.5\n")
    runner = CliRunner()
    r = runner.invoke(app, ["--db", pg_url, "import", str(path), "--device", "d", "--json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--db", pg_url, "devices", "--json"])
    assert r.exit_code == 0, r.output
    assert '"n_fixes": 2' in r.output
    db = hb.open(pg_url)
    try:
        assert type(db.store).__name__ == "PostgresStore"
        assert db.fixes(device="d").column("lat").to_pylist() == [52.5, 52.6]
    finally:
        db.close()


def test_crossed_imports_deadlock_cleanly_one_kept_one_rolled_back(pg_url: str) -> None:
    """Two imports writing two devices in opposite orders wait for each other; PostgreSQL breaks the
    cycle, and the import it picks fails whole, with a StoreError saying to run it again."""
    a_store, b_store = PostgresStore(pg_url), PostgresStore(pg_url)
    a_first, b_first = threading.Event(), threading.Event()
    errors: dict[str, BaseException] = {}

    def run(
        store: PostgresStore,
        name: str,
        devices: tuple[str, str],
        mine: threading.Event,
        theirs: threading.Event,
    ) -> None:
        try:
            with store.begin_import(origin=name, checksum=name, options={}) as txn:
                txn.write("fix", _fixes(devices[0], 10))
                mine.set()
                theirs.wait(10)
                txn.write("fix", _fixes(devices[1], 10, start_us=T0 + 10**12))
                txn.finish({}, "test")
        except BaseException as exc:
            errors[name] = exc
            mine.set()

    threads = [
        threading.Thread(target=run, args=(a_store, "a", ("one", "two"), a_first, b_first)),
        threading.Thread(target=run, args=(b_store, "b", ("two", "one"), b_first, a_first)),
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    try:
        assert len(errors) == 1, errors
        ((loser, exc),) = errors.items()
        assert isinstance(exc, hb.StoreError) and "run it again" in (exc.hint or "")
        winner = "b" if loser == "a" else "a"
        assert a_store.sources().column("origin").to_pylist() == [winner]
        assert a_store.count("fix") == 20  # the winner's, whole; nothing of the loser's
    finally:
        a_store.close()
        b_store.close()
