"""A whole Google Takeout archive read through ``hereabouts.io.read``: every location member is read,
the HTML index and images are skipped."""

from __future__ import annotations

import zipfile
from pathlib import Path

import hereabouts.io as hio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "google"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def make_takeout(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("Takeout/archive_browser.html", "<html><body><h1>Your Takeout</h1></body></html>")
        z.write(FIXTURES / "records_takeout.json", "Takeout/Location History/Records.json")
        z.write(
            FIXTURES / "2023_JANUARY.json",
            "Takeout/Location History/Semantic Location History/2023/2023_JANUARY.json",
        )
        z.write(
            FIXTURES / "2019_JANUARY.json",
            "Takeout/Location History/Semantic Location History/2019/2019_JANUARY.json",
        )
        z.writestr("Takeout/Location History/Semantic Location History/2023/map.png", PNG)
    return path


def test_takeout_zip_reads_every_location_member(tmp_path: Path) -> None:
    r = hio.read(make_takeout(tmp_path / "takeout-20240101.zip"))
    by_entry = {m.member.rsplit("!", 1)[-1]: m for m in r.members}
    assert by_entry["Takeout/Location History/Records.json"].format == "google_records"
    sem = "Takeout/Location History/Semantic Location History/"
    assert by_entry[sem + "2023/2023_JANUARY.json"].format == "google_semantic"
    assert by_entry[sem + "2019/2019_JANUARY.json"].format == "google_semantic"
    # the HTML index and the image are skipped, not read and not rejected
    for skipped in ("Takeout/archive_browser.html", sem + "2023/map.png"):
        assert by_entry[skipped].format is None
        assert by_entry[skipped].counts.read == 0
    c = r.counts
    # Records.json: 6 fixes + 2 scans; 2023: 2 stays, 1 trip, 3 fixes; 2019: 1 stay, 1 trip, 1 fix, 4 rejects
    assert (c.fixes, c.scans, c.reported_stays, c.reported_trips, c.rejected) == (10, 2, 3, 2, 4)
    # rejects name the archive member they came from
    assert set(r.rejects.column("member").to_pylist()) == {
        str(tmp_path / "takeout-20240101.zip") + "!" + sem + "2019/2019_JANUARY.json"
    }


def test_takeout_zip_device_comes_from_device_tags(tmp_path: Path) -> None:
    r = hio.read(make_takeout(tmp_path / "takeout.zip"))
    devices = set(r.fixes.column("device").to_pylist())
    assert "335552189" in devices  # deviceTag in Records.json and in the semantic sourceInfo
