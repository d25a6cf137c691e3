"""Block headers, digests and blocks in Substrate's SCALE layout.

Block hash = blake2-256 of the SCALE header
`parentHash ++ Compact(number) ++ stateRoot ++ extrinsicsRoot ++ Vec<DigestItem>`, so explorers and
py-substrate-interface compute the same hash from a header they decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from chain.primitives.codec import DecodeError, Reader, decode_all, encode_bytes, encode_compact, encode_vec
from chain.primitives.hashing import blake2_256

H256 = bytes
ZERO_HASH = b"\x00" * 32
MAX_DIGEST_ITEMS = 64
MAX_DIGEST_PAYLOAD = 64 * 1024
MAX_BLOCK_EXTRINSICS = 100_000
MAX_BLOCK_BYTES = 5 * 1024 * 1024


class DigestKind(IntEnum):
    OTHER = 0
    CONSENSUS = 4
    SEAL = 5
    PRE_RUNTIME = 6
    RUNTIME_ENVIRONMENT_UPDATED = 8


@dataclass(frozen=True)
class DigestItem:
    """One header digest entry. Consensus/Seal/PreRuntime carry a 4-byte engine id; Other carries bytes."""

    kind: DigestKind
    payload: bytes = b""
    engine: bytes = b""

    def encode(self) -> bytes:
        if self.kind is DigestKind.OTHER:
            return b"\x00" + encode_bytes(self.payload)
        if self.kind is DigestKind.RUNTIME_ENVIRONMENT_UPDATED:
            return b"\x08"
        return bytes([self.kind]) + self.engine + encode_bytes(self.payload)

    @staticmethod
    def decode_from(r: Reader) -> DigestItem:
        tag = r.u8()
        if tag == DigestKind.OTHER:
            return DigestItem(DigestKind.OTHER, r.bytes_vec(MAX_DIGEST_PAYLOAD))
        if tag == DigestKind.RUNTIME_ENVIRONMENT_UPDATED:
            return DigestItem(DigestKind.RUNTIME_ENVIRONMENT_UPDATED)
        if tag in (DigestKind.CONSENSUS, DigestKind.SEAL, DigestKind.PRE_RUNTIME):
            engine = r.read(4)
            return DigestItem(DigestKind(tag), r.bytes_vec(MAX_DIGEST_PAYLOAD), engine)
        raise DecodeError(f"unknown digest item tag {tag}")

    def to_json(self) -> str:
        return "0x" + self.encode().hex()


@dataclass(frozen=True)
class Header:
    parent_hash: H256
    number: int
    state_root: H256
    extrinsics_root: H256
    digest: tuple[DigestItem, ...] = field(default_factory=tuple)

    def encode(self) -> bytes:
        return (
            self.parent_hash
            + encode_compact(self.number)
            + self.state_root
            + self.extrinsics_root
            + encode_vec(self.digest, DigestItem.encode)
        )

    @staticmethod
    def decode_from(r: Reader) -> Header:
        parent = r.read(32)
        number = r.compact()
        if number >= 1 << 32:
            raise DecodeError(f"block number {number} does not fit the chain's u32 BlockNumber")
        state_root = r.read(32)
        extrinsics_root = r.read(32)
        digest = tuple(r.vec(DigestItem.decode_from, min_item_size=1, max_len=MAX_DIGEST_ITEMS))
        return Header(parent, number, state_root, extrinsics_root, digest)

    @staticmethod
    def decode(data: bytes) -> Header:
        return decode_all(data, Header.decode_from)

    @property
    def hash(self) -> H256:
        return blake2_256(self.encode())

    def to_json(self) -> dict:
        """The header as Substrate's JSON-RPC returns it."""
        return {
            "parentHash": "0x" + self.parent_hash.hex(),
            "number": hex(self.number),
            "stateRoot": "0x" + self.state_root.hex(),
            "extrinsicsRoot": "0x" + self.extrinsics_root.hex(),
            "digest": {"logs": [d.to_json() for d in self.digest]},
        }


@dataclass(frozen=True)
class Block:
    """A header and its extrinsics, each an opaque SCALE-encoded UncheckedExtrinsic (with length prefix)."""

    header: Header
    extrinsics: tuple[bytes, ...]

    def encode(self) -> bytes:
        # Each extrinsic is already `Compact(len) ++ body`, so the Vec is the count then the items verbatim.
        return self.header.encode() + encode_compact(len(self.extrinsics)) + b"".join(self.extrinsics)

    def encode_body(self) -> bytes:
        return encode_compact(len(self.extrinsics)) + b"".join(self.extrinsics)

    @staticmethod
    def decode_body(r: Reader) -> tuple[bytes, ...]:
        n = r.compact_len(1)
        if n > MAX_BLOCK_EXTRINSICS:
            raise DecodeError(f"{n} extrinsics exceed the cap of {MAX_BLOCK_EXTRINSICS}")
        out = []
        for _ in range(n):
            start = r.pos
            length = r.compact_len(1)
            r.read(length)
            out.append(r.data[start : r.pos])
        return tuple(out)

    @staticmethod
    def decode_from(r: Reader) -> Block:
        return Block(Header.decode_from(r), Block.decode_body(r))

    @staticmethod
    def decode(data: bytes) -> Block:
        if len(data) > MAX_BLOCK_BYTES:
            raise DecodeError(f"block of {len(data)} bytes exceeds the cap of {MAX_BLOCK_BYTES}")
        return decode_all(data, Block.decode_from)

    @property
    def hash(self) -> H256:
        return self.header.hash
