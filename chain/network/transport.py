"""The peer transport: ordered, framed message streams between two nodes.

The node speaks to peers only through `Transport` and `Connection`, so tests can swap the real grpc.aio
transport for an in-memory one, and fault tests can drop traffic between chosen peers (`PartitionFilter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import grpc
import grpc.aio

from chain.network.connections_per_address import ConnectionsPerAddress
from chain.network.descriptors import P2P_SHARE, connection_cap
from proto import p2p_pb2, p2p_pb2_grpc

log = logging.getLogger("gradchain.network")

MAX_PEER_MESSAGE_BYTES = 16 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_PEER_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_PEER_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.so_reuseport", 0),
    ("grpc.use_local_subchannel_pool", 1),  # one TCP connection per peer, never shared between channels
]
HANDSHAKE_TIMEOUT_MS = 5_000  # a TCP connection that has not completed HTTP/2's preface by then is closed
IDLE_CONNECTION_MS = 60_000  # a connection with no stream open for this long is closed
MAX_STREAMS_PER_CONNECTION = 16  # a peer needs one
DEFAULT_PER_ADDRESS = 64  # TCP connections from one remote host (chain.network.connections_per_address)


def server_options(max_connections: int) -> list[tuple[str, int]]:
    """The p2p listener's options: the client ones, plus caps and timeouts for what hostile clients hold."""
    return [
        *GRPC_OPTIONS,
        ("grpc.max_allowed_incoming_connections", max_connections),
        ("grpc.server_handshake_timeout_ms", HANDSHAKE_TIMEOUT_MS),
        ("grpc.max_connection_idle_ms", IDLE_CONNECTION_MS),
        ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
    ]


class TransportError(ConnectionError):
    """A peer could not be reached, or its stream broke."""


class Connection(Protocol):
    remote: str
    outbound: bool

    async def send(self, msg: p2p_pb2.PeerMessage) -> None: ...

    async def recv(self) -> p2p_pb2.PeerMessage | None: ...

    async def close(self) -> None: ...


InboundHandler = Callable[[Connection], Awaitable[None]]


class Transport(Protocol):
    async def listen(self, address: str, on_inbound: InboundHandler) -> str: ...

    async def dial(self, address: str) -> Connection: ...

    async def stop(self) -> None: ...


class _ClientConnection:
    def __init__(self, channel: grpc.aio.Channel, call, remote: str):
        self._channel, self._call, self.remote, self.outbound = channel, call, remote, True

    async def send(self, msg: p2p_pb2.PeerMessage) -> None:
        try:
            await self._call.write(msg)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError) as e:
            raise TransportError(f"send to {self.remote} failed: {e}") from None

    async def recv(self) -> p2p_pb2.PeerMessage | None:
        try:
            msg = await self._call.read()
        except (grpc.aio.AioRpcError, grpc.aio.UsageError) as e:
            log.debug("stream from %s ended: %s", self.remote, e)
            return None
        return None if msg is grpc.aio.EOF else msg

    async def close(self) -> None:
        self._call.cancel()
        await self._channel.close()


class _ServerConnection:
    def __init__(self, context: grpc.aio.ServicerContext, remote: str):
        self._context, self.remote, self.outbound = context, remote, False
        self.closed = asyncio.Event()
        self.task: asyncio.Task | None = None  # the RPC's handler; closing cancels it, which ends the stream

    async def send(self, msg: p2p_pb2.PeerMessage) -> None:
        if self.closed.is_set():
            raise TransportError(f"connection from {self.remote} is closed")
        try:
            await self._context.write(msg)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError, RuntimeError) as e:
            raise TransportError(f"send to {self.remote} failed: {e}") from None

    async def recv(self) -> p2p_pb2.PeerMessage | None:
        if self.closed.is_set():
            return None
        try:
            msg = await self._context.read()
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError, RuntimeError):
            return None
        return None if msg is grpc.aio.EOF else msg

    async def close(self) -> None:
        self.closed.set()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()


class _PeerServicer(p2p_pb2_grpc.PeerServicer):
    def __init__(self, on_inbound: InboundHandler):
        self._on_inbound = on_inbound

    async def Connect(self, request_iterator, context):  # noqa: N802 - gRPC method name
        conn = _ServerConnection(context, context.peer())
        conn.task = asyncio.current_task()
        try:
            await self._on_inbound(conn)
        finally:
            conn.closed.set()


class GrpcTransport:
    """Peers over grpc.aio: one bidirectional `Peer.Connect` stream per connection."""

    def __init__(
        self, max_connections: int | None = None, max_per_address: int = DEFAULT_PER_ADDRESS
    ) -> None:
        self._server: grpc.aio.Server | None = None
        self.max_connections = max_connections if max_connections is not None else connection_cap(P2P_SHARE)
        self.per_address = ConnectionsPerAddress(max_per_address, "p2p")

    async def listen(self, address: str, on_inbound: InboundHandler) -> str:
        self._server = grpc.aio.server(options=server_options(self.max_connections))
        p2p_pb2_grpc.add_PeerServicer_to_server(_PeerServicer(on_inbound), self._server)
        try:
            port = self._server.add_insecure_port(address)
        except RuntimeError as e:
            raise TransportError(f"cannot listen for peers on {address}: {e}") from None
        if port == 0:
            raise TransportError(f"cannot listen for peers on {address}: the port is busy or not available")
        await self._server.start()
        self.per_address.start(port)
        host = address.rsplit(":", 1)[0]
        return f"{host}:{port}"

    async def dial(self, address: str) -> Connection:
        channel = grpc.aio.insecure_channel(address, options=GRPC_OPTIONS)
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout=3.0)
        except (TimeoutError, grpc.aio.AioRpcError) as e:
            await channel.close()
            raise TransportError(f"peer {address} is unreachable: {e or 'timed out'}") from None
        call = p2p_pb2_grpc.PeerStub(channel).Connect()
        return _ClientConnection(channel, call, address)

    async def stop(self) -> None:
        await self.per_address.stop()
        if self._server is not None:
            await self._server.stop(grace=0.5)


class MemoryTransport:
    """An in-process transport for tests: addresses are names in a shared `MemoryNetwork`."""

    def __init__(self, network: MemoryNetwork):
        self._network = network
        self._address: str | None = None

    async def listen(self, address: str, on_inbound: InboundHandler) -> str:
        self._network.listeners[address] = on_inbound
        self._address = address
        return address

    async def dial(self, address: str) -> Connection:
        handler = self._network.listeners.get(address)
        if handler is None:
            raise TransportError(f"peer {address} is unreachable")
        a_to_b: asyncio.Queue = asyncio.Queue()
        b_to_a: asyncio.Queue = asyncio.Queue()
        ours = _MemoryConnection(address, True, b_to_a, a_to_b)
        theirs = _MemoryConnection(self._address or "anon", False, a_to_b, b_to_a)
        task = asyncio.get_running_loop().create_task(handler(theirs))
        self._network.tasks.add(task)
        task.add_done_callback(self._network.tasks.discard)
        return ours

    async def stop(self) -> None:
        if self._address is not None:
            self._network.listeners.pop(self._address, None)


class MemoryNetwork:
    def __init__(self) -> None:
        self.listeners: dict[str, InboundHandler] = {}
        self.tasks: set[asyncio.Task] = set()


class _MemoryConnection:
    def __init__(self, remote: str, outbound: bool, inbox: asyncio.Queue, outbox: asyncio.Queue):
        self.remote, self.outbound, self._inbox, self._outbox = remote, outbound, inbox, outbox
        self._closed = False

    async def send(self, msg: p2p_pb2.PeerMessage) -> None:
        if self._closed:
            raise TransportError(f"connection to {self.remote} is closed")
        await self._outbox.put(msg.SerializeToString())

    async def recv(self) -> p2p_pb2.PeerMessage | None:
        data = await self._inbox.get()
        if data is None:
            self._closed = True
            return None
        return p2p_pb2.PeerMessage.FromString(data)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._outbox.put_nowait(None)
                self._inbox.put_nowait(None)
