"""`hereabouts wifi`: learn where access points are, and position scans that came without a fix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
PairOpt = Annotated[
    str,
    typer.Option(
        "--pair-by",
        help="Pair scans with fixes of the same 'device' (default) or of any device of the same 'entity' "
        "(a phone that scans, a watch with GPS).",
    ),
]
EntityOpt = Annotated[
    str | None, typer.Option("--entity", help="Only this entity (default: every entity, each on its own).")
]


def register(app: typer.Typer) -> None:
    """Add the ``wifi`` command group to ``app``."""
    wifi_app = typer.Typer(
        help="Wi-Fi and cell positioning: access points learned from your own fixes, scans made fixes.",
        no_args_is_help=True,
    )
    app.add_typer(wifi_app, name="wifi")

    @wifi_app.command("learn")
    def learn_cmd(
        entity: EntityOpt = None,
        out_path: Annotated[
            Path | None,
            typer.Option("--out", help="Also write the table to this file (.csv or .parquet)."),
        ] = None,
        max_fix_accuracy_m: Annotated[
            float, typer.Option(help="Learn only from fixes at least this accurate (metres).")
        ] = 30.0,
        min_positions: Annotated[
            int, typer.Option(help="Distinct positions below which an access point stays uncertain.")
        ] = 3,
        pair_by: PairOpt = "device",
        as_json: JsonOpt = False,
    ) -> None:
        """Learn where each access point (and cell tower) in the scans is, from the same entity's good
        fixes close in time: position, coverage radius, uncertainty, observations."""
        from .._render import dumps, rows
        from ..cli import _open, _table, err

        with _open(read_only=True) as db:
            table = db.access_points(
                entity, max_fix_accuracy_m=max_fix_accuracy_m, min_positions=min_positions, pair_by=pair_by
            )
        if out_path is not None:
            _write_table(table, out_path)
        if as_json:
            print(dumps(rows(table)))
            return
        if table.num_rows == 0:
            err.print("no access point could be learned: no scan came with a good fix close in time")
            return
        _table(
            f"access points ({table.num_rows})",
            rows(table),
            ["kind", "ident", "lat", "lon", "radius_m", "uncertainty_m", "n_obs", "n_positions"],
        )

    @wifi_app.command("position")
    def position_cmd(
        entity: EntityOpt = None,
        ap_table: Annotated[
            Path | None,
            typer.Option(
                "--ap-table",
                help="Use this access-point table (CSV or Parquet: bssid, lat, lon[, radius_m]) "
                "instead of learning one.",
            ),
        ] = None,
        fix_window_s: Annotated[
            float, typer.Option(help="A scan with a fix of its device this close in time is left alone.")
        ] = 60.0,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, but write nothing.")] = False,
        pair_by: PairOpt = "device",
        as_json: JsonOpt = False,
    ) -> None:
        """Turn scans that came without a fix into fixes (provider wifi, or cell) with an accuracy, and
        add them to the database as one new source; running it again adds nothing."""
        from .._render import dumps
        from ..cli import _open, out

        with _open(read_only=dry_run) as db:
            result = db.position_scans(
                entity,
                ap_table=ap_table,
                fix_window_s=fix_window_s,
                write=not dry_run,
                learn_options={"pair_by": pair_by},
            )
        data = result.as_dict()
        if as_json:
            print(dumps(data))
            return
        verb = "would add" if dry_run else "added"
        out.print(
            f"{result.n_scans:,} scans, {result.n_with_fix:,} with a fix already, "
            f"{result.n_positioned:,} positioned from {result.n_access_points:,} access points "
            f"({result.ap_origin}); {verb} {result.n_added if not dry_run else result.n_positioned:,} fixes"
            + (f" as source {result.source_id}" if result.source_id is not None else "")
            + (f", {result.n_duplicates:,} already stored" if result.n_duplicates else "")
        )


def _write_table(table: object, path: Path) -> None:
    import pyarrow as pa

    from ..model.errors import InputError

    assert isinstance(table, pa.Table)
    low = path.name.lower()
    if low.endswith(".parquet"):
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif low.endswith(".csv"):
        import pyarrow.csv as pacsv

        pacsv.write_csv(table.rename_columns(["kind", "bssid", *table.column_names[2:]]), path)
    else:
        raise InputError(f"cannot tell the format of {path} from its name", hint="name it .csv or .parquet")
