"""Writers of fix tables to export formats: GeoParquet, GeoJSON, GPX, CSV and OwnTracks Recorder.

Every writer takes a fix table (the :data:`hereabouts.model.schemas.FIX` schema, optionally with an
``entity`` string column) as a ``pa.Table`` or as an iterable of ``pa.RecordBatch``, streams it to
``path`` batch by batch with bounded memory, and returns the number of rows written.

Floats are written with full precision (``repr``), and times in ISO 8601 UTC with ``Z`` and
microseconds when they are not zero, so that reading an export back with :func:`hereabouts.io.read`
gives back the same fixes.

>>> WRITERS["csv"] is write_csv
True
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO, TypeAlias
from xml.sax.saxutils import escape

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..model.errors import SchemaError

Fixes: TypeAlias = "pa.Table | Iterable[pa.RecordBatch]"
PathLike: TypeAlias = "str | os.PathLike[str]"

#: Rows converted at a time when a whole table is given.
CHUNK_ROWS = 65_536
#: XML namespace of the hereabouts GPX extension elements (speed, course, accuracy, provider...).
GPX_EXT_NS = "https://hereabouts.dev/xmlns/gpx/1"
GPX_EXT_PREFIX = "hb"

_OPTIONAL = ("tz_offset_s", "accuracy_m", "altitude_m", "speed_mps", "course_deg", "provider")
CSV_COLUMNS = (
    "device",
    "t",
    "tz_offset_s",
    "lat",
    "lon",
    "accuracy_m",
    "altitude_m",
    "speed_mps",
    "course_deg",
    "provider",
)


# ---------------------------------------------------------------------------- helpers
def _batches(fixes: Fixes) -> Iterator[pa.RecordBatch]:
    """The fixes as record batches of at most ``CHUNK_ROWS`` rows, each checked for required columns."""
    if isinstance(fixes, pa.Table):
        source: Iterable[pa.RecordBatch] = fixes.to_batches(max_chunksize=CHUNK_ROWS)
        if fixes.num_rows == 0:
            _check_columns(fixes.schema)
            return
    elif isinstance(fixes, pa.RecordBatch):
        source = [fixes]
    else:
        source = fixes
    for batch in source:
        if isinstance(batch, pa.Table):  # tolerate tables inside the iterable
            yield from _batches(batch)
            continue
        _check_columns(batch.schema)
        if batch.num_rows:
            yield batch


def _check_columns(schema: pa.Schema) -> None:
    missing = [c for c in ("device", "t", "lat", "lon") if c not in schema.names]
    if missing:
        raise SchemaError(
            f"cannot export fixes: missing required columns {', '.join(missing)}",
            hint="a fix table needs device, t, lat and lon (see hereabouts.model.schemas.FIX)",
        )


def _col(batch: pa.RecordBatch, name: str) -> list[Any]:
    if name not in batch.schema.names:
        return [None] * batch.num_rows
    return list(batch.column(name).to_pylist())


def _t_us(batch: pa.RecordBatch) -> pa.Array:
    t = batch.column("t")
    if pa.types.is_timestamp(t.type):
        t = t.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    elif not pa.types.is_integer(t.type):
        raise SchemaError(f"cannot export fixes: column 't' has type {t.type}, expected timestamp[us, UTC]")
    return t.cast(pa.int64())


def iso_times(t_us: pa.Array) -> list[str | None]:
    """ISO 8601 UTC texts ending in ``Z`` for int64 microseconds; the fraction only when not zero.

    >>> iso_times(pa.array([1718440200000000, 1718440200000001], pa.int64()))
    ['2024-06-15T08:30:00Z', '2024-06-15T08:30:00.000001Z']
    """
    vals = t_us.to_numpy(zero_copy_only=False)
    if t_us.null_count:
        mask = np.asarray(t_us.is_null().to_numpy(zero_copy_only=False))
        vals = np.where(mask, 0, np.nan_to_num(vals)).astype(np.int64)
    else:
        mask = None
        vals = vals.astype(np.int64)
    secs = np.floor_divide(vals, 1_000_000)
    frac = vals - secs * 1_000_000
    base = pc.strftime(
        pa.array(secs, pa.int64()).cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%S"
    )
    out: list[str | None] = []
    for i, (b, f) in enumerate(zip(base.to_pylist(), frac.tolist(), strict=True)):
        if mask is not None and mask[i]:
            out.append(None)
        elif f:
            out.append(f"{b}.{f:06d}Z")
        else:
            out.append(f"{b}Z")
    return out


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _fmt(v: Any) -> str:
    """A number as text with full precision (``repr`` of the float), or '' for null."""
    if v is None:
        return ""
    if isinstance(v, int):
        return str(v)
    f = float(v)
    return repr(f) if math.isfinite(f) else ""


def _open_text(path: PathLike) -> TextIO:
    return open(path, "w", encoding="utf-8", newline="")


# ---------------------------------------------------------------------------- GeoParquet
def _wkb_points(lon: pa.Array, lat: pa.Array) -> pa.Array:
    """Little-endian 2D WKB points (21 bytes each), built vectorised."""
    n = len(lon)
    x = np.asarray(lon.cast(pa.float64()).fill_null(math.nan).to_numpy(zero_copy_only=False), np.float64)
    y = np.asarray(lat.cast(pa.float64()).fill_null(math.nan).to_numpy(zero_copy_only=False), np.float64)
    rec = np.empty(n, dtype=np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")]))
    rec["order"] = 1
    rec["kind"] = 1
    rec["x"] = x
    rec["y"] = y
    offsets = np.arange(0, 21 * (n + 1), 21, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec.tobytes())])


def _geo_metadata() -> bytes:
    col: dict[str, Any] = {"encoding": "WKB", "geometry_types": ["Point"]}
    return json.dumps(
        {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": col}}
    ).encode()


def write_geoparquet(fixes: Fixes, path: PathLike) -> int:
    """Write fixes as GeoParquet 1.1: every fix column plus a ``geometry`` column of WKB points.

    The ``geo`` metadata names ``geometry`` as the primary column, encoding ``WKB``, geometry types
    ``["Point"]``; the CRS is omitted, which means OGC:CRS84 (lon, lat). No ``bbox`` is written: the
    metadata is fixed before the first batch is streamed, when the extent is not yet known.
    """
    writer: pq.ParquetWriter | None = None
    rows = 0
    schema: pa.Schema | None = None
    try:
        for batch in _batches(fixes):
            geom = _wkb_points(batch.column("lon"), batch.column("lat"))
            out = pa.RecordBatch.from_arrays([*batch.columns, geom], names=[*batch.schema.names, "geometry"])
            if schema is None:
                fields = [*batch.schema, pa.field("geometry", pa.binary())]
                schema = pa.schema(fields, metadata={b"geo": _geo_metadata()})
                writer = pq.ParquetWriter(str(path), schema, compression="zstd")
            out = out.cast(schema) if out.schema != schema else out
            assert writer is not None
            writer.write_batch(out)
            rows += batch.num_rows
        if writer is None:
            base = fixes.schema if isinstance(fixes, pa.Table) else None
            fields = list(base) if base is not None else _empty_fix_fields()
            schema = pa.schema(
                [*fields, pa.field("geometry", pa.binary())], metadata={b"geo": _geo_metadata()}
            )
            writer = pq.ParquetWriter(str(path), schema, compression="zstd")
    finally:
        if writer is not None:
            writer.close()
    return rows


def _empty_fix_fields() -> list[pa.Field]:
    from ..model.schemas import FIX

    return list(FIX)


# ---------------------------------------------------------------------------- GeoJSON
def write_geojson(fixes: Fixes, path: PathLike) -> int:
    """Write fixes as a GeoJSON FeatureCollection of Point features, streamed feature by feature.

    Coordinates are ``[lon, lat]`` (plus the altitude as a third coordinate when known); properties
    are ``device``, ``time`` (ISO 8601 UTC with ``Z``) and, when not null, ``tz_offset_s``,
    ``accuracy_m``, ``speed_mps``, ``course_deg``, ``provider`` and ``entity``.
    """
    rows = 0
    with _open_text(path) as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        first = True
        for batch in _batches(fixes):
            times = iso_times(_t_us(batch))
            dev = _col(batch, "device")
            lat = _col(batch, "lat")
            lon = _col(batch, "lon")
            alt = _col(batch, "altitude_m")
            extra = {k: _col(batch, k) for k in ("tz_offset_s", "accuracy_m", "speed_mps", "course_deg")}
            prov = _col(batch, "provider")
            ent = _col(batch, "entity")
            parts: list[str] = []
            for i in range(batch.num_rows):
                coords = [lon[i], lat[i]]
                if _num(alt[i]) is not None:
                    coords.append(alt[i])
                props: dict[str, Any] = {"device": dev[i], "time": times[i]}
                for k, vals in extra.items():
                    v = vals[i]
                    if v is not None and (k == "tz_offset_s" or _num(v) is not None):
                        props[k] = v
                if prov[i] is not None:
                    props["provider"] = prov[i]
                if ent[i] is not None:
                    props["entity"] = ent[i]
                feature = {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": coords},
                    "properties": props,
                }
                text = json.dumps(feature, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
                parts.append(text if first and not parts else "," + text)
            if parts:
                first = False
            fh.write("\n".join(parts))
            fh.write("\n")
            rows += batch.num_rows
        fh.write("]}\n")
    return rows


# ---------------------------------------------------------------------------- GPX
def _gpx_points(batch: pa.RecordBatch, i_rows: Iterable[int], cols: dict[str, list[Any]]) -> str:
    out = io.StringIO()
    for i in i_rows:
        out.write(f'<trkpt lat="{_fmt(cols["lat"][i])}" lon="{_fmt(cols["lon"][i])}">')
        alt = _num(cols["altitude_m"][i])
        if alt is not None:
            out.write(f"<ele>{alt!r}</ele>")
        out.write(f"<time>{cols['time'][i]}</time>")
        ext: list[str] = []
        for key, tag in (
            ("speed_mps", "speed"),
            ("course_deg", "course"),
            ("accuracy_m", "accuracy"),
        ):
            v = _num(cols[key][i])
            if v is not None:
                ext.append(f"<{GPX_EXT_PREFIX}:{tag}>{v!r}</{GPX_EXT_PREFIX}:{tag}>")
        tz = cols["tz_offset_s"][i]
        if tz is not None:
            ext.append(f"<{GPX_EXT_PREFIX}:tz_offset_s>{int(tz)}</{GPX_EXT_PREFIX}:tz_offset_s>")
        prov = cols["provider"][i]
        if prov is not None:
            ext.append(f"<{GPX_EXT_PREFIX}:provider>{escape(str(prov))}</{GPX_EXT_PREFIX}:provider>")
        if ext:
            out.write("<extensions>" + "".join(ext) + "</extensions>")
        out.write("</trkpt>\n")
    return out.getvalue()


def write_gpx(fixes: Fixes, path: PathLike) -> int:
    """Write fixes as GPX 1.1: one ``<trk>`` (named after the device) per device with one ``<trkseg>``.

    Each ``<trkpt lat lon>`` has ``<ele>`` and ``<time>``; speed (m/s), course (degrees), horizontal
    accuracy (metres, not an HDOP), the local offset and the provider go into ``<extensions>`` in the
    hereabouts namespace (:data:`GPX_EXT_NS`), so a round trip keeps them. Points are spooled per device
    to temporary files, so memory stays bounded whatever the order of the input.
    """
    rows = 0
    order: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hereabouts-gpx-") as tmp:
        spool: dict[str, Path] = {}
        for batch in _batches(fixes):
            cols = {k: _col(batch, k) for k in ("device", "lat", "lon", *_OPTIONAL)}
            cols["time"] = iso_times(_t_us(batch))
            by_dev: dict[str, list[int]] = {}
            for i, d in enumerate(cols["device"]):
                by_dev.setdefault(str(d), []).append(i)
            for d, idx in by_dev.items():
                p = spool.get(d)
                if p is None:
                    p = Path(tmp) / f"{len(spool)}.part"
                    spool[d] = p
                    order.append(d)
                with open(p, "a", encoding="utf-8") as part:
                    part.write(_gpx_points(batch, idx, cols))
            rows += batch.num_rows
        with _open_text(path) as fh:
            fh.write('<?xml version="1.0" encoding="UTF-8"?>\n')
            fh.write(
                '<gpx version="1.1" creator="hereabouts" xmlns="http://www.topografix.com/GPX/1/1" '
                'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                f'xmlns:{GPX_EXT_PREFIX}="{GPX_EXT_NS}" '
                'xsi:schemaLocation="http://www.topografix.com/GPX/1/1 '
                'http://www.topografix.com/GPX/1/1/gpx.xsd">\n'
            )
            for d in order:
                fh.write(f"<trk><name>{escape(d)}</name><trkseg>\n")
                with open(spool[d], encoding="utf-8") as part:
                    while chunk := part.read(1 << 20):
                        fh.write(chunk)
                fh.write("</trkseg></trk>\n")
            fh.write("</gpx>\n")
    return rows


# ---------------------------------------------------------------------------- CSV
def write_csv(fixes: Fixes, path: PathLike) -> int:
    """Write fixes as CSV with the header ``device,t,tz_offset_s,lat,lon,accuracy_m,altitude_m,
    speed_mps,course_deg,provider`` (plus ``entity`` when the table has one).

    ``t`` is ISO 8601 UTC ending in ``Z``, with microseconds when not zero; nulls are empty cells.
    """
    rows = 0
    with _open_text(path) as fh:
        w = csv.writer(fh, lineterminator="\n")
        header_written = False
        has_entity = False
        for batch in _batches(fixes):
            if not header_written:
                has_entity = "entity" in batch.schema.names
                w.writerow([*CSV_COLUMNS, "entity"] if has_entity else CSV_COLUMNS)
                header_written = True
            times = iso_times(_t_us(batch))
            cols = [_col(batch, c) for c in CSV_COLUMNS]
            cols[1] = times
            if has_entity:
                cols.append(_col(batch, "entity"))
            text_cols = []
            for name, vals in zip([*CSV_COLUMNS, "entity"], cols, strict=False):
                if name in ("device", "t", "provider", "entity"):
                    text_cols.append(["" if v is None else str(v) for v in vals])
                else:
                    text_cols.append([_fmt(v) for v in vals])
            w.writerows(zip(*text_cols, strict=True))
            rows += batch.num_rows
        if not header_written:
            w.writerow(CSV_COLUMNS)
    return rows


# ---------------------------------------------------------------------------- OwnTracks Recorder
def _topic_level(text: str) -> str:
    """One MQTT topic level: no separators or wildcards, never empty."""
    return text.replace("/", "_").replace("+", "_").replace("#", "_").replace("\t", " ") or "_"


def owntracks_topic(device: str, entity: Any = None) -> str:
    """The OwnTracks topic of a device stream.

    A device named ``user/device`` (as the OwnTracks readers name the streams they import) keeps its
    two levels, so an OwnTracks import exported again reads back to the same device; any other device
    goes under the user named by ``entity`` (else ``hereabouts``).

    >>> owntracks_topic("jane/phone"), owntracks_topic("van 7"), owntracks_topic("van 7", "fleet")
    ('owntracks/jane/phone', 'owntracks/hereabouts/van 7', 'owntracks/fleet/van 7')
    """
    parts = device.split("/")
    if len(parts) == 2 and all(parts):
        return f"owntracks/{_topic_level(parts[0])}/{_topic_level(parts[1])}"
    user = _topic_level(str(entity)) if entity else "hereabouts"
    return f"owntracks/{user}/{_topic_level(device)}"


def write_owntracks_rec(fixes: Fixes, path: PathLike) -> int:
    """Write fixes as OwnTracks Recorder ``.rec`` lines: ``ISO time<TAB>topic<TAB>JSON``.

    The topic is ``owntracks/<user>/<device>`` (see :func:`owntracks_topic`: a device already named
    ``user/device`` keeps both levels; else the user is the ``entity`` column, or ``hereabouts``).
    The JSON is a ``location`` message with ``tst`` (epoch seconds: an integer when the time is whole
    seconds, else a float carrying the microseconds), ``lat``, ``lon`` and, when known, ``acc`` (m),
    ``alt`` (m), ``vel`` (km/h, as OwnTracks sends it, so not always an exact round trip of m/s),
    ``cog`` (degrees) and ``tid`` (the last two characters of the device name).
    """
    rows = 0
    with _open_text(path) as fh:
        for batch in _batches(fixes):
            t_us = _t_us(batch)
            times = iso_times(t_us)
            tv = t_us.to_pylist()
            dev = _col(batch, "device")
            ent = _col(batch, "entity")
            lat = _col(batch, "lat")
            lon = _col(batch, "lon")
            acc = _col(batch, "accuracy_m")
            alt = _col(batch, "altitude_m")
            spd = _col(batch, "speed_mps")
            cog = _col(batch, "course_deg")
            lines: list[str] = []
            for i in range(batch.num_rows):
                t = int(tv[i])
                tst: int | float = t // 1_000_000 if t % 1_000_000 == 0 else t / 1_000_000
                msg: dict[str, Any] = {"_type": "location", "tst": tst, "lat": lat[i], "lon": lon[i]}
                for key, vals, scale in (
                    ("acc", acc, 1.0),
                    ("alt", alt, 1.0),
                    ("vel", spd, 3.6),
                    ("cog", cog, 1.0),
                ):
                    v = _num(vals[i])
                    if v is not None:
                        msg[key] = v * scale if scale != 1.0 else v
                device = str(dev[i])
                msg["tid"] = (device[-2:] or "hb").replace("/", "_")
                topic = owntracks_topic(device, ent[i])
                body = json.dumps(msg, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
                lines.append(f"{times[i]}\t{topic}\t{body}\n")
            fh.write("".join(lines))
            rows += batch.num_rows
    return rows


WRITERS: dict[str, Callable[[Fixes, PathLike], int]] = {
    "geoparquet": write_geoparquet,
    "geojson": write_geojson,
    "gpx": write_gpx,
    "csv": write_csv,
    "owntracks_rec": write_owntracks_rec,
}

__all__ = [
    "CSV_COLUMNS",
    "GPX_EXT_NS",
    "WRITERS",
    "iso_times",
    "owntracks_topic",
    "write_csv",
    "write_geojson",
    "write_geoparquet",
    "write_gpx",
    "write_owntracks_rec",
]
