"""The off-chain market roles: solver, verifier, whistleblower and referee.

Each role is a loop of `tick()`s: read the market over gRPC, act on what concerns its account, sleep. Every
action is guarded by the chain's state (a job already committed, a move already made), so a restarted worker,
or one whose node restarted, carries on where it was without acting twice. Each job's work in a tick is
isolated: an error on one job (a node that is busy, a dataset that cannot be used) is logged and retried on a
later tick, and never keeps the role from its other jobs.

A solver fetches and checks a job's dataset before training (reporting it on chain if it is unusable or stays
missing), commits to its step hashes, publishes the hash list and the checkpoints, and keeps the hashes on disk
(`<state dir>/job-<id>/`) so it can still play a dispute after a restart. Verifiers and whistleblowers audit a
job with the checks of `audit`: the hash list against the committed root, the checkpoints at both ends of each
segment they replay, and (the whistleblower) the final model; a bad artifact, or one still missing after
`BLOB_PATIENCE_S`, is challenged with `challenge_artifact`, and a replay that does not reproduce the listed
hashes with `challenge` (the step bisection). Referees run the same checks to vote on artifact disputes and
recompute the single disputed step of a bisection.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from compute_market.worker.roles.auditors import Verifier, Whistleblower
from compute_market.worker.roles.base import (
    BLOB_PATIENCE_S,
    DATASET_PATIENCE_S,
    JobAudit,
    JobContext,
    Pending,
    Role,
)
from compute_market.worker.roles.referee import FAULT_VOTE, Referee, Unavailable
from compute_market.worker.roles.solver import Solver, SolverRun

ROLES = {"solver": Solver, "verifier": Verifier, "whistleblower": Whistleblower, "referee": Referee}


def wait_until(predicate: Callable[[], bool], timeout: float, poll: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return False


__all__ = [
    "BLOB_PATIENCE_S",
    "DATASET_PATIENCE_S",
    "FAULT_VOTE",
    "ROLES",
    "JobAudit",
    "JobContext",
    "Pending",
    "Referee",
    "Role",
    "Solver",
    "SolverRun",
    "Unavailable",
    "Verifier",
    "Whistleblower",
    "wait_until",
]
