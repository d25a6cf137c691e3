"""Sudo: one key that may dispatch any call as root. Only dev and local chain specs configure it.

The inner call runs in its own transaction: if it fails, its writes are undone, the sudo call itself
still succeeds, and `Sudid` reports the inner error (as Substrate does), so the key holder pays the fee
and sees why.
"""

from __future__ import annotations

from runtime.frame.pallet import (
    RUNTIME_CALL_BOXED,
    CallContext,
    Pallet,
    PalletEvent,
    ResultType,
    call,
    dispatch_transactional,
    event,
    pallet_events,
)
from runtime.frame.storage import StorageValue
from runtime.frame.support import (
    DISPATCH_ERROR,
    ROOT,
    WEIGHT,
    DispatchClass,
    PalletError,
    Weight,
    pallet_errors,
)
from runtime.frame.types import AccountId, MultiAddress, Option, Unit

Key = StorageValue("Sudo", "Key", AccountId, docs="The `AccountId` of the sudo key.")

SUDO_WEIGHT = Weight(10_000_000)


@pallet_events("pallet_sudo::pallet::Event")
class SudoEvent(PalletEvent):
    Sudid = event(("sudo_result", ResultType(Unit, DISPATCH_ERROR)), doc="A sudo call just took place.")
    KeyChanged = event(("old", Option(AccountId)), ("new", AccountId), doc="The sudo key has been updated.")
    KeyRemoved = event(doc="The key was permanently removed.")
    SudoAsDone = event(
        ("sudo_result", ResultType(Unit, DISPATCH_ERROR)), doc="A sudo_as call just took place."
    )


@pallet_errors("pallet_sudo::pallet::Error")
class SudoError(PalletError):
    RequireSudo = "Sender must be the Sudo account."


def _ensure_sudo(ctx: CallContext) -> bytes:
    who = ctx.ensure_signed()
    key = Key.get()
    if key != who:
        raise SudoError.RequireSudo("only the sudo key may make this call")
    return who


@call(index=0, weight=lambda c: SUDO_WEIGHT + c.info().weight, dispatch_class=DispatchClass.OPERATIONAL)
def sudo(ctx: CallContext, call: RUNTIME_CALL_BOXED) -> None:
    """Dispatch `call` with the root origin."""
    _ensure_sudo(ctx)
    ctx.deposit_event(SudoEvent.Sudid(dispatch_transactional(call, ROOT)))


@call(index=1, weight=lambda c, w: w, dispatch_class=DispatchClass.OPERATIONAL)
def sudo_unchecked_weight(ctx: CallContext, call: RUNTIME_CALL_BOXED, weight: WEIGHT) -> None:
    """Dispatch `call` with the root origin, declaring its weight (so an overweight call can still run)."""
    _ensure_sudo(ctx)
    ctx.deposit_event(SudoEvent.Sudid(dispatch_transactional(call, ROOT)))


@call(index=2, weight=SUDO_WEIGHT, dispatch_class=DispatchClass.OPERATIONAL)
def set_key(ctx: CallContext, new: MultiAddress) -> None:
    """Hand the sudo key to another account."""
    old = _ensure_sudo(ctx)
    Key.put(new)
    ctx.deposit_event(SudoEvent.KeyChanged(old, new))


def genesis(config: object, spec: dict) -> None:
    """`sudo: {key: account}`."""
    if spec.get("key") is not None:
        Key.put(spec["key"])


PALLET = Pallet(
    name="Sudo",
    calls_path="pallet_sudo::pallet::Call",
    calls=(sudo, sudo_unchecked_weight, set_key),
    events=SudoEvent,
    errors=SudoError,
    storage=(Key,),
    genesis=genesis,
)
