"""Training data as safetensors blobs: deterministic generators, and strict validation of what is fetched.

A job names its dataset by `dataset_hash = blake2_256(blob)`; the blob is a safetensors file holding exactly
the tensors x_train, y_train, x_test, y_test, or, for the language_model task, exactly the token streams
tokens_train and tokens_test (`TokenStream`). Blobs come from strangers, so they are parsed with
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
- `generated_text` / `text_stream`: a language-model token stream, the built-in byte tokenizer's tokens of
  sentences from a small grammar (or of any text).

The tensors by task (`JobSpec.task`; docs/exact-mode.md, "Tasks"): x as the model needs it (float32
features or images, int64 tokens) and y as the task needs it, checked by `check_fits_spec`:
classification y int64 [N] labels in 0..num_classes-1; regression y float32 [N, num_classes] finite
targets; multilabel y float32 or uint8 [N, num_classes] holding only 0 and 1. y_train and y_test share
dtype and width. language_model: tokens_train and tokens_test, 1-D uint8 or int64 tokens in
0..vocab_size-1, each at least seq_len + 1 long; the trainer sees them as windows (`TokenStream.windows`):
window i of a stream is its tokens i*seq_len .. i*seq_len + seq_len, x the first seq_len of them and y the
last seq_len (each position's next token), so x and y are int64 [N, seq_len] with
N = (length - 1) // seq_len; a trailing remainder shorter than a window is not used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import safetensors.torch
import torch

from chain.primitives.hashing import blake2_256
from compute_market import tokenizer
from compute_market.jobspec import (
    ClassificationTask,
    CnnSpec,
    GptSpec,
    JobSpec,
    LanguageModelTask,
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


@dataclass(frozen=True)
class TokenStream:
    """A language-model dataset: two 1-D token streams (uint8 or int64), training and held out."""

    tokens_train: torch.Tensor
    tokens_test: torch.Tensor

    def to_bytes(self) -> bytes:
        tensors = {name: getattr(self, name).contiguous() for name in STREAM_NAMES}
        return safetensors.torch.save(tensors)

    def windows(self, seq_len: int) -> Dataset:
        """The windows the trainer and the evaluation see (module docstring): x, y int64 [N, seq_len]."""
        splits = []
        for name in STREAM_NAMES[::-1]:  # train, then test
            tokens = getattr(self, name).to(torch.int64)
            n = (tokens.shape[0] - 1) // seq_len
            if n < 1:
                raise DatasetTensorError(
                    name, f"{name} holds {tokens.shape[0]} tokens, fewer than seq_len + 1 = {seq_len + 1}"
                )
            x = tokens[: n * seq_len].view(n, seq_len)
            y = tokens[1 : n * seq_len + 1].view(n, seq_len)
            splits.append((x, y))
        (x_train, y_train), (x_test, y_test) = splits
        return Dataset(x_train, y_train, x_test, y_test)


STREAM_NAMES = ("tokens_test", "tokens_train")


def dataset_hash(blob: bytes) -> bytes:
    return blake2_256(blob)


def _parse(blob: bytes) -> dict[str, torch.Tensor]:
    if not isinstance(blob, bytes):
        raise DatasetError(f"a dataset blob is bytes, got {type(blob).__name__}")
    if len(blob) > MAX_DATASET_BYTES:
        raise DatasetError(f"dataset blob of {len(blob)} bytes exceeds the cap of {MAX_DATASET_BYTES}")
    try:
        return safetensors.torch.load(blob)
    except Exception as e:  # safetensors raises its own SafetensorError and assorted parse errors
        raise DatasetError(f"not a valid safetensors blob: {e}") from None


def load_dataset(blob: bytes, spec: JobSpec | None = None) -> Dataset:
    """Parse and validate an untrusted blob; with a spec, also check it fits the spec's model. A token
    stream (the language_model task's form) needs the spec, and comes back as its windows."""
    tensors = _parse(blob)
    names = tuple(sorted(tensors))
    if names == STREAM_NAMES:
        if spec is None or not isinstance(spec.task, LanguageModelTask):
            raise DatasetError(
                "a token-stream dataset (tokens_train, tokens_test) is for the language_model task"
                + ("" if spec is None else f", and the spec's task is {spec.task.KIND}")
            )
        dataset = load_token_stream(tensors, spec.model.vocab_size).windows(spec.model.seq_len)
    elif names == TENSOR_NAMES:
        if spec is not None and isinstance(spec.task, LanguageModelTask):
            raise DatasetError(
                "the language_model task takes a token stream: exactly the tensors tokens_train and "
                f"tokens_test; got {', '.join(names)}"
            )
        dataset = Dataset(**tensors)
    else:
        raise DatasetError(
            f"a dataset holds exactly the tensors {', '.join(TENSOR_NAMES)} (or, for the language_model "
            f"task, {', '.join(STREAM_NAMES)}); got {', '.join(names) or 'none'}"
        )
    _check_splits(dataset)
    if spec is not None:
        check_fits_spec(dataset, spec)
    return dataset


def load_token_stream(tensors: dict[str, torch.Tensor], vocab_size: int) -> TokenStream:
    """Check the two streams: 1-D, uint8 or int64, not empty, tokens in 0..vocab_size-1."""
    for name in STREAM_NAMES:
        t = tensors[name]
        if t.dtype not in (torch.uint8, torch.int64) or t.dim() != 1 or t.shape[0] == 0:
            raise DatasetTensorError(
                name,
                f"{name} must be a non-empty 1-D uint8 or int64 token stream, got {t.dtype} {tuple(t.shape)}",
            )
        low, high = int(t.min()), int(t.max())
        if low < 0 or high >= vocab_size:
            raise DatasetTensorError(
                name,
                f"{name} tokens span {low}..{high}, outside 0..{vocab_size - 1} for vocab_size={vocab_size}",
            )
    return TokenStream(tensors["tokens_train"], tensors["tokens_test"])


_Y_FORMS = {  # (dtype, dims) of y for some task: labels, regression targets, multi-hot labels
    (torch.int64, 1),
    (torch.int64, 2),  # next tokens (a token stream's windows)
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
        if isinstance(m, TransformerSpec | GptSpec):
            x = getattr(d, f"x_{split}")
            if int(x.min()) < 0 or int(x.max()) >= m.vocab_size:
                raise DatasetError(
                    f"x_{split} tokens span {int(x.min())}..{int(x.max())}, outside "
                    f"0..{m.vocab_size - 1} for vocab_size={m.vocab_size}"
                )


def _check_targets(name: str, y: torch.Tensor, spec: JobSpec) -> None:
    task, width = spec.task, spec.model.num_classes
    if isinstance(task, LanguageModelTask):
        if y.dtype != torch.int64 or tuple(y.shape[1:]) != (spec.model.seq_len,):
            raise DatasetTensorError(
                name,
                f"{name} must hold int64 next tokens [N, {spec.model.seq_len}], got {y.dtype} {tuple(y.shape)}",
            )
        if int(y.min()) < 0 or int(y.max()) >= width:
            raise DatasetTensorError(name, f"{name} tokens lie outside 0..{width - 1}")
        return
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


_SUBJECTS = (
    "the cat",
    "a dog",
    "the bird",
    "my friend",
    "the old man",
    "a child",
    "the robot",
    "our teacher",
)
_VERBS = ("sees", "likes", "finds", "draws", "follows", "helps", "paints", "calls")
_OBJECTS = (
    "the moon",
    "a red ball",
    "the river",
    "a small house",
    "the garden",
    "an apple",
    "the sea",
    "a book",
)
_ENDINGS = (" today.", " again.", " at night.", " in the rain.", ".", " every day.", " with joy.", " slowly.")


def generated_text(seed: int, sentences: int) -> str:
    """Sentences "subject verb object ending" drawn from small word lists by the integer-only stream, one
    per line: text with structure for a small language model to learn (the demo's and the tests')."""
    picks = rng.integers(_stream(seed, "text"), 4 * sentences, 0, 8).reshape(sentences, 4).tolist()
    return "".join(f"{_SUBJECTS[a]} {_VERBS[b]} {_OBJECTS[c]}{_ENDINGS[d]}\n" for a, b, c, d in picks)


def text_stream(text: str | bytes, test_fraction: float = 0.1) -> TokenStream:
    """A text's byte tokens (`compute_market.tokenizer`) as a token stream: the last `test_fraction` of the
    bytes held out, the rest for training (uint8 tokens)."""
    data = tokenizer.encode(text)
    if len(data) < 4:
        raise DatasetError(
            f"a text of {len(data)} bytes is too short to split into a training and a test stream"
        )
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction {test_fraction!r} is outside (0, 1)")
    cut = len(data) - max(1, int(len(data) * test_fraction))
    tokens = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    return TokenStream(tokens[:cut].clone(), tokens[cut:].clone())
