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

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chain.client import ClientError
from chain.primitives.hashing import blake2_256
from compute_market.commitment import StepCommitment, checkpoint_steps, encode_step_hashes, segment_bounds
from compute_market.jobspec import JobSpec
from compute_market.worker import client as calls
from compute_market.worker.audit import (
    ArtifactFault,
    ArtifactKind,
    check_checkpoint,
    check_dataset,
    check_final_model,
    check_hash_list,
)
from compute_market.worker.client import BlobMissing, MarketNode
from compute_market.worker.trainer import (
    EnvironmentRefused,
    Fault,
    StateMismatch,
    Trainer,
    TrainerError,
    model_hash,
    recompute_step,
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
    faults: dict[tuple[ArtifactKind, int], str] = field(default_factory=dict)  # challenged, with the reason
    missing_since: dict[tuple[ArtifactKind, int], float] = field(default_factory=dict)
    divergence: dict[int, int | None] = field(default_factory=dict)  # segment replayed -> first wrong step


def disputed_segment(divergence: int, interval: int) -> int:
    """The segment to challenge for a first wrong step: the one that ends in it (segment 0 for a wrong H[0],
    which the referees then compare with the spec's initial state)."""
    return max(divergence - 1, 0) // interval


class Role:
    name = "worker"

    def __init__(self, node: MarketNode, poll_interval: float = 0.3, progress: Progress = _quiet_progress,
                 blob_patience: float = BLOB_PATIENCE_S):
        self.node, self.poll_interval, self.progress = node, poll_interval, progress
        self.blob_patience = blob_patience
        self.me = node.keypair.public if node.keypair else b""
        self._contexts: dict[int, JobContext] = {}
        self._audits: dict[int, JobAudit] = {}
        self.acted: set[tuple] = set()  # (kind, id, ...) moves already submitted, to skip them while they land
        self.own: dict[tuple[int, int], int | None] = {}  # (job, segment) -> the first step this worker disputes

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

    def fetch_artifact(self, job, audit: JobAudit, key: tuple[ArtifactKind, int], blob_hash: bytes) -> bytes | None:
        """The artifact's bytes; None once it stayed missing past the patience (it is then challenged)."""
        try:
            return self.node.blob(blob_hash)
        except BlobMissing as e:
            first = audit.missing_since.setdefault(key, time.monotonic())
            if time.monotonic() - first < self.blob_patience:
                raise Pending(f"{key[0].name.lower()} {key[1]} of job {job.id} is not available yet") from None
            self.challenge_artifact(job, audit, key, f"it stayed unavailable for {self.blob_patience:g} s: {e}")
            return None

    def challenge_artifact(self, job, audit: JobAudit, key: tuple[ArtifactKind, int], reason: str) -> None:
        audit.faults[key] = reason
        kind, index = key
        log.info("%s: job %d: %s %d is bad (%s); challenging it", self.name, job.id, kind.name, index, reason)
        if ("artifact", job.id, key) not in self.acted and self.node.send(
                calls.challenge_artifact(job.id, kind, index), f"challenge {kind.name} {index} of job {job.id}"):
            self.acted.add(("artifact", job.id, key))

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
            return check_checkpoint(ctx.spec, ctx.dataset, blob, index, audit.hashes)
        except ArtifactFault as e:
            self.challenge_artifact(job, audit, key, str(e))
            return None

    def audit_segment(self, job, audit: JobAudit, segment: int) -> int | None:
        """Replay `segment` and compare it with the checked hash list: the first step whose listed hash the
        replay does not reproduce, or None. Both end checkpoints are checked (a bad one is challenged); a
        bad start is replaced by the nearest earlier good one, so a wrong step is found all the same."""
        if segment in audit.divergence:
            return audit.divergence[segment]
        assert audit.hashes is not None
        ctx = self.context(job)
        k = ctx.spec.checkpoint_interval
        _a, b = segment_bounds(ctx.spec.steps, k, segment)
        self.checkpoint(job, audit, segment)
        starts = (self.checkpoint(job, audit, j) for j in range(segment - 1, -1, -1))
        trainer = next((t for t in starts if t is not None), None)
        if trainer is None:
            trainer = Trainer(ctx.spec, ctx.dataset, checkpoints=False)
        start, divergence = trainer.step, None
        for record in trainer.run(until=b):
            self.progress(f"{self.name}: replay job {job.id} segment {segment}", record.step - start, b - start)
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
            if bytes(dispute.challenger) == self.me and dispute.phase == "RESPONSE":
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
            log.info("%s: dispute %d: H[%d] %s -> interval %s", self.name, dispute.id, mid,
                     "agreed" if agree else "disputed", f"[{mid}, {dispute.hi}]" if agree else f"[{dispute.lo}, {mid}]")

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


@dataclass
class CheatPlan:
    """A dishonest solver for demos and tests: perturb the state after `step` in the listed jobs (or all)."""

    step: int | None  # None: train honestly (and cheat only as the flags below say)
    jobs: set[int] | None = None
    withhold_state: bool = False  # never publish the state a dispute asks for
    bad_state: bool = False  # publish a state that does not hash to the agreed H[s]
    withhold_checkpoint: int | None = None  # commit to this checkpoint's hash but never upload it

    def applies(self, job_id: int) -> bool:
        return self.jobs is None or job_id in self.jobs


@dataclass
class SolverRun:
    hashes: list[bytes]
    final_hash: bytes
    checkpoints: dict[int, bytes] = field(default_factory=dict)  # step -> state blob


class Solver(Role):
    """Trains the jobs assigned to its account and defends its commitments.

    The steps of a commitment are hooks a test-only cheater overrides: `train` (the run), `publish` (what is
    uploaded and committed to) and `artifact_blob` (what is served again in an artifact dispute)."""

    name = "solver"

    def __init__(self, node: MarketNode, state_dir: Path, cheat: CheatPlan | None = None,
                 dataset_patience: float = DATASET_PATIENCE_S, **kw):
        super().__init__(node, **kw)
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.cheat = cheat
        self.dataset_patience = dataset_patience
        self.runs: dict[int, SolverRun] = {}
        self.accuracy: dict[int, float] = {}
        self.dataset_missing_since: dict[int, float] = {}
        self.unusable_datasets: dict[int, str] = {}  # job -> why its dataset failed the check

    def cheats(self, job_id: int) -> CheatPlan | None:
        return self.cheat if self.cheat is not None and self.cheat.applies(job_id) else None

    def fault_for(self, job_id: int):
        cheat = self.cheats(job_id)
        return Fault(after_step=cheat.step, epsilon=0.05) if cheat is not None and cheat.step is not None else None

    def _job_dir(self, job_id: int) -> Path:
        return self.state_dir / f"job-{job_id}"

    def load_run(self, job) -> SolverRun | None:
        run = self.runs.get(job.id)
        if run is not None:
            return run
        job_dir = self._job_dir(job.id)
        if not (job_dir / "hashes.bin").exists():
            return None
        data = (job_dir / "hashes.bin").read_bytes()
        run = SolverRun([data[i:i + 32] for i in range(0, len(data), 32)], (job_dir / "final_model_hash").read_bytes())
        self.runs[job.id] = run
        return run

    def tick(self) -> None:
        for job in self.node.jobs():
            if bytes(job.solver) == self.me and job.status == "ASSIGNED" and not job.open_disputes \
                    and ("commit", job.id) not in self.acted:
                self.isolated(f"job {job.id}", lambda j=job: self.take_on(j))
        for dispute in self.node.open_disputes():
            self.isolated(f"dispute {dispute.id}", lambda d=dispute: self.play(self.node.job(d.job_id), d))

    def take_on(self, job) -> None:
        if self.dataset_ready(job):
            self.commit(job)

    def dataset_ready(self, job) -> bool:
        """Whether the job's dataset is fetched and valid for its spec. One that is invalid, or stays missing
        for `dataset_patience` seconds, is reported on chain (once) so the referees can reject the job."""
        if job.id in self._contexts:
            return True
        reason = self.unusable_datasets.get(job.id)
        if reason is None:
            spec = JobSpec.decode(bytes(job.spec))
            try:
                self._contexts[job.id] = JobContext(spec, check_dataset(spec, self.node.blob(spec.dataset_hash)))
                return True
            except BlobMissing as e:
                first = self.dataset_missing_since.setdefault(job.id, time.monotonic())
                if time.monotonic() - first < self.dataset_patience:
                    log.info("solver: job %d: the dataset is not available yet (%s)", job.id, e)
                    return False
                reason = f"it stayed unavailable for {self.dataset_patience:g} s: {e}"
            except ArtifactFault as e:
                reason = self.unusable_datasets[job.id] = str(e)
        if ("report", job.id) not in self.acted:
            log.warning("solver: job %d: reporting its dataset: %s", job.id, reason)
            if self.node.send(calls.report_dataset(job.id), f"report the dataset of job {job.id}"):
                self.acted.add(("report", job.id))
        return False

    def train(self, job) -> SolverRun:
        """The run this solver commits to (kept on disk, for disputes after a restart)."""
        ctx = self.context(job)
        trainer = Trainer(ctx.spec, ctx.dataset, fault=self.fault_for(job.id))
        hashes, checkpoints = [], {}
        for record in trainer.run(progress_callback=lambda s, t: self.progress(f"solver: train job {job.id}", s, t)):
            hashes.append(record.state_hash)
            if record.checkpoint is not None:
                checkpoints[record.step] = record.checkpoint
        run = SolverRun(hashes, model_hash(trainer.model), checkpoints)
        self.accuracy[job.id] = trainer.evaluate()
        job_dir = self._job_dir(job.id)
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / "hashes.bin").write_bytes(b"".join(run.hashes))
        (job_dir / "final_model_hash").write_bytes(run.final_hash)
        self.runs[job.id] = run
        return run

    def publish(self, job, run: SolverRun) -> tuple[bytes, list[bytes]]:
        """Upload the hash list and the checkpoints; their blob hashes, as the commitment names them."""
        hash_list = self.node.put_blob(encode_step_hashes(run.hashes))
        blob_hashes = []
        cheat = self.cheats(job.id)
        for i, step in enumerate(sorted(run.checkpoints)):
            if cheat is not None and cheat.withhold_checkpoint == i:
                blob_hashes.append(blake2_256(run.checkpoints[step]))
                log.info("solver: withholding checkpoint %d (step %d) of job %d", i, step, job.id)
                continue
            blob_hashes.append(self.node.put_blob(run.checkpoints[step]))
        return hash_list, blob_hashes

    def commit(self, job) -> None:
        log.info("solver: training job %d", job.id)
        run = self.train(job)
        hash_list, checkpoints = self.publish(job, run)
        root = StepCommitment(run.hashes).root
        if self.node.send(calls.commit_result(job.id, root, run.final_hash, hash_list, checkpoints),
                          f"commit job {job.id}"):
            self.acted.add(("commit", job.id))
            log.info("solver: committed job %d root 0x%s, %d checkpoints", job.id, root.hex()[:16], len(checkpoints))

    def state_blob_at(self, job, step: int) -> bytes:
        """The full state at `step`, rebuilt from the nearest checkpoint at or before it (same fault)."""
        ctx = self.context(job)
        start_step = step // ctx.spec.checkpoint_interval * ctx.spec.checkpoint_interval
        run = self.runs.get(job.id)
        start = run.checkpoints.get(start_step) if run is not None and start_step > 0 else None
        if start is None and start_step > 0:
            try:  # restarted: this solver's own upload
                start = self.node.blob(bytes(job.checkpoints[start_step // ctx.spec.checkpoint_interval - 1]))
            except BlobMissing:
                start = None
        trainer = Trainer(ctx.spec, ctx.dataset, fault=self.fault_for(job.id), checkpoints=False) if start is None \
            else Trainer.from_checkpoint(ctx.spec, ctx.dataset, start, fault=self.fault_for(job.id), checkpoints=False)
        for _ in trainer.run(until=step):
            pass
        return trainer.checkpoint()

    def artifact_blob(self, job, dispute) -> bytes | None:
        """The bytes of the artifact an artifact dispute names (its `state_blob`); None to withhold them."""
        run = self.load_run(job)
        if dispute.kind == "HASH_LIST":
            return encode_step_hashes(run.hashes)
        index = len(job.checkpoints) - 1 if dispute.kind == "FINAL_MODEL" else dispute.segment
        cheat = self.cheats(job.id)
        if cheat is not None and cheat.withhold_checkpoint == index:
            return None
        step = checkpoint_steps(job.steps, job.checkpoint_interval)[index]
        blob = run.checkpoints.get(step)
        return blob if blob is not None else self.state_blob_at(job, step)  # a checkpoint is a function of the state

    def serve_artifact(self, job, dispute, key: tuple) -> None:
        """An artifact is disputed: upload it (again) so the referees can fetch and check it."""
        blob = self.artifact_blob(job, dispute)
        if blob is None:
            return
        if self.node.put_blob(blob) != bytes(dispute.state_blob):
            log.error("solver: dispute %d: the %s was rebuilt with another hash", dispute.id, dispute.kind)
            return
        self.acted.add(key)
        log.info("solver: dispute %d: %s %d served again", dispute.id, dispute.kind, dispute.segment)

    def play(self, job, dispute) -> None:
        key = (dispute.phase, dispute.id, dispute.lo, dispute.hi, dispute.next_step)
        if bytes(job.solver) != self.me or key in self.acted or dispute.kind == "DATASET":
            return  # not this solver's job, or its own dataset report, which the referees decide
        run = self.load_run(job)
        if run is None:
            run = self.train(job)
        if dispute.kind != "STEP":
            if dispute.phase == "VOTING":
                self.serve_artifact(job, dispute, key)
        elif dispute.phase == "REVEAL":
            step_hash, proof = StepCommitment(run.hashes).open(dispute.next_step)
            if self.node.send(calls.reveal(dispute.id, step_hash, proof), f"reveal H[{dispute.next_step}]"):
                self.acted.add(key)
                log.info("solver: dispute %d: revealed H[%d]", dispute.id, dispute.next_step)
        elif dispute.phase == "STEP_STATE":
            cheat = self.cheats(job.id)
            if cheat is not None and cheat.withhold_state:
                return
            bad = cheat is not None and cheat.bad_state
            blob = self.state_blob_at(job, dispute.lo - 1 if bad and dispute.lo > 0 else dispute.lo)
            blob_hash = self.node.put_blob(blob)
            if self.node.send(calls.submit_step_state(dispute.id, blob_hash, run.hashes[dispute.lo]),
                              f"publish the state at step {dispute.lo}"):
                self.acted.add(key)
                log.info("solver: dispute %d: published the state at step %d", dispute.id, dispute.lo)


class Verifier(Role):
    """Replays the segments the chain sampled and attests; `lazy` attests without replaying (a bad verifier).

    It attests a job still open to attestation, COMMITTED or CHALLENGED by someone else, and only once every
    artifact its segments rest on checked out; a bad one is challenged instead."""

    name = "verifier"

    def __init__(self, node: MarketNode, lazy: bool = False, **kw):
        super().__init__(node, **kw)
        self.lazy = lazy

    def tick(self) -> None:
        for job in self.node.jobs():
            if job.status not in ("COMMITTED", "CHALLENGED") or not job.has_sampled_segments or job.verifier:
                continue
            if ("attest", job.id) in self.acted or self.me in (bytes(job.solver), bytes(job.submitter)):
                continue
            self.isolated(f"job {job.id}", lambda j=job: self.verify(j))
        self.play_challenges()

    def verify(self, job) -> None:
        results = [(segment, True) for segment in job.sampled_segments] if self.lazy else self.replay_sampled(job)
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
        if audit.faults:
            if ("withhold attestation", job.id) not in self.acted:
                self.acted.add(("withhold attestation", job.id))
                log.info("verifier: job %d: not attesting, its artifacts are challenged: %s", job.id, audit.faults)
            return None
        return results


class Whistleblower(Role):
    """Audits every committed job: the hash list, the final model, and a share of the segments (replayed
    and compared with the hash list); challenges what is wrong and plays the bisection."""

    name = "whistleblower"

    def __init__(self, node: MarketNode, audit_share: float = 1.0, false_challenge: bool = False, **kw):
        super().__init__(node, **kw)
        self.audit_share = audit_share
        self.false_challenge = false_challenge
        self.audited: set[int] = set()

    def segments_to_audit(self, job) -> list[int]:
        count = len(job.checkpoints)
        ranked = sorted(range(count), key=lambda j: blake2_256(self.me + job.result_root + j.to_bytes(4, "little")))
        return sorted(ranked[:max(1, round(count * self.audit_share))])

    def tick(self) -> None:
        # No block test against window_end: the window also lasts its chain time (pallet `windows`), past
        # window_end on a fast chain, and the chain keeps the job open exactly that long; a challenge sent
        # in the finalize grace after it is refused on chain and only logged.
        for job in self.node.jobs():
            if job.id in self.audited or job.status not in ("COMMITTED", "ATTESTED", "CHALLENGED"):
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
            self.audit_segments(job, audit)
        self.audited.add(job.id)

    def check_final_model(self, job, audit: JobAudit) -> None:
        key = (ArtifactKind.FINAL_MODEL, 0)
        last = len(job.checkpoints) - 1
        trainer = self.checkpoint(job, audit, last)  # a bad last checkpoint is challenged as a CHECKPOINT
        if trainer is None or key in audit.faults:
            return
        ctx = self.context(job)
        try:
            check_final_model(ctx.spec, ctx.dataset, trainer.checkpoint(), audit.hashes, bytes(job.final_hash))
        except ArtifactFault as e:
            self.challenge_artifact(job, audit, key, str(e))

    def audit_segments(self, job, audit: JobAudit) -> None:
        k = job.checkpoint_interval
        for segment in self.segments_to_audit(job):
            divergence = self.audit_segment(job, audit, segment)
            if divergence is None and not self.false_challenge:
                continue
            disputed = segment if divergence is None else disputed_segment(divergence, k)
            log.info("whistleblower: job %d segment %d %s; challenging", job.id, disputed,
                     f"does not reproduce H[{divergence}]" if divergence is not None
                     else "reproduces (false challenge on purpose)")
            self.node.send(calls.challenge(job.id, disputed), f"challenge job {job.id} segment {disputed}")
            return


# A referee's vote against the solver (or the submitter, for a dataset): the state at s cannot be recomputed
# from (the published blob does not hash to the agreed H[s], does not load, or stayed unavailable for half
# the vote period), or a disputed artifact fails its check. It is never a real H[s+1] nor an artifact's hash,
# so a quorum of it decides for the challenger.
UNUSABLE_STATE_VOTE = blake2_256(b"gradchain/referee/unusable-state")
FAULT_VOTE = UNUSABLE_STATE_VOTE


class Unavailable(Exception):
    """A blob a referee needs stayed missing for half the vote period."""


class Referee(Role):
    """Run beside a validator (signing with its stash key): recompute the single disputed step of a bisection,
    or check a disputed artifact, and vote."""

    name = "referee"

    def __init__(self, node: MarketNode, **kw):
        super().__init__(node, **kw)
        self.first_seen: dict[int, tuple[int, float]] = {}  # dispute -> (chain ms, monotonic s) at first sight

    def tick(self) -> None:
        disputes, now_ms = self.node.open_disputes_at()
        for dispute in disputes:
            if dispute.phase != "VOTING" or ("vote", dispute.id) in self.acted:
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
            what = f"recomputed H[{dispute.lo + 1}] = 0x{vote.hex()[:16]}" if dispute.kind == "STEP" and \
                vote != FAULT_VOTE else f"the {dispute.kind.lower()} is " + ("valid" if vote == bytes(dispute.hi_hash)
                                                                              else "unusable")
            log.info("referee: dispute %d: %s", dispute.id, what)

    def recompute(self, job, dispute, now_ms: int) -> bytes | None:
        """This referee's vote, or None to wait (a blob may still be on its way) or to abstain."""
        try:
            if dispute.kind != "STEP":
                return self.check_artifact(job, dispute, now_ms)
            state = self.fetch(dispute, bytes(dispute.state_blob), now_ms) if dispute.lo > 0 else None
            ctx = self.context(job)  # the state at 0 follows from the spec
            return recompute_step(ctx.spec, ctx.dataset, state, expected_hash=bytes(dispute.lo_hash))
        except EnvironmentRefused as e:  # this machine cannot judge: abstain rather than vote "unusable"
            log.error("referee: dispute %d: not voting, this machine cannot run exact mode: %s", dispute.id, e)
            return None
        except Unavailable as e:
            log.warning("referee: dispute %d: %s", dispute.id, e)
            return FAULT_VOTE
        except (ArtifactFault, StateMismatch, TrainerError, ValueError) as e:
            log.warning("referee: dispute %d: the %s is unusable: %s", dispute.id,
                        "published state" if dispute.kind == "STEP" else dispute.kind.lower(), e)
            return FAULT_VOTE

    def check_artifact(self, job, dispute, now_ms: int) -> bytes | None:
        """`hi_hash` if the disputed artifact passes its check (`audit`); an ArtifactFault if not."""
        spec = JobSpec.decode(bytes(job.spec))
        if dispute.kind == "DATASET":
            check_dataset(spec, self.fetch(dispute, spec.dataset_hash, now_ms))
            return bytes(dispute.hi_hash)
        hashes = check_hash_list(self.fetch(dispute, bytes(job.hash_list), now_ms), spec.steps, bytes(job.result_root))
        if dispute.kind == "CHECKPOINT":
            ctx = self.context(job)
            check_checkpoint(ctx.spec, ctx.dataset, self.fetch(dispute, bytes(dispute.state_blob), now_ms),
                             dispute.segment, hashes)
        elif dispute.kind == "FINAL_MODEL":
            check_final_model(spec, None, self.fetch(dispute, bytes(dispute.state_blob), now_ms), hashes,
                              bytes(job.final_hash))
        elif dispute.kind != "HASH_LIST":
            log.error("referee: dispute %d: unknown kind %s; not voting", dispute.id, dispute.kind)
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


ROLES = {"solver": Solver, "verifier": Verifier, "whistleblower": Whistleblower, "referee": Referee}


def wait_until(predicate: Callable[[], bool], timeout: float, poll: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return False
