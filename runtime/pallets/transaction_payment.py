"""Transaction payment: fee = base + length_fee * length + weight_fee * weight + tip.

Where fees go (the one rule): the whole fee, tip included, is withdrawn from the sender before the call
runs and paid to the block author, named by the header's PreRuntime digest with engine id `gcbf` carrying
the author's 32-byte AccountId. A block without that digest, or an author account that cannot receive it
(it does not exist and the fee is below the existential deposit), burns the fee: total issuance falls by
it. Fees are charged whether the call succeeds or fails; there are no refunds for unused weight.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.frame.pallet import (
    Constant,
    Pallet,
    PalletConfig,
    PalletEvent,
    block_env,
    deposit_event,
    event,
    pallet_events,
)
from runtime.frame.storage import StorageValue
from runtime.frame.support import DISPATCH_CLASS, WEIGHT, DispatchInfo, Pays
from runtime.frame.types import U8, U128, AccountId, Field, Struct
from runtime.pallets import balances

AUTHOR_ENGINE_ID = b"gcbf"
FIXED_ONE = 10**18
WEIGHT_FEE_UNIT = 1_000_000  # weight_fee is charged per this many units of ref_time


@dataclass(frozen=True)
class TransactionPaymentConfig(PalletConfig):
    base_fee: int = 1_000_000
    length_fee: int = 1_000  # per byte of the encoded extrinsic
    weight_fee: int = 10_000  # per 10^6 units of ref_time


FIXED_U128 = Struct("sp_arithmetic::fixed_point::FixedU128", [Field(None, U128, "u128")])
NextFeeMultiplier = StorageValue(
    "TransactionPayment",
    "NextFeeMultiplier",
    FIXED_U128,
    default=FIXED_ONE,
    docs="Fee multiplier; fixed at 1 on this chain.",
)

RUNTIME_DISPATCH_INFO = Struct(
    "pallet_transaction_payment::types::RuntimeDispatchInfo",
    [
        Field("weight", WEIGHT, "Weight"),
        Field("class", DISPATCH_CLASS, "DispatchClass"),
        Field("partial_fee", U128, "Balance"),
    ],
)


@pallet_events("pallet_transaction_payment::pallet::Event")
class TransactionPaymentEvent(PalletEvent):
    TransactionFeePaid = event(
        ("who", AccountId),
        ("actual_fee", U128),
        ("tip", U128),
        doc="A transaction fee `actual_fee`, of which `tip` was added to the minimum inclusion fee, has been paid by `who`.",
    )


def compute_fee(length: int, info: DispatchInfo, tip: int) -> int:
    """The full fee of an extrinsic of `length` bytes; calls that do not pay (inherents) cost nothing."""
    if info.pays_fee is Pays.NO:
        return 0
    cfg = TransactionPaymentConfig.current()
    return (
        cfg.base_fee
        + cfg.length_fee * length
        + cfg.weight_fee * info.weight.ref_time // WEIGHT_FEE_UNIT
        + tip
    )


def charge(who: bytes, fee: int) -> None:
    """Withdraw the fee before dispatch (raises a Balances error when the sender cannot pay it)."""
    if fee:
        balances.withdraw(who, fee, keep_alive=True)


def pay_out(who: bytes, fee: int, tip: int) -> None:
    """After dispatch: pay the withdrawn fee to the block author, or leave it burned."""
    if not fee:
        return
    author = block_env().author
    if author is not None:
        balances.deposit_creating(author, fee)
    deposit_event(TransactionPaymentEvent.TransactionFeePaid(who, fee, tip))


PALLET = Pallet(
    name="TransactionPayment",
    calls_path="",
    events=TransactionPaymentEvent,
    storage=(NextFeeMultiplier,),
    config=TransactionPaymentConfig,
    constants=(
        Constant("OperationalFeeMultiplier", U8, lambda c: 5, "Priority boost of operational calls."),
    ),
)
