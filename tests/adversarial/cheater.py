"""Cheating solvers, for the adversarial suite only: `python -m tests.adversarial.cheater --cheat CLASS ...`.

Each class is a `compute_market.adversary.CheatingSolver` (the production `Solver` with its hooks open to
cheats) that overrides a hook: `train` (the run it commits to), `publish` (what it uploads and names in the
commitment), `fault_for` (a deviation in the trainer), `artifact_blob` (what it serves again in an artifact
dispute) or `take_on` (what it does with an assigned job). Everything else, taking the job, committing and playing the disputes, is the production solver's,
so a cheater defends its commitment as well as an honest solver would defend a correct one.

"Another run" is the same spec trained with its first parameter nudged after step 0: its checkpoints are
valid states of the spec at the right steps, they just are not the states the committed hashes name.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path

from chain.keystore import load_key
from chain.primitives.hashing import blake2_256
from compute_market.adversary import CheatingSolver, Fault, FaultyTrainer
from compute_market.commitment import Evaluation, checkpoint_steps, encode_step_hashes
from compute_market.jobspec import DeterminismProfile
from compute_market.worker import client as calls
from compute_market.worker.client import MarketNode
from compute_market.worker.roles import SolverRun
from compute_market.worker.trainer import configure_exact_mode, model_hash

log = logging.getLogger("gradchain.cheater")
OTHER_RUN = Fault(after_step=0, epsilon=0.05)


class TrainsNothing(CheatingSolver):
    """Commits random step hashes, uploads random bytes as checkpoints and names a random final hash."""

    def train(self, job) -> SolverRun:
        steps = checkpoint_steps(job.steps, job.checkpoint_interval)
        run = SolverRun(
            [os.urandom(32) for _ in range(job.steps + 1)],
            os.urandom(32),
            Evaluation(0, 0, 0),
            {s: os.urandom(4096) for s in steps},
        )
        self.runs[job.id] = run
        return run


class StepCheat(CheatingSolver):
    """A deviation at one step of an otherwise honest run (hashes and checkpoints follow the deviation)."""

    def deviation(self, steps: int) -> Fault:
        raise NotImplementedError

    def fault_for(self, job) -> Fault:
        return self.deviation(job.steps)


class SkipsAnUpdate(StepCheat):
    """Skips the optimizer update of one step in the middle of the run (the step counter still advances)."""

    def deviation(self, steps: int) -> Fault:
        return Fault(after_step=steps // 2 + 2, skip_update=True)


class FirstStep(StepCheat):
    def deviation(self, steps: int) -> Fault:
        return Fault(after_step=0, epsilon=0.05)


class LastStep(StepCheat):
    def deviation(self, steps: int) -> Fault:
        return Fault(after_step=steps - 1, epsilon=0.05)


class MiddleStep(StepCheat):
    def deviation(self, steps: int) -> Fault:
        return Fault(after_step=steps // 2 + 3, epsilon=0.05)


class ArtifactCheat(CheatingSolver):
    """Trains honestly (honest hashes), then publishes artifacts of another run."""

    def other_run(self, job, until: int) -> FaultyTrainer:
        ctx = self.context(job)
        trainer = FaultyTrainer(ctx.spec, ctx.dataset, fault=OTHER_RUN, checkpoints=False)
        for _ in trainer.run(until=until):
            pass
        return trainer


class OtherRunCheckpoint(ArtifactCheat):
    """Checkpoint 1 is a valid state of another run at the same step; the hashes are the honest run's."""

    def train(self, job) -> SolverRun:
        run = super().train(job)
        step = checkpoint_steps(job.steps, job.checkpoint_interval)[1]
        run.checkpoints[step] = self.other_run(job, step).checkpoint()
        return run


class ForgedFinalModel(ArtifactCheat):
    """The final checkpoint is another run's state at step T, and final_hash that model's hash: the model
    matches the final hash, but it is not the state whose hash is H[T]."""

    def train(self, job) -> SolverRun:
        run = super().train(job)
        other = self.other_run(job, job.steps)
        run.checkpoints[job.steps] = other.checkpoint()
        run.final_hash = model_hash(other.model)
        return run


class RandomFinalHash(CheatingSolver):
    """An honest run committed with a random final_hash."""

    def train(self, job) -> SolverRun:
        run = super().train(job)
        run.final_hash = os.urandom(32)
        return run


class GarbageHashList(CheatingSolver):
    """An honest run whose hash-list blob is random bytes (the root is the honest one)."""

    def publish(self, job, run: SolverRun) -> tuple[bytes, list[bytes]]:
        _, checkpoints = super().publish(job, run)
        return self.node.put_blob(os.urandom(len(encode_step_hashes(run.hashes)))), checkpoints


class WithheldHashList(CheatingSolver):
    """An honest run whose hash list is named in the commitment but never uploaded, nor served in a dispute."""

    def publish(self, job, run: SolverRun) -> tuple[bytes, list[bytes]]:
        checkpoints = [self.node.put_blob(run.checkpoints[step]) for step in sorted(run.checkpoints)]
        return blake2_256(encode_step_hashes(run.hashes)), checkpoints

    def artifact_blob(self, job, dispute) -> bytes | None:
        return None if dispute.kind == "HASH_LIST" else super().artifact_blob(job, dispute)


class LateCheckpoint(CheatingSolver):
    """An honest run whose checkpoint 1 is kept from the auditors and uploaded only once a dispute names it,
    so it is there, and valid, when the referees look (the production `artifact_blob` serves it)."""

    def publish(self, job, run: SolverRun) -> tuple[bytes, list[bytes]]:
        steps = sorted(run.checkpoints)
        checkpoints = [
            blake2_256(run.checkpoints[s]) if i == 1 else self.node.put_blob(run.checkpoints[s])
            for i, s in enumerate(steps)
        ]
        return self.node.put_blob(encode_step_hashes(run.hashes)), checkpoints


class FalseDatasetReport(CheatingSolver):
    """Reports a valid dataset as unusable (to walk away from the job), then, having lost that vote, trains
    honestly and commits."""

    def take_on(self, job) -> None:
        if ("report", job.id) in self.acted:
            super().take_on(job)
        elif self.node.send(calls.report_dataset(job.id), f"report the dataset of job {job.id}"):
            self.acted.add(("report", job.id))
            log.info("cheater: reported the valid dataset of job %d", job.id)


CHEATS: dict[str, type[CheatingSolver]] = {
    "trains-nothing": TrainsNothing,
    "skips-update": SkipsAnUpdate,
    "first-step": FirstStep,
    "last-step": LastStep,
    "middle-step": MiddleStep,
    "other-run-checkpoint": OtherRunCheckpoint,
    "forged-final-model": ForgedFinalModel,
    "random-final-hash": RandomFinalHash,
    "garbage-hash-list": GarbageHashList,
    "withheld-hash-list": WithheldHashList,
    "false-dataset-report": FalseDatasetReport,
    "late-checkpoint": LateCheckpoint,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cheat", required=True, choices=sorted(CHEATS))
    parser.add_argument("--key", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--poll", type=float, default=0.2)
    args = parser.parse_args()
    configure_exact_mode(DeterminismProfile())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s")
    solver = CHEATS[args.cheat](
        MarketNode(args.node, load_key(args.key, None)), args.state_dir, poll_interval=args.poll
    )
    log.info("cheating solver: %s", args.cheat)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    solver.run(stop)


if __name__ == "__main__":
    main()
