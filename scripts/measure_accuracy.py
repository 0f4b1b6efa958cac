"""Measure the engine against the simulator's truth, one run per noise profile, and record the result.

Writes ``src/hereabouts/calibration/measured.json``:
``{"command": ..., "date": ..., "parameters": {...}, "metrics": {dotted name: number}}`` where a name
is an ``evaluate`` metric key followed by ``@`` and the profile every device was forced to (or
``mixed``) — e.g. ``home.top1@cell``, ``stays.f1@gps-1min``; metrics that measured nothing are left
out. Reports read it to caption figures with measured error rates. With ``--markdown`` also prints the
table of docs/accuracy.md.

    python scripts/measure_accuracy.py --agents 120 --days 21 --seed 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import shlex
import sys
import time
from pathlib import Path

from hereabouts.evaluate import evaluate

OUT = Path(__file__).resolve().parents[1] / "src" / "hereabouts" / "calibration" / "measured.json"
PROFILES = ("gps-1min", "gps-15min", "gps-5min-50m-gaps", "wifi", "cell", "mixed")
#: Rows of the Markdown table, in order.
TABLE = (
    "stays.precision",
    "stays.recall",
    "stays.f1",
    "stays.start_error_median_s",
    "stays_trackintel.precision",
    "stays_trackintel.recall",
    "stays_trackintel.f1",
    "places.precision",
    "places.recall",
    "home.top1",
    "home.abstention",
    "home.confident_wrong",
    "work.top1",
    "work.abstention",
    "work.confident_wrong",
    "work.false_rate",
    "trips.precision",
    "trips.recall",
    "modes.accuracy",
    "routes.recall",
    "predict.top1",
    "predict.baseline_top1",
    "predict.brier",
    "predict.ece",
    "predict.fano_bound",
    "predict.fano_bound_distinct",
    "calibration.ece",
    "calibration.ece.stays",
    "calibration.ece.places",
    "calibration.ece.trips",
    "calibration.ece.modes",
    "calibration.ece.anchors",
    "calibration.ece.predict",
)


def _fmt(v: float | None, key: str) -> str:
    if v is None or math.isnan(v):
        return "–"
    if key.endswith("_s"):
        return f"{v:.0f} s"
    return f"{v:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=120)
    ap.add_argument("--days", type=int, default=21)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profiles", nargs="+", default=list(PROFILES))
    ap.add_argument(
        "--no-trackintel-on", nargs="*", default=["cell"], help="profiles scored without trackintel"
    )
    ap.add_argument(
        "--signals",
        nargs="*",
        default=[],
        help="also score these signal-linking inferences (wifi, linkage, copresence); default none",
    )
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)

    metrics: dict[str, float] = {}
    by_profile: dict[str, dict[str, float]] = {}
    runs: dict[str, dict[str, object]] = {}
    for prof in args.profiles:
        t0, c0 = time.perf_counter(), time.process_time()
        ev = evaluate(
            None,
            agents=args.agents,
            days=args.days,
            seed=args.seed,
            profile=prof,
            trackintel=prof not in args.no_trackintel_on,
            plots=False,
            signals=tuple(args.signals),
        )
        by_profile[prof] = ev.metrics
        runs[prof] = {
            "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0, 1),
            "agents_scored": ev.details["run"]["agents_scored"],
        }
        for k, v in ev.metrics.items():
            if "@" not in k and not math.isnan(v):
                metrics[f"{k}@{prof}"] = round(float(v), 4)
        print(f"{prof}: done in {runs[prof]['wall_s']} s", file=sys.stderr, flush=True)
    record = {
        "command": "python scripts/measure_accuracy.py "
        + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "parameters": {
            "agents": args.agents,
            "days": args.days,
            "seed": args.seed,
            "profiles": args.profiles,
        },
        "runs": runs,
        "metrics": dict(sorted(metrics.items())),
    }
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    if args.markdown:
        print("| metric | " + " | ".join(args.profiles) + " |")
        print("|---|" + "---|" * len(args.profiles))
        for key in TABLE:
            cells = [_fmt(by_profile[p].get(key), key) for p in args.profiles]
            print(f"| `{key}` | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
