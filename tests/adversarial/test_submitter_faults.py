"""Hostile submitters on a real dev chain: a dataset the honest solver cannot use costs the submitter its
bond (the solver reports it and is released whole, with the winner share); a spec over the cost cap is
refused at submission, naming the cap, for the fee alone."""

import pytest
import torch

from chain.client import ClientError
from compute_market import cost
from compute_market.jobspec import AdamWSpec, ConstantSchedule, JobSpec, MlpSpec
from compute_market.worker import client as calls
from compute_market.worker.datasets import MAX_DATASET_BYTES, Dataset
from tests.adversarial.harness import PAYMENT, tiny_dataset
from tests.adversarial.settlement import nothing_moves
from tests.adversarial.verdicts import assert_dataset_rejected, report

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _with(dataset: Dataset, **tensors: torch.Tensor) -> bytes:
    fields = {name: getattr(dataset, name) for name in ("x_train", "y_train", "x_test", "y_test")}
    return Dataset(**{**fields, **tensors}).to_bytes()


def test_undecodable_dataset_costs_the_submitter_its_bond(market):
    run = market.play(market.worker("solver", "solver"), dataset=b"not a safetensors file " * 64)
    report(market, "dataset undecodable", run)
    assert_dataset_rejected(market, run)


def test_non_finite_dataset_costs_the_submitter_its_bond(market):
    good = tiny_dataset()
    x = good.x_train.clone()
    x[3, 5] = float("nan")
    run = market.play(market.worker("solver", "solver"), dataset=_with(good, x_train=x))
    report(market, "dataset non-finite", run)
    assert_dataset_rejected(market, run)


def test_labels_out_of_range_cost_the_submitter_its_bond(market):
    good = tiny_dataset()
    y = good.y_train.clone()
    y[7] = 4  # the spec's model has num_classes = 4
    run = market.play(market.worker("solver", "solver"), dataset=_with(good, y_train=y))
    report(market, "dataset labels out of range", run)
    assert_dataset_rejected(market, run)


def test_dataset_over_the_cap_costs_the_submitter_its_bond(market):
    oversized = bytes(MAX_DATASET_BYTES + 1)
    with pytest.raises(ClientError, match="exceeds the cap"):
        market.upload(oversized)  # the node refuses it, so nobody can ever fetch it
    run = market.play(market.worker("solver", "solver"), dataset=oversized, upload=False)
    report(market, "dataset over the cap", run)
    assert_dataset_rejected(market, run)


def test_dataset_never_uploaded_costs_the_submitter_its_bond(market):
    never = _with(tiny_dataset(), y_test=torch.zeros(64, dtype=torch.int64))
    run = market.play(market.worker("solver", "solver"), dataset=never, upload=False)
    report(market, "dataset never uploaded", run)
    assert_dataset_rejected(market, run)


def over_the_cost_cap(dataset_hash: bytes) -> bytes:
    """The SCALE bytes of a spec whose one step is far over the MLP FLOP cap (JobSpec refuses to build it,
    so its fields are set past the constructor, as a hostile submitter's own encoder would)."""
    spec = object.__new__(JobSpec)
    fields = {"model": MlpSpec(input_dim=784, hidden=(4096, 3584), num_classes=10), "dataset_hash": dataset_hash,
              "optimizer": AdamWSpec(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
              "schedule": ConstantSchedule(), "batch_size": 4096, "steps": 10, "seed": 1, "checkpoint_interval": 5}
    for name, value in fields.items():
        object.__setattr__(spec, name, value)
    object.__setattr__(spec, "determinism", JobSpec.__dataclass_fields__["determinism"].default)
    return spec.encode()


def test_spec_over_the_cost_cap_is_refused_at_submission_naming_the_cap(market):
    before = market.snapshot()
    submitter = market.node("submitter")
    jobs_before = len(market.reader.jobs())
    raw = submitter.chain.sign(submitter.keypair, calls.submit_job(over_the_cost_cap(bytes(32)), PAYMENT))
    status = submitter.chain.submit_and_watch(raw)
    submitter.close()
    cap = f"{cost.MAX_STEP_FLOPS['mlp']:.4g}"
    assert not status.success and "cap" in status.reason and cap in status.reason, status.reason
    assert len(market.reader.jobs()) == jobs_before
    market.assert_span_settled(before, nothing_moves())
