"""Random sequences of balance and staking operations never create money or lose track of it.

Each rule predicts, from the accounts as they were before it, whether it fails and exactly how much total
issuance falls; the invariant then checks that issuance is the sum of all balances and equals the
prediction. Issuance falls only by what is burned: slashes, and the dust of an account a change reaps (left
with free balance below the existential deposit and nothing reserved). Reserving, unreserving, bonding,
unbonding and withdrawing unbonded stake move money inside one account, so they burn nothing but such dust.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from runtime.frame.pallet import with_transaction
from runtime.frame.support import DispatchError, Origin
from runtime.frame.types import PERBILL
from runtime.pallets import balances, staking
from runtime.pallets.balances import BalancesError
from runtime.pallets.staking import StakingConfig, StakingError
from runtime.pallets.system import Account, AccountInfo
from tests.runtime.conftest import make_ext

ED = 10_000_000_000
ACCOUNTS = [bytes([i]) * 32 for i in range(1, 6)]
amounts = st.one_of(st.integers(0, 3 * ED), st.integers(0, 10**16))
dust = st.integers(1, ED - 1)
who = st.sampled_from(ACCOUNTS)


def reaped_dust(before: AccountInfo, free: int, reserved: int) -> int:
    """What reaping burns when a change leaves a live account with `free` and `reserved`."""
    return free if before.providers and reserved == 0 and free < ED else 0


def transfer_outcome(
    src: AccountInfo, dst: AccountInfo, value: int, keep_alive: bool, to_self: bool
) -> tuple[type[DispatchError] | None, int]:
    """The error a transfer fails with (or None) and the dust it burns, by the rules in `balances`."""
    if value == 0 or to_self:
        return (BalancesError.InsufficientBalance if src.free < value else None), 0
    if src.free < value:
        return BalancesError.InsufficientBalance, 0
    if keep_alive and src.free - value < ED and src.reserved == 0:
        return BalancesError.Expendability, 0
    if not dst.providers and value < ED:
        return BalancesError.ExistentialDeposit, 0
    return None, reaped_dust(src, src.free - value, src.reserved)


class IssuanceMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.t = make_ext()
        with self.t.ext():
            for a in ACCOUNTS:
                balances.deposit_creating(a, 10**15)
            self.expected = balances.total_issuance()

    def _account(self, a: bytes) -> AccountInfo:
        with self.t.ext():
            return Account.get(a)

    def _ledger(self, a: bytes) -> staking.Ledger | None:
        with self.t.ext():
            return staking.Ledgers.get(a)

    def _direct(self, fn, *args):
        """Run a currency function all or nothing: (its result, None) or (None, the DispatchError)."""
        with self.t.ext():
            return with_transaction(fn, *args)  # the runtime's own all-or-nothing, as dispatch uses

    def _signed(self, call, sender: bytes, *args) -> DispatchError | None:
        try:
            self.t.call(Origin.signed(sender), call, *args)
        except DispatchError as e:
            return e
        return None

    def _transfer(self, src: bytes, dst: bytes, value: int, keep_alive: bool) -> None:
        predicted_error, burned = transfer_outcome(
            self._account(src), self._account(dst), value, keep_alive, src == dst
        )
        call = balances.transfer_keep_alive if keep_alive else balances.transfer_allow_death
        error = self._signed(call, src, dst, value)
        assert type(error) is predicted_error if predicted_error else error is None, error
        self.expected -= burned

    @rule(src=who, dst=who, value=amounts, keep_alive=st.booleans())
    def transfer(self, src, dst, value, keep_alive):
        self._transfer(src, dst, value, keep_alive)

    @rule(src=who, dst=who, left=dust)
    def transfer_leaving_dust(self, src, dst, left):
        """Send all but `left` (below the existential deposit) with allow_death: the sender is reaped."""
        self._transfer(src, dst, max(self._account(src).free - left, 0), keep_alive=False)

    @rule(a=who, value=amounts)
    def reserve(self, a, value):
        before = self._account(a)
        _, error = self._direct(balances.reserve, a, value)
        assert (type(error) is BalancesError.InsufficientBalance) if before.free < value else error is None
        if error is None:
            self.expected -= reaped_dust(before, before.free - value, before.reserved + value)

    @rule(a=who, value=amounts)
    def unreserve(self, a, value):
        before = self._account(a)
        moved = min(value, before.reserved)
        remainder, _ = self._direct(balances.unreserve, a, value)
        assert remainder == value - moved
        if moved:
            self.expected -= reaped_dust(before, before.free + moved, before.reserved - moved)

    @rule(a=who, value=amounts)
    def slash(self, a, value):
        before = self._account(a)
        from_free = min(value, before.free)
        from_reserved = min(value - from_free, before.reserved)
        burned, _ = self._direct(balances.slash, a, value)
        assert burned == from_free + from_reserved
        if burned:
            self.expected -= burned + reaped_dust(
                before, before.free - from_free, before.reserved - from_reserved
            )

    @rule(a=who, value=amounts)
    def bond(self, a, value):
        already, free = self._ledger(a) is not None, self._account(a).free
        predicted = (
            StakingError.AlreadyBonded
            if already
            else StakingError.InsufficientBond
            if value == 0
            else BalancesError.InsufficientBalance
            if free < value
            else None
        )
        error = self._signed(staking.bond, a, value)
        assert type(error) is predicted if predicted else error is None, error

    @rule(a=who, value=amounts)
    def unbond(self, a, value):
        ledger = self._ledger(a)
        limit = self.t.runtime.configs[StakingConfig].max_unlocking_chunks
        predicted = (
            StakingError.NotStash
            if ledger is None
            else StakingError.NoMoreChunks
            if len(ledger.unlocking) >= limit
            else None
        )
        error = self._signed(staking.unbond, a, value)
        assert type(error) is predicted if predicted else error is None, error

    @rule(a=who)
    def withdraw(self, a):
        with self.t.ext():
            epoch = staking.CurrentEpoch.get() + 1
            staking.CurrentEpoch.put(epoch)
        before, ledger = self._account(a), self._ledger(a)
        ready = sum(c.value for c in ledger.unlocking if c.era <= epoch) if ledger else 0
        predicted = (
            StakingError.NotStash
            if ledger is None
            else StakingError.NoUnlockChunk
            if ready == 0 and ledger.total != 0
            else None
        )
        error = self._signed(staking.withdraw_unbonded, a)
        assert type(error) is predicted if predicted else error is None, error
        moved = min(ready, before.reserved) if error is None else 0
        if moved:
            self.expected -= reaped_dust(before, before.free + moved, before.reserved - moved)

    @rule(a=who, fraction=st.integers(0, PERBILL))
    def slash_stake(self, a, fraction):
        before, ledger = self._account(a), self._ledger(a)
        bonded = ledger.active + sum(c.value for c in ledger.unlocking) if ledger else 0
        predicted = min(ledger.total * fraction // PERBILL, bonded, before.reserved) if ledger else 0
        burned, _ = self._direct(staking.slash, a, fraction)
        assert burned == predicted
        if burned:
            self.expected -= burned + reaped_dust(before, before.free, before.reserved - burned)

    @invariant()
    def issuance_is_the_sum_of_balances(self):
        with self.t.ext():
            total = 0
            for a in ACCOUNTS:
                info = Account.get(a)
                assert info.free >= 0 and info.reserved >= 0
                total += info.free + info.reserved
            rest = sum(info.free + info.reserved for k, info in Account.iter() if k not in ACCOUNTS)
            assert total + rest == balances.total_issuance() == self.expected

    @invariant()
    def every_stored_account_is_alive(self):
        with self.t.ext():
            assert all(info.free >= ED or info.reserved for _, info in Account.iter())


IssuanceMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestIssuance = IssuanceMachine.TestCase


def test_dust_transfer_rule_reaps_the_sender_and_burns_the_dust():
    machine = IssuanceMachine()
    src, dst = ACCOUNTS[:2]
    with machine.t.ext():
        issuance = balances.total_issuance()
    machine.transfer_leaving_dust(src, dst, ED - 1)
    with machine.t.ext():
        assert not Account.contains(src)
        assert balances.total_issuance() == issuance - (ED - 1)
    assert ("Balances", "DustLost", (src, ED - 1)) in machine.t.events()
    machine.issuance_is_the_sum_of_balances()


def test_unreserve_that_reaps_burns_only_the_dust():
    """An account whose free balance was slashed away, unreserving its last 3 units, is reaped with them."""
    machine = IssuanceMachine()
    a = ACCOUNTS[0]
    machine.reserve(a, 10**15 - 5)
    machine.slash(a, 10**15 - 3)  # all 5 free, then all but 3 reserved
    with machine.t.ext():
        issuance = balances.total_issuance()
    machine.unreserve(a, 3)
    with machine.t.ext():
        assert not Account.contains(a) and balances.total_issuance() == issuance - 3
    machine.issuance_is_the_sum_of_balances()
