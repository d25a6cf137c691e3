"""Run a node until told to stop: start the node, its gRPC API and JSON-RPC, and shut them down in order."""

from __future__ import annotations

import asyncio
import logging

from chain.api.grpc_api import start_grpc_server
from chain.network.transport import TransportError
from chain.node.config import NodeConfig
from chain.node.service import Node
from chain.primitives.crypto import Keypair
from chain.storage.blockstore import BlockStoreError
from chain.storage.kv import DatabaseError

log = logging.getLogger("gradchain.node")


class NodeStartError(RuntimeError):
    """The node cannot start: a busy port, a database of another chain, a corrupt or locked database."""


class NodeHalted(RuntimeError):
    """The node stopped on its own because it can no longer follow the chain (`Node.halt`)."""


async def run_node(config: NodeConfig, spec, key: Keypair | None, stop: asyncio.Event) -> None:
    try:
        node = Node(config, spec, validator_key=key)
    except (DatabaseError, BlockStoreError) as e:
        fix = (
            (
                "; delete it with `gradchain purge-chain` (same --chain and --base-path) and start again to "
                "re-sync from peers"
            )
            if "corrupt" in str(e)
            else ""
        )
        raise NodeStartError(f"cannot open the database under {config.base_path}: {e}{fix}") from None
    servers = []
    try:
        try:
            await node.start()
            api = await start_grpc_server(
                node, config.grpc_host, config.grpc_port, node.extra_grpc_services()
            )
            servers.append(api)
            log.info("gRPC API on %s:%d", config.grpc_host, api.port)
            if config.rpc_port is not None:
                rpc = await node.start_json_rpc()
                if rpc is not None:
                    log.info("JSON-RPC on %s:%d (HTTP and WebSocket)", config.rpc_host, rpc.port)
        except (OSError, TransportError) as e:
            raise NodeStartError(str(e)) from None
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(node.halted.wait())}
        _done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()
    finally:
        log.info("shutting down")
        for server in servers:
            await server.stop(grace=1.0)
        await node.stop()
    if node.halt_reason is not None:
        raise NodeHalted(node.halt_reason)
