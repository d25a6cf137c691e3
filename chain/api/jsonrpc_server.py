"""JSON-RPC 2.0 over HTTP and WebSocket on one port, served by aiohttp, with Substrate's error codes.

Method handlers are registered by name (with aliases) as `safe` or `unsafe`; unsafe methods are refused on
external interfaces unless `--rpc-methods unsafe`. Subscriptions work over WebSocket only: a `subscribe`
method returns a subscription id and the server pushes `{"method": <notification>, "params":
{"subscription": id, "result": ...}}` until the matching unsubscribe or the connection closes. Request size,
batch size, subscriptions per connection and the number of connections are all capped.

Hostile clients are bounded as well (`chain.api.jsonrpc_limits` reads the body): nesting and over-long
numbers are JSON-RPC errors; an answer larger than `max_response_bytes` is replaced by a -32008 "Response is
too big" error, and a batch whose answers together pass `max_batch_response_bytes` is answered by one such
error, its remaining requests not run. At the socket, connections beyond `max_connections` in total or
`max_connections_per_address` from one remote address are closed as soon as they are accepted; a fifth of
the connection budget is kept from WebSockets so HTTP callers are still served when WebSockets fill the rest;
and a connection that is silent for `idle_timeout` seconds (an HTTP connection between requests or before
its first, a WebSocket with no subscription) is closed. The listener sets SO_REUSEADDR, so a node restarted
right after serving binds its port at once.

Every message to one WebSocket client goes through that connection's outbox, written by one task, so the
client sees answers and notifications in exactly the order the node produced them (a storage change before
the `finalized` status of the transaction that caused it). Notifications a subscription produces before its
id has been answered wait in the subscriber and follow the answer; work a handler hands to
`Connection.after_answer` runs once its answer is queued (the new spec's operation events, which must follow
the `operationId` they belong to). A handler registered with `connection=True` gets the caller's
`Connection` first, for state scoped to one client (its chainHead follow subscriptions, its broadcasts). A client that reads too slowly to keep its
outbox under `MAX_OUTBOX` messages is disconnected rather than buffered without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from chain.api.jsonrpc_limits import (
    MAX_NUMBER_CHARS,
    ConnectionGate,
    ParamsMismatch,
    RequestTooDeep,
    bind_params,
    decode_request,
    install_gate,
    oversized_number,
)

log = logging.getLogger("gradchain.rpc")

MAX_REQUEST_BYTES = 10 * 1024 * 1024
MAX_BATCH = 256
MAX_SUBSCRIPTIONS_PER_CONNECTION = 1024
MAX_OUTBOX = 4096
MAX_RESPONSE_BYTES = 10 * 1024 * 1024  # Substrate's --rpc-max-response-size default
MAX_BATCH_RESPONSE_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 32
DEFAULT_IDLE_TIMEOUT = 120.0

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNSAFE_METHOD = -32601  # an unsafe method on a safe interface looks as if it did not exist, as in Substrate
TOO_MANY_SUBSCRIPTIONS = -32006
OVERSIZED_RESPONSE = -32008  # jsonrpsee's code, as Substrate answers it


class RpcError(Exception):
    """An error answered to the caller as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def to_json(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class InvalidParams(RpcError):
    def __init__(self, message: str):
        super().__init__(INVALID_PARAMS, f"Invalid params: {message}")


Handler = Callable[..., Awaitable[Any]]


@dataclass
class Method:
    name: str
    handler: Handler
    unsafe: bool = False
    subscription: tuple[str, str | None] | None = None  # (notification method, unsubscribe method)
    connection: bool = False  # the handler takes the caller's Connection first


class Subscriber:
    """Handed to a subscription handler: `notify(result)` queues one notification to the client, in order."""

    def __init__(self, conn: Connection, sub_id: str, notification: str):
        self.conn, self.id, self.notification = conn, sub_id, notification
        self.closed = False
        self.active = False  # becomes True once the subscription id has been answered
        self.on_close: list[Callable[[], None]] = []
        self.context: Any = None  # what the subscription's handler keeps about it (a chainHead follow's pins)
        self._held: list[Any] = []

    def notify(self, result: Any) -> None:
        if self.closed:
            return
        if not self.active:
            self._held.append(result)
            return
        self.conn.enqueue(
            {
                "jsonrpc": "2.0",
                "method": self.notification,
                "params": {"subscription": self.id, "result": result},
            }
        )

    async def push(self, result: Any) -> None:
        self.notify(result)

    def activate(self) -> None:
        """The id has been answered: release what was produced meanwhile."""
        if self.active:
            return
        self.active = True
        held, self._held = self._held, []
        for result in held:
            self.notify(result)

    def finish(self) -> None:
        """End the subscription from the server side (a final transaction status): no more notifications."""
        self.conn.subscriptions.pop(self.id, None)
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._held.clear()
            for callback in self.on_close:
                try:
                    callback()
                except Exception:  # one failing cleanup must not keep the others from running; it is logged
                    log.exception("closing subscription %s failed", self.id)


class Connection:
    """One client: its subscriptions and, over WebSocket, the outbox one writer task drains in order."""

    def __init__(self, ws: web.WebSocketResponse | None):
        self.ws = ws
        self.subscriptions: dict[str, Subscriber] = {}
        self.context: dict[str, Any] = {}  # per-client state of handlers registered with connection=True
        self._after_answer: list[Callable[[], None]] = []
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        if ws is not None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def enqueue(self, payload: Any) -> None:
        self.enqueue_text(json.dumps(payload))

    def enqueue_text(self, text: str) -> None:
        if self.ws is None or self.ws.closed or self._writer is None:
            return
        if self._outbox.qsize() >= MAX_OUTBOX:
            log.warning("JSON-RPC client reads too slowly (%d messages queued); disconnecting it", MAX_OUTBOX)
            self._writer.cancel()
            self._writer = None
            asyncio.get_running_loop().create_task(self.ws.close(message=b"too slow"))
            return
        self._outbox.put_nowait(text)

    async def send(self, payload: Any) -> None:
        self.enqueue(payload)

    def after_answer(self, work: Callable[[], None]) -> None:
        """Run `work` once the answer to the request being handled has been queued (WebSocket only)."""
        if self.ws is not None:
            self._after_answer.append(work)

    def run_after_answer(self) -> None:
        work, self._after_answer = self._after_answer, []
        for one in work:
            try:
                one()
            except (
                Exception
            ):  # one failing operation must not keep the others (or the connection) from running
                log.exception("JSON-RPC deferred work failed")

    async def _write(self) -> None:
        while True:
            text = await self._outbox.get()
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def close(self) -> None:
        for sub in list(self.subscriptions.values()):
            sub.close()
        self.subscriptions.clear()
        if self._writer is not None:
            # let what is already queued go out (bounded), then stop the writer
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drain(), 1.0)
            self._writer.cancel()
            self._writer = None

    async def _drain(self) -> None:
        while not self._outbox.empty() and self.ws is not None and not self.ws.closed:
            await asyncio.sleep(0.01)


class JsonRpcServer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        allow_unsafe: bool,
        cors: list[str] | None,
        max_connections: int = 100,
        max_connections_per_address: int = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_batch_response_bytes: int = MAX_BATCH_RESPONSE_BYTES,
    ):
        # Allowed browser origins as fnmatch patterns; "all" (or None) allows any. A request without an
        # Origin header (not from a browser) is always served; one with an origin no pattern allows is refused.
        self.host, self.port, self.allow_unsafe = host, port, allow_unsafe
        self.cors = ["all"] if cors is None else list(cors)
        self.max_connections = max_connections
        self.max_websockets = max_connections - max_connections // 5
        self.gate = ConnectionGate(max_connections, max_connections_per_address)
        self.idle_timeout = idle_timeout
        self.max_response_bytes, self.max_batch_response_bytes = max_response_bytes, max_batch_response_bytes
        self.methods: dict[str, Method] = {}
        self.unsubscribers: dict[str, str] = {}
        self._connections: set[Connection] = set()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    # --- registration ------------------------------------------------------------------------------------------

    def method(
        self, name: str, *aliases: str, unsafe: bool = False, connection: bool = False
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for n in (name, *aliases):
                self.methods[n] = Method(n, handler, unsafe, connection=connection)
            return handler

        return register

    def subscription(
        self,
        name: str,
        notification: str,
        unsubscribe: str | None,
        *,
        aliases: tuple[str, ...] = (),
        unsub_aliases: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        """Register `name` whose handler gets `(subscriber, *params)` and starts pushing. With `unsubscribe`
        None the caller registers its own unsubscribe method (one whose answer the new spec defines)."""

        def register(handler: Handler) -> Handler:
            for n in (name, *aliases):
                self.methods[n] = Method(n, handler, False, (notification, unsubscribe))
            for n in () if unsubscribe is None else (unsubscribe, *unsub_aliases):
                self.unsubscribers[n] = name
            return handler

        return register

    def method_names(self) -> list[str]:
        names = [n for n, m in self.methods.items() if self.allow_unsafe or not m.unsafe]
        return sorted([*names, *self.unsubscribers])

    # --- serving -------------------------------------------------------------------------------------------------

    async def start(self) -> int:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_route("*", "/", self._entry)
        self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=self.idle_timeout)
        await self._runner.setup()
        install_gate(self._runner.server, self.gate)
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            raise OSError(f"cannot serve JSON-RPC on {self.host}:{self.port}: {e.strerror or e}") from None
        sockets = site._server.sockets if site._server else []  # noqa: SLF001 - aiohttp exposes no accessor
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        for conn in list(self._connections):
            await conn.close()
            if conn.ws is not None:
                await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _cors_headers(self, request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin is None:
            return {}
        if "all" in self.cors or any(fnmatch.fnmatch(origin, pattern) for pattern in self.cors):
            return {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Vary": "Origin",
            }
        return {}

    def _origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        return origin is None or bool(self._cors_headers(request))

    async def _entry(self, request: web.Request) -> web.StreamResponse:
        if not self._origin_allowed(request):
            return web.Response(status=403, text="origin not allowed by --rpc-cors")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if len(self._connections) >= self.max_websockets:
                return web.Response(status=503, text="too many WebSocket connections")
            return await self._websocket(request)
        if request.method == "OPTIONS":
            return web.Response(status=200, headers=self._cors_headers(request))
        if request.method != "POST":
            return web.Response(status=405, text="JSON-RPC is served by POST or WebSocket")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response(_error(None, RpcError(INVALID_REQUEST, "request too large")), status=413)
        answer = await self._handle_text(body, Connection(None))
        headers = self._cors_headers(request)
        if answer is None:
            return web.Response(status=200, headers=headers)
        return web.Response(text=answer, content_type="application/json", headers=headers)

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_REQUEST_BYTES, heartbeat=30)
        await ws.prepare(request)
        conn = Connection(ws)
        self._connections.add(conn)
        try:
            while True:
                try:
                    msg = await ws.receive(timeout=self.idle_timeout)
                except TimeoutError:
                    if conn.subscriptions:
                        continue  # a subscriber waits for pushes; the heartbeat finds a dead peer
                    await ws.close(message=b"idle")
                    break
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    data = msg.data.encode() if msg.type == WSMsgType.TEXT else msg.data
                    answer = await self._handle_text(data, conn)
                    if answer is not None:
                        conn.enqueue_text(answer)
                    for sub in list(conn.subscriptions.values()):
                        sub.activate()
                    conn.run_after_answer()
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
        finally:
            self._connections.discard(conn)
            await conn.close()
        return ws

    async def _handle_text(self, body: bytes, conn: Connection) -> str | None:
        """The serialized answer to a request or batch (None when it held only notifications)."""
        if len(body) > MAX_REQUEST_BYTES:
            return _error_text(None, RpcError(INVALID_REQUEST, "request too large"))
        try:
            request = decode_request(body)
        except RequestTooDeep as e:
            return _error_text(None, RpcError(INVALID_REQUEST, f"Invalid request: {e}"))
        except (ValueError, UnicodeDecodeError) as e:
            return _error_text(None, RpcError(PARSE_ERROR, f"Parse error: {e}"))
        if not isinstance(request, list):
            return await self._answer_one(request, conn)
        if not request:
            return _error_text(None, RpcError(INVALID_REQUEST, "empty batch"))
        if len(request) > MAX_BATCH:
            return _error_text(
                None, RpcError(INVALID_REQUEST, f"batch of {len(request)} exceeds {MAX_BATCH}")
            )
        answers, size = [], 2
        for one in request:
            answer = await self._answer_one(one, conn)
            if answer is None:
                continue
            size += len(answer) + 1
            if size > self.max_batch_response_bytes:
                return _error_text(
                    None,
                    RpcError(
                        OVERSIZED_RESPONSE,
                        "Response is too big",
                        f"the batch's answers exceed {self.max_batch_response_bytes} "
                        f"bytes; send fewer requests per batch",
                    ),
                )
            answers.append(answer)
        return f"[{','.join(answers)}]" if answers else None

    async def _answer_one(self, request: Any, conn: Connection) -> str | None:
        answer = await self._handle_one(request, conn)
        if answer is None:
            return None
        text = json.dumps(answer)
        if len(text) > self.max_response_bytes:
            return _error_text(
                answer["id"],
                RpcError(
                    OVERSIZED_RESPONSE,
                    "Response is too big",
                    f"the answer of {len(text)} bytes exceeds {self.max_response_bytes} bytes",
                ),
            )
        return text

    async def _handle_one(self, request: Any, conn: Connection) -> dict | None:
        if (
            not isinstance(request, dict)
            or request.get("jsonrpc") != "2.0"
            or not isinstance(request.get("method"), str)
        ):
            rid = request.get("id") if isinstance(request, dict) else None
            return _error(rid if _valid_id(rid) else None, RpcError(INVALID_REQUEST, "Invalid request"))
        rid = request.get("id")
        if not _valid_id(rid):
            return _error(
                None,
                RpcError(
                    INVALID_REQUEST,
                    f"Invalid request id: a number of at most {MAX_NUMBER_CHARS} digits, a string or null",
                ),
            )
        params = request.get("params", [])
        if not isinstance(params, (list, dict)):
            return _error(rid, InvalidParams("params must be an array or an object"))
        huge = oversized_number(params)
        if huge is not None:
            return _error(rid, InvalidParams(f"{huge!r} is longer than any value this API takes"))
        name = request["method"]
        try:
            result = await self._dispatch(name, params, conn)
        except RpcError as e:
            return _error(rid, e)
        except Exception as e:  # an unexpected fault must not take the connection down; it is logged
            log.exception("JSON-RPC %s failed", name)
            return _error(rid, RpcError(INTERNAL_ERROR, f"Internal error: {type(e).__name__}"))
        if "id" not in request:
            return None  # a notification
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    async def _dispatch(self, name: str, params: list | dict, conn: Connection) -> Any:
        if name in self.unsubscribers:
            sub_id = params.get("subscription") if isinstance(params, dict) else params[0] if params else None
            if not isinstance(sub_id, str):
                raise InvalidParams("expected a subscription id")
            sub = conn.subscriptions.pop(sub_id, None)
            if sub is None:
                return False
            sub.close()
            return True
        method = self.methods.get(name)
        if method is None or (method.unsafe and not self.allow_unsafe):
            raise RpcError(METHOD_NOT_FOUND, "Method not found", name)
        params = _bind(method, params)
        if method.connection:
            return await method.handler(conn, *params)
        if method.subscription is None:
            return await method.handler(*params)
        if conn.ws is None:
            raise RpcError(METHOD_NOT_FOUND, f"Subscriptions need a WebSocket connection: {name}")
        if len(conn.subscriptions) >= MAX_SUBSCRIPTIONS_PER_CONNECTION:
            raise RpcError(
                TOO_MANY_SUBSCRIPTIONS,
                f"too many subscriptions on this connection (limit {MAX_SUBSCRIPTIONS_PER_CONNECTION})",
            )
        sub_id = f"0x{next(self._ids):016x}"
        sub = Subscriber(conn, sub_id, method.subscription[0])
        conn.subscriptions[sub_id] = sub
        try:
            await method.handler(sub, *params)
        except BaseException:
            conn.subscriptions.pop(sub_id, None)
            sub.close()
            raise
        return sub_id


def _bind(method: Method, params: list | dict) -> list:
    """Params that do not fit the handler (an unknown name, too many or too few) are the caller's fault
    (-32602), not a fault of the handler."""
    try:
        leading = 1 if method.subscription is not None or method.connection else 0
        return bind_params(method.handler, params, leading=leading)
    except ParamsMismatch as e:
        raise InvalidParams(f"{method.name}: {e}") from None


def _valid_id(rid: Any) -> bool:
    return rid is None or isinstance(rid, (int, str)) and not isinstance(rid, bool)


def _error(rid: Any, error: RpcError) -> dict:
    return {"jsonrpc": "2.0", "id": rid, "error": error.to_json()}


def _error_text(rid: Any, error: RpcError) -> str:
    return json.dumps(_error(rid, error))
