"""`system_dryRun`: what applying an extrinsic on top of a block would give, without keeping anything.

The extrinsic is applied in the block that would follow `at` (after its timestamp inherent, at the later of
now and the earliest time that block may claim), on an overlay over `at`'s state that is dropped afterwards.
The answer is Substrate's SCALE `ApplyExtrinsicResult`,
`Result<Result<(), DispatchError>, TransactionValidityError>`: `0x0000` applied and succeeded, `0x0001…`
applied and the call failed (fee and nonce still taken, as in a block), `0x01…` not includable at all.
"""

from __future__ import annotations

import time

from chain.storage.overlay import Overlay
from runtime import validity as v
from runtime.block_builder import next_timestamp, timestamp_inherent
from runtime.executive import Executive, Runtime


def apply_extrinsic_result(runtime: Runtime, state, block_hash: bytes, number: int, raw: bytes) -> bytes:  # noqa: ANN001
    """The encoded ApplyExtrinsicResult of `raw` in block `number + 1` on the state after block `block_hash`."""
    ex = Executive(runtime, Overlay(state))
    ex.initialize_block(block_hash, number + 1)
    ex.apply_extrinsic(timestamp_inherent(next_timestamp(runtime, state, int(time.time() * 1000))))
    try:
        outcome = ex.apply_extrinsic(raw)
    except v.TransactionValidityError as e:
        return b"\x01" + e.encode()
    return b"\x00\x00" if outcome.error is None else b"\x00\x01" + outcome.error.encode()
