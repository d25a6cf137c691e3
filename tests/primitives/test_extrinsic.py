"""Extrinsics and headers agree byte for byte with py-substrate-interface and scalecodec, both ways."""

import dataclasses

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
    MAX_RAW_ADDRESS_BYTES,
    AddressKind,
    Era,
    ExtrinsicDecodeError,
    MultiAddress,
    UncheckedExtrinsic,
    UnsupportedSignerAddress,
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
    kp = SubstrateKeypair.create_from_seed(
        "0x" + crypto.dev_keypair("Alice").seed.hex(), crypto_type=KeypairType.ED25519
    )
    call = transfer_call(BOB, 12345)
    era = scale("Era", era_value)
    extra = era + scale("Compact<Index>", nonce) + scale("Compact<Balance>", tip)
    payload = call + extra + scale("u32", SPEC) + scale("u32", TXV) + GENESIS + birth
    if len(payload) > 256:
        payload = blake2_256(payload)
    signature = kp.sign(payload)
    body = (
        b"\x84"
        + scale("MultiAddress", {"Id": "0x" + kp.public_key.hex()})
        + scale("MultiSignature", {"Ed25519": "0x" + signature.hex()})
        + extra
        + call
    )
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


def scalecodec_decode_next(stream: ScaleBytes, type_string: str):
    """Decode one value of `type_string` from where `stream` stands, advancing it past that value."""
    return RC.create_scale_object(type_string, data=stream).decode(check_remaining=False)


@pytest.mark.parametrize("era, birth", [(Era(), GENESIS), (Era.mortal(64, 1000), BIRTH)])
def test_gradchain_built_transfer_decodes_in_scalecodec(era, birth):
    """scalecodec reads every field of the gradchain-built extrinsic, in order, and finds what was encoded."""
    alice = crypto.dev_keypair("Alice")
    xt = sign_extrinsic(
        alice,
        transfer_call(BOB, 12345),
        nonce=9,
        tip=5,
        spec_version=SPEC,
        tx_version=TXV,
        genesis_hash=GENESIS,
        era=era,
        birth_hash=None if era.is_immortal else birth,
    )
    raw = xt.encode()
    stream = ScaleBytes(raw)
    length = scalecodec_decode_next(stream, "Compact<u32>")
    assert length == len(raw) - stream.offset
    assert scalecodec_decode_next(stream, "u8") == 0x84
    assert scalecodec_decode_next(stream, "MultiAddress") == "0x" + alice.public.hex()
    assert scalecodec_decode_next(stream, "MultiSignature") == {
        "Ed25519": "0x" + xt.signature.signature.hex()
    }
    assert scalecodec_decode_next(stream, "Era") == ("00" if era.is_immortal else (64, 1000 % 64))
    assert scalecodec_decode_next(stream, "Compact<Index>") == 9
    assert scalecodec_decode_next(stream, "Compact<Balance>") == 5
    call_start = stream.offset
    assert [scalecodec_decode_next(stream, "u8") for _ in range(2)] == [5, 3]
    assert scalecodec_decode_next(stream, "MultiAddress") == "0x" + BOB.hex()
    assert scalecodec_decode_next(stream, "Compact<Balance>") == 12345
    assert stream.offset == stream.length
    assert raw[call_start:] == xt.call
    theirs = SubstrateKeypair(public_key=alice.public, crypto_type=KeypairType.ED25519, ss58_format=42)
    payload = signing_payload(xt.call, era, 9, 5, SPEC, TXV, GENESIS, birth)
    assert theirs.verify(payload, xt.signature.signature)


# ---- MultiAddress -----------------------------------------------------------------------------------------

ADDRESS_EXAMPLES = [
    (MultiAddress(AddressKind.ID, b"\x11" * 32), {"Id": "0x" + "11" * 32}),
    (MultiAddress(AddressKind.INDEX, 2**32 - 1), {"Index": 2**32 - 1}),
    (MultiAddress(AddressKind.RAW, b"\x01\x02\x03"), {"Raw": "0x010203"}),
    (MultiAddress(AddressKind.RAW, b""), {"Raw": "0x"}),
    (MultiAddress(AddressKind.ADDRESS32, b"\x22" * 32), {"Address32": "0x" + "22" * 32}),
    (MultiAddress(AddressKind.ADDRESS20, b"\x33" * 20), {"Address20": "0x" + "33" * 20}),
]


def scalecodec_value(address: MultiAddress) -> dict:
    value = address.value if address.kind is AddressKind.INDEX else "0x" + address.value.hex()
    return {address.kind.variant: value}


addresses = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: MultiAddress(AddressKind.ID, b)),
    st.integers(min_value=0, max_value=2**32 - 1).map(lambda i: MultiAddress(AddressKind.INDEX, i)),
    st.binary(max_size=MAX_RAW_ADDRESS_BYTES).map(lambda b: MultiAddress(AddressKind.RAW, b)),
    st.binary(min_size=32, max_size=32).map(lambda b: MultiAddress(AddressKind.ADDRESS32, b)),
    st.binary(min_size=20, max_size=20).map(lambda b: MultiAddress(AddressKind.ADDRESS20, b)),
)


@pytest.mark.parametrize(
    "address, theirs", ADDRESS_EXAMPLES, ids=[a.kind.variant for a, _ in ADDRESS_EXAMPLES]
)
def test_every_multiaddress_variant_scalecodec_encodes_decodes_here(address, theirs):
    encoded = scale("MultiAddress", theirs)
    r = Reader(encoded)
    assert MultiAddress.decode_from(r) == address and r.remaining == 0
    assert address.encode() == encoded


@settings(max_examples=300)
@given(addresses)
def test_multiaddress_round_trips_and_matches_scalecodec(address):
    encoded = address.encode()
    assert encoded == scale("MultiAddress", scalecodec_value(address))
    r = Reader(encoded)
    assert MultiAddress.decode_from(r) == address and r.remaining == 0


@settings(max_examples=200)
@given(
    addresses, st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=0, max_value=2**128 - 1)
)
def test_extrinsic_with_any_signer_address_round_trips(address, nonce, tip):
    """Every address decodes and re-encodes byte for byte; only Id and Address32 resolve to a signer."""
    signed = sign_extrinsic(
        crypto.dev_keypair("Alice"),
        transfer_call(BOB, 1),
        nonce=nonce,
        tip=tip,
        spec_version=SPEC,
        tx_version=TXV,
        genesis_hash=GENESIS,
    )
    xt = UncheckedExtrinsic(signed.call, dataclasses.replace(signed.signature, address=address))
    decoded = UncheckedExtrinsic.decode(xt.encode())
    assert decoded == xt and decoded.encode() == xt.encode()
    if address.kind in (AddressKind.ID, AddressKind.ADDRESS32):
        assert decoded.signature.signer == address.value
    else:
        with pytest.raises(UnsupportedSignerAddress, match=f"MultiAddress::{address.kind.variant} signer"):
            _ = decoded.signature.signer


def test_address32_signer_is_the_same_account_as_id_and_verifies():
    alice = crypto.dev_keypair("Alice")
    signed = sign_extrinsic(
        alice, transfer_call(BOB, 1), nonce=0, spec_version=SPEC, tx_version=TXV, genesis_hash=GENESIS
    )
    as32 = dataclasses.replace(signed.signature, address=MultiAddress(AddressKind.ADDRESS32, alice.public))
    xt = UncheckedExtrinsic.decode(UncheckedExtrinsic(signed.call, as32).encode())
    assert xt.signature.signer == alice.public
    assert verify_extrinsic(xt, SPEC, TXV, GENESIS, GENESIS)


@pytest.mark.parametrize("kind", [AddressKind.INDEX, AddressKind.RAW, AddressKind.ADDRESS20])
def test_invalid_signer_lookup_names_the_variant(kind):
    value = {AddressKind.INDEX: 7, AddressKind.RAW: b"\x01", AddressKind.ADDRESS20: b"\x02" * 20}[kind]
    with pytest.raises(
        UnsupportedSignerAddress, match=f"MultiAddress::{kind.variant} signer cannot be looked up"
    ) as e:
        _ = MultiAddress(kind, value).account_id
    assert e.value.address.kind is kind


@pytest.mark.parametrize(
    "encoded, reason",
    [
        (b"\x05" + b"\x00" * 32, "unknown MultiAddress variant 5"),
        (
            b"\x02" + encode_compact(MAX_RAW_ADDRESS_BYTES + 1) + b"\x00" * (MAX_RAW_ADDRESS_BYTES + 1),
            "Raw of 65 bytes exceeds the cap of 64",
        ),
        (b"\x02" + encode_compact(2**30), "Raw of 1073741824 bytes exceeds"),
        (b"\x01" + encode_compact(2**32), "Index 4294967296 does not fit u32"),
        (b"\x04" + b"\x00" * 19, "need 20 bytes"),
        (b"\x03" + b"\x00" * 31, "need 32 bytes"),
    ],
)
def test_invalid_multiaddress_rejected_with_reason(encoded, reason):
    with pytest.raises(DecodeError, match=reason):
        MultiAddress.decode_from(Reader(encoded))


@pytest.mark.parametrize(
    "kind, value",
    [
        (AddressKind.ID, b"\x00" * 31),
        (AddressKind.INDEX, 2**32),
        (AddressKind.RAW, b"\x00" * 65),
        (AddressKind.ADDRESS20, b"\x00" * 32),
        (AddressKind.ADDRESS32, 5),
    ],
)
def test_invalid_multiaddress_cannot_be_built(kind, value):
    with pytest.raises(ValueError, match=kind.variant):
        MultiAddress(kind, value)


@given(st.sampled_from([4, 8, 64, 1024, 4096, 65536]), st.integers(min_value=0, max_value=2**32))
def test_era_matches_scalecodec(period, current):
    era = Era.mortal(period, current)
    assert era.encode() == scale("Era", {"period": period, "current": current})
    decoded = Era.decode_from(Reader(era.encode()))
    assert decoded == era
    assert era.birth(current) <= current < era.death(current)


def substrate_sr25519_signed_transfer(nonce: int):
    """A signed v4 transfer built with py-substrate-interface's default Keypair, `create_from_uri('//Alice')`
    (Sr25519), its types and its MultiSignature::Sr25519 encoding."""
    kp = SubstrateKeypair.create_from_uri("//Alice")
    call = transfer_call(BOB, 12345)
    extra = scale("Era", "00") + scale("Compact<Index>", nonce) + scale("Compact<Balance>", 0)
    signature = kp.sign(call + extra + scale("u32", SPEC) + scale("u32", TXV) + GENESIS + GENESIS)
    body = (
        b"\x84"
        + scale("MultiAddress", {"Id": "0x" + kp.public_key.hex()})
        + scale("MultiSignature", {"Sr25519": "0x" + signature.hex()})
        + extra
        + call
    )
    return kp, scale("Compact<u32>", len(body)) + body


def test_sr25519_signature_from_substrate_interface_verifies():
    kp, raw = substrate_sr25519_signed_transfer(nonce=3)
    xt = UncheckedExtrinsic.decode(raw)
    assert xt.signature.scheme == crypto.SignatureScheme.SR25519 and xt.signature.signer == kp.public_key
    assert verify_extrinsic(xt, SPEC, TXV, GENESIS, GENESIS)
    assert not verify_extrinsic(xt, SPEC + 1, TXV, GENESIS, GENESIS)


def test_sr25519_signed_by_us_matches_substrate_interface_encoding():
    ours = crypto.sr25519_dev_keypair("Alice")
    xt = sign_extrinsic(
        ours, transfer_call(BOB, 12345), nonce=3, spec_version=SPEC, tx_version=TXV, genesis_hash=GENESIS
    )
    _, theirs = substrate_sr25519_signed_transfer(nonce=3)
    # Sr25519 signatures are randomized: everything but the 64 signature bytes is identical
    assert xt.encode()[:37] == theirs[:37] and xt.encode()[101:] == theirs[101:]
    assert UncheckedExtrinsic.decode(xt.encode()) == xt
    assert SubstrateKeypair.create_from_uri("//Alice").verify(
        signing_payload(xt.call, Era(), 3, 0, SPEC, TXV, GENESIS, GENESIS), xt.signature.signature
    )


def signed_with(scheme: crypto.SignatureScheme) -> UncheckedExtrinsic:
    keypair = (
        crypto.dev_keypair("Alice")
        if scheme is crypto.SignatureScheme.ED25519
        else crypto.sr25519_dev_keypair("Alice")
    )
    return sign_extrinsic(
        keypair, transfer_call(BOB, 12345), nonce=0, spec_version=SPEC, tx_version=TXV, genesis_hash=GENESIS
    )


@pytest.mark.parametrize("scheme", crypto.KEY_SCHEMES, ids=lambda s: s.variant)
def test_invalid_signature_with_any_one_bit_flipped_does_not_verify(scheme):
    xt = signed_with(scheme)
    assert verify_extrinsic(xt, SPEC, TXV, GENESIS, GENESIS)
    for bit in range(8 * len(xt.signature.signature)):
        flipped = bytearray(xt.signature.signature)
        flipped[bit // 8] ^= 1 << (bit % 8)
        bad = UncheckedExtrinsic(xt.call, dataclasses.replace(xt.signature, signature=bytes(flipped)))
        decoded = UncheckedExtrinsic.decode(bad.encode())
        assert not verify_extrinsic(decoded, SPEC, TXV, GENESIS, GENESIS), f"bit {bit} flipped still verifies"


def test_signature_of_one_scheme_does_not_verify_as_the_other():
    xt = signed_with(crypto.SignatureScheme.SR25519)
    as_ed25519 = dataclasses.replace(xt.signature, scheme=crypto.SignatureScheme.ED25519)
    assert not verify_extrinsic(UncheckedExtrinsic(xt.call, as_ed25519), SPEC, TXV, GENESIS, GENESIS)
    xt = signed_with(crypto.SignatureScheme.ED25519)
    as_sr25519 = dataclasses.replace(xt.signature, scheme=crypto.SignatureScheme.SR25519)
    assert not verify_extrinsic(UncheckedExtrinsic(xt.call, as_sr25519), SPEC, TXV, GENESIS, GENESIS)


def test_ecdsa_signature_decodes_and_is_refused_as_unsupported():
    xt = signed_with(crypto.SignatureScheme.ED25519)
    body = xt.encode()[2:]
    ecdsa = body[:34] + b"\x02" + body[35:99] + b"\x00" + body[99:]  # a 65-byte MultiSignature::Ecdsa
    decoded = UncheckedExtrinsic.decode(encode_compact(len(ecdsa)) + ecdsa)
    assert decoded.signature.scheme == crypto.SignatureScheme.ECDSA and len(decoded.signature.signature) == 65
    assert decoded.call == xt.call and decoded.encode() == encode_compact(len(ecdsa)) + ecdsa
    with pytest.raises(crypto.UnsupportedScheme, match="Ecdsa signatures are not supported"):
        verify_extrinsic(decoded, SPEC, TXV, GENESIS, GENESIS)


def test_invalid_multisignature_variant_is_undecodable():
    body = bytearray(signed_with(crypto.SignatureScheme.ED25519).encode()[2:])
    body[34] = 3
    with pytest.raises(ExtrinsicDecodeError, match="unknown MultiSignature variant 3"):
        UncheckedExtrinsic.decode(encode_compact(len(body)) + bytes(body))


def test_long_payload_is_hashed():
    long_call = b"\x00\x00" + b"\x01" * 300
    payload = signing_payload(long_call, Era(), 0, 0, SPEC, TXV, GENESIS, GENESIS)
    assert len(payload) == 32


def test_header_hash_matches_scalecodec():
    header = Header(
        GENESIS,
        1234,
        BIRTH,
        blake2_256(b"x"),
        (DigestItem(DigestKind.PRE_RUNTIME, b"\x01\x02", b"gcbf"), DigestItem(DigestKind.OTHER, b"z")),
    )
    obj = RC.create_scale_object("Header", data=ScaleBytes(header.encode()))
    value = obj.decode()
    assert value["number"] == 1234
    assert value["parent_hash"] == "0x" + GENESIS.hex()
    assert len(value["digest"]["logs"]) == 2
    assert Header.decode(header.encode()) == header


def test_block_round_trip():
    alice = crypto.dev_keypair("Alice")
    xts = tuple(
        sign_extrinsic(
            alice, transfer_call(BOB, i), nonce=i, spec_version=SPEC, tx_version=TXV, genesis_hash=GENESIS
        ).encode()
        for i in range(3)
    )
    block = Block(Header(GENESIS, 1, BIRTH, BIRTH), xts)
    assert Block.decode(block.encode()) == block


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"\x08\x05\x00", "version"),
        (b"\x0c\x84\x05\x00", "MultiAddress variant 5"),
        (encode_compact(99) + b"\x84\x00" + b"\x11" * 32 + b"\x03" + b"\x00" * 64, "MultiSignature"),
        (b"\x10\x04\x05", "length prefix"),
        (b"\x08\x04\x05", "shorter"),
    ],
)
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
