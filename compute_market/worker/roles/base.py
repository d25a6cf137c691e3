"""What every role shares: the tick loop, per-job isolation, the job's spec and dataset, replays and the
artifact checks an auditor keeps across ticks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chain.client import ClientError
from compute_market.commitment import segment_bounds
from compute_market.jobspec import JobSpec
from compute_market.worker import client as calls
from compute_market.worker.audit import (
    ArtifactFault,
    ArtifactKind,
    check_checkpoint,
    check_dataset,
    check_evaluation,
    check_hash_list,
)
from compute_market.worker.client import BlobMissing, MarketNode
from compute_market.worker.states import DisputePhase, dispute_phase, job_evaluation
from compute_market.worker.trainer import (
    Trainer,
)

log = logging.getLogger("gradchain.worker")


Progress = Callable[[str, int, int], None]
BLOB_PATIENCE_S = 5.0  # how long an auditor or referee waits for a missing blob (without chain time to go by)
DATASET_PATIENCE_S = 10.0  # how long a solver retries a missing dataset before reporting it


def _quiet_progress(label: str, done: int, total: int) -> None:
    pass


class Pending(Exception):
    """A blob the work needs is missing and may still come: the work resumes on a later tick."""


@dataclass
class JobContext:
    """A job's spec and dataset, fetched and checked once."""

    spec: JobSpec
    dataset: object


@dataclass
class JobAudit:
    """What an auditor has established about one job's artifacts, kept across ticks."""

    hashes: list[bytes] | None = None  # the checked hash list H[0..T]
    faults: dict[tuple[ArtifactKind, int], str] = field(
        default_factory=dict
    )  # failed their check (challenged)
    unavailable: set[tuple[ArtifactKind, int]] = field(
        default_factory=set
    )  # missing now (challenged as such)
    valid: set[tuple[ArtifactKind, int]] = field(default_factory=set)  # checked and found valid (never again)
    missing_since: dict[tuple[ArtifactKind, int], float] = field(default_factory=dict)
    divergence: dict[int, int | None] = field(default_factory=dict)  # segment replayed -> first wrong step


def disputed_segment(divergence: int, interval: int) -> int:
    """The segment to challenge for a first wrong step: the one that ends in it (segment 0 for a wrong H[0],
    which the referees then compare with the spec's initial state)."""
    return max(divergence - 1, 0) // interval


class Role:
    name = "worker"

    def __init__(
        self,
        node: MarketNode,
        poll_interval: float = 0.3,
        progress: Progress = _quiet_progress,
        blob_patience: float = BLOB_PATIENCE_S,
    ):
        self.node, self.poll_interval, self.progress = node, poll_interval, progress
        self.blob_patience = blob_patience
        self.me = node.keypair.public if node.keypair else b""
        self._contexts: dict[int, JobContext] = {}
        self._audits: dict[int, JobAudit] = {}
        self.acted: set[tuple] = (
            set()
        )  # (kind, id, ...) moves already submitted, to skip them while they land
        self.own: dict[
            tuple[int, int], int | None
        ] = {}  # (job, segment) -> the first step this worker disputes

    def context(self, job) -> JobContext:
        ctx = self._contexts.get(job.id)
        if ctx is None:
            spec = JobSpec.decode(bytes(job.spec))
            ctx = JobContext(spec, check_dataset(spec, self.node.blob(spec.dataset_hash)))
            self._contexts[job.id] = ctx
        return ctx

    def isolated(self, what: str, work: Callable[[], object]) -> None:
        """Run one job's work, so that its failure is logged and retried later without stopping the others."""
        try:
            work()
        except Pending as e:
            log.info("%s: %s: waiting (%s)", self.name, what, e)
        except ClientError as e:
            log.warning("%s: %s: %s; retrying", self.name, what, e)
        except Exception:
            log.exception("%s: %s failed; retrying", self.name, what)

    # --- auditing (verifier, whistleblower) ------------------------------------------------------------------

    def audit_of(self, job) -> JobAudit:
        return self._audits.setdefault(job.id, JobAudit())

    def fetch_artifact(
        self, job, audit: JobAudit, key: tuple[ArtifactKind, int], blob_hash: bytes
    ) -> bytes | None:
        """The artifact's bytes; None while it stays missing past the patience (it is then challenged as
        unavailable, and fetched again on later ticks: once served, it is checked like any other)."""
        try:
            blob = self.node.blob(blob_hash)
        except BlobMissing as e:
            first = audit.missing_since.setdefault(key, time.monotonic())
            if time.monotonic() - first < self.blob_patience:
                raise Pending(
                    f"{key[0].name.lower()} {key[1]} of job {job.id} is not available yet"
                ) from None
            audit.unavailable.add(key)
            self.challenge_artifact(
                job, audit, key, f"it stayed unavailable for {self.blob_patience:g} s: {e}", unavailable=True
            )
            return None
        audit.unavailable.discard(key)
        return blob

    def challenge_artifact(
        self, job, audit: JobAudit, key: tuple[ArtifactKind, int], reason: str, unavailable: bool = False
    ) -> None:
        """Challenge an artifact: as unavailable (it could not be fetched), or as failing its check (a fault
        kept for good: the content behind a hash never changes)."""
        if not unavailable:
            audit.faults[key] = reason
        kind, index = key
        act = ("artifact", job.id, key, unavailable)
        if act in self.acted:
            return
        log.info("%s: job %d: %s %d is bad (%s); challenging it", self.name, job.id, kind.name, index, reason)
        if self.node.send(
            calls.challenge_artifact(job.id, kind, index, unavailable),
            f"challenge {kind.name} {index} of job {job.id}",
        ):
            self.acted.add(act)

    def hash_list(self, job, audit: JobAudit) -> list[bytes] | None:
        """H[0..T] from the solver's checked hash list, or None if it is bad (and challenged)."""
        key = (ArtifactKind.HASH_LIST, 0)
        if audit.hashes is None and key not in audit.faults:
            blob = self.fetch_artifact(job, audit, key, bytes(job.hash_list))
            if blob is not None:
                try:
                    audit.hashes = check_hash_list(blob, job.steps, bytes(job.result_root))
                except ArtifactFault as e:
                    self.challenge_artifact(job, audit, key, str(e))
        return audit.hashes

    def checkpoint(self, job, audit: JobAudit, index: int):
        """A trainer at checkpoint `index` once checked against the hash list, or None if it is bad."""
        key = (ArtifactKind.CHECKPOINT, index)
        if key in audit.faults or audit.hashes is None:
            return None
        blob = self.fetch_artifact(job, audit, key, bytes(job.checkpoints[index]))
        if blob is None:
            return None
        ctx = self.context(job)
        try:
            trainer = check_checkpoint(ctx.spec, ctx.dataset, blob, index, audit.hashes)
        except ArtifactFault as e:
            self.challenge_artifact(job, audit, key, str(e))
            return None
        audit.valid.add(key)
        return trainer

    def check_evaluation(self, job, audit: JobAudit) -> None:
        """Recompute the final model's evaluation from the last checkpoint (checked against the hash list;
        a bad one is challenged as a CHECKPOINT) and challenge the committed figures if they differ."""
        key = (ArtifactKind.EVALUATION, 0)
        committed = job_evaluation(job)
        if key in audit.faults or key in audit.valid or committed is None:
            return
        last = len(job.checkpoints) - 1
        trainer = self.checkpoint(job, audit, last)
        if trainer is None:
            return
        ctx = self.context(job)
        try:
            check_evaluation(ctx.spec, ctx.dataset, trainer.checkpoint(), audit.hashes, committed)
        except ArtifactFault as e:
            self.challenge_artifact(job, audit, key, str(e))
            return
        audit.valid.add(key)

    def audit_segment(self, job, audit: JobAudit, segment: int) -> int | None:
        """Replay `segment` and compare it with the checked hash list: the first step whose listed hash the
        replay does not reproduce, or None. Both end checkpoints are checked (a bad one is challenged); a
        bad start is replaced by the nearest earlier good one, so a wrong step is found all the same."""
        if (ArtifactKind.CHECKPOINT, segment) not in audit.valid:  # the end, until it was found valid once
            self.checkpoint(job, audit, segment)
        if segment in audit.divergence:
            return audit.divergence[segment]
        assert audit.hashes is not None
        ctx = self.context(job)
        k = ctx.spec.checkpoint_interval
        _a, b = segment_bounds(ctx.spec.steps, k, segment)
        starts = (self.checkpoint(job, audit, j) for j in range(segment - 1, -1, -1))
        trainer = next((t for t in starts if t is not None), None)
        if trainer is None:
            trainer = Trainer(ctx.spec, ctx.dataset, checkpoints=False)
        start, divergence = trainer.step, None
        for record in trainer.run(until=b):
            self.progress(
                f"{self.name}: replay job {job.id} segment {segment}", record.step - start, b - start
            )
            if record.state_hash != audit.hashes[record.step]:
                divergence = record.step
                break
        audit.divergence[segment] = divergence
        if divergence is not None:
            self.own[(job.id, disputed_segment(divergence, k))] = divergence
        return divergence

    # --- playing the bisection as a challenger -------------------------------------------------------------

    def play_challenges(self) -> None:
        """Answer the solver's reveals in the disputes this account opened."""
        for dispute in self.node.open_disputes():
            if bytes(dispute.challenger) == self.me and dispute_phase(dispute) is DisputePhase.RESPONSE:
                self.isolated(f"dispute {dispute.id}", lambda d=dispute: self.respond(d))

    def respond(self, dispute) -> None:
        """Agree with the revealed H[mid] exactly when mid precedes the first step this worker disputes: the
        reveal is H[mid] of the checked hash list (its proof opens the root), so the interval keeps that step."""
        key = ("respond", dispute.id, dispute.lo, dispute.hi)
        if key in self.acted:
            return
        own = (dispute.job_id, dispute.segment)
        if own not in self.own:  # restarted: replay the disputed segment again
            job = self.node.job(dispute.job_id)
            audit = self.audit_of(job)
            if self.hash_list(job, audit) is not None:
                self.own.setdefault(own, self.audit_segment(job, audit, dispute.segment))
        divergence = self.own.get(own)
        mid = (dispute.lo + dispute.hi) // 2
        agree = divergence is None or mid < divergence
        if self.node.send(calls.respond(dispute.id, agree), f"respond in dispute {dispute.id}"):
            self.acted.add(key)
            log.info(
                "%s: dispute %d: H[%d] %s -> interval %s",
                self.name,
                dispute.id,
                mid,
                "agreed" if agree else "disputed",
                f"[{mid}, {dispute.hi}]" if agree else f"[{dispute.lo}, {mid}]",
            )

    def tick(self) -> None:
        raise NotImplementedError

    def run(self, stop: threading.Event) -> None:
        log.info("%s worker for 0x%s on %s", self.name, self.me.hex()[:16], self.node.address)
        while not stop.is_set():
            try:
                self.tick()
            except ClientError as e:
                log.warning("%s: %s", self.name, e)
            except Exception:  # tick isolates each job; this is the market read itself failing
                log.exception("%s: error while acting on the market", self.name)
                stop.wait(5 * self.poll_interval)
            stop.wait(self.poll_interval)
