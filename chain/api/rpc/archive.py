"""`archive_v1_*` of the new JSON-RPC spec: any kept block by height or hash, its header, body, storage and
runtime calls. Every committed block is final, so `finalizedHeight` is the head and `hashByHeight` gives
exactly one hash up to it and none above.

`archive_v1_storage` answers a subscription id and pushes on `archive_v1_storageEvent` one `storage` event
per item found, then `storageDone`; a block this node does not know, or whose state was pruned, is a
`storageError`. A descendants query yields at most MAX_DESCENDANTS items per call: past that the call ends
with a `storageError` naming the last key sent, from which the client resumes with `paginationStartKey`.
`archive_v1_stopStorage` ends it early (null for an id that is unknown or already done).
"""

from __future__ import annotations

from typing import Any

from chain.api.jsonrpc_server import Connection, InvalidParams, JsonRpcServer, Subscriber
from chain.api.rpc.chain_head import block_hash_param, function_param
from chain.api.rpc.params import ClientError, block_number, state_at, to_hex
from chain.api.rpc.runtime_calls import call_data, state_call
from chain.api.rpc.spec_v1 import genesis_hash_method, subscription_param
from chain.api.rpc.storage_query import parse_child_trie, parse_queries, results, state_view
from chain.storage.state import StateError

STORAGE_EVENT = "archive_v1_storageEvent"
MAX_DESCENDANTS = 1000


def register(server: JsonRpcServer, node) -> None:
    @server.method("archive_v1_finalizedHeight")
    async def archive_finalized_height() -> int:
        return node.chain.number

    server.method("archive_v1_genesisHash")(genesis_hash_method(node))

    @server.method("archive_v1_hashByHeight")
    async def archive_hash_by_height(height: Any) -> list[str]:
        if not isinstance(height, int):
            raise InvalidParams(f"height must be an integer, got {height!r}")
        found = node.chain.store.hash_at(block_number(height))
        return [] if found is None else [to_hex(found)]

    @server.method("archive_v1_header")
    async def archive_header(hash: Any) -> str | None:
        return to_hex(node.chain.store.header(block_hash_param(hash)))

    @server.method("archive_v1_body")
    async def archive_body(hash: Any) -> list[str] | None:
        block = node.chain.block(block_hash_param(hash))
        return None if block is None else [to_hex(x) for x in block.extrinsics]

    @server.method("archive_v1_call")
    async def archive_call(hash: Any, function: Any, call_parameters: Any) -> dict | None:
        block_hash, name, args = block_hash_param(hash), function_param(function), call_data(call_parameters)
        if node.chain.header(block_hash) is None:
            return None
        try:
            return {
                "success": True,
                "value": to_hex(state_call(node, name, args, state_at(node, block_hash))),
            }
        except (ClientError, StateError) as e:
            return {"success": False, "error": str(e)}

    @server.subscription("archive_v1_storage", STORAGE_EVENT, None)
    async def archive_storage(sub: Subscriber, hash: Any, items: Any, child_trie: Any = None) -> None:
        block_hash = block_hash_param(hash)
        queries = parse_queries(items, pagination=True)
        child = parse_child_trie(child_trie)
        header = node.chain.header(block_hash)
        if header is None:
            sub.conn.after_answer(
                lambda: _end(
                    sub, {"event": "storageError", "error": f"block 0x{block_hash.hex()} is not known"}
                )
            )
            return
        sub.conn.after_answer(
            lambda: _stream(node, sub, header.state_root, [] if child is not None else queries)
        )

    @server.method("archive_v1_stopStorage", connection=True)
    async def archive_stop_storage(conn: Connection, subscription: Any) -> None:
        sub = conn.subscriptions.get(subscription_param(subscription, "subscription"))
        if sub is not None and sub.notification == STORAGE_EVENT:
            sub.finish()


def _end(sub: Subscriber, event: dict) -> None:
    sub.notify(event)
    sub.finish()


def _stream(node, sub: Subscriber, state_root: bytes, queries: list) -> None:
    """Push every item answering `queries`, query by query, then storageDone (or the error that ends it)."""
    try:
        view = state_view(node, state_root)
        for query in queries:
            sent, last = 0, None
            for item in results(view, [query]):
                if sub.closed:
                    return
                if query.descendants and sent == MAX_DESCENDANTS:
                    _end(
                        sub,
                        {
                            "event": "storageError",
                            "error": f"more than {MAX_DESCENDANTS} keys under "
                            f"{to_hex(query.key)}: resume with paginationStartKey {last}",
                        },
                    )
                    return
                sub.notify({"event": "storage", **item})
                sent, last = sent + 1, item["key"]
    except StateError as e:
        _end(sub, {"event": "storageError", "error": str(e)})
        return
    _end(sub, {"event": "storageDone"})
