"""A bounded, allocation-safe SCALE reader and the SCALE encoders for primitive values.

This is the hand-written fast path the hot decoders (extrinsics, headers, votes) use; tests prove it
byte-identical with scalecodec. Every decoding failure is a `DecodeError`: a length prefix larger than the
remaining input is rejected before anything is allocated, and trailing bytes are an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

MAX_COMPACT_BYTES = 67  # Compact<u...> big-integer mode tops out at 4 + 63 bytes.


class DecodeError(ValueError):
    """Input bytes are not a valid SCALE encoding of the expected type."""


class Reader:
    """Reads SCALE values from a byte string, never past its end."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes | bytearray | memoryview):
        if not isinstance(data, bytes):
            data = bytes(data)
        self.data = data
        self.pos = 0
        self.end = len(data)

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def read(self, n: int) -> bytes:
        if n < 0 or n > self.end - self.pos:
            raise DecodeError(f"need {n} bytes at offset {self.pos}, only {self.end - self.pos} remain")
        start = self.pos
        self.pos = start + n
        return self.data[start : self.pos]

    def u8(self) -> int:
        if self.pos >= self.end:
            raise DecodeError(f"need 1 byte at offset {self.pos}, none remain")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def bool(self) -> bool:
        b = self.u8()
        if b > 1:
            raise DecodeError(f"invalid bool byte {b:#04x}")
        return b == 1

    def uint(self, n: int) -> int:
        return int.from_bytes(self.read(n), "little")

    def u16(self) -> int:
        return self.uint(2)

    def u32(self) -> int:
        return self.uint(4)

    def u64(self) -> int:
        return self.uint(8)

    def u128(self) -> int:
        return self.uint(16)

    def compact(self) -> int:
        b0 = self.u8()
        mode = b0 & 3
        if mode == 0:
            return b0 >> 2
        if mode == 1:
            value = (b0 | (self.u8() << 8)) >> 2
            if value < 1 << 6:
                raise DecodeError("non-canonical compact: two-byte form for a value below 64")
            return value
        if mode == 2:
            value = int.from_bytes(bytes([b0]) + self.read(3), "little") >> 2
            if value < 1 << 14:
                raise DecodeError("non-canonical compact: four-byte form for a value below 2^14")
            return value
        n = (b0 >> 2) + 4
        value = int.from_bytes(self.read(n), "little")
        if value < 1 << 30 or value >> ((n - 1) * 8) == 0:
            raise DecodeError("non-canonical compact: big-integer form longer than needed")
        return value

    def compact_len(self, min_item_size: int = 1) -> int:
        """A Vec length prefix, rejected at once if its items could not fit in the remaining input."""
        n = self.compact()
        if n * max(min_item_size, 0) > self.end - self.pos:
            raise DecodeError(f"length {n} exceeds the {self.end - self.pos} bytes that remain")
        return n

    def bytes_vec(self, max_len: int | None = None) -> bytes:
        n = self.compact_len(1)
        if max_len is not None and n > max_len:
            raise DecodeError(f"byte vector of {n} bytes exceeds the cap of {max_len}")
        return self.read(n)

    def vec(self, item: Callable[[Reader], T], min_item_size: int = 1, max_len: int | None = None) -> list[T]:
        n = self.compact_len(min_item_size)
        if max_len is not None and n > max_len:
            raise DecodeError(f"vector of {n} items exceeds the cap of {max_len}")
        return [item(self) for _ in range(n)]

    def option(self, item: Callable[[Reader], T]) -> T | None:
        tag = self.u8()
        if tag == 0:
            return None
        if tag == 1:
            return item(self)
        raise DecodeError(f"invalid Option tag {tag}")

    def string(self, max_len: int | None = None) -> str:
        raw = self.bytes_vec(max_len)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(f"string is not valid UTF-8: {e.reason}") from None

    def finish(self) -> None:
        if self.pos != self.end:
            raise DecodeError(f"{self.end - self.pos} trailing bytes after the value")


def decode_all(data: bytes, decode: Callable[[Reader], T]) -> T:
    """Decode one value that must consume the input exactly."""
    r = Reader(data)
    value = decode(r)
    r.finish()
    return value


def encode_compact(n: int) -> bytes:
    if n < 0:
        raise ValueError("compact integers are unsigned")
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return ((n << 2) | 1).to_bytes(2, "little")
    if n < 1 << 30:
        return ((n << 2) | 2).to_bytes(4, "little")
    length = (n.bit_length() + 7) // 8
    if length > 67:
        raise ValueError("integer too large for compact encoding")
    return bytes([((length - 4) << 2) | 3]) + n.to_bytes(length, "little")


def encode_uint(n: int, size: int) -> bytes:
    return n.to_bytes(size, "little")


def u8(n: int) -> bytes:
    return bytes([n])


def u16(n: int) -> bytes:
    return n.to_bytes(2, "little")


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


def u128(n: int) -> bytes:
    return n.to_bytes(16, "little")


def encode_bool(b: bool) -> bytes:
    return b"\x01" if b else b"\x00"


def encode_bytes(b: bytes) -> bytes:
    return encode_compact(len(b)) + bytes(b)


def encode_str(s: str) -> bytes:
    return encode_bytes(s.encode("utf-8"))


def encode_vec(items: Sequence[T], encode: Callable[[T], bytes]) -> bytes:
    return encode_compact(len(items)) + b"".join(encode(i) for i in items)


def encode_option(value: T | None, encode: Callable[[T], bytes]) -> bytes:
    return b"\x00" if value is None else b"\x01" + encode(value)
