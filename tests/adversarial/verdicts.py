"""What each adversarial test asserts about a settled job: the verdict the chain reached, and that every
balance moved by exactly the documented outcome (settlement), fees read from the chain."""

from __future__ import annotations

import json

from tests.adversarial.harness import PAYMENT, JobRun, Market, describe_disputes
from tests.adversarial.settlement import (
    challenge_lost,
    dataset_rejected,
    job_paid,
    report_lost,
    solver_slashed,
)

HONEST_CHALLENGERS = ("verifier", "whistleblower", "second whistleblower")


def report(market: Market, label: str, run: JobRun) -> None:
    print(json.dumps({"class": label, **market.summary(run)}))


def assert_solver_caught(market: Market, run: JobRun, proven_by: set[str]) -> None:
    """SLASHED through one dispute of an allowed kind won by an honest challenger; no honest challenger lost
    a dispute (the others were superseded); the solver lost exactly its lock's shares, the winner got the
    winner share, everyone else ended whole, and issuance fell by exactly the burn share."""
    disputes = describe_disputes(run.disputes)
    assert run.job.status == "SLASHED", f"the cheat was not caught: {run.job.status}, disputes {disputes}"
    (won,) = run.winners
    assert won.kind in proven_by, f"proven by a {won.kind} dispute, expected one of {proven_by}: {disputes}"
    assert market.party_of(won.challenger) in HONEST_CHALLENGERS, disputes
    assert all(d.outcome == "VOID" for d in run.disputes if d.id != won.id), disputes
    assert int(run.job.lock) == market.config.job_lock(PAYMENT)
    market.assert_settled(
        run, solver_slashed(market.config, market.accounts["solver"], bytes(won.challenger), PAYMENT)
    )


def assert_paid(market: Market, run: JobRun) -> None:
    """FINALIZED with the verifier's attestation: the solver got the payment, the verifier its fee."""
    assert run.job.status == "FINALIZED", f"{run.job.status}, disputes {describe_disputes(run.disputes)}"
    assert bytes(run.job.verifier) == market.accounts["verifier"], "the honest verifier did not attest"
    acc = market.accounts
    market.assert_settled(
        run, job_paid(market.config, acc["submitter"], acc["solver"], PAYMENT, acc["verifier"])
    )


def assert_false_challenge_lost(market: Market, run: JobRun, challenger: str) -> None:
    """The false challenger lost its bond's shares to the solver, who was also paid for the job."""
    assert run.job.status == "FINALIZED", f"{run.job.status}, disputes {describe_disputes(run.disputes)}"
    acc, cfg = market.accounts, market.config
    lost = [d for d in run.disputes if d.outcome == "SOLVER_WON"]
    assert lost and all(bytes(d.challenger) == acc[challenger] for d in lost), describe_disputes(run.disputes)
    assert all(d.outcome in ("SOLVER_WON", "VOID") for d in run.disputes), describe_disputes(run.disputes)
    outcome = job_paid(
        cfg, acc["submitter"], acc["solver"], PAYMENT, bytes(run.job.verifier) if run.job.verifier else None
    )
    for _ in lost:
        outcome = outcome + challenge_lost(cfg, acc[challenger], acc["solver"])
    market.assert_settled(run, outcome)


def assert_dataset_rejected(market: Market, run: JobRun) -> None:
    """REJECTED through the solver's DATASET report: the submitter lost its bond's shares to the solver, the
    escrow came back, the solver's lock and report bond were released whole."""
    disputes = describe_disputes(run.disputes)
    assert run.job.status == "REJECTED", f"{run.job.status}, disputes {disputes}"
    assert [d.kind for d in run.disputes] == ["DATASET"], disputes
    acc = market.accounts
    market.assert_settled(run, dataset_rejected(market.config, acc["submitter"], acc["solver"]))


def assert_false_report_lost(market: Market, run: JobRun) -> None:
    """The solver lost its report bond's shares to the submitter, then committed honestly and was paid."""
    disputes = describe_disputes(run.disputes)
    assert run.job.status == "FINALIZED", f"{run.job.status}, disputes {disputes}"
    assert [(d.kind, d.outcome) for d in run.disputes] == [("DATASET", "SOLVER_WON")], disputes
    acc, cfg = market.accounts, market.config
    verifier = bytes(run.job.verifier) if run.job.verifier else None
    market.assert_settled(
        run,
        job_paid(cfg, acc["submitter"], acc["solver"], PAYMENT, verifier)
        + report_lost(cfg, acc["solver"], acc["submitter"]),
    )
