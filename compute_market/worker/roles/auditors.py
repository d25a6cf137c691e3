"""The verifier (replays the sampled segments and attests) and the whistleblower (audits a share of every
job, the final model and its evaluation included); both challenge what does not check out.
"""

from __future__ import annotations

import logging

from chain.primitives.hashing import blake2_256
from compute_market.worker import client as calls
from compute_market.worker.audit import (
    ArtifactFault,
    ArtifactKind,
    check_final_model,
)
from compute_market.worker.client import MarketNode
from compute_market.worker.roles.base import JobAudit, Role, disputed_segment
from compute_market.worker.states import JobStatus, job_status

log = logging.getLogger("gradchain.worker")


class Verifier(Role):
    """Replays the segments the chain sampled and attests.

    It attests a job still open to attestation, COMMITTED or CHALLENGED by someone else, and only once every
    artifact its segments rest on checked out; a bad one is challenged instead. When the final segment is
    among the sampled ones it also recomputes the committed evaluation (`check_evaluation`), and a wrong
    figure is challenged like a wrong final model. The replay is one hook,
    `replay_sampled`, which a verifier that attests without replaying (compute_market.adversary) overrides."""

    name = "verifier"

    def tick(self) -> None:
        for job in self.node.jobs():
            if (
                job_status(job) not in (JobStatus.COMMITTED, JobStatus.CHALLENGED)
                or not job.has_sampled_segments
                or job.verifier
            ):
                continue
            if ("attest", job.id) in self.acted or self.me in (bytes(job.solver), bytes(job.submitter)):
                continue
            self.isolated(f"job {job.id}", lambda j=job: self.verify(j))
        self.play_challenges()

    def verify(self, job) -> None:
        results = self.replay_sampled(job)
        if results is None:
            return
        if self.node.send(calls.attest(job.id, results), f"attest job {job.id}"):
            self.acted.add(("attest", job.id))
            log.info("verifier: attested job %d: %s", job.id, results)

    def replay_sampled(self, job) -> list[tuple[int, bool]] | None:
        """Each sampled segment and whether its replay reproduces the listed hashes; None if an artifact is bad."""
        audit = self.audit_of(job)
        if self.hash_list(job, audit) is None:
            return None
        results = []
        for segment in job.sampled_segments:
            divergence = self.audit_segment(job, audit, segment)
            results.append((segment, divergence is None))  # a failure opens a dispute with this verifier
        if len(job.checkpoints) - 1 in job.sampled_segments:
            self.check_evaluation(job, audit)
        if audit.faults or audit.unavailable:
            if ("withhold attestation", job.id) not in self.acted:
                self.acted.add(("withhold attestation", job.id))
                log.info(
                    "verifier: job %d: not attesting while its artifacts are challenged: %s, missing %s",
                    job.id,
                    audit.faults,
                    sorted(audit.unavailable),
                )
            return None
        return results


class Whistleblower(Role):
    """Audits every committed job: the hash list, the final model and its evaluation, and a share of the
    segments (replayed
    and compared with the hash list); challenges what is wrong and plays the bisection. Whether a replayed
    segment is challenged is one hook, `segment_to_challenge`, which a whistleblower that challenges correct
    segments (compute_market.adversary) overrides."""

    name = "whistleblower"

    def __init__(self, node: MarketNode, audit_share: float = 1.0, **kw):
        super().__init__(node, **kw)
        self.audit_share = audit_share
        self.audited: set[int] = set()

    def segments_to_audit(self, job) -> list[int]:
        count = len(job.checkpoints)
        ranked = sorted(
            range(count), key=lambda j: blake2_256(self.me + job.result_root + j.to_bytes(4, "little"))
        )
        return sorted(ranked[: max(1, round(count * self.audit_share))])

    def tick(self) -> None:
        # No block test against window_end: the window also lasts its chain time (pallet `windows`), past
        # window_end on a fast chain, and the chain keeps the job open exactly that long; a challenge sent
        # in the finalize grace after it is refused on chain and only logged.
        for job in self.node.jobs():
            if job.id in self.audited or job_status(job) not in (
                JobStatus.COMMITTED,
                JobStatus.ATTESTED,
                JobStatus.CHALLENGED,
            ):
                continue
            if self.me in (bytes(job.solver), bytes(job.submitter)):
                continue
            self.isolated(f"job {job.id}", lambda j=job: self.audit(j))
        self.play_challenges()

    def audit(self, job) -> None:
        """One pass over the job; it is marked audited only once the pass completed."""
        audit = self.audit_of(job)
        if self.hash_list(job, audit) is not None:
            self.check_final_model(job, audit)
            self.check_evaluation(job, audit)
            self.audit_segments(job, audit)
        if not audit.unavailable:  # a missing artifact is audited once it is served
            self.audited.add(job.id)

    def check_final_model(self, job, audit: JobAudit) -> None:
        key = (ArtifactKind.FINAL_MODEL, 0)
        last = len(job.checkpoints) - 1
        trainer = self.checkpoint(job, audit, last)  # a bad last checkpoint is challenged as a CHECKPOINT
        if trainer is None or key in audit.faults:
            return
        ctx = self.context(job)
        try:
            check_final_model(
                ctx.spec, ctx.dataset, trainer.checkpoint(), audit.hashes, bytes(job.final_hash)
            )
        except ArtifactFault as e:
            self.challenge_artifact(job, audit, key, str(e))

    def audit_segments(self, job, audit: JobAudit) -> None:
        """Replay the audited segments in order and challenge the first that calls for it."""
        for segment in self.segments_to_audit(job):
            disputed = self.segment_to_challenge(job, audit, segment)
            if disputed is not None:
                self.node.send(
                    calls.challenge(job.id, disputed), f"challenge job {job.id} segment {disputed}"
                )
                return

    def segment_to_challenge(self, job, audit: JobAudit, segment: int) -> int | None:
        """Replay `segment`: the segment holding the first step it does not reproduce, or None if it does."""
        divergence = self.audit_segment(job, audit, segment)
        if divergence is None:
            return None
        disputed = disputed_segment(divergence, job.checkpoint_interval)
        log.info(
            "%s: job %d segment %d does not reproduce H[%d]; challenging",
            self.name,
            job.id,
            disputed,
            divergence,
        )
        return disputed
