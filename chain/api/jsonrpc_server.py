"""JSON-RPC 2.0 over HTTP and WebSocket on one port, served by aiohttp, with Substrate's error codes.

Method handlers are registered by name (with aliases) as `safe` or `unsafe`; unsafe methods are refused on
external interfaces unless `--rpc-methods unsafe`. Subscriptions work over WebSocket only: a `subscribe`
method returns a subscription id and the server pushes `{"method": <notification>, "params":
{"subscription": id, "result": ...}}` until the matching unsubscribe or the connection closes. Request size,
batch size, subscriptions per connection and the number of connections are all capped.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger("gradchain.rpc")

MAX_REQUEST_BYTES = 10 * 1024 * 1024
MAX_BATCH = 256
MAX_SUBSCRIPTIONS_PER_CONNECTION = 1024

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNSAFE_METHOD = -32601  # an unsafe method on a safe interface looks as if it did not exist, as in Substrate
TOO_MANY_SUBSCRIPTIONS = -32006


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
    subscription: tuple[str, str] | None = None  # (notification method, unsubscribe method)


class Subscriber:
    """Handed to a subscription handler: `push(result)` sends one notification to the client."""

    def __init__(self, conn: Connection, sub_id: str, notification: str):
        self.conn, self.id, self.notification = conn, sub_id, notification
        self.closed = False
        self.on_close: list[Callable[[], None]] = []
        self.ready = asyncio.Event()  # set once the subscription id has been answered

    async def push(self, result: Any) -> None:
        await self.ready.wait()
        if self.closed:
            return
        await self.conn.send({"jsonrpc": "2.0", "method": self.notification,
                              "params": {"subscription": self.id, "result": result}})

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.ready.set()
            for callback in self.on_close:
                with contextlib.suppress(Exception):
                    callback()


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse | None
    subscriptions: dict[str, Subscriber] = field(default_factory=dict)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: dict) -> None:
        if self.ws is None or self.ws.closed:
            return
        async with self.send_lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(json.dumps(payload))


class JsonRpcServer:
    def __init__(self, host: str, port: int, *, allow_unsafe: bool, cors: list[str] | None,
                 max_connections: int = 100):
        self.host, self.port, self.allow_unsafe, self.cors = host, port, allow_unsafe, cors
        self.max_connections = max_connections
        self.methods: dict[str, Method] = {}
        self.unsubscribers: dict[str, str] = {}
        self._connections: set[Connection] = set()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._http_active = 0

    # --- registration ------------------------------------------------------------------------------------------

    def method(self, name: str, *aliases: str, unsafe: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for n in (name, *aliases):
                self.methods[n] = Method(n, handler, unsafe)
            return handler
        return register

    def subscription(self, name: str, notification: str, unsubscribe: str, *, aliases: tuple[str, ...] = (),
                     unsub_aliases: tuple[str, ...] = ()) -> Callable[[Handler], Handler]:
        """Register `name` whose handler gets `(subscriber, *params)` and starts pushing."""
        def register(handler: Handler) -> Handler:
            for n in (name, *aliases):
                self.methods[n] = Method(n, handler, False, (notification, unsubscribe))
            for n in (unsubscribe, *unsub_aliases):
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
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=False)
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
            for sub in conn.subscriptions.values():
                sub.close()
            if conn.ws is not None:
                await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _cors_headers(self, request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin is None or self.cors is None:
            return {}
        if "all" in self.cors or any(fnmatch.fnmatch(origin, pattern) for pattern in self.cors):
            return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Headers": "Content-Type",
                    "Access-Control-Allow-Methods": "POST, OPTIONS", "Vary": "Origin"}
        return {}

    def _origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        return origin is None or self.cors is None or bool(self._cors_headers(request))

    async def _entry(self, request: web.Request) -> web.StreamResponse:
        if not self._origin_allowed(request):
            return web.Response(status=403, text="origin not allowed by --rpc-cors")
        if len(self._connections) + self._http_active >= self.max_connections:
            return web.Response(status=503, text="too many connections")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        if request.method == "OPTIONS":
            return web.Response(status=200, headers=self._cors_headers(request))
        if request.method != "POST":
            return web.Response(status=405, text="JSON-RPC is served by POST or WebSocket")
        self._http_active += 1
        try:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return web.json_response(_error(None, RpcError(INVALID_REQUEST, "request too large")), status=413)
            answer = await self._handle_text(body, Connection(None))
            headers = self._cors_headers(request)
            if answer is None:
                return web.Response(status=200, headers=headers)
            return web.Response(text=json.dumps(answer), content_type="application/json", headers=headers)
        finally:
            self._http_active -= 1

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_REQUEST_BYTES, heartbeat=30)
        await ws.prepare(request)
        conn = Connection(ws)
        self._connections.add(conn)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    data = msg.data.encode() if msg.type == WSMsgType.TEXT else msg.data
                    answer = await self._handle_text(data, conn)
                    if answer is not None:
                        await conn.send(answer)
                    for sub in conn.subscriptions.values():
                        sub.ready.set()
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._connections.discard(conn)
            for sub in conn.subscriptions.values():
                sub.close()
            conn.subscriptions.clear()
        return ws

    async def _handle_text(self, body: bytes, conn: Connection) -> Any:
        if len(body) > MAX_REQUEST_BYTES:
            return _error(None, RpcError(INVALID_REQUEST, "request too large"))
        try:
            request = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            return _error(None, RpcError(PARSE_ERROR, f"Parse error: {e}"))
        if isinstance(request, list):
            if not request:
                return _error(None, RpcError(INVALID_REQUEST, "empty batch"))
            if len(request) > MAX_BATCH:
                return _error(None, RpcError(INVALID_REQUEST, f"batch of {len(request)} exceeds {MAX_BATCH}"))
            answers = [a for a in [await self._handle_one(r, conn) for r in request] if a is not None]
            return answers or None
        return await self._handle_one(request, conn)

    async def _handle_one(self, request: Any, conn: Connection) -> dict | None:
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
            rid = request.get("id") if isinstance(request, dict) else None
            return _error(rid if _valid_id(rid) else None, RpcError(INVALID_REQUEST, "Invalid request"))
        rid = request.get("id")
        if not _valid_id(rid):
            return _error(None, RpcError(INVALID_REQUEST, "Invalid request id"))
        params = request.get("params", [])
        if isinstance(params, dict):
            params = list(params.values())
        if not isinstance(params, list):
            return _error(rid, InvalidParams("params must be an array"))
        name = request["method"]
        try:
            result = await self._dispatch(name, params, conn)
        except RpcError as e:
            return _error(rid, e)
        except TypeError as e:
            return _error(rid, InvalidParams(str(e)))
        except Exception as e:  # an unexpected fault must not take the connection down; it is logged
            log.exception("JSON-RPC %s failed", name)
            return _error(rid, RpcError(INTERNAL_ERROR, f"Internal error: {type(e).__name__}"))
        if "id" not in request:
            return None  # a notification
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    async def _dispatch(self, name: str, params: list, conn: Connection) -> Any:
        if name in self.unsubscribers:
            if not params or not isinstance(params[0], str):
                raise InvalidParams("expected a subscription id")
            sub = conn.subscriptions.pop(params[0], None)
            if sub is None:
                return False
            sub.close()
            return True
        method = self.methods.get(name)
        if method is None or (method.unsafe and not self.allow_unsafe):
            raise RpcError(METHOD_NOT_FOUND, f"Method not found: {name}")
        if method.subscription is None:
            return await method.handler(*params)
        if conn.ws is None:
            raise RpcError(METHOD_NOT_FOUND, f"Subscriptions need a WebSocket connection: {name}")
        if len(conn.subscriptions) >= MAX_SUBSCRIPTIONS_PER_CONNECTION:
            raise RpcError(TOO_MANY_SUBSCRIPTIONS, f"too many subscriptions on this connection "
                                                   f"(limit {MAX_SUBSCRIPTIONS_PER_CONNECTION})")
        sub_id = f"{next(self._ids):016x}"
        sub = Subscriber(conn, sub_id, method.subscription[0])
        conn.subscriptions[sub_id] = sub
        try:
            await method.handler(sub, *params)
        except BaseException:
            conn.subscriptions.pop(sub_id, None)
            sub.close()
            raise
        return sub_id


def _valid_id(rid: Any) -> bool:
    return rid is None or isinstance(rid, (int, str)) and not isinstance(rid, bool)


def _error(rid: Any, error: RpcError) -> dict:
    return {"jsonrpc": "2.0", "id": rid, "error": error.to_json()}
