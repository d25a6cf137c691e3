"""What the runtime executes against: a write overlay with nested transactions over a read backend.

A block is executed in an `Overlay` on top of the committed state; the overlay's net `changes()` become
the block's state update, or are thrown away when the block is not committed. Each extrinsic runs in a
transaction (`begin`/`commit`/`rollback`), so a failed call undoes only its own writes while its fee
payment, made outside that transaction, stays.

Reads are O(1) whatever the nesting depth: the overlay keeps one dict of current writes, and each open
transaction keeps an undo record of the first previous value of every key it touched (the journal style
of ethereum/execution-specs' `begin_transaction`/`rollback_transaction`).

Any object with `get(key)` and `iter_prefix(prefix)` (sorted, deletions already hidden) is a backend:
`MemoryBackend` for unit tests, `StateDB` for the node's head, `StateDB.at(root)` for history, or another
`Overlay`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from itertools import islice
from typing import NamedTuple, Protocol

_ABSENT = object()  # "the overlay had no entry for this key", distinct from a deletion (None)


class Backend(Protocol):
    """Read access to a state."""

    def get(self, key: bytes, /) -> bytes | None: ...

    def iter_prefix(self, prefix: bytes, /) -> Iterator[tuple[bytes, bytes]]: ...


class TransactionError(Exception):
    """Transactions used out of order: commit or rollback with none open, or changes() inside one."""


class ClearResult(NamedTuple):
    removed: int
    complete: bool  # False when `limit` stopped the removal before every key under the prefix was gone


class MemoryBackend:
    """A state held in a dict, so runtime tests need no database."""

    def __init__(self, entries: Mapping[bytes, bytes] | None = None):
        self.entries: dict[bytes, bytes] = dict(entries or {})

    def get(self, key: bytes) -> bytes | None:
        return self.entries.get(key)

    def iter_prefix(self, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        for key in sorted(k for k in self.entries if k.startswith(prefix)):
            yield key, self.entries[key]

    def apply(self, changes: Mapping[bytes, bytes | None]) -> None:
        """Fold an overlay's net changes in, as a committed block would."""
        for key, value in changes.items():
            if value is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = value


class Overlay:
    """Uncommitted writes over `backend`, with arbitrarily nested transactions."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self._writes: dict[bytes, bytes | None] = {}
        self._undo: list[dict[bytes, object]] = []

    # -- reads

    def get(self, key: bytes) -> bytes | None:
        value = self._writes.get(key, _ABSENT)
        if value is _ABSENT:
            return self.backend.get(key)
        return value

    def contains(self, key: bytes) -> bool:
        return self.get(key) is not None

    __contains__ = contains

    def iter_prefix(self, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """(key, value) under `prefix` in key order, overlay writes merged over the backend's entries.

        The overlay's own keys are snapshotted when iteration starts; write after collecting, not while
        iterating.
        """
        mine = sorted((k, v) for k, v in self._writes.items() if k.startswith(prefix))
        theirs = self.backend.iter_prefix(prefix)
        i, n = 0, len(mine)
        for key, value in theirs:
            while i < n and mine[i][0] < key:
                if mine[i][1] is not None:
                    yield mine[i]
                i += 1
            if i < n and mine[i][0] == key:
                if mine[i][1] is not None:
                    yield mine[i]
                i += 1
            else:
                yield key, value
        for key, value in mine[i:]:
            if value is not None:
                yield key, value

    # -- writes

    def _write(self, key: bytes, value: bytes | None) -> None:
        if not isinstance(key, bytes):
            raise TypeError(f"storage keys are bytes, not {type(key).__name__}")
        if self._undo:
            undo = self._undo[-1]
            if key not in undo:
                undo[key] = self._writes.get(key, _ABSENT)
        self._writes[key] = value

    def set(self, key: bytes, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise TypeError(f"storage values are bytes, not {type(value).__name__}")
        self._write(key, value)

    def delete(self, key: bytes) -> None:
        self._write(key, None)

    def clear_prefix(self, prefix: bytes, limit: int | None = None) -> ClearResult:
        """Delete keys under `prefix`, at most `limit` of them; says whether any were left."""
        if limit is None:
            keys = [k for k, _ in self.iter_prefix(prefix)]
        else:
            keys = [k for k, _ in islice(self.iter_prefix(prefix), limit + 1)]
        complete = limit is None or len(keys) <= limit
        if not complete:
            keys = keys[:limit]
        for key in keys:
            self.delete(key)
        return ClearResult(len(keys), complete)

    # -- transactions

    @property
    def depth(self) -> int:
        return len(self._undo)

    def begin(self) -> None:
        self._undo.append({})

    def commit(self) -> None:
        """Keep the innermost transaction's writes as part of the enclosing one (or of the overlay)."""
        if not self._undo:
            raise TransactionError("commit with no open transaction")
        undo = self._undo.pop()
        if self._undo:
            outer = self._undo[-1]
            for key, previous in undo.items():
                outer.setdefault(key, previous)

    def rollback(self) -> None:
        """Undo every write made since the innermost `begin`."""
        if not self._undo:
            raise TransactionError("rollback with no open transaction")
        for key, previous in self._undo.pop().items():
            if previous is _ABSENT:
                del self._writes[key]
            else:
                self._writes[key] = previous

    @contextmanager
    def transaction(self) -> Iterator[Overlay]:
        """Commit on normal exit, roll back when the body raises (and re-raise)."""
        self.begin()
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def changes(self) -> dict[bytes, bytes | None]:
        """The net writes: key -> new value, or None for a deletion."""
        if self._undo:
            raise TransactionError(f"{len(self._undo)} transaction(s) still open; commit or roll back first")
        return dict(self._writes)
