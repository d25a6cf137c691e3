"""Register gRPC servicers so that a request that is not valid protobuf gets INVALID_ARGUMENT, and a read
of state the node no longer holds (pruned) gets NOT_FOUND naming the block's state, not UNKNOWN.

The generated `add_*Servicer_to_server` functions decode requests with `FromString`, and a DecodeError
there surfaces from grpc.aio as UNKNOWN with a traceback in the log. These handlers are built from the
service descriptor instead, with a decoder that turns bad bytes into a marker the handler answers with
INVALID_ARGUMENT naming the method — input checked at the edge like every other.
"""

from __future__ import annotations

import grpc
from google.protobuf import message_factory
from google.protobuf.message import DecodeError

from chain.storage.state import StateUnavailable


class _Malformed:
    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


def _decoder(cls):
    def decode(data: bytes):
        try:
            return cls.FromString(data)
        except DecodeError as e:
            return _Malformed(str(e) or "not valid protobuf")

    return decode


async def _reject(context, method: str, bad: _Malformed) -> None:
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT, f"{method}: the request is not a valid message: {bad.reason}"
    )


def _checked_iterator(request_iterator, context, method: str):
    async def iterate():
        async for request in request_iterator:
            if isinstance(request, _Malformed):
                await _reject(context, method, request)
            yield request

    return iterate()


def _handler(method, impl):
    name = method.full_name
    decode = _decoder(message_factory.GetMessageClass(method.input_type))
    encode = message_factory.GetMessageClass(method.output_type).SerializeToString
    if not method.client_streaming and not method.server_streaming:

        async def unary_unary(request, context):
            if isinstance(request, _Malformed):
                await _reject(context, name, request)
            try:
                return await impl(request, context)
            except StateUnavailable as e:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"{name}: {e}")

        return grpc.unary_unary_rpc_method_handler(
            unary_unary, request_deserializer=decode, response_serializer=encode
        )
    if not method.client_streaming:

        async def unary_stream(request, context):
            if isinstance(request, _Malformed):
                await _reject(context, name, request)
            try:
                async for response in impl(request, context):
                    yield response
            except StateUnavailable as e:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"{name}: {e}")

        return grpc.unary_stream_rpc_method_handler(
            unary_stream, request_deserializer=decode, response_serializer=encode
        )
    if not method.server_streaming:

        async def stream_unary(request_iterator, context):
            return await impl(_checked_iterator(request_iterator, context, name), context)

        return grpc.stream_unary_rpc_method_handler(
            stream_unary, request_deserializer=decode, response_serializer=encode
        )

    async def stream_stream(request_iterator, context):
        async for response in impl(_checked_iterator(request_iterator, context, name), context):
            yield response

    return grpc.stream_stream_rpc_method_handler(
        stream_stream, request_deserializer=decode, response_serializer=encode
    )


def add_servicer(server: grpc.aio.Server, service_descriptor, servicer) -> str:
    """Register every method of `service_descriptor` on `servicer`; returns the service's full name."""
    handlers = {m.name: _handler(m, getattr(servicer, m.name)) for m in service_descriptor.methods}
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service_descriptor.full_name, handlers),)
    )
    return service_descriptor.full_name
