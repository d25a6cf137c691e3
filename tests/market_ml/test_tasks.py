"""Regression and multi-label tasks: the spec's `task` (its SCALE and JSON forms, bounds, and old specs'
bytes untouched), the per-task dataset tensors refused at the edge with the tensor named, training that
learns, the held-out metrics, the cost of the targets and an exported regression model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors.torch
import torch
from click.testing import CliRunner

from chain.cli import main
from compute_market import cost
from compute_market.jobspec import (
    AdamSpec,
    ClassificationTask,
    JobSpec,
    JobSpecError,
    MlpSpec,
    MultilabelTask,
    RegressionTask,
    SpecDecodeError,
    TrainingOptions,
)
from compute_market.model_io import load_model, model_metadata
from compute_market.worker import datasets
from compute_market.worker.datasets import DatasetTensorError, check_fits_spec, load_dataset
from compute_market.worker.trainer import Trainer, evaluate, held_out_metrics, model_hash, train

from .conftest import small_job

REGRESSION = datasets.linear_targets(3, 256, 64, 8, 2)
MULTILABEL = datasets.multilabel_blobs(4, 256, 64, 8, 5)


def task_spec(task, ds: datasets.Dataset, steps: int = 60, **kwargs) -> JobSpec:
    width = ds.y_train.shape[1]
    return JobSpec(
        MlpSpec(8, (32,), width),
        datasets.dataset_hash(ds.to_bytes()),
        AdamSpec(1e-2, 0.9, 0.999, 1e-8, 0.0),
        kwargs.pop("schedule", None) or small_job("mlp")[0].schedule,
        batch_size=32,
        steps=steps,
        seed=1,
        checkpoint_interval=steps,
        task=task,
        **kwargs,
    )


def test_scale_layout_of_tasks_is_pinned():
    classification, _ = small_job("mlp")
    plain = classification.encode()
    assert JobSpec(**{**_fields(classification), "task": ClassificationTask()}).encode() == plain
    off = b"\x01" + bytes(16)  # the options, all off, written because a task follows
    regression = JobSpec(**{**_fields(classification), "task": RegressionTask("huber", 0.5)})
    assert regression.encode() == plain + off + b"\x01\x01" + bytes.fromhex("000000000000e03f")
    mse = JobSpec(**{**_fields(classification), "task": RegressionTask("mse")})
    assert mse.encode() == plain + off + b"\x01\x00" + bytes(8)
    multilabel = JobSpec(**{**_fields(classification), "task": MultilabelTask()})
    assert multilabel.encode() == plain + off + b"\x02"
    for spec in (regression, mse, multilabel):
        assert JobSpec.decode(spec.encode()) == spec
        assert JobSpec.from_json(spec.to_json()) == spec
        assert spec.spec_hash != classification.spec_hash


def _fields(spec: JobSpec) -> dict:
    return {name: getattr(spec, name) for name in JobSpec.__dataclass_fields__}


def test_invalid_task_bytes_are_refused():
    plain = small_job("mlp")[0].encode()
    off = b"\x01" + bytes(16)
    with pytest.raises(SpecDecodeError, match="non-canonical"):
        JobSpec.decode(plain + off + b"\x00")  # classification spelled out
    with pytest.raises(SpecDecodeError, match="unknown variant tag 4"):
        JobSpec.decode(plain + off + b"\x04")
    with pytest.raises(JobSpecError) as err:  # the language_model task with an MLP
        JobSpec.decode(plain + off + b"\x03")
    assert err.value.field == "model.kind"
    with pytest.raises(SpecDecodeError, match="unknown choice 2"):
        JobSpec.decode(plain + off + b"\x01\x02" + bytes(8))
    with pytest.raises(JobSpecError) as err:
        JobSpec.decode(plain + off + b"\x01\x00" + bytes.fromhex("000000000000f03f"))  # mse with a delta
    assert err.value.field == "task.huber_delta"


def test_task_json_defaults_and_canonical_form():
    obj = json.loads(small_job("mlp")[0].to_json())
    assert "task" not in obj  # classification: left out, as before tasks existed
    obj["task"] = {"kind": "regression", "loss": "huber"}
    obj["model"]["num_classes"] = 1
    spec = JobSpec.from_json(json.dumps(obj))
    assert spec.task == RegressionTask("huber", 1.0)  # torch's default delta
    canonical = json.loads(spec.to_json())
    assert canonical["task"] == {"kind": "regression", "loss": "huber", "huber_delta": 1.0}
    assert "training" not in canonical
    obj["task"] = {"kind": "classification"}
    obj["model"]["num_classes"] = 3
    assert JobSpec.from_json(json.dumps(obj)) == small_job("mlp")[0]


@pytest.mark.parametrize(
    ("task", "edit", "field", "message"),
    [
        ({"kind": "regression", "loss": "mae"}, {}, "task.loss", "'mae' is not one of mse, huber"),
        (
            {"kind": "regression", "loss": "huber", "huber_delta": 0.0},
            {},
            "task.huber_delta",
            "needs a delta",
        ),
        ({"kind": "regression", "loss": "huber", "huber_delta": 2e6}, {}, "task.huber_delta", "range"),
        (
            {"kind": "regression", "loss": "mse", "huber_delta": 1.0},
            {},
            "task.huber_delta",
            "the loss is mse",
        ),
        ({"kind": "ranking"}, {}, "task.kind", "is not one of classification, regression, multilabel"),
        ({"kind": "multilabel", "labels": 3}, {}, "task.labels", "unknown field"),
        (
            {"kind": "multilabel"},
            {"training": {"label_smoothing": 0.1}},
            "training.label_smoothing",
            "classification and language_model only",
        ),
        ({"kind": "classification"}, {"num_classes": 1}, "model.num_classes", "below 2 for classification"),
    ],
)
def test_invalid_task_json_names_the_field(task, edit, field, message):
    obj = {**json.loads(small_job("mlp")[0].to_json()), "task": task}
    if "num_classes" in edit:
        obj["model"]["num_classes"] = edit.pop("num_classes")
    obj.update(edit)
    with pytest.raises(JobSpecError) as err:
        JobSpec.from_json(json.dumps(obj))
    assert err.value.field == field
    assert message in str(err.value)


def test_regression_and_multilabel_train_and_report_their_metrics():
    regression = train(task_spec(RegressionTask("mse"), REGRESSION), REGRESSION)
    variance = float(REGRESSION.y_test.double().var(unbiased=False))
    assert set(regression.metrics) == {"mse", "mae"}
    assert regression.metrics["mse"] < 0.2 * variance
    assert regression.accuracy == -regression.metrics["mse"]
    multilabel = train(task_spec(MultilabelTask(), MULTILABEL), MULTILABEL)
    assert set(multilabel.metrics) == {"accuracy", "exact_match"}
    assert multilabel.accuracy == multilabel.metrics["accuracy"] > 0.85


def test_huber_and_mse_start_from_one_state_and_then_differ():
    huber = train(task_spec(RegressionTask("huber", 0.5), REGRESSION, steps=4), REGRESSION)
    mse = train(task_spec(RegressionTask("mse"), REGRESSION, steps=4), REGRESSION)
    assert huber.hashes[0] == mse.hashes[0]  # the same seed: the same initial parameters
    assert all(a != b for a, b in zip(huber.hashes[1:], mse.hashes[1:], strict=True))


def test_classification_metrics_are_the_accuracy():
    spec, ds = small_job("mlp")
    result = train(spec, ds)
    assert result.metrics == {"accuracy": result.accuracy}


@pytest.mark.parametrize(
    ("task", "y", "message"),
    [
        (RegressionTask("mse"), torch.zeros(256, 3), r"float32 targets \[N, 2\]"),
        (RegressionTask("mse"), torch.zeros(256, 2, dtype=torch.uint8), r"float32 targets \[N, 2\]"),
        (RegressionTask("mse"), torch.zeros(256, dtype=torch.int64), r"float32 targets \[N, 2\]"),
        (MultilabelTask(), torch.full((256, 2), 0.5), "values other than 0 and 1"),
        (MultilabelTask(), torch.full((256, 2), 2, dtype=torch.uint8), "values other than 0 and 1"),
        (MultilabelTask(), torch.zeros(256, 2, dtype=torch.int64), "multi-hot"),
        (ClassificationTask(), torch.zeros(256, 2), "1-D int64 tensor of labels for classification"),
    ],
)
def test_invalid_targets_for_the_task_name_the_tensor(task, y, message):
    ds = datasets.Dataset(REGRESSION.x_train, y, REGRESSION.x_test, REGRESSION.y_test)
    spec = task_spec(task, REGRESSION) if not isinstance(task, ClassificationTask) else None
    if spec is None:
        spec = JobSpec(**{**_fields(task_spec(RegressionTask("mse"), REGRESSION)), "task": task})
    with pytest.raises(DatasetTensorError, match=message) as err:
        check_fits_spec(ds, spec)
    assert err.value.tensor == "y_train"


def test_invalid_targets_in_a_blob_are_refused_at_load():
    def blob(**y) -> bytes:
        tensors = {"x_train": REGRESSION.x_train, "x_test": REGRESSION.x_test}
        return safetensors.torch.save(
            tensors | {"y_train": REGRESSION.y_train, "y_test": REGRESSION.y_test} | y
        )

    with pytest.raises(DatasetTensorError, match="y_test holds NaN or infinite") as err:
        load_dataset(blob(y_test=torch.full((64, 2), float("inf"))))
    assert err.value.tensor == "y_test"
    with pytest.raises(DatasetTensorError, match="1-D int64 tensor of labels"):
        load_dataset(blob(y_train=torch.zeros(256, 2, dtype=torch.float64)))
    with pytest.raises(datasets.DatasetError, match="y_train .* and y_test .* differ"):
        load_dataset(blob(y_test=torch.zeros(64, 3)))
    spec = task_spec(MultilabelTask(), MULTILABEL)
    assert load_dataset(MULTILABEL.to_bytes(), spec).y_train.dtype == torch.uint8
    float_hot = datasets.Dataset(*(t.float() if t.dtype == torch.uint8 else t for t in _tensors(MULTILABEL)))
    check_fits_spec(float_hot, spec)  # float32 multi-hot is accepted too


def _tensors(ds: datasets.Dataset) -> tuple[torch.Tensor, ...]:
    return ds.x_train, ds.y_train, ds.x_test, ds.y_test


def test_cost_counts_the_targets():
    model, optimizer = MlpSpec(8, (32,), 5), AdamSpec(1e-2, 0.9, 0.999, 1e-8, 0.0)
    base = cost.model_step_cost(model, optimizer, 1024, TrainingOptions(), ClassificationTask())
    regression = cost.model_step_cost(model, optimizer, 1024, TrainingOptions(), RegressionTask("mse"))
    multilabel = cost.model_step_cost(model, optimizer, 1024, TrainingOptions(), MultilabelTask())
    assert base == cost.model_step_cost(model, optimizer, 1024)
    assert regression.flops == multilabel.flops == base.flops
    assert regression.activation_bytes - base.activation_bytes == 1024 * (5 * 4 - 8)
    assert multilabel.activation_bytes - regression.activation_bytes == 1024 * 5


def test_exported_regression_model_loads_and_computes_the_outputs(tmp_path):
    spec = task_spec(RegressionTask("mse"), REGRESSION, steps=4)
    trainer = Trainer(spec, REGRESSION, checkpoints=False, background=False)
    for _ in trainer.run():
        pass
    path = tmp_path / "model.safetensors"
    params = {name: p.detach().contiguous() for name, p in sorted(trainer.model.named_parameters())}
    safetensors.torch.save_file(params, path, metadata=model_metadata(spec, model_hash(trainer.model)))
    model = load_model(path)
    with torch.no_grad():
        plain, exact = model(REGRESSION.x_test), trainer.model(REGRESSION.x_test)
    assert plain.shape == (64, 2)  # one output per target
    torch.testing.assert_close(plain, exact, rtol=1e-5, atol=1e-5)
    assert evaluate(model, REGRESSION, spec.task) == pytest.approx(
        -held_out_metrics(trainer.model, REGRESSION, spec.task)["mse"], rel=1e-5
    )
    np.save(tmp_path / "x.npy", REGRESSION.x_test[:3].numpy())
    args = ["job", "predict", str(path), str(tmp_path / "x.npy")]
    text = CliRunner().invoke(main, args)
    assert text.exit_code == 0, text.output
    printed = torch.tensor([[float(v) for v in line.split()] for line in text.output.splitlines()])
    torch.testing.assert_close(printed, exact[:3], rtol=1e-4, atol=1e-4)  # the targets, not an argmax
    report = json.loads(CliRunner().invoke(main, [*args, "--output-type", "json"]).output)
    assert report["task"]["kind"] == "regression" and len(report["predictions"][0]["targets"]) == 2
