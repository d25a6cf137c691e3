"""Utility: batch, batch_all and force_batch dispatch with the batch's origin, keep Substrate's events and
weights, and batch_all is all or nothing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.primitives.codec import DecodeError, Reader
from runtime import validity as v
from runtime.composition import BY_NAME
from runtime.frame.pallet import RUNTIME_CALL, Call
from runtime.frame.support import NONE, ROOT, BadOrigin, DispatchClass, Weight
from runtime.pallets import balances, system
from runtime.pallets.balances import BalancesError, TotalIssuance, force_transfer, transfer_keep_alive
from runtime.pallets.sudo import sudo, sudo_unchecked_weight
from runtime.pallets.system import Account, SystemConfig
from runtime.pallets.utility import (
    BATCH_BASE,
    BATCHED_CALLS_LIMIT,
    PER_CALL,
    UtilityError,
    batch,
    batch_all,
    force_batch,
)
from runtime.validity import Undecodable
from tests.runtime.conftest import ALICE, BOB, CHARLIE, DAVE, assert_fails_in_block, assert_noop, make_ext

UNIT = 10**12
TOO_MUCH = 10**30


def pay(to: bytes, amount: int) -> Call:
    return Call(transfer_keep_alive, (to, amount))


def free(t, who: bytes) -> int:
    with t.ext():
        return balances.free_balance(who)


def utility_events(t) -> list[tuple[str, tuple]]:
    return [(name, args) for pallet, name, args in t.events() if pallet == "Utility"]


def test_batch_dispatches_each_call_with_the_signed_origin(ext):
    bob, charlie = free(ext, BOB.public), free(ext, CHARLIE.public)
    ext.call(ALICE, batch, [pay(BOB.public, UNIT), pay(CHARLIE.public, 2 * UNIT)])
    assert (free(ext, BOB.public), free(ext, CHARLIE.public)) == (bob + UNIT, charlie + 2 * UNIT)
    transfers = [args for pallet, name, args in ext.events() if name == "Transfer"]
    assert transfers == [(ALICE.public, BOB.public, UNIT), (ALICE.public, CHARLIE.public, 2 * UNIT)]
    assert utility_events(ext) == [("ItemCompleted", ()), ("ItemCompleted", ()), ("BatchCompleted", ())]


def test_batch_stops_at_the_first_failure_and_keeps_what_came_before(ext):
    bob, charlie, dave = free(ext, BOB.public), free(ext, CHARLIE.public), free(ext, DAVE.public)
    ext.call(ALICE, batch, [pay(BOB.public, UNIT), pay(CHARLIE.public, TOO_MUCH), pay(DAVE.public, UNIT)])
    assert (free(ext, BOB.public), free(ext, CHARLIE.public), free(ext, DAVE.public)) == (
        bob + UNIT,
        charlie,
        dave,
    )
    (first, (name, (index, error))) = utility_events(ext)
    assert first == ("ItemCompleted", ()) and name == "BatchInterrupted" and index == 1
    assert isinstance(error, BalancesError.InsufficientBalance)


def test_batch_all_applies_every_call(ext):
    bob = free(ext, BOB.public)
    ext.call(ALICE, batch_all, [pay(BOB.public, UNIT), pay(BOB.public, 2 * UNIT)])
    assert free(ext, BOB.public) == bob + 3 * UNIT
    assert utility_events(ext) == [("ItemCompleted", ()), ("ItemCompleted", ()), ("BatchCompleted", ())]


def test_invalid_batch_all_whose_last_call_fails_changes_nothing(ext):
    with assert_noop(ext, BalancesError.InsufficientBalance):
        ext.call(
            ALICE, batch_all, [pay(BOB.public, UNIT), pay(CHARLIE.public, UNIT), pay(DAVE.public, TOO_MUCH)]
        )


def test_invalid_batch_all_in_a_block_pays_only_the_outer_fee_and_leaves_no_inner_event(ext):
    """The cheater's batch: transfers that would go through, then one that fails. The block keeps the
    extrinsic, its fee is paid once, and no balance, issuance or event of the inner transfers remains."""
    xt = Call(batch_all, ([pay(BOB.public, UNIT), pay(CHARLIE.public, UNIT), pay(DAVE.public, TOO_MUCH)],))
    assert assert_fails_in_block(ext, ALICE, xt, BalancesError.InsufficientBalance) == (2, 2)


def test_force_batch_runs_every_call_and_reports_the_failures(ext):
    bob, dave = free(ext, BOB.public), free(ext, DAVE.public)
    ext.call(
        ALICE, force_batch, [pay(BOB.public, UNIT), pay(CHARLIE.public, TOO_MUCH), pay(DAVE.public, UNIT)]
    )
    assert (free(ext, BOB.public), free(ext, DAVE.public)) == (bob + UNIT, dave + UNIT)
    names = [name for name, _ in utility_events(ext)]
    assert names == ["ItemCompleted", "ItemFailed", "ItemCompleted", "BatchCompletedWithErrors"]
    assert isinstance(utility_events(ext)[1][1][0], BalancesError.InsufficientBalance)


def test_force_batch_without_failures_completes(ext):
    ext.call(ALICE, force_batch, [pay(BOB.public, UNIT)])
    assert utility_events(ext) == [("ItemCompleted", ()), ("BatchCompleted", ())]


def test_inner_calls_keep_the_root_origin(ext):
    bob = free(ext, BOB.public)
    ext.call(ROOT, batch_all, [Call(force_transfer, (CHARLIE.public, BOB.public, UNIT))])
    assert free(ext, BOB.public) == bob + UNIT


def test_invalid_inner_root_call_from_a_signed_batch(ext):
    """A signed batch cannot reach root-only calls: the inner call gets the batch's own origin."""
    with assert_noop(ext, BadOrigin):
        ext.call(BOB, batch_all, [Call(force_transfer, (CHARLIE.public, BOB.public, UNIT))])


def test_a_batch_under_sudo_runs_as_root(ext):
    bob = free(ext, BOB.public)
    ext.call(ALICE, sudo, Call(batch_all, ([Call(force_transfer, (CHARLIE.public, BOB.public, UNIT))],)))
    assert free(ext, BOB.public) == bob + UNIT


def test_invalid_batch_from_the_none_origin(ext):
    with assert_noop(ext, BadOrigin, match="signed or come from root"):
        ext.call(NONE, batch, [Call(system.remark, (b"",))])


def test_invalid_batch_of_too_many_calls(ext):
    with assert_noop(ext, UtilityError.TooManyCalls, match=f"at most {BATCHED_CALLS_LIMIT}"):
        ext.call(ALICE, batch, [Call(system.remark, (b"",))] * (BATCHED_CALLS_LIMIT + 1))


def nested(depth: int) -> Call:
    c = Call(system.remark, (b"",))
    for _ in range(depth):
        c = Call(batch, ([c],))
    return c


def test_nested_batches_decode_up_to_the_depth_cap():
    c = nested(4)  # the outer batch, and four levels of boxed calls under it (three batches and a remark)
    assert RUNTIME_CALL.decode(Reader(c.encode())) == c


def test_invalid_nesting_bomb_is_refused_while_decoding(ext):
    with pytest.raises(DecodeError, match="nested deeper than 4 levels"):
        RUNTIME_CALL.decode(Reader(nested(5).encode()))
    level = bytes([BY_NAME["Utility"].index, batch.index, 4])  # batch(calls: a vector of one call)
    bomb = (
        level * 10_000 + Call(system.remark, (b"",)).encode()
    )  # would exhaust the stack if decoding recursed freely
    with pytest.raises(Undecodable, match="nested deeper"):
        ext.executive.apply_extrinsic(ext.signed(ALICE, bomb, 0))


def test_weight_is_the_inner_weights_plus_the_per_call_overhead():
    calls = [pay(BOB.public, UNIT), Call(system.remark, (b"x",)), nested(2)]
    inner = [c.info().weight for c in calls]
    for fn in (batch, batch_all, force_batch):
        w = Call(fn, (calls,)).info().weight
        assert w.ref_time == BATCH_BASE.ref_time + sum(i.ref_time + PER_CALL.ref_time for i in inner)
        assert w.proof_size == sum(i.proof_size for i in inner)


def declaring(weight: int) -> Call:
    """A sudo call (Operational) that declares `weight`."""
    return Call(sudo_unchecked_weight, (Call(system.remark, (b"",)), Weight(weight)))


def test_a_batch_of_operational_calls_is_operational_and_any_other_batch_normal():
    operational = [declaring(1), Call(sudo, (pay(BOB.public, UNIT),))]
    for fn in (batch, batch_all, force_batch):
        assert Call(fn, (operational,)).info().dispatch_class is DispatchClass.OPERATIONAL
        assert (
            Call(fn, ([*operational, pay(BOB.public, UNIT)],)).info().dispatch_class is DispatchClass.NORMAL
        )
        assert Call(fn, ([],)).info().dispatch_class is DispatchClass.NORMAL


def test_an_operational_batch_may_use_the_block_space_reserved_for_operational_calls(ext):
    cfg = ext.runtime.configs[SystemConfig]
    heavy = (
        cfg.max_block_weight * cfg.normal_ratio_percent // 100
    )  # over the normal limit with the batch's own
    operational = Call(batch_all, ([declaring(heavy)],))
    mixed = Call(batch_all, ([declaring(heavy), Call(system.remark, (b"",))],))
    built = ext.produce_block([ext.signed(ALICE, mixed.encode(), 0)])
    [(_, error)] = built.skipped
    assert type(error) is v.ExhaustsResources and "for normal calls" in str(error)
    built = ext.produce_block([ext.signed(ALICE, operational.encode(), 0)])
    assert built.rejected == [] and built.skipped == [] and len(built.block.extrinsics) == 2


def test_fee_is_charged_once_on_the_outer_extrinsic(ext):
    xt = Call(batch_all, ([pay(BOB.public, UNIT), pay(CHARLIE.public, UNIT)],))
    with ext.ext():
        alice_before = Account.get(ALICE.public).free
    built = ext.produce_block([ext.signed(ALICE, xt.encode(), 0)])
    events = [(e.pallet, e.name, e.args) for _, e in built.finalized.events]
    fees = [args for pallet, name, args in events if name == "TransactionFeePaid"]
    assert len(fees) == 1 and fees[0][0] == ALICE.public
    fee = fees[0][1]
    assert [e[:2] for e in events][-1] == ("System", "ExtrinsicSuccess")
    assert events[-1][2][0].weight == xt.info().weight
    with ext.ext():
        assert Account.get(ALICE.public).free == alice_before - fee - 2 * UNIT


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amounts=st.lists(st.sampled_from([0, UNIT, 5 * UNIT, TOO_MUCH]), min_size=1, max_size=5),
    kind=st.sampled_from(["batch", "batch_all", "force_batch"]),
)
def test_batches_conserve_issuance_and_apply_exactly_the_calls_their_rule_allows(amounts, kind):
    """Whatever mix of good and failing transfers: issuance is unchanged, and Bob receives the sum of the
    transfers that the batch's rule lets through (all before the first failure, all or nothing, or every
    good one)."""
    t = make_ext()
    fn = {"batch": batch, "batch_all": batch_all, "force_batch": force_batch}[kind]
    with t.ext():
        issuance, bob = TotalIssuance.get(), balances.free_balance(BOB.public)
    good = [a for a in amounts if a != TOO_MUCH]
    prefix = amounts[: amounts.index(TOO_MUCH)] if TOO_MUCH in amounts else amounts
    expected = {
        "batch": sum(prefix),
        "batch_all": sum(amounts) if good == amounts else 0,
        "force_batch": sum(good),
    }[kind]
    try:
        t.call(ALICE, fn, [Call(balances.transfer_allow_death, (BOB.public, a)) for a in amounts])
    except BalancesError.InsufficientBalance:
        assert kind == "batch_all" and TOO_MUCH in amounts
    with t.ext():
        assert TotalIssuance.get() == issuance
        assert balances.free_balance(BOB.public) == bob + expected
