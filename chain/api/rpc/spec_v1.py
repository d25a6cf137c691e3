"""`chainSpec_v1_*`, `transaction_v1_*` and `transactionWatch_v1_*` of the new JSON-RPC spec.

`transaction_v1_broadcast` pools the transaction (which gossips it, and the node re-gossips what stays in
its pool) and answers an operation id for `transaction_v1_stop`; as the spec asks, it says nothing about
validity, and answers null once the connection already broadcasts MAX_BROADCASTS transactions. A stop of an
id this connection was not given is -32602 (over HTTP every request is a connection of its own, so a broadcast
there cannot be stopped later; the transaction is pooled all the same).

`transactionWatch_v1_submitAndWatch` pushes on `transactionWatch_v1_watchEvent`: `validated` once the pool
accepts the transaction, then `bestChainBlockIncluded` and `finalized` together (with the block hash and
the transaction's index) when its block is committed, since every block is final; or `invalid` (the
runtime's reason), or `dropped` (a full pool, or the pool let it go). The subscription ends after a final
event; `transactionWatch_v1_unwatch` of an unknown subscription is -32602.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from chain.api.jsonrpc_server import Connection, InvalidParams, JsonRpcServer, Subscriber
from chain.api.rpc.author import extrinsic_param, pool_error
from chain.api.rpc.params import to_hex
from chain.primitives.hashing import blake2_256
from chain.txpool import AlreadyImported, PoolError, PoolFull, TooLowPriority, TxStatus

MAX_BROADCASTS = 64  # per connection; the spec asks for at least 4
WATCH_EVENT = "transactionWatch_v1_watchEvent"


def _reason(e: PoolError) -> str:
    error = pool_error(e)
    return error.message if error.data is None else f"{error.message}: {error.data}"


def subscription_param(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidParams(f"{what} must be a string, got {type(value).__name__}")
    return value


def genesis_hash_method(node):  # noqa: ANN201
    """`chainSpec_v1_genesisHash` and `archive_v1_genesisHash`: block 0's hash."""

    async def genesis_hash() -> str:
        return to_hex(node.chain.store.hash_at(0))

    return genesis_hash


def register_chain_spec(server: JsonRpcServer, node) -> None:
    @server.method("chainSpec_v1_chainName")
    async def chain_spec_chain_name() -> str:
        return node.spec.name

    server.method("chainSpec_v1_genesisHash")(genesis_hash_method(node))

    @server.method("chainSpec_v1_properties")
    async def chain_spec_properties() -> dict:
        return dict(node.spec.properties)


def register_transaction(server: JsonRpcServer, node) -> None:
    ids = itertools.count(1)

    @server.method("transaction_v1_broadcast", connection=True)
    async def transaction_broadcast(conn: Connection, transaction: Any) -> str | None:
        raw = extrinsic_param(transaction)
        broadcasts: dict[str, bytes] = conn.context.setdefault("broadcasts", {})
        if len(broadcasts) >= MAX_BROADCASTS:
            return None
        try:
            node.submit_extrinsic(raw)
        except PoolError:
            pass  # the spec's broadcast reports nothing about validity; pool_error has logged the reason
        operation_id = str(next(ids))
        broadcasts[operation_id] = blake2_256(raw)
        return operation_id

    @server.method("transaction_v1_stop", connection=True)
    async def transaction_stop(conn: Connection, operation_id: Any) -> None:
        operation_id = subscription_param(operation_id, "operationId")
        if conn.context.get("broadcasts", {}).pop(operation_id, None) is None:
            raise InvalidParams(
                f"operationId {operation_id!r} is not a transaction this connection broadcasts"
            )

    @server.subscription("transactionWatch_v1_submitAndWatch", WATCH_EVENT, None)
    async def transaction_watch(sub: Subscriber, transaction: Any) -> None:
        raw = extrinsic_param(transaction)
        loop = asyncio.get_running_loop()

        def end(event: dict) -> None:
            sub.notify(event)
            sub.finish()

        def finalized(block_hash: bytes, index: int) -> None:
            block = {"hash": to_hex(block_hash), "index": index}
            sub.notify({"event": "bestChainBlockIncluded", "block": block})
            end({"event": "finalized", "block": block})

        def on_status(status: TxStatus, info: object) -> None:
            if status is TxStatus.READY or status is TxStatus.FUTURE:
                sub.notify({"event": "validated"})
            elif status is TxStatus.FINALIZED:
                header, index, _executed = info
                # after the listeners that run later in the same commit (heads, follow subscriptions)
                loop.call_soon(finalized, header.hash, index)
            elif status is TxStatus.USURPED:
                end({"event": "invalid", "error": "the transaction was replaced by another with its nonce"})
            elif status is TxStatus.INVALID:
                end({"event": "invalid", "error": "the transaction became invalid in the pool"})
            elif status is TxStatus.DROPPED:
                end({"event": "dropped", "error": "the pool dropped the transaction"})

        sub.on_close.append(node.watch(blake2_256(raw), on_status))
        try:
            node.submit_extrinsic(raw)
        except AlreadyImported:
            sub.notify({"event": "validated"})  # already pooled: its block will still be reported
        except PoolError as e:
            kind = "dropped" if isinstance(e, (PoolFull, TooLowPriority)) else "invalid"
            event = {"event": kind, "error": _reason(e)}
            sub.conn.after_answer(lambda: end(event))  # the subscription id is answered first

    @server.method("transactionWatch_v1_unwatch", connection=True)
    async def transaction_unwatch(conn: Connection, subscription: Any) -> None:
        subscription = subscription_param(subscription, "subscription")
        sub = conn.subscriptions.get(subscription)
        if sub is None or sub.notification != WATCH_EVENT:
            raise InvalidParams(f"subscription {subscription!r} is not a transaction this connection watches")
        sub.finish()


def register(server: JsonRpcServer, node) -> None:
    register_chain_spec(server, node)
    register_transaction(server, node)
