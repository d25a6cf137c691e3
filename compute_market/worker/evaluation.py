"""The final evaluation a solver commits with its result: one definition, run by the solver, the auditors and
the referees, so that a wrong figure is a provable fault like a wrong state.

The figures are a pure function of the state at step T (its model part) and the dataset's held-out split,
computed in exact mode (compute_market/worker/exact), so every honest machine gets the same bits:

- The test split is cut into batches of `EVAL_BATCH` examples in index order (the last one shorter).
- Each batch's logits are the exact model's forward pass (`models.build_model`, the portable operators).
- A batch's loss is the task's exact-mode training loss without label smoothing (`trainer.task_loss`:
  cross-entropy for classification, the squared error or Huber loss for regression, binary cross-entropy
  with logits for multilabel): the float32 mean over its rows (and outputs), in the kernels' fixed order.
  The mean over the split is then, in IEEE-754 binary64 (Python floats): total = 0.0, then for each batch
  in order total += float64(batch mean) * rows (exact: a float32 times at most 2**10 fits in 53 bits),
  and loss = total / N, one rounding each. `loss_bits` is the binary64 pattern of that loss.
- `correct` counts, for classification, the test examples whose logits' argmax (the first maximal class on
  ties) is the label; for multilabel, the examples whose every label is right (a logit > 0 for 1, <= 0 for
  0); for language_model, the positions whose argmax is the next token; for regression, which has no
  right answer to count, it is 0. `count` is N (for language_model, N * seq_len positions). A language
  model's batch mean is over its rows' positions, all seq_len of them, so weighting it by rows still
  gives the mean over every position.

On chain the figures are integers (`commitment.Evaluation`: u64 bits, u32, u32), never a float rounded
differently per machine; accuracy (`correct / count`) and perplexity (`exp(loss)`) are derived for display.
"""

from __future__ import annotations

import struct

import torch
from torch import nn

from compute_market.commitment import Evaluation
from compute_market.jobspec import ClassificationTask, LanguageModelTask, MultilabelTask, TaskSpec
from compute_market.worker.datasets import Dataset
from compute_market.worker.exact import environment
from compute_market.worker.trainer import EVAL_BATCH, task_loss


def _correct(task: TaskSpec, outputs: torch.Tensor, y: torch.Tensor) -> int:
    if isinstance(task, LanguageModelTask):
        return int((outputs.argmax(dim=-1) == y).sum())
    if isinstance(task, ClassificationTask):
        return int((outputs.argmax(dim=1) == y).sum())
    if isinstance(task, MultilabelTask):
        return int(((outputs > 0) == (y != 0)).all(dim=1).sum())
    return 0  # regression


@torch.no_grad()
def evaluate_model(model: nn.Module, dataset: Dataset, task: TaskSpec | None = None) -> Evaluation:
    """The model's figures on the held-out split for the spec's `task` (None: classification), in the
    module docstring's order. The caller has configured exact mode (`trainer.configure_exact_mode`; a
    `Trainer` does it when it is built)."""
    task = ClassificationTask() if task is None else task
    environment.pin_process()
    n = int(dataset.x_test.shape[0])
    total, correct = 0.0, 0
    for start in range(0, n, EVAL_BATCH):
        x, y = dataset.x_test[start : start + EVAL_BATCH], dataset.y_test[start : start + EVAL_BATCH]
        outputs = model(x)
        total += float(task_loss(task, outputs, y)) * int(y.shape[0])
        correct += _correct(task, outputs, y)
    loss = total / n if n else 0.0
    count = n * int(dataset.y_test.shape[1]) if isinstance(task, LanguageModelTask) else n
    return Evaluation(struct.unpack("<Q", struct.pack("<d", loss))[0], correct, count)


__all__ = ["EVAL_BATCH", "Evaluation", "evaluate_model"]
