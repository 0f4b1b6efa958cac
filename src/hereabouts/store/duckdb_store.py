"""The embedded store: one DuckDB file.

Fixes are kept in one table clustered by ``(device_id, t)``: every batch is written sorted, so DuckDB's
per-row-group min/max statistics (zone maps) let a query for one device's month skip the row groups of
other devices and other months instead of scanning the table (``benchmarks/store.py`` shows it).
:meth:`DuckDBStore.optimize` rewrites the table fully sorted after many small imports.

The schema is versioned (``meta.schema_version``) and upgraded by the migrations in ``MIGRATIONS``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model import schemas
from ..model.errors import InputError, NotFoundError, SchemaVersionError, StoreError

FIXES_DDL = """CREATE TABLE {name} (
        device_id INTEGER NOT NULL,
        t TIMESTAMPTZ NOT NULL,
        tz_offset_s INTEGER,
        lat DOUBLE NOT NULL,
        lon DOUBLE NOT NULL,
        accuracy_m DOUBLE,
        altitude_m DOUBLE,
        speed_mps DOUBLE,
        course_deg DOUBLE,
        provider VARCHAR,
        source_id INTEGER NOT NULL
    );"""

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
    CREATE SEQUENCE entity_ids START 1;
    CREATE SEQUENCE device_ids START 1;
    CREATE SEQUENCE source_ids START 1;
    CREATE TABLE entities (
        entity_id INTEGER PRIMARY KEY DEFAULT nextval('entity_ids'),
        name VARCHAR NOT NULL UNIQUE,
        aliases VARCHAR[] DEFAULT [],
        kind VARCHAR,
        created_by VARCHAR,
        workspace VARCHAR DEFAULT 'default',
        created_at TIMESTAMPTZ DEFAULT current_timestamp
    );
    CREATE TABLE devices (
        device_id INTEGER PRIMARY KEY DEFAULT nextval('device_ids'),
        name VARCHAR NOT NULL UNIQUE,
        entity_id INTEGER NOT NULL,
        created_at TIMESTAMPTZ DEFAULT current_timestamp
    );
    CREATE TABLE sources (
        source_id INTEGER PRIMARY KEY,
        kind VARCHAR NOT NULL,
        origin VARCHAR NOT NULL,
        imported_at TIMESTAMPTZ NOT NULL,
        checksum VARCHAR,
        options VARCHAR,
        n_read BIGINT DEFAULT 0,
        n_fixes BIGINT DEFAULT 0,
        n_duplicates BIGINT DEFAULT 0,
        n_rejected BIGINT DEFAULT 0,
        n_scans BIGINT DEFAULT 0,
        n_reported_stays BIGINT DEFAULT 0,
        n_reported_trips BIGINT DEFAULT 0,
        n_events BIGINT DEFAULT 0
    );
    {FIXES_DDL}
    CREATE TABLE scans (
        device_id INTEGER NOT NULL,
        t TIMESTAMPTZ NOT NULL,
        kind VARCHAR NOT NULL,
        ident VARCHAR NOT NULL,
        rssi_dbm DOUBLE,
        frequency_mhz DOUBLE,
        source_id INTEGER NOT NULL
    );
    CREATE TABLE reported_stays (
        device_id INTEGER NOT NULL,
        "start" TIMESTAMPTZ NOT NULL,
        "end" TIMESTAMPTZ NOT NULL,
        tz_offset_s INTEGER,
        lat DOUBLE, lon DOUBLE,
        label VARCHAR, place_ref VARCHAR, confidence DOUBLE,
        source_id INTEGER NOT NULL
    );
    CREATE TABLE reported_trips (
        device_id INTEGER NOT NULL,
        "start" TIMESTAMPTZ NOT NULL,
        "end" TIMESTAMPTZ NOT NULL,
        tz_offset_s INTEGER,
        from_lat DOUBLE, from_lon DOUBLE, to_lat DOUBLE, to_lon DOUBLE,
        distance_m DOUBLE, mode VARCHAR, confidence DOUBLE,
        source_id INTEGER NOT NULL
    );
    CREATE TABLE events (
        device_id INTEGER NOT NULL,
        t TIMESTAMPTZ NOT NULL,
        kind VARCHAR NOT NULL,
        lat DOUBLE, lon DOUBLE,
        data VARCHAR,
        source_id INTEGER NOT NULL
    );
    CREATE TABLE rejects (
        source_id INTEGER NOT NULL,
        member VARCHAR NOT NULL,
        unit VARCHAR NOT NULL,
        position BIGINT,
        field VARCHAR,
        reason VARCHAR NOT NULL,
        raw VARCHAR
    );
    """.replace("{FIXES_DDL}", FIXES_DDL.replace("{name}", "fixes")),
    # 2: stored stays and the bookkeeping of incremental analysis (hereabouts.analysis.incremental)
    """
    CREATE SEQUENCE dirty_ids START 1;
    CREATE TABLE analysis_dirty (
        dirty_id BIGINT PRIMARY KEY DEFAULT nextval('dirty_ids'),
        entity_id INTEGER NOT NULL,
        t_from TIMESTAMPTZ NOT NULL,
        t_to TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE analysis_state (
        entity_id INTEGER NOT NULL,
        method_key VARCHAR NOT NULL,
        devices VARCHAR NOT NULL,
        last_dirty_id BIGINT NOT NULL,
        analyzed_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (entity_id, method_key)
    );
    CREATE TABLE stays (
        entity_id INTEGER NOT NULL,
        method_key VARCHAR NOT NULL,
        "start" TIMESTAMPTZ NOT NULL,
        "end" TIMESTAMPTZ NOT NULL,
        lat DOUBLE NOT NULL,
        lon DOUBLE NOT NULL,
        radius_m DOUBLE,
        n_fixes BIGINT,
        confidence DOUBLE,
        evidence_first_t TIMESTAMPTZ,
        evidence_last_t TIMESTAMPTZ,
        method VARCHAR,
        sync_t TIMESTAMPTZ NOT NULL,
        horizon_t TIMESTAMPTZ NOT NULL
    );
    """,
    # 3: the audit log (hereabouts.audit): append-only, each row hash-chained to the one before
    """
    CREATE TABLE audit (
        seq BIGINT PRIMARY KEY,
        "at" TIMESTAMPTZ NOT NULL,
        actor VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        what VARCHAR NOT NULL,
        purpose VARCHAR,
        prev_hash VARCHAR NOT NULL,
        hash VARCHAR NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

# how each tier is de-duplicated: the columns that make two rows the same observation
_KEYS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # tier: (table, time column, key columns besides device and time)
    "fix": ("fixes", "t", ("lat", "lon")),
    "scan": ("scans", "t", ("kind", "ident")),
    "reported_stay": ("reported_stays", "start", ("end", "lat", "lon")),
    "reported_trip": ("reported_trips", "start", ("end", "from_lat", "from_lon")),
    "event": ("events", "t", ("kind", "lat", "lon")),
}

_TIER_COLUMNS: dict[str, list[str]] = {
    tier: [f.name for f in schema if f.name not in ("device", "source_id")]
    for tier, schema in {
        "fix": schemas.FIX,
        "scan": schemas.SCAN,
        "reported_stay": schemas.REPORTED_STAY,
        "reported_trip": schemas.REPORTED_TRIP,
        "event": schemas.EVENT,
    }.items()
}


def _sorted_unique(batch: pa.Table, tcol: str, keys: tuple[str, ...]) -> pa.Table:
    """``batch`` sorted by (device, time, keys) with exact repeats dropped (rows written sorted keep the
    fix table clustered for zone maps)."""
    order = [("device_id", "ascending"), (tcol, "ascending"), *((k, "ascending") for k in keys)]
    idx = pc.sort_indices(batch, sort_keys=order)
    batch = batch.take(idx)
    n = batch.num_rows
    if n < 2:
        return batch
    same = np.ones(n - 1, dtype=bool)
    for name in ("device_id", tcol, *keys):
        col = batch.column(name)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64())
        if pa.types.is_string(col.type) or col.null_count:
            a, b = col.slice(1), col.slice(0, n - 1)
            eq = pc.or_(pc.fill_null(pc.equal(a, b), False), pc.and_(pc.is_null(a), pc.is_null(b)))
            arr = np.asarray(eq.to_numpy(zero_copy_only=False), dtype=bool)
        else:
            v = col.to_numpy()
            arr = v[1:] == v[:-1]
        same &= arr
        if not same.any():
            return batch
    keep = np.concatenate([[True], ~same])
    return batch.filter(pa.array(keep))


_SOURCE_COUNTS = (
    "read",
    "fixes",
    "duplicates",
    "rejected",
    "scans",
    "reported_stays",
    "reported_trips",
    "events",
)


def _q(name: str) -> str:
    return f'"{name}"'


def _ts_literal(us: int) -> str:
    dt = datetime.fromtimestamp(us / 1e6, tz=UTC)
    return f"TIMESTAMPTZ '{dt.isoformat()}'"


class _Import:
    """An import transaction on the DuckDB store."""

    def __init__(self, store: DuckDBStore, source_id: int, entity: str | None) -> None:
        self.store = store
        self.con = store.con
        self.source_id = source_id
        self.entity = entity
        self._device_ids: dict[str, int] = {}
        #: owners of the devices found by name (cached by the store once the transaction commits)
        self._owners: dict[str, str] = {}
        self._entity_of: dict[int, int] = {}  # device id: entity id
        #: the source row, written by :meth:`finish` with its counts (one statement, not two)
        self._source_row: list[Any] | None = None

    def _device_id(self, name: str) -> int:
        did = self._device_ids.get(name)
        if did is not None:
            return did
        known = self.store._known_devices.get(name)  # committed before: no lookup
        rows = (
            [known]
            if known is not None
            else self.con.execute(
                "SELECT d.device_id, e.name, d.entity_id FROM devices d JOIN entities e USING (entity_id) "
                "WHERE d.name = ?",
                [name],
            ).fetchall()
        )
        if rows:
            did, owner = int(rows[0][0]), rows[0][1]
            self._owners[name] = owner
            self._entity_of[did] = int(rows[0][2])
            if self.entity is not None and owner != self.entity:
                raise InputError(
                    f"device {name!r} already belongs to entity {owner!r}, not {self.entity!r}",
                    hint=f"import with --entity {owner!r}, or move the device first with "
                    f"`hereabouts device assign {name!r} {self.entity!r}`",
                )
        else:
            entity_id = self.store._entity_id(self.entity or name, create=True)
            did = int(
                self.con.execute(
                    "INSERT INTO devices (name, entity_id) VALUES (?, ?) RETURNING device_id",
                    [name, entity_id],
                ).fetchall()[0][0]
            )
            self._entity_of[did] = entity_id
        self._device_ids[name] = did
        return did

    def write(self, tier: str, table: pa.Table) -> int:
        if table.num_rows == 0:
            return 0
        if tier == "reject":
            _rejects = table
            self.con.execute(
                "INSERT INTO rejects SELECT ?, member, unit, position, field, reason, raw FROM _rejects",
                [self.source_id],
            ).fetchall()
            return table.num_rows
        if tier not in _KEYS:
            raise ValueError(f"unknown tier {tier!r}")
        dest, tcol, keys = _KEYS[tier]
        names = table.column("device").unique().to_pylist()
        ids = {n: self._device_id(n) for n in names}
        if len(ids) == 1:
            device_ids = pa.array(np.full(table.num_rows, ids[names[0]], dtype=np.int32))
        else:
            lookup = pa.array(list(ids), pa.string())
            idx = pc.index_in(table.column("device"), value_set=lookup)
            device_ids = pa.array(np.asarray([ids[n] for n in ids], dtype=np.int32)[idx.to_numpy()])
        batch = table.drop_columns(["device"]).append_column("device_id", device_ids)
        batch = _sorted_unique(batch, tcol, keys)
        tnum = batch.column(tcol).cast(pa.int64())
        lo = pc.min(tnum).as_py()
        hi = pc.max(tnum).as_py()
        cols = _TIER_COLUMNS[tier]
        col_sql = ", ".join(f"s.{_q(c)}" for c in cols)
        key_cols = ["device_id", _q(tcol), *(_q(k) for k in keys)]
        # NOT DISTINCT so that rows whose optional key columns are NULL still match their twins
        on = " AND ".join(f"x.{k} IS NOT DISTINCT FROM s.{k}" for k in key_cols)
        dev_list = ", ".join(str(i) for i in sorted(set(ids.values())))
        # the literal device list and time range let zone maps skip unrelated row groups
        sql = f"""
            INSERT INTO {dest} (device_id, {", ".join(_q(c) for c in cols)}, source_id)
            SELECT s.device_id, {col_sql}, {self.source_id} FROM _batch s
            ANTI JOIN (
                SELECT {", ".join(key_cols)} FROM {dest}
                WHERE device_id IN ({dev_list})
                  AND {_q(tcol)} BETWEEN {_ts_literal(lo)} AND {_ts_literal(hi)}
            ) x ON {on}
        """
        # DuckDB reads ``_batch`` from this frame (a replacement scan); registering a view instead
        # would keep every batch alive until the transaction ends, growing memory with the file
        _batch = batch
        rows = self.con.execute(sql).fetchall()
        if tier == "fix" and rows and rows[0][0]:  # new fixes: their entities' analysis is stale there
            self.store._mark_dirty(batch, self._entity_of)
        return int(rows[0][0]) if rows else 0

    def finish(self, counts: Mapping[str, int], kind: str) -> None:
        if self._source_row is not None:
            row, self._source_row = self._source_row, None
            self.con.execute(
                "INSERT INTO sources (source_id, kind, origin, imported_at, checksum, options, n_read, "
                "n_fixes, n_duplicates, n_rejected, n_scans, n_reported_stays, n_reported_trips, n_events) "
                "VALUES (?, ?, ?, current_timestamp, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    self.source_id,
                    kind,
                    *row,
                    *(counts.get(k, 0) for k in _SOURCE_COUNTS),
                ],
            )
            return
        self.con.execute(
            """UPDATE sources SET kind = ?, n_read = ?, n_fixes = ?, n_duplicates = ?, n_rejected = ?,
               n_scans = ?, n_reported_stays = ?, n_reported_trips = ?, n_events = ? WHERE source_id = ?""",
            [
                kind,
                counts.get("read", 0),
                counts.get("fixes", 0),
                counts.get("duplicates", 0),
                counts.get("rejected", 0),
                counts.get("scans", 0),
                counts.get("reported_stays", 0),
                counts.get("reported_trips", 0),
                counts.get("events", 0),
                self.source_id,
            ],
        )


class DuckDBStore:
    """The embedded store: every tier in one DuckDB file (``:memory:`` for a throwaway store)."""

    def __init__(
        self,
        path: str | os.PathLike[str] = "hereabouts.db",
        *,
        read_only: bool = False,
        memory_limit: str | None = None,
        threads: int | None = None,
        import_memory_limit: str | None = "64MB",
    ) -> None:
        self.path = str(path)
        #: DuckDB's memory limit while an import runs: imports stream, so a small buffer pool keeps the
        #: peak memory of importing a 1 GB file under 300 MB (benchmarks/import.py)
        self.import_memory_limit = import_memory_limit
        config: dict[str, Any] = {}
        if memory_limit:
            config["memory_limit"] = memory_limit
        if threads:
            config["threads"] = threads
        try:
            self._root = duckdb.connect(self.path, read_only=read_only, config=config)
        except duckdb.Error as exc:
            raise StoreError(
                f"cannot open the store {self.path!r}: {exc}",
                hint="is another hereabouts process writing to it? Only one writer can hold the file",
            ) from exc
        self._lock = threading.RLock()
        self._owner = threading.get_ident()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._root.execute("SET TimeZone = 'UTC'")
        self._next_source_id: int | None = None
        self._memory_before: str | None = None
        #: device name -> (device id, owning entity's name), for devices seen by committed imports
        self._known_devices: dict[str, tuple[int, str, int]] = {}
        if not read_only:
            self._migrate()
        else:
            self._check_version()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection: the store's own in the thread that opened it, a cursor (a
        connection to the same database) in any other, since a DuckDB connection serves one call at a
        time. Writes are serialised by ``_lock``."""
        if threading.get_ident() == self._owner:
            return self._root
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "con", None)
        if cur is None:
            cur = self._root.cursor()
            cur.execute("SET TimeZone = 'UTC'")
            self._local.con = cur
            with self._lock:
                self._cursors.append(cur)
        return cur

    # ---------------------------------------------------------------- schema
    def schema_version(self) -> int:
        try:
            rows = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
        except duckdb.CatalogException:
            return 0
        return int(rows[0][0]) if rows else 0

    def _check_version(self) -> None:
        v = self.schema_version()
        if v > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the store {self.path!r} has schema version {v}, newer than this hereabouts understands "
                f"({SCHEMA_VERSION})",
                hint="upgrade hereabouts: pip install -U hereabouts",
            )

    def _migrate(self) -> None:
        self._check_version()
        v = self.schema_version()
        for i in range(v, SCHEMA_VERSION):
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(MIGRATIONS[i])
                self.con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(i + 1)])
                self.con.execute("COMMIT")
            except Exception:
                self.con.execute("ROLLBACK")
                raise

    # ---------------------------------------------------------------- writing
    def _entity_id(self, name: str, *, create: bool = False) -> int:
        rows = self.con.execute(
            "SELECT entity_id FROM entities WHERE name = ? OR list_contains(aliases, ?) ORDER BY name = ? DESC",
            [name, name, name],
        ).fetchall()
        if rows:
            return int(rows[0][0])
        if not create:
            raise NotFoundError(f"no entity named {name!r}", hint="run `hereabouts entities` to list them")
        return int(
            self.con.execute("INSERT INTO entities (name) VALUES (?) RETURNING entity_id", [name]).fetchall()[
                0
            ][0]
        )

    def find_source(self, checksum: str, options: Mapping[str, Any]) -> int | None:
        rows = self.con.execute(
            "SELECT source_id FROM sources WHERE checksum = ? AND options = ? ORDER BY source_id LIMIT 1",
            [checksum, json.dumps(dict(options), sort_keys=True)],
        ).fetchall()
        return int(rows[0][0]) if rows else None

    @contextmanager
    def begin_import(
        self,
        *,
        origin: str,
        checksum: str | None,
        options: Mapping[str, Any],
        entity: str | None = None,
        bulk: bool = True,
    ) -> Iterator[_Import]:
        """One import transaction. ``bulk`` (a file) runs under ``import_memory_limit``; a small
        transaction (a group of live requests) does without the two settings statements."""
        with self._lock, self._import_memory() if bulk else contextlib.nullcontext():
            self.con.execute("BEGIN TRANSACTION")
            try:
                # source ids are max()+1, taken inside the transaction so a rolled-back import leaves no
                # gap; the next one is remembered after a commit (this process holds the only writer), and
                # forgotten after any failure, so a stale guess costs one failed import, never a wrong row
                sid = self._next_source_id
                row = [origin, checksum, json.dumps(dict(options), sort_keys=True)]
                if sid is None:
                    got = self.con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM sources").fetchall()
                    sid = int(got[0][0])
                txn = _Import(self, sid, entity)
                txn._source_row = row
                yield txn
                if txn._source_row is not None:  # never finished: the row without counts
                    txn.finish({}, "unknown")
                self.con.execute("COMMIT")
            except BaseException:
                self._next_source_id = None
                self.con.execute("ROLLBACK")
                raise
            self._next_source_id = sid + 1
            for name, did in txn._device_ids.items():
                owner = txn._owners.get(name, entity or name)
                self._known_devices[name] = (did, owner, txn._entity_of[did])

    @contextmanager
    def _import_memory(self) -> Iterator[None]:
        if not self.import_memory_limit:
            yield
            return
        before = self._memory_before
        if before is None:
            before = self._memory_before = self.con.execute(
                "SELECT current_setting('memory_limit')"
            ).fetchall()[0][0]
        self.con.execute(f"SET memory_limit = '{self.import_memory_limit}'")
        try:
            yield
        finally:
            self.con.execute(f"SET memory_limit = '{before}'")

    def assign_device(self, device: str, entity: str) -> None:
        """Move ``device`` to ``entity`` (created if missing). The entity that was made for the device
        when it first appeared (same name, no other devices, no aliases) is removed once empty."""
        with self._lock:
            self._known_devices.clear()  # owners change (and an entity may go)
            old = self.con.execute(
                "SELECT e.entity_id, e.name FROM devices d JOIN entities e USING (entity_id) WHERE d.name = ?",
                [device],
            ).fetchall()
            if not old:
                raise NotFoundError(
                    f"no device named {device!r}", hint="run `hereabouts devices` to list them"
                )
            eid = self._entity_id(entity, create=True)
            self.con.execute("UPDATE devices SET entity_id = ? WHERE name = ?", [eid, device])
            old_id, old_name = int(old[0][0]), old[0][1]
            if old_id != eid and old_name == device:
                self.con.execute(
                    """DELETE FROM entities WHERE entity_id = ? AND len(aliases) = 0
                       AND NOT EXISTS (SELECT 1 FROM devices WHERE entity_id = ?)""",
                    [old_id, old_id],
                )
                gone = not self.con.execute("SELECT 1 FROM entities WHERE entity_id = ?", [old_id]).fetchall()
                if gone:  # its stored analysis described fixes that now belong to someone else
                    for table in ("stays", "analysis_state", "analysis_dirty"):
                        self.con.execute(f"DELETE FROM {table} WHERE entity_id = ?", [old_id])

    def add_alias(self, entity: str, alias: str) -> None:
        eid = self._entity_id(entity)
        self.con.execute(
            "UPDATE entities SET aliases = list_distinct(list_append(aliases, ?)) WHERE entity_id = ?",
            [alias, eid],
        )

    # ---------------------------------------------------------------- reading
    def _arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        return self.con.sql(sql, params=params or None).to_arrow_table()

    def sources(self) -> pa.Table:
        return self._arrow(
            """SELECT source_id::BIGINT AS source_id, kind, origin, imported_at, checksum, n_read, n_fixes,
                      n_duplicates, n_rejected, n_scans, n_reported_stays, n_reported_trips, n_events
               FROM sources ORDER BY source_id"""
        )

    def entities(self) -> pa.Table:
        return self._arrow(
            """SELECT e.name AS entity, e.aliases, coalesce(list(d.name ORDER BY d.name) FILTER (d.name IS NOT NULL), [])
                      AS devices, e.kind, e.created_by, e.workspace,
                      coalesce(sum(s.n), 0)::BIGINT AS n_fixes, min(s.first) AS first, max(s.last) AS last
               FROM entities e
               LEFT JOIN devices d USING (entity_id)
               LEFT JOIN (SELECT device_id, count(*) AS n, min(t) AS first, max(t) AS last
                          FROM fixes GROUP BY device_id) s USING (device_id)
               GROUP BY ALL ORDER BY e.name"""
        )

    def devices(self) -> pa.Table:
        return self._arrow(
            """SELECT d.name AS device, e.name AS entity,
                      (SELECT count(*) FROM fixes f WHERE f.device_id = d.device_id)::BIGINT AS n_fixes
               FROM devices d JOIN entities e USING (entity_id) ORDER BY d.name"""
        )

    def _device_ids_for(self, entity: str | None, device: str | None) -> list[tuple[int, str, str]]:
        if device is not None:
            rows = self.con.execute(
                "SELECT d.device_id, d.name, e.name FROM devices d JOIN entities e USING (entity_id) "
                "WHERE d.name = ?",
                [device],
            ).fetchall()
            if not rows:
                raise NotFoundError(
                    f"no device named {device!r}", hint="run `hereabouts devices` to list them"
                )
            return [(int(r[0]), r[1], r[2]) for r in rows]
        if entity is not None:
            eid = self._entity_id(entity)
            rows = self.con.execute(
                "SELECT d.device_id, d.name, e.name FROM devices d JOIN entities e USING (entity_id) "
                "WHERE e.entity_id = ? ORDER BY d.device_id",
                [eid],
            ).fetchall()
            return [(int(r[0]), r[1], r[2]) for r in rows]
        rows = self.con.execute(
            "SELECT d.device_id, d.name, e.name FROM devices d JOIN entities e USING (entity_id) "
            "ORDER BY d.device_id"
        ).fetchall()
        return [(int(r[0]), r[1], r[2]) for r in rows]

    def _fix_sql(
        self, device_id: int, dname: str, ename: str, start: datetime | None, end: datetime | None
    ) -> tuple[str, list[Any]]:
        where = [f"device_id = {int(device_id)}"]
        params: list[Any] = [ename, dname]
        # constants, not parameters, so the zone maps on t prune row groups
        if start is not None:
            where.append(f"t >= {_ts_literal(_dt_us(start))}")
        if end is not None:
            where.append(f"t < {_ts_literal(_dt_us(end))}")
        sql = (
            "SELECT ?::VARCHAR AS entity, ?::VARCHAR AS device, t, tz_offset_s, lat, lon, accuracy_m, altitude_m, "
            "speed_mps, course_deg, provider, source_id::BIGINT AS source_id FROM fixes WHERE "
            + " AND ".join(where)
            + " ORDER BY t"
        )
        return sql, params

    def iter_fixes(
        self,
        *,
        entity: str | None = None,
        device: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        batch_rows: int = 100_000,
    ) -> Iterator[pa.RecordBatch]:
        for did, dname, ename in self._device_ids_for(entity, device):
            sql, params = self._fix_sql(did, dname, ename, start, end)
            yield from self.con.sql(sql, params=params).to_arrow_reader(batch_rows)

    def fixes(
        self,
        *,
        entity: str | None = None,
        device: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pa.Table:
        parts = []
        for did, dname, ename in self._device_ids_for(entity, device):
            sql, params = self._fix_sql(did, dname, ename, start, end)
            parts.append(self._arrow(sql, params))
        if not parts:
            return _empty_fixes()
        return pa.concat_tables(parts)

    def latest_fixes(self, entities: list[str]) -> pa.Table:
        """The most recent fix of each device of ``entities``: entity, device, t, lat, lon, accuracy_m."""
        if not entities:
            return pa.table({"entity": pa.array([], pa.string())})
        marks = ", ".join("?" for _ in entities)
        sql = f"""
            WITH ids AS (
                SELECT d.device_id, d.name AS device, e.name AS entity
                FROM devices d JOIN entities e USING (entity_id) WHERE e.name IN ({marks})
            ), m AS (
                SELECT device_id, max(t) AS t FROM fixes WHERE device_id IN (SELECT device_id FROM ids)
                GROUP BY device_id
            )
            SELECT ids.entity, ids.device, f.t, any_value(f.lat) AS lat, any_value(f.lon) AS lon,
                   any_value(f.accuracy_m) AS accuracy_m
            FROM m JOIN fixes f ON f.device_id = m.device_id AND f.t = m.t JOIN ids ON ids.device_id = m.device_id
            GROUP BY ids.entity, ids.device, f.t ORDER BY ids.entity, f.t DESC"""
        return self._arrow(sql, list(entities))

    def rejects(self, *, source_id: int | None = None, limit: int | None = None) -> pa.Table:
        sql = "SELECT source_id::BIGINT AS source_id, member, unit, position, field, reason, raw FROM rejects"
        params: list[Any] = []
        if source_id is not None:
            sql += " WHERE source_id = ?"
            params.append(source_id)
        sql += " ORDER BY source_id, member, position"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._arrow(sql, params)

    def table(self, tier: str, *, entity: str | None = None) -> pa.Table:
        """Every row of a tier (scan, reported_stay, reported_trip, event), with device and entity names."""
        if tier not in ("scan", "reported_stay", "reported_trip", "event"):
            raise InputError(f"unknown tier {tier!r}; expected scan, reported_stay, reported_trip or event")
        dest, tcol, _ = _KEYS[tier]
        where, params = "", []
        if entity is not None:
            where = "WHERE e.entity_id = ?"
            params.append(self._entity_id(entity))
        cols = ", ".join(f"x.{_q(c)}" for c in _TIER_COLUMNS[tier])
        return self._arrow(
            f"SELECT e.name AS entity, d.name AS device, {cols}, x.source_id::BIGINT AS source_id "
            f"FROM {dest} x JOIN devices d USING (device_id) JOIN entities e USING (entity_id) {where} "
            f"ORDER BY d.name, x.{_q(tcol)}",
            params,
        )

    def count(self, tier: str) -> int:
        table = {
            "fix": "fixes",
            "reject": "rejects",
            "source": "sources",
            "entity": "entities",
            "device": "devices",
        }.get(tier, _KEYS.get(tier, (tier,))[0])
        return int(self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])

    # ---------------------------------------------------------------- upkeep
    def optimize(self) -> None:
        """Rewrite the fix table sorted by (device, time) so zone maps prune as well as they can."""
        with self._lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(FIXES_DDL.replace("{name}", "fixes_sorted"))
                self.con.execute("INSERT INTO fixes_sorted SELECT * FROM fixes ORDER BY device_id, t")
                self.con.execute("DROP TABLE fixes")
                self.con.execute("ALTER TABLE fixes_sorted RENAME TO fixes")
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("CHECKPOINT")

    def close(self) -> None:
        for cur in self._cursors:
            cur.close()
        self._cursors.clear()
        self._root.close()

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- incremental analysis
    # (used by hereabouts.analysis.incremental; times are int microseconds since the epoch, UTC)
    def _mark_dirty(self, batch: pa.Table, entity_of: Mapping[int, int]) -> None:
        """Record the time range of a fix batch, per entity of its devices (called inside an import;
        ``entity_of`` maps its device ids to their entities' ids)."""
        t = batch.column("t").cast(pa.int64())
        spans: dict[int, tuple[int, int]] = {}
        if batch.column("device_id").null_count == 0 and len(set(entity_of.values())) == 1:
            mm = pc.min_max(t).as_py()
            spans[next(iter(entity_of.values()))] = (mm["min"], mm["max"])
        else:
            agg = (
                pa.table({"d": batch.column("device_id"), "t": t})
                .group_by("d")
                .aggregate([("t", "min"), ("t", "max")])
                .to_pylist()
            )
            for r in agg:
                eid = entity_of[int(r["d"])]
                lo, hi = spans.get(eid, (r["t_min"], r["t_max"]))
                spans[eid] = (min(lo, r["t_min"]), max(hi, r["t_max"]))
        values = ", ".join("(?, make_timestamp(?::BIGINT), make_timestamp(?::BIGINT))" for _ in spans)
        params = [v for eid in sorted(spans) for v in (eid, *spans[eid])]
        self.con.execute(f"INSERT INTO analysis_dirty (entity_id, t_from, t_to) VALUES {values}", params)

    @contextmanager
    def analysis_transaction(self) -> Iterator[None]:
        """One transaction for replacing an entity's stored stays and analysis state."""
        with self._lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise

    def entity_ref(self, entity: str) -> tuple[int, list[int]]:
        """The id of ``entity`` (name or alias) and the ids of its devices, sorted."""
        eid = self._entity_id(entity)
        rows = self.con.execute(
            "SELECT device_id FROM devices WHERE entity_id = ? ORDER BY device_id", [eid]
        ).fetchall()
        return eid, [int(r[0]) for r in rows]

    def dirty_windows(self, entity_id: int, after_id: int = 0) -> list[tuple[int, int, int]]:
        """``(dirty_id, t_from_us, t_to_us)`` of the fix batches of an entity recorded after ``after_id``."""
        rows = self.con.execute(
            "SELECT dirty_id, epoch_us(t_from), epoch_us(t_to) FROM analysis_dirty "
            "WHERE entity_id = ? AND dirty_id > ? ORDER BY dirty_id",
            [entity_id, after_id],
        ).fetchall()
        return [(int(a), int(b), int(c)) for a, b, c in rows]

    def last_dirty_id(self) -> int:
        return int(self.con.execute("SELECT coalesce(max(dirty_id), 0) FROM analysis_dirty").fetchall()[0][0])

    def analysis_state(self, entity_id: int, method_key: str) -> tuple[str, int] | None:
        """``(devices, last_dirty_id)`` recorded by the last analysis of an entity with a method key."""
        rows = self.con.execute(
            "SELECT devices, last_dirty_id FROM analysis_state WHERE entity_id = ? AND method_key = ?",
            [entity_id, method_key],
        ).fetchall()
        return (str(rows[0][0]), int(rows[0][1])) if rows else None

    def set_analysis_state(self, entity_id: int, method_key: str, devices: str, last_dirty_id: int) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO analysis_state VALUES (?, ?, ?, ?, current_timestamp)",
            [entity_id, method_key, devices, last_dirty_id],
        )

    def analysis_fixes(self, device_ids: list[int], from_us: int | None = None) -> pa.Table:
        """The fixes of some devices from ``from_us`` on (all when None): ``t`` (int64 microseconds),
        ``lat``, ``lon``, ``accuracy_m``, in one canonical order (time, then position, accuracy and
        device), so that every analysis of the same fixes sees them in the same order."""
        if not device_ids:
            return pa.table(
                {
                    "t": pa.array([], pa.int64()),
                    "lat": pa.array([], pa.float64()),
                    "lon": pa.array([], pa.float64()),
                    "accuracy_m": pa.array([], pa.float64()),
                }
            )
        where = f"device_id IN ({', '.join(str(int(d)) for d in device_ids)})"
        if from_us is not None:
            where += f" AND t >= make_timestamptz({int(from_us)}::BIGINT)"
        return self._arrow(
            f"SELECT epoch_us(t) AS t, lat, lon, accuracy_m FROM fixes WHERE {where} "
            "ORDER BY t, lat, lon, accuracy_m NULLS FIRST, device_id"
        )

    def count_fixes_at(self, device_ids: list[int], t_us: int) -> int:
        if not device_ids:
            return 0
        return int(
            self.con.execute(
                f"SELECT count(*) FROM fixes WHERE device_id IN ({', '.join(str(int(d)) for d in device_ids)}) "
                "AND t = make_timestamptz(?::BIGINT)",
                [int(t_us)],
            ).fetchall()[0][0]
        )

    def sync_points(self, entity_id: int, method_key: str, before_us: int) -> list[tuple[int, int]]:
        """``(restart, horizon)`` times of the stored stays of an entity whose restart time and horizon
        (the latest fix the detector looked at before it) are both earlier than ``before_us``, latest
        first."""
        rows = self.con.execute(
            "SELECT epoch_us(sync_t) AS s, max(epoch_us(horizon_t)) FROM stays "
            "WHERE entity_id = ? AND method_key = ? "
            "AND sync_t < make_timestamptz(?::BIGINT) AND horizon_t < make_timestamptz(?::BIGINT) "
            "GROUP BY s ORDER BY s DESC",
            [entity_id, method_key, int(before_us), int(before_us)],
        ).fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

    def delete_stays(self, entity_id: int, method_key: str | None = None, from_us: int | None = None) -> int:
        """Delete the stored stays of an entity (of one method key; whose restart time is at or after
        ``from_us``); returns how many."""
        sql = "DELETE FROM stays WHERE entity_id = ?"
        params: list[Any] = [entity_id]
        if method_key is not None:
            sql += " AND method_key = ?"
            params.append(method_key)
        if from_us is not None:
            sql += " AND sync_t >= make_timestamptz(?::BIGINT)"
            params.append(int(from_us))
        rows = self.con.execute(sql + " RETURNING 1", params).fetchall()
        return len(rows)

    def write_stays(self, entity_id: int, method_key: str, table: pa.Table) -> None:
        """Insert stays: ``start``, ``end``, ``lat``, ``lon``, ``radius_m``, ``n_fixes``, ``confidence``,
        ``evidence_first_t``, ``evidence_last_t``, ``method``, ``sync_t``, ``horizon_t`` (times as
        timestamps)."""
        if table.num_rows == 0:
            return
        _stays = table
        self.con.execute(
            """INSERT INTO stays SELECT ?, ?, "start", "end", lat, lon, radius_m, n_fixes, confidence,
                      evidence_first_t, evidence_last_t, method, sync_t, horizon_t FROM _stays""",
            [entity_id, method_key],
        )

    def stored_stays(self, entity_id: int, method_key: str) -> pa.Table:
        """The stored stays of an entity for a method key, by start."""
        return self._arrow(
            """SELECT "start", "end", lat, lon, radius_m, n_fixes, confidence, evidence_first_t,
                      evidence_last_t, method, sync_t, horizon_t FROM stays
               WHERE entity_id = ? AND method_key = ? ORDER BY "start", "end", sync_t""",
            [entity_id, method_key],
        )

    # ---------------------------------------------------------------- audit log
    def audit_append(self, row: Mapping[str, Any]) -> None:
        """Append one audit row (built and hashed by :mod:`hereabouts.audit`) and record the new head
        of the chain in ``meta``, in one transaction."""
        with self._lock:
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(
                    "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        row["seq"],
                        row["at"],
                        row["actor"],
                        row["action"],
                        row["what"],
                        row["purpose"],
                        row["prev_hash"],
                        row["hash"],
                    ],
                )
                self.con.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('audit_head', ?)", [f"{row['seq']}:{row['hash']}"]
                )
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise

    def audit_rows(self) -> pa.Table:
        """Every audit row in order, and nothing else."""
        return self._arrow(
            'SELECT seq, "at", actor, action, what, purpose, prev_hash, hash FROM audit ORDER BY seq'
        )

    def audit_head(self) -> str | None:
        """``"seq:hash"`` of the last row appended, as recorded beside the log."""
        rows = self.con.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchall()
        return str(rows[0][0]) if rows else None


def _dt_us(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    from ..io._time import to_us

    return to_us(dt)


def _empty_fixes() -> pa.Table:
    fields = [pa.field("entity", pa.string()), *schemas.FIX]
    return pa.schema(fields).empty_table()
