"""The XML readers (GPX, KML, TCX) refuse entity tricks and read in bounded memory."""

from __future__ import annotations

import io
import select
import socket
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import hereabouts.io._xml as xml
import hereabouts.io.gpx as gpx
from hereabouts.io import get, read
from hereabouts.io._base import Counts, ReadContext, ReadOptions, Sink
from hereabouts.model.errors import FormatError, UnsafeInputError

NOW = 1_800_000_000_000_000

# root element, one good record, closing tags, an element whose text the reader ignores
SHAPES: dict[str, dict[str, str]] = {
    "gpx": {
        "open": '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>{text}</name><trkseg>',
        "record": '<trkpt lat="47.{i:05d}" lon="8.{i:05d}"><ele>400</ele><time>2024-01-01T00:00:00Z</time></trkpt>\n',
        "close": "</trkseg></trk></gpx>",
        "ignored": "<trkpt lat='47' lon='8'><time>2024-01-01T00:00:00Z</time><desc>{text}</desc></trkpt>",
    },
    "kml": {
        "open": '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>{text}</name>',
        "record": "<Placemark><TimeStamp><when>2024-01-01T00:00:00Z</when></TimeStamp>"
        "<Point><coordinates>8.{i:05d},47.{i:05d}</coordinates></Point></Placemark>\n",
        "close": "</Document></kml>",
        "ignored": "<Placemark><description>{text}</description></Placemark>",
    },
    "tcx": {
        "open": '<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">'
        "<Activities><Activity><Notes>{text}</Notes><Lap><Track>",
        "record": "<Trackpoint><Time>2024-01-01T00:00:00Z</Time><Position><LatitudeDegrees>47.{i:05d}"
        "</LatitudeDegrees><LongitudeDegrees>8.{i:05d}</LongitudeDegrees></Position></Trackpoint>\n",
        "close": "</Track></Lap></Activity></Activities></TrainingCenterDatabase>",
        "ignored": "<Trackpoint><Notes>{text}</Notes></Trackpoint>",
    },
}
FORMATS = sorted(SHAPES)


def document(fmt: str, n: int = 1, *, prolog: str = "", text: str = "x", middle: str = "") -> bytes:
    s = SHAPES[fmt]
    records = "".join(s["record"].format(i=i) for i in range(n))
    half = "".join(s["record"].format(i=i) for i in range(n, 2 * n)) if middle else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + prolog
        + s["open"].format(text=text)
        + "\n"
        + records
        + middle
        + half
        + s["close"]
    ).encode()


class _Discard:
    """A writer that keeps nothing, so memory measures the reader alone."""

    def write(self, tier: str, table: pa.Table) -> int:
        return table.num_rows


def read_stream(fmt: str, data: bytes, member: str = "mem") -> Counts:
    opts = ReadOptions(now_us=NOW)
    sink = Sink(_Discard(), member=member, options=opts, unit="line")
    get(fmt).read(io.BytesIO(data), ReadContext(sink=sink, options=opts, member=member))
    return sink.close()


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, int]]:
    """A local TCP port that records whether anyone connects (an XXE fetch would)."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.setblocking(False)
    try:
        yield srv, srv.getsockname()[1]
    finally:
        srv.close()


def no_connection(srv: socket.socket) -> bool:
    ready, _, _ = select.select([srv], [], [], 0.2)
    return not ready


def peak_bytes(fn: Any) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------- entity attacks
BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1 if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>\n"
)


@pytest.mark.parametrize("fmt", FORMATS)
def test_billion_laughs_refused_without_expansion(fmt: str, tmp_path: Path) -> None:
    p = tmp_path / f"laughs.{fmt}"
    p.write_bytes(document(fmt, 3, prolog=BILLION_LAUGHS, text="&lol9;"))
    warm = tmp_path / f"warm.{fmt}"
    warm.write_bytes(document(fmt, 1))
    assert read(warm, now_us=NOW).counts.fixes == 1  # imports done before memory is traced
    box: dict[str, BaseException] = {}

    def attempt() -> None:
        try:
            read(p, now_us=NOW)
        except UnsafeInputError as exc:
            box["exc"] = exc

    peak = peak_bytes(attempt)
    assert "exc" in box, "the document must be refused"
    message = str(box["exc"])
    assert str(p) in message
    assert "entit" in message and "billion laughs" in message
    assert peak < 20 * 1024 * 1024  # a billion "lol"s would be gigabytes


@pytest.mark.parametrize("fmt", FORMATS)
def test_external_file_entity_refused_and_not_read(fmt: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-CONTENT")
    p = tmp_path / f"xxe.{fmt}"
    prolog = f'<!DOCTYPE root [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
    p.write_bytes(document(fmt, 2, prolog=prolog, text="&xxe;"))
    with pytest.raises(UnsafeInputError, match="external entity") as info:
        read(p, now_us=NOW)
    assert str(p) in str(info.value)
    assert "TOPSECRET" not in str(info.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_network_entities_refused_without_connecting(fmt: str, listener: tuple[socket.socket, int]) -> None:
    srv, port = listener
    url = f"http://127.0.0.1:{port}/evil"
    for prolog in (
        f'<!DOCTYPE root [<!ENTITY net SYSTEM "{url}">]>\n',
        f'<!DOCTYPE root [<!ENTITY % dtd SYSTEM "{url}.dtd"> %dtd;]>\n',
        f'<!DOCTYPE root [<!ENTITY pic SYSTEM "{url}.png" NDATA png>]>\n',
    ):
        with pytest.raises(UnsafeInputError):
            read_stream(fmt, document(fmt, 1, prolog=prolog, text="&net;" if "net " in prolog else "x"))
    assert no_connection(srv)


@pytest.mark.parametrize("fmt", FORMATS)
def test_external_dtd_is_never_fetched(fmt: str, listener: tuple[socket.socket, int]) -> None:
    srv, port = listener
    prolog = f'<!DOCTYPE root SYSTEM "http://127.0.0.1:{port}/root.dtd">\n'
    c = read_stream(fmt, document(fmt, 2, prolog=prolog))
    assert (c.fixes, c.rejected) == (2, 0)  # harmless on its own: read, but never loaded
    assert no_connection(srv)


@pytest.mark.parametrize("fmt", FORMATS)
def test_quadratic_blowup_refused(fmt: str) -> None:
    prolog = '<!DOCTYPE root [<!ENTITY big "' + "A" * 50_000 + '">]>\n'
    with pytest.raises(UnsafeInputError, match="entity"):
        read_stream(fmt, document(fmt, 1, prolog=prolog, text="&big;" * 5_000))


def test_undeclared_entity_is_damage_not_a_crash() -> None:
    c = read_stream("gpx", document("gpx", 2, middle="<trkpt lat='1' lon='2'><time>&nope;</time></trkpt>"))
    assert (c.fixes, c.rejected) == (2, 1)


# ---------------------------------------------------------------------------- bounded memory
@pytest.mark.parametrize("fmt", FORMATS)
def test_gigantic_ignored_text_is_not_accumulated(fmt: str) -> None:
    big = "lorem ipsum " * 1_500_000  # 18 MB of text the reader has no use for
    data = document(fmt, 2, middle=SHAPES[fmt]["ignored"].format(text=big))
    del big
    box: dict[str, Counts] = {}
    peak = peak_bytes(lambda: box.setdefault("c", read_stream(fmt, data)))
    assert box["c"].fixes >= 4
    assert peak < 6 * 1024 * 1024


@pytest.mark.parametrize("fmt", FORMATS)
def test_gigantic_comment_token_stops_with_one_reject(fmt: str) -> None:
    data = document(fmt, 2, middle="<!--" + "-x" * (1 << 21) + "-->")
    c = read_stream(fmt, data)
    assert (c.fixes, c.rejected) == (2, 1)  # the records before it are kept, reading stops there


def test_memory_does_not_grow_with_file_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xml, "FIX_BATCH", 1000)
    monkeypatch.setattr(gpx, "FIX_BATCH", 1000)
    small = document("gpx", 3_000)
    large = document("gpx", 24_000)
    counts: list[Counts] = []
    p_small = peak_bytes(lambda: counts.append(read_stream("gpx", small)))
    p_large = peak_bytes(lambda: counts.append(read_stream("gpx", large)))
    assert [c.fixes for c in counts] == [3_000, 24_000]
    assert p_large < p_small * 1.5 + 512 * 1024, (p_small, p_large)


# ---------------------------------------------------------------------------- helpers
def test_root_element_skips_prolog() -> None:
    head = b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- c -->\n<!DOCTYPE gpx [<!ENTITY a "b">]>\n<g:gpx v="1">'
    assert xml.root_element(head) == "gpx"
    assert xml.root_element("<?xml version='1.0'?><kml>".encode("utf-16")) == "kml"
    assert xml.root_element(b"   ") is None
    assert xml.root_element(b"<!-- never closed") is None


# ---------------------------------------------------------------------------- streaming
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize(
    "path",
    [
        FIXTURES / "gpx" / "gpx11_full.gpx",
        FIXTURES / "gpx" / "gpx10.gpx",
        FIXTURES / "gpx" / "malformed.gpx",
        FIXTURES / "gpx" / "truncated.gpx",
        FIXTURES / "kml" / "placemarks.kml",
        FIXTURES / "kml" / "tracks.kml",
        FIXTURES / "tcx" / "activity.tcx",
    ],
    ids=lambda p: p.name,
)
def test_results_do_not_depend_on_chunk_boundaries(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def snapshot() -> tuple[Any, ...]:
        r = read(path, now_us=NOW)
        return (r.counts.as_dict(), r.fixes.to_pylist(), r.rejects.to_pylist())

    whole = snapshot()
    assert whole[0]["read"] > 0
    for size in (1, 7, 100):  # values, tags and CDATA split across Parse calls
        monkeypatch.setattr(xml, "CHUNK_BYTES", size)
        assert snapshot() == whole, size


@pytest.mark.parametrize("encoding", ["TF-8", "shift_jis", "rot13"])
def test_unreadable_declared_encoding_is_a_format_error(encoding: str) -> None:
    data = document("gpx", 1).replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode())
    with pytest.raises(FormatError, match="encoding"):
        read_stream("gpx", data)


def test_single_byte_encodings_are_read() -> None:
    data = document("gpx", 1, text="Zürich").decode().replace('encoding="UTF-8"', 'encoding="windows-1252"')
    c = read_stream("gpx", data.encode("cp1252"))
    assert (c.fixes, c.rejected) == (1, 0)
