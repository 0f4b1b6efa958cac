"""An import killed midway (kill -9) leaves the store exactly as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

import hereabouts as hb

CHILD = textwrap.dedent(
    """
    import sys
    import hereabouts as hb

    db = hb.open(sys.argv[1])
    def progress(path, done, total):
        print(f"{done / max(total, 1):.4f}", flush=True)
    db.import_(sys.argv[2], device="big", progress=progress)
    print("DONE", flush=True)
    """
)


def _big_csv(path: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    t = 1_600_000_000 + np.arange(n) * 5
    lat = 48.1 + np.cumsum(rng.normal(0, 1e-5, n))
    lon = 11.5 + np.cumsum(rng.normal(0, 1e-5, n))
    with open(path, "w") as fh:
        fh.write("timestamp,latitude,longitude\n")
        for i in range(0, n, 200_000):
            sl = slice(i, i + 200_000)
            fh.write(
                "".join(f"{a},{b:.7f},{c:.7f}\n" for a, b, c in zip(t[sl], lat[sl], lon[sl], strict=True))
            )


def _snapshot(db_path: Path) -> tuple[object, ...]:
    db = hb.open(db_path)
    try:
        fixes = db.fixes().sort_by([("device", "ascending"), ("t", "ascending")])
        return (
            fixes,
            db.sources().drop_columns(["imported_at"]),
            db.rejects(),
            db.devices(),
            db.entities().drop_columns(["first", "last"]),
        )
    finally:
        db.close()


def test_kill_during_import_leaves_store_unchanged(tmp_path: Path) -> None:
    db_path = tmp_path / "store.db"
    small = tmp_path / "small.csv"
    small.write_text("timestamp,latitude,longitude\n1600000000,48.1,11.5\n1600000060,48.2,11.6\n")
    db = hb.open(db_path)
    db.import_(small, device="small")
    db.close()
    before = _snapshot(db_path)

    big = tmp_path / "big.csv"
    _big_csv(big, 1_500_000)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db_path), str(big)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    killed_at = None
    for line in proc.stdout:
        line = line.strip()
        assert line != "DONE", "the import finished before it could be killed; make the file bigger"
        frac = float(line)
        if 0.2 <= frac < 0.95:
            os.kill(proc.pid, signal.SIGKILL)
            killed_at = frac
            break
    proc.wait(timeout=60)
    proc.stdout.close()
    assert killed_at is not None, "never saw the import in progress"
    assert proc.returncode == -signal.SIGKILL

    after = _snapshot(db_path)
    for a, b in zip(before, after, strict=True):
        assert a.equals(b)  # type: ignore[attr-defined]

    # the store is usable after the crash, and the same file now imports whole
    db = hb.open(db_path)
    try:
        r = db.import_(big, device="big")[0]
        assert r.counts.fixes == 1_500_000
        assert db.fixes(device="big").num_rows == 1_500_000
    finally:
        db.close()
