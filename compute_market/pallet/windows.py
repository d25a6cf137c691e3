"""Time-based windows: how long each party has, from the cost of the work and from chain time.

Every deadline has two parts: a block (`Job.deadline`, `Dispute.deadline`, `Job.window_end`, set as before
from the block counts in the config) and a chain time in milliseconds (`TimeDeadlines`, `WindowEndsMs`),
`Timestamp.now` plus TimeSafety x the cost model's expected seconds (compute_market/cost.py, calibrated
on one core) plus a floor. A deadline passes only when both are reached: `on_initialize` of its block
acts only if the time has passed too (the previous block's timestamp, since the inherent runs after
on_initialize), and otherwise moves the deadline to the block at which the time should have come, assuming
blocks no slower than BlockTimeBoundMs (and at least one block on). So a faster chain never shortens what a
party gets; a slower one only lengthens it to the block count.

  window              expected work (one core)                        config
  commit (solver)     the whole run: steps x step                     CommitTimeout blocks, CommitFloorMs
  challenge (auditor) a verifier's q segments, each loaded + replayed ChallengeWindow blocks, ChallengeFloorMs
  each dispute move   loading or publishing one state                 MoveDeadline blocks, MoveFloorMs
  vote (referees)     one state loaded + one step recomputed          VotePeriod blocks, VoteFloorMs

Assignment (AssignmentDelay), FinalizeGrace (after the window) and UnbondingDelay stay block counts: they
guard no one's work.
"""

from __future__ import annotations

from dataclasses import dataclass

from compute_market import cost
from compute_market.jobspec import JobSpec, JobSpecError
from compute_market.pallet.types import AgendaKind, JobSpecs, MarketConfig, TimeDeadlines, WindowEndsMs
from runtime.pallets import timestamp


@dataclass(frozen=True)
class Windows:
    """The minimum chain time (ms) of each window of one job."""

    commit_ms: int
    challenge_ms: int
    move_ms: int
    vote_ms: int


def _ms(cfg: MarketConfig, seconds: float, floor_ms: int) -> int:
    return floor_ms + int(cfg.time_safety * seconds * 1000 + 0.999)


def windows_for(spec: JobSpec, cfg: MarketConfig, sample_q: int | None = None) -> Windows:
    jc = cost.job_cost(spec)
    q = cfg.sample_segments if sample_q is None else sample_q
    return Windows(
        commit_ms=_ms(cfg, jc.job_seconds, cfg.commit_floor_ms),
        challenge_ms=_ms(cfg, jc.verifier_seconds(q), cfg.challenge_floor_ms),
        move_ms=_ms(cfg, jc.load_seconds, cfg.move_floor_ms),
        vote_ms=_ms(cfg, jc.referee_seconds, cfg.vote_floor_ms),
    )


def of_job(job_id: int, sample_q: int | None = None) -> Windows:
    """The windows of a stored job, from its spec (decoded again: the pallet stores the bytes only).

    Hooks call this, so it must not fail: a stored spec that no longer validates (caps lowered by an
    upgrade after it was accepted) gets the floors only, and its block counts still apply."""
    cfg = MarketConfig.current()
    try:
        spec = JobSpec.decode(JobSpecs.get(job_id))
    except JobSpecError:
        return Windows(cfg.commit_floor_ms, cfg.challenge_floor_ms, cfg.move_floor_ms, cfg.vote_floor_ms)
    return windows_for(spec, cfg, sample_q)


def now_ms() -> int:
    return timestamp.now()


def set_time(kind: AgendaKind, item_id: int, after_ms: int) -> int:
    """The deadline of (kind, item) does not pass before chain time `now + after_ms`; returns that time."""
    at = now_ms() + after_ms
    TimeDeadlines.insert((kind, item_id), at)
    return at


def retry_block(kind: AgendaKind, item_id: int, number: int) -> int | None:
    """None if the time part of the deadline has passed; else the block to look again at."""
    remaining = TimeDeadlines.get((kind, item_id)) - now_ms()
    if remaining <= 0:
        return None
    return number + max(1, remaining // MarketConfig.current().block_time_bound_ms)


def open_window(job_id: int, challenge_ms: int) -> int:
    at = now_ms() + challenge_ms
    WindowEndsMs.insert(job_id, at)
    return at


def window_open(job_id: int, window_end: int, block: int) -> bool:
    """A challenge or an attestation is accepted up to the window_end block, or as long as its time lasts."""
    return block <= window_end or now_ms() <= WindowEndsMs.get(job_id)
