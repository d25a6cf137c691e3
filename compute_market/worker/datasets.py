"""Training data as safetensors blobs: deterministic generators, and strict validation of what is fetched.

A job names its dataset by `dataset_hash = blake2_256(blob)`; the blob is a safetensors file holding exactly
the tensors x_train, y_train, x_test, y_test. Blobs come from strangers, so they are parsed with
safetensors only (never torch.load / pickle), size-capped before parsing, and checked against the spec's
model (dtype, shape, label and token ranges) before training touches them.

The generators need no download and are pure functions of their arguments (the integer-only streams of
`exact.rng`, never torch's generators, whose float paths differ between CPUs), so a demo, a test or the
self-test can rebuild the exact blob, and hash, on any machine:
- `gaussian_blobs`: class-centred Gaussian clouds, flat float32 features (MLP).
- `synthetic_digits`: per-class random stroke templates, randomly shifted and noised, float32 images
  [N, 1, S, S] (CNN; also flattened for an MLP).
- `majority_tokens`: int64 token sequences labelled with their most frequent token, smallest on ties
  (transformer).
- `linear_targets`: regression, float32 targets of a noisy linear function of Gaussian features.
- `multilabel_blobs`: multi-label, uint8 multi-hot labels, each the sign of a linear function.

The tensors by task (`JobSpec.task`; docs/exact-mode.md, "Tasks"): x as the model needs it (float32
features or images, int64 tokens) and y as the task needs it, checked by `check_fits_spec`:
classification y int64 [N] labels in 0..num_classes-1; regression y float32 [N, num_classes] finite
targets; multilabel y float32 or uint8 [N, num_classes] holding only 0 and 1. y_train and y_test share
dtype and width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import safetensors.torch
import torch

from chain.primitives.hashing import blake2_256
from compute_market.jobspec import (
    ClassificationTask,
    CnnSpec,
    JobSpec,
    MlpSpec,
    MultilabelTask,
    TransformerSpec,
)
from compute_market.worker.exact import rng

MAX_DATASET_BYTES = 256 * 1024 * 1024
TENSOR_NAMES = ("x_test", "x_train", "y_test", "y_train")


class DatasetError(ValueError):
    """A dataset blob that cannot be used: too big, not safetensors, or tensors of the wrong kind."""


class DatasetTensorError(DatasetError):
    """One tensor of the dataset has the wrong dtype, shape or values for the spec; `tensor` names it."""

    def __init__(self, tensor: str, message: str):
        self.tensor = tensor
        super().__init__(message)


@dataclass(frozen=True)
class Dataset:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def to_bytes(self) -> bytes:
        """The safetensors blob; identical tensors always give identical bytes (hence the same hash)."""
        tensors = {name: getattr(self, name).contiguous() for name in TENSOR_NAMES}
        return safetensors.torch.save(tensors)


def dataset_hash(blob: bytes) -> bytes:
    return blake2_256(blob)


def load_dataset(blob: bytes, spec: JobSpec | None = None) -> Dataset:
    """Parse and validate an untrusted blob; with a spec, also check it fits the spec's model."""
    if not isinstance(blob, bytes):
        raise DatasetError(f"a dataset blob is bytes, got {type(blob).__name__}")
    if len(blob) > MAX_DATASET_BYTES:
        raise DatasetError(f"dataset blob of {len(blob)} bytes exceeds the cap of {MAX_DATASET_BYTES}")
    try:
        tensors = safetensors.torch.load(blob)
    except Exception as e:  # safetensors raises its own SafetensorError and assorted parse errors
        raise DatasetError(f"not a valid safetensors blob: {e}") from None
    if tuple(sorted(tensors)) != TENSOR_NAMES:
        raise DatasetError(
            f"a dataset holds exactly the tensors {', '.join(TENSOR_NAMES)}; "
            f"got {', '.join(sorted(tensors)) or 'none'}"
        )
    dataset = Dataset(**tensors)
    _check_splits(dataset)
    if spec is not None:
        check_fits_spec(dataset, spec)
    return dataset


_Y_FORMS = {  # (dtype, dims) of y for some task: labels, regression targets, multi-hot labels
    (torch.int64, 1),
    (torch.float32, 2),
    (torch.uint8, 2),
}


def _check_splits(d: Dataset) -> None:
    for split in ("train", "test"):
        x, y = getattr(d, f"x_{split}"), getattr(d, f"y_{split}")
        if (y.dtype, y.dim()) not in _Y_FORMS:
            raise DatasetTensorError(
                f"y_{split}",
                f"y_{split} must be a 1-D int64 tensor of labels (classification), float32 [N, targets] "
                f"(regression) or float32 or uint8 multi-hot [N, labels] (multilabel), got {y.dtype} "
                f"{tuple(y.shape)}",
            )
        if y.dtype == torch.float32 and not bool(torch.isfinite(y).all()):
            raise DatasetTensorError(f"y_{split}", f"y_{split} holds NaN or infinite values")
        if x.dtype not in (torch.float32, torch.int64):
            raise DatasetError(f"x_{split} must be float32 (features) or int64 (tokens), got {x.dtype}")
        if x.dim() < 2 or x.shape[0] != y.shape[0] or y.shape[0] == 0:
            raise DatasetError(
                f"x_{split} {tuple(x.shape)} and y_{split} {tuple(y.shape)} must hold the same "
                "number (at least one) of examples"
            )
        if x.dtype == torch.float32 and not bool(torch.isfinite(x).all()):
            raise DatasetError(f"x_{split} holds NaN or infinite values")
    if d.x_train.dtype != d.x_test.dtype or d.x_train.shape[1:] != d.x_test.shape[1:]:
        raise DatasetError(
            f"x_train {d.x_train.dtype} {tuple(d.x_train.shape)} and x_test {d.x_test.dtype} "
            f"{tuple(d.x_test.shape)} differ in dtype or example shape"
        )
    if d.y_train.dtype != d.y_test.dtype or d.y_train.shape[1:] != d.y_test.shape[1:]:
        raise DatasetError(
            f"y_train {d.y_train.dtype} {tuple(d.y_train.shape)} and y_test {d.y_test.dtype} "
            f"{tuple(d.y_test.shape)} differ in dtype or example shape"
        )


def check_fits_spec(d: Dataset, spec: JobSpec) -> None:
    """The example shape, dtype and token range the spec's model needs, and the targets its task needs:
    int64 labels in 0..num_classes-1 (classification), float32 [N, num_classes] finite targets
    (regression), float32 or uint8 [N, num_classes] holding only 0 and 1 (multilabel)."""
    m = spec.model
    if isinstance(m, MlpSpec):
        dtype, shape = torch.float32, (m.input_dim,)
    elif isinstance(m, CnnSpec):
        dtype, shape = torch.float32, (m.in_channels, m.image_size, m.image_size)
    else:
        dtype, shape = torch.int64, (m.seq_len,)
    if d.x_train.dtype != dtype or tuple(d.x_train.shape[1:]) != shape:
        raise DatasetError(
            f"the {m.KIND} model needs examples of {dtype} {shape}, the dataset has "
            f"{d.x_train.dtype} {tuple(d.x_train.shape[1:])}"
        )
    for split in ("train", "test"):
        _check_targets(f"y_{split}", getattr(d, f"y_{split}"), spec)
        if isinstance(m, TransformerSpec):
            x = getattr(d, f"x_{split}")
            if int(x.min()) < 0 or int(x.max()) >= m.vocab_size:
                raise DatasetError(
                    f"x_{split} tokens span {int(x.min())}..{int(x.max())}, outside "
                    f"0..{m.vocab_size - 1} for vocab_size={m.vocab_size}"
                )


def _check_targets(name: str, y: torch.Tensor, spec: JobSpec) -> None:
    task, width = spec.task, spec.model.num_classes
    if isinstance(task, ClassificationTask):
        if y.dtype != torch.int64 or y.dim() != 1:
            raise DatasetTensorError(
                name,
                f"{name} must be a 1-D int64 tensor of labels for classification, got {y.dtype} "
                f"{tuple(y.shape)}",
            )
        if int(y.min()) < 0 or int(y.max()) >= width:
            raise DatasetTensorError(
                name,
                f"{name} labels span {int(y.min())}..{int(y.max())}, outside "
                f"0..{width - 1} for num_classes={width}",
            )
        return
    dtypes = (torch.float32, torch.uint8) if isinstance(task, MultilabelTask) else (torch.float32,)
    if y.dtype not in dtypes or y.dim() != 2 or y.shape[1] != width:
        kind = "float32 or uint8 multi-hot labels" if isinstance(task, MultilabelTask) else "float32 targets"
        raise DatasetTensorError(
            name,
            f"{name} must hold {kind} [N, {width}] for the {task.KIND} task with num_classes={width}, "
            f"got {y.dtype} {tuple(y.shape)}",
        )
    if isinstance(task, MultilabelTask) and not bool(((y == 0) | (y == 1)).all()):
        raise DatasetTensorError(name, f"{name} holds values other than 0 and 1 (multi-hot labels)")


def _stream(seed: int, name: str) -> int:
    return rng.stream_key(seed, "dataset/" + name)


def _normal(seed: int, name: str, *shape: int) -> torch.Tensor:
    return torch.from_numpy(rng.normal_approx(_stream(seed, name), math.prod(shape))).view(*shape)


def _integers(seed: int, name: str, low: int, high: int, *shape: int) -> torch.Tensor:
    return torch.from_numpy(rng.integers(_stream(seed, name), math.prod(shape), low, high)).view(*shape)


def gaussian_blobs(
    seed: int, n_train: int, n_test: int, input_dim: int, num_classes: int, spread: float = 1.0
) -> Dataset:
    centres = _normal(seed, "centres", num_classes, input_dim) * 3.0

    def split(name: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = _integers(seed, f"{name}/labels", 0, num_classes, n)
        return centres[y] + spread * _normal(seed, f"{name}/noise", n, input_dim), y

    x_train, y_train = split("train", n_train)
    x_test, y_test = split("test", n_test)
    return Dataset(x_train, y_train, x_test, y_test)


def synthetic_digits(
    seed: int, n_train: int, n_test: int, image_size: int = 8, num_classes: int = 10, noise: float = 0.3
) -> Dataset:
    strokes = rng.uniform(_stream(seed, "templates"), num_classes * image_size**2, 0.0, 1.0) < 0.35
    templates = torch.from_numpy(strokes.astype("float32")).view(num_classes, image_size, image_size)

    def split(name: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = _integers(seed, f"{name}/labels", 0, num_classes, n)
        shifts = _integers(seed, f"{name}/shifts", -1, 2, n, 2).tolist()
        images = torch.stack(
            [
                torch.roll(templates[c], shifts=(dy, dx), dims=(0, 1))
                for c, (dy, dx) in zip(y.tolist(), shifts, strict=True)
            ]
        )
        images = images + noise * _normal(seed, f"{name}/noise", n, image_size, image_size)
        return images.unsqueeze(1), y

    x_train, y_train = split("train", n_train)
    x_test, y_test = split("test", n_test)
    return Dataset(x_train, y_train, x_test, y_test)


def majority_tokens(seed: int, n_train: int, n_test: int, seq_len: int, vocab_size: int) -> Dataset:
    """Labels are in 0..vocab_size-1, so the spec's num_classes must equal vocab_size."""

    def split(name: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = _integers(seed, f"{name}/tokens", 0, vocab_size, n, seq_len)
        counts = torch.zeros(n, vocab_size, dtype=torch.int64).scatter_add_(1, x, torch.ones_like(x))
        return x, counts.argmax(dim=1)  # argmax returns the first (smallest) token among ties

    x_train, y_train = split("train", n_train)
    x_test, y_test = split("test", n_test)
    return Dataset(x_train, y_train, x_test, y_test)


def _fixed_order_products(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x [N, D] times w [D, K] in float64, accumulating over d = 0..D-1 one elementwise multiply and add at
    a time (correctly rounded each, never a BLAS reduction), so the result is the same on every CPU."""
    xs, ws = x.double().numpy(), w.double().numpy()
    acc = np.zeros((xs.shape[0], ws.shape[1]))
    for d in range(xs.shape[1]):
        acc = acc + xs[:, d : d + 1] * ws[d : d + 1, :]
    return torch.from_numpy(acc)


def linear_targets(
    seed: int, n_train: int, n_test: int, input_dim: int, targets: int, noise: float = 0.1
) -> Dataset:
    """Regression: y = x @ w + noise, x standard normal [N, input_dim], y float32 [N, targets]."""
    w = _normal(seed, "weights", input_dim, targets)

    def split(name: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = _normal(seed, f"{name}/features", n, input_dim)
        y = _fixed_order_products(x, w) + noise * _normal(seed, f"{name}/noise", n, targets).double()
        return x, y.float()

    x_train, y_train = split("train", n_train)
    x_test, y_test = split("test", n_test)
    return Dataset(x_train, y_train, x_test, y_test)


def multilabel_blobs(seed: int, n_train: int, n_test: int, input_dim: int, labels: int) -> Dataset:
    """Multi-label: label j is on where x @ w[:, j] > 0 (about half the time), x standard normal
    [N, input_dim], y uint8 multi-hot [N, labels]."""
    w = _normal(seed, "weights", input_dim, labels)

    def split(name: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = _normal(seed, f"{name}/features", n, input_dim)
        return x, (_fixed_order_products(x, w) > 0.0).to(torch.uint8)

    x_train, y_train = split("train", n_train)
    x_test, y_test = split("test", n_test)
    return Dataset(x_train, y_train, x_test, y_test)
