"""The `author_*` namespace: submit extrinsics, watch them to finality, list the pool.

Pool rejections are answered with Substrate's author error codes so wallets show their usual text:
1010 "Invalid Transaction" with the runtime's reason as `data` (e.g. "Transaction has a bad signature"),
1011 unknown validity, 1013 already imported, 1014 priority too low to replace, 1016 dropped at a full pool,
and 1001 for bytes that are not an extrinsic. (Substrate's 1012, temporarily banned, never arises: this pool
keeps no ban list; a resubmitted included transaction is stale, 1010 "Transaction is outdated".)

A watched extrinsic reports "ready" (or "future"), then `{"inBlock": hash}` when its block is committed, and
`{"finalized": hash}` when the next block is (or `FINALIZED_NOTICE_MAX_DELAY_S` later, if none comes), or
"invalid", "dropped" or `{"usurped": hash}`; the subscription ends after a final status. BFT finality is
instant, but reporting it one block later, as a Substrate chain's GRANDPA does, matters: @polkadot/api fetches
the events of an InBlock status and drops that status if Finalized arrives first, so its `isInBlock` handlers
would never run. Both statuses come after the block's head and storage notifications, so a wallet that
re-reads its nonce then sees the new one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chain.api.jsonrpc_server import JsonRpcServer, RpcError, Subscriber
from chain.api.rpc.params import AUTHOR_BAD_FORMAT, hex_bytes, to_hex
from chain.primitives.extrinsic import MAX_EXTRINSIC_BYTES
from chain.primitives.hashing import blake2_256
from chain.txpool import AlreadyImported, InvalidTransaction, PoolError, PoolFull, TooLowPriority, TxStatus
from runtime import validity as v

log = logging.getLogger("gradchain.rpc")

POOL_INVALID_TX = 1010
POOL_UNKNOWN_VALIDITY = 1011
POOL_TEMPORARILY_BANNED = 1012
POOL_ALREADY_IMPORTED = 1013
POOL_TOO_LOW_PRIORITY = 1014
POOL_IMMEDIATELY_DROPPED = 1016
FINALIZED_NOTICE_MAX_DELAY_S = 5.0


def pool_error(e: PoolError) -> RpcError:
    """The JSON-RPC error Substrate's author API gives for this pool rejection."""
    log.info("extrinsic rejected: %s: %s", type(e).__name__, e)
    if isinstance(e, InvalidTransaction):
        reason = e.reason
        if isinstance(reason, v.Undecodable):
            return RpcError(AUTHOR_BAD_FORMAT, f"Extrinsic has invalid format: {reason}")
        if isinstance(reason, v.UnknownTransaction):
            return RpcError(POOL_UNKNOWN_VALIDITY, "Unknown Transaction Validity", reason.rpc_message)
        text = reason.rpc_message if isinstance(reason, v.TransactionValidityError) else str(reason)
        return RpcError(POOL_INVALID_TX, "Invalid Transaction", text)
    if isinstance(e, AlreadyImported):
        return RpcError(
            POOL_ALREADY_IMPORTED, "Transaction Already Imported", "The transaction is already in the pool."
        )
    if isinstance(e, TooLowPriority):
        return RpcError(
            POOL_TOO_LOW_PRIORITY,
            "Priority is too low",
            "The transaction has too low priority to replace another transaction already in the pool.",
        )
    if isinstance(e, PoolFull):
        return RpcError(
            POOL_IMMEDIATELY_DROPPED,
            "Immediately Dropped",
            "The transaction couldn't enter the pool because of the limit",
        )
    return RpcError(e.code, "Transaction pool error", str(e))


def extrinsic_param(value: Any) -> bytes:
    return hex_bytes(value, "extrinsic", max_len=MAX_EXTRINSIC_BYTES + 5)


def register(server: JsonRpcServer, node) -> None:
    def submit(raw: bytes) -> bytes:
        try:
            return node.submit_extrinsic(raw)
        except PoolError as e:
            raise pool_error(e) from None

    @server.method("author_submitExtrinsic")
    async def author_submit_extrinsic(extrinsic: Any) -> str:
        return to_hex(submit(extrinsic_param(extrinsic)))

    @server.method("author_pendingExtrinsics")
    async def author_pending_extrinsics() -> list[str]:
        return [to_hex(raw) for raw in node.pool.pending()]

    @server.subscription(
        "author_submitAndWatchExtrinsic", "author_extrinsicUpdate", "author_unwatchExtrinsic"
    )
    async def author_submit_and_watch(sub: Subscriber, extrinsic: Any) -> None:
        raw = extrinsic_param(extrinsic)
        loop = asyncio.get_running_loop()

        def finalized(block_hash: bytes) -> None:
            sub.notify({"inBlock": to_hex(block_hash)})
            timer = loop.call_later(FINALIZED_NOTICE_MAX_DELAY_S, report_finalized, block_hash)
            stop_waiting = node.subscribe(
                "finalized_head", lambda _header: loop.call_soon(report_finalized, block_hash)
            )
            sub.on_close.extend((timer.cancel, stop_waiting))

        def report_finalized(block_hash: bytes) -> None:
            sub.notify({"finalized": to_hex(block_hash)})  # a no-op once the subscription is closed
            sub.finish()

        def on_status(status: TxStatus, info: object) -> None:
            if status is TxStatus.READY or status is TxStatus.FUTURE:
                sub.notify(status.value)
            elif status is TxStatus.FINALIZED:
                header = info[0]
                # after the listeners that run later in the same commit (heads, storage changes)
                loop.call_soon(finalized, header.hash)
            elif status is TxStatus.USURPED:
                sub.notify({"usurped": to_hex(info) if isinstance(info, bytes) else None})
                sub.finish()
            elif status is TxStatus.INVALID or status is TxStatus.DROPPED:
                sub.notify(status.value)
                sub.finish()

        unwatch = node.watch(blake2_256(raw), on_status)
        sub.on_close.append(unwatch)
        submit(raw)
