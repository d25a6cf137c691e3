"""The deterministic checks of a job's artifacts, shared by referees, auditors and `gradchain job fetch-model`.

A solver commits to a root over H[0..T] and publishes three kinds of artifact as blobs: the hash list
(`encode_step_hashes(H[0..T])`), the checkpoints (the full state at `checkpoint_steps(T, k)`) and, through
the last checkpoint, the final model whose `model_hash` it commits as `final_hash` and whose evaluation on the
held-out split (`compute_market.worker.evaluation`) it commits as figures. A submitter publishes the
dataset. Each check below takes the fetched bytes and the committed facts and either returns the parsed value
or raises `ArtifactFault` naming what is wrong, so every party that judges an artifact (a referee voting, a
verifier or whistleblower deciding to challenge, a submitter fetching its model) reaches the same verdict.
Fetching, and waiting for a blob that is missing, is the caller's business: these functions do no I/O.

The checks build on each other: a checkpoint is valid only against a valid hash list (its state hash must be
H[step]), and the final model and its evaluation only as the valid checkpoint at step T.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import torch
from torch import nn

from chain.primitives.codec import DecodeError, Reader
from chain.primitives.merkle import HASH_LEN
from compute_market.commitment import Evaluation, checkpoint_steps, step_root
from compute_market.jobspec import JobSpec
from compute_market.worker.datasets import Dataset, DatasetError, dataset_hash, load_dataset
from compute_market.worker.evaluation import evaluate_model
from compute_market.worker.models import build_model
from compute_market.worker.trainer import (
    CheckpointError,
    Trainer,
    build_optimizer,
    configure_exact_mode,
    load_checkpoint,
    model_hash,
    state_hash,
)

COMPACT_PREFIX_MAX = 5  # the longest Compact prefix of a u32 count


class ArtifactKind(IntEnum):
    """The artifact a `challenge_artifact` call names (its `kind` byte)."""

    CHECKPOINT = 0
    HASH_LIST = 1
    FINAL_MODEL = 2
    EVALUATION = 3


class ArtifactFault(ValueError):
    """An artifact that fails its check: it does not decode, or does not match what the solver (or, for a
    dataset, the submitter) committed on chain. The message names the rule it breaks."""


def check_hash_list(blob: bytes, steps: int, result_root: bytes) -> list[bytes]:
    """H[0..T] from a hash-list blob: exactly T + 1 hashes, nothing after them, under the committed root."""
    cap = (steps + 1) * HASH_LEN + COMPACT_PREFIX_MAX
    if len(blob) > cap:
        raise ArtifactFault(
            f"the hash list is {len(blob)} bytes, more than the {cap} that {steps + 1} hashes take"
        )
    reader = Reader(blob)
    try:
        count = reader.compact()
    except DecodeError as e:
        raise ArtifactFault(f"the hash list does not start with a count: {e}") from None
    if count != steps + 1:
        raise ArtifactFault(f"the hash list holds {count} hashes; a run of {steps} steps has {steps + 1}")
    if reader.remaining != count * HASH_LEN:
        raise ArtifactFault(
            f"the hash list has {reader.remaining} bytes after its count, not {count} hashes of "
            f"{HASH_LEN} bytes"
        )
    hashes = [reader.read(HASH_LEN) for _ in range(count)]
    root = step_root(hashes)
    if root != result_root:
        raise ArtifactFault(
            f"the hash list's root is 0x{root.hex()}, not the committed 0x{result_root.hex()}"
        )
    return hashes


def _load_checked(
    spec: JobSpec,
    blob: bytes,
    index: int,
    hashes: Sequence[bytes],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
) -> int:
    """Load checkpoint `index` into a fresh model and optimizer, checking its step and its state hash."""
    steps = checkpoint_steps(spec.steps, spec.checkpoint_interval)
    if not 0 <= index < len(steps):
        raise ArtifactFault(f"checkpoint {index} is outside 0..{len(steps) - 1}")
    try:
        step = load_checkpoint(spec, blob, model, optimizer)
    except CheckpointError as e:
        raise ArtifactFault(f"checkpoint {index} is not a state of this spec: {e}") from None
    if step != steps[index]:
        raise ArtifactFault(f"checkpoint {index} holds the state at step {step}, not step {steps[index]}")
    actual = state_hash(step, model, optimizer)
    if actual != hashes[step]:
        raise ArtifactFault(
            f"checkpoint {index} hashes to 0x{actual.hex()}, not the listed "
            f"H[{step}] = 0x{hashes[step].hex()}"
        )
    return step


def check_checkpoint(
    spec: JobSpec, dataset: Dataset, blob: bytes, index: int, hashes: Sequence[bytes]
) -> Trainer:
    """A trainer at checkpoint `index` (ready to replay from it): the blob loads as a state of the spec, at
    the step that checkpoint stands for, and hashes to that step's H in the (checked) hash list."""
    trainer = Trainer(spec, dataset, checkpoints=False)
    trainer.step = _load_checked(spec, blob, index, hashes, trainer.model, trainer.optimizer)
    return trainer


def check_final_model(
    spec: JobSpec,
    dataset: Dataset | None,
    final_checkpoint_blob: bytes,
    hashes: Sequence[bytes],
    final_hash: bytes,
) -> nn.Module:
    """The model at step T, which hashes to the committed `final_hash`: the last checkpoint is valid (it is
    H[T]'s state), so the model delivered is the one the step hashes commit to. Nothing is trained, so the
    check needs no dataset (`dataset` may be None) and no exact-mode machine: a submitter runs it too."""
    model = build_model(spec)
    last = len(checkpoint_steps(spec.steps, spec.checkpoint_interval)) - 1
    _load_checked(spec, final_checkpoint_blob, last, hashes, model, build_optimizer(spec, model))
    committed = model_hash(model)
    if committed != final_hash:
        raise ArtifactFault(
            f"the model at step {spec.steps} hashes to 0x{committed.hex()}, not the committed "
            f"final hash 0x{final_hash.hex()}"
        )
    return model


def check_evaluation(
    spec: JobSpec,
    dataset: Dataset,
    final_checkpoint_blob: bytes,
    hashes: Sequence[bytes],
    committed: Evaluation,
) -> Evaluation:
    """The committed evaluation is the model at step T's: the last checkpoint is valid (H[T]'s state) and
    its figures on the held-out split, recomputed in exact mode, are the committed ones, bit for bit.
    Raises `EnvironmentRefused` (not a fault) on a machine that cannot run the spec's exact mode."""
    configure_exact_mode(spec.determinism)
    model = build_model(spec)
    last = len(checkpoint_steps(spec.steps, spec.checkpoint_interval)) - 1
    _load_checked(spec, final_checkpoint_blob, last, hashes, model, build_optimizer(spec, model))
    actual = evaluate_model(model, dataset, spec.task)
    if actual != committed:
        raise ArtifactFault(
            f"the model at step {spec.steps} evaluates to loss {actual.loss!r} (bits 0x{actual.loss_bits:016x}), "
            f"{actual.correct}/{actual.count} correct; the commitment says loss {committed.loss!r} "
            f"(bits 0x{committed.loss_bits:016x}), {committed.correct}/{committed.count} correct"
        )
    return actual


def check_dataset(spec: JobSpec, blob: bytes) -> Dataset:
    """The spec's dataset: the blob it names, decoded and fitting the spec's model."""
    if dataset_hash(blob) != spec.dataset_hash:
        raise ArtifactFault(
            f"the dataset blob hashes to 0x{dataset_hash(blob).hex()}, not the spec's "
            f"0x{spec.dataset_hash.hex()}"
        )
    try:
        return load_dataset(blob, spec)
    except DatasetError as e:
        raise ArtifactFault(f"the dataset is unusable: {e}") from None


__all__ = [
    "ArtifactFault",
    "ArtifactKind",
    "check_checkpoint",
    "check_dataset",
    "check_evaluation",
    "check_final_model",
    "check_hash_list",
]
