"""Sr25519 accounts beside Ed25519 ones: funded at genesis, validated by the pool, included in blocks, charged
the fee `query_info` estimates; a flipped bit is a bad proof in either scheme, and Ecdsa is refused as an
unsupported scheme (UnknownTransaction::Custom), never as a bad signature."""

from __future__ import annotations

import dataclasses

import pytest

from chain.primitives import calls
from chain.primitives.crypto import (
    DEV_ACCOUNT_NAMES,
    KEY_SCHEMES,
    Keypair,
    SignatureScheme,
    Sr25519Keypair,
    UnsupportedScheme,
    dev_keypair,
    sr25519_dev_keypair,
)
from chain.primitives.extrinsic import UncheckedExtrinsic
from runtime import apis
from runtime import validity as v
from runtime.executive import verified_signature
from runtime.pallets.system import Account
from runtime.validity import TransactionSource
from tests.runtime.conftest import BOB, make_ext

UNIT = 10**12
ALICE_SR = sr25519_dev_keypair("Alice")


def transfer_call(dest: bytes, value: int) -> bytes:
    return calls.Balances.transfer_keep_alive(dest, value)


def validate(t, raw: bytes) -> v.ValidTransaction:
    return apis.validate_transaction(t.runtime, t.chain.backend, TransactionSource.EXTERNAL, raw, t.head_hash)


def alice(scheme: SignatureScheme):
    return dev_keypair("Alice") if scheme is SignatureScheme.ED25519 else ALICE_SR


def with_signature(raw: bytes, signature: bytes, scheme: SignatureScheme | None = None) -> bytes:
    xt = UncheckedExtrinsic.decode(raw)
    s = dataclasses.replace(
        xt.signature, signature=signature, scheme=xt.signature.scheme if scheme is None else scheme
    )
    return UncheckedExtrinsic(xt.call, s).encode()


@pytest.mark.parametrize("chain", ["dev", "local"])
def test_genesis_funds_the_sr25519_dev_accounts_beside_the_ed25519_ones(chain):
    t = make_ext(chain)
    with t.ext():
        for name in DEV_ACCOUNT_NAMES:
            for uri in (f"//{name}", f"//{name}//stash"):
                sr, ed = Sr25519Keypair.from_uri(uri), Keypair.from_uri(uri)
                sr_account, ed_account = Account.get(sr.public), Account.get(ed.public)
                assert sr_account.free == ed_account.free + ed_account.reserved > 0, (
                    uri
                )  # stashes have bonded
    assert ALICE_SR.ss58() == "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def test_sr25519_transfer_validates_is_included_and_pays_the_estimated_fee():
    t = make_ext()
    raw = t.signed(ALICE_SR, transfer_call(BOB.public, UNIT), 0)
    valid = validate(t, raw)
    assert valid.provides == [ALICE_SR.public + (0).to_bytes(4, "little")]
    estimate = apis.query_info(t.runtime, t.chain.backend, raw, len(raw))["partialFee"]
    with t.ext():
        before, bob_before = Account.get(ALICE_SR.public), Account.get(BOB.public)
    built = t.produce_block([raw])
    assert built.rejected == [] and len(built.block.extrinsics) == 2
    with t.ext():
        after, bob_after = Account.get(ALICE_SR.public), Account.get(BOB.public)
    assert after.nonce == 1 and before.free - after.free == UNIT + estimate
    assert bob_after.free == bob_before.free + UNIT
    ed_raw = t.signed(dev_keypair("Alice"), transfer_call(BOB.public, UNIT), 0)
    assert len(ed_raw) == len(raw)
    assert apis.query_info(t.runtime, t.chain.backend, ed_raw, len(ed_raw))["partialFee"] == estimate


@pytest.mark.parametrize("scheme", KEY_SCHEMES, ids=lambda s: s.variant)
@pytest.mark.parametrize("bit", [0, 7, 255, 256, 500, 511])
def test_invalid_signature_with_one_flipped_bit_is_a_bad_proof(scheme, bit):
    t = make_ext()
    raw = t.signed(alice(scheme), transfer_call(BOB.public, UNIT), 0)
    assert validate(t, raw)
    signature = bytearray(UncheckedExtrinsic.decode(raw).signature.signature)
    signature[bit // 8] ^= 1 << (bit % 8)
    bad = with_signature(raw, bytes(signature))
    with pytest.raises(v.BadProof) as raised:
        validate(t, bad)
    assert raised.value.encode() == b"\x00\x04"  # InvalidTransaction::BadProof
    # the fee estimate does not check signatures (wallets estimate with dummy ones), so it still answers
    assert apis.query_info(t.runtime, t.chain.backend, bad, len(bad))["partialFee"] > 0
    built = t.produce_block([bad])
    assert [(r, type(e)) for r, e in built.rejected] == [(bad, v.BadProof)] and len(
        built.block.extrinsics
    ) == 1


def test_invalid_ecdsa_is_refused_as_an_unsupported_scheme_everywhere():
    t = make_ext()
    raw = t.signed(dev_keypair("Alice"), transfer_call(BOB.public, UNIT), 0)
    ecdsa = with_signature(
        raw, UncheckedExtrinsic.decode(raw).signature.signature + b"\x00", SignatureScheme.ECDSA
    )
    with pytest.raises(v.UnsupportedSignatureScheme) as raised:
        validate(t, ecdsa)
    assert not isinstance(raised.value, v.BadProof)
    assert isinstance(raised.value, v.UnknownTransaction)
    assert raised.value.encode() == b"\x01\x02\x01"  # UnknownTransaction::Custom(1)
    assert "Ecdsa" in raised.value.rpc_message and "Ecdsa" in str(raised.value)
    with pytest.raises(v.UnsupportedSignatureScheme):  # the estimate agrees with the pool
        apis.query_info(t.runtime, t.chain.backend, ecdsa, len(ecdsa))
    built = t.produce_block([ecdsa])
    assert len(built.block.extrinsics) == 1  # only the timestamp inherent
    assert [(r, type(e)) for r, e in built.rejected] == [(ecdsa, v.UnsupportedSignatureScheme)]


def test_verified_signature_cache_is_keyed_by_scheme():
    message = b"payload"
    signature = ALICE_SR.sign(message)
    assert verified_signature(ALICE_SR.public, message, signature, SignatureScheme.SR25519)
    assert verified_signature(ALICE_SR.public, message, signature, SignatureScheme.SR25519)  # cached
    assert not verified_signature(ALICE_SR.public, message, signature)  # the default, Ed25519, is not fooled
    assert not verified_signature(ALICE_SR.public, message, signature, SignatureScheme.ED25519)
    with pytest.raises(UnsupportedScheme, match="Ecdsa"):
        verified_signature(ALICE_SR.public, message, signature + b"\x00", SignatureScheme.ECDSA)
