"""The public gRPC API: ChainService (and, registered beside it, BlobService and MarketService).

Every request is checked at the edge: a bad hash, address or size is INVALID_ARGUMENT with a message, an
unknown block NOT_FOUND, a rejected transaction FAILED_PRECONDITION with the runtime's reason. Health and
reflection are on, so `grpcurl -plaintext 127.0.0.1:50051 list` works without the .proto files.

A server stream is fed from node callbacks through a bounded queue per subscriber. A subscriber that falls
so far behind that its queue fills is not fed gaps: its stream ends with RESOURCE_EXHAUSTED, and the node,
whose callback only marks the overflow, carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from chain.api.blob_service import BlobService
from chain.api.convert import CorruptAccount, decode_events, read_account, to_json_text
from chain.api.safe_handlers import add_servicer
from chain.network.call_limits import CallsPerAddress
from chain.network.connections_per_address import ConnectionsPerAddress
from chain.network.descriptors import GRPC_SHARE, connection_cap
from chain.primitives.codec import DecodeError
from chain.primitives.crypto import InvalidAddress, decode_address, encode_address
from chain.primitives.extrinsic import UncheckedExtrinsic
from chain.primitives.hashing import blake2_256
from chain.primitives.types import Header
from chain.txpool import PoolError, TxStatus, describe
from proto import blob_pb2, chain_pb2, chain_pb2_grpc
from runtime.executive import decode_extrinsic
from runtime.pallets.system import EVENTS_KEY

MAX_GRPC_MESSAGE = 16 * 1024 * 1024
MAX_PROOF_KEYS = 256
STREAM_QUEUE = 256
# HTTP/2 streams one client connection may have open: above the per-address call cap, so that a client over
# its allowance gets that cap's typed RESOURCE_EXHAUSTED. At or below it, grpc-core resets the excess streams
# with REFUSED_STREAM, which a client sees as UNAVAILABLE ("Stream removed") for calls it had every right to
# make (a client pipelining 256 submissions on one channel lost a third of them at 128).
API_STREAMS_OVER_CALL_CAP = 64


def node_version() -> str:
    try:
        return version("gradchain")
    except PackageNotFoundError:
        return "0.0.0"


def header_message(header: Header) -> chain_pb2.Header:
    return chain_pb2.Header(
        hash=header.hash,
        parent_hash=header.parent_hash,
        number=header.number,
        state_root=header.state_root,
        extrinsics_root=header.extrinsics_root,
        digest=[d.encode() for d in header.digest],
        encoded=header.encode(),
    )


def event_messages(raw_events: bytes | None) -> list[chain_pb2.Event]:
    return [
        chain_pb2.Event(
            phase=phase,
            extrinsic_index=index,
            pallet=pallet,
            name=name,
            fields_json=to_json_text(fields),
            raw=raw,
        )
        for phase, index, pallet, name, fields, raw in decode_events(raw_events)
    ]


class Subscription:
    """The bounded queue between node callbacks and one gRPC server stream.

    `push` runs inside the node's block import and watch callbacks, so it never raises and never blocks:
    when the queue is full it records the overflow instead of dropping the item unseen, and `next` ends
    the stream with RESOURCE_EXHAUSTED, since every later item would follow a gap.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.queue: asyncio.Queue = asyncio.Queue(capacity)
        self.overflowed = False

    def push(self, *item) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True

    async def next(self, context) -> tuple:
        if self.overflowed:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the subscriber fell behind: more than {self.capacity} messages were waiting "
                "to be read, so the stream was ended rather than skip any; subscribe again",
            )
        return await self.queue.get()


class ChainService(chain_pb2_grpc.ChainServiceServicer):
    def __init__(self, node, stream_queue: int = STREAM_QUEUE):
        self.node = node
        self.stream_queue = stream_queue

    # --- helpers -------------------------------------------------------------------------------------------------

    async def _block_hash(
        self, at: chain_pb2.BlockRequest | None, context, default_head: bool = True
    ) -> bytes:
        chain = self.node.chain
        which = at.WhichOneof("at") if at is not None else None
        if which is None:
            if default_head:
                return chain.head_hash
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "give a block number or hash")
        if which == "number":
            h = chain.store.hash_at(at.number)
            if h is None:
                await context.abort(
                    grpc.StatusCode.NOT_FOUND, f"no block #{at.number}; the head is #{chain.number}"
                )
            return h
        if len(at.hash) != 32:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"a block hash is 32 bytes, got {len(at.hash)}"
            )
        if chain.store.header(bytes(at.hash)) is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no block 0x{bytes(at.hash).hex()}")
        return bytes(at.hash)

    def _state(self, block_hash: bytes):
        return self.node.chain.state_at(block_hash)

    # --- unary ---------------------------------------------------------------------------------------------------

    async def GetChainInfo(self, request, context):  # noqa: N802
        node, chain, props = self.node, self.node.chain, self.node.spec.properties
        v = node.runtime.version
        return chain_pb2.ChainInfo(
            chain_name=node.spec.name,
            chain_id=node.spec.id,
            chain_type=node.spec.chain_type,
            genesis_hash=node.spec.genesis_hash,
            best_number=chain.number,
            best_hash=chain.head_hash,
            finalized_number=chain.number,
            finalized_hash=chain.head_hash,
            spec_version=v.spec_version,
            transaction_version=v.transaction_version,
            ss58_format=props.get("ss58Format", 42),
            token_symbol=props.get("tokenSymbol", ""),
            token_decimals=props.get("tokenDecimals", 0),
            peers=len(node.network.peers),
            node_name=node.config.name,
            node_version=node_version(),
            is_validator=node.validator_key is not None,
        )

    async def GetHeader(self, request, context):  # noqa: N802
        h = await self._block_hash(request, context)
        return header_message(self.node.chain.header(h))

    async def GetBlock(self, request, context):  # noqa: N802
        h = await self._block_hash(request, context)
        block = self.node.chain.block(h)
        return chain_pb2.Block(
            header=header_message(block.header),
            extrinsics=list(block.extrinsics),
            justification=self.node.chain.justification(h) or b"",
        )

    async def GetExtrinsic(self, request, context):  # noqa: N802
        h = await self._block_hash(request.block, context)
        block = self.node.chain.block(h)
        if request.index >= len(block.extrinsics):
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"block #{block.header.number} has {len(block.extrinsics)} extrinsics, no index {request.index}",
            )
        raw = block.extrinsics[request.index]
        xt = UncheckedExtrinsic.decode(raw)
        msg = chain_pb2.Extrinsic(
            hash=blake2_256(raw), raw=raw, signed=xt.is_signed, index=request.index, block_hash=h
        )
        if xt.signature is not None:
            msg.signer = encode_address(xt.signature.signer)
            msg.nonce = xt.signature.nonce
            msg.tip = str(xt.signature.tip)
        with contextlib.suppress(Exception):
            _, call = decode_extrinsic(raw)
            msg.pallet, msg.call = call.func.pallet.name, call.func.name
            msg.args_json = to_json_text(call.args)
        events = decode_events(self._state(h).get(EVENTS_KEY))
        msg.success = not any(
            e[0] == "ApplyExtrinsic" and e[1] == request.index and e[3] == "ExtrinsicFailed" for e in events
        )
        return msg

    async def GetEvents(self, request, context):  # noqa: N802
        h = await self._block_hash(request, context)
        header = self.node.chain.header(h)
        return chain_pb2.Events(
            block_hash=h, block_number=header.number, events=event_messages(self._state(h).get(EVENTS_KEY))
        )

    async def GetAccount(self, request, context):  # noqa: N802
        try:
            account = decode_address(request.address)
        except InvalidAddress as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        h = await self._block_hash(request.at if request.HasField("at") else None, context)
        try:
            info = read_account(self._state(h), account)
        except CorruptAccount as e:
            await context.abort(
                grpc.StatusCode.DATA_LOSS, f"account {encode_address(account)} at block 0x{h.hex()}: {e}"
            )
        return chain_pb2.Account(
            account_id=account,
            address=encode_address(account),
            nonce=info.nonce,
            free=str(info.free),
            reserved=str(info.reserved),
            frozen=str(info.frozen),
            next_index=self.node.next_index(account),
        )

    async def GetStorage(self, request, context):  # noqa: N802
        if len(request.key) > 1024:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "storage keys are at most 1024 bytes")
        h = await self._block_hash(request.at if request.HasField("at") else None, context)
        value = self._state(h).get(bytes(request.key))
        return chain_pb2.StorageValue(present=value is not None, value=value or b"", block_hash=h)

    async def GetReadProof(self, request, context):  # noqa: N802
        if not 0 < len(request.keys) <= MAX_PROOF_KEYS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"ask for 1 to {MAX_PROOF_KEYS} keys")
        h = await self._block_hash(request.at if request.HasField("at") else None, context)
        header = self.node.chain.header(h)
        nodes = self.node.chain.store.state.read_proof([bytes(k) for k in request.keys], header.state_root)
        return chain_pb2.ReadProof(block_hash=h, state_root=header.state_root, nodes=nodes)

    async def SubmitExtrinsic(self, request, context):  # noqa: N802
        try:
            return chain_pb2.SubmitResponse(hash=self.node.submit_extrinsic(bytes(request.extrinsic)))
        except PoolError as e:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, describe(e))

    # --- streams -------------------------------------------------------------------------------------------------

    async def WatchExtrinsic(self, request, context):  # noqa: N802
        raw = bytes(request.extrinsic)
        tx_hash = blake2_256(raw)
        subscription = Subscription(self.stream_queue)
        unwatch = self.node.watch(tx_hash, subscription.push)
        try:
            try:
                self.node.submit_extrinsic(raw)
            except PoolError as e:
                yield chain_pb2.ExtrinsicStatus(
                    status=chain_pb2.ExtrinsicStatus.INVALID, hash=tx_hash, reason=describe(e)
                )
                return
            while True:
                status, info = await subscription.next(context)
                msg = _status_message(status, info, tx_hash)
                if msg is None:
                    continue
                yield msg
                if status in (TxStatus.FINALIZED, TxStatus.INVALID, TxStatus.DROPPED, TxStatus.USURPED):
                    return
        finally:
            unwatch()

    async def _stream(self, kind: str, convert, context):
        subscription = Subscription(self.stream_queue)
        unsubscribe = self.node.subscribe(kind, subscription.push)
        try:
            while True:
                args = await subscription.next(context)
                yield convert(*args)
        finally:
            unsubscribe()

    async def SubscribeNewHeads(self, request, context):  # noqa: N802
        async for msg in self._stream("new_head", header_message, context):
            yield msg

    async def SubscribeFinalizedHeads(self, request, context):  # noqa: N802
        async for msg in self._stream("finalized_head", header_message, context):
            yield msg

    async def SubscribeEvents(self, request, context):  # noqa: N802
        def convert(header, _events):
            return chain_pb2.Events(
                block_hash=header.hash,
                block_number=header.number,
                events=event_messages(self.node.chain.state_at(header.hash).get(EVENTS_KEY)),
            )

        async for msg in self._stream("events", convert, context):
            yield msg


def _status_message(status: TxStatus, info, tx_hash: bytes) -> chain_pb2.ExtrinsicStatus | None:
    S = chain_pb2.ExtrinsicStatus
    if status is TxStatus.FINALIZED:
        header, index, executed = info
        outcome = executed.outcomes[index] if index < len(executed.outcomes) else None
        ok = getattr(outcome, "ok", True)
        phase = b"\x00" + index.to_bytes(4, "little")
        events = [
            chain_pb2.Event(
                phase="ApplyExtrinsic",
                extrinsic_index=index,
                pallet=ev.pallet,
                name=ev.name,
                fields_json=to_json_text(ev.args),
                raw=ev.encode(),
            )
            for ev_phase, ev in executed.finalized.events
            if ev_phase == phase
        ]
        return S(
            status=S.FINALIZED,
            hash=tx_hash,
            block_hash=header.hash,
            block_number=header.number,
            success=ok,
            events=events,
            reason="" if ok else f"{type(outcome.error).__name__}: {outcome.error}",
        )
    mapping = {
        TxStatus.READY: S.READY,
        TxStatus.FUTURE: S.FUTURE,
        TxStatus.INVALID: S.INVALID,
        TxStatus.DROPPED: S.DROPPED,
        TxStatus.USURPED: S.USURPED,
    }
    if status not in mapping:
        return None
    reason = "" if info is None else (describe(info) if isinstance(info, Exception) else str(info))
    return S(status=mapping[status], hash=tx_hash, reason=reason)


def server_options(max_connections: int, max_calls_per_ip: int) -> list[tuple[str, int]]:
    """The API listener's options: raw TCP connections capped in total, a connection that has not finished
    HTTP/2's handshake after 5 s (half-open, or silent) closed, one with no call open for 5 minutes closed, and
    streams per connection just above the per-address call cap (`API_STREAMS_OVER_CALL_CAP`)."""
    return [
        ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE),
        ("grpc.max_send_message_length", MAX_GRPC_MESSAGE),
        ("grpc.so_reuseport", 0),
        ("grpc.max_allowed_incoming_connections", max_connections),
        ("grpc.server_handshake_timeout_ms", 5_000),
        ("grpc.max_connection_idle_ms", 300_000),
        ("grpc.max_concurrent_streams", max_calls_per_ip + API_STREAMS_OVER_CALL_CAP),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 10_000),
    ]


@dataclass
class GrpcApiServer:
    """The running API: its server, the port it bound, and the sweep that caps connections per address."""

    server: grpc.aio.Server
    port: int
    per_address: ConnectionsPerAddress

    async def stop(self, grace: float) -> None:
        await self.per_address.stop()
        await self.server.stop(grace=grace)


async def start_grpc_server(node, host: str, port: int, extra_services=()) -> GrpcApiServer:
    """Serve the API on `host:port` within the node's limits: `--grpc-max-connections` raw connections in all,
    `--grpc-max-connections-per-ip` from one address (chain.network.connections_per_address), and
    `--grpc-max-calls-per-ip` calls open at once from one address (chain.network.call_limits)."""
    config = node.config
    max_connections = config.grpc_max_connections or connection_cap(GRPC_SHARE)
    server = grpc.aio.server(
        options=server_options(max_connections, config.grpc_max_calls_per_ip),
        interceptors=[CallsPerAddress(config.grpc_max_calls_per_ip, "gRPC API")],
    )
    names = [
        add_servicer(server, chain_pb2.DESCRIPTOR.services_by_name["ChainService"], ChainService(node)),
        add_servicer(
            server,
            blob_pb2.DESCRIPTOR.services_by_name["BlobService"],
            BlobService(node.blobs, node.fetch_blob),
        ),
    ]
    for descriptor, servicer in extra_services:
        names.append(add_servicer(server, descriptor, servicer))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names.append(health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    names.append(reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as e:
        raise OSError(f"cannot serve gRPC on {host}:{port}: {e}") from None
    if bound == 0:
        raise OSError(f"cannot serve gRPC on {host}:{port}: the port is busy")
    await server.start()
    for name in names[:-1]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    per_address = ConnectionsPerAddress(config.grpc_max_connections_per_ip, "gRPC API")
    per_address.start(bound)
    return GrpcApiServer(server, bound, per_address)


__all__ = ["start_grpc_server", "GrpcApiServer", "ChainService", "Subscription", "DecodeError"]
