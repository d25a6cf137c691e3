"""Typed storage items over the current execution state, as FRAME's `StorageValue`/`StorageMap`.

An item is declared once with its pallet prefix, name, hashers, key/value descriptors and default:

    Account = StorageMap("System", "Account", Blake2_128Concat, AccountId, ACCOUNT_INFO, default=...)

and pallet code reads `Account.get(who)`. The state the items touch is the one the executive installed
with `externalities(state)` (a context variable, like Substrate's externalities), so pallet functions take no
state argument and a test or RPC call chooses the state by entering the context. The key layout is
Substrate's: `twox128(pallet) ++ twox128(item) ++ hasher(encoded key)`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from chain.primitives.codec import Reader
from chain.primitives.hashing import HASHER_PREFIX_LEN, STORAGE_HASHERS, twox128
from runtime.frame.types import ScaleType


class State(Protocol):
    """What the runtime needs from state: the interface of `chain.storage.state.Overlay`."""

    def get(self, key: bytes) -> bytes | None: ...
    def set(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...
    def iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...
    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class NoExternalities(RuntimeError):
    """Storage was touched outside `externalities(state)`: a bug in the caller, never a user error."""


_CURRENT: ContextVar[State] = ContextVar("gradchain_runtime_state")


@contextmanager
def externalities(state: State) -> Iterator[State]:
    """Run pallet code against `state` for the duration of the block."""
    token = _CURRENT.set(state)
    try:
        yield state
    finally:
        _CURRENT.reset(token)


def current_state() -> State:
    try:
        return _CURRENT.get()
    except LookupError:
        raise NoExternalities(
            "storage accessed with no state installed; use runtime.frame.externalities"
        ) from None


@dataclass(frozen=True)
class Hasher:
    name: str
    index: int  # StorageHasher variant index in metadata V14

    def __call__(self, data: bytes) -> bytes:
        return STORAGE_HASHERS[self.name](data)

    @property
    def prefix_len(self) -> int:
        return HASHER_PREFIX_LEN[self.name]


Blake2_128Concat = Hasher("Blake2_128Concat", 2)
Twox64Concat = Hasher("Twox64Concat", 5)
Identity = Hasher("Identity", 6)

OPTIONAL, DEFAULT = 0, 1  # StorageEntryModifier


class StorageItem:
    """Common parts: the 32-byte prefix, the value type, the default and the metadata modifier."""

    def __init__(self, pallet: str, name: str, value: ScaleType, default: Any = None, docs: str = ""):
        self.pallet = pallet
        self.name = name
        self.value = value
        self.default = default
        self.docs = docs
        self.prefix = twox128(pallet.encode()) + twox128(name.encode())
        self.modifier = OPTIONAL if default is None else DEFAULT
        # Mutable defaults (AccountInfo, lists, dicts) are copied on every read, so no caller can alter them.
        self._copy_default = not isinstance(default, (int, bytes, str, bool, tuple, type(None)))

    def default_bytes(self) -> bytes:
        return b"\x00" if self.default is None else self.value.encode(self.default)

    def _read(self, key: bytes) -> Any:
        raw = _CURRENT.get().get(key)
        if raw is None:
            return copy.deepcopy(self.default) if self._copy_default else self.default
        return self.value.decode_bytes(raw)

    def _write(self, key: bytes, value: Any) -> None:
        _CURRENT.get().set(key, self.value.encode(value))


class StorageValue(StorageItem):
    def key(self) -> bytes:
        return self.prefix

    def get(self) -> Any:
        return self._read(self.prefix)

    def put(self, value: Any) -> None:
        self._write(self.prefix, value)

    def kill(self) -> None:
        _CURRENT.get().delete(self.prefix)

    def exists(self) -> bool:
        return _CURRENT.get().get(self.prefix) is not None


class StorageMap(StorageItem):
    def __init__(
        self,
        pallet: str,
        name: str,
        hasher: Hasher,
        key: ScaleType,
        value: ScaleType,
        default: Any = None,
        docs: str = "",
    ):
        super().__init__(pallet, name, value, default, docs)
        self.hasher = hasher
        self.key_type = key

    def key(self, k: Any) -> bytes:
        return self.prefix + self.hasher(self.key_type.encode(k))

    def get(self, k: Any) -> Any:
        return self._read(self.key(k))

    def insert(self, k: Any, value: Any) -> None:
        self._write(self.key(k), value)

    def remove(self, k: Any) -> None:
        _CURRENT.get().delete(self.key(k))

    def contains(self, k: Any) -> bool:
        return _CURRENT.get().get(self.key(k)) is not None

    def iter(self) -> Iterator[tuple[Any, Any]]:
        """(key, value) pairs in storage-key order; needs a transparent (…Concat or Identity) hasher."""
        skip = len(self.prefix) + self.hasher.prefix_len
        for raw_key, raw_value in _CURRENT.get().iter_prefix(self.prefix):
            r = Reader(raw_key[skip:])
            yield self.key_type.decode(r), self.value.decode_bytes(raw_value)


class StorageDoubleMap(StorageItem):
    def __init__(
        self,
        pallet: str,
        name: str,
        hasher1: Hasher,
        key1: ScaleType,
        hasher2: Hasher,
        key2: ScaleType,
        value: ScaleType,
        default: Any = None,
        docs: str = "",
    ):
        super().__init__(pallet, name, value, default, docs)
        self.hasher1, self.key1, self.hasher2, self.key2 = hasher1, key1, hasher2, key2

    def key(self, k1: Any, k2: Any) -> bytes:
        return self.prefix + self.hasher1(self.key1.encode(k1)) + self.hasher2(self.key2.encode(k2))

    def get(self, k1: Any, k2: Any) -> Any:
        return self._read(self.key(k1, k2))

    def insert(self, k1: Any, k2: Any, value: Any) -> None:
        self._write(self.key(k1, k2), value)

    def remove(self, k1: Any, k2: Any) -> None:
        _CURRENT.get().delete(self.key(k1, k2))

    def contains(self, k1: Any, k2: Any) -> bool:
        return _CURRENT.get().get(self.key(k1, k2)) is not None

    def iter_prefix(self, k1: Any) -> Iterator[tuple[Any, Any]]:
        prefix = self.prefix + self.hasher1(self.key1.encode(k1))
        skip = len(prefix) + self.hasher2.prefix_len
        for raw_key, raw_value in _CURRENT.get().iter_prefix(prefix):
            yield self.key2.decode_bytes(raw_key[skip:]), self.value.decode_bytes(raw_value)
