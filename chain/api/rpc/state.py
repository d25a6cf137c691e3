"""The `state_*` namespace: storage reads at any kept block, paged keys, storage change sets over a range of
blocks, read proofs, runtime calls, metadata, the runtime version, and storage subscriptions.

A storage subscription pushes the current value of every key it names at once, then, after each committed
block, the keys whose value that block changed (nothing when none did), as Substrate does. Subscribing to
every key of the state is refused: it is unsafe in Substrate and would copy the whole state each block.
"""

from __future__ import annotations

import contextlib
from typing import Any

from chain.api.jsonrpc_server import InvalidParams, JsonRpcServer, RpcError, Subscriber
from chain.api.rpc.params import (
    STATE_CLIENT_ERROR,
    STATE_INVALID_COUNT,
    ClientError,
    at_block,
    hex_bytes,
    hex_list,
    state_at,
    to_hex,
)
from chain.api.rpc.runtime_calls import call_data, state_call
from chain.primitives.hashing import blake2_256
from chain.storage.state import StateError
from runtime import apis

MAX_KEY_BYTES = 1024
MAX_KEYS_PAGED = 1000  # Substrate's cap on state_getKeysPaged's count
MAX_KEYS_PER_QUERY = 1024
MAX_QUERY_READS = 1 << 16  # state_queryStorage: keys times blocks, so one call cannot stall the node


@contextlib.contextmanager
def reading(block_hash: bytes):
    """Reads of a block's state; a state pruned under the reader is a Client error, not an internal one."""
    try:
        yield
    except StateError as e:
        raise ClientError(
            STATE_CLIENT_ERROR, f"State already discarded for 0x{block_hash.hex()}: {e}"
        ) from None


def register(server: JsonRpcServer, node) -> None:
    def read(key: bytes, at: Any) -> tuple[bytes, bytes | None]:
        block_hash = at_block(node, at)
        with reading(block_hash):
            return block_hash, state_at(node, block_hash).get(key)

    @server.method("state_getStorage", "state_getStorageAt")
    async def state_get_storage(key: Any, at: Any = None) -> str | None:
        return to_hex(read(hex_bytes(key, "storage key", max_len=MAX_KEY_BYTES), at)[1])

    @server.method("state_getStorageHash", "state_getStorageHashAt")
    async def state_get_storage_hash(key: Any, at: Any = None) -> str | None:
        value = read(hex_bytes(key, "storage key", max_len=MAX_KEY_BYTES), at)[1]
        return None if value is None else to_hex(blake2_256(value))

    @server.method("state_getStorageSize", "state_getStorageSizeAt")
    async def state_get_storage_size(key: Any, at: Any = None) -> int | None:
        value = read(hex_bytes(key, "storage key", max_len=MAX_KEY_BYTES), at)[1]
        return None if value is None else len(value)

    @server.method("state_getKeysPaged", "state_getKeysPagedAt")
    async def state_get_keys_paged(key: Any, count: Any, start_key: Any = None, at: Any = None) -> list[str]:
        """Up to `count` keys under the prefix `key`, in order, strictly after `start_key` when given."""
        prefix_bytes = b"" if key is None else hex_bytes(key, "prefix", max_len=MAX_KEY_BYTES)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise InvalidParams(f"count must be a non-negative number, got {count!r}")
        if count > MAX_KEYS_PAGED:
            raise RpcError(
                STATE_INVALID_COUNT, f"count exceeds maximum value. value: {count}, max: {MAX_KEYS_PAGED}"
            )
        after = None if start_key is None else hex_bytes(start_key, "start key", max_len=MAX_KEY_BYTES)
        block_hash = at_block(node, at)
        keys: list[str] = []
        with reading(block_hash):
            for key, _ in state_at(node, block_hash).iter_prefix(prefix_bytes):
                if len(keys) >= count:
                    break
                if after is None or key > after:
                    keys.append(to_hex(key))
        return keys

    @server.method("state_getKeys", "state_getKeysAt")
    async def state_get_keys(key: Any, at: Any = None) -> list[str]:
        """Every key under the prefix `key` (deprecated in Substrate for state_getKeysPaged): refused with an
        error naming the cap when there are more than MAX_KEYS_PAGED, instead of an unbounded answer."""
        prefix_bytes = b"" if key is None else hex_bytes(key, "prefix", max_len=MAX_KEY_BYTES)
        block_hash = at_block(node, at)
        keys: list[str] = []
        with reading(block_hash):
            for found, _ in state_at(node, block_hash).iter_prefix(prefix_bytes):
                if len(keys) >= MAX_KEYS_PAGED:
                    raise RpcError(
                        STATE_INVALID_COUNT,
                        f"more than {MAX_KEYS_PAGED} keys under this prefix; "
                        "page through them with state_getKeysPaged",
                    )
                keys.append(to_hex(found))
        return keys

    @server.method("state_queryStorageAt")
    async def state_query_storage_at(keys: Any, at: Any = None) -> list[dict]:
        wanted = hex_list(keys, "keys", max_items=MAX_KEYS_PER_QUERY, max_len=MAX_KEY_BYTES)
        block_hash = at_block(node, at)
        with reading(block_hash):
            state = state_at(node, block_hash)
            changes = [[to_hex(k), to_hex(state.get(k))] for k in wanted]
        return [{"block": to_hex(block_hash), "changes": changes}]

    @server.method("state_queryStorage", unsafe=True)
    async def state_query_storage(keys: Any, from_block: Any, to_block: Any = None) -> list[dict]:
        """Substrate's change sets of `keys` over the blocks `from_block` to `to_block` (the head when
        omitted), both included: the first block lists every key's value, each later block the keys whose
        value it changed, and a block that changed none is left out. Unsafe, as in Substrate; refused when
        the keys times the blocks exceed MAX_QUERY_READS."""
        wanted = hex_list(keys, "keys", max_items=MAX_KEYS_PER_QUERY, max_len=MAX_KEY_BYTES)
        if from_block is None:
            raise InvalidParams("the first block of the range is required")
        first, last = at_block(node, from_block), at_block(node, to_block)
        start, end = node.chain.header(first).number, node.chain.header(last).number
        if start > end or node.chain.store.hash_at(start) != first or node.chain.store.hash_at(end) != last:
            raise ClientError(
                STATE_CLIENT_ERROR,
                f"Invalid block range: from #{start} 0x{first.hex()} to #{end} "
                f"0x{last.hex()}: not an ascending range of this chain",
            )
        if len(wanted) * (end - start + 1) > MAX_QUERY_READS:
            raise ClientError(
                STATE_CLIENT_ERROR,
                f"Invalid block range: {len(wanted)} keys over {end - start + 1} "
                f"blocks is more than {MAX_QUERY_READS} reads; query a shorter range",
            )
        seen: dict[bytes, bytes | None] = {}
        change_sets = []
        for number in range(start, end + 1):
            block_hash = node.chain.store.hash_at(number)
            with reading(block_hash):
                state = state_at(node, block_hash)
                changes = []
                for key in wanted:
                    value = state.get(key)
                    if key not in seen or seen[key] != value:
                        seen[key] = value
                        changes.append([to_hex(key), to_hex(value)])
            if changes:
                change_sets.append({"block": to_hex(block_hash), "changes": changes})
        return change_sets

    @server.method("state_getReadProof")
    async def state_get_read_proof(keys: Any, at: Any = None) -> dict:
        wanted = hex_list(keys, "keys", max_items=MAX_KEYS_PER_QUERY, max_len=MAX_KEY_BYTES)
        block_hash = at_block(node, at)
        header = node.chain.header(block_hash)
        with reading(block_hash):
            nodes = node.chain.store.state.read_proof(wanted, header.state_root)
        return {"at": to_hex(block_hash), "proof": [to_hex(n) for n in nodes]}

    @server.method("state_call", "state_callAt")
    async def state_call_method(method: Any, data: Any, at: Any = None) -> str:
        if not isinstance(method, str):
            raise InvalidParams(f"the runtime API method must be a string, got {method!r}")
        args = call_data(data)
        block_hash = at_block(node, at)
        with reading(block_hash):
            return to_hex(state_call(node, method, args, state_at(node, block_hash)))

    @server.method("state_getMetadata")
    async def state_get_metadata(at: Any = None) -> str:
        at_block(node, at)
        return to_hex(apis.metadata(node.runtime))

    @server.method("state_getRuntimeVersion", "chain_getRuntimeVersion")
    async def state_get_runtime_version(at: Any = None) -> dict:
        at_block(node, at)
        return node.runtime.version.to_json()

    @server.subscription(
        "state_subscribeRuntimeVersion",
        "state_runtimeVersion",
        "state_unsubscribeRuntimeVersion",
        aliases=("chain_subscribeRuntimeVersion",),
        unsub_aliases=("chain_unsubscribeRuntimeVersion",),
    )
    async def state_subscribe_runtime_version(sub: Subscriber) -> None:
        """The runtime cannot be upgraded in place, so the one version pushed at once is the last."""
        sub.notify(node.runtime.version.to_json())

    @server.subscription("state_subscribeStorage", "state_storage", "state_unsubscribeStorage")
    async def state_subscribe_storage(sub: Subscriber, keys: Any = None) -> None:
        if not keys:
            raise InvalidParams("name the storage keys to watch; subscribing to every key is not offered")
        watched = list(
            dict.fromkeys(hex_list(keys, "keys", max_items=MAX_KEYS_PER_QUERY, max_len=MAX_KEY_BYTES))
        )
        state = node.chain.state_at(None)
        last = {k: state.get(k) for k in watched}
        sub.notify(
            {
                "block": to_hex(node.chain.head_hash),
                "changes": [[to_hex(k), to_hex(v)] for k, v in last.items()],
            }
        )

        def on_head(header) -> None:
            head_state = node.chain.state_at(None)
            changes = []
            for key in watched:
                value = head_state.get(key)
                if value != last[key]:
                    last[key] = value
                    changes.append([to_hex(key), to_hex(value)])
            if changes:
                sub.notify({"block": to_hex(header.hash), "changes": changes})

        sub.on_close.append(node.subscribe("finalized_head", on_head))
