"""Files written by the simulator: layout, manifest, readability and byte-identical reruns."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow.parquet as pq
import pytest

from hereabouts.sim import FIX_FILES, TRUTH_TABLES, Simulation, simulate, write


class Written(NamedTuple):
    out: Path
    sim: Simulation
    calls: list[tuple[str, int, int]]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    out = tmp_path_factory.mktemp("sim") / "run"
    calls: list[tuple[str, int, int]] = []
    sim = simulate(
        agents=8,
        days=3,
        seed=42,
        out=out,
        formats=("geoparquet", "csv", "gpx", "geojson", "owntracks_rec"),
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    return Written(out, sim, calls)


def test_layout_and_manifest(written: Written) -> None:
    out, sim, calls = written
    for f in FIX_FILES.values():
        assert (out / f).stat().st_size > 0
    for name in TRUTH_TABLES:
        assert (out / "truth" / f"{name}.parquet").is_file()
    assert (out / "scans.parquet").is_file()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 42
    assert manifest["parameters"] == {
        "agents": 8,
        "days": 3,
        "start": "2025-03-03",
        "profile": "mixed",
        "formats": ["geoparquet", "csv", "gpx", "geojson", "owntracks_rec"],
    }
    assert manifest["timezone"] == "Europe/Amsterdam"
    assert manifest["city"]["name"] == "Utrecht"
    assert manifest["counts"]["fixes"] == sim.fixes.num_rows
    assert manifest["counts"]["true_trips"] == sim.true_trips.num_rows
    assert set(manifest["noise_profiles"]) >= {
        "gps-1min",
        "wifi",
        "cell",
        "duty-cycled",
        "significant-change",
    }
    assert {c["name"] for c in manifest["schemas"]["true_stays"]} >= {
        "agent",
        "start",
        "end",
        "place_id",
        "activity",
    }
    assert 0 < manifest["exploration"]["new_place_trip_share"] < 1
    assert manifest["files"]["fixes:geoparquet"] == "fixes.parquet"
    stages = [c[0] for c in calls]
    assert stages[0] == "town" and stages[-1] == "write" and "agents" in stages and "devices" in stages
    assert calls[-1][1] == calls[-1][2]


def test_truth_files_hold_the_tables(written: Written) -> None:
    out, sim, _calls = written
    for name in TRUTH_TABLES:
        table = pq.read_table(out / "truth" / f"{name}.parquet")
        assert table.equals(getattr(sim, name)), name
    assert pq.read_table(out / "scans.parquet").equals(sim.scans)


def test_geoparquet_is_readable_with_pyarrow(written: Written) -> None:
    out, sim, _calls = written
    pf = pq.ParquetFile(out / "fixes.parquet")
    geo = json.loads(pf.schema_arrow.metadata[b"geo"])
    assert geo["primary_column"] == "geometry"
    assert geo["columns"]["geometry"]["encoding"] == "WKB"
    table = pf.read()
    assert table.num_rows == sim.fixes.num_rows
    wkb = table.column("geometry").to_pylist()[:200]
    for blob, lat, lon in zip(
        wkb, table.column("lat").to_pylist(), table.column("lon").to_pylist(), strict=False
    ):
        order, kind, x, y = struct.unpack("<BIdd", blob)
        assert (order, kind) == (1, 1) and x == lon and y == lat
    assert table.column("device").to_pylist() == sim.fixes.column("device").to_pylist()


def test_geoparquet_is_readable_with_hereabouts(written: Written) -> None:
    from hereabouts.io import read

    out, sim, _calls = written
    result = read(out / "fixes.parquet")
    assert result.fixes.num_rows == sim.fixes.num_rows
    assert np.allclose(
        np.sort(result.fixes.column("lat").to_numpy()), np.sort(sim.fixes.column("lat").to_numpy())
    )
    assert set(result.fixes.column("device").to_pylist()) == set(sim.fixes.column("device").to_pylist())


def test_csv_export_reads_back(written: Written) -> None:
    from hereabouts.io import read

    out, sim, _calls = written
    result = read(out / "fixes.csv")
    assert result.fixes.num_rows == sim.fixes.num_rows


def test_same_seed_writes_identical_bytes(tmp_path: Path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b"
    simulate(agents=6, days=2, seed=3, out=a)
    simulate(agents=6, days=2, seed=3, out=b)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert len(files) == len(TRUTH_TABLES) + 3
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    c = tmp_path / "c"
    simulate(agents=6, days=2, seed=4, out=c)
    assert (c / "fixes.parquet").read_bytes() != (a / "fixes.parquet").read_bytes()
    assert (c / "truth" / "true_stays.parquet").read_bytes() != (
        a / "truth" / "true_stays.parquet"
    ).read_bytes()


def test_writing_a_simulation_later_gives_the_same_files(tmp_path: Path) -> None:
    direct = tmp_path / "direct"
    sim = simulate(agents=5, days=2, seed=8, out=direct)
    later = tmp_path / "later"
    in_memory = simulate(agents=5, days=2, seed=8)
    written = write(in_memory, later)
    assert set(written) == {"fixes:geoparquet", "scans", *TRUTH_TABLES}
    for p in direct.rglob("*.parquet"):
        assert (later / p.relative_to(direct)).read_bytes() == p.read_bytes(), p
    assert json.loads((later / "manifest.json").read_text()) == json.loads(
        (direct / "manifest.json").read_text()
    )
    assert sim.out == direct and in_memory.out == later
