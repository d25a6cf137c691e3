"""The referee, run beside a validator: checks a challenged artifact or dataset, or recomputes the single
disputed step of a bisection, and votes.
"""

from __future__ import annotations

import logging
import time

from compute_market.commitment import FAULT_VOTE
from compute_market.jobspec import JobSpec
from compute_market.worker import client as calls
from compute_market.worker.audit import (
    ArtifactFault,
    check_checkpoint,
    check_dataset,
    check_evaluation,
    check_final_model,
    check_hash_list,
)
from compute_market.worker.client import BlobMissing, MarketNode
from compute_market.worker.roles.base import Pending, Role
from compute_market.worker.states import (
    DisputeKind,
    DisputePhase,
    dispute_kind,
    dispute_phase,
    job_evaluation,
)
from compute_market.worker.trainer import (
    EnvironmentRefused,
    StateMismatch,
    TrainerError,
    recompute_step,
)

log = logging.getLogger("gradchain.worker")


class Unavailable(Exception):
    """A blob a referee needs stayed missing for half the vote period."""


class Referee(Role):
    """Run beside a validator (signing with its stash key): recompute the single disputed step of a bisection,
    or check a disputed artifact, and vote."""

    name = "referee"

    def __init__(self, node: MarketNode, **kw):
        super().__init__(node, **kw)
        self.first_seen: dict[
            int, tuple[int, float]
        ] = {}  # dispute -> (chain ms, monotonic s) at first sight

    def tick(self) -> None:
        disputes, now_ms = self.node.open_disputes_at()
        for dispute in disputes:
            if dispute_phase(dispute) is not DisputePhase.VOTING or ("vote", dispute.id) in self.acted:
                continue
            self.isolated(f"dispute {dispute.id}", lambda d=dispute: self.judge(d, now_ms))

    def judge(self, dispute, now_ms: int) -> None:
        job = self.node.job(dispute.job_id)
        if self.me in (bytes(job.solver), bytes(dispute.challenger), bytes(job.submitter)):
            return
        vote = self.recompute(job, dispute, now_ms)
        if vote is None:
            return
        if self.node.send(calls.referee_vote(dispute.id, vote), f"vote in dispute {dispute.id}"):
            self.acted.add(("vote", dispute.id))
            kind = dispute_kind(dispute)
            what = (
                f"recomputed H[{dispute.lo + 1}] = 0x{vote.hex()[:16]}"
                if kind is DisputeKind.STEP and vote != FAULT_VOTE
                else f"the {kind.name.lower()} is "
                + ("valid" if vote == bytes(dispute.hi_hash) else "unusable")
            )
            log.info("referee: dispute %d: %s", dispute.id, what)

    def recompute(self, job, dispute, now_ms: int) -> bytes | None:
        """This referee's vote, or None to wait (a blob may still be on its way) or to abstain."""
        kind = dispute_kind(dispute)
        try:
            if kind is not DisputeKind.STEP:
                return self.check_artifact(job, dispute, now_ms)
            state = self.fetch(dispute, bytes(dispute.state_blob), now_ms) if dispute.lo > 0 else None
            ctx = self.context(job)  # the state at 0 follows from the spec
            return recompute_step(ctx.spec, ctx.dataset, state, expected_hash=bytes(dispute.lo_hash))
        except EnvironmentRefused as e:  # this machine cannot judge: abstain rather than vote "unusable"
            log.error(
                "referee: dispute %d: not voting, this machine cannot run exact mode: %s", dispute.id, e
            )
            return None
        except Unavailable as e:
            log.warning("referee: dispute %d: %s", dispute.id, e)
            return FAULT_VOTE
        except (ArtifactFault, StateMismatch, TrainerError, ValueError) as e:
            log.warning(
                "referee: dispute %d: the %s is unusable: %s",
                dispute.id,
                "published state" if kind is DisputeKind.STEP else kind.name.lower(),
                e,
            )
            return FAULT_VOTE

    def check_artifact(self, job, dispute, now_ms: int) -> bytes | None:
        """`hi_hash` if the disputed artifact passes its check (`audit`); an ArtifactFault if not."""
        spec = JobSpec.decode(bytes(job.spec))
        kind = dispute_kind(dispute)
        if kind is DisputeKind.DATASET:
            check_dataset(spec, self.fetch(dispute, spec.dataset_hash, now_ms))
            return bytes(dispute.hi_hash)
        hashes = check_hash_list(
            self.fetch(dispute, bytes(job.hash_list), now_ms), spec.steps, bytes(job.result_root)
        )
        if kind is DisputeKind.CHECKPOINT:
            ctx = self.context(job)
            check_checkpoint(
                ctx.spec,
                ctx.dataset,
                self.fetch(dispute, bytes(dispute.state_blob), now_ms),
                dispute.segment,
                hashes,
            )
        elif kind is DisputeKind.FINAL_MODEL:
            check_final_model(
                spec,
                None,
                self.fetch(dispute, bytes(dispute.state_blob), now_ms),
                hashes,
                bytes(job.final_hash),
            )
        elif kind is DisputeKind.EVALUATION:
            ctx = self.context(job)
            committed = job_evaluation(job)
            if committed is None:
                raise ArtifactFault(f"job {job.id} committed no evaluation")
            recomputed = check_evaluation(
                ctx.spec,
                ctx.dataset,
                self.fetch(dispute, bytes(dispute.state_blob), now_ms),
                hashes,
                committed,
            )
            return recomputed.hash
        elif kind is not DisputeKind.HASH_LIST:
            log.error("referee: dispute %d: no check for a %s dispute; not voting", dispute.id, kind.name)
            return None
        return bytes(dispute.hi_hash)

    def fetch(self, dispute, blob_hash: bytes, now_ms: int) -> bytes:
        """A blob the dispute needs (fetched by the node from its peers if need be). Missing, it raises
        Pending until half the vote period has passed since this referee first saw the dispute (by chain time
        when the chain reports the vote's time deadline, else `blob_patience` seconds), then Unavailable."""
        try:
            return self.node.blob(blob_hash)
        except BlobMissing as e:
            first_ms, first_s = self.first_seen.setdefault(dispute.id, (now_ms, time.monotonic()))
            if dispute.deadline_ms and first_ms:
                waited = now_ms - first_ms >= (dispute.deadline_ms - first_ms) // 2
            else:
                waited = time.monotonic() - first_s >= self.blob_patience
            if not waited:
                raise Pending(f"blob 0x{blob_hash.hex()[:16]} is not available yet") from None
            raise Unavailable(f"blob 0x{blob_hash.hex()[:16]} stayed unavailable: {e}") from None
