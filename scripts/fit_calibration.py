"""Fit the shipped calibration maps: raw engine confidence → measured probability of being right.

Simulates a training population on several seeds, runs the engine and pools, per confidence kind
(stays, places, trips, modes, anchors), the pairs (raw confidence, correct) that
``hereabouts.evaluate.evaluate`` collects; fits an isotonic map per kind and writes it as JSON into
``src/hereabouts/calibration/``. Then scores a held-out seed and prints the ECE before and after.

    python scripts/fit_calibration.py --agents 60 --days 14 --seeds 101 102 103 --holdout 200

The maps must be fitted on *raw* confidences: run it on an engine whose stages do not yet apply the
maps (or with them switched off).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hereabouts.evaluate import evaluate
from hereabouts.evaluate.calibration import KINDS, ece, fit_isotonic

OUT = Path(__file__).resolve().parents[1] / "src" / "hereabouts" / "calibration"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=60)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--profile", default="mixed")
    ap.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    ap.add_argument("--holdout", type=int, default=200)
    ap.add_argument("--min-samples", type=int, default=100)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--dry-run", action="store_true", help="fit and score, but write no map")
    args = ap.parse_args(argv)

    pooled: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {k: ([], []) for k in KINDS}
    for seed in args.seeds:
        ev = evaluate(
            None, agents=args.agents, days=args.days, seed=seed, profile=args.profile, trackintel=False
        )
        for kind, (c, y) in ev.samples.items():
            pooled[kind][0].append(c)
            pooled[kind][1].append(y)
        print(f"seed {seed}: " + ", ".join(f"{k} {len(c)}" for k, (c, _) in ev.samples.items()))
    held = evaluate(
        None, agents=args.agents, days=args.days, seed=args.holdout, profile=args.profile, trackintel=False
    )
    summary: dict[str, dict[str, float | int | None]] = {}
    args.out.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        cs, ys = pooled[kind]
        if not cs or sum(len(c) for c in cs) < args.min_samples:
            print(f"{kind}: not enough samples, no map")
            continue
        c, y = np.concatenate(cs), np.concatenate(ys)
        keep = np.isfinite(c)
        m = fit_isotonic(c[keep], y[keep], kind=kind)
        m.meta.update(
            {
                "fitted_on": {
                    "agents": args.agents,
                    "days": args.days,
                    "profile": args.profile,
                    "seeds": args.seeds,
                },
                "train_ece_before": round(ece(c[keep], y[keep]), 4),
                "train_ece_after": round(ece(m(c[keep]), y[keep]), 4),
            }
        )
        entry: dict[str, float | int | None] = {"n_train": int(keep.sum())}
        if kind in held.samples:
            hc, hy = held.samples[kind]
            hk = np.isfinite(hc)
            before, after = ece(hc[hk], hy[hk]), ece(m(hc[hk]), hy[hk])
            m.meta.update(
                {
                    "holdout_seed": args.holdout,
                    "holdout_ece_before": round(before, 4),
                    "holdout_ece_after": round(after, 4),
                }
            )
            entry.update(n_holdout=int(hk.sum()), ece_before=round(before, 4), ece_after=round(after, 4))
        summary[kind] = entry
        if not args.dry_run:
            (args.out / f"{kind}.json").write_text(json.dumps(m.as_dict(), indent=1) + "\n")
        print(f"{kind}: {entry}")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
