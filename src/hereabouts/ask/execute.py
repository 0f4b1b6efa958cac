"""Run a parsed query against a :class:`~hereabouts.Database` and answer it with evidence.

Every :class:`Answer` carries the query said back in plain words, a short text, a structured result
(an Arrow table), a confidence, the evidence (stays, fixes or trips with their times), the coverage
of the data in the period asked about (hours with fixes and the gaps between them) and the ids of the
imports (sources) the evidence came from.

Supported now: where at / during, top places, visits, time spent, first / last visit, trips, stats,
who was in an area, anchors (home / work), and comparisons of those over two periods. Together,
routine, anomalies and prediction answer "not available yet" (their engine parts are not wired in);
refusals and questions not understood answer with their reason or suggestions.

Confidence is the mean confidence of the evidence stays (or trips' mode confidence, or the anchor's
own); it says how sure the detection was, while :class:`Coverage` says how much of the period had
data. A place reference resolves to circles: a named place or place id to the place's centre and
extent (at least 100 m), coordinates to 100 m around them, a town to its places, "within N m of" to
N metres around what it refers to.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..analysis._geo import haversine_m
from ..model.errors import HereaboutsError
from . import query as q
from .timeexpr import Interval, Period, Recurrence

if TYPE_CHECKING:  # pragma: no cover
    from .._db import Database

__all__ = ["Answer", "Coverage", "ask", "entity_zone", "execute"]

GAP_S = 3600.0  # a silence longer than this between fixes is a gap in coverage
POINT_RADIUS_M = 100.0
NEAR_FIX_S = 1800.0
MARGIN = timedelta(
    days=1
)  # stays and trips are detected this far beyond a period, then cut to it  # a fix this close in time tells where an entity was when no stay covers the instant


@dataclass(frozen=True)
class Coverage:
    """How much of the period asked about had data."""

    start: datetime | None
    end: datetime | None
    hours: float
    hours_with_data: float
    n_fixes: int
    gaps: tuple[Interval, ...]

    @property
    def fraction(self) -> float:
        return self.hours_with_data / self.hours if self.hours > 0 else 0.0

    def describe(self) -> str:
        if self.n_fixes == 0:
            return "no data in that period"
        s = f"{self.n_fixes} fixes covering {self.hours_with_data:.1f} of {self.hours:.1f} hours ({self.fraction:.0%})"
        if self.gaps:
            s += f", {len(self.gaps)} gap{'s' if len(self.gaps) != 1 else ''} longer than {GAP_S / 3600:g} h"
        return s

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "hours": self.hours,
            "hours_with_data": self.hours_with_data,
            "n_fixes": self.n_fixes,
            "gaps": [[g.start.isoformat(), g.end.isoformat()] for g in self.gaps],
        }


_NO_COVERAGE = Coverage(None, None, 0.0, 0.0, 0, ())


@dataclass(frozen=True)
class Answer:
    """The answer to one query."""

    query: q.Query
    said: str
    text: str
    result: pa.Table
    confidence: float | None = None
    evidence: pa.Table = field(default_factory=lambda: pa.table({}))
    coverage: Coverage = _NO_COVERAGE
    provenance: tuple[int, ...] = ()
    available: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query.to_dict(),
            "said": self.said,
            "text": self.text,
            "result": _rows(self.result),
            "confidence": self.confidence,
            "evidence": _rows(self.evidence),
            "coverage": self.coverage.to_dict(),
            "provenance": list(self.provenance),
            "available": self.available,
        }


def _rows(t: pa.Table) -> list[dict[str, Any]]:
    out = []
    for r in t.to_pylist():
        out.append({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()})
    return out


# ------------------------------------------------------------------ helpers


def _window(period: Period | None) -> tuple[datetime | None, datetime | None]:
    return (period.start, period.end) if period is not None else (None, None)


def _widen(period: Period | None) -> tuple[datetime | None, datetime | None]:
    return (period.start - MARGIN, period.end + MARGIN) if period is not None else (None, None)


def _us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def _dt(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def _times(table: pa.Table, name: str) -> np.ndarray[Any, np.dtype[np.int64]]:
    col = table.column(name).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(col.to_numpy(zero_copy_only=False), np.int64)


def _floats(table: pa.Table, name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), np.float64)


def _fmt(t: datetime, tz: str) -> str:
    from .timeexpr import zone

    return t.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M")


def _hours(s: float) -> str:
    h = s / 3600.0
    return f"{h:.1f} h" if h >= 1 else f"{s / 60:.0f} min"


class _Run:
    """State for one execution: the database, the zone answers are said in, caches."""

    def __init__(self, db: Database, tz: str, places: Mapping[str, Any] | None) -> None:
        self.db = db
        self.tz = tz
        self.named = {k.lower(): v for k, v in (places or {}).items()}
        self._stays: dict[tuple[str, datetime | None, datetime | None], pa.Table] = {}
        self._places: dict[str, pa.Table] = {}
        self._known: set[str] | None = None

    def known(self) -> set[str]:
        if self._known is None:
            self._known = set(self.db.entity_names())
        return self._known

    def stays(self, entity: str, period: Period | None = None) -> pa.Table:
        """Stays detected on the fixes of the period widened by :data:`MARGIN` on each side (a stay
        that runs across the period's edges is found whole; callers clip it with :func:`_clip`)."""
        start, end = _widen(period)
        key = (entity, start, end)
        if key not in self._stays:
            self._stays[key] = self.db.stays(entity, start=start, end=end)
        return self._stays[key]

    def places(self, entity: str) -> pa.Table:
        if entity not in self._places:
            st = self.stays(entity)
            self._places[entity] = self.db.places(entity, stays=st) if st.num_rows else pa.table({})
        return self._places[entity]

    def coverage(self, entity: str | None, period: Period | None) -> tuple[Coverage, tuple[int, ...]]:
        start, end = _window(period)
        fixes = self.db.fixes(entity, start=start, end=end)
        sources = tuple(sorted({int(s) for s in fixes.column("source_id").to_pylist() if s is not None}))
        if fixes.num_rows == 0:
            hours = period.hours() if period is not None else 0.0
            gaps = period.intervals if period is not None else ()
            return Coverage(start, end, hours, 0.0, 0, gaps), sources
        t = np.sort(_times(fixes, "t"))
        lo = _us(start) if start is not None else int(t[0])
        hi = _us(end) if end is not None else int(t[-1])
        edges = np.concatenate([[lo], t, [hi]])
        d = np.diff(edges)
        big = np.flatnonzero(d > GAP_S * 1e6)
        gaps = tuple(Interval(_dt(edges[i]), _dt(edges[i + 1])) for i in big)
        total = max(hi - lo, 0) / 3.6e9
        missing = float(d[big].sum()) / 3.6e9
        return Coverage(_dt(lo), _dt(hi), total, max(total - missing, 0.0), int(t.shape[0]), gaps), sources

    # ---------------------------------------------------------- place references

    def circles(self, entity: str | None, ref: q.PlaceRef) -> list[tuple[float, float, float, str]]:
        """(lat, lon, radius_m, label) circles a reference stands for; empty when unknown."""
        if isinstance(ref, q.Near):
            return [
                (la, lo, ref.radius_m, f"within {ref.radius_m:g} m of {lb}")
                for la, lo, _, lb in self.circles(entity, ref.ref)
            ]
        if isinstance(ref, q.Coordinates):
            return [(ref.lat, ref.lon, POINT_RADIUS_M, ref.describe())]
        if isinstance(ref, q.AnchorRef):
            if entity is None:
                return []
            anchors = self.anchors(entity)
            rows = [r for r in anchors.to_pylist() if r["label"] == ref.anchor and not r.get("abstained")]
            return [
                (float(r["lat"]), float(r["lon"]), POINT_RADIUS_M, str(ref.anchor))
                for r in rows
                if r["lat"] is not None
            ][:1]
        if isinstance(ref, q.NamedPlace) and ref.name.lower() in self.named:
            v = self.named[ref.name.lower()]
            if isinstance(v, tuple | list) and len(v) >= 2:
                radius = float(v[2]) if len(v) > 2 else POINT_RADIUS_M
                return [(float(v[0]), float(v[1]), radius, ref.name)]
            if isinstance(v, str):
                return self.circles(entity, q.PlaceId(v))
        tables = (
            [self.places(entity)] if entity is not None else [self.places(e) for e in self.db.entity_names()]
        )
        out: list[tuple[float, float, float, str]] = []
        for places in tables:
            if places.num_rows == 0:
                continue
            for r in places.to_pylist():
                hit = False
                if isinstance(ref, q.PlaceId):
                    hit = r["place_id"] == ref.place_id
                elif isinstance(ref, q.Town):
                    hit = (r.get("town") or "").lower() == ref.name.lower()
                elif isinstance(ref, q.NamedPlace):
                    hit = (r.get("label") or "").lower() == ref.name.lower() or r["place_id"] == ref.name
                if hit:
                    radius = max(float(r.get("extent_m") or 0.0), POINT_RADIUS_M)
                    out.append((r["lat"], r["lon"], radius, r["place_id"]))
        return out

    def anchors(self, entity: str) -> pa.Table:
        from ..analysis import anchors as anchors_mod

        st = self.stays(entity)
        places = self.places(entity)
        if st.num_rows == 0 or places.num_rows == 0:
            return pa.table({"label": pa.array([], pa.string())})
        return anchors_mod.infer_anchors(st, places, tz=self.tz)


def _inside(
    table: pa.Table, circles: Sequence[tuple[float, float, float, str]], lat: str = "lat", lon: str = "lon"
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    if table.num_rows == 0 or not circles:
        return np.zeros(table.num_rows, bool)
    la, lo = _floats(table, lat), _floats(table, lon)
    ok = np.zeros(table.num_rows, bool)
    for c_lat, c_lon, radius, _ in circles:
        ok |= np.asarray(haversine_m(la, lo, c_lat, c_lon)) <= radius
    return ok


def _clip(stays: pa.Table, period: Period | None, rec: Recurrence | None) -> pa.Table:
    """Stays cut to the period's intervals and the recurrence, with their ``duration_s`` there."""
    if stays.num_rows == 0:
        return stays.append_column("duration_s", pa.array([], pa.float64()))
    s, e = _times(stays, "start"), _times(stays, "end")
    windows: list[tuple[int, int]] | None = None
    if period is not None:
        windows = [(_us(iv.start), _us(iv.end)) for iv in period.intervals]
    if rec is not None:
        lo = _dt(int(s.min())) if period is None else period.start
        hi = _dt(int(e.max())) if period is None else period.end
        rec_ivs = [(_us(iv.start), _us(iv.end)) for iv in rec.intervals(lo, hi)]
        if windows is None:
            windows = rec_ivs
        else:
            windows = [
                (max(a, c), min(b, d)) for a, b in windows for c, d in rec_ivs if min(b, d) > max(a, c)
            ]
    if windows is None:
        dur = (e - s) / 1e6
    else:
        dur = np.zeros(stays.num_rows)
        for a, b in windows:
            dur += np.clip(np.minimum(e, b) - np.maximum(s, a), 0, None) / 1e6
    keep = dur > 0
    out = stays.append_column("duration_s", pa.array(dur, pa.float64()))
    return out.filter(pa.array(keep))


def _mean_conf(table: pa.Table, col: str = "confidence") -> float | None:
    if table.num_rows == 0 or col not in table.column_names:
        return None
    v = pc.mean(table.column(col)).as_py()
    return None if v is None else round(float(v), 3)


def _stay_evidence(stays: pa.Table) -> pa.Table:
    cols = [
        c
        for c in ("entity", "start", "end", "lat", "lon", "confidence", "duration_s", "place_id")
        if c in stays.column_names
    ]
    ev = stays.select(cols)
    return ev.append_column("kind", pa.array(["stay"] * ev.num_rows, pa.string()))


# ------------------------------------------------------------------ executors


def execute(
    db: Database,
    query: q.Query,
    *,
    tz: str | None = None,
    places: Mapping[str, Any] | None = None,
) -> Answer:
    """Answer ``query`` from ``db``. ``tz`` is the zone answers are said in (default: the query's own
    period or moment zone, else UTC); ``places`` maps place names to ``(lat, lon[, radius_m])`` or a
    place id. Errors the engine raises on purpose (an unknown entity...) become an answer that says so."""
    zone_name = tz or _query_tz(query) or "UTC"
    run = _Run(db, zone_name, places)
    try:
        return _dispatch(run, query)
    except HereaboutsError as exc:
        return Answer(query, query.describe(), f"Could not answer: {exc}", pa.table({}), available=False)


def _query_tz(query: object) -> str | None:
    if not dataclasses.is_dataclass(query):
        return None
    for f in dataclasses.fields(query):
        v = getattr(query, f.name)
        if hasattr(v, "tz") and isinstance(v.tz, str):
            return str(v.tz)
        if dataclasses.is_dataclass(v):
            inner = _query_tz(v)
            if inner:
                return inner
    return None


def _dispatch(run: _Run, query: q.Query) -> Answer:
    said = query.describe()
    if isinstance(query, q.Refusal):
        return Answer(query, said, f"Not answered: {query.reason}", pa.table({}), available=False)
    if isinstance(query, q.NotUnderstood):
        tips = "; ".join(f'"{s}"' for s in query.suggestions)
        text = f"I did not understand that ({query.detail})." + (
            f" Questions like these work: {tips}." if tips else ""
        )
        return Answer(query, said, text, pa.table({"suggestion": list(query.suggestions)}), available=False)
    handler = _HANDLERS.get(type(query))
    missing = [e for e in _entities_of(query) if e not in run.known()]
    if missing and handler is not None:
        names = ", ".join(sorted(run.known())[:10]) or "(none imported)"
        return Answer(
            query,
            said,
            f"No entity named {missing[0]!r}; known entities: {names}.",
            pa.table({}),
            available=False,
        )
    if handler is None:
        return Answer(
            query,
            said,
            f"Not available yet: {said}. hereabouts parses this question but does not answer it in this "
            "version.",
            pa.table({}),
            available=False,
        )
    return handler(run, query)


def _entities_of(query: object) -> list[str]:
    out: list[str] = []
    for name in ("entity", "entity_a", "entity_b"):
        v = getattr(query, name, None)
        if isinstance(v, str):
            out.append(v)
    inner = getattr(query, "query", None)
    if inner is not None:
        out += _entities_of(inner)
    return out


def _where_at(run: _Run, query: Any) -> Answer:
    assert isinstance(query, q.WhereAt)
    at = query.at.at
    day = Period("around then", (Interval(at - timedelta(hours=12), at + timedelta(hours=12)),), run.tz)
    stays = run.stays(query.entity, day)
    cov, src = run.coverage(query.entity, day)
    t = _us(at)
    if stays.num_rows:
        s, e = _times(stays, "start"), _times(stays, "end")
        hit = np.flatnonzero((s <= t) & (t < e))
        if hit.shape[0]:
            row = stays.slice(int(hit[0]), 1)
            r = row.to_pylist()[0]
            text = (
                f"{query.entity} was staying at {r['lat']:.5f}, {r['lon']:.5f} from {_fmt(r['start'], run.tz)} "
                f"to {_fmt(r['end'], run.tz)} ({run.tz})."
            )
            return Answer(
                query,
                query.describe(),
                text,
                row.select(["entity", "start", "end", "lat", "lon"]),
                _mean_conf(row),
                _stay_evidence(row),
                cov,
                src,
            )
    fixes = run.db.fixes(
        query.entity, start=at - timedelta(seconds=NEAR_FIX_S), end=at + timedelta(seconds=NEAR_FIX_S)
    )
    if fixes.num_rows:
        ft = _times(fixes, "t")
        i = int(np.argmin(np.abs(ft - t)))
        row = fixes.slice(i, 1).select(["device", "t", "lat", "lon", "accuracy_m", "source_id"])
        r = row.to_pylist()[0]
        text = (
            f"{query.entity} was not staying anywhere then; the nearest fix, at {_fmt(r['t'], run.tz)}, puts it at "
            f"{r['lat']:.5f}, {r['lon']:.5f} (moving)."
        )
        ev = row.append_column("kind", pa.array(["fix"], pa.string()))
        return Answer(query, query.describe(), text, row, 0.5, ev, cov, src)
    return Answer(
        query,
        query.describe(),
        f"No data for {query.entity} within {NEAR_FIX_S / 60:.0f} minutes of "
        f"{_fmt(at, run.tz)}; {cov.describe()} in the 24 hours around it.",
        pa.table({}),
        None,
        pa.table({}),
        cov,
        src,
    )


def _where_during(run: _Run, query: Any) -> Answer:
    assert isinstance(query, q.WhereDuring)
    stays = _clip(run.stays(query.entity, query.period), query.period, None)
    cov, src = run.coverage(query.entity, query.period)
    if stays.num_rows == 0:
        return Answer(
            query,
            query.describe(),
            f"{query.entity} made no stays then; {cov.describe()}.",
            pa.table({}),
            None,
            pa.table({}),
            cov,
            src,
        )
    result = stays.select(["entity", "start", "end", "lat", "lon", "duration_s"])
    text = (
        f"{query.entity} made {stays.num_rows} stays: "
        + "; ".join(
            f"{_fmt(r['start'], run.tz)}–{_fmt(r['end'], run.tz)} at {r['lat']:.4f}, {r['lon']:.4f}"
            for r in result.to_pylist()[:5]
        )
        + ("…" if stays.num_rows > 5 else "")
        + f" ({run.tz})."
    )
    return Answer(query, query.describe(), text, result, _mean_conf(stays), _stay_evidence(stays), cov, src)


def _places_of(run: _Run, entity: str, stays: pa.Table) -> pa.Table:
    from ..analysis.places import assign_places

    places = run.places(entity)
    if stays.num_rows == 0 or places.num_rows == 0:
        return stays.append_column("place_id", pa.array([None] * stays.num_rows, pa.string()))
    return stays.append_column("place_id", assign_places(stays, places).cast(pa.string()))


def _top_places(run: _Run, query: Any) -> Answer:
    assert isinstance(query, q.TopPlaces)
    stays = _clip(run.stays(query.entity, query.period), query.period, query.recurrence)
    cov, src = run.coverage(query.entity, query.period)
    if stays.num_rows == 0:
        return Answer(
            query,
            query.describe(),
            f"{query.entity} made no stays then; {cov.describe()}.",
            pa.table({}),
            None,
            pa.table({}),
            cov,
            src,
        )
    stays = _places_of(run, query.entity, stays)
    places = run.places(query.entity)
    info = {r["place_id"]: r for r in places.to_pylist()} if places.num_rows else {}
    agg: dict[str, list[float]] = {}
    for r in stays.select(["place_id", "duration_s"]).to_pylist():
        key = r["place_id"] or "unassigned"
        a = agg.setdefault(key, [0.0, 0.0])
        a[0] += r["duration_s"]
        a[1] += 1
    ranked = sorted(agg.items(), key=lambda kv: -kv[1][0])[: query.n]
    rows = []
    for pid, (dwell, n) in ranked:
        p = info.get(pid, {})
        rows.append(
            {
                "place_id": pid,
                "lat": p.get("lat"),
                "lon": p.get("lon"),
                "town": p.get("town"),
                "dwell_s": dwell,
                "n_stays": int(n),
            }
        )
    result = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("place_id", pa.string()),
                ("lat", pa.float64()),
                ("lon", pa.float64()),
                ("town", pa.string()),
                ("dwell_s", pa.float64()),
                ("n_stays", pa.int64()),
            ]
        ),
    )
    text = (
        f"{len(rows)} places: "
        + "; ".join(
            f"{r['place_id']}{' (' + r['town'] + ')' if r['town'] else ''} {_hours(r['dwell_s'])} over {r['n_stays']} stays"
            for r in rows
        )
        + "."
    )
    return Answer(query, query.describe(), text, result, _mean_conf(stays), _stay_evidence(stays), cov, src)


def _unknown_place(run: _Run, query: Any, entity: str | None, ref: q.PlaceRef) -> Answer:
    return Answer(
        query,
        query.describe(),
        f"No place matches {ref.describe()} in the data of "
        f"{entity or 'any entity'}; name a place id, a town, coordinates, home or work.",
        pa.table({}),
        None,
        pa.table({}),
        _NO_COVERAGE,
        (),
        available=False,
    )


def _visits_table(
    run: _Run, entity: str, ref: q.PlaceRef, period: Period | None, rec: Recurrence | None
) -> tuple[pa.Table, list[tuple[float, float, float, str]]]:
    circles = run.circles(entity, ref)
    stays = _clip(run.stays(entity, period), period, rec)
    return stays.filter(pa.array(_inside(stays, circles))), circles


def _visits(run: _Run, query: Any) -> Answer:
    assert isinstance(query, q.Visits | q.TimeSpent)
    visits, circles = _visits_table(run, query.entity, query.place, query.period, query.recurrence)
    if not circles:
        return _unknown_place(run, query, query.entity, query.place)
    cov, src = run.coverage(query.entity, query.period)
    result = visits.select(["entity", "start", "end", "lat", "lon", "duration_s"])
    total = float(pc.sum(visits.column("duration_s")).as_py() or 0.0) if visits.num_rows else 0.0
    where = q._place(query.entity, query.place)
    if isinstance(query, q.TimeSpent):
        text = (
            f"{query.entity} spent {_hours(total)} at {where} over {visits.num_rows} stays; {cov.describe()}."
        )
        result = pa.table({"entity": [query.entity], "total_s": [total], "n_stays": [visits.num_rows]})
    elif visits.num_rows == 0:
        text = f"{query.entity} did not stay at {where} then; {cov.describe()}."
    else:
        times = [_fmt(r["start"], run.tz) for r in result.to_pylist()]
        text = (
            f"{query.entity} stayed at {where} {visits.num_rows} time{'s' if visits.num_rows != 1 else ''} "
            f"({_hours(total)} in all): {', '.join(times[:5])}{'…' if len(times) > 5 else ''} ({run.tz})."
        )
    return Answer(query, query.describe(), text, result, _mean_conf(visits), _stay_evidence(visits), cov, src)


def _first_last(run: _Run, query: Any) -> Answer:
    assert isinstance(query, q.FirstVisit | q.LastVisit)
    visits, circles = _visits_table(run, query.entity, query.place, None, None)
    if not circles:
        return _unknown_place(run, query, query.entity, query.place)
    cov, src = run.coverage(query.entity, None)
    where = q._place(query.entity, query.place)
    if visits.num_rows == 0:
        return Answer(
            query,
            query.describe(),
            f"{query.entity} never stayed at {where} in the data.",
            pa.table({}),
            None,
            pa.table({}),
            cov,
            src,
        )
    s = _times(visits, "start")
    i = int(np.argmin(s)) if isinstance(query, q.FirstVisit) else int(np.argmax(s))
    row = visits.slice(i, 1)
    r = row.to_pylist()[0]
    which = "first" if isinstance(query, q.FirstVisit) else "most recent"
    text = f"The {which} visit of {query.entity} to {where} was {_fmt(r['start'], run.tz)}–{_fmt(r['end'], run.tz)} ({run.tz})."
    return Answer(
        query,
        query.describe(),
        text,
        row.select(["entity", "start", "end", "lat", "lon", "duration_s"]),
        _mean_conf(row),
        _stay_evidence(row),
        cov,
        src,
    )


def _trip_table(run: _Run, entity: str, period: Period | None) -> pa.Table:
    """Trips that start in the period (found on the fixes of the widened period)."""
    start, end = _widen(period)
    trips = run.db.trips(entity, start=start, end=end)
    if period is None or trips.num_rows == 0:
        return trips
    t = _times(trips, "start")
    keep = np.zeros(trips.num_rows, bool)
    for iv in period.intervals:
        keep |= (t >= _us(iv.start)) & (t < _us(iv.end))
    return trips.filter(pa.array(keep))


def _trips(run: _Run, query: Any) -> Answer:
    assert isinstance(query, q.Trips)
    trips = _trip_table(run, query.entity, query.period)
    keep = np.ones(trips.num_rows, bool)
    for ref, prefix in ((query.origin, "from"), (query.destination, "to")):
        if ref is None:
            continue
        circles = run.circles(query.entity, ref)
        if not circles:
            return _unknown_place(run, query, query.entity, ref)
        keep &= _inside(trips, circles, f"{prefix}_lat", f"{prefix}_lon")
    if query.recurrence is not None and trips.num_rows:
        keep &= np.array([query.recurrence.contains(t) for t in trips.column("start").to_pylist()], bool)
    trips = trips.filter(pa.array(keep))
    cov, src = run.coverage(query.entity, query.period)
    cols = [
        "entity",
        "start",
        "end",
        "from_lat",
        "from_lon",
        "to_lat",
        "to_lon",
        "distance_m",
        "duration_s",
        "mode",
    ]
    result = trips.select([c for c in cols if c in trips.column_names])
    km = float(pc.sum(trips.column("distance_m")).as_py() or 0.0) / 1000 if trips.num_rows else 0.0
    text = (
        f"{trips.num_rows} trip{'s' if trips.num_rows != 1 else ''}, {km:.1f} km in all"
        + (
            ": "
            + "; ".join(
                f"{_fmt(r['start'], run.tz)} {r.get('mode') or ''} {r['distance_m'] / 1000:.1f} km"
                for r in result.to_pylist()[:5]
            )
            if trips.num_rows
            else ""
        )
        + f"; {cov.describe()}."
    )
    ev = result.select(["entity", "start", "end"]).append_column(
        "kind", pa.array(["trip"] * result.num_rows, pa.string())
    )
    return Answer(query, query.describe(), text, result, _mean_conf(trips, "mode_confidence"), ev, cov, src)


def _gyration_m(stays: pa.Table) -> float:
    if stays.num_rows == 0:
        return 0.0
    la, lo, w = _floats(stays, "lat"), _floats(stays, "lon"), _floats(stays, "duration_s")
    if w.sum() <= 0:
        return 0.0
    c_lat, c_lon = float(np.average(la, weights=w)), float(np.average(lo, weights=w))
    d = np.asarray(haversine_m(la, lo, c_lat, c_lon))
    return float(math.sqrt(np.average(d**2, weights=w)))


def _stats(run: _Run, query: Any) -> Answer:
    assert isinstance(query, q.Stats)
    stays = _clip(run.stays(query.entity, query.period), query.period, query.recurrence)
    cov, src = run.coverage(query.entity, query.period)
    values: dict[str, float] = {}
    trips = None
    if "distance" in query.measures or "n_trips" in query.measures:
        trips = _trip_table(run, query.entity, query.period)
        if query.recurrence is not None and trips.num_rows:
            rec = query.recurrence
            trips = trips.filter(
                pa.array([rec.contains(t) for t in trips.column("start").to_pylist()], pa.bool_())
            )
    for m in query.measures:
        if m == "distance":
            assert trips is not None
            values["distance_m"] = (
                float(pc.sum(trips.column("distance_m")).as_py() or 0.0) if trips.num_rows else 0.0
            )
        elif m == "n_trips":
            assert trips is not None
            values["n_trips"] = float(trips.num_rows)
        elif m == "n_places":
            values["n_places"] = (
                float(len(set(_places_of(run, query.entity, stays).column("place_id").to_pylist()) - {None}))
                if stays.num_rows
                else 0.0
            )
        elif m == "radius_of_gyration":
            values["radius_of_gyration_m"] = _gyration_m(stays)
    words = {
        "distance_m": lambda v: f"travelled {v / 1000:.1f} km",
        "n_trips": lambda v: f"made {v:.0f} trips",
        "n_places": lambda v: f"stayed at {v:.0f} distinct places",
        "radius_of_gyration_m": lambda v: f"ranged with a radius of gyration of {v / 1000:.2f} km",
    }
    text = f"{query.entity} " + ", ".join(words[k](v) for k, v in values.items()) + f"; {cov.describe()}."
    result = pa.table({k: [v] for k, v in values.items()})
    return Answer(query, query.describe(), text, result, _mean_conf(stays), _stay_evidence(stays), cov, src)


def _in_area(run: _Run, query: Any) -> Answer:
    assert isinstance(query, q.InArea)
    rows = []
    evidence = []
    any_circle = False
    for name in run.db.entity_names():
        circles = run.circles(name, query.area) if not isinstance(query.area, q.AnchorRef) else []
        if not circles:
            continue
        any_circle = True
        stays = _clip(run.stays(name, query.period), query.period, None)
        hit = stays.filter(pa.array(_inside(stays, circles)))
        if hit.num_rows:
            s = _times(hit, "start")
            rows.append(
                {
                    "entity": name,
                    "n_stays": hit.num_rows,
                    "first": _dt(int(s.min())),
                    "last": _dt(int(s.max())),
                    "total_s": float(pc.sum(hit.column("duration_s")).as_py() or 0.0),
                }
            )
            evidence.append(_stay_evidence(hit))
    if not any_circle:
        return _unknown_place(run, query, None, query.area)
    cov, src = run.coverage(None, query.period)
    schema = pa.schema(
        [
            ("entity", pa.string()),
            ("n_stays", pa.int64()),
            ("first", pa.timestamp("us", tz="UTC")),
            ("last", pa.timestamp("us", tz="UTC")),
            ("total_s", pa.float64()),
        ]
    )
    result = pa.Table.from_pylist(rows, schema=schema)
    ev = pa.concat_tables(evidence, promote_options="default") if evidence else pa.table({})
    text = (
        f"{len(rows)} entit{'y' if len(rows) == 1 else 'ies'} stayed at {query.area.describe()}: "
        + ", ".join(f"{r['entity']} ({r['n_stays']} stays)" for r in rows)
        + "."
        if rows
        else f"Nobody stayed at {query.area.describe()} then."
    )
    return Answer(query, query.describe(), text, result, _mean_conf(ev) if evidence else None, ev, cov, src)


def _anchors(run: _Run, query: Any) -> Answer:
    assert isinstance(query, q.Anchors)
    table = run.anchors(query.entity)
    cov, src = run.coverage(query.entity, None)
    if table.num_rows == 0:
        return Answer(
            query,
            query.describe(),
            f"{query.entity} has no stays to infer anchors from; {cov.describe()}.",
            pa.table({}),
            None,
            pa.table({}),
            cov,
            src,
        )
    keep = pc.is_in(table.column("label"), pa.array(list(query.kinds), pa.string()))
    table = table.filter(keep)
    parts = []
    for r in table.to_pylist():
        if r.get("abstained"):
            parts.append(f"{r['label']}: not sure enough ({r.get('evidence')})")
        else:
            parts.append(f"{r['label']}: {r['lat']:.5f}, {r['lon']:.5f} (confidence {r['confidence']:.2f})")
    missing = [k for k in query.kinds if k not in set(table.column("label").to_pylist())]
    parts += [f"{k}: none found" for k in missing]
    conf = (
        _mean_conf(table.filter(pc.invert(table.column("abstained"))))
        if "abstained" in table.column_names
        else None
    )
    ev = table.append_column("kind", pa.array(["anchor"] * table.num_rows, pa.string()))
    return Answer(
        query, query.describe(), f"{query.entity} — " + "; ".join(parts) + ".", table, conf, ev, cov, src
    )


def _compare(run: _Run, query: Any) -> Answer:
    assert isinstance(query, q.Compare)
    inner = query.query
    names = {f.name for f in dataclasses.fields(inner)}
    if "period" not in names or type(inner) not in _HANDLERS:
        return Answer(
            query,
            query.describe(),
            f"Not available yet: comparing {inner.describe()}.",
            pa.table({}),
            available=False,
        )
    a = _dispatch(run, dataclasses.replace(inner, period=query.period_a))  # type: ignore[arg-type]
    b = _dispatch(run, dataclasses.replace(inner, period=query.period_b))  # type: ignore[arg-type]
    text = f"{query.period_a.phrase}: {a.text} — {query.period_b.phrase}: {b.text}"
    ra, rb = a.result, b.result
    result = pa.table({})
    if ra.num_rows == 1 and rb.num_rows == 1 and ra.column_names == rb.column_names:
        result = pa.concat_tables([ra, rb]).append_column(
            "period", pa.array([query.period_a.phrase, query.period_b.phrase], pa.string())
        )
    conf = None if a.confidence is None or b.confidence is None else min(a.confidence, b.confidence)
    ev = [t for t in (a.evidence, b.evidence) if t.num_columns]
    return Answer(
        query,
        query.describe(),
        text,
        result,
        conf,
        pa.concat_tables(ev, promote_options="default") if ev else pa.table({}),
        a.coverage,
        tuple(sorted(set(a.provenance) | set(b.provenance))),
    )


_HANDLERS: dict[type, Any] = {
    q.WhereAt: _where_at,
    q.WhereDuring: _where_during,
    q.TopPlaces: _top_places,
    q.Visits: _visits,
    q.TimeSpent: _visits,
    q.FirstVisit: _first_last,
    q.LastVisit: _first_last,
    q.Trips: _trips,
    q.Stats: _stats,
    q.InArea: _in_area,
    q.Anchors: _anchors,
    q.Compare: _compare,
}


# ------------------------------------------------------------------ parse + execute


def entity_zone(db: Database, entity: str) -> str:
    """The IANA zone at the entity's most recent fix (offline lookup), ``UTC`` when unknown."""
    from ..analysis import _localtime

    ents = db.entities().to_pylist()
    row = next((r for r in ents if r["entity"] == entity), None)
    if row is None or row.get("last") is None:
        return "UTC"
    last = row["last"]
    fixes = db.fixes(entity, start=last - timedelta(hours=1), end=last + timedelta(seconds=1))
    if fixes.num_rows == 0:
        return "UTC"
    try:
        zones = _localtime.zones_at(_floats(fixes, "lat")[-1:], _floats(fixes, "lon")[-1:])
    except HereaboutsError:  # timezonefinder missing
        return "UTC"
    return zones[0] if zones else "UTC"


def ask(
    db: Database,
    question: str,
    *,
    now: datetime | None = None,
    tz: str | None = None,
    default_entity: str | None = None,
    places: Mapping[str, Any] | None = None,
) -> Answer:
    """Parse ``question`` against the entities (and aliases) of ``db`` and answer it.

    Times resolve in ``tz``, or else in the zone of the entity the question is about (at its most
    recent fix), or UTC. ``places`` names places (``name -> (lat, lon[, radius_m])`` or a place id).
    Town names are those of the places in the data (looked up only when a question needs one).
    """
    from .parse import parse

    now = now or datetime.now(UTC)
    ents = db.entities().to_pylist()
    names = [str(r["entity"]) for r in ents]
    aliases = {str(a): str(r["entity"]) for r in ents for a in (r.get("aliases") or [])}
    towns_cache: dict[str, str] = {}

    def towns(name: str) -> str | None:
        if not towns_cache:
            for e in names:
                try:
                    st = db.stays(e)
                    table = db.places(e, stays=st) if st.num_rows else None
                except HereaboutsError:  # pragma: no cover - depends on the data
                    continue
                if table is not None and "town" in table.column_names:
                    for t in table.column("town").to_pylist():
                        if t:
                            towns_cache[str(t).lower()] = str(t)
            towns_cache.setdefault("\x00", "")  # computed, even when empty
        return towns_cache.get(name.lower())

    def run_parse(zone_name: str) -> q.Query:
        return parse(
            question,
            entities=names,
            aliases=aliases,
            places=places,
            towns=towns,
            now=now,
            tz=zone_name,
            default_entity=default_entity,
        )

    zone_name = tz or "UTC"
    query = run_parse(zone_name)
    if tz is None:
        who = _entities_of(query)
        if who and who[0] in names:
            zone_name = entity_zone(db, who[0])
            if zone_name != "UTC":
                query = run_parse(zone_name)
    return execute(db, query, tz=zone_name, places=places)
