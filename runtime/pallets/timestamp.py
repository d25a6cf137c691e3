"""Timestamp: the block's time in milliseconds, set by an inherent the block author includes.

`set(now)` must be the first extrinsic of every block, exactly once (the executive enforces position;
this pallet enforces "once" and, in `on_finalize`, "present"). Time is monotonic: each block's time is at
least the previous block's plus `MinimumPeriod`. The runtime never reads a clock; the node checks the
author's claim against its own clock with `check_drift` before importing, which keeps the runtime
deterministic while bounding how far in the future an author can date a block.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.frame.pallet import CallContext, Constant, Pallet, PalletConfig, call
from runtime.frame.storage import StorageValue
from runtime.frame.support import DispatchClass, PalletError, Pays, Weight, pallet_errors
from runtime.frame.types import U64, Bool, Compact


@dataclass(frozen=True)
class TimestampConfig(PalletConfig):
    minimum_period_ms: int = 1_000
    max_drift_ms: int = 30_000


Now = StorageValue("Timestamp", "Now", U64, default=0, docs="The current time for the current block.")
DidUpdate = StorageValue(
    "Timestamp",
    "DidUpdate",
    Bool,
    default=False,
    docs="Whether the timestamp has been updated in this block.",
)


@pallet_errors("pallet_timestamp::pallet::Error")
class TimestampError(PalletError):
    AlreadySet = "Timestamp must be updated only once in the block."
    TooEarly = "The timestamp is earlier than the previous one plus MinimumPeriod."
    Missing = "The block has no timestamp inherent."


class TimestampDrift(ValueError):
    """A block's timestamp is too far ahead of this node's clock; the node refuses to import it (for now)."""


@call(index=0, weight=Weight(10_000_000), dispatch_class=DispatchClass.MANDATORY, pays=Pays.NO)
def set(ctx: CallContext, now: Compact(U64)) -> None:  # noqa: A001 - Substrate's call name
    """Set the block's time (inherent: no origin, first extrinsic, once per block)."""
    ctx.ensure_none()
    if DidUpdate.get():
        raise TimestampError.AlreadySet("Timestamp.set was already applied in this block")
    previous = Now.get()
    minimum = TimestampConfig.current().minimum_period_ms
    if previous and now < previous + minimum:
        raise TimestampError.TooEarly(
            f"time {now} is before the previous block's {previous} plus the minimum period {minimum}"
        )
    Now.put(now)
    DidUpdate.put(True)


def on_finalize(number: int) -> None:
    if not DidUpdate.get():
        raise TimestampError.Missing(f"block {number} has no Timestamp.set inherent")
    DidUpdate.kill()


def check_drift(block_time_ms: int, local_time_ms: int, max_drift_ms: int) -> None:
    """The node's check of an author's timestamp against its own clock (never called by the runtime)."""
    if block_time_ms > local_time_ms + max_drift_ms:
        raise TimestampDrift(
            f"block time {block_time_ms} ms is {block_time_ms - local_time_ms} ms ahead of the "
            f"local clock; at most {max_drift_ms} ms is tolerated"
        )


def now() -> int:
    return Now.get()


def now_in(state) -> int:  # noqa: ANN001 - any object with get(key)
    """`Now` in a given state, outside block execution (the block builder reads the parent's time)."""
    raw = state.get(Now.key())
    return Now.default if raw is None else Now.value.decode_bytes(raw)


PALLET = Pallet(
    name="Timestamp",
    calls_path="pallet_timestamp::pallet::Call",
    calls=(set,),
    errors=TimestampError,
    storage=(Now, DidUpdate),
    config=TimestampConfig,
    constants=(
        Constant(
            "MinimumPeriod",
            U64,
            lambda c: c.minimum_period_ms,
            "The minimum period between blocks, in milliseconds.",
        ),
    ),
    on_finalize=on_finalize,
    inherent_calls=frozenset({"set"}),
)
