"""Run a parsed query against a :class:`~hereabouts.Database` and answer it with evidence.

Every :class:`Answer` carries the query said back in plain words, a short text, a structured result
(an Arrow table), a confidence, the evidence (stays, fixes or trips with their times), the coverage
of the data in the period asked about (hours with fixes and the gaps between them) and the ids of the
imports (sources) the evidence came from.

Supported now: where at / during, top places, visits, time spent, first / last visit, trips, stats,
who was in an area, anchors (home / work), the usual places of a routine, co-presence, unusual days
(anomalies), predictions, and comparisons of those over two periods; refusals and questions not
understood answer with their reason or suggestions.

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
from ._store import StoredStays, entity_fixes, fix_summary, fix_times, last_position, names_and_aliases
from .timeexpr import Interval, Period, Recurrence

if TYPE_CHECKING:  # pragma: no cover
    from .._db import Database
    from .llm import LLMConfig

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
    notes: tuple[str, ...] = ()  # how the question was read (e.g. the parser standing in for a model)

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
            "notes": list(self.notes),
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

    def __init__(
        self, db: Database, tz: str, places: Mapping[str, Any] | None, catalog: StoredStays | None = None
    ) -> None:
        self.db = db
        self.tz = tz
        self.named = {k.lower(): v for k, v in (places or {}).items()}
        self._stays: dict[tuple[str, datetime | None, datetime | None], pa.Table] = {}
        self._places: dict[str, pa.Table] = {}
        self._known: set[str] | None = None
        self._stored: StoredStays | None = catalog

    def known(self) -> set[str]:
        if self._known is None:
            self._known = set(names_and_aliases(self.db, self.stored)[0])
        return self._known

    @property
    def stored(self) -> StoredStays:
        """The stays kept by ``Database.analyze`` (for the entities whose analysis is current)."""
        if self._stored is None:
            self._stored = StoredStays.of(self.db)
        return self._stored

    def stays(self, entity: str, period: Period | None = None) -> pa.Table:
        """The stays overlapping the period widened by :data:`MARGIN` on each side (callers clip them
        with :func:`_clip`): the stored ones when the entity's analysis is current, else those
        detected on the fixes of the widened period (a stay across the period's edges found whole)."""
        start, end = _widen(period)
        key = (entity, start, end)
        if key not in self._stays:
            st = self.stored.stays(entity, start, end)
            self._stays[key] = st if st is not None else self.db.stays(entity, start=start, end=end)
        return self._stays[key]

    def fixes(
        self,
        entity: str,
        start: datetime | None,
        end: datetime | None,
        columns: tuple[str, ...] | None = None,
    ) -> pa.Table:
        """``db.fixes(entity, start=start, end=end)``, in one query on the DuckDB store (there only
        ``entity`` and ``columns``, when given)."""
        fast = entity_fixes(self.db, entity, start, end, self.stored, columns)
        return fast if fast is not None else self.db.fixes(entity, start=start, end=end)

    def places(self, entity: str) -> pa.Table:
        if entity not in self._places:
            st = self.stays(entity)
            self._places[entity] = self.db.places(entity, stays=st) if st.num_rows else pa.table({})
        return self._places[entity]

    def coverage(self, entity: str | None, period: Period | None) -> tuple[Coverage, tuple[int, ...]]:
        start, end = _window(period)
        summary = fix_summary(self.db, start, end, int(GAP_S * 1e6), self.stored) if entity is None else None
        if summary is not None:  # everyone's fixes: summed up in the database
            n, first, last, inner, sources = summary
            if n == 0:
                hours = period.hours() if period is not None else 0.0
                return Coverage(start, end, hours, 0.0, 0, period.intervals if period else ()), sources
            lo = _us(start) if start is not None else first
            hi = _us(end) if end is not None else last
            spans = [(lo, first), *inner, (last, hi)]
            silences = [(a, b) for a, b in spans if b - a > GAP_S * 1e6]
            total = max(hi - lo, 0) / 3.6e9
            missing = sum(b - a for a, b in silences) / 3.6e9
            gaps = tuple(Interval(_dt(a), _dt(b)) for a, b in silences)
            return Coverage(_dt(lo), _dt(hi), total, max(total - missing, 0.0), n, gaps), sources
        fast = fix_times(self.db, entity, start, end, self.stored)
        if fast is not None:
            t, sources = fast
        else:
            fixes = self.db.fixes(entity, start=start, end=end)
            sources = tuple(sorted({int(s) for s in fixes.column("source_id").to_pylist() if s is not None}))
            t = np.sort(_times(fixes, "t")) if fixes.num_rows else np.empty(0, np.int64)
        if t.shape[0] == 0:
            hours = period.hours() if period is not None else 0.0
            gaps = period.intervals if period is not None else ()
            return Coverage(start, end, hours, 0.0, 0, gaps), sources
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
    _catalog: StoredStays | None = None,
) -> Answer:
    """Answer ``query`` from ``db``. ``tz`` is the zone answers are said in (default: the query's own
    period or moment zone, else UTC); ``places`` maps place names to ``(lat, lon[, radius_m])`` or a
    place id. Errors the engine raises on purpose (an unknown entity...) become an answer that says so."""
    zone_name = tz or _query_tz(query) or "UTC"
    run = _Run(db, zone_name, places, _catalog)
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
    fixes = run.fixes(query.entity, at - timedelta(seconds=NEAR_FIX_S), at + timedelta(seconds=NEAR_FIX_S))
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
    stored = run.stored.stays(entity, start, end)
    if stored is not None:  # the stored stays and the fixes between them: no stay detection here
        from ..analysis.trips import build_trips

        # build_trips reads the entity, times, positions and speeds of the fixes, by row
        fixes = run.fixes(entity, start, end, ("t", "lat", "lon", "speed_mps"))
        fixes = fixes.set_column(0, "entity", pa.array([entity] * fixes.num_rows, pa.string()))
        places = run.places(entity)
        trips = build_trips(fixes, stored, places=places if places.num_rows else None)
    else:
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


def _global_circles(run: _Run, ref: q.PlaceRef) -> list[tuple[float, float, float, str]] | None:
    """The circles of a reference that means the same place for every entity (coordinates, a place
    named with its position), else None."""
    if isinstance(ref, q.Near):
        inner = _global_circles(run, ref.ref)
        return None if inner is None else run.circles(None, ref)
    if isinstance(ref, q.Coordinates):
        return run.circles(None, ref)
    if isinstance(ref, q.NamedPlace):
        v = run.named.get(ref.name.lower())
        if isinstance(v, tuple | list) and len(v) >= 2:
            return run.circles(None, ref)
    return None


def _in_area_stored(run: _Run, query: q.InArea) -> pa.Table | None:
    """The stays of every entity at the area (clipped to the period), from the stored stays with the
    area's box (or, for a town, the period) pushed into the SQL; None when that does not apply."""
    start, end = _widen(query.period)
    circles = _global_circles(run, query.area)
    if circles:
        parts = [run.stored.near(la, lo, r, start, end) for la, lo, r, _ in circles]
        if any(p is None for p in parts):
            return None
        stays = pa.concat_tables([p for p in parts if p is not None])
        if len(circles) > 1:  # a stay in two overlapping circles counts once
            seen: set[tuple[str, int]] = set()
            keep = []
            for e, t in zip(stays.column("entity").to_pylist(), _times(stays, "start").tolist(), strict=True):
                keep.append((e, t) not in seen)
                seen.add((e, t))
            stays = stays.filter(pa.array(keep))
        stays = _clip(stays, query.period, None)
        return stays.filter(pa.array(_inside(stays, circles)))
    if isinstance(query.area, q.Town):
        from ..analysis.gazetteer import gazetteer_available, lookup_towns

        everyone = run.stored.everyone(start, end)
        if everyone is None or not gazetteer_available():
            return None
        stays = _clip(everyone, query.period, None)
        if stays.num_rows:
            towns = lookup_towns(_floats(stays, "lat"), _floats(stays, "lon")).column("town").to_pylist()
            want = query.area.name.lower()
            stays = stays.filter(pa.array([(t or "").lower() == want for t in towns]))
        return stays
    return None


def _in_area(run: _Run, query: Any) -> Answer:
    assert isinstance(query, q.InArea)
    hit = _in_area_stored(run, query)
    any_circle = hit is not None
    if hit is None:
        parts = []
        for name in run.db.entity_names():
            circles = run.circles(name, query.area) if not isinstance(query.area, q.AnchorRef) else []
            if not circles:
                continue
            any_circle = True
            stays = _clip(run.stays(name, query.period), query.period, None)
            parts.append(stays.filter(pa.array(_inside(stays, circles))))
        hit = pa.concat_tables(parts) if parts else None
    rows: list[dict[str, Any]] = []
    if hit is not None and hit.num_rows:
        agg = hit.group_by("entity").aggregate(
            [("start", "count"), ("start", "min"), ("start", "max"), ("duration_s", "sum")]
        )
        for r in agg.sort_by("entity").to_pylist():
            rows.append(
                {
                    "entity": r["entity"],
                    "n_stays": int(r["start_count"]),
                    "first": r["start_min"],
                    "last": r["start_max"],
                    "total_s": float(r["duration_s_sum"] or 0.0),
                }
            )
    evidence = [_stay_evidence(hit)] if hit is not None and hit.num_rows else []
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
        + ", ".join(f"{r['entity']} ({r['n_stays']} stays)" for r in rows[:20])
        + (f" and {len(rows) - 20} more" if len(rows) > 20 else "")
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


def _routine(run: _Run, query: Any) -> Answer:
    """The usual whereabouts in a recurrence (or through the week): the places the entity stayed at
    longest then, over all the data, each with its share of the recurrence's hours that had data."""
    assert isinstance(query, q.Routine)
    top = _top_places(run, q.TopPlaces(query.entity, None, 5, query.recurrence))
    if top.result.num_rows == 0:
        return dataclasses.replace(top, query=query, said=query.describe())
    cov = top.coverage
    lo, hi = cov.start, cov.end
    if lo is None or hi is None:
        return dataclasses.replace(top, query=query, said=query.describe())
    if query.recurrence is not None:
        span_s = sum((iv.end - iv.start).total_seconds() for iv in query.recurrence.intervals(lo, hi))
    else:
        span_s = (hi - lo).total_seconds()
    span_s *= cov.fraction if cov.fraction > 0 else 1.0  # only the hours with data can show a place
    share = [min(1.0, d / span_s) if span_s > 0 else None for d in top.result.column("dwell_s").to_pylist()]
    result = top.result.append_column("share", pa.array(share, pa.float64()))
    when = query.recurrence.describe() if query.recurrence is not None else "through the week"
    parts = [
        f"{r['place_id']}{' (' + r['town'] + ')' if r['town'] else ''} "
        f"{(r['share'] or 0.0):.0%} of the time ({r['n_stays']} stays)"
        for r in result.to_pylist()
    ]
    text = f"{query.entity} is usually, {when}: " + "; ".join(parts) + f"; {cov.describe()}."
    return Answer(query, query.describe(), text, result, top.confidence, top.evidence, cov, top.provenance)


_TOGETHER_CAVEAT = (
    "Co-presence reports times and places, never what the company means: strangers coincide at shared "
    "offices, gyms, shops and buses, and being near someone says nothing about why."
)


def _together(run: _Run, query: Any) -> Answer:
    """Co-presence of two entities (or of one with anyone): the episodes within 50 m for at least
    10 minutes (both fixes' accuracy used, nothing claimed across a recording gap), with places, a
    confidence, the coverage of both, and for a pair its significance against chance."""
    assert isinstance(query, q.Together)
    from ..analysis.copresence import pair_significance

    start, end = _window(query.period)
    a, b = query.entity_a, query.entity_b
    if b is not None:
        table = run.db.together(a, b, start, end)
    else:  # a view of some entities (a workspace) finds neighbours among its own entities only
        from .._db import Database as Whole

        among = None if isinstance(run.db, Whole) else sorted(run.known())
        table = run.db.near(a, start, end, among=among)
    if query.period is not None and table.num_rows and len(query.period.intervals) > 1:
        s, e = _times(table, "start"), _times(table, "end")
        ok = np.zeros(table.num_rows, bool)
        for iv in query.period.intervals:
            ok |= (s < _us(iv.end)) & (e > _us(iv.start))
        table = table.filter(pa.array(ok))
    cov, src = run.coverage(a, query.period)
    said = query.describe()
    if b is not None:
        cov_b, src_b = run.coverage(b, query.period)
        src = tuple(sorted(set(src) | set(src_b)))
        cover = f"{a}: {cov.describe()}; {b}: {cov_b.describe()}"
    else:
        cover = cov.describe()
    cols = ["other", "start", "end", "duration_s", "lat", "lon", "distance_median_m", "confidence"]
    ev = table.select(cols) if table.num_rows else pa.table({})
    if ev.num_rows:
        ev = ev.append_column("kind", pa.array(["copresence"] * ev.num_rows, pa.string()))
    if table.num_rows == 0:
        who = f"{a} and {b} were" if b is not None else f"Nobody was near {a}; {a} was"
        text = (
            f"{who} never within 50 m of {'each other' if b is not None else 'anyone'} for 10 minutes or more "
            f"{_when_phrase(query.period)}; {cover}. Gaps in the data hide co-presence: none is claimed across them."
        )
        return Answer(query, said, text, table, None, pa.table({}), cov, src)
    total_h = float(pc.sum(table.column("duration_s")).as_py() or 0.0) / 3600.0
    rows = table.to_pylist()
    shown = "; ".join(
        f"{_fmt(r['start'], run.tz)} to {_fmt(r['end'], run.tz)} at {r['lat']:.5f}, {r['lon']:.5f}"
        + ("" if b is not None else f" with {r['other']}")
        for r in rows[:5]
    )
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    if b is not None:
        text = (
            f"{a} and {b} were within 50 m of each other {len(rows)} time{'s' if len(rows) != 1 else ''} "
            f"({_hours(total_h * 3600)} in all) {_when_phrase(query.period)}: {shown}{more}."
        )
        try:
            stays = pa.concat_tables(
                [run.stays(a, query.period), run.stays(b, query.period)], promote_options="default"
            )
            sig = pair_significance(table.drop_columns(["other"]), stays)
        except HereaboutsError:  # pragma: no cover - depends on the data
            sig = pa.table({})
        if sig.num_rows:
            r = sig.to_pylist()[0]
            text += (
                f" Away from the home and work of both: {r['n_away']} episode{'s' if r['n_away'] != 1 else ''}; "
                f"against chance (strangers with the same places and hours) p = {r['p_value']:.3g}"
                + (" (more than chance)." if r["is_tie"] else " (not more than chance).")
            )
    else:
        others = sorted({r["other"] for r in rows})
        text = (
            f"{len(others)} entit{'y was' if len(others) == 1 else 'ies were'} within 50 m of {a} for 10 minutes "
            f"or more {_when_phrase(query.period)} ({', '.join(others[:10])}{'...' if len(others) > 10 else ''}): "
            f"{shown}{more}."
        )
    text += f" {_TOGETHER_CAVEAT} Coverage: {cover}."
    return Answer(query, said, text, table, _mean_conf(table), ev, cov, src)


def _when_phrase(period: Period | None) -> str:
    return period.phrase if period is not None else "in all the data"


def _anomalies(run: _Run, query: Any) -> Answer:
    """Days of the period that break the entity's routine (:func:`hereabouts.analysis.routines.anomalies`:
    a long visit to a place it hardly ever goes to, an absence from a place it is at every week on that
    day, an arrival home or at work hours off its usual time), judged against all its data."""
    from ..analysis.routines import anomalies
    from .timeexpr import localize, zone

    assert isinstance(query, q.Anomalies)
    stays, places = run.stays(query.entity), run.places(query.entity)
    cov, src = run.coverage(query.entity, query.period)
    if stays.num_rows == 0 or places.num_rows == 0:
        text = f"{query.entity} has no stays to learn a routine from; {cov.describe()}."
        return Answer(query, query.describe(), text, pa.table({}), None, pa.table({}), cov, src)
    table = anomalies(stays, places, tz=run.tz)
    if query.period is not None and table.num_rows:
        z = zone(run.tz)
        keep = []
        for d in table.column("day").to_pylist():
            a = localize(datetime.combine(d, datetime.min.time()), z)
            b = localize(datetime.combine(d + timedelta(days=1), datetime.min.time()), z)
            keep.append(any(a < iv.end and iv.start < b for iv in query.period.intervals))
        table = table.filter(pa.array(keep, pa.bool_()))
    where = {
        r["place_id"]: (r["lat"], r["lon"]) for r in places.select(["place_id", "lat", "lon"]).to_pylist()
    }
    pids = table.column("place_id").to_pylist()
    table = table.append_column("lat", pa.array([where.get(p, (None, None))[0] for p in pids], pa.float64()))
    table = table.append_column("lon", pa.array([where.get(p, (None, None))[1] for p in pids], pa.float64()))
    when = _when_words(query.period)
    if table.num_rows == 0:
        text = f"Nothing unusual for {query.entity} {when}: every day kept to its routine; {cov.describe()}."
    else:
        days = sorted({str(d) for d in table.column("day").to_pylist()})
        parts = [f"{r['day']} {r['kind']}: {r['detail']} ({r['routine']})" for r in table.to_pylist()[:5]]
        text = (
            f"{len(days)} unusual day{'s' if len(days) != 1 else ''} for {query.entity} {when}: "
            + "; ".join(parts)
            + ("…" if table.num_rows > 5 else "")
            + f"; {cov.describe()}."
        )
    ev = table.select(["entity", "day", "kind", "place_id", "lat", "lon"])
    ev = ev.append_column("evidence", pa.array(["anomaly"] * ev.num_rows, pa.string()))
    return Answer(query, query.describe(), text, table, None, ev, cov, src)


def _when_words(period: Period | None) -> str:
    return period.describe() if period is not None else "over all the data"


def _predict(run: _Run, query: Any) -> Answer:
    """Where the entity is likely to be at an instant, from the stays before it
    (:func:`hereabouts.analysis.predict.fit_predictor`: the places it is at in that hour of the week)."""
    from ..analysis.predict import fit_predictor

    assert isinstance(query, q.Predict)
    at = query.at.at
    stays = run.stays(query.entity)
    if stays.num_rows:
        stays = stays.filter(pc.less(stays.column("start"), pa.scalar(at, pa.timestamp("us", tz="UTC"))))
    places = run.places(query.entity)
    cov, src = run.coverage(query.entity, None)
    if stays.num_rows == 0 or places.num_rows == 0:
        text = f"{query.entity} has no stays before {_fmt(at, run.tz)} to predict from; {cov.describe()}."
        return Answer(query, query.describe(), text, pa.table({}), None, pa.table({}), cov, src)
    table = fit_predictor(stays, places, tz=run.tz, until=at).predict(query.entity, at, top=3)
    table = table.select(["entity", "at", "place_id", "lat", "lon", "probability", "rank", "support"])
    parts = []
    for r in table.to_pylist():
        where = f"{r['place_id']} ({r['lat']:.5f}, {r['lon']:.5f})" if r["place_id"] else "elsewhere"
        parts.append(f"{where} {r['probability']:.0%}")
    top = table.to_pylist()[0]
    text = (
        f"At {_fmt(at, run.tz)} ({run.tz}) {query.entity} is most likely at "
        + "; ".join(parts)
        + f" — from {top['support']:g} weeks of history at that hour of the week; {cov.describe()}."
    )
    ev = table.select(["entity", "place_id", "lat", "lon", "probability"])
    ev = ev.append_column("kind", pa.array(["prediction"] * ev.num_rows, pa.string()))
    return Answer(query, query.describe(), text, table, round(float(top["probability"]), 3), ev, cov, src)


_HANDLERS: dict[type, Any] = {
    q.Anomalies: _anomalies,
    q.Predict: _predict,
    q.Routine: _routine,
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
    q.Together: _together,
}


# ------------------------------------------------------------------ parse + execute


def entity_zone(db: Database, entity: str, catalog: StoredStays | None = None) -> str:
    """The IANA zone at the entity's most recent fix (offline lookup), ``UTC`` when unknown."""
    if catalog is not None and catalog.store is not None:  # kept while the store is unchanged
        if entity not in catalog.zones:
            catalog.zones[entity] = _entity_zone(db, entity, catalog)
        return catalog.zones[entity]
    return _entity_zone(db, entity, catalog)


def _entity_zone(db: Database, entity: str, catalog: StoredStays | None) -> str:
    from ..analysis import _localtime

    pos = last_position(db, entity, catalog)
    if pos is not None:
        lat, lon = np.array([pos[0]]), np.array([pos[1]])
    else:
        ents = db.entities().to_pylist()
        row = next((r for r in ents if r["entity"] == entity), None)
        if row is None or row.get("last") is None:
            return "UTC"
        last = row["last"]
        fixes = db.fixes(entity, start=last - timedelta(hours=1), end=last + timedelta(seconds=1))
        if fixes.num_rows == 0:
            return "UTC"
        lat, lon = _floats(fixes, "lat")[-1:], _floats(fixes, "lon")[-1:]
    try:
        zones = _localtime.zones_at(lat, lon)
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
    llm: LLMConfig | None = None,
) -> Answer:
    """Parse ``question`` against the entities (and aliases) of ``db`` and answer it.

    Times resolve in ``tz``, or else in the zone of the entity the question is about (at its most
    recent fix), or UTC. ``places`` names places (``name -> (lat, lon[, radius_m])`` or a place id).
    Town names are those of the places in the data (looked up only when a question needs one).
    With ``llm``, a language model translates the question instead (:mod:`hereabouts.ask.llm`);
    a question the parser refuses is never sent, and when the model fails the parser's reading is
    answered, with a note saying so.
    """
    from .parse import parse

    now = now or datetime.now(UTC)
    catalog = StoredStays.of(db)  # one look at the store's entities and analysis for this question
    names, aliases = names_and_aliases(db, catalog)
    towns_cache: dict[str, str] = {}

    def towns(name: str) -> str | None:
        if not towns_cache:
            points = catalog.all_points()
            if points is not None and points[0].shape[0]:  # the towns of every stored stay, one lookup
                from ..analysis.gazetteer import gazetteer_available, lookup_towns

                if gazetteer_available():
                    for t in set(lookup_towns(*points).column("town").to_pylist()):
                        if t:
                            towns_cache[str(t).lower()] = str(t)
                names_ = []
            else:
                names_ = names
            for e in names_:
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
            zone_name = entity_zone(db, who[0], catalog)
            if zone_name != "UTC":
                query = run_parse(zone_name)
    notes: tuple[str, ...] = ()
    if llm is not None and not isinstance(query, q.Refusal):
        from .llm import LLMError, translate

        try:
            query = translate(
                question,
                config=llm,
                entities=names,
                aliases=aliases,
                places=sorted(places or {}),
                now=now,
                tz=zone_name,
                default_entity=default_entity,
            )
            notes = (f"translated by the language model {llm.model!r} at {llm.base_url}",)
        except LLMError as exc:
            notes = (
                f"the language model gave no usable translation ({exc}); the built-in parser read the question",
            )
    answer = execute(db, query, tz=zone_name, places=places, _catalog=catalog)
    if notes:
        answer = dataclasses.replace(answer, notes=notes)
    return answer
