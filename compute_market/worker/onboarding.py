"""`gradchain job init`: a user's own file turned into a dataset blob and a starter spec for the chosen task.

Inputs (read only with parsers that execute nothing: csv, `numpy.load(allow_pickle=False)`, UTF-8 bytes):
- CSV (`.csv`): one example per row of numbers, an optional header row (kept out of the data), every row
  the same width; the last `targets` columns are y, the others x.
- NumPy `.npy`: one 2-D float or integer array, split into x and y the same way.
- NumPy `.npz`: arrays `x` and `y` (x [N, features], or [N, C, S, S] images), or the four split arrays
  x_train, y_train, x_test, y_test as they are.
- Any other file, for the language_model task: a text, tokenized by the built-in byte tokenizer.

What y becomes, by task: classification, one column of integer labels 0..K-1 (num_classes K, at least 2);
regression, `targets` float32 columns; multilabel, `targets` columns of 0 and 1. Unless the .npz holds its
own splits, the held-out split is the first `test_fraction` of a permutation of the rows drawn from `seed`
by the integer-only stream (`exact.rng`), so the same file and seed give the same blob and hash anywhere;
a text's held-out split is its last `test_fraction` of bytes.

The starter spec fills every field (README, "Job specs"): an MLP (two hidden layers of 64) for features, a
CNN for images, a small gpt for text; AdamW with a cosine schedule; a batch and a step count sized to the
data (about `EPOCHS` passes, within the bounds below). Each error is an `OnboardingError` naming the file,
and the row or column where it applies.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import torch

from compute_market.jobspec import (
    AdamWSpec,
    ClassificationTask,
    CnnSpec,
    CosineSchedule,
    GptSpec,
    JobSpec,
    JobSpecError,
    LanguageModelTask,
    MlpSpec,
    MultilabelTask,
    RegressionTask,
    TaskSpec,
)
from compute_market.tokenizer import VOCAB_SIZE
from compute_market.worker import datasets
from compute_market.worker.datasets import MAX_DATASET_BYTES, Dataset, DatasetError, TokenStream
from compute_market.worker.exact import rng

TASKS = ("classification", "regression", "multilabel", "language_model")
EPOCHS = 10
MIN_STEPS, MAX_STEPS = 100, 2000
LM_STEPS = 500
BATCH = 64
LM_SEQ_LEN = 64
MAX_CLASSES = 1000


class OnboardingError(ValueError):
    """The input file cannot become a dataset for the task; the message names the file and the place."""


def task_spec(task: str) -> TaskSpec:
    return {
        "classification": ClassificationTask(),
        "regression": RegressionTask("mse"),
        "multilabel": MultilabelTask(),
        "language_model": LanguageModelTask(),
    }[task]


def _read(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_DATASET_BYTES:
        raise OnboardingError(f"{path} is {size} bytes, over the dataset cap of {MAX_DATASET_BYTES}")
    return path.read_bytes()


def _csv_rows(path: Path, data: bytes) -> np.ndarray:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise OnboardingError(f"{path} is not UTF-8 text: {e}") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]
    if rows and not _numeric(rows[0]):
        rows = rows[1:]  # a header
    if not rows:
        raise OnboardingError(
            f"{path} holds no rows of numbers (a first row that is not all numbers is taken as its header)"
        )
    width = len(rows[0])
    values = []
    for i, row in enumerate(rows, start=1):
        if len(row) != width:
            raise OnboardingError(f"{path}: data row {i} has {len(row)} columns, the first has {width}")
        try:
            values.append([float(cell) for cell in row])
        except ValueError:
            bad = next(j for j, cell in enumerate(row) if not _numeric([cell]))
            raise OnboardingError(
                f"{path}: data row {i}, column {bad + 1} is not a number: {row[bad]!r}"
            ) from None
    return np.array(values, dtype=np.float64)


def _numeric(row: list[str]) -> bool:
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def _npy(path: Path, data: bytes) -> np.ndarray | dict[str, np.ndarray]:
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise OnboardingError(f"{path} is not a NumPy file this reads (no pickles): {e}") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        return {name: loaded[name] for name in loaded.files}


def _split_columns(path: Path, table: np.ndarray, targets: int) -> tuple[np.ndarray, np.ndarray]:
    if table.ndim != 2:
        raise OnboardingError(f"{path}: expected a 2-D table of examples, got shape {list(table.shape)}")
    if not 1 <= targets < table.shape[1]:
        raise OnboardingError(
            f"{path}: {targets} target column(s) leave no feature columns of the {table.shape[1]}"
        )
    return table[:, :-targets], table[:, -targets:]


def _targets(path: Path, y: np.ndarray, task: str) -> torch.Tensor:
    if not np.issubdtype(y.dtype, np.number) or not np.isfinite(y).all():
        raise OnboardingError(f"{path}: the target column(s) hold values that are not finite numbers")
    if task == "classification":
        if y.ndim == 2:
            if y.shape[1] != 1:
                raise OnboardingError(f"{path}: classification takes one label column, got {y.shape[1]}")
            y = y[:, 0]
        if (y != np.round(y)).any() or y.min() < 0 or y.max() >= MAX_CLASSES:
            raise OnboardingError(f"{path}: classification labels must be integers in 0..{MAX_CLASSES - 1}")
        return torch.from_numpy(y.astype(np.int64))
    y = y.reshape(len(y), -1)
    if task == "multilabel":
        if not np.isin(y, (0, 1)).all():
            raise OnboardingError(f"{path}: multi-label targets must be 0 or 1")
        return torch.from_numpy(y.astype(np.uint8))
    return torch.from_numpy(y.astype(np.float32))


def _features(path: Path, x: np.ndarray) -> torch.Tensor:
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise OnboardingError(f"{path}: the features hold values that are not finite numbers")
    if x.ndim not in (2, 4):
        raise OnboardingError(f"{path}: x must be [N, features] or [N, C, S, S] images, got {list(x.shape)}")
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _split(x: torch.Tensor, y: torch.Tensor, test_fraction: float, seed: int, path: Path) -> Dataset:
    n = x.shape[0]
    if len(y) != n:
        raise OnboardingError(f"{path}: x has {n} rows and y {len(y)}")
    n_test = max(1, math.floor(n * test_fraction))
    if n - n_test < 1:
        raise OnboardingError(f"{path}: {n} example(s) are too few for a training and a held-out split")
    order = torch.from_numpy(rng.permutation(rng.stream_key(seed, "init/split"), n))
    test, train = order[:n_test], order[n_test:]
    return Dataset(x[train].contiguous(), y[train].contiguous(), x[test].contiguous(), y[test].contiguous())


def dataset_from_file(
    path: str | Path, task: str, targets: int = 1, test_fraction: float = 0.1, seed: int = 0
) -> Dataset | TokenStream:
    """The dataset (module docstring) of the file at `path` for `task`."""
    path = Path(path)
    if task not in TASKS:
        raise OnboardingError(f"{task!r} is not one of {', '.join(TASKS)}")
    if not 0.0 < test_fraction < 1.0:
        raise OnboardingError(f"test_fraction {test_fraction!r} is outside (0, 1)")
    data = _read(path)
    if task == "language_model":
        try:
            return datasets.text_stream(data, test_fraction)
        except DatasetError as e:
            raise OnboardingError(f"{path}: {e}") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        x, y = _split_columns(path, _csv_rows(path, data), targets)
    elif suffix in (".npy", ".npz"):
        loaded = _npy(path, data)
        if isinstance(loaded, dict):
            if set(loaded) == set(datasets.TENSOR_NAMES):
                return Dataset(
                    _features(path, loaded["x_train"]),
                    _targets(path, loaded["y_train"], task),
                    _features(path, loaded["x_test"]),
                    _targets(path, loaded["y_test"], task),
                )
            if set(loaded) != {"x", "y"}:
                raise OnboardingError(
                    f"{path} holds {', '.join(sorted(loaded))}; an .npz holds x and y, or "
                    f"{', '.join(datasets.TENSOR_NAMES)}"
                )
            x, y = loaded["x"], loaded["y"]
        else:
            x, y = _split_columns(path, loaded, targets)
    else:
        raise OnboardingError(
            f"{path}: the {task} task reads .csv, .npy or .npz files (text is for language_model)"
        )
    return _split(_features(path, x), _targets(path, y, task), test_fraction, seed, path)


def starter_spec(task: str, data: Dataset | TokenStream, dataset_hash: bytes, seed: int = 0) -> JobSpec:
    """A spec with every field filled for `data` (module docstring)."""
    if isinstance(data, TokenStream):
        model = GptSpec(VOCAB_SIZE, LM_SEQ_LEN, 64, 4, 2, 256)
        n_train = max(1, (data.tokens_train.shape[0] - 1) // LM_SEQ_LEN)
        steps, lr = LM_STEPS, 3e-3
    else:
        x, y = data.x_train, data.y_train
        width = int(max(int(y.max()), int(data.y_test.max())) + 1) if task == "classification" else y.shape[1]
        if x.dim() == 4:
            n, c, s, s2 = x.shape
            if s != s2 or c > 4 or s % 4:
                raise OnboardingError(
                    f"images must be square, 1-4 channels, a size divisible by 4: {list(x.shape)}"
                )
            model = CnnSpec(c, s, (16, 32), 3, 64, max(width, 2) if task == "classification" else width)
        else:
            model = MlpSpec(x.shape[1], (64, 64), max(width, 2) if task == "classification" else width)
        n_train = x.shape[0]
        steps, lr = None, 1e-3
    batch = min(BATCH, n_train)
    if steps is None:
        steps = min(MAX_STEPS, max(MIN_STEPS, math.ceil(EPOCHS * n_train / batch)))
    try:
        spec = JobSpec(
            model,
            dataset_hash,
            AdamWSpec(lr, 0.9, 0.999, 1e-8, 0.01),
            CosineSchedule(0.1, max(1, steps // 20)),
            batch_size=batch,
            steps=steps,
            seed=seed,
            checkpoint_interval=-(-steps // 32),
            task=task_spec(task),
        )
        datasets.load_dataset(data.to_bytes(), spec)
    except (JobSpecError, DatasetError) as e:
        raise OnboardingError(f"the data does not fit a starter {model.KIND} spec: {e}") from None
    return spec
