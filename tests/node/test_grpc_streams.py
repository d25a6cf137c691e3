"""gRPC server streams and slow subscribers: the real ChainService, served in-process with a small queue.

The node calls stream callbacks from inside block import and transaction watching; a subscriber that
cannot keep up must neither raise there nor miss messages unnoticed. Its stream ends with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from chain.api.grpc_api import ChainService, server_options
from chain.api.safe_handlers import add_servicer
from chain.network.call_limits import CallsPerAddress
from chain.primitives.hashing import blake2_256
from chain.primitives.types import Header
from chain.txpool import TxStatus
from proto import chain_pb2, chain_pb2_grpc

QUEUE = 4
XT = b"\x10not-decoded-here"


class CallbackNode:
    """The part of a Node that the streams touch; the test fires its callbacks as block import would."""

    def __init__(self):
        self.listeners: dict[str, list] = {"new_head": [], "finalized_head": [], "events": []}
        self.watchers: dict[bytes, list] = {}

    def subscribe(self, kind: str, callback):
        self.listeners[kind].append(callback)
        return lambda: self.listeners[kind].remove(callback)

    def watch(self, tx_hash: bytes, callback):
        self.watchers.setdefault(tx_hash, []).append(callback)
        return lambda: self.watchers[tx_hash].remove(callback)

    def submit_extrinsic(self, raw: bytes) -> bytes:
        return blake2_256(raw)

    def import_block(self, number: int) -> Header:
        """Call every head listener synchronously, as Node._import does; any exception would reach the node."""
        header = Header(b"\x00" * 32, number, b"\x01" * 32, b"\x02" * 32)
        for listener in list(self.listeners["new_head"]):
            listener(header)
        return header

    def report(self, tx_hash: bytes, status: TxStatus) -> None:
        for watcher in list(self.watchers.get(tx_hash, ())):
            watcher(status, None)


async def until(predicate, what: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def serve(scenario, **server_kwargs):
    """Run `scenario(node, stub)` against a ChainService with a QUEUE-deep stream queue on a loopback port
    (`server_kwargs` go to grpc.aio.server: the node's own options and interceptors)."""

    async def main():
        node = CallbackNode()
        server = grpc.aio.server(**server_kwargs)
        add_servicer(
            server,
            chain_pb2.DESCRIPTOR.services_by_name["ChainService"],
            ChainService(node, stream_queue=QUEUE),
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await asyncio.wait_for(scenario(node, chain_pb2_grpc.ChainServiceStub(channel)), 20)
        finally:
            await server.stop(grace=None)

    asyncio.run(main())


def test_subscriber_that_keeps_up_gets_every_head_in_order():
    async def scenario(node, stub):
        call = stub.SubscribeNewHeads(chain_pb2.Empty())
        await until(lambda: node.listeners["new_head"], "the stream to subscribe")
        sent = [node.import_block(n).hash for n in range(1, QUEUE + 1)]
        received = [bytes((await call.read()).hash) for _ in sent]
        assert received == sent
        call.cancel()
        await until(lambda: not node.listeners["new_head"], "the cancelled stream to unsubscribe")

    serve(scenario)


def test_invalid_overflowing_head_subscriber_ends_with_resource_exhausted():
    async def scenario(node, stub):
        call = stub.SubscribeNewHeads(chain_pb2.Empty())
        await until(lambda: node.listeners["new_head"], "the stream to subscribe")
        for number in range(1, 3 * QUEUE + 1):  # no await between imports: the subscriber cannot read any
            node.import_block(number)
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            async for _ in call:
                pass
        assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "fell behind" in ended.value.details()
        await until(lambda: not node.listeners["new_head"], "the ended stream to unsubscribe")
        node.import_block(3 * QUEUE + 1)  # the node carries on

    serve(scenario)


def test_invalid_overflowing_extrinsic_watcher_ends_with_resource_exhausted():
    async def scenario(node, stub):
        tx_hash = blake2_256(XT)
        call = stub.WatchExtrinsic(chain_pb2.SubmitRequest(extrinsic=XT))
        await until(lambda: node.watchers.get(tx_hash), "the watch to register")
        for _ in range(3 * QUEUE):  # formerly put_nowait raised QueueFull here, inside the node's callback
            node.report(tx_hash, TxStatus.READY)
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            async for _ in call:
                pass
        assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "fell behind" in ended.value.details()
        await until(lambda: not node.watchers[tx_hash], "the ended watch to unregister")

    serve(scenario)


class Event:
    def __init__(self, pallet: str, name: str, args: dict):
        self.pallet, self.name, self.args = pallet, name, args


def serve_market(scenario):
    from chain.api.market_service import MarketService
    from proto import market_pb2, market_pb2_grpc

    async def main():
        node = CallbackNode()
        server = grpc.aio.server()
        add_servicer(server, market_pb2.DESCRIPTOR.services_by_name["MarketService"], MarketService(node))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await asyncio.wait_for(
                    scenario(node, market_pb2_grpc.MarketServiceStub(channel), market_pb2), 20
                )
        finally:
            await server.stop(grace=None)

    asyncio.run(main())


def fire_events(node: CallbackNode, number: int, events: list[Event]) -> None:
    header = Header(b"\x00" * 32, number, b"\x01" * 32, b"\x02" * 32)
    for listener in list(node.listeners["events"]):
        listener(header, [(0, e) for e in events])


def test_market_event_stream_carries_only_market_events_and_ends_when_the_subscriber_falls_behind():
    from chain.api.market_service import STREAM_QUEUE

    async def scenario(node, stub, market_pb2):
        stream = stub.SubscribeMarketEvents(market_pb2.Empty())
        await until(lambda: node.listeners["events"], "the subscription")
        fire_events(
            node,
            1,
            [
                Event("Balances", "Transfer", {"amount": 1}),
                Event("ComputeMarket", "JobSubmitted", {"job_id": 7}),
            ],
        )
        first = await stream.read()
        assert (first.block_number, first.name, first.fields_json) == (1, "JobSubmitted", '{"job_id":7}')
        fire_events(
            node, 2, [Event("ComputeMarket", "Challenged", {"n": i}) for i in range(STREAM_QUEUE + 1)]
        )
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            while True:
                await stream.read()
        assert ended.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED

    serve_market(scenario)


def test_one_connection_may_use_its_whole_call_allowance_and_the_excess_is_typed():
    """With the node's own listener options and per-address cap (here 160 calls), one client connection opens
    150 streams and all are served; 40 more are refused with RESOURCE_EXHAUSTED naming the cap. None ends
    UNAVAILABLE: the HTTP/2 stream limit sits above the call cap (at 128 streams, grpc-core reset a pipelining
    client's 129th call with REFUSED_STREAM, which the client sees as UNAVAILABLE)."""
    cap = 160

    async def scenario(node, stub):
        calls = [stub.SubscribeNewHeads(chain_pb2.Empty()) for _ in range(150)]
        await until(lambda: len(node.listeners["new_head"]) == 150, "150 subscriptions", timeout=15)
        more = [stub.SubscribeNewHeads(chain_pb2.Empty()) for _ in range(40)]
        await until(
            lambda: len(node.listeners["new_head"]) == cap, "the subscriptions up to the cap", timeout=15
        )
        head = node.import_block(1).hash
        codes = {}
        for call in more:
            try:
                await call.read()
                codes["served"] = codes.get("served", 0) + 1
            except grpc.aio.AioRpcError as e:
                codes[e.code()] = codes.get(e.code(), 0) + 1
                assert e.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED or "160 calls open" in e.details()
        assert codes == {grpc.StatusCode.RESOURCE_EXHAUSTED: 30, "served": 10}, codes
        for call in calls:
            assert bytes((await call.read()).hash) == head
            call.cancel()

    serve(scenario, options=server_options(1000, cap), interceptors=[CallsPerAddress(cap, "gRPC API")])
