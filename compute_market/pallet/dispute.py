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

Artifacts. The bisection judges hashes only. Every other thing a party commits to is judged by a direct
check that every referee runs the same way (fetch, decode, validate, hash; compute_market/worker/audit.py)
and votes on: `challenge_artifact(job, kind, index)` (bonded, in the window, by anyone but the solver)
opens a dispute straight into VOTING on one of the solver's artifacts:
  CHECKPOINT j   the blob `job.checkpoints[j]` must fetch, load as a valid state of the spec's model and
                 optimizer at step `checkpoint_steps(T, k)[j]`, and hash to that step's H in the hash list;
  HASH_LIST      the blob `job.hash_list` must fetch and decode as exactly T + 1 hashes whose Merkle root
                 is the committed `result_root` (so every H[i] is bound to the commitment, off chain);
  FINAL_MODEL    the last checkpoint must be valid at step T as above, and `final_hash` the hash of its
                 model part;
  EVALUATION     the last checkpoint must be valid at step T as above, and its model's evaluation on the
                 dataset's held-out split (compute_market/worker/evaluation.py) the committed figures, bit
                 for bit; the referees vote `evaluation_hash` of the figures they recompute.
`report_dataset(job)` (bonded, by the assigned solver, before it commits) opens a DATASET dispute: the
blob named by the spec's dataset_hash must fetch and validate for the spec (names, dtypes, shapes, finite
values, label and token ranges, size caps); the solver's commit deadline waits for the vote.
A referee votes the dispute's `hi_hash` (the artifact's blob hash, `final_hash`, the committed
evaluation's `evaluation_hash`, or the dataset hash) if
the check passes and any other value if it fails or the blob stayed unavailable for half the vote period.
An artifact challenger says which fault it claims: `unavailable` (it could not fetch the blob) or not (it
fetched it and the check failed). A quorum on `hi_hash` upholds the artifact. A claim that it fails its
check was then provably false (the blob's content is fixed by its hash), and the challenger's bond goes to
the solver. A claim that it could not be fetched cannot be proven false: the solver may have served it
only once challenged, so the dispute is void (bond back, resolution SERVED) and the challenge window
reopens for at least its full length, so that auditors can check the artifact now served. A reporting
solver's bond goes to the submitter when the dataset is upheld (and the solver gets a fresh commit
deadline). A quorum on anything else
proves the fault: an artifact's solver is slashed as for a wrong step (a verifier is not slashed for it);
a dataset's submitter loses its SubmissionBond to the solver, the escrow is refunded and the solver
released (job REJECTED). No quorum voids the dispute. Parties to a dispute, the job's submitter
included, do not referee it.

Every move has a deadline (`MoveDeadline`, `VotePeriod` for the referees) enforced in `on_initialize`:
a solver that misses a reveal or the state publication loses (its lock only: a verifier that passed the
segment is slashed only when the referees recompute a step of it and it differs from the solver's, not
when they vote FAULT_VOTE on a published state they cannot load); a challenger that misses a response
loses; referees that reach no quorum void the dispute (bond returned, nobody slashed).
"""

from __future__ import annotations

from compute_market.commitment import FAULT_VOTE, evaluation_hash, segment_bounds, verify_step_hash
from compute_market.jobspec import JobSpec
from compute_market.pallet import economics, lifecycle, windows
from compute_market.pallet.types import (
    ARTIFACT_KINDS,
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
    JobSpecs,
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
from runtime.frame.types import H256, PERBILL, U8, U32, Bool, Vec
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


def _attach(
    job: Job, challenger: bytes, segment: int, lo: int, hi: int, phase: DisputePhase, now: int, **fields
) -> Dispute:
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
    return Dispute(
        dispute_id, job.id, challenger, cfg.challenger_bond, segment, lo, hi, phase, 0, now, **fields
    )


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
        raise MarketError.WrongJobStatus(
            f"job {job_id} is {job.status.name}; only committed results are challenged"
        )
    if not windows.window_open(job_id, job.window_end, now):
        raise MarketError.WindowClosed(
            f"job {job_id}'s challenge window ended at block {job.window_end} and "
            f"chain time {WindowEndsMs.get(job_id)} ms"
        )
    if who == job.solver:
        raise MarketError.PartyCannotAct("a solver cannot challenge its own result")
    if segment >= job.segment_count:
        raise MarketError.UnknownSegment(f"segment {segment} is outside 0..{job.segment_count - 1}")
    if len(job.open_disputes) >= MarketConfig.current().max_open_disputes:
        raise MarketError.TooManyDisputes(f"job {job.id} already has {len(job.open_disputes)} open disputes")
    return job


@call(index=15, weight=Weight(7 * READ + 6 * WRITE, 12_000))
def challenge_artifact(ctx: CallContext, job_id: JobId, kind: U8, index: U32, unavailable: Bool) -> None:
    """Anyone with the bond disputes one of the solver's committed artifacts during the challenge window:
    kind 0 is checkpoint `index`, 1 the hash list H[0..T], 2 the final model, 3 the evaluation (index 0
    for the last three);
    `unavailable` says the challenger could not fetch it (else: it fetched it and it fails its check). The
    active validators, as referees, fetch and check it (see the module docstring) within `VotePeriod`: a
    quorum that it is not valid (or could not be fetched) and the solver is slashed as for a wrong step; a
    quorum that it is valid and a claimed failed check costs the challenger its bond, while a claimed
    unavailability is void (bond back) and reopens the challenge window; no quorum and the bond is
    returned. A solver that withholds an artifact therefore loses once the referees' wait is over, and one
    that serves it only once challenged gains nothing but a later payment."""
    who = ctx.ensure_signed()
    dispute_kind = ARTIFACT_KINDS.get(kind)
    if dispute_kind is None:
        raise MarketError.UnknownArtifact(
            f"artifact kind {kind} is none of 0 (checkpoint), 1 (hash list), 2 (final model), 3 (evaluation)"
        )
    if dispute_kind is not DisputeKind.CHECKPOINT and index != 0:
        raise MarketError.UnknownArtifact(f"the {dispute_kind.name.lower()} has index 0 only, got {index}")
    job = _challengeable(job_id, who, index, ctx.block_number)
    for other in job.open_disputes:
        d = Disputes.get(other)
        if d.challenger == who and d.segment == index and d.kind is dispute_kind:
            raise MarketError.DuplicateChallenge(
                f"dispute {other} already challenges this {dispute_kind.name}; "
                "challenge it again once that dispute is resolved"
            )
    assert job.result_root is not None and job.hash_list is not None and job.final_hash is not None
    if dispute_kind is DisputeKind.CHECKPOINT:
        _lo, step = segment_bounds(job.steps, job.checkpoint_interval, index)
        lo, hi, blob, valid = step, step, job.checkpoints[index], job.checkpoints[index]
    elif dispute_kind is DisputeKind.HASH_LIST:
        lo, hi, blob, valid = 0, job.steps, job.hash_list, job.hash_list
    elif dispute_kind is DisputeKind.FINAL_MODEL:
        lo, hi, blob, valid = job.steps, job.steps, job.checkpoints[-1], job.final_hash
    else:
        assert job.evaluation is not None
        valid = evaluation_hash(job.evaluation.figures())
        lo, hi, blob = job.steps, job.steps, job.checkpoints[-1]
    d = _attach(
        job,
        who,
        index,
        lo,
        hi,
        DisputePhase.VOTING,
        ctx.block_number,
        hi_hash=valid,
        state_blob=blob,
        kind=dispute_kind,
        unavailable=unavailable,
    )
    _start_voting(d, job, ctx.block_number)
    ctx.deposit_event(
        MarketEvent.ArtifactChallenged(d.id, job.id, who, dispute_kind, index, blob, unavailable)
    )


@call(index=16, weight=Weight(6 * READ + 6 * WRITE + 20_000 * 4096, 12_000))
def report_dataset(ctx: CallContext, job_id: JobId) -> None:
    """The assigned solver, before committing, reports that the job's dataset cannot be fetched or is not
    valid for the spec. It reserves the ChallengerBond; the referees fetch and check the dataset within
    `VotePeriod`. Unusable: the submitter's SubmissionBond is slashed in the solver's favour, the escrow
    refunded and the solver's lock released (REJECTED). Usable: the solver's bond goes to the submitter and
    the solver gets a fresh commit deadline, as it also does when the referees reach no quorum."""
    who = ctx.ensure_signed()
    job = Jobs.get(job_id)
    if job is None:
        raise MarketError.UnknownJob(f"job {job_id} does not exist")
    if job.status is not JobStatus.ASSIGNED or job.solver != who:
        raise MarketError.NotAssignedSolver(
            f"job {job_id} is {job.status.name} and not awaiting this account"
        )
    dataset = JobSpec.decode(JobSpecs.get(job_id)).dataset_hash
    d = _attach(
        job,
        who,
        0,
        0,
        0,
        DisputePhase.VOTING,
        ctx.block_number,
        hi_hash=dataset,
        state_blob=dataset,
        kind=DisputeKind.DATASET,
    )
    _start_voting(d, job, ctx.block_number)
    ctx.deposit_event(MarketEvent.DatasetReported(d.id, job.id, who, dataset))


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
        raise MarketError.BadProof(
            f"the proof does not open H[{step}] = 0x{step_hash.hex()} under the root of job {job.id}"
        )
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
        raise MarketError.StateHashMismatch(
            f"the state hashes to 0x{state_hash.hex()}, but the agreed H[{d.lo}] "
            f"is 0x{(d.lo_hash or b'').hex()}"
        )
    d.state_blob = state_blob
    _start_voting(d, job, ctx.block_number)
    ctx.deposit_event(MarketEvent.StepStatePublished(dispute_id, d.lo, state_blob))


def _parties(d: Dispute, job: Job) -> tuple[bytes | None, ...]:
    """Who may not referee `d`: both sides, and the job's submitter, whose escrow a verdict moves."""
    return job.solver, d.challenger, job.submitter


def _start_voting(d: Dispute, job: Job, now: int) -> None:
    d.referee_stake = sum(
        stake for stash, _key, stake in staking.ActiveValidators.get() if stash not in _parties(d, job)
    )
    d.phase = DisputePhase.VOTING
    set_deadline(d, now + MarketConfig.current().vote_period, windows.of_job(job.id).vote_ms)


@call(index=13, weight=Weight(5 * READ + 4 * WRITE, 12_000))
def referee_vote(ctx: CallContext, dispute_id: DisputeId, claimed: H256) -> None:
    """An active validator votes for the H[s+1] it recomputed (a STEP dispute), or for the artifact's
    `hi_hash` if it checked out and any other value if not; a quorum decides the dispute at once."""
    who = ctx.ensure_signed()
    d, job = _dispute(dispute_id)
    _expect_phase(d, DisputePhase.VOTING)
    stake = next((s for stash, _key, s in staking.ActiveValidators.get() if stash == who), None)
    if stake is None:
        raise MarketError.NotReferee("the account is not in the active validator set")
    if who in _parties(d, job):
        raise MarketError.PartyCannotAct(
            f"a party to dispute {dispute_id} (or the job's submitter) cannot referee it"
        )
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
            decide(d, job, value, ctx.block_number)
            return


# --- outcomes -------------------------------------------------------------------------------------------


def decide(d: Dispute, job: Job, value: bytes, now: int) -> None:
    """The referees' quorum on `value`: upheld when it is `hi_hash` (the solver's step or artifact, or the
    submitter's dataset, is good). Against the solver in a STEP dispute, a recomputed H[s+1] proves the
    step wrong; FAULT_VOTE only that the solver's published state could not be recomputed from."""
    upheld = value == d.hi_hash
    if d.kind is DisputeKind.DATASET:
        (dataset_upheld if upheld else dataset_rejected)(d, job, now)
    elif upheld and d.unavailable:
        served(d, job, now)
    elif upheld:
        solver_wins(d, job, now, Resolution.VOTE)
    else:
        challenger_wins(
            d, job, Resolution.VOTE, step_proven=d.kind is DisputeKind.STEP and value != FAULT_VOTE
        )


def served(d: Dispute, job: Job, now: int) -> None:
    """An artifact reported unavailable was served and checks out. Whether it was there before the challenge
    cannot be proven either way, so nobody pays; the challenge window reopens for its full length, so that a
    solver who serves an artifact only when challenged, late in the window, still gives the auditors their
    time to check it."""
    cfg = MarketConfig.current()
    job.window_end = max(job.window_end, now + cfg.challenge_window)
    window_ms = windows.of_job(job.id, job.sample_q).challenge_ms
    if WindowEndsMs.get(job.id) < windows.now_ms() + window_ms:
        windows.open_window(job.id, window_ms)
        windows.set_time(AgendaKind.JOB, job.id, window_ms)  # and the chain finalizes no earlier
    _resolve(d, DisputeOutcome.VOID, Resolution.SERVED)
    economics.return_bond(d.challenger, d.bond)
    _close(d, job, now)


def dataset_upheld(d: Dispute, job: Job, now: int) -> None:
    """A false dataset report: the reporting solver's bond is slashed in the submitter's favour."""
    _resolve(d, DisputeOutcome.SOLVER_WON, Resolution.VOTE)
    economics.forfeit_bond(d.challenger, d.bond, job.submitter)
    _close(d, job, now)


def dataset_rejected(d: Dispute, job: Job, now: int) -> None:
    """The dataset is unusable: the submitter pays its bond; the solver's bond and lock come back."""
    _resolve(d, DisputeOutcome.CHALLENGER_WON, Resolution.VOTE)
    job.open_disputes = [i for i in job.open_disputes if i != d.id]
    economics.return_bond(d.challenger, d.bond)
    lifecycle.reject(job)


def _resolve(d: Dispute, outcome: DisputeOutcome, resolution: Resolution) -> None:
    d.phase, d.outcome, d.resolution, d.deadline = DisputePhase.RESOLVED, outcome, resolution, 0
    Disputes.insert(d.id, d)
    deposit_event(MarketEvent.DisputeResolved(d.id, d.job_id, outcome, resolution))


def challenger_wins(d: Dispute, job: Job, resolution: Resolution, step_proven: bool = False) -> None:
    """The solver is at fault: slash it (and, when `step_proven`, a verifier that passed this segment); end
    the other disputes.

    `step_proven`: the referees recomputed a step of the segment and it differs from the solver's. Only that
    proves the verifier wrong. A solver that misses a reveal or the state publication, or publishes a state
    the referees cannot load (their FAULT_VOTE), loses by its own choice, whatever the segment holds: a
    lying solver may default in a liar's challenge of a segment it computed right, and slashing the verifier
    that (truly) passed it would hand an honest verifier's bond to the challenger, or to a challenger
    colluding with the solver. A verifier that passed a wrong segment whose solver then defaults keeps its
    bond, unproven, but gains nothing by it: the job is slashed, so its fee is never paid."""
    _resolve(d, DisputeOutcome.CHALLENGER_WON, resolution)
    others = [i for i in job.open_disputes if i != d.id]
    job.open_disputes = []
    if step_proven and job.verifier is not None and d.segment in job.attested_ok:
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


CALLS = (challenge, reveal, respond, submit_step_state, referee_vote, challenge_artifact, report_dataset)
