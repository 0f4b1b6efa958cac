"""What every reader shares: options, the record sink, and the format registry.

A reader is a function ``read(stream, ctx)`` that parses a binary stream and pushes what it finds into
``ctx.sink``: fixes, Wi-Fi/cell scans, reported stays and trips, events, and rejects. Readers never
validate coordinates or times themselves beyond parsing: the sink validates every record in one place
(vectorised, per batch; batches of at most :data:`SCALAR_ROWS` fixes record by record with the same
checks, which is cheaper for the one-fix requests of the live server) and turns bad ones into rejects
that name the file, the position, the field and what was expected. Each call to the sink counts as one record read, so for every import
``records read == imported + duplicates + rejected``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import IO, Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model import schemas
from ..model.errors import InputError

#: Earliest time accepted for a fix (1980-01-06, the GPS epoch); earlier times are placeholders.
MIN_T_US = 315_964_800_000_000
#: Time slack accepted past "now" for device clocks running ahead.
FUTURE_SLACK_US = 2 * 86_400 * 1_000_000
#: Longest single record (a line, a JSON value) a reader will hold in memory.
MAX_RECORD_BYTES = 1 << 20
#: Rows buffered in the sink before they are validated and written.
BATCH_ROWS = 100_000


@dataclass(frozen=True)
class ReadOptions:
    """Options a user can give an import.

    ``device``: force every fix into this device stream. ``default_device``: the device for records that
    name none (the importer sets it from the file name). ``columns``: for CSV, a mapping of our field
    names (``t``, ``lat``, ``lon``, ``device``, ``accuracy_m``...) to the file's column names.
    ``tz``: the time zone of times that carry none (default UTC).
    """

    device: str | None = None
    default_device: str = "device"
    columns: Mapping[str, str] | None = None
    tz: str | None = None
    max_record_bytes: int = MAX_RECORD_BYTES
    now_us: int | None = None

    @property
    def tzinfo(self) -> tzinfo:
        from ._time import zone

        return zone(self.tz) if self.tz else UTC


class Writer(Protocol):
    """Where the sink sends validated batches (a store transaction, or memory)."""

    def write(self, tier: str, table: pa.Table) -> int:
        """Write rows of ``tier``; return how many were new (after de-duplication)."""
        ...


class MemoryWriter:
    """Keeps every batch in memory; used by :func:`hereabouts.io.read` and the tests."""

    def __init__(self) -> None:
        self.tables: dict[str, list[pa.Table]] = {}

    def write(self, tier: str, table: pa.Table) -> int:
        self.tables.setdefault(tier, []).append(table)
        return table.num_rows

    def table(self, tier: str) -> pa.Table:
        parts = self.tables.get(tier)
        schema = _SINK_SCHEMAS[tier]
        if not parts:
            return schema.empty_table()
        return pa.concat_tables(parts)


_FIX_FIELDS = ("tz_offset_s", "accuracy_m", "altitude_m", "speed_mps", "course_deg", "provider")
_NUMBER = (int, float)
#: Batches of at most this many fixes are validated record by record in plain Python (the same checks,
#: order and reject reasons as the vectorised path, which costs more than that for a few records).
SCALAR_ROWS = 32
#: The columns of a validated fix batch (the store adds ``source_id``).
FIX_COLUMNS = ("device", "t", "tz_offset_s", "lat", "lon", "accuracy_m", "altitude_m", "speed_mps",
               "course_deg", "provider")  # fmt: skip
_FIX_BATCH_SCHEMA = pa.schema(
    [pa.field(f.name, f.type) for f in schemas.FIX if f.name != "source_id"], metadata=None
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_EXACT_FLOAT = 2**53


class Rows:
    """Validated fixes as plain Python columns (``FIX_COLUMNS``; ``t`` in µs), for writers that gather
    the rows of many small batches into one Arrow table (:meth:`concat`) rather than one table each."""

    __slots__ = ("columns", "num_rows")

    def __init__(self, columns: dict[str, list[Any]], num_rows: int) -> None:
        self.columns = columns
        self.num_rows = num_rows

    def to_table(self) -> pa.Table:
        """The same table the vectorised path writes for these rows."""
        return pa.Table.from_pydict(self.columns, schema=_FIX_BATCH_SCHEMA)

    @staticmethod
    def concat(parts: Iterable[Rows]) -> Rows:
        cols: dict[str, list[Any]] = {k: [] for k in FIX_COLUMNS}
        n = 0
        for part in parts:
            for k in FIX_COLUMNS:
                cols[k].extend(part.columns[k])
            n += part.num_rows
        return Rows(cols, n)


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@dataclass
class Counts:
    read: int = 0
    fixes: int = 0
    duplicates: int = 0
    rejected: int = 0
    scans: int = 0
    reported_stays: int = 0
    reported_trips: int = 0
    events: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Sink:
    """Collects records from a reader, validates them per batch and writes them on.

    ``member`` names the file (or ``archive.zip!entry``) being read; ``unit`` is how positions are
    counted in it (``line``, ``record``, ``offset`` or ``element``). Positions are 1-based.
    """

    def __init__(
        self,
        writer: Writer,
        *,
        member: str,
        options: ReadOptions,
        unit: str = "record",
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.writer = writer
        self.member = member
        self.options = options
        self.unit = unit
        self.batch_rows = batch_rows
        self.counts = Counts()
        self.reject_samples: list[dict[str, Any]] = []
        self._now_us = options.now_us if options.now_us is not None else int(time.time() * 1e6)
        self._fix: dict[str, list[Any]] = {k: [] for k in ("pos", "device", "t", "lat", "lon", *_FIX_FIELDS)}
        self._rejects: list[tuple[str, int | None, str | None, str, str | None]] = []
        self._other: dict[str, list[dict[str, Any]]] = {}

    # ----------------------------------------------------------------- records
    def device_for(self, device: str | None) -> str:
        if self.options.device:
            return self.options.device
        if device is None or device == "":
            return self.options.default_device
        return str(device)

    def fix(
        self,
        pos: int | None,
        t_us: int,
        lat: float,
        lon: float,
        *,
        device: str | None = None,
        tz_offset_s: int | None = None,
        accuracy_m: float | None = None,
        altitude_m: float | None = None,
        speed_mps: float | None = None,
        course_deg: float | None = None,
        provider: str | None = None,
    ) -> None:
        """One position observation. Out-of-range values become rejects when the batch is flushed."""
        self.counts.read += 1
        f = self._fix
        f["pos"].append(pos)
        f["device"].append(self.device_for(device))
        f["t"].append(t_us)
        f["lat"].append(lat)
        f["lon"].append(lon)
        f["tz_offset_s"].append(tz_offset_s)
        f["accuracy_m"].append(accuracy_m)
        f["altitude_m"].append(altitude_m)
        f["speed_mps"].append(speed_mps)
        f["course_deg"].append(course_deg)
        f["provider"].append(provider)
        if len(f["t"]) >= self.batch_rows:
            self._flush_fixes()

    def fixes(
        self,
        pos: list[int | None],
        t_us: list[int],
        lat: list[float],
        lon: list[float],
        *,
        device: list[str | None],
        tz_offset_s: list[int | None],
        accuracy_m: list[float | None],
        altitude_m: list[float | None],
        speed_mps: list[float | None],
        course_deg: list[float | None],
    ) -> None:
        """Many position observations at once (equal-length lists, no provider): the same as calling
        :meth:`fix` for each in order, without the per-call cost."""
        n = len(t_us)
        start = 0
        while start < n:
            f = self._fix
            room = self.batch_rows - len(f["t"])
            end = min(n, start + max(room, 1))
            forced = self.options.device
            if forced:
                devices: list[Any] = [forced] * (end - start)
            else:
                default = self.options.default_device
                devices = [default if d is None or d == "" else str(d) for d in device[start:end]]
            self.counts.read += end - start
            f["pos"].extend(pos[start:end])
            f["device"].extend(devices)
            f["t"].extend(t_us[start:end])
            f["lat"].extend(lat[start:end])
            f["lon"].extend(lon[start:end])
            f["tz_offset_s"].extend(tz_offset_s[start:end])
            f["accuracy_m"].extend(accuracy_m[start:end])
            f["altitude_m"].extend(altitude_m[start:end])
            f["speed_mps"].extend(speed_mps[start:end])
            f["course_deg"].extend(course_deg[start:end])
            f["provider"].extend([None] * (end - start))
            if len(f["t"]) >= self.batch_rows:
                self._flush_fixes()
            start = end

    def reject(self, pos: int | None, field: str | None, reason: str, raw: object = None) -> None:
        """A record that cannot be used: ``field`` is the offending field (or None), ``reason`` says
        what was expected. ``raw`` is kept, truncated, so the user can find and fix it."""
        self.counts.read += 1
        self.counts.rejected += 1
        text = None if raw is None else (raw if isinstance(raw, str) else _short_json(raw))
        if text is not None and len(text) > 300:
            text = text[:300] + "…"
        self._rejects.append((self.unit, pos, field, reason, text))
        if len(self.reject_samples) < 20:
            self.reject_samples.append(
                {"member": self.member, "unit": self.unit, "position": pos, "field": field, "reason": reason}
            )
        if len(self._rejects) >= self.batch_rows:
            self._flush_rejects()

    def scan(
        self,
        pos: int | None,
        t_us: int,
        kind: str,
        ident: str,
        *,
        rssi_dbm: float | None = None,
        frequency_mhz: float | None = None,
        device: str | None = None,
    ) -> None:
        """A Wi-Fi (``kind='wifi'``, ident = BSSID) or cell (``kind='cell'``) observation."""
        if not ident:
            self.reject(pos, "ident", f"{kind} scan without an access point or cell id")
            return
        if not self._time_ok(t_us):
            self.reject(pos, "t", self._time_reason(t_us))
            return
        self._add_other(
            "scan",
            {
                "device": self.device_for(device),
                "t": t_us,
                "kind": kind,
                "ident": ident.lower() if kind == "wifi" else ident,
                "rssi_dbm": _num(rssi_dbm),
                "frequency_mhz": _num(frequency_mhz),
            },
        )

    def reported_stay(
        self,
        pos: int | None,
        start_us: int,
        end_us: int,
        *,
        lat: float | None = None,
        lon: float | None = None,
        label: str | None = None,
        place_ref: str | None = None,
        confidence: float | None = None,
        tz_offset_s: int | None = None,
        device: str | None = None,
    ) -> None:
        """A stay the producer reported (e.g. Google ``placeVisit``), kept to compare with ours."""
        if not self._interval_ok(pos, start_us, end_us) or not self._opt_coord_ok(pos, lat, lon):
            return
        self._add_other(
            "reported_stay",
            {
                "device": self.device_for(device),
                "start": start_us,
                "end": end_us,
                "tz_offset_s": tz_offset_s,
                "lat": _num(lat),
                "lon": _num(lon),
                "label": label,
                "place_ref": place_ref,
                "confidence": _num(confidence),
            },
        )

    def reported_trip(
        self,
        pos: int | None,
        start_us: int,
        end_us: int,
        *,
        from_lat: float | None = None,
        from_lon: float | None = None,
        to_lat: float | None = None,
        to_lon: float | None = None,
        distance_m: float | None = None,
        mode: str | None = None,
        confidence: float | None = None,
        tz_offset_s: int | None = None,
        device: str | None = None,
    ) -> None:
        """A trip the producer reported (e.g. Google ``activitySegment``)."""
        if not self._interval_ok(pos, start_us, end_us):
            return
        if not self._opt_coord_ok(pos, from_lat, from_lon) or not self._opt_coord_ok(pos, to_lat, to_lon):
            return
        self._add_other(
            "reported_trip",
            {
                "device": self.device_for(device),
                "start": start_us,
                "end": end_us,
                "tz_offset_s": tz_offset_s,
                "from_lat": _num(from_lat),
                "from_lon": _num(from_lon),
                "to_lat": _num(to_lat),
                "to_lon": _num(to_lon),
                "distance_m": _num(distance_m),
                "mode": mode,
                "confidence": _num(confidence),
            },
        )

    def event(
        self,
        pos: int | None,
        t_us: int,
        kind: str,
        *,
        lat: float | None = None,
        lon: float | None = None,
        data: Mapping[str, Any] | None = None,
        device: str | None = None,
    ) -> None:
        """Something the producer reported that is neither a fix nor a stay (a geofence transition...)."""
        if not self._time_ok(t_us):
            self.reject(pos, "t", self._time_reason(t_us))
            return
        if not self._opt_coord_ok(pos, lat, lon):
            return
        self._add_other(
            "event",
            {
                "device": self.device_for(device),
                "t": t_us,
                "kind": kind,
                "lat": _num(lat),
                "lon": _num(lon),
                "data": None if data is None else _short_json(data, limit=10_000),
            },
        )

    def fix_table(self, table: pa.Table) -> None:
        """Vectorised path for columnar readers: ``table`` has ``t`` (int64 µs or timestamp), ``lat``,
        ``lon`` and optionally ``pos``, ``device`` and the optional fix columns."""
        n = table.num_rows
        if n == 0:
            return
        self._flush_fixes()
        self.counts.read += n
        cols: dict[str, Any] = {}
        cols["pos"] = table.column("pos") if "pos" in table.column_names else pa.nulls(n, pa.int64())
        if self.options.device:
            cols["device"] = pa.array([self.options.device] * n, pa.string())
        elif "device" in table.column_names:
            dev = table.column("device").cast(pa.string())
            cols["device"] = pc.fill_null(dev, self.options.default_device)
        else:
            cols["device"] = pa.array([self.options.default_device] * n, pa.string())
        t = table.column("t")
        if pa.types.is_timestamp(t.type):
            t = t.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        cols["t"] = t
        for name in ("lat", "lon"):
            cols[name] = table.column(name)
        for name in _FIX_FIELDS:
            cols[name] = table.column(name) if name in table.column_names else None
        self._validate_and_write_fixes(cols, n)

    # ---------------------------------------------------------------- plumbing
    def close(self) -> Counts:
        """Flush what is buffered; return the counts."""
        self._flush_fixes()
        for tier in list(self._other):
            self._flush_other(tier)
        self._flush_rejects()
        return self.counts

    def _time_ok(self, t_us: Any) -> bool:
        return isinstance(t_us, int) and MIN_T_US <= t_us <= self._now_us + FUTURE_SLACK_US

    def _time_reason(self, t_us: Any) -> str:
        if not isinstance(t_us, int):
            return "time missing or not a number; expected a time after 1980-01-06"
        if t_us < MIN_T_US:
            return "time is before 1980-01-06 (the GPS epoch); expected a real observation time"
        return "time is in the future; expected a time no later than now"

    def _interval_ok(self, pos: int | None, start_us: Any, end_us: Any) -> bool:
        if not self._time_ok(start_us):
            self.reject(pos, "start", self._time_reason(start_us))
            return False
        if not self._time_ok(end_us):
            self.reject(pos, "end", self._time_reason(end_us))
            return False
        if end_us < start_us:
            self.reject(pos, "end", "end is before start; expected end >= start")
            return False
        return True

    def _opt_coord_ok(self, pos: int | None, lat: Any, lon: Any) -> bool:
        if lat is None and lon is None:
            return True
        la, lo = _num(lat), _num(lon)
        if la is None or not -90.0 <= la <= 90.0:
            self.reject(pos, "lat", f"latitude {lat!r} is not a number in [-90, 90]")
            return False
        if lo is None or not -180.0 <= lo <= 180.0:
            self.reject(pos, "lon", f"longitude {lon!r} is not a number in [-180, 180]")
            return False
        return True

    def _add_other(self, tier: str, row: dict[str, Any]) -> None:
        self.counts.read += 1
        rows = self._other.setdefault(tier, [])
        rows.append(row)
        if len(rows) >= self.batch_rows:
            self._flush_other(tier)

    def _flush_other(self, tier: str) -> None:
        rows = self._other.get(tier)
        if not rows:
            return
        schema = _SINK_SCHEMAS[tier]
        cols = {}
        for f in schema:
            if f.name == "source_id":
                continue
            values = [r.get(f.name) for r in rows]
            typ = pa.int64() if pa.types.is_timestamp(f.type) else f.type
            arr = pa.array(values, typ)
            cols[f.name] = arr.cast(f.type) if pa.types.is_timestamp(f.type) else arr
        table = pa.table(cols)
        self._other[tier] = []
        new = self.writer.write(tier, table)
        attr = {"scan": "scans", "reported_stay": "reported_stays", "reported_trip": "reported_trips"}.get(
            tier, "events"
        )
        setattr(self.counts, attr, getattr(self.counts, attr) + new)
        self.counts.duplicates += table.num_rows - new

    def _flush_rejects(self) -> None:
        if not self._rejects:
            return
        unit, pos, fld, reason, raw = zip(*self._rejects, strict=True)
        table = pa.table(
            {
                "member": pa.array([self.member] * len(unit), pa.string()),
                "unit": pa.array(unit, pa.string()),
                "position": pa.array(pos, pa.int64()),
                "field": pa.array(fld, pa.string()),
                "reason": pa.array(reason, pa.string()),
                "raw": pa.array(raw, pa.string()),
            }
        )
        self._rejects = []
        self.writer.write("reject", table)

    def _flush_fixes(self) -> None:
        f = self._fix
        n = len(f["t"])
        if n == 0:
            return
        if n <= SCALAR_ROWS and _plain_fixes(f):
            self._validate_and_write_scalar(f, n)
            for k in f:
                f[k] = []
            return
        cols: dict[str, Any] = {}
        cols["pos"] = pa.array(f["pos"], pa.int64())
        cols["device"] = pa.array(f["device"], pa.string())
        cols["t"] = _safe_int_array(f["t"])
        cols["lat"] = _safe_float_array(f["lat"])
        cols["lon"] = _safe_float_array(f["lon"])
        cols["tz_offset_s"] = _safe_int_array(f["tz_offset_s"], pa.int32())
        for name in ("accuracy_m", "altitude_m", "speed_mps", "course_deg"):
            cols[name] = _safe_float_array(f[name])
        cols["provider"] = pa.array(f["provider"], pa.string())
        for k in f:
            f[k] = []
        self._validate_and_write_fixes(cols, n)

    def _validate_and_write_fixes(self, cols: dict[str, Any], n: int) -> None:
        t = _to_numpy(cols["t"], np.float64)
        lat = _to_numpy(cols["lat"], np.float64)
        lon = _to_numpy(cols["lon"], np.float64)
        bad_reason = np.zeros(n, dtype=np.int8)
        # order matters: the first failing check names the field
        checks = [
            (~np.isfinite(t), 1),
            (t < MIN_T_US, 2),
            (t > self._now_us + FUTURE_SLACK_US, 3),
            (~np.isfinite(lat) | (np.abs(lat) > 90.0), 4),
            (~np.isfinite(lon) | (np.abs(lon) > 180.0), 5),
            ((lat == 0.0) & (lon == 0.0), 6),
        ]
        for mask, code in reversed(checks):
            bad_reason[mask] = code
        bad = bad_reason > 0
        if bad.any():
            idx = np.nonzero(bad)[0]
            pos = _to_list(cols["pos"], idx)
            raw_t = t[idx]
            raw_lat = lat[idx]
            raw_lon = lon[idx]
            for j, i in enumerate(idx):
                code = int(bad_reason[i])
                fld, reason = _FIX_REASONS[code]
                raw = f"t={_fmt_num(raw_t[j])} lat={_fmt_num(raw_lat[j])} lon={_fmt_num(raw_lon[j])}"
                self.counts.read -= 1  # reject() counts it as read again
                self.reject(pos[j], fld, reason, raw)
            keep = pa.array(~bad)
        else:
            keep = None
        table_cols: dict[str, Any] = {
            "device": cols["device"],
            "t": _as_arrow(cols["t"], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "tz_offset_s": _opt_col(cols["tz_offset_s"], n, pa.int32()),
            "lat": _as_arrow(cols["lat"], pa.float64()),
            "lon": _as_arrow(cols["lon"], pa.float64()),
        }
        for name in ("accuracy_m", "altitude_m", "speed_mps", "course_deg"):
            col = _opt_col(cols[name], n, pa.float64())
            arr = _to_numpy(col, np.float64)
            # negative or non-finite optional values mean "unknown" in most formats (OwnTracks -1)
            invalid = ~np.isfinite(arr) | (arr < 0)
            if name == "altitude_m":
                invalid = ~np.isfinite(arr)
            if invalid.any():
                col = pa.array(np.where(invalid, np.nan, arr), pa.float64(), mask=invalid)
            table_cols[name] = col
        table_cols["provider"] = _opt_col(cols["provider"], n, pa.string())
        table = pa.table(table_cols)
        if keep is not None:
            table = table.filter(keep)
        if table.num_rows:
            new = self.writer.write("fix", table)
            self.counts.fixes += new
            self.counts.duplicates += table.num_rows - new

    def _validate_and_write_scalar(self, f: dict[str, list[Any]], n: int) -> None:
        """The vectorised checks of :meth:`_validate_and_write_fixes`, record by record, for a small
        batch of plain values (see :func:`_plain_fixes`): same accepted rows, same rejects."""
        min_t = float(MIN_T_US)
        max_t = float(self._now_us + FUTURE_SLACK_US)
        cols: dict[str, list[Any]] = {k: [] for k in FIX_COLUMNS}
        kept = 0
        for i in range(n):
            t = float(f["t"][i])
            lat = float(f["lat"][i])
            lon = float(f["lon"][i])
            code = 0
            if t < min_t:
                code = 2
            elif t > max_t:
                code = 3
            elif not (math.isfinite(lat) and abs(lat) <= 90.0):
                code = 4
            elif not (math.isfinite(lon) and abs(lon) <= 180.0):
                code = 5
            elif lat == 0.0 and lon == 0.0:
                code = 6
            if code:
                fld, reason = _FIX_REASONS[code]
                raw = f"t={_fmt_num(t)} lat={_fmt_num(lat)} lon={_fmt_num(lon)}"
                self.counts.read -= 1  # reject() counts it as read again
                self.reject(f["pos"][i], fld, reason, raw)
                continue
            kept += 1
            cols["device"].append(f["device"][i])
            cols["t"].append(f["t"][i])
            cols["tz_offset_s"].append(f["tz_offset_s"][i])
            cols["lat"].append(lat)
            cols["lon"].append(lon)
            for name in ("accuracy_m", "speed_mps", "course_deg"):
                v = f[name][i]
                cols[name].append(None if v is None or not (v >= 0 and math.isfinite(v)) else float(v))
            alt = f["altitude_m"][i]
            cols["altitude_m"].append(None if alt is None or not math.isfinite(alt) else float(alt))
            cols["provider"].append(f["provider"][i])
        if not kept:
            return
        rows = Rows(cols, kept)
        write_rows = getattr(self.writer, "write_rows", None)
        new = write_rows("fix", rows) if write_rows is not None else self.writer.write("fix", rows.to_table())
        self.counts.fixes += new
        self.counts.duplicates += kept - new


def _plain_fixes(f: dict[str, list[Any]]) -> bool:
    """Whether every buffered value is of the plain kind the scalar path handles exactly like the
    vectorised one: ``t`` an int in int64, coordinates and optional numbers ints (within ±2**53) or
    floats, ``tz_offset_s`` an int in int32, ``pos`` an int, ``device``/``provider`` strings (None
    where optional). Anything else (bools, strings, huge ints...) takes the vectorised path."""
    for v in f["t"]:
        if type(v) is not int or not _INT64_MIN <= v <= _INT64_MAX:
            return False
    for name in ("lat", "lon"):
        for v in f[name]:
            if type(v) is not float and (type(v) is not int or not -_EXACT_FLOAT <= v <= _EXACT_FLOAT):
                return False
    for name in ("accuracy_m", "altitude_m", "speed_mps", "course_deg"):
        for v in f[name]:
            if (
                v is not None
                and type(v) is not float
                and (type(v) is not int or not -_EXACT_FLOAT <= v <= _EXACT_FLOAT)
            ):
                return False
    for v in f["tz_offset_s"]:
        if v is not None and (type(v) is not int or not _INT32_MIN <= v <= _INT32_MAX):
            return False
    for v in f["pos"]:
        if v is not None and (type(v) is not int or not _INT64_MIN <= v <= _INT64_MAX):
            return False
    for name in ("device", "provider"):
        for v in f[name]:
            if v is not None and type(v) is not str:
                return False
    return True


_FIX_REASONS = {
    1: ("t", "time missing or not a number; expected a time after 1980-01-06"),
    2: ("t", "time is before 1980-01-06 (the GPS epoch); expected a real observation time"),
    3: ("t", "time is in the future; expected a time no later than now"),
    4: ("lat", "latitude is not a number in [-90, 90]"),
    5: ("lon", "longitude is not a number in [-180, 180]"),
    6: ("lat", "position 0,0 is a placeholder for 'no fix'; expected a real position"),
}

_SINK_SCHEMAS: dict[str, pa.Schema] = {
    "fix": schemas.FIX,
    "scan": schemas.SCAN,
    "reported_stay": schemas.REPORTED_STAY,
    "reported_trip": schemas.REPORTED_TRIP,
    "event": schemas.EVENT,
    "reject": schemas.REJECT,
}


def _fmt_num(v: float) -> str:
    return "nan" if not math.isfinite(v) else repr(float(v))


def _short_json(obj: object, limit: int = 300) -> str:
    try:
        text = json.dumps(obj, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(obj)
    return text if len(text) <= limit else text[:limit] + "…"


def _safe_float_array(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([_num(v) for v in values], pa.float64())


def _safe_int_array(values: list[Any], typ: pa.DataType | None = None) -> pa.Array:
    typ = typ or pa.int64()
    try:
        return pa.array(values, typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        out: list[int | None] = []
        lim = 2**31 if typ == pa.int32() else 2**63
        for v in values:
            if isinstance(v, int) and not isinstance(v, bool) and -lim <= v < lim:
                out.append(v)
            else:
                out.append(None)
        return pa.array(out, typ)


def _as_arrow(col: Any, typ: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(col, pa.ChunkedArray | pa.Array):
        return col if col.type == typ else col.cast(typ, safe=False)
    return pa.array(col, typ)


def _opt_col(col: Any, n: int, typ: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if col is None:
        return pa.nulls(n, typ)
    return _as_arrow(col, typ)


def _to_numpy(col: Any, dtype: Any) -> np.ndarray:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if isinstance(col, pa.Array):
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64())
        arr = col.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        return np.asarray(arr, dtype=dtype)
    return np.asarray(col, dtype=dtype)


def _to_list(col: Any, idx: np.ndarray) -> list[Any]:
    if isinstance(col, pa.ChunkedArray | pa.Array):
        return col.take(pa.array(idx)).to_pylist()
    return [col[i] for i in idx]


# ------------------------------------------------------------------ registry
@dataclass
class ReadContext:
    """What a reader gets besides its stream."""

    sink: Sink
    options: ReadOptions
    member: str

    def error(self, message: str) -> InputError:
        from ..model.errors import FormatError

        return FormatError(f"{self.member}: {message}")


ReadFn = Callable[[IO[bytes], ReadContext], None]
SniffFn = Callable[[bytes, str], float]


@dataclass(frozen=True)
class Format:
    """A readable format: ``sniff(head, name)`` scores how likely the content is this format (0..1) from
    the first 64 KiB and the lower-cased file name; ``read`` parses the whole stream into the sink."""

    name: str
    description: str
    sniff: SniffFn
    read: ReadFn
    unit: str = "record"
    extensions: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default_factory=tuple)


REGISTRY: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    if fmt.name in REGISTRY:
        raise ValueError(f"format {fmt.name!r} registered twice")
    REGISTRY[fmt.name] = fmt
    return fmt


def formats() -> Iterable[Format]:
    from . import _all_formats  # noqa: F401  (imports every reader module)

    return REGISTRY.values()
