"""The committed evaluation (compute_market/worker/evaluation.py): a pure function of the state at T and the
held-out split, the same bits however it is reached, and encoded as integers."""

from __future__ import annotations

import struct

import pytest
import torch
import torch.nn.functional as F

from compute_market.commitment import CommitmentError, Evaluation, evaluation_hash
from compute_market.jobspec import MultilabelTask, RegressionTask
from compute_market.worker import evaluation
from compute_market.worker.exact import native, ops
from compute_market.worker.trainer import Trainer, evaluate, task_loss

from .conftest import small_job
from .test_tasks import MULTILABEL, REGRESSION, task_spec


@pytest.fixture(scope="module", params=["mlp", "cnn", "transformer"])
def trained(request):
    spec, ds = small_job(request.param)
    trainer = Trainer(spec, ds)
    for _ in trainer.run():
        pass
    return spec, ds, trainer


def test_figures_are_the_mean_loss_and_the_argmax_count(trained):
    _, ds, trainer = trained
    figures = evaluation.evaluate_model(trainer.model, ds)
    with torch.no_grad():
        logits = trainer.model(ds.x_test).double()
    assert figures.count == ds.x_test.shape[0]
    assert figures.correct == round(evaluate(trainer.model, ds) * figures.count)
    assert figures.loss == pytest.approx(float(F.cross_entropy(logits, ds.y_test)), abs=1e-5)
    assert figures.loss_bits == struct.unpack("<Q", struct.pack("<d", figures.loss))[0]


def test_figures_of_the_checkpoint_at_t_are_the_trained_models_bit_for_bit(trained):
    spec, ds, trainer = trained
    reloaded = Trainer.from_checkpoint(spec, ds, trainer.checkpoint(), checkpoints=False)
    assert evaluation.evaluate_model(reloaded.model, ds) == evaluation.evaluate_model(trainer.model, ds)


def test_figures_do_not_depend_on_the_thread_count(trained):
    _, ds, trainer = trained
    one = evaluation.evaluate_model(trainer.model, ds)
    native.threads.set(2)
    try:
        assert evaluation.evaluate_model(trainer.model, ds) == one
    finally:
        native.threads.set(1)


def test_batches_combine_in_index_order(trained, monkeypatch):
    """The split cut into batches of EVAL_BATCH (the last one shorter): the loss is the binary64 sum of
    each batch's float32 mean times its rows, in batch order, over N."""
    _, ds, trainer = trained
    monkeypatch.setattr(evaluation, "EVAL_BATCH", 24)
    figures = evaluation.evaluate_model(trainer.model, ds)
    total = 0.0
    with torch.no_grad():
        for start in range(0, ds.x_test.shape[0], 24):
            x, y = ds.x_test[start : start + 24], ds.y_test[start : start + 24]
            total += float(ops.cross_entropy(trainer.model(x), y)) * y.shape[0]
    assert figures.loss == total / ds.x_test.shape[0]


def test_encoding_is_u64_bits_u32_correct_u32_count():
    e = Evaluation(0x3FE0000000000000, 61, 64)
    assert e.encode() == bytes.fromhex("000000000000e03f") + (61).to_bytes(4, "little") + (64).to_bytes(
        4, "little"
    )
    assert (e.loss, e.accuracy) == (0.5, 61 / 64)
    assert e.hash == evaluation_hash(e) != Evaluation(0x3FE0000000000000, 60, 64).hash


@pytest.mark.parametrize("args", [(0, 65, 64), (-1, 0, 1), (1 << 64, 0, 1), (0, -1, 3), (0, 0, 1 << 32)])
def test_invalid_evaluation_figures(args):
    with pytest.raises(CommitmentError):
        Evaluation(*args)


@pytest.mark.parametrize("task_name", ["regression", "multilabel"])
def test_other_tasks_commit_their_own_loss_and_count(task_name):
    """Regression and multilabel jobs commit the task's loss (the trainer's, over rows and outputs), and
    for `correct` the examples with every label right (multilabel) or 0 (regression has none)."""
    task, ds = (
        (RegressionTask("huber", 0.5), REGRESSION)
        if task_name == "regression"
        else (MultilabelTask(), MULTILABEL)
    )
    spec = task_spec(task, ds, steps=8)
    trainer = Trainer(spec, ds)
    for _ in trainer.run():
        pass
    figures = evaluation.evaluate_model(trainer.model, ds, spec.task)
    with torch.no_grad():
        outputs = trainer.model(ds.x_test)
        whole = float(task_loss(spec.task, outputs, ds.y_test))
    assert figures.count == ds.x_test.shape[0] and figures.loss == pytest.approx(whole, rel=1e-5)
    if task_name == "regression":
        assert figures.correct == 0
    else:
        right = ((outputs > 0) == (ds.y_test != 0)).all(dim=1)
        assert figures.correct == int(right.sum()) and 0 < figures.correct < figures.count
    reloaded = Trainer.from_checkpoint(spec, ds, trainer.checkpoint(), checkpoints=False)
    assert evaluation.evaluate_model(reloaded.model, ds, spec.task) == figures
