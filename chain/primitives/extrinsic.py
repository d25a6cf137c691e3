"""Substrate's UncheckedExtrinsic, version 4, with MultiSignature signatures and mortal or immortal eras.

Layout: `Compact(len) ++ 0x84 ++ MultiAddress(signer) ++ MultiSignature(sig) ++ era
++ Compact(nonce) ++ Compact(tip) ++ call`; unsigned: `Compact(len) ++ 0x04 ++ call`. Every MultiAddress
variant decodes, but only `Id` and `Address32` (the same 32-byte account) can be looked up as a signer.
Every MultiSignature variant decodes too; Ed25519 and Sr25519 verify, Ecdsa is refused as unsupported.
The signed payload is `call ++ era ++ Compact(nonce) ++ Compact(tip) ++ spec_version ++ tx_version
++ genesis_hash ++ era_birth_block_hash`, hashed with blake2-256 when longer than 256 bytes.
This module is the hand-written hot path; tests prove it byte-identical with scalecodec.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from chain.primitives.codec import DecodeError, Reader, encode_compact, u32
from chain.primitives.crypto import SignatureScheme, Signer, verify_signature
from chain.primitives.hashing import blake2_256

EXTRINSIC_VERSION = 4
SIGNED_BIT = 0x80
MAX_EXTRINSIC_BYTES = 4 * 1024 * 1024
MAX_ERA_PERIOD = 1 << 16
MAX_RAW_ADDRESS_BYTES = 64


class ExtrinsicDecodeError(DecodeError):
    """The bytes are not a version-4 extrinsic this chain accepts."""


@dataclass(frozen=True)
class Era:
    """Transaction validity window. Immortal is `period == 0`; mortal eras are `(period, phase)`.

    A mortal era is valid from its birth block, `(current - phase) // period * period + phase` for any
    current block in the window, for `period` blocks.
    """

    period: int = 0
    phase: int = 0

    @property
    def is_immortal(self) -> bool:
        return self.period == 0

    @classmethod
    def mortal(cls, period: int, current: int) -> Era:
        """Substrate's `Era::mortal`: round the period to a power of two in [4, 65536] and quantize the phase."""
        period = 1 << max(2, min(16, (max(period, 1) - 1).bit_length()))
        phase = current % period
        quantize_factor = max(period >> 12, 1)
        return cls(period, phase // quantize_factor * quantize_factor)

    def encode(self) -> bytes:
        if self.is_immortal:
            return b"\x00"
        quantize_factor = max(self.period >> 12, 1)
        trailing = (self.period & -self.period).bit_length() - 1
        encoded = min(15, max(1, trailing - 1)) | ((self.phase // quantize_factor) << 4)
        return encoded.to_bytes(2, "little")

    @staticmethod
    def decode_from(r: Reader) -> Era:
        first = r.u8()
        if first == 0:
            return Era()
        encoded = first | (r.u8() << 8)
        period = 2 << (encoded % (1 << 4))
        quantize_factor = max(period >> 12, 1)
        phase = (encoded >> 4) * quantize_factor
        if period < 4 or phase >= period:
            raise ExtrinsicDecodeError(f"invalid mortal era: period {period}, phase {phase}")
        return Era(period, phase)

    def birth(self, current: int) -> int:
        if self.is_immortal:
            return 0
        return (max(current, self.phase) - self.phase) // self.period * self.period + self.phase

    def death(self, current: int) -> int:
        if self.is_immortal:
            return 1 << 64
        return self.birth(current) + self.period


class AddressKind(IntEnum):
    """The variants of `sp_runtime::MultiAddress<AccountId32, u32>`, by their SCALE index."""

    ID = 0
    INDEX = 1
    RAW = 2
    ADDRESS32 = 3
    ADDRESS20 = 4

    @property
    def variant(self) -> str:
        """The variant's name as Substrate and its clients spell it."""
        return ("Id", "Index", "Raw", "Address32", "Address20")[self]


_FIXED_ADDRESS_LENGTHS = {AddressKind.ID: 32, AddressKind.ADDRESS32: 32, AddressKind.ADDRESS20: 20}


class UnsupportedSignerAddress(ValueError):
    """The signer is a MultiAddress this chain cannot look up: there are no account indices, raw or 20-byte
    accounts here, so only `Id` and `Address32` name a signing account (Substrate's `LookupError`)."""

    def __init__(self, address: MultiAddress):
        self.address = address
        super().__init__(
            f"a MultiAddress::{address.kind.variant} signer cannot be looked up on this chain; "
            "sign with MultiAddress::Id (0) or Address32 (3), the 32-byte account id"
        )


@dataclass(frozen=True)
class MultiAddress:
    """An address as sent on the wire. `value` is the account index (an int) for `Index` and the bytes of
    every other variant: 32 for `Id` and `Address32`, 20 for `Address20`, at most 64 for `Raw`."""

    kind: AddressKind
    value: bytes | int

    def __post_init__(self) -> None:
        if self.kind is AddressKind.INDEX:
            if not isinstance(self.value, int) or not 0 <= self.value < 1 << 32:
                raise ValueError(f"MultiAddress::Index needs a u32, not {self.value!r}")
        elif not isinstance(self.value, bytes):
            raise ValueError(
                f"MultiAddress::{self.kind.variant} needs bytes, not {type(self.value).__name__}"
            )
        elif self.kind is AddressKind.RAW:
            if len(self.value) > MAX_RAW_ADDRESS_BYTES:
                raise ValueError(
                    f"MultiAddress::Raw of {len(self.value)} bytes exceeds the cap of {MAX_RAW_ADDRESS_BYTES}"
                )
        elif len(self.value) != _FIXED_ADDRESS_LENGTHS[self.kind]:
            raise ValueError(
                f"MultiAddress::{self.kind.variant} needs {_FIXED_ADDRESS_LENGTHS[self.kind]} bytes, "
                f"not {len(self.value)}"
            )

    @classmethod
    def id(cls, account: bytes) -> MultiAddress:
        return cls(AddressKind.ID, account)

    @property
    def account_id(self) -> bytes:
        """The 32-byte account this address names; `Id` and `Address32` are the only variants that name one."""
        if self.kind is AddressKind.ID or self.kind is AddressKind.ADDRESS32:
            return self.value
        raise UnsupportedSignerAddress(self)

    def encode(self) -> bytes:
        tag = bytes([self.kind])
        if self.kind is AddressKind.INDEX:
            return tag + encode_compact(self.value)
        if self.kind is AddressKind.RAW:
            return tag + encode_compact(len(self.value)) + self.value
        return tag + self.value

    @staticmethod
    def decode_from(r: Reader) -> MultiAddress:
        tag = r.u8()
        if tag > max(AddressKind):
            raise ExtrinsicDecodeError(f"unknown MultiAddress variant {tag}; Id (0) to Address20 (4) exist")
        kind = AddressKind(tag)
        if kind is AddressKind.INDEX:
            index = r.compact()
            if index >= 1 << 32:
                raise ExtrinsicDecodeError(f"MultiAddress::Index {index} does not fit u32")
            return MultiAddress(kind, index)
        if kind is AddressKind.RAW:
            length = r.compact()
            if length > MAX_RAW_ADDRESS_BYTES:
                raise ExtrinsicDecodeError(
                    f"MultiAddress::Raw of {length} bytes exceeds the cap of {MAX_RAW_ADDRESS_BYTES}"
                )
            return MultiAddress(kind, r.read(length))
        return MultiAddress(kind, r.read(_FIXED_ADDRESS_LENGTHS[kind]))


SIGNATURE_LENGTHS = {s: s.signature_len for s in SignatureScheme}  # MultiSignature: Ed25519, Sr25519, Ecdsa
ED25519 = SignatureScheme.ED25519
_SCHEMES = tuple(SignatureScheme)  # by index, for the decoder


@dataclass(frozen=True)
class Signature:
    """`scheme` is the MultiSignature variant. Ed25519 and Sr25519 verify; Ecdsa decodes too, so a wallet
    that signs with it hears "unsupported signature scheme" rather than "undecodable" or "bad signature".
    Likewise every `address` variant decodes and `signer` says which ones cannot be looked up."""

    address: MultiAddress
    signature: bytes
    era: Era
    nonce: int
    tip: int
    scheme: SignatureScheme = ED25519

    @property
    def signer(self) -> bytes:
        """The signing account; raises UnsupportedSignerAddress unless the address is `Id` or `Address32`."""
        return self.address.account_id


@dataclass(frozen=True)
class UncheckedExtrinsic:
    """A decoded extrinsic; `call` is the raw `pallet_index ++ call_index ++ args` bytes."""

    call: bytes
    signature: Signature | None = None

    @property
    def is_signed(self) -> bool:
        return self.signature is not None

    def encode(self) -> bytes:
        if self.signature is None:
            body = bytes([EXTRINSIC_VERSION]) + self.call
        else:
            s = self.signature
            body = (
                bytes([EXTRINSIC_VERSION | SIGNED_BIT])
                + s.address.encode()
                + bytes([s.scheme])
                + s.signature
                + s.era.encode()
                + encode_compact(s.nonce)
                + encode_compact(s.tip)
                + self.call
            )
        return encode_compact(len(body)) + body

    @property
    def hash(self) -> bytes:
        return blake2_256(self.encode())

    @staticmethod
    def decode(data: bytes) -> UncheckedExtrinsic:
        """Decode one length-prefixed extrinsic that must fill `data` exactly."""
        if len(data) > MAX_EXTRINSIC_BYTES + 5:
            raise ExtrinsicDecodeError(
                f"extrinsic of {len(data)} bytes exceeds the cap of {MAX_EXTRINSIC_BYTES}"
            )
        r = Reader(data)
        length = r.compact()
        if length != r.remaining:
            raise ExtrinsicDecodeError(f"length prefix says {length} bytes but {r.remaining} follow")
        version = r.u8()
        if version & 0x7F != EXTRINSIC_VERSION:
            raise ExtrinsicDecodeError(f"unsupported extrinsic version {version & 0x7F}; this chain speaks 4")
        if not version & SIGNED_BIT:
            call = r.read(r.remaining)
            if len(call) < 2:
                raise ExtrinsicDecodeError("call is shorter than its pallet and call indices")
            return UncheckedExtrinsic(call)
        address = MultiAddress.decode_from(r)
        sig_kind = r.u8()
        if sig_kind >= len(_SCHEMES):
            raise ExtrinsicDecodeError(f"unknown MultiSignature variant {sig_kind}")
        scheme = _SCHEMES[sig_kind]
        sig = r.read(SIGNATURE_LENGTHS[scheme])
        era = Era.decode_from(r)
        nonce = r.compact()
        tip = r.compact()
        if nonce >= 1 << 32:
            raise ExtrinsicDecodeError(f"nonce {nonce} does not fit u32")
        if tip >= 1 << 128:
            raise ExtrinsicDecodeError(f"tip {tip} does not fit u128")
        call = r.read(r.remaining)
        if len(call) < 2:
            raise ExtrinsicDecodeError("call is shorter than its pallet and call indices")
        return UncheckedExtrinsic(call, Signature(address, sig, era, nonce, tip, scheme))


def signing_payload(
    call: bytes,
    era: Era,
    nonce: int,
    tip: int,
    spec_version: int,
    tx_version: int,
    genesis_hash: bytes,
    birth_hash: bytes,
) -> bytes:
    payload = (
        call
        + era.encode()
        + encode_compact(nonce)
        + encode_compact(tip)
        + u32(spec_version)
        + u32(tx_version)
        + genesis_hash
        + birth_hash
    )
    return blake2_256(payload) if len(payload) > 256 else payload


def verify_extrinsic(
    xt: UncheckedExtrinsic, spec_version: int, tx_version: int, genesis_hash: bytes, birth_hash: bytes
) -> bool:
    """Whether the signature verifies; raises UnsupportedSignerAddress for a signer with no account and
    UnsupportedScheme for an Ecdsa signature."""
    s = xt.signature
    assert s is not None
    payload = signing_payload(
        xt.call, s.era, s.nonce, s.tip, spec_version, tx_version, genesis_hash, birth_hash
    )
    return verify_signature(s.scheme, s.signer, payload, s.signature)


def sign_extrinsic(
    keypair: Signer,
    call: bytes,
    *,
    nonce: int,
    spec_version: int,
    tx_version: int,
    genesis_hash: bytes,
    era: Era = Era(),
    birth_hash: bytes | None = None,
    tip: int = 0,
) -> UncheckedExtrinsic:
    """Build a signed extrinsic with a keypair of either scheme. `birth_hash` is the era's birth block hash
    (the genesis hash if immortal)."""
    if birth_hash is None:
        if not era.is_immortal:
            raise ValueError("a mortal era needs the hash of its birth block")
        birth_hash = genesis_hash
    payload = signing_payload(call, era, nonce, tip, spec_version, tx_version, genesis_hash, birth_hash)
    return UncheckedExtrinsic(
        call,
        Signature(MultiAddress.id(keypair.public), keypair.sign(payload), era, nonce, tip, keypair.scheme),
    )
