"""The chain state on disk: a flat table for fast reads and a trie for roots, history and proofs.

The flat table (`Column.STATE`) holds only the latest committed state, so the runtime's reads are one
LevelDB get. The trie (`Column.TRIE`) holds every state still inside the pruning window, so the node can
serve reads and proofs at older roots.

Pruning is reference counting with a per-block death row. Each trie node has a count of the references
to it from kept states; a block's update adds one per reference it inserts (`TrieUpdate.inserted`, with
multiplicity, since identical nodes recur) and records the references it retires in that block's
journal entry. When block `m` leaves the window, its journal is replayed as decrements and a node whose
count reaches zero is deleted. Hence a node is deleted only when no kept state references it, even if an
identical node was retired and re-created many times. In archive mode no counts are kept and nothing is
deleted; the mode is recorded at the first commit and a database is never reopened under the other mode,
since archive-written nodes carry no counts to prune by.

A commit is prepared (`prepare`, which computes the root without writing), checked by the caller against
the header, and then written into the caller's batch (`write`) with the block itself, so state and block
land in one atomic LevelDB write.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from chain.storage.kv import Column, Database
from chain.storage.proof import prove
from chain.storage.trie import EMPTY_ROOT, MissingNode, Trie, TrieUpdate

ARCHIVE = "archive"
DEFAULT_PRUNING_WINDOW = 256

_HEAD = b"state_head"  # u64 LE number ++ 32-byte root of the flat table's state
_PRUNING_MODE = b"pruning_mode"  # b"archive" or b"refcount"
_PRUNE_NEXT = b"prune_next"  # u64 LE: the next block whose death row has not been replayed


class StateError(Exception):
    """Base of state-database failures."""


class StateUnavailable(StateError):
    """A state root whose trie is not in the database: pruned, or never committed here."""


class StaleStateUpdate(StateError):
    """A prepared update no longer applies: another commit moved the head since `prepare`."""


class PruningModeMismatch(StateError):
    """The database was written in archive mode and opened with pruning, or the reverse."""


class _TrieNodes:
    """The trie column as a `NodeStore`."""

    __slots__ = ("db",)

    def __init__(self, db: Database):
        self.db = db

    def get(self, node_hash: bytes) -> bytes | None:
        return self.db.get(Column.TRIE, node_hash)


@dataclass(frozen=True)
class StateUpdate:
    """A computed but not yet written state transition from `parent_root` to `root` at block `number`."""

    number: int
    parent_root: bytes
    root: bytes
    changes: dict[bytes, bytes | None]
    trie: TrieUpdate


class StateView:
    """Read-only state at one trie root (`StateDB.at`): slower than the flat table, any kept root."""

    def __init__(self, trie: Trie, root: bytes):
        self.trie = trie
        self.root = root

    def get(self, key: bytes) -> bytes | None:
        try:
            return self.trie.get(self.root, key)
        except MissingNode as e:
            raise StateUnavailable(f"state {self.root.hex()} was pruned while being read: {e}") from e

    def iter_prefix(self, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        try:
            yield from self.trie.iter_prefix(self.root, prefix)
        except MissingNode as e:
            raise StateUnavailable(f"state {self.root.hex()} was pruned while being read: {e}") from e


def parse_pruning(pruning: int | str) -> int | None:
    """`"archive"` -> None (keep all); a positive number of blocks -> that window."""
    if pruning == ARCHIVE:
        return None
    if isinstance(pruning, str) and pruning.isdigit():
        pruning = int(pruning)
    if isinstance(pruning, int) and not isinstance(pruning, bool) and pruning >= 1:
        return pruning
    raise ValueError(f"pruning must be 'archive' or a positive number of blocks, not {pruning!r}")


class StateDB:
    """The latest committed state (flat) plus the tries of every state in the pruning window."""

    def __init__(self, db: Database, pruning: int | str = DEFAULT_PRUNING_WINDOW):
        self.db = db
        self.window = parse_pruning(pruning)
        self.trie = Trie(_TrieNodes(db))
        mode = db.get(Column.META, _PRUNING_MODE)
        wanted = b"archive" if self.window is None else b"refcount"
        if mode is not None and mode != wanted:
            raise PruningModeMismatch(
                f"database at {db.path} was written with pruning mode {mode.decode()!r}; it cannot be opened "
                f"with {'archive' if self.window is None else f'a pruning window of {self.window}'}"
            )
        head = db.get(Column.META, _HEAD)
        self.number: int | None = None if head is None else int.from_bytes(head[:8], "little")
        self.root: bytes = EMPTY_ROOT if head is None else head[8:]

    # -- reads of the head state (the flat table)

    def get(self, key: bytes) -> bytes | None:
        return self.db.get(Column.STATE, key)

    def contains(self, key: bytes) -> bool:
        return self.get(key) is not None

    def iter_prefix(self, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        return self.db.iter_prefix(Column.STATE, prefix)

    # -- history and proofs

    def has_state(self, root: bytes) -> bool:
        return root == EMPTY_ROOT or self.db.get(Column.TRIE, root) is not None

    def at(self, root: bytes) -> StateView:
        """A read-only view of the state at `root`, if that state is still kept."""
        if not self.has_state(root):
            window = "archive mode" if self.window is None else f"pruning window {self.window} blocks"
            raise StateUnavailable(
                f"state {root.hex()} is not in the database at {self.db.path} "
                f"(pruned, or never committed; {window}, head is block {self.number})"
            )
        return StateView(self.trie, root)

    def read_proof(self, keys: list[bytes], root: bytes | None = None) -> list[bytes]:
        """Trie nodes proving the values (or absence) of `keys` at `root` (default: the head)."""
        root = self.root if root is None else root
        self.at(root)
        try:
            return prove(self.trie.store, root, keys)
        except MissingNode as e:
            raise StateUnavailable(f"state {root.hex()} is incomplete: {e}") from e

    # -- commits

    def prepare(self, changes: Mapping[bytes, bytes | None], number: int | None = None) -> StateUpdate:
        """Compute the state after `changes` on the head, without writing. `number` defaults to head+1."""
        expected = 0 if self.number is None else self.number + 1
        if number is None:
            number = expected
        if number != expected:
            raise StaleStateUpdate(
                f"state update for block {number}, but the state head is block "
                f"{self.number}; the next state is block {expected}"
            )
        for key, value in changes.items():
            if not isinstance(key, bytes) or not (value is None or isinstance(value, bytes)):
                raise TypeError(
                    f"state changes map bytes to bytes or None, got {type(key).__name__} -> "
                    f"{type(value).__name__}"
                )
        update = self.trie.apply(self.root, changes)
        return StateUpdate(number, self.root, update.root, dict(changes), update)

    def write(self, batch, update: StateUpdate) -> None:
        """Add `update`'s flat rows, trie nodes, counts, journal and due pruning to `batch`."""
        if update.parent_root != self.root or update.number != (
            0 if self.number is None else self.number + 1
        ):
            raise StaleStateUpdate(
                f"update for block {update.number} was prepared on state "
                f"{update.parent_root.hex()}, but the head is now block {self.number} "
                f"at {self.root.hex()}"
            )
        for key, value in update.changes.items():
            if value is None:
                batch.delete(Column.STATE, key)
            else:
                batch.put(Column.STATE, key, value)
        batch.put(Column.META, _HEAD, update.number.to_bytes(8, "little") + update.root)
        if self.window is None:
            batch.put(Column.META, _PRUNING_MODE, b"archive")
            for node_hash, encoded in update.trie.new_nodes.items():
                batch.put(Column.TRIE, node_hash, encoded)
            return
        batch.put(Column.META, _PRUNING_MODE, b"refcount")
        batch.put(Column.JOURNAL, update.number.to_bytes(8, "big"), b"".join(update.trie.dead_nodes))
        delta = Counter(update.trie.inserted)
        prune_next = self._prune_next()
        prune_until = update.number - self.window  # replay death rows of blocks <= this one
        for number in range(prune_next, prune_until + 1):
            key = number.to_bytes(8, "big")
            row = self.db.get(Column.JOURNAL, key) or b""
            for i in range(0, len(row), 32):
                delta[row[i : i + 32]] -= 1
            batch.delete(Column.JOURNAL, key)
        if prune_until >= prune_next:
            batch.put(Column.META, _PRUNE_NEXT, (prune_until + 1).to_bytes(8, "little"))
        for node_hash, change in delta.items():
            if change == 0:
                continue
            stored = self.db.get(Column.REFCOUNT, node_hash)
            count = (0 if stored is None else int.from_bytes(stored, "little")) + change
            if count > 0:
                batch.put(Column.REFCOUNT, node_hash, count.to_bytes(4, "little"))
                encoded = update.trie.new_nodes.get(node_hash)
                if encoded is not None and stored is None:
                    batch.put(Column.TRIE, node_hash, encoded)
            else:
                batch.delete(Column.REFCOUNT, node_hash)
                batch.delete(Column.TRIE, node_hash)

    def _prune_next(self) -> int:
        stored = self.db.get(Column.META, _PRUNE_NEXT)
        return 0 if stored is None else int.from_bytes(stored, "little")

    def committed(self, update: StateUpdate) -> None:
        """Advance the in-memory head after the batch holding `update` was written."""
        self.number = update.number
        self.root = update.root

    def commit(self, changes: Mapping[bytes, bytes | None], sync: bool = True) -> bytes:
        """Prepare, write and adopt a state update on its own (no block); returns the new root."""
        update = self.prepare(changes)
        batch = self.db.batch(sync=sync)
        self.write(batch, update)
        self.db.write(batch)
        self.committed(update)
        return update.root
