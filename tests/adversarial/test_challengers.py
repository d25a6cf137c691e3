"""Honest jobs and their challengers on a real dev chain: the honest baseline is paid, a false challenge
costs its challenger the bond (the solver is still paid), and two challengers of one cheat both end whole."""

import pytest

from compute_market.worker import client as calls
from compute_market.worker.audit import ArtifactKind
from tests.adversarial.verdicts import assert_false_challenge_lost, assert_paid, assert_solver_caught, report

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_honest_job_is_paid_and_nobody_loses(market):
    run = market.play(market.worker("solver", "solver"))
    report(market, "honest baseline", run)
    assert_paid(market, run)
    assert not run.disputes


def test_false_challenge_of_an_honest_job_loses_its_bond(market):
    liar = market.adversary(
        "whistleblower-false",
        "second whistleblower",
        "--audit-share",
        "0.2",
        label="false-challenger",
    )
    run = market.play(market.worker("solver", "solver"), challengers=(liar,))
    report(market, "false challenge", run)
    assert_false_challenge_lost(market, run, "second whistleblower")


def test_false_artifact_challenge_of_a_valid_checkpoint_loses_its_bond(market):
    # A hostile party needs no worker: it signs challenge_artifact against a valid checkpoint itself.
    def challenge_checkpoint(job) -> None:
        market.send(
            "second whistleblower",
            calls.challenge_artifact(job.id, ArtifactKind.CHECKPOINT, 1),
            f"challenge checkpoint 1 of job {job.id}",
        )

    run = market.play(market.worker("solver", "solver"), on_commit=challenge_checkpoint)
    report(market, "false artifact challenge", run)
    assert_false_challenge_lost(market, run, "second whistleblower")
    assert [(d.kind, d.segment) for d in run.disputes] == [("CHECKPOINT", 1)]


def test_two_challengers_of_one_cheat_both_end_whole(market):
    second = market.worker("whistleblower", "second whistleblower", label="second-whistleblower")
    run = market.play(market.cheater("middle-step"), challengers=(second,))
    report(market, "two challengers", run)
    assert_solver_caught(market, run, proven_by={"STEP"})
    challengers = {market.party_of(d.challenger) for d in run.disputes}
    assert {"whistleblower", "second whistleblower"} <= challengers, challengers
