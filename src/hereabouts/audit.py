"""The audit log: who asked what, exported what, when, and for which stated purpose.

Rows are append-only and hash-chained: each row's ``hash`` is the SHA-256 of the previous row's hash
and the row's own content (sequence number, time, actor, action, what, purpose), so editing or deleting
any row breaks every hash after it, and :func:`verify` names the first row that no longer fits. The
store also records the head of the chain (last sequence number and hash); a log cut short at its end
no longer reaches that head. Keep a copy of the head elsewhere (``hereabouts audit verify --json``
prints it) to detect someone rewriting the whole log and the head together.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def _digest(
    prev_hash: str, seq: int, at: str, actor: str, action: str, what: str, purpose: str | None
) -> str:
    body = json.dumps([seq, at, actor, action, what, purpose], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _at_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in a bare container
        return "unknown"


def record(
    store: Any,
    action: str,
    what: Mapping[str, Any],
    *,
    actor: str | None = None,
    purpose: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Append one entry to ``store``'s audit log and return it.

    The new row chains to the head recorded beside the log (``audit_head``), read and appended under
    the store's write lock, so concurrent questions get consecutive entries and the cost of a question
    does not grow with the log."""
    lock = getattr(store, "_lock", None)
    with lock if lock is not None else contextlib.nullcontext():
        return _record(store, action, what, actor=actor, purpose=purpose, at=at)


def _record(
    store: Any,
    action: str,
    what: Mapping[str, Any],
    *,
    actor: str | None,
    purpose: str | None,
    at: datetime | None,
) -> dict[str, Any]:
    head = store.audit_head() if hasattr(store, "audit_head") else None
    if head:
        last, _, prev = head.partition(":")
        seq = int(last) + 1
    else:
        rows = store.audit_rows()
        seq = rows.num_rows + 1
        prev = rows.column("hash")[-1].as_py() if rows.num_rows else GENESIS
    when = at or datetime.now(UTC)
    text = json.dumps(dict(what), ensure_ascii=False, sort_keys=True, default=str)
    who = actor or default_actor()
    row = {
        "seq": seq,
        "at": when,
        "actor": who,
        "action": action,
        "what": text,
        "purpose": purpose,
        "prev_hash": prev,
        "hash": _digest(prev, seq, _at_text(when), who, action, text, purpose),
    }
    store.audit_append(row)
    return row


@dataclass(frozen=True)
class Verification:
    ok: bool
    n_rows: int
    head: str | None
    first_bad_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(store: Any) -> Verification:
    """Check the whole chain; the first row that does not fit, and why, when it is broken."""
    rows = store.audit_rows().to_pylist()
    head = store.audit_head()
    prev = GENESIS
    for i, r in enumerate(rows, start=1):
        if r["seq"] != i:
            return Verification(
                False, len(rows), head, i, f"row {i} is missing (found {r['seq']} in its place)"
            )
        if r["prev_hash"] != prev:
            return Verification(False, len(rows), head, i, f"row {i} does not follow row {i - 1}")
        expect = _digest(prev, i, _at_text(r["at"]), r["actor"], r["action"], r["what"], r["purpose"])
        if r["hash"] != expect:
            return Verification(False, len(rows), head, i, f"row {i} was changed after it was written")
        prev = r["hash"]
    last = f"{len(rows)}:{prev}" if rows else None
    if head != last:
        return Verification(
            False,
            len(rows),
            head,
            len(rows) + 1 if rows else 1,
            f"the log ends at {last or 'nothing'} but its recorded head is {head}: rows were removed from the end",
        )
    return Verification(True, len(rows), head)
