"""Keeping stays and places current as fixes arrive: a debounced background analysis per entity.

The single writer calls :meth:`LiveAnalysis.committed` after each commit (its ``on_commit`` hook) with
the tables it stored. That call only notes which entities got new fixes and when; it reads nothing
and never waits. A background thread then brings each noted entity's stored stays up to date with
the store's incremental analysis (:meth:`hereabouts.Database.analyze`, which re-analyses only the
window the new fixes can change), once the entity has been quiet for ``delay_s`` seconds, or at the
latest ``max_wait_s`` seconds after its first unanalysed fix while fixes keep coming. Acknowledgements
never wait for it: the requests were answered when their commit was done, before the hook ran. It
reads and detects outside the store's write lock (``analyze(..., concurrent=True)``), so a commit
waits at most for the short transaction that writes the new stays (about 10-15 ms in the embedded
store, whatever the entity's history), and the thread spends at most a quarter of its time analysing
(``max_busy``), so a flood of fixes is not slowed by it.

The REST API reads the stored stays (``stays(..., stored=True)``, which also analyses whatever the
background thread has not reached yet), so ``stays``, ``places`` and ``anchors`` always reflect every
stored fix; the background work means they are usually ready when asked for.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pyarrow.compute as pc

from .._db import Database

log = logging.getLogger("hereabouts.server.analysis")


class LiveAnalysis:
    """The background analysis of a running server (see the module documentation)."""

    def __init__(
        self, db: Database, *, delay_s: float = 2.0, max_wait_s: float = 30.0, max_busy: float = 0.25
    ) -> None:
        self.db = db
        self.delay_s = delay_s
        self.max_wait_s = max_wait_s
        #: the largest share of time the thread spends analysing: after an analysis that took d
        #: seconds it rests d * (1 / max_busy - 1), so a flood of fixes leaves the store (and the
        #: cores) to ingest; what waits meanwhile is analysed by the API's reads if asked for
        self.max_busy = max_busy
        #: device -> (monotonic time of its first unanalysed commit, of its latest)
        self._pending: dict[str, tuple[float, float]] = {}
        self._busy = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        #: entities analysed and runs made, for tests and monitoring
        self.runs = 0
        self.failures = 0
        self.analysed: dict[str, float] = {}

    # ------------------------------------------------------------ the writer's hook
    def committed(self, tables: list[tuple[str, Any]]) -> None:
        """Note the entities whose fixes were just committed (called in the writer thread)."""
        devices: set[str] = set()
        for tier, table in tables:
            if tier != "fix" or table.num_rows == 0:
                continue
            if hasattr(table, "to_table"):
                table = table.to_table()
            devices.update(str(d) for d in pc.unique(table.column("device")).to_pylist() if d is not None)
        if not devices or self._closed:
            return
        now = time.monotonic()
        with self._cond:
            for d in devices:
                first = self._pending.get(d, (now, now))[0]
                self._pending[d] = (first, now)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hereabouts-analysis", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _entity(self, device: str) -> str:
        """The entity ``device`` reports for now (read at each analysis: devices can be reassigned)."""
        store: Any = self.db.store  # DuckDB or PostgreSQL (checked when the analysis was set up)
        rows = store._device_ids_for(None, device)
        return str(rows[0][2]) if rows else device

    # ------------------------------------------------------------ the thread
    def _due(self, now: float) -> tuple[str | None, float]:
        """The entity to analyse now, or None and how long to wait for the next one."""
        wait = 3600.0
        for device, (first, last) in self._pending.items():
            at = min(last + self.delay_s, first + self.max_wait_s)
            if at <= now:
                return device, 0.0
            wait = min(wait, at - now)
        return None, wait

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    device, wait = self._due(time.monotonic())
                    if device is not None:
                        del self._pending[device]
                        self._busy = True
                        break
                    self._cond.wait(wait)
            t0 = time.monotonic()
            try:
                self._analyse(device)
            finally:
                with self._cond:
                    self._busy = False
                    rest = (time.monotonic() - t0) * (1 / max(self.max_busy, 0.01) - 1)
                    if rest > 0.001 and not self._closed:
                        self._cond.wait(rest)

    def _analyse(self, device: str) -> None:
        entity = device
        try:
            entity = self._entity(device)
            t0 = time.perf_counter()
            # only the window the new fixes can change (incremental), read and detected before the
            # store's write lock is taken: imports (and so acknowledgements) wait only for the write
            self.db.analyze(entity, concurrent=True)
            self.analysed[entity] = time.perf_counter() - t0
            self.runs += 1
        except Exception as exc:  # the analysis failing never stops ingest, nor the next analyses
            if _store_closed(exc):  # the database was closed under us: nothing more to do
                log.debug("the store closed; the background analysis stops")
                with self._cond:
                    self._closed = True
                return
            self.failures += 1
            if _transient(exc) and self.failures < 1000:
                log.warning("the background analysis of %s will be tried again: %s", entity, exc)
                now = time.monotonic()
                with self._cond:
                    self._pending.setdefault(device, (now, now))
                return
            log.exception("the background analysis of %s failed", entity)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is pending (for tests); whether that happened within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                if not self._pending and not self._busy:
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        """Stop the thread; what is pending is left for the API's reads to analyse."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None


def _store_closed(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "closed" in text and ("connection" in text or "database" in text)


def _transient(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(w in text for w in ("busy", "interrupt", "conflict", "deadlock", "serializ"))
