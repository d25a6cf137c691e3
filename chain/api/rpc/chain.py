"""The `chain_*` namespace: block hashes, headers, blocks with their commit certificates, head subscriptions.

Every committed block is final (BFT), so the best head and the finalized head are the same block and the
three head subscriptions (new, finalized, all) push the same headers. As in Substrate, each subscription
pushes the current head at once, then every block as it is committed.
"""

from __future__ import annotations

from typing import Any

from chain.api.jsonrpc_server import InvalidParams, JsonRpcServer, Subscriber
from chain.api.rpc.params import block_number, hex_bytes, to_hex

# The justification's engine id: the block's commit certificate from gradchain's BFT consensus.
JUSTIFICATION_ENGINE_ID = b"GCBF"
MAX_HASHES_PER_CALL = 1024


def block_json(node, block_hash: bytes) -> dict | None:
    """A SignedBlock as Substrate serializes it: the block, and its justifications (engine id, proof)."""
    block = node.chain.block(block_hash)
    if block is None:
        return None
    certificate = node.chain.justification(block_hash)
    justifications = [[list(JUSTIFICATION_ENGINE_ID), to_hex(certificate)]] if certificate else None
    return {
        "block": {"header": block.header.to_json(), "extrinsics": [to_hex(x) for x in block.extrinsics]},
        "justifications": justifications,
    }


def register(server: JsonRpcServer, node) -> None:
    def hash_of(number: Any) -> str | None:
        return to_hex(node.chain.store.hash_at(block_number(number)))

    @server.method("chain_getBlockHash", "chain_getHead")
    async def chain_get_block_hash(block_number: Any = None) -> str | list | None:
        """The hash of block `block_number` (a number, hex number or a list of them); the head when omitted."""
        if block_number is None:
            return to_hex(node.chain.head_hash)
        if isinstance(block_number, list):
            if len(block_number) > MAX_HASHES_PER_CALL:
                raise InvalidParams(f"at most {MAX_HASHES_PER_CALL} block numbers per call")
            return [hash_of(n) for n in block_number]
        return hash_of(block_number)

    @server.method("chain_getFinalizedHead", "chain_getFinalisedHead")
    async def chain_get_finalized_head() -> str:
        return to_hex(node.chain.head_hash)

    @server.method("chain_getHeader")
    async def chain_get_header(hash: Any = None) -> dict | None:
        block_hash = node.chain.head_hash if hash is None else hex_bytes(hash, "block hash", length=32)
        header = node.chain.header(block_hash)
        return None if header is None else header.to_json()

    @server.method("chain_getBlock")
    async def chain_get_block(hash: Any = None) -> dict | None:
        block_hash = node.chain.head_hash if hash is None else hex_bytes(hash, "block hash", length=32)
        return block_json(node, block_hash)

    def head_subscription(
        name: str, notification: str, unsubscribe: str, aliases=(), unsub_aliases=()
    ) -> None:
        @server.subscription(name, notification, unsubscribe, aliases=aliases, unsub_aliases=unsub_aliases)
        async def subscribe(sub: Subscriber) -> None:
            sub.notify(node.chain.head.to_json())
            sub.on_close.append(node.subscribe("finalized_head", lambda header: sub.notify(header.to_json())))

    head_subscription(
        "chain_subscribeNewHeads",
        "chain_newHead",
        "chain_unsubscribeNewHeads",
        aliases=("chain_subscribeNewHead", "subscribe_newHead"),
        unsub_aliases=("chain_unsubscribeNewHead", "unsubscribe_newHead"),
    )
    head_subscription(
        "chain_subscribeFinalizedHeads",
        "chain_finalizedHead",
        "chain_unsubscribeFinalizedHeads",
        aliases=("chain_subscribeFinalisedHeads",),
        unsub_aliases=("chain_unsubscribeFinalisedHeads",),
    )
    head_subscription("chain_subscribeAllHeads", "chain_allHead", "chain_unsubscribeAllHeads")
