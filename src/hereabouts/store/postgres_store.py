"""The server store: PostgreSQL with PostGIS, for a server that several workers write to at once.

Everything lives in one schema of a PostgreSQL database (``hereabouts`` unless the URL says
``?schema=NAME``); PostGIS must be available (``CREATE EXTENSION postgis``, done here when the role
may). Fixes carry a PostGIS ``geography(Point, 4326)`` column computed from ``lat``/``lon`` with a
GiST index, so spatial questions ("fixes within 200 m of here") use an index, and a unique btree index
on ``(device_id, t, lat, lon)`` that both answers period queries for one device and de-duplicates.

Imports are one transaction each. Rows are streamed in with ``COPY`` (CSV written by Arrow) into a
per-connection staging table and moved into the tier's table skipping the rows already stored: two rows
are the same observation exactly when they are for the embedded store (same device, time and key
columns, NULL matching NULL). Fixes, the bulk, are checked by an anti-join on the unique index, and
imports writing the same device take turns (an advisory lock per device, held to the commit), so two
workers importing overlapping data at once never store a fix twice; the other tiers use ``INSERT ... ON
CONFLICT DO NOTHING`` against unique indexes declared ``NULLS NOT DISTINCT``. Two imports that write the
same two devices in opposite orders would wait for each other: PostgreSQL then rolls one back whole, and
it fails with a :class:`~hereabouts.model.errors.StoreError` saying to run it again.

Differences from the embedded store, by necessity:

- source ids come from a sequence, so a failed import can leave a gap in them (concurrent imports cannot
  share ``max()+1`` without waiting for each other);
- text cannot hold the NUL character in PostgreSQL; NULs in imported text become U+FFFD.

The schema is versioned (``meta.schema_version``) and upgraded by ``MIGRATIONS``, numbered like the
embedded store's, under an advisory lock so that workers starting together migrate once.
"""

from __future__ import annotations

import io
import json
import re
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ..model import schemas
from ..model.errors import InputError, MissingDependencyError, NotFoundError, SchemaVersionError, StoreError
from .duckdb_store import _KEYS, _TIER_COLUMNS, _sorted_unique

if TYPE_CHECKING:
    import psycopg

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_FIX_COLUMNS = """
        device_id INTEGER NOT NULL,
        t TIMESTAMPTZ NOT NULL,
        tz_offset_s INTEGER,
        lat DOUBLE PRECISION NOT NULL,
        lon DOUBLE PRECISION NOT NULL,
        accuracy_m DOUBLE PRECISION,
        altitude_m DOUBLE PRECISION,
        speed_mps DOUBLE PRECISION,
        course_deg DOUBLE PRECISION,
        provider TEXT,
        source_id INTEGER NOT NULL"""

MIGRATIONS: list[str] = [
    # 1: the first schema
    f"""
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
    CREATE SEQUENCE entity_ids;
    CREATE SEQUENCE device_ids;
    CREATE SEQUENCE source_ids;
    CREATE TABLE entities (
        entity_id INTEGER PRIMARY KEY DEFAULT nextval('entity_ids'),
        name TEXT NOT NULL UNIQUE,
        aliases TEXT[] NOT NULL DEFAULT '{{}}',
        kind TEXT,
        created_by TEXT,
        workspace TEXT DEFAULT 'default',
        created_at TIMESTAMPTZ DEFAULT now()
    );
    CREATE TABLE devices (
        device_id INTEGER PRIMARY KEY DEFAULT nextval('device_ids'),
        name TEXT NOT NULL UNIQUE,
        entity_id INTEGER NOT NULL REFERENCES entities,
        created_at TIMESTAMPTZ DEFAULT now()
    );
    CREATE TABLE sources (
        source_id INTEGER PRIMARY KEY DEFAULT nextval('source_ids'),
        kind TEXT NOT NULL,
        origin TEXT NOT NULL,
        imported_at TIMESTAMPTZ NOT NULL,
        checksum TEXT,
        options TEXT,
        n_read BIGINT DEFAULT 0,
        n_fixes BIGINT DEFAULT 0,
        n_duplicates BIGINT DEFAULT 0,
        n_rejected BIGINT DEFAULT 0,
        n_scans BIGINT DEFAULT 0,
        n_reported_stays BIGINT DEFAULT 0,
        n_reported_trips BIGINT DEFAULT 0,
        n_events BIGINT DEFAULT 0
    );
    CREATE INDEX sources_checksum ON sources (checksum);
    CREATE TABLE fixes ({_FIX_COLUMNS},
        geog geography(Point, 4326) GENERATED ALWAYS AS
            (ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography) STORED
    );
    CREATE UNIQUE INDEX fixes_key ON fixes (device_id, t, lat, lon);
    CREATE INDEX fixes_geog ON fixes USING gist (geog);
    CREATE INDEX fixes_t ON fixes USING brin (t);
    CREATE TABLE scans (
        device_id INTEGER NOT NULL,
        t TIMESTAMPTZ NOT NULL,
        kind TEXT NOT NULL,
        ident TEXT NOT NULL,
        rssi_dbm DOUBLE PRECISION,
        frequency_mhz DOUBLE PRECISION,
        source_id INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX scans_key ON scans (device_id, t, kind, ident);
    CREATE TABLE reported_stays (
        device_id INTEGER NOT NULL,
        "start" TIMESTAMPTZ NOT NULL,
        "end" TIMESTAMPTZ NOT NULL,
        tz_offset_s INTEGER,
        lat DOUBLE PRECISION, lon DOUBLE PRECISION,
        label TEXT, place_ref TEXT, confidence DOUBLE PRECISION,
        source_id INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX reported_stays_key ON reported_stays (device_id, "start", "end", lat, lon)
        NULLS NOT DISTINCT;
    CREATE TABLE reported_trips (
        device_id INTEGER NOT NULL,
        "start" TIMESTAMPTZ NOT NULL,
        "end" TIMESTAMPTZ NOT NULL,
        tz_offset_s INTEGER,
        from_lat DOUBLE PRECISION, from_lon DOUBLE PRECISION,
        to_lat DOUBLE PRECISION, to_lon DOUBLE PRECISION,
        distance_m DOUBLE PRECISION, mode TEXT, confidence DOUBLE PRECISION,
        source_id INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX reported_trips_key ON reported_trips (device_id, "start", "end", from_lat, from_lon)
        NULLS NOT DISTINCT;
    CREATE TABLE events (
        device_id INTEGER NOT NULL,
        t TIMESTAMPTZ NOT NULL,
        kind TEXT NOT NULL,
        lat DOUBLE PRECISION, lon DOUBLE PRECISION,
        data TEXT,
        source_id INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX events_key ON events (device_id, t, kind, lat, lon) NULLS NOT DISTINCT;
    CREATE TABLE rejects (
        source_id INTEGER NOT NULL,
        member TEXT NOT NULL,
        unit TEXT NOT NULL,
        position BIGINT,
        field TEXT,
        reason TEXT NOT NULL,
        raw TEXT
    );
    CREATE INDEX rejects_source ON rejects (source_id);
    """,
    # 2: stored stays and the bookkeeping of incremental analysis (hereabouts.analysis.incremental)
    """
    CREATE TABLE analysis_dirty (
        dirty_id BIGINT PRIMARY KEY,
        entity_id INTEGER NOT NULL,
        t_from TIMESTAMPTZ NOT NULL,
        t_to TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX analysis_dirty_entity ON analysis_dirty (entity_id, dirty_id);
    CREATE TABLE analysis_state (
        entity_id INTEGER NOT NULL,
        method_key TEXT NOT NULL,
        devices TEXT NOT NULL,
        last_dirty_id BIGINT NOT NULL,
        analyzed_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (entity_id, method_key)
    );
    CREATE TABLE stays (
        entity_id INTEGER NOT NULL,
        method_key TEXT NOT NULL,
        "start" TIMESTAMPTZ NOT NULL,
        "end" TIMESTAMPTZ NOT NULL,
        lat DOUBLE PRECISION NOT NULL,
        lon DOUBLE PRECISION NOT NULL,
        radius_m DOUBLE PRECISION,
        n_fixes BIGINT,
        confidence DOUBLE PRECISION,
        evidence_first_t TIMESTAMPTZ,
        evidence_last_t TIMESTAMPTZ,
        method TEXT,
        sync_t TIMESTAMPTZ NOT NULL,
        horizon_t TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX stays_entity ON stays (entity_id, method_key, sync_t);
    """,
    # 3: the audit log (hereabouts.audit): append-only, each row hash-chained to the one before
    """
    CREATE TABLE audit (
        seq BIGINT PRIMARY KEY,
        "at" TIMESTAMPTZ NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        what TEXT NOT NULL,
        purpose TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

DEFAULT_SCHEMA = "hereabouts"

# advisory lock purposes (the other key of each lock is the schema's hash)
_LOCK_MIGRATE = 1
_LOCK_DIRTY = 2
_LOCK_AUDIT = 3
_LOCK_ANALYSIS = 4
_LOCK_POSTGIS = 0x68624745  # one lock per database, whatever the schema, around CREATE EXTENSION

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_TIME_COLUMNS = {"t", "start", "end"}

# Arrow types of the stored columns of each tier (besides device), as the embedded store returns them
_TIER_TYPES: dict[str, dict[str, pa.DataType]] = {
    tier: {f.name: f.type for f in schema if f.name != "device"}
    for tier, schema in {
        "fix": schemas.FIX,
        "scan": schemas.SCAN,
        "reported_stay": schemas.REPORTED_STAY,
        "reported_trip": schemas.REPORTED_TRIP,
        "event": schemas.EVENT,
    }.items()
}

_STRING_LIST = pa.list_(pa.field("l", pa.string()))


def is_postgres_url(path: object) -> bool:
    """Whether ``path`` names a PostgreSQL database (``postgresql://...`` or ``postgres://...``)."""
    return isinstance(path, str) and path.startswith(("postgresql://", "postgres://"))


def split_schema(url: str) -> tuple[str, str | None]:
    """``url`` without its ``schema=NAME`` query parameter (which libpq does not know), and that name."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def _mask(url: str) -> str:
    """``url`` (or a key=value connection string) with its password replaced by ``***``."""
    if not is_postgres_url(url):
        return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _q(name: str) -> str:
    return f'"{name}"'


def _ts_literal(us: int) -> str:
    return f"'{(_EPOCH + timedelta(microseconds=int(us))).isoformat()}'::timestamptz"


def _us_sql(col: str) -> str:
    """SQL for the microseconds since the epoch of a timestamptz column (exact: ``extract`` is numeric)."""
    return f"(extract(epoch FROM {col}) * 1000000)::bigint"


def _ts_sql(col: str) -> str:
    """SQL turning a bigint of microseconds since the epoch into a timestamptz, exactly at any range."""
    return f"(to_timestamp({col} / 1000000) + ({col} % 1000000) * interval '1 microsecond')"


def _dt_us(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    from ..io._time import to_us

    return to_us(dt)


def _sql_type(typ: pa.DataType) -> str:
    """The column type of a staging table for an Arrow type (timestamps travel as int64 microseconds)."""
    if pa.types.is_timestamp(typ) or pa.types.is_int64(typ):
        return "BIGINT"
    if pa.types.is_integer(typ):
        return "INTEGER"
    if pa.types.is_floating(typ):
        return "DOUBLE PRECISION"
    return "TEXT"


def _csv_bytes(table: pa.Table) -> bytes:
    """``table`` as headerless CSV for ``COPY ... (FORMAT csv)``: times as int64 microseconds, text
    quoted (an unquoted empty field is NULL, a quoted one the empty string), NUL characters replaced."""
    cols = []
    for col in table.columns:
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64())
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.replace_substring(col, "\x00", "\ufffd")
        cols.append(col)
    buf = io.BytesIO()
    pcsv.write_csv(
        pa.Table.from_arrays(cols, names=table.column_names),
        buf,
        pcsv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    return buf.getvalue()


def _read_csv(data: bytes, fields: Sequence[tuple[str, pa.DataType]]) -> pa.Table:
    """Parse the CSV that ``COPY (...) TO STDOUT (FORMAT csv)`` wrote: timestamps arrive as int64
    microseconds and are viewed back as ``timestamp[us, UTC]``."""
    names = [n for n, _ in fields]
    wire = {n: (pa.int64() if pa.types.is_timestamp(t) else t) for n, t in fields}
    if not data:
        return pa.schema([pa.field(n, t) for n, t in fields]).empty_table()
    table = pcsv.read_csv(
        io.BytesIO(data),
        read_options=pcsv.ReadOptions(column_names=names, block_size=1 << 24),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            column_types=wire,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    cols = []
    for (_, typ), col in zip(fields, table.columns, strict=True):
        cols.append(col.cast(typ) if col.type != typ else col)
    return pa.Table.from_arrays(cols, schema=pa.schema([pa.field(n, t) for n, t in fields]))


def _from_rows(rows: Sequence[Sequence[Any]], fields: Sequence[tuple[str, pa.DataType]]) -> pa.Table:
    """An Arrow table from fetched rows (small tables: sources, entities, audit...)."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in fields]
    arrays = [pa.array(list(c), typ) for c, (_, typ) in zip(columns, fields, strict=True)]
    return pa.Table.from_arrays(arrays, schema=pa.schema([pa.field(n, t) for n, t in fields]))


def _store_error(exc: Exception, doing: str) -> StoreError:
    import psycopg

    if isinstance(exc, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure):
        return StoreError(
            f"{doing} met another writer on the same rows and was rolled back ({exc})",
            hint="run it again: nothing of it was kept",
        )
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return StoreError(f"{doing}: the store is open read-only", hint="open it without read_only")
    return StoreError(f"{doing} failed in PostgreSQL: {exc}", hint="nothing of it was kept")


class _Import:
    """An import transaction on the PostgreSQL store (one connection, one transaction)."""

    def __init__(
        self, store: PostgresStore, con: psycopg.Connection[Any], source_id: int, entity: str | None
    ):
        self.store = store
        self.con = con
        self.source_id = source_id
        self.entity = entity
        self._devices: dict[str, tuple[int, int]] = {}  # name: (device_id, entity_id)
        self._dirty: list[tuple[int, int, int]] = []  # (entity_id, t_from_us, t_to_us), written at the end
        self._locked: set[int] = set()  # devices whose lock this transaction holds
        self.new_fixes = 0

    def _device(self, name: str) -> tuple[int, int]:
        got = self._devices.get(name)
        if got is not None:
            return got
        sql = (
            "SELECT d.device_id, d.entity_id, e.name FROM devices d JOIN entities e USING (entity_id) "
            "WHERE d.name = %s"
        )
        rows = self.con.execute(sql, [name]).fetchall()
        existed = bool(rows)
        if not existed:
            eid = self.store._entity_id(self.entity or name, create=True, con=self.con)
            # a device made at the same time by another import: wait for it, then use it
            self.con.execute(
                "INSERT INTO devices (name, entity_id) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                [name, eid],
            )
            rows = self.con.execute(sql, [name]).fetchall()
        did, eid, owner = int(rows[0][0]), int(rows[0][1]), rows[0][2]
        if existed and self.entity is not None and owner != self.entity:
            raise InputError(
                f"device {name!r} already belongs to entity {owner!r}, not {self.entity!r}",
                hint=f"import with --entity {owner!r}, or move the device first with "
                f"`hereabouts device assign {name!r} {self.entity!r}`",
            )
        self._devices[name] = (did, eid)
        return did, eid

    def write(self, tier: str, table: pa.Table) -> int:
        if table.num_rows == 0:
            return 0
        if tier == "reject":
            cols = ["member", "unit", "position", "field", "reason", "raw"]
            batch = table.select(cols)
            batch = batch.add_column(
                0, "source_id", pa.array(np.full(batch.num_rows, self.source_id, np.int64))
            )
            with (
                self.con.cursor() as cur,
                cur.copy(
                    "COPY rejects (source_id, member, unit, position, field, reason, raw) FROM STDIN (FORMAT csv)"
                ) as copy,
            ):
                copy.write(_csv_bytes(batch))
            return table.num_rows
        if tier not in _KEYS:
            raise ValueError(f"unknown tier {tier!r}")
        dest, tcol, keys = _KEYS[tier]
        names = table.column("device").unique().to_pylist()
        refs = {n: self._device(n) for n in names}
        if len(refs) == 1:
            device_ids = pa.array(np.full(table.num_rows, refs[names[0]][0], dtype=np.int32))
        else:
            lookup = pa.array(list(refs), pa.string())
            idx = pc.index_in(table.column("device"), value_set=lookup)
            device_ids = pa.array(np.asarray([refs[n][0] for n in refs], dtype=np.int32)[idx.to_numpy()])
        cols = _TIER_COLUMNS[tier]
        batch = table.drop_columns(["device"]).append_column("device_id", device_ids)
        batch = _sorted_unique(batch, tcol, keys)
        stage = self.store._stage(self.con, tier)
        values = ", ".join(_ts_sql(f"s.{_q(c)}") if c in _TIME_COLUMNS else f"s.{_q(c)}" for c in cols)
        insert = (
            f"INSERT INTO {dest} (device_id, {', '.join(_q(c) for c in cols)}, source_id) "
            f"SELECT s.device_id, {values}, {int(self.source_id)} FROM {stage} s"
        )
        if tier == "fix":
            # Fixes are many: an anti-join probing the unique index costs half of ON CONFLICT's speculative
            # insertion. Concurrent imports of the same device wait for each other (a lock per device,
            # held to the commit), so the probe sees every stored twin; the unique index stays as a guard.
            dev_ids = sorted({did for did, _ in refs.values()})
            self._lock_devices(dev_ids)
            # nothing stored for these devices over the batch's time span (new data: the usual case, and
            # certain while we hold their locks): no twin to look for
            tnum = batch.column(tcol).cast(pa.int64())
            lo, hi = pc.min(tnum).as_py(), pc.max(tnum).as_py()
            overlap = self.con.execute(
                f"SELECT 1 FROM fixes WHERE device_id IN ({', '.join(str(d) for d in dev_ids)}) "
                f"AND t BETWEEN {_ts_literal(lo)} AND {_ts_literal(hi)} LIMIT 1"
            ).fetchall()
            if overlap:
                on = " AND ".join(
                    f"x.{_q(c)} = " + (_ts_sql(f"s.{_q(c)}") if c in _TIME_COLUMNS else f"s.{_q(c)}")
                    for c in (tcol, *keys)
                )
                insert += (
                    f" WHERE NOT EXISTS (SELECT 1 FROM {dest} x WHERE x.device_id = s.device_id AND {on})"
                )
        else:
            insert += " ON CONFLICT DO NOTHING"
        with self.con.cursor() as cur:
            with cur.copy(f"COPY {stage} FROM STDIN (FORMAT csv)") as copy:
                copy.write(_csv_bytes(batch.select(["device_id", *cols])))
            cur.execute(insert)
            new = max(cur.rowcount, 0)
        if tier == "fix" and new:  # new fixes: their entities' analysis is stale over the batch's span
            self.new_fixes += new
            self._note_dirty(batch, {did: eid for did, eid in refs.values()})
        return new

    def _lock_devices(self, device_ids: list[int]) -> None:
        todo = [d for d in device_ids if d not in self._locked]
        if not todo:
            return
        if not self._locked:  # the first fix batch: probe the index row by row, never hash the table
            self.con.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        for did in todo:
            self.con.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [self.store._device_lock_key, did]
            ).fetchall()
            self._locked.add(did)

    def _note_dirty(self, batch: pa.Table, entity_of: Mapping[int, int]) -> None:
        spans = (
            pa.table({"device_id": batch.column("device_id"), "t": batch.column("t").cast(pa.int64())})
            .group_by("device_id")
            .aggregate([("t", "min"), ("t", "max")])
            .to_pylist()
        )
        per_entity: dict[int, tuple[int, int]] = {}
        for s in spans:
            eid = entity_of[int(s["device_id"])]
            lo, hi = int(s["t_min"]), int(s["t_max"])
            if eid in per_entity:
                lo, hi = min(lo, per_entity[eid][0]), max(hi, per_entity[eid][1])
            per_entity[eid] = (lo, hi)
        self._dirty.extend((eid, lo, hi) for eid, (lo, hi) in sorted(per_entity.items()))

    def _write_dirty(self) -> None:
        """Record the new fixes' windows for incremental analysis, just before the commit. The ids are
        taken under a lock held to the commit, so they become visible in increasing order: an analysis
        that has seen id n has seen every id below n."""
        if not self._dirty:
            return
        self.store._xact_lock(self.con, _LOCK_DIRTY)
        first = int(
            self.con.execute("SELECT coalesce(max(dirty_id), 0) + 1 FROM analysis_dirty").fetchall()[0][0]
        )
        with self.con.cursor() as cur:
            cur.executemany(
                "INSERT INTO analysis_dirty (dirty_id, entity_id, t_from, t_to) VALUES (%s, %s, %s, %s)",
                [
                    (first + i, eid, _EPOCH + timedelta(microseconds=lo), _EPOCH + timedelta(microseconds=hi))
                    for i, (eid, lo, hi) in enumerate(self._dirty)
                ],
            )

    def finish(self, counts: Mapping[str, int], kind: str) -> None:
        self.con.execute(
            """UPDATE sources SET kind = %s, n_read = %s, n_fixes = %s, n_duplicates = %s, n_rejected = %s,
               n_scans = %s, n_reported_stays = %s, n_reported_trips = %s, n_events = %s
               WHERE source_id = %s""",
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


class PostgresStore:
    """Every tier in one schema of a PostgreSQL + PostGIS database.

    ``dsn`` is a libpq URL or key=value string (``postgresql://user:pw@host:5432/db``); a URL may name
    the schema with ``?schema=NAME`` (default ``hereabouts``), or ``schema`` names it here. The schema
    is created and migrated unless ``read_only``. The store is safe to use from several threads (each
    operation borrows a connection) and from several processes at once.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        read_only: bool = False,
        max_idle_connections: int = 4,
        analyze_after_fixes: int = 50_000,
    ) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError(
                "the PostgreSQL store needs psycopg", hint="pip install 'hereabouts[server]'"
            ) from exc
        dsn, url_schema = split_schema(dsn) if is_postgres_url(dsn) else (dsn, None)
        self.schema = schema or url_schema or DEFAULT_SCHEMA
        if not _NAME.match(self.schema):
            raise InputError(
                f"schema name {self.schema!r} is not a plain identifier",
                hint="use letters, digits and underscores, starting with a letter (e.g. ?schema=hereabouts)",
            )
        self._dsn = dsn
        #: the libpq connection string (it may hold a password: print :attr:`path` instead)
        self.dsn = dsn
        self.path = _mask(dsn) + ("" if self.schema == DEFAULT_SCHEMA else f" (schema {self.schema})")
        self.read_only = read_only
        self.max_idle_connections = max_idle_connections
        #: refresh the planner's statistics of the fix table after an import adding this many fixes
        self.analyze_after_fixes = analyze_after_fixes
        self._lock_key = zlib.crc32(f"hereabouts:{self.schema}".encode()) - (1 << 31)
        self._device_lock_key = zlib.crc32(f"hereabouts-device:{self.schema}".encode()) - (1 << 31)
        self._idle: list[psycopg.Connection[Any]] = []
        self._pool_lock = threading.Lock()
        self._local = threading.local()
        self._closed = False
        self._search_path = _q(self.schema)
        try:
            with self._con() as con:
                postgis = self._postgis_schema(con, create=not read_only)
            self._search_path = f"{_q(self.schema)}, {_q(postgis)}"
            self._drop_idle()  # they have the old search path
            if read_only:
                self._check_version()
            else:
                self._migrate()
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- connections
    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        try:
            con = psycopg.connect(self._dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {_mask(self._dsn)}: {str(exc).strip()}",
                hint="is the server running and the URL right (postgresql://user:password@host:5432/db)?",
            ) from exc
        con.execute(f"SET search_path TO {self._search_path}; SET TimeZone TO 'UTC'; SET work_mem = '64MB'")
        if self.read_only:
            con.execute("SET default_transaction_read_only = on")
        return con

    def connection(self) -> psycopg.Connection[Any]:
        """A new connection to this store's schema (search path set, autocommit, UTC), for modules that
        keep tables of their own beside the store's; the caller closes it (``with store.connection() as
        con, con.transaction(): ...``)."""
        return self._connect()

    def _checkout(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        while True:
            with self._pool_lock:
                con = self._idle.pop() if self._idle else None
            if con is None:
                return self._connect()
            if not (con.closed or con.broken):
                return con

    def _checkin(self, con: psycopg.Connection[Any]) -> None:
        from psycopg.pq import TransactionStatus

        if con.closed or con.info.transaction_status != TransactionStatus.IDLE:
            con.close()
            return
        with self._pool_lock:
            if not self._closed and len(self._idle) < self.max_idle_connections:
                self._idle.append(con)
                return
        con.close()

    def _drop_idle(self) -> None:
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for con in idle:
            con.close()

    @contextmanager
    def _con(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection of this thread's open transaction, or one borrowed for a statement."""
        current = getattr(self._local, "con", None)
        if current is not None:
            yield current
            return
        con = self._checkout()
        try:
            yield con
        finally:
            self._checkin(con)

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on one connection; store calls made by this thread inside it join it."""
        current = getattr(self._local, "con", None)
        if current is not None:
            with current.transaction():
                yield current
            return
        con = self._checkout()
        self._local.con = con
        try:
            with con.transaction():
                yield con
        finally:
            self._local.con = None
            self._checkin(con)

    def _xact_lock(self, con: psycopg.Connection[Any], purpose: int) -> None:
        """Wait for this store's advisory lock for ``purpose``; it is held until the transaction ends."""
        con.execute("SELECT pg_advisory_xact_lock(%s, %s)", [self._lock_key, purpose]).fetchall()

    def _exec(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self._con() as con:
            con.execute(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._con() as con:
            return con.execute(sql, params).fetchall()

    def _copy_out(self, sql: str, fields: Sequence[tuple[str, pa.DataType]]) -> pa.Table:
        """The result of ``sql`` (no parameters: literals only; one column per field, in order) as Arrow,
        through ``COPY ... TO STDOUT`` as CSV parsed by Arrow (timestamps travel as int64 microseconds)."""
        buf = bytearray()
        with (
            self._con() as con,
            con.cursor() as cur,
            cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy,
        ):
            for chunk in copy:
                buf += chunk
        return _read_csv(bytes(buf), fields)

    def _stage(self, con: psycopg.Connection[Any], tier: str) -> str:
        """The empty staging table of ``tier`` on ``con`` (a temporary table kept by the connection)."""
        name = f"hb_stage_{tier}"
        cols = [f"{_q(c)} {_sql_type(_TIER_TYPES[tier][c])}" for c in _TIER_COLUMNS[tier]]
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (device_id INTEGER, {', '.join(cols)})")
        con.execute(f"TRUNCATE {name}")
        return f"pg_temp.{name}"

    # ---------------------------------------------------------------- schema
    def _postgis_schema(self, con: psycopg.Connection[Any], *, create: bool) -> str:
        import psycopg

        def where() -> str | None:
            rows = con.execute(
                "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'postgis'"
            ).fetchall()
            return str(rows[0][0]).strip('"') if rows else None

        found = where()
        if found is None and create:
            try:
                with con.transaction():
                    con.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_POSTGIS]).fetchall()
                    con.execute("CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public")
            except psycopg.Error as exc:
                raise StoreError(
                    f"cannot enable PostGIS in the database at {_mask(self._dsn)}: {str(exc).strip()}",
                    hint="install PostGIS (Debian: apt-get install postgresql-15-postgis-3) and run "
                    "`CREATE EXTENSION postgis;` in the database as a superuser",
                ) from exc
            found = where()
        if found is None:
            raise StoreError(
                f"PostGIS is not enabled in the database at {_mask(self._dsn)}",
                hint="run `CREATE EXTENSION postgis;` in the database as a superuser",
            )
        return found

    def schema_version(self) -> int:
        rows = self._rows("SELECT to_regclass(%s) IS NOT NULL", [f"{_q(self.schema)}.meta"])
        if not rows[0][0]:
            return 0
        rows = self._rows("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(rows[0][0]) if rows else 0

    def _check_version(self) -> None:
        v = self.schema_version()
        if v > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the store {self.path} has schema version {v}, newer than this hereabouts understands "
                f"({SCHEMA_VERSION})",
                hint="upgrade hereabouts: pip install -U hereabouts",
            )

    def _migrate(self) -> None:
        with self._transaction() as con:
            self._xact_lock(con, _LOCK_MIGRATE)
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(self.schema)}")
            self._check_version()
            for i in range(self.schema_version(), SCHEMA_VERSION):
                con.execute(MIGRATIONS[i])
                con.execute(
                    "INSERT INTO meta VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [str(i + 1)],
                )

    # ---------------------------------------------------------------- writing
    def _entity_id(
        self, name: str, *, create: bool = False, con: psycopg.Connection[Any] | None = None
    ) -> int:
        sql = (
            "SELECT entity_id FROM entities WHERE name = %s OR %s = ANY(aliases) "
            "ORDER BY name = %s DESC LIMIT 1"
        )
        with self._con() if con is None else _same(con) as c:
            rows = c.execute(sql, [name, name, name]).fetchall()
            if rows:
                return int(rows[0][0])
            if not create:
                raise NotFoundError(
                    f"no entity named {name!r}", hint="run `hereabouts entities` to list them"
                )
            c.execute("INSERT INTO entities (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", [name])
            return int(c.execute(sql, [name, name, name]).fetchall()[0][0])

    def find_source(self, checksum: str, options: Mapping[str, Any]) -> int | None:
        rows = self._rows(
            "SELECT source_id FROM sources WHERE checksum = %s AND options = %s ORDER BY source_id LIMIT 1",
            [checksum, json.dumps(dict(options), sort_keys=True)],
        )
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
        """One import transaction (``bulk`` is the embedded store's memory setting, not needed here)."""
        import psycopg

        try:
            with self._transaction() as con:
                sid = int(
                    con.execute(
                        "INSERT INTO sources (kind, origin, imported_at, checksum, options) "
                        "VALUES ('unknown', %s, now(), %s, %s) RETURNING source_id",
                        [origin, checksum, json.dumps(dict(options), sort_keys=True)],
                    ).fetchall()[0][0]
                )
                txn = _Import(self, con, sid, entity)
                yield txn
                txn._write_dirty()
        except psycopg.Error as exc:
            raise _store_error(exc, f"the import of {origin}") from exc
        if txn.new_fixes >= self.analyze_after_fixes:
            # fresh statistics keep period queries on the index (planned against an empty table, they sort)
            self._exec("ANALYZE fixes")

    def assign_device(self, device: str, entity: str) -> None:
        """Move ``device`` to ``entity`` (created if missing). The entity that was made for the device
        when it first appeared (same name, no other devices, no aliases) is removed once empty."""
        with self._transaction() as con:
            old = con.execute(
                "SELECT e.entity_id, e.name FROM devices d JOIN entities e USING (entity_id) "
                "WHERE d.name = %s FOR UPDATE OF d",
                [device],
            ).fetchall()
            if not old:
                raise NotFoundError(
                    f"no device named {device!r}", hint="run `hereabouts devices` to list them"
                )
            eid = self._entity_id(entity, create=True, con=con)
            con.execute("UPDATE devices SET entity_id = %s WHERE name = %s", [eid, device])
            old_id, old_name = int(old[0][0]), old[0][1]
            if old_id != eid and old_name == device:
                gone = con.execute(
                    """DELETE FROM entities WHERE entity_id = %s AND cardinality(aliases) = 0
                       AND NOT EXISTS (SELECT 1 FROM devices WHERE entity_id = %s) RETURNING 1""",
                    [old_id, old_id],
                ).fetchall()
                if gone:  # its stored analysis described fixes that now belong to someone else
                    for table in ("stays", "analysis_state", "analysis_dirty"):
                        con.execute(f"DELETE FROM {table} WHERE entity_id = %s", [old_id])

    def add_alias(self, entity: str, alias: str) -> None:
        with self._transaction() as con:
            eid = self._entity_id(entity, con=con)
            con.execute(
                "UPDATE entities SET aliases = array_append(aliases, %s) "
                "WHERE entity_id = %s AND NOT %s = ANY(aliases)",
                [alias, eid, alias],
            )

    # ---------------------------------------------------------------- reading
    def sources(self) -> pa.Table:
        rows = self._rows(
            """SELECT source_id, kind, origin, imported_at, checksum, n_read, n_fixes, n_duplicates,
                      n_rejected, n_scans, n_reported_stays, n_reported_trips, n_events
               FROM sources ORDER BY source_id"""
        )
        fields = [(f.name, f.type) for f in schemas.SOURCE]
        return _from_rows(rows, fields)

    def entities(self) -> pa.Table:
        rows = self._rows(
            """SELECT e.name, e.aliases,
                      coalesce(array_agg(d.name ORDER BY d.name COLLATE "C")
                               FILTER (WHERE d.name IS NOT NULL), '{}'),
                      e.kind, e.created_by, e.workspace,
                      coalesce(sum(s.n), 0)::bigint, min(s.first), max(s.last)
               FROM entities e
               LEFT JOIN devices d USING (entity_id)
               LEFT JOIN LATERAL (SELECT count(*) AS n, min(t) AS first, max(t) AS last
                                  FROM fixes f WHERE f.device_id = d.device_id) s ON true
               GROUP BY e.entity_id ORDER BY e.name COLLATE "C" """
        )
        fields = [
            ("entity", pa.string()),
            ("aliases", _STRING_LIST),
            ("devices", _STRING_LIST),
            ("kind", pa.string()),
            ("created_by", pa.string()),
            ("workspace", pa.string()),
            ("n_fixes", pa.int64()),
            ("first", schemas.UTC_US),
            ("last", schemas.UTC_US),
        ]
        return _from_rows(rows, fields)

    def devices(self) -> pa.Table:
        rows = self._rows(
            """SELECT d.name, e.name, (SELECT count(*) FROM fixes f WHERE f.device_id = d.device_id)
               FROM devices d JOIN entities e USING (entity_id) ORDER BY d.name COLLATE "C" """
        )
        return _from_rows(rows, [("device", pa.string()), ("entity", pa.string()), ("n_fixes", pa.int64())])

    def _device_ids_for(self, entity: str | None, device: str | None) -> list[tuple[int, str, str]]:
        base = "SELECT d.device_id, d.name, e.name FROM devices d JOIN entities e USING (entity_id) "
        if device is not None:
            rows = self._rows(base + "WHERE d.name = %s", [device])
            if not rows:
                raise NotFoundError(
                    f"no device named {device!r}", hint="run `hereabouts devices` to list them"
                )
        elif entity is not None:
            eid = self._entity_id(entity)
            rows = self._rows(base + "WHERE e.entity_id = %s ORDER BY d.device_id", [eid])
        else:
            rows = self._rows(base + "ORDER BY d.device_id")
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    _FIX_FIELDS: Sequence[tuple[str, pa.DataType]] = [
        (f.name, f.type) for f in schemas.FIX if f.name != "device"
    ]

    def _device_fixes(
        self,
        device_id: int,
        start: datetime | None,
        end: datetime | None,
        *,
        after: tuple[int, float, float] | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """One device's fixes in ``[start, end)`` by (t, lat, lon), after the key ``after`` (paging)."""
        where = [f"device_id = {int(device_id)}"]
        if start is not None:
            where.append(f"t >= {_ts_literal(_dt_us(start))}")
        if end is not None:
            where.append(f"t < {_ts_literal(_dt_us(end))}")
        if after is not None:
            t_us, lat, lon = after
            where.append(f"(t, lat, lon) > ({_ts_literal(t_us)}, {lat!r}::float8, {lon!r}::float8)")
        sql = (
            f"SELECT {_us_sql('t')}, tz_offset_s, lat, lon, accuracy_m, altitude_m, speed_mps, course_deg, "
            f"provider, source_id FROM fixes WHERE {' AND '.join(where)} ORDER BY t, lat, lon"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._copy_out(sql, self._FIX_FIELDS)

    @staticmethod
    def _named(table: pa.Table, entity: str, device: str) -> pa.Table:
        n = table.num_rows
        return table.add_column(0, "device", pa.repeat(pa.scalar(device, pa.string()), n)).add_column(
            0, "entity", pa.repeat(pa.scalar(entity, pa.string()), n)
        )

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
            after = None
            while True:
                part = self._device_fixes(did, start, end, after=after, limit=batch_rows)
                if part.num_rows:
                    yield from self._named(part, ename, dname).to_batches()
                if part.num_rows < batch_rows:
                    break
                last = part.slice(part.num_rows - 1).to_pylist()[0]
                after = (_dt_us(last["t"]), float(last["lat"]), float(last["lon"]))

    def fixes(
        self,
        *,
        entity: str | None = None,
        device: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pa.Table:
        parts = [
            self._named(self._device_fixes(did, start, end), ename, dname)
            for did, dname, ename in self._device_ids_for(entity, device)
        ]
        if not parts:
            return pa.schema([pa.field("entity", pa.string()), *schemas.FIX]).empty_table()
        out = pa.concat_tables(parts)
        return out.cast(
            pa.schema([pa.field("entity", pa.string()), *(pa.field(f.name, f.type) for f in schemas.FIX)])
        )

    def rejects(self, *, source_id: int | None = None, limit: int | None = None) -> pa.Table:
        sql = "SELECT source_id::bigint, member, unit, position, field, reason, raw FROM rejects"
        params: list[Any] = []
        if source_id is not None:
            sql += " WHERE source_id = %s"
            params.append(source_id)
        sql += ' ORDER BY source_id, member COLLATE "C", position'
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return _from_rows(self._rows(sql, params), [(f.name, f.type) for f in schemas.REJECT])

    def table(self, tier: str, *, entity: str | None = None) -> pa.Table:
        """Every row of a tier (scan, reported_stay, reported_trip, event), with device and entity names."""
        if tier not in ("scan", "reported_stay", "reported_trip", "event"):
            raise InputError(f"unknown tier {tier!r}; expected scan, reported_stay, reported_trip or event")
        dest, tcol, _ = _KEYS[tier]
        where = ""
        if entity is not None:
            where = f"WHERE e.entity_id = {self._entity_id(entity)}"
        cols = _TIER_COLUMNS[tier]
        select = ", ".join(_us_sql(f"x.{_q(c)}") if c in _TIME_COLUMNS else f"x.{_q(c)}" for c in cols)
        fields = [("entity", pa.string()), ("device", pa.string())]
        fields += [(c, _TIER_TYPES[tier][c]) for c in cols] + [("source_id", pa.int64())]
        return self._copy_out(
            f"SELECT e.name, d.name, {select}, x.source_id::bigint "
            f"FROM {dest} x JOIN devices d USING (device_id) JOIN entities e USING (entity_id) {where} "
            f'ORDER BY d.name COLLATE "C", x.{_q(tcol)}',
            fields,
        )

    def count(self, tier: str) -> int:
        table = {
            "fix": "fixes",
            "reject": "rejects",
            "source": "sources",
            "entity": "entities",
            "device": "devices",
        }.get(tier, _KEYS.get(tier, (tier,))[0])
        if not _NAME.match(table):
            raise InputError(f"unknown tier {tier!r}")
        return int(self._rows(f"SELECT count(*) FROM {table}")[0][0])

    # ---------------------------------------------------------------- spatial
    def fixes_near(
        self,
        lat: float,
        lon: float,
        radius_m: float,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pa.Table:
        """Every fix within ``radius_m`` metres of (``lat``, ``lon``) on the WGS 84 spheroid, optionally in
        ``[start, end)``, by device and time (uses the GiST index on the fixes' geography)."""
        where = [
            f"ST_DWithin(f.geog, ST_SetSRID(ST_MakePoint({float(lon)!r}, {float(lat)!r}), 4326)::geography, "
            f"{float(radius_m)!r})"
        ]
        if start is not None:
            where.append(f"f.t >= {_ts_literal(_dt_us(start))}")
        if end is not None:
            where.append(f"f.t < {_ts_literal(_dt_us(end))}")
        fields = [("entity", pa.string()), ("device", pa.string()), *self._FIX_FIELDS]
        return self._copy_out(
            f"SELECT e.name, d.name, {_us_sql('f.t')}, f.tz_offset_s, f.lat, f.lon, f.accuracy_m, f.altitude_m, "
            "f.speed_mps, f.course_deg, f.provider, f.source_id FROM fixes f "
            "JOIN devices d USING (device_id) JOIN entities e USING (entity_id) "
            f'WHERE {" AND ".join(where)} ORDER BY d.name COLLATE "C", f.t, f.lat, f.lon',
            fields,
        )

    # ---------------------------------------------------------------- upkeep
    def optimize(self) -> None:
        """Rewrite the fix table in (device, time) order (``CLUSTER``) and refresh the planner's statistics,
        so one device's period is read from few pages. Blocks writers while it runs."""
        with self._con() as con:
            con.execute("CLUSTER fixes USING fixes_key")
            con.execute("ANALYZE fixes")

    def close(self) -> None:
        self._closed = True
        self._drop_idle()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- incremental analysis
    # (the methods hereabouts.analysis.incremental uses; times are int microseconds since the epoch, UTC)
    @contextmanager
    def analysis_transaction(self) -> Iterator[None]:
        """One transaction for replacing an entity's stored stays and analysis state; analyses of one
        store run one at a time (an advisory lock), so two workers never store the same stays twice."""
        with self._transaction() as con:
            self._xact_lock(con, _LOCK_ANALYSIS)
            yield

    def entity_ref(self, entity: str) -> tuple[int, list[int]]:
        """The id of ``entity`` (name or alias) and the ids of its devices, sorted."""
        eid = self._entity_id(entity)
        rows = self._rows("SELECT device_id FROM devices WHERE entity_id = %s ORDER BY device_id", [eid])
        return eid, [int(r[0]) for r in rows]

    def dirty_windows(self, entity_id: int, after_id: int = 0) -> list[tuple[int, int, int]]:
        """``(dirty_id, t_from_us, t_to_us)`` of the fix batches of an entity recorded after ``after_id``."""
        rows = self._rows(
            f"SELECT dirty_id, {_us_sql('t_from')}, {_us_sql('t_to')} FROM analysis_dirty "
            "WHERE entity_id = %s AND dirty_id > %s ORDER BY dirty_id",
            [entity_id, after_id],
        )
        return [(int(a), int(b), int(c)) for a, b, c in rows]

    def last_dirty_id(self) -> int:
        return int(self._rows("SELECT coalesce(max(dirty_id), 0) FROM analysis_dirty")[0][0])

    def analysis_state(self, entity_id: int, method_key: str) -> tuple[str, int] | None:
        """``(devices, last_dirty_id)`` recorded by the last analysis of an entity with a method key."""
        rows = self._rows(
            "SELECT devices, last_dirty_id FROM analysis_state WHERE entity_id = %s AND method_key = %s",
            [entity_id, method_key],
        )
        return (str(rows[0][0]), int(rows[0][1])) if rows else None

    def set_analysis_state(self, entity_id: int, method_key: str, devices: str, last_dirty_id: int) -> None:
        self._rows(
            "INSERT INTO analysis_state VALUES (%s, %s, %s, %s, now()) ON CONFLICT (entity_id, method_key) "
            "DO UPDATE SET devices = excluded.devices, last_dirty_id = excluded.last_dirty_id, "
            "analyzed_at = excluded.analyzed_at RETURNING 1",
            [entity_id, method_key, devices, last_dirty_id],
        )

    def analysis_fixes(self, device_ids: list[int], from_us: int | None = None) -> pa.Table:
        """The fixes of some devices from ``from_us`` on (all when None): ``t`` (int64 microseconds),
        ``lat``, ``lon``, ``accuracy_m``, in one canonical order (time, then position, accuracy and
        device), so that every analysis of the same fixes sees them in the same order."""
        fields = [
            ("t", pa.int64()),
            ("lat", pa.float64()),
            ("lon", pa.float64()),
            ("accuracy_m", pa.float64()),
        ]
        if not device_ids:
            return pa.schema([pa.field(n, t) for n, t in fields]).empty_table()
        where = f"device_id IN ({', '.join(str(int(d)) for d in device_ids)})"
        if from_us is not None:
            where += f" AND t >= {_ts_literal(from_us)}"
        return self._copy_out(
            f"SELECT {_us_sql('t')}, lat, lon, accuracy_m FROM fixes WHERE {where} "
            "ORDER BY t, lat, lon, accuracy_m NULLS FIRST, device_id",
            fields,
        )

    def count_fixes_at(self, device_ids: list[int], t_us: int) -> int:
        if not device_ids:
            return 0
        ids = ", ".join(str(int(d)) for d in device_ids)
        return int(
            self._rows(f"SELECT count(*) FROM fixes WHERE device_id IN ({ids}) AND t = {_ts_literal(t_us)}")[
                0
            ][0]
        )

    def sync_points(self, entity_id: int, method_key: str, before_us: int) -> list[tuple[int, int]]:
        """``(restart, horizon)`` times of the stored stays of an entity whose restart time and horizon
        (the latest fix the detector looked at before it) are both earlier than ``before_us``, latest
        first."""
        before = _ts_literal(before_us)
        rows = self._rows(
            f"SELECT {_us_sql('sync_t')} AS s, max({_us_sql('horizon_t')}) FROM stays "
            f"WHERE entity_id = %s AND method_key = %s AND sync_t < {before} AND horizon_t < {before} "
            "GROUP BY s ORDER BY s DESC",
            [entity_id, method_key],
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    def delete_stays(self, entity_id: int, method_key: str | None = None, from_us: int | None = None) -> int:
        """Delete the stored stays of an entity (of one method key; whose restart time is at or after
        ``from_us``); returns how many."""
        sql = "DELETE FROM stays WHERE entity_id = %s"
        params: list[Any] = [entity_id]
        if method_key is not None:
            sql += " AND method_key = %s"
            params.append(method_key)
        if from_us is not None:
            sql += f" AND sync_t >= {_ts_literal(from_us)}"
        return len(self._rows(sql + " RETURNING 1", params))

    _STAY_COLUMNS = (
        "start",
        "end",
        "lat",
        "lon",
        "radius_m",
        "n_fixes",
        "confidence",
        "evidence_first_t",
        "evidence_last_t",
        "method",
        "sync_t",
        "horizon_t",
    )

    def write_stays(self, entity_id: int, method_key: str, table: pa.Table) -> None:
        """Insert stays: ``start``, ``end``, ``lat``, ``lon``, ``radius_m``, ``n_fixes``, ``confidence``,
        ``evidence_first_t``, ``evidence_last_t``, ``method``, ``sync_t``, ``horizon_t`` (times as
        timestamps)."""
        if table.num_rows == 0:
            return
        cols = self._STAY_COLUMNS
        batch = table.select(list(cols))
        n = batch.num_rows
        batch = batch.add_column(0, "method_key", pa.repeat(pa.scalar(method_key, pa.string()), n))
        batch = batch.add_column(0, "entity_id", pa.array(np.full(n, entity_id, np.int64)))
        stage_cols = ", ".join(f"{_q(c)} {_sql_type(batch.schema.field(c).type)}" for c in cols)
        values = ", ".join(
            _ts_sql(_q(c)) if pa.types.is_timestamp(batch.schema.field(c).type) else _q(c) for c in cols
        )
        with self._con() as con, con.transaction(), con.cursor() as cur:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS hb_stage_stays (entity_id INTEGER, method_key TEXT, {stage_cols})"
            )
            cur.execute("TRUNCATE hb_stage_stays")
            with cur.copy("COPY pg_temp.hb_stage_stays FROM STDIN (FORMAT csv)") as copy:
                copy.write(_csv_bytes(batch))
            cur.execute(
                f"INSERT INTO stays (entity_id, method_key, {', '.join(_q(c) for c in cols)}) "
                f"SELECT entity_id, method_key, {values} FROM pg_temp.hb_stage_stays"
            )

    def stored_stays(self, entity_id: int, method_key: str) -> pa.Table:
        """The stored stays of an entity for a method key, by start."""
        times = {"start", "end", "evidence_first_t", "evidence_last_t", "sync_t", "horizon_t"}
        select = ", ".join(_us_sql(_q(c)) if c in times else _q(c) for c in self._STAY_COLUMNS)
        fields = [
            (
                c,
                schemas.UTC_US
                if c in times
                else (pa.int64() if c == "n_fixes" else pa.string() if c == "method" else pa.float64()),
            )
            for c in self._STAY_COLUMNS
        ]
        key = method_key.replace("'", "''")
        return self._copy_out(
            f"SELECT {select} FROM stays WHERE entity_id = {int(entity_id)} AND method_key = '{key}' "
            'ORDER BY "start", "end", sync_t',
            fields,
        )

    # ---------------------------------------------------------------- audit log
    def audit_append(self, row: Mapping[str, Any]) -> None:
        """Append one audit row (built and hashed by :mod:`hereabouts.audit`) and record the new head of
        the chain in ``meta``, in one transaction. Appends are serialised by an advisory lock; a row
        built against a head another writer has moved since is chained again onto the new head (same
        content, next sequence number), so concurrent writers never break the chain."""
        from ..audit import GENESIS, _at_text, _digest

        with self._transaction() as con:
            self._xact_lock(con, _LOCK_AUDIT)
            last = con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchall()
            seq, prev = (int(last[0][0]) + 1, str(last[0][1])) if last else (1, GENESIS)
            row = dict(row)
            if row["seq"] != seq or row["prev_hash"] != prev:
                at_text = _at_text(row["at"])
                row.update(
                    seq=seq,
                    prev_hash=prev,
                    hash=_digest(
                        prev, seq, at_text, row["actor"], row["action"], row["what"], row["purpose"]
                    ),
                )
            con.execute(
                "INSERT INTO audit VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [row[k] for k in ("seq", "at", "actor", "action", "what", "purpose", "prev_hash", "hash")],
            )
            con.execute(
                "INSERT INTO meta VALUES ('audit_head', %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [f"{row['seq']}:{row['hash']}"],
            )

    def audit_rows(self) -> pa.Table:
        """Every audit row in order, and nothing else."""
        rows = self._rows(
            'SELECT seq, "at", actor, action, what, purpose, prev_hash, hash FROM audit ORDER BY seq'
        )
        fields = [
            ("seq", pa.int64()),
            ("at", schemas.UTC_US),
            ("actor", pa.string()),
            ("action", pa.string()),
            ("what", pa.string()),
            ("purpose", pa.string()),
            ("prev_hash", pa.string()),
            ("hash", pa.string()),
        ]
        return _from_rows(rows, fields)

    def audit_head(self) -> str | None:
        """``"seq:hash"`` of the last row appended, as recorded beside the log."""
        rows = self._rows("SELECT value FROM meta WHERE key = 'audit_head'")
        return str(rows[0][0]) if rows else None


@contextmanager
def _same(con: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    yield con
