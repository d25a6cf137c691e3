"""Substrate's UncheckedExtrinsic, version 4, with Ed25519 signatures and mortal or immortal eras.

Layout: `Compact(len) ++ 0x84 ++ MultiAddress::Id(account) ++ MultiSignature::Ed25519(sig) ++ era
++ Compact(nonce) ++ Compact(tip) ++ call`; unsigned: `Compact(len) ++ 0x04 ++ call`.
The signed payload is `call ++ era ++ Compact(nonce) ++ Compact(tip) ++ spec_version ++ tx_version
++ genesis_hash ++ era_birth_block_hash`, hashed with blake2-256 when longer than 256 bytes.
This module is the hand-written hot path; tests prove it byte-identical with scalecodec.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.primitives.codec import DecodeError, Reader, encode_compact, u32
from chain.primitives.crypto import Keypair, verify
from chain.primitives.hashing import blake2_256

EXTRINSIC_VERSION = 4
SIGNED_BIT = 0x80
MAX_EXTRINSIC_BYTES = 4 * 1024 * 1024
MAX_ERA_PERIOD = 1 << 16


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


SIGNATURE_LENGTHS = {0: 64, 1: 64, 2: 65}  # MultiSignature: Ed25519, Sr25519, Ecdsa
ED25519 = 0


@dataclass(frozen=True)
class Signature:
    """`scheme` is the MultiSignature variant; only Ed25519 (0) ever verifies on this chain, but the other
    variants decode, so a wallet that signs with them hears "bad signature" rather than "undecodable"."""

    signer: bytes
    signature: bytes
    era: Era
    nonce: int
    tip: int
    scheme: int = ED25519


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
            body = (bytes([EXTRINSIC_VERSION | SIGNED_BIT]) + b"\x00" + s.signer + bytes([s.scheme]) + s.signature
                    + s.era.encode() + encode_compact(s.nonce) + encode_compact(s.tip) + self.call)
        return encode_compact(len(body)) + body

    @property
    def hash(self) -> bytes:
        return blake2_256(self.encode())

    @staticmethod
    def decode(data: bytes) -> UncheckedExtrinsic:
        """Decode one length-prefixed extrinsic that must fill `data` exactly."""
        if len(data) > MAX_EXTRINSIC_BYTES + 5:
            raise ExtrinsicDecodeError(f"extrinsic of {len(data)} bytes exceeds the cap of {MAX_EXTRINSIC_BYTES}")
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
        address_kind = r.u8()
        if address_kind != 0:
            raise ExtrinsicDecodeError(f"unsupported MultiAddress variant {address_kind}; only Id (0) is accepted")
        signer = r.read(32)
        sig_kind = r.u8()
        if sig_kind not in SIGNATURE_LENGTHS:
            raise ExtrinsicDecodeError(f"unknown MultiSignature variant {sig_kind}")
        sig = r.read(SIGNATURE_LENGTHS[sig_kind])
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
        return UncheckedExtrinsic(call, Signature(signer, sig, era, nonce, tip, sig_kind))


def signing_payload(call: bytes, era: Era, nonce: int, tip: int, spec_version: int, tx_version: int,
                    genesis_hash: bytes, birth_hash: bytes) -> bytes:
    payload = (call + era.encode() + encode_compact(nonce) + encode_compact(tip) + u32(spec_version)
               + u32(tx_version) + genesis_hash + birth_hash)
    return blake2_256(payload) if len(payload) > 256 else payload


def verify_extrinsic(xt: UncheckedExtrinsic, spec_version: int, tx_version: int, genesis_hash: bytes,
                     birth_hash: bytes) -> bool:
    s = xt.signature
    assert s is not None
    if s.scheme != ED25519:
        return False
    payload = signing_payload(xt.call, s.era, s.nonce, s.tip, spec_version, tx_version, genesis_hash, birth_hash)
    return verify(s.signer, payload, s.signature)


def sign_extrinsic(keypair: Keypair, call: bytes, *, nonce: int, spec_version: int, tx_version: int,
                   genesis_hash: bytes, era: Era = Era(), birth_hash: bytes | None = None,
                   tip: int = 0) -> UncheckedExtrinsic:
    """Build a signed extrinsic. `birth_hash` is the era's birth block hash (the genesis hash if immortal)."""
    if birth_hash is None:
        if not era.is_immortal:
            raise ValueError("a mortal era needs the hash of its birth block")
        birth_hash = genesis_hash
    payload = signing_payload(call, era, nonce, tip, spec_version, tx_version, genesis_hash, birth_hash)
    return UncheckedExtrinsic(call, Signature(keypair.public, keypair.sign(payload), era, nonce, tip))
