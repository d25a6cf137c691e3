"""The server's access policy, in process: which interfaces get unsafe methods, and how they are hidden."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from chain.api.jsonrpc_server import JsonRpcServer
from chain.api.substrate_rpc import unsafe_allowed
from chain.cli.node import parse_cors


@pytest.mark.parametrize(
    ("methods", "host", "allowed"),
    [
        ("auto", "127.0.0.1", True),
        ("auto", "localhost", True),
        ("auto", "::1", True),
        ("auto", "0.0.0.0", False),
        ("auto", "192.168.1.5", False),
        ("safe", "127.0.0.1", False),
        ("unsafe", "0.0.0.0", True),
    ],
)
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


async def _connect_beyond_the_cap() -> tuple[bool, int]:
    server = JsonRpcServer("127.0.0.1", 0, allow_unsafe=False, cors=None, max_connections=1)
    port = await server.start()
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"ws://127.0.0.1:{port}/"):
            with pytest.raises(aiohttp.ClientConnectionError):  # closed as soon as it is accepted
                await session.ws_connect(f"ws://127.0.0.1:{port}/")
            return server.gate.refused > 0, len(server._connections)  # aiohttp may retry once
    finally:
        await server.stop()


def test_connections_beyond_rpc_max_connections_are_refused():
    assert asyncio.run(_connect_beyond_the_cap()) == (True, 1)


async def _ask_with_origins(cors: list[str], origins: list[str | None]) -> list[tuple[int, str | None]]:
    server = JsonRpcServer("127.0.0.1", 0, allow_unsafe=False, cors=cors)

    @server.method("system_name")
    async def system_name() -> str:
        return "gradchain"

    port = await server.start()
    answers = []
    try:
        async with aiohttp.ClientSession() as session:
            for origin in origins:
                headers = {} if origin is None else {"Origin": origin}
                body = {"jsonrpc": "2.0", "id": 1, "method": "system_name", "params": []}
                async with session.post(f"http://127.0.0.1:{port}/", json=body, headers=headers) as response:
                    answers.append((response.status, response.headers.get("Access-Control-Allow-Origin")))
                try:
                    async with session.ws_connect(f"ws://127.0.0.1:{port}/", headers=headers):
                        answers.append((101, None))
                except aiohttp.WSServerHandshakeError as e:
                    answers.append((e.status, None))
    finally:
        await server.stop()
    return answers


@pytest.mark.parametrize(
    ("flag", "origin", "http", "ws"),
    [
        ("none", None, 200, 101),  # not a browser: served
        ("none", "http://localhost:3000", 403, 403),
        ("none", "https://evil.example", 403, 403),
        ("http://localhost:*,https://app.example", "http://localhost:3000", 200, 101),
        ("http://localhost:*,https://app.example", "https://app.example", 200, 101),
        ("http://localhost:*,https://app.example", "https://evil.example", 403, 403),
        ("all", "https://evil.example", 200, 101),
    ],
)
def test_rpc_cors_allows_only_the_listed_origins(flag, origin, http, ws):
    (status, allow), (ws_status, _) = asyncio.run(_ask_with_origins(parse_cors(flag), [origin]))
    assert (status, ws_status) == (http, ws)
    if status == 200 and origin is not None:
        assert allow == origin


@pytest.mark.parametrize("flag", ["", " , ", "localhost", "evil.example,http://localhost:*"])
def test_rpc_cors_flag_rejects_what_is_not_an_origin(flag):
    import click

    with pytest.raises(click.BadParameter, match="origin"):
        parse_cors(flag)
