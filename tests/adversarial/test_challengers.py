"""Honest jobs and their challengers on a real dev chain: the honest baseline is paid, a false challenge
costs its challenger the bond (the solver is still paid), and two challengers of one cheat both end whole."""

import pytest

from tests.adversarial.verdicts import assert_false_challenge_lost, assert_paid, assert_solver_caught, report

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_honest_job_is_paid_and_nobody_loses(market):
    run = market.play(market.worker("solver", "solver"))
    report(market, "honest baseline", run)
    assert_paid(market, run)
    assert not run.disputes


def test_false_challenge_of_an_honest_job_loses_its_bond(market):
    liar = market.worker("whistleblower", "second whistleblower", "--false-challenge", "--audit-share", "0.2",
                         label="false-challenger")
    run = market.play(market.worker("solver", "solver"), challengers=(liar,))
    report(market, "false challenge", run)
    assert_false_challenge_lost(market, run, "second whistleblower")


def test_two_challengers_of_one_cheat_both_end_whole(market):
    second = market.worker("whistleblower", "second whistleblower", label="second-whistleblower")
    run = market.play(market.cheater("middle-step"), challengers=(second,))
    report(market, "two challengers", run)
    assert_solver_caught(market, run, proven_by={"STEP"})
    challengers = {market.party_of(d.challenger) for d in run.disputes}
    assert {"whistleblower", "second whistleblower"} <= challengers, challengers
