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
_OTHER = -1
_POINT = -2  # codes _POINT - i stand for _POINT_NAMES[i]
_POINT_NAMES = ("trkpt", "rtept", "wpt")


class _GpxReader(XmlReader):
    """GPX, specialised for speed: GPX files run to millions of points, and a Python call per XML
    event is the cost that matters. Only element *starts* call Python; expat appends text pieces and
    end-tag names to two lists through their C-level ``append``. Every start inside a point records
    a mark (which element, how many text pieces so far), so the text of a wanted element is the
    pieces from its mark to the next mark, stripped: GPX elements hold either text or elements, never
    both, so what follows an element's end up to the next start is layout whitespace. A point is
    settled (emitted or rejected) at the first start after its end tag, after each chunk once its end
    tag has been seen, and at the end of the document; a point whose end tag never came is damage."""

    root_names: ClassVar[frozenset[str]] = frozenset({"gpx"})
    format_label: ClassVar[str] = "GPX"

    def __init__(self, ctx: ReadContext) -> None:
        super().__init__(ctx)
        self.parts: list[str] = []
        self.ends: list[str] = []
        self.parser.CharacterDataHandler = self.parts.append
        self.parser.EndElementHandler = self.ends.append
        self.marks: list[tuple[int, int]] | None = None  # None: not inside a point
        self.kind = ""
        self.pt_tag = ""
        self.pt_line = 0
        self.pt_lat: str | None = None
        self.pt_lon: str | None = None
        self.too_long: str | None = None
        self._codes: dict[str, int] = {}
        #: in files hereabouts wrote, each <trk> is one device stream named by its <name>
        self.own_export = False
        self.name_from: int | None = None
        self.name_buf = ""  # track-name text carried over a chunk boundary

    def _code(self, tag: str) -> int:
        name = tag[tag.rfind(":") + 1 :]
        code = _POINT - _POINT_NAMES.index(name) if name in _POINTS else _SLOT.get(name, _OTHER)
        if len(self._codes) < 4096:
            self._codes[tag] = code
        return code

    def _on_start(self, tag: str, attrs: dict[str, str]) -> None:
        c = self._codes.get(tag)
        if c is None:
            c = self._code(tag)
        marks = self.marks
        if marks is not None:
            if self.pt_tag in self.ends:  # the open point has ended: settle it first
                self._settle()
            elif c > _POINT:
                marks.append((c, len(self.parts)))
                return
        if c > _POINT:
            if self.own_export and marks is None:
                self._own_track_header(tag)
            return
        name = _POINT_NAMES[_POINT - c]
        if self.marks is not None:
            self.marks = None
            self.sink.reject(
                self.pt_line,
                self.kind,
                f"<{self.kind}> contains another <{name}> before it closes; expected one point per element",
            )
        self.parts.clear()
        self.ends.clear()
        self.marks = []
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

    def on_root(self, attrs: dict[str, str]) -> None:
        creator = attrs.get("creator") or ""
        # exactly what the GPX writer puts there (optionally with a version): "hereabouts[/x.y]"
        self.own_export = creator == "hereabouts" or creator.startswith("hereabouts/")

    def _own_track_header(self, tag: str) -> None:
        local = tag[tag.rfind(":") + 1 :]
        if local == "trk":
            self.parts.clear()
            self.name_from = None
            self.fixes.set_device(None)
        elif local == "name":
            self.name_from = len(self.parts)
            self.name_buf = ""
        elif local == "trkseg" and self.name_from is not None:
            name = (self.name_buf + "".join(self.parts[self.name_from :])).strip()
            self.name_from = None
            self.name_buf = ""
            if name and len(name) <= 256:
                self.fixes.set_device(name)

    def after_chunk(self) -> None:
        marks = self.marks
        if marks is not None and self.pt_tag in self.ends:
            self._settle()
            marks = None
        if marks is None:
            if self.name_from is not None and len(self.name_buf) <= 256:
                self.name_buf += "".join(self.parts[self.name_from :])
                self.name_from = 0
            self.parts.clear()
            self.ends.clear()
            return
        if len(self.ends) > 4096:  # only whether the point itself has ended matters
            self.ends.clear()
        parts = self.parts
        if len(parts) > 16 and sum(map(len, parts)) > self.max_text:
            self._compact(marks)

    def _compact(self, marks: list[tuple[int, int]]) -> None:
        """Drop text no wanted element owns and cap what they own, so a point with gigantic text
        (a long description, a runaway value) is held in bounded memory."""
        parts = self.parts
        kept: list[str] = []
        new: list[tuple[int, int]] = []
        for k, (c, m) in enumerate(marks):
            e = marks[k + 1][1] if k + 1 < len(marks) else len(parts)
            if c >= 0 and sum(map(len, parts[m:e])) <= self.max_text:
                new.append((c, len(kept)))
                kept.extend(parts[m:e])
                continue
            if c >= 0 and self.too_long is None:
                self.too_long = _SLOTS[c]
            if not new or new[-1][0] >= 0:  # close the previous wanted range; merge runs of others
                new.append((_OTHER, len(kept)))
            elif k + 1 == len(marks):
                new[-1] = (_OTHER, len(kept))
        self.parts[:] = kept
        self.marks = new

    def finish(self, complete: bool) -> None:
        if self.marks is not None:
            if complete or self.pt_tag in self.ends:
                self._settle()
            self.marks = None  # a point cut off by damage is covered by the damage reject

    def _settle(self) -> None:
        marks = self.marks
        self.marks = None
        parts = self.parts
        # fast path: the lean common point, <time> and perhaps <ele> (in either order), nothing else;
        # anything unusual or wrong goes to _emit, which checks each field and says what was wrong
        if self.too_long is None and marks and len(marks) <= 2:
            ca, ma = marks[0]
            if len(marks) == 2:
                cb, mb = marks[1]
                a = parts[ma] if mb == ma + 1 else "".join(parts[ma:mb])
                b = "".join(parts[mb:])
            else:
                cb, a, b = 1, "".join(parts[ma:]), ""
            if ca + cb == 1 and ca >= 0 and cb >= 0 and len(a) + len(b) < 200:
                time, ele = (a, b) if ca == 0 else (b, a)
                try:
                    lat = float(self.pt_lat)  # type: ignore[arg-type]
                    lon = float(self.pt_lon)  # type: ignore[arg-type]
                    time = time.strip()
                    dt = _fromiso(time)
                    tzi = dt.tzinfo
                    if tzi is UTC:
                        # 'Z' says the time is written in UTC, not what the local offset was
                        off: int | None = None if time[-1:] in ("Z", "z") else 0
                    elif tzi is None:
                        raise ValueError("no offset")
                    else:
                        off = dt.utcoffset() // _SECOND  # type: ignore[operator]
                    t_us = (dt - _EPOCH) // _US
                    alt = float(ele) if ele else None
                except (TypeError, ValueError):
                    pass
                else:
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
        cur: list[str | None] = [None] * _NSLOT
        if marks:
            total = len(parts)
            n = len(marks)
            cap = self.max_text
            for k in range(n):
                c, m = marks[k]
                if c < 0 or cur[c] is not None:
                    continue
                e = marks[k + 1][1] if k + 1 < n else total
                txt = "".join(parts[m:e])
                if len(txt) > cap:
                    if self.too_long is None:
                        self.too_long = _SLOTS[c]
                    continue
                cur[c] = txt.strip()
        self._emit(cur)

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
