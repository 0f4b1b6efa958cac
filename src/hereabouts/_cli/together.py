"""`hereabouts together A B`, `hereabouts near ENTITY`, `hereabouts ties`: co-presence between entities.

Co-presence reports times and places, never what the company means.
"""

# no `from __future__ import annotations`: Typer reads the annotations, which name options imported
# inside register()

from typing import Annotated, Any

import typer

CAVEAT = (
    "co-presence reports times and places, never what the company means; strangers coincide at shared "
    "offices, gyms, shops and buses (see docs/accuracy.md for measured error rates)"
)


def _episode_rows(table: Any, iso: bool = True) -> list[dict[str, Any]]:
    rows = []
    for r in table.to_pylist():
        rows.append(
            {
                **({"other": r["other"]} if "other" in r else {}),
                "start": r["start"].isoformat(timespec="seconds")
                if iso
                else r["start"].strftime("%Y-%m-%d %H:%M"),
                "end": r["end"].isoformat(timespec="seconds") if iso else r["end"].strftime("%Y-%m-%d %H:%M"),
                "minutes": round(r["duration_s"] / 60.0, 1),
                "lat": round(r["lat"], 6),
                "lon": round(r["lon"], 6),
                "distance_median_m": round(r["distance_median_m"], 1),
                "confidence": r["confidence"],
            }
        )
    return rows


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    from .._render import dumps
    from ..cli import JsonOpt, _busy, _open, _parse_when, _table, out

    RadiusOpt = Annotated[float, typer.Option("--radius-m", help="How close, in metres.")]
    DurationOpt = Annotated[float, typer.Option("--min-duration-s", help="Shortest episode, in seconds.")]
    GapOpt = Annotated[
        float, typer.Option("--max-gap-s", help="Longest silence between fixes bridged, in seconds.")
    ]
    FromOpt = Annotated[str | None, typer.Option("--from", help="Start (ISO 8601), inclusive.")]
    ToOpt = Annotated[str | None, typer.Option("--to", help="End (ISO 8601), exclusive.")]

    @app.command("together")
    def together_cmd(
        a: Annotated[str, typer.Argument(help="First entity.")],
        b: Annotated[str, typer.Argument(help="Second entity.")],
        start: FromOpt = None,
        end: ToOpt = None,
        radius_m: RadiusOpt = 50.0,
        min_duration_s: DurationOpt = 600.0,
        max_gap_s: GapOpt = 1200.0,
        as_json: JsonOpt = False,
    ) -> None:
        """When A and B were within --radius-m of each other for at least --min-duration-s (both fixes'
        accuracy taken into account; nothing claimed across a recording gap of either)."""
        t0, t1 = _parse_when(start, "--from"), _parse_when(end, "--to")
        with _open(read_only=True) as db, _busy(f"finding when {a} and {b} were together", as_json):
            table = db.together(
                a, b, t0, t1, radius_m=radius_m, min_duration_s=min_duration_s, max_gap_s=max_gap_s
            )
        rows = _episode_rows(table, iso=as_json)
        for r in rows:
            r.pop("other", None)
        if as_json:
            print(dumps({"entity_a": a, "entity_b": b, "episodes": rows, "caveat": CAVEAT}))
            return
        if not rows:
            out.print(f"{a} and {b} were never within {radius_m:g} m for {min_duration_s / 60:g} min.")
        else:
            _table(f"{a} and {b} within {radius_m:g} m (UTC)", rows)
        out.print(f"Note: {CAVEAT}.", highlight=False, markup=False)

    @app.command("near")
    def near_cmd(
        entity: Annotated[str, typer.Argument(help="Entity.")],
        start: FromOpt = None,
        end: ToOpt = None,
        radius_m: RadiusOpt = 50.0,
        min_duration_s: DurationOpt = 600.0,
        max_gap_s: GapOpt = 1200.0,
        as_json: JsonOpt = False,
    ) -> None:
        """Who was within --radius-m of ENTITY for at least --min-duration-s, and when and where."""
        t0, t1 = _parse_when(start, "--from"), _parse_when(end, "--to")
        with _open(read_only=True) as db, _busy(f"finding who was near {entity}", as_json):
            table = db.near(
                entity, t0, t1, radius_m=radius_m, min_duration_s=min_duration_s, max_gap_s=max_gap_s
            )
        rows = _episode_rows(table, iso=as_json)
        if as_json:
            print(dumps({"entity": entity, "episodes": rows, "caveat": CAVEAT}))
            return
        if not rows:
            out.print(f"Nobody was within {radius_m:g} m of {entity} for {min_duration_s / 60:g} min.")
        else:
            _table(f"near {entity} (within {radius_m:g} m, UTC)", rows)
        out.print(f"Note: {CAVEAT}.", highlight=False, markup=False)

    @app.command("ties")
    def ties_cmd(
        start: FromOpt = None,
        end: ToOpt = None,
        workspace: Annotated[str | None, typer.Option(help="Only the entities of this workspace.")] = None,
        alpha: Annotated[float, typer.Option(help="Largest p-value of a tie.")] = 0.3,
        min_away: Annotated[
            int, typer.Option("--min-away", help="Fewest episodes away from home and work for a tie.")
        ] = 3,
        ties_only: Annotated[bool, typer.Option("--ties-only", help="Only the pairs called ties.")] = False,
        radius_m: RadiusOpt = 50.0,
        as_json: JsonOpt = False,
    ) -> None:
        """The co-presence graph: every pair with co-presence, its hours together, its episodes away
        from both entities' home and work, and its significance against chance (strangers with the
        same places and hours); a tie is a pair above the threshold, not a relationship."""
        t0, t1 = _parse_when(start, "--from"), _parse_when(end, "--to")
        with _open(read_only=True) as db, _busy("building the co-presence graph", as_json):
            graph = db.copresence_graph(
                t0,
                t1,
                workspace=workspace,
                ties_only=ties_only,
                alpha=alpha,
                min_away=min_away,
                radius_m=radius_m,
            )
        if as_json:
            print(dumps({**graph.to_dict(), "alpha": alpha, "min_away": min_away, "caveat": CAVEAT}))
            return
        rows = graph.edges.to_pylist()
        rows.sort(key=lambda r: (-(r["tie_score"] or 0.0), -r["weight_h"]))
        if rows:
            _table("co-presence", rows)
        else:
            out.print("No co-presence found.")
        n_ties = sum(1 for r in rows if r["is_tie"])
        out.print(
            f"{n_ties} tie{'s' if n_ties != 1 else ''} at p <= {alpha:g} with at least {min_away} episodes away "
            f"from home and work. Note: {CAVEAT}.",
            highlight=False,
            markup=False,
        )
