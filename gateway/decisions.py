"""The decision log: every routing decision with its attempts, kept bounded in the store.

Recording is off the hot path: a request appends its record to a pending buffer and a
background task serialises and writes batches to the store (Redis: every replica's
decisions in one bounded log). While the store is unreachable, batches go to a local
bounded log instead, so recent decisions stay explainable. With the in-process store nothing
else reads the log, so records are kept as they are and serialised only when one is read.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from gateway import jsonio
from gateway.flusher import Flusher
from gateway.outage import Outage
from gateway.pipeline import Outcome
from gateway.routing import Decision
from gateway.store import Store, StoreUnavailable
from gateway.store.memory import MemoryStore

log = logging.getLogger("grove.decisions")

LOG = "grove:decisions"


class Record(Protocol):
    id: str

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(slots=True)
class DecisionRecord:
    """A routing decision and what became of it; serialised only when flushed or read."""

    id: str
    created: float
    decision: Decision
    outcome: Outcome
    key: str | None = None
    """The client key's name (never the key itself); None when the gateway runs open."""
    limit: str | None = None
    """The key's limit that refused the request (``rpm``, ``tpm``, ``budget_usd_day``, ...)."""

    def to_dict(self) -> dict[str, Any]:
        out = self.outcome
        return {
            "id": self.id,
            "created": round(self.created, 3),
            "key": self.key,
            **self.decision.to_dict(),
            "attempts": [a.to_dict() for a in out.attempts],
            "served_by": out.served_by.key if out.served_by is not None else None,
            "status": out.status,
            "limit": self.limit,
        }


class DecisionLog:
    def __init__(self, store: Store, max_entries: int = 1000, flush_interval_s: float = 0.1) -> None:
        self.store = store
        self.local = MemoryStore()  # where batches go while the store is unreachable
        self.max_entries = max_entries
        self._pending: dict[str, Record] = {}
        self._inflight: dict[str, Record] = {}  # being written: still readable here meanwhile
        # The in-process store's log, unserialised: newest last, at most ``max_entries``.
        self._kept: OrderedDict[str, Record] | None = OrderedDict() if isinstance(store, MemoryStore) else None
        self._flusher = Flusher("decision-log", flush_interval_s, self.flush)
        self._outage = Outage(log, "decision log")

    def record(self, record: Record) -> None:
        self._pending[record.id] = record
        if len(self._pending) >= 200:
            self._flusher.wake()

    async def get(self, decision_id: str) -> dict[str, Any] | None:
        pending = self._pending.get(decision_id) or self._inflight.get(decision_id)
        if pending is None and self._kept is not None:
            pending = self._kept.get(decision_id)
        if pending is not None:
            return _plain(pending)
        for store in (self.store, self.local):
            try:
                raw = await store.log_get(LOG, decision_id)
            except StoreUnavailable:
                continue
            if raw is not None:
                return dict(jsonio.loads(raw))
        return None

    async def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first: every replica's decisions when the store is shared."""
        await self.flush()
        if self._kept is not None:
            return [_plain(self._kept[i]) for i in islice(reversed(self._kept), limit)]
        try:
            raws = await self.store.log_recent(LOG, limit)
        except StoreUnavailable:
            raws = await self.local.log_recent(LOG, limit)
        return [dict(jsonio.loads(r)) for r in raws]

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        kept = self._kept
        if kept is not None:
            kept.update(batch)
            while len(kept) > self.max_entries:
                kept.popitem(last=False)
            return
        self._inflight.update(batch)
        entries = [(i, jsonio.dumps(r.to_dict())) for i, r in batch.items()]
        try:
            await self.store.log_append(LOG, entries, self.max_entries)
            self._outage.ok()
        except StoreUnavailable as exc:
            self._outage.failed(exc, f"{len(entries)} records kept locally")
            await self.local.log_append(LOG, entries, self.max_entries)
        finally:
            for decision_id in batch:
                self._inflight.pop(decision_id, None)

    def start(self) -> None:
        self._flusher.start()

    async def stop(self) -> None:
        await self._flusher.stop()


def _plain(record: Record) -> dict[str, Any]:
    """The record as a reader of the store would get it: through JSON (tuples become lists)."""
    return dict(jsonio.loads(jsonio.dumps(record.to_dict())))
