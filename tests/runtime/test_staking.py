"""Staking: bonding, unbonding over epochs, validating, election at epoch boundaries, equivocation slashing."""

from __future__ import annotations

import pytest

from chain.primitives import calls
from chain.primitives.hashing import blake2_256
from consensus.evidence import DuplicateVoteEvidence, verify_evidence
from consensus.types import SignedVote, Vote, VoteType
from consensus.validators import ValidatorSet
from runtime.frame.pallet import Call
from runtime.frame.support import NONE
from runtime.frame.types import PERBILL
from runtime.pallets import balances, staking
from runtime.pallets.staking import (
    EQUIVOCATION_HOOK,
    StakingError,
    bond,
    bond_extra,
    chill,
    report_equivocation,
    unbond,
    validate,
    validator_set,
    withdraw_unbonded,
)
from tests.runtime.conftest import ALICE, BOB, CHARLIE, assert_fails_in_block, assert_noop

UNIT = 10**12
BOND = 2_000 * UNIT
MIN_VALIDATOR_BOND = 1_000 * UNIT  # the dev chain's
MAX_UNLOCKING_CHUNKS = 32

# Each Staking error a signed call can fail with: (what Bob did before, the call that fails, the error, the
# (pallet index, error index) clients decode from ExtrinsicFailed).
FAILURES = {
    "unbond_without_bond": ([], Call(unbond, (UNIT,)), StakingError.NotStash, (4, 0)),
    "bond_extra_without_bond": ([], Call(bond_extra, (UNIT,)), StakingError.NotStash, (4, 0)),
    "withdraw_without_bond": ([], Call(withdraw_unbonded, ()), StakingError.NotStash, (4, 0)),
    "validate_without_bond": ([], Call(validate, (BOB.public, 0)), StakingError.NotStash, (4, 0)),
    "chill_without_bond": ([], Call(chill, ()), StakingError.NotStash, (4, 0)),
    "bond_nothing": ([], Call(bond, (0,)), StakingError.InsufficientBond, (4, 2)),
    "validator_unbonds_below_minimum": (
        [Call(bond, (BOND,)), Call(validate, (BOB.public, 0))],
        Call(unbond, (BOND - MIN_VALIDATOR_BOND + 1,)),
        StakingError.InsufficientBond,
        (4, 2),
    ),
    "unbond_past_chunk_limit": (
        [Call(bond, (BOND,))] + [Call(unbond, (1,))] * MAX_UNLOCKING_CHUNKS,
        Call(unbond, (1,)),
        StakingError.NoMoreChunks,
        (4, 3),
    ),
    "commission_above_100_percent": (
        [Call(bond, (BOND,))],
        Call(validate, (BOB.public, PERBILL + 1)),
        StakingError.CommissionTooHigh,
        (4, 8),
    ),
}


def test_bond_reserves_and_records_ledger(ext):
    ext.call(BOB, bond, BOND)
    with ext.ext():
        assert balances.reserved_balance(BOB.public) == BOND
        assert staking.Ledgers.get(BOB.public).active == BOND


def test_invalid_bond_twice(ext):
    ext.call(BOB, bond, BOND)
    with assert_noop(ext, StakingError.AlreadyBonded):
        ext.call(BOB, bond, BOND)


def test_bond_extra_and_unbond_then_withdraw_after_bonding_duration(ext):
    ext.call(BOB, bond, BOND)
    ext.call(BOB, bond_extra, UNIT)
    ext.call(BOB, unbond, UNIT)
    with assert_noop(ext, StakingError.NoUnlockChunk):
        ext.call(BOB, withdraw_unbonded)
    with ext.ext():
        staking.CurrentEpoch.put(staking.CurrentEpoch.get() + 2)
    ext.call(BOB, withdraw_unbonded)
    with ext.ext():
        assert balances.reserved_balance(BOB.public) == BOND


def test_invalid_validate_below_minimum_bond(ext):
    ext.call(BOB, bond, UNIT)
    with assert_noop(ext, StakingError.InsufficientBond):
        ext.call(BOB, validate, BOB.public, 0)


def test_invalid_validate_with_someone_elses_session_key(ext):
    ext.call(BOB, bond, BOND)
    with assert_noop(ext, StakingError.DuplicateSessionKey):
        ext.call(BOB, validate, ALICE.public, 0)  # Alice's stash validates with Alice's key in dev


def test_election_at_epoch_boundary_only(ext):
    bond_xt = ext.signed(BOB, calls.Staking.bond(200_000 * UNIT), 0)
    validate_xt = ext.signed(BOB, calls.Staking.validate(BOB.public, 50_000_000), 1)
    built = ext.produce_block([bond_xt, validate_xt])
    assert built.rejected == []
    assert [k for k, _ in validator_set(ext.chain.backend)] == [ALICE.public]
    epoch = ext.runtime.configs[staking.StakingConfig].epoch_length
    while ext.number + 1 < epoch:
        ext.produce_block()
    assert [k for k, _ in validator_set(ext.chain.backend)] == [ALICE.public]
    ext.produce_block()  # block `epoch` elects Bob (larger bond, ranked first) into the queued set
    elected = [(BOB.public, 200_000 * UNIT), (ALICE.public, 100_000 * UNIT)]
    assert [k for k, _ in validator_set(ext.chain.backend)] == [ALICE.public]
    assert staking.next_validator_set(ext.chain.backend, ext.number, epoch) == [
        (ALICE.public, 100_000 * UNIT)
    ]
    while ext.number + 1 < 2 * epoch:
        ext.produce_block()
    assert staking.next_validator_set(ext.chain.backend, ext.number, epoch) == elected
    ext.produce_block()  # block `2 * epoch` activates the queued set before any of its extrinsics
    assert validator_set(ext.chain.backend) == elected  # ... so it signs height 2 * epoch + 1:
    from consensus.validators import activation_height

    assert activation_height(1, epoch) == ext.number + 1  # the bond was in block 1


def test_current_elected_lists_the_queued_sets_consensus_keys_for_derive_staking_validators(ext):
    """CurrentElected is the next epoch's set as Session.Validators lists the current one's: the genesis set,
    then each election's, then that set less a validator slashed for equivocation."""
    from runtime.pallets import session

    with ext.ext():
        assert staking.CurrentElected.get() == session.Validators.get() == [ALICE.public]
    bond_xt = ext.signed(BOB, calls.Staking.bond(200_000 * UNIT), 0)
    validate_xt = ext.signed(BOB, calls.Staking.validate(BOB.public, 0), 1)
    assert ext.produce_block([bond_xt, validate_xt]).rejected == []
    epoch = ext.runtime.configs[staking.StakingConfig].epoch_length
    while ext.number < epoch:
        ext.produce_block()
    with ext.ext():  # block `epoch` elected Bob beside Alice; Alice alone still signs this epoch
        assert staking.CurrentElected.get() == [BOB.public, ALICE.public]
        assert session.Validators.get() == [ALICE.public]
    while ext.number < 2 * epoch:
        ext.produce_block()
    with ext.ext():  # block `2 * epoch` made that set active and elected it again
        assert session.Validators.get() == staking.CurrentElected.get() == [BOB.public, ALICE.public]
    ext.runtime.register_hook(EQUIVOCATION_HOOK, lambda ev: (BOB.public, ev))
    ext.call(NONE, report_equivocation, b"bob's offence")
    with ext.ext():
        assert staking.CurrentElected.get() == [ALICE.public]
        assert [stash for stash, _key, _stake in staking.QueuedValidators.get()] == [
            staking.KeyOwner.get(ALICE.public)
        ]
        assert session.Validators.get() == [BOB.public, ALICE.public]  # Bob signs until the next boundary


def test_each_authored_block_earns_its_author_points_in_its_epoch(ext):
    epoch = ext.runtime.configs[staking.StakingConfig].epoch_length
    ext.produce_block(author=ALICE.public)
    ext.produce_block(author=BOB.public)
    ext.produce_block()  # no author digest: nobody earns
    with ext.ext():
        assert staking.ErasRewardPoints.get(0) == {
            "total": 40,
            "individual": sorted([(ALICE.public, 20), (BOB.public, 20)]),
        }
    while ext.number < epoch - 1:
        ext.produce_block()
    ext.produce_block(author=ALICE.public)  # block `epoch` still belongs to epoch 0; its end starts epoch 1
    ext.produce_block(author=ALICE.public)
    with ext.ext():
        assert staking.ErasRewardPoints.get(0)["individual"] == sorted([(ALICE.public, 40), (BOB.public, 20)])
        assert staking.ErasRewardPoints.get(1) == {"total": 20, "individual": [(ALICE.public, 20)]}


def test_era_points_older_than_the_history_depth_are_removed(ext, monkeypatch):
    monkeypatch.setattr(staking, "HISTORY_DEPTH", 2)
    epoch = ext.runtime.configs[staking.StakingConfig].epoch_length
    for _ in range(2 * epoch):
        ext.produce_block(author=ALICE.public)
    with ext.ext():  # the end of block 2 * epoch started epoch 2, so epoch 0 is past the depth of 2
        assert not staking.ErasRewardPoints.contains(0)
        assert staking.ErasRewardPoints.get(1)["total"] == 20 * epoch


def test_chill_removes_candidate(ext):
    ext.call(BOB, bond, BOND)
    ext.call(BOB, validate, BOB.public, 0)
    ext.call(BOB, chill)
    with ext.ext():
        assert not staking.Validators.contains(BOB.public)


def test_invalid_equivocation_without_verifier(ext):
    with assert_noop(ext, StakingError.InvalidEvidence):
        ext.call(NONE, report_equivocation, b"evidence")


def test_equivocation_slashes_once_and_marks_for_removal(ext):
    ext.runtime.register_hook(EQUIVOCATION_HOOK, lambda ev: (ALICE.public, ev))
    ext.open_block()
    stash = staking.KeyOwner
    with ext.ext():
        alice_stash = stash.get(ALICE.public)
        bonded = staking.Ledgers.get(alice_stash).total
        total = balances.total_issuance()
    ext.call(NONE, report_equivocation, b"offence-1")
    with ext.ext():
        slashed = bonded // 10
        assert staking.Ledgers.get(alice_stash).total == bonded - slashed
        assert balances.total_issuance() == total - slashed
        assert staking.PendingRemoval.get() == [alice_stash]
    with assert_noop(ext, StakingError.DuplicateOffenceReport):
        ext.call(NONE, report_equivocation, b"offence-1")


def test_equivocation_slot_is_slashed_once_whichever_pair_reports_it(ext):
    """Three conflicting precommits in one slot give three vote pairs but one offence: one slash, then noops."""
    genesis = ext.spec.genesis_hash
    a, b, c = (
        SignedVote.sign(Vote(VoteType.PRECOMMIT, 1, 0, blake2_256(b"block %d" % i)), ALICE, genesis)
        for i in range(3)
    )
    validators = ValidatorSet.of([(ALICE.public, 1)])

    def verify(evidence: bytes) -> tuple[bytes, bytes]:
        checked = verify_evidence(evidence, validators, genesis, current_height=1, max_age=100)
        return checked.offender, checked.offence_id

    ext.runtime.register_hook(EQUIVOCATION_HOOK, verify)
    ext.open_block()
    with ext.ext():
        alice_stash = staking.KeyOwner.get(ALICE.public)
        bonded = staking.Ledgers.get(alice_stash).total
    ext.call(NONE, report_equivocation, DuplicateVoteEvidence.of(a, b).encode())
    with ext.ext():
        assert staking.Ledgers.get(alice_stash).total == bonded - bonded // 10
    for other_pair in ((a, c), (b, c)):
        with assert_noop(ext, StakingError.DuplicateOffenceReport):
            ext.call(NONE, report_equivocation, DuplicateVoteEvidence.of(*other_pair).encode())
    assert [name for pallet, name, _ in ext.events() if pallet == "Staking"] == ["OffenceReported", "Slashed"]


def test_invalid_signed_equivocation_report(ext):
    with assert_noop(ext, Exception, match="inherent or unsigned"):
        ext.call(CHARLIE, report_equivocation, b"x")


def test_error_cases_use_the_dev_chains_staking_limits(ext):
    cfg = ext.runtime.configs[staking.StakingConfig]
    assert (cfg.min_validator_bond, cfg.max_unlocking_chunks) == (MIN_VALIDATOR_BOND, MAX_UNLOCKING_CHUNKS)


@pytest.mark.parametrize(
    "setup, failing, error", [case[:3] for case in FAILURES.values()], ids=list(FAILURES)
)
def test_invalid_call_is_a_noop(ext, setup, failing, error):
    for c in setup:
        ext.call(BOB, c.func, *c.args)
    with assert_noop(ext, error):
        ext.call(BOB, failing.func, *failing.args)


@pytest.mark.parametrize("setup, failing, error, module_error", list(FAILURES.values()), ids=list(FAILURES))
def test_invalid_call_in_block_pays_fee_and_reports_error(ext, setup, failing, error, module_error):
    built = ext.produce_block([ext.signed(BOB, c.encode(), nonce) for nonce, c in enumerate(setup)])
    assert (
        built.rejected == [] and [e for _, e in built.finalized.events if e.name == "ExtrinsicFailed"] == []
    )
    assert assert_fails_in_block(ext, BOB, failing, error) == module_error


def test_validator_may_unbond_to_the_minimum_or_everything(ext):
    ext.call(BOB, bond, BOND)
    ext.call(BOB, validate, BOB.public, 0)
    ext.call(BOB, unbond, BOND - MIN_VALIDATOR_BOND)
    ext.call(BOB, unbond, MIN_VALIDATOR_BOND)
    with ext.ext():
        assert staking.Ledgers.get(BOB.public).active == 0
