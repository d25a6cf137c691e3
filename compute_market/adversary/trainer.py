"""A cheating solver's training run: the production `Trainer` with one deviation (`Fault`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from compute_market.jobspec import JobSpec
from compute_market.worker.datasets import Dataset
from compute_market.worker.trainer import Trainer, TrainingResult, run_to_result


@dataclass(frozen=True, slots=True)
class Fault:
    """A cheating solver's deviation: after hashing state `after_step`, add `epsilon` to one parameter
    element (`parameter`, flat `index`), so H[0..after_step] stay honest and H[after_step+1..] do not.
    With `skip_update` it instead skips the optimizer update of step after_step + 1 while the step counter
    still advances (a solver saving the work of a step)."""

    after_step: int
    epsilon: float = 1e-3
    parameter: str | None = None  # None: the first parameter in sorted order
    index: int = 0
    skip_update: bool = False


class FaultyTrainer(Trainer):
    """A `Trainer` that applies `fault` (None: none); the rest (hashing, checkpoints) is the production one."""

    def __init__(self, spec: JobSpec, dataset: Dataset, *, fault: Fault | None = None, **kwargs):
        # Hashing inline, H[s] is done before step s + 1 starts, so the perturbation cannot race the hash.
        super().__init__(spec, dataset, **{**kwargs, "background": False})
        self.fault = fault

    def _train_step(self, step: int) -> None:
        if self.fault is not None and step == self.fault.after_step + 1 and not self.fault.skip_update:
            params = dict(self.model.named_parameters())
            name = self.fault.parameter or min(params)
            with torch.no_grad():
                params[name].view(-1)[self.fault.index] += self.fault.epsilon
        super()._train_step(step)

    def _optimizer_step(self, step: int) -> None:
        if self.fault is None or not (self.fault.skip_update and step == self.fault.after_step + 1):
            super()._optimizer_step(step)


def train(
    spec: JobSpec,
    dataset: Dataset,
    *,
    fault: Fault,
    progress_callback: Callable[[int, int], None] | None = None,
) -> TrainingResult:
    """`compute_market.worker.trainer.train` with `fault` applied."""
    return run_to_result(FaultyTrainer(spec, dataset, fault=fault), progress_callback)
