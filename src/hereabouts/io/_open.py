"""Opening inputs: plain files, gzip files and zip archives (a whole Google Takeout, a KMZ), member by
member, safely: entries that would escape the archive (zip-slip), absurd compression ratios and nested
archives beyond a small depth are refused and reported, never extracted."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..model.errors import UnsafeInputError

HEAD_BYTES = 64 * 1024
MAX_ZIP_DEPTH = 2
#: Decompressed/compressed ratio past which a zip entry is treated as a bomb.
MAX_RATIO = 200
ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Member:
    """One readable stream: a plain file, or an entry of an archive (``name`` is ``archive!entry``)."""

    name: str
    open: Callable[[], IO[bytes]]
    size: int | None


@dataclass
class Refused:
    """An archive entry refused for safety, with the reason."""

    name: str
    reason: str


def unsafe_entry_reason(name: str) -> str | None:
    """Why a zip entry name is unsafe (absolute, drive letter, ``..`` escaping the archive), or None.

    >>> unsafe_entry_reason("Takeout/Location History/Records.json") is None
    True
    >>> unsafe_entry_reason("../../etc/passwd")
    "entry path escapes the archive ('..'); refused"
    """
    n = name.replace("\\", "/")
    if n.startswith("/") or (len(n) > 1 and n[1] == ":"):
        return "entry path is absolute; refused"
    if any(part == ".." for part in n.split("/")):
        return "entry path escapes the archive ('..'); refused"
    return None


class _LimitedReader(io.RawIOBase):
    """Reads at most ``limit`` bytes from ``raw``; past that raises UnsafeInputError (zip bombs)."""

    def __init__(self, raw: IO[bytes], limit: int, name: str) -> None:
        self.raw = raw
        self.left = limit
        self.name_ = name
        self._pending: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._pending is not None:
            exc, self._pending = self._pending, None
            raise exc
        want = len(b)
        data = bytearray()
        # small reads, so a stream that breaks (truncated gzip or zip entry) still hands over
        # what it decompressed before the break; the error comes on the next call
        while len(data) < want:
            try:
                chunk = self.raw.read(min(16_384, want - len(data)))
            except (EOFError, OSError, zlib.error) as exc:
                if data:
                    self._pending = exc
                    break
                raise
            if not chunk:
                break
            data += chunk
        if len(data) > self.left:
            raise UnsafeInputError(
                f"{self.name_}: decompresses to more than {MAX_RATIO}x its stored size; refused as a zip bomb"
            )
        self.left -= len(data)
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


def _zip_members(opener: Callable[[], IO[bytes]], label: str, depth: int) -> Iterator[Member | Refused]:
    fh = opener()
    try:
        zf = zipfile.ZipFile(fh)
    except zipfile.BadZipFile as exc:
        fh.close()
        raise UnsafeInputError(f"{label}: not a readable zip archive ({exc})") from exc
    with fh, zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = f"{label}!{info.filename}"
            why = unsafe_entry_reason(info.filename)
            if why:
                yield Refused(name, why)
                continue
            if info.flag_bits & 0x1:
                yield Refused(name, "entry is encrypted; decrypt the archive first")
                continue

            def open_entry(info: zipfile.ZipInfo = info, name: str = name) -> IO[bytes]:
                # reopen the archive so each member has its own file handle
                zfh = opener()
                z = zipfile.ZipFile(zfh)
                raw = z.open(info)
                limit = max(info.compress_size * MAX_RATIO, 64 * 1024 * 1024)
                limited = _LimitedReader(raw, limit, name)

                class _Closer(io.BufferedReader):
                    def close(self) -> None:
                        super().close()
                        z.close()
                        zfh.close()

                return _Closer(limited, buffer_size=1 << 16)

            if depth < MAX_ZIP_DEPTH and info.filename.lower().endswith((".zip", ".kmz")):
                with open_entry() as probe:
                    magic = probe.read(4)
                if magic == ZIP_MAGIC:
                    # nested archive: read it into memory only when small; otherwise refuse
                    if info.file_size > 512 * 1024 * 1024:
                        yield Refused(name, "nested archive larger than 512 MB; extract it first")
                        continue

                    def open_nested(open_entry: Callable[[], IO[bytes]] = open_entry) -> IO[bytes]:
                        with open_entry() as e:
                            return io.BytesIO(e.read())

                    yield from _zip_members(open_nested, name, depth + 1)
                    continue
            yield Member(name, open_entry, info.file_size)


class ByteCounter:
    """Counts bytes read from the files under a path (for progress bars); read from another thread."""

    def __init__(self) -> None:
        self.n = 0


class _Counting(io.RawIOBase):
    def __init__(self, raw: IO[bytes], counter: ByteCounter) -> None:
        self.raw = raw
        self.counter = counter

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.counter.n += n
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def members(path: str | os.PathLike[str], counter: ByteCounter | None = None) -> Iterator[Member | Refused]:
    """The readable streams inside ``path``: itself, its gzip content, or its zip entries."""
    p = Path(path)
    label = str(path)

    def _raw() -> IO[bytes]:
        fh = open(p, "rb")  # noqa: SIM115 - the caller closes the member stream
        if counter is None:
            return fh
        return io.BufferedReader(_Counting(fh, counter), buffer_size=1 << 16)

    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic == ZIP_MAGIC:
        yield from _zip_members(_raw, label, 1)
    elif magic[:2] == GZIP_MAGIC:
        size = p.stat().st_size

        def open_gz() -> IO[bytes]:
            fileobj = _raw()
            raw = gzip.GzipFile(fileobj=fileobj, mode="rb")
            limited = _LimitedReader(raw, max(size * MAX_RATIO, 1 << 26), label)  # type: ignore[arg-type]

            class _GzCloser(io.BufferedReader):
                def close(self) -> None:
                    super().close()
                    fileobj.close()

            return _GzCloser(limited, buffer_size=1 << 16)

        yield Member(label, open_gz, None)
    else:
        yield Member(label, _raw, p.stat().st_size)


def read_head(member: Member, n: int = HEAD_BYTES) -> bytes:
    """The first ``n`` bytes of a member, or as many as could be read before the stream broke."""
    parts: list[bytes] = []
    got = 0
    with member.open() as fh:
        while got < n:
            try:
                chunk = fh.read(min(1024, n - got))
            except (OSError, EOFError):
                break
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
    return b"".join(parts)
