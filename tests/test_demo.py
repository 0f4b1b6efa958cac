"""`hereabouts demo` does real work through the public API and writes its report."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hereabouts.cli import app


def test_demo_runs_and_scores_against_ground_truth(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app, ["--db", str(tmp_path / "unused.db"), "demo", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (out / "report.md").read_text().startswith("# hereabouts demo")
    assert (out / "hereabouts.db").exists()
    assert summary["fixes"] > 10_000 and summary["stays"] > 100 and summary["places"] > 10
    score = summary["stay_score"]
    # the stays found agree with the simulator's ground truth (regression floor; see docs for the numbers)
    assert score["f1"] >= 0.85, score
    # questions were answered through ask, with the label question refused
    qs = summary["questions"]
    assert len(qs) == 5 and all(q["answer"] for q in qs)
    assert "out of scope" in qs[-1]["answer"]
    report = (out / "report.md").read_text()
    assert "## Questions" in report
    # every answer line states its confidence once, even when the answer text already ends with it
    answers = [line for line in report.splitlines() if line.startswith("agent-0001")]
    assert answers and all(line.count("(confidence") == 1 for line in answers), answers
    # devices were assigned to the simulated people they belong to
    assert sum(e["entity"].startswith("agent-") for e in summary["entities"]) >= 8
