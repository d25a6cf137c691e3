"""The two tiny durable stores consensus needs.

`AtomicFile` keeps one small value (the signer guard's last-signed state) and replaces it atomically:
write a temporary file, fsync it, rename it over the old one, fsync the directory. `AppendLog` is an
append-only file (the WAL) that fsyncs every append. Their in-memory twins (`MemoryValue`, `MemoryLog`)
behave the same without a disk; the consensus simulator's crashing versions, which fail at any write point
and may leave a torn append behind as a power cut can, are test doubles in tests/consensus/crashing_stores.py.

A write that finds the process out of file descriptors (EMFILE, ENFILE: a flood of connections) frees the
node's `DescriptorReserve`, if it was given one, and retries once; any other failure, or a second one, is
raised, and the node rebuilds its consensus state from these files once writes work again.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Reserve(Protocol):
    def release(self) -> bool: ...


def _retrying(reserve: Reserve | None, operation: Callable[[], T]) -> T:
    try:
        return operation()
    except OSError as e:
        if e.errno not in (errno.EMFILE, errno.ENFILE) or reserve is None or not reserve.release():
            raise
    return operation()


class ValueStore(Protocol):
    def load(self) -> bytes | None: ...
    def store(self, data: bytes) -> None: ...


class LogStore(Protocol):
    def append(self, data: bytes, sync: bool = True) -> None: ...
    def read(self) -> bytes: ...
    def truncate(self, size: int) -> None: ...
    def replace(self, data: bytes) -> None: ...


class AtomicFile:
    def __init__(self, path: str | os.PathLike[str], reserve: Reserve | None = None):
        self.path = os.fspath(path)
        self.reserve = reserve

    def load(self) -> bytes | None:
        return _retrying(self.reserve, self._load)

    def _load(self) -> bytes | None:
        try:
            with open(self.path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def store(self, data: bytes) -> None:
        _retrying(self.reserve, lambda: self._store(data))

    def _store(self, data: bytes) -> None:
        write_atomically(self.path, data, ".tmp")


def write_atomically(path: str, data: bytes, suffix: str) -> None:
    """`data` as the whole of `path`: written to `path + suffix`, fsynced, renamed over it, the directory
    fsynced; a crash leaves either the old file or the new one."""
    tmp = path + suffix
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class AppendFile:
    def __init__(self, path: str | os.PathLike[str], reserve: Reserve | None = None):
        self.path = os.fspath(path)
        self.reserve = reserve
        self._file = _retrying(reserve, lambda: open(self.path, "ab"))  # noqa: SIM115 - held for the node's lifetime

    def append(self, data: bytes, sync: bool = True) -> None:
        """Append; with `sync`, fsync too (which also makes every earlier unsynced append durable)."""
        self._file.write(data)
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def read(self) -> bytes:
        return _retrying(self.reserve, self._read)

    def _read(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()

    def truncate(self, size: int) -> None:
        self._file.truncate(size)
        self._file.flush()
        os.fsync(self._file.fileno())

    def replace(self, data: bytes) -> None:
        """Make `data` the whole log atomically (temp file, fsync, rename) and append after it from now on;
        a crash leaves either the old log or the new one."""
        _retrying(self.reserve, lambda: write_atomically(self.path, data, ".compact"))
        self._file.close()
        self._file = _retrying(self.reserve, lambda: open(self.path, "ab"))  # noqa: SIM115 - held, as in __init__

    def close(self) -> None:
        self._file.close()


class MemoryValue:
    """An `AtomicFile` in memory: it outlives the engine that uses it, as a file outlives a process."""

    def __init__(self) -> None:
        self.data: bytes | None = None

    def load(self) -> bytes | None:
        return self.data

    def store(self, data: bytes) -> None:
        self.data = bytes(data)


class MemoryLog:
    """An `AppendFile` in memory."""

    def __init__(self) -> None:
        self.data = bytearray()

    def append(self, data: bytes, sync: bool = True) -> None:
        self.data += data

    def read(self) -> bytes:
        return bytes(self.data)

    def truncate(self, size: int) -> None:
        del self.data[size:]

    def replace(self, data: bytes) -> None:
        self.data = bytearray(data)
