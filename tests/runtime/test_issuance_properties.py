"""Random sequences of balance and staking operations never create money or lose track of it."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from runtime.frame.support import DispatchError, Origin
from runtime.pallets import balances, staking
from runtime.pallets.system import Account
from tests.runtime.conftest import make_ext

ED = 10_000_000_000
ACCOUNTS = [bytes([i]) * 32 for i in range(1, 6)]
amounts = st.one_of(st.integers(0, 3 * ED), st.integers(0, 10**16))
who = st.sampled_from(ACCOUNTS)


class IssuanceMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.t = make_ext()
        with self.t.ext():
            for a in ACCOUNTS:
                balances.deposit_creating(a, 10**15)
            self.expected = balances.total_issuance()

    def _try(self, fn, *args):
        try:
            self.t.call(None, fn, *args) if hasattr(fn, "fn") else self._direct(fn, *args)
        except DispatchError:
            pass

    def _direct(self, fn, *args):
        with self.t.ext():
            self.t.state.begin()
            try:
                result = fn(*args)
            except DispatchError:
                self.t.state.rollback()
                raise
            self.t.state.commit()
            return result

    def _signed(self, call, sender, *args):
        try:
            self.t.call(Origin.signed(sender), call, *args)
        except DispatchError:
            pass

    @rule(src=who, dst=who, value=amounts, keep_alive=st.booleans())
    def transfer(self, src, dst, value, keep_alive):
        with self.t.ext():
            before = balances.total_issuance()
        call = balances.transfer_keep_alive if keep_alive else balances.transfer_allow_death
        self._signed(call, src, dst, value)
        with self.t.ext():
            burned = before - balances.total_issuance()
            dust = sum(e.args[1] for _, e in self.t.executive.env.events[-4:] if e.name == "DustLost")
        assert burned in (0, dust)  # a transfer burns nothing but the reaped sender's dust
        self.expected -= burned

    @rule(a=who, value=amounts)
    def reserve(self, a, value):
        try:
            self._direct(balances.reserve, a, value)
        except DispatchError:
            pass

    @rule(a=who, value=amounts)
    def unreserve(self, a, value):
        with self.t.ext():
            before = balances.total_issuance()
        self._direct(balances.unreserve, a, value)
        with self.t.ext():
            self.expected -= before - balances.total_issuance()

    @rule(a=who, value=amounts)
    def slash(self, a, value):
        burned = self._direct(balances.slash, a, value)
        self.expected -= burned

    @rule(a=who, value=amounts)
    def bond(self, a, value):
        self._signed(staking.bond, a, value)

    @rule(a=who, value=amounts)
    def unbond(self, a, value):
        self._signed(staking.unbond, a, value)

    @rule(a=who)
    def withdraw(self, a):
        with self.t.ext():
            staking.CurrentEpoch.put(staking.CurrentEpoch.get() + 1)
            before = balances.total_issuance()
        self._signed(staking.withdraw_unbonded, a)
        with self.t.ext():
            self.expected -= before - balances.total_issuance()

    @rule(a=who, fraction=st.integers(0, 10**9))
    def slash_stake(self, a, fraction):
        burned = self._direct(staking.slash, a, fraction)
        self.expected -= burned

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


IssuanceMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestIssuance = IssuanceMachine.TestCase
