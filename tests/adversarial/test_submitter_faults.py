"""Hostile submitters on a real dev chain: a dataset the honest solver cannot use costs the submitter its
bond (the solver reports it and is released whole, with the winner share); a spec over the cost cap is
refused at submission, naming the cap, for the fee alone."""

import pytest

from chain.client import ClientError
from compute_market import cost
from tests.adversarial import faults
from tests.adversarial.settlement import nothing_moves
from tests.adversarial.verdicts import assert_dataset_rejected, report

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_undecodable_dataset_costs_the_submitter_its_bond(market):
    run = market.play(market.worker("solver", "solver"), dataset=faults.undecodable_dataset())
    report(market, "dataset undecodable", run)
    assert_dataset_rejected(market, run)


def test_non_finite_dataset_costs_the_submitter_its_bond(market):
    run = market.play(market.worker("solver", "solver"), dataset=faults.non_finite_dataset())
    report(market, "dataset non-finite", run)
    assert_dataset_rejected(market, run)


def test_labels_out_of_range_cost_the_submitter_its_bond(market):
    run = market.play(market.worker("solver", "solver"), dataset=faults.labels_out_of_range_dataset())
    report(market, "dataset labels out of range", run)
    assert_dataset_rejected(market, run)


def test_dataset_over_the_cap_costs_the_submitter_its_bond(market):
    oversized = faults.oversized_dataset()
    with pytest.raises(ClientError, match="exceeds the cap"):
        market.upload(oversized)  # the node refuses it, so nobody can ever fetch it
    run = market.play(market.worker("solver", "solver"), dataset=oversized, upload=False)
    report(market, "dataset over the cap", run)
    assert_dataset_rejected(market, run)


def test_dataset_never_uploaded_costs_the_submitter_its_bond(market):
    run = market.play(
        market.worker("solver", "solver"), dataset=faults.never_uploaded_dataset(), upload=False
    )
    report(market, "dataset never uploaded", run)
    assert_dataset_rejected(market, run)


def test_spec_over_the_cost_cap_is_refused_at_submission_naming_the_cap(market):
    before = market.snapshot()
    jobs_before = len(market.reader.jobs())
    status = market.submit_raw(faults.over_the_cost_cap(bytes(32)))
    cap = f"over the cap of {cost.MAX_STEP_FLOPS['mlp']:.4g} FLOPs"
    assert not status.success and cap in status.reason, status.reason
    assert len(market.reader.jobs()) == jobs_before
    market.assert_span_settled(before, nothing_moves())  # the submitter paid the fee, nothing else moved
