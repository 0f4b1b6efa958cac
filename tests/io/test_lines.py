"""Bounded line reading shared by the line-oriented readers."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from hereabouts.io._lines import Block, Oversized, iter_blocks, iter_lines, peek


class _CountingStream(io.BytesIO):
    """Records the largest single read, to show a long line is never asked for whole."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest = 0

    def read(self, n: int | None = -1) -> bytes:
        out = super().read(n)
        self.largest = max(self.largest, len(out))
        return out


def _lines(data: bytes, limit: int = 100, block: int = 1024) -> list[tuple[int, str | None, str | None]]:
    return [(ln.number, ln.text, ln.error) for ln in iter_lines(io.BytesIO(data), limit, block)]


def test_lf_crlf_and_missing_final_newline() -> None:
    out = _lines(b"a\r\nb\n\nc")
    assert out == [(1, "a", None), (2, "b", None), (3, "", None), (4, "c", None)]


def test_bom_is_dropped_only_at_start() -> None:
    out = _lines(b"\xef\xbb\xbfhead\nx\xef\xbb\xbf\n")
    assert out[0] == (1, "head", None)
    assert out[1] == (2, "x\ufeff", None)


def test_undecodable_line_is_reported_with_its_number() -> None:
    out = _lines(b"ok\nbad\xff\xfe\nok2\n")
    assert out[0] == (1, "ok", None)
    assert out[1][0] == 2 and out[1][1] is None
    assert "UTF-8" in (out[1][2] or "")
    assert out[2] == (3, "ok2", None)


def test_oversized_line_is_skipped_and_numbered() -> None:
    data = b"short\n" + b"x" * 5000 + b"\nafter\n" + b"y" * 300
    out = _lines(data, limit=100, block=1024)
    assert [(n, t) for n, t, _ in out] == [(1, "short"), (2, None), (3, "after"), (4, None)]
    assert "longer than 100 bytes" in (out[1][2] or "")


def test_oversized_line_spanning_many_blocks_is_not_held() -> None:
    big = b"z" * (1 << 20)
    stream = _CountingStream(b"a\n" + big + b"\nb\n")
    items = list(iter_blocks(stream, 1000, 4096))
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Block", "Oversized", "Block"]
    assert isinstance(items[1], Oversized) and items[1].line == 2
    assert items[1].size_at_least >= 1 << 20
    assert isinstance(items[2], Block) and items[2].first_line == 3 and items[2].lines() == [b"b"]
    assert stream.largest <= 4096


def test_crlf_at_the_limit_is_not_oversized() -> None:
    out = _lines(b"abcd\r\nefgh\n", limit=4, block=1024)
    assert out == [(1, "abcd", None), (2, "efgh", None)]
    out = _lines(b"abcde\r\n", limit=4, block=1024)
    assert out[0][1] is None


def test_blocks_carry_line_numbers_across_reads() -> None:
    data = b"".join(f"line{i}\n".encode() for i in range(1, 2001))
    blocks = [b for b in iter_blocks(io.BytesIO(data), 100, 1024) if isinstance(b, Block)]
    assert len(blocks) > 5
    assert sum(b.n_lines for b in blocks) == 2000
    for b in blocks:
        assert b.lines()[0] == f"line{b.first_line}".encode()
        assert len(b.lines()) == b.n_lines


def test_peek_keeps_the_whole_stream() -> None:
    head, s = peek(io.BytesIO(b"0123456789"), 4)
    assert head == b"0123"
    assert s.read(2) == b"01"
    assert s.read() == b"23456789"


@settings(max_examples=60, deadline=2000)
@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    st.sampled_from([b"\n", b"\r\n"]),
    st.integers(min_value=1, max_value=30),
)
def test_every_line_comes_out_once(lines: list[bytes], end: bytes, limit: int) -> None:
    data = end.join(lines) + (end if lines else b"")
    out = list(iter_lines(io.BytesIO(data), limit, 1024))
    if data.startswith(b"\xef\xbb\xbf"):
        return  # the BOM is not part of the first line
    assert [ln.number for ln in out] == list(range(1, len(lines) + 1))
    for ln, raw in zip(out, lines, strict=True):
        raw = raw[:-1] if end == b"\n" and raw.endswith(b"\r") else raw
        if len(raw) > limit:
            assert ln.text is None
        elif ln.text is not None:
            assert ln.text.encode() == raw
