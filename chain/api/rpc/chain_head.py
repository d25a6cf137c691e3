"""`chainHead_v1_*` of the new JSON-RPC spec (paritytech's json-rpc-interface-spec), which polkadot-api and
smoldot use: a client follows the head of the chain and reads pinned blocks through operations.

`chainHead_v1_follow(withRuntime)` answers a subscription id, then pushes on `chainHead_v1_followEvent`:
`initialized` (the finalized head, and its runtime when `withRuntime`), then for every committed block
`newBlock` (with `newRuntime` when `:code` changed), `bestBlockChanged` and `finalized` together, since
every committed block is final (BFT); nothing is ever pruned, so `prunedBlockHashes` is always empty.

Every block reported is pinned for that subscription until `chainHead_v1_unpin`; a subscription that would
hold more than MAX_PINNED_BLOCKS gets a `stop` event and ends. A connection may hold MAX_FOLLOWS follow
subscriptions (-32800 beyond). `header` answers at once; `body`, `call` and `storage` answer an operation id
(or `limitReached` when the subscription is unknown, stopped, or already runs MAX_OPERATIONS operations) and
report on the follow subscription, after that answer: `operationBodyDone`, `operationCallDone`,
`operationStorageItems` then `operationStorageDone`, or `operationError`. Each storage item occupies one
operation slot; items beyond the free slots are `discardedItems`. A storage operation sends at most
STORAGE_ITEMS_PER_EVENT items at a time and, while more remain, waits for `chainHead_v1_continue` after an
`operationWaitingForContinue` event. A block hash that is not pinned is -32801; `continue` on an operation
that is not waiting is -32803; `unpin` with a hash twice is -32804 and unpins nothing.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Any

from chain.api.jsonrpc_server import Connection, InvalidParams, JsonRpcServer, RpcError, Subscriber
from chain.api.rpc.params import ClientError, hex_bytes, state_at, to_hex
from chain.api.rpc.runtime_calls import call_data, state_call
from chain.api.rpc.storage_query import parse_child_trie, parse_queries, results, state_view
from chain.storage.state import StateError
from runtime.metadata import CODE_KEY
from runtime.version import RuntimeVersion

log = logging.getLogger("gradchain.rpc")

FOLLOW_EVENT = "chainHead_v1_followEvent"
MAX_FOLLOWS = 4  # per connection; the spec asks for at least 2 (Substrate's default)
# Per subscription. Every block is final once reported, so only blocks a client still reads from stay pinned
# (polkadot-api unpins each one once a newer block is finalized); 64 is two minutes of idle 2 s blocks.
MAX_PINNED_BLOCKS = 64
MAX_OPERATIONS = 16  # concurrent per subscription, the spec's minimum (Substrate's default)
STORAGE_ITEMS_PER_EVENT = 16
MAX_FUNCTION_NAME = 256

FOLLOW_LIMIT_REACHED = -32800
INVALID_BLOCK = -32801
INVALID_CONTINUE = -32803
DUPLICATE_HASHES = -32804

LIMIT_REACHED = {"result": "limitReached"}


def runtime_json(version: RuntimeVersion) -> dict:
    """The spec's runtime object (`finalizedBlockRuntime`, `newRuntime`); `apis` is an object here."""
    return {
        "type": "valid",
        "spec": {
            "specName": version.spec_name,
            "implName": version.impl_name,
            "specVersion": version.spec_version,
            "implVersion": version.impl_version,
            "transactionVersion": version.transaction_version,
            "apis": {to_hex(api): v for api, v in version.apis},
        },
    }


def block_hash_param(value: Any, what: str = "hash") -> bytes:
    return hex_bytes(value, what, length=32)


class StorageOperation:
    """A `chainHead_v1_storage` operation: its items, produced lazily, a page per event."""

    def __init__(self, follow: Follow, operation_id: str, items: Iterator[dict]):
        self.follow, self.id, self.items = follow, operation_id, items
        self.waiting = False

    def run(self) -> None:
        """Send the next page; then wait for `continue` if more items remain, else finish."""
        if self.id not in self.follow.operations:
            return  # stopped meanwhile
        self.waiting = False
        try:
            page = list(itertools.islice(self.items, STORAGE_ITEMS_PER_EVENT + 1))
        except StateError as e:
            self.follow.finish_operation(self.id, {"event": "operationError", "error": str(e)})
            return
        more = len(page) > STORAGE_ITEMS_PER_EVENT
        if more:
            self.items = itertools.chain(page[-1:], self.items)
            page = page[:-1]
        if page:
            self.follow.notify({"event": "operationStorageItems", "operationId": self.id, "items": page})
        if more:
            self.waiting = True
            self.follow.notify({"event": "operationWaitingForContinue", "operationId": self.id})
        else:
            self.follow.finish_operation(self.id, {"event": "operationStorageDone"})


class Follow:
    """One `chainHead_v1_follow` subscription: its pinned blocks and its operations in progress."""

    def __init__(self, node, sub: Subscriber, with_runtime: bool):
        self.node, self.sub, self.with_runtime = node, sub, with_runtime
        self.pinned: set[bytes] = set()
        self.operations: dict[str, int] = {}  # operation id -> the slots it holds until it finishes or stops
        self.storage: dict[str, StorageOperation] = {}
        self._ids = itertools.count(1)
        self._code = node.chain.state_at(None).get(CODE_KEY)

    def start(self) -> None:
        head = self.node.chain.head_hash
        self.pinned.add(head)
        event: dict = {"event": "initialized", "finalizedBlockHashes": [to_hex(head)]}
        if self.with_runtime:
            event["finalizedBlockRuntime"] = runtime_json(self.node.runtime.version)
        self.notify(event)
        self.sub.on_close.append(self.node.subscribe("finalized_head", self.on_block))

    def notify(self, event: dict) -> None:
        self.sub.notify(event)

    def on_block(self, header) -> None:  # noqa: ANN001
        if len(self.pinned) >= MAX_PINNED_BLOCKS:
            log.info("chainHead follow %s holds %d pinned blocks; stopping it", self.sub.id, len(self.pinned))
            self.notify({"event": "stop"})
            self.sub.finish()
            return
        block_hash = to_hex(header.hash)
        self.pinned.add(header.hash)
        event: dict = {
            "event": "newBlock",
            "blockHash": block_hash,
            "parentBlockHash": to_hex(header.parent_hash),
        }
        if self.with_runtime:
            code = self.node.chain.state_at(None).get(CODE_KEY)
            event["newRuntime"] = None if code == self._code else runtime_json(self.node.runtime.version)
            self._code = code
        self.notify(event)
        self.notify({"event": "bestBlockChanged", "bestBlockHash": block_hash})
        self.notify({"event": "finalized", "finalizedBlockHashes": [block_hash], "prunedBlockHashes": []})

    def require_pinned(self, block_hash: bytes) -> None:
        if block_hash not in self.pinned:
            raise RpcError(
                INVALID_BLOCK,
                f"Invalid block hash: 0x{block_hash.hex()} is not pinned by this "
                "follow subscription (never reported, or unpinned)",
            )

    def free_slots(self) -> int:
        return MAX_OPERATIONS - sum(self.operations.values())

    def start_operation(self, slots: int) -> str:
        operation_id = str(next(self._ids))
        self.operations[operation_id] = slots
        return operation_id

    def finish_operation(self, operation_id: str, event: dict) -> None:
        """Report the operation's last event and free its slots (nothing if it was stopped meanwhile)."""
        if operation_id not in self.operations:
            return
        self.stop_operation(operation_id)
        self.notify({**event, "operationId": operation_id})

    def stop_operation(self, operation_id: str) -> None:
        self.operations.pop(operation_id, None)
        self.storage.pop(operation_id, None)


def follow_of(conn: Connection, follow_subscription: Any) -> Follow | None:
    """The caller's live follow subscription of that id, or None (unknown, another kind, or stopped)."""
    if not isinstance(follow_subscription, str):
        raise InvalidParams(f"followSubscription must be a string, got {type(follow_subscription).__name__}")
    sub = conn.subscriptions.get(follow_subscription)
    return sub.context if sub is not None and isinstance(sub.context, Follow) else None


def function_param(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_FUNCTION_NAME:
        raise InvalidParams(f"function must be a runtime API method name, got {value!r}")
    return value


def one_slot_operation(
    conn: Connection, follow: Follow | None, block_hash: bytes, work: Callable[[], dict]
) -> dict:
    """Start a body or call operation on a pinned block: `work` runs after the answer and returns the
    operation's one event."""
    if follow is None or follow.free_slots() < 1:
        return LIMIT_REACHED
    follow.require_pinned(block_hash)
    operation_id = follow.start_operation(1)
    conn.after_answer(lambda: follow.finish_operation(operation_id, work()))
    return {"result": "started", "operationId": operation_id}


def operation_id_param(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidParams(f"operationId must be a string, got {type(value).__name__}")
    return value


def register(server: JsonRpcServer, node) -> None:
    @server.subscription("chainHead_v1_follow", FOLLOW_EVENT, None)
    async def chain_head_follow(sub: Subscriber, with_runtime: Any) -> None:
        if not isinstance(with_runtime, bool):
            raise InvalidParams(f"withRuntime must be a boolean, got {with_runtime!r}")
        follows = sum(isinstance(s.context, Follow) for s in sub.conn.subscriptions.values())
        if follows >= MAX_FOLLOWS:
            raise RpcError(
                FOLLOW_LIMIT_REACHED,
                f"Maximum number of chainHead_follow has been reached ({MAX_FOLLOWS} per connection)",
            )
        sub.context = Follow(node, sub, with_runtime)
        sub.context.start()

    @server.method("chainHead_v1_unfollow", connection=True)
    async def chain_head_unfollow(conn: Connection, follow_subscription: Any) -> None:
        follow = follow_of(conn, follow_subscription)
        if follow is not None:
            follow.sub.finish()

    @server.method("chainHead_v1_header", connection=True)
    async def chain_head_header(conn: Connection, follow_subscription: Any, hash: Any) -> str | None:
        follow = follow_of(conn, follow_subscription)
        block_hash = block_hash_param(hash)
        if follow is None:
            return None
        follow.require_pinned(block_hash)
        return to_hex(node.chain.store.header(block_hash))

    @server.method("chainHead_v1_body", connection=True)
    async def chain_head_body(conn: Connection, follow_subscription: Any, hash: Any) -> dict:
        block_hash = block_hash_param(hash)

        def body() -> dict:
            block = node.chain.block(block_hash)
            if block is None:
                return {"event": "operationError", "error": f"block 0x{block_hash.hex()} has no body here"}
            return {"event": "operationBodyDone", "value": [to_hex(x) for x in block.extrinsics]}

        return one_slot_operation(conn, follow_of(conn, follow_subscription), block_hash, body)

    @server.method("chainHead_v1_call", connection=True)
    async def chain_head_call(
        conn: Connection, follow_subscription: Any, hash: Any, function: Any, call_parameters: Any
    ) -> dict:
        block_hash, name, args = block_hash_param(hash), function_param(function), call_data(call_parameters)

        def call() -> dict:
            try:
                output = state_call(node, name, args, state_at(node, block_hash))
            except (ClientError, StateError) as e:
                return {"event": "operationError", "error": str(e)}
            return {"event": "operationCallDone", "output": to_hex(output)}

        return one_slot_operation(conn, follow_of(conn, follow_subscription), block_hash, call)

    @server.method("chainHead_v1_storage", connection=True)
    async def chain_head_storage(
        conn: Connection, follow_subscription: Any, hash: Any, items: Any, child_trie: Any = None
    ) -> dict:
        follow = follow_of(conn, follow_subscription)
        block_hash = block_hash_param(hash)
        queries = parse_queries(items, pagination=False)
        child = parse_child_trie(child_trie)
        if follow is None:
            return LIMIT_REACHED
        follow.require_pinned(block_hash)
        accepted = min(len(queries), follow.free_slots())
        if queries and accepted == 0:
            return LIMIT_REACHED
        header = node.chain.header(block_hash)
        try:
            view = state_view(node, header.state_root)
        except StateError as e:
            operation_id = follow.start_operation(0)
            error = {"event": "operationError", "error": str(e)}
            conn.after_answer(lambda: follow.finish_operation(operation_id, error))
            return {
                "result": "started",
                "operationId": operation_id,
                "discardedItems": len(queries) - accepted,
            }
        operation_id = follow.start_operation(accepted)
        produced = iter(()) if child is not None else results(view, queries[:accepted])
        operation = follow.storage[operation_id] = StorageOperation(follow, operation_id, produced)
        conn.after_answer(operation.run)
        return {"result": "started", "operationId": operation_id, "discardedItems": len(queries) - accepted}

    @server.method("chainHead_v1_continue", connection=True)
    async def chain_head_continue(conn: Connection, follow_subscription: Any, operation_id: Any) -> None:
        follow = follow_of(conn, follow_subscription)
        operation_id = operation_id_param(operation_id)
        if follow is None:
            return
        if operation_id not in follow.operations:
            return
        operation = follow.storage.get(operation_id)
        if operation is None or not operation.waiting:
            raise RpcError(
                INVALID_CONTINUE,
                f"Invalid continue: operation {operation_id} is not waiting for chainHead_v1_continue",
            )
        operation.waiting = False
        conn.after_answer(operation.run)

    @server.method("chainHead_v1_stopOperation", connection=True)
    async def chain_head_stop_operation(
        conn: Connection, follow_subscription: Any, operation_id: Any
    ) -> None:
        follow = follow_of(conn, follow_subscription)
        operation_id = operation_id_param(operation_id)
        if follow is not None:
            follow.stop_operation(operation_id)

    @server.method("chainHead_v1_unpin", connection=True)
    async def chain_head_unpin(conn: Connection, follow_subscription: Any, hash_or_hashes: Any) -> None:
        follow = follow_of(conn, follow_subscription)
        if isinstance(hash_or_hashes, list):
            if len(hash_or_hashes) > MAX_PINNED_BLOCKS:
                raise InvalidParams(
                    f"hashOrHashes has {len(hash_or_hashes)} entries; at most "
                    f"{MAX_PINNED_BLOCKS} blocks are ever pinned"
                )
            hashes = [block_hash_param(h, f"hashOrHashes[{i}]") for i, h in enumerate(hash_or_hashes)]
        else:
            hashes = [block_hash_param(hash_or_hashes, "hashOrHashes")]
        if len(set(hashes)) != len(hashes):
            raise RpcError(DUPLICATE_HASHES, "Invalid duplicate hashes: hashOrHashes names a block twice")
        if follow is None:
            return
        for block_hash in hashes:
            follow.require_pinned(block_hash)
        follow.pinned.difference_update(hashes)
