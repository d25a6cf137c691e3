"""Blob pinning for the market: the node keeps what live jobs reference, and deletes the rest in time.

A node's blob store holds datasets, checkpoints and disputed states that workers upload. Everything a live
job references (`query.referenced_blobs`: its dataset, checkpoints, disputed states) is pinned; other
blobs are deleted once they have been unpinned for the retention period. The pins are derived again from
the head state whenever a committed block emitted a ComputeMarket event, and once after a restart before
anything is deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

from compute_market.pallet import PALLET, query

log = logging.getLogger("gradchain.market")

GC_EVERY_SECONDS = 60.0  # the collection lists the blob directory, so it runs at most this often
PALLET_NAME = PALLET.name  # the pallet's own name, never typed here


class PinnableStore(Protocol):
    def set_pins(self, hashes: set[bytes]) -> None: ...
    def remove_unpinned(self, older_than: float = 0.0, now: float | None = None) -> int: ...


class MarketBlobPins:
    def __init__(self, blobs: PinnableStore, retention_seconds: float):
        self.blobs = blobs
        self.retention = retention_seconds
        self._loaded = False
        self._last_gc = time.monotonic()

    def on_block(self, state: Any, events: Sequence[tuple[Any, Any]]) -> None:
        """After each committed block: re-pin if the market changed, then collect if it is time."""
        if any(ev.pallet == PALLET_NAME for _phase, ev in events):
            self.refresh(state)
        self.collect(state)

    def refresh(self, state: Any) -> None:
        self.blobs.set_pins(query.read(state, query.referenced_blobs))
        self._loaded = True

    def collect(self, state: Any) -> None:
        """Delete blobs unpinned for longer than the retention; at most once per GC_EVERY_SECONDS (or per
        retention, if that is shorter)."""
        now = time.monotonic()
        if now - self._last_gc < min(GC_EVERY_SECONDS, self.retention):
            return
        if not self._loaded:  # after a restart, pin what live jobs reference before deleting anything
            self.refresh(state)
        self._last_gc = now
        removed = self.blobs.remove_unpinned(self.retention)
        if removed:
            log.info("removed %d blobs unpinned for more than %.0fs", removed, self.retention)
