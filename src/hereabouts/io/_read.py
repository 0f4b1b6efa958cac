"""Reading a path into tables in memory, through the same members, detection and sink as imports."""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..model.errors import HereaboutsError, UnknownFormatError
from . import _detect
from ._base import Counts, Format, MemoryWriter, ReadContext, ReadOptions, Sink, Writer
from ._open import ByteCounter, Member, Refused, members, read_head


@dataclass
class MemberResult:
    member: str
    format: str | None
    counts: Counts
    note: str | None = None
    reject_samples: list[dict[str, Any]] = field(default_factory=list)


def default_device_name(path: str | os.PathLike[str]) -> str:
    stem = Path(str(path)).name
    for suffix in (".gz", ".zip", ".kmz"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return Path(stem).stem or "device"


def read_members(
    path: str | os.PathLike[str],
    writer: Writer,
    options: ReadOptions,
    *,
    format: str | None = None,
    on_member: Callable[[str], None] | None = None,
    counter: ByteCounter | None = None,
) -> Iterator[MemberResult]:
    """Read every member of ``path`` into ``writer``; yield one result per member.

    A plain file whose format is unknown raises :class:`UnknownFormatError`; inside an archive,
    members of no known format are skipped and reported (a Takeout zip carries HTML and images).
    """
    forced: Format | None = _detect.get(format) if format else None
    any_read = False
    is_archive = False
    for m in members(path, counter):
        if isinstance(m, Refused):
            is_archive = True
            sink = Sink(writer, member=m.name, options=options, unit="entry")
            sink.reject(None, None, m.reason)
            yield MemberResult(m.name, None, sink.close(), note=m.reason, reject_samples=sink.reject_samples)
            continue
        if "!" in m.name:
            is_archive = True
        head = read_head(m)
        fmt = forced or _detect.detect(head, _entry_name(m))
        if fmt is None and options.columns:
            fmt = _detect.get("csv")  # a column mapping says it is a table, whatever its header looks like
        if fmt is None:
            if is_archive:
                yield MemberResult(m.name, None, Counts(), note="skipped: not a location format")
                continue
            raise UnknownFormatError(
                f"{m.name}: format not recognised from its content",
                hint=f"expected one of: {_detect.describe_all()}; or name one with --format",
            )
        if on_member:
            on_member(m.name)
        any_read = True
        yield _read_member(m, fmt, writer, options)
    if is_archive and not any_read:
        raise UnknownFormatError(
            f"{path}: the archive holds no file of a known location format",
            hint=f"expected one of: {_detect.describe_all()}",
        )


def _entry_name(m: Member) -> str:
    return m.name.rsplit("!", 1)[-1]


def _read_member(m: Member, fmt: Format, writer: Writer, options: ReadOptions) -> MemberResult:
    sink = Sink(writer, member=m.name, options=options, unit=fmt.unit)
    ctx = ReadContext(sink=sink, options=options, member=m.name)
    with m.open() as fh:
        try:
            fmt.read(fh, ctx)
        except HereaboutsError:
            raise
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            # truncated compressed data and the like: keep what was read, record the failure
            sink.reject(None, None, f"stream ended unexpectedly: {exc}")
    counts = sink.close()
    return MemberResult(m.name, fmt.name, counts, reject_samples=sink.reject_samples)


@dataclass
class ReadResult:
    """Everything read from one path, in memory (``fixes``, ``rejects``, ``scans``...)."""

    path: str
    members: list[MemberResult]
    fixes: pa.Table
    rejects: pa.Table
    scans: pa.Table
    reported_stays: pa.Table
    reported_trips: pa.Table
    events: pa.Table

    @property
    def counts(self) -> Counts:
        total = Counts()
        for r in self.members:
            for k, v in r.counts.as_dict().items():
                setattr(total, k, getattr(total, k) + v)
        return total


def read(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    device: str | None = None,
    columns: dict[str, str] | None = None,
    tz: str | None = None,
    now_us: int | None = None,
) -> ReadResult:
    """Read ``path`` (any supported format, zip or gzip) into memory without a store.

    Duplicates are not removed here (that is the store's job), so ``fixes`` holds every valid fix read.
    """
    options = ReadOptions(
        device=device, default_device=default_device_name(path), columns=columns, tz=tz, now_us=now_us
    )
    writer = MemoryWriter()
    results = list(read_members(path, writer, options, format=format))
    return ReadResult(
        path=str(path),
        members=results,
        fixes=writer.table("fix"),
        rejects=writer.table("reject"),
        scans=writer.table("scan"),
        reported_stays=writer.table("reported_stay"),
        reported_trips=writer.table("reported_trip"),
        events=writer.table("event"),
    )
