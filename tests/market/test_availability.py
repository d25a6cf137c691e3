"""The availability challenge: a committed checkpoint reported unavailable, decided by the referees' votes."""

from __future__ import annotations

import pytest

from compute_market.pallet import dispute
from compute_market.pallet.types import (
    UNIT,
    DisputeKind,
    DisputeOutcome,
    DisputePhase,
    JobStatus,
    MarketError,
    Resolution,
)
from tests.market.conftest import assert_noop
from tests.market.harness import BOB, CHARLIE, EVE, REFEREES, Market, true_hashes

BOND = 10 * UNIT
UNAVAILABLE = b"\xee" * 32  # any value but the blob's hash


def reported(m: Market, checkpoint: int = 1, challenger=CHARLIE):
    job, _ = m.committed_job(hashes=true_hashes(64))
    m.call(challenger, dispute.challenge_availability, job.id, checkpoint)
    return m.job(job.id), m.job(job.id).open_disputes[-1]


def vote(m: Market, dispute_id: int, value: bytes, count: int = len(REFEREES)) -> None:
    for k in REFEREES[:count]:
        if m.dispute(dispute_id).phase is not DisputePhase.VOTING:
            return
        m.call(k, dispute.referee_vote, dispute_id, value)


def test_report_opens_a_vote_on_the_committed_blob(market):
    job, d = reported(market, checkpoint=1)
    opened = market.dispute(d)
    assert opened.kind is DisputeKind.AVAILABILITY and opened.phase is DisputePhase.VOTING
    assert opened.state_blob == opened.hi_hash == job.checkpoints[1]
    assert (opened.segment, opened.lo, opened.hi) == (1, 32, 32)
    assert job.status is JobStatus.CHALLENGED and market.reserved(CHARLIE) == BOND
    name, args = market.market_events()[-1]
    assert name == "AvailabilityChallenged" and tuple(args) == (d, job.id, CHARLIE.public, 1, job.checkpoints[1])


def test_withheld_checkpoint_slashes_the_solver_and_pays_the_reporter(market):
    job, d = reported(market)
    charlie, issuance = market.free(CHARLIE), market.issuance()
    vote(market, d, UNAVAILABLE)
    result = market.dispute(d)
    assert result.outcome is DisputeOutcome.CHALLENGER_WON and result.resolution is Resolution.VOTE
    assert market.job(job.id).status is JobStatus.SLASHED
    assert market.free(CHARLIE) > charlie + BOND  # bond back plus the winner's share of the lock
    assert market.issuance() <= issuance  # slashes pay the winner and burn the rest; nothing is minted


def test_served_checkpoint_costs_the_reporter_its_bond(market):
    job, d = reported(market)
    bob, charlie = market.free(BOB) + market.reserved(BOB), market.free(CHARLIE)
    vote(market, d, job.checkpoints[1])
    result = market.dispute(d)
    assert result.outcome is DisputeOutcome.SOLVER_WON and result.resolution is Resolution.VOTE
    assert market.reserved(CHARLIE) == 0 and market.free(CHARLIE) == charlie  # the bond is gone
    assert market.free(BOB) + market.reserved(BOB) == bob + BOND // 2  # WinnerShare 50%, the rest burned
    assert market.job(job.id).status is JobStatus.COMMITTED
    # a lost availability report does not stop the same account from disputing the segment's steps
    market.call(CHARLIE, dispute.challenge, job.id, 1)


def test_no_quorum_returns_the_bond(market):
    job, d = reported(market)
    charlie = market.free(CHARLIE)
    vote(market, d, UNAVAILABLE, count=2)  # half the referee stake
    market.advance_to(market.dispute(d).deadline)
    result = market.dispute(d)
    assert result.outcome is DisputeOutcome.VOID and result.resolution is Resolution.NO_QUORUM
    assert market.free(CHARLIE) == charlie + BOND
    assert market.job(job.id).status is JobStatus.COMMITTED


def test_invalid_availability_report_by_the_solver(market):
    job, _ = market.committed_job()
    with assert_noop(market), pytest.raises(MarketError.PartyCannotAct):
        market.call(BOB, dispute.challenge_availability, job.id, 0)


def test_invalid_availability_report_of_an_unknown_checkpoint(market):
    job, _ = market.committed_job()
    with assert_noop(market), pytest.raises(MarketError.UnknownSegment):
        market.call(CHARLIE, dispute.challenge_availability, job.id, 4)


def test_invalid_availability_report_after_the_window(market):
    job, _ = market.committed_job()
    market.advance_to(job.window_end + 1)
    with assert_noop(market), pytest.raises(MarketError.WindowClosed):
        market.call(CHARLIE, dispute.challenge_availability, job.id, 0)


def test_invalid_duplicate_availability_report(market):
    job, _ = reported(market, checkpoint=2)
    with assert_noop(market), pytest.raises(MarketError.DuplicateChallenge):
        market.call(CHARLIE, dispute.challenge_availability, job.id, 2)
    market.call(EVE, dispute.challenge_availability, job.id, 2)  # another account may report it too


def test_invalid_availability_report_of_an_uncommitted_job(market):
    job = market.assigned_job()
    with assert_noop(market), pytest.raises(MarketError.WrongJobStatus):
        market.call(CHARLIE, dispute.challenge_availability, job.id, 0)
