"""The store test suite: atomic imports, de-duplication, period queries, devices and entities, on every
store (the ``db`` fixture of conftest.py: DuckDB and PostgreSQL); migrations of the embedded store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import hereabouts as hb
from hereabouts.io._base import ReadOptions, Sink
from hereabouts.store import SCHEMA_VERSION, DuckDBStore

T0 = 1_700_000_000_000_000  # 2023-11-14


def _write(
    db: hb.Database,
    device: str,
    n: int,
    *,
    start_us: int = T0,
    step_s: int = 60,
    entity: str | None = None,
    checksum: str = "c",
) -> hb.io.Counts:  # type: ignore[name-defined]
    with db.store.begin_import(origin="test", checksum=checksum, options={}, entity=entity) as txn:
        sink = Sink(txn, member="test", options=ReadOptions(default_device=device), batch_rows=1000)
        for i in range(n):
            t = start_us + i * step_s * 1_000_000
            k = (t - T0) // 1_000_000  # position is a function of time, so overlaps are true duplicates
            sink.fix(i + 1, t, 52.5 + k * 1e-7, 13.4 + k * 1e-7, accuracy_m=10.0)
        counts = sink.close()
        txn.finish(counts.as_dict(), "test")
    return counts


def test_new_store_is_at_current_schema_version(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "a.db")
    assert store.schema_version() == SCHEMA_VERSION
    store.close()
    # reopening does not migrate twice
    store = DuckDBStore(tmp_path / "a.db")
    assert store.schema_version() == SCHEMA_VERSION
    store.close()


def test_store_from_newer_version_is_refused(tmp_path: Path) -> None:
    DuckDBStore(tmp_path / "a.db").close()
    con = duckdb.connect(str(tmp_path / "a.db"))
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(hb.SchemaVersionError, match="newer than this hereabouts"):
        DuckDBStore(tmp_path / "a.db")


def test_store_satisfies_protocol(db: hb.Database) -> None:
    assert isinstance(db.store, hb.store.Store)  # type: ignore[attr-defined]


def test_fixes_round_trip_with_entity_and_device(db: hb.Database) -> None:
    c = _write(db, "phone", 2500, entity="alice")
    assert (c.read, c.fixes, c.duplicates, c.rejected) == (2500, 2500, 0, 0)
    t = db.fixes("alice")
    assert t.num_rows == 2500
    assert set(t.column("device").to_pylist()) == {"phone"}
    assert t.column("t").type == pa.timestamp("us", tz="UTC")
    ts = t.column("t").cast(pa.int64()).to_pylist()
    assert ts == sorted(ts) and ts[0] == T0
    ents = db.entities().to_pylist()
    assert ents[0]["entity"] == "alice" and ents[0]["devices"] == ["phone"] and ents[0]["n_fixes"] == 2500


def test_reimport_adds_nothing_and_counts_duplicates(db: hb.Database) -> None:
    _write(db, "phone", 3000)
    c = _write(db, "phone", 3000, checksum="other")
    assert (c.fixes, c.duplicates) == (0, 3000)
    assert db.fixes("phone").num_rows == 3000
    # partly overlapping: only the new half is added
    c = _write(db, "phone", 3000, start_us=T0 + 1500 * 60 * 1_000_000, checksum="third")
    assert db.fixes("phone").num_rows == 3000 + 1500
    assert (c.fixes, c.duplicates) == (1500, 1500)


def test_same_time_different_device_is_not_a_duplicate(db: hb.Database) -> None:
    _write(db, "phone", 100)
    c = _write(db, "watch", 100, checksum="w")
    assert c.fixes == 100
    assert db.store.count("fix") == 200


def test_failed_import_leaves_store_unchanged(db: hb.Database) -> None:
    _write(db, "phone", 100)
    before = db.fixes("phone")
    with pytest.raises(RuntimeError), db.store.begin_import(origin="x", checksum="y", options={}) as txn:
        sink = Sink(txn, member="x", options=ReadOptions(default_device="phone2"), batch_rows=10)
        for i in range(50):
            sink.fix(i, T0 + i * 1_000_000, 1.0, 1.0)
        raise RuntimeError("reader crashed")
    assert db.fixes("phone").equals(before)
    assert db.sources().num_rows == 1
    assert "phone2" not in db.devices().column("device").to_pylist()


def test_period_query_is_half_open_and_per_device(db: hb.Database) -> None:
    _write(db, "phone", 120, step_s=60)  # two hours, one fix a minute
    start = datetime.fromtimestamp(T0 / 1e6, tz=UTC)
    t = db.fixes("phone", start=start + timedelta(minutes=10), end=start + timedelta(minutes=20))
    assert t.num_rows == 10
    assert t.column("t")[0].as_py() == start + timedelta(minutes=10)


def test_unknown_entity_is_a_clear_error(db: hb.Database) -> None:
    with pytest.raises(hb.NotFoundError, match="no entity named 'bob'"):
        db.fixes("bob")


def test_device_of_other_entity_refused_atomically(db: hb.Database) -> None:
    _write(db, "phone", 10, entity="alice")
    with pytest.raises(hb.InputError, match="already belongs to entity 'alice'"):
        _write(db, "phone", 10, entity="bob", start_us=T0 + 10**12, checksum="b")
    assert db.store.count("fix") == 10
    assert db.sources().num_rows == 1


def test_assign_device_moves_fixes(db: hb.Database) -> None:
    _write(db, "car-tracker", 10)
    db.assign_device("car-tracker", "van 7")
    assert db.fixes("van 7").num_rows == 10


def test_rejects_are_stored_with_position_field_and_reason(db: hb.Database) -> None:
    with db.store.begin_import(origin="t", checksum="r", options={}) as txn:
        sink = Sink(txn, member="f.csv", options=ReadOptions(default_device="d"), unit="line")
        sink.fix(2, T0, 91.0, 13.0)
        sink.fix(3, T0, float("nan"), 13.0)
        sink.fix(4, 0, 52.0, 13.0)
        sink.fix(5, T0, 52.0, 13.0)
        sink.reject(6, "lon", "not a number: 'abc'", raw="2023-01-01,52,abc")
        txn.finish(sink.close().as_dict(), "test")
    r = db.rejects().to_pylist()
    assert [(x["position"], x["field"]) for x in r] == [(2, "lat"), (3, "lat"), (4, "t"), (6, "lon")]
    assert all(x["member"] == "f.csv" and x["unit"] == "line" for x in r)
    assert "[-90, 90]" in r[0]["reason"] and "1980" in r[2]["reason"]
    s = db.sources().to_pylist()[0]
    assert (s["n_read"], s["n_fixes"], s["n_rejected"]) == (5, 1, 4)


def test_optimize_keeps_every_fix(db: hb.Database) -> None:
    _write(db, "b", 500)
    _write(db, "a", 500, checksum="a")
    before = db.fixes().sort_by([("device", "ascending"), ("t", "ascending")])
    db.store.optimize()  # type: ignore[attr-defined]
    after = db.fixes().sort_by([("device", "ascending"), ("t", "ascending")])
    assert after.equals(before)


def test_assign_device_removes_the_empty_entity_made_for_it(db: hb.Database) -> None:
    _write(db, "dev-1", 5)
    _write(db, "dev-2", 5, checksum="2")
    db.assign_device("dev-1", "alice")
    db.assign_device("dev-2", "alice")
    ents = {e["entity"]: e["devices"] for e in db.entities().to_pylist()}
    assert ents == {"alice": ["dev-1", "dev-2"]}
    # an entity someone named stays, even when its last device leaves
    db.assign_device("dev-2", "bob")
    db.assign_device("dev-2", "alice")
    assert set(e["entity"] for e in db.entities().to_pylist()) == {"alice", "bob"}


def test_import_under_an_alias_goes_to_that_entity(db: hb.Database) -> None:
    _write(db, "phone", 5, entity="alice")
    db.store.add_alias("alice", "ally")  # type: ignore[attr-defined]
    _write(db, "watch", 5, entity="ally", checksum="w")
    ents = {e["entity"]: (e["aliases"], e["devices"], e["n_fixes"]) for e in db.entities().to_pylist()}
    assert ents == {"alice": (["ally"], ["phone", "watch"], 10)}
    assert db.fixes("ally").num_rows == 10


def test_audit_log_is_hash_chained_in_the_store(db: hb.Database) -> None:
    from hereabouts import audit

    for i in range(3):
        audit.record(db.store, "ask", {"question": f"q{i}"}, actor="tester", purpose="test")
    rows = db.store.audit_rows().to_pylist()  # type: ignore[attr-defined]
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    check = audit.verify(db.store)
    assert check.ok and check.head == f"3:{rows[2]['hash']}"
