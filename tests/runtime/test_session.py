"""Session.Validators and the Aura slot digest: clients find a block's author as validators[slot % n], and that
author is the account the runtime pays the block's fees to; a digest naming anyone else is refused."""

from __future__ import annotations

import dataclasses

import pytest

from chain.primitives.codec import Reader
from chain.primitives.crypto import dev_keypair
from chain.primitives.types import Block, DigestItem, DigestKind
from runtime.block_builder import BlockImportError, build_block, execute_block
from runtime.block_builder import author_digest as named_author_digest
from runtime.pallets import balances, session, staking
from runtime.pallets.session import AURA_ENGINE_ID, AuthorDigestError, Validators, author_digest
from tests.runtime.conftest import ALICE, BOB, CHARLIE, make_ext

UNIT = 10**12
LOCAL_VALIDATORS = [dev_keypair(n).public for n in ("Alice", "Bob", "Charlie", "Dave")]


def transfer(t, signer, nonce: int) -> bytes:
    call = (
        bytes([balances.transfer_keep_alive.pallet.index, balances.transfer_keep_alive.index])
        + b"\x00"
        + BOB.public
        + b"\x02\x09\x3d\x00"
    )  # MultiAddress::Id(Bob), Compact(1_000_000)
    return t.signed(signer, call, nonce)


def slot_of(item: DigestItem) -> int:
    assert (item.kind, item.engine) == (DigestKind.PRE_RUNTIME, AURA_ENGINE_ID)
    return Reader(item.payload).u64()


def build(t, digest, extrinsics=()):
    return build_block(
        t.runtime,
        t.chain.backend,
        t.head_hash,
        t.number + 1,
        t.now_ms + 2_000,
        extrinsics,
        t.chain.root_after,
        digest,
    )


def test_genesis_session_validators_are_the_active_consensus_keys():
    for chain, expected in (("dev", LOCAL_VALIDATORS[:1]), ("local", LOCAL_VALIDATORS)):
        t = make_ext(chain)
        with t.ext():
            active = [key for _stash, key, _stake in staking.ActiveValidators.get()]
            assert Validators.get() == active and sorted(active) == sorted(expected)


def test_each_validator_gets_the_slot_that_clients_map_back_to_it():
    t = make_ext("local")
    with t.ext():
        validators = Validators.get()
    n = len(validators)
    for i, key in enumerate(validators):
        slot = slot_of(author_digest(t.chain.backend, 7, key))
        assert slot == 7 * n + i and validators[slot % n] == key


def test_the_slot_named_author_receives_the_fees(ext):
    digest = (author_digest(ext.chain.backend, 1, ALICE.public),)
    with ext.ext():
        alice = balances.free_balance(ALICE.public)
    built = build(ext, digest, [transfer(ext, CHARLIE, 0)])
    (fee,) = [e.args[1] for _, e in built.finalized.events if e.name == "TransactionFeePaid"]
    execute_block(ext.runtime, ext.chain.backend, built.block, ext.chain.root_after)
    ext.chain.commit(built.finalized.changes)
    ext.head_hash, ext.number = built.block.hash, 1
    ext.open_block()
    with ext.ext():
        assert fee > 0 and balances.free_balance(ALICE.public) == alice + fee


def test_an_author_outside_the_validator_set_is_named_outright(ext):
    assert author_digest(ext.chain.backend, 1, CHARLIE.public) == named_author_digest(CHARLIE.public)


def test_invalid_block_whose_slot_and_named_author_disagree():
    """A proposer cannot show clients one author and pay another: the aura slot names Alice, the gcbf
    digest names Charlie."""
    t = make_ext()
    good = build(t, (author_digest(t.chain.backend, 1, ALICE.public),))
    forged = dataclasses.replace(
        good.block.header, digest=good.block.header.digest + (named_author_digest(CHARLIE.public),)
    )
    with pytest.raises(BlockImportError, match="invalid author digest: .*aura slot names validator"):
        execute_block(t.runtime, t.chain.backend, Block(forged, good.block.extrinsics), t.chain.root_after)


def test_agreeing_slot_and_named_author_are_accepted(ext):
    digest = (author_digest(ext.chain.backend, 1, ALICE.public), named_author_digest(ALICE.public))
    built = build(ext, digest)
    execute_block(ext.runtime, ext.chain.backend, built.block, ext.chain.root_after)


@pytest.mark.parametrize(
    "payload, match",
    [
        (
            (5).to_bytes(8, "little"),
            "not a slot of block 1",
        ),  # block 1 of a one-validator chain has slot 1 only
        (b"\x01\x00\x00\x00", "not a u64 slot"),
    ],
)
def test_invalid_aura_digest(payload, match):
    t = make_ext()
    with pytest.raises(AuthorDigestError, match=match):
        build(t, (DigestItem(DigestKind.PRE_RUNTIME, payload, AURA_ENGINE_ID),))


def test_invalid_two_aura_digests():
    t = make_ext()
    item = author_digest(t.chain.backend, 1, ALICE.public)
    with pytest.raises(AuthorDigestError, match="2 PreRuntime digests"):
        build(t, (item, item))


def test_validators_follow_the_active_set_when_staking_changes_it(ext):
    with ext.ext():
        staking.ActiveValidators.put([(CHARLIE.public, BOB.public, 10**18)])
        session.on_initialize(ext.number + 1)
        assert Validators.get() == [BOB.public]
