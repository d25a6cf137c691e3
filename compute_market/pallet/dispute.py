"""The dispute game: a challenge bisects a segment down to one step, which the referees recompute.

A challenger names segment j = [j*k, min((j+1)*k, T)] whose end it cannot reproduce from the solver's
checkpoint. The interval [lo, hi] starts as the segment. While hi - lo > 1 the solver reveals
H[mid], mid = (lo + hi) // 2, with a Merkle proof checked here against its committed root, and the
challenger answers: agree -> [mid, hi], disagree -> [lo, mid]. An endpoint no reveal has opened yet (the
segment's own start or end) is revealed by the solver, unanswered, once one step is left. Then the
solver publishes the full state at s = lo (its hash must be the agreed H[s]) and the active validators
vote on H[s+1]: more than the quorum share of their stake on the solver's committed H[s+1] and the solver
wins; on any other single value and the challenger wins. Parties to the dispute do not referee it.

A segment of length L takes at most ceil(log2 L) reveal/response rounds plus at most two endpoint reveals,
one state publication and the votes: the on-chain cost grows as log2(k) (see benchmarks/bench_dispute.py).

For s = 0 the state is the spec's initial state, which referees derive from the spec rather than trust.
Availability. The bisection judges hashes only; it cannot make a solver serve the checkpoint blobs it
committed to. `challenge_availability(job, c)` (bonded, in the window) opens a dispute of kind AVAILABILITY
straight into VOTING on blob `job.checkpoints[c]`: each referee votes that blob's hash if its node could fetch
it (the blob service checks the content hash), and any other value once half the vote period has passed
without it. A quorum on the blob's hash and the reporter's bond goes to the solver; a quorum on anything else
and the solver is slashed as for a wrong step (a verifier is not slashed for it); no quorum voids it.

Every move has a deadline (`MoveDeadline`, `VotePeriod` for the referees) enforced in `on_initialize`:
a solver that misses a reveal or the state publication loses; a challenger that misses a response loses;
referees that reach no quorum void the dispute (bond returned, nobody slashed).
"""

from __future__ import annotations

from compute_market.commitment import segment_bounds, verify_step_hash
from compute_market.pallet import economics, lifecycle, windows
from compute_market.pallet.types import (
    AgendaKind,
    Dispute,
    DisputeId,
    DisputeKind,
    DisputeOutcome,
    DisputePhase,
    Disputes,
    Job,
    JobId,
    Jobs,
    JobStatus,
    LostChallenges,
    MarketConfig,
    MarketError,
    MarketEvent,
    NextDisputeId,
    RefereeVotes,
    Resolution,
    WindowEndsMs,
)
from runtime.frame.pallet import CallContext, call, deposit_event
from runtime.frame.support import Weight
from runtime.frame.types import H256, PERBILL, U32, Bool, Vec
from runtime.pallets import balances, staking

READ, WRITE = 25_000_000, 100_000_000  # picoseconds per storage read / write
HASH = 2_000_000  # one blake2-256 node of a Merkle proof


def _dispute(dispute_id: int) -> tuple[Dispute, Job]:
    d = Disputes.get(dispute_id)
    if d is None:
        raise MarketError.UnknownDispute(f"dispute {dispute_id} does not exist")
    return d, Jobs.get(d.job_id)


def _expect_phase(d: Dispute, phase: DisputePhase) -> None:
    if d.phase is not phase:
        raise MarketError.WrongPhase(f"dispute {d.id} is in phase {d.phase.name}, not {phase.name}")


def _next_move(d: Dispute, now: int) -> None:
    """After a reveal or response: the solver reveals again, or publishes the state at lo."""
    d.phase = DisputePhase.REVEAL if d.next_step is not None else DisputePhase.STEP_STATE
    _move_deadline(d, now)


def _move_deadline(d: Dispute, now: int) -> None:
    set_deadline(d, now + MarketConfig.current().move_deadline, windows.of_job(d.job_id).move_ms)


def set_deadline(d: Dispute, at: int, after_ms: int | None = None) -> None:
    """The party named by `d.phase` moves by block `at` and, when `after_ms` is given, for at least that
    long in chain time (`windows`); a later block set without a time keeps the time already set."""
    if after_ms is not None:
        windows.set_time(AgendaKind.DISPUTE, d.id, after_ms)
    d.deadline = at
    lifecycle.schedule(AgendaKind.DISPUTE, d.id, at)
    Disputes.insert(d.id, d)


def open_dispute(job: Job, challenger: bytes, segment: int, now: int) -> int:
    """Bond the challenger and start bisecting `segment`; `job` is updated and stored."""
    cfg = MarketConfig.current()
    if len(job.open_disputes) >= cfg.max_open_disputes:
        raise MarketError.TooManyDisputes(f"job {job.id} already has {len(job.open_disputes)} open disputes")
    for other in job.open_disputes:
        d = Disputes.get(other)
        if d.challenger == challenger and d.segment == segment and d.kind is DisputeKind.STEP:
            raise MarketError.DuplicateChallenge(f"dispute {other} already challenges segment {segment}")
    if LostChallenges.contains(job.id, (challenger, segment)):
        raise MarketError.DuplicateChallenge(f"this account already lost a dispute over segment {segment}")
    lo, hi = segment_bounds(job.steps, job.checkpoint_interval, segment)
    d = _attach(job, challenger, segment, lo, hi, DisputePhase.REVEAL, now)
    _move_deadline(d, now)
    deposit_event(MarketEvent.Challenged(d.id, job.id, challenger, segment, lo, hi))
    return d.id


def _attach(job: Job, challenger: bytes, segment: int, lo: int, hi: int, phase: DisputePhase, now: int,
            **fields) -> Dispute:
    """Bond the challenger and open a new dispute on `job` (stored, CHALLENGED); the caller sets its deadline."""
    cfg = MarketConfig.current()
    balances.reserve(challenger, cfg.challenger_bond)
    dispute_id = NextDisputeId.get()
    NextDisputeId.put(dispute_id + 1)
    job.disputes.append(dispute_id)
    job.open_disputes.append(dispute_id)
    job.status = JobStatus.CHALLENGED
    job.deadline = 0
    Jobs.insert(job.id, job)
    return Dispute(dispute_id, job.id, challenger, cfg.challenger_bond, segment, lo, hi, phase, 0, now, **fields)


# --- calls ----------------------------------------------------------------------------------------------


@call(index=9, weight=Weight(7 * READ + 6 * WRITE, 12_000))
def challenge(ctx: CallContext, job_id: JobId, segment: U32) -> None:
    """Anyone with the bond disputes a segment during the challenge window."""
    who = ctx.ensure_signed()
    job = _challengeable(job_id, who, segment, ctx.block_number)
    open_dispute(job, who, segment, ctx.block_number)


def _challengeable(job_id: int, who: bytes, segment: int, now: int) -> Job:
    job = Jobs.get(job_id)
    if job is None:
        raise MarketError.UnknownJob(f"job {job_id} does not exist")
    if job.status not in (JobStatus.COMMITTED, JobStatus.ATTESTED, JobStatus.CHALLENGED):
        raise MarketError.WrongJobStatus(f"job {job_id} is {job.status.name}; only committed results are challenged")
    if not windows.window_open(job_id, job.window_end, now):
        raise MarketError.WindowClosed(f"job {job_id}'s challenge window ended at block {job.window_end} and "
                                       f"chain time {WindowEndsMs.get(job_id)} ms")
    if who == job.solver:
        raise MarketError.PartyCannotAct("a solver cannot challenge its own result")
    if segment >= job.segment_count:
        raise MarketError.UnknownSegment(f"segment {segment} is outside 0..{job.segment_count - 1}")
    if len(job.open_disputes) >= MarketConfig.current().max_open_disputes:
        raise MarketError.TooManyDisputes(f"job {job.id} already has {len(job.open_disputes)} open disputes")
    return job


@call(index=15, weight=Weight(7 * READ + 6 * WRITE, 12_000))
def challenge_availability(ctx: CallContext, job_id: JobId, checkpoint: U32) -> None:
    """Anyone with the bond reports that the committed checkpoint blob `checkpoint` (the state at the end of
    that segment) cannot be fetched. The active validators, as referees, try to fetch it during
    `VotePeriod`: more than the quorum share of their stake voting the blob's hash (they got it) and the
    challenger's bond goes to the solver; a quorum on any other value (they did not) and the solver is
    slashed as for a wrong step; no quorum and the bond is returned. A solver that withholds a checkpoint
    therefore loses once the referees' wait is over, and one that re-serves it in time loses nothing."""
    who = ctx.ensure_signed()
    job = _challengeable(job_id, who, checkpoint, ctx.block_number)
    for other in job.open_disputes:
        d = Disputes.get(other)
        if d.challenger == who and d.segment == checkpoint and d.kind is DisputeKind.AVAILABILITY:
            raise MarketError.DuplicateChallenge(f"dispute {other} already reports checkpoint {checkpoint}")
    _lo, hi = segment_bounds(job.steps, job.checkpoint_interval, checkpoint)
    blob = job.checkpoints[checkpoint]
    d = _attach(job, who, checkpoint, hi, hi, DisputePhase.VOTING, ctx.block_number, hi_hash=blob,
                state_blob=blob, kind=DisputeKind.AVAILABILITY)
    _start_voting(d, job, ctx.block_number)
    ctx.deposit_event(MarketEvent.AvailabilityChallenged(d.id, job.id, who, checkpoint, blob))


def _reveal_weight(dispute_id: int, step_hash: bytes, proof: list[bytes]) -> Weight:
    return Weight(3 * READ + 3 * WRITE + HASH * (len(proof) + 2), 8_000 + 32 * len(proof))


@call(index=10, weight=_reveal_weight)
def reveal(ctx: CallContext, dispute_id: DisputeId, step_hash: H256, proof: Vec(H256, max_len=64)) -> None:
    """The solver opens H[next_step] against its committed root; the chain checks the proof."""
    who = ctx.ensure_signed()
    d, job = _dispute(dispute_id)
    _expect_phase(d, DisputePhase.REVEAL)
    if who != job.solver:
        raise MarketError.NotParty(f"only the solver of job {job.id} reveals in dispute {dispute_id}")
    step = d.next_step
    assert step is not None and job.result_root is not None
    if not verify_step_hash(job.result_root, job.steps, step, step_hash, proof):
        raise MarketError.BadProof(f"the proof does not open H[{step}] = 0x{step_hash.hex()} under the root of "
                                   f"job {job.id}")
    if d.hi - d.lo > 1:
        d.revealed = step_hash
        d.phase = DisputePhase.RESPONSE
        _move_deadline(d, ctx.block_number)
    else:
        if step == d.lo:
            d.lo_hash = step_hash
        else:
            d.hi_hash = step_hash
        _next_move(d, ctx.block_number)
    ctx.deposit_event(MarketEvent.StepRevealed(dispute_id, step, step_hash))


@call(index=11, weight=Weight(3 * READ + 3 * WRITE, 8_000))
def respond(ctx: CallContext, dispute_id: DisputeId, agree: Bool) -> None:
    """The challenger agrees (the fault is later) or disagrees (it is earlier) with the revealed H[mid]."""
    who = ctx.ensure_signed()
    d, _job = _dispute(dispute_id)
    _expect_phase(d, DisputePhase.RESPONSE)
    if who != d.challenger:
        raise MarketError.NotParty(f"only the challenger responds in dispute {dispute_id}")
    mid = (d.lo + d.hi) // 2
    if agree:
        d.lo, d.lo_hash = mid, d.revealed
    else:
        d.hi, d.hi_hash = mid, d.revealed
    d.revealed = None
    _next_move(d, ctx.block_number)
    ctx.deposit_event(MarketEvent.Responded(dispute_id, agree, d.lo, d.hi))


@call(index=12, weight=Weight(4 * READ + 3 * WRITE, 8_000))
def submit_step_state(ctx: CallContext, dispute_id: DisputeId, state_blob: H256, state_hash: H256) -> None:
    """The solver publishes the full state at s (a blob); its hash must be the agreed H[s]."""
    who = ctx.ensure_signed()
    d, job = _dispute(dispute_id)
    _expect_phase(d, DisputePhase.STEP_STATE)
    if who != job.solver:
        raise MarketError.NotParty(f"only the solver of job {job.id} publishes the state at step {d.lo}")
    if state_hash != d.lo_hash:
        raise MarketError.StateHashMismatch(f"the state hashes to 0x{state_hash.hex()}, but the agreed H[{d.lo}] "
                                            f"is 0x{(d.lo_hash or b'').hex()}")
    d.state_blob = state_blob
    _start_voting(d, job, ctx.block_number)
    ctx.deposit_event(MarketEvent.StepStatePublished(dispute_id, d.lo, state_blob))


def _start_voting(d: Dispute, job: Job, now: int) -> None:
    d.referee_stake = sum(stake for stash, _key, stake in staking.ActiveValidators.get()
                          if stash not in (job.solver, d.challenger))
    d.phase = DisputePhase.VOTING
    set_deadline(d, now + MarketConfig.current().vote_period, windows.of_job(job.id).vote_ms)


@call(index=13, weight=Weight(5 * READ + 4 * WRITE, 12_000))
def referee_vote(ctx: CallContext, dispute_id: DisputeId, claimed: H256) -> None:
    """An active validator votes for the H[s+1] it recomputed; a quorum decides the dispute at once."""
    who = ctx.ensure_signed()
    d, job = _dispute(dispute_id)
    _expect_phase(d, DisputePhase.VOTING)
    stake = next((s for stash, _key, s in staking.ActiveValidators.get() if stash == who), None)
    if stake is None:
        raise MarketError.NotReferee("the account is not in the active validator set")
    if who in (job.solver, d.challenger):
        raise MarketError.PartyCannotAct(f"a party to dispute {dispute_id} cannot referee it")
    if RefereeVotes.contains(dispute_id, who):
        raise MarketError.AlreadyVoted(f"this referee already voted in dispute {dispute_id}")
    RefereeVotes.insert(dispute_id, who, claimed)
    tally = dict(d.tally)
    tally[claimed] = tally.get(claimed, 0) + stake
    d.tally = sorted(tally.items())
    Disputes.insert(d.id, d)
    ctx.deposit_event(MarketEvent.RefereeVoted(dispute_id, who, claimed, stake))
    quorum = MarketConfig.current().referee_quorum
    for value, weight in d.tally:
        if weight * PERBILL > d.referee_stake * quorum:
            if value == d.hi_hash:
                solver_wins(d, job, ctx.block_number, Resolution.VOTE)
            else:
                challenger_wins(d, job, Resolution.VOTE)
            return


# --- outcomes -------------------------------------------------------------------------------------------


def _resolve(d: Dispute, outcome: DisputeOutcome, resolution: Resolution) -> None:
    d.phase, d.outcome, d.resolution, d.deadline = DisputePhase.RESOLVED, outcome, resolution, 0
    Disputes.insert(d.id, d)
    deposit_event(MarketEvent.DisputeResolved(d.id, d.job_id, outcome, resolution))


def challenger_wins(d: Dispute, job: Job, resolution: Resolution) -> None:
    """The solver is at fault: slash it (and a verifier that passed this segment); end the other disputes."""
    _resolve(d, DisputeOutcome.CHALLENGER_WON, resolution)
    others = [i for i in job.open_disputes if i != d.id]
    job.open_disputes = []
    if d.kind is DisputeKind.STEP and job.verifier is not None and d.segment in job.attested_ok:
        economics.slash_verifier(job.verifier, d.challenger)
    lifecycle.slash_job(job, beneficiary=d.challenger)
    economics.return_bond(d.challenger, d.bond)
    for other_id in others:
        other = Disputes.get(other_id)
        _resolve(other, DisputeOutcome.VOID, Resolution.SUPERSEDED)
        economics.return_bond(other.challenger, other.bond)


def _close(d: Dispute, job: Job, now: int) -> None:
    job.open_disputes = [i for i in job.open_disputes if i != d.id]
    if job.open_disputes:
        Jobs.insert(job.id, job)
    else:
        lifecycle.reopen_after_disputes(job, now)


def solver_wins(d: Dispute, job: Job, now: int, resolution: Resolution) -> None:
    """A false challenge: the challenger's bond is slashed in the solver's favour."""
    assert job.solver is not None
    _resolve(d, DisputeOutcome.SOLVER_WON, resolution)
    if d.kind is DisputeKind.STEP:
        LostChallenges.insert(job.id, (d.challenger, d.segment), True)
    economics.forfeit_bond(d.challenger, d.bond, job.solver)
    _close(d, job, now)


def void(d: Dispute, job: Job, now: int, resolution: Resolution) -> None:
    """No winner: the bond goes back and the job carries on."""
    _resolve(d, DisputeOutcome.VOID, resolution)
    economics.return_bond(d.challenger, d.bond)
    _close(d, job, now)


def on_deadline(d: Dispute, now: int) -> None:
    """The party whose move it was missed its deadline and loses; referees without a quorum void it."""
    job = Jobs.get(d.job_id)
    if d.phase in (DisputePhase.REVEAL, DisputePhase.STEP_STATE):
        challenger_wins(d, job, Resolution.SOLVER_TIMEOUT)
    elif d.phase is DisputePhase.RESPONSE:
        solver_wins(d, job, now, Resolution.CHALLENGER_TIMEOUT)
    elif d.phase is DisputePhase.VOTING:
        void(d, job, now, Resolution.NO_QUORUM)


CALLS = (challenge, reveal, respond, submit_step_state, referee_vote, challenge_availability)
