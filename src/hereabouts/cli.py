"""The ``hereabouts`` command: thin argument parsing over the library, rendered with rich."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import _db
from ._render import dumps, fmt_cell, rows
from ._version import __version__
from .model.errors import HereaboutsError, InputError

app = typer.Typer(
    name="hereabouts",
    help="An open, accountable engine for questions about movement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
device_app = typer.Typer(help="Device streams and the entities that own them.", no_args_is_help=True)
app.add_typer(device_app, name="device")
audit_app = typer.Typer(help="The audit log of questions and exports (hash-chained).", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
PurposeOpt = Annotated[
    str | None, typer.Option(help="Why you are asking or exporting (kept in the audit log).")
]
F = TypeVar("F", bound=Callable[..., Any])


class State:
    db_path: str = "hereabouts.db"
    quiet: bool = False


state = State()


def _version(value: bool) -> None:
    if value:
        print(f"hereabouts {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    db: Annotated[
        str,
        typer.Option(
            "--db",
            envvar="HEREABOUTS_DB",
            help="The database: a DuckDB file (created if missing) or a postgresql://user@host/db URL.",
        ),
    ] = "hereabouts.db",
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars or summaries on stderr.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    state.db_path = db
    state.quiet = quiet


@contextmanager
def _open(read_only: bool = False) -> Iterator[_db.Database]:
    is_url = state.db_path.startswith(("postgresql://", "postgres://"))
    if read_only and not is_url and not Path(state.db_path).exists():
        raise InputError(
            f"no database at {state.db_path!r}",
            hint="import something first (`hereabouts import FILE`) or point --db at an existing database",
        )
    db = _db.open(state.db_path)
    try:
        yield db
    finally:
        db.close()


@contextmanager
def _busy(message: str, quiet: bool = False) -> Iterator[None]:
    """A spinner on stderr while work of unknown length runs (not with --json or --quiet)."""
    if quiet or state.quiet:
        yield
        return
    with err.status(message):
        yield


def _table(title: str, data: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    t = Table(title=title, show_lines=False)
    cols = columns or (list(data[0]) if data else [])
    for c in cols:
        t.add_column(c, overflow="fold")
    for r in data:
        t.add_row(*(fmt_cell(r.get(c)) for c in cols))
    out.print(t)


def _parse_when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    from .io._time import parse_iso

    try:
        t_us, _ = parse_iso(value)
    except ValueError as exc:
        raise InputError(
            f"{name} {value!r} is not a date or time; expected ISO 8601 like 2024-05-01 or "
            "2024-05-01T08:00:00+02:00"
        ) from exc
    from .io._time import from_us

    return from_us(t_us)


def _parse_columns(spec: str | None) -> dict[str, str] | None:
    if not spec:
        return None
    mapping: dict[str, str] = {}
    for part in spec.split(","):
        if "=" not in part:
            raise InputError(
                f"--columns entry {part!r} is not FIELD=COLUMN",
                hint="for example --columns t=timestamp,lat=Latitude,lon=Longitude,device=vehicle",
            )
        k, v = part.split("=", 1)
        mapping[k.strip()] = v.strip()
    return mapping


# ------------------------------------------------------------------ import
@app.command("import")
def import_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files to import: any supported format, zip or gzip.")],
    entity: Annotated[
        str | None, typer.Option(help="The entity (person, vehicle) the data belongs to.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="Put every fix in this device stream.")] = None,
    format: Annotated[
        str | None, typer.Option("--format", help="Skip detection and read as this format.")
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(help="CSV column mapping, e.g. t=when,lat=Latitude,lon=Longitude,device=car."),
    ] = None,
    tz: Annotated[str | None, typer.Option(help="Time zone of times that carry none (default UTC).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import location files (or folders of them) into the database, each file atomically;
    re-importing adds nothing."""
    from .model.errors import UnknownFormatError

    files: list[tuple[Path, bool]] = []  # (file, found by walking a folder)
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            if not found:
                raise InputError(f"{p}: the folder holds no files")
            files.extend((f, True) for f in found)
        else:
            files.append((p, False))
    mapping = _parse_columns(columns)
    results = []
    skipped: list[str] = []
    failed: list[tuple[str, HereaboutsError]] = []
    total = sum(f.stat().st_size for f, _ in files if f.is_file())
    show = not state.quiet and not as_json and (sys.stderr.isatty() or total > 5e6)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not show,
    )
    with _open() as db, progress:
        task = progress.add_task("importing", total=total or 1)
        done_before = 0

        def cb(path: str, done: int, tot: int) -> None:
            progress.update(task, completed=done_before + done, description=Path(path).name[:30])

        for f, walked in files:
            try:
                results.extend(
                    db.import_(
                        f, entity=entity, device=device, format=format, columns=mapping, tz=tz, progress=cb
                    )
                )
            except UnknownFormatError as exc:
                if walked:
                    skipped.append(str(f))  # a folder may hold other files; name them, go on
                else:
                    failed.append((str(f), exc))
            except HereaboutsError as exc:
                failed.append((str(f), exc))  # this file is left out whole; the others go on
            done_before += f.stat().st_size if f.is_file() else 0
    if as_json:
        print(
            dumps(
                [r.as_dict() for r in results]
                + [{"path": sp, "skipped": True, "note": "not a location format"} for sp in skipped]
                + [{"path": fp, "error": e.message, "hint": e.hint} for fp, e in failed]
            )
        )
        if failed:
            raise typer.Exit(2)
        return
    for sp in skipped:
        out.print(f"[yellow]{sp}[/]: skipped, not a location format")
    for r in results:
        c = r.counts
        if r.skipped:
            out.print(f"[yellow]{r.path}[/]: {r.note}")
            continue
        out.print(
            f"[bold]{r.path}[/] ({r.kind}) → source {r.source_id}: {c.read} records read, "
            f"[green]{c.fixes} fixes imported[/], {c.duplicates} duplicates, "
            f"[{'red' if c.rejected else 'green'}]{c.rejected} rejected[/]"
            + (f", {c.scans} scans" if c.scans else "")
            + (f", {c.reported_stays} reported stays" if c.reported_stays else "")
            + (f", {c.reported_trips} reported trips" if c.reported_trips else "")
            + (f", {c.events} events" if c.events else "")
            + f" in {r.seconds:.1f} s"
        )
        skipped_members = [m for m in r.members if m.note and m.format is None and m.counts.read == 0]
        if skipped_members:
            out.print(f"  {len(skipped_members)} archive members skipped (not a location format)")
        for s in r.reject_samples[:5]:
            where = f"{s['unit']} {s['position']}" if s["position"] is not None else s["unit"]
            fld = f" field {s['field']}:" if s["field"] else ""
            out.print(f"  [red]rejected[/] {s['member']} {where}:{fld} {s['reason']}")
        if c.rejected > 5:
            out.print(f"  … see all with `hereabouts rejects --source {r.source_id}`")
    _report_failures(failed)


def _report_failures(failed: list[tuple[str, HereaboutsError]]) -> None:
    """Name every file left out and why; exit 2 when there was any."""
    for p, e in failed:
        err.print(
            f"[bold red]error:[/] {e.message}" if p in e.message else f"[bold red]error:[/] {p}: {e.message}",
            highlight=False,
        )
        if e.hint:
            err.print(f"[dim]hint:[/] {e.hint}", highlight=False)
    if failed:
        err.print(f"{len(failed)} file(s) not imported; every other file was imported", highlight=False)
        raise typer.Exit(2)


# ------------------------------------------------------------------ listings
@app.command()
def sources(as_json: JsonOpt = False) -> None:
    """Every import with its counts of fixes imported and records rejected."""
    with _open(read_only=True) as db:
        data = rows(db.sources())
    if as_json:
        print(dumps(data))
    else:
        _table(
            "sources",
            data,
            ["source_id", "kind", "origin", "imported_at", "n_read", "n_fixes", "n_duplicates", "n_rejected"],
        )


@app.command()
def entities(as_json: JsonOpt = False) -> None:
    """Entities (people, vehicles, assets) with their devices and data span."""
    with _open(read_only=True) as db:
        data = rows(db.entities())
    if as_json:
        print(dumps(data))
    else:
        _table("entities", data, ["entity", "devices", "n_fixes", "first", "last"])


@app.command()
def devices(as_json: JsonOpt = False) -> None:
    """Device streams and the entity each belongs to."""
    with _open(read_only=True) as db:
        data = rows(db.devices())
    if as_json:
        print(dumps(data))
    else:
        _table("devices", data)


@device_app.command("assign")
def device_assign(
    device: Annotated[str, typer.Argument(help="Device stream name.")],
    entity: Annotated[str, typer.Argument(help="Entity to own it (created if missing).")],
) -> None:
    """Move a device stream (all its fixes) to an entity."""
    with _open() as db:
        db.assign_device(device, entity)
    out.print(f"device {device!r} now belongs to {entity!r}")


@app.command()
def fixes(
    entity: Annotated[str, typer.Argument(help="Entity name or alias.")],
    start: Annotated[str | None, typer.Option("--from", help="Start (ISO 8601), inclusive.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End (ISO 8601), exclusive.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show in the table (JSON prints all).")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Fixes of an entity, optionally within a period."""
    with _open(read_only=True) as db:
        table = db.fixes(entity, start=_parse_when(start, "--from"), end=_parse_when(end, "--to"))
    if as_json:
        print(dumps(rows(table)))
        return
    data = rows(table.slice(0, limit))
    _table(
        f"fixes of {entity} ({table.num_rows} in all)",
        data,
        ["device", "t", "lat", "lon", "accuracy_m", "speed_mps", "provider", "source_id"],
    )


@app.command()
def rejects(
    source: Annotated[int | None, typer.Option("--source", help="Only this source id.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Records refused by imports: file, position, field and why."""
    with _open(read_only=True) as db:
        data = rows(db.rejects(source, limit=limit))
    if as_json:
        print(dumps(data))
    else:
        _table("rejects", data, ["source_id", "member", "unit", "position", "field", "reason"])


@app.command()
def formats(as_json: JsonOpt = False) -> None:
    """The formats hereabouts reads (detected by content)."""
    from .io import formats as all_formats

    data = [
        {"format": f.name, "description": f.description, "extensions": list(f.extensions)}
        for f in sorted(all_formats(), key=lambda f: f.name)
    ]
    if as_json:
        print(dumps(data))
    else:
        _table("formats", data)


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="Output file: .parquet, .geojson, .gpx, .csv or .rec.")],
    entity: Annotated[str | None, typer.Option(help="Only this entity.")] = None,
    device: Annotated[str | None, typer.Option(help="Only this device.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Start (ISO 8601), inclusive.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End (ISO 8601), exclusive.")] = None,
    format: Annotated[
        str | None, typer.Option("--format", help="geoparquet, geojson, gpx, csv, owntracks_rec.")
    ] = None,
    purpose: PurposeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export fixes as GeoParquet, GeoJSON, GPX, CSV or OwnTracks .rec."""
    with _open() as db, _busy(f"exporting to {path}", as_json):
        n = db.export(
            path,
            format=format,
            entity=entity,
            device=device,
            start=_parse_when(start, "--from"),
            end=_parse_when(end, "--to"),
            purpose=purpose,
        )
    if as_json:
        print(json.dumps({"path": str(path), "rows": n}))
    else:
        out.print(f"wrote {n} fixes to {path}")


@app.command()
def optimize() -> None:
    """Rewrite the fix table sorted by device and time (faster period queries after many imports)."""
    with _open() as db, _busy("rewriting the fix table"):
        db.store.optimize()  # type: ignore[attr-defined]
    out.print("fix table rewritten in (device, time) order")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo's files and report.")] = Path(
        "hereabouts-demo"
    ),
    seed: Annotated[int, typer.Option(help="Random seed of the simulated town.")] = 7,
    as_json: JsonOpt = False,
) -> None:
    """Simulate a small town, import it, analyse it and write a report."""
    from .demo import run_demo

    result = run_demo(out_dir, seed=seed, console=None if (as_json or state.quiet) else err)
    if as_json:
        print(dumps(result))
    else:
        out.print(result["summary"])


def _require_entity_or_all(entity: str | None, all_: bool) -> None:
    if entity is None and not all_:
        raise InputError("name an entity or give --all", hint="`hereabouts entities` lists them")


@app.command()
def stays(
    entity: Annotated[str | None, typer.Argument(help="Entity name or alias (or --all).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every entity.")] = False,
    method: Annotated[
        str, typer.Option(help="default or trackintel (sliding, as trackintel 1.4).")
    ] = "default",
    radius_m: Annotated[float, typer.Option("--radius-m", help="Stay radius in metres.")] = 100.0,
    min_duration_s: Annotated[
        float, typer.Option("--min-duration-s", help="Shortest stay in seconds.")
    ] = 300.0,
    max_gap_s: Annotated[
        float | None, typer.Option("--max-gap-s", help="Longest gap a stay may span, in seconds.")
    ] = None,
    include_last: Annotated[
        bool, typer.Option("--include-last", help="Keep a stay still open at the end.")
    ] = False,
    start: Annotated[str | None, typer.Option("--from", help="Start (ISO 8601), inclusive.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End (ISO 8601), exclusive.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Stays (dwell episodes) found in the fixes of an entity or of every entity."""
    _require_entity_or_all(entity, all_)
    with _open(read_only=True) as db, _busy("finding stays", as_json):
        table = db.stays(
            None if all_ else entity,
            method=method,
            radius_m=radius_m,
            min_duration_s=min_duration_s,
            max_gap_s=max_gap_s,
            include_last=include_last,
            start=_parse_when(start, "--from"),
            end=_parse_when(end, "--to"),
        )
    data = rows(table)
    if as_json:
        print(dumps(data))
    else:
        _table(
            f"stays ({len(data)})",
            data,
            ["entity", "start", "end", "lat", "lon", "radius_m", "n_fixes", "confidence"],
        )


def _stay_options(
    method: str, radius_m: float, min_duration_s: float, max_gap_s: float | None
) -> dict[str, Any]:
    return {"method": method, "radius_m": radius_m, "min_duration_s": min_duration_s, "max_gap_s": max_gap_s}


EntityArg = Annotated[str | None, typer.Argument(help="Entity name or alias (or --all).")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every entity.")]
MethodOpt = Annotated[str, typer.Option(help="Stay method: default or trackintel.")]
StayRadiusOpt = Annotated[float, typer.Option("--stay-radius-m", help="Stay radius in metres.")]
MinDurOpt = Annotated[float, typer.Option("--min-duration-s", help="Shortest stay in seconds.")]
GapOpt = Annotated[float | None, typer.Option("--max-gap-s", help="Longest gap a stay may span, in seconds.")]


@app.command()
def places(
    entity: EntityArg = None,
    all_: AllOpt = False,
    radius_m: Annotated[float, typer.Option("--radius-m", help="Place radius in metres.")] = 100.0,
    shared: Annotated[bool, typer.Option(help="Cluster places across entities.")] = False,
    method: MethodOpt = "default",
    stay_radius_m: StayRadiusOpt = 100.0,
    min_duration_s: MinDurOpt = 300.0,
    max_gap_s: GapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Places: stays clustered per entity, with visits, dwell time, stable ids and the nearest town."""
    _require_entity_or_all(entity, all_)
    with _open(read_only=True) as db, _busy("finding places", as_json):
        table = db.places(
            None if all_ else entity,
            radius_m=radius_m,
            shared=shared,
            stay_options=_stay_options(method, stay_radius_m, min_duration_s, max_gap_s),
        )
    data = rows(table.drop_columns([c for c in ("evidence_stays",) if c in table.column_names]))
    if as_json:
        print(dumps(data))
    else:
        _table(
            f"places ({len(data)})",
            data,
            ["place_id", "entity", "lat", "lon", "n_visits", "dwell_s", "town", "confidence"],
        )


@app.command()
def trips(
    entity: EntityArg = None,
    all_: AllOpt = False,
    start: Annotated[str | None, typer.Option("--from", help="Start (ISO 8601), inclusive.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End (ISO 8601), exclusive.")] = None,
    method: MethodOpt = "default",
    stay_radius_m: StayRadiusOpt = 100.0,
    min_duration_s: MinDurOpt = 300.0,
    max_gap_s: GapOpt = None,
    with_path: Annotated[bool, typer.Option("--path", help="Include each trip's path in --json.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Trips between stays: distance, duration, speeds and a mode guess with its confidence."""
    _require_entity_or_all(entity, all_)
    with _open(read_only=True) as db, _busy("finding trips", as_json):
        table = db.trips(
            None if all_ else entity,
            start=_parse_when(start, "--from"),
            end=_parse_when(end, "--to"),
            **_stay_options(method, stay_radius_m, min_duration_s, max_gap_s),
        )
    if not with_path and "path" in table.column_names:
        table = table.drop_columns(["path"])
    data = rows(table)
    if as_json:
        print(dumps(data))
    else:
        _table(
            f"trips ({len(data)})",
            data,
            ["entity", "start", "end", "distance_m", "mode", "mode_confidence", "from_place", "to_place"],
        )


def _stays_and_places(db: _db.Database, entity: str | None, stay_options: dict[str, Any]) -> tuple[Any, Any]:
    stays = db.stays(entity, **stay_options)
    places = db.places(entity, stays=stays)
    return stays, places


@app.command()
def analyze(
    entity: EntityArg = None,
    method: MethodOpt = "default",
    full: Annotated[
        bool, typer.Option(help="Re-analyse everything, not only what new fixes changed.")
    ] = False,
    radius_m: Annotated[float, typer.Option("--radius-m", help="Stay radius in metres.")] = 100.0,
    min_duration_s: MinDurOpt = 300.0,
    max_gap_s: GapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring the stored stays up to date: only the entities and time windows that new fixes touched
    are re-analysed (the result equals a full re-analysis); --full rebuilds them all."""
    params: dict[str, Any] = {"radius_m": radius_m, "min_duration_s": min_duration_s}
    if max_gap_s is not None:
        params["max_gap_s"] = max_gap_s
    with _open() as db, _busy("analysing", as_json):
        result = db.analyze(entity, method=method, full=full, **params)
    data = result.as_dict()
    if as_json:
        print(dumps(data))
    else:
        out.print(
            f"re-analysed {len(data.get('entities', []))} entities in {len(data.get('windows', []))} windows: "
            f"{data.get('stays_written', 0)} stays written, {data.get('stays_deleted', 0)} replaced, "
            f"{data.get('fixes_read', 0)} fixes read in {data.get('seconds', 0):.2f} s"
        )


@app.command()
def anchors(
    entity: EntityArg = None,
    all_: AllOpt = False,
    min_days: Annotated[float, typer.Option(help="Abstain with less data than this many days.")] = 7.0,
    method: MethodOpt = "default",
    stay_radius_m: StayRadiusOpt = 100.0,
    min_duration_s: MinDurOpt = 300.0,
    max_gap_s: GapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Home, work and other regular places, in the places' local time, with confidence and evidence;
    abstains when the data is too thin."""
    from .analysis import infer_anchors

    _require_entity_or_all(entity, all_)
    with _open(read_only=True) as db, _busy("inferring anchors", as_json):
        stays, places = _stays_and_places(
            db, None if all_ else entity, _stay_options(method, stay_radius_m, min_duration_s, max_gap_s)
        )
        # the fixes too: entities with coarse (cell-level) data get home and work from fix density
        fixes = db.fixes(None if all_ else entity)
        table = infer_anchors(stays, places, min_days=min_days, fixes=fixes)
    data = rows(table)
    if as_json:
        print(dumps(data))
    else:
        _table(
            f"anchors ({len(data)})",
            data,
            ["entity", "label", "place_id", "lat", "lon", "confidence", "valid_from", "valid_to", "evidence"],
        )


@app.command()
def routine(
    entity: Annotated[str, typer.Argument(help="Entity name or alias.")],
    method: MethodOpt = "default",
    stay_radius_m: StayRadiusOpt = 100.0,
    min_duration_s: MinDurOpt = 300.0,
    max_gap_s: GapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """An entity's routine: time-of-week occupancy of its places, regularity (entropy, radius of
    gyration, predictability bound) and the days that broke the routine."""
    from .analysis import anomalies, infer_anchors, regularity, time_of_week_occupancy

    with _open(read_only=True) as db, _busy("learning the routine", as_json):
        stays, places = _stays_and_places(
            db, entity, _stay_options(method, stay_radius_m, min_duration_s, max_gap_s)
        )
        if stays.num_rows == 0:
            raise InputError(f"{entity!r} has no stays to learn a routine from", hint="import more data")
        anchor_rows = infer_anchors(stays, places, fixes=db.fixes(entity))
        result: dict[str, Any] = {
            "entity": entity,
            "regularity": rows(regularity(stays, places))[0],
            "occupancy": rows(time_of_week_occupancy(stays, places)),
            "anomalies": rows(anomalies(stays, places, anchors=anchor_rows)),
        }
    if as_json:
        print(dumps(result))
        return
    reg = result["regularity"]
    _table(
        "regularity",
        [{"measure": k, "value": v} for k, v in reg.items() if k != "entity"],
        ["measure", "value"],
    )
    top = sorted(result["anomalies"], key=lambda a: -(a.get("score") or 0))[:10]
    _table("most unusual days", top, ["day", "kind", "score", "routine"])


@app.command()
def predict(
    entity: Annotated[str, typer.Argument(help="Entity name or alias.")],
    at: Annotated[list[str], typer.Option("--at", help="Future time(s), ISO 8601; naive times are local.")],
    top: Annotated[int, typer.Option(help="Most likely places to list per time.")] = 5,
    method: MethodOpt = "default",
    stay_radius_m: StayRadiusOpt = 100.0,
    min_duration_s: MinDurOpt = 300.0,
    max_gap_s: GapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Where an entity is likely to be at a future time: a calibrated distribution over its places
    (plus "elsewhere")."""
    from .analysis import fit_predictor

    times = []
    for a in at:
        try:
            times.append(datetime.fromisoformat(a.replace("Z", "+00:00")))
        except ValueError as exc:
            raise InputError(
                f"--at {a!r} is not an ISO 8601 time", hint="e.g. --at 2025-04-01T09:00"
            ) from exc
    with _open(read_only=True) as db, _busy("fitting the predictor", as_json):
        stays, places = _stays_and_places(
            db, entity, _stay_options(method, stay_radius_m, min_duration_s, max_gap_s)
        )
        if stays.num_rows == 0:
            raise InputError(f"{entity!r} has no stays to predict from", hint="import more data")
        table = fit_predictor(stays, places).predict(entity, times, top=top)
    data = rows(table)
    if as_json:
        print(dumps(data))
    else:
        _table(
            f"where {entity} is likely to be",
            data,
            ["at", "rank", "place_id", "lat", "lon", "probability", "support"],
        )


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write fixes, scans and ground truth to.")],
    agents: Annotated[int, typer.Option(help="People in the town.")] = 50,
    days: Annotated[int, typer.Option(help="Days to simulate.")] = 14,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 1,
    profile: Annotated[str, typer.Option(help="mixed, or one sensor profile for every device.")] = "mixed",
    formats: Annotated[
        str, typer.Option("--formats", help="Comma-separated: geoparquet, csv, gpx, geojson, owntracks_rec.")
    ] = "geoparquet",
    as_json: JsonOpt = False,
) -> None:
    """Simulate a town with ground truth: people, devices, sensor noise, Wi-Fi scans."""
    from .sim import simulate as run_simulation

    fmts = [f.strip() for f in formats.split(",") if f.strip()]
    if as_json or state.quiet:
        sim = run_simulation(agents=agents, days=days, seed=seed, out=out_dir, profile=profile, formats=fmts)
    else:
        with Progress(TextColumn("{task.description}"), BarColumn(), console=err, transient=True) as progress:
            task = progress.add_task("simulating", total=1)

            def cb(stage: str, done: int, total: int) -> None:
                progress.update(task, description=stage, completed=done, total=max(total, 1))

            sim = run_simulation(
                agents=agents, days=days, seed=seed, out=out_dir, profile=profile, formats=fmts, progress=cb
            )
    summary = {
        "out": str(out_dir),
        "agents": agents,
        "days": days,
        "seed": seed,
        "fixes": sim.fixes.num_rows,
        "scans": sim.scans.num_rows,
        "true_stays": sim.true_stays.num_rows,
        "formats": fmts,
    }
    if as_json:
        print(dumps(summary))
    else:
        out.print(
            f"simulated {agents} people for {days} days (seed {seed}): {sim.fixes.num_rows:,} fixes, "
            f"{sim.scans.num_rows:,} Wi-Fi scans, {sim.true_stays.num_rows:,} true stays → {out_dir}"
        )


@app.command()
def evaluate(
    directory: Annotated[
        Path | None, typer.Argument(help="A folder written by `hereabouts simulate` (default: simulate one).")
    ] = None,
    agents: Annotated[int, typer.Option(help="People to simulate when no folder is given.")] = 100,
    days: Annotated[int, typer.Option(help="Days to simulate when no folder is given.")] = 14,
    seed: Annotated[int, typer.Option(help="Seed of the simulation when no folder is given.")] = 1,
    profile: Annotated[str, typer.Option(help="Sensor profile when no folder is given.")] = "mixed",
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write metrics.json, report.md and PNG plots here.")
    ] = None,
    plots: Annotated[bool, typer.Option(help="Draw PNG plots (needs matplotlib).")] = True,
    trackintel: Annotated[bool, typer.Option(help="Also score the trackintel stay method.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Score every inference against a simulated town's ground truth: stays, places, home and work,
    trips and modes, routes, predictions (the last week held out; towns of 14 days or more),
    calibration; per noise profile."""
    from .evaluate import evaluate as run_evaluation

    def say(msg: str) -> None:
        if not (as_json or state.quiet):
            err.print(msg, highlight=False)

    result = run_evaluation(
        directory,
        agents=agents,
        days=days,
        seed=seed,
        profile=profile,
        out=out_dir,
        plots=plots,
        trackintel=trackintel,
        progress=say,
    )
    data = result.as_dict()
    if as_json:
        print(dumps(data))
        return
    metrics = data.get("metrics", {})
    _table(
        "metrics",
        [{"metric": k, "value": v} for k, v in sorted(metrics.items()) if "@" not in k],
        ["metric", "value"],
    )
    for stage, label in (("anchors", "home and work"), ("predict", "predictions")):
        info = data.get(stage) or {}
        if info and not info.get("available", True):
            out.print(f"{label}: not scored — {info.get('reason', '')}", highlight=False)
    if out_dir is not None:
        out.print(f"report written to {out_dir / 'report.md'}")


def _answer_dict(answer: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"answer": answer.text, **answer.to_dict()}
    return d


def _print_answer(answer: Any) -> None:
    out.print(f"[bold]{answer.text}[/]", highlight=False)
    out.print(f"[dim]asked: {answer.said}[/]", highlight=False)
    if answer.confidence is not None:
        out.print(f"[dim]confidence {answer.confidence:.2f}[/]", highlight=False)
    cov = answer.coverage.to_dict()
    if cov:
        out.print(f"[dim]coverage: {json.dumps(cov, default=str)[:300]}[/]", highlight=False)


@app.command()
def ask(
    question: Annotated[
        str | None, typer.Argument(help="A question in plain English; none: an interactive shell.")
    ] = None,
    entity: Annotated[str | None, typer.Option(help="Who 'I', 'me' and unnamed questions are about.")] = None,
    tz: Annotated[
        str | None, typer.Option(help="Time zone for times in the question (default: the entity's).")
    ] = None,
    now: Annotated[
        str | None, typer.Option(help="Reference time for 'yesterday', 'last week'... (ISO 8601).")
    ] = None,
    purpose: PurposeOpt = None,
    as_json: JsonOpt = False,
    llm_url: Annotated[
        str | None,
        typer.Option(
            "--llm-url",
            envvar="HEREABOUTS_LLM_URL",
            help="An OpenAI-compatible endpoint (e.g. http://127.0.0.1:11434/v1) whose model translates the "
            "question by tool calling; the built-in parser stands in when it fails.",
        ),
    ] = None,
    llm_model: Annotated[
        str | None,
        typer.Option("--llm-model", envvar="HEREABOUTS_LLM_MODEL", help="The model name to ask for."),
    ] = None,
) -> None:
    """Answer a question about the data ("where was van 7 yesterday at 10:00?"), with the evidence,
    confidence and data coverage behind the answer and the question said back in plain words."""
    from .ask.llm import ask_llm, config_from_env

    ref = _parse_when(now, "--now")
    llm = config_from_env(llm_url, llm_model)
    with _open() as db:

        def answer_fn(q: str) -> Any:
            if llm is None:
                return db.ask(q, now=ref, tz=tz, entity=entity, purpose=purpose)
            answer = ask_llm(db, q, llm, now=ref, tz=tz, entity=entity, purpose=purpose)
            if not as_json:
                for note in answer.notes:
                    err.print(f"[dim]{note}[/]", highlight=False)
            return answer

        if question is not None:
            answer = answer_fn(question)
            if as_json:
                print(dumps(_answer_dict(answer)))
            else:
                _print_answer(answer)
            return
        _ask_shell(db, answer_fn, as_json)


def _ask_shell(db: Any, answer_fn: Callable[[str], Any], as_json: bool) -> None:
    """A question prompt with history (~/.hereabouts_history); empty line or Ctrl-D ends it."""
    try:
        import readline
    except ImportError:  # pragma: no cover - not on every platform
        readline = None  # type: ignore[assignment]
    history = Path.home() / ".hereabouts_history"
    if readline is not None:
        try:
            readline.read_history_file(history)
        except OSError:
            pass
    err.print("ask a question (empty line to stop)", highlight=False)
    try:
        while True:
            try:
                q = input("? ").strip()
            except EOFError:
                break
            if not q:
                break
            answer = answer_fn(q)
            if as_json:
                print(dumps(_answer_dict(answer)))
            else:
                _print_answer(answer)
    finally:
        if readline is not None:
            try:
                readline.write_history_file(history)
            except OSError:
                pass


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (put a TLS proxy in front).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    tokens_file: Annotated[
        Path | None,
        typer.Option(
            "--tokens", help="JSON file mapping ingest tokens to device names; without it, dev mode."
        ),
    ] = None,
    keys_file: Annotated[
        Path | None,
        typer.Option("--owntracks-keys", help="JSON file mapping user/device to OwnTracks secrets."),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            envvar="HEREABOUTS_DATABASE",
            help="Store in PostgreSQL + PostGIS instead of the --db file: postgresql://user:pw@host:5432/db "
            "(?schema=NAME, default hereabouts).",
        ),
    ] = None,
    mqtt: Annotated[
        str | None,
        typer.Option(
            "--mqtt",
            envvar="HEREABOUTS_MQTT",
            help="Also take OwnTracks MQTT messages from this broker: mqtt://[user:pw@]host[:port][/base-topic].",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            help="Read ingest requests in this many worker processes sharing the port (this process keeps "
            "the store's single writer); 0: one process.",
        ),
    ] = 0,
    owntracks_friends: Annotated[
        int,
        typer.Option(
            "--owntracks-friends",
            min=0,
            help="With users: an OwnTracks HTTP reply tells of up to this many other devices of the sender's "
            "workspace (the most recently seen); 0 replies [].",
        ),
    ] = 50,
    analysis_delay_s: Annotated[
        float,
        typer.Option(
            "--analysis-delay-s",
            min=0.0,
            help="Analyse a device's stays again in the background once its fixes have paused this long.",
        ),
    ] = 2.0,
    no_analysis: Annotated[
        bool,
        typer.Option(
            "--no-analysis",
            help="No background analysis (the API still analyses what it is asked about when asked).",
        ),
    ] = False,
) -> None:
    """Serve the ingest endpoints (OwnTracks, OsmAnd/Traccar Client, GPSLogger, Overland) on the
    embedded store, or on PostgreSQL with --database: /ingest/owntracks, /ingest/osmand,
    /ingest/gpslogger, /ingest/overland."""
    try:
        from .server import serve as run_server
    except ImportError as exc:
        from .model.errors import MissingDependencyError

        raise MissingDependencyError(
            f"the server needs its extra dependencies ({exc.name} is missing)",
            hint="pip install 'hereabouts[server]'",
        ) from exc

    def load(path: Path | None, what: str) -> dict[str, str] | None:
        if path is None:
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read the {what} ({exc}); expected a JSON object") from exc
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise InputError(f"{path}: the {what} must be a JSON object of strings to strings")
        return data

    tokens = load(tokens_file, "tokens")
    keys = load(keys_file, "OwnTracks keys")
    if database is not None:
        state.db_path = database
    from .accounts import Accounts

    with _open() as db:
        accounts = Accounts(db.store)
        # with users, the REST API and per-device ingest tokens are on; without users or --tokens,
        # ingest is open (development mode, warned about) and there is no API
        use_accounts = accounts if accounts.users() else None
        err.print(f"serving {db.store.path} on http://{host}:{port}/ (ingest at /ingest/…)", highlight=False)
        if use_accounts is None:
            err.print(
                "no users yet: the REST API and web UI need one (`hereabouts user add NAME`)", highlight=False
            )
        run_server(
            db,
            host=host,
            port=port,
            tokens=tokens,
            owntracks_keys=keys,
            accounts=use_accounts,
            mqtt=mqtt,
            workers=workers,
            owntracks_friends=owntracks_friends,
            analysis_delay_s=None if no_analysis else analysis_delay_s,
        )


@audit_app.command("list")
def audit_list(as_json: JsonOpt = False) -> None:
    """Every logged question and export: who, when, what, and the stated purpose."""
    with _open(read_only=True) as db:
        data = rows(db.audit_log())
    if as_json:
        print(dumps(data))
    else:
        _table("audit log", data, ["seq", "at", "actor", "action", "what", "purpose"])


@audit_app.command("verify")
def audit_verify(as_json: JsonOpt = False) -> None:
    """Check the audit log's hash chain: any edited or deleted entry is found (exit code 2)."""
    with _open(read_only=True) as db:
        result = db.verify_audit()
    if as_json:
        print(dumps(result.as_dict()))
    elif result.ok:
        out.print(f"audit log intact: {result.n_rows} entries, head {result.head}")
    else:
        err.print(
            f"[bold red]audit log broken[/] at entry {result.first_bad_seq}: {result.reason}", highlight=False
        )
    if not result.ok:
        raise typer.Exit(2)


@app.command("versions")
def versions_cmd() -> None:
    """Versions of hereabouts and its dependencies, for bug reports."""
    from ._versions import show_versions

    show_versions()


def _register_areas() -> None:
    import importlib

    from ._cli import MODULES

    for name in MODULES:
        importlib.import_module(f"hereabouts._cli.{name}").register(app)


_register_areas()


def main() -> None:
    """Entry point: runs the app and renders HereaboutsError as one clear line (exit code 2)."""
    try:
        app()
    except HereaboutsError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err.print(f"[dim]hint:[/] {exc.hint}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted; nothing of the unfinished import was written")
        sys.exit(130)


_ = UTC
