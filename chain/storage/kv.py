"""The node's one LevelDB, split into columns by a one-byte key prefix.

Why one database and prefixes rather than one LevelDB per kind of data: a block commit must write headers,
index, markers, flat state and trie nodes atomically, and LevelDB's atomicity is one `WriteBatch` on one
database. Every plyvel failure is turned into a `DatabaseError` naming the path, so a user who points two
nodes at one base path, or at a damaged directory, is told so in plain words.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import plyvel

MAX_OPEN_FILES = 128


class Column:
    """Key prefixes: each kind of record lives under its own byte."""

    META = b"m"  # markers: genesis hash, best/finalized block, state head, pruning state
    HEADER = b"h"  # block hash -> header bytes
    BODY = b"b"  # block hash -> body bytes
    JUSTIFICATION = b"j"  # block hash -> commit certificate bytes
    BLOCK_INFO = b"i"  # block hash -> u64 number ++ parent hash ++ state root
    NUMBER = b"n"  # u64 big-endian number -> block hash (big-endian so keys sort by number)
    STATE = b"s"  # storage key -> value of the latest committed state (the flat table)
    TRIE = b"t"  # node hash -> encoded trie node
    REFCOUNT = b"r"  # node hash -> u32 reference count (pruning mode only)
    JOURNAL = b"d"  # u64 big-endian block number -> hashes of trie nodes that block retired

    ALL = (META, HEADER, BODY, JUSTIFICATION, BLOCK_INFO, NUMBER, STATE, TRIE, REFCOUNT, JOURNAL)


class DatabaseError(Exception):
    """The database cannot be opened, read or written: missing, locked, corrupt or closed."""


class DatabaseLocked(DatabaseError):
    """Another process (most likely another node) holds the database's lock."""


def _reason(error: Exception) -> str:
    """plyvel puts LevelDB's status message in the exception as bytes; show it as text."""
    message = error.args[0] if error.args else error
    return message.decode(errors="replace") if isinstance(message, bytes) else str(message)


class WriteBatch:
    """Writes gathered for one atomic `Database.write`."""

    __slots__ = ("_raw", "ops")

    def __init__(self, raw: plyvel.WriteBatch):
        self._raw = raw
        self.ops = 0

    def put(self, column: bytes, key: bytes, value: bytes) -> None:
        self._raw.put(column + key, value)
        self.ops += 1

    def delete(self, column: bytes, key: bytes) -> None:
        self._raw.delete(column + key)
        self.ops += 1


class Database:
    """A LevelDB at `path`, read and written by column."""

    def __init__(self, path: str | Path, create: bool = True):
        self.path = str(path)
        if create:
            try:
                Path(self.path).mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise DatabaseError(f"cannot create database directory {self.path}: {_reason(e)}") from e
        try:
            # paranoid checks: a damaged log or table fails the open instead of silently losing writes;
            # a small table cache leaves file descriptors to the node's listeners (chain.network.descriptors)
            self._db = plyvel.DB(
                self.path, create_if_missing=create, paranoid_checks=True, max_open_files=MAX_OPEN_FILES
            )
        except plyvel.IOError as e:
            if "lock" in str(e).lower():
                raise DatabaseLocked(
                    f"database at {self.path} is locked by another process; is another node already "
                    f"running with this base path? ({_reason(e)})"
                ) from e
            raise DatabaseError(f"cannot open database at {self.path}: {_reason(e)}") from e
        except plyvel.CorruptionError as e:
            raise DatabaseError(f"database at {self.path} is corrupt: {_reason(e)}") from e
        except plyvel.Error as e:
            raise DatabaseError(f"cannot open database at {self.path}: {_reason(e)}") from e

    def get(self, column: bytes, key: bytes) -> bytes | None:
        try:
            return self._db.get(column + key)
        except (plyvel.Error, RuntimeError) as e:
            raise DatabaseError(f"reading database at {self.path} failed: {_reason(e)}") from e

    def iter_prefix(self, column: bytes, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """(key without the column byte, value) for keys starting with `prefix`, in key order."""
        cut = len(column)
        try:
            with self._db.iterator(prefix=column + prefix) as it:
                for key, value in it:
                    yield key[cut:], value
        except (plyvel.Error, RuntimeError) as e:
            raise DatabaseError(f"iterating database at {self.path} failed: {_reason(e)}") from e

    def batch(self, sync: bool = True) -> WriteBatch:
        """A new batch; `sync=True` makes `write` return only once the batch is on disk."""
        try:
            return WriteBatch(self._db.write_batch(sync=sync))
        except RuntimeError as e:
            raise DatabaseError(f"database at {self.path} is closed: {_reason(e)}") from e

    def write(self, batch: WriteBatch) -> None:
        """Apply every operation of `batch` at once: after a crash either all or none are visible."""
        try:
            batch._raw.write()
        except (plyvel.Error, RuntimeError) as e:
            raise DatabaseError(
                f"writing {batch.ops} operations to database at {self.path} failed: {_reason(e)}"
            ) from e

    @property
    def closed(self) -> bool:
        return self._db.closed

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
