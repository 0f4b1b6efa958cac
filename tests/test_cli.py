"""The command line: every listing has --json; errors are one clear line and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hereabouts import __version__
from hereabouts.cli import app

runner = CliRunner()

CSV = """timestamp,latitude,longitude,accuracy,vehicle
2024-05-01T08:00:00Z,48.1371,11.5754,8,van 7
2024-05-01T08:01:00Z,48.1372,11.5755,9,van 7
2024-05-01T08:02:00Z,48.1380,11.5760,7,van 7
2024-05-01T08:00:30Z,48.2000,11.6000,5,van 9
2024-05-01T08:03:00Z,95.0000,11.5760,7,van 7
"""


def _run(*args: str) -> dict | list:  # type: ignore[type-arg]
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def db_with_data(tmp_path: Path) -> str:
    f = tmp_path / "fleet.csv"
    f.write_text(CSV)
    db = str(tmp_path / "h.db")
    res = _run("--db", db, "import", str(f), "--json")
    assert isinstance(res, list)
    assert res[0]["counts"]["fixes"] == 4 and res[0]["counts"]["rejected"] == 1
    return db


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout


def test_import_reports_counts_and_rejects_in_text(tmp_path: Path) -> None:
    f = tmp_path / "fleet.csv"
    f.write_text(CSV)
    result = runner.invoke(app, ["--db", str(tmp_path / "h.db"), "import", str(f)], catch_exceptions=False)
    assert result.exit_code == 0
    assert "4 fixes imported" in result.stdout and "1 rejected" in result.stdout
    assert "line 6" in result.stdout and "lat" in result.stdout
    again = runner.invoke(app, ["--db", str(tmp_path / "h.db"), "import", str(f)], catch_exceptions=False)
    assert "already imported" in again.stdout


def test_listings_as_json(db_with_data: str) -> None:
    sources = _run("--db", db_with_data, "sources", "--json")
    assert isinstance(sources, list) and sources[0]["n_fixes"] == 4 and sources[0]["n_rejected"] == 1
    ents = _run("--db", db_with_data, "entities", "--json")
    assert {e["entity"] for e in ents} == {"van 7", "van 9"}  # type: ignore[index]
    fixes = _run("--db", db_with_data, "fixes", "van 7", "--json")
    assert [f["t"] for f in fixes] == [  # type: ignore[index]
        "2024-05-01T08:00:00Z",
        "2024-05-01T08:01:00Z",
        "2024-05-01T08:02:00Z",
    ]
    some = _run("--db", db_with_data, "fixes", "van 7", "--from", "2024-05-01T08:01:00Z", "--json")
    assert len(some) == 2
    rej = _run("--db", db_with_data, "rejects", "--json")
    assert rej[0]["position"] == 6 and rej[0]["field"] == "lat"  # type: ignore[index]
    fmts = _run("formats", "--json")
    assert {"csv", "gpx", "geojson"} <= {f["format"] for f in fmts}  # type: ignore[index]


def test_export_then_reimport(db_with_data: str, tmp_path: Path) -> None:
    out = tmp_path / "van7.geojson"
    res = _run("--db", db_with_data, "export", str(out), "--entity", "van 7", "--json")
    assert res["rows"] == 3  # type: ignore[call-overload]
    db2 = str(tmp_path / "h2.db")
    imp = _run("--db", db2, "import", str(out), "--json")
    assert imp[0]["counts"]["fixes"] == 3  # type: ignore[index]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from hereabouts.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unknown_format_is_one_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("dear diary, today I went nowhere\n" * 3)
    p = _cli("--db", str(tmp_path / "h.db"), "import", str(f))
    assert p.returncode == 2
    assert "notes.txt" in p.stderr and "not recognised" in p.stderr and "expected one of" in p.stderr
    assert "Traceback" not in p.stderr


def test_unknown_entity_is_one_clear_error(db_with_data: str) -> None:
    p = _cli("--db", db_with_data, "fixes", "van 8")
    assert p.returncode == 2 and "no entity named 'van 8'" in p.stderr and "hereabouts entities" in p.stderr


def test_missing_database_for_listing(tmp_path: Path) -> None:
    p = _cli("--db", str(tmp_path / "none.db"), "sources")
    assert p.returncode == 2 and "no database" in p.stderr


def test_import_a_folder_skips_files_of_no_location_format(tmp_path: Path) -> None:
    folder = tmp_path / "takeout"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "fleet.csv").write_text(CSV)
    (folder / "readme.txt").write_text("not a track\n")
    res = _run("--db", str(tmp_path / "h.db"), "import", str(folder), "--json")
    by_path = {Path(r["path"]).name: r for r in res}  # type: ignore[union-attr]
    assert by_path["fleet.csv"]["counts"]["fixes"] == 4
    assert by_path["readme.txt"]["skipped"] is True
    # named explicitly, the same file is an error
    p = _cli("--db", str(tmp_path / "h.db"), "import", str(folder / "readme.txt"))
    assert p.returncode == 2 and "not recognised" in p.stderr


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    good = tmp_path / "fleet.csv"
    good.write_text(CSV)
    bad = tmp_path / "notes.txt"
    bad.write_text("dear diary\n")
    db = str(tmp_path / "h.db")
    p = _cli("--db", db, "import", str(bad), str(good))
    assert p.returncode == 2
    assert "notes.txt" in p.stderr and "1 file(s) not imported" in p.stderr
    assert "4 fixes imported" in p.stdout
