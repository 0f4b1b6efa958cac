"""Archives and compressed files: read member by member, unsafe entries refused and reported."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

import hereabouts as hb
from hereabouts.io import read
from hereabouts.io._open import Member, Refused, members, unsafe_entry_reason

CSV = "time,lat,lon\n2024-05-01T08:00:00Z,48.1,11.5\n2024-05-01T08:01:00Z,48.2,11.6\n"


@pytest.mark.parametrize(
    "name, unsafe",
    [
        ("Takeout/Location History/Records.json", False),
        ("a/b/../c.json", True),
        ("../../etc/passwd", True),
        ("/etc/passwd", True),
        ("C:/Windows/x.gpx", True),
        ("..\\..\\x.gpx", True),
        ("a..b.gpx", False),
    ],
)
def test_unsafe_entry_names(name: str, unsafe: bool) -> None:
    assert (unsafe_entry_reason(name) is not None) is unsafe


def test_zip_slip_entries_are_refused_and_recorded(tmp_path: Path) -> None:
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("good.csv", CSV)
        zf.writestr("../../evil.csv", CSV)
    res = read(z)
    assert res.fixes.num_rows == 2
    rej = res.rejects.to_pylist()
    assert len(rej) == 1 and "escapes the archive" in rej[0]["reason"] and "evil.csv" in rej[0]["member"]
    assert not (tmp_path.parent / "evil.csv").exists()


def test_archive_members_of_unknown_format_are_skipped(tmp_path: Path) -> None:
    z = tmp_path / "takeout.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("Takeout/archive_browser.html", "<html><body>hello</body></html>")
        zf.writestr("Takeout/track.csv", CSV)
        zf.writestr("Takeout/photo.png", b"\x89PNG\r\n\x1a\n" + bytes(100))
    res = read(z)
    assert res.fixes.num_rows == 2
    notes = {m.member.rsplit("!", 1)[1]: m.note for m in res.members}
    assert notes["Takeout/archive_browser.html"] and "skipped" in notes["Takeout/archive_browser.html"]
    assert notes["Takeout/track.csv"] is None


def test_archive_with_nothing_readable_is_an_error(tmp_path: Path) -> None:
    z = tmp_path / "photos.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.txt", "just words")
    with pytest.raises(hb.UnknownFormatError, match="no file of a known location format"):
        read(z)


def test_nested_zip_is_read(tmp_path: Path) -> None:
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("day.csv", CSV)
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(inner, "nested/inner.zip")
    res = read(outer)
    assert res.fixes.num_rows == 2
    assert res.members[0].member.endswith("inner.zip!day.csv")


def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    z = tmp_path / "bomb.zip"
    # a valid CSV header, then 300 MB of the same line: compresses more than 200:1
    with (
        zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("big.csv", "w", force_zip64=True) as fh,
    ):
        fh.write(b"time,lat,lon\n")
        line = b"2024-05-01T08:00:00Z,48.1,11.5\n" * 32_768
        for _ in range(300):
            fh.write(line)
    with pytest.raises(hb.UnsafeInputError, match="zip bomb"):
        read(z)


def test_gzip_file_is_read(tmp_path: Path) -> None:
    g = tmp_path / "track.csv.gz"
    g.write_bytes(gzip.compress(CSV.encode()))
    res = read(g)
    assert res.fixes.num_rows == 2
    assert res.fixes.column("device")[0].as_py() == "track"


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    body = "time,lat,lon\n" + "".join(
        f"2024-05-01T08:{i // 60:02d}:{i % 60:02d}Z,48.1,11.5\n" for i in range(2000)
    )
    data = gzip.compress(body.encode())
    g = tmp_path / "cut.csv.gz"
    g.write_bytes(data[: len(data) // 2])
    res = read(g)
    c = res.counts
    assert c.read == c.fixes + c.rejected + c.duplicates
    assert c.rejected >= 1
    assert any(
        "ended unexpectedly" in r or "truncated" in r.lower()
        for r in res.rejects.column("reason").to_pylist()
    )


def test_members_of_plain_file(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text(CSV)
    ms = list(members(f))
    assert len(ms) == 1 and isinstance(ms[0], Member) and not isinstance(ms[0], Refused)
    with ms[0].open() as fh:
        assert fh.read() == CSV.encode()


def test_import_of_zip_is_one_source(tmp_path: Path) -> None:
    z = tmp_path / "two.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.csv", CSV)
        zf.writestr("b.csv", CSV.replace("48.", "49."))
    db = hb.open(":memory:")
    r = db.import_(z, device="d")[0]
    assert r.counts.fixes == 4 and db.sources().num_rows == 1
