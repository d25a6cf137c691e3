"""System, Timestamp and Sudo calls."""

from __future__ import annotations

import pytest

from chain.primitives import calls
from chain.primitives.types import Block, Header
from chain.storage.trie import ordered_trie_root
from runtime.block_builder import BlockImportError, execute_block, timestamp_inherent
from runtime.frame.pallet import Call
from runtime.frame.support import NONE, BadOrigin, DispatchClass, DispatchInfo, Weight
from runtime.pallets import balances, system, timestamp
from runtime.pallets import sudo as sudo_pallet
from runtime.pallets.balances import force_transfer
from runtime.pallets.sudo import SudoError, set_key, sudo, sudo_unchecked_weight
from runtime.pallets.timestamp import TimestampDrift, TimestampError, check_drift
from runtime.validity import BadMandatory
from tests.runtime.conftest import ALICE, BOB, CHARLIE, assert_fails_in_block, assert_noop

UNIT = 10**12


def free(t, who: bytes) -> int:
    with t.ext():
        return balances.free_balance(who)


def test_remark_with_event(ext):
    ext.call(ALICE, system.remark_with_event, b"hello")
    assert ext.events()[-1][1] == "Remarked"


def test_invalid_remark_unsigned(ext):
    with assert_noop(ext, BadOrigin, match="came from a NONE origin"):
        ext.call(NONE, system.remark, b"x")


def test_timestamp_set_once_per_block(ext):
    ext.produce_block()
    with ext.ext():
        assert timestamp.now() == ext.now_ms
    ext.call(NONE, timestamp.set, ext.now_ms + 5_000)
    with assert_noop(ext, TimestampError.AlreadySet):
        ext.call(NONE, timestamp.set, ext.now_ms + 10_000)


def test_invalid_timestamp_too_early(ext):
    ext.produce_block()
    with assert_noop(ext, TimestampError.TooEarly):
        ext.call(NONE, timestamp.set, ext.now_ms + 10)


def test_invalid_block_without_timestamp_first(ext):
    with pytest.raises(BadMandatory):
        ext.executive.apply_extrinsic(ext.signed(ALICE, calls.System.remark(b""), 0))


def test_invalid_block_without_timestamp_inherent(ext):
    """Finalizing a block that never ran Timestamp.set fails with Missing and writes nothing."""
    with assert_noop(ext, TimestampError.Missing, match="block 1 has no Timestamp.set inherent"):
        ext.executive.finalize_block(ext.chain.root_after)


def test_invalid_import_of_block_without_timestamp_inherent(ext):
    header = Header(ext.head_hash, 1, bytes(32), ordered_trie_root([]), ())
    entries, root = dict(ext.chain.backend.entries), ext.chain.root
    with pytest.raises(BlockImportError, match="block #1 cannot be finalized: Missing") as e:
        execute_block(ext.runtime, ext.chain.backend, Block(header, ()), ext.chain.root_after)
    assert type(e.value.__cause__) is TimestampError.Missing
    assert dict(ext.chain.backend.entries) == entries and ext.chain.root == root


def test_invalid_second_timestamp_in_block(ext):
    ext.executive.apply_extrinsic(timestamp_inherent(ext.now_ms + 2_000))
    with pytest.raises(BadMandatory):
        ext.executive.apply_extrinsic(timestamp_inherent(ext.now_ms + 4_000))


def test_check_drift_is_the_nodes_clock_check():
    check_drift(1_000, 1_000, 0)
    with pytest.raises(TimestampDrift):
        check_drift(40_000, 1_000, 30_000)


def test_sudo_dispatches_as_root(ext):
    inner = Call(force_transfer, (BOB.public, ALICE.public, UNIT))
    ext.call(ALICE, sudo, inner)
    assert ("Sudo", "Sudid", (None,)) in ext.events()
    assert ("Balances", "Transfer", (BOB.public, ALICE.public, UNIT)) in ext.events()


def test_sudo_reports_inner_failure_and_rolls_it_back(ext):
    inner = Call(force_transfer, (BOB.public, ALICE.public, 10**30))
    before = ext.contents()
    ext.call(ALICE, sudo, inner)
    pallet, name, (result,) = ext.events()[-1]
    assert name == "Sudid" and type(result).__name__ == "InsufficientBalance"
    assert ext.contents() == before


def test_invalid_sudo_by_non_key(ext):
    with assert_noop(ext, SudoError.RequireSudo):
        ext.call(BOB, sudo, Call(system.remark, (b"",)))


def test_set_key(ext):
    ext.call(ALICE, set_key, BOB.public)
    with ext.ext():
        assert sudo_pallet.Key.get() == BOB.public


def test_sudo_unchecked_weight_dispatches_as_root_with_the_declared_weight(ext):
    declared = Weight(1_000)
    xt = Call(sudo_unchecked_weight, (Call(force_transfer, (BOB.public, CHARLIE.public, UNIT)), declared))
    assert xt.info() == DispatchInfo(declared, DispatchClass.OPERATIONAL)
    bob, charlie = free(ext, BOB.public), free(ext, CHARLIE.public)
    built = ext.produce_block([ext.signed(ALICE, xt.encode(), 0)])
    assert built.rejected == []
    events = [(e.pallet, e.name, e.args) for _, e in built.finalized.events]
    assert ("Sudo", "Sudid", (None,)) in events
    assert ("Balances", "Transfer", (BOB.public, CHARLIE.public, UNIT)) in events
    assert events[-1][:2] == ("System", "ExtrinsicSuccess") and events[-1][2][0].weight == declared
    assert (free(ext, BOB.public), free(ext, CHARLIE.public)) == (bob - UNIT, charlie + UNIT)


def test_invalid_sudo_unchecked_weight_by_non_key(ext):
    inner = Call(force_transfer, (BOB.public, CHARLIE.public, UNIT))
    with assert_noop(ext, SudoError.RequireSudo):
        ext.call(BOB, sudo_unchecked_weight, inner, Weight(1_000))


def test_invalid_sudo_unchecked_weight_by_non_key_in_block_still_pays_the_fee(ext):
    inner = Call(force_transfer, (ALICE.public, BOB.public, UNIT))
    xt = Call(sudo_unchecked_weight, (inner, Weight(1_000)))
    assert assert_fails_in_block(ext, BOB, xt, SudoError.RequireSudo) == (5, 0)  # Sudo = 5, RequireSudo = 0
