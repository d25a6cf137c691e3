"""The block weight limit: the builder leaves out what would exceed it, and import refuses a block that does.

Normal calls may use `normal_ratio_percent` of `max_block_weight`, operational calls all of it; the weight
already used counts every class, the mandatory timestamp inherent's included.
"""

from __future__ import annotations

import dataclasses

import pytest

from chain.primitives.types import Block, Header
from chain.storage.trie import ordered_trie_root
from runtime import apis
from runtime import validity as v
from runtime.block_builder import BlockImportError, execute_block, timestamp_inherent
from runtime.frame.pallet import Call
from runtime.frame.support import Weight
from runtime.pallets import system
from runtime.pallets.balances import TRANSFER_WEIGHT, transfer_allow_death
from runtime.pallets.sudo import sudo_unchecked_weight
from runtime.pallets.system import Account, SystemConfig
from runtime.validity import TransactionSource
from tests.runtime.conftest import ALICE, BOB

UNIT = 10**12
TIMESTAMP_WEIGHT = 10_000_000


def transfer(t, nonce: int) -> bytes:
    return t.signed(ALICE, Call(transfer_allow_death, (BOB.public, UNIT)).encode(), nonce)


def declaring(t, weight: int, nonce: int = 0) -> bytes:
    """Alice's sudo call whose declared (operational) weight is `weight`."""
    inner = Call(system.remark, (b"",))
    return t.signed(ALICE, Call(sudo_unchecked_weight, (inner, Weight(weight))).encode(), nonce)


@pytest.fixture
def two_transfer_block(ext):
    """A chain whose normal limit (75% of 200M) fits the timestamp and two transfers (10M + 2 * 60M), not three."""
    cfg = ext.runtime.configs[SystemConfig]
    ext.runtime.configs[SystemConfig] = dataclasses.replace(cfg, max_block_weight=200_000_000)
    assert TRANSFER_WEIGHT.ref_time == 60_000_000
    return ext


def test_builder_leaves_out_the_normal_extrinsic_that_would_exceed_the_weight_limit(two_transfer_block):
    t = two_transfer_block
    third = transfer(t, 2)
    built = t.produce_block([transfer(t, 0), transfer(t, 1), third])
    assert len(built.block.extrinsics) == 3  # the timestamp and two transfers
    [(raw, error)] = built.skipped  # left in the pool for a later block, not rejected
    assert built.rejected == [] and raw == third and type(error) is v.ExhaustsResources
    assert "weight 60000000 on top of 130000000 used exceeds the block's 150000000 for normal calls" in str(
        error
    )
    used = system.BlockWeight.value.decode_bytes(t.chain.backend.get(system.BlockWeight.prefix))
    assert (
        used["normal"].ref_time == 2 * TRANSFER_WEIGHT.ref_time
        and used["mandatory"].ref_time == TIMESTAMP_WEIGHT
    )
    assert [e.name for _, e in built.finalized.events].count("TransactionFeePaid") == 2
    with t.ext():
        assert Account.get(ALICE.public).nonce == 2  # the left-out transfer neither paid nor used its nonce
    assert t.produce_block([third]).rejected == []


def test_invalid_import_of_a_block_over_the_weight_limit(two_transfer_block):
    t = two_transfer_block
    extrinsics = (timestamp_inherent(t.now_ms + 2_000), transfer(t, 0), transfer(t, 1), transfer(t, 2))
    header = Header(t.head_hash, 1, bytes(32), ordered_trie_root(list(extrinsics)), ())
    entries = dict(t.chain.backend.entries)
    with pytest.raises(BlockImportError, match="extrinsic 3 cannot be applied: ExhaustsResources"):
        execute_block(t.runtime, t.chain.backend, Block(header, extrinsics), t.chain.root_after)
    assert dict(t.chain.backend.entries) == entries


def test_operational_extrinsic_may_fill_the_block_weight_exactly(ext):
    room = ext.runtime.configs[SystemConfig].max_block_weight - TIMESTAMP_WEIGHT
    built = ext.produce_block([declaring(ext, room)])
    assert built.rejected == [] and len(built.block.extrinsics) == 2


def test_invalid_operational_extrinsic_over_the_block_weight(ext):
    room = ext.runtime.configs[SystemConfig].max_block_weight - TIMESTAMP_WEIGHT
    built = ext.produce_block([declaring(ext, room + 1)])
    [(_, error)] = built.skipped
    assert type(error) is v.ExhaustsResources and len(built.block.extrinsics) == 1
    with ext.ext():
        assert Account.get(ALICE.public).nonce == 0


def test_invalid_pool_transaction_heavier_than_a_block(ext):
    heaviest = ext.runtime.configs[SystemConfig].max_block_weight
    source, head = TransactionSource.EXTERNAL, ext.head_hash
    apis.validate_transaction(ext.runtime, ext.chain.backend, source, declaring(ext, heaviest), head)
    with pytest.raises(v.ExhaustsResources):
        apis.validate_transaction(ext.runtime, ext.chain.backend, source, declaring(ext, heaviest + 1), head)
