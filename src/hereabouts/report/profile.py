"""The profile of one entity: everything the HTML report shows, gathered from a :class:`Database`.

:func:`build_profile` runs the analysis stages on the entity's fixes of a period — stays
(:meth:`Database.stays`), places (:meth:`Database.places`), trips
(:func:`~hereabouts.analysis.trips.build_trips` on the same fixes and stays), habitual routes,
anchors, time-of-week occupancy and regularity — and measures the data coverage the same way answers
to questions do (:mod:`hereabouts.ask.execute`: hours with fixes, silences over an hour are gaps).
Local days and hours are those of the entity's zone (at its most recent fix) unless ``tz`` is given;
the anchors and occupancy stages use each place's own zone, as they always do.

:func:`render_html` (in :mod:`hereabouts.report._html`) turns a :class:`Profile` into the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model.errors import InputError, NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from .._db import Database
    from ..ask.execute import Coverage

__all__ = ["CATEGORIES", "DayCoverage", "Profile", "Stat", "build_profile", "resolve_entity"]

#: Place categories in the report, in the order they are drawn and listed.
CATEGORIES = ("home", "work", "regular", "other")


@dataclass(frozen=True)
class DayCoverage:
    """One local day of the report: hours of the day in the period, hours with data, fixes."""

    day: date
    hours: float
    hours_with_data: float
    n_fixes: int


@dataclass(frozen=True)
class Stat:
    """One mobility statistic: a label, its value as text, how it was computed, and the evaluation
    metrics that measure the inference it rests on (``()`` when it is a plain count of stored data)."""

    label: str
    value: str
    method: str
    metrics: tuple[str, ...] = ()


@dataclass
class Profile:
    """What the profile report of one entity shows (Arrow tables as the analysis stages return them).

    ``places`` carries a ``category`` column (home, work, regular or other, from the anchors);
    ``stays`` carries ``place_id`` and ``category``; ``trips`` has no ``path`` column (the routes
    keep the paths they draw).
    """

    entity: str
    tz: str
    start: datetime | None
    end: datetime | None
    generated: datetime
    n_fixes: int
    first_fix: datetime | None
    last_fix: datetime | None
    coverage: Coverage
    days: list[DayCoverage]
    stays: pa.Table
    places: pa.Table
    trips: pa.Table
    routes: pa.Table
    anchors: pa.Table
    occupancy: pa.Table
    regularity: dict[str, Any] | None
    stats: list[Stat] = field(default_factory=list)
    fix_interval_s: float | None = None  # median time between consecutive fixes of a device
    fix_accuracy_m: float | None = None  # median reported accuracy of the fixes

    @property
    def n_places(self) -> int:
        return int(self.places.num_rows)


def resolve_entity(db: Database, entity: str) -> str:
    """The stored name of ``entity`` (a name or an alias); :class:`NotFoundError` when unknown."""
    rows = db.entities().select(["entity", "aliases"]).to_pylist()
    for r in rows:
        if r["entity"] == entity:
            return str(r["entity"])
    for r in rows:
        if entity in (r["aliases"] or []):
            return str(r["entity"])
    names = ", ".join(sorted(str(r["entity"]) for r in rows)[:10]) or "(none imported)"
    raise NotFoundError(
        f"no entity named {entity!r}; known entities: {names}",
        hint="run `hereabouts entities` to list them",
    )


def build_profile(
    db: Database,
    entity: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    tz: str | None = None,
    now: datetime | None = None,
) -> Profile:
    """Gather the profile of ``entity`` from the fixes in ``[start, end)`` (all of them by default).

    Nothing is written; :meth:`hereabouts.Database.profile` logs the report in the audit log and is
    the way to call this for a report someone will read.
    """
    from ..analysis import infer_anchors, regularity, time_of_week_occupancy
    from ..analysis.places import assign_places
    from ..analysis.trips import build_trips, habitual_routes
    from ..ask.execute import entity_zone
    from ..ask.timeexpr import zone
    from ..model import schemas

    for label, when in (("start", start), ("end", end)):
        if when is not None and when.tzinfo is None:
            raise InputError(f"{label} must be an aware datetime (with a zone), got {when!r}")
    if start is not None and end is not None and end <= start:
        raise InputError(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    name = resolve_entity(db, entity)
    zone_name = tz or entity_zone(db, name)
    zone(zone_name)  # an unknown zone is an InputError now, not deep in a chart

    fixes = db.fixes(name, start=start, end=end)
    fixes = fixes.set_column(
        fixes.schema.get_field_index("entity"), "entity", pa.array([name] * fixes.num_rows, pa.string())
    )
    first = last = None
    if fixes.num_rows:
        t = _us(fixes, "t")
        first, last = _dt(int(t.min())), _dt(int(t.max()))
    # the last fix belongs to the period: its end is just after it when no end is given
    coverage = _coverage(
        db, name, start or first, end or (last and last + timedelta(microseconds=1)), zone_name
    )
    days = _days(fixes, coverage, zone_name)

    stays = db.stays(name, start=start, end=end) if fixes.num_rows else schemas.STAY.empty_table()
    empty = fixes.num_rows == 0 or stays.num_rows == 0
    places = db.places(name, stays=stays) if not empty else schemas.PLACE.empty_table()
    if not empty and places.num_rows:
        trips = build_trips(fixes, stays, places=places)
        routes = habitual_routes(trips)
        anchors = infer_anchors(stays, places, fixes=fixes)
        occupancy = time_of_week_occupancy(stays, places)
        reg_rows = regularity(stays, places, fixes).to_pylist()
        reg = reg_rows[0] if reg_rows else None
        stay_place = assign_places(stays, places).cast(pa.string())
    else:
        trips = schemas.TRIP.empty_table()
        routes = _empty_routes()
        anchors = _empty_anchors()
        occupancy = pa.table(
            {
                "place_id": pa.array([], pa.string()),
                "dow": pa.array([], pa.int8()),
                "share": pa.array([], pa.float64()),
            }
        )
        reg = None
        stay_place = pa.array([None] * stays.num_rows, pa.string())

    category = _categories(anchors)
    places = places.append_column(
        "category",
        pa.array([category.get(p, "other") for p in places.column("place_id").to_pylist()], pa.string()),
    )
    stays = stays.append_column("place_id", stay_place).append_column(
        "category",
        pa.array([category.get(p, "other") if p else None for p in stay_place.to_pylist()], pa.string()),
    )
    if "path" in trips.column_names:
        trips = trips.drop_columns(["path"])
    profile = Profile(
        entity=name,
        tz=zone_name,
        start=start,
        end=end,
        generated=(now or datetime.now(UTC)).astimezone(UTC),
        n_fixes=int(fixes.num_rows),
        first_fix=first,
        last_fix=last,
        coverage=coverage,
        days=days,
        stays=stays,
        places=places,
        trips=trips,
        routes=routes,
        anchors=anchors,
        occupancy=occupancy,
        regularity=reg,
    )
    profile.stats = _stats(profile)
    profile.fix_interval_s, profile.fix_accuracy_m = _sampling(fixes)
    return profile


def _sampling(fixes: pa.Table) -> tuple[float | None, float | None]:
    """Median seconds between consecutive fixes of the same device, and median accuracy (m)."""
    if fixes.num_rows < 2:
        return None, None
    ordered = fixes.take(pc.sort_indices(fixes, [("device", "ascending"), ("t", "ascending")]))
    ts = _us(ordered, "t")
    dev = ordered.column("device").combine_chunks()
    same = pc.equal(dev.slice(0, len(dev) - 1), dev.slice(1)).fill_null(False)
    dt = np.diff(ts)[np.asarray(same.to_numpy(zero_copy_only=False), bool)] / 1e6
    dt = dt[dt > 0]
    acc = np.asarray(fixes.column("accuracy_m").to_numpy(zero_copy_only=False), np.float64)
    acc = acc[np.isfinite(acc) & (acc > 0)]
    return (float(np.median(dt)) if dt.size else None), (float(np.median(acc)) if acc.size else None)


# ------------------------------------------------------------------ pieces


def _us(table: pa.Table, name: str) -> np.ndarray[Any, np.dtype[np.int64]]:
    col = table.column(name).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(col.to_numpy(zero_copy_only=False), np.int64)


def _dt(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def _empty_routes() -> pa.Table:
    from ..analysis.trips import ROUTE

    return ROUTE.empty_table()


def _empty_anchors() -> pa.Table:
    from ..analysis.anchors import ANCHOR

    return ANCHOR.empty_table()


def _coverage(db: Database, entity: str, lo: datetime | None, hi: datetime | None, tz: str) -> Coverage:
    """Coverage of ``[lo, hi)`` exactly as answers to questions measure it."""
    from ..ask.execute import _NO_COVERAGE, _Run
    from ..ask.timeexpr import Interval, Period

    if lo is None or hi is None or hi <= lo:
        return _NO_COVERAGE
    period = Period("the report period", (Interval(lo, hi),), tz)
    cov, _ = _Run(db, tz, None).coverage(entity, period)
    return cov


def _days(fixes: pa.Table, coverage: Coverage, tz: str) -> list[DayCoverage]:
    """Per local day: hours in the period, hours with data (the period minus the coverage gaps)
    and fixes."""
    from ..ask.timeexpr import zone

    if coverage.start is None or coverage.end is None:
        return []
    z = zone(tz)
    t = np.sort(_us(fixes, "t")) if fixes.num_rows else np.zeros(0, np.int64)
    day = coverage.start.astimezone(z).date()
    last = (coverage.end - timedelta(microseconds=1)).astimezone(z).date()
    out: list[DayCoverage] = []
    while day <= last:
        d0 = datetime(day.year, day.month, day.day, tzinfo=z).astimezone(UTC)
        nxt = day + timedelta(days=1)
        d1 = datetime(nxt.year, nxt.month, nxt.day, tzinfo=z).astimezone(UTC)
        a, b = max(d0, coverage.start), min(d1, coverage.end)
        span = max((b - a).total_seconds(), 0.0)
        missing = sum(max((min(b, g.end) - max(a, g.start)).total_seconds(), 0.0) for g in coverage.gaps)
        n = int(np.searchsorted(t, int(d1.timestamp() * 1e6)) - np.searchsorted(t, int(d0.timestamp() * 1e6)))
        out.append(DayCoverage(day, span / 3600.0, max(span - missing, 0.0) / 3600.0, n))
        day = nxt
    return out


def _categories(anchors: pa.Table) -> dict[str, str]:
    """place id -> home / work / regular from the anchors that did not abstain (home wins)."""
    out: dict[str, str] = {}
    rank = {c: i for i, c in enumerate(CATEGORIES)}
    for r in anchors.to_pylist():
        pid = r.get("place_id")
        if r.get("abstained") or not pid or r.get("label") not in rank:
            continue
        if pid not in out or rank[r["label"]] < rank[out[pid]]:
            out[pid] = str(r["label"])
    return out


def _hours(s: float) -> str:
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min"


def _stats(p: Profile) -> list[Stat]:
    """The mobility statistics of the summary table."""
    out: list[Stat] = []
    cov = p.coverage
    out.append(
        Stat(
            "Fixes",
            f"{p.n_fixes:,}",
            "Stored positions of the entity's devices in the period (a count, not an inference).",
        )
    )
    out.append(
        Stat(
            "Data coverage",
            f"{cov.hours_with_data:.1f} of {cov.hours:.1f} h ({cov.fraction:.0%}), {len(cov.gaps)} gaps"
            if cov.hours
            else "no data",
            "Hours of the period with fixes; a silence of more than an hour between fixes is a gap "
            "(the same measure answers to questions report).",
        )
    )
    stays, trips = p.stays, p.trips
    dur = (_us(stays, "end") - _us(stays, "start")) / 1e6 if stays.num_rows else np.zeros(0)
    out.append(
        Stat(
            "Stays",
            f"{stays.num_rows:,}" + (f" (median {_hours(float(np.median(dur)))})" if dur.size else ""),
            "Dwell episodes found by the default stay detector (accuracy-aware, tolerant of outliers).",
            ("stays.precision", "stays.recall", "stays.f1"),
        )
    )
    out.append(
        Stat(
            "Places",
            f"{p.places.num_rows:,}",
            "Stays clustered within 100 m (dwell-weighted leader clustering).",
            ("places.precision", "places.recall", "places.f1"),
        )
    )
    if stays.num_rows and dur.sum() > 0:
        cat = stays.column("category").to_pylist()
        home = float(sum(d for d, c in zip(dur.tolist(), cat, strict=True) if c == "home"))
        out.append(
            Stat(
                "Time at home",
                f"{home / dur.sum():.0%} of the time in stays",
                "Dwell at the inferred home place(s) over all stay dwell.",
                ("home.top1",),
            )
        )
    km = float(pc.sum(trips.column("distance_m")).as_py() or 0.0) / 1000 if trips.num_rows else 0.0
    days_with_data = sum(1 for d in p.days if d.hours_with_data >= 1.0)
    out.append(
        Stat(
            "Trips",
            f"{trips.num_rows:,}, {km:.1f} km"
            + (f" ({km / days_with_data:.1f} km per day with data)" if days_with_data else ""),
            "Movement between consecutive stays; distance along the smoothed, simplified path "
            "(recording gaps crossed in a straight line).",
            ("trips.precision", "trips.recall", "trips.f1"),
        )
    )
    if trips.num_rows:
        modes = [m or "unknown" for m in trips.column("mode").to_pylist()]
        shares = sorted({m: modes.count(m) for m in modes}.items(), key=lambda kv: (-kv[1], kv[0]))
        out.append(
            Stat(
                "Modes",
                ", ".join(f"{m} {n / len(modes):.0%}" for m, n in shares),
                "Share of trips by guessed mode (rules on the speed profile).",
                ("modes.accuracy", "trips.mode_accuracy"),
            )
        )
        tdur = np.asarray(trips.column("duration_s").to_numpy(zero_copy_only=False), np.float64)
        out.append(
            Stat(
                "Trip duration",
                f"median {_hours(float(np.nanmedian(tdur)))}",
                "From the end of one stay to the start of the next.",
                ("trips.f1",),
            )
        )
    out.append(
        Stat(
            "Habitual routes",
            f"{p.routes.num_rows:,}",
            "Trips between the same two places grouped by path shape (discrete Fréchet distance "
            "≤ 200 m), at least 2 trips each.",
            ("routes.precision", "routes.recall"),
        )
    )
    reg = p.regularity
    if reg:

        def km_(v: Any) -> str:
            return "–" if v is None or not math.isfinite(float(v)) else f"{float(v):.2f} km"

        out.append(
            Stat(
                "Radius of gyration",
                f"{km_(reg.get('radius_of_gyration_km'))} (stays), {km_(reg.get('radius_of_gyration_fixes_km'))} (fixes)",
                "Root mean square distance from the centre of mass: of the places weighted by dwell, "
                "and of the fixes.",
                ("places.f1",),
            )
        )
        lz = reg.get("entropy_lz")
        out.append(
            Stat(
                "Entropy",
                (f"{lz:.2f} bits (Lempel-Ziv), " if lz is not None else "")
                + f"{reg['entropy_uncorrelated']:.2f} bits (uncorrelated)",
                "Entropy of the sequence of hourly places (Song et al. 2010); lower is more regular.",
                ("stays.f1", "places.f1"),
            )
        )
        pm = reg.get("predictability_max")
        if pm is not None:
            out.append(
                Stat(
                    "Predictability bound",
                    f"{pm:.0%}",
                    "Upper bound Π_max on predicting the hourly place, from Fano's inequality on the entropy.",
                    ("stays.f1", "places.f1"),
                )
            )
        visit_shares = [reg.get(f"visit_share_{k}") for k in (1, 2, 3)]
        if visit_shares[0] is not None:
            out.append(
                Stat(
                    "Top places",
                    ", ".join(f"{v:.0%}" for v in visit_shares if v is not None) + " of visits",
                    "Share of visits to the three most visited places.",
                    ("places.f1",),
                )
            )
    return out
