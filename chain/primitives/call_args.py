"""Argument encoders for the generated call builders (chain/primitives/calls.py), each checking its value.

A builder's argument comes from a user, the CLI or a worker. One that does not fit the type the pallet
declares is a `CallArgumentError` naming the argument (`Balances.transfer_keep_alive.dest: expected 32
bytes, got 31`), raised before anything is signed or sent. `name` is that label in every encoder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from chain.primitives.codec import encode_compact

T = TypeVar("T")


class CallArgumentError(ValueError):
    """A builder argument does not fit the type the pallet declares for it."""


def _is_uint(value: Any, bits: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << bits


def uint(value: int, bits: int, name: str) -> bytes:
    """A fixed-width little-endian `u<bits>`."""
    if not _is_uint(value, bits):
        raise CallArgumentError(f"{name}: {value!r} is not a u{bits}")
    return value.to_bytes(bits // 8, "little")


def compact(value: int, bits: int, name: str) -> bytes:
    """`Compact<u<bits>>`."""
    if not _is_uint(value, bits):
        raise CallArgumentError(f"{name}: {value!r} is not a Compact<u{bits}>")
    return encode_compact(value)


def boolean(value: bool, name: str) -> bytes:
    if not isinstance(value, bool):
        raise CallArgumentError(f"{name}: {value!r} is not a bool")
    return b"\x01" if value else b"\x00"


def string(value: str, name: str) -> bytes:
    if not isinstance(value, str):
        raise CallArgumentError(f"{name}: {value!r} is not a str")
    raw = value.encode()
    return encode_compact(len(raw)) + raw


def byte_vec(value: bytes, name: str) -> bytes:
    """`Vec<u8>`."""
    if not isinstance(value, bytes | bytearray):
        raise CallArgumentError(f"{name}: expected bytes, got {type(value).__name__}")
    return encode_compact(len(value)) + bytes(value)


def fixed(value: bytes, length: int, name: str) -> bytes:
    """`[u8; length]`: a hash, an account id, a session key."""
    if not isinstance(value, bytes | bytearray) or len(value) != length:
        raise CallArgumentError(f"{name}: expected {length} bytes, got {_describe(value)}")
    return bytes(value)


def account_lookup(value: bytes, name: str) -> bytes:
    """`MultiAddress::Id(account)`, the only lookup this chain resolves."""
    return b"\x00" + fixed(value, 32, name)


def call(value: bytes, name: str) -> bytes:
    """A nested call (Sudo's `Box<RuntimeCall>`): the bytes another builder returned."""
    if not isinstance(value, bytes | bytearray) or len(value) < 2:
        raise CallArgumentError(f"{name}: expected the bytes of a built call, got {_describe(value)}")
    return bytes(value)


def vec(items: Sequence[T], encode: Callable[[T], bytes], name: str) -> bytes:
    if not isinstance(items, list | tuple):
        raise CallArgumentError(f"{name}: expected a list, got {type(items).__name__}")
    return encode_compact(len(items)) + b"".join(encode(item) for item in items)


def tuple_of(value: Sequence[Any], encoders: Sequence[Callable[[Any], bytes]], name: str) -> bytes:
    if not isinstance(value, tuple | list) or len(value) != len(encoders):
        raise CallArgumentError(f"{name}: expected a tuple of {len(encoders)}, got {value!r}")
    return b"".join(encode(item) for encode, item in zip(encoders, value, strict=True))


def option(value: T | None, encode: Callable[[T], bytes]) -> bytes:
    return b"\x00" if value is None else b"\x01" + encode(value)


def _describe(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes"
    return type(value).__name__
