"""Balances calls: effects, events, and every error leaving state untouched."""

from __future__ import annotations

from runtime.frame.support import ROOT, BadOrigin
from runtime.pallets import balances
from runtime.pallets.balances import (
    BalancesError,
    force_transfer,
    transfer_all,
    transfer_allow_death,
    transfer_keep_alive,
)
from runtime.pallets.system import Account
from tests.runtime.conftest import ALICE, BOB, FRESH, assert_noop

UNIT = 10**12
ED = 10_000_000_000


def free(t, who) -> int:
    with t.ext():
        return balances.free_balance(who)


def issuance(t) -> int:
    with t.ext():
        return balances.total_issuance()


def test_transfer_allow_death_moves_funds(ext):
    before = free(ext, BOB.public)
    ext.call(ALICE, transfer_allow_death, BOB.public, 3 * UNIT)
    assert free(ext, BOB.public) == before + 3 * UNIT
    assert ("Balances", "Transfer", (ALICE.public, BOB.public, 3 * UNIT)) in ext.events()


def test_transfer_creates_account_with_events(ext):
    ext.call(ALICE, transfer_keep_alive, FRESH, ED)
    names = [(p, n) for p, n, _ in ext.events()]
    assert names == [("System", "NewAccount"), ("Balances", "Endowed"), ("Balances", "Transfer")]
    with ext.ext():
        assert Account.get(FRESH).providers == 1


def test_transfer_allow_death_reaps_sender_and_burns_dust(ext):
    ext.call(ALICE, transfer_keep_alive, FRESH, ED + 5)
    total = issuance(ext)
    ext.call(FRESH, transfer_allow_death, BOB.public, 10)
    with ext.ext():
        assert not Account.contains(FRESH)
    assert issuance(ext) == total - (ED - 5)
    assert ("Balances", "DustLost", (FRESH, ED - 5)) in ext.events()
    assert ("System", "KilledAccount", (FRESH,)) in ext.events()


def test_transfer_all_keep_alive_leaves_existential_deposit(ext):
    ext.call(ALICE, transfer_all, BOB.public, True)
    assert free(ext, ALICE.public) == ED


def test_force_transfer_by_root(ext):
    ext.call(ROOT, force_transfer, ALICE.public, BOB.public, UNIT)
    assert free(ext, BOB.public) == 1_000_001 * UNIT


def test_invalid_force_transfer_by_signed_origin(ext):
    with assert_noop(ext, BadOrigin):
        ext.call(ALICE, force_transfer, ALICE.public, BOB.public, UNIT)


def test_invalid_transfer_more_than_free(ext):
    with assert_noop(ext, BalancesError.InsufficientBalance):
        ext.call(ALICE, transfer_allow_death, BOB.public, 10**30)


def test_invalid_keep_alive_transfer_that_would_kill(ext):
    with assert_noop(ext, BalancesError.Expendability):
        ext.call(ALICE, transfer_keep_alive, BOB.public, free(ext, ALICE.public) - 1)


def test_invalid_transfer_below_existential_deposit_to_new_account(ext):
    with assert_noop(ext, BalancesError.ExistentialDeposit) as e:
        ext.call(ALICE, transfer_allow_death, FRESH, ED - 1)
    assert str(ED) in str(e.value)


def test_reserve_unreserve_and_slash_keep_issuance_consistent(ext):
    with ext.ext():
        total = balances.total_issuance()
        balances.reserve(ALICE.public, 5 * UNIT)
        assert balances.reserved_balance(ALICE.public) == 5 * UNIT
        assert balances.unreserve(ALICE.public, 7 * UNIT) == 2 * UNIT
        balances.reserve(ALICE.public, 5 * UNIT)
        assert balances.slash_reserved(ALICE.public, UNIT) == UNIT
        assert balances.repatriate_reserved(ALICE.public, BOB.public, UNIT, to_free=True) == 0
        assert balances.slash(ALICE.public, UNIT) == UNIT
        assert balances.total_issuance() == total - 2 * UNIT


def test_invalid_repatriate_to_dead_account(ext):
    with ext.ext():
        balances.reserve(ALICE.public, UNIT)
    with assert_noop(ext, BalancesError.DeadAccount), ext.ext():
        balances.repatriate_reserved(ALICE.public, FRESH, UNIT, to_free=True)


def test_error_encodes_as_module_error(ext):
    err = BalancesError.InsufficientBalance("x")
    assert err.encode() == bytes([3, 2, 2, 0, 0, 0])
