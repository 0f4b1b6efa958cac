"""Safe, streaming XML for the GPX, KML and TCX readers.

:class:`XmlReader` drives the C expat parser (``pyexpat``) over a byte stream in fixed-size chunks and
calls a subclass's :meth:`~XmlReader.start` and :meth:`~XmlReader.end` hooks with *local* element names
(namespace prefixes are dropped: ``gpxtpx:speed`` arrives as ``speed``). No tree is built, and text is
collected only inside the elements a reader asks for (:attr:`XmlReader.text_elements`), each capped at
``max_record_bytes`` characters, so memory stays bounded whatever the size of the file. Fixes are
buffered in columns (:class:`FixColumns`) and handed to the sink a batch at a time.

Safety. Any entity declaration (internal or external, general or parameter) refuses the whole file
with :class:`~hereabouts.model.errors.UnsafeInputError` as soon as it is declared, before anything can
be expanded: that stops "billion laughs" expansion and external-entity (XXE) file or network access.
External DTDs are never loaded. A single token (a start tag with a gigantic attribute, an endless
comment) that grows past the record cap is reported as one reject and reading stops there, so expat
never has to buffer it whole.

Damage. A file that breaks off or stops being well-formed keeps every record completed before the
break and gets one reject at the line where expat found the damage. A stream that is not XML at all,
or whose root element is not the reader's, is a whole-file :class:`~hereabouts.model.errors.FormatError`.
"""

from __future__ import annotations

import codecs
import re
from datetime import tzinfo
from pyexpat import ExpatError, ParserCreate, XMLParserType
from pyexpat import errors as expat_errors
from typing import IO, ClassVar

import pyarrow as pa

from ..model.errors import HereaboutsError, UnsafeInputError
from ._base import ReadContext, Sink
from ._time import parse_iso

#: Bytes handed to expat at a time.
CHUNK_BYTES = 1 << 18
#: Fixes buffered before they are handed to the sink as one table.
FIX_BATCH = 1 << 16

_UNSAFE_PREFIX = "refused as unsafe XML"
#: Element kinds in :attr:`XmlReader._acts` (bit flags): text wanted, start/end wanted.
OTHER, TEXT, STRUCT = 0, 1, 2


class _Refused(Exception):
    """Raised inside an expat handler to abort parsing of an unsafe document."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FixColumns:
    """Fixes buffered column by column and handed to :meth:`Sink.fix_table` in batches.

    Much cheaper per fix than :meth:`Sink.fix` for readers that produce millions of small records;
    the sink validates the batch exactly as it validates single fixes.
    """

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.pos: list[int] = []
        self.t: list[int] = []
        self.lat: list[float] = []
        self.lon: list[float] = []
        self.tz: list[int | None] = []
        self.alt: list[float | None] = []
        #: (row, accuracy_m, speed_mps, course_deg, provider) for the rows that carry any of them
        self.extra: list[tuple[int, float | None, float | None, float | None, str | None]] = []
        #: the device stream of the buffered fixes (None: the import's default)
        self.device: str | None = None

    def set_device(self, device: str | None) -> None:
        """Fixes added from now on belong to ``device``; what is buffered keeps the previous one."""
        if device != self.device:
            self.flush()
            self.device = device

    def add(
        self,
        pos: int,
        t_us: int,
        lat: float,
        lon: float,
        tz_offset_s: int | None = None,
        altitude_m: float | None = None,
        accuracy_m: float | None = None,
        speed_mps: float | None = None,
        course_deg: float | None = None,
        provider: str | None = None,
    ) -> None:
        if accuracy_m is not None or speed_mps is not None or course_deg is not None or provider is not None:
            self.extra.append((len(self.t), accuracy_m, speed_mps, course_deg, provider))
        self.pos.append(pos)
        self.t.append(t_us)
        self.lat.append(lat)
        self.lon.append(lon)
        self.tz.append(tz_offset_s)
        self.alt.append(altitude_m)
        if len(self.t) >= FIX_BATCH:
            self.flush()

    def flush(self) -> None:
        n = len(self.t)
        if n == 0:
            return
        cols: dict[str, pa.Array] = {
            "pos": pa.array(self.pos, pa.int64()),
            "t": pa.array(self.t, pa.int64()),
            "lat": pa.array(self.lat, pa.float64()),
            "lon": pa.array(self.lon, pa.float64()),
            "tz_offset_s": pa.array(self.tz, pa.int32()),
            "altitude_m": pa.array(self.alt, pa.float64()),
        }
        if self.extra:
            acc: list[float | None] = [None] * n
            speed: list[float | None] = [None] * n
            course: list[float | None] = [None] * n
            prov: list[str | None] = [None] * n
            for i, a, s, c, p in self.extra:
                acc[i], speed[i], course[i], prov[i] = a, s, c, p
            cols["accuracy_m"] = pa.array(acc, pa.float64())
            cols["speed_mps"] = pa.array(speed, pa.float64())
            cols["course_deg"] = pa.array(course, pa.float64())
            cols["provider"] = pa.array(prov, pa.string())
        if self.device is not None:
            cols["device"] = pa.array([self.device] * n, pa.string())
        self.pos, self.t, self.lat, self.lon, self.tz, self.alt, self.extra = [], [], [], [], [], [], []
        self.sink.fix_table(pa.table(cols))


class XmlReader:
    """Base of the streaming XML readers; subclasses set the class attributes and override the hooks.

    ``root_names``: local names accepted for the document element (anything else is a FormatError).
    ``format_label``: how messages name the format (``GPX``). ``text_elements``: local names whose
    text the reader wants (passed to :meth:`end`). ``struct_elements``: other local names whose start
    and end the reader wants. Elements in neither set cost no Python call beyond the dispatch.
    """

    root_names: ClassVar[frozenset[str]] = frozenset()
    format_label: ClassVar[str] = "XML"
    text_elements: ClassVar[frozenset[str]] = frozenset()
    struct_elements: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.sink = ctx.sink
        self.fixes = FixColumns(ctx.sink)
        self.tz = ctx.options.tzinfo
        self.max_text = max(1, int(ctx.options.max_record_bytes))
        self.parser: XMLParserType = _make_parser()
        self._acts: dict[str, tuple[int, str]] = {}
        self._txt: str | None = None
        self._txt_name = ""
        p = self.parser
        p.StartElementHandler = self._on_first
        p.EndElementHandler = self._on_end

    # ------------------------------------------------------------------ hooks for subclasses
    def start(self, name: str, attrs: dict[str, str]) -> None:
        """An element of :attr:`struct_elements` opens."""

    def end(self, name: str, text: str | None) -> None:
        """An element of :attr:`text_elements` or :attr:`struct_elements` closes; ``text`` is its
        text for :attr:`text_elements` (None when the text passed the cap, see :meth:`text_too_long`)
        and None for the others."""

    def text_too_long(self, name: str, line: int) -> None:
        """The text of a wanted element ``name`` passed the cap; :meth:`end` will get None for it."""

    def after_chunk(self) -> None:
        """Called after each chunk is parsed (a place to drop buffered text)."""

    def finish(self, complete: bool) -> None:
        """The stream ended (``complete`` is False when it broke off): emit or drop pending records."""

    def line(self) -> int:
        """The 1-based line of the event being handled."""
        return int(self.parser.CurrentLineNumber)

    # ------------------------------------------------------------------ driving
    def run(self, stream: IO[bytes]) -> None:
        """Parse ``stream`` to its end (or to the damage), calling the hooks; then flush the fixes."""
        p = self.parser
        fed = 0
        guard = self.max_text + 2 * CHUNK_BYTES
        try:
            while True:
                chunk = stream.read(CHUNK_BYTES)
                if not chunk:
                    p.Parse(b"", True)
                    break
                fed += len(chunk)
                p.Parse(chunk, False)
                self.after_chunk()
                if fed - int(p.CurrentByteIndex) > guard:
                    # expat is holding one unfinished token (a tag, a comment...) bigger than the cap
                    self._need_root(f"a single XML token longer than {self.max_text} bytes")
                    line = int(p.CurrentLineNumber)
                    self.finish(False)
                    self.fixes.flush()
                    self.sink.reject(
                        line,
                        None,
                        f"an XML tag, comment or other token here is longer than {self.max_text} bytes; "
                        "expected a short token (reading stopped here; the records before it were kept)",
                    )
                    return
        except _Refused as exc:
            raise UnsafeInputError(
                f"{self.ctx.member}: {_UNSAFE_PREFIX}: {exc.reason}",
                hint="location files never need entity declarations; export the file again without them",
            ) from None
        except HereaboutsError:
            raise
        except (LookupError, ValueError) as exc:
            # pyexpat's bridge to Python codecs: the XML declaration names an encoding it cannot use
            if self.parser.StartElementHandler != self._on_first:
                raise
            raise self.ctx.error(
                f"the XML declares an encoding that cannot be read ({exc}); expected a {self.format_label} "
                "document in UTF-8, UTF-16 or a single-byte encoding such as ISO-8859-1"
            ) from exc
        except (OSError, EOFError):
            # the stream itself failed (a truncated gzip member...): keep what was read, let the
            # caller record the failure
            self.finish(False)
            self.fixes.flush()
            raise
        except ExpatError as exc:
            line = int(getattr(exc, "lineno", 0) or p.ErrorLineNumber)
            message = expat_errors.messages.get(exc.code, str(exc)) if exc.code else str(exc)
            self._need_root(f"not well-formed XML at line {line} ({message})")
            self.finish(False)
            self.fixes.flush()
            self.sink.reject(
                line,
                None,
                f"the XML breaks off or is not well-formed here ({message}); expected a complete "
                f"{self.format_label} document (the records before this point were kept)",
            )
            return
        self._need_root("no XML element found")
        self.finish(True)
        self.fixes.flush()

    def _need_root(self, problem: str) -> None:
        if self.parser.StartElementHandler == self._on_first:  # no element seen yet
            raise self.ctx.error(f"{problem}; expected a {self.format_label} document ({self._roots()})")

    def _roots(self) -> str:
        return "root element " + " or ".join(f"<{n}>" for n in sorted(self.root_names))

    # ------------------------------------------------------------------ expat callbacks
    def _action(self, tag: str) -> tuple[int, str]:
        name = tag[tag.rfind(":") + 1 :]
        kind = (TEXT if name in self.text_elements else OTHER) | (
            STRUCT if name in self.struct_elements else OTHER
        )
        act = (kind, name)
        if len(self._acts) < 4096:  # documents with endless distinct tag names get no cache
            self._acts[tag] = act
        return act

    def _on_first(self, tag: str, attrs: dict[str, str]) -> None:
        name = tag[tag.rfind(":") + 1 :]
        if name not in self.root_names:
            raise self.ctx.error(
                f"the root element is <{tag}>; expected a {self.format_label} document ({self._roots()})"
            )
        self.parser.StartElementHandler = self._on_start
        self.on_root(attrs)
        self._on_start(tag, attrs)

    def on_root(self, attrs: dict[str, str]) -> None:
        """Hook: the document element's attributes."""

    def _on_start(self, tag: str, attrs: dict[str, str]) -> None:
        kind, name = self._acts.get(tag) or self._action(tag)
        if kind:
            if kind & TEXT:
                self._txt = ""
                self._txt_name = name
                self.parser.CharacterDataHandler = self._on_text
            if kind & STRUCT:
                self.start(name, attrs)

    def _on_end(self, tag: str) -> None:
        kind, name = self._acts.get(tag) or self._action(tag)
        if kind:
            text = None
            if kind & TEXT and name == self._txt_name:
                self.parser.CharacterDataHandler = None
                text = self._txt
                self._txt = None
                self._txt_name = ""
            self.end(name, text)

    def _on_text(self, data: str) -> None:
        txt = self._txt
        if txt is None:
            return
        if len(txt) + len(data) > self.max_text:
            self._txt = None
            self.text_too_long(self._txt_name, self.line())
            return
        self._txt = txt + data


def _refuse_entity(
    name: str,
    is_parameter: int,
    value: str | None,
    base: str | None,
    system_id: str | None,
    public_id: str | None,
    notation: str | None,
) -> None:
    kind = "an external entity" if system_id or public_id else "an entity"
    where = f" pointing at {system_id!r}" if system_id else ""
    raise _Refused(
        f"the document declares {kind} ({name!r}{where}); entity declarations are refused because they can "
        "expand without bound (billion laughs) or read local files and URLs (XXE)"
    )


def _refuse_unparsed(
    name: str, base: str | None, system_id: str, public_id: str | None, notation: str | None
) -> None:
    raise _Refused(f"the document declares an unparsed external entity ({name!r}); entities are refused")


def _refuse_external_ref(context: str, base: str | None, system_id: str | None, public_id: str | None) -> int:
    raise _Refused(
        f"the document references an external entity ({system_id!r}); external entities are refused"
    )


def _make_parser() -> XMLParserType:
    p = ParserCreate()
    p.buffer_text = True
    p.buffer_size = 1 << 16
    p.ordered_attributes = False
    p.specified_attributes = True
    p.SetParamEntityParsing(0)  # XML_PARAM_ENTITY_PARSING_NEVER: never load an external DTD
    p.EntityDeclHandler = _refuse_entity
    p.UnparsedEntityDeclHandler = _refuse_unparsed
    p.ExternalEntityRefHandler = _refuse_external_ref
    return p


# ---------------------------------------------------------------------- values
def parse_time(text: str, tz: tzinfo) -> tuple[int, int | None]:
    """An XML Schema ``dateTime`` (ISO 8601 with a time of day) as ``(t_us, tz_offset_s)``.

    Times without an offset are read in ``tz``; a bare date (``2024-06-15``) is refused because it
    does not say when during the day the position was observed. Raises ValueError.

    >>> parse_time("2024-11-03T16:30:11.331+07:00", UTC)
    (1730626211331000, 25200)
    """
    s = text.strip()
    if len(s) < 13 or len(s) > 64:
        raise ValueError(f"not a date and time: {text[:40]!r}")
    return parse_iso(s, tz)


def number(text: str | None) -> float | None:
    """A decimal number from element or attribute text; None when absent or not a number."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def attr(attrs: dict[str, str], name: str) -> str | None:
    """An attribute by local name (``lat`` also matches ``gpx:lat``)."""
    v = attrs.get(name)
    if v is not None:
        return v
    for k, val in attrs.items():
        if k[k.rfind(":") + 1 :] == name:
            return val
    return None


# ---------------------------------------------------------------------- sniffing
_SKIP = re.compile(r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)", re.S)
_TAG = re.compile(r"\s*<([A-Za-z_][\w.\-]*(?::[\w.\-]+)?)[\s/>]")


def head_text(head: bytes) -> str:
    """The first bytes of a stream as text: UTF-8 unless a byte-order mark says UTF-16 or UTF-32."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        enc = "utf-32"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        enc = "utf-16"
    elif head[:4] == b"<\x00?\x00":
        enc = "utf-16-le"
    elif head[:4] == b"\x00<\x00?":
        enc = "utf-16-be"
    else:
        enc = "utf-8"
    return head.decode(enc, errors="replace").lstrip("\ufeff")


def root_element(head: bytes) -> str | None:
    """The local name of the document element, found in the first bytes of a stream; None when the
    bytes do not start like XML (after an optional declaration, comments and a DOCTYPE).

    >>> root_element(b'<?xml version="1.0"?>\\n<!-- a track -->\\n<gpx version="1.1">')
    'gpx'
    >>> root_element(b"lat,lon,time") is None
    True
    """
    try:
        text = head_text(head[:65536])
    except (UnicodeError, LookupError):
        return None
    pos = 0
    for _ in range(64):
        m = _SKIP.match(text, pos)
        if not m:
            break
        pos = m.end()
    m = _TAG.match(text, pos)
    if not m:
        return None
    tag = m.group(1)
    return tag[tag.rfind(":") + 1 :]


__all__ = [
    "CHUNK_BYTES",
    "FIX_BATCH",
    "OTHER",
    "STRUCT",
    "TEXT",
    "FixColumns",
    "XmlReader",
    "attr",
    "head_text",
    "number",
    "parse_time",
    "root_element",
]
