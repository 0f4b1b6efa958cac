"""Who can have been near an entity: a space-time prefilter for co-presence on the DuckDB store.

:meth:`hereabouts.Database.near` ("who was with X") used to read the fixes of every entity of the
period and find the co-presence episodes of every pair. Only entities with a fix close to one of X's
fixes, in space and in time, can share an episode with X; this module finds them in one SQL query,
and the episodes are then found exactly as before on the fixes of X and those entities only.

Why the prefilter drops no true neighbour
-----------------------------------------
:func:`hereabouts.analysis.copresence.copresence_episodes` compares *runs* of two entities at common
epochs ``tau`` and keeps a pair of runs only when their positions are within ``radius_m`` and their
accuracies ``acc`` satisfy ``(acc_x² + acc_y²) / 2 <= sigma²`` (``sigma`` the largest per-axis error
that can still reach ``min_probability``), so each accuracy is at most ``sqrt(2) * sigma``. Every run
position at ``tau`` lies close to one of the entity's own fixes, close in time:

* a *static* run is the mean of fixes that all lie within ``radius_m / 2`` of its first fix, and its
  fixes follow one another less than ``max_gap_s`` apart: some fix is at most ``max_gap_s / 2`` from
  ``tau`` and at most ``radius_m`` from the run's position;
* a *moving* run interpolates between two fixes less than ``max_gap_s`` apart, at fraction ``f``; the
  nearer of the two is at most ``max_gap_s / 2`` from ``tau`` and ``step * min(f, 1 - f)`` from the
  position, while the run's accuracy is at least ``step * min(f, 1 - f) / 2`` (fix accuracies are not
  negative): the nearer fix is at most ``2 * sqrt(2) * sigma`` from the position.

So two entities that were within ``radius_m`` at some epoch have fixes at most
``radius_m + 2 * max(radius_m, 2 * sqrt(2) * sigma)`` apart (chord) and at most ``max_gap_s`` apart in
time (:func:`reach`; 290 m and 20 minutes with the defaults). The query keys every fix by a grid cell
of latitude and longitude at least that wide (degrees bounded from the chord with the haversine
identity over the latitudes concerned) and by a time bucket at least that long; two such fixes lie in
neighbouring keys, so the entities with a fix in one of the 27 keys around one of X's fixes contain
every entity that can share an episode with X. The episodes of a pair depend on the fixes of that
pair only, so finding them among X and those entities gives the same episodes (up to the rounding
of sums taken over other entities' fixes, in the last bits of positions).

Where the grid would not be safe (positions within reach of a pole or of the antimeridian, unusual
parameters, negative accuracies, another store) :func:`near_fixes` returns None and the caller reads
every entity's fixes as before.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from .analysis._geo import EARTH_RADIUS_M

__all__ = ["candidates", "near_fixes", "pair_fixes", "reach", "window_fixes"]

#: The parameters of :func:`hereabouts.analysis.copresence.who_was_near` the bound of :func:`reach`
#: accounts for; with any other, the prefilter is not used.
_KNOWN = frozenset(
    {
        "radius_m",
        "min_duration_s",
        "max_gap_s",
        "epoch_s",
        "min_probability",
        "max_hole_s",
        "missing_accuracy_m",
    }
)


def reach(
    radius_m: float = 50.0, max_gap_s: float = 1200.0, min_probability: float = 0.5
) -> tuple[float, float]:
    """(metres, seconds): how far apart two fixes of two entities within ``radius_m`` of each other
    at some epoch can be at most, in chord distance and in time (see the module documentation)."""
    sigma = radius_m / math.sqrt(-2.0 * math.log(1.0 - min(min_probability, 0.999999)))
    d = max(radius_m, 2.0 * math.sqrt(2.0) * sigma)
    return radius_m + 2.0 * d, float(max_gap_s)


def _lit(t: datetime) -> str:
    return f"TIMESTAMPTZ '{t.isoformat()}'"


def _window(lo: datetime | None, hi: datetime | None, col: str = "t") -> list[str]:
    where = []
    if lo is not None:
        where.append(f"{col} >= {_lit(lo)}")
    if hi is not None:
        where.append(f"{col} < {_lit(hi)}")
    return where


def _grid(
    con: Any, ids: str, lo: datetime | None, hi: datetime | None, space_m: float, time_s: float
) -> tuple[str, str, str] | None:
    """(the fixes' key columns, the box around the devices ``ids``' fixes of ``[lo, hi)`` where a
    neighbour's fixes can be, X's keys' query) for a grid of cells and time buckets at least
    ``space_m`` and ``time_s`` wide; None when the grid is not safe (near a pole or the antimeridian)
    and ``("", "", "")`` when the devices have no fix then."""
    where = " AND ".join([f"device_id IN ({ids})", *_window(lo, hi)])
    row = con.execute(
        f"SELECT count(*), min(lat), max(lat), min(lon), max(lon) FROM fixes WHERE {where}"
    ).fetchall()[0]
    if not row[0]:
        return "", "", ""
    lat0, lat1, lon0, lon1 = (float(x) for x in row[1:])
    chord = space_m * (1.0 + 1e-6) + 1e-3
    theta = 2.0 * math.asin(min(1.0, chord / (2.0 * EARTH_RADIUS_M)))  # central angle, radians
    far = max(abs(lat0), abs(lat1)) + math.degrees(theta)
    if far >= 89.0:
        return None
    c_min = math.cos(math.radians(far))  # every latitude that can matter is at most `far` from the equator
    s = math.sin(theta / 2.0) / c_min
    if s >= 1.0:
        return None
    dlat = math.degrees(theta) * (1.0 + 1e-9) + 1e-12
    dlon = math.degrees(2.0 * math.asin(s)) * (1.0 + 1e-9) + 1e-12
    if lon0 - 2.0 * dlon <= -180.0 or lon1 + 2.0 * dlon >= 180.0:
        return None
    bucket_us = int(time_s * 1_000_000) + 1
    key = (
        f"floor(lat / {dlat!r})::BIGINT AS ka, floor(lon / {dlon!r})::BIGINT AS kb, "
        f"floor(epoch_us(t) / {bucket_us})::BIGINT AS kc"
    )
    box = (
        f"lat BETWEEN {lat0 - 2.0 * dlat!r} AND {lat1 + 2.0 * dlat!r} "
        f"AND lon BETWEEN {lon0 - 2.0 * dlon!r} AND {lon1 + 2.0 * dlon!r}"
    )
    return key, box, where


def _ctes(key: str, box: str, ids: str, window: str) -> str:
    """``w``: the fixes of the period (one scan); ``c``: the ids of the entities with a fix in the
    27 grid keys around one of the devices ``ids``' fixes (their own entity excluded)."""
    return f"""
        w AS MATERIALIZED (SELECT device_id, t, lat, lon, accuracy_m FROM fixes WHERE {window}),
        x AS (SELECT DISTINCT {key} FROM w WHERE device_id IN ({ids})),
        n AS (SELECT DISTINCT ka + a AS ka, kb + b AS kb, kc + c AS kc
              FROM x, (VALUES (-1), (0), (1)) da(a), (VALUES (-1), (0), (1)) db(b),
                   (VALUES (-1), (0), (1)) dc(c)),
        y AS (SELECT device_id, {key} FROM w WHERE {box} AND device_id NOT IN ({ids})),
        c AS (SELECT DISTINCT d.entity_id FROM y SEMI JOIN n USING (ka, kb, kc) JOIN devices d USING (device_id))"""


def candidates(
    con: Any,
    devices: list[int],
    lo: datetime | None,
    hi: datetime | None,
    *,
    space_m: float,
    time_s: float,
) -> list[int] | None:
    """Ids of the entities (X's own excluded) with a fix in ``[lo, hi)`` within ``space_m`` (chord)
    and ``time_s`` of a fix of the devices ``devices`` in ``[lo, hi)`` — and maybe a few more; None
    when the grid is not safe there (near a pole or the antimeridian, or a negative accuracy)."""
    if not devices:
        return []
    ids = ",".join(str(int(d)) for d in devices)
    grid = _grid(con, ids, lo, hi, space_m, time_s)
    if grid is None:
        return None
    key, box, _ = grid
    if not key:
        return []
    window = " AND ".join(_window(lo, hi)) or "true"
    rows = con.execute(
        f"""WITH {_ctes(key, box, ids, window)}
            SELECT entity_id FROM c
            UNION ALL
            SELECT -1 WHERE (SELECT bool_or(accuracy_m < 0) FROM w)"""
    ).fetchall()
    got = sorted(int(r[0]) for r in rows)
    if got and got[0] == -1:
        return None
    return got


def window_fixes(con: Any, entity_ids: list[int], lo: datetime | None, hi: datetime | None) -> pa.Table:
    """What co-presence reads of the fixes of the entities ``entity_ids`` in ``[lo, hi)``: ``entity``
    (its name), ``t``, ``lat``, ``lon`` and ``accuracy_m``, by device id and time (the order of
    :meth:`hereabouts.Database.fixes` for every entity), in one query."""
    devices = []
    if entity_ids:
        ids = ",".join(str(int(e)) for e in sorted(set(entity_ids)))
        devices = [
            int(r[0])
            for r in con.execute(f"SELECT device_id FROM devices WHERE entity_id IN ({ids})").fetchall()
        ]
    cond = [
        f"f.device_id IN ({','.join(map(str, sorted(devices)))})" if devices else "false",
        *_window(lo, hi, "f.t"),
    ]
    t: pa.Table = con.sql(
        f"""SELECT e.name::VARCHAR AS entity, f.t, f.lat, f.lon, f.accuracy_m
            FROM fixes f JOIN devices d USING (device_id) JOIN entities e USING (entity_id)
            WHERE {" AND ".join(cond)} ORDER BY f.device_id, f.t"""
    ).to_arrow_table()
    return t


def near_fixes(
    store: Any,
    entity: str,
    start: datetime | None,
    end: datetime | None,
    params: Mapping[str, Any],
    among: Collection[str] | None = None,
) -> pa.Table | None:
    """The fixes :func:`hereabouts.analysis.copresence.who_was_near` needs to find every episode of
    ``entity`` in ``[start, end)`` with ``params``: those of the entity and of the entities the
    prefilter keeps (only those of ``among``, when given), in the period padded by ``max_gap_s``;
    None when the prefilter does not apply (the caller then reads every entity's fixes)."""
    from .store.duckdb_store import DuckDBStore

    if not isinstance(store, DuckDBStore) or not set(params) <= _KNOWN:
        return None
    try:
        radius = float(params.get("radius_m", 50.0))
        gap = float(params.get("max_gap_s", 1200.0))
        p_min = float(params.get("min_probability", 0.5))
        miss = float(params.get("missing_accuracy_m", 20.0))
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(radius) and radius > 0 and math.isfinite(gap) and gap > 0 and 0.0 < p_min < 1.0):
        return None  # who_was_near refuses them: let it say so
    if not (math.isfinite(miss) and miss >= 0):
        return None
    space_m, time_s = reach(radius, gap, p_min)
    lo = start - timedelta(seconds=gap) if start is not None else None
    hi = end + timedelta(seconds=gap) if end is not None else None
    con = store.con
    rows = con.execute(
        "SELECT e.entity_id, d.device_id FROM entities e LEFT JOIN devices d USING (entity_id) WHERE e.name = ?",
        [entity],
    ).fetchall()
    if not rows:  # an alias: every entity's fixes carry their names, so nothing is found, as before
        return window_fixes(con, [], lo, hi)
    eid = int(rows[0][0])
    devices = sorted(int(r[1]) for r in rows if r[1] is not None)
    if not devices:
        return window_fixes(con, [eid], lo, hi)
    ids = ",".join(str(d) for d in devices)
    grid = _grid(con, ids, lo, hi, space_m, time_s)
    if grid is None:
        return None
    key, box, _ = grid
    if not key:  # no fix of the entity in the period
        return window_fixes(con, [eid], lo, hi)
    window = " AND ".join(_window(lo, hi)) or "true"
    # one scan of the period: the entity's fixes and those of the entities the grid keeps
    # (of ``among`` only, when given), in the order of Database.fixes (device id, time)
    only = "" if among is None else " AND list_contains(?, e.name)"
    got: pa.Table = con.sql(
        f"""WITH {_ctes(key, box, ids, window)},
                 k AS (SELECT d.device_id, e.name FROM devices d JOIN entities e USING (entity_id)
                       WHERE d.entity_id = {eid} OR (d.entity_id IN (SELECT entity_id FROM c){only}))
            SELECT k.name::VARCHAR AS entity, w.t, w.lat, w.lon, w.accuracy_m,
                   (SELECT coalesce(bool_or(accuracy_m < 0), false) FROM w) AS negative
            FROM w JOIN k USING (device_id) ORDER BY w.device_id, w.t""",
        params=None if among is None else [sorted(str(x) for x in among)],
    ).to_arrow_table()
    if got.num_rows and got.column("negative")[0].as_py():
        return None  # a negative accuracy (never imported as such): the bound needs none
    return got.drop_columns(["negative"])


def pair_fixes(
    store: Any, a: str, b: str, start: datetime | None, end: datetime | None, pad_s: float
) -> pa.Table | None:
    """What co-presence reads of the fixes of entities ``a`` and ``b`` (their own names) in
    ``[start - pad_s, end + pad_s)``, in one query; None when the store is not DuckDB, ``a`` is ``b``,
    either is not an entity's own name (an alias) or ``pad_s`` is not a number of seconds."""
    from .store.duckdb_store import DuckDBStore

    if not isinstance(store, DuckDBStore) or a == b:
        return None
    try:
        pad = timedelta(seconds=float(pad_s))
    except (TypeError, ValueError, OverflowError):
        return None
    rows = store.con.execute("SELECT name, entity_id FROM entities WHERE name IN (?, ?)", [a, b]).fetchall()
    if len(rows) != 2:
        return None
    lo = start - pad if start is not None else None
    hi = end + pad if end is not None else None
    return window_fixes(store.con, [int(r[1]) for r in rows], lo, hi)
