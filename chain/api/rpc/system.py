"""The `system_*` namespace: what chain this is, who serves it, its health, peers, account nonces, and a dry run
of an extrinsic (unsafe, as in Substrate: it executes arbitrary calls on the node's CPU)."""

from __future__ import annotations

from typing import Any

from chain.api.grpc_api import node_version
from chain.api.jsonrpc_server import JsonRpcServer
from chain.api.rpc.author import extrinsic_param
from chain.api.rpc.dry_run import apply_extrinsic_result
from chain.api.rpc.params import account_id as parse_account_id
from chain.api.rpc.params import at_block, state_at, to_hex
from chain.api.rpc.state import reading
from chain.network.peers import libp2p_peer_id

IMPLEMENTATION_NAME = "gradchain"


def register(server: JsonRpcServer, node) -> None:
    @server.method("system_name")
    async def system_name() -> str:
        return IMPLEMENTATION_NAME

    @server.method("system_version")
    async def system_version() -> str:
        return node_version()

    @server.method("system_chain")
    async def system_chain() -> str:
        return node.spec.name

    @server.method("system_chainType")
    async def system_chain_type() -> str:
        return node.spec.chain_type

    @server.method("system_properties")
    async def system_properties() -> dict:
        return dict(node.spec.properties)

    @server.method("system_health")
    async def system_health() -> dict:
        peers = list(node.network.peers.values())
        return {
            "peers": len(peers),
            "isSyncing": any(p.best_number > node.chain.number + 1 for p in peers),
            "shouldHavePeers": node.spec.chain_type != "Development",
        }

    @server.method("system_peers", unsafe=True)
    async def system_peers() -> list[dict]:
        return [
            {
                "peerId": libp2p_peer_id(p.node_key),
                "roles": "FULL",
                "bestHash": to_hex(p.best_hash) if p.best_hash else None,
                "bestNumber": p.best_number,
            }
            for p in node.network.peers.values()
        ]

    @server.method("system_localPeerId")
    async def system_local_peer_id() -> str:
        """This node's network identity (its node key) as a libp2p PeerId, the form `system_peers` gives
        other peers' in."""
        return libp2p_peer_id(node.node_key.public)

    @server.method("system_localListenAddresses")
    async def system_local_listen_addresses() -> list[str]:
        host, _, port = (node.network.listen_addr or "").rpartition(":")
        return [f"/ip4/{host}/tcp/{port}"] if host and port.isdigit() else []

    @server.method("system_nodeRoles")
    async def system_node_roles() -> list[str]:
        return ["Authority"] if node.validator_key is not None else ["Full"]

    @server.method("system_syncState")
    async def system_sync_state() -> dict:
        best = max([node.chain.number, *(p.best_number for p in node.network.peers.values())])
        return {
            "startingBlock": node.started_at_number,
            "currentBlock": node.chain.number,
            "highestBlock": best,
        }

    @server.method("system_accountNextIndex", "account_nextIndex")
    async def system_account_next_index(account_id: Any) -> int:
        """The nonce to sign next, counting the account's transactions already in the pool."""
        return node.next_index(parse_account_id(account_id))

    @server.method("system_dryRun", "system_dryRunAt", unsafe=True)
    async def system_dry_run(extrinsic: Any, at: Any = None) -> str:
        """The SCALE `ApplyExtrinsicResult` of applying `extrinsic` on top of block `at` (the head by default);
        nothing is kept."""
        raw = extrinsic_param(extrinsic)
        block_hash = at_block(node, at)
        with reading(block_hash):
            state = state_at(node, block_hash)
            return to_hex(
                apply_extrinsic_result(
                    node.runtime, state, block_hash, node.chain.header(block_hash).number, raw
                )
            )
