"""The server's access policy, in process: which interfaces get unsafe methods, and how they are hidden."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from chain.api.jsonrpc_server import JsonRpcServer
from chain.api.substrate_rpc import unsafe_allowed


@pytest.mark.parametrize(("methods", "host", "allowed"), [
    ("auto", "127.0.0.1", True), ("auto", "localhost", True), ("auto", "::1", True),
    ("auto", "0.0.0.0", False), ("auto", "192.168.1.5", False),
    ("safe", "127.0.0.1", False), ("unsafe", "0.0.0.0", True),
])
def test_rpc_methods_auto_means_unsafe_only_on_loopback(methods, host, allowed):
    assert unsafe_allowed(methods, host) is allowed


async def _serve_and_ask(allow_unsafe: bool) -> tuple[dict, dict]:
    server = JsonRpcServer("127.0.0.1", 0, allow_unsafe=allow_unsafe, cors=None)

    @server.method("system_peers", unsafe=True)
    async def system_peers() -> list:
        return []

    @server.method("rpc_methods")
    async def rpc_methods() -> dict:
        return {"methods": server.method_names()}

    port = await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async def ask(method: str) -> dict:
                body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": []}
                async with session.post(f"http://127.0.0.1:{port}/", json=body) as response:
                    return await response.json()
            return await ask("system_peers"), await ask("rpc_methods")
    finally:
        await server.stop()


def test_unsafe_methods_are_absent_on_a_safe_interface():
    peers, methods = asyncio.run(_serve_and_ask(allow_unsafe=False))
    assert peers["error"]["code"] == -32601
    assert "system_peers" not in methods["result"]["methods"]


def test_unsafe_methods_are_served_where_allowed():
    peers, methods = asyncio.run(_serve_and_ask(allow_unsafe=True))
    assert peers["result"] == []
    assert "system_peers" in methods["result"]["methods"]


async def _connect_beyond_the_cap() -> int:
    server = JsonRpcServer("127.0.0.1", 0, allow_unsafe=False, cors=None, max_connections=1)
    port = await server.start()
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"ws://127.0.0.1:{port}/"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"ws://127.0.0.1:{port}/")
            return refused.value.status
    finally:
        await server.stop()


def test_connections_beyond_rpc_max_connections_are_refused():
    assert asyncio.run(_connect_beyond_the_cap()) == 503
