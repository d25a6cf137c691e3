"""Extrinsics and headers agree byte for byte with py-substrate-interface and scalecodec, both ways."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scalecodec.base import RuntimeConfiguration, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset
from substrateinterface import Keypair as SubstrateKeypair
from substrateinterface import KeypairType

from chain.primitives import crypto
from chain.primitives.codec import DecodeError, Reader, encode_compact
from chain.primitives.extrinsic import (
    Era,
    ExtrinsicDecodeError,
    UncheckedExtrinsic,
    sign_extrinsic,
    signing_payload,
    verify_extrinsic,
)
from chain.primitives.hashing import blake2_256
from chain.primitives.types import Block, DigestItem, DigestKind, Header

RC = RuntimeConfiguration()
RC.update_type_registry(load_type_registry_preset("legacy"))
GENESIS = bytes(range(32))
BIRTH = bytes(range(32, 64))
SPEC, TXV = 100, 1
BOB = crypto.dev_keypair("Bob").public


def scale(type_string, value):
    return RC.create_scale_object(type_string).encode(value).data


def transfer_call(dest: bytes, amount: int) -> bytes:
    """Balances(5).transfer_keep_alive(3) composed with scalecodec's types."""
    return b"\x05\x03" + scale("MultiAddress", {"Id": "0x" + dest.hex()}) + scale("Compact<Balance>", amount)


def substrate_signed_transfer(era_value, nonce, tip, birth):
    """Build a signed v4 transfer the way py-substrate-interface does: its types, its Ed25519 Keypair."""
    kp = SubstrateKeypair.create_from_seed("0x" + crypto.dev_keypair("Alice").seed.hex(),
                                           crypto_type=KeypairType.ED25519)
    call = transfer_call(BOB, 12345)
    era = scale("Era", era_value)
    extra = era + scale("Compact<Index>", nonce) + scale("Compact<Balance>", tip)
    payload = call + extra + scale("u32", SPEC) + scale("u32", TXV) + GENESIS + birth
    if len(payload) > 256:
        payload = blake2_256(payload)
    signature = kp.sign(payload)
    body = (b"\x84" + scale("MultiAddress", {"Id": "0x" + kp.public_key.hex()})
            + scale("MultiSignature", {"Ed25519": "0x" + signature.hex()}) + extra + call)
    return kp, call, scale("Compact<u32>", len(body)) + body


@pytest.mark.parametrize("era_value, birth", [("00", GENESIS), ({"period": 64, "current": 1000}, BIRTH)])
def test_substrate_built_transfer_decodes_and_verifies(era_value, birth):
    kp, call, raw = substrate_signed_transfer(era_value, nonce=7, tip=3, birth=birth)
    xt = UncheckedExtrinsic.decode(raw)
    assert xt.signature.signer == kp.public_key
    assert xt.call == call and xt.signature.nonce == 7 and xt.signature.tip == 3
    assert verify_extrinsic(xt, SPEC, TXV, GENESIS, birth)
    assert not verify_extrinsic(xt, SPEC + 1, TXV, GENESIS, birth)
    assert xt.encode() == raw


def test_gradchain_built_transfer_decodes_in_scalecodec():
    alice = crypto.dev_keypair("Alice")
    era = Era.mortal(64, 1000)
    xt = sign_extrinsic(alice, transfer_call(BOB, 12345), nonce=9, tip=5, spec_version=SPEC, tx_version=TXV,
                        genesis_hash=GENESIS, era=era, birth_hash=BIRTH)
    raw = xt.encode()
    body = raw[len(encode_compact(len(raw) - 1)) if len(raw) < 65 else 2:]
    assert body[0] == 0x84
    decoded_era = RC.create_scale_object("Era", data=ScaleBytes(era.encode())).decode()
    assert decoded_era == (64, 1000 % 64)
    sig_obj = RC.create_scale_object("MultiSignature", data=ScaleBytes(body[34:99]))
    assert sig_obj.decode() == {"Ed25519": "0x" + xt.signature.signature.hex()}
    theirs = SubstrateKeypair(public_key=alice.public, crypto_type=KeypairType.ED25519, ss58_format=42)
    payload = signing_payload(xt.call, era, 9, 5, SPEC, TXV, GENESIS, BIRTH)
    assert theirs.verify(payload, xt.signature.signature)


@given(st.sampled_from([4, 8, 64, 1024, 4096, 65536]), st.integers(min_value=0, max_value=2**32))
def test_era_matches_scalecodec(period, current):
    era = Era.mortal(period, current)
    assert era.encode() == scale("Era", {"period": period, "current": current})
    decoded = Era.decode_from(Reader(era.encode()))
    assert decoded == era
    assert era.birth(current) <= current < era.death(current)


def test_sr25519_signature_decodes_but_never_verifies():
    kp, call, raw = substrate_signed_transfer("00", nonce=0, tip=0, birth=GENESIS)
    body = raw[2:] if raw[0] & 3 == 1 else raw[1:]
    sr = body[:34] + b"\x01" + body[35:]
    xt = UncheckedExtrinsic.decode(encode_compact(len(sr)) + sr)
    assert xt.signature.scheme == 1
    assert not verify_extrinsic(xt, SPEC, TXV, GENESIS, GENESIS)


def test_long_payload_is_hashed():
    long_call = b"\x00\x00" + b"\x01" * 300
    payload = signing_payload(long_call, Era(), 0, 0, SPEC, TXV, GENESIS, GENESIS)
    assert len(payload) == 32


def test_header_hash_matches_scalecodec():
    header = Header(GENESIS, 1234, BIRTH, blake2_256(b"x"),
                    (DigestItem(DigestKind.PRE_RUNTIME, b"\x01\x02", b"gcbf"), DigestItem(DigestKind.OTHER, b"z")))
    obj = RC.create_scale_object("Header", data=ScaleBytes(header.encode()))
    value = obj.decode()
    assert value["number"] == 1234
    assert value["parent_hash"] == "0x" + GENESIS.hex()
    assert len(value["digest"]["logs"]) == 2
    assert Header.decode(header.encode()) == header


def test_block_round_trip():
    alice = crypto.dev_keypair("Alice")
    xts = tuple(sign_extrinsic(alice, transfer_call(BOB, i), nonce=i, spec_version=SPEC, tx_version=TXV,
                               genesis_hash=GENESIS).encode() for i in range(3))
    block = Block(Header(GENESIS, 1, BIRTH, BIRTH), xts)
    assert Block.decode(block.encode()) == block


@pytest.mark.parametrize("raw, reason", [
    (b"\x08\x05\x00", "version"),
    (b"\x0c\x84\x01\x00", "MultiAddress"),
    (encode_compact(99) + b"\x84\x00" + b"\x11" * 32 + b"\x03" + b"\x00" * 64, "MultiSignature"),
    (b"\x10\x04\x05", "length prefix"),
    (b"\x08\x04\x05", "shorter"),
])
def test_invalid_extrinsics_rejected_with_reason(raw, reason):
    with pytest.raises(ExtrinsicDecodeError, match=reason):
        UncheckedExtrinsic.decode(raw)


DECODERS = [UncheckedExtrinsic.decode, Header.decode, Block.decode]


@pytest.mark.parametrize("decode", DECODERS, ids=lambda f: f.__qualname__)
@settings(max_examples=10_000)
@given(st.binary(max_size=300))
def test_fuzz_decoders_raise_only_decode_error(decode, data):
    try:
        decode(data)
    except DecodeError:
        pass


@settings(max_examples=10_000)
@given(st.binary(min_size=0, max_size=200))
def test_fuzz_structured_extrinsic_prefix(tail):
    """Start from a valid signed prefix so the fuzzer reaches the era, nonce, tip and call branches."""
    prefix = b"\x84\x00" + b"\x11" * 32 + b"\x00" + b"\x22" * 64
    data = encode_compact(len(prefix) + len(tail)) + prefix + tail
    try:
        UncheckedExtrinsic.decode(data)
    except DecodeError:
        pass
