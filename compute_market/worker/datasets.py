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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import safetensors.torch
import torch

from chain.primitives.hashing import blake2_256
from compute_market.jobspec import CnnSpec, JobSpec, MlpSpec, TransformerSpec
from compute_market.worker.exact import rng

MAX_DATASET_BYTES = 256 * 1024 * 1024
TENSOR_NAMES = ("x_test", "x_train", "y_test", "y_train")


class DatasetError(ValueError):
    """A dataset blob that cannot be used: too big, not safetensors, or tensors of the wrong kind."""


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


def _check_splits(d: Dataset) -> None:
    for split in ("train", "test"):
        x, y = getattr(d, f"x_{split}"), getattr(d, f"y_{split}")
        if y.dtype != torch.int64 or y.dim() != 1:
            raise DatasetError(
                f"y_{split} must be a 1-D int64 tensor of labels, got {y.dtype} {tuple(y.shape)}"
            )
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


def check_fits_spec(d: Dataset, spec: JobSpec) -> None:
    """The example shape, dtype, label range and token range the spec's model needs."""
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
        y = getattr(d, f"y_{split}")
        if int(y.min()) < 0 or int(y.max()) >= m.num_classes:
            raise DatasetError(
                f"y_{split} labels span {int(y.min())}..{int(y.max())}, outside "
                f"0..{m.num_classes - 1} for num_classes={m.num_classes}"
            )
        if isinstance(m, TransformerSpec):
            x = getattr(d, f"x_{split}")
            if int(x.min()) < 0 or int(x.max()) >= m.vocab_size:
                raise DatasetError(
                    f"x_{split} tokens span {int(x.min())}..{int(x.max())}, outside "
                    f"0..{m.vocab_size - 1} for vocab_size={m.vocab_size}"
                )


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
