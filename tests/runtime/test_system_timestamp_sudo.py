"""System, Timestamp and Sudo calls."""

from __future__ import annotations

import pytest

from runtime.block_builder import timestamp_inherent
from runtime.frame.pallet import Call
from runtime.frame.support import BadOrigin
from runtime.pallets import sudo as sudo_pallet
from runtime.pallets import system, timestamp
from runtime.pallets.balances import force_transfer
from runtime.pallets.sudo import SudoError, set_key, sudo
from runtime.pallets.timestamp import TimestampDrift, TimestampError, check_drift
from runtime.validity import BadMandatory
from tests.runtime.conftest import ALICE, BOB, assert_noop

UNIT = 10**12


def test_remark_with_event(ext):
    ext.call(ALICE, system.remark_with_event, b"hello")
    assert ext.events()[-1][1] == "Remarked"


def test_invalid_remark_unsigned(ext):
    with assert_noop(ext), pytest.raises(BadOrigin):
        ext.call(None, system.remark, b"x")


def test_timestamp_set_once_per_block(ext):
    ext.produce_block()
    with ext.ext():
        assert timestamp.now() == ext.now_ms
    from runtime.frame.support import NONE
    ext.call(NONE, timestamp.set, ext.now_ms + 5_000)
    with assert_noop(ext), pytest.raises(TimestampError.AlreadySet):
        ext.call(NONE, timestamp.set, ext.now_ms + 10_000)


def test_invalid_timestamp_too_early(ext):
    from runtime.frame.support import NONE
    ext.produce_block()
    with assert_noop(ext), pytest.raises(TimestampError.TooEarly):
        ext.call(NONE, timestamp.set, ext.now_ms + 10)


def test_invalid_block_without_timestamp_first(ext):
    with pytest.raises(BadMandatory):
        ext.executive.apply_extrinsic(ext.signed(ALICE, bytes([0, 0, 0]), 0))


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
    with assert_noop(ext), pytest.raises(SudoError.RequireSudo):
        ext.call(BOB, sudo, Call(system.remark, (b"",)))


def test_set_key(ext):
    ext.call(ALICE, set_key, BOB.public)
    with ext.ext():
        assert sudo_pallet.Key.get() == BOB.public
