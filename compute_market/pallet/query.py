"""Read-only views of the market for a gRPC `MarketService`, wallets and workers.

Each function reads the state installed with `storage.externalities(state)` (or pass a state to `read`),
and returns the stored, typed records: `Job` (with `JobStatus`, deadlines, window end, commitment,
attestation), `Dispute` (with `DisputePhase`, the current interval [lo, hi], the hashes agreed so far,
the next step due and its deadline) and `SolverInfo`. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from compute_market.jobspec import JobSpec, JobSpecError
from compute_market.pallet.calls import sampled_segments
from compute_market.pallet.types import (
    AgendaKind,
    Dispute,
    Disputes,
    Job,
    Jobs,
    JobSpecs,
    Solvers,
    TimeDeadlines,
    Verifiers,
    WindowEndsMs,
)
from runtime.frame import storage
from runtime.pallets import timestamp

T = TypeVar("T")


@dataclass(frozen=True)
class SolverInfo:
    account: bytes
    stake: int
    locked: int
    free_stake: int
    jobs: int
    unbonding_at: int | None


def jobs() -> list[Job]:
    return [j for _id, j in Jobs.iter()]


def job(job_id: int) -> Job | None:
    return Jobs.get(job_id)


def job_spec(job_id: int) -> bytes | None:
    """The canonical SCALE spec the submitter escrowed for (decode with `JobSpec.decode`)."""
    return JobSpecs.get(job_id)


def job_segments(job_id: int) -> list[int] | None:
    """The segments the verifier must replay, once the block after the commitment exists."""
    j = Jobs.get(job_id)
    return None if j is None else sampled_segments(j)


def solvers() -> list[SolverInfo]:
    return [
        SolverInfo(who, s.stake, s.locked, s.free_stake, s.jobs, s.unbonding_at) for who, s in Solvers.iter()
    ]


def verifiers() -> list[tuple[bytes, int]]:
    return [(who, v.bond) for who, v in Verifiers.iter()]


def disputes(job_id: int) -> list[Dispute]:
    j = Jobs.get(job_id)
    return [] if j is None else [Disputes.get(i) for i in j.disputes]


def dispute(dispute_id: int) -> Dispute | None:
    return Disputes.get(dispute_id)


def window_end_ms(job_id: int) -> int:
    """The chain time (ms) until which a committed job's challenge window stays open (0 before a commitment)."""
    return WindowEndsMs.get(job_id)


def dispute_deadline_ms(dispute_id: int) -> int:
    """The chain time (ms) before which the dispute's current deadline does not pass (0 if none was set)."""
    return TimeDeadlines.get((AgendaKind.DISPUTE, dispute_id))


def now_ms() -> int:
    """The head block's chain time (Timestamp.now, ms)."""
    return timestamp.now()


def referenced_blobs() -> set[bytes]:
    """Every blob a live (not ended) job references: its dataset, its checkpoints, its disputed states."""
    pins: set[bytes] = set()
    for j in jobs():
        if j.status.ended:
            continue
        pins.update(j.checkpoints)
        try:
            pins.add(JobSpec.decode(job_spec(j.id) or b"").dataset_hash)
        except JobSpecError:
            pass  # no dataset to keep
        pins.update(d.state_blob for d in disputes(j.id) if d.state_blob)
    return pins


def read(state: Any, fn: Callable[..., T], *args: Any) -> T:
    """Run one query against `state` (anything with `get` and `iter_prefix`, e.g. the node's head state)."""
    with storage.externalities(state):
        return fn(*args)
