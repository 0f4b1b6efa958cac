"""The audit log: every question and export is logged, and any edit or deletion is detected."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import hereabouts as hb
from hereabouts.cli import app

CSV = "time,lat,lon\n2024-05-01T08:00:00Z,48.1,11.5\n2024-05-01T09:00:00Z,48.1,11.5\n2024-05-01T10:00:00Z,48.2,11.6\n"
runner = CliRunner()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    f = tmp_path / "van.csv"
    f.write_text(CSV)
    path = tmp_path / "h.db"
    db = hb.open(path)
    db.import_(f, entity="van 7")
    db.ask("where was van 7 on 2024-05-01 at 08:30?", actor="ana", purpose="delivery dispute 42")
    db.ask("what religion is van 7?", actor="ana")
    db.export(tmp_path / "out.csv", entity="van 7", actor="ben", purpose="court exhibit")
    db.close()
    return path


def test_questions_and_exports_are_logged(db_path: Path) -> None:
    db = hb.open(db_path, read_only=True)
    log = db.audit_log().to_pylist()
    assert [(r["seq"], r["actor"], r["action"]) for r in log] == [
        (1, "ana", "ask"),
        (2, "ana", "ask"),
        (3, "ben", "export"),
    ]
    assert json.loads(log[0]["what"])["question"].startswith("where was van 7")
    assert log[0]["purpose"] == "delivery dispute 42" and log[2]["purpose"] == "court exhibit"
    assert json.loads(log[2]["what"])["entity"] == "van 7"
    v = db.verify_audit()
    assert v.ok and v.n_rows == 3 and v.head == f"3:{log[-1]['hash']}"
    db.close()


@pytest.mark.parametrize(
    "tamper, bad_seq",
    [
        ("UPDATE audit SET what = replace(what, 'van 7', 'van 8') WHERE seq = 2", 2),
        ("UPDATE audit SET purpose = NULL WHERE seq = 1", 1),
        ("UPDATE audit SET actor = 'someone else' WHERE seq = 3", 3),
        ("DELETE FROM audit WHERE seq = 2", 2),
        ("DELETE FROM audit WHERE seq = 3", 3),
        ('UPDATE audit SET "at" = "at" + INTERVAL 1 HOUR WHERE seq = 1', 1),
    ],
)
def test_any_edit_or_deletion_is_detected(db_path: Path, tamper: str, bad_seq: int) -> None:
    con = duckdb.connect(str(db_path))
    con.execute(tamper)
    con.close()
    db = hb.open(db_path, read_only=True)
    v = db.verify_audit()
    db.close()
    assert not v.ok and v.first_bad_seq == bad_seq, v
    r = runner.invoke(app, ["--db", str(db_path), "audit", "verify"])
    assert r.exit_code == 2


def test_cli_logs_questions_with_purpose_and_verifies(db_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "--db",
            str(db_path),
            "ask",
            "how far did van 7 travel on 2024-05-01?",
            "--purpose",
            "audit test",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--db", str(db_path), "audit", "list", "--json"], catch_exceptions=False)
    log = json.loads(r.stdout)
    assert log[-1]["action"] == "ask" and log[-1]["purpose"] == "audit test"
    r = runner.invoke(app, ["--db", str(db_path), "audit", "verify", "--json"], catch_exceptions=False)
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"] is True


def test_no_answer_when_the_question_cannot_be_logged(db_path: Path) -> None:
    db = hb.open(db_path, read_only=True)
    with pytest.raises(hb.StoreError, match="audit log"):
        db.ask("where was van 7 on 2024-05-01 at 08:30?")
    db.close()
