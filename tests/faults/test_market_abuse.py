"""Abuse of the market's dispute game: griefing challenges, replayed and late moves, double commits.

Every abuse is refused with its typed error and changes nothing: no storage entry, no event, and total
issuance is the same after the attempt (`refused` below). These run on the pallet's test chain
(tests/market/harness.py), block by block, without a node.

Already covered in tests/market/test_dispute.py, and not repeated here:
- a challenge after the window: `test_invalid_challenge_after_window` (WindowClosed);
- a challenge by the solver itself: `test_invalid_challenge_by_solver` (PartyCannotAct);
- a challenge beyond `maxOpenDisputes`: `test_invalid_challenge_beyond_open_dispute_cap` (TooManyDisputes);
- the same challenger on the same open segment: `test_invalid_duplicate_challenge` (DuplicateChallenge);
- a referee voting twice: `test_invalid_vote_twice` (AlreadyVoted);
- the same reveal re-signed with the next nonce: `test_disputes_run_as_signed_extrinsics` (WrongPhase).
"""

from __future__ import annotations

import pytest

from compute_market.pallet import calls, dispute
from compute_market.pallet.types import UNIT, DisputeOutcome, DisputePhase, JobStatus, MarketError
from runtime import validity
from runtime.pallets.balances import BalancesError
from tests.market.conftest import assert_noop
from tests.market.harness import (
    ALICE,
    BOB,
    CHARLIE,
    EVE,
    FERDIE,
    REFEREES,
    Challenger,
    Market,
    Referees,
    Solver,
    lying_hashes,
    make_spec,
    play,
    true_hashes,
)

T = 64
TRUTH = true_hashes(T)
BOND = 10 * UNIT  # TEST_PARAMETERS["challengerBond"]


@pytest.fixture
def market() -> Market:
    return Market()


def refused(m: Market, error: type[Exception], who, fn, *args) -> Exception:
    """`who` calling `fn(*args)` raises `error` and leaves storage, events and total issuance as they were."""
    issuance = m.issuance()
    with assert_noop(m, error) as caught:
        m.call(who, fn, *args)
    assert m.issuance() == issuance
    return caught.value


def opened(m: Market, solver_hashes: list[bytes], segment: int = 2, challenger=CHARLIE):
    job, commitment = m.committed_job(hashes=solver_hashes)
    m.call(challenger, dispute.challenge, job.id, segment)
    return m.job(job.id), commitment, m.job(job.id).open_disputes[-1]


def to_phase(m: Market, d: int, commitment, phase: DisputePhase, challenger_view=None) -> None:
    solver, challenger = Solver(BOB, commitment), Challenger(CHARLIE, challenger_view or lying_hashes(T, 40))
    while m.dispute(d).phase is not phase:
        (solver if m.dispute(d).phase in (DisputePhase.REVEAL, DisputePhase.STEP_STATE) else challenger).move(
            m, d
        )


# --- griefing challenges ---------------------------------------------------------------------------------


def test_invalid_challenge_without_funds_for_the_bond(market):
    job, _ = market.committed_job()
    market.call(FERDIE, calls.register_solver, market.free(FERDIE) - BOND // 2)  # leaves half a bond free
    refused(market, BalancesError.InsufficientBalance, FERDIE, dispute.challenge, job.id, 0)


@pytest.mark.parametrize("ending", ["finalized", "slashed_in_window", "cancelled"])
def test_invalid_challenge_on_an_ended_job(market, ending):
    if ending == "finalized":
        job, _ = market.committed_job()
        market.advance_to(job.deadline)
    elif ending == "slashed_in_window":  # the solver missed a reveal; the window itself is still open
        job, _, d = opened(market, TRUTH)
        market.advance_to(market.dispute(d).deadline)
        assert market.block <= market.job(job.id).window_end
    else:
        market.call(ALICE, calls.submit_job, make_spec(), 20 * UNIT)
        market.call(ALICE, calls.cancel_job, 0)
        job = market.job(0)
    assert market.job(job.id).status.ended
    refused(market, MarketError.WrongJobStatus, EVE, dispute.challenge, job.id, 1)


def test_invalid_challenge_on_a_segment_the_challenger_already_lost(market):
    job, commitment, d = opened(market, TRUTH)
    play(
        market,
        d,
        Solver(BOB, commitment),
        Challenger(CHARLIE, lying_hashes(T, 40)),
        Referees(TRUTH),
        one_move_per_block=False,
    )
    assert market.dispute(d).outcome is DisputeOutcome.SOLVER_WON
    assert market.block <= market.job(job.id).window_end
    refused(market, MarketError.DuplicateChallenge, CHARLIE, dispute.challenge, job.id, 2)


# --- replayed moves --------------------------------------------------------------------------------------


def test_invalid_respond_replayed(market):
    _, commitment, d = opened(market, TRUTH)
    Solver(BOB, commitment).move(market, d)
    market.call(CHARLIE, dispute.respond, d, True)
    refused(market, MarketError.WrongPhase, CHARLIE, dispute.respond, d, True)


def test_invalid_reveal_replayed_as_the_same_signed_extrinsic(market):
    _, commitment, d = opened(market, TRUTH)
    raw, outcome = market.submit(BOB, dispute.reveal, d, *commitment.open(40))
    assert outcome.ok
    issuance = market.issuance()
    with assert_noop(market, validity.Stale):
        market.executive.apply_extrinsic(raw)
    assert market.issuance() == issuance


def test_invalid_vote_after_the_quorum_decided(market):
    _, commitment, d = opened(market, TRUTH)
    to_phase(market, d, commitment, DisputePhase.VOTING)
    Referees(TRUTH, keypairs=REFEREES[:3]).vote(market, d)
    assert market.dispute(d).phase is DisputePhase.RESOLVED
    refused(market, MarketError.WrongPhase, REFEREES[3], dispute.referee_vote, d, TRUTH[41])


# --- moves after their deadline --------------------------------------------------------------------------


def late_move(m: Market, d: int, commitment, phase: DisputePhase):
    """(who, call, args) of the move `phase` waits for."""
    state = m.dispute(d)
    if phase is DisputePhase.REVEAL:
        return BOB, dispute.reveal, (d, *commitment.open(state.next_step))
    if phase is DisputePhase.RESPONSE:
        return CHARLIE, dispute.respond, (d, True)
    if phase is DisputePhase.STEP_STATE:
        return BOB, dispute.submit_step_state, (d, bytes(32), state.lo_hash)
    return REFEREES[0], dispute.referee_vote, (d, TRUTH[state.lo + 1])


@pytest.mark.parametrize(
    "phase",
    [DisputePhase.REVEAL, DisputePhase.RESPONSE, DisputePhase.STEP_STATE, DisputePhase.VOTING],
    ids=lambda p: p.name,
)
def test_invalid_move_after_its_deadline(market, phase):
    _, commitment, d = opened(market, TRUTH)
    to_phase(market, d, commitment, phase)
    who, fn, args = late_move(market, d, commitment, phase)
    market.advance_to(market.dispute(d).deadline)  # on_initialize of the deadline block settles it first
    assert market.dispute(d).phase is DisputePhase.RESOLVED
    refused(market, MarketError.WrongPhase, who, fn, *args)


# --- the solver's commitment -----------------------------------------------------------------------------


def test_invalid_commit_twice(market):
    job, commitment = market.committed_job()
    other = lying_hashes(T, 1)
    refused(
        market,
        MarketError.NotAssignedSolver,
        BOB,
        calls.commit_result,
        job.id,
        other[-1],
        other[-1],
        other[-1],
        market.job(job.id).checkpoints,
        0,
        0,
        0,
    )
    assert market.job(job.id).result_root == commitment.root


def test_invalid_commit_after_the_commit_timeout(market):
    job = market.assigned_job()
    market.advance_to(job.deadline)
    assert market.job(job.id).status is JobStatus.SLASHED
    refused(
        market,
        MarketError.NotAssignedSolver,
        BOB,
        calls.commit_result,
        job.id,
        bytes(32),
        bytes(32),
        bytes(32),
        [bytes(32)] * job.segment_count,
        0,
        0,
        0,
    )
