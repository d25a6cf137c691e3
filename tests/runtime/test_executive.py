"""The executive: fees and nonces on success and failure, pool validation rejections, block import checks."""

from __future__ import annotations

import dataclasses

import pytest

from chain.primitives import calls
from chain.primitives.extrinsic import Era
from chain.primitives.types import Block
from runtime import apis
from runtime import validity as v
from runtime.block_builder import BlockImportError, execute_block
from runtime.pallets import balances
from runtime.pallets.system import Account
from runtime.validity import TransactionSource
from tests.runtime.conftest import ALICE, BOB, CHARLIE, make_ext, stored_dispatch_errors

UNIT = 10**12


def transfer_call(dest: bytes, value: int) -> bytes:
    return calls.Balances.transfer_keep_alive(dest, value)


def validate(t, raw):
    return apis.validate_transaction(t.runtime, t.chain.backend, TransactionSource.EXTERNAL, raw, t.head_hash)


def test_failed_call_pays_fee_bumps_nonce_and_reports(ext):
    raw = ext.signed(ALICE, transfer_call(BOB.public, 10**30), 0)
    with ext.ext():
        before = balances.free_balance(ALICE.public)
    built = ext.produce_block([raw], author=CHARLIE.public)
    events = [(e.pallet, e.name) for _, e in built.finalized.events]
    assert ("System", "ExtrinsicFailed") in events and ("Balances", "Transfer") not in events
    (error,) = [e.args[0] for _, e in built.finalized.events if e.name == "ExtrinsicFailed"]
    assert type(error) is balances.BalancesError.InsufficientBalance
    assert stored_dispatch_errors(ext) == [
        (2, 2)
    ]  # Module { index: Balances = 2, error: InsufficientBalance = 2 }
    fee = [e for _, e in built.finalized.events if e.name == "TransactionFeePaid"][0].args[1]
    with ext.ext():
        assert Account.get(ALICE.public).nonce == 1
        assert balances.free_balance(ALICE.public) == before - fee


def test_fee_burned_without_author(ext):
    with ext.ext():
        total = balances.total_issuance()
    ext.produce_block([ext.signed(ALICE, transfer_call(BOB.public, UNIT), 0)])
    with ext.ext():
        assert balances.total_issuance() < total


def test_validate_gives_tags_and_priority(ext):
    valid = validate(ext, ext.signed(ALICE, transfer_call(BOB.public, UNIT), 0, tip=1000))
    assert valid.provides == [ALICE.public + (0).to_bytes(4, "little")] and valid.requires == []
    assert valid.priority > 1000
    future = validate(ext, ext.signed(ALICE, transfer_call(BOB.public, UNIT), 2))
    assert future.requires == [ALICE.public + (1).to_bytes(4, "little")]


def test_invalid_stale_nonce(ext):
    ext.produce_block([ext.signed(ALICE, transfer_call(BOB.public, UNIT), 0)])
    with pytest.raises(v.Stale, match="nonce 0 is stale: the account's next nonce is 1"):
        validate(ext, ext.signed(ALICE, transfer_call(BOB.public, UNIT), 0))


def test_invalid_future_nonce_in_block(ext):
    built = ext.produce_block([ext.signed(ALICE, transfer_call(BOB.public, UNIT), 5)])
    assert isinstance(built.rejected[0][1], v.Future)


@pytest.mark.parametrize("field", ["genesis", "spec_version", "key"])
def test_invalid_bad_proof(ext, field):
    kwargs = {"genesis": {"genesis_hash": bytes(32)}, "spec_version": {"spec_version": 99}, "key": {}}[field]
    raw = ext.signed(ALICE, transfer_call(BOB.public, UNIT), 0, **kwargs)
    if field == "key":
        raw = raw[:40] + bytes([raw[40] ^ 1]) + raw[41:]
    with pytest.raises(v.BadProof):
        validate(ext, raw)


def test_invalid_payment(ext):
    with pytest.raises(v.Payment, match="cannot be paid from a free balance of 0"):
        validate(ext, ext.signed(_fresh_keypair(), transfer_call(BOB.public, UNIT), 0))


def _fresh_keypair():
    from chain.primitives.crypto import Keypair

    return Keypair.from_seed(bytes(32))


def test_invalid_ancient_birth_block(ext):
    from runtime.pallets.system import SystemConfig

    ext.runtime.configs[SystemConfig] = dataclasses.replace(
        ext.runtime.configs[SystemConfig], block_hash_count=2
    )
    for _ in range(7):
        ext.produce_block()
    era = Era(64, 1)  # born at block 1, whose hash is no longer kept
    raw = ext.signed(ALICE, transfer_call(BOB.public, UNIT), 0, era=era, birth_hash=bytes(32))
    with pytest.raises(v.AncientBirthBlock):
        validate(ext, raw)


def test_invalid_exhausts_resources(ext):
    from runtime.pallets.system import SystemConfig

    ext.runtime.configs[SystemConfig] = dataclasses.replace(
        ext.runtime.configs[SystemConfig], max_block_length=1000
    )
    size = 900  # normal calls may fill 75% of the block's length
    call = calls.System.remark(bytes(size))
    with pytest.raises(v.ExhaustsResources):
        validate(ext, ext.signed(ALICE, call, 0))


def test_invalid_undecodable(ext):
    with pytest.raises(v.Call):
        validate(ext, b"\x08\x04\xff")


def test_invalid_unsigned_non_inherent(ext):
    from chain.primitives.extrinsic import UncheckedExtrinsic

    raw = UncheckedExtrinsic(transfer_call(BOB.public, UNIT)).encode()
    with pytest.raises(v.NoUnsignedValidator):
        validate(ext, raw)


def test_validity_errors_encode_substrate_indices():
    assert v.Stale("x").encode() == b"\x00\x03"
    assert v.NoUnsignedValidator("x").encode() == b"\x01\x01"
    assert v.Payment.rpc_message.startswith("Inability to pay")


def test_execute_block_rejects_wrong_state_root(ext):
    built = ext.produce_block([ext.signed(ALICE, transfer_call(BOB.public, UNIT), 0)])
    fresh = make_ext()
    entries_before, root_before = dict(fresh.chain.backend.entries), fresh.chain.root
    bad = Block(dataclasses.replace(built.block.header, state_root=bytes(32)), built.block.extrinsics)
    with pytest.raises(BlockImportError, match="state root"):
        execute_block(fresh.runtime, fresh.chain.backend, bad, fresh.chain.root_after)
    assert dict(fresh.chain.backend.entries) == entries_before
    assert fresh.chain.root == root_before


def test_execute_block_rejects_wrong_extrinsics_root(ext):
    built = ext.produce_block()
    fresh = make_ext()
    bad = Block(dataclasses.replace(built.block.header, extrinsics_root=bytes(32)), built.block.extrinsics)
    with pytest.raises(BlockImportError, match="extrinsics root"):
        execute_block(fresh.runtime, fresh.chain.backend, bad, fresh.chain.root_after)


def test_runtime_apis(ext):
    ext.produce_block([ext.signed(ALICE, transfer_call(BOB.public, UNIT), 0)])
    assert apis.account_nonce(ext.runtime, ext.chain.backend, ALICE.public) == 1
    assert apis.metadata_versions() == [14, 15]
    assert apis.metadata_at_version(ext.runtime, 15)[4] == 15
    assert apis.metadata_at_version(ext.runtime, 16) is None
    raw = ext.signed(ALICE, transfer_call(BOB.public, UNIT), 1)
    info = apis.query_info(ext.runtime, ext.chain.backend, raw, len(raw))
    assert info["class"] == "Normal" and info["partialFee"] > 0
    assert apis.query_info_encoded(ext.runtime, ext.chain.backend, raw, len(raw))
