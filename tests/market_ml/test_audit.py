"""The artifact checks (worker/audit.py) against a cheater for every rule: each forged artifact is refused
naming the rule it breaks, and the honest run's artifacts pass; fetch-model's export delivers only a model
bound to H[T]."""

from __future__ import annotations

import dataclasses
import os

import pytest
import safetensors.torch
import torch

from compute_market import adversary
from compute_market.commitment import Evaluation, StepCommitment, encode_step_hashes
from compute_market.worker import datasets
from compute_market.worker.audit import (
    ArtifactFault,
    check_checkpoint,
    check_dataset,
    check_evaluation,
    check_final_model,
    check_hash_list,
)
from compute_market.worker.evaluation import evaluate_model
from compute_market.worker.model_export import ModelExportError, export_model
from compute_market.worker.models import build_model
from compute_market.worker.trainer import Trainer, model_hash, train

from .conftest import small_job


@pytest.fixture(scope="module")
def honest():
    spec, ds = small_job("mlp")
    return spec, ds, train(spec, ds)


def reencoded(blob: bytes, **changes: torch.Tensor) -> bytes:
    return safetensors.torch.save({**safetensors.torch.load(blob), **changes})


# --- the hash list ---------------------------------------------------------------------------------------


def test_honest_hash_list_decodes_to_the_run(honest):
    spec, _, run = honest
    assert check_hash_list(encode_step_hashes(run.hashes), spec.steps, run.root) == run.hashes


@pytest.mark.parametrize(
    "forge, message",
    [
        (lambda h: h[:-1], "holds 12 hashes; a run of 12 steps has 13"),
        (lambda h: h + [bytes(32)], "more than the"),
        (lambda h: [h[1], h[0], *h[2:]], "root is"),
        (lambda h: [os.urandom(32) for _ in h], "root is"),
    ],
)
def test_invalid_hash_list_truncated_extended_reordered_or_random(honest, forge, message):
    spec, _, run = honest
    with pytest.raises(ArtifactFault, match=message):
        check_hash_list(encode_step_hashes(forge(list(run.hashes))), spec.steps, run.root)


def test_invalid_hash_list_with_trailing_bytes_or_garbage(honest):
    spec, _, run = honest
    blob = encode_step_hashes(run.hashes)
    with pytest.raises(ArtifactFault, match="bytes after its count"):
        check_hash_list(blob + b"\0", spec.steps, run.root)
    with pytest.raises(ArtifactFault, match="bytes after its count"):
        check_hash_list(blob[:-1], spec.steps, run.root)
    with pytest.raises(ArtifactFault, match="does not start with a count"):
        check_hash_list(b"", spec.steps, run.root)
    with pytest.raises(ArtifactFault, match="more than the"):
        check_hash_list(os.urandom(len(blob) + 6), spec.steps, run.root)


def test_invalid_hash_list_of_a_true_run_under_another_root(honest):
    spec, _, run = honest
    with pytest.raises(ArtifactFault, match="not the committed"):
        check_hash_list(encode_step_hashes(run.hashes), spec.steps, bytes(32))


# --- checkpoints -----------------------------------------------------------------------------------------


def test_honest_checkpoints_pass_at_their_steps(honest):
    spec, ds, run = honest
    for index, step in enumerate(sorted(run.checkpoints)):
        trainer = check_checkpoint(spec, ds, run.checkpoints[step], index, run.hashes)
        assert trainer.step == step and trainer.state_hash() == run.hashes[step]


def test_invalid_checkpoint_of_random_bytes(honest):
    spec, ds, run = honest
    with pytest.raises(ArtifactFault, match="checkpoint 0 is not a state of this spec"):
        check_checkpoint(spec, ds, os.urandom(4096), 0, run.hashes)


def test_invalid_checkpoint_from_another_run_of_the_same_spec(honest):
    # A valid state at the right step, but of a perturbed run: honest hashes do not cover it.
    spec, ds, run = honest
    other = adversary.train(spec, ds, fault=adversary.Fault(after_step=1)).checkpoints[4]
    with pytest.raises(ArtifactFault, match="checkpoint 0 hashes to .* not the listed H\\[4\\]"):
        check_checkpoint(spec, ds, other, 0, run.hashes)


def test_invalid_checkpoint_of_another_spec(honest):
    spec, ds, run = honest
    other_spec, other_ds = small_job("mlp", steps=16)
    other = train(other_spec, other_ds).checkpoints[4]
    with pytest.raises(ArtifactFault, match="does not name this spec"):
        check_checkpoint(spec, ds, other, 0, run.hashes)


def test_invalid_checkpoint_at_another_step(honest):
    spec, ds, run = honest
    with pytest.raises(ArtifactFault, match="checkpoint 1 holds the state at step 4, not step 8"):
        check_checkpoint(spec, ds, run.checkpoints[4], 1, run.hashes)
    lagging = Trainer(spec, ds, checkpoints=False)
    for _ in lagging.run(until=7):
        pass
    with pytest.raises(ArtifactFault, match="holds the state at step 7, not step 8"):
        check_checkpoint(spec, ds, lagging.checkpoint(), 1, run.hashes)


def test_invalid_checkpoint_whose_step_counter_lags_a_skipped_update(honest):
    # The solver skipped step 3's update: AdamW's step counters stay one behind the checkpoint's step.
    spec, ds, _ = honest
    skipped = adversary.train(spec, ds, fault=adversary.Fault(after_step=2, skip_update=True))
    with pytest.raises(ArtifactFault, match="step is 3.0, the checkpoint is at step 4"):
        check_checkpoint(spec, ds, skipped.checkpoints[4], 0, skipped.hashes)
    relabelled = reencoded(skipped.checkpoints[4], **{"meta/step": torch.tensor(3)})
    with pytest.raises(ArtifactFault, match="holds the state at step 3, not step 4"):
        check_checkpoint(spec, ds, relabelled, 0, skipped.hashes)


def test_invalid_checkpoint_index(honest):
    spec, ds, run = honest
    with pytest.raises(ArtifactFault, match="outside 0..2"):
        check_checkpoint(spec, ds, run.checkpoints[4], 3, run.hashes)


# --- the final model -------------------------------------------------------------------------------------


def test_honest_final_model_is_bound_to_h_t_without_the_dataset(honest):
    spec, _, run = honest
    model = check_final_model(spec, None, run.checkpoints[spec.steps], run.hashes, run.final_model_hash)
    assert model_hash(model) == run.final_model_hash


def test_invalid_final_model_hash_forged(honest):
    spec, ds, run = honest
    with pytest.raises(ArtifactFault, match="not the committed final hash"):
        check_final_model(spec, ds, run.checkpoints[spec.steps], run.hashes, os.urandom(32))


def test_invalid_final_model_from_a_checkpoint_before_t(honest):
    spec, ds, run = honest
    with pytest.raises(ArtifactFault, match="checkpoint 2 holds the state at step 8, not step 12"):
        check_final_model(spec, ds, run.checkpoints[8], run.hashes, run.final_model_hash)


def test_invalid_final_model_of_another_run_with_its_own_final_hash(honest):
    # The model of a different run, with the matching final hash: it is not H[T]'s state.
    spec, ds, run = honest
    other = adversary.train(spec, ds, fault=adversary.Fault(after_step=5))
    with pytest.raises(ArtifactFault, match="not the listed H\\[12\\]"):
        check_final_model(spec, ds, other.checkpoints[spec.steps], run.hashes, other.final_model_hash)


# --- the evaluation --------------------------------------------------------------------------------------


def honest_evaluation(spec, ds, run) -> Evaluation:
    """What an honest solver commits: the trained model's figures (its state is the checkpoint at T)."""
    trainer = Trainer.from_checkpoint(spec, ds, run.checkpoints[spec.steps], checkpoints=False)
    return evaluate_model(trainer.model, ds)


def test_honest_evaluation_is_recomputed_from_the_checkpoint_at_t(honest):
    spec, ds, run = honest
    committed = honest_evaluation(spec, ds, run)
    assert check_evaluation(spec, ds, run.checkpoints[spec.steps], run.hashes, committed) == committed


@pytest.mark.parametrize(
    "forge",
    [
        lambda e: dataclasses.replace(e, correct=e.correct + 1 if e.correct < e.count else e.correct - 1),
        lambda e: dataclasses.replace(e, loss_bits=e.loss_bits ^ 1),  # one ulp off
        lambda e: dataclasses.replace(e, count=e.count + 1),
    ],
    ids=["accuracy", "loss-ulp", "count"],
)
def test_invalid_evaluation_figure(honest, forge):
    spec, ds, run = honest
    forged = forge(honest_evaluation(spec, ds, run))
    with pytest.raises(ArtifactFault, match="the commitment says"):
        check_evaluation(spec, ds, run.checkpoints[spec.steps], run.hashes, forged)


def test_invalid_evaluation_of_a_checkpoint_before_t(honest):
    spec, ds, run = honest
    with pytest.raises(ArtifactFault, match="not step 12"):
        check_evaluation(spec, ds, run.checkpoints[8], run.hashes, honest_evaluation(spec, ds, run))


# --- datasets --------------------------------------------------------------------------------------------


def test_honest_dataset_passes(honest):
    spec, ds, _ = honest
    assert torch.equal(check_dataset(spec, ds.to_bytes()).x_train, ds.x_train)


def bad_datasets(ds: datasets.Dataset) -> list[tuple[str, datasets.Dataset | bytes, str]]:
    nan = ds.x_train.clone()
    nan[0, 0] = float("nan")
    labels = ds.y_train.clone()
    labels[0] = 3
    negative = ds.y_test.clone()
    negative[0] = -1
    return [
        ("undecodable", b"\x08" + os.urandom(64), "not a valid safetensors"),
        ("nan", datasets.Dataset(nan, ds.y_train, ds.x_test, ds.y_test), "NaN or infinite"),
        ("label too big", datasets.Dataset(ds.x_train, labels, ds.x_test, ds.y_test), "y_train labels span"),
        (
            "negative label",
            datasets.Dataset(ds.x_train, ds.y_train, ds.x_test, negative),
            "y_test labels span",
        ),
        (
            "wrong shape",
            datasets.Dataset(ds.x_train[:, :4], ds.y_train, ds.x_test[:, :4], ds.y_test),
            "model needs examples of",
        ),
        (
            "wrong dtype",
            datasets.Dataset(ds.x_train.double(), ds.y_train, ds.x_test.double(), ds.y_test),
            "must be float32",
        ),
        ("float labels", datasets.Dataset(ds.x_train, ds.y_train.float(), ds.x_test, ds.y_test), "int64"),
        ("missing tensor", safetensors.torch.save({"x_train": ds.x_train, "y_train": ds.y_train}), "exactly"),
    ]


@pytest.mark.parametrize("case", range(8))
def test_invalid_dataset(honest, case):
    spec, ds, _ = honest
    name, bad, message = bad_datasets(ds)[case]
    blob = bad if isinstance(bad, bytes) else bad.to_bytes()
    with pytest.raises(ArtifactFault, match=message):  # named by its own hash: only its contents are wrong
        check_dataset(dataclasses.replace(spec, dataset_hash=datasets.dataset_hash(blob)), blob)


def test_invalid_dataset_not_the_one_the_spec_names(honest):
    spec, ds, _ = honest
    other = datasets.gaussian_blobs(2, 256, 64, 8, 3)
    with pytest.raises(ArtifactFault, match="not the spec's"):
        check_dataset(spec, other.to_bytes())


def test_commitment_of_the_honest_run_is_the_checked_root(honest):
    spec, _, run = honest
    assert (
        StepCommitment(check_hash_list(encode_step_hashes(run.hashes), spec.steps, run.root)).root == run.root
    )


# --- fetch-model ---------------------------------------------------------------------------------------------


def test_export_delivers_the_model_bound_to_h_t(honest):
    spec, _, run = honest
    data = export_model(
        spec.encode(),
        encode_step_hashes(run.hashes),
        run.root,
        run.checkpoints[spec.steps],
        run.final_model_hash,
    )
    assert set(safetensors.torch.load(data)) == {name for name, _ in build_model(spec).named_parameters()}


def test_invalid_export_names_the_check_that_failed(honest):
    spec, _, run = honest
    hash_list, last = encode_step_hashes(run.hashes), run.checkpoints[spec.steps]
    with pytest.raises(ModelExportError, match="hash list check failed"):
        export_model(spec.encode(), hash_list[:-32], run.root, last, run.final_model_hash)
    with pytest.raises(
        ModelExportError, match="final model check failed: checkpoint 2 holds the state at step 8"
    ):
        export_model(spec.encode(), hash_list, run.root, run.checkpoints[8], run.final_model_hash)
    with pytest.raises(ModelExportError, match="final model check failed: .* not the committed final hash"):
        export_model(spec.encode(), hash_list, run.root, last, bytes(32))
