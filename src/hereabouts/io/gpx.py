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
from ._xml import FIX_BATCH, TEXT, XmlReader, attr, number, parse_time, root_element

_POINTS = frozenset({"trkpt", "rtept", "wpt"})
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
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_fromiso = datetime.fromisoformat
_GPS_FIXES = frozenset({"2d", "3d", "dgps", "pps"})
#: Metres per unit of HDOP (a typical user-equivalent range error): accuracy_m = hdop * HDOP_METRES.
HDOP_METRES = 5.0


class _GpxReader(XmlReader):
    root_names: ClassVar[frozenset[str]] = frozenset({"gpx"})
    format_label: ClassVar[str] = "GPX"
    text_elements: ClassVar[frozenset[str]] = frozenset(
        {
            "ele",
            "time",
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
        }
    )
    struct_elements: ClassVar[frozenset[str]] = _POINTS

    def __init__(self, ctx: ReadContext) -> None:
        super().__init__(ctx)
        self.vals: dict[str, str] | None = None
        self.kind = ""
        self.pt_line = 0
        self.pt_lat: str | None = None
        self.pt_lon: str | None = None
        self.too_long: str | None = None

    # The two expat callbacks are specialised here (rather than going through start/end) because GPX
    # files run to millions of points: one Python call per element is the budget.
    def _on_start(self, tag: str, attrs: dict[str, str]) -> None:
        kind, name = self._acts.get(tag) or self._action(tag)
        if kind == TEXT:
            if self.vals is not None:
                self._txt = ""
                self._txt_name = name
                self.parser.CharacterDataHandler = self._on_text
        elif kind:
            self._start_point(name, attrs)

    def _on_end(self, tag: str) -> None:
        kind, name = self._acts.get(tag) or self._action(tag)
        if kind == TEXT:
            if name == self._txt_name:
                self.parser.CharacterDataHandler = None
                vals = self.vals
                if vals is not None and name not in vals:
                    txt = self._txt
                    if txt is not None:
                        vals[name] = txt
                self._txt = None
                self._txt_name = ""
        elif kind and name == self.kind:
            vals = self.vals
            if vals is not None:
                self.vals = None
                self._emit(vals)

    def _start_point(self, name: str, attrs: dict[str, str]) -> None:
        if self.vals is not None:
            self.sink.reject(
                self.pt_line,
                self.kind,
                f"<{self.kind}> contains another <{name}> before it closes; expected one point per element",
            )
        self.vals = {}
        self.kind = name
        self.pt_line = self.parser.CurrentLineNumber
        lat = attrs.get("lat")
        lon = attrs.get("lon")
        if lat is None or lon is None:
            lat = attr(attrs, "lat")
            lon = attr(attrs, "lon")
        self.pt_lat = lat
        self.pt_lon = lon
        self.too_long = None

    def text_too_long(self, name: str, line: int) -> None:
        if self.vals is not None and self.too_long is None:
            self.too_long = name

    def finish(self, complete: bool) -> None:
        self.vals = None  # a point cut off by damage is covered by the damage reject

    def _emit(self, v: dict[str, str]) -> None:
        line = self.pt_line
        kind = self.kind
        sink = self.sink
        if self.too_long is not None:
            sink.reject(
                line,
                self.too_long,
                f"<{self.too_long}> text is longer than {self.max_text} characters; expected a short value",
            )
            return
        try:
            lat = float(self.pt_lat)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            sink.reject(
                line,
                "lat",
                f"<{kind}> lat attribute is missing or not a number; expected decimal degrees",
                self.pt_lat,
            )
            return
        try:
            lon = float(self.pt_lon)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            sink.reject(
                line,
                "lon",
                f"<{kind}> lon attribute is missing or not a number; expected decimal degrees",
                self.pt_lon,
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
            dt = _fromiso(time)
            if dt.tzinfo is None:
                raise ValueError("naive")
            t_us = (dt - _EPOCH) // _US
            off: int | None = dt.utcoffset().seconds  # type: ignore[union-attr]
            if off and dt.utcoffset().days:  # type: ignore[union-attr]
                off -= 86_400
        except ValueError:
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
        ele = v.get("ele")
        if len(v) == (1 if ele is None else 2):  # only <time> and <ele>: the common lean track point
            fx = self.fixes
            fx.pos.append(line)
            fx.t.append(t_us)
            fx.lat.append(lat)
            fx.lon.append(lon)
            fx.tz.append(off)
            fx.alt.append(None if ele is None else number(ele))
            if len(fx.t) >= FIX_BATCH:
                fx.flush()
            return
        self._emit_full(v, line, kind, t_us, lat, lon, off)

    def _emit_full(
        self, v: dict[str, str], line: int, kind: str, t_us: int, lat: float, lon: float, off: int | None
    ) -> None:
        fix = v.get("fix")
        if fix is not None and fix.strip().lower() == "none":
            self.sink.reject(
                line, "fix", f"<{kind}> says <fix>none</fix> (no position); expected 2d, 3d, dgps or pps", fix
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
