"""The market's documented outcomes as balance changes, and the exact check of a job's span against one.

Each function below is one row of the outcome table (README, compute_market/pallet/economics.py), written
from MarketConfig alone: who loses what, who gains what, what is burned. A slashed amount A splits into
`shares(A) = (A x WinnerShare, A x BurnShare)`; the rest of A stays with the loser. `assert_settled` then
checks, for every party, that its free + reserved changed by exactly the outcome's amount minus the fees it
paid plus the fees it received as block author, and that total issuance changed by exactly minus the burn
(the `burned` of the Slashed events, which must equal the documented burn) minus any fee not paid out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from compute_market.pallet.types import MarketConfig
from tests.adversarial.ledger import Ledger, Snapshot


@dataclass(frozen=True)
class Outcome:
    """Documented balance changes (fees aside), by account, and the documented burn."""

    changes: Counter = field(default_factory=Counter)
    burned: int = 0

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(_sum(self.changes, other.changes), self.burned + other.burned)


def _sum(a: Counter, b: Counter) -> Counter:
    out = Counter(a)
    for k, v in b.items():
        out[k] += v
    return out


def _slash(cfg: MarketConfig, loser: bytes, winner: bytes, amount: int) -> Outcome:
    reward, burn = cfg.shares(amount)
    return Outcome(Counter({loser: -(reward + burn), winner: reward}), burn)


def job_paid(
    cfg: MarketConfig, submitter: bytes, solver: bytes, payment: int, verifier: bytes | None
) -> Outcome:
    """FINALIZED: the payment to the solver, the verifier fee to the verifier that attested (else refunded)."""
    changes = Counter({submitter: -payment, solver: payment})
    if verifier is not None:
        changes[submitter] -= cfg.verifier_fee
        changes[verifier] += cfg.verifier_fee
    return Outcome(changes)


def solver_slashed(cfg: MarketConfig, solver: bytes, winner: bytes, payment: int) -> Outcome:
    """SLASHED: the solver's job lock is slashed in the winning challenger's favour; the submitter is
    refunded in full (escrow and submission bond), every other bond returned."""
    return _slash(cfg, solver, winner, cfg.job_lock(payment))


def challenge_lost(cfg: MarketConfig, challenger: bytes, solver: bytes) -> Outcome:
    """A dispute the solver won: the challenger's bond is slashed in the solver's favour."""
    return _slash(cfg, challenger, solver, cfg.challenger_bond)


def report_lost(cfg: MarketConfig, solver: bytes, submitter: bytes) -> Outcome:
    """A DATASET report the referees found false: the solver's report bond is slashed in the submitter's favour."""
    return _slash(cfg, solver, submitter, cfg.challenger_bond)


def dataset_rejected(cfg: MarketConfig, submitter: bytes, solver: bytes) -> Outcome:
    """REJECTED: the submitter's bond is slashed in the reporting solver's favour; escrow, the solver's lock
    and its report bond are released whole."""
    return _slash(cfg, submitter, solver, cfg.submission_bond)


def nothing_moves() -> Outcome:
    return Outcome()


def settlement_errors(
    before: Snapshot, after: Snapshot, ledger: Ledger, outcome: Outcome, names: dict[bytes, str]
) -> list[str]:
    """Every way the span differs from the documented outcome, fees read from the chain (empty: exact)."""
    errors = []
    for account, name in names.items():
        want = outcome.changes.get(account, 0) - ledger.fees_paid[account] + ledger.fees_received[account]
        got = before.delta(after, account)
        if got != want:
            errors.append(
                f"{name}: free + reserved changed by {got}, documented {outcome.changes.get(account, 0)} "
                f"- fees {ledger.fees_paid[account]} + fees received {ledger.fees_received[account]} "
                f"= {want} (off by {got - want})"
            )
    strangers = set(outcome.changes) - set(names)
    if strangers:
        errors.append(
            f"the outcome moves accounts that were not watched: {[a.hex()[:16] for a in strangers]}"
        )
    if ledger.burned != outcome.burned:
        errors.append(f"Slashed events burned {ledger.burned}, documented {outcome.burned}")
    fees_burned = ledger.total_fees - sum(ledger.fees_received.values())
    issuance = after.issuance - before.issuance
    if issuance != -outcome.burned - fees_burned:
        errors.append(
            f"total issuance changed by {issuance}, documented -{outcome.burned} burned "
            f"- {fees_burned} fees not paid out"
        )
    return errors
