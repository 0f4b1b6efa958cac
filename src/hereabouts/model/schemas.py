"""Arrow schemas of the tiers, and the one function that validates a table against a tier.

The tiers form a chain::

    source ──► fix ──► stay ──► place ──► anchors, routines, predictions
                │        └──► trip
                └──► scan (Wi-Fi / cell observations without a position)

Times are UTC (``timestamp[us, tz=UTC]``); when the input carried a local offset it is kept in
``tz_offset_s`` (seconds east of UTC). Units are in column names (``accuracy_m``, ``speed_mps``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from .errors import SchemaError

UTC_US = pa.timestamp("us", tz="UTC")

#: Values allowed in the ``provider`` column of fixes.
PROVIDERS = ("gps", "wifi", "cell", "fused", "reported", "unknown")

FIX = pa.schema(
    [
        pa.field("device", pa.string(), nullable=False),
        pa.field("t", UTC_US, nullable=False),
        pa.field("tz_offset_s", pa.int32()),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("accuracy_m", pa.float64()),
        pa.field("altitude_m", pa.float64()),
        pa.field("speed_mps", pa.float64()),
        pa.field("course_deg", pa.float64()),
        pa.field("provider", pa.string()),
        pa.field("source_id", pa.int64()),
    ],
    metadata={"tier": "fix"},
)

SCAN = pa.schema(
    [
        pa.field("device", pa.string(), nullable=False),
        pa.field("t", UTC_US, nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # "wifi" or "cell"
        pa.field("ident", pa.string(), nullable=False),  # BSSID or cell id (mcc,mnc,lac,cid)
        pa.field("rssi_dbm", pa.float64()),
        pa.field("frequency_mhz", pa.float64()),
        pa.field("source_id", pa.int64()),
    ],
    metadata={"tier": "scan"},
)

STAY = pa.schema(
    [
        pa.field("entity", pa.string(), nullable=False),
        pa.field("start", UTC_US, nullable=False),
        pa.field("end", UTC_US, nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("radius_m", pa.float64()),
        pa.field("n_fixes", pa.int64()),
        pa.field("confidence", pa.float64()),
        pa.field("evidence_first", pa.int64()),
        pa.field("evidence_last", pa.int64()),
        pa.field("method", pa.string()),
    ],
    metadata={"tier": "stay"},
)

PLACE = pa.schema(
    [
        pa.field("place_id", pa.string(), nullable=False),
        pa.field("entity", pa.string()),  # null for a place shared by several entities
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("extent_m", pa.float64()),  # centre to farthest member stay
        pa.field("label", pa.string()),  # home, work, ... (set by the anchors stage)
        pa.field("n_visits", pa.int64()),
        pa.field("n_stays", pa.int64()),
        pa.field("n_entities", pa.int64()),
        pa.field("dwell_s", pa.float64()),
        pa.field("first_visit", UTC_US),
        pa.field("last_visit", UTC_US),
        pa.field("town", pa.string()),  # nearest GeoNames town (offline gazetteer)
        pa.field("country", pa.string()),  # ISO 3166-1 alpha-2 of that town
        pa.field("town_distance_m", pa.float64()),
        pa.field("confidence", pa.float64()),
        pa.field("evidence_stays", pa.list_(pa.int64())),  # rows of the stay table
        pa.field("method", pa.string()),
    ],
    metadata={"tier": "place"},
)

#: One continuous observed piece of a trip's path (a trip's path is a list of them: a recording gap
#: splits the path instead of drawing a line across it).
PATH_POINT = pa.struct([pa.field("lat", pa.float64()), pa.field("lon", pa.float64())])

TRIP = pa.schema(
    [
        pa.field("entity", pa.string(), nullable=False),
        pa.field("start", UTC_US, nullable=False),
        pa.field("end", UTC_US, nullable=False),
        pa.field("from_stay", pa.int64()),  # row of the stay table
        pa.field("to_stay", pa.int64()),
        pa.field("from_place", pa.string()),
        pa.field("to_place", pa.string()),
        pa.field("from_lat", pa.float64()),
        pa.field("from_lon", pa.float64()),
        pa.field("to_lat", pa.float64()),
        pa.field("to_lon", pa.float64()),
        pa.field("distance_m", pa.float64()),  # observed path plus straight lines across gaps
        pa.field("gap_distance_m", pa.float64()),  # the straight-line part of distance_m
        pa.field("duration_s", pa.float64()),
        pa.field("gap_s", pa.float64()),  # time spent in recording gaps longer than max_gap_s
        pa.field("n_fixes", pa.int64()),
        pa.field("evidence_first", pa.int64()),  # fix rows, input sorted by (entity, t)
        pa.field("evidence_last", pa.int64()),
        pa.field("path", pa.list_(pa.list_(PATH_POINT))),  # simplified observed pieces
        pa.field("speed_median_mps", pa.float64()),  # while moving
        pa.field("speed_p95_mps", pa.float64()),
        pa.field("stop_fraction", pa.float64()),
        pa.field("mode", pa.string()),  # walk, bike, vehicle, train, flight, unknown
        pa.field("mode_confidence", pa.float64()),
        pa.field("confidence", pa.float64()),
        pa.field("method", pa.string()),
    ],
    metadata={"tier": "trip"},
)

#: Stays as reported by the data's producer (Google Timeline ``placeVisit`` / ``visit``), kept apart
#: from the stays hereabouts infers so the two can be compared.
REPORTED_STAY = pa.schema(
    [
        pa.field("device", pa.string(), nullable=False),
        pa.field("start", UTC_US, nullable=False),
        pa.field("end", UTC_US, nullable=False),
        pa.field("tz_offset_s", pa.int32()),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("label", pa.string()),
        pa.field("place_ref", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("source_id", pa.int64()),
    ],
    metadata={"tier": "reported_stay"},
)

REPORTED_TRIP = pa.schema(
    [
        pa.field("device", pa.string(), nullable=False),
        pa.field("start", UTC_US, nullable=False),
        pa.field("end", UTC_US, nullable=False),
        pa.field("tz_offset_s", pa.int32()),
        pa.field("from_lat", pa.float64()),
        pa.field("from_lon", pa.float64()),
        pa.field("to_lat", pa.float64()),
        pa.field("to_lon", pa.float64()),
        pa.field("distance_m", pa.float64()),
        pa.field("mode", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("source_id", pa.int64()),
    ],
    metadata={"tier": "reported_trip"},
)

#: Events a producer reported that are neither fixes nor stays (OwnTracks transitions, waypoints).
EVENT = pa.schema(
    [
        pa.field("device", pa.string(), nullable=False),
        pa.field("t", UTC_US, nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("data", pa.string()),  # JSON text of the producer's fields
        pa.field("source_id", pa.int64()),
    ],
    metadata={"tier": "event"},
)

REJECT = pa.schema(
    [
        pa.field("source_id", pa.int64()),
        pa.field("member", pa.string(), nullable=False),  # file, or archive!entry
        pa.field("unit", pa.string(), nullable=False),  # line | record | offset | element
        pa.field("position", pa.int64()),
        pa.field("field", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string()),
    ],
    metadata={"tier": "reject"},
)

SOURCE = pa.schema(
    [
        pa.field("source_id", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),
        pa.field("imported_at", UTC_US, nullable=False),
        pa.field("checksum", pa.string()),
        pa.field("n_read", pa.int64()),
        pa.field("n_fixes", pa.int64()),
        pa.field("n_duplicates", pa.int64()),
        pa.field("n_rejected", pa.int64()),
        pa.field("n_scans", pa.int64()),
        pa.field("n_reported_stays", pa.int64()),
        pa.field("n_reported_trips", pa.int64()),
        pa.field("n_events", pa.int64()),
    ],
    metadata={"tier": "source"},
)

ENTITY = pa.schema(
    [
        pa.field("entity", pa.string(), nullable=False),
        pa.field("aliases", pa.list_(pa.string())),
        pa.field("devices", pa.list_(pa.string())),
        pa.field("kind", pa.string()),
        pa.field("created_by", pa.string()),
        pa.field("workspace", pa.string()),
        pa.field("n_fixes", pa.int64()),
        pa.field("first", UTC_US),
        pa.field("last", UTC_US),
    ],
    metadata={"tier": "entity"},
)

TIERS: Mapping[str, pa.Schema] = {
    "fix": FIX,
    "scan": SCAN,
    "stay": STAY,
    "place": PLACE,
    "trip": TRIP,
    "reported_stay": REPORTED_STAY,
    "reported_trip": REPORTED_TRIP,
    "event": EVENT,
    "reject": REJECT,
    "source": SOURCE,
    "entity": ENTITY,
}


def validate(table: pa.Table, tier: str) -> pa.Table:
    """Check ``table`` against the schema of ``tier`` and return it cast to that schema.

    Columns the tier requires must be present; optional columns that are missing are added as nulls;
    extra columns are kept after the tier's own. Required (non-nullable) columns must hold no nulls.

    >>> import pyarrow as pa
    >>> validate(pa.table({"lat": [1.0]}), "fix")
    Traceback (most recent call last):
    ...
    hereabouts.model.errors.SchemaError: table is not a valid 'fix' tier: missing required columns device, t, lon (hint: ...)
    """
    try:
        schema = TIERS[tier]
    except KeyError:
        raise SchemaError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}") from None
    missing = [f.name for f in schema if not f.nullable and f.name not in table.column_names]
    if missing:
        raise SchemaError(
            f"table is not a valid {tier!r} tier: missing required columns {', '.join(missing)}",
            hint=f"a {tier!r} table needs {', '.join(f.name for f in schema if not f.nullable)}",
        )
    columns = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            if col.type != f.type:
                try:
                    col = col.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise SchemaError(
                        f"column {f.name!r} of the {tier!r} tier has type {col.type}, expected {f.type}"
                    ) from exc
            if not f.nullable and col.null_count:
                raise SchemaError(
                    f"column {f.name!r} of the {tier!r} tier has {col.null_count} null values; it is required"
                )
        else:
            col = pa.nulls(table.num_rows, f.type)
        columns.append(col)
    extra = [n for n in table.column_names if n not in schema.names]
    out = pa.Table.from_arrays(
        columns + [table.column(n) for n in extra],
        schema=pa.schema(list(schema) + [table.schema.field(n) for n in extra], metadata=schema.metadata),
    )
    return out
