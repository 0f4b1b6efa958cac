"""Writers of fix tables to export formats: GeoParquet, GeoJSON, GPX, CSV and OwnTracks Recorder.

Every writer takes a fix table (the :data:`hereabouts.model.schemas.FIX` schema, optionally with an
``entity`` string column) as a ``pa.Table`` or as an iterable of ``pa.RecordBatch``, streams it to
``path`` batch by batch with bounded memory, and returns the number of rows written. The text formats
are built vectorised with Arrow compute (one Python call per distinct device name, not per row).

Floats are written with full precision (the shortest text that reads back to the same double, as
``repr`` gives; whole numbers without ``.0``), and times in ISO 8601 UTC with ``Z`` and
microseconds when they are not zero, so that reading an export back with :func:`hereabouts.io.read`
gives back the same fixes.

>>> WRITERS["csv"] is write_csv
True
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeAlias
from xml.sax.saxutils import escape

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..model.errors import SchemaError
from ..model.schemas import FIX, validate

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


def _t_us(batch: pa.RecordBatch) -> pa.Array:
    t = batch.column("t")
    if pa.types.is_timestamp(t.type):
        t = t.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    elif not pa.types.is_integer(t.type):
        raise SchemaError(f"cannot export fixes: column 't' has type {t.type}, expected timestamp[us, UTC]")
    return t.cast(pa.int64())


def _iso_array(t_us: pa.Array) -> pa.Array:
    """ISO 8601 UTC texts ending in ``Z`` (with ``.ffffff`` when the microseconds are not zero),
    built vectorised; null where the time is null."""
    secs = pc.floor(pc.divide(t_us.cast(pa.float64()), 1e6)).cast(pa.int64())
    frac = pc.subtract(t_us, pc.multiply(secs, 1_000_000))
    base = pc.strftime(secs.cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%S")
    padded = pc.utf8_lpad(frac.cast(pa.string()), width=6, padding="0")
    suffix = pc.if_else(pc.equal(frac, 0), "Z", pc.binary_join_element_wise(".", padded, "Z", ""))
    return pc.binary_join_element_wise(base, suffix, "")


def iso_times(t_us: pa.Array) -> list[str | None]:
    """ISO 8601 UTC texts ending in ``Z`` for int64 microseconds; the fraction only when not zero.

    >>> iso_times(pa.array([1718440200000000, 1718440200000001], pa.int64()))
    ['2024-06-15T08:30:00Z', '2024-06-15T08:30:00.000001Z']
    """
    return list(_iso_array(t_us).to_pylist())


def _has(batch: pa.RecordBatch, name: str) -> bool:
    return name in batch.schema.names


def _num_text(batch: pa.RecordBatch, name: str, scale: float = 1.0) -> pa.Array:
    """A float column as the shortest text that reads back to the same double; null where the value
    is null or not finite."""
    if not _has(batch, name):
        return pa.nulls(batch.num_rows, pa.string())
    col = batch.column(name).cast(pa.float64())
    if scale != 1.0:
        col = pc.multiply(col, scale)
    col = pc.if_else(pc.is_finite(col), col, pa.scalar(None, pa.float64()))
    return col.cast(pa.string())


def _int_text(batch: pa.RecordBatch, name: str) -> pa.Array:
    if not _has(batch, name):
        return pa.nulls(batch.num_rows, pa.string())
    return batch.column(name).cast(pa.int64()).cast(pa.string())


def _map_text(col: pa.Array, fn: Callable[[str], str]) -> pa.Array:
    """``fn`` applied to each distinct value of a string column (null stays null): escaping names costs
    one Python call per distinct value, not per row."""
    col = col.cast(pa.string())
    enc = col.dictionary_encode()
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    mapped = pa.array([fn(v) for v in enc.dictionary.to_pylist()], pa.string())
    return mapped.take(enc.indices)


def _json_string(col: pa.Array) -> pa.Array:
    return _map_text(col, lambda v: json.dumps(v, ensure_ascii=False))


def _opt_part(text: pa.Array, prefix: str, suffix: str = "") -> pa.Array:
    """``prefix + text + suffix`` where ``text`` is not null, else ''."""
    joined = pc.binary_join_element_wise(prefix, text, suffix, "")
    return pc.fill_null(joined, "")


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _text_bytes(lines: pa.Array) -> bytes | memoryview:
    """The UTF-8 bytes of all values of a string array, back to back (its data buffer)."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if len(lines) == 0:
        return b""
    lines = lines.cast(pa.string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    data = lines.buffers()[2]
    if data is None:
        return b""
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def _open_bin(path: PathLike) -> IO[bytes]:
    return open(path, "wb")


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
            # every fix column, in the tier's order and types (missing optional ones as nulls), extras after
            table = validate(pa.Table.from_batches([batch]), "fix")
            geom = _wkb_points(batch.column("lon"), batch.column("lat"))
            table = table.append_column(pa.field("geometry", pa.binary()), geom)
            if writer is None:
                schema = table.schema.with_metadata({b"geo": _geo_metadata()})
                writer = pq.ParquetWriter(str(path), schema, compression="zstd")
            writer.write_table(table.cast(schema) if table.schema != schema else table)
            rows += batch.num_rows
        if writer is None:
            extra = [
                f for f in (fixes.schema if isinstance(fixes, pa.Table) else []) if f.name not in _FIX_NAMES
            ]
            schema = pa.schema(
                [*_empty_fix_fields(), *extra, pa.field("geometry", pa.binary())],
                metadata={b"geo": _geo_metadata()},
            )
            writer = pq.ParquetWriter(str(path), schema, compression="zstd")
    finally:
        if writer is not None:
            writer.close()
    return rows


_FIX_NAMES = frozenset(FIX.names)


def _empty_fix_fields() -> list[pa.Field]:
    return list(FIX)


# ---------------------------------------------------------------------------- GeoJSON
def _geojson_features(batch: pa.RecordBatch) -> pa.Array:
    alt = _num_text(batch, "altitude_m")
    props = [
        _join('"device":', _json_string(batch.column("device"))),
        _join(',"time":"', _iso_array(_t_us(batch)), '"'),
        _opt_part(_int_text(batch, "tz_offset_s"), ',"tz_offset_s":'),
        _opt_part(_num_text(batch, "accuracy_m"), ',"accuracy_m":'),
        _opt_part(_num_text(batch, "speed_mps"), ',"speed_mps":'),
        _opt_part(_num_text(batch, "course_deg"), ',"course_deg":'),
    ]
    for name in ("provider", "entity"):
        if _has(batch, name):
            props.append(_opt_part(_json_string(batch.column(name)), f',"{name}":'))
    return _join(
        ',\n{"type":"Feature","geometry":{"type":"Point","coordinates":[',
        _num_text(batch, "lon"),
        ",",
        _num_text(batch, "lat"),
        _opt_part(alt, ","),
        ']},"properties":{',
        *props,
        "}}",
    )


def write_geojson(fixes: Fixes, path: PathLike) -> int:
    """Write fixes as a GeoJSON FeatureCollection of Point features, streamed batch by batch.

    Coordinates are ``[lon, lat]`` (plus the altitude as a third coordinate when known); properties
    are ``device``, ``time`` (ISO 8601 UTC with ``Z``) and, when not null, ``tz_offset_s``,
    ``accuracy_m``, ``speed_mps``, ``course_deg``, ``provider`` and ``entity``.
    """
    rows = 0
    with _open_bin(path) as fh:
        fh.write(b'{"type":"FeatureCollection","features":[')
        for batch in _batches(fixes):
            data = _text_bytes(_geojson_features(batch))
            if rows == 0:
                data = data[1:]  # no comma before the first feature
            fh.write(data)
            rows += batch.num_rows
        fh.write(b"\n]}\n")
    return rows


# ---------------------------------------------------------------------------- GPX
def _xml_escape(col: pa.Array) -> pa.Array:
    return _map_text(col, escape)


def _gpx_points(batch: pa.RecordBatch) -> pa.Array:
    p = GPX_EXT_PREFIX
    ext_parts = [
        _opt_part(_num_text(batch, "speed_mps"), f"<{p}:speed>", f"</{p}:speed>"),
        _opt_part(_num_text(batch, "course_deg"), f"<{p}:course>", f"</{p}:course>"),
        _opt_part(_num_text(batch, "accuracy_m"), f"<{p}:accuracy>", f"</{p}:accuracy>"),
        _opt_part(_int_text(batch, "tz_offset_s"), f"<{p}:tz_offset_s>", f"</{p}:tz_offset_s>"),
    ]
    if _has(batch, "provider"):
        ext_parts.append(
            _opt_part(_xml_escape(batch.column("provider")), f"<{p}:provider>", f"</{p}:provider>")
        )
    ext = _join(*ext_parts)
    ext = pc.if_else(pc.equal(ext, ""), "", _join("<extensions>", ext, "</extensions>"))
    return _join(
        '<trkpt lat="',
        _num_text(batch, "lat"),
        '" lon="',
        _num_text(batch, "lon"),
        '">',
        _opt_part(_num_text(batch, "altitude_m"), "<ele>", "</ele>"),
        "<time>",
        _iso_array(_t_us(batch)),
        "</time>",
        ext,
        "</trkpt>\n",
    )


def write_gpx(fixes: Fixes, path: PathLike) -> int:
    """Write fixes as GPX 1.1: one ``<trk>`` (named after the device) per device with one ``<trkseg>``.

    Each ``<trkpt lat lon>`` has ``<ele>`` and ``<time>``; speed (m/s), course (degrees), horizontal
    accuracy (metres, not an HDOP), the local offset and the provider go into ``<extensions>`` in the
    hereabouts namespace (:data:`GPX_EXT_NS`), so a round trip keeps them. Points are spooled per device
    to temporary files, so memory stays bounded whatever the order of the input; tracks come in the
    order their devices first appear.
    """
    rows = 0
    order: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hereabouts-gpx-") as tmp:
        spool: dict[str, Path] = {}
        for batch in _batches(fixes):
            points = _gpx_points(batch)
            enc = batch.column("device").cast(pa.string()).dictionary_encode()
            names = enc.dictionary.to_pylist()
            idx = enc.indices.to_numpy(zero_copy_only=False)
            # devices in order of first appearance in this batch; points grouped by device, in order
            _, first = np.unique(idx, return_index=True)
            by_first = np.argsort(first, kind="stable")
            rank = np.empty_like(by_first)
            rank[by_first] = np.arange(len(by_first))
            sort = np.argsort(rank[idx], kind="stable")
            grouped = points.take(pa.array(sort))
            counts = np.bincount(rank[idx], minlength=len(names))
            start = 0
            for r, k in enumerate(by_first):
                d = str(names[k])
                n = int(counts[r])
                p = spool.get(d)
                if p is None:
                    p = Path(tmp) / f"{len(spool)}.part"
                    spool[d] = p
                    order.append(d)
                with open(p, "ab") as part:
                    part.write(_text_bytes(grouped.slice(start, n)))
                start += n
            rows += batch.num_rows
        with _open_bin(path) as fh:
            fh.write(
                (
                    '<?xml version="1.0" encoding="UTF-8"?>\n'
                    '<gpx version="1.1" creator="hereabouts" xmlns="http://www.topografix.com/GPX/1/1" '
                    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                    f'xmlns:{GPX_EXT_PREFIX}="{GPX_EXT_NS}" '
                    'xsi:schemaLocation="http://www.topografix.com/GPX/1/1 '
                    'http://www.topografix.com/GPX/1/1/gpx.xsd">\n'
                ).encode()
            )
            for d in order:
                fh.write(f"<trk><name>{escape(d)}</name><trkseg>\n".encode())
                with open(spool[d], "rb") as part:
                    while chunk := part.read(1 << 20):
                        fh.write(chunk)
                fh.write(b"</trkseg></trk>\n")
            fh.write(b"</gpx>\n")
    return rows


# ---------------------------------------------------------------------------- CSV
def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_csv(fixes: Fixes, path: PathLike) -> int:
    """Write fixes as CSV with the header ``device,t,tz_offset_s,lat,lon,accuracy_m,altitude_m,
    speed_mps,course_deg,provider`` (plus ``entity`` when the table has one).

    ``t`` is ISO 8601 UTC ending in ``Z``, with microseconds when not zero; nulls are empty cells.
    """
    rows = 0
    with _open_bin(path) as fh:
        header_written = False
        has_entity = False
        for batch in _batches(fixes):
            if not header_written:
                has_entity = _has(batch, "entity")
                fh.write((",".join([*CSV_COLUMNS, "entity"] if has_entity else CSV_COLUMNS) + "\n").encode())
                header_written = True
            cells: list[pa.Array] = [
                _map_text(batch.column("device"), _csv_field),
                _iso_array(_t_us(batch)),
                _int_text(batch, "tz_offset_s"),
                _num_text(batch, "lat"),
                _num_text(batch, "lon"),
                _num_text(batch, "accuracy_m"),
                _num_text(batch, "altitude_m"),
                _num_text(batch, "speed_mps"),
                _num_text(batch, "course_deg"),
                _map_text(batch.column("provider"), _csv_field)
                if _has(batch, "provider")
                else pa.nulls(batch.num_rows, pa.string()),
            ]
            if has_entity:
                cells.append(
                    _map_text(batch.column("entity"), _csv_field)
                    if _has(batch, "entity")
                    else pa.nulls(batch.num_rows, pa.string())
                )
            parts: list[pa.Array | str] = []
            for i, c in enumerate(cells):
                if i:
                    parts.append(",")
                parts.append(pc.fill_null(c, ""))
            parts.append("\n")
            fh.write(_text_bytes(_join(*parts)))
            rows += batch.num_rows
        if not header_written:
            fh.write((",".join(CSV_COLUMNS) + "\n").encode())
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


def _tid(device: str) -> str:
    return json.dumps((device[-2:] or "hb").replace("/", "_"), ensure_ascii=False)


def write_owntracks_rec(fixes: Fixes, path: PathLike) -> int:
    """Write fixes as OwnTracks Recorder ``.rec`` lines: ``ISO time<TAB>topic<TAB>JSON``.

    The topic is ``owntracks/<user>/<device>`` (see :func:`owntracks_topic`: a device already named
    ``user/device`` keeps both levels; else the user is the ``entity`` column, or ``hereabouts``).
    The JSON is a ``location`` message with ``tst`` (epoch seconds: an integer when the time is whole
    seconds, else a decimal carrying the microseconds), ``lat``, ``lon`` and, when known, ``acc`` (m),
    ``alt`` (m), ``vel`` (km/h, as OwnTracks sends it, so not always an exact round trip of m/s),
    ``cog`` (degrees) and ``tid`` (the last two characters of the device name).
    """
    rows = 0
    with _open_bin(path) as fh:
        for batch in _batches(fixes):
            t_us = _t_us(batch)
            secs = pc.floor(pc.divide(t_us.cast(pa.float64()), 1e6)).cast(pa.int64())
            frac = pc.subtract(t_us, pc.multiply(secs, 1_000_000))
            padded = pc.utf8_lpad(frac.cast(pa.string()), width=6, padding="0")
            tst = _join(secs.cast(pa.string()), pc.if_else(pc.equal(frac, 0), "", _join(".", padded)))
            device = batch.column("device").cast(pa.string())
            if _has(batch, "entity"):
                key = pc.binary_join_element_wise(device, pc.fill_null(batch.column("entity"), ""), "\x00")
                topic = _map_text(key, lambda k: owntracks_topic(*k.split("\x00", 1)))
            else:
                topic = _map_text(device, owntracks_topic)
            lines = _join(
                _iso_array(t_us),
                "\t",
                topic,
                '\t{"_type":"location","tst":',
                tst,
                ',"lat":',
                _num_text(batch, "lat"),
                ',"lon":',
                _num_text(batch, "lon"),
                _opt_part(_num_text(batch, "accuracy_m"), ',"acc":'),
                _opt_part(_num_text(batch, "altitude_m"), ',"alt":'),
                _opt_part(_num_text(batch, "speed_mps", 3.6), ',"vel":'),
                _opt_part(_num_text(batch, "course_deg"), ',"cog":'),
                ',"tid":',
                _map_text(device, _tid),
                "}\n",
            )
            fh.write(_text_bytes(lines))
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
