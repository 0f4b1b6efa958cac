"""Fit the shipped stream-linkage calibration: LLR weights and the map LLR → probability of one carrier.

Simulates towns on several seeds (``--days`` days each), finds and scores every candidate pair of
device streams with :func:`hereabouts.analysis.linkage.score_links`, and labels each pair from the
truth (one agent's two devices, or not). The weights of the log likelihood ratio are the
coefficients of an L2-regularised logistic regression of "one carrier" on the pair's evidence
(moving-together epochs, still-together epochs, distinct places together beyond the first, apart
epochs, separations; and for a pair with a coarse, cell-tower stream its own close epochs, places
and apart epochs, judged at the coarse stream's accuracy); the probability is an isotonic map fitted on the resulting LLR. Both go to
``src/hereabouts/calibration/linkage.json``. A held-out seed is then scored with the new map and
its precision, recall and ECE printed.

    python scripts/fit_linkage_calibration.py --agents 150 --days 7 --seeds 11 12 13 14 15 16 --holdout 17
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from hereabouts.analysis import linkage as lk
from hereabouts.evaluate.calibration import ece, fit_isotonic
from hereabouts.evaluate.linkage import score_linkage, scored_links
from hereabouts.sim import simulate

OUT = Path(__file__).resolve().parents[1] / "src" / "hereabouts" / "calibration" / lk.CALIBRATION_FILE
FEATURES = lk.FEATURES


def features(table: object) -> np.ndarray:
    """The evidence matrix of scored pairs, in the order of :data:`FEATURES`."""
    rows = table.select(  # type: ignore[attr-defined]
        ["coarse", "n_moving_close", "n_still_close", "n_places", "n_apart", "n_separations", "spread"]
    ).to_pylist()
    out = np.zeros((len(rows), len(FEATURES)))
    for i, r in enumerate(rows):
        f = lk.features_of(
            coarse=bool(r["coarse"]),
            moving_close=r["n_moving_close"],
            still_close=r["n_still_close"],
            places=r["n_places"],
            apart=r["n_apart"],
            separations=r["n_separations"],
            spread=r["spread"] if r["spread"] is not None else float("nan"),
        )
        out[i] = [f[k] for k in FEATURES]
    return out


def logistic_l2(
    x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, iters: int = 50
) -> tuple[np.ndarray, float]:
    """Weights (in the units of ``x``) and intercept of an L2-regularised logistic regression (Newton)."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.column_stack([np.ones(len(x)), (x - mu) / sd])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -50, 50)))
        g = z.T @ (p - y) + reg * w
        h = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(h, g)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    coef = w[1:] / sd
    return coef, float(w[0] - np.sum(w[1:] * mu / sd))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=150)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--profile", default="mixed")
    ap.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13, 14, 15, 16])
    ap.add_argument("--holdout", type=int, default=17)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--dry-run", action="store_true", help="fit and score, but write nothing")
    args = ap.parse_args(argv)

    params = lk.LinkParams()  # the default weights: the fit must not depend on an earlier fit
    xs, ys = [], []
    for seed in args.seeds:
        sim = simulate(agents=args.agents, days=args.days, seed=seed, profile=args.profile)
        sc = scored_links(sim, days=args.days, params=params)
        sc = sc.filter(pc.invert(sc.column("vehicle_pair")))  # always probability 0: not fitted
        lab = np.array([v == "same" for v in sc.column("label").to_pylist()], np.float64)
        xs.append(features(sc))
        ys.append(lab)
        print(f"seed {seed}: {sc.num_rows} candidate pairs, {int(lab.sum())} of one carrier")
    x, y = np.concatenate(xs), np.concatenate(ys)
    # fine pairs and coarse pairs (a cell-tower stream) are fitted apart: their evidence differs and so
    # do their prior odds (a coarse stream is a candidate with many more streams); the coarse fit's
    # intercept, relative to the fine one, is the weight of coarse_pair
    is_coarse = x[:, FEATURES.index("coarse_pair")] > 0
    fine_f = [i for i, f in enumerate(FEATURES) if not f.startswith("coarse")]
    coarse_f = [i for i, f in enumerate(FEATURES) if f.startswith("coarse") and f != "coarse_pair"]
    coef = np.zeros(len(FEATURES))
    cf, intercept = logistic_l2(x[~is_coarse][:, fine_f], y[~is_coarse], l2=args.l2)
    coef[fine_f] = cf
    if is_coarse.any() and y[is_coarse].any():
        cc, intercept_c = logistic_l2(x[is_coarse][:, coarse_f], y[is_coarse], l2=args.l2)
        coef[coarse_f] = cc
        coef[FEATURES.index("coarse_pair")] = intercept_c - intercept
    else:  # nothing to learn from: a coarse pair is never likely
        coef[FEATURES.index("coarse_pair")] = -50.0
    print(
        f"fine pairs {int((~is_coarse).sum())} ({int(y[~is_coarse].sum())} of one carrier), "
        f"coarse pairs {int(is_coarse.sum())} ({int(y[is_coarse].sum())} of one carrier)"
    )
    weights = {f: round(float(c), 6) for f, c in zip(FEATURES, coef, strict=True)}
    llr = x @ coef
    # isotonic on the logistic of the LLR (fit_isotonic works on [0, 1]); knots kept in LLR units
    s = 1.0 / (1.0 + np.exp(-np.clip(llr + intercept, -30, 30)))
    m = fit_isotonic(s, y.astype(bool), kind="linkage", min_block=20)
    knots = [
        round(math.log(max(v, 1e-13) / max(1 - v, 1e-13)) - intercept, 4)
        for v in np.clip(m.x, 1e-13, 1 - 1e-13)
    ]
    xk: list[float] = []
    yk: list[float] = []
    for a, b in zip(knots, m.y, strict=True):  # strictly increasing knots
        if xk and a <= xk[-1]:
            yk[-1] = max(yk[-1], b)
            continue
        xk.append(a)
        yk.append(b)
    cal = lk.LinkCalibration(weights, xk, yk, {})
    prob = cal.probability(llr)
    train_ece = round(ece(prob, y.astype(bool)), 5)
    doc: dict[str, object] = {
        "kind": "linkage",
        "method": "logistic-l2 weights, isotonic LLR -> probability",
        "weights": weights,
        "x": xk,
        "y": yk,
        "meta": {
            "fitted_on": {
                "agents": args.agents,
                "days": args.days,
                "profile": args.profile,
                "seeds": args.seeds,
            },
            "n": len(y),
            "n_same": int(y.sum()),
            "intercept": round(intercept, 6),
            "l2": args.l2,
            "train_ece": train_ece,
        },
    }
    print("weights", weights, "intercept", round(intercept, 3))
    print("train ECE", train_ece)
    if not args.dry_run:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
        print("wrote", args.out)
    if args.holdout is not None:
        lk.load_calibration.cache_clear()
        hp = lk.LinkParams(weights={**lk.DEFAULT_WEIGHTS, **weights})
        sim = simulate(agents=args.agents, days=args.days, seed=args.holdout, profile=args.profile)
        held = scored_links(sim, days=args.days, params=hp)
        if args.dry_run:  # score with the new map, not the shipped one
            pr = np.where(
                held.column("vehicle_pair").to_numpy(zero_copy_only=False),
                0.0,
                cal.probability(features(held) @ coef),
            )
            held = held.set_column(held.schema.get_field_index("probability"), "probability", [pr])
        met = score_linkage(sim, days=args.days, params=hp, scored=held)
        keys = (
            "precision",
            "recall",
            "recall_linkable",
            "false_merge_rate_household",
            "false_merge_rate_bus",
            "ece",
        )
        print("holdout", args.holdout, {k: round(met[f"linkage.{k}"], 4) for k in keys})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
