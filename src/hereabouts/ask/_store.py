"""Fast reads for ``ask`` on the embedded DuckDB store: the entity list without scanning fixes, the
stays kept by :meth:`hereabouts.Database.analyze` (when they are current), an entity's last position,
stays near a point across all entities, and the towns of the data — each one SQL query with its
filters pushed into it. Every function returns None when the fast path does not apply (another
store, or stored stays missing or out of date), and the caller then computes the answer the slow
way, with the same meaning.
"""

from __future__ import annotations

import math
import weakref
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:  # pragma: no cover
    from .._db import Database

UTC_US = pa.timestamp("us", tz="UTC")
_CACHE: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], StoredStays]] = weakref.WeakKeyDictionary()
_STAY_COLS = """"start", "end", lat, lon, radius_m, n_fixes, confidence, method"""


def _duck(db: Database) -> Any | None:
    from ..store.duckdb_store import DuckDBStore

    return db.store if isinstance(db.store, DuckDBStore) else None


def _lit(t: datetime) -> str:
    """A timestamp literal (constants, not parameters, so DuckDB's zone maps prune row groups)."""
    return f"TIMESTAMPTZ '{t.isoformat()}'"


def names_and_aliases(db: Database, cat: StoredStays | None = None) -> tuple[list[str], dict[str, str]]:
    """Every entity name and ``alias -> entity``, without counting fixes."""
    if _duck(db) is not None:
        cat = cat or StoredStays.of(db)
        return list(cat.names), dict(cat.aliases)
    rows = db.entities().select(["entity", "aliases"]).to_pylist()
    names = [str(r["entity"]) for r in rows]
    aliases = {str(a): str(r["entity"]) for r in rows for a in (r.get("aliases") or [])}
    return names, aliases


def _device_ids(db: Database, entity: str, cat: StoredStays | None) -> list[int]:
    cat = cat or StoredStays.of(db)
    name = entity if entity in cat.devices else cat.aliases.get(entity, entity)
    if name in cat.devices:
        return cat.devices[name]
    store = _duck(db)
    assert store is not None
    return list(store.entity_ref(entity)[1])


def entity_fixes(
    db: Database,
    entity: str,
    start: datetime | None,
    end: datetime | None,
    cat: StoredStays | None = None,
    columns: tuple[str, ...] | None = None,
) -> pa.Table | None:
    """``db.fixes(entity, start=start, end=end)`` in one query (the same columns and rows, by device
    id then time; only ``entity`` and ``columns`` when given), the devices known from the catalogue;
    None when the store is not DuckDB or ``entity`` is not an entity's own name (the caller then asks
    ``db.fixes``)."""
    store = _duck(db)
    if store is None:
        return None
    cat = cat or StoredStays.of(db)
    devices = cat.devices.get(entity)
    if not devices:
        return None
    where = [f"f.device_id IN ({','.join(str(int(d)) for d in devices)})"]
    if start is not None:
        where.append(f"f.t >= {_lit(start)}")
    if end is not None:
        where.append(f"f.t < {_lit(end)}")
    cols = (
        """d.name::VARCHAR AS device, f.t, f.tz_offset_s, f.lat, f.lon, f.accuracy_m, f.altitude_m,
           f.speed_mps, f.course_deg, f.provider, f.source_id::BIGINT AS source_id"""
        if columns is None
        else ", ".join(f"f.{c}" for c in columns if c in _FIX_NAMES)
    )
    t: pa.Table = store._arrow(
        f"""SELECT e.name::VARCHAR AS entity, {cols}
            FROM fixes f JOIN devices d USING (device_id) JOIN entities e USING (entity_id)
            WHERE {" AND ".join(where)} ORDER BY f.device_id, f.t"""
    )
    return t


_FIX_NAMES = frozenset(
    ("t", "tz_offset_s", "lat", "lon", "accuracy_m", "altitude_m", "speed_mps", "course_deg", "provider")
)


def last_position(db: Database, entity: str, cat: StoredStays | None = None) -> tuple[float, float] | None:
    """(lat, lon) of the entity's most recent stored stay when its analysis is current, else of its
    most recent fix; None when it has neither or the store is not DuckDB."""
    store = _duck(db)
    if store is None:
        return None
    cat = cat or StoredStays.of(db)
    if entity in cat.current:
        rows = store.con.execute(
            f"""SELECT lat, lon FROM stays WHERE entity_id = {cat.ids[entity]} AND method_key = ?
                ORDER BY "end" DESC LIMIT 1""",
            [cat.key],
        ).fetchall()
        if rows:
            return float(rows[0][0]), float(rows[0][1])
    devices = _device_ids(db, entity, cat)
    if not devices:
        return None
    ids = ",".join(str(int(d)) for d in devices)
    rows = store.con.execute(
        f"SELECT lat, lon FROM fixes WHERE device_id IN ({ids}) ORDER BY t DESC LIMIT 1"
    ).fetchall()
    return (float(rows[0][0]), float(rows[0][1])) if rows else None


class StoredStays:
    """The stays :meth:`Database.analyze` kept (default method), for the entities whose analysis is
    current; one query finds which are not."""

    def __init__(self, db: Database) -> None:
        from ..analysis.incremental import method_key

        self.store = _duck(db)
        self.key = method_key("default")
        self.ids: dict[str, int] = {}
        self.names: list[str] = []
        self.aliases: dict[str, str] = {}
        self.devices: dict[str, list[int]] = {}
        self.current: set[str] = set()
        self.minutes: MinuteIndex | None = None  # built on the second question about everyone's fixes
        self.everyone_asks = 0
        self.zones: dict[str, str] = {}  # entity -> the zone at its last position (ask.entity_zone)
        if self.store is None:
            return
        rows = self.store.con.execute(
            """WITH dev AS (SELECT entity_id, string_agg(device_id::VARCHAR, ',' ORDER BY device_id) AS devs
                            FROM devices GROUP BY entity_id)
               SELECT e.name, e.entity_id, e.aliases, dev.devs,
                      dev.devs IS NULL OR (s.entity_id IS NOT NULL AND s.devices = dev.devs AND NOT EXISTS (
                          SELECT 1 FROM analysis_dirty d
                          WHERE d.entity_id = e.entity_id AND d.dirty_id > s.last_dirty_id)) AS ok
               FROM entities e LEFT JOIN dev USING (entity_id)
               LEFT JOIN analysis_state s ON s.entity_id = e.entity_id AND s.method_key = ?
               ORDER BY e.name""",
            [self.key],
        ).fetchall()
        for name, eid, aliases, devs, ok in rows:
            name = str(name)
            self.names.append(name)
            self.ids[name] = int(eid)
            self.devices[name] = [int(d) for d in devs.split(",")] if devs else []
            for a in aliases or []:
                self.aliases[str(a)] = name
            if ok:
                self.current.add(name)

    @classmethod
    def of(cls, db: Database) -> StoredStays:
        """The state for ``db``, reused while the store's analysis bookkeeping and devices are
        unchanged (one cheap query checks)."""
        store = _duck(db)
        if store is None:
            return cls(db)
        sig = store.con.execute(
            """SELECT (SELECT coalesce(max(dirty_id), 0) FROM analysis_dirty),
                      (SELECT count(*) FROM analysis_state), (SELECT max(analyzed_at) FROM analysis_state),
                      (SELECT coalesce(sum(hash(entity_id, name, aliases)), 0) FROM entities),
                      (SELECT coalesce(sum(hash(device_id, entity_id)), 0) FROM devices)"""
        ).fetchall()[0]
        hit = _CACHE.get(store)
        if hit is not None and hit[0] == sig:
            return hit[1]
        fresh = cls(db)
        _CACHE[store] = (sig, fresh)
        return fresh

    def stays(self, entity: str, start: datetime | None, end: datetime | None) -> pa.Table | None:
        """The entity's stored stays overlapping ``[start, end)`` (a ``stay`` table without evidence
        rows), or None when they are not current."""
        if self.store is None or entity not in self.current:
            return None
        where = [f"entity_id = {self.ids[entity]}", "method_key = ?"]
        if start is not None:
            where.append(f'"end" > {_lit(start)}')
        if end is not None:
            where.append(f'"start" < {_lit(end)}')
        t = self.store._arrow(
            f'SELECT {_STAY_COLS} FROM stays WHERE {" AND ".join(where)} ORDER BY "start", "end", sync_t',
            [self.key],
        )
        return _stay_table(t, [entity] * t.num_rows)

    def near(
        self, lat: float, lon: float, radius_m: float, start: datetime | None, end: datetime | None
    ) -> pa.Table | None:
        """Stored stays of every entity whose centre lies in the box around a circle (the caller keeps
        those inside it) overlapping ``[start, end)``; None unless every entity is current."""
        dlat = radius_m / 111_000.0
        dlon = radius_m / (111_000.0 * max(math.cos(math.radians(lat)), 0.01))
        return self.everyone(
            start,
            end,
            [
                f"s.lat BETWEEN {lat - dlat!r} AND {lat + dlat!r}",
                f"s.lon BETWEEN {lon - dlon!r} AND {lon + dlon!r}",
            ],
        )

    def everyone(
        self, start: datetime | None, end: datetime | None, more: list[str] | None = None
    ) -> pa.Table | None:
        """Stored stays of every entity overlapping ``[start, end)`` (and meeting the SQL conditions
        ``more`` on ``s``); None unless every entity is current."""
        if self.store is None or len(self.current) < len(self.ids):
            return None
        where = ["s.method_key = ?", *(more or [])]
        if start is not None:
            where.append(f's."end" > {_lit(start)}')
        if end is not None:
            where.append(f's."start" < {_lit(end)}')
        t = self.store._arrow(
            f"""SELECT e.name AS entity, {", ".join("s." + c.strip() for c in _STAY_COLS.split(","))}
                FROM stays s JOIN entities e USING (entity_id) WHERE {" AND ".join(where)}
                ORDER BY e.name, s."start\"""",
            [self.key],
        )
        return _stay_table(t.drop_columns(["entity"]), t.column("entity").to_pylist())

    def all_points(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
        """(lat, lon) of every stored stay (to name the towns of the data); None unless all current."""
        if self.store is None or len(self.current) < len(self.ids):
            return None
        t = self.store._arrow(
            "SELECT DISTINCT round(lat, 3) AS lat, round(lon, 3) AS lon FROM stays WHERE method_key = ?",
            [self.key],
        )
        return (
            np.asarray(t.column("lat").to_numpy(), np.float64),
            np.asarray(t.column("lon").to_numpy(), np.float64),
        )


def _stay_table(t: pa.Table, entities: list[str]) -> pa.Table:
    from ..model import schemas

    n = t.num_rows
    return pa.Table.from_arrays(
        [
            pa.array(entities, pa.string()),
            t.column("start").cast(UTC_US),
            t.column("end").cast(UTC_US),
            t.column("lat"),
            t.column("lon"),
            t.column("radius_m"),
            t.column("n_fixes"),
            t.column("confidence"),
            pa.nulls(n, pa.int64()),
            pa.nulls(n, pa.int64()),
            t.column("method"),
        ],
        schema=schemas.STAY,
    )


def fix_times(
    db: Database,
    entity: str | None,
    start: datetime | None,
    end: datetime | None,
    cat: StoredStays | None = None,
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], tuple[int, ...]] | None:
    """The times (µs since the epoch, sorted) of the fixes of an entity (or of all) in ``[start, end)``
    and the ids of the imports they came from, in one query; None when the store is not DuckDB."""
    store = _duck(db)
    if store is None:
        return None
    where = []
    if entity is not None:
        devices = _device_ids(db, entity, cat)
        if not devices:
            return np.empty(0, np.int64), ()
        where.append(f"device_id IN ({','.join(str(int(d)) for d in devices)})")
    if start is not None:
        where.append(f"t >= {_lit(start)}")
    if end is not None:
        where.append(f"t < {_lit(end)}")
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    got = store._arrow(f"SELECT epoch_us(t) AS t, source_id FROM fixes{cond}")
    if got.num_rows == 0:
        return np.empty(0, np.int64), ()
    t = np.sort(np.asarray(got.column("t").to_numpy(), np.int64))
    src = np.unique(np.asarray(got.column("source_id").to_numpy(zero_copy_only=False), np.int64))
    return t, tuple(int(x) for x in src)


_MINUTE_US = 60_000_000


class MinuteIndex:
    """Every fix of the store summed up per UTC minute: first and last time, count, import ids. The
    silences between consecutive fixes longer than a minute are exactly the differences between a
    minute's last fix and the next non-empty minute's first, so coverage over whole minutes is exact."""

    def __init__(self, store: Any) -> None:
        t = store._arrow(
            f"""SELECT epoch_us(t) // {_MINUTE_US} AS m, min(epoch_us(t)) AS lo, max(epoch_us(t)) AS hi,
                       count(*) AS n, list(DISTINCT source_id) AS src
                FROM fixes GROUP BY ALL ORDER BY m"""
        )
        self.m = np.asarray(t.column("m").to_numpy(), np.int64)
        self.lo = np.asarray(t.column("lo").to_numpy(), np.int64)
        self.hi = np.asarray(t.column("hi").to_numpy(), np.int64)
        self.n = np.asarray(t.column("n").to_numpy(), np.int64)
        self.src = t.column("src").to_pylist()

    def summary(
        self, start_us: int | None, end_us: int | None, gap_us: int
    ) -> tuple[int, int, int, list[tuple[int, int]], tuple[int, ...]]:
        a = 0 if start_us is None else int(np.searchsorted(self.m, start_us // _MINUTE_US, "left"))
        b = len(self.m) if end_us is None else int(np.searchsorted(self.m, end_us // _MINUTE_US, "left"))
        if b <= a:
            return 0, 0, 0, [], ()
        lo, hi = self.lo[a:b], self.hi[a:b]
        d = lo[1:] - hi[:-1]
        big = np.flatnonzero(d > gap_us)
        sources = sorted({int(x) for lst in self.src[a:b] for x in (lst or []) if x is not None})
        gaps = [(int(hi[i]), int(lo[i + 1])) for i in big]
        return int(self.n[a:b].sum()), int(lo[0]), int(hi[-1]), gaps, tuple(sources)


def fix_summary(
    db: Database, start: datetime | None, end: datetime | None, gap_us: int, cat: StoredStays | None = None
) -> tuple[int, int, int, list[tuple[int, int]], tuple[int, ...]] | None:
    """For the fixes of every entity in ``[start, end)``: their number, first and last time (µs), the
    silences longer than ``gap_us`` between consecutive fixes, and the import ids — computed in the
    database (no fix leaves it), or, from the second such question on while the store is unchanged,
    from a per-minute summary of all fixes kept in memory (when both ends fall on whole minutes);
    None when the store is not DuckDB."""
    store = _duck(db)
    if store is None:
        return None
    s_us = None if start is None else int(start.timestamp() * 1_000_000)
    e_us = None if end is None else int(end.timestamp() * 1_000_000)
    if cat is not None and all(x is None or x % _MINUTE_US == 0 for x in (s_us, e_us)):
        cat.everyone_asks += 1
        if cat.minutes is None and cat.everyone_asks > 1:
            cat.minutes = MinuteIndex(store)
        if cat.minutes is not None:
            return cat.minutes.summary(s_us, e_us, gap_us)
    where = []
    if start is not None:
        where.append(f"t >= {_lit(start)}")
    if end is not None:
        where.append(f"t < {_lit(end)}")
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    n, lo, hi, src = store.con.execute(
        f"SELECT count(*), min(epoch_us(t)), max(epoch_us(t)), list(DISTINCT source_id) FROM fixes{cond}"
    ).fetchall()[0]
    if not n:
        return 0, 0, 0, [], ()
    gaps = store.con.execute(
        f"""SELECT t, nt FROM (SELECT t, lead(t) OVER (ORDER BY t) AS nt
                                FROM (SELECT epoch_us(t) AS t FROM fixes{cond}))
            WHERE nt - t > {int(gap_us)} ORDER BY t"""
    ).fetchall()
    return (
        int(n),
        int(lo),
        int(hi),
        [(int(a), int(b)) for a, b in gaps],
        tuple(sorted(int(s) for s in (src or []) if s is not None)),
    )
