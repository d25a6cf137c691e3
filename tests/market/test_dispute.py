"""The dispute game played move by move with scripted parties, every timeout, and every error."""

from __future__ import annotations

import pytest

from compute_market.commitment import FAULT_VOTE
from compute_market.pallet import calls, dispute, query
from compute_market.pallet.types import UNIT, DisputeOutcome, DisputePhase, JobStatus, MarketError, Resolution
from tests.market.conftest import assert_noop
from tests.market.harness import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    EVE,
    REFEREE_BOND,
    REFEREES,
    Challenger,
    Market,
    Referees,
    Solver,
    dispute_cost,
    lying_hashes,
    play,
    true_hashes,
)

STAKE = 1_000 * UNIT
BOND = 10 * UNIT
T, K = 64, 16
TRUTH = true_hashes(T)


def opened(m: Market, solver_hashes: list[bytes], segment: int = 2, challenger=CHARLIE):
    job, commitment = m.committed_job(hashes=solver_hashes)
    m.call(challenger, dispute.challenge, job.id, segment)
    return m.job(job.id), commitment, m.job(job.id).open_disputes[-1]


@pytest.mark.parametrize("lie_from", [33, 37, 40, 47, 48])
def test_liar_solver_loses_to_honest_challenger(market, lie_from):
    job, commitment, d = opened(market, lying_hashes(T, lie_from))
    alice, charlie, issuance = market.free(ALICE), market.free(CHARLIE), market.issuance()
    moves = play(market, d, Solver(BOB, commitment), Challenger(CHARLIE, TRUTH), Referees(TRUTH))
    result = market.dispute(d)
    assert (result.lo, result.hi) == (lie_from - 1, lie_from)
    assert result.outcome is DisputeOutcome.CHALLENGER_WON and result.resolution is Resolution.VOTE
    assert moves.count(dispute.respond) <= 4  # log2(16)
    assert market.job(job.id).status is JobStatus.SLASHED
    assert market.free(ALICE) == alice + job.escrow + job.submitter_bond and market.reserved(ALICE) == 0
    assert market.free(CHARLIE) == charlie + BOND + job.lock // 2 and market.reserved(CHARLIE) == 0
    assert market.reserved(BOB) == STAKE - job.lock
    assert market.issuance() == issuance - job.lock // 2


@pytest.mark.parametrize("liar_view_from", [33, 40, 48])
def test_honest_solver_wins_against_lying_challenger(market, liar_view_from):
    job, commitment, d = opened(market, TRUTH)
    bob, issuance = market.free(BOB), market.issuance()
    play(
        market,
        d,
        Solver(BOB, commitment),
        Challenger(CHARLIE, lying_hashes(T, liar_view_from)),
        Referees(TRUTH),
    )
    result = market.dispute(d)
    assert result.outcome is DisputeOutcome.SOLVER_WON
    assert market.free(BOB) == bob + BOND // 2 and market.reserved(CHARLIE) == 0
    assert market.issuance() == issuance - BOND // 2
    job = market.job(job.id)
    assert job.status is JobStatus.COMMITTED and job.open_disputes == []
    market.advance_to(job.deadline)
    assert market.job(job.id).status is JobStatus.FINALIZED
    assert market.free(BOB) == bob + BOND // 2 + job.payment and market.reserved(BOB) == STAKE


def test_segment_end_revealed_when_challenger_agrees_throughout(market):
    job, commitment, d = opened(market, lying_hashes(T, 48))
    play(market, d, Solver(BOB, commitment), Challenger(CHARLIE, TRUTH), Referees(TRUTH))
    result = market.dispute(d)
    assert (result.lo, result.hi) == (47, 48) and result.hi_hash == commitment.hashes[48]
    assert result.outcome is DisputeOutcome.CHALLENGER_WON


def test_segment_start_revealed_when_challenger_disagrees_throughout(market):
    job, commitment, d = opened(market, TRUTH)
    play(market, d, Solver(BOB, commitment), Challenger(CHARLIE, lying_hashes(T, 33)), Referees(TRUTH))
    result = market.dispute(d)
    assert (result.lo, result.hi) == (32, 33) and result.lo_hash == TRUTH[32]
    assert result.outcome is DisputeOutcome.SOLVER_WON


def test_dispute_query_shows_interval_and_deadline(market):
    job, commitment, d = opened(market, TRUTH)
    with market.ext():
        (view,) = query.disputes(job.id)
    assert (view.lo, view.hi, view.phase, view.next_step) == (32, 48, DisputePhase.REVEAL, 40)
    assert view.deadline == market.block + 3


# --- timeouts -------------------------------------------------------------------------------------------


def test_solver_missing_a_reveal_loses(market):
    job, commitment, d = opened(market, TRUTH)
    charlie = market.free(CHARLIE)
    market.advance_to(market.dispute(d).deadline)
    result = market.dispute(d)
    assert result.outcome is DisputeOutcome.CHALLENGER_WON and result.resolution is Resolution.SOLVER_TIMEOUT
    assert market.job(job.id).status is JobStatus.SLASHED
    assert market.free(CHARLIE) == charlie + BOND + job.lock // 2


def test_challenger_missing_a_response_loses(market):
    job, commitment, d = opened(market, TRUTH)
    Solver(BOB, commitment).move(market, d)
    market.advance_to(market.dispute(d).deadline)
    result = market.dispute(d)
    assert result.outcome is DisputeOutcome.SOLVER_WON and result.resolution is Resolution.CHALLENGER_TIMEOUT
    assert market.reserved(CHARLIE) == 0


def test_solver_missing_the_state_publication_loses(market):
    job, commitment, d = opened(market, lying_hashes(T, 40))
    solver, challenger = Solver(BOB, commitment), Challenger(CHARLIE, TRUTH)
    while market.dispute(d).phase is not DisputePhase.STEP_STATE:
        (solver if market.dispute(d).phase is DisputePhase.REVEAL else challenger).move(market, d)
    market.advance_to(market.dispute(d).deadline)
    assert market.dispute(d).resolution is Resolution.SOLVER_TIMEOUT
    assert market.job(job.id).status is JobStatus.SLASHED


def test_referees_without_quorum_void_the_dispute(market):
    job, commitment, d = opened(market, TRUTH)
    solver, challenger = Solver(BOB, commitment), Challenger(CHARLIE, lying_hashes(T, 40))
    while market.dispute(d).phase is not DisputePhase.VOTING:
        (
            solver
            if market.dispute(d).phase in (DisputePhase.REVEAL, DisputePhase.STEP_STATE)
            else challenger
        ).move(market, d)
    charlie = market.free(CHARLIE)
    Referees(TRUTH).vote(market, d, count=2)  # 50% of the referee stake: no quorum
    market.advance_to(market.dispute(d).deadline)
    result = market.dispute(d)
    assert result.outcome is DisputeOutcome.VOID and result.resolution is Resolution.NO_QUORUM
    assert market.free(CHARLIE) == charlie + BOND
    assert market.job(job.id).status is JobStatus.COMMITTED


# --- several challengers, verifiers ---------------------------------------------------------------------


def test_first_proven_fault_ends_other_disputes_with_bonds_returned(market):
    job, commitment, first = opened(market, lying_hashes(T, 40), segment=2, challenger=CHARLIE)
    market.call(EVE, dispute.challenge, job.id, 0)
    second = market.job(job.id).open_disputes[-1]
    eve = market.free(EVE)
    play(
        market,
        first,
        Solver(BOB, commitment),
        Challenger(CHARLIE, TRUTH),
        Referees(TRUTH),
        one_move_per_block=False,
    )
    other = market.dispute(second)
    assert other.outcome is DisputeOutcome.VOID and other.resolution is Resolution.SUPERSEDED
    assert market.free(EVE) == eve + BOND and market.reserved(EVE) == 0
    market.advance(10)
    assert market.job(job.id).status is JobStatus.SLASHED


def test_verifier_that_passed_a_wrong_segment_is_slashed(market):
    market.call(DAVE, calls.register_verifier)
    job, commitment = market.committed_job(hashes=lying_hashes(T, 1))  # every segment is wrong
    market.advance(2)
    segments = market.segments(job.id)
    market.call(DAVE, calls.attest, job.id, [(j, True) for j in segments])
    market.call(CHARLIE, dispute.challenge, job.id, segments[0])
    d = market.job(job.id).open_disputes[0]
    charlie, issuance = market.free(CHARLIE), market.issuance()
    play(market, d, Solver(BOB, commitment), Challenger(CHARLIE, TRUTH), Referees(TRUTH))
    assert market.dispute(d).outcome is DisputeOutcome.CHALLENGER_WON
    assert market.reserved(DAVE) == 0
    with market.ext():
        assert query.verifiers() == []
    assert market.free(CHARLIE) == charlie + BOND + job.lock // 2 + 25 * UNIT
    assert market.issuance() == issuance - job.lock // 2 - 25 * UNIT


def test_solver_timeout_does_not_slash_a_verifier_that_passed_a_true_segment(market):
    """The property machine's failing run, made plain: a solver that lied after the segments the verifier
    passed (correctly) stalls in a lying challenger's dispute over one of them. The solver forfeits its
    lock, but a missed move proves nothing about the segment, so the honest verifier keeps its bond."""
    market.call(DAVE, calls.register_verifier)
    job, commitment = market.committed_job(hashes=lying_hashes(T, T))  # only the last step is wrong
    market.advance(2)
    segments = market.segments(job.id)
    last = job.segment_count - 1
    passed = min(j for j in segments if j != last)
    market.call(EVE, dispute.challenge, job.id, passed)  # a true segment: EVE lies
    d = market.job(job.id).open_disputes[-1]
    market.call(DAVE, calls.attest, job.id, [(j, j != last) for j in segments])  # its honest replay
    market.advance_to(market.dispute(d).deadline)  # BOB, a liar, stalls rather than lose the vote
    result = market.dispute(d)
    assert result.outcome is DisputeOutcome.CHALLENGER_WON and result.resolution is Resolution.SOLVER_TIMEOUT
    assert market.job(job.id).status is JobStatus.SLASHED
    assert market.reserved(DAVE) == 50 * UNIT  # its verifier bond; a challenge of the last segment came back
    with market.ext():
        assert query.verifiers() == [(DAVE.public, 50 * UNIT)]


def test_unusable_state_does_not_slash_a_verifier_that_passed_a_true_segment(market):
    """The same theft by the other default: a lying challenger bisects a segment the verifier (truly)
    passed and the colluding solver publishes a state the referees cannot load (their FAULT_VOTE). The
    solver loses by the vote, but nothing shows a step of the segment wrong: the verifier keeps its bond."""
    market.call(DAVE, calls.register_verifier)
    job, commitment = market.committed_job(hashes=lying_hashes(T, T))
    market.advance(2)
    segments = market.segments(job.id)
    last = job.segment_count - 1
    passed = min(j for j in segments if j != last)
    market.call(EVE, dispute.challenge, job.id, passed)
    d = market.job(job.id).open_disputes[-1]
    market.call(DAVE, calls.attest, job.id, [(j, j != last) for j in segments])
    solver, challenger = (
        Solver(BOB, commitment),
        Challenger(EVE, lying_hashes(T, 1)),
    )  # EVE disagrees with all
    while market.dispute(d).phase is not DisputePhase.STEP_STATE:
        (solver if market.dispute(d).phase is DisputePhase.REVEAL else challenger).move(market, d)
    market.call(
        BOB, dispute.submit_step_state, d, bytes(32), market.dispute(d).lo_hash
    )  # a blob that is no state
    for k in REFEREES:
        if market.dispute(d).phase is DisputePhase.VOTING:
            market.call(k, dispute.referee_vote, d, FAULT_VOTE)
    result = market.dispute(d)
    assert result.outcome is DisputeOutcome.CHALLENGER_WON and result.resolution is Resolution.VOTE
    assert market.job(job.id).status is JobStatus.SLASHED
    assert market.reserved(DAVE) == 50 * UNIT
    with market.ext():
        assert query.verifiers() == [(DAVE.public, 50 * UNIT)]


def test_verifier_failing_a_segment_wins_as_challenger(market):
    market.call(DAVE, calls.register_verifier)
    job, commitment = market.committed_job(hashes=lying_hashes(T, 1))
    market.advance(2)
    segments = market.segments(job.id)
    market.call(DAVE, calls.attest, job.id, [(segments[0], False), (segments[1], True)])
    d = market.job(job.id).open_disputes[0]
    dave = market.free(DAVE)
    play(market, d, Solver(BOB, commitment), Challenger(DAVE, TRUTH), Referees(TRUTH))
    assert market.dispute(d).outcome is DisputeOutcome.CHALLENGER_WON
    assert market.reserved(DAVE) == 50 * UNIT  # the bond backs passed segments only; the proven one failed
    assert market.free(DAVE) == dave + BOND + job.lock // 2


def test_disputes_run_as_signed_extrinsics(market):
    job, commitment, d = opened(market, TRUTH)
    step_hash, proof = commitment.open(40)
    _, outcome = market.submit(BOB, dispute.reveal, d, step_hash, proof)
    assert outcome.ok and market.dispute(d).phase is DisputePhase.RESPONSE
    _, outcome = market.submit(BOB, dispute.reveal, d, step_hash, proof)
    assert isinstance(outcome.error, MarketError.WrongPhase)


# --- errors ---------------------------------------------------------------------------------------------


def test_invalid_challenge_after_window(market):
    job, _ = market.committed_job()
    market.advance_to(job.window_end + 1)
    with assert_noop(market, MarketError.WindowClosed):
        market.call(CHARLIE, dispute.challenge, job.id, 0)


def test_invalid_challenge_unknown_segment(market):
    job, _ = market.committed_job()
    with assert_noop(market, MarketError.UnknownSegment):
        market.call(CHARLIE, dispute.challenge, job.id, 4)


def test_invalid_challenge_by_solver(market):
    job, _ = market.committed_job()
    with assert_noop(market, MarketError.PartyCannotAct):
        market.call(BOB, dispute.challenge, job.id, 0)


def test_invalid_challenge_uncommitted_job(market):
    job = market.assigned_job()
    with assert_noop(market, MarketError.WrongJobStatus):
        market.call(CHARLIE, dispute.challenge, job.id, 0)


def test_invalid_challenge_unknown_job(market):
    with assert_noop(market, MarketError.UnknownJob):
        market.call(CHARLIE, dispute.challenge, 9, 0)


def test_invalid_duplicate_challenge(market):
    job, _, _ = opened(market, TRUTH)
    with assert_noop(market, MarketError.DuplicateChallenge):
        market.call(CHARLIE, dispute.challenge, job.id, 2)


def test_invalid_challenge_beyond_open_dispute_cap():
    m = Market(maxOpenDisputes=1)
    job, _, _ = opened(m, TRUTH)
    with assert_noop(m, MarketError.TooManyDisputes):
        m.call(EVE, dispute.challenge, job.id, 1)


def test_invalid_reveal_with_bad_proof(market):
    _, commitment, d = opened(market, TRUTH)
    step_hash, proof = commitment.open(39)
    with assert_noop(market, MarketError.BadProof):
        market.call(BOB, dispute.reveal, d, step_hash, proof)


def test_invalid_reveal_by_challenger(market):
    _, commitment, d = opened(market, TRUTH)
    with assert_noop(market, MarketError.NotParty):
        market.call(CHARLIE, dispute.reveal, d, *commitment.open(40))


def test_invalid_reveal_unknown_dispute(market):
    with assert_noop(market, MarketError.UnknownDispute):
        market.call(BOB, dispute.reveal, 5, bytes(32), [])


def test_invalid_respond_before_reveal(market):
    _, _, d = opened(market, TRUTH)
    with assert_noop(market, MarketError.WrongPhase):
        market.call(CHARLIE, dispute.respond, d, True)


def test_invalid_respond_by_solver(market):
    _, commitment, d = opened(market, TRUTH)
    Solver(BOB, commitment).move(market, d)
    with assert_noop(market, MarketError.NotParty):
        market.call(BOB, dispute.respond, d, True)


def to_phase(m: Market, d: int, commitment, phase: DisputePhase) -> None:
    solver, challenger = Solver(BOB, commitment), Challenger(CHARLIE, lying_hashes(T, 40))
    while m.dispute(d).phase is not phase:
        (solver if m.dispute(d).phase in (DisputePhase.REVEAL, DisputePhase.STEP_STATE) else challenger).move(
            m, d
        )


def test_invalid_step_state_with_wrong_hash(market):
    _, commitment, d = opened(market, TRUTH)
    to_phase(market, d, commitment, DisputePhase.STEP_STATE)
    with assert_noop(market, MarketError.StateHashMismatch):
        market.call(BOB, dispute.submit_step_state, d, bytes(32), bytes(32))


def test_invalid_step_state_by_challenger(market):
    _, commitment, d = opened(market, TRUTH)
    to_phase(market, d, commitment, DisputePhase.STEP_STATE)
    with assert_noop(market, MarketError.NotParty):
        market.call(CHARLIE, dispute.submit_step_state, d, bytes(32), market.dispute(d).lo_hash)


def test_invalid_vote_by_non_validator(market):
    _, commitment, d = opened(market, TRUTH)
    to_phase(market, d, commitment, DisputePhase.VOTING)
    with assert_noop(market, MarketError.NotReferee):
        market.call(EVE, dispute.referee_vote, d, bytes(32))


def test_invalid_vote_twice(market):
    _, commitment, d = opened(market, TRUTH)
    to_phase(market, d, commitment, DisputePhase.VOTING)
    market.call(REFEREES[0], dispute.referee_vote, d, bytes(32))
    with assert_noop(market, MarketError.AlreadyVoted):
        market.call(REFEREES[0], dispute.referee_vote, d, bytes(32))


def test_invalid_vote_before_voting(market):
    _, _, d = opened(market, TRUTH)
    with assert_noop(market, MarketError.WrongPhase):
        market.call(REFEREES[0], dispute.referee_vote, d, bytes(32))


def test_invalid_vote_by_a_party():
    m = Market()
    m.call(REFEREES[0], calls.register_solver, STAKE)
    job, commitment = m.committed_job(solver=REFEREES[0], hashes=TRUTH)
    m.call(CHARLIE, dispute.challenge, job.id, 2)
    d = m.job(job.id).open_disputes[0]
    solver, challenger = Solver(REFEREES[0], commitment), Challenger(CHARLIE, lying_hashes(T, 40))
    while m.dispute(d).phase is not DisputePhase.VOTING:
        (solver if m.dispute(d).phase in (DisputePhase.REVEAL, DisputePhase.STEP_STATE) else challenger).move(
            m, d
        )
    assert m.dispute(d).referee_stake == 3 * REFEREE_BOND  # the solver's own stake is left out
    with assert_noop(m, MarketError.PartyCannotAct):
        m.call(REFEREES[0], dispute.referee_vote, d, TRUTH[41])


def test_invalid_finalize_with_open_dispute():
    m = Market(moveDeadline=20)
    job, _, _ = opened(m, TRUTH)
    m.advance_to(job.window_end + 1)
    with assert_noop(m, MarketError.DisputesOpen):
        m.call(EVE, calls.finalize, job.id)


def test_dispute_cost_grows_linearly_in_log2_k_at_fixed_t():
    """Each doubling of k adds the same extrinsics, bytes and weight (docs/design.md, section 7: cost O(log k))."""
    rows = [dispute_cost(k, 1024) for k in (16, 64, 256)]
    for field in ("extrinsics", "bytes", "ref_time", "proof_size"):
        steps = [b[field] - a[field] for a, b in zip(rows, rows[1:], strict=False)]
        assert steps[0] == steps[1] > 0, (field, rows)
    assert [r["extrinsics"] for r in rows] == [14, 18, 22]
