"""`hereabouts link`: device streams that one carrier holds, proposed and merged only when accepted."""

from typing import Annotated, Any

import typer

from ..model.errors import InputError


def _n(k: int, word: str) -> str:
    return f"{k} {word}" if k == 1 else f"{k} {word}s"


def _summary(r: dict[str, Any]) -> str:
    text = (
        f"{_n(r['n_moving_episodes'], 'trip')} together, {_n(r['n_places'], 'place')} together, "
        f"{_n(r['n_separations'], 'separation')}, together on {r['n_days_together']} of {r['n_days']} days"
    )
    if r.get("coarse"):
        text += " (one stream has cell-tower positions only: judged at their accuracy)"
    return text


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    from ..cli import JsonOpt, PurposeOpt, _busy, _open, _table, out

    @app.command("link")
    def link(
        devices: Annotated[
            list[str] | None,
            typer.Argument(help="With --accept: the two device streams to merge (DEVICE_A DEVICE_B)."),
        ] = None,
        accept: Annotated[
            bool, typer.Option("--accept", help="Merge the two devices given into one entity.")
        ] = False,
        min_probability: Annotated[
            float,
            typer.Option("--min-probability", min=0.0, max=1.0, help="List proposals at least this likely."),
        ] = 0.5,
        travels_with: Annotated[
            bool,
            typer.Option(
                "--travels-with", help="Also list 'travels with' pairs (a vehicle and its drivers)."
            ),
        ] = False,
        force: Annotated[
            bool, typer.Option("--force", help="With --accept: merge even a pair that is not a proposal.")
        ] = False,
        purpose: PurposeOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Propose device streams that belong to one carrier (a phone and a watch), scored from how they
        move together over days; `--accept DEVICE_A DEVICE_B` merges one (written to the audit log).

        Nothing is merged without --accept. Each proposal shows its log likelihood ratio, calibrated
        probability and evidence (trips and places together, separations, days observed)."""
        from .._render import dumps

        devices = list(devices or [])
        if accept:
            if len(devices) != 2:
                raise InputError(
                    f"--accept needs exactly two device names, got {len(devices)}",
                    hint="hereabouts link --accept DEVICE_A DEVICE_B",
                )
            with _open() as db:
                done = db.accept_link(devices[0], devices[1], purpose=purpose, force=force)
            if as_json:
                print(dumps(done))
            else:
                out.print(
                    f"merged {', '.join(repr(d) for d in done['moved'])} into entity {done['entity']!r} "
                    f"(probability {done['probability']:.3f}, LLR {done['llr']:.1f}); logged in the audit log",
                    highlight=False,
                )
            return
        if devices:
            raise InputError(
                "device names are only taken with --accept",
                hint="hereabouts link --accept DEVICE_A DEVICE_B",
            )
        with _busy("scoring device streams", quiet=as_json), _open(read_only=True) as db:
            table = db.link_proposals(min_probability=min_probability, include_travels_with=travels_with)
        data = table.to_pylist()
        if as_json:
            print(dumps({"proposals": data, "min_probability": min_probability}))
            return
        if not data:
            out.print(f"no link proposals at probability >= {min_probability}")
            return
        _table(
            "link proposals (accept with: hereabouts link --accept DEVICE_A DEVICE_B)",
            [
                {
                    "device_a": r["device_a"],
                    "device_b": r["device_b"],
                    "relation": r["relation"],
                    "probability": round(r["probability"], 4),
                    "llr": round(r["llr"], 1),
                    "evidence": _summary(r),
                }
                for r in data
            ],
        )
