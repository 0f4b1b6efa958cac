"""`hereabouts profile ENTITY --html FILE`: an entity's profile as a self-contained offline HTML report."""

# no `from __future__ import annotations`: Typer reads the annotations, which name options imported
# inside register()

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    from ..cli import JsonOpt, PurposeOpt, _busy, _open, _parse_when, out

    @app.command("profile")
    def profile_cmd(
        entity: Annotated[str, typer.Argument(help="Entity name or alias.")],
        html: Annotated[Path, typer.Option("--html", help="Write the report to this HTML file.")],
        start: Annotated[str | None, typer.Option("--from", help="Start (ISO 8601), inclusive.")] = None,
        end: Annotated[str | None, typer.Option("--to", help="End (ISO 8601), exclusive.")] = None,
        tz: Annotated[
            str | None,
            typer.Option(
                help="IANA zone of the days and hours shown (default: the entity's, at its last fix)."
            ),
        ] = None,
        purpose: PurposeOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """An entity's profile as one HTML file that works offline: a map of its places and habitual
        routes, a time-of-week heatmap, a stays timeline, home and work with their confidence, the data
        coverage and mobility statistics, each with its method and measured error rate. Logged in the
        audit log like an export."""
        t0, t1 = _parse_when(start, "--from"), _parse_when(end, "--to")
        # read_only=True only checks that the database exists; it is opened writable for the audit log
        with _open(read_only=True) as db, _busy(f"writing the profile of {entity} to {html}", as_json):
            prof = db.profile(entity, path=html, start=t0, end=t1, tz=tz, purpose=purpose)
        summary = {
            "entity": prof.entity,
            "path": str(html),
            "tz": prof.tz,
            "fixes": prof.n_fixes,
            "stays": prof.stays.num_rows,
            "places": prof.n_places,
            "trips": prof.trips.num_rows,
            "routes": prof.routes.num_rows,
            "anchors": [
                {"label": r["label"], "place_id": r["place_id"], "confidence": r["confidence"]}
                for r in prof.anchors.to_pylist()
                if not r["abstained"]
            ],
        }
        if as_json:
            print(json.dumps(summary, ensure_ascii=False, indent=2))
        else:
            out.print(
                f"wrote the profile of {prof.entity} to {html}: {prof.n_fixes:,} fixes, "
                f"{prof.stays.num_rows} stays, {prof.n_places} places, {prof.routes.num_rows} routes",
                highlight=False,
                markup=False,
            )
