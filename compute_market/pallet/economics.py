"""Where the money goes. Every balance change the market makes goes through this module.

All market money is Balances *reserve* on the owner's own account: the submitter's escrow (payment +
verifier fee) and submission bond, the solver's stake (of which `locked` backs assigned jobs), the verifier's bond and each
challenger's bond. Money moves between accounts only by `repatriate_reserved` (reserve -> winner's free
balance); it leaves circulation only by `slash_reserved` (a burn, reported in `MarketEvent.Slashed`). So
total issuance falls exactly by the `burned` amounts of `Slashed` events, and never rises.

Beneficiaries are paid before their own reserves are released, so they always exist when paid; should
one not exist anyway, its share is burned instead (hooks must never fail halfway through a block).
"""

from __future__ import annotations

from compute_market.pallet.types import Job, MarketConfig, MarketEvent, Solvers, Verifiers
from runtime.frame.pallet import deposit_event
from runtime.pallets import balances
from runtime.pallets.system import Account


def slash_reserve(who: bytes, beneficiary: bytes, amount: int) -> tuple[int, int]:
    """Take `amount` of `who`'s reserve: the winner share to `beneficiary`, the burn share burned.

    Returns (rewarded, burned); whatever of `amount` is left stays reserved for the caller to release.
    """
    reward, burn = MarketConfig.current().shares(amount)
    if reward and Account.get(beneficiary).providers == 0:
        burn, reward = burn + reward, 0
    rewarded = reward - balances.repatriate_reserved(who, beneficiary, reward, to_free=True) if reward else 0
    burned = balances.slash_reserved(who, burn) if burn else 0
    deposit_event(MarketEvent.Slashed(who, beneficiary, rewarded, burned))
    return rewarded, burned


# --- solver stake ---------------------------------------------------------------------------------------


def lock_stake(solver: bytes, amount: int) -> None:
    s = Solvers.get(solver)
    s.locked += amount
    s.jobs += 1
    Solvers.insert(solver, s)


def unlock_stake(solver: bytes, amount: int) -> None:
    s = Solvers.get(solver)
    s.locked -= amount
    s.jobs -= 1
    Solvers.insert(solver, s)


def slash_solver_lock(job: Job, beneficiary: bytes) -> None:
    """The solver of `job` was at fault: its lock is slashed and the rest of the lock unlocked."""
    assert job.solver is not None
    rewarded, burned = slash_reserve(job.solver, beneficiary, job.lock)
    s = Solvers.get(job.solver)
    s.stake -= rewarded + burned
    s.locked -= job.lock
    s.jobs -= 1
    Solvers.insert(job.solver, s)


# --- escrow ---------------------------------------------------------------------------------------------


def refund_escrow(job: Job) -> None:
    """The job ends without paying anyone from the escrow: escrow and submission bond go back."""
    balances.unreserve(job.submitter, job.escrow + job.submitter_bond)


def reject_dataset(job: Job) -> None:
    """The referees found the job's dataset unusable: the submitter's bond is slashed in the solver's favour,
    the escrow refunded, and the solver's lock released whole."""
    assert job.solver is not None
    rewarded, burned = slash_reserve(job.submitter, job.solver, job.submitter_bond)
    balances.unreserve(job.submitter, job.escrow + job.submitter_bond - rewarded - burned)
    unlock_stake(job.solver, job.lock)


def pay_out(job: Job) -> int:
    """Honest completion: payment to the solver, fee to the verifier (or back); returns the fee paid."""
    assert job.solver is not None
    balances.repatriate_reserved(job.submitter, job.solver, job.payment, to_free=True)
    fee_paid = 0
    if job.verifier is not None and Account.get(job.verifier).providers:
        fee_paid = job.verifier_fee - balances.repatriate_reserved(
            job.submitter, job.verifier, job.verifier_fee, to_free=True
        )
    balances.unreserve(job.submitter, job.verifier_fee - fee_paid + job.submitter_bond)
    unlock_stake(job.solver, job.lock)
    return fee_paid


# --- bonds ----------------------------------------------------------------------------------------------


def return_bond(who: bytes, bond: int) -> None:
    balances.unreserve(who, bond)


def forfeit_bond(who: bytes, bond: int, beneficiary: bytes) -> None:
    """A challenger lost: its bond is slashed in favour of `beneficiary`; any unslashed rest is returned."""
    rewarded, burned = slash_reserve(who, beneficiary, bond)
    balances.unreserve(who, bond - rewarded - burned)


def slash_verifier(verifier: bytes, beneficiary: bytes) -> None:
    """A verifier attested a segment later proven wrong: its whole bond is slashed and it is deregistered."""
    v = Verifiers.get(verifier)
    if v is None:
        return
    rewarded, burned = slash_reserve(verifier, beneficiary, v.bond)
    balances.unreserve(verifier, v.bond - rewarded - burned)
    Verifiers.remove(verifier)
