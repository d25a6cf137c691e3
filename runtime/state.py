"""An in-memory chain state: a flat table plus the trie that gives its root (tests, benchmarks, genesis).

It uses the node's own storage code (`chain.storage.overlay.MemoryBackend` and `chain.storage.trie.Trie`),
so roots computed here equal the roots the LevelDB `StateDB` computes for the same changes.
"""

from __future__ import annotations

from collections.abc import Mapping

from chain.storage.overlay import MemoryBackend, Overlay
from chain.storage.trie import EMPTY_ROOT, Trie


class InMemoryChainState:
    def __init__(self, entries: Mapping[bytes, bytes] | None = None):
        self.backend = MemoryBackend()
        self.nodes: dict[bytes, bytes] = {}
        self.root = EMPTY_ROOT
        if entries:
            self.commit(dict(entries))

    def overlay(self) -> Overlay:
        return Overlay(self.backend)

    def root_after(self, changes: Mapping[bytes, bytes | None]) -> bytes:
        """The state root after `changes`, without adopting them."""
        return Trie(self.nodes).apply(self.root, changes).root

    def commit(self, changes: Mapping[bytes, bytes | None]) -> bytes:
        update = Trie(self.nodes).apply(self.root, changes)
        self.nodes.update(update.new_nodes)
        self.backend.apply(changes)
        self.root = update.root
        return self.root


def trie_root(entries: Mapping[bytes, bytes]) -> bytes:
    """The root of a whole state given as a dict (the genesis state)."""
    return Trie({}).apply(EMPTY_ROOT, dict(entries)).root
