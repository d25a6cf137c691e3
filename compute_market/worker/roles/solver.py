"""The solver: checks the dataset (reporting an unusable one), trains, publishes the hash list and the
checkpoints, commits, and plays its side of every dispute.
"""

from __future__ import annotations

import logging
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from compute_market.commitment import Evaluation, StepCommitment, checkpoint_steps, encode_step_hashes
from compute_market.jobspec import JobSpec
from compute_market.worker import client as calls
from compute_market.worker.audit import (
    ArtifactFault,
    check_dataset,
)
from compute_market.worker.client import BlobMissing, MarketNode
from compute_market.worker.evaluation import evaluate_model
from compute_market.worker.roles.base import DATASET_PATIENCE_S, JobContext, Role
from compute_market.worker.states import (
    DisputeKind,
    DisputePhase,
    JobStatus,
    dispute_kind,
    dispute_phase,
    job_status,
)
from compute_market.worker.trainer import Trainer, model_hash

log = logging.getLogger("gradchain.worker")


@dataclass
class SolverRun:
    hashes: list[bytes]
    final_hash: bytes
    evaluation: Evaluation
    checkpoints: dict[int, bytes] = field(default_factory=dict)  # step -> state blob


class Solver(Role):
    """Trains the jobs assigned to its account and defends its commitments.

    The steps of a commitment are hooks a cheater (compute_market.adversary, tests/adversarial) overrides:
    `trainer` (what runs the spec), `train` (the run), `publish` (what is uploaded and committed to),
    `upload_checkpoint` (one checkpoint's upload), `evaluation` (the figures committed for the final
    model), `artifact_blob` (what is served again in an artifact dispute) and `step_state` (the state
    published in a step dispute)."""

    name = "solver"
    trainer_class: type[Trainer] = Trainer

    def __init__(self, node: MarketNode, state_dir: Path, dataset_patience: float = DATASET_PATIENCE_S, **kw):
        super().__init__(node, **kw)
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.dataset_patience = dataset_patience
        self.runs: dict[int, SolverRun] = {}
        self.accuracy: dict[int, float] = {}
        self.dataset_missing_since: dict[int, float] = {}
        self.unusable_datasets: dict[int, str] = {}  # job -> why its dataset failed the check

    def trainer(self, job, checkpoint: bytes | None = None, **kwargs) -> Trainer:
        """A `trainer_class` of the job's spec, from its initial state or from a checkpoint blob."""
        ctx = self.context(job)
        if checkpoint is None:
            return self.trainer_class(ctx.spec, ctx.dataset, **kwargs)
        return self.trainer_class.from_checkpoint(ctx.spec, ctx.dataset, checkpoint, **kwargs)

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
        loss_bits, correct, count = struct.unpack("<QII", (job_dir / "evaluation").read_bytes())
        run = SolverRun(
            [data[i : i + 32] for i in range(0, len(data), 32)],
            (job_dir / "final_model_hash").read_bytes(),
            Evaluation(loss_bits, correct, count),
        )
        self.runs[job.id] = run
        return run

    def tick(self) -> None:
        for job in self.node.jobs():
            if (
                bytes(job.solver) == self.me
                and job_status(job) is JobStatus.ASSIGNED
                and not job.open_disputes
                and ("commit", job.id) not in self.acted
            ):
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
                self._contexts[job.id] = JobContext(
                    spec, check_dataset(spec, self.node.blob(spec.dataset_hash))
                )
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
        """The run this solver commits to (kept on disk, for disputes after a restart). The training loss is
        logged at every checkpoint step."""
        trainer = self.trainer(job)
        spec = self.context(job).spec
        logged = set(checkpoint_steps(spec.steps, spec.checkpoint_interval))

        def progress(step: int, total: int) -> None:
            self.progress(f"solver: train job {job.id}", step, total)
            if step in logged:
                log.info(
                    "solver: job %d step %d/%d: training loss %.4f", job.id, step, total, trainer.last_loss
                )

        hashes, checkpoints = [], {}
        for record in trainer.run(progress_callback=progress):
            hashes.append(record.state_hash)
            if record.checkpoint is not None:
                checkpoints[record.step] = record.checkpoint
        run = SolverRun(hashes, model_hash(trainer.model), self.evaluation(job, trainer), checkpoints)
        self.accuracy[job.id] = run.evaluation.accuracy
        log.info(
            "solver: job %d: held-out loss %.4f, accuracy %d/%d",
            job.id,
            run.evaluation.loss,
            run.evaluation.correct,
            run.evaluation.count,
        )
        job_dir = self._job_dir(job.id)
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / "hashes.bin").write_bytes(b"".join(run.hashes))
        (job_dir / "final_model_hash").write_bytes(run.final_hash)
        (job_dir / "evaluation").write_bytes(run.evaluation.encode())
        self.runs[job.id] = run
        return run

    def evaluation(self, job, trainer: Trainer) -> Evaluation:
        """The figures committed for the final model: its evaluation on the held-out split."""
        return evaluate_model(trainer.model, self.context(job).dataset, trainer.spec.task)

    def publish(self, job, run: SolverRun) -> tuple[bytes, list[bytes]]:
        """Upload the hash list and the checkpoints; their blob hashes, as the commitment names them."""
        hash_list = self.node.put_blob(encode_step_hashes(run.hashes))
        blob_hashes = [
            self.upload_checkpoint(job, i, run.checkpoints[step])
            for i, step in enumerate(sorted(run.checkpoints))
        ]
        return hash_list, blob_hashes

    def upload_checkpoint(self, job, index: int, blob: bytes) -> bytes:
        """Upload checkpoint `index` of the job's run; its blob hash."""
        return self.node.put_blob(blob)

    def commit(self, job) -> None:
        log.info("solver: training job %d", job.id)
        run = self.train(job)
        hash_list, checkpoints = self.publish(job, run)
        root = StepCommitment(run.hashes).root
        if self.node.send(
            calls.commit_result(
                job.id,
                root,
                run.final_hash,
                hash_list,
                checkpoints,
                run.evaluation.loss_bits,
                run.evaluation.correct,
                run.evaluation.count,
            ),
            f"commit job {job.id}",
        ):
            self.acted.add(("commit", job.id))
            log.info(
                "solver: committed job %d root 0x%s, %d checkpoints",
                job.id,
                root.hex()[:16],
                len(checkpoints),
            )

    def state_blob_at(self, job, step: int) -> bytes:
        """The full state at `step`, rebuilt from the nearest checkpoint at or before it (by `trainer`)."""
        ctx = self.context(job)
        start_step = step // ctx.spec.checkpoint_interval * ctx.spec.checkpoint_interval
        run = self.runs.get(job.id)
        start = run.checkpoints.get(start_step) if run is not None and start_step > 0 else None
        if start is None and start_step > 0:
            try:  # restarted: this solver's own upload
                start = self.node.blob(bytes(job.checkpoints[start_step // ctx.spec.checkpoint_interval - 1]))
            except BlobMissing:
                start = None
        trainer = self.trainer(job, start, checkpoints=False)
        for _ in trainer.run(until=step):
            pass
        return trainer.checkpoint()

    def artifact_blob(self, job, dispute) -> bytes | None:
        """The bytes of the artifact an artifact dispute names (its `state_blob`); None to withhold them."""
        run = self.load_run(job)
        kind = dispute_kind(dispute)
        if kind is DisputeKind.HASH_LIST:
            return encode_step_hashes(run.hashes)
        final = kind in (DisputeKind.FINAL_MODEL, DisputeKind.EVALUATION)
        index = len(job.checkpoints) - 1 if final else dispute.segment
        step = checkpoint_steps(job.steps, job.checkpoint_interval)[index]
        blob = run.checkpoints.get(step)
        return (
            blob if blob is not None else self.state_blob_at(job, step)
        )  # a checkpoint is a function of the state

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
        phase, kind = dispute_phase(dispute), dispute_kind(dispute)
        key = (phase, dispute.id, dispute.lo, dispute.hi, dispute.next_step)
        if bytes(job.solver) != self.me or key in self.acted or kind is DisputeKind.DATASET:
            return  # not this solver's job, or its own dataset report, which the referees decide
        run = self.load_run(job)
        if run is None:
            run = self.train(job)
        if kind is not DisputeKind.STEP:
            if phase is DisputePhase.VOTING:
                self.serve_artifact(job, dispute, key)
        elif phase is DisputePhase.REVEAL:
            step_hash, proof = StepCommitment(run.hashes).open(dispute.next_step)
            if self.node.send(calls.reveal(dispute.id, step_hash, proof), f"reveal H[{dispute.next_step}]"):
                self.acted.add(key)
                log.info("solver: dispute %d: revealed H[%d]", dispute.id, dispute.next_step)
        elif phase is DisputePhase.STEP_STATE:
            blob = self.step_state(job, dispute)
            if blob is None:
                return
            blob_hash = self.node.put_blob(blob)
            if self.node.send(
                calls.submit_step_state(dispute.id, blob_hash, run.hashes[dispute.lo]),
                f"publish the state at step {dispute.lo}",
            ):
                self.acted.add(key)
                log.info("solver: dispute %d: published the state at step %d", dispute.id, dispute.lo)

    def step_state(self, job, dispute) -> bytes | None:
        """The state a step dispute asks for (at its `lo`), as published; None to publish nothing."""
        return self.state_blob_at(job, dispute.lo)
