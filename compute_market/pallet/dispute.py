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
Every move has a deadline (`MoveDeadline`, `VotePeriod` for the referees) enforced in `on_initialize`:
a solver that misses a reveal or the state publication loses; a challenger that misses a response loses;
referees that reach no quorum void the dispute (bond returned, nobody slashed).
"""

from __future__ import annotations

from compute_market.commitment import segment_bounds, verify_step_hash
from compute_market.pallet import economics, lifecycle
from compute_market.pallet.types import (
    DISPUTE_PHASE,
    AgendaKind,
    Dispute,
    DisputeId,
    DisputeOutcome,
    DisputePhase,
    Disputes,
    Job,
    Jobs,
    JobStatus,
    MarketConfig,
    MarketError,
    MarketEvent,
    NextDisputeId,
    RefereeVotes,
    Resolution,
)
from runtime.frame.pallet import CallContext, call, deposit_event
from runtime.frame.support import Weight
from runtime.frame.types import PERBILL, U32, Bool, H256, JobId_placeholder  # noqa: F401
from runtime.pallets import balances, staking

__all__ = ["DISPUTE_PHASE"]
