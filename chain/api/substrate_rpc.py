"""Substrate's JSON-RPC on `--rpc-port`: the legacy subset py-substrate-interface and @polkadot/api use, and
the new JSON-RPC spec that polkadot-api and smoldot use.

`start_substrate_rpc(node)` serves the `system`, `chain`, `state`, `author` and `payment` namespaces, and
the new spec's `chainHead_v1`, `chainSpec_v1`, `transaction_v1`, `transactionWatch_v1` and `archive_v1`
(see `chain.api.rpc`), over HTTP and WebSocket on one port. `--rpc-methods auto` allows unsafe methods only when
the server listens on a loopback address, as Substrate does; `safe` never, `unsafe` always.
"""

from __future__ import annotations

import ipaddress

from chain.api.jsonrpc_server import JsonRpcServer
from chain.api.rpc import archive, author, chain, chain_head, payment, spec_v1, state, system


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unsafe_allowed(rpc_methods: str, host: str) -> bool:
    if rpc_methods == "unsafe":
        return True
    if rpc_methods == "safe":
        return False
    return is_loopback(host)


def build_substrate_rpc(node) -> JsonRpcServer:
    """The server with every method registered, not yet listening (tests use it without a socket)."""
    config = node.config
    server = JsonRpcServer(
        config.rpc_host,
        config.rpc_port,
        allow_unsafe=unsafe_allowed(config.rpc_methods, config.rpc_host),
        cors=config.rpc_cors,
        max_connections=config.rpc_max_connections,
        max_connections_per_address=config.rpc_max_connections_per_ip,
    )
    for namespace in (system, chain, state, author, payment, chain_head, spec_v1, archive):
        namespace.register(server, node)

    @server.method("rpc_methods")
    async def rpc_methods() -> dict:
        """Every method and alias this server answers on this interface (unsafe ones only where allowed)."""
        return {"methods": server.method_names()}

    return server


async def start_substrate_rpc(node) -> JsonRpcServer:
    server = build_substrate_rpc(node)
    await server.start()
    return server
