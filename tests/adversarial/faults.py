"""The hostile submitter's inputs, shared by the tests and the benchmark: datasets the honest solver cannot
use, and a spec over the cost cap."""

from __future__ import annotations

import torch

from compute_market.jobspec import AdamWSpec, ConstantSchedule, JobSpec, MlpSpec
from compute_market.worker.datasets import MAX_DATASET_BYTES, Dataset
from tests.adversarial.harness import tiny_dataset

TENSORS = ("x_train", "y_train", "x_test", "y_test")


def _changed(**tensors: torch.Tensor) -> bytes:
    good = tiny_dataset()
    return Dataset(**{**{name: getattr(good, name) for name in TENSORS}, **tensors}).to_bytes()


def undecodable_dataset() -> bytes:
    return b"not a safetensors file " * 64


def non_finite_dataset() -> bytes:
    x = tiny_dataset().x_train.clone()
    x[3, 5] = float("nan")
    return _changed(x_train=x)


def labels_out_of_range_dataset() -> bytes:
    y = tiny_dataset().y_train.clone()
    y[7] = 4  # the tiny spec's model has num_classes = 4
    return _changed(y_train=y)


def oversized_dataset() -> bytes:
    """One byte over the dataset cap, which is also the node's blob cap: it can never be uploaded."""
    return bytes(MAX_DATASET_BYTES + 1)


def never_uploaded_dataset() -> bytes:
    """A valid dataset that no one uploads (its test labels differ from the uploaded tiny dataset's)."""
    return _changed(y_test=torch.zeros(64, dtype=torch.int64))


def over_the_cost_cap(dataset_hash: bytes) -> bytes:
    """The SCALE bytes of a spec whose one step is over the MLP FLOP cap (4.4e11 against 3.6e11). JobSpec
    refuses to build it, so its fields are set past the constructor, as a hostile submitter's encoder would."""
    spec = object.__new__(JobSpec)
    fields = {
        "model": MlpSpec(input_dim=784, hidden=(4096, 3584), num_classes=10),
        "dataset_hash": dataset_hash,
        "optimizer": AdamWSpec(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
        "schedule": ConstantSchedule(),
        "batch_size": 4096,
        "steps": 10,
        "seed": 1,
        "checkpoint_interval": 5,
        **{name: JobSpec.__dataclass_fields__[name].default for name in ("determinism", "training", "task")},
    }
    for name, value in fields.items():
        object.__setattr__(spec, name, value)
    return spec.encode()
