"""The single writer: one thread owns every write to the store and commits requests in groups.

DuckDB allows one writing connection, and a commit (which syncs the write-ahead log) costs far more than
the rows of one request. Request handlers parse and validate their payload, then hand the validated
tables to :class:`GroupWriter` and wait (small fix batches as plain rows: the writer turns the rows of
the whole group into one Arrow table, cheaper than one table per request). The writer thread takes every
request waiting in its queue (up to ``max_group``), writes them in **one** transaction (one insert per
tier for the whole group, de-duplicated against the store) and commits; only then is each request's
future resolved, so an HTTP 2xx always follows the commit that made its records durable. When a group's transaction fails, each of its requests
is tried again alone, so one bad request cannot fail the others.

Each committed group is one import source (``sources`` row, origin ``http:ingest``) whose kind names the
protocols in it (``owntracks_http``...), with the group's counts.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from .._db import Database
from ..io._base import Counts, Rows

log = logging.getLogger("hereabouts.server")

_TIER_COUNT = {
    "fix": "fixes",
    "scan": "scans",
    "reported_stay": "reported_stays",
    "reported_trip": "reported_trips",
    "event": "events",
}


@dataclass
class Job:
    """The validated tables of one request (what its Sink wrote: Arrow tables, or plain rows of small
    fix batches, gathered into one table per group) and its counts before de-duplication."""

    protocol: str
    tables: list[tuple[str, pa.Table | Rows]]
    counts: Counts
    future: concurrent.futures.Future[Counts] = field(default_factory=concurrent.futures.Future)


@dataclass
class WriterStats:
    groups: int = 0
    requests: int = 0
    retried_alone: int = 0


class WriterBusy(Exception):
    """The writer's queue is full: the store cannot keep up; the client should retry later."""


class GroupWriter:
    """A writer thread committing queued jobs in groups; :meth:`submit` returns a future resolved with
    the job's counts after its group's commit (or with the error that kept it out of the store).

    At most ``max_queue`` jobs wait; past that :meth:`submit` raises :class:`WriterBusy` (the server
    answers 503, and the apps retry), so an overloaded store cannot make the server's memory grow
    without bound."""

    def __init__(
        self, db: Database, *, max_group: int = 1000, max_queue: int = 10_000, linger_s: float = 0.004
    ) -> None:
        self.db = db
        self.max_group = max_group
        #: how long a group of concurrent requests may wait for more before it is written
        self.linger_s = linger_s
        self.stats = WriterStats()
        self._queue: queue.Queue[Job | None] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        #: called in the writer thread after each commit with the (tier, table) pairs it stored
        self.on_commit: list[Callable[[list[tuple[str, pa.Table]]], None]] = []

    def submit(self, job: Job) -> concurrent.futures.Future[Counts]:
        if self._closed:
            raise RuntimeError("the ingest writer is closed")
        self._ensure_started()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise WriterBusy(f"{self._queue.maxsize} requests are already waiting for the store") from None
        return job.future

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                t = threading.Thread(target=self._run, name="hereabouts-ingest-writer", daemon=True)
                t.start()
                self._thread = t

    def close(self, timeout: float | None = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)  # blocks while the queue is full: what is queued is written first
            self._thread.join(timeout)
            self._thread = None
            st = self.stats
            log.info(
                "the ingest writer committed %d requests in %d groups (%.1f per group)",
                st.requests,
                st.groups,
                st.requests / max(1, st.groups),
            )

    # ------------------------------------------------------------ the thread
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            deadline = 0.0
            while len(group) < self.max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    # under load (more than one request waiting) the group waits a little for the
                    # requests still arriving: one commit costs far more than its rows, so fewer, larger
                    # commits take more requests per second; a lone request is written at once
                    if len(group) < 2 or self.linger_s <= 0:
                        break
                    now = time.monotonic()
                    if not deadline:
                        deadline = now + self.linger_s
                    if now >= deadline:
                        break
                    try:
                        nxt = self._queue.get(timeout=min(deadline - now, self.linger_s / 4))
                    except queue.Empty:
                        break  # a quiet moment: the burst is in
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._write_group(group)
            if stop:
                return

    def _write_group(self, group: list[Job]) -> None:
        try:
            counts, stored = self._commit(group)
        except Exception as exc:
            if len(group) == 1:
                log.exception("ingest write failed")
                _fail(group[0], exc)
                return
            log.warning("a group of %d requests failed (%s); writing each alone", len(group), exc)
            self.stats.retried_alone += len(group)
            for job in group:
                try:
                    alone, alone_stored = self._commit([job])
                except Exception as one_exc:
                    log.exception("ingest write failed")
                    _fail(job, one_exc)
                else:
                    _done(job, alone[0])
                    self._notify(alone_stored)
            return
        for job, c in zip(group, counts, strict=True):
            _done(job, c)
        self._notify(stored)

    def _notify(self, tables: list[tuple[str, pa.Table]]) -> None:
        if not self.on_commit:
            return
        for listener in self.on_commit:
            try:
                listener(tables)
            except Exception:  # a listener's failure never fails ingest
                log.exception("a commit listener failed")

    def _commit(self, group: Sequence[Job]) -> tuple[list[Counts], list[tuple[str, pa.Table]]]:
        """Write ``group`` in one transaction; per-job counts (new rows cannot be told apart between the
        jobs of a group, so each job gets its own validated counts and the group's are in ``sources``)
        and the (tier, table) pairs written. The plain rows of all jobs become one table per tier."""
        protocols = sorted({j.protocol for j in group})
        by_tier: dict[str, list[pa.Table]] = {}
        rows: dict[str, list[Rows]] = {}
        for job in group:
            for tier, table in job.tables:
                if isinstance(table, Rows):
                    rows.setdefault(tier, []).append(table)
                else:
                    by_tier.setdefault(tier, []).append(table)
        for tier, parts in rows.items():
            merged = parts[0] if len(parts) == 1 else Rows.concat(parts)
            by_tier.setdefault(tier, []).append(merged.to_table())
        stored: list[tuple[str, pa.Table]] = []
        total = Counts()
        for job in group:
            total.read += job.counts.read
            total.rejected += job.counts.rejected
        with self.db.store.begin_import(
            origin="http:ingest",
            checksum=None,
            options={"via": "http", "protocols": protocols},
            bulk=False,
        ) as txn:
            # rejects last: their rows do not depend on the others, fixes first keep the table clustered
            for tier in sorted(by_tier, key=lambda t: (t == "reject", t)):
                tables = by_tier[tier]
                table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
                stored.append((tier, table))
                new = txn.write(tier, table)
                if tier in _TIER_COUNT:
                    attr = _TIER_COUNT[tier]
                    setattr(total, attr, getattr(total, attr) + new)
                    total.duplicates += table.num_rows - new
            txn.finish(
                total.as_dict(), ",".join(p if p.endswith("_mqtt") else f"{p}_http" for p in protocols)
            )
        self.stats.groups += 1
        self.stats.requests += len(group)
        if len(group) == 1:
            return [total], stored
        return [j.counts for j in group], stored


def _done(job: Job, counts: Counts) -> None:
    # a request whose client went away may have cancelled its future: its records are stored anyway
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        job.future.set_result(counts)


def _fail(job: Job, exc: BaseException) -> None:
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        job.future.set_exception(exc)
