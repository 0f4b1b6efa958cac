"""``hereabouts demo``: simulate a small town, import it, analyse it, score it and write a report.

Everything goes through the public API, as a user's own script would.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

DEMO_AGENTS = 12
DEMO_DAYS = 14


def run_demo(out_dir: Path, *, seed: int = 7, console: Any = None) -> dict[str, Any]:
    """Run the demo into ``out_dir`` (replaced); return a summary with the measured numbers."""
    import hereabouts as hb
    from hereabouts.analysis.places import cluster_places
    from hereabouts.evaluate import score_stays
    from hereabouts.sim import simulate

    def say(msg: str) -> None:
        if console is not None:
            console.print(msg, highlight=False)

    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    town = out_dir / "town"
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    sim = simulate(agents=DEMO_AGENTS, days=DEMO_DAYS, seed=seed, out=town, formats=("geoparquet", "gpx"))
    timings["simulate_s"] = time.perf_counter() - t0
    say(f"simulated {DEMO_AGENTS} people for {DEMO_DAYS} days: {sim.fixes.num_rows:,} fixes → {town}")

    t0 = time.perf_counter()
    db = hb.open(out_dir / "hereabouts.db")
    result = db.import_(town / "fixes.parquet")[0]
    devices = pq.read_table(town / "truth" / "devices.parquet").to_pylist()
    for d in devices:
        if d["agent"]:
            db.assign_device(d["device"], d["agent"])
    timings["import_s"] = time.perf_counter() - t0
    say(
        f"imported {result.counts.fixes:,} fixes from {len(devices)} devices "
        f"({result.counts.rejected} rejected) in {timings['import_s']:.1f} s"
    )

    t0 = time.perf_counter()
    stays = db.stays()
    timings["stays_s"] = time.perf_counter() - t0
    truth = pq.read_table(town / "truth" / "true_stays.parquet")
    people = stays.filter(pa.compute.starts_with(stays.column("entity"), "agent-"))
    score = score_stays(people, truth)
    say(
        f"found {stays.num_rows:,} stays; against the ground truth: precision {score.precision:.2f}, "
        f"recall {score.recall:.2f}, F1 {score.f1:.2f} (median start error {score.start_error_median_s:.0f} s)"
    )

    t0 = time.perf_counter()
    places = cluster_places(stays)
    timings["places_s"] = time.perf_counter() - t0
    towns = (
        sorted({str(t) for t in places.column("town").to_pylist() if t})
        if "town" in places.column_names
        else []
    )
    say(f"clustered them into {places.num_rows} places" + (f" in {', '.join(towns)}" if towns else ""))

    summary_rows = []
    for name in db.entity_names():
        e_stays = stays.filter(pa.compute.equal(stays.column("entity"), name))
        e_places = places.filter(pa.compute.equal(places.column("entity"), name))
        top = sorted(e_places.to_pylist(), key=lambda p: -(p.get("dwell_s") or 0))[:3]
        summary_rows.append(
            {
                "entity": name,
                "fixes": db.fixes(name).num_rows,
                "stays": e_stays.num_rows,
                "places": e_places.num_rows,
                "top_places": [
                    {
                        "place_id": p["place_id"],
                        "lat": round(p["lat"], 5),
                        "lon": round(p["lon"], 5),
                        "visits": p["n_visits"],
                        "hours": round((p.get("dwell_s") or 0) / 3600, 1),
                    }
                    for p in top
                ],
            }
        )
    # a few questions, answered with evidence (the last one is refused, by design)
    from datetime import datetime, timedelta

    from hereabouts.ask import ask

    t0 = time.perf_counter()
    someone = next(
        (r["entity"] for r in summary_rows if r["entity"].startswith("agent-") and r["stays"]), None
    )
    last_fix = sim.fixes.column("t").cast(pa.int64()).to_numpy().max()
    now = datetime.fromtimestamp(int(last_fix) / 1e6, tz=UTC) + timedelta(hours=1)
    questions = (
        [
            f"where was {someone} yesterday at 10:00?",
            f"where does {someone} usually go on Tuesdays?",
            f"how far did {someone} travel last week?",
            f"where is home for {someone}?",
            f"what religion is {someone}?",
        ]
        if someone
        else []
    )
    answers = []
    for question in questions:
        a = ask(db, question, now=now)
        answers.append({"question": question, "answer": a.text, "said": a.said, "confidence": a.confidence})
        say(f"? {question}\n  {a.text}")
    timings["ask_s"] = time.perf_counter() - t0
    db.close()
    timings["total_s"] = time.perf_counter() - t_start

    report = out_dir / "report.md"
    lines = [
        "# hereabouts demo",
        "",
        f"A simulated town (seed {seed}): {DEMO_AGENTS} people over {DEMO_DAYS} days, {sim.fixes.num_rows:,} fixes.",
        "",
        "## Stays against the ground truth",
        "",
        "| detected | true (>= 5 min) | matched | precision | recall | F1 | median start error |",
        "|---|---|---|---|---|---|---|",
        f"| {score.n_detected} | {score.n_true} | {score.n_matched} | {score.precision:.3f} | {score.recall:.3f} | "
        f"{score.f1:.3f} | {score.start_error_median_s:.0f} s |",
        "",
        "## Entities",
        "",
        "| entity | fixes | stays | places | most time at |",
        "|---|---|---|---|---|",
    ]
    for r in summary_rows:
        top_text = "; ".join(
            f"{p['place_id']} ({p['hours']} h, {p['visits']} visits)" for p in r["top_places"]
        )
        lines.append(f"| {r['entity']} | {r['fixes']:,} | {r['stays']} | {r['places']} | {top_text} |")
    lines += ["", "## Questions", ""]
    for qa in answers:
        conf = f" (confidence {qa['confidence']:.2f})" if qa["confidence"] is not None else ""
        if conf and str(qa["answer"]).rstrip(".").endswith(conf.strip()):
            conf = ""  # the answer already ends with it (one anchor, say)
        lines += [f"**{qa['question']}**", "", f"{qa['answer']}{conf}", "", f"_asked: {qa['said']}_", ""]
    lines += ["", "## Timings", ""] + [f"- {k}: {v:.2f}" for k, v in timings.items()]
    report.write_text("\n".join(lines) + "\n")
    summary = {
        "out": str(out_dir),
        "report": str(report),
        "fixes": sim.fixes.num_rows,
        "stays": stays.num_rows,
        "places": places.num_rows,
        "stay_score": score.as_dict(),
        "entities": summary_rows,
        "questions": answers,
        "timings": timings,
        "summary": f"report written to {report} ({timings['total_s']:.1f} s in all)",
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
