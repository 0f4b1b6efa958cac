"""GeoParquet (and plain Parquet) reader (format ``geoparquet``): tables of fixes, read batch by batch.

Columns are found by name (case-insensitive):

* position: the primary geometry column of the ``geo`` metadata (else a column called ``geometry``,
  ``geom`` or ``wkb_geometry``) holding WKB points, or GeoArrow points (a struct of ``x``, ``y``); or plain
  ``lat``/``latitude`` and ``lon``/``lng``/``longitude`` columns. Where both exist, a null geometry falls
  back on lat/lon.
* time: ``t``, ``time``, ``timestamp``, ``datetime``, ``recorded_at`` or ``tst``: a timestamp column (a
  naive one is read in the import's time zone), epoch numbers (s/ms/µs/ns by magnitude) or ISO texts.
* optional: ``device`` (``device_id``, ``tid``), ``tz_offset_s``, ``accuracy_m`` (``accuracy``),
  ``altitude_m`` (``altitude``, ``ele``; else the Z of a 3D point), ``speed_mps`` (``speed``),
  ``course_deg`` (``course``, ``bearing``, ``heading``) and ``provider`` — the columns
  :func:`hereabouts.io.writers.write_geoparquet` writes.

WKB points are decoded vectorised with NumPy when every value is a 21-byte little-endian 2D point (what
GeoParquet writers produce); other values (big-endian, 3D, EWKB with an SRID) take a slow path row by
row, and geometries that are not points are rejected. Coordinates must be longitude/latitude: a file
whose ``geo`` metadata names another CRS is refused with a message to reproject it first.

Positions (unit ``record``) are 1-based row numbers. The file is read row group by row group: a row
group whose data is damaged is skipped with one reject at the first row that could not be read, and the
other row groups are kept. A file whose footer (the Parquet index) is damaged cannot be read at all.
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._base import Format, ReadContext, register
from ._time import parse_time

#: Rows read from the file per batch.
BATCH_ROWS = 65_536

_LAT = ("lat", "latitude", "y")
_LON = ("lon", "lng", "long", "longitude", "x")
_TIME = ("t", "time", "timestamp", "datetime", "date_time", "recorded_at", "tst")
_DEVICE = ("device", "device_id", "deviceid", "tid")
_GEOM = ("geometry", "geom", "wkb_geometry", "the_geom")
_OPTIONAL: dict[str, tuple[str, ...]] = {
    "tz_offset_s": ("tz_offset_s",),
    "accuracy_m": ("accuracy_m", "accuracy", "horizontal_accuracy", "acc"),
    "altitude_m": ("altitude_m", "altitude", "ele", "elevation", "alt"),
    "speed_mps": ("speed_mps", "speed"),
    "course_deg": ("course_deg", "course", "bearing", "heading"),
    "provider": ("provider",),
}
_LONLAT_CRS = ("OGC:CRS84", "EPSG:4326", "OGC:CRS84H", "EPSG:4979")

_WKB_POINT = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])


def _sniff(head: bytes, name: str) -> float:
    if head[:4] == b"PAR1":
        return 0.95 if name.endswith((".parquet", ".geoparquet", ".pq")) else 0.9
    return 0.0


@contextmanager
def _seekable(stream: IO[bytes]) -> Iterator[IO[bytes]]:
    """The stream itself when it can seek (Parquet keeps its index at the end), else a spooled copy."""
    try:
        ok = stream.seekable()
    except (AttributeError, OSError):
        ok = False
    if ok:
        yield stream
        return
    with tempfile.TemporaryFile(prefix="hereabouts-parquet-") as tmp:
        shutil.copyfileobj(stream, tmp, 1 << 20)
        tmp.seek(0)
        yield tmp


def _find(names: dict[str, str], candidates: tuple[str, ...]) -> str | None:
    for c in candidates:
        if c in names:
            return names[c]
    return None


def _read(stream: IO[bytes], ctx: ReadContext) -> None:
    with _seekable(stream) as fh:
        try:
            pf = pq.ParquetFile(fh)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise ctx.error(
                f"not a readable Parquet file ({exc}); expected a (Geo)Parquet table of fixes"
            ) from exc
        _read_file(pf, ctx)


def _geo_meta(pf: pq.ParquetFile) -> dict[str, Any]:
    meta = pf.schema_arrow.metadata or {}
    raw = meta.get(b"geo")
    if raw is None:
        kv = pf.metadata.metadata or {}
        raw = kv.get(b"geo")
    if raw is None:
        return {}
    try:
        geo = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    return geo if isinstance(geo, dict) else {}


def _crs_ok(crs: Any) -> bool:
    if crs is None:
        return True
    if isinstance(crs, str):
        return crs.upper().replace(" ", "") in _LONLAT_CRS
    if isinstance(crs, dict):
        ident = crs.get("id")
        if isinstance(ident, dict):
            return f"{ident.get('authority')}:{ident.get('code')}".upper() in _LONLAT_CRS
        name = str(crs.get("name", ""))
        return "WGS 84" in name or "CRS84" in name
    return False


def _read_file(pf: pq.ParquetFile, ctx: ReadContext) -> None:
    schema = pf.schema_arrow
    names = {n.lower(): n for n in schema.names}
    geo = _geo_meta(pf)
    geom_col: str | None = None
    cols_meta = geo.get("columns") if isinstance(geo.get("columns"), dict) else {}
    primary = geo.get("primary_column")
    geom_col = primary if isinstance(primary, str) and primary in schema.names else _find(names, _GEOM)
    encoding = "WKB"
    if geom_col is not None:
        meta = cols_meta.get(geom_col, {}) if isinstance(cols_meta, dict) else {}
        if isinstance(meta, dict):
            if not _crs_ok(meta.get("crs")):
                raise ctx.error(
                    f"geometry column {geom_col!r} is in a CRS other than longitude/latitude "
                    f"({str(meta.get('crs'))[:80]}); expected OGC:CRS84 or EPSG:4326 "
                    "(reproject the file first)"
                )
            encoding = str(meta.get("encoding", "WKB"))
    lat_col = _find(names, _LAT)
    lon_col = _find(names, _LON)
    t_col = _find(names, _TIME)
    if t_col is None:
        raise ctx.error(
            f"no time column; expected one called {', '.join(_TIME)} "
            f"(columns: {', '.join(schema.names[:20])})"
        )
    if geom_col is None and (lat_col is None or lon_col is None):
        raise ctx.error(
            "no position columns; expected a WKB point 'geometry' column or 'lat' and 'lon' columns "
            f"(columns: {', '.join(schema.names[:20])})"
        )
    dev_col = _find(names, _DEVICE)
    opt_cols = {k: _find(names, v) for k, v in _OPTIONAL.items()}
    wanted = [c for c in (geom_col, lat_col, lon_col, t_col, dev_col, *opt_cols.values()) if c is not None]
    wanted = list(dict.fromkeys(wanted))
    start = 0
    for rg in range(pf.num_row_groups):
        rg_rows = pf.metadata.row_group(rg).num_rows
        row = start
        try:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[rg], columns=wanted):
                _batch(batch, row, ctx, geom_col, encoding, lat_col, lon_col, t_col, dev_col, opt_cols)
                row += batch.num_rows
        except (pa.ArrowException, OSError, ValueError) as exc:
            ctx.sink.reject(
                row + 1,
                None,
                f"the Parquet data of rows {row + 1}-{start + rg_rows} is corrupt ({str(exc)[:120]}); "
                "those rows were skipped, the others kept",
            )
        start += rg_rows


def _batch(
    batch: pa.RecordBatch,
    start: int,
    ctx: ReadContext,
    geom_col: str | None,
    encoding: str,
    lat_col: str | None,
    lon_col: str | None,
    t_col: str,
    dev_col: str | None,
    opt_cols: dict[str, str | None],
) -> None:
    n = batch.num_rows
    if n == 0:
        return
    sink = ctx.sink
    pos = np.arange(start + 1, start + n + 1, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    lat = lon = z = None
    if geom_col is not None:
        lon, lat, z, bad = _decode_geometry(batch.column(geom_col), encoding)
        if lat_col is not None and lon_col is not None:
            missing = np.isnan(lat) & np.isnan(lon)
            if missing.any():
                plat = _floats(batch.column(lat_col))
                plon = _floats(batch.column(lon_col))
                lat = np.where(missing, plat, lat)
                lon = np.where(missing, plon, lon)
                bad = {i: r for i, r in bad.items() if not missing[i] or np.isnan(plat[i])}
        for i, reason in sorted(bad.items()):
            keep[i] = False
            sink.reject(int(pos[i]), "geometry", reason)
    elif lat_col is not None and lon_col is not None:
        lat = _floats(batch.column(lat_col))
        lon = _floats(batch.column(lon_col))
    t, t_bad = _times(batch.column(t_col), ctx)
    for i, reason in sorted(t_bad.items()):
        if keep[i]:
            keep[i] = False
            sink.reject(int(pos[i]), "t", reason)
    cols: dict[str, Any] = {
        "pos": pa.array(pos),
        "t": t,
        "lat": pa.array(lat, pa.float64()),
        "lon": pa.array(lon, pa.float64()),
    }
    if dev_col is not None:
        cols["device"] = batch.column(dev_col).cast(pa.string())
    for name, col in opt_cols.items():
        if col is None:
            continue
        arr = batch.column(col)
        try:
            if name == "provider":
                cols[name] = arr.cast(pa.string())
            elif name == "tz_offset_s":
                cols[name] = arr.cast(pa.int32())
            else:
                cols[name] = arr.cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue  # a column of another kind that happens to share the name: ignore it
    if "altitude_m" not in cols and z is not None and not np.isnan(z).all():
        cols["altitude_m"] = pa.array(z, pa.float64(), from_pandas=True)
    table = pa.table(cols)
    if not keep.all():
        table = table.filter(pa.array(keep))
    sink.fix_table(table)


def _floats(col: pa.Array) -> np.ndarray:
    try:
        arr = col.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.full(len(col), np.nan)
    return np.asarray(arr.fill_null(np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)


def _decode_geometry(
    col: pa.Array, encoding: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[int, str]]:
    """``(lon, lat, z, bad)``: NaN where the geometry is null; ``bad`` maps rows to reject reasons."""
    n = len(col)
    if pa.types.is_struct(col.type):  # GeoArrow native point encoding
        fields = {col.type.field(i).name.lower(): i for i in range(col.type.num_fields)}
        if "x" in fields and "y" in fields:
            x = _floats(col.field(fields["x"]))
            y = _floats(col.field(fields["y"]))
            zz = _floats(col.field(fields["z"])) if "z" in fields else None
            if col.null_count:
                nulls = np.asarray(col.is_null().to_numpy(zero_copy_only=False))
                x[nulls] = np.nan
                y[nulls] = np.nan
            return x, y, zz, {}
        return _all_bad(n, "geometry column is a struct without x and y; expected GeoArrow points")
    if not (pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type)):
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            return _all_bad(n, "geometry column holds text (WKT?); expected WKB points")
        return _all_bad(n, f"geometry column has type {col.type}; expected WKB points (binary)")
    if encoding.upper() != "WKB":
        return _all_bad(
            n, f"geometry encoding {encoding!r} is not supported; expected WKB or GeoArrow points"
        )
    return _decode_wkb(col)


def _all_bad(n: int, reason: str) -> tuple[np.ndarray, np.ndarray, None, dict[int, str]]:
    nan = np.full(n, np.nan)
    return nan, nan.copy(), None, dict.fromkeys(range(n), reason)


def _decode_wkb(col: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[int, str]]:
    n = len(col)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    bufs = col.buffers()
    off_dtype = np.int64 if pa.types.is_large_binary(col.type) else np.int32
    offsets = np.frombuffer(
        bufs[1], dtype=off_dtype, count=n + 1, offset=col.offset * np.dtype(off_dtype).itemsize
    )
    data = bufs[2]
    valid = (
        np.ones(n, dtype=bool)
        if col.null_count == 0
        else np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    )
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    z: np.ndarray | None = None
    bad: dict[int, str] = {}
    lengths = np.diff(offsets)
    fast = valid & (lengths == 21)
    if fast.any() and data is not None:
        raw = np.frombuffer(data, dtype=np.uint8)
        starts = offsets[:-1][fast].astype(np.int64)
        first = int(starts[0])
        if fast.all() and int(offsets[-1]) - int(offsets[0]) == 21 * n:
            # every value a 21-byte point, back to back: view the buffer as records, no copy
            recs = raw[first : first + 21 * n].view(_WKB_POINT)
        else:
            idx = starts[:, None] + np.arange(21)
            recs = raw[idx].reshape(-1).view(_WKB_POINT)
        ok = (recs["order"] == 1) & (recs["kind"] == 1)
        rows = np.nonzero(fast)[0]
        lon[rows[ok]] = recs["x"][ok]
        lat[rows[ok]] = recs["y"][ok]
        fast[rows[~ok]] = False
    slow = np.nonzero(valid & ~fast)[0]
    if len(slow):
        mv = memoryview(data) if data is not None else memoryview(b"")
        for i in slow:
            blob = bytes(mv[offsets[i] : offsets[i + 1]])
            try:
                x, y, zz = _wkb_point(blob)
            except ValueError as exc:
                bad[int(i)] = str(exc)
                continue
            lon[i] = x
            lat[i] = y
            if zz is not None:
                if z is None:
                    z = np.full(n, np.nan)
                z[i] = zz
    return lon, lat, z, bad


_WKB_NAMES = {
    1: "Point",
    2: "LineString",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def _wkb_point(blob: bytes) -> tuple[float, float, float | None]:
    """One WKB/EWKB point (either byte order, 2D, Z, M or ZM); ValueError naming what it is otherwise."""
    if len(blob) < 5 or blob[0] not in (0, 1):
        raise ValueError("geometry is not WKB (bad byte-order mark); expected a WKB point")
    end = "<" if blob[0] == 1 else ">"
    (kind,) = struct.unpack(end + "I", blob[1:5])
    at = 5
    has_z = bool(kind & 0x80000000)
    has_m = bool(kind & 0x40000000)
    if kind & 0x20000000:  # EWKB SRID
        at += 4
    base = kind & 0x0FFFFFFF
    if base >= 1000:
        dims = base // 1000
        base %= 1000
        has_z = has_z or dims in (1, 3)
        has_m = has_m or dims in (2, 3)
    if base != 1:
        name = _WKB_NAMES.get(base, f"WKB type {base}")
        raise ValueError(f"geometry is a {name}; expected a Point")
    ndim = 2 + has_z + has_m
    need = at + 8 * ndim
    if len(blob) < need:
        raise ValueError(f"WKB point is {len(blob)} bytes; expected {need}")
    vals = struct.unpack(end + "d" * ndim, blob[at:need])
    return vals[0], vals[1], (vals[2] if has_z else None)


def _times(col: pa.Array, ctx: ReadContext) -> tuple[pa.Array, dict[int, str]]:
    """int64 microseconds (null where unusable) and reject reasons by row."""
    typ = col.type
    n = len(col)
    if pa.types.is_timestamp(typ):
        if typ.tz is None and ctx.options.tz and ctx.options.tz.upper() not in ("UTC", "Z", "GMT"):
            col = _assume_tz(col, ctx)
        out = col.cast(pa.timestamp("us", tz="UTC"), safe=False).cast(pa.int64())
        return out, _null_reasons(out, "time is null; expected a timestamp")
    if pa.types.is_date(typ):
        out = col.cast(pa.timestamp("us")).cast(pa.int64())
        return out, _null_reasons(out, "time is null; expected a timestamp")
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        v = np.asarray(
            col.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False), dtype=np.float64
        )
        a = np.abs(v)
        us = np.where(a >= 1e17, v / 1000, np.where(a >= 1e14, v, np.where(a >= 1e11, v * 1e3, v * 1e6)))
        finite = np.isfinite(us) & (np.abs(us) < 9e18)
        if pa.types.is_integer(typ):
            iv = np.asarray(col.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
            exact = np.where(
                np.abs(iv) >= 10**17,
                iv // 1000,
                np.where(np.abs(iv) >= 10**14, iv, np.where(np.abs(iv) >= 10**11, iv * 1000, iv * 1_000_000)),
            )
            vals = exact
        else:
            vals = np.round(np.where(finite, us, 0)).astype(np.int64)
        out = pa.array(vals, pa.int64(), mask=~finite)
        return out, _null_reasons(out, "time is null or not a number; expected epoch seconds or a timestamp")
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        tz = ctx.options.tzinfo
        vals_: list[int | None] = []
        bad: dict[int, str] = {}
        for i, s in enumerate(col.to_pylist()):
            if s is None:
                vals_.append(None)
                bad[i] = "time is null; expected an ISO 8601 time"
                continue
            try:
                vals_.append(parse_time(s, tz)[0])
            except (ValueError, OverflowError):
                vals_.append(None)
                bad[i] = f"time {s[:40]!r} is not an ISO 8601 or epoch time"
        return pa.array(vals_, pa.int64()), bad
    return pa.nulls(n, pa.int64()), dict.fromkeys(
        range(n), f"time column has type {typ}; expected a timestamp"
    )


def _assume_tz(col: pa.Array, ctx: ReadContext) -> pa.Array:
    try:
        return pc.assume_timezone(col, timezone=ctx.options.tz, ambiguous="earliest", nonexistent="earliest")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return col


def _null_reasons(out: pa.Array, reason: str) -> dict[int, str]:
    if not out.null_count:
        return {}
    nulls = np.nonzero(np.asarray(out.is_null().to_numpy(zero_copy_only=False)))[0]
    return dict.fromkeys((int(i) for i in nulls), reason)


register(
    Format(
        name="geoparquet",
        description="GeoParquet or Parquet tables of fixes (WKB point geometry or lat/lon columns)",
        sniff=_sniff,
        read=_read,
        unit="record",
        extensions=(".parquet", ".geoparquet"),
        aliases=("parquet",),
    )
)
