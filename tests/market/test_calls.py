"""ComputeMarket calls for solvers, verifiers and submitters: every effect, and every error leaving state untouched."""

from __future__ import annotations

from compute_market.commitment import Evaluation
from compute_market.jobspec import MAX_SPEC_BYTES
from compute_market.pallet import calls, query, types
from compute_market.pallet.types import UNIT, JobStatus, MarketError
from runtime.frame.support import BadOrigin
from runtime.pallets.balances import BalancesError
from tests.market.conftest import assert_noop
from tests.market.harness import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, Market, make_spec

STAKE = 1_000 * UNIT


def names(m: Market) -> list[str]:
    return [n for n, _ in m.market_events()]


# --- solvers --------------------------------------------------------------------------------------------


def test_register_solver_reserves_stake(market):
    market.call(BOB, calls.register_solver, STAKE)
    assert market.reserved(BOB) == STAKE
    assert ("SolverRegistered", (BOB.public, STAKE)) in market.market_events()
    with market.ext():
        assert [(s.account, s.stake, s.free_stake) for s in query.solvers()] == [(BOB.public, STAKE, STAKE)]


def test_invalid_register_solver_twice(market):
    market.call(BOB, calls.register_solver, STAKE)
    with assert_noop(market, MarketError.AlreadySolver):
        market.call(BOB, calls.register_solver, STAKE)


def test_invalid_register_solver_below_minimum(market):
    with assert_noop(market, MarketError.StakeTooLow) as e:
        market.call(BOB, calls.register_solver, UNIT)
    assert str(100 * UNIT) in str(e.value)


def test_invalid_register_solver_unsigned(market):
    with assert_noop(market, BadOrigin):
        market.call(None, calls.register_solver, STAKE)


def test_invalid_register_solver_without_funds(market):
    with assert_noop(market, BalancesError.InsufficientBalance):
        market.call(BOB, calls.register_solver, 10**9 * UNIT)


def test_add_stake(market):
    market.call(BOB, calls.register_solver, STAKE)
    market.call(BOB, calls.add_stake, UNIT)
    assert market.reserved(BOB) == STAKE + UNIT
    assert ("StakeAdded", (BOB.public, UNIT, STAKE + UNIT)) in market.market_events()


def test_invalid_add_stake_not_solver(market):
    with assert_noop(market, MarketError.NotSolver):
        market.call(BOB, calls.add_stake, UNIT)


def test_invalid_add_stake_while_unbonding(market):
    market.call(BOB, calls.register_solver, STAKE)
    market.call(BOB, calls.unregister_solver)
    with assert_noop(market, MarketError.SolverUnbonding):
        market.call(BOB, calls.add_stake, UNIT)


def test_unregister_then_withdraw_after_delay(market):
    market.call(BOB, calls.register_solver, STAKE)
    market.call(BOB, calls.unregister_solver)
    unlock = market.block + 5
    assert ("SolverUnbonding", (BOB.public, STAKE, unlock)) in market.market_events()
    market.advance_to(unlock)
    market.call(BOB, calls.withdraw_unbonded)
    assert market.reserved(BOB) == 0
    with market.ext():
        assert query.solvers() == []


def test_invalid_withdraw_before_delay(market):
    market.call(BOB, calls.register_solver, STAKE)
    market.call(BOB, calls.unregister_solver)
    market.advance(4)
    with assert_noop(market, MarketError.StillBonded):
        market.call(BOB, calls.withdraw_unbonded)


def test_invalid_withdraw_without_unregister(market):
    market.call(BOB, calls.register_solver, STAKE)
    with assert_noop(market, MarketError.NotUnbonding):
        market.call(BOB, calls.withdraw_unbonded)


def test_invalid_unregister_twice(market):
    market.call(BOB, calls.register_solver, STAKE)
    market.call(BOB, calls.unregister_solver)
    with assert_noop(market, MarketError.SolverUnbonding):
        market.call(BOB, calls.unregister_solver)


def test_invalid_unregister_while_holding_jobs(market):
    market.assigned_job(solver=BOB)
    with assert_noop(market, MarketError.HoldsJobs):
        market.call(BOB, calls.unregister_solver)


def test_invalid_unregister_not_solver(market):
    with assert_noop(market, MarketError.NotSolver):
        market.call(BOB, calls.unregister_solver)


# --- verifiers ------------------------------------------------------------------------------------------


def test_register_verifier_reserves_bond(market):
    market.call(DAVE, calls.register_verifier)
    assert market.reserved(DAVE) == 50 * UNIT
    with market.ext():
        assert query.verifiers() == [(DAVE.public, 50 * UNIT)]


def test_invalid_register_verifier_twice(market):
    market.call(DAVE, calls.register_verifier)
    with assert_noop(market, MarketError.AlreadyVerifier):
        market.call(DAVE, calls.register_verifier)


# --- submission, cancellation, assignment ---------------------------------------------------------------


def test_submit_job_escrows_payment_and_fee_and_reserves_the_bond(market):
    spec = make_spec()
    market.call(ALICE, calls.submit_job, spec, 20 * UNIT)
    assert market.reserved(ALICE) == 31 * UNIT  # payment 20 + verifier fee 1 + submission bond 10
    job = market.job(0)
    assert job.status is JobStatus.SUBMITTED and job.deadline == market.block + 2
    with market.ext():
        assert query.job_spec(0) == spec
        assert [j.id for j in query.jobs()] == [0]


def test_invalid_submit_spec_too_large(market):
    with assert_noop(market, MarketError.SpecTooLarge):
        market.call(ALICE, calls.submit_job, bytes(MAX_SPEC_BYTES + 1), UNIT)


def test_invalid_submit_malformed_spec(market):
    with assert_noop(market, MarketError.BadSpec):
        market.call(ALICE, calls.submit_job, b"\x01garbage", UNIT)


def test_invalid_submit_noncanonical_spec(market):
    with assert_noop(market, MarketError.BadSpec):
        market.call(ALICE, calls.submit_job, make_spec() + b"\x00", UNIT)


def test_invalid_submit_too_many_steps():
    m = Market(maxSteps=32)
    with assert_noop(m, MarketError.TooManySteps):
        m.call(ALICE, calls.submit_job, make_spec(steps=64), UNIT)


def test_invalid_submit_zero_payment(market):
    with assert_noop(market, MarketError.ZeroPayment):
        market.call(ALICE, calls.submit_job, make_spec(), 0)


def test_invalid_submit_unaffordable(market):
    with assert_noop(market, BalancesError.InsufficientBalance):
        market.call(ALICE, calls.submit_job, make_spec(), 10**9 * UNIT)


def test_cancel_job_refunds_in_full(market):
    market.call(ALICE, calls.submit_job, make_spec(), 20 * UNIT)
    market.call(ALICE, calls.cancel_job, 0)
    assert market.reserved(ALICE) == 0
    assert market.job(0).status is JobStatus.CANCELLED
    market.advance(3)
    assert market.job(0).status is JobStatus.CANCELLED


def test_invalid_cancel_by_other_account(market):
    market.call(ALICE, calls.submit_job, make_spec(), 20 * UNIT)
    with assert_noop(market, MarketError.NotSubmitter):
        market.call(BOB, calls.cancel_job, 0)


def test_invalid_cancel_after_assignment(market):
    job = market.assigned_job()
    with assert_noop(market, MarketError.WrongJobStatus):
        market.call(ALICE, calls.cancel_job, job.id)


def test_invalid_cancel_unknown_job(market):
    with assert_noop(market, MarketError.UnknownJob):
        market.call(ALICE, calls.cancel_job, 7)


def test_assignment_locks_stake_at_submission_plus_delay(market):
    market.call(BOB, calls.register_solver, STAKE)
    market.call(ALICE, calls.submit_job, make_spec(), 20 * UNIT)
    submitted = market.block
    market.advance()
    assert market.job(0).status is JobStatus.SUBMITTED
    market.advance()
    assert market.block == submitted + 2
    job = market.job(0)
    assert job.status is JobStatus.ASSIGNED and job.solver == BOB.public
    assert job.lock == 10 * UNIT + 10 * UNIT  # flat lock + 50% of the payment
    with market.ext():
        assert query.solvers()[0].locked == job.lock


def test_assignment_deferred_without_eligible_solver(market):
    market.call(BOB, calls.register_solver, 100 * UNIT)
    market.call(ALICE, calls.submit_job, make_spec(), 1_000 * UNIT)  # lock 510 > stake 100
    market.advance(2)
    assert market.job(0).status is JobStatus.SUBMITTED
    assert ("AssignmentDeferred", (0, market.block + 1)) in market.market_events()
    market.call(BOB, calls.add_stake, 1_000 * UNIT)
    market.advance()
    assert market.job(0).solver == BOB.public


def test_assignment_never_picks_the_submitter(market):
    market.call(ALICE, calls.register_solver, STAKE)
    market.call(ALICE, calls.submit_job, make_spec(), UNIT)
    market.advance(2)
    assert market.job(0).status is JobStatus.SUBMITTED


def test_assignment_draws_among_eligible_solvers(market):
    for solver in (BOB, CHARLIE, EVE, FERDIE):
        market.call(solver, calls.register_solver, STAKE)
    for _ in range(12):
        market.call(ALICE, calls.submit_job, make_spec(), UNIT)
        market.advance()
    market.advance(2)
    chosen = {market.job(i).solver for i in range(12)}
    assert len(chosen) > 1 and chosen <= {BOB.public, CHARLIE.public, EVE.public, FERDIE.public}


# --- commitment -----------------------------------------------------------------------------------------


def test_commit_result_opens_the_window(market):
    job, commitment = market.committed_job()
    assert job.status is JobStatus.COMMITTED and job.result_root == commitment.root
    assert job.window_end == market.block + 8 and job.deadline == job.window_end + 2


def commit_zeros(m, who, job_id: int, checkpoints: int = 4, evaluation=(0, 0, 0)) -> None:
    """commit_result with all-zero hashes: for the calls that must be refused before any hash is looked at."""
    m.call(
        who,
        calls.commit_result,
        job_id,
        bytes(32),
        bytes(32),
        bytes(32),
        [bytes(32)] * checkpoints,
        *evaluation,
    )


def test_commit_result_stores_the_evaluation(market):
    job, _ = market.committed_job(evaluation=Evaluation(0x3FF0000000000000, 50, 64))
    assert job.evaluation == types.Evaluation(0x3FF0000000000000, 50, 64)
    assert job.evaluation.figures().loss == 1.0 and job.evaluation.figures().accuracy == 50 / 64


def test_invalid_commit_with_more_correct_than_evaluated(market):
    job = market.assigned_job(solver=BOB)
    with assert_noop(market, MarketError.BadEvaluation) as e:
        commit_zeros(market, BOB, job.id, evaluation=(0, 65, 64))
    assert "65 correct of 64" in str(e.value)


def test_invalid_commit_by_other_account(market):
    job = market.assigned_job(solver=BOB)
    with assert_noop(market, MarketError.NotAssignedSolver):
        commit_zeros(market, CHARLIE, job.id)


def test_invalid_commit_wrong_checkpoint_count(market):
    job = market.assigned_job(solver=BOB)
    with assert_noop(market, MarketError.WrongCheckpointCount) as e:
        commit_zeros(market, BOB, job.id, checkpoints=3)
    assert "need 4" in str(e.value)


def test_commit_timeout_slashes_the_solver_and_refunds(market):
    job = market.assigned_job(solver=BOB)
    issuance = market.issuance()
    alice_free = market.free(ALICE)
    market.advance_to(job.deadline)
    assert market.job(job.id).status is JobStatus.SLASHED
    assert market.free(ALICE) == alice_free + job.escrow + job.submitter_bond + job.lock // 2
    assert market.reserved(ALICE) == 0
    assert market.reserved(BOB) == STAKE - job.lock
    assert market.issuance() == issuance - job.lock // 2


# --- attestation ----------------------------------------------------------------------------------------


def attestable(m: Market):
    m.call(DAVE, calls.register_verifier)
    job, commitment = m.committed_job()
    m.advance(2)
    return job, m.segments(job.id)


def test_attest_all_passed(market):
    job, segments = attestable(market)
    market.call(DAVE, calls.attest, job.id, [(j, True) for j in segments])
    job = market.job(job.id)
    assert job.status is JobStatus.ATTESTED and job.verifier == DAVE.public and job.attested_ok == segments


def test_attest_failed_segment_opens_a_dispute(market):
    job, segments = attestable(market)
    market.call(DAVE, calls.attest, job.id, [(segments[0], False), (segments[1], True)])
    job = market.job(job.id)
    assert job.status is JobStatus.CHALLENGED and len(job.open_disputes) == 1
    assert market.dispute(job.open_disputes[0]).challenger == DAVE.public
    assert market.reserved(DAVE) == 60 * UNIT


def test_invalid_attest_before_sampling_block(market):
    market.call(DAVE, calls.register_verifier)
    job, _ = market.committed_job()
    market.advance()
    with assert_noop(market, MarketError.SamplingNotReady):
        market.call(DAVE, calls.attest, job.id, [(0, True), (1, True)])


def test_invalid_attest_wrong_segments(market):
    job, segments = attestable(market)
    wrong = [j for j in range(4) if j not in segments][:2]
    with assert_noop(market, MarketError.WrongSegments):
        market.call(DAVE, calls.attest, job.id, [(j, True) for j in wrong])


def test_invalid_attest_not_verifier(market):
    job, segments = attestable(market)
    with assert_noop(market, MarketError.NotVerifier):
        market.call(EVE, calls.attest, job.id, [(j, True) for j in segments])


def test_invalid_attest_by_the_solver(market):
    job, segments = attestable(market)
    market.call(BOB, calls.register_verifier)
    with assert_noop(market, MarketError.PartyCannotAct):
        market.call(BOB, calls.attest, job.id, [(j, True) for j in segments])


def test_invalid_attest_twice(market):
    job, segments = attestable(market)
    market.call(DAVE, calls.attest, job.id, [(j, True) for j in segments])
    market.call(EVE, calls.register_verifier)
    with assert_noop(market, MarketError.AlreadyAttested):
        market.call(EVE, calls.attest, job.id, [(j, True) for j in segments])


def test_invalid_attest_after_window(market):
    job, segments = attestable(market)
    market.advance_to(job.window_end + 1)
    with assert_noop(market, MarketError.WindowClosed):
        market.call(DAVE, calls.attest, job.id, [(j, True) for j in segments])


def test_invalid_attest_uncommitted_job(market):
    market.call(DAVE, calls.register_verifier)
    job = market.assigned_job()
    with assert_noop(market, MarketError.WrongJobStatus):
        market.call(DAVE, calls.attest, job.id, [])


# --- finalization ---------------------------------------------------------------------------------------


def test_finalize_pays_solver_and_verifier(market):
    job, segments = attestable(market)
    market.call(DAVE, calls.attest, job.id, [(j, True) for j in segments])
    bob, dave, issuance = market.free(BOB), market.free(DAVE), market.issuance()
    market.advance_to(job.window_end + 1)
    market.call(EVE, calls.finalize, job.id)
    assert market.job(job.id).status is JobStatus.FINALIZED
    assert market.free(BOB) == bob + job.payment and market.free(DAVE) == dave + job.verifier_fee
    assert market.reserved(ALICE) == 0 and market.reserved(BOB) == STAKE
    assert market.issuance() == issuance


def test_chain_finalizes_after_grace_and_refunds_unused_fee(market):
    job, _ = market.committed_job()
    alice = market.free(ALICE)
    market.advance_to(job.deadline)
    assert market.job(job.id).status is JobStatus.FINALIZED
    assert market.free(ALICE) == alice + job.verifier_fee + job.submitter_bond and market.reserved(ALICE) == 0


def test_invalid_finalize_during_window(market):
    job, _ = market.committed_job()
    market.advance_to(job.window_end)
    with assert_noop(market, MarketError.WindowOpen):
        market.call(EVE, calls.finalize, job.id)


def test_invalid_finalize_uncommitted(market):
    job = market.assigned_job()
    with assert_noop(market, MarketError.WrongJobStatus):
        market.call(EVE, calls.finalize, job.id)


def test_calls_work_as_signed_extrinsics(market):
    _, outcome = market.submit(BOB, calls.register_solver, STAKE)
    assert outcome.ok and market.reserved(BOB) == STAKE
    _, outcome = market.submit(BOB, calls.register_solver, STAKE)
    assert isinstance(outcome.error, MarketError.AlreadySolver)
    assert outcome.error.encode()[:2] == bytes([3, 6])


def test_worker_calls_are_the_generated_builders():
    """Workers type no call index: their calls are the builders generated from the pallet (which
    tests/runtime/test_call_builders.py checks against the runtime's decoder)."""
    from chain.primitives.calls import ComputeMarket
    from compute_market.pallet import CALLS
    from compute_market.worker import client

    named = [c.name for c in CALLS if hasattr(client, c.name) and c.name != "challenge_artifact"]
    assert named and all(getattr(client, name) is getattr(ComputeMarket, name) for name in named)
    assert client.challenge_artifact(3, 1, 0) == ComputeMarket.challenge_artifact(3, 1, 0, False)
