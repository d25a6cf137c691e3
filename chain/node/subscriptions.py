"""The subscription hub: who hears about new blocks, their events, and each watched transaction.

The APIs (gRPC streams, JSON-RPC subscriptions) register callbacks here; block import and the transaction
pool report to it. Callbacks run on the node's event loop and must not block; each returns an unsubscribe
function, which the API calls when its stream or subscription ends.
"""

from __future__ import annotations

from collections.abc import Callable

from chain.primitives.hashing import blake2_256
from chain.txpool import TxStatus

KINDS = ("new_head", "finalized_head", "events")


class SubscriptionHub:
    def __init__(self) -> None:
        self.listeners: dict[str, set[Callable]] = {kind: set() for kind in KINDS}
        self.watchers: dict[bytes, set[Callable]] = {}

    def subscribe(self, kind: str, callback: Callable) -> Callable[[], None]:
        """`callback(header)` for "new_head" and "finalized_head", `callback(header, events)` for "events"."""
        self.listeners[kind].add(callback)
        return lambda: self.listeners[kind].discard(callback)

    def watch(self, tx_hash: bytes, callback: Callable) -> Callable[[], None]:
        """`callback(status, info)` for each status of the transaction `tx_hash` (see `TxStatus`)."""
        self.watchers.setdefault(tx_hash, set()).add(callback)

        def unwatch() -> None:
            callbacks = self.watchers.get(tx_hash)
            if callbacks is not None:
                callbacks.discard(callback)
                if not callbacks:
                    del self.watchers[tx_hash]

        return unwatch

    def on_pool_status(self, tx_hash: bytes, status: TxStatus, info: object) -> None:
        if status is TxStatus.FINALIZED:
            return  # reported by `on_block`, which knows the block and the index
        for watcher in list(self.watchers.get(tx_hash, ())):
            watcher(status, info)

    def on_block(self, executed) -> None:  # noqa: ANN001 - chain_state.ExecutedBlock
        """A committed (so final) block: its transactions' watchers, then heads, then events."""
        header = executed.block.header
        for i, raw in enumerate(executed.block.extrinsics):
            for watcher in list(self.watchers.get(blake2_256(raw), ())):
                watcher(TxStatus.FINALIZED, (header, i, executed))
        for kind in ("new_head", "finalized_head"):
            for listener in list(self.listeners[kind]):
                listener(header)
        for listener in list(self.listeners["events"]):
            listener(header, executed.finalized.events)
