"""Job transitions the chain makes on its own or on behalf of several calls, and the deadline agenda.

Every job that has not ended has exactly one pending deadline: its own (`Job.deadline`, listed in the
`Agenda` at that block) or, while it is CHALLENGED, those of its open disputes. `on_initialize(n)` takes the
agenda entry of block n and acts on each job or dispute whose deadline is still n (entries made stale by a
later move are skipped), so every timeout is enforced without anyone having to ask.

Assignment randomness. A job submitted in block b is assigned in `on_initialize` of block
b + AssignmentDelay from blake2_256("gradchain/assign" ++ ParentHash ++ job id), ParentHash being the
hash of block b + AssignmentDelay - 1, a block built after the submission was final. What a block author
can bias: the author of that one parent block may grind its contents (which extrinsics, their order, the
timestamp) to try several hashes, so with d eligible solvers it can raise its favourite's chance from
1/d towards 1 at the cost of withholding or reshuffling its own block. What it cannot do: see the draw
before the job exists (the job's id and the parent hash are both fixed after the submission), choose a
solver whose free stake does not cover the lock, assign the submitter's own account as solver, or
choose which later block's hash samples the verifier's segments.
"""

from __future__ import annotations

from chain.primitives.hashing import blake2_256
from compute_market.pallet import economics, windows
from compute_market.pallet.types import (
    Agenda,
    AgendaKind,
    Job,
    Jobs,
    JobStatus,
    MarketConfig,
    MarketEvent,
    Solvers,
)
from runtime.frame.pallet import deposit_event
from runtime.pallets.system import ParentHash


def schedule(kind: AgendaKind, item_id: int, at: int) -> None:
    entries = Agenda.get(at)
    if (kind, item_id) not in entries:
        Agenda.insert(at, [*entries, (kind, item_id)])


def set_job_deadline(job: Job, at: int, after_ms: int | None = None) -> None:
    """The chain acts on `job` at block `at` and, when `after_ms` is given, not before that much chain time
    from now (`windows`); without it the time already set stands (a retry, or the window after disputes)."""
    if after_ms is not None:
        windows.set_time(AgendaKind.JOB, job.id, after_ms)
    job.deadline = at
    schedule(AgendaKind.JOB, job.id, at)


# --- assignment -----------------------------------------------------------------------------------------


def eligible_solvers(job: Job) -> list[bytes]:
    """Registered, bonded solvers other than the submitter whose free stake covers the job's lock."""
    lock = MarketConfig.current().job_lock(job.payment)
    return [
        who
        for who, s in Solvers.iter()
        if s.unbonding_at is None and s.free_stake >= lock and who != job.submitter
    ]


def assign(job: Job, now: int) -> None:
    cfg = MarketConfig.current()
    candidates = eligible_solvers(job)
    if not candidates:
        set_job_deadline(job, now + 1)
        Jobs.insert(job.id, job)
        deposit_event(MarketEvent.AssignmentDeferred(job.id, now + 1))
        return
    seed = blake2_256(b"gradchain/assign" + ParentHash.get() + job.id.to_bytes(8, "little"))
    solver = sorted(candidates)[int.from_bytes(seed[:8], "little") % len(candidates)]
    job.solver = solver
    job.lock = cfg.job_lock(job.payment)
    job.status = JobStatus.ASSIGNED
    economics.lock_stake(solver, job.lock)
    set_job_deadline(job, now + cfg.commit_timeout, windows.of_job(job.id).commit_ms)
    Jobs.insert(job.id, job)
    deposit_event(MarketEvent.JobAssigned(job.id, solver, job.lock, job.deadline))


# --- endings --------------------------------------------------------------------------------------------


def finalize(job: Job) -> None:
    """Honest completion (see the economics table in the package docstring)."""
    assert job.solver is not None
    fee_paid = economics.pay_out(job)
    job.status = JobStatus.FINALIZED
    job.deadline = 0
    Jobs.insert(job.id, job)
    deposit_event(MarketEvent.JobFinalized(job.id, job.solver, job.payment, fee_paid))


def slash_job(job: Job, beneficiary: bytes) -> None:
    """The solver was at fault: slash its lock in favour of `beneficiary`, refund the submitter in full."""
    assert job.solver is not None
    economics.slash_solver_lock(job, beneficiary)
    economics.refund_escrow(job)
    job.status = JobStatus.SLASHED
    job.deadline = 0
    Jobs.insert(job.id, job)
    deposit_event(MarketEvent.JobSlashed(job.id, job.solver, job.escrow))


def reject(job: Job) -> None:
    """The dataset was proven unusable (a DATASET dispute): the submitter pays its bond, the solver goes free."""
    economics.reject_dataset(job)
    job.status = JobStatus.REJECTED
    job.deadline = 0
    Jobs.insert(job.id, job)
    deposit_event(MarketEvent.JobRejected(job.id, job.submitter, job.escrow))


def reopen_after_disputes(job: Job, now: int) -> None:
    """The last open dispute ended without a proven fault: the job resumes where it was. Before a commitment
    (a dataset report the solver lost, or that reached no quorum) the solver gets a fresh commit deadline,
    as the vote held up its work; after one, the challenge window resumes."""
    cfg = MarketConfig.current()
    if job.result_root is None:
        job.status = JobStatus.ASSIGNED
        set_job_deadline(job, now + cfg.commit_timeout, windows.of_job(job.id).commit_ms)
    else:
        job.status = JobStatus.ATTESTED if job.verifier is not None else JobStatus.COMMITTED
        set_job_deadline(job, max(job.window_end + cfg.finalize_grace, now + 1))
    Jobs.insert(job.id, job)


def on_job_deadline(job: Job, now: int) -> None:
    """The job's own deadline came: assign it, punish a solver that never committed, or finalize it."""
    if job.status is JobStatus.SUBMITTED:
        assign(job, now)
    elif job.status is JobStatus.ASSIGNED:
        slash_job(job, beneficiary=job.submitter)
    elif job.status in (JobStatus.COMMITTED, JobStatus.ATTESTED):
        finalize(job)
