"""Dataset blobs: deterministic generators, and untrusted safetensors rejected with a typed error."""

from __future__ import annotations

import pytest
import safetensors.torch
import torch

from compute_market.worker import datasets
from compute_market.worker.datasets import Dataset, DatasetError, load_dataset

from .conftest import small_job


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: datasets.gaussian_blobs(seed, 64, 16, 5, 3),
        lambda seed: datasets.synthetic_digits(seed, 64, 16, 8, 10),
        lambda seed: datasets.majority_tokens(seed, 64, 16, 9, 5),
    ],
)
def test_generators_are_pure_functions_of_their_seed(make):
    blob = make(1).to_bytes()
    assert blob == make(1).to_bytes()
    assert datasets.dataset_hash(blob) != datasets.dataset_hash(make(2).to_bytes())
    loaded = load_dataset(blob)
    assert torch.equal(loaded.x_train, make(1).x_train)


def test_majority_label_is_most_frequent_token_smallest_on_ties():
    ds = datasets.majority_tokens(0, 200, 10, 7, 4)
    for x, y in zip(ds.x_train, ds.y_train, strict=True):
        counts = torch.bincount(x, minlength=4)
        assert int(y) == int(torch.nonzero(counts == counts.max())[0])


def test_loaded_dataset_fits_its_spec():
    for kind in ("mlp", "cnn", "transformer"):
        spec, ds = small_job(kind)
        load_dataset(ds.to_bytes(), spec)


def blob_with(**changes) -> bytes:
    ds = datasets.gaussian_blobs(1, 16, 8, 8, 3)
    tensors = {"x_train": ds.x_train, "y_train": ds.y_train, "x_test": ds.x_test, "y_test": ds.y_test}
    for name, value in changes.items():
        if value is None:
            del tensors[name]
        else:
            tensors[name] = value
    return safetensors.torch.save(tensors)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"not safetensors at all", "not a valid safetensors blob"),
        (b"\xff" * 8 + b"{}", "not a valid safetensors blob"),
        (blob_with(y_test=None), "exactly the tensors"),
        (blob_with(extra=torch.zeros(1)), "exactly the tensors"),
        (blob_with(y_train=torch.zeros(16)), "1-D int64"),
        (blob_with(x_train=torch.zeros(16, 8, dtype=torch.float64)), r"float32 \(features\) or int64"),
        (blob_with(x_train=torch.zeros(15, 8)), "same number"),
        (blob_with(x_train=torch.zeros(0, 8), y_train=torch.zeros(0, dtype=torch.int64)), "at least one"),
        (blob_with(x_test=torch.full((8, 8), float("nan"))), "NaN or infinite"),
        (blob_with(x_test=torch.zeros(8, 7)), "differ in dtype or example shape"),
    ],
)
def test_invalid_blob_raises_dataset_error(blob, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset(blob)


def test_invalid_blob_over_the_cap_is_rejected_before_parsing(monkeypatch):
    monkeypatch.setattr(datasets, "MAX_DATASET_BYTES", 100)
    with pytest.raises(DatasetError, match="exceeds the cap of 100"):
        load_dataset(bytes(101))


@pytest.mark.parametrize(
    ("kind", "dataset", "message"),
    [
        ("mlp", datasets.gaussian_blobs(1, 16, 8, 7, 3), "needs examples of torch.float32 \\(8,\\)"),
        ("mlp", datasets.gaussian_blobs(1, 16, 8, 8, 5), "outside 0..2 for num_classes=3"),
        ("cnn", datasets.gaussian_blobs(1, 16, 8, 8, 3), "needs examples of torch.float32 \\(1, 8, 8\\)"),
        ("transformer", datasets.majority_tokens(1, 16, 8, 8, 9), "outside 0..3"),
    ],
)
def test_invalid_dataset_for_spec_raises(kind, dataset, message):
    spec, _ = small_job(kind)
    with pytest.raises(DatasetError, match=message):
        load_dataset(dataset.to_bytes(), spec)


def test_tokens_outside_vocab_are_rejected():
    spec, ds = small_job("transformer")
    bad = Dataset(ds.x_train.clone(), ds.y_train, ds.x_test, ds.y_test)
    bad.x_train[0, 0] = 4
    with pytest.raises(DatasetError, match="tokens span 0..4, outside 0..3"):
        load_dataset(bad.to_bytes(), spec)
