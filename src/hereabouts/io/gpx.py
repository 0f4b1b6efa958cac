"""GPX 1.0 and 1.1: track points, route points and waypoints.

Every ``<trkpt>``, ``<rtept>`` and ``<wpt>`` is one record, positioned by the line of its start tag.
A point becomes a fix when it has ``lat``/``lon`` attributes and a ``<time>``; a point without a time
(usual for route points and planned waypoints) is rejected with that reason, since a position without
a time is not an observation. Namespace prefixes are ignored, so GPX 1.0, 1.1 and extension elements
are read alike.

What is kept from each point:

* ``<ele>`` → ``altitude_m``; ``<time>`` → ``t`` (and ``tz_offset_s`` when the time carries an offset;
  times without one are read in the import's time zone).
* speed → ``speed_mps``: GPX 1.0 ``<speed>``, Garmin ``gpxtpx:speed`` and any other ``speed`` element in
  the point's extensions (all in metres per second).
* course → ``course_deg``: GPX 1.0 ``<course>``, ``gpxtpx:course``; ``bearing`` or ``heading``
  extension elements when no course is given.
* accuracy → ``accuracy_m``: an ``accuracy`` extension element (metres, as hereabouts and several
  loggers write it) when present; otherwise ``<hdop>`` × 5 m. HDOP is a unitless dilution of precision,
  and multiplying it by a typical user-equivalent range error of about 5 m is the common rough
  conversion; it is an approximation, not a measured accuracy.
* provider: a ``provider`` extension element when it names one of ours; else ``<src>`` (``gps``/``gnss``
  → ``gps``; ``network``, Android's Wi-Fi/cell locator, → ``wifi``; ``wifi``, ``cell``, ``fused``);
  else ``<fix>`` 2d/3d/dgps/pps → ``gps``. ``<fix>none</fix>`` (the receiver had no position) rejects
  the point.

Track and route names are not device names: the device comes from the import options.
Bad optional values (an ``<ele>`` that is not a number...) are dropped and the fix kept; a missing or
non-numeric ``lat``/``lon`` or an unreadable ``<time>`` rejects the point, naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import IO, ClassVar

from ._base import Format, ReadContext, register
from ._xml import FIX_BATCH, XmlReader, attr, number, parse_time, root_element

_POINTS = frozenset({"trkpt", "rtept", "wpt"})
#: Text elements kept from a point, in slot order (time and ele first: the lean common case).
_SLOTS = (
    "time",
    "ele",
    "speed",
    "course",
    "bearing",
    "heading",
    "hdop",
    "src",
    "fix",
    "accuracy",
    "provider",
    "tz_offset_s",
)
_SLOT = {name: i for i, name in enumerate(_SLOTS)}
_NSLOT = len(_SLOTS)
_PROVIDERS = {
    "gps": "gps",
    "gnss": "gps",
    "network": "wifi",
    "wifi": "wifi",
    "cell": "cell",
    "fused": "fused",
    "reported": "reported",
    "unknown": "unknown",
}
_GPS_FIXES = frozenset({"2d", "3d", "dgps", "pps"})
#: Metres per unit of HDOP (a typical user-equivalent range error): accuracy_m = hdop * HDOP_METRES.
HDOP_METRES = 5.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
_fromiso = datetime.fromisoformat
_OTHER_CODE = _NSLOT
_POINT_CODE = _NSLOT + 1
_NOT_CAPTURING = -1
_OVERFLOW = -2


class _GpxReader(XmlReader):
    """GPX-specialised: expat's text callback is a C-level ``list.append`` and the two element
    callbacks are written out here, because GPX files run to millions of points and each Python call
    per element counts. Text of a wanted element is the pieces appended between its start and end."""

    root_names: ClassVar[frozenset[str]] = frozenset({"gpx"})
    format_label: ClassVar[str] = "GPX"
    text_elements: ClassVar[frozenset[str]] = frozenset(_SLOTS)
    struct_elements: ClassVar[frozenset[str]] = _POINTS

    def __init__(self, ctx: ReadContext) -> None:
        super().__init__(ctx)
        self.parts: list[str] = []
        self.parser.CharacterDataHandler = self.parts.append
        self.mark = _NOT_CAPTURING
        self.slot = 0
        self.cur: list[str | None] | None = None
        self.kind = ""
        self.pt_tag = ""
        self._codes: dict[str, int] = {}
        self.pt_line = 0
        self.pt_lat: str | None = None
        self.pt_lon: str | None = None
        self.too_long: str | None = None

    def _code(self, tag: str) -> int:
        name = tag[tag.rfind(":") + 1 :]
        code = _SLOT.get(name, _OTHER_CODE)
        if name in _POINTS:
            code = _POINT_CODE
        if len(self._codes) < 4096:
            self._codes[tag] = code
        return code

    def _on_start(self, tag: str, attrs: dict[str, str]) -> None:
        c = self._codes.get(tag)
        if c is None:
            c = self._code(tag)
        if c < _NSLOT:
            self.mark = len(self.parts)
            self.slot = c
        elif c == _POINT_CODE:
            name = tag[tag.rfind(":") + 1 :]
            if self.cur is not None:
                self.sink.reject(
                    self.pt_line,
                    self.kind,
                    f"<{self.kind}> contains another <{name}> before it closes; "
                    "expected one point per element",
                )
            self.parts.clear()
            self.mark = _NOT_CAPTURING
            self.cur = [None] * _NSLOT
            self.kind = name
            self.pt_tag = tag
            self.pt_line = self.parser.CurrentLineNumber
            lat = attrs.get("lat")
            lon = attrs.get("lon")
            if lat is None or lon is None:
                lat = attr(attrs, "lat")
                lon = attr(attrs, "lon")
            self.pt_lat = lat
            self.pt_lon = lon
            self.too_long = None

    def _on_end(self, tag: str) -> None:
        c = self._codes.get(tag)
        if c is None:
            c = self._code(tag)
        if c < _NSLOT:
            mark = self.mark
            if mark == _NOT_CAPTURING or c != self.slot:
                return  # not inside this element's capture (or wanted elements nested in each other)
            self.mark = _NOT_CAPTURING
            cur = self.cur
            if cur is None:
                return
            if mark == _OVERFLOW:
                if self.too_long is None:
                    self.too_long = _SLOTS[c]
            elif cur[c] is None:
                parts = self.parts
                txt = parts[mark] if len(parts) == mark + 1 else "".join(parts[mark:])
                if len(txt) > self.max_text:
                    if self.too_long is None:
                        self.too_long = _SLOTS[c]
                else:
                    cur[c] = txt
            return
        if c != _POINT_CODE or tag != self.pt_tag:
            return
        cur = self.cur
        if cur is None:
            return
        self.cur = None
        # fast path for the lean common point (lat, lon, time, maybe ele); anything unusual or wrong
        # goes to _emit, which checks each field and says what was wrong
        time = cur[0]
        ele = cur[1]
        if (
            self.too_long is None
            and time is not None
            and cur.count(None) == _NSLOT - (1 if ele is None else 2)
        ):
            try:
                lat = float(self.pt_lat)  # type: ignore[arg-type]
                lon = float(self.pt_lon)  # type: ignore[arg-type]
                dt = _fromiso(time)
                tzi = dt.tzinfo
                if tzi is UTC:
                    off: int | None = 0
                elif tzi is None:
                    raise ValueError("no offset")
                else:
                    off = dt.utcoffset() // _SECOND  # type: ignore[operator]
                t_us = (dt - _EPOCH) // _US
                alt = None if ele is None else float(ele)
            except (TypeError, ValueError):
                self._emit(cur)
                return
            fx = self.fixes
            fx.pos.append(self.pt_line)
            fx.t.append(t_us)
            fx.lat.append(lat)
            fx.lon.append(lon)
            fx.tz.append(off)
            fx.alt.append(alt)
            if len(fx.t) >= FIX_BATCH:
                fx.flush()
            return
        self._emit(cur)

    def after_chunk(self) -> None:
        parts = self.parts
        if self.mark < 0:
            parts.clear()
        elif sum(map(len, parts[self.mark :])) > self.max_text:
            parts.clear()
            self.mark = _OVERFLOW

    def finish(self, complete: bool) -> None:
        self.cur = None  # a point cut off by damage is covered by the damage reject

    def _emit(self, cur: list[str | None]) -> None:
        line = self.pt_line
        kind = self.kind
        sink = self.sink
        if self.too_long is not None:
            sink.reject(
                line,
                self.too_long,
                f"<{kind}> <{self.too_long}> text is longer than {self.max_text} characters; "
                "expected a short value",
            )
            return
        v = {_SLOTS[i]: text for i, text in enumerate(cur) if text is not None}
        lat = number(self.pt_lat)
        if lat is None:
            sink.reject(
                line,
                "lat",
                f"<{kind}> lat attribute is missing or not a number; expected decimal degrees",
                self.pt_lat,
            )
            return
        lon = number(self.pt_lon)
        if lon is None:
            sink.reject(
                line,
                "lon",
                f"<{kind}> lon attribute is missing or not a number; expected decimal degrees",
                self.pt_lon,
            )
            return
        fix = v.get("fix")
        if fix is not None and fix.strip().lower() == "none":
            sink.reject(
                line, "fix", f"<{kind}> says <fix>none</fix> (no position); expected 2d, 3d, dgps or pps", fix
            )
            return
        time = v.get("time")
        if time is None:
            sink.reject(
                line,
                "time",
                f"<{kind}> has no <time>; a position without a time is not a fix "
                "(expected an ISO 8601 time such as 2024-06-15T10:30:00Z)",
            )
            return
        try:
            t_us, off = parse_time(time, self.tz)
        except ValueError:
            sink.reject(
                line,
                "time",
                f"<{kind}> <time> is not a date and time; expected ISO 8601 such as 2024-06-15T10:30:00Z",
                time,
            )
            return
        tz_ext = number(v.get("tz_offset_s"))
        if tz_ext is not None and abs(tz_ext) <= 18 * 3600:
            off = int(tz_ext)
        course = number(v.get("course"))
        if course is None:
            course = number(v.get("bearing"))
            if course is None:
                course = number(v.get("heading"))
        accuracy = number(v.get("accuracy"))
        if accuracy is None:
            hdop = number(v.get("hdop"))
            if hdop is not None and hdop > 0:
                accuracy = hdop * HDOP_METRES
        self.fixes.add(
            line,
            t_us,
            lat,
            lon,
            off,
            number(v.get("ele")),
            accuracy,
            number(v.get("speed")),
            course,
            _provider(v),
        )


def _provider(v: dict[str, str]) -> str | None:
    for key in ("provider", "src"):
        text = v.get(key)
        if text is not None:
            p = _PROVIDERS.get(text.strip().lower())
            if p is not None:
                return p
    fix = v.get("fix")
    if fix is not None and fix.strip().lower() in _GPS_FIXES:
        return "gps"
    return None


def _sniff(head: bytes, name: str) -> float:
    root = root_element(head)
    if root == "gpx":
        return 1.0 if name.endswith(".gpx") else 0.95
    return 0.0


def _read(stream: IO[bytes], ctx: ReadContext) -> None:
    _GpxReader(ctx).run(stream)


FORMAT = register(
    Format(
        name="gpx",
        description="GPX 1.0/1.1 track points, route points and waypoints",
        sniff=_sniff,
        read=_read,
        unit="line",
        extensions=(".gpx",),
    )
)
