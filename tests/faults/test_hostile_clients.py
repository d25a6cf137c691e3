"""Hostile clients on loopback: each breaks one rule and is refused, and an honest client is still served.

JSON-RPC clients meet a real `JsonRpcServer` and get a JSON-RPC error (or a closed connection); blob
uploaders meet a real gRPC `BlobService` over a `BlobStore` with small quotas, and nothing they sent is kept.

The server runs in process with a few methods shaped like Substrate's (`state_getStorage(key, at)`), so the
limits are tested without a node; `tests/rpc/test_hostile_requests.py` repeats the ones that need the
Substrate API itself (metadata batches) against a dev node.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from chain.api.blob_service import BlobService
from chain.api.jsonrpc_server import INVALID_PARAMS, INVALID_REQUEST, OVERSIZED_RESPONSE, JsonRpcServer
from chain.blobs import BlobStore
from chain.network.call_limits import CallsPerAddress
from chain.node.config import ConfigError, NodeConfig
from chain.primitives.hashing import blake2_256
from proto import blob_pb2, blob_pb2_grpc
from tests.faults.attacks import dev_node, grpc_answers, upload_blob, wait_for

BIG = "0x" + "ab" * 20_000  # an answer of about 40 kB


def rpc_server(**limits) -> JsonRpcServer:
    server = JsonRpcServer("127.0.0.1", limits.pop("port", 0), allow_unsafe=False, cors=None, **limits)

    @server.method("state_getStorage")
    async def state_get_storage(key, at=None) -> list:
        return [key, at]

    @server.method("system_name")
    async def system_name() -> str:
        return "gradchain"

    @server.method("state_getMetadata")
    async def state_get_metadata(at=None) -> str:
        return BIG

    return server


def serve(test: Callable[[JsonRpcServer, str], Awaitable], **limits):
    async def run():
        server = rpc_server(**limits)
        port = await server.start()
        try:
            return await test(server, f"http://127.0.0.1:{port}/")
        finally:
            await server.stop()

    return asyncio.run(run())


async def post(url: str, body: bytes | str | dict | list) -> tuple[int, object]:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    async with aiohttp.ClientSession() as session, session.post(url, data=data) as response:
        return response.status, await response.json(content_type=None)


def call(method: str, params, rid: object = 1) -> dict:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}


async def honest(url: str) -> object:
    return (await post(url, call("system_name", [])))[1]["result"]


def test_invalid_100k_deep_nesting_is_32600_not_http_500():
    async def attack(server, url):
        deep = (
            b'{"jsonrpc":"2.0","id":1,"method":"system_name","params":'
            + b"[" * 100_000
            + b"]" * 100_000
            + b"}"
        )
        return await post(url, deep), await post(url, b"[" * 200 + b"]" * 200), await honest(url)

    (status, answer), (_, shallower), name = serve(attack)
    assert (
        status == 200
        and answer["error"]["code"] == INVALID_REQUEST
        and "nests deeper" in answer["error"]["message"]
    )
    assert (
        shallower["error"]["code"] == INVALID_REQUEST
    )  # 200 levels: parsed by json, refused by the depth check
    assert name == "gradchain"


def test_invalid_id_of_5000_digits_is_32600_and_a_param_of_5000_digits_is_32602():
    async def attack(server, url):
        huge = "9" * 5000
        by_id = await post(url, f'{{"jsonrpc":"2.0","id":{huge},"method":"system_name","params":[]}}')
        by_param = await post(
            url, f'{{"jsonrpc":"2.0","id":7,"method":"state_getStorage","params":[{huge}]}}'
        )
        batch = await post(
            url,
            f'[{{"jsonrpc":"2.0","id":{huge},"method":"system_name"}},'
            f'{{"jsonrpc":"2.0","id":8,"method":"system_name"}}]',
        )
        return by_id, by_param, batch

    (id_status, by_id), (_, by_param), (_, batch) = serve(attack)
    assert id_status == 200 and by_id["error"]["code"] == INVALID_REQUEST and by_id["id"] is None
    assert by_param["error"]["code"] == INVALID_PARAMS and by_param["id"] == 7
    assert batch[0]["error"]["code"] == INVALID_REQUEST and batch[1] == {
        "jsonrpc": "2.0",
        "id": 8,
        "result": "gradchain",
    }


@pytest.mark.parametrize(
    ("params", "bound"),
    [
        ({"at": "0xbb", "key": "0xaa"}, ["0xaa", "0xbb"]),
        ({"key": "0xaa"}, ["0xaa", None]),
        (["0xaa", "0xbb"], ["0xaa", "0xbb"]),
    ],
)
def test_named_params_bind_by_name(params, bound):
    async def ask(server, url):
        return await post(url, call("state_getStorage", params))

    assert serve(ask)[1]["result"] == bound


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"key": "0xaa", "block": "0xbb"}, "'block'"),
        ({"at": "0xbb"}, "'key'"),
    ],
)
def test_invalid_named_params_unknown_or_missing_are_32602_naming_them(params, named):
    async def ask(server, url):
        return await post(url, call("state_getStorage", params))

    error = serve(ask)[1]["error"]
    assert error["code"] == INVALID_PARAMS and named in error["message"]


def test_invalid_oversized_answer_is_refused_with_a_clear_error():
    async def attack(server, url):
        return await post(url, call("state_getMetadata", [])), await honest(url)

    (_, answer), name = serve(attack, max_response_bytes=30_000)
    assert (
        answer["error"]["code"] == OVERSIZED_RESPONSE
        and answer["id"] == 1
        and "exceeds 30000" in answer["error"]["data"]
    )
    assert name == "gradchain"


def test_invalid_batch_whose_answers_pass_the_cap_is_refused_and_a_small_one_served():
    async def attack(server, url):
        batch = await post(url, [call("state_getMetadata", [], rid=i) for i in range(40)])
        small_batch = await post(url, [call("system_name", [], rid=i) for i in range(40)])
        return batch, small_batch

    (status, batch), (_, small_batch) = serve(attack, max_batch_response_bytes=200_000)
    assert (
        status == 200
        and batch["error"]["code"] == OVERSIZED_RESPONSE
        and "fewer requests" in batch["error"]["data"]
    )
    assert [a["result"] for a in small_batch] == ["gradchain"] * 40


def test_restart_right_after_serving_binds_the_same_port_at_once():
    async def restart():
        first = rpc_server()
        port = await first.start()
        async with aiohttp.ClientSession() as session:  # a kept-alive connection the server closes first
            async with session.post(f"http://127.0.0.1:{port}/", json=call("system_name", [])) as response:
                assert response.status == 200
            await first.stop()
        second = rpc_server(port=port)
        assert await second.start() == port
        try:
            return await honest(f"http://127.0.0.1:{port}/")
        finally:
            await second.stop()

    assert asyncio.run(restart()) == "gradchain"


async def connection_state(loop, sock: socket.socket) -> str:
    try:
        return "closed" if await asyncio.wait_for(loop.sock_recv(sock, 1), 0.3) == b"" else "answered"
    except ConnectionResetError:
        return "closed"
    except TimeoutError:
        return "open"


def test_invalid_connections_over_the_per_address_cap_are_closed_and_the_rest_still_served():
    async def attack(server, url):
        port = int(url.rsplit(":", 1)[1].strip("/"))
        loop = asyncio.get_running_loop()
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        for s in idle:
            s.setblocking(False)
        states = [await connection_state(loop, s) for s in idle]
        for s in idle:
            s.close()
        await asyncio.sleep(0.1)
        return states, server.gate.refused, await honest(url)

    states, refused, name = serve(attack, max_connections_per_address=3)
    assert states == ["open"] * 3 + ["closed"] * 2 and refused == 2
    assert name == "gradchain"


def test_invalid_idle_websockets_time_out_and_never_lock_http_out():
    async def attack(server, url):
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(url) for _ in range(server.max_websockets)]
            with pytest.raises(aiohttp.WSServerHandshakeError) as full:
                await session.ws_connect(url)
            served_while_full = await honest(url)  # HTTP keeps its share of the connections
            await asyncio.sleep(1.5)
            closed = [
                ws.closed
                or (await ws.receive(timeout=1)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                for ws in sockets
            ]
            for ws in sockets:
                await ws.close()
            async with session.ws_connect(url) as again:
                await again.send_json(call("system_name", []))
                answer = (await again.receive_json(timeout=2))["result"]
        return full.value.status, served_while_full, all(closed), answer

    status, served, all_closed, answer = serve(
        attack, max_connections=10, max_connections_per_address=10, idle_timeout=1.0
    )
    assert status == 503 and served == "gradchain" and all_closed and answer == "gradchain"


def test_invalid_silent_tcp_connection_is_closed_after_the_idle_timeout():
    async def attack(server, url):
        port = int(url.rsplit(":", 1)[1].strip("/"))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\n")  # half a request, then silence
        closed = await asyncio.wait_for(reader.read(), 5.0)
        writer.close()
        return closed

    assert serve(attack, idle_timeout=0.5) == b""


# --- blob uploaders ---------------------------------------------------------------------------------------------


def blob_service(tmp_path, test: Callable[[BlobStore, blob_pb2_grpc.BlobServiceStub], Awaitable], **quotas):
    async def run():
        store = BlobStore(
            tmp_path / "blobs",
            max_total_bytes=quotas.get("total", 10_000),
            max_uploader_bytes=quotas.get("uploader", 10_000),
        )
        server = grpc.aio.server()
        blob_pb2_grpc.add_BlobServiceServicer_to_server(BlobService(store, idle_timeout=0.5), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                return await test(store, blob_pb2_grpc.BlobServiceStub(channel))
        finally:
            await server.stop(None)

    return asyncio.run(run())


async def upload(stub, chunks) -> grpc.StatusCode:
    """Send `chunks` (a list, or an async generator) and return the status the node answers with."""

    async def stream():
        if isinstance(chunks, list):
            for chunk in chunks:
                yield chunk
        else:
            async for chunk in chunks:
                yield chunk

    try:
        await stub.PutBlob(stream(), timeout=10)
    except grpc.aio.AioRpcError as e:
        return e.code()
    return grpc.StatusCode.OK


def announced(size: int, data: bytes, *rest: bytes) -> list:
    return [blob_pb2.BlobChunk(size=size, data=data), *(blob_pb2.BlobChunk(data=d) for d in rest)]


def nothing_kept(store: BlobStore) -> bool:
    return (
        store.stored_bytes == 0
        and not list(store.root.glob(".upload-*"))
        and not list(store.root.glob("??/*"))
    )


@pytest.mark.parametrize(
    "chunks", [announced(10, b"x" * 6, b"x" * 6), announced(10, b"x" * 6), announced(0, b"x")]
)
def test_invalid_upload_that_differs_from_its_announced_size_is_refused_and_keeps_nothing(tmp_path, chunks):
    async def attack(store, stub):
        return await upload(stub, chunks), nothing_kept(store), await upload(stub, announced(3, b"abc"))

    assert blob_service(tmp_path, attack) == (grpc.StatusCode.INVALID_ARGUMENT, True, grpc.StatusCode.OK)


def test_invalid_idle_and_empty_upload_streams_are_ended(tmp_path):
    async def stalls():
        yield blob_pb2.BlobChunk(size=10, data=b"x")
        await asyncio.sleep(5)

    async def empties():
        yield blob_pb2.BlobChunk(size=10, data=b"x")
        while True:
            yield blob_pb2.BlobChunk()

    async def attack(store, stub):
        started = asyncio.get_running_loop().time()
        stalled = await upload(stub, stalls())
        waited = asyncio.get_running_loop().time() - started
        return stalled, waited, await upload(stub, empties()), nothing_kept(store)

    stalled, waited, empty, kept_nothing = blob_service(tmp_path, attack)
    assert stalled == grpc.StatusCode.DEADLINE_EXCEEDED and waited < 3
    assert empty == grpc.StatusCode.INVALID_ARGUMENT and kept_nothing


def test_invalid_uploads_past_the_uploader_and_total_quotas_are_refused(tmp_path):
    async def attack(store, stub):
        statuses = [await upload(stub, announced(400, bytes([i]) * 400)) for i in range(4)]
        return statuses, store.stored_bytes

    statuses, stored = blob_service(tmp_path, attack, uploader=1_000)
    assert statuses == [grpc.StatusCode.OK] * 2 + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2 and stored == 800

    async def fill(store, stub):
        first = await upload(stub, announced(600, b"a" * 600))
        second = await upload(stub, announced(600, b"b" * 600))
        return first, second, store.has(blake2_256(b"b" * 600))

    assert blob_service(tmp_path / "total", fill, total=1_000) == (
        grpc.StatusCode.OK,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        False,
    )


# --- gRPC callers and limits ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_invalid_upload_past_the_nodes_configured_uploader_quota_is_refused(tmp_path):
    """`--blob-uploader-quota 1` (MiB) on a live node: a 2 MiB upload is RESOURCE_EXHAUSTED naming the quota,
    and one of 512 KiB from the same address is still stored."""
    net, node = dev_node(tmp_path, extra=("--blob-uploader-quota", "1", "--blob-store-quota", "4"))
    with net:
        wait_for(lambda: grpc_answers(node), 60, "the node's gRPC API", node)
        with pytest.raises(grpc.RpcError) as refused:
            upload_blob(node, os.urandom(2 * 1024 * 1024))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "quota of 1048576" in refused.value.details()
        small = os.urandom(512 * 1024)
        assert upload_blob(node, small) == blake2_256(small)


def test_invalid_calls_over_the_per_address_cap_are_refused_and_served_again_once_others_end():
    """Three Health.Watch streams from 127.0.0.1 against a cap of two: the third is RESOURCE_EXHAUSTED, and
    once one of the first two ends, a new call from the same address is served."""

    async def run():
        limits = CallsPerAddress(2, "test")
        server = grpc.aio.server(interceptors=[limits])
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                watches = [stub.Watch(health_pb2.HealthCheckRequest()) for _ in range(2)]
                for watch in watches:
                    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                watches[0].cancel()
                await asyncio.sleep(0.2)
                served = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                watches[1].cancel()
                return refused.value.code(), refused.value.details(), served.status, limits.refused
        finally:
            await server.stop(None)

    code, details, served, refused = asyncio.run(run())
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "127.0.0.1 already has 2 calls open" in details
    assert served == health_pb2.HealthCheckResponse.SERVING and refused == 1


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"max_peers": 8}, "--max-peers 8"),
        ({"rpc_max_connections_per_ip": 0}, "--rpc-max-connections-per-ip 0"),
        ({"p2p_max_connections": 20, "max_peers": 32}, "--p2p-max-connections 20"),
        ({"grpc_max_connections": 0}, "--grpc-max-connections 0"),
        ({"grpc_max_calls_per_ip": 100_001}, "--grpc-max-calls-per-ip 100001"),
        ({"p2p_max_connections_per_ip": 0}, "--p2p-max-connections-per-ip 0"),
        ({"grpc_max_connections_per_ip": 100_001}, "--grpc-max-connections-per-ip 100001"),
        ({"blob_store_quota_mib": 0}, "--blob-store-quota 0 MiB"),
        ({"blob_store_quota_mib": 100, "blob_uploader_quota_mib": 200}, "--blob-uploader-quota 200 MiB"),
    ],
)
def test_invalid_connection_limits_are_refused_naming_the_flag(limits, named):
    with pytest.raises(ConfigError) as refused:
        NodeConfig(**limits).check()
    assert named in str(refused.value)


def test_connection_limit_flags_are_range_checked_and_listed_in_help():
    from click.testing import CliRunner

    from chain.cli.node import node

    result = CliRunner().invoke(node, ["--max-peers", "5"])
    assert result.exit_code == 2 and "--max-peers" in result.output
    help_text = CliRunner().invoke(node, ["--help"]).output
    for flag in (
        "--rpc-max-connections-per-ip",
        "--max-peers",
        "--p2p-max-connections",
        "--grpc-max-connections",
        "--grpc-max-calls-per-ip",
        "--p2p-max-connections-per-ip",
        "--grpc-max-connections-per-ip",
        "--blob-store-quota",
        "--blob-uploader-quota",
    ):
        assert flag in help_text
