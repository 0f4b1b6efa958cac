"""Fit the shipped calibration maps: raw engine confidence → measured probability of being right.

Simulates training populations (each ``--profiles`` × each ``--seeds``), runs the engine on them and
pools, per confidence kind (stays, places, trips, modes, anchors, predict), the pairs (raw score, correct) that
``hereabouts.evaluate.evaluate`` collects; fits an isotonic map per kind and writes it as JSON into
``src/hereabouts/calibration/``. Then scores held-out seeds and prints the ECE of the raw scores and
of the confidences the engine emits with the new maps.

Besides the pooled map, the kinds of :data:`CLASSED` get one map per sensor class
(``calibration.sensor_classes``: the spread and the rate of fixes of an agent's stays) with at least
``--min-class-samples`` training samples, and modes one per class, guess and trip length
(``trips.mode_calibration_keys``); the stages pick the map of each row's key (or of its coarser
prefix when it has none). So the training
towns should hold every class the engine will meet: forced single profiles as well as ``mixed``.

    python scripts/fit_calibration.py --agents 60 --days 14 \\
        --profiles gps-1min gps-15min gps-5min-50m-gaps wifi duty-cycled significant-change mixed cell \\
        --seeds 101 102 --holdout

The ``predict`` map (top-1 probability of next-place predictions) gets samples only from towns of
at least 14 days (the last 7 are held out), so it is fitted apart::

    python scripts/fit_calibration.py --agents 60 --days 21 --profiles mixed gps-1min gps-15min wifi \\
        --seeds 101 102 --holdout 200 --only predict

Every map is fitted on *raw* scores of its own kind: the runs switch its map off
(``evaluate(calibrated=...)``). Kinds whose raw score is computed from another kind's emitted
confidence (places and trips, from their stays') are fitted after it, with its new map on
(``calibration.FIT_ORDER``), so each map sees in fitting what it sees in use and no map is applied to
the output of another map of its own kind.
"""

from __future__ import annotations

import argparse
import json
import pickle
import tempfile
from pathlib import Path

import numpy as np

from hereabouts.evaluate import evaluate
from hereabouts.evaluate.calibration import FIT_ORDER, KINDS, CalibrationMap, ece, fit_isotonic, use_maps
from hereabouts.sim import simulate

#: The kinds fitted per sensor class as well (anchors: one pooled map; its stage passes no class).
CLASSED = ("stays", "places", "trips", "modes")

OUT = Path(__file__).resolve().parents[1] / "src" / "hereabouts" / "calibration"


def _simulate(root: Path, profile: str, seed: int, agents: int, days: int) -> Path:
    out = root / f"{profile}-{seed}"
    if not (out / "fixes.parquet").is_file():
        simulate(agents=agents, days=days, seed=seed, profile=profile, out=out, formats=("geoparquet",))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--profiles", nargs="+", default=["mixed", "cell"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[101, 103, 104])
    ap.add_argument("--holdout", type=int, nargs="*", default=[200])
    ap.add_argument("--min-samples", type=int, default=100)
    ap.add_argument("--min-class-samples", type=int, default=300)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--work", type=Path, default=None, help="keep the simulations here (default: a temp folder)"
    )
    ap.add_argument("--dry-run", action="store_true", help="fit and score, but write no map")
    ap.add_argument(
        "--reuse-raw",
        action="store_true",
        help="keep the raw-score samples of each --work folder (fit-raw-samples.pkl) and reuse them in a "
        "later run; delete them after changing a stage",
    )
    ap.add_argument(
        "--only",
        nargs="+",
        choices=KINDS,
        default=list(KINDS),
        help="refit these kinds; keep the others' shipped maps",
    )
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="hereabouts-fit-") as tmp:
        root = args.work or Path(tmp)
        train = [_simulate(root, p, s, args.agents, args.days) for p in args.profiles for s in args.seeds]
        held = [_simulate(root, p, s, args.agents, args.days) for p in args.profiles for s in args.holdout]
        fitted: dict[str, CalibrationMap | None] = {}
        summary: dict[str, dict[str, object]] = {}
        emitted: dict[Path, set[str]] = {}  # the kinds each training folder gave samples of
        for level, whole in enumerate(FIT_ORDER):
            group = tuple(k for k in whole if k in args.only)
            if not group:
                continue
            earlier = [k for g in FIT_ORDER[:level] for k in g]  # on: new maps, else the shipped ones
            pooled: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {k: ([], []) for k in group}
            by_cls: dict[tuple[str, str], tuple[list[np.ndarray], list[np.ndarray]]] = {}
            with use_maps(fitted):
                for folder in train:
                    if folder in emitted and not emitted[folder] & {"stays"}:
                        continue  # no stays (cell positions): no place or trip to fit on either
                    # this group's maps off (raw scores), the maps fitted before it on
                    cache = folder / "fit-raw-samples.pkl"
                    if args.reuse_raw and not earlier and cache.is_file():
                        samples, by_class = pickle.loads(cache.read_bytes())
                    else:
                        ev = evaluate(folder, calibrated=earlier, trackintel=False, plots=False, signals=())
                        samples, by_class = ev.samples, ev.samples_by_class
                        if args.reuse_raw and not earlier:
                            cache.write_bytes(pickle.dumps((samples, by_class)))
                    emitted.setdefault(folder, set()).update(k for k, (c, _) in samples.items() if len(c))
                    for kind in group:
                        if kind in samples:
                            c, y = samples[kind]
                            pooled[kind][0].append(c)
                            pooled[kind][1].append(y)
                    for cname, ks in by_class.items():
                        for kind in group:
                            # the kind's samples of this class, and finer keys of it ("modes/walk/long")
                            for key, (kc, ky) in ks.items():
                                if key == kind or key.startswith(kind + "/"):
                                    slot = by_cls.setdefault((kind, cname + key[len(kind) :]), ([], []))
                                    slot[0].append(kc)
                                    slot[1].append(ky)
                    counts = ", ".join(f"{k} {sum(len(c) for c in pooled[k][0])}" for k in group)
                    print(f"{folder.name}: pooled so far {counts}", flush=True)
            for kind in group:
                cs, ys = pooled[kind]
                c = np.concatenate(cs) if cs else np.zeros(0)
                y = np.concatenate(ys) if ys else np.zeros(0, np.bool_)
                keep = np.isfinite(c)
                if int(keep.sum()) < args.min_samples:
                    print(f"{kind}: {int(keep.sum())} samples, fewer than {args.min_samples}: no map")
                    fitted[kind] = None
                    continue
                m = fit_isotonic(c[keep], y[keep], kind=kind)
                m.meta.update(
                    {
                        "fitted_on": {
                            "agents": args.agents,
                            "days": args.days,
                            "profiles": args.profiles,
                            "seeds": args.seeds,
                            "with_maps_of": earlier,
                        },
                        "train_ece_raw": round(ece(c[keep], y[keep]), 4),
                        "train_ece_after": round(ece(m(c[keep]), y[keep]), 4),
                    }
                )
                if kind in CLASSED:
                    for (k2, cname), (ccs, cys) in sorted(by_cls.items()):
                        if k2 != kind or cname.startswith("unknown"):
                            continue
                        cc, cy = np.concatenate(ccs), np.concatenate(cys)
                        ok = np.isfinite(cc)
                        if int(ok.sum()) < args.min_class_samples:
                            continue
                        sub = fit_isotonic(cc[ok], cy[ok], kind=kind)
                        sub.meta.update(
                            {
                                "train_ece_pooled_map": round(ece(m(cc[ok]), cy[ok]), 4),
                                "train_ece_after": round(ece(sub(cc[ok]), cy[ok]), 4),
                            }
                        )
                        m.classes[cname] = sub
                        print(f"{kind} {cname}: {int(ok.sum())} samples, {sub.meta}", flush=True)
                fitted[kind] = m
                summary[kind] = {"n_train": int(keep.sum())}
        # held out: raw scores, then the engine as shipped with the new maps
        for folder in held:
            raw = evaluate(folder, calibrated=False, trackintel=False, plots=False, signals=())
            with use_maps(fitted):
                cal = evaluate(folder, trackintel=False, plots=False, signals=())
            for kind in KINDS:
                if kind not in summary:
                    continue
                entry = summary[kind]
                if kind in cal.samples and np.isfinite(cal.samples[kind][0]).any():
                    before = ece(*raw.samples[kind]) if kind in raw.samples else float("nan")
                    entry[f"ece_raw@{folder.name}"] = round(before, 4) if np.isfinite(before) else None
                    entry[f"ece_emitted@{folder.name}"] = round(ece(*cal.samples[kind]), 4)
                    entry[f"n@{folder.name}"] = int(np.isfinite(cal.samples[kind][0]).sum())
            print(
                f"{folder.name}: calibration.ece (emitted, worst kind) {cal.metrics['calibration.ece']:.4f}"
            )
        args.out.mkdir(parents=True, exist_ok=True)
        for kind, fm in fitted.items():
            if fm is None:
                continue
            fm.meta["holdout"] = {k: v for k, v in summary[kind].items() if "@" in k}
            if not args.dry_run:
                (args.out / f"{kind}.json").write_text(json.dumps(fm.as_dict(), indent=1) + "\n")
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
