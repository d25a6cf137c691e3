"""Balances: free and reserved funds, the existential deposit, transfers and total issuance.

Rules (the invariants the property tests check):
- `TotalIssuance` always equals the sum of `free + reserved` over all accounts. It changes only by
  `deposit_creating` (minting: genesis, and fees paid out to the block author after `withdraw` burned them),
  `withdraw` (fees), `slash`/`slash_reserved` (burned), and dust burned when an account is reaped.
- An account is alive while `free >= ExistentialDeposit` or it has something reserved. When a change
  leaves it with `free < ExistentialDeposit` and nothing reserved, it is reaped: its remaining free balance
  (the dust) is burned (`DustLost`), total issuance falls by that much, and its `System.Account` entry
  (nonce included) is removed (`KilledAccount`). Burning rather than paying dust to someone keeps reaping
  free of incentives to grief accounts.
- A transfer may not create an account with less than the existential deposit.

The balance data lives inside `System.Account` (Substrate's `AccountData`), so reading a balance and a
nonce is one storage read.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.frame.pallet import (
    CallContext,
    Constant,
    Pallet,
    PalletConfig,
    PalletEvent,
    call,
    deposit_event,
    event,
    pallet_events,
)
from runtime.frame.storage import StorageValue
from runtime.frame.support import PalletError, Weight, pallet_errors
from runtime.frame.types import U128, AccountId, Bool, Compact, Enum, MultiAddress, Variant
from runtime.pallets import system
from runtime.pallets.system import Account, AccountInfo


@dataclass(frozen=True)
class BalancesConfig(PalletConfig):
    existential_deposit: int = 10_000_000_000  # 0.01 GRAD at 12 decimals


TotalIssuance = StorageValue(
    "Balances", "TotalIssuance", U128, default=0, docs="The total units issued in the system."
)

BALANCE_STATUS = Enum(
    "frame_support::traits::tokens::misc::BalanceStatus", [Variant("Free", 0), Variant("Reserved", 1)]
)


@pallet_events("pallet_balances::pallet::Event")
class BalancesEvent(PalletEvent):
    Endowed = event(
        ("account", AccountId), ("free_balance", U128), doc="An account was created with some free balance."
    )
    DustLost = event(
        ("account", AccountId),
        ("amount", U128),
        doc="An account was removed whose balance was non-zero but below ExistentialDeposit; the dust is burned.",
    )
    Transfer = event(("from", AccountId), ("to", AccountId), ("amount", U128), doc="Transfer succeeded.")
    BalanceSet = event(("who", AccountId), ("free", U128), doc="A balance was set by root.")
    Reserved = event(
        ("who", AccountId), ("amount", U128), doc="Some balance was reserved (moved from free to reserved)."
    )
    Unreserved = event(
        ("who", AccountId), ("amount", U128), doc="Some balance was unreserved (moved from reserved to free)."
    )
    ReserveRepatriated = event(
        ("from", AccountId),
        ("to", AccountId),
        ("amount", U128),
        ("destination_status", BALANCE_STATUS),
        doc="Some balance was moved from the reserve of the first account to the second account.",
    )
    Deposit = event(
        ("who", AccountId), ("amount", U128), doc="Some amount was deposited (e.g. for transaction fees)."
    )
    Withdraw = event(
        ("who", AccountId),
        ("amount", U128),
        doc="Some amount was withdrawn from the account (e.g. for transaction fees).",
    )
    Slashed = event(
        ("who", AccountId),
        ("amount", U128),
        doc="Some amount was removed from the account (e.g. for misbehavior); it is burned.",
    )


@pallet_errors("pallet_balances::pallet::Error")
class BalancesError(PalletError):
    VestingBalance = "Vesting balance too high to send value."
    LiquidityRestrictions = "Account liquidity restrictions prevent withdrawal."
    InsufficientBalance = "Balance too low to send value."
    ExistentialDeposit = "Value too low to create account due to existential deposit."
    Expendability = "Transfer/payment would kill account."
    ExistingVestingSchedule = "A vesting schedule already exists for this account."
    DeadAccount = "Beneficiary account must pre-exist."


# --- the currency API other pallets use -----------------------------------------------------------------


def free_balance(who: bytes) -> int:
    return Account.get(who).free


def reserved_balance(who: bytes) -> int:
    return Account.get(who).reserved


def total_issuance() -> int:
    return TotalIssuance.get()


def _store(who: bytes, info: AccountInfo) -> None:
    """Write `info` back, creating the account (`NewAccount`, `Endowed`) or reaping it (dust burned)."""
    ed = BalancesConfig.current().existential_deposit
    if info.free < ed and info.reserved == 0:
        if info.providers:
            if info.free:
                TotalIssuance.put(TotalIssuance.get() - info.free)
                deposit_event(BalancesEvent.DustLost(who, info.free))
            Account.remove(who)
            system.on_killed_account(who)
        return
    if not info.providers:
        info.providers = 1
        system.on_created_account(who)
        deposit_event(BalancesEvent.Endowed(who, info.free))
    Account.insert(who, info)


def transfer(source: bytes, dest: bytes, value: int, keep_alive: bool) -> None:
    """Move `value` of free balance; the sender may be reaped unless `keep_alive`."""
    if value == 0 or source == dest:
        if source == dest and free_balance(source) < value:
            raise BalancesError.InsufficientBalance(f"free balance {free_balance(source)} is below {value}")
        return
    src = Account.get(source)
    if src.free < value:
        raise BalancesError.InsufficientBalance(f"free balance {src.free} is below the transfer of {value}")
    ed = BalancesConfig.current().existential_deposit
    if keep_alive and src.free - value < ed and src.reserved == 0:
        raise BalancesError.Expendability(
            f"sending {value} would leave {src.free - value}, below the existential deposit {ed}"
        )
    dst = Account.get(dest)
    if not dst.providers and value < ed:
        raise BalancesError.ExistentialDeposit(
            f"{value} cannot create an account: the existential deposit is {ed}"
        )
    src.free -= value
    dst.free += value
    _store(source, src)
    _store(dest, dst)
    deposit_event(BalancesEvent.Transfer(source, dest, value))


def withdraw(who: bytes, amount: int, keep_alive: bool = True) -> None:
    """Take `amount` out of circulation from `who`'s free balance (fees); issuance falls by `amount`."""
    info = Account.get(who)
    if info.free < amount:
        raise BalancesError.InsufficientBalance(f"free balance {info.free} is below {amount}")
    ed = BalancesConfig.current().existential_deposit
    if keep_alive and info.free - amount < ed and info.reserved == 0:
        raise BalancesError.Expendability(f"paying {amount} would leave {info.free - amount}, below {ed}")
    info.free -= amount
    if amount:
        TotalIssuance.put(TotalIssuance.get() - amount)
        deposit_event(BalancesEvent.Withdraw(who, amount))
    _store(who, info)


def deposit_creating(who: bytes, amount: int) -> bool:
    """Mint `amount` into `who`; False (and nothing minted) when it cannot create the account."""
    if amount == 0:
        return True
    info = Account.get(who)
    if not info.providers and amount < BalancesConfig.current().existential_deposit:
        return False
    info.free += amount
    TotalIssuance.put(TotalIssuance.get() + amount)
    deposit_event(BalancesEvent.Deposit(who, amount))
    _store(who, info)
    return True


def reserve(who: bytes, amount: int) -> None:
    """Move `amount` from free to reserved (bonds, deposits); a reserve keeps the account alive."""
    info = Account.get(who)
    if info.free < amount:
        raise BalancesError.InsufficientBalance(f"free balance {info.free} cannot reserve {amount}")
    info.free -= amount
    info.reserved += amount
    _store(who, info)
    deposit_event(BalancesEvent.Reserved(who, amount))


def unreserve(who: bytes, amount: int) -> int:
    """Move up to `amount` back to free; returns what could not be unreserved."""
    info = Account.get(who)
    actual = min(amount, info.reserved)
    if actual == 0:
        return amount
    info.reserved -= actual
    info.free += actual
    deposit_event(BalancesEvent.Unreserved(who, actual))
    _store(who, info)
    return amount - actual


def slash(who: bytes, amount: int) -> int:
    """Burn up to `amount`, free balance first, then reserved; returns the amount burned."""
    info = Account.get(who)
    from_free = min(amount, info.free)
    from_reserved = min(amount - from_free, info.reserved)
    total = from_free + from_reserved
    if total == 0:
        return 0
    info.free -= from_free
    info.reserved -= from_reserved
    TotalIssuance.put(TotalIssuance.get() - total)
    deposit_event(BalancesEvent.Slashed(who, total))
    _store(who, info)
    return total


def slash_reserved(who: bytes, amount: int) -> int:
    """Burn up to `amount` of reserved balance only; returns the amount burned."""
    info = Account.get(who)
    total = min(amount, info.reserved)
    if total == 0:
        return 0
    info.reserved -= total
    TotalIssuance.put(TotalIssuance.get() - total)
    deposit_event(BalancesEvent.Slashed(who, total))
    _store(who, info)
    return total


def repatriate_reserved(slashed: bytes, beneficiary: bytes, amount: int, to_free: bool) -> int:
    """Move up to `amount` of `slashed`'s reserve to `beneficiary` (free or reserved); returns the rest."""
    if slashed == beneficiary:
        return unreserve(slashed, amount) if to_free else amount - min(amount, reserved_balance(slashed))
    dst = Account.get(beneficiary)
    if not dst.providers:
        raise BalancesError.DeadAccount("the beneficiary of a repatriation must already exist")
    src = Account.get(slashed)
    actual = min(amount, src.reserved)
    src.reserved -= actual
    if to_free:
        dst.free += actual
    else:
        dst.reserved += actual
    _store(slashed, src)
    _store(beneficiary, dst)
    deposit_event(
        BalancesEvent.ReserveRepatriated(slashed, beneficiary, actual, "Free" if to_free else "Reserved")
    )
    return amount - actual


# --- calls ----------------------------------------------------------------------------------------------

TRANSFER_WEIGHT = Weight(60_000_000, 3_593)


@call(index=0, weight=TRANSFER_WEIGHT)
def transfer_allow_death(ctx: CallContext, dest: MultiAddress, value: Compact(U128)) -> None:
    """Transfer free balance; the sender is reaped if left below the existential deposit."""
    transfer(ctx.ensure_signed(), dest, value, keep_alive=False)


@call(index=2, weight=TRANSFER_WEIGHT + Weight(2_000_000))
def force_transfer(ctx: CallContext, source: MultiAddress, dest: MultiAddress, value: Compact(U128)) -> None:
    """Root moves funds between any two accounts (sudo only; dev and local chains)."""
    ctx.ensure_root()
    transfer(source, dest, value, keep_alive=False)


@call(index=3, weight=Weight(50_000_000, 3_593))
def transfer_keep_alive(ctx: CallContext, dest: MultiAddress, value: Compact(U128)) -> None:
    """Transfer free balance, failing rather than reaping the sender."""
    transfer(ctx.ensure_signed(), dest, value, keep_alive=True)


@call(index=4, weight=TRANSFER_WEIGHT)
def transfer_all(ctx: CallContext, dest: MultiAddress, keep_alive: Bool) -> None:
    """Transfer all free balance (less the existential deposit when `keep_alive`)."""
    source = ctx.ensure_signed()
    info = Account.get(source)
    ed = BalancesConfig.current().existential_deposit
    value = info.free - ed if keep_alive and info.reserved == 0 else info.free
    transfer(source, dest, max(value, 0), keep_alive=keep_alive)


def genesis(config: BalancesConfig, spec: dict) -> None:
    """`balances: [[account, amount], …]`: endow each account; total issuance is their sum."""
    issuance = 0
    for who, amount in spec.get("balances", []):
        if amount < config.existential_deposit:
            raise ValueError(
                f"genesis balance {amount} is below the existential deposit {config.existential_deposit}"
            )
        info = Account.get(who)
        info.free += amount
        info.providers = 1
        Account.insert(who, info)
        issuance += amount
    TotalIssuance.put(TotalIssuance.get() + issuance)


PALLET = Pallet(
    name="Balances",
    calls_path="pallet_balances::pallet::Call",
    calls=(transfer_allow_death, force_transfer, transfer_keep_alive, transfer_all),
    events=BalancesEvent,
    errors=BalancesError,
    storage=(TotalIssuance,),
    config=BalancesConfig,
    constants=(
        Constant(
            "ExistentialDeposit",
            U128,
            lambda c: c.existential_deposit,
            "The minimum amount required to keep an account open.",
        ),
    ),
    genesis=genesis,
)
