"""Time-based windows: a faster chain does not shorten what the solver, auditors or referees get.

Each window is its block count and at least TimeSafety x the cost model's expected seconds plus a floor of
chain time (compute_market/pallet/windows.py). These tests run the same jobs at 250 ms blocks (the dev
chain's minimum period) and at 2 s blocks."""

from __future__ import annotations

import pytest

from compute_market import cost
from compute_market.jobspec import JobSpec
from compute_market.pallet import calls, dispute, windows
from compute_market.pallet.types import (
    DisputeOutcome,
    DisputePhase,
    JobStatus,
    MarketConfig,
    MarketError,
    Resolution,
)
from tests.market.harness import CHARLIE, REFEREES, Market, make_spec, true_hashes

FLOORS = {"commitFloorMs": 60_000, "challengeFloorMs": 30_000, "moveFloorMs": 10_000, "voteFloorMs": 20_000}


def fast(**parameters: int) -> Market:
    return Market(block_ms=250, **{**FLOORS, **parameters})


def time_of(m: Market) -> int:
    return m.now_ms


def wait_while(m: Market, pending) -> int:
    """Advance while `pending()` holds; returns the chain time that took (ms)."""
    start = m.now_ms
    while pending():
        m.advance()
    return m.now_ms - start


def test_windows_derive_from_the_cost_model():
    cfg = MarketConfig(
        **{"commit_floor_ms": 1, "challenge_floor_ms": 2, "move_floor_ms": 3, "vote_floor_ms": 4}
    )
    small = JobSpec.decode(make_spec(64, 16))
    w = windows.windows_for(small, cfg)
    jc = cost.job_cost(small)
    assert w.commit_ms == 1 + int(4 * jc.job_seconds * 1000 + 0.999)
    assert w.challenge_ms == 2 + int(4 * jc.verifier_seconds(2) * 1000 + 0.999)
    assert w.move_ms == 3 + int(4 * jc.load_seconds * 1000 + 0.999)
    assert w.vote_ms == 4 + int(4 * jc.referee_seconds * 1000 + 0.999)
    longer = windows.windows_for(JobSpec.decode(make_spec(640, 160)), cfg)
    assert longer.commit_ms > 9 * (w.commit_ms - 1) and longer.challenge_ms > 9 * (w.challenge_ms - 2)
    assert longer.vote_ms == w.vote_ms  # one step is one step


def test_fast_chain_keeps_the_challenge_window_open_for_its_time():
    m = fast()
    job, _ = m.committed_job(hashes=true_hashes(64))
    opened_at = time_of(m)
    m.advance_to(job.window_end + 1)  # 8 blocks: 2 s of chain time, far short of the 30 s floor
    m.call(CHARLIE, dispute.challenge, job.id, 0)  # still accepted
    assert m.job(job.id).status is JobStatus.CHALLENGED
    m2 = fast()
    job2, _ = m2.committed_job(hashes=true_hashes(64))
    m2.advance_to(job2.window_end + 5)
    with pytest.raises(MarketError.WindowOpen):
        m2.call(CHARLIE, calls.finalize, job2.id)
    wait_while(m2, lambda: m2.job(job2.id).status is not JobStatus.FINALIZED)
    assert time_of(m2) - opened_at >= 30_000 - 1_000
    with pytest.raises(MarketError.WrongJobStatus):
        m2.call(CHARLIE, dispute.challenge, job2.id, 0)


def test_slow_chain_keeps_the_block_count_when_it_is_longer():
    m = Market(block_ms=6_000, **FLOORS)  # 8 blocks = 48 s > the 30 s floor
    job, _ = m.committed_job(hashes=true_hashes(64))
    m.advance_to(job.window_end)
    m.call(CHARLIE, dispute.challenge, job.id, 0)
    m3 = Market(block_ms=6_000, **FLOORS)
    job3, _ = m3.committed_job(hashes=true_hashes(64))
    m3.advance_to(job3.window_end + 1)
    with pytest.raises(MarketError.WindowClosed):
        m3.call(CHARLIE, dispute.challenge, job3.id, 0)


def test_fast_chain_gives_referees_their_vote_time():
    m = fast()
    job, _ = m.committed_job(hashes=true_hashes(64))
    m.call(CHARLIE, dispute.challenge_artifact, job.id, 0, 1, False)
    d = m.job(job.id).open_disputes[-1]
    block_deadline = m.dispute(d).deadline
    m.advance_to(block_deadline + 1)  # the 4-block vote period is 1 s here
    assert m.dispute(d).phase is DisputePhase.VOTING  # the 20 s floor still runs
    for k in REFEREES[:3]:
        m.call(k, dispute.referee_vote, d, job.checkpoints[1])
    assert m.dispute(d).outcome is DisputeOutcome.SOLVER_WON


def test_fast_chain_resolves_a_silent_vote_only_after_its_time():
    m = fast()
    job, _ = m.committed_job(hashes=true_hashes(64))
    m.call(CHARLIE, dispute.challenge_artifact, job.id, 0, 1, False)
    d = m.job(job.id).open_disputes[-1]
    assert wait_while(m, lambda: m.dispute(d).phase is DisputePhase.VOTING) >= 20_000
    assert m.dispute(d).resolution is Resolution.NO_QUORUM


def test_fast_chain_gives_the_solver_its_commit_time():
    m = fast()
    job = m.assigned_job()
    assigned_at = time_of(m)
    m.advance_to(job.deadline + 1)  # 10 blocks = 2.5 s
    assert m.job(job.id).status is JobStatus.ASSIGNED
    wait_while(m, lambda: m.job(job.id).status is JobStatus.ASSIGNED)
    assert m.job(job.id).status is JobStatus.SLASHED
    assert time_of(m) - assigned_at >= 60_000


def test_fast_chain_gives_each_dispute_move_its_time():
    m = fast()
    job, _ = m.committed_job(hashes=true_hashes(64))
    m.call(CHARLIE, dispute.challenge, job.id, 0)
    d = m.job(job.id).open_disputes[-1]
    opened = time_of(m)
    m.advance_to(m.dispute(d).deadline + 2)  # 3 blocks: under a second
    assert m.dispute(d).phase is DisputePhase.REVEAL
    wait_while(m, lambda: m.dispute(d).phase is DisputePhase.REVEAL)
    assert m.dispute(d).resolution is Resolution.SOLVER_TIMEOUT
    assert time_of(m) - opened >= 10_000


def test_a_stored_spec_that_no_longer_validates_gets_the_floors(monkeypatch):
    m = fast()
    job = m.assigned_job()
    monkeypatch.setitem(cost.MAX_STEP_FLOPS, "mlp", 1)  # an upgrade lowered the cap below this job's step
    with m.ext():
        w = windows.of_job(job.id)
    assert (w.commit_ms, w.challenge_ms, w.move_ms, w.vote_ms) == (60_000, 30_000, 10_000, 20_000)
