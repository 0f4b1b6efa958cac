"""``evaluate``: run the whole engine on a simulated folder and score every inference against its truth."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import math
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..model.errors import InputError
from . import calibration as cal
from .metrics import (
    Samples,
    details_of,
    filter_entities,
    score_anchors,
    score_places,
    score_routes,
    score_trips,
)
from .stays import score_stays

__all__ = ["Evaluation", "evaluate"]

#: The confidence kinds whose ECE makes up ``calibration.ece`` (the worst of them), the top-1
#: probability of next-place predictions (``predict``) among them.
ECE_KINDS = cal.KINDS


@dataclass
class Evaluation:
    """The outcome of :func:`evaluate`.

    ``metrics`` maps dotted names (``stays.f1``, ``home.top1``, ``stays.f1@gps-1min``...; see
    ``docs/accuracy.md``) to numbers, NaN where there was nothing to score. ``details`` holds the
    reliability curves, the mode confusion, which stages were available and the run's parameters.
    ``samples`` holds, per confidence kind, the ``(confidence, correct)`` pairs of the confidences as
    emitted — raw scores for the kinds the run switched the maps off for (``calibrated``), which is
    what maps are fitted on; ``samples_by_class`` the same split by the sensor class of the agent
    (:func:`~hereabouts.evaluate.calibration.sensor_classes`, from its stays; ``unknown`` when it has
    none), which per-class maps are fitted on. Neither is written out.
    """

    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, Samples] = field(default_factory=dict, repr=False)
    samples_by_class: dict[str, dict[str, Samples]] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"metrics": {...}, **details}`` with NaN written as null."""
        return details_of({"metrics": dict(sorted(self.metrics.items())), **self.details})

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=False)

    def write_json(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.to_json() + "\n")
        return p

    def to_markdown(self) -> str:
        from .report import markdown

        return markdown(self)

    def write_markdown(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.to_markdown())
        return p

    def write_plots(self, folder: str | Path) -> list[Path]:
        """Reliability curves and per-profile bars as PNG (needs matplotlib)."""
        from .report import plots

        return plots(self, Path(folder))

    def write(self, folder: str | Path, *, plots: bool = True) -> list[Path]:
        """``metrics.json``, ``report.md`` and (with matplotlib) the PNG plots into ``folder``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = [self.write_json(out / "metrics.json"), self.write_markdown(out / "report.md")]
        if plots:
            written += self.write_plots(out)
        return written


def _load_anchors() -> Callable[..., pa.Table] | None:
    """``hereabouts.analysis.anchors.infer_anchors`` when that stage exists, else None."""
    try:
        mod = importlib.import_module("hereabouts.analysis.anchors")
    except ModuleNotFoundError as exc:
        if exc.name in ("hereabouts.analysis.anchors",):
            return None
        raise
    fn = getattr(mod, "infer_anchors", None)
    return fn if callable(fn) else None


def _entity_profiles(devices: pa.Table) -> dict[str, str]:
    """Each agent's profile: that of its phone (its main device), else of its first device."""
    rank = {"phone": 0, "watch": 1}
    best: dict[str, tuple[int, str, str]] = {}
    for d in devices.to_pylist():
        a = d.get("agent")
        if not a:
            continue
        key = (rank.get(d.get("kind") or "", 2), str(d["device"]), str(d.get("profile")))
        if a not in best or key < best[a]:
            best[a] = key
    return {a: v[2] for a, v in best.items()}


@contextlib.contextmanager
def _folder(directory: str | Path | None, **sim: Any) -> Iterator[Path]:
    if directory is not None:
        d = Path(directory)
        if not (d / "fixes.parquet").is_file() or not (d / "truth").is_dir():
            raise InputError(
                f"{d} is not a simulated folder: expected fixes.parquet and truth/ in it",
                hint="make one with `hereabouts simulate OUT` or pass no folder to simulate one",
            )
        yield d
        return
    from ..sim import simulate

    with tempfile.TemporaryDirectory(prefix="hereabouts-eval-") as tmp:
        simulate(out=Path(tmp), formats=("geoparquet",), **sim)
        yield Path(tmp)


#: the scorers of the signal-linking inferences: name -> (module, function)
SIGNAL_SCORERS = {
    "wifi": ("hereabouts.evaluate.wifi", "score_wifi"),
    "linkage": ("hereabouts.evaluate.linkage", "score_linkage"),
    "copresence": ("hereabouts.evaluate.copresence", "score_copresence"),
}


def _score_signals(
    folder: Path, names: tuple[str, ...], say: Callable[[str], None], timings: dict[str, float]
) -> tuple[dict[str, float], dict[str, Any]]:
    """Wi-Fi positioning, stream linkage and co-presence scored on the simulated folder (each names its
    metrics ``wifi.*``, ``linkage.*``, ``copresence.*``); a scorer that fails is reported, not hidden."""
    metrics: dict[str, float] = {}
    details: dict[str, Any] = {}
    for name in names:
        if name not in SIGNAL_SCORERS:
            raise InputError(
                f"unknown signal scorer {name!r}", hint=f"expected some of {', '.join(SIGNAL_SCORERS)}"
            )
        if name == "wifi":
            scans = folder / "scans.parquet"
            if not scans.is_file() or pq.read_metadata(scans).num_rows == 0:
                details["wifi"] = {"available": False, "reason": "the folder has no Wi-Fi scans"}
                continue
        module, fn_name = SIGNAL_SCORERS[name]
        fn = getattr(importlib.import_module(module), fn_name)
        say(f"scoring {name}")
        t0 = time.perf_counter()
        extra: dict[str, Any] = {}
        try:
            if "details" in inspect.signature(fn).parameters:
                metrics.update(fn(folder, details=extra))
            else:
                metrics.update(fn(folder))
        except Exception as exc:
            details[name] = {"available": False, "reason": f"{fn_name} failed: {exc!r}"}
        else:
            details[name] = {"available": True, **extra}
        timings[f"{name}_s"] = time.perf_counter() - t0
    return metrics, details


def evaluate(
    directory: str | Path | None = None,
    *,
    agents: int = 100,
    days: int = 14,
    seed: int = 1,
    profile: str = "mixed",
    out: str | Path | None = None,
    trackintel: bool = True,
    plots: bool = True,
    progress: Callable[[str], None] | None = None,
    calibrated: bool | Iterable[str] = True,
    signals: Iterable[str] = ("wifi", "linkage", "copresence"),
) -> Evaluation:
    """Run stays → places → trips → routes (→ anchors when that stage exists) → predictions on a
    simulated folder and score every inference against its ground truth.

    Predictions (:mod:`hereabouts.evaluate.predict`): the last 7 days are held out when the town spans
    at least 14 (else ``details["predict"]`` says why and ``predict.*`` are NaN), the predictor is
    fitted on the detected stays before them and scored every hour against the true stays.

    ``directory`` is a folder written by :func:`hereabouts.sim.simulate` (``fixes.parquet`` and
    ``truth/``); when None, one is simulated in a temporary folder with ``agents``, ``days``,
    ``seed`` and ``profile`` (ignored otherwise). The fixes are imported into a fresh in-memory store;
    each device with an agent is assigned to that agent (a shared car stays its own entity, analysed
    but not scored). ``trackintel`` also scores the trackintel stay method on the same fixes. With
    ``out``, writes ``metrics.json``, ``report.md`` and PNG plots there (``plots`` needs
    matplotlib).

    ``signals`` names the signal-linking inferences also scored (Wi-Fi positioning when the folder has
    scans, stream linkage, co-presence; see :data:`SIGNAL_SCORERS`); ``()`` skips them.

    ``calibrated``: True (default) runs the engine as it is used, its confidences through the shipped
    calibration maps; False makes every stage emit its raw score (for fitting maps); a collection of
    kinds (:data:`~hereabouts.evaluate.calibration.KINDS`) keeps the maps of those kinds only.
    """
    if calibrated is True:
        raw: tuple[str, ...] = ()
    elif calibrated is False:
        raw = cal.KINDS
    else:
        on = set(calibrated)
        bad = sorted(on - set(cal.KINDS))
        if bad:
            raise InputError(f"unknown confidence kind {bad[0]!r}; expected some of: {', '.join(cal.KINDS)}")
        raw = tuple(k for k in cal.KINDS if k not in on)
    sig = tuple(signals)
    if not raw:
        return _evaluate(directory, agents, days, seed, profile, out, trackintel, plots, progress, raw, sig)
    with cal.raw_confidences(*raw):
        return _evaluate(directory, agents, days, seed, profile, out, trackintel, plots, progress, raw, sig)


def _evaluate(
    directory: str | Path | None,
    agents: int,
    days: int,
    seed: int,
    profile: str,
    out: str | Path | None,
    trackintel: bool,
    plots: bool,
    progress: Callable[[str], None] | None,
    raw: tuple[str, ...],
    signals: tuple[str, ...] = (),
) -> Evaluation:
    import hereabouts as hb

    from ..analysis.places import assign_places, cluster_places
    from ..analysis.trips import build_trips, habitual_routes

    def say(msg: str) -> None:
        if progress is not None:
            progress(msg)

    timings: dict[str, float] = {}
    with _folder(directory, agents=agents, days=days, seed=seed, profile=profile) as folder:
        truth = {
            name: pq.read_table(folder / "truth" / f"{name}.parquet")
            for name in ("true_stays", "true_places", "true_anchors", "true_trips", "devices", "true_agents")
        }
        manifest_path = folder / "manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        t0 = time.perf_counter()
        say("importing fixes")
        db = hb.open(":memory:")
        try:
            db.import_(folder / "fixes.parquet")
            for d in truth["devices"].to_pylist():
                if d["agent"]:
                    db.assign_device(d["device"], d["agent"])
            timings["import_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            say("finding stays")
            stays = db.stays()
            timings["stays_s"] = time.perf_counter() - t0
            ti_stays = None
            if trackintel:
                t0 = time.perf_counter()
                ti_stays = db.stays(method="trackintel")
                timings["stays_trackintel_s"] = time.perf_counter() - t0
            fixes = db.fixes()
        finally:
            db.close()
        fixes = fixes.set_column(
            fixes.schema.get_field_index("entity"), "entity", fixes.column("entity").cast(pa.string())
        )
        signal_metrics, signal_details = _score_signals(folder, signals, say, timings)
    t0 = time.perf_counter()
    say("clustering places")
    places = cluster_places(stays, towns=False)
    stays_p = stays.append_column("place_id", assign_places(stays, places))
    timings["places_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("building trips and routes")
    trips = build_trips(fixes, stays, places=places)
    routes = habitual_routes(trips)
    timings["trips_s"] = time.perf_counter() - t0

    anchors_fn = _load_anchors()
    anchors: pa.Table | None = None
    anchors_status: dict[str, Any]
    if anchors_fn is None:
        anchors_status = {"available": False, "reason": "hereabouts.analysis.anchors.infer_anchors not found"}
    else:
        t0 = time.perf_counter()
        say("inferring anchors")
        try:
            if "fixes" in inspect.signature(anchors_fn).parameters:
                anchors = anchors_fn(stays_p, places, fixes=fixes)
            else:
                anchors = anchors_fn(stays_p, places)
        except Exception as exc:  # the stage is young: report its failure instead of losing the rest
            anchors_status = {"available": False, "reason": f"infer_anchors failed: {exc!r}"}
        else:
            anchors_status = {"available": True}
        timings["anchors_s"] = time.perf_counter() - t0

    profiles = _entity_profiles(truth["devices"])
    all_agents = sorted(profiles)
    t0 = time.perf_counter()
    say("predicting the last week")
    from .predict import run_predictions, summarize

    pred_run = run_predictions(stays, places, truth["true_stays"], truth["true_places"], set(all_agents))
    timings["predict_s"] = time.perf_counter() - t0

    say("scoring")
    t0 = time.perf_counter()
    metrics: dict[str, float] = dict(signal_metrics)
    samples: dict[str, Samples] = {}
    details: dict[str, Any] = dict(signal_details)

    def score(agents_: set[str], suffix: str, sink: dict[str, Samples] | None = None) -> None:
        """Metrics of ``agents_`` keyed with ``suffix``; with ``sink``, only their samples, into it."""
        only_samples = sink is not None
        full = suffix == "" and not only_samples
        if full:
            sink = samples
        metrics_ = {} if only_samples else metrics
        st = filter_entities(stays, "entity", agents_)
        ts = filter_entities(truth["true_stays"], "agent", agents_)
        s = score_stays(st, ts)
        for k in ("precision", "recall", "f1"):
            metrics_[f"stays.{k}{suffix}"] = getattr(s, k)
        metrics_[f"stays.start_error_median_s{suffix}"] = s.start_error_median_s
        metrics_[f"stays.end_error_median_s{suffix}"] = s.end_error_median_s
        if full:
            metrics_["stays.n_detected"] = float(s.n_detected)
            metrics_["stays.n_true"] = float(s.n_true)
        if sink is not None:
            from .stays import match_stays

            pairs, _ = match_stays(st, ts)
            ok = np.zeros(st.num_rows, np.bool_)
            for i, _j in pairs:
                ok[i] = True
            sink["stays"] = (
                np.asarray(
                    st.column("confidence").cast(pa.float64()).fill_null(np.nan).to_numpy(), np.float64
                ),
                ok,
            )
        if ti_stays is not None and not only_samples:
            s2 = score_stays(filter_entities(ti_stays, "entity", agents_), ts)
            for k in ("precision", "recall", "f1"):
                metrics_[f"stays_trackintel.{k}{suffix}"] = getattr(s2, k)
            if full:
                metrics_["stays_trackintel.start_error_median_s"] = s2.start_error_median_s
                metrics_["stays_trackintel.n_detected"] = float(s2.n_detected)
        pm, psamp = score_places(places, truth["true_stays"], truth["true_places"], entities=agents_)
        for k in ("precision", "recall", "f1"):
            metrics_[f"places.{k}{suffix}"] = pm[k]
        if full:
            metrics_["places.distance_median_m"] = pm["distance_median_m"]
            metrics_["places.n_detected"] = pm["n_detected"]
            metrics_["places.n_true"] = pm["n_true"]
        if sink is not None:
            sink["places"] = psamp
        tr = filter_entities(trips, "entity", agents_)
        ttr = filter_entities(truth["true_trips"], "agent", agents_)
        mode_rows: list[int] = []
        tm, tsamp, confusion = score_trips(tr, ttr, mode_rows=mode_rows)
        for k, v in tm.items():
            if full or k in ("trips.precision", "trips.recall", "trips.f1", "modes.accuracy"):
                metrics_[f"{k}{suffix}"] = v
        if only_samples:
            rm = {}
        else:
            rm = score_routes(filter_entities(routes, "entity", agents_), places, ttr, truth["true_places"])
        for k, v in rm.items():
            if full or k == "routes.recall":
                metrics_[f"{k}{suffix}"] = v
        if sink is not None:
            sink.update(tsamp)
            if only_samples and "modes" in tsamp:
                # the mode samples split further by trip sampling, guess and length, as the modes map is keyed
                from ..analysis.trips import mode_calibration_keys

                rows = np.asarray(mode_rows, np.int64)
                keys = mode_calibration_keys(
                    np.full(rows.shape[0], "", dtype=object),
                    tr.column("mode").take(pa.array(rows)).to_pylist(),
                    tr.column("distance_m").take(pa.array(rows)).to_numpy(),
                    tr.column("n_fixes").take(pa.array(rows)).to_numpy(),
                    tr.column("duration_s").take(pa.array(rows)).to_numpy(),
                )
                mc, my = tsamp["modes"]
                for key in sorted(set(keys.tolist())):
                    sel = keys == key
                    sink[f"modes{key}"] = (mc[sel], my[sel])
        if full:
            details["mode_confusion"] = confusion
        if anchors is not None:
            am, asamp = score_anchors(
                filter_entities(anchors, "entity", agents_), truth["true_anchors"], sorted(agents_)
            )
            for k, v in am.items():
                if full or k in ("home.top1", "work.top1", "home.abstention", "work.abstention"):
                    metrics_[f"{k}{suffix}"] = v
            if sink is not None:
                c = np.concatenate([asamp["home"][0], asamp["work"][0]])
                y = np.concatenate([asamp["home"][1], asamp["work"][1]])
                sink["anchors"] = (c, y)
        if pred_run.skipped is None:
            pmet, psamp_ = summarize(pred_run, agents_)
            for k, v in pmet.items():
                if full or k in ("predict.top1", "predict.baseline_top1", "predict.brier", "predict.ece"):
                    metrics_[f"{k}{suffix}"] = v
            if sink is not None and psamp_[0].size:
                sink["predict"] = psamp_

    agents_set = set(all_agents)
    score(agents_set, "")
    if anchors is None:  # explicit: not measured (see details["anchors"]), not zero
        for k in ("home.top1", "work.top1"):
            metrics[k] = float("nan")
    if pred_run.skipped is not None:  # explicit: not measured (see details["predict"]), not zero
        for k in ("top1", "baseline_top1", "brier", "ece", "fano_bound", "fano_bound_distinct"):
            metrics[f"predict.{k}"] = float("nan")
        metrics["predict.n_queries"] = 0.0
    by_profile: dict[str, int] = {}
    for prof in sorted(set(profiles.values())):
        members = {a for a, p in profiles.items() if p == prof} & agents_set
        by_profile[prof] = len(members)
        if members:
            score(members, f"@{prof}")
    # the samples again, split by the agents' sensor classes (what per-class maps are fitted on)
    stay_cls = cal.stay_sensor_classes(stays)
    cls_of = dict(zip(stays.column("entity").cast(pa.string()).to_pylist(), stay_cls.tolist(), strict=True))
    by_class: dict[str, dict[str, Samples]] = {}
    for cname in sorted({cls_of.get(a, cal.UNKNOWN_CLASS) for a in agents_set}):
        members = {a for a in agents_set if cls_of.get(a, cal.UNKNOWN_CLASS) == cname}
        by_class[cname] = {}
        score(members, "", by_class[cname])
    # a stay's map is that of its own class (calibration.row_classes), not its agent's: split again
    if "stays" in samples:
        st_all = filter_entities(stays, "entity", agents_set)
        rc = cal.row_classes(
            np.asarray(st_all.column("n_fixes").cast(pa.float64()).to_numpy(), np.float64),
            (
                np.asarray(st_all.column("end").cast(pa.int64()).to_numpy(), np.float64)
                - np.asarray(st_all.column("start").cast(pa.int64()).to_numpy(), np.float64)
            )
            / 1e6,
            np.asarray(st_all.column("radius_m").cast(pa.float64()).to_numpy(), np.float64),
        )
        sc, sy = samples["stays"]
        for ks in by_class.values():
            ks.pop("stays", None)
        for cname in sorted(set(rc.tolist())):
            sel = rc == cname
            by_class.setdefault(cname, {})["stays"] = (sc[sel], sy[sel])
    class_ece: dict[str, dict[str, Any]] = {}
    for cname, ks in by_class.items():
        # agents of the class (stays are split by their own class, which may differ from the agent's)
        class_ece[cname] = {"agents": sum(1 for a in agents_set if cls_of.get(a, cal.UNKNOWN_CLASS) == cname)}
        for kind, (c, y) in ks.items():
            r = cal.reliability(c, y)
            if r.n:
                class_ece[cname][kind] = {"ece": r.ece, "n": r.n}

    # calibration of every confidence emitted
    curves: dict[str, Any] = {}
    eces: list[float] = []
    for kind in ECE_KINDS:
        if kind not in samples:
            curves[kind] = {"available": False}
            continue
        c, y = samples[kind]
        r = cal.reliability(c, y)
        metrics[f"calibration.ece.{kind}"] = r.ece
        curve = r.as_dict()
        curve["calibrated"] = kind not in raw
        curves[kind] = curve
        if not math.isnan(r.ece):
            eces.append(r.ece)
    metrics["calibration.ece"] = max(eces) if eces else float("nan")
    metrics["calibration.ece_mean"] = float(np.mean(eces)) if eces else float("nan")
    timings["score_s"] = time.perf_counter() - t0

    details.update(
        {
            "run": {
                "folder": str(directory) if directory is not None else None,
                "agents": manifest.get("parameters", {}).get("agents", agents),
                "days": manifest.get("parameters", {}).get("days", days),
                "seed": manifest.get("seed", seed),
                "profile": manifest.get("parameters", {}).get("profile", profile),
                "agents_scored": len(agents_set),
                "agents_by_profile": by_profile,
                "stays_detected": stays.num_rows,
                "places_detected": places.num_rows,
                "trips_detected": trips.num_rows,
                "routes_detected": routes.num_rows,
                "calibrated": [k for k in cal.KINDS if k not in raw],
            },
            "anchors": anchors_status,
            "predict": (
                {"available": False, "reason": pred_run.skipped}
                if pred_run.skipped is not None
                else {
                    "available": True,
                    "test_days": pred_run.test_days,
                    "trained_until": pred_run.origin,
                    "truth": "true stays, their places matched to detected places",
                    "method": pred_run.method,
                    "agents_scored": len(pred_run.agents),
                }
            ),
            "calibration": curves,
            "calibration_by_class": class_ece,
            "timings": timings,
        }
    )
    ev = Evaluation(metrics=metrics, details=details, samples=samples, samples_by_class=by_class)
    if out is not None:
        ev.write(out, plots=plots)
    return ev
