"""A dishonest solver for the demo and the tests: the production `Solver` with its hooks overridden."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from chain.primitives.hashing import blake2_256
from compute_market.adversary.trainer import Fault, FaultyTrainer
from compute_market.commitment import Evaluation
from compute_market.worker.client import MarketNode
from compute_market.worker.roles import Solver
from compute_market.worker.states import DisputeKind, dispute_kind
from compute_market.worker.trainer import Trainer

log = logging.getLogger("gradchain.adversary")
CHEAT_EPSILON = 0.05


@dataclass(frozen=True)
class CheatPlan:
    """How the solver cheats, on every job it takes."""

    step: int | None = None  # perturb the state after this step; None: train honestly
    withhold_state: bool = False  # never publish the state a step dispute asks for
    bad_state: bool = False  # publish a state that does not hash to the agreed H[s]
    withhold_checkpoint: int | None = None  # commit to this checkpoint's hash but never upload it
    inflate_accuracy: int = 0  # commit this many more correct test examples than the model gets (capped)


class CheatingSolver(Solver):
    """A `Solver` that follows `plan`; taking jobs, committing and playing disputes are the production code.
    Subclasses (tests/adversarial/cheater.py) override `fault_for` or the production hooks."""

    trainer_class = FaultyTrainer

    def __init__(self, node: MarketNode, state_dir: Path, plan: CheatPlan = CheatPlan(), **kw):
        super().__init__(node, state_dir, **kw)
        self.plan = plan

    def fault_for(self, job) -> Fault | None:
        """The deviation this solver's runs of `job` make (None: none)."""
        return None if self.plan.step is None else Fault(after_step=self.plan.step, epsilon=CHEAT_EPSILON)

    def trainer(self, job, checkpoint: bytes | None = None, **kwargs) -> Trainer:
        return super().trainer(job, checkpoint, fault=self.fault_for(job), **kwargs)

    def evaluation(self, job, trainer: Trainer) -> Evaluation:
        honest = super().evaluation(job, trainer)
        if not self.plan.inflate_accuracy:
            return honest
        correct = min(honest.correct + self.plan.inflate_accuracy, honest.count)
        if correct == honest.correct:  # a perfect model cannot be flattered: claim one fewer instead
            correct -= 1
        log.info(
            "cheating solver: job %d: committing %d/%d correct, not %d",
            job.id,
            correct,
            honest.count,
            honest.correct,
        )
        return Evaluation(honest.loss_bits, correct, honest.count)

    def upload_checkpoint(self, job, index: int, blob: bytes) -> bytes:
        if index != self.plan.withhold_checkpoint:
            return super().upload_checkpoint(job, index, blob)
        log.info("cheating solver: withholding checkpoint %d of job %d", index, job.id)
        return blake2_256(blob)

    def artifact_blob(self, job, dispute) -> bytes | None:
        kind = dispute_kind(dispute)
        final = kind in (DisputeKind.FINAL_MODEL, DisputeKind.EVALUATION)
        index = len(job.checkpoints) - 1 if final else dispute.segment
        if kind is not DisputeKind.HASH_LIST and index == self.plan.withhold_checkpoint:
            return None
        return super().artifact_blob(job, dispute)

    def step_state(self, job, dispute) -> bytes | None:
        if self.plan.withhold_state:
            return None
        if self.plan.bad_state and dispute.lo > 0:
            return self.state_blob_at(job, dispute.lo - 1)
        return super().step_state(job, dispute)
