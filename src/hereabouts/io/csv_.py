"""CSV readers: generic delimited text (``csv``) and Traccar's positions export (``traccar_csv``).

**Generic CSV.** The delimiter is sniffed among ``,`` ``;`` TAB and ``|`` (an Excel ``sep=;`` first line
is honoured). The header row names the columns; they are matched to our fields by common names in
several styles and languages, case and punctuation ignored:

=============  =========================================================================================
field          column names recognised (first match wins)
=============  =========================================================================================
``t``          fixtime, time, timestamp, datetime, utc, gpstime, ts, tst, epoch, unixtime, zeitstempel...
``date/time``  a date column (date, datum, fecha, data) beside a time-of-day column (time, zeit, heure...)
``lat``        lat, latitude, breite, latitud...; y; latitudeE7 (scaled by 1e-7)
``lon``        lon, lng, long, longitude, laenge, longitud...; x; longitudeE7
``device``     device, device_id, deviceid, tid, user, entity, imei, vehicle, tracker, name...
``accuracy_m`` accuracy, acc, hacc, horizontal_accuracy, precision, genauigkeit; hdop (see below)
``altitude_m`` altitude, alt, ele, elevation, height, hoehe, altitud...
``speed_mps``  speed, velocity, vel, geschwindigkeit, velocidad, vitesse...
``course_deg`` course, bearing, heading, cog, direction, kurs, rumbo, azimuth...
``provider``   provider, source, location_provider
=============  =========================================================================================

Units: speed is taken as m/s unless the column name says ``kmh``/``km/h``/``kph``, ``mph`` or
``knots``/``kn``/``kt``; altitude is taken as metres unless the name says ``ft``/``feet``. An ``hdop``
column (dimensionless) is used only when no accuracy column exists, as ``accuracy_m = 5 * hdop``
(5 m being a nominal GPS user range error). ``ctx.options.columns`` maps our field names (``t``, ``lat``,
``lon``, ``device``, ``accuracy_m``, ``altitude_m``, ``speed_mps``, ``course_deg``, ``provider``, or
``date`` + ``time``) to the file's columns and overrides detection; for a file without a header row,
give 1-based column numbers (``{"t": "1", "lat": "2", "lon": "3"}``).

Times: epoch seconds/milliseconds/microseconds (chosen by magnitude), ISO 8601 with or without offset,
``YYYY-MM-DD HH:MM:SS``, ``YYYY/MM/DD HH:MM:SS`` and ``DD.MM.YYYY HH:MM:SS``. Times without an offset are
read in ``ctx.options.tz`` (UTC by default); the offset is kept in ``tz_offset_s`` when the text carried
one (or when a zone was given). The device column names the stream of each row; rows without one go to
the default device. Values quoted over several lines are not supported: each line is one record.

**Speed.** Blocks of lines are parsed by pyarrow's vectorised CSV parser and handed to the sink as one
table. A block that does not convert cleanly (a bad number, a missing field, mixed time styles...) is
read again line by line, so the bad lines are rejected with their line numbers and the good ones kept.

**Traccar.** Traccar's positions export (``/api/reports/route`` CSV, ``CsvExportProvider``) has the header
``id,deviceId,protocol,serverTime,deviceTime,fixTime,valid,latitude,longitude,altitude,speed,course,
address,accuracy,<attributes...>``; any CSV whose header holds Traccar's camel-case ``fixTime`` beside
``latitude`` and ``longitude`` (e.g. one written from Traccar's API) is read the same way. Its times are ``yyyy-MM-dd HH:mm:ss`` in the Traccar user's time zone
(give it as ``tz``), its speed is in knots (converted to m/s), the device is ``deviceId``. Values are not
quoted, so an address holding commas spills into extra fields: columns up to ``course`` are read from the
left and the ones after ``address`` from the right. Rows with ``valid=false`` (no satellite fix; Traccar
repeats the last known position) are rejected.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..model.errors import InputError
from . import _lines
from ._base import Format, ReadContext, register
from ._lines import Block, Oversized, decode_line, iter_blocks, too_long_reason
from ._time import iso_fast, parse_iso, parse_time

DELIMITERS = (",", ";", "\t", "|")
#: Our field names a column mapping may use.
FIELDS = (
    "t",
    "lat",
    "lon",
    "device",
    "accuracy_m",
    "altitude_m",
    "speed_mps",
    "course_deg",
    "provider",
    "tz_offset_s",
    "date",
    "time",
)
_OPTIONAL_NUM = ("accuracy_m", "altitude_m", "speed_mps", "course_deg")
#: Nominal GPS user range error used to turn HDOP into metres.
HDOP_UERE_M = 5.0
KNOT_MPS = 1852.0 / 3600.0
MPH_MPS = 0.44704
FOOT_M = 0.3048

# Aliases per field, best first; compared with names lower-cased and stripped of punctuation and units.
_ALIASES: dict[str, tuple[str, ...]] = {
    "t": (
        "fixtime",
        "time",
        "t",
        "timestamp",
        "datetime",
        "utc",
        "timeutc",
        "utctime",
        "gpstime",
        "gmt",
        "ts",
        "tst",
        "epoch",
        "unixtime",
        "unix",
        "timestampms",
        "timems",
        "epochms",
        "zeitstempel",
        "zeit",
        "horodatage",
        "fechahora",
        "tiempo",
        "dataora",
        "recordedat",
        "devicetime",
        "servertime",
    ),
    "date": ("date", "datum", "fecha", "data", "day"),
    "time": ("time", "timeofday", "uhrzeit", "zeit", "heure", "hora", "ora", "timeutc", "utctime", "utc"),
    "lat": ("lat", "latitude", "breite", "breitengrad", "latitud", "latitudine", "y"),
    "lon": (
        "lon",
        "lng",
        "long",
        "longitude",
        "laenge",
        "länge",
        "laengengrad",
        "längengrad",
        "longitud",
        "longitudine",
        "x",
    ),
    "device": (
        "device",
        "deviceid",
        "devicename",
        "tid",
        "user",
        "userid",
        "username",
        "entity",
        "entityid",
        "imei",
        "vehicle",
        "vehicleid",
        "tracker",
        "trackerid",
        "gerät",
        "geraet",
        "name",
    ),
    "accuracy_m": (
        "accuracy",
        "acc",
        "hacc",
        "horizontalaccuracy",
        "haccuracy",
        "precision",
        "genauigkeit",
        "precisión",
        "hdop",
    ),
    "altitude_m": ("altitude", "alt", "ele", "elevation", "height", "hoehe", "höhe", "altitud", "altitudine"),
    "speed_mps": (
        "speed",
        "velocity",
        "vel",
        "geschwindigkeit",
        "velocidad",
        "vitesse",
        "velocita",
        "velocità",
    ),
    "course_deg": (
        "course",
        "bearing",
        "heading",
        "cog",
        "direction",
        "kurs",
        "richtung",
        "rumbo",
        "cap",
        "azimuth",
    ),
    "provider": ("provider", "locationprovider", "source"),
    # seconds east of UTC of the local time at the fix (hereabouts' own CSV export writes it)
    "tz_offset_s": ("tzoffset", "utcoffset", "tzoffsetseconds"),
}
_E7 = {"latitudee7": "lat", "longitudee7": "lon", "late7": "lat", "lone7": "lon", "lnge7": "lon"}
_UNIT_TOKENS = {
    "s",
    "kmh",
    "kph",
    "mph",
    "knots",
    "knot",
    "kn",
    "kt",
    "kts",
    "mps",
    "ms",
    "m",
    "ft",
    "feet",
    "deg",
}
_SPEED_UNITS = (
    (re.compile(r"km\s*/\s*h|kmh|kph|km_h"), 1 / 3.6),
    (re.compile(r"mph|mi\s*/\s*h"), MPH_MPS),
    (re.compile(r"knots?|\bkts?\b|\bkn\b|_kts?$|_kn$"), KNOT_MPS),
)
_FEET = re.compile(r"\bft\b|feet|_ft$|\(ft\)")
_TIME_OF_DAY = re.compile(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](.*))?$")
_SLASHED = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T](.*))?$")
_HOUR = re.compile(r"^(\d):")
_NUMERIC = re.compile(r"^[+-]?\d+(\.\d*)?$")
_OFFSET = re.compile(r"(?P<s>[+-])(?P<h>\d{2}):?(?P<m>\d{2})$")

_PROVIDERS = {
    "gps": "gps",
    "gnss": "gps",
    "satellite": "gps",
    "wifi": "wifi",
    "wi-fi": "wifi",
    "wlan": "wifi",
    "cell": "cell",
    "cellular": "cell",
    "gsm": "cell",
    "lte": "cell",
    # Android's "network" provider mixes Wi-Fi and cell positions
    "network": "fused",
    "fused": "fused",
    "reported": "reported",
    "manual": "reported",
    "unknown": "unknown",
}


def provider_name(value: str | None) -> str | None:
    """Our provider name (gps, wifi, cell, fused, reported, unknown) for a producer's label."""
    if value is None:
        return None
    v = value.strip().lower()
    if not v:
        return None
    return _PROVIDERS.get(v, "unknown")


def _key(name: str) -> str:
    """A column name reduced for matching: lower case, no bracketed parts, units or punctuation."""
    s = name.strip().strip('"').lower()
    s = re.sub(r"[\(\[][^\)\]]*[\)\]]", " ", s)
    tokens = [t for t in re.split(r"[\W_]+", s) if t]
    kept = [t for t in tokens if t not in _UNIT_TOKENS] or tokens
    return "".join(kept)


def _speed_factor(name: str) -> float:
    low = name.lower()
    for pat, factor in _SPEED_UNITS:
        if pat.search(low):
            return factor
    return 1.0


@dataclass
class Col:
    """One of our fields bound to a column of the file (0-based ``index``) with its unit ``scale``."""

    field: str
    index: int
    name: str
    scale: float = 1.0


@dataclass
class Layout:
    delimiter: str
    names: list[str]
    cols: dict[str, Col]
    has_header: bool = True
    decimal_comma: bool = False
    traccar: bool = False
    address_index: int | None = None
    valid_index: int | None = None

    @property
    def split_time(self) -> bool:
        return "t" not in self.cols


def split_line(line: str, delimiter: str) -> list[str]:
    """The fields of one CSV line (quotes honoured)."""
    if '"' not in line:
        return line.split(delimiter)
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=False))
    except (csv.Error, StopIteration):
        return line.split(delimiter)


def sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits the sample lines into the same number (>= 2) of fields."""
    lines = [ln for ln in lines if ln.strip()][:20]
    if not lines:
        return None
    best: tuple[float, str] | None = None
    for d in DELIMITERS:
        counts = [len(split_line(ln, d)) for ln in lines]
        if counts[0] < 2:
            continue
        same = sum(1 for c in counts if c == counts[0]) / len(counts)
        score = same * 10 + min(counts[0], 50) / 50
        if best is None or score > best[0]:
            best = (score, d)
    return best[1] if best else None


def match_columns(names: list[str]) -> dict[str, Col]:
    """Our fields found among the column ``names`` by their common names."""
    keys = [_key(n) for n in names]
    cols: dict[str, Col] = {}
    used: set[int] = set()

    def take(fld: str, idx: int, scale: float = 1.0) -> None:
        cols[fld] = Col(fld, idx, names[idx], scale)
        used.add(idx)

    named = set(_ALIASES["lat"] + _ALIASES["lon"]) - {"x", "y"}
    named_coords = any(k in named or k in _E7 for k in keys)
    for i, k in enumerate(keys):
        if k in _E7 and _E7[k] not in cols:
            take(_E7[k], i, 1e-7)
    for fld in (
        "lat",
        "lon",
        "t",
        "device",
        "accuracy_m",
        "altitude_m",
        "speed_mps",
        "course_deg",
        "provider",
        "tz_offset_s",
    ):
        if fld in cols:
            continue
        for alias in _ALIASES[fld]:
            if alias in ("x", "y") and named_coords:
                continue
            idx = next((i for i, k in enumerate(keys) if k == alias and i not in used), None)
            if idx is None:
                continue
            scale = 1.0
            if fld == "speed_mps":
                scale = _speed_factor(names[idx])
            elif fld == "altitude_m" and _FEET.search(names[idx].lower()):
                scale = FOOT_M
            elif fld == "accuracy_m" and alias == "hdop":
                scale = HDOP_UERE_M
            take(fld, idx, scale)
            break
    # a date column beside a time column: remember both; whether time is a time of day is decided on data
    date_idx = next((i for i, k in enumerate(keys) if k in _ALIASES["date"] and i not in used), None)
    if date_idx is not None:
        tod = cols.get("t")
        if tod is not None and keys[tod.index] in _ALIASES["time"]:
            cols["date"] = Col("date", date_idx, names[date_idx])
            cols["time"] = Col("time", tod.index, tod.name)
        elif tod is None:
            cols["date"] = Col("date", date_idx, names[date_idx])
            used.add(date_idx)
            for alias in _ALIASES["time"]:
                idx = next((i for i, k in enumerate(keys) if k == alias and i not in used), None)
                if idx is not None:
                    cols["time"] = Col("time", idx, names[idx])
                    break
    return cols


def _looks_like_header(fields: list[str]) -> bool:
    """A row with a non-numeric cell that is not a time: a header, not data."""
    for f in fields:
        s = f.strip().strip('"')
        if not s:
            continue
        try:
            float(s.replace(",", "."))
        except ValueError:
            if not re.match(r"^\d{1,4}[-/.:]\d", s):
                return True
    return False


def is_traccar_header(names: list[str]) -> bool:
    """Traccar's field names, spelt as Traccar spells them: ``fixTime`` (camel case) beside
    ``latitude`` and ``longitude`` (the full export starts ``id,deviceId,protocol,serverTime...``)."""
    stripped = {n.strip().strip('"') for n in names}
    return {"fixTime", "latitude", "longitude"} <= stripped


def build_layout(
    lines: list[str],
    mapping: Mapping[str, str] | None = None,
    *,
    traccar: bool = False,
    member: str = "",
) -> tuple[Layout, int] | None:
    """Work out delimiter and columns from the first lines; ``(layout, data_start)`` where
    ``data_start`` is the index of the first data line. None when the lines do not look like a CSV
    with a header row (or a headerless one with a numbered column mapping)."""
    idx = 0
    forced_delim: str | None = None
    while idx < len(lines):
        s = lines[idx].strip()
        if not s or s.startswith("#"):
            idx += 1
            continue
        m = re.fullmatch(r'"?sep=(.)"?', s)
        if m:
            forced_delim = m.group(1)
            idx += 1
            continue
        break
    if idx >= len(lines):
        return None
    delim = forced_delim or sniff_delimiter(lines[idx:])
    if delim is None:
        return None
    first = [f.strip() for f in split_line(lines[idx], delim)]
    has_header = _looks_like_header(first)
    if mapping and not has_header and all(str(v).strip().isdigit() for v in mapping.values()):
        names = [str(i + 1) for i in range(len(first))]
        cols = _mapped(names, mapping, member, numbered=True)
        return _finish(Layout(delim, names, cols, has_header=False), lines[idx:]), idx
    if not has_header:
        return None
    names = [f.strip('"') for f in first]
    traccar = traccar or is_traccar_header(names)
    cols = match_columns(names)
    if mapping:
        cols = _override(cols, _mapped(names, mapping, member))
    if traccar:
        lower = [n.lower() for n in names]
        cols = _override(
            cols,
            {"device": Col("device", lower.index("deviceid"), "deviceId")} if "deviceid" in lower else {},
        )
        if "speed_mps" in cols and cols["speed_mps"].name.lower() == "speed":
            cols["speed_mps"].scale = KNOT_MPS
    layout = Layout(delim, names, cols, traccar=traccar)
    if traccar:
        lower = [n.lower() for n in names]
        layout.address_index = lower.index("address") if "address" in lower else None
        layout.valid_index = lower.index("valid") if "valid" in lower else None
    return _finish(layout, lines[idx + 1 :]), idx + 1


def _override(cols: dict[str, Col], given: dict[str, Col]) -> dict[str, Col]:
    if not given:
        return cols
    taken = {c.index for c in given.values()}
    out = {k: c for k, c in cols.items() if k not in given and c.index not in taken}
    if "date" in given or "time" in given:
        out.pop("t", None)
    if "t" in given:
        out.pop("date", None)
        out.pop("time", None)
    out.update(given)
    return out


def _mapped(
    names: list[str], mapping: Mapping[str, str], member: str, numbered: bool = False
) -> dict[str, Col]:
    unknown = [k for k in mapping if k not in FIELDS]
    if unknown:
        raise InputError(
            f"unknown field {unknown[0]!r} in the column mapping; expected some of: {', '.join(FIELDS)}"
        )
    if ("date" in mapping) != ("time" in mapping):
        raise InputError("the column mapping names 'date' without 'time' (or the reverse); give both or 't'")
    lookup = {n: i for i, n in enumerate(names)}
    folded = {n.strip().lower(): i for i, n in enumerate(names)}
    cols: dict[str, Col] = {}
    for fld, col in mapping.items():
        col = str(col)
        i = lookup.get(col, folded.get(col.strip().lower()))
        if i is None:
            where = f"{member}: " if member else ""
            listing = ", ".join(repr(n) for n in names) if not numbered else f"1..{len(names)}"
            raise InputError(
                f"{where}column {col!r} given for {fld!r} is not in the file; its columns are: {listing}"
            )
        scale = 1.0
        if fld == "speed_mps":
            scale = _speed_factor(names[i])
        elif fld == "altitude_m" and _FEET.search(names[i].lower()):
            scale = FOOT_M
        cols[fld] = Col(fld, i, names[i], scale)
    return cols


def _finish(layout: Layout, data_lines: list[str]) -> Layout:
    """Decide, from the first data lines, whether a date+time pair is in use and whether decimals use
    a comma."""
    rows = [split_line(ln, layout.delimiter) for ln in data_lines[:20] if ln.strip()]
    cols = layout.cols
    if "date" in cols and "time" in cols and "t" in cols:
        # keep the pair only when the time column holds times of day
        tod = all(
            _TIME_OF_DAY.match(r[cols["time"].index].strip())
            for r in rows
            if len(r) > cols["time"].index and r[cols["time"].index].strip()
        )
        if tod and rows:
            del cols["t"]
        else:
            del cols["date"], cols["time"]
    elif "date" in cols and "t" in cols and "time" not in cols:
        del cols["date"]
    if layout.delimiter != "," and "lat" in cols:
        i = cols["lat"].index
        layout.decimal_comma = any(len(r) > i and re.fullmatch(r"-?\d+,\d+", r[i].strip()) for r in rows)
    return layout


def _required(layout: Layout) -> tuple[str, ...]:
    return ("lat", "lon") + (("date", "time") if layout.split_time else ("t",))


# ---------------------------------------------------------------- per-line path
def _num(text: str, decimal_comma: bool) -> float:
    s = text.strip()
    if decimal_comma:
        s = s.replace(",", ".")
    return float(s)


def _opt_num(text: str | None, decimal_comma: bool, scale: float) -> float | None:
    if text is None:
        return None
    s = text.strip()
    if not s:
        return None
    try:
        return _num(s, decimal_comma) * scale
    except ValueError:
        return None


def parse_csv_time(text: str, tz: tzinfo) -> tuple[int, int | None]:
    """A CSV time cell: epoch number, ISO 8601, ``YYYY/MM/DD hh:mm:ss`` or ``DD.MM.YYYY hh:mm:ss``."""
    s = text.strip()
    m = _DOTTED.match(s) if s[1:3].count(".") else None
    if m:
        s = f"{m.group(3)}-{int(m.group(2)):02d}-{int(m.group(1)):02d}" + (
            f"T{m.group(4)}" if m.group(4) else ""
        )
    else:
        m = _SLASHED.match(s) if s[4:5] == "/" else None
        if m:
            s = f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}" + (
                f"T{m.group(4)}" if m.group(4) else ""
            )
        else:
            if s[:1].isdigit() and s[4:5] == "-":
                fast = iso_fast(s, tz)
                if fast is not None:
                    return fast
            try:
                return parse_time(s, tz)
            except ValueError:
                if not s[11:13].endswith(":"):
                    raise
    if s[11:13].endswith(":"):
        s = s[:11] + "0" + s[11:]  # one-digit hour
    return parse_iso(s, tz)


def _combine(date: str, tod: str) -> str:
    return date.strip() + "T" + _HOUR.sub(r"0\1:", tod.strip())


_TIME_REASON = (
    "time {!r} is not a time; expected epoch seconds/milliseconds, ISO 8601 "
    "(e.g. 2024-06-15T10:30:00Z) or 'YYYY-MM-DD HH:MM:SS'"
)


def _read_line(text: str, pos: int, layout: Layout, ctx: ReadContext, tz: tzinfo) -> None:
    sink = ctx.sink
    fields = split_line(text, layout.delimiter)
    n_header = len(layout.names)
    shift = 0
    if layout.traccar and layout.address_index is not None and len(fields) > n_header:
        shift = len(fields) - n_header

    def get(fld: str) -> str | None:
        c = layout.cols.get(fld)
        if c is None:
            return None
        i = c.index
        if shift and layout.address_index is not None and i > layout.address_index:
            i += shift
        return fields[i] if i < len(fields) else None

    for fld in _required(layout):
        v = get(fld)
        if v is None or not v.strip():
            what = "missing" if v is None else "empty"
            sink.reject(
                pos,
                "t" if fld in ("date", "time") else fld,
                f"field {layout.cols[fld].name!r} is {what} (line has {len(fields)} field(s), "
                f"header {n_header}); expected a value",
                text,
            )
            return
    if layout.traccar and layout.valid_index is not None:
        valid = fields[layout.valid_index].strip().lower() if layout.valid_index < len(fields) else ""
        if valid == "false":
            sink.reject(
                pos,
                "valid",
                "the tracker marked this position invalid (no satellite fix; Traccar repeats the last known "
                "position); expected valid=true",
                text,
            )
            return
    try:
        if layout.split_time:
            t_us, off = parse_csv_time(_combine(get("date") or "", get("time") or ""), tz)
        else:
            t_us, off = parse_csv_time(get("t") or "", tz)
    except ValueError:
        raw_t = f"{get('date')} {get('time')}" if layout.split_time else get("t")
        sink.reject(pos, "t", _TIME_REASON.format((raw_t or "")[:40]), text)
        return
    coords: list[float] = []
    for fld in ("lat", "lon"):
        raw = get(fld) or ""
        try:
            coords.append(_num(raw, layout.decimal_comma) * layout.cols[fld].scale)
        except ValueError:
            sink.reject(
                pos, fld, f"{fld} {raw.strip()[:40]!r} is not a number; expected decimal degrees", text
            )
            return
    opt: dict[str, float | None] = {}
    for fld in _OPTIONAL_NUM:
        c = layout.cols.get(fld)
        opt[fld] = None if c is None else _opt_num(get(fld), layout.decimal_comma, c.scale)
    if layout.traccar and opt.get("accuracy_m") == 0.0:
        opt["accuracy_m"] = None  # Traccar writes 0 when the tracker reports no accuracy
    device = get("device")
    if "tz_offset_s" in layout.cols:
        given = (get("tz_offset_s") or "").strip()
        if given:
            try:
                off = int(given)
            except ValueError:
                sink.reject(pos, "tz_offset_s", f"not a whole number of seconds: {given!r}")
                return
    sink.fix(
        pos,
        t_us,
        coords[0],
        coords[1],
        device=device.strip() if device else None,
        tz_offset_s=off,
        provider=provider_name(get("provider")),
        **opt,
    )


def _read_block_lines(block: Block, layout: Layout, ctx: ReadContext) -> None:
    pos = block.first_line
    tz = ctx.options.tzinfo
    for raw in block.lines():
        text, err = decode_line(raw)
        if text is None:
            ctx.sink.reject(pos, None, err or "unreadable line", raw[:300].decode("utf-8", "replace"))
        elif text.strip():
            _read_line(text, pos, layout, ctx, tz)
        pos += 1


# ------------------------------------------------------------------ fast path
def _epoch_us(values: np.ndarray) -> np.ndarray:
    a = np.abs(values)
    if values.dtype.kind == "i":
        return np.where(
            a >= 10**17,
            values // 1000,
            np.where(a >= 10**14, values, np.where(a >= 10**11, values * 1000, values * 1_000_000)),
        )
    out = np.where(
        a >= 1e17,
        np.floor(values / 1000),
        np.where(a >= 1e14, values, np.where(a >= 1e11, np.round(values * 1000), np.round(values * 1e6))),
    )
    return out.astype(np.int64)


def vector_time(col: pa.Array, tz_name: str | None) -> tuple[pa.Array, pa.Array | None] | None:
    """``(t_us, tz_offset_s)`` for a string column of times all in one style; None when any value
    does not parse (the caller then reads the lines one by one)."""
    if col.null_count or len(col) == 0:
        return None
    first = str(col[0].as_py()).strip()
    if _NUMERIC.match(first):
        for typ in (pa.int64(), pa.float64()):
            try:
                nums = pc.cast(col, typ).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            if typ == pa.float64() and not np.isfinite(nums).all():
                return None
            return pa.array(_epoch_us(nums), pa.int64()), None
        return None
    if first.endswith("Z") or _OFFSET.search(first):
        try:
            ts = pc.cast(col, pa.timestamp("us", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        t = ts.cast(pa.int64())
        zulu = pc.ends_with(col, "Z")
        if pc.all(zulu).as_py():
            return t, None  # 'Z' says the time is written in UTC, not what the local offset was
        m = pc.extract_regex(col, _OFFSET.pattern)
        if pc.any(pc.and_(pc.is_null(m), pc.invert(zulu))).as_py():
            return None
        sign = pc.if_else(pc.equal(pc.struct_field(m, "s"), "-"), -1, 1)
        hh = pc.cast(pc.struct_field(m, "h"), pa.int32())
        mm = pc.cast(pc.struct_field(m, "m"), pa.int32())
        off = pc.multiply(sign, pc.add(pc.multiply(hh, 3600), pc.multiply(mm, 60)))
        off = pc.if_else(zulu, pa.scalar(None, pa.int32()), pc.cast(off, pa.int32()))
        return t, pc.cast(off, pa.int32())
    try:
        if _DOTTED.match(first) or _SLASHED.match(first):
            fmt = "%d.%m.%Y %H:%M:%S" if "." in first[:3] else "%Y/%m/%d %H:%M:%S"
            naive = pc.strptime(col, format=fmt, unit="us")
        else:
            naive = pc.cast(col, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    local = naive.cast(pa.int64())
    if tz_name is None or tz_name.upper() in ("UTC", "Z", "GMT"):
        return local, None
    try:
        utc = pc.assume_timezone(naive, timezone=tz_name, ambiguous="earliest", nonexistent="raise")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return None
    t = utc.cast(pa.int64())
    off = pc.divide(pc.subtract(local, t), 1_000_000)
    return t, pc.cast(off, pa.int32())


def _fast_block(block: Block, layout: Layout, ctx: ReadContext) -> bool:
    """Parse a block with pyarrow and send it as one table; False when it does not convert cleanly."""
    cols = layout.cols
    names = [f"c{i}" for i in range(len(layout.names))]
    types: dict[str, pa.DataType] = {}
    for fld, c in cols.items():
        if fld in ("lat", "lon", *_OPTIONAL_NUM):
            types[names[c.index]] = pa.float64()
        else:
            types[names[c.index]] = pa.string()
    include = sorted({names[c.index] for c in cols.values()})
    if layout.traccar and layout.valid_index is not None:
        types[names[layout.valid_index]] = pa.bool_()
        include = sorted({*include, names[layout.valid_index]})
    try:
        table = pacsv.read_csv(
            io.BytesIO(block.data),
            read_options=pacsv.ReadOptions(
                column_names=names,
                block_size=max(len(block.data) + 1, 1 << 12),
                use_threads=len(block.data) > 1 << 20,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=layout.delimiter, newlines_in_values=False, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                include_columns=include,
                strings_can_be_null=True,
                decimal_point="," if layout.decimal_comma else ".",
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    if table.num_rows != block.n_lines:
        return False
    n = table.num_rows

    def column(fld: str) -> pa.Array:
        return table.column(names[cols[fld].index]).combine_chunks()

    if layout.traccar and layout.valid_index is not None:
        valid = table.column(names[layout.valid_index])
        if valid.null_count or not pc.all(valid).as_py():
            return False
    if layout.split_time:
        d, tm = column("date"), column("time")
        if d.null_count or tm.null_count:
            return False
        tcol = pc.binary_join_element_wise(d, tm, " ")
    else:
        tcol = column("t")
    parsed = vector_time(tcol, ctx.options.tz)
    if parsed is None:
        return False
    t, off = parsed
    out: dict[str, Any] = {"t": t}
    if off is not None:
        out["tz_offset_s"] = off
    if "tz_offset_s" in cols:
        try:
            given = pc.cast(column("tz_offset_s"), pa.int32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        out["tz_offset_s"] = given if off is None else pc.coalesce(given, off)
    for fld in ("lat", "lon"):
        arr = column(fld)
        if arr.null_count:
            return False
        scale = cols[fld].scale
        out[fld] = arr if scale == 1.0 else pc.multiply(arr, scale)
    for fld in _OPTIONAL_NUM:
        if fld in cols:
            arr = column(fld)
            scale = cols[fld].scale
            out[fld] = arr if scale == 1.0 else pc.multiply(arr, scale)
    if layout.traccar and "accuracy_m" in out:
        acc = out["accuracy_m"]
        out["accuracy_m"] = pc.if_else(pc.equal(acc, 0.0), pa.scalar(None, pa.float64()), acc)
    if "device" in cols:
        out["device"] = pc.utf8_trim_whitespace(column("device"))
    if "provider" in cols:
        raw = column("provider")
        uniq = pc.unique(raw).to_pylist()
        mapped = pa.array([provider_name(u) for u in uniq], pa.string())
        out["provider"] = pc.take(mapped, pc.index_in(raw, value_set=pa.array(uniq, pa.string())))
    out["pos"] = pa.array(np.arange(block.first_line, block.first_line + n, dtype=np.int64))
    ctx.sink.fix_table(pa.table(out))
    return True


# --------------------------------------------------------------------- reader
#: A block that fails the vectorised path is split in this many parts, down to this many lines, so
#: that one bad line sends only its neighbourhood down the slow line-by-line path.
SPLIT_PARTS = 4
MIN_SPLIT_LINES = 128


def _read_block(block: Block, layout: Layout, ctx: ReadContext) -> None:
    if _fast_block(block, layout, ctx):
        return
    if block.n_lines <= MIN_SPLIT_LINES:
        _read_block_lines(block, layout, ctx)
        return
    for part in split_block(block, SPLIT_PARTS):
        _read_block(part, layout, ctx)


def split_block(block: Block, parts: int) -> list[Block]:
    """``block`` cut at line boundaries into about ``parts`` blocks of as many lines each."""
    ends = np.flatnonzero(np.frombuffer(block.data, dtype=np.uint8) == 10)
    n = block.n_lines
    per = max(1, -(-n // parts))
    out: list[Block] = []
    start_byte = 0
    line = block.first_line
    for k in range(0, n, per):
        last = min(k + per, n) - 1
        end_byte = int(ends[last]) + 1 if last < len(ends) else len(block.data)
        out.append(Block(line, last - k + 1, block.data[start_byte:end_byte]))
        start_byte = end_byte
        line += last - k + 1
    return out


def _head_lines(block: Block, n: int = 40) -> list[str]:
    out: list[str] = []
    for raw in block.lines()[:n]:
        text, _ = decode_line(raw)
        out.append(text if text is not None else "")
    return out


def _drop_lines(block: Block, k: int) -> Block | None:
    """The block without its first ``k`` lines (None when nothing is left)."""
    if k <= 0:
        return block
    at = 0
    for _ in range(k):
        nl = block.data.find(b"\n", at)
        if nl < 0:
            return None
        at = nl + 1
    if at >= len(block.data):
        return None
    return Block(block.first_line + k, block.n_lines - k, block.data[at:])


def read_csv(stream: IO[bytes], ctx: ReadContext, *, traccar: bool = False) -> None:
    limit = ctx.options.max_record_bytes
    items: Iterator[Block | Oversized] = iter_blocks(stream, limit, _lines.BLOCK_BYTES)
    layout: Layout | None = None
    for item in items:
        if isinstance(item, Oversized):
            ctx.sink.reject(item.line, None, too_long_reason(limit))
            continue
        if layout is None:
            lines = _head_lines(item)
            found = build_layout(lines, ctx.options.columns, traccar=traccar, member=ctx.member)
            if found is None:
                raise ctx.error(
                    "no header row naming time, latitude and longitude columns; expected e.g. "
                    "'time,lat,lon' (or give a column mapping)"
                )
            layout, data_start = found
            missing = [f for f in _required(layout) if f not in layout.cols]
            if missing:
                raise ctx.error(
                    f"no column for {', '.join(missing)} among {', '.join(repr(n) for n in layout.names)}; "
                    "expected columns such as time/timestamp, lat/latitude, lon/longitude (or give a "
                    "column mapping)"
                )
            rest = _drop_lines(item, data_start)  # preamble and header lines
            if rest is None:
                continue
            item = rest
        _read_block(item, layout, ctx)
    if layout is None:
        raise ctx.error("empty file; expected a header row and one fix per line")


def _read_generic(stream: IO[bytes], ctx: ReadContext) -> None:
    read_csv(stream, ctx)


def _read_traccar(stream: IO[bytes], ctx: ReadContext) -> None:
    read_csv(stream, ctx, traccar=True)


def _sample(head: bytes) -> list[str]:
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    text = head[:16384].decode("utf-8", "replace")
    lines = text.splitlines()
    if len(head) >= 16384 and len(lines) > 1:
        lines = lines[:-1]
    return lines[:40]


def _sniff_generic(head: bytes, name: str) -> float:
    s = head.lstrip()[:1]
    if not s or s in b"{[<":
        return 0.0
    try:
        found = build_layout(_sample(head))
    except InputError:
        return 0.0
    if found is None:
        return 0.0
    layout, _ = found
    if all(f in layout.cols for f in _required(layout)):
        return 0.6 if layout.traccar else 0.8
    return 0.3 if name.endswith((".csv", ".tsv")) else 0.0


def _sniff_traccar(head: bytes, name: str) -> float:
    lines = [ln for ln in _sample(head) if ln.strip()]
    if not lines:
        return 0.0
    return 0.9 if is_traccar_header(lines[0].split(",")) else 0.0


register(
    Format(
        name="csv",
        description="delimited text with a header row (time, lat, lon, device... columns)",
        sniff=_sniff_generic,
        read=_read_generic,
        unit="line",
        extensions=(".csv", ".tsv", ".txt"),
        aliases=("tsv",),
    )
)
register(
    Format(
        name="traccar_csv",
        description="Traccar positions export (CSV; speed in knots)",
        sniff=_sniff_traccar,
        read=_read_traccar,
        unit="line",
        extensions=(".csv",),
        aliases=("traccar",),
    )
)

__all__ = [
    "FIELDS",
    "build_layout",
    "match_columns",
    "parse_csv_time",
    "provider_name",
    "read_csv",
    "sniff_delimiter",
]
