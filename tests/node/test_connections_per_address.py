"""The per-address cap on a gRPC listener's TCP connections (chain.network.connections_per_address), against
a real grpc.aio server on loopback: attackers bind 127.0.1.x so that 127.0.0.1 plays the honest client."""

from __future__ import annotations

import asyncio
import socket

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from chain.network.connections_per_address import ConnectionsPerAddress, connections_to, host_of
from chain.network.transport import server_options
from tests.faults.attacks import HTTP2_CLIENT_PREFACE

pytestmark = pytest.mark.skipif(not ConnectionsPerAddress.available(), reason="needs Linux's /proc")


@pytest.mark.parametrize(
    ("field", "host"),
    [
        ("0100007F", "127.0.0.1"),
        ("0101007F", "127.0.1.1"),
        ("0000000000000000FFFF00000100007F", "127.0.0.1"),  # IPv4 mapped into IPv6: a dual-stack listener
        ("00000000000000000000000001000000", "::1"),
        ("B80D0120000000000000000001000000", "2001:db8::1"),
    ],
)
def test_socket_table_addresses_read_as_text(field, host):
    assert host_of(field) == host


def handshaken(port: int, source: str, count: int) -> list[socket.socket]:
    """`count` connections from `source` that finish HTTP/2's handshake and then make no call."""
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(HTTP2_CLIENT_PREFACE)
        s.setblocking(False)
        socks.append(s)
    return socks


def closed_by_server(s: socket.socket) -> bool:
    try:
        while s.recv(65536):
            pass
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_connections_over_a_hosts_cap_are_closed_latest_first_and_other_hosts_are_untouched():
    async def scenario():
        server = grpc.aio.server(options=server_options(1000))
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        cap = ConnectionsPerAddress(10, "test listener", interval=0.2)
        cap.start(port)
        try:
            early = handshaken(port, "127.0.1.1", 10)
            await asyncio.sleep(0.5)  # swept once: these ten are the host's oldest
            late = handshaken(port, "127.0.1.1", 25)
            other = handshaken(port, "127.0.1.2", 10)
            await asyncio.sleep(1.5)
            assert [closed_by_server(s) for s in early] == [False] * 10, "the host's first ten were cut"
            assert all(closed_by_server(s) for s in late), "connections over the cap stayed open"
            assert not any(closed_by_server(s) for s in other), "a host within its cap lost connections"
            assert cap.closed == 25
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
                assert answer.status == health_pb2.HealthCheckResponse.SERVING
            for s in early + late + other:
                s.close()
            await asyncio.sleep(0.5)
            assert not [host for _, host in connections_to(port) if host.startswith("127.0.1.")]
        finally:
            await cap.stop()
            await server.stop(0)

    asyncio.run(scenario())


def test_a_sweep_with_nothing_over_the_cap_closes_nothing():
    async def scenario():
        server = grpc.aio.server()
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        cap = ConnectionsPerAddress(5, "test listener")
        cap.port = port
        socks = handshaken(port, "127.0.1.3", 5)
        try:
            await asyncio.sleep(0.3)
            assert cap.sweep() == 0
            assert sorted(host for _, host in connections_to(port)) == ["127.0.1.3"] * 5
        finally:
            for s in socks:
                s.close()
            await server.stop(0)

    asyncio.run(scenario())
