"""Artifact disputes: a committed checkpoint, hash list, final model or evaluation, or the submitter's
dataset, checked by the referees and decided by their votes (the checks themselves are
compute_market/worker/audit.py's)."""

from __future__ import annotations

import pytest

from compute_market.commitment import evaluation_hash
from compute_market.jobspec import JobSpec
from compute_market.pallet import calls, dispute
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
from tests.market.harness import (
    ALICE,
    BOB,
    CHARLIE,
    EVE,
    REFEREES,
    Market,
    make_spec,
    true_hashes,
)
from tests.market.harness import EVALUATION as EVALUATION_FIGURES

BOND = 10 * UNIT  # ChallengerBond, and the SubmissionBond
FAULT = b"\xee" * 32  # any value but the artifact's hi_hash
CHECKPOINT, HASH_LIST, FINAL_MODEL, EVALUATION = 0, 1, 2, 3
PAYMENT = 20 * UNIT
LOCK = 10 * UNIT + PAYMENT // 2  # jobStakeLock + jobStakeRatio x payment


def challenged(
    m: Market, kind: int = CHECKPOINT, index: int = 1, challenger=CHARLIE, unavailable: bool = False
):
    job, _ = m.committed_job(hashes=true_hashes(64))
    m.call(challenger, dispute.challenge_artifact, job.id, kind, index, unavailable)
    return m.job(job.id), m.job(job.id).open_disputes[-1]


def reported(m: Market):
    job = m.assigned_job()
    m.call(BOB, dispute.report_dataset, job.id)
    return m.job(job.id), m.job(job.id).open_disputes[-1]


def vote(m: Market, dispute_id: int, value: bytes, count: int = len(REFEREES)) -> None:
    for k in REFEREES[:count]:
        if m.dispute(dispute_id).phase is not DisputePhase.VOTING:
            return
        m.call(k, dispute.referee_vote, dispute_id, value)


def holdings(m: Market, *who) -> list[int]:
    return [m.free(k) + m.reserved(k) for k in who]


# --- what each kind of challenge names --------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,index,dispute_kind,interval",
    [
        (CHECKPOINT, 1, DisputeKind.CHECKPOINT, (32, 32)),
        (HASH_LIST, 0, DisputeKind.HASH_LIST, (0, 64)),
        (FINAL_MODEL, 0, DisputeKind.FINAL_MODEL, (64, 64)),
        (EVALUATION, 0, DisputeKind.EVALUATION, (64, 64)),
    ],
)
def test_challenge_opens_a_vote_on_the_named_artifact(market, kind, index, dispute_kind, interval):
    job, d = challenged(market, kind, index)
    opened = market.dispute(d)
    assert opened.kind is dispute_kind and opened.phase is DisputePhase.VOTING
    blob, valid = {
        CHECKPOINT: (job.checkpoints[1], job.checkpoints[1]),
        HASH_LIST: (job.hash_list, job.hash_list),
        FINAL_MODEL: (job.checkpoints[-1], job.final_hash),
        EVALUATION: (job.checkpoints[-1], evaluation_hash(job.evaluation.figures())),
    }[kind]
    assert (opened.state_blob, opened.hi_hash) == (blob, valid)
    assert (opened.segment, opened.lo, opened.hi) == (index, *interval)
    assert job.status is JobStatus.CHALLENGED and market.reserved(CHARLIE) == BOND
    name, args = market.market_events()[-1]
    assert name == "ArtifactChallenged" and tuple(args) == (
        d,
        job.id,
        CHARLIE.public,
        dispute_kind,
        index,
        blob,
        False,
    )


def test_commitment_names_the_hash_list(market):
    job, commitment = market.committed_job()
    assert job.hash_list is not None and job.hash_list != job.result_root
    assert job.result_root == commitment.root


@pytest.mark.parametrize("kind", [CHECKPOINT, HASH_LIST, FINAL_MODEL, EVALUATION])
def test_bad_artifact_slashes_the_solver_and_pays_the_challenger(market, kind):
    job, d = challenged(market, kind, 1 if kind == CHECKPOINT else 0)
    alice, bob, charlie = holdings(market, ALICE, BOB, CHARLIE)
    issuance = market.issuance()
    vote(market, d, FAULT)
    result = market.dispute(d)
    assert result.outcome is DisputeOutcome.CHALLENGER_WON and result.resolution is Resolution.VOTE
    assert market.job(job.id).status is JobStatus.SLASHED
    assert holdings(market, ALICE, BOB, CHARLIE) == [alice, bob - LOCK, charlie + LOCK // 2]
    assert market.reserved(ALICE) == 0 and market.reserved(CHARLIE) == 0  # escrow, bond and bond all released
    assert market.issuance() == issuance - LOCK // 2  # the burn share of the lock, nothing else


def test_correct_evaluation_costs_its_challenger_the_bond(market):
    job, d = challenged(market, EVALUATION, 0)
    bob, charlie = holdings(market, BOB, CHARLIE)
    vote(market, d, EVALUATION_FIGURES.hash)  # the referees recomputed the committed figures
    assert market.dispute(d).outcome is DisputeOutcome.SOLVER_WON
    assert holdings(market, BOB, CHARLIE) == [bob + BOND // 2, charlie - BOND]
    assert market.job(job.id).status is JobStatus.COMMITTED


def test_good_artifact_costs_the_challenger_its_bond(market):
    job, d = challenged(market)
    bob, charlie = holdings(market, BOB, CHARLIE)
    vote(market, d, job.checkpoints[1])
    result = market.dispute(d)
    assert result.outcome is DisputeOutcome.SOLVER_WON and result.resolution is Resolution.VOTE
    assert holdings(market, BOB, CHARLIE) == [bob + BOND // 2, charlie - BOND]  # WinnerShare 50%, rest burned
    assert market.job(job.id).status is JobStatus.COMMITTED
    # a lost artifact challenge does not stop the same account from disputing the segment's steps
    market.call(CHARLIE, dispute.challenge, job.id, 1)


@pytest.mark.parametrize("kind", [CHECKPOINT, HASH_LIST, FINAL_MODEL, EVALUATION])
def test_artifact_reported_unavailable_and_never_served_slashes_the_solver(market, kind):
    job, d = challenged(market, kind, 1 if kind == CHECKPOINT else 0, unavailable=True)
    bob, charlie = holdings(market, BOB, CHARLIE)
    vote(market, d, FAULT)
    assert market.dispute(d).outcome is DisputeOutcome.CHALLENGER_WON
    assert holdings(market, BOB, CHARLIE) == [bob - LOCK, charlie + LOCK // 2]


def test_artifact_reported_unavailable_then_served_costs_nobody_and_reopens_the_window(market):
    """The solver may have withheld it until challenged, or the challenger may lie: neither is provable, so
    nobody pays, and the auditors get a full challenge window to check what is now served."""
    job, _ = market.committed_job(hashes=true_hashes(64))
    market.advance_to(job.window_end)  # challenged at the window's last block
    market.call(CHARLIE, dispute.challenge_artifact, job.id, CHECKPOINT, 1, True)
    d = market.job(job.id).open_disputes[-1]
    bob, charlie, issuance = *holdings(market, BOB, CHARLIE), market.issuance()
    vote(market, d, job.checkpoints[1])
    result = market.dispute(d)
    assert (result.outcome, result.resolution) == (DisputeOutcome.VOID, Resolution.SERVED)
    assert holdings(market, BOB, CHARLIE) == [bob, charlie] and market.reserved(CHARLIE) == 0
    assert market.issuance() == issuance
    reopened = market.job(job.id)
    assert (
        reopened.status is JobStatus.COMMITTED and reopened.window_end == market.block + 8
    )  # ChallengeWindow
    assert reopened.deadline == reopened.window_end + 2  # FinalizeGrace
    # having fetched it now, the same auditor may claim it fails its check
    market.call(CHARLIE, dispute.challenge_artifact, job.id, CHECKPOINT, 1, False)
    assert market.dispute(market.job(job.id).open_disputes[-1]).unavailable is False


def test_no_quorum_returns_the_bond(market):
    job, d = challenged(market)
    charlie = market.free(CHARLIE)
    vote(market, d, FAULT, count=2)  # half the referee stake
    market.advance_to(market.dispute(d).deadline)
    result = market.dispute(d)
    assert result.outcome is DisputeOutcome.VOID and result.resolution is Resolution.NO_QUORUM
    assert market.free(CHARLIE) == charlie + BOND
    assert market.job(job.id).status is JobStatus.COMMITTED


def test_two_challengers_at_once_the_first_proven_fault_settles_both(market):
    job, first = challenged(market, CHECKPOINT, 1, challenger=CHARLIE)
    market.call(EVE, dispute.challenge_artifact, job.id, HASH_LIST, 0, False)
    second = market.job(job.id).open_disputes[-1]
    charlie, eve = holdings(market, CHARLIE, EVE)
    vote(market, first, FAULT)
    assert market.dispute(first).outcome is DisputeOutcome.CHALLENGER_WON
    superseded = market.dispute(second)
    assert superseded.outcome is DisputeOutcome.VOID and superseded.resolution is Resolution.SUPERSEDED
    assert holdings(market, CHARLIE, EVE) == [charlie + LOCK // 2, eve]  # Eve's bond came back whole
    assert market.reserved(EVE) == 0


# --- refused challenges ----------------------------------------------------------------------------------


def test_invalid_artifact_challenge_by_the_solver(market):
    job, _ = market.committed_job()
    with assert_noop(market, MarketError.PartyCannotAct):
        market.call(BOB, dispute.challenge_artifact, job.id, CHECKPOINT, 0, False)


@pytest.mark.parametrize(
    "kind,index", [(CHECKPOINT, 4), (4, 0), (255, 0), (HASH_LIST, 1), (FINAL_MODEL, 2), (EVALUATION, 1)]
)
def test_invalid_artifact_challenge_of_an_unknown_artifact(market, kind, index):
    job, _ = market.committed_job()
    error = MarketError.UnknownSegment if kind == CHECKPOINT else MarketError.UnknownArtifact
    with assert_noop(market, error):
        market.call(CHARLIE, dispute.challenge_artifact, job.id, kind, index, False)


def test_invalid_artifact_challenge_after_the_window(market):
    job, _ = market.committed_job()
    market.advance_to(job.window_end + 1)
    with assert_noop(market, MarketError.WindowClosed):
        market.call(CHARLIE, dispute.challenge_artifact, job.id, CHECKPOINT, 0, False)


def test_invalid_duplicate_artifact_challenge(market):
    job, _ = challenged(market, CHECKPOINT, 2)
    with assert_noop(market, MarketError.DuplicateChallenge):
        market.call(CHARLIE, dispute.challenge_artifact, job.id, CHECKPOINT, 2, False)
    market.call(CHARLIE, dispute.challenge_artifact, job.id, HASH_LIST, 0, False)  # another artifact is fine
    market.call(EVE, dispute.challenge_artifact, job.id, CHECKPOINT, 2, False)  # and another account


def test_invalid_artifact_challenge_of_an_uncommitted_job(market):
    job = market.assigned_job()
    with assert_noop(market, MarketError.WrongJobStatus):
        market.call(CHARLIE, dispute.challenge_artifact, job.id, CHECKPOINT, 0, False)


# --- the submitter's dataset -----------------------------------------------------------------------------


def test_submission_reserves_the_bond_and_every_honest_ending_returns_it(market):
    job, _ = market.committed_job(payment=PAYMENT)
    assert job.submitter_bond == BOND
    assert market.reserved(ALICE) == PAYMENT + UNIT + BOND
    market.advance_to(market.job(job.id).deadline)
    assert market.job(job.id).status is JobStatus.FINALIZED and market.reserved(ALICE) == 0


def test_cancelled_job_returns_the_bond(market):
    market.call(ALICE, calls.submit_job, _spec(), PAYMENT)
    alice = holdings(market, ALICE)
    market.call(ALICE, calls.cancel_job, _last_job(market))
    assert market.reserved(ALICE) == 0 and holdings(market, ALICE) == alice


def test_report_opens_a_vote_on_the_dataset(market):
    job, d = reported(market)
    opened = market.dispute(d)
    dataset = JobSpec.decode(_spec()).dataset_hash
    assert opened.kind is DisputeKind.DATASET and opened.phase is DisputePhase.VOTING
    assert opened.challenger == BOB.public and opened.state_blob == opened.hi_hash == dataset
    assert job.status is JobStatus.CHALLENGED and job.deadline == 0  # the commit deadline waits for the vote
    assert market.reserved(BOB) == 1_000 * UNIT + BOND  # the stake, and the report bond
    name, args = market.market_events()[-1]
    assert name == "DatasetReported" and tuple(args) == (d, job.id, BOB.public, dataset)


def test_unusable_dataset_slashes_the_submitters_bond_and_releases_the_solver(market):
    job, d = reported(market)
    alice, bob = holdings(market, ALICE, BOB)
    issuance = market.issuance()
    vote(market, d, FAULT)
    assert market.dispute(d).outcome is DisputeOutcome.CHALLENGER_WON
    ended = market.job(job.id)
    assert ended.status is JobStatus.REJECTED and ended.deadline == 0
    assert holdings(market, ALICE, BOB) == [alice - BOND, bob + BOND // 2]
    assert market.reserved(ALICE) == 0 and market.reserved(BOB) == 1_000 * UNIT  # stake only, nothing locked
    with market.ext():
        from compute_market.pallet.types import Solvers

        assert Solvers.get(BOB.public).locked == 0 and Solvers.get(BOB.public).jobs == 0
    assert market.issuance() == issuance - BOND // 2
    assert [n for n, _ in market.market_events()][-1] == "JobRejected"


def test_false_dataset_report_costs_the_solver_its_bond_and_it_must_still_commit(market):
    job, d = reported(market)
    alice, bob = holdings(market, ALICE, BOB)
    vote(market, d, JobSpec.decode(_spec()).dataset_hash)
    assert market.dispute(d).outcome is DisputeOutcome.SOLVER_WON
    resumed = market.job(job.id)
    assert (
        resumed.status is JobStatus.ASSIGNED and resumed.deadline == market.block + 10
    )  # CommitTimeout anew
    assert holdings(market, ALICE, BOB) == [alice + BOND // 2, bob - BOND]
    market.advance_to(resumed.deadline)  # and it never commits: slashed as usual
    assert market.job(job.id).status is JobStatus.SLASHED


def test_dataset_vote_without_quorum_gives_the_solver_a_fresh_deadline(market):
    job, d = reported(market)
    bob = market.free(BOB)
    vote(market, d, FAULT, count=2)
    market.advance_to(market.dispute(d).deadline)
    assert market.dispute(d).outcome is DisputeOutcome.VOID
    resumed = market.job(job.id)
    assert resumed.status is JobStatus.ASSIGNED and resumed.deadline > market.block
    assert market.free(BOB) == bob + BOND


def test_invalid_dataset_report_by_another_account(market):
    job = market.assigned_job()
    with assert_noop(market, MarketError.NotAssignedSolver):
        market.call(CHARLIE, dispute.report_dataset, job.id)


def test_invalid_dataset_report_after_the_commitment(market):
    job, _ = market.committed_job()
    with assert_noop(market, MarketError.NotAssignedSolver):
        market.call(BOB, dispute.report_dataset, job.id)


def test_invalid_second_dataset_report(market):
    job, _ = reported(market)
    with assert_noop(market, MarketError.NotAssignedSolver):
        market.call(BOB, dispute.report_dataset, job.id)


def test_invalid_commit_while_the_dataset_vote_runs(market):
    job, _ = reported(market)
    with assert_noop(market, MarketError.NotAssignedSolver):
        market.call(
            BOB, calls.commit_result, job.id, bytes(32), bytes(32), bytes(32), [bytes(32)] * 4, 0, 0, 0
        )


def test_the_submitter_never_referees_its_own_job(market):
    validator = REFEREES[0]
    job = market.assigned_job(submitter=validator)
    market.call(BOB, dispute.report_dataset, job.id)
    d = market.job(job.id).open_disputes[-1]
    assert market.dispute(d).referee_stake == 3 * 10_000 * UNIT  # the submitter's stake does not count
    with assert_noop(market, MarketError.PartyCannotAct):
        market.call(validator, dispute.referee_vote, d, FAULT)


def _spec() -> bytes:
    return make_spec()


def _last_job(m: Market) -> int:
    with m.ext():
        from compute_market.pallet.types import NextJobId

        return NextJobId.get() - 1
