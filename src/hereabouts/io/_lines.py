"""Bounded reading of line-oriented streams, shared by the CSV, OwnTracks and GeoLife readers.

Lines are read in blocks; a line longer than ``max_line_bytes`` is never held whole: it is skipped to its
end and reported as :class:`Oversized` with its 1-based line number, so the reader can reject it and go
on. Line ends may be ``\\n`` or ``\\r\\n``; a UTF-8 byte-order mark at the start of the stream is dropped.

Two views of the same machinery:

* :func:`iter_blocks` yields :class:`Block` (many complete lines as one ``bytes``, for vectorised parsers
  such as pyarrow's CSV reader) and :class:`Oversized` markers;
* :func:`iter_lines` yields one :class:`Line` per line, decoded as UTF-8 (``text`` is None and ``error``
  says why when the bytes are not UTF-8 or the line is too long).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np

BOM = b"\xef\xbb\xbf"
#: Bytes read from the stream at a time.
BLOCK_BYTES = 1 << 22


@dataclass(frozen=True)
class Block:
    """Complete lines ``first_line`` .. ``first_line + n_lines - 1``; ``data`` ends with a newline
    unless it holds the last line of a stream that lacks one."""

    first_line: int
    n_lines: int
    data: bytes

    def lines(self) -> list[bytes]:
        """The lines of the block without their line ends (``\\r\\n`` or ``\\n``)."""
        parts = self.data.split(b"\n")
        if self.data.endswith(b"\n"):
            parts.pop()
        return [p[:-1] if p.endswith(b"\r") else p for p in parts]


@dataclass(frozen=True)
class Oversized:
    """A line longer than the limit, skipped without being read into memory."""

    line: int
    size_at_least: int


@dataclass(frozen=True)
class Line:
    """One line: ``text`` without its line end, or None with ``error`` saying why it is unreadable."""

    number: int
    text: str | None
    error: str | None = None


def too_long_reason(limit: int) -> str:
    return f"line longer than {limit} bytes; expected one record per line (a longer line is skipped)"


def iter_blocks(
    stream: IO[bytes], max_line_bytes: int, block_bytes: int = BLOCK_BYTES
) -> Iterator[Block | Oversized]:
    """Split ``stream`` into blocks of whole lines, each line at most ``max_line_bytes`` long (without
    its line end); longer lines come out as :class:`Oversized` and are skipped unread."""
    block_bytes = max(block_bytes, 1024)
    line_no = 1
    buf = b""
    skipping = False  # inside an oversized line whose end has not been seen yet
    skipped = 0
    first = True
    while True:
        data = stream.read(block_bytes)
        if first:
            first = False
            if data.startswith(BOM):
                data = data[len(BOM) :]
            elif len(data) < 3 and BOM.startswith(data) and data:
                more = stream.read(3 - len(data))
                data += more
                if data.startswith(BOM):
                    data = data[len(BOM) :]
        if not data:
            if skipping:
                yield Oversized(line_no, skipped)
            elif buf:
                if len(buf.rstrip(b"\r")) > max_line_bytes:
                    yield Oversized(line_no, len(buf))
                else:
                    yield Block(line_no, 1, buf)
            return
        if skipping:
            nl = data.find(b"\n")
            if nl < 0:
                skipped += len(data)
                continue
            skipped += nl
            yield Oversized(line_no, skipped)
            line_no += 1
            skipping = False
            data = data[nl + 1 :]
        buf = buf + data if buf else data
        if not buf:
            continue
        ends = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 10)
        if len(ends):
            starts = np.empty(len(ends), dtype=np.int64)
            starts[0] = 0
            starts[1:] = ends[:-1] + 1
            lengths = ends - starts
            # a "\r" before "\n" is part of the line end, not of the line
            long_idx = np.flatnonzero(lengths > max_line_bytes)
            start = 0  # index of the first line not yet yielded
            for i in long_idx.tolist():
                if lengths[i] == max_line_bytes + 1 and buf[int(ends[i]) - 1] == 13:
                    continue
                if i > start:
                    lo = int(starts[start])
                    hi = int(ends[i - 1]) + 1
                    yield Block(line_no, i - start, buf[lo:hi])
                    line_no += i - start
                yield Oversized(line_no, int(lengths[i]))
                line_no += 1
                start = i + 1
            if start < len(ends):
                lo = int(starts[start])
                hi = int(ends[-1]) + 1
                yield Block(line_no, len(ends) - start, buf[lo:hi])
                line_no += len(ends) - start
            buf = buf[int(ends[-1]) + 1 :]
        if len(buf) > max_line_bytes + 1:
            # the unfinished last line is already too long: drop it and skip to its end
            skipping = True
            skipped = len(buf)
            buf = b""


def decode_line(raw: bytes) -> tuple[str | None, str | None]:
    """``(text, None)`` for UTF-8 bytes, ``(None, reason)`` otherwise."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"bytes at column {exc.start + 1} are not UTF-8; expected UTF-8 text"


def iter_lines(stream: IO[bytes], max_line_bytes: int, block_bytes: int = BLOCK_BYTES) -> Iterator[Line]:
    """Every line of ``stream`` (numbered from 1), decoded as UTF-8; unreadable ones carry an error."""
    for item in iter_blocks(stream, max_line_bytes, block_bytes):
        if isinstance(item, Oversized):
            yield Line(item.line, None, too_long_reason(max_line_bytes))
            continue
        yield from block_lines(item)


def block_lines(block: Block) -> Iterator[Line]:
    """The lines of one block, decoded."""
    n = block.first_line
    for raw in block.lines():
        text, err = decode_line(raw)
        yield Line(n, text, err)
        n += 1


class Prefixed(io.RawIOBase):
    """A stream that first returns ``head`` and then the rest of ``stream``: lets a reader peek at the
    start of a non-seekable stream and still hand the whole of it to a parser."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(b))
        b[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            out = self._head + self._stream.read()
            self._head = b""
            return out
        if self._head:
            out = self._head[:size]
            self._head = self._head[size:]
            if len(out) < size:
                out += self._stream.read(size - len(out))
            return out
        return self._stream.read(size)


def peek(stream: IO[bytes], n: int) -> tuple[bytes, IO[bytes]]:
    """Read up to ``n`` bytes; return them and a stream that still yields the whole content."""
    head = stream.read(n)
    return head, Prefixed(head, stream)  # type: ignore[return-value]
