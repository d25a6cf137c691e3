"""Utility: several calls in one extrinsic (Substrate's `pallet_utility` batch calls, same indices and events).

- `batch` (0) runs the calls in order and stops at the first that fails: the calls before it keep their
  effects, `BatchInterrupted { index, error }` says which failed and why, and the batch itself succeeds.
- `batch_all` (2) is all or nothing: if any call fails, the whole extrinsic fails with that call's error and
  the executive's transaction undoes every call before it (their events too).
- `force_batch` (4) runs every call, each in its own transaction: `ItemFailed { error }` for those that fail,
  then `BatchCompletedWithErrors`, or `BatchCompleted` if none failed.

Each inner call runs with the batch's own origin (signed or root) and pays no fee of its own: the extrinsic's
fee covers the batch's weight, the sum of the inner calls' weights plus `BATCH_BASE` and `PER_CALL` for each
call. Calls nest (a batch in a batch, a batch under sudo) at most `BoxedCall.max_depth` levels deep, a limit
enforced while decoding, and a batch holds at most `BATCHED_CALLS_LIMIT` calls (`TooManyCalls`). As in
Substrate, a batch whose calls are all Operational (sudo calls, say) is itself Operational, so it may use the
block space reserved for them; any other batch is Normal. Unlike Substrate, a batch of no calls is Normal
(Substrate's "all calls are Operational" holds vacuously for it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from runtime.frame.pallet import (
    RUNTIME_CALL_BOXED,
    Call,
    CallContext,
    CallDef,
    Constant,
    Pallet,
    PalletEvent,
    dispatch_transactional,
    event,
    pallet_events,
)
from runtime.frame.support import (
    DISPATCH_ERROR,
    BadOrigin,
    DispatchClass,
    DispatchInfo,
    OriginKind,
    PalletError,
    Pays,
    Weight,
    pallet_errors,
)
from runtime.frame.types import U32, Vec

BATCHED_CALLS_LIMIT = 1_024
BATCH_BASE = Weight(5_000_000)
PER_CALL = Weight(5_000_000)

CALLS = Vec(RUNTIME_CALL_BOXED)  # inner calls decode through the depth-capped box, like Sudo's
CALLS.type_name = "Vec<<T as Config>::RuntimeCall>"


@pallet_events("pallet_utility::pallet::Event")
class UtilityEvent(PalletEvent):
    BatchInterrupted = event(
        ("index", U32),
        ("error", DISPATCH_ERROR),
        doc="Batch of dispatches did not complete fully. Index of first failing dispatch "
        "given, as well as the error.",
    )
    BatchCompleted = event(doc="Batch of dispatches completed fully with no error.")
    BatchCompletedWithErrors = event(doc="Batch of dispatches completed but has errors.")
    ItemCompleted = event(doc="A single item within a Batch of dispatches has completed with no error.")
    ItemFailed = event(
        ("error", DISPATCH_ERROR), doc="A single item within a Batch of dispatches has completed with error."
    )


@pallet_errors("pallet_utility::pallet::Error")
class UtilityError(PalletError):
    TooManyCalls = "Too many calls batched."


def batch_weight(calls: list[Call]) -> Weight:
    """The inner calls' own weights, plus the batch's overhead for each of them."""
    total = BATCH_BASE
    for c in calls:
        total = total + c.info().weight + PER_CALL
    return total


class BatchCallDef(CallDef):
    """A batch call: its weight is `batch_weight`, its class Operational when every inner call's is."""

    def info(self, args: tuple) -> DispatchInfo:
        (calls,) = args
        info = super().info(args)
        if calls and all(c.info().dispatch_class is DispatchClass.OPERATIONAL for c in calls):
            return replace(info, dispatch_class=DispatchClass.OPERATIONAL)
        return info


def batch_call(index: int) -> Callable[[Callable[..., None]], BatchCallDef]:
    def decorate(fn: Callable[..., None]) -> BatchCallDef:
        return BatchCallDef(fn, index, batch_weight, DispatchClass.NORMAL, Pays.YES)

    return decorate


def _check(ctx: CallContext, calls: list[Call]) -> None:
    if ctx.origin.kind is OriginKind.NONE:
        raise BadOrigin("a batch must be signed or come from root; it came from a NONE origin")
    if len(calls) > BATCHED_CALLS_LIMIT:
        raise UtilityError.TooManyCalls(f"{len(calls)} calls in one batch; at most {BATCHED_CALLS_LIMIT}")


@batch_call(index=0)
def batch(ctx: CallContext, calls: CALLS) -> None:
    """Dispatch the calls in order until one fails; those before it keep their effects."""
    _check(ctx, calls)
    for index, c in enumerate(calls):
        error = dispatch_transactional(c, ctx.origin)
        if error is not None:
            ctx.deposit_event(UtilityEvent.BatchInterrupted(index, error))
            return
        ctx.deposit_event(UtilityEvent.ItemCompleted())
    ctx.deposit_event(UtilityEvent.BatchCompleted())


@batch_call(index=2)
def batch_all(ctx: CallContext, calls: CALLS) -> None:
    """Dispatch the calls in order, all or nothing: the first failure fails the whole batch with its error."""
    _check(ctx, calls)
    for c in calls:
        error = dispatch_transactional(c, ctx.origin)
        if error is not None:
            raise error  # the executive's transaction around this call undoes the calls before it
        ctx.deposit_event(UtilityEvent.ItemCompleted())
    ctx.deposit_event(UtilityEvent.BatchCompleted())


@batch_call(index=4)
def force_batch(ctx: CallContext, calls: CALLS) -> None:
    """Dispatch every call, each on its own: a failed call is undone and reported, the others keep effect."""
    _check(ctx, calls)
    failed = False
    for c in calls:
        error = dispatch_transactional(c, ctx.origin)
        if error is None:
            ctx.deposit_event(UtilityEvent.ItemCompleted())
        else:
            failed = True
            ctx.deposit_event(UtilityEvent.ItemFailed(error))
    ctx.deposit_event(UtilityEvent.BatchCompletedWithErrors() if failed else UtilityEvent.BatchCompleted())


PALLET = Pallet(
    name="Utility",
    calls_path="pallet_utility::pallet::Call",
    calls=(batch, batch_all, force_batch),
    events=UtilityEvent,
    errors=UtilityError,
    constants=(
        Constant(
            "batched_calls_limit",
            U32,
            lambda c: BATCHED_CALLS_LIMIT,
            "The limit on the number of batched calls.",
        ),
    ),
)
