"""Safe, streaming XML for the GPX, KML and TCX readers.

:class:`XmlReader` drives the C expat parser (``pyexpat``) over a byte stream in fixed-size chunks and
calls a subclass's :meth:`~XmlReader.start` and :meth:`~XmlReader.end` with *local* element names
(namespace prefixes are dropped: ``gpxtpx:speed`` arrives as ``speed``), so memory stays bounded
whatever the file size: no tree is built, and text is collected only for the elements a reader asks
for (:attr:`XmlReader.text_elements`), each capped at ``max_record_bytes`` characters.

Safety. Any entity declaration (internal or external, general or parameter) refuses the whole file
with :class:`~hereabouts.model.errors.UnsafeInputError` as soon as it is declared, before it can be
expanded: that stops "billion laughs" expansion and external-entity (XXE) file or network access.
External DTDs and parameter entities are never loaded. A single token (a start tag with a gigantic
attribute, say) that grows past the record cap is reported as one reject and reading stops there, so
expat never buffers it whole.

Damage. A file that breaks off or stops being well-formed keeps every record completed before the
break and gets one reject at the line where expat found the damage. A stream that is not XML at all,
or whose root element is not the reader's, is a whole-file :class:`~hereabouts.model.errors.FormatError`.
"""

from __future__ import annotations

import codecs
import re
from datetime import UTC, datetime, tzinfo
from typing import IO, ClassVar

from pyexpat import ExpatError, ParserCreate, XMLParserType
from pyexpat import errors as expat_errors

from ..model.errors import UnsafeInputError
from ._base import ReadContext
from ._time import parse_iso, to_us

#: Bytes handed to expat at a time.
CHUNK_BYTES = 1 << 18

_UNSAFE_PREFIX = "refused as unsafe XML"


class _Refused(Exception):
    """Raised inside an expat handler to abort parsing of an unsafe document."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class XmlReader:
    """Base of the streaming XML readers; subclasses set the class attributes and override the hooks.

    ``root_names``: local names accepted for the document element (anything else is a FormatError).
    ``format_label``: how messages name the format (``GPX``). ``text_elements``: local names whose text
    content the reader wants in :meth:`end`.
    """

    root_names: ClassVar[frozenset[str]] = frozenset()
    format_label: ClassVar[str] = "XML"
    text_elements: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.sink = ctx.sink
        self.tz = ctx.options.tzinfo
        self.max_text = max(1, int(ctx.options.max_record_bytes))
        self.parser: XMLParserType = _make_parser()
        self._names: dict[str, str] = {}
        self._root_seen = False
        self._text: list[str] | None = None
        self._text_len = 0
        self._text_over = False
        self._text_name = ""
        p = self.parser
        p.StartElementHandler = self._on_start
        p.EndElementHandler = self._on_end
        p.CharacterDataHandler = self._on_text

    # ------------------------------------------------------------------ hooks for subclasses
    def start(self, name: str, attrs: dict[str, str]) -> None:
        """An element opens; ``name`` is its local name."""

    def end(self, name: str, text: str | None) -> None:
        """An element closes; ``text`` is its text if ``name`` is in :attr:`text_elements`, else None."""

    def text_too_long(self, name: str, line: int) -> None:
        """The text of a wanted element ``name`` passed the cap; :meth:`end` will get ``None`` for it."""

    def finish(self, complete: bool) -> None:
        """The stream ended (``complete`` is False when it broke off): flush pending records."""

    def line(self) -> int:
        """The 1-based line of the event being handled."""
        return int(self.parser.CurrentLineNumber)

    # ------------------------------------------------------------------ driving
    def run(self, stream: IO[bytes]) -> None:
        """Parse ``stream`` to its end (or to the damage), calling the hooks."""
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
                if fed - int(p.CurrentByteIndex) > guard:
                    # expat is holding one unfinished token (a tag, a comment...) bigger than the cap
                    self._need_root(f"a single XML token longer than {self.max_text} bytes")
                    line = int(p.CurrentLineNumber)
                    self.finish(False)
                    self.sink.reject(
                        line,
                        None,
                        f"an XML tag, comment or other token here is longer than {self.max_text} bytes; "
                        "reading stopped here (the records before it were kept)",
                    )
                    return
        except _Refused as exc:
            raise UnsafeInputError(
                f"{self.ctx.member}: {_UNSAFE_PREFIX}: {exc.reason}",
                hint="location files never need entity declarations; export the file again without them",
            ) from None
        except ExpatError as exc:
            line = getattr(exc, "lineno", None) or int(p.ErrorLineNumber)
            message = expat_errors.messages.get(exc.code, str(exc)) if exc.code else str(exc)
            self._need_root(f"not well-formed XML at line {line} ({message})")
            self.finish(False)
            self.sink.reject(
                line,
                None,
                f"the XML breaks off or is not well-formed here ({message}); expected a complete "
                f"{self.format_label} document (the records before this point were kept)",
            )
            return
        self._need_root("no XML element found")
        self.finish(True)

    def _need_root(self, problem: str) -> None:
        if not self._root_seen:
            roots = " or ".join(f"<{n}>" for n in sorted(self.root_names))
            raise self.ctx.error(f"{problem}; expected a {self.format_label} document whose root element is {roots}")

    # ------------------------------------------------------------------ expat callbacks
    def _local(self, tag: str) -> str:
        i = tag.rfind(":")
        local = tag[i + 1 :] if i >= 0 else tag
        if len(self._names) < 4096:
            self._names[tag] = local
        return local

    def _on_start(self, tag: str, attrs: dict[str, str]) -> None:
        name = self._names.get(tag) or self._local(tag)
        if not self._root_seen:
            if name not in self.root_names:
                roots = " or ".join(f"<{n}>" for n in sorted(self.root_names))
                raise self.ctx.error(
                    f"the root element is <{tag}>; expected a {self.format_label} document whose root element "
                    f"is {roots}"
                )
            self._root_seen = True
        if name in self.text_elements:
            self._text = []
            self._text_len = 0
            self._text_over = False
            self._text_name = name
        self.start(name, attrs)

    def _on_end(self, tag: str) -> None:
        name = self._names.get(tag) or self._local(tag)
        text: str | None = None
        if self._text is not None and name in self.text_elements:
            if not self._text_over:
                text = "".join(self._text)
            self._text = None
        self.end(name, text)

    def _on_text(self, data: str) -> None:
        buf = self._text
        if buf is None or self._text_over:
            return
        self._text_len += len(data)
        if self._text_len > self.max_text:
            self._text_over = True
            buf.clear()
            self.text_too_long(self._text_name, self.line())
            return
        buf.append(data)


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
    raise _Refused(f"the document references an external entity ({system_id!r}); external entities are refused")


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


# ---------------------------------------------------------------------- sniffing
_SKIP = re.compile(r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)", re.S)
_TAG = re.compile(r"\s*<([A-Za-z_][\w.\-]*(?::[\w.\-]+)?)[\s/>]")


def head_text(head: bytes) -> str:
    """The first bytes of a stream as text: UTF-8 unless a byte-order mark says UTF-16 or UTF-32."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        enc = "utf-32"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        enc = "utf-16"
    elif head[:4] in (b"<\x00?\x00", b"<\x00\x00\x00"):
        enc = "utf-16-le"
    elif head[:4] in (b"\x00<\x00?",):
        enc = "utf-16-be"
    else:
        enc = "utf-8"
    text = head.decode(enc, errors="replace")
    return text.lstrip("\ufeff")


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
    except Exception:
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
    return tag.rsplit(":", 1)[-1]


def is_unsafe_error(exc: BaseException) -> bool:
    """True for the UnsafeInputError this module raises (used by tests and callers)."""
    return isinstance(exc, UnsafeInputError) and _UNSAFE_PREFIX in str(exc)


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
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return parse_iso(s, tz)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
        off = dt.utcoffset()
        return to_us(dt), None if tz is UTC or off is None else int(off.total_seconds())
    off = dt.utcoffset()
    return to_us(dt), None if off is None else int(off.total_seconds())


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
        if k.rsplit(":", 1)[-1] == name:
            return val
    return None


__all__ = [
    "CHUNK_BYTES",
    "XmlReader",
    "attr",
    "head_text",
    "is_unsafe_error",
    "number",
    "parse_time",
    "root_element",
]
