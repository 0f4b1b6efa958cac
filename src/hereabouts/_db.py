"""The Python API: ``hb.open(path)`` returns a :class:`Database`."""

from __future__ import annotations

import builtins
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .io._base import Counts, ReadOptions
from .io._open import ByteCounter
from .io._read import MemberResult, default_device_name, read_members
from .model.errors import InputError, NotFoundError
from .store import DuckDBStore, PostgresStore, Store

if TYPE_CHECKING:
    from .analysis.incremental import AnalyzeResult

ProgressFn = Callable[[str, int, int], None]
"""Called as ``progress(path, bytes_done, bytes_total)`` while an import runs."""


@dataclass
class ImportResult:
    """What one imported path gave: its source id, format(s), counts and the first rejects."""

    path: str
    source_id: int | None
    kind: str
    counts: Counts
    skipped: bool = False
    note: str | None = None
    members: list[MemberResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def reject_samples(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for m in self.members:
            out.extend(m.reject_samples)
        return out[:20]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "source_id": self.source_id,
            "kind": self.kind,
            "skipped": self.skipped,
            "note": self.note,
            "counts": self.counts.as_dict(),
            "members": [
                {"member": m.member, "format": m.format, "counts": m.counts.as_dict(), "note": m.note}
                for m in self.members
            ],
            "rejects": self.reject_samples,
            "seconds": round(self.seconds, 3),
        }


def file_checksum(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with builtins.open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


class Database:
    """A hereabouts database: a store plus the operations on it.

    >>> import hereabouts as hb
    >>> db = hb.open(":memory:")
    >>> db.entities().num_rows
    0
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    # --------------------------------------------------------------- imports
    def import_(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        entity: str | None = None,
        device: str | None = None,
        format: str | None = None,
        columns: Mapping[str, str] | None = None,
        tz: str | None = None,
        progress: ProgressFn | None = None,
        now_us: int | None = None,
    ) -> list[ImportResult]:
        """Import files (any supported format, zip and gzip included), each atomically.

        Each path is one source and one transaction: if the import fails or the process dies, the store
        is as it was before that path. A path already imported with the same options is skipped; fixes
        already in the store (same device, time and position) are counted as duplicates, not added.
        """
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        results = []
        for p in paths:
            results.append(
                self._import_one(
                    p,
                    entity=entity,
                    device=device,
                    format=format,
                    columns=columns,
                    tz=tz,
                    progress=progress,
                    now_us=now_us,
                )
            )
        return results

    def _import_one(
        self,
        path: str | os.PathLike[str],
        *,
        entity: str | None,
        device: str | None,
        format: str | None,
        columns: Mapping[str, str] | None,
        tz: str | None,
        progress: ProgressFn | None,
        now_us: int | None,
    ) -> ImportResult:
        t0 = time.perf_counter()
        p = Path(path)
        if not p.exists():
            raise InputError(f"{path}: no such file")
        if p.is_dir():
            raise InputError(f"{path}: is a folder; give the files in it (e.g. {path}/*.gpx) or a zip of it")
        opts = {
            "entity": entity,
            "device": device,
            "format": format,
            "columns": dict(columns) if columns else None,
            "tz": tz,
        }
        checksum = file_checksum(p)
        existing = self.store.find_source(checksum, opts)
        if existing is not None:
            return ImportResult(
                str(path),
                existing,
                "duplicate",
                Counts(),
                skipped=True,
                note=f"already imported as source {existing} with the same options; nothing added",
                seconds=time.perf_counter() - t0,
            )
        options = ReadOptions(
            device=device, default_device=default_device_name(p), columns=columns, tz=tz, now_us=now_us
        )
        total = p.stat().st_size
        counter = ByteCounter()
        stop = threading.Event()
        poller = None
        if progress is not None:
            progress(str(path), 0, total)

            def poll() -> None:
                while not stop.wait(0.2):
                    progress(str(path), min(counter.n, total), total)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
        try:
            with self.store.begin_import(
                origin=str(p.resolve()), checksum=checksum, options=opts, entity=entity
            ) as txn:
                members = list(read_members(p, txn, options, format=format, counter=counter))
                counts = Counts()
                for m in members:
                    for k, v in m.counts.as_dict().items():
                        setattr(counts, k, getattr(counts, k) + v)
                kinds = sorted({m.format for m in members if m.format})
                kind = ",".join(kinds) if kinds else "unknown"
                txn.finish(counts.as_dict(), kind)
                sid = txn.source_id
        finally:
            stop.set()
            if poller is not None:
                poller.join()
        if progress is not None:
            progress(str(path), total, total)
        return ImportResult(str(path), sid, kind, counts, members=members, seconds=time.perf_counter() - t0)

    # --------------------------------------------------------------- queries
    def sources(self) -> pa.Table:
        """Every import with its format and counts (read, fixes, duplicates, rejected...)."""
        return self.store.sources()

    def entities(self) -> pa.Table:
        """Every entity with its devices, fix count and first/last fix time."""
        return self.store.entities()

    def devices(self) -> pa.Table:
        return self.store.devices()

    def fixes(
        self,
        entity: str | None = None,
        *,
        device: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pa.Table:
        """Fixes of an entity (or a device), optionally in ``[start, end)``, ordered by device and time."""
        return self.store.fixes(entity=entity, device=device, start=start, end=end)

    def rejects(self, source_id: int | None = None, *, limit: int | None = None) -> pa.Table:
        """Records refused by imports, with file, position, field and reason."""
        return self.store.rejects(source_id=source_id, limit=limit)

    def scans(self, entity: str | None = None) -> pa.Table:
        return self.store.table("scan", entity=entity)

    def reported_stays(self, entity: str | None = None) -> pa.Table:
        return self.store.table("reported_stay", entity=entity)

    def reported_trips(self, entity: str | None = None) -> pa.Table:
        return self.store.table("reported_trip", entity=entity)

    def events(self, entity: str | None = None) -> pa.Table:
        return self.store.table("event", entity=entity)

    def assign_device(self, device: str, entity: str) -> None:
        """Move a device stream (and all its fixes) to ``entity``, creating the entity if needed."""
        self.store.assign_device(device, entity)

    # --------------------------------------------------------------- analysis
    def entity_names(self) -> list[str]:
        return [str(x) for x in self.entities().column("entity").to_pylist()]

    def stays(
        self,
        entity: str | None = None,
        *,
        method: str = "default",
        start: datetime | None = None,
        end: datetime | None = None,
        stored: bool = False,
        **params: Any,
    ) -> pa.Table:
        """Stays of one entity (or of every entity when ``entity`` is None), found in its fixes by
        :func:`hereabouts.analysis.stays.detect_stays` with ``method`` and ``params``
        (``radius_m``, ``min_duration_s``, ``max_gap_s``, ``include_last``...).

        ``stored=True`` reads the stays kept in the store by :meth:`analyze` instead, bringing them up to
        date first (only the windows with new fixes are analysed again); with ``start``/``end`` it
        gives the stays overlapping ``[start, end)`` rather than those found in the fixes of that period.
        """
        from .analysis.stays import detect_stays
        from .model import schemas

        names = [entity] if entity is not None else self.entity_names()
        if stored:
            from .analysis import incremental

            store = self._analysis_store()
            parts = []
            for name in names:
                if not incremental.is_current(store, name, method, **params):
                    incremental.analyze(store, name, method=method, **params)
                parts.append(
                    incremental.stored_stays(store, name, method=method, start=start, end=end, **params)
                )
            return pa.concat_tables(parts) if parts else schemas.STAY.empty_table()
        parts = []
        for name in names:
            fixes = self._entity_fixes(name, start, end)
            if fixes.num_rows == 0:
                continue
            parts.append(detect_stays(fixes, method=method, **params))
        if not parts:
            return schemas.STAY.empty_table()
        return pa.concat_tables(parts)

    def analyze(
        self,
        entity: str | None = None,
        *,
        method: str = "default",
        full: bool = False,
        **params: Any,
    ) -> AnalyzeResult:
        """Find and store the stays of one entity (or of every entity), analysing again only what
        fixes imported since the last analysis with the same ``method`` and ``params`` can change;
        ``full=True`` rebuilds from all fixes. The stored stays always equal a full analysis
        (see :mod:`hereabouts.analysis.incremental`); read them with ``stays(..., stored=True)``."""
        from .analysis import incremental

        return incremental.analyze(self._analysis_store(), entity, method=method, full=full, **params)

    def _analysis_store(self) -> DuckDBStore | PostgresStore:
        if not isinstance(self.store, DuckDBStore | PostgresStore):
            raise InputError(
                f"stored stays need the DuckDB or PostgreSQL store, not {type(self.store).__name__}",
                hint="use stays(..., stored=False) to detect them on the fly",
            )
        return self.store

    def _entity_fixes(self, name: str, start: datetime | None, end: datetime | None) -> pa.Table:
        fixes = self.fixes(name, start=start, end=end)
        return fixes.set_column(0, "entity", pa.array([name] * fixes.num_rows, pa.string()))

    def places(
        self,
        entity: str | None = None,
        *,
        radius_m: float = 100.0,
        shared: bool = False,
        stays: pa.Table | None = None,
        stay_options: Mapping[str, Any] | None = None,
    ) -> pa.Table:
        """Places: the stays of one entity (or every entity) clustered within ``radius_m``, with visit
        counts, dwell time, stable ids and the nearest town (offline gazetteer). ``stay_options`` go to
        :meth:`stays` (``method``, ``radius_m``...) when ``stays`` are not given."""
        from .analysis.places import cluster_places

        if stays is None:
            stays = self.stays(entity, **dict(stay_options or {}))
        return cluster_places(stays, radius_m=radius_m, shared=shared)

    def trips(
        self,
        entity: str | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        **stay_params: Any,
    ) -> pa.Table:
        """Trips between consecutive stays: path, distance, duration, speed profile and mode guess."""
        from .analysis.places import cluster_places
        from .analysis.stays import detect_stays
        from .analysis.trips import build_trips
        from .model import schemas

        names = [entity] if entity is not None else self.entity_names()
        parts = []
        for name in names:
            fixes = self._entity_fixes(name, start, end)
            if fixes.num_rows == 0:
                continue
            stays = detect_stays(fixes, **stay_params)  # the same fixes, not read a second time
            places = cluster_places(stays) if stays.num_rows else None
            parts.append(build_trips(fixes, stays, places=places))
        if not parts:
            return schemas.TRIP.empty_table()
        return pa.concat_tables(parts)

    def ask(
        self,
        question: str,
        *,
        now: datetime | None = None,
        tz: str | None = None,
        entity: str | None = None,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> Any:
        """Answer a plain-language question: an :class:`hereabouts.ask.Answer` with the text, a
        structured result, confidence, evidence, data coverage, provenance, and the question said back
        in plain words. ``entity`` is who "I"/"me" and unnamed questions are about; times resolve
        against ``now`` (default: the current time) in ``tz`` (default: the entity's zone).

        Every question is written to the audit log first (``actor``, default the system user, and an
        optional stated ``purpose``), refused ones included."""
        from .ask import ask as run_ask

        self._audit("ask", {"question": question, "entity": entity}, actor=actor, purpose=purpose)
        return run_ask(self, question, now=now, tz=tz, default_entity=entity)

    def _audit(self, action: str, what: Mapping[str, Any], *, actor: str | None, purpose: str | None) -> None:
        from . import audit
        from .model.errors import StoreError

        try:
            audit.record(self.store, action, what, actor=actor, purpose=purpose)
        except Exception as exc:  # a read-only store, a full disk...
            if isinstance(exc, StoreError):
                raise
            raise StoreError(
                f"cannot write the audit log entry for this {action} ({exc}); nothing was answered",
                hint="open the database writable: every question and export is logged",
            ) from exc

    def audit_log(self) -> pa.Table:
        """The audit log: every question, export and share, hash-chained (see :mod:`hereabouts.audit`)."""
        return self.store.audit_rows()  # type: ignore[attr-defined]

    def verify_audit(self) -> Any:
        """Check the audit log's hash chain; a :class:`hereabouts.audit.Verification`."""
        from . import audit

        return audit.verify(self.store)

    # --------------------------------------------------------------- exports
    def export(
        self,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        entity: str | None = None,
        device: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> int:
        """Write fixes to ``path`` as GeoParquet, GeoJSON, GPX, CSV or OwnTracks .rec; returns rows written.

        The format comes from ``format`` or the file extension. The export is written to the audit
        log first (``actor``, ``purpose``).
        """
        from .io.writers import WRITERS

        fmt = format or _format_from_extension(str(path))
        if fmt not in WRITERS:
            raise InputError(
                f"cannot export to format {fmt!r}; expected one of: {', '.join(sorted(WRITERS))}",
                hint="name it with --format or use an extension .parquet, .geojson, .gpx, .csv or .rec",
            )
        if entity is not None and device is None:
            self._require_entity(entity)
        self._audit(
            "export",
            {
                "path": str(path),
                "format": fmt,
                "entity": entity,
                "device": device,
                "start": start.isoformat() if start else None,
                "end": end.isoformat() if end else None,
            },
            actor=actor,
            purpose=purpose,
        )
        batches = self.store.iter_fixes(entity=entity, device=device, start=start, end=end)
        return int(WRITERS[fmt](batches, path))

    def _require_entity(self, entity: str) -> None:
        if isinstance(self.store, DuckDBStore):  # a name or an alias, without counting fixes
            try:
                self.store.entity_ref(entity)
            except NotFoundError:
                pass
            else:
                return
        names = set(self.entities().column("entity").to_pylist())
        if entity not in names:
            aliases = {a for lst in self.entities().column("aliases").to_pylist() for a in (lst or [])}
            if entity not in aliases:
                raise NotFoundError(
                    f"no entity named {entity!r}", hint="run `hereabouts entities` to list them"
                )

    def profile(
        self,
        entity: str,
        *,
        path: str | os.PathLike[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        tz: str | None = None,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> Any:
        """The profile of ``entity`` in ``[start, end)``: a :class:`hereabouts.report.Profile` (places,
        routes, anchors, time-of-week occupancy, stays, coverage and mobility statistics); with
        ``path``, also written there as a self-contained offline HTML report.

        Like an export, the report is written to the audit log first (``actor``, ``purpose``)."""
        from .report import build_profile, check_target, resolve_entity, write_html

        name = resolve_entity(self, entity)
        if path is not None:
            check_target(path)
        if tz is not None:
            from .ask.timeexpr import zone

            zone(tz)  # a bad zone is refused before anything is logged
        self._audit(
            "profile",
            {
                "entity": name,
                "path": str(path) if path is not None else None,
                "start": start.isoformat() if start else None,
                "end": end.isoformat() if end else None,
            },
            actor=actor,
            purpose=purpose,
        )
        prof = build_profile(self, name, start=start, end=end, tz=tz)
        if path is not None:
            write_html(prof, path)
        return prof

    def access_points(self, entity: str | None = None, **params: Any) -> pa.Table:
        """Where the Wi-Fi access points and cell towers heard in the scans of ``entity`` (every entity
        when None) are, learned from its own good fixes close in time to the scans: position, coverage
        radius, uncertainty, observations (:func:`hereabouts.analysis.wifi.learn_access_points`,
        ``params`` go there)."""
        from .analysis.wifi import learn_access_points

        if entity is not None:
            self._require_entity(entity)
        return learn_access_points(self.fixes(entity), self.scans(entity), **params)

    def position_scans(
        self,
        entity: str | None = None,
        *,
        ap_table: pa.Table | str | os.PathLike[str] | None = None,
        fix_window_s: float = 60.0,
        write: bool = True,
        learn_options: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Any:
        """Turn the scans of ``entity`` (every entity when None) that came without a fix into fixes
        (provider ``wifi``, or ``cell``) with an accuracy, and (``write``) add them to the store as one
        new source in one transaction; positioning again adds nothing. The access points come from
        ``ap_table`` (a table or a CSV/Parquet file) or are learned from the entity's own fixes.
        Returns a :class:`hereabouts.analysis.wifi.ScanPositioning` (counts and the fixes)."""
        from .analysis.wifi import position_stored_scans

        return position_stored_scans(
            self,
            entity,
            ap_table=ap_table,
            fix_window_s=fix_window_s,
            write=write,
            learn_options=learn_options,
            **params,
        )

    # --------------------------------------------------------------- co-presence
    def _copresence_fixes(
        self, entities: Sequence[str] | None, start: datetime | None, end: datetime | None, pad_s: float
    ) -> pa.Table:
        """Fixes of ``entities`` (default: all) in ``[start - pad_s, end + pad_s)``, with ``entity``."""
        from datetime import timedelta

        lo = start - timedelta(seconds=pad_s) if start is not None else None
        hi = end + timedelta(seconds=pad_s) if end is not None else None
        if entities is None:
            return self.fixes(start=lo, end=hi)
        parts = [self._entity_fixes(e, lo, hi) for e in entities]
        return pa.concat_tables(parts, promote_options="default") if parts else self.fixes(start=lo, end=hi)

    def together(
        self, a: str, b: str, start: datetime | None = None, end: datetime | None = None, **params: Any
    ) -> pa.Table:
        """Co-presence episodes of entities ``a`` and ``b`` overlapping ``[start, end)``, cut to it
        (:func:`hereabouts.analysis.copresence.copresence_episodes`; ``params``: ``radius_m``,
        ``min_duration_s``, ``max_gap_s``...). Times and places only: never what the company means."""
        import pyarrow.compute as pc

        from ._nearby import pair_fixes
        from .analysis.copresence import who_was_near

        self._require_entity(a)
        self._require_entity(b)
        pad = float(params.get("max_gap_s", 1200.0))
        fixes = pair_fixes(self.store, a, b, start, end, pad)
        if fixes is None:
            fixes = self._copresence_fixes([a, b], start, end, pad)
        near = who_was_near(fixes, a, start, end, missing_ok=True, **params)
        return near.filter(pc.equal(near.column("other"), b)) if near.num_rows else near

    def near(
        self,
        entity: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        among: Iterable[str] | None = None,
        **params: Any,
    ) -> pa.Table:
        """Who was within ``radius_m`` (default 50 m) of ``entity`` for at least ``min_duration_s``
        in ``[start, end)``: its co-presence episodes with every other entity (of ``among`` only, when
        given), with ``other``.

        On the DuckDB store only the entities with a fix close to one of ``entity``'s in space and
        time are read (:mod:`hereabouts._nearby`: a prefilter that provably keeps every entity that
        can share an episode with it); the episodes are the same as over every entity's fixes."""
        from ._nearby import near_fixes
        from .analysis.copresence import who_was_near

        self._require_entity(entity)
        pad = float(params.get("max_gap_s", 1200.0))
        others = None if among is None else sorted({str(e) for e in among} | {entity})
        fixes = near_fixes(self.store, entity, start, end, params, among=others)
        if fixes is None:
            fixes = self._copresence_fixes(others, start, end, pad)
        return who_was_near(fixes, entity, start, end, missing_ok=True, **params)

    def copresence(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        workspace: str | None = None,
        alpha: float = 0.1,  # hereabouts.analysis.copresence.DEFAULT_ALPHA
        min_away: int = 3,
        **params: Any,
    ) -> tuple[pa.Table, pa.Table]:
        """Co-presence episodes of every pair of entities (of ``workspace``, when given) in
        ``[start, end)`` and each pair's significance against chance
        (:func:`hereabouts.analysis.copresence.pair_significance`, on the entities' stays)."""
        from .analysis.copresence import copresence_episodes, pair_significance
        from .analysis.stays import detect_stays
        from .model import schemas

        ents = self.entities()
        names = [str(x) for x in ents.column("entity").to_pylist()]
        if workspace is not None:
            ws = ents.column("workspace").to_pylist()
            names = [n for n, w in zip(names, ws, strict=True) if w == workspace]
            if not names:
                raise NotFoundError(
                    f"no entities in workspace {workspace!r}", hint="see `hereabouts entities`"
                )
        fixes = self._copresence_fixes(names if workspace is not None else None, start, end, 0.0)
        episodes = copresence_episodes(fixes, **params)
        stays = detect_stays(fixes) if fixes.num_rows else schemas.STAY.empty_table()
        pairs = pair_significance(episodes, stays, alpha=alpha, min_away=min_away)
        return episodes, pairs

    def copresence_graph(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        workspace: str | None = None,
        ties_only: bool = False,
        **params: Any,
    ) -> Any:
        """The co-presence graph (:class:`hereabouts.analysis.copresence.CopresenceGraph`: nodes and
        edges with hours together, episodes away from home and work, p-value and tie decision)."""
        from .analysis.copresence import copresence_graph

        episodes, pairs = self.copresence(start, end, workspace=workspace, **params)
        ents = self.entities()
        names = [str(x) for x in ents.column("entity").to_pylist()]
        if workspace is not None:
            ws = ents.column("workspace").to_pylist()
            names = [n for n, w in zip(names, ws, strict=True) if w == workspace]
        return copresence_graph(episodes, pairs, entities=names, ties_only=ties_only)

    # --------------------------------------------------------------- stream linkage
    def link_proposals(
        self,
        *,
        min_probability: float = 0.5,
        start: datetime | None = None,
        end: datetime | None = None,
        include_travels_with: bool = False,
        **params: Any,
    ) -> pa.Table:
        """Pairs of device streams that one carrier likely holds (a phone and a watch), scored from
        their co-movement by :func:`hereabouts.analysis.linkage.propose_links`, highest probability
        first. Nothing is changed: a proposal is applied only by :meth:`accept_link`. Devices already
        in one entity are not proposed; ``include_travels_with`` also lists "travels with" pairs (a
        vehicle and who drives it), which are never merges. ``params`` override
        :class:`~hereabouts.analysis.linkage.LinkParams` fields."""
        from dataclasses import replace

        from .analysis.linkage import default_params, propose_links

        p = replace(default_params(), **params) if params else None
        fixes = self.fixes(start=start, end=end)
        exclude: list[tuple[str, str]] = []
        for devs in self.entities().column("devices").to_pylist():
            names = sorted(str(d) for d in devs or [])
            exclude += [(x, y) for i, x in enumerate(names) for y in names[i + 1 :]]
        return propose_links(
            fixes,
            min_probability=min_probability,
            params=p,
            exclude=exclude,
            include_travels_with=include_travels_with,
        )

    def accept_link(
        self,
        device_a: str,
        device_b: str,
        *,
        purpose: str | None = None,
        actor: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Merge the streams ``device_a`` and ``device_b`` into one entity: the user's acceptance of a
        link proposal. The pair is scored again first; unless ``force``, a pair that is not a
        same-carrier proposal now is refused. The entity kept is ``device_a``'s, unless that one was
        made automatically for the device and ``device_b``'s was not; every device of the other
        entity moves to it (:meth:`assign_device`). The acceptance, with its score, is written to the
        audit log before anything changes. Returns what was done."""
        from .analysis.linkage import score_links

        if device_a == device_b:
            raise InputError(f"cannot link device {device_a!r} with itself; give two different devices")
        devs = {str(r["device"]): str(r["entity"]) for r in self.devices().to_pylist()}
        for d in (device_a, device_b):
            if d not in devs:
                raise NotFoundError(f"no device named {d!r}", hint="run `hereabouts entities` to list them")
        ea, eb = devs[device_a], devs[device_b]
        if ea == eb:
            raise InputError(f"devices {device_a!r} and {device_b!r} are already one entity ({ea!r})")
        members = {e: sorted(d for d, x in devs.items() if x == e) for e in (ea, eb)}
        auto_a = ea == device_a and members[ea] == [device_a]
        auto_b = eb == device_b and members[eb] == [device_b]
        target, source = (eb, ea) if auto_a and not auto_b else (ea, eb)
        fixes = pa.concat_tables([self.fixes(device=device_a), self.fixes(device=device_b)])
        scored = score_links(fixes, [(device_a, device_b)]).to_pylist()[0]
        if scored["relation"] != "same_carrier" and not force:
            raise InputError(
                f"{device_a!r} and {device_b!r} are not a same-carrier proposal "
                f"(relation {scored['relation']}, probability {scored['probability']:.3f}, "
                f"{scored['n_separations']} separations, {scored['n_moving_episodes']} trips together)",
                hint="see `hereabouts link`; merge anyway with --force if you know they are one carrier",
            )
        what = {
            "device_a": device_a,
            "device_b": device_b,
            "entity": target,
            "merged_from": source,
            "moved": members[source],
            "llr": scored["llr"],
            "probability": scored["probability"],
            "relation": scored["relation"],
            "n_epochs": scored["n_epochs"],
            "forced": bool(force and scored["relation"] != "same_carrier"),
        }
        self._audit("link", what, actor=actor, purpose=purpose)
        for d in members[source]:
            self.assign_device(d, target)
        return what

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_EXTENSIONS: Sequence[tuple[str, str]] = (
    (".geoparquet", "geoparquet"),
    (".parquet", "geoparquet"),
    (".geojson", "geojson"),
    (".json", "geojson"),
    (".gpx", "gpx"),
    (".csv", "csv"),
    (".rec", "owntracks_rec"),
)


def _format_from_extension(path: str) -> str:
    low = path.lower()
    for ext, fmt in _EXTENSIONS:
        if low.endswith(ext):
            return fmt
    raise InputError(
        f"cannot tell the export format of {path!r} from its extension",
        hint="use .parquet, .geojson, .gpx, .csv or .rec, or give --format",
    )


def open(
    path: str | os.PathLike[str] = "hereabouts.db",
    *,
    read_only: bool = False,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> Database:
    """Open (or create) the database at ``path``: a DuckDB file, ``":memory:"``, or a PostgreSQL URL
    (``postgresql://user:password@host:5432/dbname``, PostGIS needed; ``?schema=NAME`` picks the schema,
    default ``hereabouts``). ``memory_limit`` and ``threads`` apply to DuckDB only."""
    from .store.postgres_store import PostgresStore, is_postgres_url

    if is_postgres_url(str(path)):
        return Database(PostgresStore(str(path), read_only=read_only))
    return Database(DuckDBStore(path, read_only=read_only, memory_limit=memory_limit, threads=threads))
