"""Cheating solvers against the CLI auditors on a real dev chain: every cheat is caught and paid for.

Each test runs one cheater process (tests/adversarial/cheater.py) on a tiny job while the referee, verifier
and whistleblower CLI processes audit it. The verdict must be SLASHED through a dispute an honest
challenger won, with every balance moved by exactly the documented amounts (fees read from the chain).
"""

import pytest

from tests.adversarial.harness import describe_disputes
from tests.adversarial.verdicts import (
    assert_false_report_lost,
    assert_paid,
    assert_solver_caught,
    report,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ANY_ARTIFACT = {"CHECKPOINT", "HASH_LIST", "FINAL_MODEL"}


def test_solver_that_trains_nothing_is_slashed(market):
    run = market.play(market.cheater("trains-nothing"))
    report(market, "trains nothing", run)
    assert_solver_caught(market, run, proven_by=ANY_ARTIFACT | {"STEP"})


def test_solver_that_skips_one_update_is_slashed(market):
    run = market.play(market.cheater("skips-update"))
    report(market, "skips one update", run)
    assert_solver_caught(market, run, proven_by={"CHECKPOINT", "STEP", "FINAL_MODEL"})


def test_checkpoint_of_another_run_under_honest_hashes_is_slashed(market):
    run = market.play(market.cheater("other-run-checkpoint"))
    report(market, "checkpoint of another run", run)
    assert_solver_caught(market, run, proven_by={"CHECKPOINT"})


def test_final_model_of_another_run_with_its_matching_final_hash_is_slashed(market):
    run = market.play(market.cheater("forged-final-model"))
    report(market, "final model of another run, matching final_hash", run)
    assert_solver_caught(market, run, proven_by={"CHECKPOINT", "FINAL_MODEL"})


def test_random_final_hash_is_slashed(market):
    run = market.play(market.cheater("random-final-hash"))
    report(market, "random final_hash", run)
    assert_solver_caught(market, run, proven_by={"FINAL_MODEL"})


@pytest.mark.parametrize("cheat", ["first-step", "last-step"])
def test_cheat_at_the_first_or_last_step_only_is_slashed_at_that_step(market, cheat):
    run = market.play(market.cheater(cheat))
    report(market, f"cheat at the {cheat}", run)
    assert_solver_caught(market, run, proven_by={"STEP"})
    (won,) = run.winners
    step = 0 if cheat == "first-step" else run.job.steps - 1
    assert (won.lo, won.hi) == (step, step + 1)


def test_garbage_hash_list_is_slashed(market):
    run = market.play(market.cheater("garbage-hash-list"))
    report(market, "garbage hash list", run)
    assert_solver_caught(market, run, proven_by={"HASH_LIST"})


def test_withheld_hash_list_is_slashed(market):
    run = market.play(market.cheater("withheld-hash-list"))
    report(market, "withheld hash list", run)
    assert_solver_caught(market, run, proven_by=ANY_ARTIFACT)


def test_false_dataset_report_costs_the_solver_its_bond(market):
    run = market.play(market.cheater("false-dataset-report"))
    report(market, "false dataset report", run)
    assert_false_report_lost(market, run)


def test_checkpoint_served_only_once_challenged_costs_the_honest_challenger_nothing(market):
    # Checkpoint 1 is withheld until a dispute names it: the auditors, after their patience, challenge it as
    # unavailable, exactly as the protocol asks of them; then the solver uploads it and it checks out. The
    # dispute is void (SERVED): nobody pays, and the window reopens so the auditors can check it.
    run = market.play(market.cheater("late-checkpoint"))
    report(market, "checkpoint served only once challenged", run)
    assert run.disputes and all(
        (d.kind, d.outcome, d.resolution) == ("CHECKPOINT", "VOID", "SERVED") for d in run.disputes
    ), describe_disputes(run.disputes)
    assert_paid(market, run)  # exactly: the solver gets the payment and nothing of any bond
