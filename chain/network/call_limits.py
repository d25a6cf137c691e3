"""Per-address limits on a grpc.aio server: how many calls one remote address may have open at once.

gRPC's C core caps a listener's TCP connections in total (`grpc.max_allowed_incoming_connections`) and closes
those that never finish HTTP/2's handshake (`grpc.server_handshake_timeout_ms`) or that hold no stream for a
while (`grpc.max_connection_idle_ms`), but it has no per-address hook: a connection is invisible to Python
until it makes a call, and Python cannot close it. What one address can make the node do is bounded here
instead, at the first moment Python sees it: `CallsPerAddress` refuses a call with RESOURCE_EXHAUSTED when
its address already has `max_calls` calls open (streams included), and a connection whose calls are all
refused holds no stream and is closed by the idle timeout.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable

import grpc
import grpc.aio

from chain.network.log_throttle import LogThrottle

log = logging.getLogger("gradchain.network")


class CallsPerAddress(grpc.aio.ServerInterceptor):
    """Caps the calls open at once from one remote address; refusals are logged at a bounded rate."""

    def __init__(self, max_calls: int, listener: str):
        self.max_calls, self.listener = max_calls, listener
        self.open: dict[str, int] = {}
        self.refusals = LogThrottle()

    @property
    def refused(self) -> int:
        return self.refusals.total

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary), handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(handler.stream_unary), handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(handler.unary_stream),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._streaming(handler.stream_stream), handler.request_deserializer, handler.response_serializer
        )

    def _unary(self, behaviour: Callable):
        async def call(request, context):
            host = await self._enter(context)
            try:
                return await behaviour(request, context)
            finally:
                self._leave(host)

        return call

    def _streaming(self, behaviour: Callable):
        if not inspect.isasyncgenfunction(behaviour):  # it writes with context.write and returns nothing
            return self._unary(behaviour)

        async def call(request, context):
            host = await self._enter(context)
            try:
                async for response in behaviour(request, context):
                    yield response
            finally:
                self._leave(host)

        return call

    async def _enter(self, context) -> str:
        host = context.peer().rsplit(":", 1)[0]  # "ipv4:10.0.0.1:5000" without the port: the remote host
        if self.open.get(host, 0) >= self.max_calls:
            self._refuse(host)
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{host} already has {self.max_calls} calls open on this node's {self.listener} "
                "listener; finish some before starting more",
            )
        self.open[host] = self.open.get(host, 0) + 1
        return host

    def _leave(self, host: str) -> None:
        left = self.open[host] - 1
        if left:
            self.open[host] = left
        else:
            del self.open[host]

    def _refuse(self, host: str) -> None:
        count = self.refusals.due()
        if count:
            log.warning(
                "%s refused %d call(s) over %d open per address (last from %s)",
                self.listener,
                count,
                self.max_calls,
                host,
            )
