"""Calls for solvers, verifiers and submitters: stakes and bonds, jobs, commitments, attestations, payment."""

from __future__ import annotations

from compute_market.commitment import sample_segments
from compute_market.jobspec import JobSpec, JobSpecError
from compute_market.pallet import dispute, economics, lifecycle, windows
from compute_market.pallet.dispute import HASH, READ, WRITE
from compute_market.pallet.types import (
    Evaluation,
    Job,
    JobId,
    Jobs,
    JobSpecs,
    JobStatus,
    MarketConfig,
    MarketError,
    MarketEvent,
    NextJobId,
    Solver,
    Solvers,
    Verifier,
    Verifiers,
    WindowEndsMs,
)
from runtime.frame.pallet import CallContext, call
from runtime.frame.support import Weight
from runtime.frame.types import H256, U32, U64, U128, Bool, Bytes, Compact, Tuple, Vec
from runtime.pallets import balances
from runtime.pallets.system import BlockHash, Number

# --- solvers and verifiers ------------------------------------------------------------------------------


def _solver(who: bytes) -> Solver:
    s = Solvers.get(who)
    if s is None:
        raise MarketError.NotSolver("the account has not called register_solver")
    return s


@call(index=0, weight=Weight(2 * READ + 2 * WRITE, 4_000))
def register_solver(ctx: CallContext, stake: Compact(U128)) -> None:
    """Reserve `stake` so that jobs whose lock it covers can be assigned to the caller."""
    who = ctx.ensure_signed()
    if Solvers.contains(who):
        raise MarketError.AlreadySolver("use add_stake to stake more")
    minimum = MarketConfig.current().min_solver_stake
    if stake < minimum:
        raise MarketError.StakeTooLow(f"stake {stake} is below the minimum solver stake {minimum}")
    balances.reserve(who, stake)
    Solvers.insert(who, Solver(stake))
    ctx.deposit_event(MarketEvent.SolverRegistered(who, stake))


@call(index=1, weight=Weight(2 * READ + 2 * WRITE, 4_000))
def add_stake(ctx: CallContext, amount: Compact(U128)) -> None:
    """Reserve more stake, so larger or more jobs can be assigned."""
    who = ctx.ensure_signed()
    s = _solver(who)
    if s.unbonding_at is not None:
        raise MarketError.SolverUnbonding(f"the solver is unbonding until block {s.unbonding_at}")
    balances.reserve(who, amount)
    s.stake += amount
    Solvers.insert(who, s)
    ctx.deposit_event(MarketEvent.StakeAdded(who, amount, s.stake))


@call(index=2, weight=Weight(READ + WRITE, 4_000))
def unregister_solver(ctx: CallContext) -> None:
    """Stop taking jobs; the stake stays reserved for UnbondingDelay blocks, then `withdraw_unbonded`."""
    who = ctx.ensure_signed()
    s = _solver(who)
    if s.unbonding_at is not None:
        raise MarketError.SolverUnbonding(f"the solver is already unbonding until block {s.unbonding_at}")
    if s.jobs:
        raise MarketError.HoldsJobs(f"the solver holds {s.jobs} job(s) with {s.locked} locked")
    s.unbonding_at = ctx.block_number + MarketConfig.current().unbonding_delay
    Solvers.insert(who, s)
    ctx.deposit_event(MarketEvent.SolverUnbonding(who, s.stake, s.unbonding_at))


@call(index=3, weight=Weight(2 * READ + 2 * WRITE, 4_000))
def withdraw_unbonded(ctx: CallContext) -> None:
    """Release an unbonded solver's stake and forget the solver."""
    who = ctx.ensure_signed()
    s = _solver(who)
    if s.unbonding_at is None:
        raise MarketError.NotUnbonding("call unregister_solver first")
    if ctx.block_number < s.unbonding_at:
        raise MarketError.StillBonded(
            f"the stake unlocks at block {s.unbonding_at}; this is block {ctx.block_number}"
        )
    balances.unreserve(who, s.stake)
    Solvers.remove(who)
    ctx.deposit_event(MarketEvent.SolverWithdrawn(who, s.stake))


@call(index=4, weight=Weight(2 * READ + 2 * WRITE, 4_000))
def register_verifier(ctx: CallContext) -> None:
    """Reserve the verifier bond, which backs every segment this verifier attests as correct."""
    who = ctx.ensure_signed()
    if Verifiers.contains(who):
        raise MarketError.AlreadyVerifier("the account is already a verifier")
    bond = MarketConfig.current().verifier_bond
    balances.reserve(who, bond)
    Verifiers.insert(who, Verifier(bond))
    ctx.deposit_event(MarketEvent.VerifierRegistered(who, bond))


# --- jobs -----------------------------------------------------------------------------------------------


def _job(job_id: int) -> Job:
    job = Jobs.get(job_id)
    if job is None:
        raise MarketError.UnknownJob(f"job {job_id} does not exist")
    return job


def _submit_weight(spec: bytes, payment: int) -> Weight:
    return Weight(3 * READ + 5 * WRITE + 20_000 * len(spec), 6_000 + len(spec))


@call(index=5, weight=_submit_weight)
def submit_job(ctx: CallContext, spec: Bytes, payment: Compact(U128)) -> None:
    """Escrow payment plus verifier fee for a training job given as a canonical SCALE spec, and reserve the
    SubmissionBond, which is slashed only if the referees find the job's dataset unusable (`report_dataset`)."""
    who = ctx.ensure_signed()
    cfg = MarketConfig.current()
    if len(spec) > cfg.max_spec_bytes:
        raise MarketError.SpecTooLarge(f"the spec is {len(spec)} bytes; the cap is {cfg.max_spec_bytes}")
    try:
        parsed = JobSpec.decode(spec)
    except JobSpecError as e:
        raise MarketError.BadSpec(str(e)) from None
    if parsed.steps > cfg.max_steps:
        raise MarketError.TooManySteps(f"{parsed.steps} steps exceed the chain's cap of {cfg.max_steps}")
    if payment == 0:
        raise MarketError.ZeroPayment("a job must pay its solver something")
    balances.reserve(who, payment + cfg.verifier_fee + cfg.submission_bond)
    job_id = NextJobId.get()
    NextJobId.put(job_id + 1)
    job = Job(
        job_id,
        who,
        parsed.spec_hash,
        parsed.steps,
        parsed.checkpoint_interval,
        payment,
        cfg.verifier_fee,
        cfg.sample_segments,
        JobStatus.SUBMITTED,
        ctx.block_number,
        0,
        submitter_bond=cfg.submission_bond,
    )
    lifecycle.set_job_deadline(job, ctx.block_number + cfg.assignment_delay)
    Jobs.insert(job_id, job)
    JobSpecs.insert(job_id, spec)
    ctx.deposit_event(
        MarketEvent.JobSubmitted(job_id, who, job.spec_hash, payment, job.verifier_fee, job.deadline)
    )


@call(index=6, weight=Weight(2 * READ + 2 * WRITE, 4_000))
def cancel_job(ctx: CallContext, job_id: JobId) -> None:
    """The submitter withdraws a job that no solver has been assigned yet; the escrow and bond are refunded."""
    who = ctx.ensure_signed()
    job = _job(job_id)
    if who != job.submitter:
        raise MarketError.NotSubmitter(f"only the submitter of job {job_id} may cancel it")
    if job.status is not JobStatus.SUBMITTED:
        raise MarketError.WrongJobStatus(
            f"job {job_id} is {job.status.name}; only SUBMITTED jobs can be cancelled"
        )
    economics.refund_escrow(job)
    job.status, job.deadline = JobStatus.CANCELLED, 0
    Jobs.insert(job_id, job)
    ctx.deposit_event(MarketEvent.JobCancelled(job_id, job.escrow))


def _commit_weight(
    job_id: int,
    result_root: bytes,
    final_hash: bytes,
    hash_list: bytes,
    checkpoints: list[bytes],
    eval_loss_bits: int,
    eval_correct: int,
    eval_count: int,
) -> Weight:
    return Weight(3 * READ + 3 * WRITE + 1_000_000 * len(checkpoints), 6_000 + 32 * len(checkpoints))


@call(index=7, weight=_commit_weight)
def commit_result(
    ctx: CallContext,
    job_id: JobId,
    result_root: H256,
    final_hash: H256,
    hash_list: H256,
    checkpoints: Vec(H256),
    eval_loss_bits: U64,
    eval_correct: U32,
    eval_count: U32,
) -> None:
    """The assigned solver commits to every step of its training run: the Merkle root over H[0..T], the
    blob holding H[0..T] itself (`hash_list`), the hash of the final model, the checkpoint blobs, and the
    final model's evaluation on the held-out split (the binary64 bits of the mean loss, the correct count
    and the test count; compute_market/worker/evaluation.py). Each named artifact, the evaluation
    included, can be proven wrong with `challenge_artifact`."""
    solver = ctx.ensure_signed()
    job = _job(job_id)
    if job.status is not JobStatus.ASSIGNED or job.solver != solver:
        raise MarketError.NotAssignedSolver(
            f"job {job_id} is {job.status.name} and not awaiting this account"
        )
    if len(checkpoints) != job.segment_count:
        raise MarketError.WrongCheckpointCount(
            f"{len(checkpoints)} checkpoints given; T={job.steps} and "
            f"k={job.checkpoint_interval} need {job.segment_count}"
        )
    if eval_correct > eval_count:
        raise MarketError.BadEvaluation(
            f"the evaluation counts {eval_correct} correct of {eval_count} test examples"
        )
    cfg = MarketConfig.current()
    job.result_root, job.final_hash, job.checkpoints = result_root, final_hash, list(checkpoints)
    job.evaluation = Evaluation(eval_loss_bits, eval_correct, eval_count)
    job.hash_list = hash_list
    job.status, job.committed_at = JobStatus.COMMITTED, ctx.block_number
    job.window_end = ctx.block_number + cfg.challenge_window
    window_ms = windows.of_job(job_id, job.sample_q).challenge_ms
    windows.open_window(job_id, window_ms)
    lifecycle.set_job_deadline(job, job.window_end + cfg.finalize_grace, window_ms)
    Jobs.insert(job_id, job)
    ctx.deposit_event(MarketEvent.ResultCommitted(job_id, solver, result_root, job.window_end))


def sampled_segments(job: Job) -> list[int] | None:
    """The q segments a verifier must replay: drawn from the hash of the block after the commitment, which
    neither the solver nor a verifier knew when the root was committed. None until that block is built."""
    if job.result_root is None or job.committed_at + 1 >= Number.get():
        return None
    return sample_segments(BlockHash.get(job.committed_at + 1), job.segment_count, job.sample_q)


def _attest_weight(job_id: int, results: list[tuple[int, bool]]) -> Weight:
    return Weight(4 * READ + 3 * WRITE + HASH * 4 * len(results), 8_000)


@call(index=8, weight=_attest_weight)
def attest(ctx: CallContext, job_id: JobId, results: Vec(Tuple(U32, Bool), max_len=1024)) -> None:
    """A registered verifier reports its replay of exactly the sampled segments; each failure is a challenge."""
    who = ctx.ensure_signed()
    if not Verifiers.contains(who):
        raise MarketError.NotVerifier("the account has not called register_verifier")
    job = _job(job_id)
    if job.verifier is not None:
        raise MarketError.AlreadyAttested(f"job {job_id} was already attested")
    if job.status not in (JobStatus.COMMITTED, JobStatus.CHALLENGED):
        raise MarketError.WrongJobStatus(
            f"job {job_id} is {job.status.name}; only committed results are attested"
        )
    if who in (job.solver, job.submitter):
        raise MarketError.PartyCannotAct("the job's solver or submitter cannot verify it")
    if not windows.window_open(job_id, job.window_end, ctx.block_number):
        raise MarketError.WindowClosed(
            f"job {job_id}'s window ended at block {job.window_end} and chain time "
            f"{WindowEndsMs.get(job_id)} ms"
        )
    expected = sampled_segments(job)
    if expected is None:
        raise MarketError.SamplingNotReady(
            f"segments are sampled from block {job.committed_at + 1}'s hash, "
            f"available from block {job.committed_at + 2}"
        )
    given = sorted(j for j, _ok in results)
    if given != expected:
        raise MarketError.WrongSegments(
            f"the sampled segments are {expected}; the attestation covers {given}"
        )
    passed = sorted(j for j, ok in results if ok)
    failed = sorted(j for j, ok in results if not ok)
    job.verifier, job.attested_ok = who, passed
    if job.status is JobStatus.COMMITTED:
        job.status = JobStatus.ATTESTED
    Jobs.insert(job_id, job)
    ctx.deposit_event(MarketEvent.Attested(job_id, who, passed, failed))
    for segment in failed:
        dispute.open_dispute(job, who, segment, ctx.block_number)


@call(index=14, weight=Weight(5 * READ + 5 * WRITE, 10_000))
def finalize(ctx: CallContext, job_id: JobId) -> None:
    """After the window, with no open dispute: pay the solver and the verifier, unlock the stake."""
    ctx.ensure_signed()
    job = _job(job_id)
    if job.status is JobStatus.CHALLENGED:
        raise MarketError.DisputesOpen(f"job {job_id} has open disputes {job.open_disputes}")
    if job.status not in (JobStatus.COMMITTED, JobStatus.ATTESTED):
        raise MarketError.WrongJobStatus(
            f"job {job_id} is {job.status.name}; only committed results are finalized"
        )
    if windows.window_open(job_id, job.window_end, ctx.block_number):
        raise MarketError.WindowOpen(
            f"job {job_id}'s challenge window runs to block {job.window_end} and chain "
            f"time {WindowEndsMs.get(job_id)} ms"
        )
    lifecycle.finalize(job)


CALLS = (
    register_solver,
    add_stake,
    unregister_solver,
    withdraw_unbonded,
    register_verifier,
    submit_job,
    cancel_job,
    commit_result,
    attest,
    finalize,
)
