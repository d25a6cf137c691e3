"""The limits a JSON-RPC server holds its clients to: how a request body is read, how its params bind to a
handler, and which connections are admitted.

Python's `json` module recurses once per nesting level and converts integers with `int()`, so a hostile
body can raise `RecursionError` (100k nested arrays) or `ValueError` (an integer of more than 4,300 digits)
from inside the parser. `decode_request` parses with a number hook that keeps over-long numbers as
`OversizedNumber` instead, then checks the nesting depth, so every such body becomes a JSON-RPC error:
too deep is -32600 for the whole body; an over-long id is -32600 and an over-long param -32602, each for
its own request only.

Named params (`{"key": k, "at": h}`) bind to the handler's parameters by name. A handler's parameter names
are the names Substrate's API documents (polkadot-js's definitions), in snake case: `state_getStorage(key,
at)`, `state_getKeysPaged(key, count, start_key, at)`, `chain_getBlockHash(block_number)`. A caller may
spell them in camel case (`startKey`, `blockNumber`) as polkadot-js does. An unknown name is refused with
-32602 naming it, as is a missing required one.

`ConnectionGate` caps accepted connections in total and per remote address; `install_gate` puts it in front
of an aiohttp server, which then closes a connection over the caps as soon as it is accepted.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from chain.network.log_throttle import LogThrottle

MAX_NESTING = 128  # serde_json's recursion limit, which Substrate's server inherits
MAX_NUMBER_CHARS = 40  # any u128 fits; nothing in the API takes a larger number

log = logging.getLogger("gradchain.rpc")


class RequestTooDeep(ValueError):
    """The body nests arrays or objects deeper than MAX_NESTING."""


@dataclass(frozen=True)
class OversizedNumber:
    """A JSON number longer than MAX_NUMBER_CHARS characters, kept unconverted so the request can be refused."""

    digits: int

    def __repr__(self) -> str:
        return f"<a number of {self.digits} characters>"


def _number(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        return OversizedNumber(len(text)) if len(text) > MAX_NUMBER_CHARS else convert(text)

    return parse


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def decode_request(body: bytes) -> Any:
    """The parsed body; raises `json.JSONDecodeError`/`UnicodeDecodeError`/`ValueError` for a body that is not
    JSON, and `RequestTooDeep` for one nested too deep."""
    try:
        value = json.loads(
            body, parse_int=_number(int), parse_float=_number(float), parse_constant=_refuse_constant
        )
    except RecursionError:
        raise RequestTooDeep(f"the request nests deeper than {MAX_NESTING} levels") from None
    if nesting_depth(value) > MAX_NESTING:
        raise RequestTooDeep(f"the request nests deeper than {MAX_NESTING} levels")
    return value


def nesting_depth(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (a scalar is 0), counted without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def oversized_number(value: Any) -> OversizedNumber | None:
    """The first over-long number anywhere in `value`, if any."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, OversizedNumber):
            return item
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), name)


class ParamsMismatch(ValueError):
    """Params that do not fit the handler: an unknown or missing name, or too many or too few values."""


def bind_params(handler: Callable, params: list | dict, leading: int = 0) -> list:
    """The positional arguments for `handler` (after its first `leading` parameters, which the server fills
    itself, such as a subscription's subscriber): `params` as given when a list, else bound by name."""
    parameters = list(inspect.signature(handler).parameters.values())[leading:]
    if isinstance(params, list):
        try:
            inspect.signature(handler).bind(*([None] * leading), *params)
        except TypeError as e:
            raise ParamsMismatch(str(e)) from None
        return params
    names = [p.name for p in parameters]
    given: dict[str, Any] = {}
    for wire_name, value in params.items():
        name = snake_case(wire_name)
        if name not in names:
            raise ParamsMismatch(
                f"unknown parameter {wire_name!r}; this method takes {', '.join(names) or 'no parameters'}"
            )
        if name in given:
            raise ParamsMismatch(f"parameter {name!r} given twice")
        given[name] = value
    args = []
    for parameter in parameters:
        if parameter.name in given:
            args.append(given[parameter.name])
        elif parameter.default is inspect.Parameter.empty:
            raise ParamsMismatch(f"missing parameter {parameter.name!r}")
        else:
            args.append(parameter.default)
    return args


class ConnectionGate:
    """Admits accepted TCP connections within a total cap and a cap per remote address; refusals are logged
    at a bounded rate, with how many were refused since the last line."""

    def __init__(self, max_total: int, max_per_address: int):
        self.max_total, self.max_per_address = max_total, max_per_address
        self.refusals = LogThrottle()
        self._open: dict[object, str] = {}
        self._per_address: dict[str, int] = {}

    @property
    def refused(self) -> int:
        return self.refusals.total

    def admit(self, handle: object, address: str) -> bool:
        if len(self._open) >= self.max_total or self._per_address.get(address, 0) >= self.max_per_address:
            self._refuse(address)
            return False
        self._open[handle] = address
        self._per_address[address] = self._per_address.get(address, 0) + 1
        return True

    def release(self, handle: object) -> None:
        address = self._open.pop(handle, None)
        if address is None:
            return
        left = self._per_address[address] - 1
        if left:
            self._per_address[address] = left
        else:
            del self._per_address[address]

    def _refuse(self, address: str) -> None:
        count = self.refusals.due()
        if count:
            log.warning(
                "JSON-RPC refused %d connection(s) over the caps (%d in total, %d per address; last from %s)",
                count,
                self.max_total,
                self.max_per_address,
                address,
            )


def install_gate(server: web.Server, gate: ConnectionGate) -> None:
    """Close each connection the gate does not admit as soon as aiohttp accepts it (aiohttp's `web.Server`
    is told of every accepted and lost connection, so the gate sees each one before any byte is read)."""
    made, lost = server.connection_made, server.connection_lost

    def connection_made(handler, transport) -> None:
        made(handler, transport)
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) and peer else str(peer)
        if not gate.admit(handler, address):
            # after aiohttp has started the connection's handler task, so the refusal is an ordinary hang-up
            asyncio.get_running_loop().call_soon(transport.abort)

    def connection_lost(handler, exc: BaseException | None = None) -> None:
        gate.release(handler)
        lost(handler, exc)

    server.connection_made, server.connection_lost = connection_made, connection_lost
